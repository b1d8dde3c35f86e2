""""New value unusually high for this site and weekday": robust z against same-weekday history.

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from wastewater.stats._series import DateLike, prepare_daily
from wastewater.stats.dumping import MAD_TO_SD
from wastewater.stats.effects import method_change_days
from wastewater.wording import alert_sentence

__all__ = ["alert_for_new_value", "alert_threshold", "same_weekday_alerts", "same_weekday_threshold"]

#: Monte Carlo draws used to calibrate thresholds (fixed seed: thresholds are reproducible).
CALIBRATION_DRAWS = 200_000
CALIBRATION_SEED = 20240430
#: Draws of the same-weekday calibration on the realistic model (Monte Carlo error of the
#: false-alarm rate at the threshold ≈ √(0.01·0.99/400 000) = 0.00016, i.e. 1.6 % of 0.01).
SAME_WEEKDAY_CALIBRATION_DRAWS = 400_000


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


@lru_cache(maxsize=256)
def same_weekday_threshold(n_history: int, false_alarm_rate: float = 0.01) -> float:
    """Robust-z threshold of the "unusually high" rule, calibrated on realistic series.

    Parameters
    ----------
    n_history : int
        Number of same-weekday values (at most 8 weeks back) the median and MAD come from.
    false_alarm_rate : float
        Probability that an ordinary day (no change) of a site raises the alert [fraction, per
        site × analyte × day; censored days count as days that never alert].

    Returns
    -------
    float
        Threshold ``c`` with ``P(z > c and the new value uncensored) = false_alarm_rate`` for
        ``z = (log x − median(log h)) / (1.4826·MAD(log h))`` [RousseeuwCroux1993]_.

    Notes
    -----
    A predictive threshold: the new value ``x`` and its ``n_history`` baseline values ``h``
    are drawn *together*, so the noise of the estimated median and MAD is part of the
    calibration (the plug-in normal quantile Φ⁻¹(0.99) = 2.33 would give several per cent of
    false alarms with 8 values). It is a parametric Monte Carlo test [DavisonHinkley1997]_ on the
    model of :func:`wastewater.stats.simulate.simulate_series` with its realistic defaults
    (:data:`~wastewater.stats.simulate.DEFAULT_SIMULATION`): AR(1) use variation on the log
    scale (φ = 0.5, sd 0.2; same-weekday values are 7 days apart, correlation φ⁷), independent
    laboratory error (CV 10 % [Castiglioni2013]_), the Fri–Sun ×1.3 weekday cycle [EUDA2025]_
    (the weekday of the new value drawn uniformly) and an LOQ with ~10 % of values below it,
    reported as LOQ/2 [Helsel2012]_ and flagged. Censored history values enter the median and MAD
    at LOQ/2 (as in :func:`same_weekday_alerts`); a MAD of 0 gives no alert.

    Against the iid-normal calibration of :func:`alert_threshold` (exact without censoring),
    this corrects the ~8 % deficit that censored baseline values cause: at LOQ/2 their
    deviations from the median are larger than the true ones, which inflates the MAD (measured
    0.92 % instead of 1 % per site-day with the iid threshold). Missing days only lower
    ``n_history`` (calibrated per value). Rates under other noise and censoring levels are in
    ``benchmarks/reports/bench_alerts.md``.
    """
    from wastewater.stats.simulate import DEFAULT_SIMULATION, DEFAULT_WEEKEND_DAYS, loq_for_censored_fraction

    if n_history < 3:
        raise ValueError(f"n_history={n_history}: need at least 3 past same-weekday values")
    if not 0 < false_alarm_rate < 0.5:
        raise ValueError(f"false_alarm_rate={false_alarm_rate}: must lie between 0 and 0.5")
    m = DEFAULT_SIMULATION
    phi7 = float(m["phi"]) ** 7
    sd_use = float(m["sd_log"])
    sd_meas = float(np.sqrt(np.log1p(float(m["measurement_cv"]) ** 2)))
    log_w = np.log(np.where(np.isin(np.arange(7), DEFAULT_WEEKEND_DAYS), float(m["weekend_factor"]), 1.0))
    log_loq = float(np.log(loq_for_censored_fraction(float(m["censored_fraction"]), log_w,
                                                     float(np.hypot(sd_use, sd_meas)))))
    rng = np.random.default_rng(CALIBRATION_SEED + 1000 + n_history)
    k = n_history + 1  # column 0: the new value, 1..n: 7, 14, … days before it
    chunk = max(1, 2_000_000 // k)
    parts = []
    for start in range(0, SAME_WEEKDAY_CALIBRATION_DRAWS, chunk):
        size = min(chunk, SAME_WEEKDAY_CALIBRATION_DRAWS - start)
        u = np.empty((size, k))
        u[:, 0] = rng.normal(0.0, sd_use, size)
        innov = rng.normal(0.0, sd_use * np.sqrt(1 - phi7**2), (size, k))
        for j in range(1, k):
            u[:, j] = phi7 * u[:, j - 1] + innov[:, j]
        y = log_w[rng.integers(0, 7, size)][:, None] + u + rng.normal(0.0, sd_meas, (size, k))
        cens = y < log_loq
        y = np.where(cens, log_loq - np.log(2.0), y)
        h = y[:, 1:]
        med = np.median(h, axis=1)
        mad = MAD_TO_SD * np.median(np.abs(h - med[:, None]), axis=1)
        ok = (mad > 0) & ~cens[:, 0]
        z = np.full(size, -np.inf)
        z[ok] = (y[ok, 0] - med[ok]) / mad[ok]
        parts.append(z)
    return float(np.quantile(np.concatenate(parts), 1 - false_alarm_rate, method="higher"))


def _robust_z(value_log: float, history_log: np.ndarray) -> tuple[float, float, float]:
    med = float(np.median(history_log))
    scale = float(MAD_TO_SD * np.median(np.abs(history_log - med)))
    if scale <= 0:
        return med, scale, float("nan")
    return med, scale, (value_log - med) / scale


def same_weekday_alerts(series: pd.Series, *, censored: pd.Series | None = None,
                        history_weeks: int = 8, min_history: int = 4,
                        false_alarm_rate: float = 0.01,
                        method_changes: Iterable[DateLike] | None = None) -> pd.DataFrame:
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
        Per-day false-alarm probability under no change [fraction]; threshold from
        :func:`same_weekday_threshold` for the number of history values actually available.
    method_changes : iterable of date-like, optional
        First days of marked laboratory method changes
        (:func:`wastewater.stats.effects.method_change_days`, the rule the operation and trend
        tests use): a day's history holds only same-weekday values on or after the last marked
        change before it, never values measured by the earlier method.

    Returns
    -------
    pandas.DataFrame
        Indexed by date: ``load_mg_per_day_per_1000, baseline_median_mg_per_day_per_1000,
        n_history, robust_z, threshold, alert`` (bool), ``segment_start`` (the last marked
        method change on or before the day, NaT without one) and ``n_history_cut`` (same-weekday
        values of the window left out because they precede that change).

    Notes
    -----
    ``robust_z = (log x − median(log h)) / (1.4826·MAD(log h))`` [RousseeuwCroux1993]_ over the past
    ``history_weeks`` same-weekday values ``h`` [Ort2014]_; log scale because loads are
    multiplicative. A history with zero MAD (e.g. all censored) gives NaN, not an alert.

    The threshold is a predictive one: it holds when the new value and its history come from
    one distribution. A laboratory method change (a ×2 step in what is measured) breaks that,
    so after a marked change the baseline is re-estimated from the new method's values only —
    the Phase I rule of control charting: after a known change in the process the limits are
    set again from data of the new process, not carried over [Montgomery2013]_. Adjusting the
    old values by an estimated step was not chosen: the step would be estimated from the very
    days being tested (a circular comparison), and its error is not in the calibrated
    threshold. Until ``min_history`` new-method values exist a day is not tested
    (``robust_z`` NaN, ``n_history_cut`` says why).
    """
    obs = prepare_daily(series, censored, composite_days=False)
    cols = ["load_mg_per_day_per_1000", "baseline_median_mg_per_day_per_1000", "n_history",
            "robust_z", "threshold", "alert", "segment_start", "n_history_cut"]
    if obs.empty:
        return pd.DataFrame(columns=cols, index=pd.DatetimeIndex([], name="date"))
    t = obs["t"].to_numpy()
    daily = np.full(t[-1] - t[0] + 1, np.nan)
    daily[t - t[0]] = obs["log_load"].to_numpy()
    pos = t - t[0]
    steps = np.asarray(method_change_days(method_changes), dtype=np.int64)
    seg = np.searchsorted(steps, t[0] + np.arange(len(daily)), side="right")
    hist = np.full((len(obs), history_weeks), np.nan)
    n_cut = np.zeros(len(obs), dtype=np.int64)
    for k in range(1, history_weeks + 1):
        src = pos - 7 * k
        ok = src >= 0
        val = np.full(len(obs), np.nan)
        val[ok] = daily[src[ok]]
        same = np.zeros(len(obs), dtype=bool)
        same[ok] = seg[src[ok]] == seg[pos[ok]]
        n_cut += ok & ~same & np.isfinite(val)
        hist[same, k - 1] = val[same]
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
        thr[testable & (n_hist == n_h)] = same_weekday_threshold(int(n_h), false_alarm_rate)
    alert = np.isfinite(z) & (z > thr) & ~obs["censored"].to_numpy()
    k_seg = seg[pos]
    segment_start = np.full(len(obs), np.datetime64("NaT"), dtype="datetime64[ns]")
    has = k_seg > 0
    segment_start[has] = steps[k_seg[has] - 1].astype("datetime64[D]")
    out = pd.DataFrame({"load_mg_per_day_per_1000": obs["load"].to_numpy(),
                        "baseline_median_mg_per_day_per_1000": np.exp(med), "n_history": n_hist,
                        "robust_z": z, "threshold": thr, "alert": alert,
                        "segment_start": segment_start, "n_history_cut": n_cut},
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
        thr = same_weekday_threshold(len(hist), false_alarm_rate)
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
