"""Input checks and preparation of daily load series (censoring, composites, exclusions)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TypeAlias

import numpy as np
import pandas as pd

from wastewater.jsonsafe import json_safe
from wastewater.stats._regression import InsufficientDataError

DateLike: TypeAlias = "str | dt.date | np.datetime64 | pd.Timestamp"
"""A calendar day as the statistics accept it (ISO string, date, numpy or pandas timestamp)."""

__all__ = ["InsufficientDataError", "json_safe", "prepare_daily"]


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
                  exclude_dates: Iterable[DateLike] | None = None,
                  composite_days: pd.Series | bool | None = None,
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
    composite_days : pandas.Series of int, False or None
        Days covered by the composite starting on that date (3 for a 72 h composite); ``False``
        = every row is its own observation (no collapsing). When ``None``, runs of ≥ 2 consecutive
        days with exactly the same *uncensored* value are taken to
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
    arr = prepare_arrays(series, censored, exclude_dates=exclude_dates,
                         composite_days=composite_days, name=name)
    index = pd.DatetimeIndex(arr["t"].astype("datetime64[D]").astype("datetime64[ns]"))
    columns = {"load": arr["load"], "log_load": arr["log_load"], "censored": arr["censored"],
               "days": arr["days"], "t": arr["t"]}
    columns.update({f"weekday_share_{j}": arr["shares"][:, j] for j in range(7)})
    return pd.DataFrame(columns, index=index)


def _day_numbers(series: pd.Series, name: str) -> np.ndarray:
    if not isinstance(series, pd.Series):
        raise TypeError(f"{name}: expected a pandas Series with a DatetimeIndex, got {type(series).__name__}")
    if not isinstance(series.index, pd.DatetimeIndex):
        raise TypeError(f"{name}: index must be a DatetimeIndex of sample dates (fix: "
                        "series.index = pd.to_datetime(series.index))")
    idx = series.index.tz_localize(None) if series.index.tz is not None else series.index
    days: np.ndarray = idx.values.astype("datetime64[D]").astype(np.int64)
    return days


def _float_values(series: pd.Series) -> np.ndarray:
    """``np.asarray(series, dtype=float)`` without pandas' conversion machinery for float64."""
    if isinstance(series.dtype, np.dtype) and series.dtype == np.float64:
        out: np.ndarray = series.to_numpy(copy=False)
        return out
    return np.asarray(series, dtype=float)


def _flags(censored: pd.Series) -> np.ndarray:
    """Censoring flags as bool (NaN = False); plain bool columns pass through."""
    if isinstance(censored.dtype, np.dtype) and censored.dtype == np.bool_:
        flags: np.ndarray = censored.to_numpy(copy=False)
        return flags
    flags = np.nan_to_num(np.asarray(censored, dtype=float), nan=0.0).astype(bool)
    return flags


def prepare_arrays(series: pd.Series, censored: pd.Series | None = None, *,
                   exclude_dates: Iterable[DateLike] | None = None,
                   composite_days: pd.Series | bool | None = None,
                   name: str = "series") -> dict[str, np.ndarray]:
    """The work of :func:`prepare_daily` on plain arrays (no DataFrame; used by batches).

    Returns a dict of arrays ``t`` (day number since 1970-01-01), ``load``, ``log_load``,
    ``censored``, ``days``, ``shares`` (n × 7) and ``dow`` (weekday of the first day).
    """
    t_all = _day_numbers(series, name)
    vals = _float_values(series)
    unsorted = False
    if not (len(t_all) < 2 or bool((t_all[1:] > t_all[:-1]).all())):  # not strictly increasing
        order = np.argsort(t_all, kind="stable")
        unsorted = bool(np.any(order[1:] < order[:-1]))
        if unsorted:
            t_all, vals = t_all[order], vals[order]
        if np.any(np.diff(t_all) == 0):
            dup = t_all[1:][np.diff(t_all) == 0][0]
            raise ValueError(f"{name}: duplicate sample date {np.datetime64(int(dup), 'D')}; "
                             "aggregate replicates first (e.g. series.groupby(level=0).mean())")
    if censored is None:
        c = np.zeros(len(vals), dtype=bool)
    elif censored.index.equals(series.index):
        c = _flags(censored)
        if unsorted:
            c = c[order]
    else:
        ct = _day_numbers(censored, "censored")
        cv = _flags(censored)
        lookup = dict(zip(ct.tolist(), cv.tolist()))
        c = np.array([lookup.get(int(x), False) for x in t_all], dtype=bool)
    keep0 = ~np.isnan(vals)
    if exclude_dates is not None:
        drop = pd.DatetimeIndex(pd.to_datetime(list(exclude_dates))).normalize()
        drop_t = drop.to_numpy().astype("datetime64[D]").astype(np.int64)
        keep0 &= ~np.isin(t_all, drop_t)
    t_all, vals, c = t_all[keep0], vals[keep0], c[keep0]
    if (vals <= 0).any():
        bad = np.datetime64(int(t_all[vals <= 0][0]), "D")
        raise ValueError(f"{name}: non-positive load on {bad}; log-scale models need loads > 0 "
                         "(fix: substitute censored values, e.g. LOQ/2, before testing)")
    n = len(vals)
    if composite_days is False:
        keep = np.ones(n, dtype=bool)
        days = np.ones(n, dtype=int)
    elif composite_days is not None:
        cd = composite_days
        ct = _day_numbers(cd, "composite_days")
        look = dict(zip(ct.tolist(), np.nan_to_num(np.asarray(cd, dtype=float), nan=1.0).tolist()))
        nd = np.array([max(int(look.get(int(x), 1)), 1) for x in t_all], dtype=int)
        keep = np.ones(n, dtype=bool)
        covered_until = -np.inf
        for i in range(n):
            if t_all[i] < covered_until and vals[i] == vals[i - 1]:
                keep[i] = False
            else:
                covered_until = t_all[i] + nd[i]
        days = nd[keep]
    else:
        same = np.zeros(n, dtype=bool)
        if n > 1:
            same[1:] = ((np.diff(t_all) == 1) & (vals[1:] == vals[:-1]) & ~c[1:] & ~c[:-1])
        keep = ~same
        run_id = np.cumsum(keep) - 1
        days = np.bincount(run_id, minlength=int(keep.sum())) if n else np.zeros(0, dtype=int)
    vals, c, t = vals[keep], c[keep], t_all[keep]
    nd_arr = np.asarray(days, dtype=int)
    shares = np.zeros((len(vals), 7))
    dow = (t + 3) % 7  # 1970-01-01 was a Thursday (Mon = 0)
    if len(vals) and nd_arr.max() == 1:
        shares[np.arange(len(vals)), dow] = 1.0
    else:
        for j in range(int(nd_arr.max()) if len(vals) else 0):
            active = nd_arr > j
            np.add.at(shares, (np.nonzero(active)[0], (dow[active] + j) % 7), 1.0 / nd_arr[active])
    return {"t": t.astype(np.int64), "load": vals, "log_load": np.log(vals), "censored": c,
            "days": nd_arr, "shares": shares, "dow": dow}


