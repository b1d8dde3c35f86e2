"""Uncertainty of loads, PNL and consumption: scoped error components, level and change intervals.

Every component of the measurement chain is a multiplicative lognormal error with median 1
(``σ = √ln(1+RSD²)``), its RSD defaulting to the cited
:data:`wastewater.parameters.UNCERTAINTY_DEFAULTS`. What matters for comparisons is what a
component is *shared across* — its scope (:data:`SCOPES`):

=================  ===========================================  =====================
component          scope (one draw per …)                       cancels within a site
=================  ===========================================  =====================
analysis           sample and analyte                           no
sampling           sample (all analytes of one composite)       no
flow_reading       day                                          no
flow_bias          site (the flow meter's calibration)          yes
population         site and population year                     yes (same year)
correction_factor  analyte and correction factor (every site)   yes
=================  ===========================================  =====================

Two named intervals follow (:data:`INTERVAL_KINDS`):

* **level** — every component: the interval to use when comparing a value with other cities,
  EUDA figures or an absolute threshold;
* **change** — only the components drawn per sample or per day (analysis, sampling, flow
  reading): what does not cancel when a site is compared with itself over time (same flow
  meter, same population figure, same correction factor).

Monte Carlo draws are *shared*: one standard-normal draw per scope key, broadcast over every
day it covers (:func:`log_error_draws`), so weekly, monthly, tertial and annual means and
their ratios computed on the draws (:class:`SeriesDraws`, :func:`period_means`,
:func:`ratio_interval`) get the right width: population and CF errors cancel in a same-site
ratio, random errors average out over days, and two sites' errors stay independent except
for a shared correction factor. Draws are keyed by the seed, the component and the scope key
(site, analyte, year …), never by array position, so a site's numbers do not depend on the
other sites in the request, on the period requested or on the dask chunking.
:func:`first_order_sigma` gives the same widths analytically (first order) as a check.

The per-cell functions :func:`add_analytic_intervals` and :func:`monte_carlo_intervals` draw
every cell independently with all components; they are right for one day's level and wrong
for aggregates (kept for the single-day API and the benchmarks).
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import ArrayLike

from wastewater.parameters import UNCERTAINTY_DEFAULTS, default_rsd
from wastewater.units import Numeric

if TYPE_CHECKING:
    from wastewater.stats._series import DateLike

DEFAULT_SEED = 20240601
"""Default seed of every Monte Carlo function here (results are reproducible by default)."""

Z_975 = 1.959963984540054
"""Standard normal 97.5 % quantile (two-sided 95 % interval)."""

_LOAD = ("analysis", "sampling", "flow_reading", "flow_bias")
COMPONENTS_BY_VARIABLE: dict[str, tuple[str, ...]] = {
    "concentration_ng_per_l": ("analysis", "sampling"),
    "load_mg_per_day": _LOAD,
    "load_mg_per_day_per_1000": (*_LOAD, "population"),
    "consumption_mg_per_day_per_1000": (*_LOAD, "population", "correction_factor"),
    "doses_per_day_per_1000": (*_LOAD, "population", "correction_factor"),
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


def analytic_interval(value: Numeric, rsd: float, *, level: float = 0.95) -> tuple[Numeric, Numeric]:
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


def _mc_block(values: np.ndarray, sigmas: np.ndarray, n_draws: int, seed_seq: np.random.SeedSequence,
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
                          n_draws: int = 1000, seed: int = DEFAULT_SEED,
                          rsd: dict[str, float] | None = None,
                          chunks: dict[str, int] | None = None,
                          per_component: bool = True) -> xr.Dataset:
    """Per-cell Monte Carlo 95 % level intervals for every cell of ``ds[variable]``.

    Every cell is drawn independently with all components, which is right for one day's
    level interval only; aggregates need the shared draws of :func:`add_scoped_intervals`
    and :class:`SeriesDraws`.

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

        def block(x: np.ndarray, block_info: dict[Any, dict[str, Any]] | None = None) -> np.ndarray:
            assert block_info is not None  # dask passes it to a function that names the argument
            loc = block_info[0]["chunk-location"]
            flat_id = int(np.ravel_multi_index(loc, numblocks))
            return _mc_block(np.asarray(x, dtype=float), sigmas, n_draws, children[flat_id])

        res = dsa.map_blocks(block, arr, dtype=float, new_axis=0,  # type: ignore[no-untyped-call]
                             chunks=((3,),) + arr.chunks)
        for k, name in enumerate(names):
            out[name] = (da.dims, res[k])
    for name in names:
        out[name].attrs.update(attrs)
        if "units" in da.attrs:
            out[name].attrs["units"] = da.attrs["units"]
    return out


# -- scoped error components, shared draws, level and change intervals -----------------------

