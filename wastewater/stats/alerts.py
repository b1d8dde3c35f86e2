""""New value unusually high for this site and weekday": robust z against same-weekday history.

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from wastewater.stats._series import DateLike, prepare_daily
from wastewater.stats.dumping import MAD_TO_SD
from wastewater.wording import alert_sentence

__all__ = ["alert_for_new_value", "alert_threshold", "same_weekday_alerts"]

#: Monte Carlo draws used to calibrate thresholds (fixed seed: thresholds are reproducible).
CALIBRATION_DRAWS = 200_000
CALIBRATION_SEED = 20240430


@lru_cache(maxsize=256)
def alert_threshold(n_history: int, false_alarm_rate: float = 0.01) -> float:
    """Robust-z threshold giving the stated false-alarm rate with ``n_history`` past values.

    Parameters
    ----------
    n_history : int
        Number of same-weekday values the median and MAD come from.
    false_alarm_rate : float
        Probability that an ordinary new value (same distribution as the history) raises an
        alert [fraction, per value].

    Returns
    -------
    float
        Threshold ``c`` with ``P(z > c) = false_alarm_rate`` for ``z = (x − median(h)) /
        (1.4826·MAD(h))`` when ``x`` and the ``n_history`` values ``h`` are iid normal (log
        loads). With few history values the median and MAD are noisy, so ``c`` is well above
        the normal quantile Φ⁻¹(1 − rate); calibrated by seeded Monte Carlo
        (``CALIBRATION_DRAWS`` draws), converging to Φ⁻¹(1 − rate) as ``n_history`` grows.

    Notes
    -----
    Same-weekday values are 7 days apart, where the autocorrelation of daily log loads is small
    (φ⁷ ≈ 0.008 for φ = 0.5), so the iid calibration is a fair approximation.
    """
    if n_history < 3:
        raise ValueError(f"n_history={n_history}: need at least 3 past same-weekday values")
    rng = np.random.default_rng(CALIBRATION_SEED + n_history)
    chunk = max(1, 2_000_000 // n_history)  # bound memory (~16 MB per chunk)
    parts = []
    for start in range(0, CALIBRATION_DRAWS, chunk):
        m = min(chunk, CALIBRATION_DRAWS - start)
        h = rng.standard_normal((m, n_history))
        x = rng.standard_normal(m)
        med = np.median(h, axis=1)
        mad = MAD_TO_SD * np.median(np.abs(h - med[:, None]), axis=1)
        parts.append((x - med) / mad)
    return float(np.quantile(np.concatenate(parts), 1 - false_alarm_rate))


def _robust_z(value_log: float, history_log: np.ndarray) -> tuple[float, float, float]:
    med = float(np.median(history_log))
    scale = float(MAD_TO_SD * np.median(np.abs(history_log - med)))
    if scale <= 0:
        return med, scale, float("nan")
    return med, scale, (value_log - med) / scale


def same_weekday_alerts(series: pd.Series, *, censored: pd.Series | None = None,
                        history_weeks: int = 8, min_history: int = 4,
                        false_alarm_rate: float = 0.01) -> pd.DataFrame:
    """Flag each day whose load is unusually high versus the previous same weekdays.

    Parameters
    ----------
    series : pandas.Series
        Daily ``load_mg_per_day_per_1000`` (DatetimeIndex, NaN = missing) [mg day⁻¹ (1000 inh.)⁻¹].
    censored : pandas.Series of bool, optional
        Censored days never alert (they are below LOQ); in the history they enter at their
        substituted value.
    history_weeks : int
        Look back this many weeks for same-weekday values [weeks].
    min_history : int
        Fewer past same-weekday values → no test (``robust_z`` NaN).
    false_alarm_rate : float
        Per-value false-alarm probability under no change [fraction]; threshold from
        :func:`alert_threshold` for the number of history values actually available.

    Returns
    -------
    pandas.DataFrame
        Indexed by date: ``load_mg_per_day_per_1000, baseline_median_mg_per_day_per_1000,
        n_history, robust_z, threshold, alert`` (bool).

    Notes
    -----
    ``robust_z = (log x − median(log h)) / (1.4826·MAD(log h))`` [RousseeuwCroux1993]_ over the past
    ``history_weeks`` same-weekday values ``h`` [Ort2014]_; log scale because loads are
    multiplicative. A history with zero MAD (e.g. all censored) gives NaN, not an alert.
    """
    obs = prepare_daily(series, censored, composite_days=False)
    cols = ["load_mg_per_day_per_1000", "baseline_median_mg_per_day_per_1000", "n_history",
            "robust_z", "threshold", "alert"]
    if obs.empty:
        return pd.DataFrame(columns=cols, index=pd.DatetimeIndex([], name="date"))
    t = obs["t"].to_numpy()
    daily = np.full(t[-1] - t[0] + 1, np.nan)
    daily[t - t[0]] = obs["log_load"].to_numpy()
    pos = t - t[0]
    hist = np.full((len(obs), history_weeks), np.nan)
    for k in range(1, history_weeks + 1):
        src = pos - 7 * k
        ok = src >= 0
        hist[ok, k - 1] = daily[src[ok]]
    n_hist = np.sum(np.isfinite(hist), axis=1)
    testable = n_hist >= max(min_history, 3)
    med = np.full(len(obs), np.nan)
    z = np.full(len(obs), np.nan)
    if testable.any():
        h = hist[testable]
        m = np.nanmedian(h, axis=1)
        scale = MAD_TO_SD * np.nanmedian(np.abs(h - m[:, None]), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            zz = np.where(scale > 0, (obs["log_load"].to_numpy()[testable] - m) / scale, np.nan)
        med[testable] = m
        z[testable] = zz
    thr = np.full(len(obs), np.nan)
    for n_h in np.unique(n_hist[testable]):
        thr[testable & (n_hist == n_h)] = alert_threshold(int(n_h), false_alarm_rate)
    alert = np.isfinite(z) & (z > thr) & ~obs["censored"].to_numpy()
    out = pd.DataFrame({"load_mg_per_day_per_1000": obs["load"].to_numpy(),
                        "baseline_median_mg_per_day_per_1000": np.exp(med), "n_history": n_hist,
                        "robust_z": z, "threshold": thr, "alert": alert},
                       index=obs.index.rename("date"))
    return out


def alert_for_new_value(history: pd.Series, date: DateLike, value_mg_per_day_per_1000: float, *,
                        censored: bool = False, history_weeks: int = 8, min_history: int = 4,
                        false_alarm_rate: float = 0.01) -> dict[str, Any]:
    """Check one new value against the same-weekday history (for upload-time alerts).

    Parameters
    ----------
    history : pandas.Series
        Past daily ``load_mg_per_day_per_1000`` of the site and analyte.
    date : date-like
        Sample date of the new value.
    value_mg_per_day_per_1000 : float
        New load [mg day⁻¹ (1000 inh.)⁻¹].
    censored : bool
        True if the new value is below LOQ (never alerts).

    Returns
    -------
    dict
        ``date, load_mg_per_day_per_1000, baseline_median_mg_per_day_per_1000, n_history,
        robust_z, threshold, alert, false_alarm_rate, message_sv, message_en``.

    Examples
    --------
    >>> h = pd.Series([100, 110, 90, 105, 95, 100, 102, 98],
    ...               index=pd.date_range("2025-01-06", periods=8, freq="7D"))
    >>> alert_for_new_value(h, "2025-03-03", 300.0)["alert"]
    True
    """
    d = pd.Timestamp(date).normalize()
    past = pd.DatetimeIndex([d - pd.Timedelta(days=7 * k) for k in range(1, history_weeks + 1)])
    hs = history.copy()
    hs.index = pd.DatetimeIndex(hs.index).normalize()
    hist = np.log(hs.reindex(past).dropna().astype(float).to_numpy())
    out = {"date": d.date().isoformat(), "load_mg_per_day_per_1000": float(value_mg_per_day_per_1000),
           "baseline_median_mg_per_day_per_1000": None, "n_history": len(hist),
           "robust_z": None, "threshold": None, "alert": False,
           "false_alarm_rate": false_alarm_rate}
    if len(hist) >= max(min_history, 3) and value_mg_per_day_per_1000 > 0:
        med, _, z = _robust_z(float(np.log(value_mg_per_day_per_1000)), hist)
        thr = alert_threshold(len(hist), false_alarm_rate)
        out.update(baseline_median_mg_per_day_per_1000=float(np.exp(med)),
                   robust_z=float(z) if np.isfinite(z) else None, threshold=thr,
                   alert=bool(np.isfinite(z) and z > thr and not censored))
    ratio = (value_mg_per_day_per_1000 / out["baseline_median_mg_per_day_per_1000"]
             if out["baseline_median_mg_per_day_per_1000"] else float("nan"))
    if out["alert"]:
        out["message_sv"] = alert_sentence("sv", ratio, len(hist), false_alarm_rate)
        out["message_en"] = alert_sentence("en", ratio, len(hist), false_alarm_rate)
    else:
        out["message_sv"] = out["message_en"] = ""
    return out
