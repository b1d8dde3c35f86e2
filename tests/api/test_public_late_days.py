"""A day that reaches the database after its week was published never enters a public figure.

A week with a missing day is public two weeks after its Sunday. If the missing day arrived after
that, the week's public mean would move, and the two readings, before and after, would give the
day's value: 7·m₇ − 6·m₆. The attacker here reads the public weekly means, waits for a late
result (and a late flow), and reads again, through the API and the dashboard's CSV. A lab's
correction of a day that was there in time does go in: the published figures follow
corrections. Dates are relative to today (the rule runs on the real date, as in production), on
SQLite and PostgreSQL; the upload times of the first data are set back to before the week's
release, as a lab that sent them in time would have.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from api_fixtures import make_clients, put, sites_df

from wastewater import access
from wastewater.storage import tables as t
from wastewater.storage.repository import first_stored

B = "/api/v1"
TODAY = dt.date.today()
MONDAY = TODAY - dt.timedelta(days=TODAY.weekday() + 35)   # week W: its Sunday 29-35 days ago
SUNDAY = MONDAY + dt.timedelta(days=6)
TUESDAY = MONDAY + dt.timedelta(days=1)
RELEASE = SUNDAY + dt.timedelta(days=access.PUBLIC_WEEK_CLOSED_AFTER_DAYS)
IN_TIME = dt.datetime.combine(SUNDAY + dt.timedelta(days=2), dt.time(9, 0), tzinfo=dt.UTC)
FIRST = MONDAY - dt.timedelta(days=28)
LAST = SUNDAY + dt.timedelta(days=7)
QUERY = f"site=SE-BIG&analyte=benzoylecgonine&from={MONDAY}&to={SUNDAY}"


def _results(days, values) -> pd.DataFrame:
    return pd.DataFrame({
        "sample_id": [f"SE-BIG-{d:%Y%m%d}" for d in days], "site": "SE-BIG",
        "sample_date": pd.DatetimeIndex(days).astype("datetime64[ns]"), "analyte": "benzoylecgonine",
        "replicate": 1, "value_ng_per_l": values, "censor": "none", "loq_ng_per_l": 10.0,
        "lod_ng_per_l": 1.0, "flow_m3_per_day": np.nan, "composite_hours": 24, "sample_role": "sample",
        "lab": "Lab A", "method": "LC-MS/MS", "comment": None,
        "original_value": [f"{v:g}" for v in values], "original_unit": "ng/L"})


def _flows(days) -> pd.DataFrame:
    return pd.DataFrame({"site": "SE-BIG", "date": pd.DatetimeIndex(days).astype("datetime64[ns]"),
                         "flow_m3_per_day": 10_000.0})


def _value(day: pd.Timestamp) -> float:
    return 100.0 + (day - pd.Timestamp(FIRST)).days  # 100, 101, ... ng/L


@pytest.fixture
def clients(engine):
    put(engine, "sites", sites_df(), "sites")
    every = pd.date_range(FIRST, LAST, freq="D")
    days = every[every != pd.Timestamp(SUNDAY)]              # W's Sunday comes late
    put(engine, "flows", _flows(every[every != pd.Timestamp(TUESDAY)]), "flows")   # and W's Tuesday flow
    put(engine, "results", _results(days, [_value(d) for d in days]), "results")
    with engine.begin() as conn:  # the lab sent all of it two days after W's Sunday
        conn.execute(sa.update(t.uploads).values(uploaded_at=IN_TIME))
        for table in (t.results, t.flows):
            conn.execute(sa.update(table).values(stored_at=IN_TIME))
    return engine, make_clients(engine)


def _week(client, measure: str) -> dict:
    body = client.get(f"{B}/series?{QUERY}&measure={measure}").json()
    (point,) = body["points"]
    return point


def test_late_day_and_late_flow_leave_the_published_week_as_it_was(clients):
    engine, cl = clients
    mon_to_sat = [pd.Timestamp(MONDAY) + pd.Timedelta(days=i) for i in range(6)]
    conc = _week(cl["public"], "concentration")
    load = _week(cl["public"], "load_per_1000")
    assert conc["n_days"] == 6 and conc["concentration_ng_per_l"] == pytest.approx(
        np.mean([_value(d) for d in mon_to_sat]))
    assert load["n_days"] == 5  # Tuesday has no flow yet
    csv_path = f"/dashboard/data/trend.csv?site=SE-BIG&analyte=benzoylecgonine&measure=concentration" \
               f"&start={FIRST}&end={LAST}"
    first_csv = cl["public"].get(csv_path)
    assert first_csv.status_code == 200 and MONDAY.isoformat() in first_csv.text

    # 20+ days after W's release: the Sunday's result and the Tuesday's flow arrive
    put(engine, "results", _results([pd.Timestamp(SUNDAY)], [5000.0]), "late-sunday")
    put(engine, "flows", _flows([pd.Timestamp(TUESDAY)]), "late-flow")
    assert _week(cl["public"], "concentration") == conc
    assert _week(cl["public"], "load_per_1000") == load
    assert cl["public"].get(csv_path).text == first_csv.text
    # with a key the day and the flow are there: what the public would have diffed
    daily = cl["analyst"].get(f"{B}/series?{QUERY}&measure=concentration").json()["points"]
    assert len([p for p in daily if p["concentration_ng_per_l"] is not None]) == 7
    daily_load = cl["analyst"].get(f"{B}/series?{QUERY}&measure=load_per_1000").json()["points"]
    assert sum(p["load_mg_per_day_per_1000"] is not None for p in daily_load) == 7

    # the lab corrects Monday (it was there in time): the public week follows the correction
    put(engine, "results", _results([pd.Timestamp(MONDAY)], [400.0]), "correction")
    fixed = _week(cl["public"], "concentration")
    expected = np.mean([400.0] + [_value(d) for d in mon_to_sat[1:]])
    assert fixed["n_days"] == 6 and fixed["concentration_ng_per_l"] == pytest.approx(expected)


def test_first_stored_keeps_the_first_arrival_of_a_corrected_day(clients):
    engine, _ = clients
    put(engine, "results", _results([pd.Timestamp(MONDAY)], [400.0]), "correction")
    put(engine, "flows", _flows([pd.Timestamp(TUESDAY)]), "late-flow")
    stored = first_stored(engine, ["SE-BIG"], ["benzoylecgonine"], MONDAY, SUNDAY).set_index("date")
    assert list(stored.index.date) == [MONDAY + dt.timedelta(days=i) for i in range(6)]  # no Sunday
    # Monday: corrected today, first stored in time (the superseded version counts)
    assert stored.loc[pd.Timestamp(MONDAY), "concentration_stored_at"] == pd.Timestamp(IN_TIME)
    assert stored.loc[pd.Timestamp(MONDAY), "flow_stored_at"] == pd.Timestamp(IN_TIME)
    tuesday_flow = stored.loc[pd.Timestamp(TUESDAY), "flow_stored_at"]
    assert tuesday_flow.date() >= TODAY - dt.timedelta(days=1)
    late = access.late_for_public(stored.index, stored["flow_stored_at"])
    assert late.tolist() == [False, True, False, False, False, False]
    assert TODAY >= RELEASE + dt.timedelta(days=14)


def test_composite_covers_its_days_from_its_sample_date(engine):
    put(engine, "sites", sites_df(), "sites")
    frame = _results([pd.Timestamp(MONDAY)], [200.0]).assign(composite_hours=72, sample_id="C-1")
    put(engine, "results", frame, "composite")
    stored = first_stored(engine, "SE-BIG", None, MONDAY + dt.timedelta(days=1), SUNDAY)
    assert list(stored["date"].dt.date) == [MONDAY + dt.timedelta(days=1), MONDAY + dt.timedelta(days=2)]
    assert stored["flow_stored_at"].isna().all()


def _late(days: list[str], stored: list[str], **kw) -> list[bool]:
    return access.late_for_public(days, pd.to_datetime(stored, utc=True, format="ISO8601"), **kw).tolist()


def test_when_a_week_was_first_public_decides_what_is_late():
    # week of Monday 2025-03-03; it closes at local midnight starting 2025-03-23
    week = [f"2025-03-0{d}" for d in range(3, 10)]
    # complete before its release: public at the seventh arrival; a correction later is no new day
    assert _late(week, ["2025-03-10"] * 6 + ["2025-03-12"]) == [False] * 7
    # six by the release, the seventh after it: late
    assert _late(week, ["2025-03-10"] * 6 + ["2025-03-24 12:00"]) == [False] * 6 + [True]
    # one day by the release is not enough to publish (two needed): the week is first public when
    # the second day arrives, and only a third one after that is late
    assert _late(week[:3], ["2025-03-10", "2025-04-20", "2025-04-21"]) == [False, False, True]
    # a backfill of a whole old week, long after its release: every day of it is public
    assert _late(week, ["2026-11-30 10:00"] * 7) == [False] * 7
    # the series are separate weeks; missing times (no figure) are never late
    assert _late(week[:3] * 2, ["2025-03-10", "2025-03-10", "2025-04-01",
                                "2025-04-01", "2025-04-01", None],
                 series=["a"] * 3 + ["b"] * 3) == [False, False, True, False, False, False]
    # an upload is visible at its commit: one that started half an hour before the release's local
    # midnight may commit after it and counts as late; one that started an hour and a half before does not
    for started, late in ((dt.time(23, 30), True), (dt.time(22, 30), False)):
        at = dt.datetime.combine(dt.date(2025, 3, 22), started).astimezone().astimezone(dt.UTC)
        assert _late(week, ["2025-03-10"] * 6 + [at.isoformat()]) == [False] * 6 + [late]
    # a deployment's closing time moves the release
    assert _late(week, ["2025-03-10"] * 6 + ["2025-03-24 12:00"],
                 rule=access.PublicRule(closed_after_days=21)) == [False] * 7


def test_backfilled_history_is_public(engine):
    """A kommun joining with two years of results uploads them at once: all of it is public."""
    put(engine, "sites", sites_df(), "sites")
    every = pd.date_range(FIRST, LAST, freq="D")
    put(engine, "flows", _flows(every), "flows")
    put(engine, "results", _results(every, [_value(d) for d in every]), "backfill")
    cl = make_clients(engine)
    point = _week(cl["public"], "concentration")
    assert point["n_days"] == 7 and point["concentration_ng_per_l"] == pytest.approx(
        np.mean([_value(pd.Timestamp(MONDAY) + pd.Timedelta(days=i)) for i in range(7)]))


def test_public_report_does_not_move_with_a_late_day(clients):
    """The tertial report published on the kommun's and the police's web pages, before and after the late day."""
    from dashboards.report import build_report, current_tertial

    engine, _ = clients
    year, tertial = current_tertial(MONDAY)
    before = build_report(engine, year, tertial, lang="sv", cache=False)
    put(engine, "results", _results([pd.Timestamp(SUNDAY)], [5000.0]), "late-sunday")
    put(engine, "flows", _flows([pd.Timestamp(TUESDAY)]), "late-flow")
    assert build_report(engine, year, tertial, lang="sv", cache=False) == before
