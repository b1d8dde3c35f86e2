"""Trailing smoothing of daily series: the 7-day trailing median and mean.

A trailing (right-aligned) window uses only past days, so the curve is not shifted into the
future; seven days hold each weekday once, so the weekly profile (weekend highs of cocaine and
MDMA [Ort2014]_) does not move the smoothed value from day to day. The median resists single
outlying days (e.g. a dumping event), the mean keeps the weekly load total. A value at day *t*
summarises the days *t − 6 … t* that have a value (missing days are skipped, not filled); it is
missing when fewer than ``min_days`` days are present.
"""

from __future__ import annotations

import pandas as pd

SMOOTHERS = {"median7": ("median", 7), "mean7": ("mean", 7)}
"""Named smoothers: ``name → (statistic, window in days)``."""


def trailing(values: pd.Series, *, statistic: str = "median", window_days: int = 7,
             min_days: int = 1) -> pd.Series:
    """
    Trailing ``window_days``-day median or mean of a daily series.

    Parameters
    ----------
    values : pd.Series
        Daily values indexed by date (DatetimeIndex; days may be absent or NaN), in any unit
        (e.g. ``load_mg_per_day_per_1000`` [mg day⁻¹ (1000 inh)⁻¹]); the result has the same
        unit.
    statistic : {"median", "mean"}
    window_days : int, default 7
        Calendar days in the window, including the day itself.
    min_days : int, default 1
        Fewest days with a value for a result.

    Returns
    -------
    pd.Series
        Same index as ``values``.

    Examples
    --------
    >>> s = pd.Series([1.0, 2.0, 30.0, 4.0], index=pd.date_range("2025-01-01", periods=4))
    >>> trailing(s).tolist()
    [1.0, 1.5, 2.0, 3.0]
    >>> trailing(s, statistic="mean").tolist()
    [1.0, 1.5, 11.0, 9.25]
    """
    if statistic not in ("median", "mean"):
        raise ValueError(f"statistic {statistic!r} unknown; use 'median' or 'mean'")
    if window_days < 1 or min_days < 1:
        raise ValueError("window_days and min_days must be at least 1")
    s = pd.Series(values.to_numpy(float), index=pd.DatetimeIndex(values.index))
    order = s.index.argsort(kind="stable")
    roll = s.iloc[order].rolling(f"{int(window_days)}D", min_periods=int(min_days))
    out = roll.median() if statistic == "median" else roll.mean()
    res = pd.Series(index=values.index, dtype=float)
    res.iloc[order] = out.to_numpy()
    return res


def smooth(values: pd.Series, name: str, *, min_days: int = 1) -> pd.Series:
    """:func:`trailing` by name (:data:`SMOOTHERS`: ``median7``, ``mean7``)."""
    if name not in SMOOTHERS:
        raise ValueError(f"smoothing {name!r} unknown; use one of {sorted(SMOOTHERS)}")
    statistic, days = SMOOTHERS[name]
    return trailing(values, statistic=statistic, window_days=days, min_days=min_days)
