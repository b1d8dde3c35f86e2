"""Seeded generator of realistic daily load series for testing change tests (no real data).

What a real plant's series has, and this generator reproduces: day-to-day variation in use that
is autocorrelated (stationary AR(1) on the log scale, lag-1 ``phi``, marginal sd ``sd_log``)
**plus** independent analytical/sampling error of each sample (lognormal, CV ``measurement_cv``;
labs report RSDs of 6–26 % [Castiglioni2013]_), a weekday cycle (Fri–Sun ×1.3 for
benzoylecgonine [EUDA2025]_), missing days, values below the LOQ replaced by LOQ/2 (the
service's default ``loq_method``, [HornungReed1990]_ for the family of substitutions), 72 h
composites reported on each covered day, and laboratory method changes (a multiplicative step in
what is measured, not in use).

Defaults (:data:`DEFAULT_SIMULATION`) are the "realistic" cell of the calibration study in
benchmarks/bench_stats.py: phi 0.5, sd 0.2, CV 10 %, 5 % missing days, LOQ set so that ~10 % of
values are censored.

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import optimize, stats

from wastewater.stats._series import DateLike

__all__ = ["DEFAULT_SIMULATION", "DEFAULT_WEEKEND_DAYS", "loq_for_censored_fraction", "simulate_series"]

#: Defaults of :func:`simulate_series` with their source (see module docstring).
DEFAULT_SIMULATION = {
    "baseline_mg_per_day_per_1000": 100.0,  # arbitrary scale; results are relative
    "phi": 0.5,                             # lag-1 autocorrelation of log use [assumption]
    "sd_log": 0.2,                          # marginal sd of log use [assumption, cf. Castiglioni2013]
    "measurement_cv": 0.10,                 # analytical + sampling CV per sample [Castiglioni2013]
    "weekend_factor": 1.3,                  # Fri/Sat/Sun sample days vs Mon–Thu [EUDA2025]
    "trend_per_year": 0.0,                  # slow drift of log load per year [assumption]
    "censored_fraction": 0.10,              # share of values below LOQ [assumption]
    "missing_fraction": 0.05,               # share of days without a sample [assumption]
}

#: Weekdays (Mon = 0) that get ``weekend_factor``: Fri, Sat and Sun sample dates [EUDA2025]_.
DEFAULT_WEEKEND_DAYS = (4, 5, 6)


def loq_for_censored_fraction(fraction: float, log_means: np.ndarray, sd_total: float) -> float:
    """LOQ [load units] at which a share ``fraction`` of lognormal values falls below it.

    ``log_means`` are the noise-free log loads of the days (e.g. one week of the weekday cycle),
    ``sd_total`` the marginal sd of the log noise; solves ``mean_d Φ((log LOQ − μ_d)/sd) =
    fraction``.

    Examples
    --------
    >>> round(loq_for_censored_fraction(0.5, np.array([0.0]), 1.0), 6)
    1.0
    """
    return _loq_cached(float(fraction), tuple(np.asarray(log_means, dtype=float).tolist()),
                       float(sd_total))


@lru_cache(maxsize=1024)
def _loq_cached(fraction: float, log_means: tuple[float, ...], sd_total: float) -> float:
    if not 0 < fraction < 1:
        raise ValueError(f"fraction={fraction}: must lie strictly between 0 and 1")
    mu = np.asarray(log_means, dtype=float)

    def gap(x: float) -> float:
        return float(np.mean(stats.norm.cdf((x - mu) / sd_total)) - fraction)

    lo, hi = mu.min() - 10 * sd_total, mu.max() + 10 * sd_total
    return float(np.exp(optimize.brentq(gap, lo, hi, xtol=1e-10)))


def simulate_series(n_days: int = 119, start: str | pd.Timestamp = "2024-01-01", *,
                    seed: int | np.random.Generator = 0,
                    baseline_mg_per_day_per_1000: float = DEFAULT_SIMULATION["baseline_mg_per_day_per_1000"],
                    phi: float = DEFAULT_SIMULATION["phi"],
                    sd_log: float = DEFAULT_SIMULATION["sd_log"],
                    measurement_cv: float = DEFAULT_SIMULATION["measurement_cv"],
                    weekend_factor: float = DEFAULT_SIMULATION["weekend_factor"],
                    weekend_days: tuple[int, ...] = DEFAULT_WEEKEND_DAYS,
                    weekday_factors: tuple[float, ...] | None = None,
                    trend_per_year: float = DEFAULT_SIMULATION["trend_per_year"],
                    censored_fraction: float | None = DEFAULT_SIMULATION["censored_fraction"],
                    loq_fraction_of_baseline: float | None = None,
                    missing_fraction: float = DEFAULT_SIMULATION["missing_fraction"],
                    step_date: str | pd.Timestamp | None = None,
                    step_relative_change: float = 0.0,
                    step_days: Iterable[DateLike] | None = None,
                    method_change_date: str | pd.Timestamp | None = None,
                    method_change_factor: float = 1.0,
                    composite_72h_every: int | None = None) -> pd.DataFrame:
    """Simulate a daily ``load_mg_per_day_per_1000`` series as a laboratory would report it.

    Model on the natural-log scale: ``log L_t = log(baseline) + log(w_{dow(t)}) +
    trend_per_year·t/365.25 + log(1 + step)·[t in step] + log(method_change_factor)·[t ≥
    method_change_date] + u_t + ε_t`` with stationary AR(1) use variation ``u_t = phi·u_{t−1} +
    a_t`` (``sd(u_t) = sd_log``) and independent measurement error ``ε_t ~ N(0, log(1 + CV²))``
    (lognormal with coefficient of variation ``measurement_cv``). A 72 h composite measures the
    mean load of its three days once. Values below the LOQ are censored and reported as LOQ/2
    [Helsel2012]_.

    Parameters
    ----------
    n_days : int
        Length of the series [days].
    start : date-like
        First sample date.
    seed : int or numpy.random.Generator
    baseline_mg_per_day_per_1000 : float
        Weekday (Mon–Thu) median load at ``start`` [mg day⁻¹ (1000 inh.)⁻¹].
    phi : float
        Lag-1 autocorrelation of the log use variation [unitless, −1 < phi < 1].
    sd_log : float
        Marginal standard deviation of the log use variation [unitless].
    measurement_cv : float
        Coefficient of variation of the analytical + sampling error per sample [fraction].
    weekend_factor : float
        Multiplier on ``weekend_days`` sample dates [unitless] (ignored with ``weekday_factors``).
    weekend_days : tuple of int
        Weekdays (Mon = 0) that get ``weekend_factor``; default Fri, Sat, Sun sample dates.
    weekday_factors : tuple of 7 float, optional
        Full weekday profile Mon…Sun [unitless].
    trend_per_year : float
        Linear trend of the log load [year⁻¹].
    censored_fraction : float or None
        Target share of censored values: the LOQ is set by :func:`loq_for_censored_fraction`
        from the weekday profile and the total log sd (before any step). ``None`` and no
        ``loq_fraction_of_baseline`` = no censoring.
    loq_fraction_of_baseline : float, optional
        Fixed LOQ as a fraction of the baseline (overrides ``censored_fraction``).
    missing_fraction : float
        Probability that a day has no sample (NaN) [fraction, 0–1].
    step_date : date-like, optional
        From this date on (or on the dates ``step_days``) use is multiplied by
        ``1 + step_relative_change``.
    step_relative_change : float
        Relative level change, e.g. −0.25 [fraction].
    step_days : iterable of date-like, optional
        Days that get the step instead of ``[step_date, end]`` (e.g. one named weekend).
    method_change_date : date-like, optional
        From this date the laboratory reports ``method_change_factor`` × the old method's value.
    method_change_factor : float
        Multiplicative step of the method change [unitless].
    composite_72h_every : int, optional
        If given, every ``composite_72h_every``-th day starts a 72 h composite: one measurement
        of the mean load of that day and the next two, reported on all three days.

    Returns
    -------
    pandas.DataFrame
        Indexed by daily ``date``; columns ``load_mg_per_day_per_1000`` (NaN = missing),
        ``censored`` (bool), ``expected_log_load`` (noise-free log mean of use, without the
        method step), ``composite_days`` (1 or 3), ``method`` (``"A"`` before the method change,
        ``"B"`` after) and ``loq_mg_per_day_per_1000``.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if not -1 < phi < 1:
        raise ValueError(f"phi={phi}: must lie strictly between -1 and 1")
    dates = pd.date_range(pd.Timestamp(start), periods=n_days, freq="D")
    t_years = np.arange(n_days) / 365.25
    if weekday_factors is None:
        w = np.where(np.isin(np.arange(7), weekend_days), weekend_factor, 1.0)
    else:
        w = np.asarray(weekday_factors, dtype=float)
        if w.shape != (7,):
            raise ValueError("weekday_factors: give 7 multipliers, Monday first")
    log_w = np.log(w)
    base = np.log(baseline_mg_per_day_per_1000)
    mean = base + log_w[dates.day_of_week] + trend_per_year * t_years
    if step_days is not None:
        on = dates.isin(pd.DatetimeIndex(pd.to_datetime(list(step_days))).normalize())
        mean = mean + np.log1p(step_relative_change) * on
    elif step_date is not None:
        mean = mean + np.log1p(step_relative_change) * (dates >= pd.Timestamp(step_date))
    innov = rng.normal(0.0, sd_log * np.sqrt(1 - phi**2), n_days)
    noise = np.empty(n_days)
    noise[0] = rng.normal(0.0, sd_log)
    for i in range(1, n_days):
        noise[i] = phi * noise[i - 1] + innov[i]
    true_log = mean + noise
    composite = np.ones(n_days, dtype=int)
    measured_true = true_log.copy()
    if composite_72h_every:
        for i in range(0, n_days - 2, composite_72h_every):
            block = slice(i, i + 3)
            measured_true[block] = np.log(np.mean(np.exp(true_log[block])))
            composite[block] = 3
    missing = rng.random(n_days) < missing_fraction
    sd_meas = float(np.sqrt(np.log1p(measurement_cv**2)))
    err = rng.normal(0.0, sd_meas, n_days) if sd_meas > 0 else np.zeros(n_days)
    if composite_72h_every:  # one analysis per composite
        starts = np.flatnonzero(composite == 3)[::3]
        for i in starts:
            err[i + 1:i + 3] = err[i]
    method = np.full(n_days, "A", dtype=object)
    method_step = np.zeros(n_days)
    if method_change_date is not None:
        after = dates >= pd.Timestamp(method_change_date)
        method[after] = "B"
        method_step = np.log(method_change_factor) * after
    load = np.exp(measured_true + err + method_step)
    if loq_fraction_of_baseline is not None:
        loq = loq_fraction_of_baseline * baseline_mg_per_day_per_1000
    elif censored_fraction is not None:
        loq = loq_for_censored_fraction(censored_fraction, base + log_w,
                                        float(np.sqrt(sd_log**2 + sd_meas**2)))
    else:
        loq = None
    censored = np.zeros(n_days, dtype=bool)
    if loq is not None:
        censored = load < loq
        load = np.where(censored, loq / 2.0, load)
    if composite_72h_every:
        missing &= composite == 1
    load = np.where(missing, np.nan, load)
    censored = censored & ~missing
    return pd.DataFrame({"load_mg_per_day_per_1000": load, "censored": censored,
                         "expected_log_load": mean, "composite_days": composite,
                         "method": method,
                         "loq_mg_per_day_per_1000": np.nan if loq is None else loq},
                        index=pd.DatetimeIndex(dates, name="date"))