def prepare_many(pairs: list[tuple[pd.Series, pd.Series | None]]) -> list[dict[str, np.ndarray] | None]:
    """:func:`prepare_arrays` with its defaults for many series in one vectorised pass.

    Series that need more than the common case (not a float series on a sorted, tz-naive
    DatetimeIndex, a censored series on other dates, a non-positive load) get ``None``:
    :func:`prepare_arrays` on them alone gives their arrays (or the error that names the fix).
    The arrays of the others equal those of :func:`prepare_arrays` element for element.
    """
    out: list[dict[str, np.ndarray] | None] = [None] * len(pairs)
    ok, ts, vs, cs = [], [], [], []
    for j, (s, c) in enumerate(pairs):
        if not (isinstance(s, pd.Series) and isinstance(s.index, pd.DatetimeIndex) and s.index.tz is None
                and isinstance(s.dtype, np.dtype) and s.dtype == np.float64):
            continue
        if c is not None and not (isinstance(c.dtype, np.dtype) and c.dtype == np.bool_
                                  and c.index.equals(s.index)):
            continue
        ok.append(j)
        ts.append(s.index.values)
        vs.append(s.to_numpy(copy=False))
        cs.append(np.zeros(len(s), dtype=bool) if c is None else c.to_numpy(copy=False))
    if not ok:
        return out
    lens = np.array([len(v) for v in vs], dtype=np.int64)
    sid = np.repeat(np.arange(len(ok)), lens)
    t_all = np.concatenate(ts).astype("datetime64[D]").astype(np.int64)
    vals = np.concatenate(vs)
    c = np.concatenate(cs)
    new_series = np.ones(len(sid), dtype=bool)
    new_series[1:] = sid[1:] != sid[:-1]
    # strictly increasing dates within each series, positive loads: else the series alone
    bad = np.zeros(len(ok), dtype=bool)
    bad[sid[1:][(t_all[1:] <= t_all[:-1]) & ~new_series[1:]]] = True
    keep0 = ~np.isnan(vals)
    bad[sid[keep0 & (vals <= 0)]] = True
    keep0 &= ~bad[sid]
    t_all, vals, c, sid = t_all[keep0], vals[keep0], c[keep0], sid[keep0]
    n = len(vals)
    first = np.ones(n, dtype=bool)
    first[1:] = sid[1:] != sid[:-1]
    # runs of consecutive days with the same uncensored value: one composite (as prepare_arrays)
    same = np.zeros(n, dtype=bool)
    if n > 1:
        same[1:] = ((np.diff(t_all) == 1) & (vals[1:] == vals[:-1]) & ~c[1:] & ~c[:-1]) & ~first[1:]
    keep = ~same
    run_id = np.cumsum(keep) - 1
    days = np.bincount(run_id, minlength=int(keep.sum())) if n else np.zeros(0, dtype=int)
    vals, c, t, sid = vals[keep], c[keep], t_all[keep], sid[keep]
    nd_arr = np.asarray(days, dtype=int)
    shares = np.zeros((len(vals), 7))
    dow = (t + 3) % 7  # 1970-01-01 was a Thursday (Mon = 0)
    for j in range(int(nd_arr.max()) if len(vals) else 0):
        active = nd_arr > j
        np.add.at(shares, (np.nonzero(active)[0], (dow[active] + j) % 7), 1.0 / nd_arr[active])
    bounds = np.searchsorted(sid, np.arange(len(ok) + 1))
    t = t.astype(np.int64)
    for q, j in enumerate(ok):
        if bad[q]:
            continue
        a, b = bounds[q], bounds[q + 1]
        v = vals[a:b]
        out[j] = {"t": t[a:b], "load": v, "log_load": np.log(v), "censored": c[a:b],
                  "days": nd_arr[a:b], "shares": shares[a:b], "dow": dow[a:b]}
    return out


def require(n: int, needed: int, what: str) -> None:
    """Raise :class:`InsufficientDataError` naming the period when ``n < needed``."""
    if n < needed:
        raise InsufficientDataError(f"{what}: {n} observation(s), at least {needed} needed "
                                    "(fix: widen the window or add samples)")
