"""Uncertainty of loads, PNL and consumption: analytic propagation and Monte Carlo.

Component RSDs default to :data:`wastewater.parameters.UNCERTAINTY_DEFAULTS` (each cited).
Both methods treat each component as a multiplicative lognormal error with median 1, so the
reported value is the median of its distribution and the 95 % interval is asymmetric.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from wastewater.parameters import UNCERTAINTY_DEFAULTS, default_rsd

Z_975 = 1.959963984540054
"""Standard normal 97.5 % quantile (two-sided 95 % interval)."""

COMPONENTS_BY_VARIABLE: dict[str, tuple[str, ...]] = {
    "concentration_ng_per_l": ("analysis", "sampling"),
    "load_mg_per_day": ("analysis", "sampling", "flow"),
    "load_mg_per_day_per_1000": ("analysis", "sampling", "flow", "population"),
    "consumption_mg_per_day_per_1000": ("analysis", "sampling", "flow", "population",
                                        "correction_factor"),
    "doses_per_day_per_1000": ("analysis", "sampling", "flow", "population", "correction_factor"),
}
"""Which chain components enter each quantity (product/quotient model, domain §4.2)."""


def _rsds(variable: str, rsd: dict[str, float] | None) -> dict[str, float]:
    try:
        comps = COMPONENTS_BY_VARIABLE[variable]
    except KeyError:
        raise ValueError(f"no uncertainty model for {variable!r}; valid: "
                         f"{', '.join(COMPONENTS_BY_VARIABLE)}") from None
    rsd = dict(rsd or {})
    unknown = set(rsd) - set(UNCERTAINTY_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown component(s) {sorted(unknown)}; valid: {', '.join(UNCERTAINTY_DEFAULTS)}")
    out = {c: float(rsd.get(c, default_rsd(c))) for c in comps}
    if any(v < 0 for v in out.values()):
        raise ValueError(f"RSDs must be >= 0, got {out}")
    return out


def combined_rsd(*rsds: float) -> float:
    """First-order combined relative standard deviation of a product/quotient.

    Notes
    -----
    ``RSD_total² ≈ Σ RSD_i²`` (standard error propagation, domain reference §4.2). With
    flow 10 %, analysis 15 %, sampling 10 %, population 20 %: 29 %; adding a CF RSD of 26 %
    [Castiglioni2013]_: 39 %.

    Examples
    --------
    >>> round(combined_rsd(0.10, 0.15, 0.10, 0.20), 3)
    0.287
    """
    if any(r < 0 for r in rsds):
        raise ValueError("RSDs must be >= 0")
    return math.sqrt(sum(r * r for r in rsds))


def rsd_for(variable: str = "load_mg_per_day_per_1000", rsd: dict[str, float] | None = None) -> float:
    """Combined RSD of a Dataset variable from its components (defaults or overrides)."""
    return combined_rsd(*_rsds(variable, rsd).values())


def lognormal_sigma(rsd: float) -> float:
    """Log-scale SD of a lognormal with coefficient of variation ``rsd``: ``√ln(1+rsd²)``."""
    return math.sqrt(math.log1p(rsd * rsd))


def analytic_interval(value, rsd: float, *, level: float = 0.95):
    """Lognormal interval around a value taken as the median.

    Parameters
    ----------
    value : numeric
        Central value (any unit; output has the same unit).
    rsd : float
        Combined relative standard deviation [fraction].
    level : float
        Two-sided coverage.

    Returns
    -------
    (lo, hi) : tuple
        ``value·exp(∓z·σ)`` with ``σ = √ln(1+RSD²)``.
    """
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2.0))
    s = lognormal_sigma(rsd)
    return value * math.exp(-z * s), value * math.exp(z * s)


def add_analytic_intervals(ds: xr.Dataset, variable: str = "load_mg_per_day_per_1000", *,
                           rsd: dict[str, float] | None = None) -> xr.Dataset:
    """Add ``{variable}_lo95`` and ``{variable}_hi95`` from first-order propagation."""
    comps = _rsds(variable, rsd)
    total = combined_rsd(*comps.values())
    lo, hi = analytic_interval(ds[variable], total)
    out = ds.copy()
    out[f"{variable}_lo95"] = lo
    out[f"{variable}_hi95"] = hi
    for name in (f"{variable}_lo95", f"{variable}_hi95"):
        out[name].attrs.update({"method": "analytic-lognormal", "rsd_total": total,
                                "rsd_components": str(comps)})
    return out


_PERCENTILES = (2.5, 50.0, 97.5)


def _percentiles_sorted(draws: np.ndarray) -> np.ndarray:
    """Percentiles along axis 1 by sorting in place (same 'linear' rule as ``np.percentile``)."""
    draws.sort(axis=1)
    n = draws.shape[1]
    out = np.empty((len(_PERCENTILES), draws.shape[0]))
    for k, q in enumerate(_PERCENTILES):
        pos = q / 100.0 * (n - 1)
        lo = int(np.floor(pos))
        hi = min(lo + 1, n - 1)
        frac = pos - lo
        out[k] = draws[:, lo] * (1.0 - frac) + draws[:, hi] * frac
    return out


def _mc_block(values: np.ndarray, sigmas: np.ndarray, n_draws: int, seed_seq,
              batch_cells: int = 4096) -> np.ndarray:
    """Percentiles (2.5, 50, 97.5) of Monte Carlo draws for one block; shape (3, *block).

    Only finite cells are simulated, ``batch_cells`` at a time, so memory stays at about
    ``n_draws × batch_cells × 12`` bytes whatever the block size.
    """
    out = np.full((3,) + values.shape, np.nan, dtype=np.float64)
    flat = values.ravel()
    ok = np.flatnonzero(np.isfinite(flat))
    if ok.size == 0:
        return out
    rng = np.random.default_rng(seed_seq)
    res = out.reshape(3, -1)
    for start in range(0, ok.size, batch_cells):
        idx = ok[start:start + batch_cells]
        # one lognormal factor (median 1) per component, per observed cell and per draw
        log_factor = np.zeros((idx.size, n_draws), dtype=np.float32)
        for s in sigmas:
            log_factor += np.float32(s) * rng.standard_normal((idx.size, n_draws), dtype=np.float32)
        np.exp(log_factor, out=log_factor)
        draws = flat[idx][:, None] * log_factor.astype(np.float64)
        res[:, idx] = _percentiles_sorted(draws)
    return out


def monte_carlo_intervals(ds: xr.Dataset, variable: str = "load_mg_per_day_per_1000", *,
                          n_draws: int = 1000, seed: int = 20240601,
                          rsd: dict[str, float] | None = None,
                          chunks: dict[str, int] | None = None,
                          per_component: bool = True) -> xr.Dataset:
    """Monte Carlo 95 % intervals for every cell of ``ds[variable]``.

    Parameters
    ----------
    ds : xr.Dataset
        Output of :func:`wastewater.timeseries.build_dataset` (or with consumption added).
    variable : str
        Key of :data:`COMPONENTS_BY_VARIABLE`.
    n_draws : int
        Draws per cell.
    seed : int
        Seed of the ``numpy`` generator; each block gets an independent child stream
        (``SeedSequence.spawn``), so results are reproducible for a given chunking.
    rsd : dict, optional
        Component RSD overrides [fraction].
    chunks : dict, optional
        Dask chunk sizes by dimension (e.g. ``{"site": 10}``); blocks are processed lazily so
        memory stays bounded by ``n_draws × cells per block``. ``None`` computes in memory.

    Returns
    -------
    xr.Dataset
        Copy with ``{variable}_lo95``, ``{variable}_mc_median`` and ``{variable}_hi95`` (2.5th,
        50th and 97.5th percentiles). With ``chunks`` these are dask-backed; call ``.compute()``.

    Notes
    -----
    Each component is a lognormal multiplicative factor with median 1 and
    ``σ = √ln(1+RSD²)``, drawn independently per cell (Monte Carlo propagation as in
    [Jones2014]_, domain reference §4.2). Per-cell percentiles do not depend on how errors
    correlate between cells.
    """
    comps = _rsds(variable, rsd)
    sigmas = np.array([lognormal_sigma(v) for v in comps.values()])
    if not per_component:
        sigmas = np.array([math.sqrt(float(np.sum(sigmas**2)))])
    if n_draws < 10:
        raise ValueError(f"n_draws must be >= 10, got {n_draws}")
    da = ds[variable]
    attrs = {"method": "monte-carlo-lognormal", "n_draws": n_draws, "seed": seed,
             "rsd_components": str(comps), "per_component": int(per_component)}
    names = [f"{variable}_lo95", f"{variable}_mc_median", f"{variable}_hi95"]
    out = ds.copy()
    if chunks is None:
        res = _mc_block(np.asarray(da.values, dtype=float), sigmas, n_draws,
                        np.random.SeedSequence(seed))
        for k, name in enumerate(names):
            out[name] = (da.dims, res[k])
    else:
        import dask.array as dsa

        arr = da.chunk(chunks).data
        n_blocks = int(np.prod(arr.numblocks))
        children = np.random.SeedSequence(seed).spawn(n_blocks)
        numblocks = arr.numblocks

        def block(x, block_info=None):
            loc = block_info[0]["chunk-location"]
            flat_id = int(np.ravel_multi_index(loc, numblocks))
            return _mc_block(np.asarray(x, dtype=float), sigmas, n_draws, children[flat_id])

        res = dsa.map_blocks(block, arr, dtype=float, new_axis=0,
                             chunks=((3,),) + arr.chunks)
        for k, name in enumerate(names):
            out[name] = (da.dims, res[k])
    for name in names:
        out[name].attrs.update(attrs)
        if "units" in da.attrs:
            out[name].attrs["units"] = da.attrs["units"]
    return out