SCOPES: dict[str, tuple[str, ...]] = {
    "analysis": ("site", "analyte", "date"),
    "sampling": ("site", "date"),
    "flow_reading": ("site", "date"),
    "flow_bias": ("site",),
    "population": ("site", "population_year"),
    "correction_factor": ("analyte", "cf_id"),
}
"""What each component is shared across: one draw per distinct key of these coordinates.

``date`` = the day of the 24 h composite (a sample), ``population_year`` = the year of the
population figure used (the calendar year of the date unless the Dataset carries a
``population_year`` variable), ``cf_id`` = the correction factor (the same draw at every
site, so a CF cancels in a ratio between two sites' consumption)."""

SCOPE_TEXT: dict[str, dict[str, str]] = {
    "analysis": {"en": "per sample and analyte", "sv": "per prov och ämne"},
    "sampling": {"en": "per sample", "sv": "per prov"},
    "flow_reading": {"en": "per day", "sv": "per dygn"},
    "flow_bias": {"en": "per site (flow meter)", "sv": "per reningsverk (flödesmätaren)"},
    "population": {"en": "per site and population year", "sv": "per reningsverk och befolkningsår"},
    "correction_factor": {"en": "per analyte and correction factor",
                          "sv": "per ämne och omräkningsfaktor"},
}
"""Readable scope of each component (for reports and legends)."""

INTERVAL_KINDS: dict[str, str] = {
    "level": "all components: compare with other cities, EUDA or a fixed threshold",
    "change": "components drawn per sample or day only (what does not cancel within a site): "
              "compare a site with itself over time",
}
"""The two named 95 % intervals."""

_COMPONENT_CODE = {name: i for i, name in enumerate(SCOPES)}


def components_for(variable: str = "load_mg_per_day_per_1000", kind: str = "level") -> tuple[str, ...]:
    """Components entering ``variable`` for an interval of ``kind`` (``level`` or ``change``).

    >>> components_for("load_mg_per_day_per_1000", "change")
    ('analysis', 'sampling', 'flow_reading')
    """
    try:
        comps = COMPONENTS_BY_VARIABLE[variable]
    except KeyError:
        raise ValueError(f"no uncertainty model for {variable!r}; valid: "
                         f"{', '.join(COMPONENTS_BY_VARIABLE)}") from None
    if kind == "level":
        return comps
    if kind == "change":
        return tuple(c for c in comps if "date" in SCOPES[c])
    raise ValueError(f"interval kind must be one of {', '.join(INTERVAL_KINDS)}, got {kind!r}")


def _check_rsd_map(where: str, mapping: Mapping[str, float] | None) -> dict[str, float]:
    out = {}
    for comp, value in dict(mapping or {}).items():
        if comp not in UNCERTAINTY_DEFAULTS:
            raise ValueError(f"{where}: unknown component {comp!r}; valid: {', '.join(UNCERTAINTY_DEFAULTS)}")
        value = float(value)
        if not value >= 0:
            raise ValueError(f"{where}: RSD of {comp!r} must be >= 0 (a fraction, 0.08 = 8 %), got {value}")
        out[comp] = value
    return out


@dataclass(frozen=True)
class ErrorModel:
    """Component RSDs [fraction]: cited defaults, overridden globally, per lab and per site.

    Precedence (last wins): :data:`wastewater.parameters.UNCERTAINTY_DEFAULTS` → ``rsd`` →
    ``by_lab[site_lab[site]]`` → ``by_site[site]``. A lab's own analysis RSD (from its method
    validation, or :func:`replicate_rsd` of its duplicate analyses) goes in ``by_lab``.

    Examples
    --------
    >>> m = ErrorModel(by_lab={"Lab A": {"analysis": 0.08}}, site_lab={"SE-KAT-ROS": "Lab A"})
    >>> m.rsds("SE-KAT-ROS")["analysis"], m.rsds("SE-FLN-ARV")["analysis"]
    (0.08, 0.15)
    """

    rsd: Mapping[str, float] = field(default_factory=dict)
    by_lab: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    by_site: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    site_lab: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_rsd_map("rsd", self.rsd)
        for lab, m in dict(self.by_lab).items():
            _check_rsd_map(f"by_lab[{lab!r}]", m)
        for site, m in dict(self.by_site).items():
            _check_rsd_map(f"by_site[{site!r}]", m)

    def rsds(self, site: str | None = None) -> dict[str, float]:
        """Every component's RSD for ``site`` after overrides [fraction]."""
        out = {c: default_rsd(c) for c in UNCERTAINTY_DEFAULTS}
        out.update(_check_rsd_map("rsd", self.rsd))
        if site is not None:
            lab = dict(self.site_lab).get(site)
            if lab is not None:
                out.update(_check_rsd_map(f"by_lab[{lab!r}]", dict(self.by_lab).get(lab, {})))
            out.update(_check_rsd_map(f"by_site[{site!r}]", dict(self.by_site).get(site, {})))
        return out

    def sigmas(self, site: str | None = None) -> dict[str, float]:
        """Log-scale SDs ``√ln(1+RSD²)`` of every component for ``site``."""
        return {c: lognormal_sigma(r) for c, r in self.rsds(site).items()}


