"""Tertial changes of the follow-up report: a 95 % interval on each change (hand-computed), the
"too little data" state, no per-year trend from less than 12 months, and the report form's
default (the latest tertial with data, not today's)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from wastewater.summaries import MIN_WEEKS_PER_PERIOD, period_change


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from dashboards.demo import load_demo
    from wastewater.storage.database import get_engine, upgrade

    engine = get_engine(f"sqlite:///{tmp_path_factory.mktemp('tertials') / 'demo.db'}")
    upgrade(engine)
    load_demo(engine)
    yield engine
    engine.dispose()


def test_period_change_interval_by_hand():
    """Week means 1, 1.1, 0.9, 1 (sd² = 0.02/3) against the same doubled: R = 2,
    Var(log R) = 2 · (0.02/3)/4 = 1/300, df = 6 (Welch–Satterthwaite), t₀.₉₇₅,₆ = 2.446912."""
    wk = np.repeat([1.0, 1.1, 0.9, 1.0], 7)
    prev = pd.Series(wk, pd.date_range("2025-01-06", periods=28))
    cur = pd.Series(2 * wk, pd.date_range("2025-02-03", periods=28))
    r = period_change(cur, prev)
    half = 2.446912 * math.sqrt(1 / 300)
    assert r["change_percent"] == pytest.approx(100.0)
    assert r["ci_low_percent"] == pytest.approx((2 * math.exp(-half) - 1) * 100, abs=1e-4)
    assert r["ci_high_percent"] == pytest.approx((2 * math.exp(half) - 1) * 100, abs=1e-4)


def test_one_intensive_week_is_too_little_data():
    """A week of daily sampling (7 values) is one week, not seven data points: too little data."""
    prev = pd.Series(1.0 + 0.1 * np.sin(np.arange(120)), pd.date_range("2025-05-01", periods=120))
    week = pd.Series(1.65, pd.date_range("2025-09-08", periods=7))
    r = period_change(week, prev)
    assert (r["enough"], r["n_weeks"]) == (False, 1)
    assert math.isnan(r["change_percent"])
    three = pd.Series(1.0, pd.date_range("2025-09-01", periods=21))
    assert period_change(three, prev)["n_weeks"] == MIN_WEEKS_PER_PERIOD - 1
    assert not period_change(three, prev)["enough"]


def test_report_says_too_little_data_and_no_short_trend(demo):
    from dashboards import data as D
    from dashboards.report import _change_cell, _trend_cell, tertial_changes

    # the data cut after 21 September: T3 has three weeks (1–21 Sep)
    ds = D.site_dataset(demo, ["SE-KAT-ROS"], start=dt.date(2025, 5, 1), end=dt.date(2025, 9, 21))
    c = tertial_changes(ds, "SE-KAT-ROS", dt.date(2025, 9, 1), dt.date(2025, 12, 31),
                        dt.date(2025, 5, 1), dt.date(2025, 8, 31))
    assert len(c) >= 5 and set(c["change_class"]) == {"too little data"}
    row = next(c.itertuples(index=False))
    assert _change_cell(row, "sv") == "för lite data (3 mätveckor, minst 4 behövs)"
    assert _change_cell(row, "en") == "too little data (3 weeks of measurements, at least 4 needed)"
    # 5 months of data: no trend per year
    assert c["trend"].isna().all()
    assert _trend_cell(row, "sv") == "– (kräver 12 månaders data)"


def test_trend_only_from_a_year_of_data(demo):
    from dashboards import data as D
    from dashboards.report import tertial_changes

    ds = D.site_dataset(demo, ["SE-KAT-ROS"], start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31))
    t3 = tertial_changes(ds, "SE-KAT-ROS", dt.date(2025, 9, 1), dt.date(2025, 12, 31),
                         dt.date(2025, 5, 1), dt.date(2025, 8, 31))
    t2 = tertial_changes(ds, "SE-KAT-ROS", dt.date(2025, 5, 1), dt.date(2025, 8, 31),
                         dt.date(2025, 1, 1), dt.date(2025, 4, 30))
    assert t3["trend"].notna().all()  # 2025-01-01 … 2025-12-31 covers the 12 months
    assert t2["trend"].isna().all()   # 8 months
    assert t2["enough"].all() and (t2["change_low"] < t2["change_percent"]).all()
    assert (t2["change_percent"] < t2["change_high"]).all()


def test_report_form_defaults_to_the_latest_tertial_with_data(demo):
    from fastapi.testclient import TestClient

    from service.app import create_app
    from wastewater.settings import Settings

    client = TestClient(create_app(Settings(database_url=demo.url.render_as_string(hide_password=False)), engine=demo))
    html = client.get("/dashboard/report").text
    assert 'name="year" type="number" min="2000" max="2100" value="2025"' in html
    assert '<option value="3" selected>T3 (sep–dec)</option>' in html
    assert "Data finns till och med 2025-12-31 (senaste tertialen med data: T3 2025)." in html


def test_suspected_dumping_on_a_sparsely_sampled_site():
    """Saturdays only, plus a week of daily sampling around a raid: 8 weeks hold 8 baseline days,
    so the half-year baseline is used; the two spiked days of the raid are flagged, a spike
    outside every operation window (and its days after) is not looked at."""
    from wastewater.stats.dumping import suspected_dumping_days

    rng = np.random.default_rng(7)
    sat = pd.date_range("2025-01-04", "2025-12-27", freq="7D")
    daily = pd.date_range("2025-09-01", "2025-09-07")
    idx = sat.union(daily)
    load = pd.Series(np.exp(np.log(38.0) + rng.normal(0, 0.1, len(idx))), idx)
    load["2025-09-03"] *= 8
    load["2025-09-04"] *= 10
    load["2025-11-01"] *= 10  # no operation then
    ops = [{"event_id": "EV-5", "start": "2025-09-03", "end": "2025-09-05"}]
    out = suspected_dumping_days(load, ops, days_after=3)
    assert out["date"].dt.strftime("%Y-%m-%d").tolist() == ["2025-09-03", "2025-09-04"]
    assert set(out["event_id"]) == {"EV-5"} and out["reason"].str.contains("same-weekday baseline").all()
    assert suspected_dumping_days(load, [], days_after=3).empty


def test_report_changes_leave_suspected_dumping_out(demo):
    """The analyst T3 change of cocaine at the small catchment PS1 (Saturdays plus 1–7 September
    daily, cocaine × 15 on 3–4 September during EV-2025-05): without those two days, the change
    is period_change of the series without them."""
    from dashboards import data as D
    from dashboards.report import _dumping_note, tertial_changes
    from wastewater.access import Principal
    from wastewater.settings import Settings

    viewer = D.Viewer(engine=demo, settings=Settings(),
                      principal=Principal(name="a", role="analyst", sites=None, key_id=None))
    ds = D.site_dataset(demo, ["SE-KAT-PS1"], start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31))
    ops = D.events_frame(viewer, site="SE-KAT-PS1", start=dt.date(2025, 4, 28), end=dt.date(2025, 12, 31),
                         kinds=("operation",))
    args = ("SE-KAT-PS1", dt.date(2025, 9, 1), dt.date(2025, 12, 31), dt.date(2025, 5, 1), dt.date(2025, 8, 31))
    kept = tertial_changes(ds, *args, operations=ops).set_index("analyte")
    raw = tertial_changes(ds, *args).set_index("analyte")
    dumped = [pd.Timestamp("2025-09-03"), pd.Timestamp("2025-09-04")]
    for analyte in ("cocaine", "benzoylecgonine", "mdma"):  # BE: its parent cocaine's days
        assert kept.loc[analyte, "dumping_dates"] == dumped
        assert kept.loc[analyte, "dumping_events"] == ["EV-2025-05"]
        assert raw.loc[analyte, "dumping_dates"] == []
    values, _ = D.stats_series(ds, "SE-KAT-PS1", "cocaine")
    clean = values.drop(dumped)
    expected = period_change(clean["2025-09-01":"2025-12-31"], clean["2025-05-01":"2025-08-31"])
    assert kept.loc["cocaine", "change_percent"] == pytest.approx(expected["change_percent"])
    assert kept.loc["cocaine", "change_percent"] < raw.loc["cocaine", "change_percent"] - 10
    assert kept.loc["cocaine", "n_days"] == raw.loc["cocaine", "n_days"] - 2
    rows = pd.DataFrame([{"site": "PS1", "analyte": "Kokain", "dumping_dates": dumped,
                          "dumping_events": ["EV-2025-05"]}])
    assert "Kokain vid PS1: 2025-09-03, 2025-09-04 (EV-2025-05)" in _dumping_note(rows, "sv", public=False)
    public = _dumping_note(rows, "sv", public=True)
    assert "Kokain vid PS1: 2 dygn (EV-2025-05)" in public and "2025-09-03" not in public
    english = _dumping_note(rows, "en", public=True)
    assert "Days removed:" in english and "Kokain at PS1: 2 days (EV-2025-05)" in english
    assert _dumping_note(rows.assign(dumping_dates=[[]]), "sv", public=True) == ""


def test_public_tertial_means_do_not_move_by_one_day(demo):
    """A running tertial's public mean is over whole closed public weeks only: the reading after
    one more day of data equals the one before (the day's week is not closed yet), while the
    analyst's mean over the days so far moves by exactly that day's share."""
    from dashboards import data as D
    from dashboards.report import tertial_changes
    from wastewater.access import PublicRule

    site, args = "SE-KAT-ROS", (dt.date(2025, 9, 1), dt.date(2025, 12, 31), dt.date(2025, 5, 1),
                                dt.date(2025, 8, 31))
    # Wednesday 15 October 2025 and Thursday 16 October: readings one upload (day) apart
    day1, day2 = dt.date(2025, 10, 15), dt.date(2025, 10, 16)
    before = D.site_dataset(demo, [site], start=dt.date(2025, 4, 28), end=day1)
    after = D.site_dataset(demo, [site], start=dt.date(2025, 4, 28), end=day2)
    rule = PublicRule()
    pub = [tertial_changes(d, site, *args, public=rule, today=t).set_index("analyte")
           for d, t in ((before, day1), (after, day2))]
    ana = [tertial_changes(d, site, *args).set_index("analyte") for d in (before, after)]
    values, _ = D.stats_series(after, site, "benzoylecgonine")
    new_day = values[pd.Timestamp(day2)]
    assert not math.isnan(new_day)
    a0, a1 = ana[0].loc["benzoylecgonine"], ana[1].loc["benzoylecgonine"]
    assert a1["n_days"] == a0["n_days"] + 1  # the analyst view moves by the new day ...
    assert a1["mean"] * a1["n_days"] - a0["mean"] * a0["n_days"] == pytest.approx(new_day)
    for analyte in pub[0].index:  # ... the public one does not move at all
        for col in ("mean", "prev_mean", "change_percent", "n_days", "n_weeks"):
            assert pub[0].loc[analyte, col] == pytest.approx(pub[1].loc[analyte, col], nan_ok=True), (analyte, col)
    # the public mean is over the closed weeks only: the daily-sampled weeks up to Sunday
    # 12 October (a week with all seven days is closed at once; 13-19 October is still growing)
    p = pub[0].loc["benzoylecgonine"]
    closed = values["2025-09-01":"2025-10-12"].dropna()
    assert closed.size == 42
    assert p["n_days"] == closed.size and p["mean"] == pytest.approx(closed.mean())


def test_public_tertial_means_leave_a_dumping_week_out_whole(demo):
    """Public view: the week of a suspected dumping day is left out whole. At PS1 (Saturdays
    only, plus 1–7 September daily with cocaine × 15 on 3–4 September) the one week with two or
    more days is that dumping week, so the public table has no cocaine row at all, while the
    analyst's has one; and on a hand-made series the public mean is that of the other weeks."""
    from dashboards import data as D
    from dashboards.report import tertial_changes
    from wastewater.access import Principal, PublicRule, public_period_values
    from wastewater.settings import Settings

    viewer = D.Viewer(engine=demo, settings=Settings(),
                      principal=Principal(name="a", role="analyst", sites=None, key_id=None))
    ds = D.site_dataset(demo, ["SE-KAT-PS1"], start=dt.date(2025, 4, 28), end=dt.date(2026, 1, 4))
    ops = D.events_frame(viewer, site="SE-KAT-PS1", start=dt.date(2025, 4, 28), end=dt.date(2025, 12, 31),
                         kinds=("operation",))
    args = ("SE-KAT-PS1", dt.date(2025, 9, 1), dt.date(2025, 12, 31), dt.date(2025, 5, 1), dt.date(2025, 8, 31))
    analyst = tertial_changes(ds, *args, operations=ops).set_index("analyte")
    public = tertial_changes(ds, *args, operations=ops, public=PublicRule(),
                             today=dt.date(2026, 6, 1)).set_index("analyte")
    assert analyst.loc["cocaine", "dumping_dates"] == [pd.Timestamp("2025-09-03"), pd.Timestamp("2025-09-04")]
    assert "cocaine" not in public.index
    # three daily weeks 1-21 September 2025, a dumping day in the second: the first and third remain
    days = pd.date_range("2025-09-01", "2025-09-21")
    v = pd.Series(np.r_[np.full(7, 10.0), np.full(7, 200.0), np.full(7, 30.0)], index=days)
    kept = public_period_values(v, "2025-09-01", "2025-09-21", leave_out=["2025-09-10"],
                                today=dt.date(2025, 12, 1)).dropna()
    assert kept.size == 14 and kept.mean() == pytest.approx(20.0)


def test_analyst_report_says_the_smallest_detectable_drop_public_does_not(demo):
    """Each operation in the analyst report says the drop its sampling could detect (the test's
    minimum_detectable_drop_after, in the page's language); the public report does not (not a
    public field)."""
    import re

    from dashboards.report import build_report
    from wastewater.access import Principal

    analyst = Principal(name="a", role="analyst", sites=None, key_id=None)
    html = build_report(demo, 2025, 1, lang="sv", principal=analyst)
    found = re.findall(r'<p data-testid="detectable-drop">Med den här provtagningen \((\d+) provdygn efter '
                       r'insatsen\) kunde en minskning på minst (\d+) % upptäckas i 4 fall av 5', html)
    assert found, "no detectable-drop line in the analyst report"
    assert all(0 < int(drop) < 100 and int(n) > 0 for n, drop in found)
    # and the plan for the next one: the operations page's 8-week figure
    plans = re.findall(r'<span data-testid="next-operation">Vid nästa insats upptäcks, med provtagningen som '
                       r'den är nu, en minskning på minst (\d+) % med 8 veckors provtagning', html)
    assert plans and all(0 < int(p) < 100 for p in plans)
    public = build_report(demo, 2025, 1, lang="sv")
    assert 'data-testid="detectable-drop"' not in public and 'data-testid="next-operation"' not in public
