"""Monotonic trend: Mann–Kendall test with autocorrelation correction and Sen's slope.

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from wastewater.stats._series import json_safe, prepare_daily, require
from wastewater.stats._statespace import Problem, last_term_test
from wastewater.stats.effects import SeriesObs, method_change_days

__all__ = ["GlsTrendResult", "TrendResult", "mann_kendall", "sen_slope", "trend_gls", "trend_test"]

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class TrendResult:
    """Mann–Kendall / Sen result. Slopes are per day in the tested scale."""

    trend: str
    p_value: float
    z: float
    s: float
    var_s: float
    var_s_corrected: float
    tau: float
    sen_slope_per_day: float
    sen_slope_ci_low_per_day: float
    sen_slope_ci_high_per_day: float
    percent_change_per_year: float
    percent_change_per_year_ci: tuple[float, float]
    n: int
    log_scale: bool
    weekday_adjusted: bool
    method: str

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = json_safe(asdict(self))
        return out


def _s_and_var(x: np.ndarray) -> tuple[float, float]:
    n = len(x)
    diff = np.sign(x[None, :] - x[:, None])
    s = float(np.sum(np.triu(diff, 1)))
    _, counts = np.unique(x, return_counts=True)
    ties = np.sum(counts * (counts - 1) * (2 * counts + 5))
    var = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    return s, float(var)


def sen_slope(x: np.ndarray, t: np.ndarray | None = None, *, alpha: float = 0.05,
              var_s: float | None = None) -> tuple[float, float, float]:
    """Sen's slope (median pairwise slope) with Gilbert's CI [Sen1968]_ [Gilbert1987]_.

    Parameters
    ----------
    x : array
        Values.
    t : array, optional
        Observation times (default 0, 1, …); gaps allowed. [time unit of the slope]
    alpha : float
    var_s : float, optional
        Variance of the MK statistic for the CI (default: no-ties iid variance).

    Returns
    -------
    (slope, ci_low, ci_high)

    Examples
    --------
    >>> sen_slope(np.array([1.0, 3.0, 5.0, 7.0]))[0]
    2.0
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    t = np.arange(n, dtype=float) if t is None else np.asarray(t, dtype=float)
    i, j = np.triu_indices(n, 1)
    slopes = np.sort((x[j] - x[i]) / (t[j] - t[i]))
    slope = float(np.median(slopes))
    if var_s is None:
        var_s = n * (n - 1) * (2 * n + 5) / 18.0
    c = stats.norm.ppf(1 - alpha / 2) * np.sqrt(var_s)
    n_pairs = len(slopes)
    lo_i = int(np.round((n_pairs - c) / 2.0)) - 1
    hi_i = int(np.round((n_pairs + c) / 2.0))
    lo = float(slopes[max(lo_i, 0)])
    hi = float(slopes[min(hi_i, n_pairs - 1)])
    return slope, lo, hi


def _acf(x: np.ndarray, nlags: int) -> np.ndarray:
    x = x - x.mean()
    denom = np.sum(x * x)
    n = len(x)
    return np.array([np.sum(x[: n - k] * x[k:]) / denom for k in range(nlags + 1)])