DEFAULT_MODEL = ErrorModel()


def replicate_rsd(ds: xr.Dataset, *, min_pairs: int = 3) -> pd.DataFrame:
    """Pooled repeatability RSD per site from replicate analyses of the same sample.

    Uses ``replicate_sd_ng_per_l`` and ``n_replicates`` of
    :func:`wastewater.timeseries.build_dataset`: ``RSD² = Σ (n−1)·(sd/mean)² / Σ (n−1)``
    over samples analysed more than once (pooled variance of the relative deviations).
    Repeatability excludes between-run and between-lab bias, so it is a lower bound for
    the analysis component [Castiglioni2013]_; use it in ``ErrorModel(by_site=...)`` when the
    lab's method validation gives nothing better.

    Returns
    -------
    pd.DataFrame
        ``site, n_samples, rsd`` (NaN when fewer than ``min_pairs`` replicated samples).
    """
    rows = []
    for site in ds["site"].values:
        sub = ds.sel(site=site)
        n = np.asarray(sub["n_replicates"].values, dtype=float).ravel()
        sd = np.asarray(sub["replicate_sd_ng_per_l"].values, dtype=float).ravel()
        mean = np.asarray(sub["concentration_ng_per_l"].values, dtype=float).ravel()
        ok = (n > 1) & np.isfinite(sd) & np.isfinite(mean) & (mean > 0)
        if "censored" in sub:
            ok &= ~np.asarray(sub["censored"].values, dtype=bool).ravel()
        dof = n[ok] - 1.0
        rsd = (math.sqrt(float(np.sum(dof * (sd[ok] / mean[ok]) ** 2) / np.sum(dof)))
               if ok.sum() >= min_pairs else float("nan"))
        rows.append({"site": str(site), "n_samples": int(ok.sum()), "rsd": rsd})
    return pd.DataFrame(rows, columns=["site", "n_samples", "rsd"])


def _key_words(*parts: object) -> list[int]:
    return [zlib.crc32(str(p).encode("utf-8")) for p in parts]


def _rng(seed: int, component: str, *key: object) -> np.random.Generator:
    """Generator of one scope key: seeded by (seed, component, key), not by array position."""
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), _COMPONENT_CODE[component],
                                                         *_key_words(*key)]))


@functools.lru_cache(maxsize=16)
def _year_block(seed: int, component: str, key: tuple[object, ...], year: int, n_draws: int) -> np.ndarray:
    """The (366, n_draws) float32 standard-normal draws of one date-scoped key and year.

    The same numbers :func:`_rng` gives for that key (draws depend only on the key), kept for a
    few keys: the level and the change draws of a series, and the analytes of one site (the
    ``sampling`` and ``flow_reading`` scopes are per site × date), share blocks. Read-only;
    16 blocks of 1000 draws are 23 MB.
    """
    z = _rng(seed, component, *key, year).standard_normal((366, n_draws), dtype=np.float32)
    z.setflags(write=False)
    return z


