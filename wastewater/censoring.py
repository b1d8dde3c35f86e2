"""Values below the limit of quantification: substitution and censored summaries.

Substitution (``loq_half``, ``loq_sqrt2``, ``zero``, ``loq``) is simple but biased
[HornungReed1990]_; the censored summaries — Kaplan–Meier with the flip method, regression on
order statistics (ROS, lognormal) and censored maximum likelihood (lognormal) — follow
[Helsel2012]_. Every summary reports ``n``, ``n_censored`` and ``method``.

Convention for censored observations: the value passed is the censoring limit (the LOQ or
LOD the true value lies below). A result *detected below the LOQ* (censor ``D``: LOD ≤ x < LOQ,
value reported) is an **interval**: pass its LOQ as the value, ``censored=True`` and its LOD in
``lower``. The lognormal MLE uses the interval likelihood ``Φ(ln LOQ) − Φ(ln LOD)``
[Helsel2012]_; substitution keeps the substituted value inside the interval; Kaplan–Meier and
ROS, which handle left-censoring only, treat it as ``< LOQ`` (conservative).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, stats

from wastewater.units import Numeric

SUBSTITUTION_METHODS = ("loq_half", "loq_sqrt2", "zero", "loq")
SUMMARY_METHODS = SUBSTITUTION_METHODS + ("km", "ros", "mle")

_SUBSTITUTION_FACTOR = {"loq_half": 0.5, "loq_sqrt2": 1.0 / math.sqrt(2.0), "zero": 0.0, "loq": 1.0}


def substitute(limit_ng_per_l: Numeric, method: str = "loq_half") -> Numeric:
    """Value substituted for a censored result.

    Parameters
    ----------
    limit_ng_per_l : numeric
        Censoring limit (LOQ, or LOD for ``<LOD``/``ND`` results). [ng L⁻¹]
    method : {"loq_half", "loq_sqrt2", "zero", "loq"}
        LOQ/2, LOQ/√2 [HornungReed1990]_, 0 (the EUDA publication convention [EUDA2025]_) or
        the LOQ itself.

    Returns
    -------
    numeric
        Substituted concentration, same type as the input. [ng L⁻¹]
    """
    try:
        factor = _SUBSTITUTION_FACTOR[method]
    except KeyError:
        raise ValueError(f"unknown loq_method {method!r}; valid: {', '.join(SUBSTITUTION_METHODS)}") from None
    if np.any(np.asarray(limit_ng_per_l, dtype=float) < 0):
        raise ValueError("censoring limits must be >= 0")
    return limit_ng_per_l * factor


@dataclass(frozen=True)
class CensoredSummary:
    """Summary of a sample with censored values.

    Attributes
    ----------
    mean, median, sd : float
        Estimates in the unit of the input (NaN when not estimable; ``median`` is NaN when it
        lies below the lowest detected value for Kaplan–Meier).
    n, n_censored : int
        Number of (finite) observations and of censored ones.
    method : str
        One of :data:`SUMMARY_METHODS`.
    note : str
        Caveats (e.g. too few detects).
    """

    mean: float
    median: float
    sd: float
    n: int
    n_censored: int
    method: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (NaN → None)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in asdict(self).items()}


def _prepare(values: ArrayLike, censored: ArrayLike | None) -> tuple[np.ndarray, np.ndarray]:
    x, c, _ = _prepare_interval(values, censored, None)
    return x, c


def _prepare_interval(values: ArrayLike, censored: ArrayLike | None,
                      lower: ArrayLike | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Finite observations, censored flags and interval lower bounds (NaN: left-censored)."""
    x = np.asarray(values, dtype=float).ravel()
    c = np.zeros(x.shape, bool) if censored is None else np.asarray(censored, dtype=bool).ravel()
    if c.shape != x.shape:
        raise ValueError(f"values ({x.size}) and censored ({c.size}) differ in length")
    lo = np.full(x.shape, np.nan) if lower is None else np.asarray(lower, dtype=float).ravel()
    if lo.shape != x.shape:
        raise ValueError(f"values ({x.size}) and lower ({lo.size}) differ in length")
    keep = np.isfinite(x)
    x, c, lo = x[keep], c[keep], lo[keep]
    if np.any(x < 0):
        raise ValueError("values and censoring limits must be >= 0")
    lo = np.where(c & (lo > 0) & (lo < x), lo, np.nan)  # an interval needs 0 < lower < upper
    return x, c, lo


def substitute_interval(upper_ng_per_l: ArrayLike, lower_ng_per_l: ArrayLike,
                        method: str = "loq_half") -> np.ndarray:
    """Substituted value of censored results, kept inside ``[lower, upper]`` when a lower
    bound is known (detected below the LOQ: ``[LOD, LOQ]``).

    :func:`substitute` of the upper limit, raised to the lower bound where it falls below it
    (e.g. LOQ/2 < LOD); where ``lower`` is NaN the plain substitution is returned.

    Examples
    --------
    >>> float(substitute_interval(10.0, 6.0, "loq_half")), float(substitute_interval(10.0, 2.0))
    (6.0, 5.0)
    """
    value = substitute(np.asarray(upper_ng_per_l, dtype=float), method)
    lower = np.asarray(lower_ng_per_l, dtype=float)
    return np.where(np.isfinite(lower) & (value < lower), lower, value)