def mann_kendall(x: np.ndarray, t: np.ndarray | None = None, *, correction: str = "yue_wang",
                 alpha: float = 0.05) -> dict[str, Any]:
    """Mann–Kendall trend test [Mann1945]_ [Kendall1975]_ with optional autocorrelation correction.

    Parameters
    ----------
    x : array
        Values in time order.
    t : array, optional
        Times, for Sen's slope and detrending (default 0, 1, …).
    correction : {"yue_wang", "hamed_rao", "none"}
        Default ``yue_wang``: in our simulation (AR(1), phi 0.5–0.6, n = 120,
        tests/test_stats_simulation.py) it kept the 5 % false-positive rate near 0.07, while
        Hamed–Rao (whose significance screen drops many lags in short series) gave 0.13–0.19 and
        the uncorrected test 0.23–0.31. ``hamed_rao``: variance × ``1 + 2/(n(n−1)(n−2)) Σ
        (n−k)(n−k−1)(n−k−2) ρ_k`` over rank
        autocorrelations ρ_k of the Sen-detrended series that are significant at ``alpha``
        [HamedRao1998]_. ``yue_wang``: variance × ``1 + 2 Σ (1 − k/n) ρ₁^k`` with the lag-1 autocorrelation ρ₁
        of the detrended series (AR(1) effective sample size) [YueWang2004]_. Both never shrink the
        variance below the iid value here
        (factor floored at 1, conservative).
    alpha : float

    Returns
    -------
    dict with ``s, var_s, var_s_corrected, z, p_value, tau, slope, slope_ci_low, slope_ci_high``.
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    require(n, 4, "Mann–Kendall series")
    t = np.arange(n, dtype=float) if t is None else np.asarray(t, dtype=float)
    s, var = _s_and_var(x)
    slope0 = sen_slope(x, t)[0]
    factor = 1.0
    if correction in ("hamed_rao", "yue_wang") and n > 3:
        detr = x - slope0 * t
        if correction == "hamed_rao":
            rho = _acf(stats.rankdata(detr), n - 1)
            bound = stats.norm.ppf(1 - alpha / 2) / np.sqrt(n)
            k = np.arange(1, n)
            sig = np.abs(rho[1:]) > bound
            term = (n - k) * (n - k - 1) * (n - k - 2) * rho[1:]
            factor = 1 + 2.0 / (n * (n - 1) * (n - 2)) * np.sum(term[sig])
        else:
            rho1 = float(_acf(detr, 1)[1])
            k = np.arange(1, n)
            factor = 1 + 2 * np.sum((1 - k / n) * rho1**k)
        factor = max(float(factor), 1.0)
    elif correction != "none":
        raise ValueError(f"correction={correction!r}; choose hamed_rao, yue_wang or none")
    var_c = var * factor
    z = 0.0 if s == 0 else (s - np.sign(s)) / np.sqrt(var_c)
    p = float(2 * stats.norm.sf(abs(z)))
    slope, lo, hi = sen_slope(x, t, alpha=alpha, var_s=var_c)
    return {"s": s, "var_s": var, "var_s_corrected": var_c, "z": float(z), "p_value": p,
            "tau": s / (n * (n - 1) / 2), "slope": slope, "slope_ci_low": lo, "slope_ci_high": hi}


def _stratified_mann_kendall(y: np.ndarray, t: np.ndarray, seg: np.ndarray, *, correction: str,
                             alpha: float) -> dict[str, Any]:
    """Mann–Kendall over segments: ``S = Σ S_g``, ``Var = Σ Var*_g`` (each corrected within its
    segment), ``z = (S − sgn S)/√Var`` [HirschSlackSmith1982]_; Sen's slope and Gilbert's CI from
    the within-segment pairwise slopes [Sen1968]_ [Gilbert1987]_. Segments with fewer than 4
    values are left out.
    """
    s_tot = var_tot = var_iid = 0.0
    slopes = []
    n_pairs = 0
    for g in np.unique(seg):
        m = seg == g
        if m.sum() < 4:
            continue
        rg = mann_kendall(y[m], t[m], correction=correction, alpha=alpha)
        s_tot += rg["s"]
        var_tot += rg["var_s_corrected"]
        var_iid += rg["var_s"]
        i, j = np.triu_indices(int(m.sum()), 1)
        yy, tt = y[m], t[m]
        slopes.append((yy[j] - yy[i]) / (tt[j] - tt[i]))
        n_pairs += len(i)
    require(n_pairs, 1, "Mann–Kendall segments")
    z = (s_tot - np.sign(s_tot)) / np.sqrt(var_tot) if var_tot > 0 else 0.0
    sl = np.sort(np.concatenate(slopes))
    c = stats.norm.ppf(1 - alpha / 2) * np.sqrt(var_tot)
    lo_i = int(np.round((len(sl) - c) / 2.0)) - 1
    hi_i = int(np.round((len(sl) + c) / 2.0))
    return {"s": s_tot, "var_s": var_iid, "var_s_corrected": var_tot, "z": float(z),
            "p_value": float(2 * stats.norm.sf(abs(z))), "tau": s_tot / n_pairs,
            "slope": float(np.median(sl)), "slope_ci_low": float(sl[max(lo_i, 0)]),
            "slope_ci_high": float(sl[min(hi_i, len(sl) - 1)])}


def trend_test(series: pd.Series, *, censored: pd.Series | None = None, log: bool = True,
               adjust_weekday: bool = True, correction: str = "yue_wang",
               alpha: float = 0.05, method_changes: Iterable[Any] | None = None) -> TrendResult:
    """Monotonic trend of a daily (or weekly) load series.

    Parameters
    ----------
    series : pandas.Series
        ``load_mg_per_day_per_1000`` with a DatetimeIndex (NaN = missing) [mg day⁻¹ (1000 inh.)⁻¹].
    censored : pandas.Series of bool, optional
        Censored values enter at their substituted value (ranks: all tie at the bottom when a
        single LOQ applies).
    log : bool
        Test log(load); then ``percent_change_per_year = exp(365.25·slope) − 1`` [%/year].
    adjust_weekday : bool
        Subtract the median of each weekday before testing (removes the weekly cycle of daily
        data; leave False for weekly or monthly series).
    correction : {"yue_wang", "hamed_rao", "none"}
        See :func:`mann_kendall`.
    alpha : float
    method_changes : iterable of date-like, optional
        First days of a new laboratory method. The series is split there and the test is the
        stratified Mann–Kendall test: ``S`` and its (corrected) variance summed over the
        segments, pairs compared only within a segment, as the seasonal Kendall test does with
        seasons [HirschSlackSmith1982]_; Sen's slope is the median of the within-segment
        pairwise slopes. A level step at a marked change is then not a trend.

    Returns
    -------
    TrendResult
    """
    obs = prepare_daily(series, censored, composite_days=False)
    y = obs["log_load"].to_numpy() if log else obs["load"].to_numpy()
    if adjust_weekday:
        dow = obs.index.day_of_week.to_numpy()
        med = pd.Series(y).groupby(dow).transform("median").to_numpy()
        y = y - med
    t = obs["t"].to_numpy().astype(float)
    cuts = method_change_days(method_changes)
    t = t - t[0] if len(t) else t
    t0 = obs["t"].to_numpy()[0] if len(t) else 0
    seg = np.searchsorted(np.asarray(cuts, dtype=float) - t0, t, side="right")
    if len(set(seg.tolist())) > 1:
        r = _stratified_mann_kendall(y, t, seg, correction=correction, alpha=alpha)
    else:
        r = mann_kendall(y, t, correction=correction, alpha=alpha)
    trend = "no trend"
    if r["p_value"] < alpha:
        trend = "increasing" if r["z"] > 0 else "decreasing"
    if log:
        pct = float(np.expm1(r["slope"] * DAYS_PER_YEAR) * 100)
        pct_ci = (float(np.expm1(r["slope_ci_low"] * DAYS_PER_YEAR) * 100),
                  float(np.expm1(r["slope_ci_high"] * DAYS_PER_YEAR) * 100))
    else:
        level = float(np.median(obs["load"]))
        pct = r["slope"] * DAYS_PER_YEAR / level * 100
        pct_ci = (r["slope_ci_low"] * DAYS_PER_YEAR / level * 100,
                  r["slope_ci_high"] * DAYS_PER_YEAR / level * 100)
    name = {"hamed_rao": "Hamed–Rao", "yue_wang": "Yue–Wang", "none": "no"}[correction]
    method = (f"Mann–Kendall with {name} autocorrelation correction; Sen slope with Gilbert CI; "
              f"{'log load' if log else 'load'}{', weekday medians removed' if adjust_weekday else ''}")
    if len(set(seg.tolist())) > 1:
        method += ("; stratified at the marked method changes (pairs within a segment only): "
                   + ", ".join(str(np.datetime64(int(d), "D")) for d in cuts))
    return TrendResult(trend=trend, p_value=r["p_value"], z=r["z"], s=r["s"], var_s=r["var_s"],
                       var_s_corrected=r["var_s_corrected"], tau=r["tau"],
                       sen_slope_per_day=r["slope"], sen_slope_ci_low_per_day=r["slope_ci_low"],
                       sen_slope_ci_high_per_day=r["slope_ci_high"],
                       percent_change_per_year=pct, percent_change_per_year_ci=pct_ci,
                       n=len(y), log_scale=log, weekday_adjusted=adjust_weekday, method=method)


@dataclass(frozen=True)
class GlsTrendResult:
    """Result of :func:`trend_gls`; ``percent_change_per_year`` in % per year."""

    trend: str
    p_value: float
    percent_change_per_year: float
    percent_change_per_year_ci: tuple[float, float]
    slope_per_year: float
    df: float
    n: int
    phi: float
    noise_share: float
    method_changes: tuple[str, ...]
    method: str

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = json_safe(asdict(self))
        return out


def trend_gls(series: pd.Series, *, censored: pd.Series | None = None,
              method_changes: Iterable[Any] | None = None, alpha: float = 0.05) -> GlsTrendResult:
    """Log-linear trend with the operation test's error model (AR(1) use variation plus
    measurement noise; Kalman-filter GLS, REML, Kackar–Harville, Satterthwaite df;
    :mod:`wastewater.stats._statespace`) [Harvey1989]_ [KackarHarville1984]_.

    ``log L_t = b0 + Σ_d b_d·weekday_d + Σ_m c_m·[t ≥ method change m] + β·t + u_t + ε_t``;
    ``percent_change_per_year = 100·(exp(β·365.25) − 1)``. A marked method change is a level
    shift, so it is not counted as a trend. Censored values as in
    :func:`wastewater.stats.effects.operation_effect` (refitted at their conditional mean below
    the LOQ given the other days; the noise parameters estimated without and then with them).
    """
    so = SeriesObs.from_series(series, censored, composite_days=False)
    t = so.t
    require(len(t), 10, "trend series")
    cols = [np.ones(len(t))] + [so.shares[:, j] for j in range(1, 7) if so.shares[:, j].any()]
    steps = []
    for d in method_change_days(method_changes):
        col = t >= d
        if 0 < col.sum() < len(t):
            cols.append(col.astype(float))
            steps.append(str(np.datetime64(int(d), "D")))
    years = (t - t.mean()) / DAYS_PER_YEAR
    cols.append(years)
    X = np.column_stack(cols)
    cens = so.cens
    est = ~cens if cens.any() and (~cens).sum() > X.shape[1] + 3 else None
    upper = np.where(cens, so.y + np.log(2.0), np.nan) if cens.any() else None
    tested = last_term_test(Problem(so.y, X, t, est, None, upper=upper), alpha)
    b, se, df, q, p, fit = tested.estimate, tested.se, tested.df, tested.q, tested.p_value, tested.fit
    trend = "no trend" if not p < alpha else ("increasing" if b > 0 else "decreasing")
    with np.errstate(over="ignore"):
        pct = (float(np.expm1(b) * 100),
               (float(np.expm1(b - q * se) * 100), float(np.expm1(b + q * se) * 100)))
    method = ("GLS of log load on weekday" + (" + a level shift per marked method change" if steps else "")
              + " + a linear trend, AR(1) + measurement-noise errors (Kalman filter, REML, "
              "Kackar–Harville, Satterthwaite df)")
    return GlsTrendResult(trend=trend, p_value=p, percent_change_per_year=pct[0],
                          percent_change_per_year_ci=pct[1], slope_per_year=b, df=df, n=len(t),
                          phi=float(fit.phi[0]), noise_share=float(fit.lam[0]),
                          method_changes=tuple(steps), method=method)
