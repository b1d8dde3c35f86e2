"""Upload-time alerts: which of the days an upload touched are worth telling someone about.

Pure functions on daily series (no database, no network). The storage layer
(:mod:`wastewater.storage.alerts`) calls :func:`evaluate_upload` inside the ingest transaction for
every site × analyte an upload touched, stores the :class:`AlertCandidate` objects it returns
and queues their deliveries; :func:`render_alert` turns a stored alert into the text a given
subscriber may receive (whether it may receive it at all, and who may read it, is the access
policy's: :func:`wastewater.access.alert_receivable` and :func:`wastewater.access.alert_visible`).

Four checks, each with its false-alarm rate fixed in advance (``AlertSettings``):

===================  ==========================================================  ==============
kind                 test                                                        false alarms
===================  ==========================================================  ==============
``unusually_high``   robust z of log load vs the previous 8 same weekdays,       0.01 per day
                     predictive threshold by Monte Carlo on the realistic
                     simulation model (estimated baseline, AR(1), lab error,
                     LOQ censoring; :func:`wastewater.stats.alerts.same_weekday_alerts`,
                     :func:`wastewater.stats.alerts.same_weekday_threshold`)
``outside_history``  two-sided robust z of log load vs the site's last 56 days   0.001 per day
                     (≥ 28 values), threshold calibrated the same way
``method_change``    level shift at the upload's first day: CUSUM statistic at   0.001 per
                     that fixed split, AR(1) long-run variance, normal p-value   upload
``possible_dumping`` :func:`wastewater.stats.dumping.flag_dumping` for days      0.001 per day
                     inside a police operation (and 3 days after)                per check
===================  ==========================================================  ==============

Marked method changes (events of kind ``method_change``, a change of the results' ``method``
column; :func:`marked_change_days`, the rule of the operation and trend tests) cut every
history: a day is compared only with values of the same method, and a level shift at a marked
change is not raised. With too little history since the change the check is not made and an
:class:`AlertNote` says so (the upload's answer shows it).

``tests/test_alerts_simulation.py`` checks the rates by simulating uploads of series without
any change (``unusually_high`` within a binomial tolerance of 0.01 on ≈ 190 000 site-days);
``benchmarks/reports/bench_alerts.md`` has the larger study, other noise and censoring levels
and the power against spikes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from wastewater.jsonsafe import json_safe

__all__ = [
    "ALERT_KINDS",
    "AlertCandidate",
    "AlertEvaluation",
    "AlertNote",
    "AlertSettings",
    "evaluate_days",
    "evaluate_upload",
    "fingerprint",
    "level_shift_at",
    "marked_change_days",
    "outside_history",
    "render_alert",
    "render_digest",
    "sign_webhook",
    "summary_sentences",
    "verify_webhook",
]

ALERT_KINDS = ("unusually_high", "outside_history", "method_change", "possible_dumping")
"""Kinds of alert, in the order they are evaluated."""

#: Days after an operation's end still checked for dumping (flushing right after a raid).
DUMPING_DAYS_AFTER = 3
#: Least same-weekday values of ``unusually_high`` (``same_weekday_alerts``' ``min_history``).
_HIGH_MIN_HISTORY = 4
#: Least baseline days of the dumping check (what :func:`wastewater.stats.dumping.flag_dumping` requires).
_DUMPING_MIN_BASELINE = 14

KIND_TEXT = {
    "unusually_high": ("ovanligt högt värde", "unusually high"),
    "outside_history": ("långt utanför platsens tidigare värden", "far outside the site's history"),
    "method_change": ("möjligt omärkt metodbyte", "possible unmarked method change"),
    "possible_dumping": ("möjlig dumpning under en insats", "possible dumping during an operation"),
}


@dataclasses.dataclass(frozen=True)
class AlertSettings:
    """False-alarm rates and history lengths of the on-upload checks.

    Attributes
    ----------
    high_false_alarm_rate : float
        Per site × analyte × day, ``unusually_high`` [fraction].
    history_false_alarm_rate : float
        Per site × analyte × day, ``outside_history`` (two-sided) [fraction].
    shift_alpha : float
        Per site × analyte × upload, ``method_change`` [fraction].
    dumping_false_alarm_rate : float
        Per day and check inside an operation window, ``possible_dumping`` [fraction].
    history_days : int
        Window of ``outside_history`` [days]; needs ``min_history_values`` values in it.
    shift_before_days, shift_min_before, shift_min_after : int
        ``method_change`` compares the upload's days (at least ``shift_min_after`` values)
        with the ``shift_before_days`` days before them (at least ``shift_min_before`` values).
    max_age_days : int or None
        Days more than this before the upload date are stored but not alerted on (a backfill of
        years of old results would otherwise raise about 1 % of its days) [days]; ``None`` =
        every touched day.
    """

    high_false_alarm_rate: float = 0.01
    history_false_alarm_rate: float = 0.001
    shift_alpha: float = 0.001
    dumping_false_alarm_rate: float = 0.001
    history_days: int = 56
    min_history_values: int = 28
    shift_before_days: int = 56
    shift_min_before: int = 28
    shift_min_after: int = 7
    max_age_days: int | None = 120


@dataclasses.dataclass(frozen=True)
class AlertCandidate:
    """One alert raised by :func:`evaluate_upload` (not yet stored).

    ``statistics`` holds the numbers behind it (JSON-safe); ``value`` is the day's value in
    ``variable`` (``load_mg_per_day_per_1000`` or, without population, ``concentration_ng_per_l``).
    """

    kind: str
    site: str
    analyte: str
    date: str
    value: float | None
    variable: str
    statistics: dict[str, Any]
    event_id: str | None = None
    confidential: bool = False

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.kind, self.site, self.analyte, self.date, self.value,
                           self.event_id)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "fingerprint": self.fingerprint}


def fingerprint(kind: str, site: str, analyte: str, date: str, value: float | None,
                event_id: str | None = None) -> str:
    """Identity of an alert (SHA-256 hex): the same finding on the same value is stored once.

    The value is rounded to 9 significant digits so that a float round trip through either
    database gives the same key; a corrected value is a new finding.
    """
    v = "" if value is None or not math.isfinite(value) else f"{value:.9g}"
    text = "|".join([kind, site, analyte, date, v, event_id or ""])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- the checks


def _clean(series: pd.Series, censored: pd.Series | None) -> tuple[pd.Series, pd.Series]:
    s = pd.Series(np.asarray(series, dtype=float), index=pd.DatetimeIndex(series.index).normalize())
    s = s[np.isfinite(s.to_numpy()) & (s.to_numpy() > 0)].sort_index()
    if censored is None:
        c = pd.Series(False, index=s.index)
    else:
        c = pd.Series(np.asarray(censored, dtype=bool),
                      index=pd.DatetimeIndex(censored.index).normalize())
        c = c.reindex(s.index, fill_value=False).astype(bool)
    return s, c


def outside_history(history: pd.Series, value: float, *, false_alarm_rate: float = 0.001,
                    min_values: int = 28) -> dict[str, Any] | None:
    """Test whether ``value`` is far outside the site's recent values (either direction).

    Parameters
    ----------
    history : pandas.Series
        Earlier uncensored values of the site and analyte (any positive unit; only the log
        scale matters).
    value : float
        The new value (same unit).
    false_alarm_rate : float
        Two-sided probability that an ordinary value (same distribution as the history) is
        flagged [fraction].
    min_values : int
        Fewer history values → no test (``None``).

    Returns
    -------
    dict or None
        ``robust_z, threshold, n_history, median, direction ("high" | "low"), alert``.

    Notes
    -----
    ``z = (log x − median(log h)) / (1.4826·MAD(log h))`` [RousseeuwCroux1993]_; the threshold
    is :func:`wastewater.stats.alerts.alert_threshold` at ``false_alarm_rate / 2`` calibrated
    for ``min_values`` history values whatever the history's size (a smaller history gives a
    higher threshold, so with more values the rate is at or below the nominal one; one
    calibration serves every day). Weekday effects are not removed: they widen
    the history's spread, which again only lowers the rate. A factor-1000 unit slip (µg/L
    entered as ng/L) is flagged whatever the site's noise.
    """
    from wastewater.stats.alerts import alert_threshold
    from wastewater.stats.dumping import MAD_TO_SD

    h = np.asarray(history, dtype=float)
    h = h[np.isfinite(h) & (h > 0)]
    if len(h) < min_values or not (value > 0):
        return None
    lh = np.log(h)
    med = float(np.median(lh))
    scale = float(MAD_TO_SD * np.median(np.abs(lh - med)))
    if scale <= 0:
        return None
    z = (math.log(value) - med) / scale
    thr = alert_threshold(int(min_values), false_alarm_rate / 2)
    return {"robust_z": z, "threshold": thr, "n_history": int(len(h)), "median": math.exp(med),
            "direction": "high" if z > 0 else "low", "alert": bool(abs(z) > thr)}


def level_shift_at(series: pd.Series, first_day: Any, *, alpha: float = 0.001,
                   before_days: int = 56, min_before: int = 28, min_after: int = 7
                   ) -> dict[str, Any] | None:
    """Test for a level shift that starts exactly at ``first_day`` (an upload's first day).

    Parameters
    ----------
    series : pandas.Series
        Daily values (DatetimeIndex) up to the last day of the upload, censored days removed.
    first_day : date-like
        First sample day of the upload.
    alpha : float
        Two-sided level of the test [fraction].
    before_days, min_before, min_after : int
        History window before ``first_day`` [days] and the least number of values before and
        from ``first_day`` on.

    Returns
    -------
    dict or None
        ``z, p_value, n_before, n_after, level_before, level_after, relative_change, phi,
        alert``; ``None`` when there are too few values.

    Notes
    -----
    Log values are weekday-adjusted (weekday medians removed) and winsorised at 4 robust
    standard deviations (MAD × 1.4826 [RousseeuwCroux1993]_) around each segment's median. With the split fixed at index
    ``k`` of ``n`` values the CUSUM ``S_k = Σ_{i<k}(x_i − x̄)`` is normal with variance
    ``σ²_LR · k(n−k)/n`` under no change [CsorgoHorvath1997]_; ``σ_LR`` is the AR(1) long-run
    standard deviation of the residuals around the two segment means [Andrews1991]_ (as in
    :func:`wastewater.stats.changepoints.cusum_test`, whose *searched* split needs the
    Kolmogorov distribution instead). The split is not searched, so the normal p-value holds.
    """
    from wastewater.stats.changepoints import _long_run_sd

    d0 = pd.Timestamp(first_day).normalize()
    s = series[(series.index >= d0 - pd.Timedelta(days=before_days))].dropna()
    s = s[s > 0]
    before = s[s.index < d0]
    after = s[s.index >= d0]
    if len(before) < min_before or len(after) < min_after:
        return None
    y = np.log(s.to_numpy(dtype=float))
    dow = s.index.day_of_week.to_numpy()
    y = y - pd.Series(y).groupby(dow).transform("median").to_numpy() + np.median(y)
    n, k = len(y), len(before)
    # winsorise at 4 robust sd around each segment's median: one wild day (a unit slip, which
    # ``outside_history`` reports) must not hide a shift by inflating the scale
    from wastewater.stats.dumping import MAD_TO_SD

    for part in (slice(0, k), slice(k, n)):
        seg = y[part]
        med = np.median(seg)
        scale = MAD_TO_SD * np.median(np.abs(seg - med))
        if scale > 0:
            y[part] = np.clip(seg, med - 4 * scale, med + 4 * scale)
    s_k = float(np.sum(y[:k] - y.mean()))
    resid = np.concatenate([y[:k] - y[:k].mean(), y[k:] - y[k:].mean()])
    sd_lr, phi = _long_run_sd(resid)
    if sd_lr <= 0:
        return None
    z = s_k / (sd_lr * math.sqrt(k * (n - k) / n))
    p = float(2 * sps.norm.sf(abs(z)))
    lb, la = float(np.exp(y[:k].mean())), float(np.exp(y[k:].mean()))
    return {"z": z, "p_value": p, "alpha": alpha, "n_before": k, "n_after": n - k,
            "level_before": lb, "level_after": la, "relative_change": la / lb - 1, "phi": phi,
            "alert": bool(p < alpha)}


def _event_applies(event: dict[str, Any], site: str, analyte: str) -> bool:
    if event.get("kind") != "operation":
        return False
    sites = list(event.get("sites") or [])
    subs = list(event.get("substances") or [])
    return (not sites or site in sites) and (not subs or analyte in subs)


@dataclasses.dataclass(frozen=True)
class AlertNote:
    """Checks an upload's days did not get because a marked method change left too little
    history measured by the new method (no alert is raised across the change instead).

    ``checks`` maps each check kind to ``(values available since the change, values needed)``
    — for ``unusually_high`` the same-weekday values of the day with the fewest, for
    ``outside_history`` the values of the window, for ``method_change`` the values before the
    upload's first day, for ``possible_dumping`` the baseline days before the operation.
    """

    site: str
    analyte: str
    method_change: str
    days: tuple[str, ...]
    checks: dict[str, tuple[int, int]]

    @property
    def sentence_sv(self) -> str:
        return _note_sentence(self, "sv")

    @property
    def sentence_en(self) -> str:
        return _note_sentence(self, "en")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "method_change_history", "site": self.site, "analyte": self.analyte,
                "method_change": self.method_change, "days": list(self.days),
                "checks": {k: {"n_since_change": h, "n_needed": n} for k, (h, n) in self.checks.items()},
                "sentence_sv": self.sentence_sv, "sentence_en": self.sentence_en}


_NOTE_CHECK = {
    "unusually_high": ("ovanligt högt: {h} av {n} värden för samma veckodag",
                       "unusually high: {h} of {n} same-weekday values"),
    "outside_history": ("långt utanför platsens värden: {h} av {n} värden",
                        "far outside the site's values: {h} of {n} values"),
    "method_change": ("omärkt metodbyte: {h} av {n} dagar före uppladdningen",
                      "unmarked method change: {h} of {n} days before the upload"),
    "possible_dumping": ("möjlig dumpning: {h} av {n} dagar före insatsen",
                         "possible dumping: {h} of {n} days before the operation"),
}


def _note_sentence(note: AlertNote, lang: str) -> str:
    sv = lang == "sv"
    i = 0 if sv else 1
    parts = "; ".join(_NOTE_CHECK[k][i].format(h=h, n=n) for k, (h, n) in note.checks.items())
    first, last = note.days[0], note.days[-1]
    span = first if first == last else f"{first}–{last}"
    if sv:
        return (f"Metodbytet {note.method_change} är markerat för {note.analyte} vid {note.site}, och "
                f"med den nya metoden finns ännu för få tidigare värden för att pröva {span} "
                f"({parts}). Inget larm har prövats mot värden från före bytet.")
    return (f"The method change on {note.method_change} is marked for {note.analyte} at {note.site}, "
            f"and the new method does not yet have enough earlier values to check {span} "
            f"({parts}). No alert was checked against values from before the change.")


@dataclasses.dataclass(frozen=True)
class AlertEvaluation:
    """What :func:`evaluate_upload` found: the alerts and the notes on checks not made."""

    alerts: list[AlertCandidate]
    notes: list[AlertNote]


def marked_change_days(method_changes: Iterable[Any] | None = None,
                       method_labels: pd.Series | None = None) -> list[pd.Timestamp]:
    """First days of the marked method changes, as the operation and trend tests find them
    (:func:`wastewater.stats.effects.method_change_days`: given dates plus each change of the
    results' ``method`` column).
    """
    from wastewater.stats.effects import method_change_days

    return [pd.Timestamp(np.datetime64(d, "D")) for d in method_change_days(method_changes, method_labels)]


def evaluate_days(series: pd.Series, days: Iterable[Any], **kwargs: Any) -> list[AlertCandidate]:
    """The alerts of :func:`evaluate_upload` (same arguments), without its notes."""
    return evaluate_upload(series, days, **kwargs).alerts


def evaluate_upload(
    series: pd.Series,
    days: Iterable[Any],
    *,
    site: str,
    analyte: str,
    censored: pd.Series | None = None,
    variable: str = "load_mg_per_day_per_1000",
    events: Sequence[dict[str, Any]] = (),
    method_marked: bool = False,
    method_changes: Iterable[Any] | None = None,
    method_labels: pd.Series | None = None,
    shift_test: bool = True,
    ratio_pair: tuple[pd.Series, pd.Series, str, str] | None = None,
    settings: AlertSettings = AlertSettings(),
) -> AlertEvaluation:
    """Run the four on-upload checks for the ``days`` an upload touched.

    Parameters
    ----------
    series : pandas.Series
        The whole daily series of the site and analyte *including* the upload (DatetimeIndex,
        NaN = no sample), in ``variable``'s unit.
    days : iterable of date-like
        Days whose value the upload added or changed.
    site, analyte : str
    censored : pandas.Series of bool, optional
        Censored days never alert and are left out of every history.
    variable : str
        Name of the quantity (recorded with the alert).
    events : sequence of dict
        Events (``event_id, kind, start, end, sites, substances, confidential``) of the site;
        only ``kind == "operation"`` matters (dumping check).
    method_marked : bool
        The upload's first day is the first day of a new, marked method (as if its date were
        in ``method_changes``).
    method_changes : iterable of date-like, optional
        First days of marked method changes (events of kind ``method_change`` that apply).
    method_labels : pandas.Series, optional
        The results' ``method`` column by sample date; each change of label is a marked change
        (:func:`marked_change_days`, the rule of the operation and trend tests).
    shift_test : bool
        Run the ``method_change`` check (the storage layer runs it for results uploads only).
    ratio_pair : (parent, metabolite, parent_name, metabolite_name), optional
        Series for the parent/metabolite ratio check of the dumping test.
    settings : AlertSettings

    Returns
    -------
    AlertEvaluation
        ``alerts`` in date order, at most one of each kind per day (``method_change`` only on
        the first day, ``possible_dumping`` once per day and operation); ``notes`` name the
        checks a marked method change left without enough new-method history.

    Notes
    -----
    Every check compares a day with history measured by the same method: its history starts at
    the last marked change on or before the day, as control limits are set again from the new
    process after a known process change [Montgomery2013]_ (the calibrated thresholds assume
    that the day and its history share one distribution; a ×2 method step would otherwise raise
    ``unusually_high`` and ``outside_history`` on every day after it). A level shift at a
    marked change is explained and never raised as ``method_change``. With too little history
    since the change the check is not made and an :class:`AlertNote` says so.
    """
    from wastewater.stats.alerts import same_weekday_alerts

    s, cens = _clean(series, censored)
    wanted = sorted({pd.Timestamp(d).normalize() for d in days})
    wanted = [d for d in wanted if d in s.index]
    if not wanted:
        return AlertEvaluation([], [])
    marks = marked_change_days(
        [*(method_changes or ()), *([wanted[0]] if method_marked else [])], method_labels)
    # every check but the dumping one looks back at most this far before the first day
    reach = max(settings.history_days, settings.shift_before_days, 8 * 7) + 1
    keep = (s.index >= wanted[0] - pd.Timedelta(days=reach)) & (s.index <= wanted[-1])
    s_all, cens_all = s, cens
    s, cens = s[keep], cens[keep]
    ok = s[~cens]
    out: list[AlertCandidate] = []
    short: dict[pd.Timestamp, dict[str, Any]] = {}  # marked change → days and checks not made

    def add(kind: str, day: pd.Timestamp, stat: dict[str, Any], **kw: Any) -> None:
        out.append(AlertCandidate(kind=kind, site=site, analyte=analyte,
                                  date=day.date().isoformat(), value=float(s_all[day]),
                                  variable=variable, statistics=json_safe(stat), **kw))

    def not_checked(mark: pd.Timestamp, kind: str, day: pd.Timestamp, have: int, need: int) -> None:
        entry = short.setdefault(mark, {"days": set(), "checks": {}})
        entry["days"].add(day)
        old = entry["checks"].get(kind)
        entry["checks"][kind] = (have if old is None else min(old[0], have), need)

    def since(day: pd.Timestamp) -> pd.Timestamp | None:
        before = [m for m in marks if m <= day]
        return before[-1] if before else None

    def until(day: pd.Timestamp) -> pd.Timestamp | None:
        after = [m for m in marks if m > day]
        return after[0] if after else None

    high = same_weekday_alerts(s, censored=cens, false_alarm_rate=settings.high_false_alarm_rate,
                               min_history=_HIGH_MIN_HISTORY, method_changes=marks)
    ok_t = ok.index.to_numpy()
    ok_v = ok.to_numpy(dtype=float)
    span = np.timedelta64(settings.history_days, "D")
    for day in wanted:
        if cens[day]:
            continue
        value = float(s[day])
        mark = since(day)
        h = high.loc[day] if day in high.index else None
        if h is not None and bool(h["alert"]):
            add("unusually_high", day, {
                "baseline_median": h["baseline_median_mg_per_day_per_1000"],
                "n_history": int(h["n_history"]), "robust_z": h["robust_z"],
                "threshold": h["threshold"], "false_alarm_rate": settings.high_false_alarm_rate,
                **({"method_change": mark.date().isoformat()} if mark is not None else {})})
        elif (h is not None and mark is not None and int(h["n_history"]) < _HIGH_MIN_HISTORY
              and int(h["n_history"]) + int(h["n_history_cut"]) >= _HIGH_MIN_HISTORY):
            not_checked(mark, "unusually_high", day, int(h["n_history"]), _HIGH_MIN_HISTORY)
        d64 = day.to_datetime64()
        lo, hi = np.searchsorted(ok_t, d64 - span), np.searchsorted(ok_t, d64)
        lo_all = lo
        if mark is not None:
            lo = max(lo, int(np.searchsorted(ok_t, mark.to_datetime64())))
        far = outside_history(ok_v[lo:hi], value,
                              false_alarm_rate=settings.history_false_alarm_rate,
                              min_values=settings.min_history_values)
        if far and far["alert"]:
            add("outside_history", day, {**far,
                                         "false_alarm_rate": settings.history_false_alarm_rate})
        elif mark is not None and hi - lo < settings.min_history_values <= hi - lo_all:
            not_checked(mark, "outside_history", day, int(hi - lo), settings.min_history_values)

    first = wanted[0]
    mark0 = since(first)
    if shift_test and mark0 != first:
        seg = ok[ok.index <= wanted[-1]]
        nxt = until(first)
        if nxt is not None:
            seg = seg[seg.index < nxt]
        n_all = int(((seg.index < first)
                     & (seg.index >= first - pd.Timedelta(days=settings.shift_before_days))).sum())
        if mark0 is not None:
            seg = seg[seg.index >= mark0]
        shift = level_shift_at(seg, first, alpha=settings.shift_alpha,
                               before_days=settings.shift_before_days,
                               min_before=settings.shift_min_before,
                               min_after=settings.shift_min_after)
        if shift and shift["alert"] and not cens[first]:
            add("method_change", first, shift)
        n_before = int(((seg.index < first)
                        & (seg.index >= first - pd.Timedelta(days=settings.shift_before_days))).sum())
        if mark0 is not None and n_before < settings.shift_min_before <= n_all:
            not_checked(mark0, "method_change", first, n_before, settings.shift_min_before)

    for event in events:
        if not _event_applies(event, site, analyte):
            continue
        start = pd.Timestamp(event["start"]).normalize()
        end = pd.Timestamp(event["end"]).normalize()
        in_window = [d for d in wanted
                     if start <= d <= end + pd.Timedelta(days=DUMPING_DAYS_AFTER)]
        if not in_window:
            continue
        # the operation's baseline and its days must be measured by one method: the segment
        # of the operation's first day; days after a later marked change are not checked
        lo_m, hi_m = since(start), until(start)
        seg_series, seg_cens, seg_pair = series, censored, ratio_pair
        if lo_m is not None or hi_m is not None:
            seg_series = _between(series, lo_m, hi_m)
            seg_cens = None if censored is None else _between(censored, lo_m, hi_m)
            if ratio_pair is not None:
                seg_pair = (_between(ratio_pair[0], lo_m, hi_m), _between(ratio_pair[1], lo_m, hi_m),
                            ratio_pair[2], ratio_pair[3])
        flagged = _dumping_days(seg_series, seg_cens, start, end, seg_pair,
                                settings.dumping_false_alarm_rate)
        # a confidential operation is not named in a note (the uploader may not know of it)
        quiet = bool(event.get("confidential"))
        if lo_m is not None and not flagged and not quiet:
            n_base = int(s_all[(s_all.index >= max(lo_m, start - pd.Timedelta(days=56)))
                               & (s_all.index < start) & ~cens_all].size)
            n_full = int(s_all[(s_all.index >= start - pd.Timedelta(days=56))
                               & (s_all.index < start) & ~cens_all].size)
            if n_base < _DUMPING_MIN_BASELINE <= n_full:
                for day in in_window:
                    not_checked(lo_m, "possible_dumping", day, n_base, _DUMPING_MIN_BASELINE)
        for day in in_window:
            if hi_m is not None and day >= hi_m:
                if not quiet:
                    not_checked(hi_m, "possible_dumping", day, 0, _DUMPING_MIN_BASELINE)
                continue
            row = flagged.get(day)
            if row is not None:
                add("possible_dumping", day, row, event_id=str(event["event_id"]),
                    confidential=bool(event.get("confidential")))
    order = {k: i for i, k in enumerate(ALERT_KINDS)}
    out.sort(key=lambda a: (a.date, order[a.kind]))
    notes = [AlertNote(site=site, analyte=analyte, method_change=m.date().isoformat(),
                       days=tuple(d.date().isoformat() for d in sorted(v["days"])),
                       checks=dict(sorted(v["checks"].items(), key=lambda kv: order[kv[0]])))
             for m, v in sorted(short.items())]
    return AlertEvaluation(out, notes)


def _between(x: pd.Series, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> pd.Series:
    idx = pd.DatetimeIndex(x.index).normalize()
    keep = np.ones(len(x), dtype=bool)
    if lo is not None:
        keep &= idx >= lo
    if hi is not None:
        keep &= idx < hi
    return x[keep]


def _dumping_days(series: pd.Series, censored: pd.Series | None, start: pd.Timestamp,
                  end: pd.Timestamp, ratio_pair: tuple[pd.Series, pd.Series, str, str] | None, rate: float
                  ) -> dict[pd.Timestamp, dict[str, Any]]:
    from wastewater.stats._series import InsufficientDataError
    from wastewater.stats.dumping import flag_dumping

    kwargs: dict[str, Any] = {}
    if ratio_pair is not None:
        parent, metabolite, pn, mn = ratio_pair
        kwargs = {"parent": parent, "metabolite": metabolite, "parent_name": pn,
                  "metabolite_name": mn}
    for attempt in (kwargs, {}):
        try:
            res = flag_dumping(series, event_start=start, event_end=end, censored=censored,
                               extra_days_after=DUMPING_DAYS_AFTER,
                               false_alarm_rate_per_day=rate, **attempt)
            break
        except (InsufficientDataError, ValueError, TypeError):
            if not attempt:
                return {}
    else:  # pragma: no cover
        return {}
    days = res.days
    out = {}
    for day, row in days[days["flagged"]].iterrows():
        out[pd.Timestamp(day).normalize()] = {
            "z_load": row.get("z_load"), "expected": row.get("expected_load"),
            "z_ratio": row.get("z_ratio"), "ratio": row.get("ratio"),
            "threshold": res.z_threshold, "false_alarm_rate": rate,
            "reason": row.get("reason"), "method": res.method}
    return out


# --------------------------------------------------------------------------- messages


def _iso_week(date: str) -> str:
    y, w, _ = pd.Timestamp(date).isocalendar()
    return f"{y}-W{w:02d}"


def _fmt(x: Any, lang: str, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    text = f"{float(x):.{digits}f}"
    return text.replace(".", ",") if lang == "sv" else text


def render_alert(alert: dict[str, Any], *, lang: str, role: str, link: str | None = None,
                 analyte_label: str | None = None, site_label: str | None = None
                 ) -> dict[str, Any]:
    """Subject, plain text and JSON body of ``alert`` for one subscriber.

    A ``public`` subscriber sees the ISO week, the kind and the site, never the day or a
    value (the public see weekly means only); keys (``viewer`` and above) see the day, the
    value and the statistics.

    Returns
    -------
    dict
        ``subject, text, json`` (``json`` is what a webhook receives).
    """
    sv = lang == "sv"
    kind_text = KIND_TEXT[alert["kind"]][0 if sv else 1]
    site = site_label or alert["site"]
    analyte = analyte_label or alert["analyte"]
    public = role == "public"
    when = _iso_week(alert["date"]) if public else alert["date"]
    if sv:
        subject = f"Larm: {kind_text} – {analyte} vid {site} ({'vecka ' if public else ''}{when})"
    else:
        subject = f"Alert: {kind_text} – {analyte} at {site} ({'week ' if public else ''}{when})"
    lines = [subject, ""]
    reason = alert.get("reason_sv" if sv else "reason_en") or ""
    if not public and reason:
        lines.append(reason)
    elif public:
        lines.append("Veckovärden finns i översikten." if sv
                     else "Weekly values are in the dashboard.")
    if link:
        lines += ["", ("Se: " if sv else "See: ") + link]
    lines += ["", "Automatiskt meddelande från avloppsvattenövervakningen; svara inte."
              if sv else "Automatic message from the wastewater monitoring service; do not reply."]
    body: dict[str, Any] = {"alert_id": alert.get("alert_id"), "kind": alert["kind"],
                            "site": alert["site"], "analyte": alert["analyte"],
                            "iso_week": _iso_week(alert["date"]), "subject": subject,
                            "lang": lang}
    if not public:
        body.update(date=alert["date"], variable=alert.get("variable"),
                    value=alert.get("value"), upload_id=alert.get("upload_id"),
                    event_id=alert.get("event_id"), statistics=alert.get("statistics") or {},
                    reason=reason)
    if link:
        body["link"] = link
    return {"subject": subject, "text": "\n".join(lines), "json": body}


def render_digest(alerts: Sequence[dict[str, Any]], *, day: str, lang: str, role: str,
                  link: str | None = None) -> dict[str, Any]:
    """Subject, plain text and JSON of one daily digest: every alert of ``day`` a subscriber
    may receive, one line each (as :func:`render_alert` words it for ``role``).

    ``alerts`` are already filtered by :func:`wastewater.access.alert_receivable`; a ``public`` subscriber
    gets the ISO week, kind, substance and site of each, never a day or a value.

    Returns
    -------
    dict
        ``subject, text, json`` (``json``: ``day, lang, n_alerts, alerts``).
    """
    sv = lang == "sv"
    n = len(alerts)
    if sv:
        subject = f"Larm {day}: {n} {'nytt larm' if n == 1 else 'nya larm'}"
        intro = f"Larm som togs fram {day} (UTC) ur nya uppladdningar:"
    else:
        subject = f"Alerts {day}: {n} new alert{'' if n == 1 else 's'}"
        intro = f"Alerts raised on {day} (UTC) by new uploads:"
    lines = [subject, "", intro, ""]
    items = []
    for alert in sorted(alerts, key=lambda a: (a["site"], a["analyte"], a["date"], a["kind"])):
        one = render_alert(alert, lang=lang, role=role)
        head = one["subject"].split(": ", 1)[1] if ": " in one["subject"] else one["subject"]
        lines.append(f"- {head}")
        if role != "public":
            reason = alert.get("reason_sv" if sv else "reason_en") or ""
            if reason:
                lines.append(f"  {reason}")
        items.append(one["json"])
    if link:
        lines += ["", ("Se: " if sv else "See: ") + link]
    lines += ["", "Daglig sammanställning från avloppsvattenövervakningen; svara inte."
              if sv else "Daily digest from the wastewater monitoring service; do not reply."]
    return {"subject": subject, "text": "\n".join(lines),
            "json": {"day": day, "lang": lang, "n_alerts": n, "alerts": items}}


def reason_texts(candidate: AlertCandidate) -> tuple[str, str]:
    """Swedish and English sentence saying why ``candidate`` was raised, with its numbers."""
    st = candidate.statistics
    k = candidate.kind
    if k == "unusually_high":
        ratio = (candidate.value / st["baseline_median"]) if st.get("baseline_median") else float("nan")
        n = st.get("n_history")
        rate = st.get("false_alarm_rate", 0.01)
        return (f"{_fmt(ratio, 'sv', 1)} gånger medianen för samma veckodag de senaste {n} "
                f"veckorna (robust z {_fmt(st.get('robust_z'), 'sv')} > "
                f"{_fmt(st.get('threshold'), 'sv')}; falsklarmrisk {_fmt(rate * 100, 'sv', 1)} % per dag).",
                f"{_fmt(ratio, 'en', 1)} times the median of the same weekday over the last {n} "
                f"weeks (robust z {_fmt(st.get('robust_z'), 'en')} > "
                f"{_fmt(st.get('threshold'), 'en')}; false-alarm rate {_fmt(rate * 100, 'en', 1)} % per day).")
    if k == "outside_history":
        ratio = candidate.value / st["median"] if st.get("median") else float("nan")
        high = st.get("direction") == "high"
        n = st.get("n_history")
        return (f"{_fmt(ratio, 'sv', 2)} gånger medianen av platsens {n} senaste värden "
                f"({'högre' if high else 'lägre'} än allt som brukar förekomma; robust z "
                f"{_fmt(st.get('robust_z'), 'sv')}). Kontrollera enhet och utspädning.",
                f"{_fmt(ratio, 'en', 2)} times the median of the site's last {n} values "
                f"({'higher' if high else 'lower'} than anything usual; robust z "
                f"{_fmt(st.get('robust_z'), 'en')}). Check the unit and the dilution.")
    if k == "method_change":
        pct = st.get("relative_change", float("nan")) * 100
        return (f"Nivån ändrades med {_fmt(pct, 'sv', 0)} % från och med uppladdningens första dag "
                f"(p = {st.get('p_value'):.1e}, {st.get('n_before')} dagar före, "
                f"{st.get('n_after')} efter) utan att metoden angavs som ändrad. Fråga labbet om "
                "metod eller kalibrering har bytts.",
                f"The level changed by {_fmt(pct, 'en', 0)} % from the upload's first day on "
                f"(p = {st.get('p_value'):.1e}, {st.get('n_before')} days before, "
                f"{st.get('n_after')} after) while the method column did not change. Ask the lab "
                "whether the method or calibration changed.")
    z = st.get("z_load")
    return (f"Dag under insatsen {candidate.event_id} med {_fmt(z, 'sv')} robusta "
            "standardavvikelser över det väntade för veckodagen; kan vara narkotika som spolats "
            "ner snarare än bruk. Utesluts från effektskattningen.",
            f"Day during operation {candidate.event_id}, {_fmt(z, 'en')} robust standard "
            "deviations above the expected value for the weekday; may be drugs flushed away "
            "rather than use. Excluded from the effect estimate.")


# --------------------------------------------------------------------------- webhook signature


def sign_webhook(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 [RFC2104]_ keyed with ``secret`` over ``"<timestamp>." + body``.

    The timestamp is inside the signed text so a captured request cannot be replayed later
    with a fresh timestamp; receivers should also refuse timestamps older than a few minutes.
    """
    mac = hmac.new(secret.encode("utf-8"), f"{int(timestamp)}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_webhook(secret: str, timestamp: str | int, body: bytes, signature: str, *,
                   now: float | None = None, tolerance_seconds: int = 300) -> bool:
    """Check a webhook's signature (constant-time) and that its timestamp is recent."""
    import time

    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign_webhook(secret, ts, body), signature or "")