def _nan_summary(x: np.ndarray, c: np.ndarray, method: str, note: str) -> CensoredSummary:
    return CensoredSummary(np.nan, np.nan, np.nan, int(x.size), int(c.sum()), method, note)


def substitution_summary(values: ArrayLike, censored: ArrayLike | None = None, method: str = "loq_half",
                         lower: ArrayLike | None = None) -> CensoredSummary:
    """Mean/median/SD after substituting censored values (limits) by ``method``; an interval
    (``lower`` given) keeps its substitute inside ``[lower, limit]``.
    """
    x, c, lo = _prepare_interval(values, censored, lower)
    if x.size == 0:
        return _nan_summary(x, c, method, "no data")
    y = x.copy()
    y[c] = substitute_interval(x[c], lo[c], method)
    sd = float(np.std(y, ddof=1)) if y.size > 1 else np.nan
    return CensoredSummary(float(np.mean(y)), float(np.median(y)), sd, int(x.size), int(c.sum()), method)


def kaplan_meier_summary(values: ArrayLike, censored: ArrayLike | None = None) -> CensoredSummary:
    """Kaplan–Meier estimates for left-censored data (flip method).

    Notes
    -----
    Helsel's flip method [Helsel2012]_: left-censored data are flipped into right-censored
    data, the product-limit estimator is applied, and the result flipped back. Equivalently
    the CDF at each detected value ``t_j`` is ``F(t_j) = Π_{t_k > t_j} (1 - d_k/n_k)`` with
    ``d_k`` detects at ``t_k`` and ``n_k`` observations known to be ``≤ t_k`` (detects ≤ t_k and
    censored values with limit ≤ t_k). The mass left below the lowest detect is placed at the
    lowest observation (Efron's correction, as NADA does), so the mean is biased high when the
    lowest values are censored; the median is NaN when it lies in that region.
    """
    x, c = _prepare(values, censored)
    if x.size == 0 or (~c).sum() == 0:
        return _nan_summary(x, c, "km", "no detected values")
    detects = np.sort(np.unique(x[~c]))[::-1]  # descending
    surv = 1.0  # P(X < current t) while walking down
    cdf_at = {}
    masses = []
    for t in detects:
        d = np.sum((x == t) & ~c)
        n_at_risk = np.sum((x <= t) & ~c) + np.sum((x <= t) & c)
        cdf_at[t] = surv  # F(t) = P(X <= t)
        new = surv * (1.0 - d / n_at_risk)
        masses.append((t, surv - new))
        surv = new
    lowest = float(x.min())
    if surv > 1e-12:
        masses.append((lowest, surv))
    vals = np.array([m[0] for m in masses])
    probs = np.array([m[1] for m in masses])
    mean = float(np.sum(vals * probs))
    sd = float(np.sqrt(np.sum(probs * (vals - mean) ** 2) * x.size / max(x.size - 1, 1)))
    # median: smallest detected t with F(t) >= 0.5
    median = np.nan
    note = ""
    for t in detects[::-1]:  # ascending
        if cdf_at[t] >= 0.5 - 1e-12:
            if t == detects.min() and surv > 0.5 + 1e-12:
                break
            median = float(t)
            break
    if math.isnan(median):
        note = "median below the lowest detected value"
    return CensoredSummary(mean, median, sd, int(x.size), int(c.sum()), "km", note)


def ros_plotting_positions(values: ArrayLike, censored: ArrayLike | None) -> np.ndarray:
    """Hirsch–Stedinger plotting positions for multiply censored data.

    Returns
    -------
    numpy.ndarray
        Plotting position (exceedance complement, 0–1) of each input observation, in input
        order (finite inputs only) [HirschStedinger1987]_, [Helsel2012]_.
    """
    x, c = _prepare(values, censored)
    limits = np.unique(x[c])
    if (~c).any() and (limits.size == 0 or x[~c].min() < limits.min()):
        limits = np.concatenate([[0.0], limits])
    m = limits.size
    upper = np.concatenate([limits[1:], [np.inf]])
    a = np.array([np.sum(~c & (x >= lo) & (x < hi)) for lo, hi in zip(limits, upper)], float)
    b = np.array([np.sum(c & (x <= lo)) + np.sum(~c & (x < lo)) for lo in limits], float)
    pe = np.zeros(m + 1)
    for j in range(m - 1, -1, -1):
        frac = a[j] / (a[j] + b[j]) if (a[j] + b[j]) > 0 else 0.0
        pe[j] = pe[j + 1] + frac * (1.0 - pe[j + 1])
    pp = np.full(x.size, np.nan)
    for j in range(m):
        lo, hi = limits[j], upper[j]
        idx = np.where(~c & (x >= lo) & (x < hi))[0]
        idx = idx[np.argsort(x[idx], kind="stable")]
        r = np.arange(1, idx.size + 1)
        pp[idx] = (1.0 - pe[j]) + (pe[j] - pe[j + 1]) * r / (idx.size + 1)
        cidx = np.where(c & (x == lo))[0]
        r = np.arange(1, cidx.size + 1)
        pp[cidx] = (1.0 - pe[j]) * r / (cidx.size + 1)
    return pp


