"""Unannounced level shifts: CUSUM binary segmentation with an autocorrelation-aware scale.

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from wastewater.stats._series import json_safe, prepare_daily, require
from wastewater.wording import POSSIBLE_METHOD_CHANGE

__all__ = ["ChangepointResult", "cusum_test", "detect_changepoints"]

#: Upper bound on the AR(1) coefficient in the long-run variance (avoids division by ~0).
PHI_MAX = 0.9


@dataclass(frozen=True)
class ChangepointResult:
    """Detected level shifts; ``changepoints.date`` is the first day of the new level."""

    changepoints: pd.DataFrame
    n: int
    alpha: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        cp = self.changepoints.copy()
        cp["date"] = cp["date"].dt.strftime("%Y-%m-%d")
        out: dict[str, Any] = json_safe({"changepoints": cp.to_dict("records"), "n": self.n,
                                         "alpha": self.alpha, "method": self.method})
        return out


def _long_run_sd(resid: np.ndarray) -> tuple[float, float]:
    r = resid - resid.mean()
    var = float(np.mean(r * r))
    phi = float(np.sum(r[1:] * r[:-1]) / np.sum(r * r)) if len(r) > 2 and var > 0 else 0.0
    phi = min(max(phi, 0.0), PHI_MAX)
    return float(np.sqrt(var * (1 + phi) / (1 - phi))), phi


def cusum_test(x: np.ndarray, *, min_segment: int = 14) -> tuple[int, float, float]:
    """Single level-shift CUSUM test [CsorgoHorvath1997]_ with an AR(1) long-run variance [Andrews1991]_.

    Parameters
    ----------
    x : array
        Values in time order (weekday-adjusted log loads).
    min_segment : int
        Minimal number of observations on each side of the change.

    Returns
    -------
    (k, statistic, p_value)
        ``k``: index of the first observation of the new level; ``statistic =
        max|S_k| / (σ_LR √n)`` with ``S_k = Σ_{i<k} (x_i − x̄)``; ``p_value`` from the Kolmogorov
        distribution (asymptotic). The long-run scale uses residuals around the two segment
        means at the best split, so a real shift does not inflate it.
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    s = np.cumsum(x - x.mean())[:-1]  # S_k for k = 1..n-1 (split before index k)
    ks = np.arange(1, n)
    ok = (ks >= min_segment) & (ks <= n - min_segment)
    if not ok.any():
        return -1, float("nan"), float("nan")
    k = int(ks[ok][np.argmax(np.abs(s[ok]))])
    resid = np.concatenate([x[:k] - x[:k].mean(), x[k:] - x[k:].mean()])
    sd_lr, _ = _long_run_sd(resid)
    if sd_lr <= 0:
        return k, float("inf"), 0.0
    stat = float(np.abs(s[k - 1]) / (sd_lr * np.sqrt(n)))
    return k, stat, float(stats.kstwobign.sf(stat))


def detect_changepoints(series: pd.Series, *, censored: pd.Series | None = None,
                        alpha: float = 0.01, min_segment_days: int = 14,
                        max_changepoints: int = 5, adjust_weekday: bool = True,
                        method_changes: list[object] | None = None) -> ChangepointResult:
    """Dates of unannounced level shifts in a daily load series (binary segmentation [Vostrikova1981]_).

    Parameters
    ----------
    series : pandas.Series
        Daily ``load_mg_per_day_per_1000`` (DatetimeIndex, NaN = missing) [mg day⁻¹ (1000 inh.)⁻¹].
    censored : pandas.Series of bool, optional
        Censored values enter at their substituted value.
    alpha : float
        Level of each CUSUM test (default 0.01: binary segmentation runs several tests).
    min_segment_days : int
        Minimal segment length [observations].
    max_changepoints : int
    adjust_weekday : bool
        Remove weekday medians of log load first (weekly cycle).
    method_changes : iterable of date-like, optional
        Marked laboratory method changes: each segment between them is centred on its median
        first, so a marked change is not reported; every step found is labelled "possible
        method change — mark it or explain it" (``note_en``, ``note_sv``).

    Returns
    -------
    ChangepointResult
        ``changepoints``: ``date, p_value, statistic, level_before_mg_per_day_per_1000,
        level_after_mg_per_day_per_1000, relative_change`` (geometric means of the adjacent
        segments, weekday-adjusted), sorted by date.

    Notes
    -----
    The series is split where the CUSUM test rejects at ``alpha`` and each part is searched
    again, up to ``max_changepoints``. The p-values are asymptotic; the false-alarm rate on
    AR(1) series without change is checked in benchmarks/bench_stats.py.
    """
    obs = prepare_daily(series, censored, composite_days=False)
    require(len(obs), 2 * min_segment_days, "changepoint series")
    y = obs["log_load"].to_numpy()
    if adjust_weekday:
        dow = obs.index.day_of_week.to_numpy()
        y = y - pd.Series(y).groupby(dow).transform("median").to_numpy() + np.median(y)
    marked = sorted(pd.DatetimeIndex(pd.to_datetime(list(method_changes or []))).normalize())
    if marked:  # a marked method change is a known level shift: remove it before searching
        seg = np.searchsorted(obs.index.to_numpy(), np.array(marked, dtype="datetime64[ns]"))
        bounds_m = [0, *[int(b) for b in seg if 0 < b < len(y)], len(y)]
        y = np.array(y, dtype=float, copy=True)
        centre = float(np.median(y))
        for a_, b_ in zip(bounds_m[:-1], bounds_m[1:], strict=True):
            if b_ > a_:
                y[a_:b_] = y[a_:b_] - np.median(y[a_:b_]) + centre
    found: list[tuple[int, float, float]] = []
    stack = [(0, len(y))]
    while stack and len(found) < max_changepoints:
        a, b = stack.pop()
        if b - a < 2 * min_segment_days:
            continue
        k, stat, p = cusum_test(y[a:b], min_segment=min_segment_days)
        if k < 0 or not p < alpha:
            continue
        found.append((a + k, stat, p))
        stack.extend([(a, a + k), (a + k, b)])
    found.sort()
    bounds = [0] + [f[0] for f in found] + [len(y)]
    rows = []
    for i, (k, stat, p) in enumerate(found):
        before = y[bounds[i]:k]
        after = y[k:bounds[i + 2]]
        rows.append({"date": obs.index[k], "p_value": p, "statistic": stat,
                     "level_before_mg_per_day_per_1000": float(np.exp(before.mean())),
                     "level_after_mg_per_day_per_1000": float(np.exp(after.mean())),
                     "relative_change": float(np.expm1(after.mean() - before.mean())),
                     "note_en": POSSIBLE_METHOD_CHANGE["en"], "note_sv": POSSIBLE_METHOD_CHANGE["sv"]})
    cp = pd.DataFrame(rows, columns=["date", "p_value", "statistic",
                                     "level_before_mg_per_day_per_1000",
                                     "level_after_mg_per_day_per_1000", "relative_change",
                                     "note_en", "note_sv"])
    if cp.empty:
        cp["date"] = pd.to_datetime(cp["date"])
    method = (f"CUSUM binary segmentation on {'weekday-adjusted ' if adjust_weekday else ''}log "
              f"load, AR(1) long-run variance, Kolmogorov p-values, alpha {alpha} per test, "
              f"segments ≥ {min_segment_days} observations")
    return ChangepointResult(changepoints=cp, n=len(y), alpha=alpha, method=method)
