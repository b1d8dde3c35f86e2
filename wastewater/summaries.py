"""Daily, weekly (ISO week) and monthly summaries, and the EUDA weekday/weekend conventions.

``euda_means`` and ``change_class`` reproduce the figures of the EUDA/SCORE data file
[EUDA2025]_ (domain reference §3.2, §8.3); the H5 EUDA interop module calls them, so their
signatures are stable.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from wastewater.censoring import SUMMARY_METHODS, censored_summary

if TYPE_CHECKING:
    import xarray as xr

EUDA_DAY_CONVENTIONS: dict[object, dict[str, tuple[int, ...]]] = {
    "default": {"weekday": (1, 2, 3), "weekend": (4, 5, 6, 0)},
    2021: {"weekday": (1, 2, 3, 4), "weekend": (5, 6, 0)},
}
"""Day-of-week sets (Python ``weekday()``: Monday = 0) of EUDA's weekday and weekend means.

Default: weekday = Tue–Thu, weekend = Fri–Mon, the mean of the days present, a 0 (below LOQ)
counting as 0 (EUDA source-data notes [EUDA2025]_). The 2021 rows of the 2025 file follow
weekday = Tue–Fri, weekend = Sat–Mon (all 297 with seven days; 16 fit the default), domain
reference §3.2. With these rules 4 068 of the 4 131 rows with all seven days give EUDA's three
means within 0.01; the 63 others are listed with their reason in
tests/data/euda_means_exceptions.csv (references.md, EUDA2025)."""

CHANGE_THRESHOLD_PERCENT = 10.0
"""EUDA change classes: |Δ| < 10 % stable (observed stable range −8.8 … +9.95 %) [EUDA2025]_."""


def _daily_series(daily: pd.Series) -> pd.Series:
    if not isinstance(daily, pd.Series) or not isinstance(daily.index, pd.DatetimeIndex):
        raise TypeError("daily must be a pandas Series with a DatetimeIndex (one value per day)")
    return daily.astype(float)


def euda_means(daily: pd.Series, *, year: int | None = None, censored: pd.Series | None = None) -> dict[str, Any]:
    """EUDA daily, weekday and weekend means of a sampling week.

    Parameters
    ----------
    daily : pd.Series
        Population-normalised loads indexed by sample date (NaN = missing day).
        [mg day⁻¹ (1000 inh)⁻¹]
    year : int, optional
        Campaign year selecting the day convention (:data:`EUDA_DAY_CONVENTIONS`); default
        the year of the first date.
    censored : pd.Series of bool, optional
        Censoring flags aligned with ``daily``. When omitted, zeros count as censored (EUDA
        writes values below LOQ as 0).

    Returns
    -------
    dict
        ``daily_mean``, ``weekday_mean``, ``weekend_mean`` (means over available days, NaN when
        none), ``n_days`` (non-missing days), ``n_censored``.

    Notes
    -----
    Missing days are averaged over the available days (EUDA notes, domain reference §3.2).
    """
    s = _daily_series(daily)
    if year is None:
        year = int(s.index[0].year) if len(s) else None
    conv = EUDA_DAY_CONVENTIONS.get(year, EUDA_DAY_CONVENTIONS["default"])
    valid = s.dropna()
    dow = valid.index.day_of_week

    def mean_of(mask: np.ndarray) -> float:
        sub = valid[mask]
        return float(sub.mean()) if len(sub) else math.nan

    if censored is None:
        n_cens = int((valid == 0).sum())
    else:
        n_cens = int(censored.reindex(valid.index).fillna(False).astype(bool).sum())
    return {
        "daily_mean": mean_of(np.ones(len(valid), bool)),
        "weekday_mean": mean_of(np.isin(dow, conv["weekday"])),
        "weekend_mean": mean_of(np.isin(dow, conv["weekend"])),
        "n_days": len(valid),
        "n_censored": n_cens,
    }


def change_percent(current: float | None, previous: float | None) -> float:
    """Relative change ``(current − previous)/previous × 100`` [%]; NaN when undefined."""
    if current is None or previous is None:
        return math.nan
    cur, prev = float(current), float(previous)
    if math.isnan(cur) or math.isnan(prev) or prev == 0:
        return math.nan
    return (cur - prev) / prev * 100.0


def change_class(current: float | None, previous: float | None) -> str:
    """EUDA change class of a year-on-year change.

    Returns
    -------
    str
        ``"increase"`` (≥ +10 %), ``"decrease"`` (≤ −10 %), ``"stable"`` (in between) or
        ``"no previous data"`` (previous missing). A previous value of 0 (below LOQ) with a
        positive current value is an ``"increase"``; 0 → 0 is ``"stable"``. [EUDA2025]_

    Raises
    ------
    ValueError
        If ``current`` is missing.
    """
    if previous is None or (isinstance(previous, float) and math.isnan(previous)):
        return "no previous data"
    if current is None or (isinstance(current, float) and math.isnan(current)):
        raise ValueError("current value is missing; change_class needs a current value")
    prev, cur = float(previous), float(current)
    if prev == 0:
        return "increase" if cur > 0 else "stable"
    pct = change_percent(cur, prev)
    if pct >= CHANGE_THRESHOLD_PERCENT:
        return "increase"
    if pct <= -CHANGE_THRESHOLD_PERCENT:
        return "decrease"
    return "stable"


def _period_key(index: pd.DatetimeIndex, freq: str) -> pd.Index:
    if freq == "daily":
        return pd.Index(index.strftime("%Y-%m-%d"))
    if freq == "weekly":
        iso = index.isocalendar()
        return pd.Index([f"{y:04d}-W{w:02d}" for y, w in zip(iso["year"], iso["week"])])
    if freq == "monthly":
        return pd.Index(index.strftime("%Y-%m"))
    raise ValueError(f"unknown freq {freq!r}; valid: daily, weekly, monthly")


def period_summary(daily: pd.Series, censored: pd.Series | None = None, *, freq: str = "weekly",
                   method: str = "mean") -> pd.DataFrame:
    """Summarise a daily series per day, ISO week or calendar month.

    Parameters
    ----------
    daily : pd.Series
        Daily values (DatetimeIndex, NaN = missing day), e.g. ``load_mg_per_day_per_1000``.
    censored : pd.Series of bool, optional
        Censoring flags. For ``km``/``ros``/``mle`` the values of censored days must be the
        censoring limits (build the dataset with ``loq_method="loq"``).
    freq : {"daily", "weekly", "monthly"}
        Weekly periods are ISO weeks labelled ``YYYY-Www``; months ``YYYY-MM``.
    method : str
        ``"mean"`` (arithmetic mean of the values as given, i.e. after substitution) or one of
        :data:`wastewater.censoring.SUMMARY_METHODS`.

    Returns
    -------
    pd.DataFrame
        Index ``period``; columns ``mean``, ``median``, ``n``, ``n_censored``, ``method``,
        ``start``, ``end``.
    """
    s = _daily_series(daily)
    cens = (pd.Series(False, index=s.index) if censored is None
            else censored.reindex(s.index).fillna(False).astype(bool))
    valid = s.notna()
    s, cens = s[valid], cens[valid]
    if method != "mean" and method not in SUMMARY_METHODS:
        raise ValueError(f"unknown method {method!r}; valid: mean, {', '.join(SUMMARY_METHODS)}")
    keys = _period_key(s.index, freq)
    rows = []
    for key in pd.unique(keys):
        mask = np.asarray(keys == key)
        vals, cflags = s.values[mask], cens.values[mask]
        if method == "mean":
            mean, median = float(np.mean(vals)), float(np.median(vals))
        else:
            summ = censored_summary(vals, cflags, method)
            mean, median = summ.mean, summ.median
        rows.append({"period": key, "mean": mean, "median": median, "n": int(mask.sum()),
                     "n_censored": int(cflags.sum()), "method": method,
                     "start": s.index[mask].min(), "end": s.index[mask].max()})
    cols = ["period", "mean", "median", "n", "n_censored", "method", "start", "end"]
    return pd.DataFrame(rows, columns=cols).set_index("period")


def summarise_dataset(ds: xr.Dataset, *, variable: str = "load_mg_per_day_per_1000", freq: str = "weekly",
                      method: str = "mean") -> pd.DataFrame:
    """Period summaries of every site × analyte of a :func:`wastewater.timeseries.build_dataset`.

    Returns
    -------
    pd.DataFrame
        Long frame ``site, analyte, period, mean, median, n, n_censored, method, start, end``
        (only periods with at least one sample), in the unit of ``variable``.
    """
    frames = []
    for site in ds["site"].values.tolist():
        for analyte in ds["analyte"].values.tolist():
            sub = ds.sel(site=site, analyte=analyte)
            values = sub[variable].to_series()
            if values.notna().sum() == 0:
                continue
            values.index = pd.DatetimeIndex(values.index)
            cens = sub["censored"].to_series()
            cens.index = values.index
            out = period_summary(values, cens, freq=freq, method=method).reset_index()
            out.insert(0, "analyte", analyte)
            out.insert(0, "site", site)
            frames.append(out)
    cols = ["site", "analyte", "period", "mean", "median", "n", "n_censored", "method", "start", "end"]
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)[cols]


MIN_WEEKS_PER_PERIOD = 4
"""A period (tertial) needs at least this many ISO weeks with data for its change to be shown;
fewer ("för lite data") and one week of intensive sampling could pass for a change of level."""

MIN_DAYS_PER_WEEK_FOR_CHANGE = 1
"""Days with a value an ISO week needs to count towards :data:`MIN_WEEKS_PER_PERIOD` (one: a plant
sampled twice a week over a tertial has ~17 weeks, a single week of daily sampling has one)."""


def period_change(current: pd.Series, previous: pd.Series, *, level: float = 0.95,
                  min_weeks: int = MIN_WEEKS_PER_PERIOD,
                  min_days_per_week: int = MIN_DAYS_PER_WEEK_FOR_CHANGE) -> dict[str, Any]:
    """Change of the mean load between two periods (e.g. tertials) with its confidence interval.

    Each period is summarised by its ISO-week means (weeks with at least ``min_days_per_week``
    values), so the day-to-day autocorrelation within a week and an uneven number of samples
    per week do not narrow the interval. With ``m`` the mean of the week means, ``s`` their
    standard deviation and ``n`` their number, the ratio ``R = m₁/m₀`` has, by the delta method
    [CasellaBerger2002]_, ``Var(log R) ≈ s₁²/(n₁m₁²) + s₀²/(n₀m₀²)``; the interval is
    ``exp(log R ± t·SE) − 1`` with the Welch–Satterthwaite degrees of freedom [Welch1947]_
    [Satterthwaite1946]_.

    Parameters
    ----------
    current, previous : pandas.Series
        Daily values (DatetimeIndex) of the period and of the period it is compared with.
    level : float
        Confidence level of the interval.
    min_weeks, min_days_per_week : int
        Fewer qualifying weeks in either period: ``enough`` is False and no change is given.

    Returns
    -------
    dict
        ``change_percent, ci_low_percent, ci_high_percent, n_weeks, n_weeks_previous, enough``.

    Examples
    --------
    >>> idx0 = pd.date_range("2025-01-06", periods=28, freq="D")
    >>> idx1 = pd.date_range("2025-02-03", periods=28, freq="D")
    >>> wk = np.repeat([1.0, 1.1, 0.9, 1.0], 7)
    >>> r = period_change(pd.Series(2 * wk, idx1), pd.Series(wk, idx0))
    >>> round(r["change_percent"], 6), r["n_weeks"], r["enough"]
    (100.0, 4, True)
    >>> round(r["ci_low_percent"], 1), round(r["ci_high_percent"], 1)
    (73.7, 130.3)
    """
    from scipy import stats as sps

    def weeks(daily: pd.Series) -> pd.Series:
        daily = _daily_series(daily).dropna()
        if daily.empty:
            return daily
        from wastewater.uncertainty import iso_year_week

        year, week = iso_year_week(daily.index)
        grouped = daily.groupby(year * 100 + week)
        means, counts = grouped.mean(), grouped.size()
        return means[counts >= min_days_per_week]

    w1, w0 = weeks(current), weeks(previous)
    out: dict[str, Any] = {"change_percent": math.nan, "ci_low_percent": math.nan,
                           "ci_high_percent": math.nan, "n_weeks": int(len(w1)),
                           "n_weeks_previous": int(len(w0)), "enough": False}
    if len(w1) < max(min_weeks, 2) or len(w0) < max(min_weeks, 2):
        return out
    m1, m0 = float(w1.mean()), float(w0.mean())
    if m1 <= 0 or m0 <= 0:
        return out
    v1 = float(w1.var(ddof=1)) / (len(w1) * m1**2)
    v0 = float(w0.var(ddof=1)) / (len(w0) * m0**2)
    se = math.sqrt(v1 + v0)
    log_r = math.log(m1 / m0)
    if se == 0:
        lo = hi = log_r
    else:
        df = (v1 + v0) ** 2 / (v1**2 / (len(w1) - 1) + v0**2 / (len(w0) - 1))
        q = float(sps.t.ppf(0.5 + level / 2, df))
        lo, hi = log_r - q * se, log_r + q * se
    out.update(change_percent=math.expm1(log_r) * 100, ci_low_percent=math.expm1(lo) * 100,
               ci_high_percent=math.expm1(hi) * 100, enough=True)
    return out
