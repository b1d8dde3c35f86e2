"""Input checks and preparation of daily load series (censoring, composites, exclusions)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from wastewater.stats._regression import InsufficientDataError

__all__ = ["prepare_daily", "json_safe", "InsufficientDataError"]


def json_safe(value):
    """Convert numpy scalars/arrays, NaN/inf and timestamps into JSON-safe Python objects."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, (pd.Timestamp,)):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat()
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


def _as_daily_series(series: pd.Series, name: str) -> pd.Series:
    if not isinstance(series, pd.Series):
        raise TypeError(f"{name}: expected a pandas Series with a DatetimeIndex, got {type(series).__name__}")
    if not isinstance(series.index, pd.DatetimeIndex):
        raise TypeError(f"{name}: index must be a DatetimeIndex of sample dates (fix: "
                        "series.index = pd.to_datetime(series.index))")
    idx = series.index.tz_localize(None) if series.index.tz is not None else series.index
    s = pd.Series(np.asarray(series, dtype=float), index=idx.normalize())
    if s.index.has_duplicates:
        dup = s.index[s.index.duplicated()][0].date()
        raise ValueError(f"{name}: duplicate sample date {dup}; aggregate replicates first "
                         "(e.g. series.groupby(level=0).mean())")
    return s.sort_index()


def prepare_daily(series: pd.Series, censored: pd.Series | None = None, *,
                  exclude_dates: Iterable | None = None,
                  composite_days: pd.Series | None = None,
                  name: str = "series") -> pd.DataFrame:
    """Observations of a daily load series ready for log-scale models.

    Parameters
    ----------
    series : pandas.Series
        Daily ``load_mg_per_day_per_1000`` (DatetimeIndex, NaN = no sample) [mg day⁻¹ (1000 inh.)⁻¹].
        Censored days carry their substituted value (e.g. LOQ/2, see ``wastewater.censoring``).
    censored : pandas.Series of bool, optional
        True where the value was below LOQ/LOD (aligned on dates; missing = False).
    exclude_dates : iterable of date-like, optional
        Days to drop (e.g. suspected dumping).
    composite_days : pandas.Series of int, optional
        Days covered by the composite starting on that date (3 for a 72 h composite). When not
        given, runs of ≥ 2 consecutive days with exactly the same *uncensored* value are taken to
        be one multi-day composite reported on each day.

    Returns
    -------
    pandas.DataFrame
        One row per independent observation, indexed by its first date, with columns
        ``load`` (float > 0), ``log_load``, ``censored`` (bool), ``days`` (days covered),
        ``t`` (integer day number since 1970-01-01), ``weekday_share_0 … _6`` (fraction of the
        covered days on each weekday, Mon = 0).

    Notes
    -----
    A multi-day composite reported as the same value on each day is one measurement; keeping
    all copies would triple its weight and fake autocorrelation, so it is collapsed to one row
    whose weekday shares are averaged over the covered days (approximation: the model is on log
    load, the composite is a mean of loads).
    """
    s = _as_daily_series(series, name)
    cens = (pd.Series(False, index=s.index) if censored is None
            else _as_daily_series(censored.astype(float), "censored").reindex(s.index)
            .fillna(0.0).astype(bool))
    if exclude_dates is not None:
        drop = pd.DatetimeIndex(pd.to_datetime(list(exclude_dates))).normalize()
        s = s[~s.index.isin(drop)]
        cens = cens.reindex(s.index)
    ok = s.notna()
    s, cens = s[ok], cens[ok]
    if (s <= 0).any():
        bad = s.index[s <= 0][0].date()
        raise ValueError(f"{name}: non-positive load on {bad}; log-scale models need loads > 0 "
                         "(fix: substitute censored values, e.g. LOQ/2, before testing)")
    if composite_days is not None:
        days = _as_daily_series(composite_days, "composite_days").reindex(s.index).fillna(1)
        days = days.astype(int).clip(lower=1)
        keep = np.ones(len(s), dtype=bool)
        t_all = (s.index - pd.Timestamp("1970-01-01")).days.to_numpy()
        covered_until = -np.inf
        for i in range(len(s)):
            if t_all[i] < covered_until and s.iloc[i] == s.iloc[i - 1]:
                keep[i] = False
            else:
                covered_until = t_all[i] + days.iloc[i]
        days = days[keep]
    else:
        t_all = (s.index - pd.Timestamp("1970-01-01")).days.to_numpy()
        vals = s.to_numpy()
        c = cens.to_numpy()
        keep = np.ones(len(s), dtype=bool)
        run_len = np.ones(len(s), dtype=int)
        start = 0
        for i in range(1, len(s)):
            same = (t_all[i] == t_all[i - 1] + 1 and vals[i] == vals[i - 1]
                    and not c[i] and not c[i - 1])
            if same:
                keep[i] = False
                run_len[start] += 1
            else:
                start = i
        days = pd.Series(run_len, index=s.index)[keep]
    s, cens = s[keep], cens[keep]
    t = (s.index - pd.Timestamp("1970-01-01")).days.to_numpy()
    out = pd.DataFrame({"load": s.to_numpy(), "log_load": np.log(s.to_numpy()),
                        "censored": cens.to_numpy(), "days": days.to_numpy(), "t": t},
                       index=s.index)
    shares = np.zeros((len(out), 7))
    for i, (dow, nd) in enumerate(zip(out.index.dayofweek, out["days"])):
        for j in range(nd):
            shares[i, (dow + j) % 7] += 1.0 / nd
    for j in range(7):
        out[f"weekday_share_{j}"] = shares[:, j]
    return out


def require(n: int, needed: int, what: str) -> None:
    """Raise :class:`InsufficientDataError` naming the period when ``n < needed``."""
    if n < needed:
        raise InsufficientDataError(f"{what}: {n} observation(s), at least {needed} needed "
                                    "(fix: widen the window or add samples)")
