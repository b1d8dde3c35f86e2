"""Seeded generator of realistic daily load series for testing change tests (no real data).

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_SIMULATION", "simulate_series"]

#: Defaults of :func:`simulate_series` with their source (see module references).
DEFAULT_SIMULATION = {
    "baseline_mg_per_day_per_1000": 100.0,  # arbitrary scale; results are relative
    "phi": 0.5,                             # lag-1 autocorrelation of log load [assumption]
    "sd_log": 0.2,                          # marginal sd of log load [Castiglioni2013]
    "weekend_factor": 1.3,                  # Fri/Sat/Sun sample days vs Mon–Thu [EUDA2025]
    "trend_per_year": 0.05,                 # slow drift of log load per year [assumption]
    "loq_fraction_of_baseline": 0.7,        # LOQ on the load scale: ~5 % of weekdays below
    "missing_fraction": 0.1,                # share of days without a sample [assumption]
}


def simulate_series(n_days: int = 119, start: str | pd.Timestamp = "2024-01-01", *,
                    seed: int | np.random.Generator = 0,
                    baseline_mg_per_day_per_1000: float = DEFAULT_SIMULATION["baseline_mg_per_day_per_1000"],
                    phi: float = DEFAULT_SIMULATION["phi"],
                    sd_log: float = DEFAULT_SIMULATION["sd_log"],
                    weekend_factor: float = DEFAULT_SIMULATION["weekend_factor"],
                    weekend_days: tuple[int, ...] = (4, 5, 6),
                    trend_per_year: float = DEFAULT_SIMULATION["trend_per_year"],
                    loq_fraction_of_baseline: float | None = DEFAULT_SIMULATION["loq_fraction_of_baseline"],
                    missing_fraction: float = DEFAULT_SIMULATION["missing_fraction"],
                    step_date: str | pd.Timestamp | None = None,
                    step_relative_change: float = 0.0,
                    composite_72h_every: int | None = None) -> pd.DataFrame:
    """Simulate a daily ``load_mg_per_day_per_1000`` series.

    Model on the natural-log scale: ``log L_t = log(baseline) + log(weekend_factor)·[weekday_t in
    weekend_days] + trend_per_year·t/365.25 + log(1 + step)·[t ≥ step_date] + e_t`` with stationary
    AR(1) noise ``e_t = phi·e_{t-1} + u_t``, ``u_t ~ N(0, sd_log²(1 − phi²))`` so that
    ``sd(e_t) = sd_log``. Loads below the LOQ are censored and replaced by LOQ/2 [Helsel2012]_.

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
        Lag-1 autocorrelation of the log noise [unitless, −1 < phi < 1].
    sd_log : float
        Marginal standard deviation of the log noise [unitless] [Castiglioni2013]_.
    weekend_factor : float
        Multiplier on ``weekend_days`` sample dates [unitless] [EUDA2025]_.
    weekend_days : tuple of int
        Weekdays (Mon = 0) that get ``weekend_factor``; default Fri, Sat, Sun sample dates.
    trend_per_year : float
        Linear trend of the log load [year⁻¹].
    loq_fraction_of_baseline : float or None
        LOQ on the load scale as a fraction of the baseline; ``None`` = no censoring.
    missing_fraction : float
        Probability that a day has no sample (NaN) [fraction, 0–1].
    step_date : date-like, optional
        From this date on the load is multiplied by ``1 + step_relative_change``.
    step_relative_change : float
        Relative level change, e.g. −0.25 [fraction].
    composite_72h_every : int, optional
        If given, every ``composite_72h_every``-th day starts a 72 h composite: the same value is
        reported on that day and the next two (weekend composites in small plants).

    Returns
    -------
    pandas.DataFrame
        Indexed by daily ``date``; columns ``load_mg_per_day_per_1000`` (NaN = missing),
        ``censored`` (bool), ``expected_log_load`` (noise-free log mean) and
        ``composite_days`` (1 or 3).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if not -1 < phi < 1:
        raise ValueError(f"phi={phi}: must lie strictly between -1 and 1")
    dates = pd.date_range(pd.Timestamp(start), periods=n_days, freq="D")
    t_years = np.arange(n_days) / 365.25
    weekend = np.isin(dates.day_of_week, weekend_days)
    mean = (np.log(baseline_mg_per_day_per_1000) + np.log(weekend_factor) * weekend
            + trend_per_year * t_years)
    if step_date is not None:
        mean = mean + np.log1p(step_relative_change) * (dates >= pd.Timestamp(step_date))
    innov = rng.normal(0.0, sd_log * np.sqrt(1 - phi**2), n_days)
    noise = np.empty(n_days)
    noise[0] = rng.normal(0.0, sd_log)
    for i in range(1, n_days):
        noise[i] = phi * noise[i - 1] + innov[i]
    log_load = mean + noise
    composite = np.ones(n_days, dtype=int)
    if composite_72h_every:
        for i in range(0, n_days - 2, composite_72h_every):
            block = slice(i, i + 3)
            log_load[block] = np.log(np.mean(np.exp(log_load[block])))
            composite[block] = 3
    load = np.exp(log_load)
    censored = np.zeros(n_days, dtype=bool)
    if loq_fraction_of_baseline is not None:
        loq = loq_fraction_of_baseline * baseline_mg_per_day_per_1000
        censored = load < loq
        load = np.where(censored, loq / 2.0, load)
    missing = rng.random(n_days) < missing_fraction
    if composite_72h_every:
        missing &= composite == 1
    load = np.where(missing, np.nan, load)
    censored = censored & ~missing
    return pd.DataFrame({"load_mg_per_day_per_1000": load, "censored": censored,
                         "expected_log_load": mean, "composite_days": composite},
                        index=pd.DatetimeIndex(dates, name="date"))
