"""Upload-time alerts around a laboratory method change (issue 12, "Method changes").

A method change multiplies what the laboratory reports (here ×2) from its first day on. Marked —
by the results' ``method`` column or by an event of kind ``method_change`` — it is found by
:func:`wastewater.alerts.marked_change_days`, i.e. :func:`wastewater.stats.effects.method_change_days`,
the rule the operation and trend tests use, and every alert compares a day only with values
of the same method. Unmarked, the step is what the ``method_change`` check is for.

Series are :func:`wastewater.stats.simulate.simulate_series` with its realistic defaults (AR(1)
φ = 0.5, sd 0.2 on the log scale, 10 % laboratory CV, Fri–Sun ×1.3, 5 % missing days, ~10 %
censored at LOQ/2), uploaded weekly as a lab sends them, or built by hand where a number is
checked exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from wastewater.alerts import evaluate_days, evaluate_upload, marked_change_days
from wastewater.stats.alerts import same_weekday_alerts
from wastewater.stats.effects import method_change_days
from wastewater.stats.simulate import simulate_series

HISTORY_DAYS = 84
WEEKS_AFTER = 12
N_SERIES = 40
CHANGE = pd.Timestamp("2024-01-01") + pd.Timedelta(days=HISTORY_DAYS)   # a Monday, 2024-03-25


def weekly_uploads(n_series: int, *, mark: str | None, factor: float = 2.0, seed0: int = 5000):
    """Alerts and notes of 12 weekly uploads after a ×``factor`` method change, per series.

    ``mark``: ``"labels"`` (the results' method column), ``"event"`` (the change's date, as a
    ``method_change`` event gives it) or ``None`` (unmarked).
    """
    rows = []
    for rep in range(n_series):
        df = simulate_series(n_days=HISTORY_DAYS + 7 * WEEKS_AFTER, start="2024-01-01",
                             seed=seed0 + rep, method_change_date=CHANGE,
                             method_change_factor=factor)
        s, c = df["load_mg_per_day_per_1000"], df["censored"]
        for week in range(WEEKS_AFTER):
            lo = CHANGE + pd.Timedelta(days=7 * week)
            hi = lo + pd.Timedelta(days=6)
            days = s.index[(s.index >= lo) & (s.index <= hi) & s.notna()]
            kw = {"labels": {"method_labels": df["method"]}, "event": {"method_changes": [CHANGE]},
                  None: {}}[mark]
            ev = evaluate_upload(s[s.index <= hi], days, site="SIM", analyte="a",
                                 censored=c[c.index <= hi], **kw)
            rows.append({"rep": rep, "week": week, "n_days": len(days),
                         "n_uncensored": int((~c.reindex(days).to_numpy(bool)).sum()),
                         "alerts": ev.alerts, "notes": ev.notes})
    return rows


def _count(rows, kind, weeks=None):
    return sum(a.kind == kind for r in rows if weeks is None or r["week"] in weeks
               for a in r["alerts"])


@pytest.fixture(scope="module")
def unmarked():
    return weekly_uploads(N_SERIES, mark=None)


@pytest.fixture(scope="module")
def marked():
    return weekly_uploads(N_SERIES, mark="labels")


def test_the_gap_an_unmarked_x2_step_alerts_on_the_days_after_it(unmarked):
    """Without a mark every day after a ×2 step is compared with the old method's history: the
    same-weekday rule fires on ~5 times its 1 % rate and outside_history far above its 0.1 %;
    and the step itself is found as a possible unmarked method change at its first upload."""
    n_days = sum(r["n_days"] for r in unmarked)
    assert 3100 < n_days < 3300                                 # 40 × 84 days less ~5 % missing
    high = _count(unmarked, "unusually_high") / n_days
    assert high > 0.04, high                                     # measured 0.052 (166 / 3191)
    assert _count(unmarked, "outside_history") >= 5              # measured 11; 0.1 % would be ~3
    first = [r for r in unmarked if r["week"] == 0]
    found = sum(any(a.kind == "method_change" for a in r["alerts"]) for r in first)
    assert found / len(first) >= 0.6, found                      # measured 30 of 40
    hit = next(a for r in first for a in r["alerts"] if a.kind == "method_change")
    assert hit.date == CHANGE.date().isoformat()
    assert 0.6 < hit.statistics["relative_change"] < 1.5         # ×2 = +100 %
    assert all(r["notes"] == [] for r in unmarked)


def test_a_marked_x2_change_raises_nothing_because_of_the_step(marked):
    """Marked by the method column: no method_change, no outside_history, and the same-weekday
    rule at its documented 1 % on the days it can test (only new-method values in the history)."""
    assert _count(marked, "method_change") == 0
    assert _count(marked, "outside_history") == 0
    # testable from the 5th week on: 4 same-weekday values of the new method
    late = [r for r in marked if r["week"] >= 4]
    n_late = sum(r["n_uncensored"] for r in late)
    high = _count(marked, "unusually_high", weeks=range(4, WEEKS_AFTER)) / n_late
    # binomial: 3 sd of the count at 0.01 on ~2 000 days is ±0.0067
    assert high <= 0.01 + 3 * math.sqrt(0.01 * 0.99 / n_late), (high, n_late)
    assert _count(marked, "unusually_high", weeks=range(4)) == 0
    for a in (a for r in marked for a in r["alerts"]):
        assert a.statistics["method_change"] == CHANGE.date().isoformat()
        assert a.statistics["n_history"] <= (pd.Timestamp(a.date) - CHANGE).days // 7


def test_the_method_column_and_a_method_change_event_give_the_same_alerts(marked):
    by_event = weekly_uploads(N_SERIES, mark="event")
    assert [[a.to_dict() for a in r["alerts"]] for r in by_event] == \
        [[a.to_dict() for a in r["alerts"]] for r in marked]
    assert [[n.to_dict() for n in r["notes"]] for r in by_event] == \
        [[n.to_dict() for n in r["notes"]] for r in marked]


def test_too_little_history_after_the_change_is_said_not_compared(marked):
    """The first upload after the change: nothing measured by the new method before it, so no
    check is made and the note says which and why, in Swedish and English."""
    r = next(r for r in marked if r["week"] == 0 and r["rep"] == 0)
    assert r["alerts"] == []
    (note,) = r["notes"]
    assert note.method_change == "2024-03-25"
    assert note.days[0] == "2024-03-25" and len(note.days) == r["n_uncensored"]
    assert note.checks["unusually_high"] == (0, 4)
    assert note.checks["outside_history"] == (0, 28)
    assert "method_change" not in note.checks          # a shift at the marked day is explained
    assert note.sentence_sv.startswith("Metodbytet 2024-03-25 är markerat för a vid SIM")
    assert "ovanligt högt: 0 av 4 värden för samma veckodag" in note.sentence_sv
    assert "Inget larm har prövats mot värden från före bytet." in note.sentence_sv
    assert "far outside the site's values: 0 of 28 values" in note.sentence_en
    d = note.to_dict()
    assert d["checks"]["outside_history"] == {"n_since_change": 0, "n_needed": 28}
    # a week later the shift test at the upload's first day has one week of new values before it
    r1 = next(r for r in marked if r["week"] == 1 and r["rep"] == 0)
    r0_values = r["n_uncensored"]
    (note1,) = r1["notes"]
    assert note1.checks["method_change"] == (r0_values, 28)
    assert note1.checks["outside_history"][0] >= r0_values
    # in week 4 most days have their 4 same-weekday values (a missing day leaves 3), but
    # fewer than 28 new values lie before them; from week 8 on every check has its history
    w4 = [n for r in marked if r["week"] == 4 for n in r["notes"]]
    assert N_SERIES // 2 <= len(w4) <= N_SERIES          # measured 32: some reach 28 values in the week
    assert all(n.checks["outside_history"][0] < 28 for n in w4)
    assert all(1 <= n.checks.get("unusually_high", (3, 4))[0] <= 3 for n in w4)
    assert not [n for r in marked if r["week"] >= 8 for n in r["notes"]]


def _hand_series(weeks_before: int = 8, weeks_after: int = 6, factor: float = 2.0):
    """Mon–Sun profile 10, 10, 10, 10, 13, 13, 13 with lognormal noise (sd 0.05, seeded),
    ×``factor`` from the marked change (a Monday) on; no missing day, no censoring."""
    n = 7 * (weeks_before + weeks_after)
    idx = pd.date_range("2025-01-06", periods=n, freq="D")            # a Monday
    prof = np.array([10, 10, 10, 10, 13, 13, 13], dtype=float)
    noise = np.exp(np.random.default_rng(12).normal(0.0, 0.05, n))
    step = np.where(np.arange(n) >= 7 * weeks_before, factor, 1.0)
    return pd.Series(prof[idx.day_of_week] * noise * step, index=idx), idx[7 * weeks_before]


def _same_weekday_median(s: pd.Series, day: pd.Timestamp, weeks: int) -> float:
    return float(np.exp(np.median(np.log([s[day - pd.Timedelta(days=7 * k)] for k in range(1, weeks + 1)]))))


def test_same_weekday_history_starts_at_the_marked_change_by_hand():
    s, change = _hand_series()
    out = same_weekday_alerts(s, method_changes=[change])
    day = change + pd.Timedelta(days=7 * 2)                            # 2 weeks into the new method
    assert out.loc[day, "n_history"] == 2 and out.loc[day, "n_history_cut"] == 6
    assert math.isnan(out.loc[day, "robust_z"]) and not out.loc[day, "alert"]
    assert out.loc[day, "segment_start"] == change
    day5 = change + pd.Timedelta(days=7 * 5)
    assert out.loc[day5, "n_history"] == 5 and out.loc[day5, "n_history_cut"] == 3
    # the median of the 5 new-method Mondays before it (≈ 2 × 10)
    want = _same_weekday_median(s, day5, 5)
    assert out.loc[day5, "baseline_median_mg_per_day_per_1000"] == pytest.approx(want)
    assert 18 < want < 22
    before = change - pd.Timedelta(days=1)
    assert pd.isna(out.loc[before, "segment_start"]) and out.loc[before, "n_history_cut"] == 0
    # without the mark every day of the first new-method week is compared with old values and
    # alerts; with it, no day of the series does
    plain = same_weekday_alerts(s)
    assert plain.loc[change:change + pd.Timedelta(days=6), "alert"].all()
    assert not out["alert"].any()


def test_a_real_spike_after_the_marked_change_is_still_found_against_the_new_level():
    s, change = _hand_series()
    spike_day = change + pd.Timedelta(days=7 * 5 + 2)                  # a Wednesday, 5 weeks in
    s[spike_day] *= 3
    days = s.index[s.index >= change + pd.Timedelta(days=7 * 5)]
    ev = evaluate_upload(s, days, site="X", analyte="a", method_changes=[change])
    high = [a for a in ev.alerts if a.kind == "unusually_high"]
    assert [a.date for a in high] == [spike_day.date().isoformat()]
    st = high[0].statistics
    # the baseline is the new method's 5 Wednesdays (≈ 2 × 10), not the old method's
    assert st["baseline_median"] == pytest.approx(_same_weekday_median(s, spike_day, 5))
    assert st["n_history"] == 5 and st["method_change"] == change.date().isoformat()
    assert 2.5 < high[0].value / st["baseline_median"] < 3.5
    # outside_history: 37 new-method values before the spike (≥ 28), none of the old method
    far = [a for a in ev.alerts if a.kind == "outside_history"]
    assert [a.date for a in far] == [spike_day.date().isoformat()]
    assert far[0].statistics["n_history"] == 37
    assert "method_change" not in {a.kind for a in ev.alerts} and ev.notes == []


def test_a_marked_change_is_the_same_day_in_every_analysis():
    labels = pd.Series(["v1", "v1", None, "v2", "v2", "", "v3"],
                       index=pd.date_range("2025-03-01", periods=7, freq="D"))
    want = [pd.Timestamp("2025-03-04"), pd.Timestamp("2025-03-07")]
    assert marked_change_days(method_labels=labels) == want
    days = method_change_days(method_labels=labels)
    assert [pd.Timestamp(np.datetime64(d, "D")) for d in days] == want
    assert marked_change_days(["2025-03-04"], labels) == want                # event + column: once


def test_an_upload_that_starts_the_new_method_needs_no_event():
    """``method_marked``: the upload's first day is the first day of the new method."""
    s, change = _hand_series(weeks_after=1)
    days = s.index[s.index >= change]
    assert {a.kind for a in evaluate_days(s, days, site="X", analyte="a")} >= {
        "unusually_high", "method_change"}
    ev = evaluate_upload(s, days, site="X", analyte="a", method_marked=True)
    assert ev.alerts == [] and ev.notes[0].method_change == change.date().isoformat()