def payload_bytes(payload: dict[str, Any]) -> bytes:
    """Canonical JSON bytes of a webhook body (sorted keys, UTF-8), the bytes that are signed."""
    return json.dumps(payload, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


_KIND_DAYS = {
    "unusually_high": ("{n} {dagar} ovanligt höga", "{n} {days} unusually high"),
    "outside_history": ("{n} {dagar} långt utanför platsens tidigare värden",
                        "{n} {days} far outside the site's history"),
    "method_change": ("möjligt omärkt metodbyte från {date}",
                      "possible unmarked method change from {date}"),
    "possible_dumping": ("{n} {dagar} med möjlig dumpning under en insats",
                         "{n} {days} of possible dumping during an operation"),
}


def summary_sentences(alerts: Sequence[dict[str, Any]], *, link: str | None = None
                      ) -> dict[str, str]:
    """One Swedish and one English sentence summing up an upload's alerts.

    >>> summary_sentences([{"kind": "unusually_high", "site": "SE-KAT-ROS",
    ...                     "analyte": "amphetamine", "date": "2025-03-05"}] * 2)["en"]
    '2 days unusually high for amphetamine at SE-KAT-ROS.'
    """
    if not alerts:
        return {"sv": "", "en": ""}
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for a in alerts:
        groups.setdefault((a["kind"], a["analyte"], a["site"]), []).append(a)
    sv_parts, en_parts = [], []
    for (kind, analyte, site), rows in groups.items():
        n = len(rows)
        date = min(r["date"] for r in rows)
        sv_t, en_t = _KIND_DAYS[kind]
        sv_parts.append(sv_t.format(n=n, dagar="dag" if n == 1 else "dagar", date=date)
                        + f" för {analyte} vid {site}")
        en_parts.append(en_t.format(n=n, days="day" if n == 1 else "days", date=date)
                        + f" for {analyte} at {site}")
    sv = "; ".join(sv_parts)
    en = "; ".join(en_parts)
    if link:
        sv += f"; se {link}"
        en += f"; see {link}"
    return {"sv": sv[0].upper() + sv[1:] + ".", "en": en[0].upper() + en[1:] + "."}