def ros_summary(values: ArrayLike, censored: ArrayLike | None = None) -> CensoredSummary:
    """Regression on order statistics (lognormal) estimates.

    Notes
    -----
    Robust ROS [Helsel2012]_: plotting positions by the Hirsch–Stedinger method handle several
    detection limits; ``log(detects)`` are regressed on normal quantiles of their plotting
    positions; censored values are imputed from the fitted line at their own positions; mean,
    median and SD are those of detects plus imputed values. Needs at least 3 detects.
    """
    x, c = _prepare(values, censored)
    n_det = int((~c).sum())
    if n_det < 3:
        return _nan_summary(x, c, "ros", "ROS needs at least 3 detected values")
    if np.any(x[~c] <= 0):
        return _nan_summary(x, c, "ros", "ROS (lognormal) needs positive detected values")
    pp = ros_plotting_positions(x, c)
    z = stats.norm.ppf(pp)
    slope, intercept = np.polyfit(z[~c], np.log(x[~c]), 1)
    y = x.copy()
    y[c] = np.exp(intercept + slope * z[c])
    sd = float(np.std(y, ddof=1))
    return CensoredSummary(float(np.mean(y)), float(np.median(y)), sd, int(x.size), int(c.sum()), "ros")


def mle_lognormal(values: ArrayLike, censored: ArrayLike | None = None,
                  lower: ArrayLike | None = None) -> tuple[float, float]:
    """Censored maximum-likelihood fit of a lognormal: returns ``(mu, sigma)`` of ``log X``.

    Parameters
    ----------
    values, censored : array-like
        Observations (limits for censored ones) and censored flags.
    lower : array-like, optional
        Lower bound of interval-censored observations (the LOD of a result detected below the
        LOQ); NaN or absent: left-censored.

    Notes
    -----
    Log-likelihood ``Σ_detects log φ((ln x − μ)/σ)/σ + Σ_left log Φ((ln L − μ)/σ)
    + Σ_interval log[Φ((ln U − μ)/σ) − Φ((ln D − μ)/σ)]`` (Tobit-type likelihood for left- and
    interval-censored data, [Helsel2012]_).
    """
    x, c, lo = _prepare_interval(values, censored, lower)
    if (~c).sum() < 2:
        raise ValueError("censored MLE needs at least 2 detected values")
    if np.any(x <= 0):
        raise ValueError("lognormal MLE needs positive values and limits")
    lx = np.log(x)
    interval = c & np.isfinite(lo)
    det, cen = lx[~c], lx[c & ~interval]
    upper, low = lx[interval], np.log(lo[interval])

    def nll(theta: np.ndarray) -> float:
        mu, log_sigma = theta
        s = math.exp(log_sigma)
        ll = stats.norm.logpdf(det, mu, s).sum() + stats.norm.logcdf(cen, mu, s).sum()
        if upper.size:
            p = stats.norm.cdf(upper, mu, s) - stats.norm.cdf(low, mu, s)
            ll += np.log(np.maximum(p, 1e-300)).sum()
        return float(-ll)

    start = np.array([det.mean(), math.log(max(det.std(ddof=1), 1e-3))])
    res = optimize.minimize(nll, start, method="Nelder-Mead",
                            options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})
    return float(res.x[0]), float(math.exp(res.x[1]))


def mle_summary(values: ArrayLike, censored: ArrayLike | None = None,
                lower: ArrayLike | None = None) -> CensoredSummary:
    """Censored lognormal MLE estimates: mean ``exp(μ+σ²/2)``, median ``exp(μ)``, SD.

    ``lower`` gives interval lower bounds (see :func:`mle_lognormal`).
    """
    x, c, lo = _prepare_interval(values, censored, lower)
    try:
        mu, sigma = mle_lognormal(x, c, lo)
    except ValueError as exc:
        return _nan_summary(x, c, "mle", str(exc))
    mean = math.exp(mu + sigma**2 / 2)
    sd = mean * math.sqrt(math.exp(sigma**2) - 1)
    return CensoredSummary(mean, math.exp(mu), sd, int(x.size), int(c.sum()), "mle")


def censored_summary(values: ArrayLike, censored: ArrayLike | None = None, method: str = "km",
                     lower: ArrayLike | None = None) -> CensoredSummary:
    """Dispatch to the summary named ``method`` (one of :data:`SUMMARY_METHODS`).

    ``lower`` (interval lower bounds, e.g. the LOD of results detected below the LOQ) is used by
    the substitutions and the MLE; Kaplan–Meier and ROS treat intervals as left-censored.
    """
    if method in SUBSTITUTION_METHODS:
        return substitution_summary(values, censored, method, lower)
    if method == "mle":
        return mle_summary(values, censored, lower)
    funcs = {"km": kaplan_meier_summary, "ros": ros_summary}
    try:
        return funcs[method](values, censored)
    except KeyError:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(SUMMARY_METHODS)}") from None