def test_dumping_baseline_does_not_cross_a_marked_change():
    """An operation 10 days after a ×2 change: the dumping baseline would be mostly old-method
    days; with the mark it has 10 new-method days (< 14 needed), so no flag and a note."""
    s, change = _hand_series(weeks_after=3)
    start = change + pd.Timedelta(days=10)
    op = {"event_id": "OP", "kind": "operation", "start": start, "end": start + pd.Timedelta(days=2),
          "sites": [], "substances": []}
    days = s.index[(s.index >= start) & (s.index <= start + pd.Timedelta(days=5))]
    plain = evaluate_upload(s, days, site="X", analyte="a", events=[op], shift_test=False)
    assert any(a.kind == "possible_dumping" for a in plain.alerts)     # every day is ×2 the baseline
    ev = evaluate_upload(s, days, site="X", analyte="a", events=[op], shift_test=False,
                         method_changes=[change])
    assert not [a for a in ev.alerts if a.kind == "possible_dumping"]
    (note,) = ev.notes
    assert note.checks["possible_dumping"] == (10, 14)


def test_method_labels_of_many_analytes_in_one_pass_by_hand():
    from wastewater.readers import method_labels

    res = pd.DataFrame({
        "analyte": ["a", "a", "a", "a", "b", "b", "a"],
        "sample_date": pd.to_datetime(["2025-03-01", "2025-03-02", "2025-03-02", "2025-03-03",
                                       "2025-03-01", "2025-03-02", "2025-03-04"]),
        "method": ["v1", "v2", "v1", " ", None, "x", "v2"]})
    labels = method_labels(res)
    assert set(labels) == {"a", "b"}
    # 03-02 has two labels: the first in code-point order (v1); 03-03 is blank, left out
    assert labels["a"].to_dict() == {pd.Timestamp("2025-03-01"): "v1", pd.Timestamp("2025-03-02"): "v1",
                                     pd.Timestamp("2025-03-04"): "v2"}
    assert marked_change_days(method_labels=labels["a"]) == [pd.Timestamp("2025-03-04")]
    assert labels["b"].to_dict() == {pd.Timestamp("2025-03-02"): "x"}
    assert method_labels(res.drop(columns="method")) == {}