def log_error_draws(dates: ArrayLike, *, site: str, analyte: str,
                    variable: str = "load_mg_per_day_per_1000", kind: str = "level",
                    n_draws: int = 1000, seed: int = DEFAULT_SEED,
                    model: ErrorModel | None = None, population_year: ArrayLike | None = None,
                    cf_id: str | None = None) -> np.ndarray:
    """Shared Monte Carlo draws of the log error of one site × analyte series.

    Parameters
    ----------
    dates : array-like of dates
        Days of the series (any order, no duplicates needed).
    site, analyte : str
        Scope keys.
    variable : str
        Key of :data:`COMPONENTS_BY_VARIABLE` (which components enter).
    kind : {"level", "change"}
        All components, or only those drawn per sample/day (:func:`components_for`).
    n_draws : int
        Draws per day.
    seed : int
        Base seed. Each (component, scope key) has its own generator, so the draws of a day do
        not depend on which other days, sites or analytes are computed with it.
    model : ErrorModel, optional
        RSDs (defaults, lab and site overrides).
    population_year : array-like of int, optional
        Year of the population figure used on each day; default the calendar year.
    cf_id : str, optional
        Correction factor id (scope of the ``correction_factor`` component).

    Returns
    -------
    np.ndarray
        Shape ``(len(dates), n_draws)``, float64: ``L[d, k] = Σ_c σ_c · Z_c[key_c(d), k]`` with
        one standard-normal ``Z`` per scope key, broadcast over the days it covers. The
        observed value is ``truth · exp(L)`` (median-1 lognormal errors, Monte Carlo
        propagation as in [Jones2014]_).
    """
    if n_draws < 10:
        raise ValueError(f"n_draws must be >= 10, got {n_draws}")
    idx = pd.DatetimeIndex(pd.to_datetime(dates)).normalize()
    comps = components_for(variable, kind)
    sig = (model or DEFAULT_MODEL).sigmas(site)
    years = np.asarray(idx.year, dtype=int)
    doy = np.asarray(idx.day_of_year, dtype=int) - 1
    pyear = years if population_year is None else np.asarray(population_year, dtype=int)
    out = np.zeros((len(idx), n_draws), dtype=np.float64)
    if len(idx) == 0:
        return out
    parts = {"site": site, "analyte": analyte, "cf_id": cf_id or f"default:{analyte}"}
    for comp in comps:
        s = float(sig[comp])
        if s == 0.0:
            continue
        scope = SCOPES[comp]
        if "date" in scope:
            fixed = [parts[p] for p in scope if p != "date"]
            for year in np.unique(years):
                m = years == year
                z = _year_block(int(seed), comp, tuple(fixed), int(year), int(n_draws))
                out[m] += s * z[doy[m]]
        elif "population_year" in scope:
            fixed = [parts[p] for p in scope if p != "population_year"]
            for year in np.unique(pyear):
                m = pyear == year
                out[m] += s * _rng(seed, comp, *fixed, int(year)).standard_normal(n_draws)
        else:
            out += s * _rng(seed, comp, *[parts[p] for p in scope]).standard_normal(n_draws)
    return out


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95 % interval (same unit as the estimate)."""

    estimate: float
    lo95: float
    hi95: float
    kind: str
    n_days: int = 0

    @property
    def half_width(self) -> float:
        """``(hi95 − lo95) / 2 / estimate`` [fraction]."""
        return (self.hi95 - self.lo95) / 2.0 / self.estimate if self.estimate else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (NaN → None)."""
        d = asdict(self)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def _quantiles(draws: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """2.5th and 97.5th percentiles ('linear' rule; a group without days gives NaN)."""
    with np.errstate(invalid="ignore"):
        q = np.percentile(draws, [2.5, 97.5], axis=axis)
    return q[0], q[1]


@dataclass(frozen=True)
class SeriesDraws:
    """A daily series with its shared error draws (from :func:`series_draws`).

    ``factors[d, k] = exp(L[d, k])`` are the draws of the observed-to-true ratio of day ``d``
    (:func:`log_error_draws`). Means are computed on the draws as a pivot: for days ``d`` of a
    period with values ``v_d`` and mean ``T``, a draw of the *true* mean is ``T / R`` with
    ``R = Σ v_d·factor_d / Σ v_d`` (the observed-to-true ratio of the mean), i.e. ``T² / M``
    with ``M`` the mean of ``v_d·factor_d``. For one day this is ``v·exp(−L)``; over many days
    it removes the ``exp(σ²/2)`` upward bias that a mean of median-unbiased days carries, and
    a shared component (one draw for the period) comes out as one factor, exactly.
    ``dataclasses.replace(draws, values=other)`` reuses the draws for other values of the same
    days (e.g. in a simulation).
    """

    dates: pd.DatetimeIndex
    values: np.ndarray
    factors: np.ndarray
    site: str
    analyte: str
    variable: str
    kind: str

    def _mask(self, start: DateLike | None = None, end: DateLike | None = None) -> np.ndarray:
        m: np.ndarray = np.isfinite(self.values)
        if start is not None:
            m &= np.asarray(self.dates >= pd.Timestamp(start))
        if end is not None:
            m &= np.asarray(self.dates <= pd.Timestamp(end))
        return m

    def mean_draws(self, start: DateLike | None = None,
                   end: DateLike | None = None) -> tuple[float, np.ndarray, int]:
        """``(mean value, draws of the true mean (n_draws,), n_days)`` over ``start``–``end``
        (inclusive; ``None`` = open).
        """
        m = self._mask(start, end)
        n = int(m.sum())
        if n == 0:
            return float("nan"), np.full(self.factors.shape[1], np.nan), 0
        v = np.where(m, self.values, 0.0)
        total = float(v.sum())
        big_m = v @ self.factors  # no copy of the selected rows
        return total / n, total * total / (n * big_m), n

    def group_means(self, codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Means of every group at once: ``codes[d]`` in ``0..n_groups-1`` (−1 = left out).

        Returns ``(means (G,), draws (G, n_draws), n_days (G,))``.
        """
        codes = np.asarray(codes)
        ok = np.isfinite(self.values) & (codes >= 0)
        order = np.argsort(codes[ok], kind="stable")
        c, v = codes[ok][order], self.values[ok][order]
        n = np.bincount(c, minlength=n_groups).astype(float)
        total = np.bincount(c, weights=v, minlength=n_groups)
        # sums of v·factor per group over the days sorted by group (no BLAS matrix product:
        # a threaded one was 50x slower than this on a loaded 2-core machine)
        big_m = np.zeros((n_groups, self.factors.shape[1]))
        if len(c):
            first = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
            big_m[c[first]] = np.add.reduceat(v[:, None] * self.factors[ok][order], first, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = total / n
            draws = (total * total / n)[:, None] / big_m
        return means, draws, n.astype(int)

    def mean_interval(self, start: DateLike | None = None, end: DateLike | None = None) -> Interval:
        """95 % interval of the mean over ``start``–``end`` (kind of these draws)."""
        est, draws, n = self.mean_draws(start, end)
        if n == 0:
            return Interval(float("nan"), float("nan"), float("nan"), self.kind, 0)
        lo, hi = _quantiles(draws)
        return Interval(est, float(lo), float(hi), self.kind, n)


def series_draws(values: pd.Series, *, site: str, analyte: str,
                 variable: str = "load_mg_per_day_per_1000", kind: str = "level",
                 n_draws: int = 1000, seed: int = DEFAULT_SEED, model: ErrorModel | None = None,
                 population_year: ArrayLike | None = None, cf_id: str | None = None) -> SeriesDraws:
    """Shared draws for a daily series (``pd.Series`` on a DatetimeIndex, NaN = no value).

    See :func:`log_error_draws` for the parameters and the model.
    """
    idx = pd.DatetimeIndex(pd.to_datetime(values.index)).normalize()
    L = log_error_draws(idx, site=site, analyte=analyte, variable=variable, kind=kind,
                        n_draws=n_draws, seed=seed, model=model, population_year=population_year,
                        cf_id=cf_id)
    np.exp(L, out=L)
    return SeriesDraws(idx, np.asarray(values, dtype=float), L, site, analyte, variable, kind)


def ratio_interval(numerator: SeriesDraws, numerator_period: tuple[DateLike | None, DateLike | None],
                   denominator: SeriesDraws,
                   denominator_period: tuple[DateLike | None, DateLike | None]) -> Interval:
    """95 % interval of ``mean(numerator period) / mean(denominator period)``.

    The same :class:`SeriesDraws` on both sides gives a same-site ratio (this tertial vs the
    last, after vs before an operation): components shared by both periods cancel draw by
    draw. Two sites' draws give a between-site ratio: their errors are independent except a
    shared correction factor. Use ``kind="level"`` draws: the cancellation is then exact
    rather than assumed (a ratio across population years keeps the population error).
    ``*_period`` are ``(start, end)`` inclusive dates.
    """
    a, da, na = numerator.mean_draws(*numerator_period)
    b, db, nb = denominator.mean_draws(*denominator_period)
    if na == 0 or nb == 0:
        return Interval(float("nan"), float("nan"), float("nan"), "ratio", 0)
    lo, hi = _quantiles(da / db)
    return Interval(a / b, float(lo), float(hi), "ratio", na + nb)


def iso_year_week(dates: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """ISO 8601 week-year and week number of each date [ISO8601]_: the week (Monday first) is
    numbered in the year of its Thursday, week 1 holding that year's first Thursday, so
    ``week = (day of year of the Thursday − 1) // 7 + 1``. The same as
    ``DatetimeIndex.isocalendar()`` without its per-call cost.

    >>> y, w = iso_year_week(pd.to_datetime(["2024-12-30", "2025-03-09", "2026-12-31", "2027-01-03"]))
    >>> y.tolist(), w.tolist()
    ([2025, 2025, 2026, 2026], [1, 10, 53, 53])
    """
    idx = pd.DatetimeIndex(pd.to_datetime(dates)).normalize()
    thursday = idx + pd.to_timedelta(3 - np.asarray(idx.day_of_week), unit="D")
    return (np.asarray(thursday.year, dtype=int),
            (np.asarray(thursday.day_of_year, dtype=int) - 1) // 7 + 1)


def iso_week_labels(dates: ArrayLike) -> list[str]:
    """``2025-W10`` labels of :func:`iso_year_week`, computed once per distinct week."""
    idx = pd.DatetimeIndex(pd.to_datetime(dates)).normalize()
    monday = idx - pd.to_timedelta(idx.day_of_week, unit="D")
    uniq, inverse = np.unique(np.asarray(monday, dtype="datetime64[D]"), return_inverse=True)
    years, weeks = iso_year_week(uniq)
    labels = [f"{y}-W{w:02d}" for y, w in zip(years.tolist(), weeks.tolist(), strict=True)]
    return [labels[i] for i in np.asarray(inverse).ravel().tolist()]


PERIODS = ("week", "month", "tertial", "year")
"""Aggregation periods of :func:`period_codes` (week = ISO week, Monday first; tertial =
T1 Jan–Apr, T2 May–Aug, T3 Sep–Dec as in Swedish municipal follow-up)."""


def period_codes(dates: ArrayLike, freq: str) -> tuple[np.ndarray, list[str], list[pd.Timestamp]]:
    """Group code of each date, the period labels and each period's first day.

    >>> codes, labels, starts = period_codes(pd.to_datetime(["2025-03-09", "2025-03-10"]), "week")
    >>> codes.tolist(), labels
    ([0, 1], ['2025-W10', '2025-W11'])
    """
    idx = pd.DatetimeIndex(pd.to_datetime(dates)).normalize()
    if freq == "week":
        start = idx - pd.to_timedelta(idx.day_of_week, unit="D")
        label = iso_week_labels(start)
    elif freq == "month":
        start = idx.to_period("M").to_timestamp()
        label = [f"{d.year}-{d.month:02d}" for d in start]
    elif freq == "tertial":
        t = (idx.month - 1) // 4
        start = pd.to_datetime({"year": idx.year, "month": 4 * t + 1, "day": 1}) if len(idx) else idx
        start = pd.DatetimeIndex(start)
        label = [f"{d.year}-T{(d.month - 1) // 4 + 1}" for d in start]
    elif freq == "year":
        start = idx.to_period("Y").to_timestamp()
        label = [str(d.year) for d in start]
    else:
        raise ValueError(f"freq must be one of {', '.join(PERIODS)}, got {freq!r}")
    uniq = sorted(set(zip(start, label, strict=True)))
    code_of = {lab: i for i, (_s, lab) in enumerate(uniq)}
    codes = np.array([code_of[lab] for lab in label], dtype=int)
    return codes, [lab for _s, lab in uniq], [s for s, _lab in uniq]


def period_means(values: pd.Series, *, site: str, analyte: str, freq: str = "week",
                 variable: str = "load_mg_per_day_per_1000", kinds: tuple[str, ...] = ("level", "change"),
                 method: str = "montecarlo", n_draws: int = 1000, seed: int = DEFAULT_SEED,
                 model: ErrorModel | None = None, population_year: ArrayLike | None = None,
                 cf_id: str | None = None) -> pd.DataFrame:
    """Means per week/month/tertial/year with their level and change 95 % intervals.

    Parameters
    ----------
    values : pd.Series
        Daily ``variable`` on a DatetimeIndex (NaN = no sample; those days are left out).
    freq : {"week", "month", "tertial", "year"}
    kinds : tuple
        Which intervals (``level``, ``change``).
    method : {"montecarlo", "analytic"}
        Shared draws (:class:`SeriesDraws`) or first-order propagation
        (:func:`first_order_sigma`, lognormal around the mean).

    Returns
    -------
    pd.DataFrame
        ``period, start, n_days, value`` and ``{kind}_lo95, {kind}_hi95`` per kind, in the
        unit of ``variable``.
    """
    s = values.dropna()
    s = s[~s.index.duplicated(keep="last")]
    codes, labels, starts = period_codes(s.index, freq)
    out = pd.DataFrame({"period": labels, "start": pd.DatetimeIndex(starts)})
    if not len(s):
        out["n_days"] = pd.Series(dtype=int)
        out["value"] = pd.Series(dtype=float)
        for kind in kinds:
            out[f"{kind}_lo95"] = pd.Series(dtype=float)
            out[f"{kind}_hi95"] = pd.Series(dtype=float)
        return out
    v = s.to_numpy(dtype=float)
    counts = np.bincount(codes, minlength=len(labels))
    means = np.bincount(codes, weights=v, minlength=len(labels)) / counts
    out["n_days"] = counts.astype(int)
    out["value"] = means
    for kind in kinds:
        if method == "montecarlo":
            sd = series_draws(s, site=site, analyte=analyte, variable=variable, kind=kind,
                              n_draws=n_draws, seed=seed, model=model,
                              population_year=population_year, cf_id=cf_id)
            _m, draws, _n = sd.group_means(codes, len(labels))
            lo, hi = _quantiles(draws, axis=1)
        elif method == "analytic":
            z = Z_975
            lo = np.empty(len(labels))
            hi = np.empty(len(labels))
            for g in range(len(labels)):
                m = codes == g
                w = np.where(m, v, 0.0) / v[m].sum()
                sig = first_order_sigma([SeriesTerm(site, analyte, s.index, w, population_year, cf_id)],
                                        variable=variable, kind=kind, model=model)
                lo[g], hi[g] = means[g] * math.exp(-z * sig), means[g] * math.exp(z * sig)
        else:
            raise ValueError(f"method must be 'montecarlo' or 'analytic', got {method!r}")
        out[f"{kind}_lo95"] = lo
        out[f"{kind}_hi95"] = hi
    return out


@dataclass(frozen=True)
class SeriesTerm:
    """One series' first-order coefficients: ``d log(estimate) = Σ_d coef_d · L_d``.

    For a mean over a period, ``coef_d = v_d / Σ v`` on its days (0 elsewhere); for a ratio of
    two means, numerator weights minus denominator weights.
    """

    site: str
    analyte: str
    dates: Any
    coef: Any
    population_year: Any = None
    cf_id: str | None = None


def first_order_sigma(terms: Iterable[SeriesTerm], *, variable: str = "load_mg_per_day_per_1000", kind: str = "level",
                      model: ErrorModel | None = None) -> float:
    """Log-scale SD of an estimate by first-order propagation over scoped components.

    ``σ² = Σ_c Σ_key (Σ_{d ∈ key} coef_d · σ_c(site_d))²``: the coefficients of the days sharing
    a draw add before squaring (fully correlated within a key, independent between keys).
    With one day and coefficient 1 this is ``Σ σ_c²``, the quadrature sum of
    :func:`combined_rsd` on the log scale (standard first-order propagation, [Jones2014]_
    for the Monte Carlo it checks).

    >>> round(first_order_sigma([SeriesTerm("S", "a", ["2025-03-01"], [1.0])]), 4)
    0.2853
    """
    model = model or DEFAULT_MODEL
    comps = components_for(variable, kind)
    acc: dict[tuple[object, ...], float] = {}
    for term in terms:
        idx = pd.DatetimeIndex(pd.to_datetime(term.dates)).normalize()
        coef = np.asarray(term.coef, dtype=float)
        sig = model.sigmas(term.site)
        pyear = (np.asarray(idx.year) if term.population_year is None
                 else np.asarray(term.population_year, dtype=int))
        parts = {"site": term.site, "analyte": term.analyte,
                 "cf_id": term.cf_id or f"default:{term.analyte}"}
        for comp in comps:
            s = float(sig[comp])
            scope = SCOPES[comp]
            if "date" in scope:
                fixed = tuple(parts[p] for p in scope if p != "date")
                for d, c in zip(idx, coef, strict=True):
                    if c:
                        key = (comp, *fixed, d)
                        acc[key] = acc.get(key, 0.0) + c * s
            elif "population_year" in scope:
                fixed = tuple(parts[p] for p in scope if p != "population_year")
                for year in np.unique(pyear):
                    key = (comp, *fixed, int(year))
                    acc[key] = acc.get(key, 0.0) + float(coef[pyear == year].sum()) * s
            else:
                key = (comp, *(parts[p] for p in scope))
                acc[key] = acc.get(key, 0.0) + float(coef.sum()) * s
    return math.sqrt(sum(v * v for v in acc.values()))


def interval_fields(value_field: str) -> dict[str, str]:
    """Names of the interval fields of a value field, with the interval kind and the unit.

    >>> interval_fields("load_mg_per_day_per_1000")["change_lo95"]
    'change_lo95_mg_per_day_per_1000'
    """
    unit = UNIT_SUFFIX[value_field]
    return {f"{kind}_{b}": f"{kind}_{b}_{unit}" for kind in INTERVAL_KINDS for b in ("lo95", "hi95")}


UNIT_SUFFIX: dict[str, str] = {
    "concentration_ng_per_l": "ng_per_l",
    "load_mg_per_day": "mg_per_day",
    "load_mg_per_day_per_1000": "mg_per_day_per_1000",
    "consumption_mg_per_day_per_1000": "mg_per_day_per_1000",
    "doses_per_day_per_1000": "doses_per_day_per_1000",
}
"""Unit part of each value field (used in interval field names, e.g. ``level_hi95_ng_per_l``)."""


def _cf_of(ds: xr.Dataset, analyte: str) -> str | None:
    if "cf_id" in ds.coords and "analyte" in ds["cf_id"].dims:
        value = str(ds["cf_id"].sel(analyte=analyte).item())
        return value or None
    return None


def _scoped_block(values: np.ndarray, dates: np.ndarray, sites: list[str], analytes: list[str],
                  cf_ids: list[str | None], pyears: np.ndarray | None,
                  variable: str, kinds: tuple[str, ...], method: str, n_draws: int, seed: int,
                  model: ErrorModel | None) -> np.ndarray:
    """``(2·len(kinds), site, analyte, date)`` bounds of one block (lo, hi per kind)."""
    out = np.full((2 * len(kinds),) + values.shape, np.nan)
    for i, site in enumerate(sites):
        for j, analyte in enumerate(analytes):
            v = values[i, j]
            ok = np.flatnonzero(np.isfinite(v))
            if ok.size == 0:
                continue
            py = None if pyears is None else pyears[i][ok]
            for k, kind in enumerate(kinds):
                if method == "analytic":
                    sig = math.sqrt(sum(s * s for c, s in (model or DEFAULT_MODEL).sigmas(site).items()
                                        if c in components_for(variable, kind)))
                    lo_f = np.full(ok.size, math.exp(-Z_975 * sig))
                    hi_f = np.full(ok.size, math.exp(Z_975 * sig))
                else:
                    L = log_error_draws(dates[ok], site=str(site), analyte=str(analyte),
                                        variable=variable, kind=kind, n_draws=n_draws, seed=seed,
                                        model=model, population_year=py, cf_id=cf_ids[j])
                    q = np.percentile(L, [2.5, 97.5], axis=1)
                    lo_f, hi_f = np.exp(-q[1]), np.exp(-q[0])  # truth = observed · exp(−L)
                out[2 * k, i, j, ok] = v[ok] * lo_f
                out[2 * k + 1, i, j, ok] = v[ok] * hi_f
    return out


def add_scoped_intervals(ds: xr.Dataset, variable: str = "load_mg_per_day_per_1000", *,
                         kinds: tuple[str, ...] = ("level", "change"), method: str = "montecarlo",
                         n_draws: int = 1000, seed: int = DEFAULT_SEED,
                         model: ErrorModel | None = None,
                         chunks: dict[str, int] | None = None) -> xr.Dataset:
    """Daily level and change 95 % intervals of ``ds[variable]`` from scoped components.

    Adds ``{variable}_{kind}_lo95`` and ``{variable}_{kind}_hi95`` for each kind. For one day
    the Monte Carlo bounds equal the analytic lognormal ones (``method="analytic"``) up to
    Monte Carlo error; the point of the shared draws is the aggregates (:class:`SeriesDraws`).
    With ``chunks`` (e.g. ``{"site": 1}``) the result is dask-backed; since every draw is
    keyed by its scope, numbers do not depend on the chunking.
    """
    for kind in kinds:
        components_for(variable, kind)
    if method not in ("montecarlo", "analytic"):
        raise ValueError(f"method must be 'montecarlo' or 'analytic', got {method!r}")
    da = ds[variable].transpose("site", "analyte", "date")
    dates = pd.DatetimeIndex(ds["date"].values)
    sites = [str(s) for s in ds["site"].values]
    analytes = [str(a) for a in ds["analyte"].values]
    cf_ids = [_cf_of(ds, a) for a in ds["analyte"].values]
    pyears = None
    if "population_year" in ds:
        pyears = np.asarray(ds["population_year"].transpose("site", "date").values)
    names = [f"{variable}_{kind}_{b}" for kind in kinds for b in ("lo95", "hi95")]
    out = ds.copy()
    if chunks is None:
        res = _scoped_block(np.asarray(da.values, dtype=float), dates.values, sites, analytes,
                            cf_ids, pyears, variable, tuple(kinds), method, n_draws, seed, model)
    else:
        import dask.array as dsa

        arr = da.chunk(chunks).data
        starts = [np.cumsum((0,) + c) for c in arr.chunks]

        def block(x: np.ndarray, block_info: dict[Any, dict[str, Any]] | None = None) -> np.ndarray:
            assert block_info is not None  # dask passes it to a function that names the argument
            loc = block_info[0]["chunk-location"]
            s0, a0, d0 = (int(starts[ax][loc[ax]]) for ax in range(3))
            s1, a1, d1 = s0 + x.shape[0], a0 + x.shape[1], d0 + x.shape[2]
            py = None if pyears is None else pyears[s0:s1, d0:d1]
            return _scoped_block(np.asarray(x, dtype=float), dates.values[d0:d1], sites[s0:s1],
                                 analytes[a0:a1], cf_ids[a0:a1], py, variable, tuple(kinds),
                                 method, n_draws, seed, model)

        res = dsa.map_blocks(block, arr, dtype=float, new_axis=0,  # type: ignore[no-untyped-call]
                             chunks=((2 * len(kinds),),) + arr.chunks)
    for k, name in enumerate(names):
        out[name] = (("site", "analyte", "date"), res[k])
        kind = name.rsplit("_", 2)[-2]
        out[name].attrs.update({
            "interval_kind": kind, "coverage": 0.95, "method": f"{method}-scoped-lognormal",
            "components": ",".join(components_for(variable, kind)),
            "description": INTERVAL_KINDS[kind],
            **({"n_draws": n_draws, "seed": seed} if method == "montecarlo" else {}),
        })
        if "units" in ds[variable].attrs:
            out[name].attrs["units"] = ds[variable].attrs["units"]
    return out
