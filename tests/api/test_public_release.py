"""Public figures that rest on many days are published only once those days are fixed.

An operation's effect is public only once its follow-up period has closed; the risk-weekend
figures rest on the series up to a closed month end.

While the 56 days after an operation run, every new day sampled enters the published estimate:
two anonymous readings one upload apart would differ by that day's contribution, and together
with the published numbers of days they give the day's value. The attacker here reads the
operation effect, waits for the lab's next day, and reads again — through the API, the
dashboard's operations page and its CSV download. Data are dated relative to today (the rule
runs on the real date, as in production), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from api_fixtures import make_clients, put, sites_df

from wastewater import access

B = "/api/v1"
TODAY = dt.date.today()
FIRST = pd.Timestamp(TODAY - dt.timedelta(days=800))
RECENT_END = TODAY - dt.timedelta(days=20)    # follow-up runs until RECENT_END + 56
OLD_END = TODAY - dt.timedelta(days=150)      # follow-up closed 94 days ago
QUERY = "site=SE-BIG&analyte=benzoylecgonine&event_id="


def _results(days: pd.DatetimeIndex, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    value = np.round(300.0 * np.exp(rng.normal(0.0, 0.25, len(days))), 1)
    return pd.DataFrame({
        "sample_id": [f"SE-BIG-{d:%Y%m%d}" for d in days], "site": "SE-BIG",
        "sample_date": days.astype("datetime64[ns]"), "analyte": "benzoylecgonine", "replicate": 1,
        "value_ng_per_l": value, "censor": "none", "loq_ng_per_l": 10.0, "lod_ng_per_l": 1.0,
        "flow_m3_per_day": np.nan, "composite_hours": 24, "sample_role": "sample", "lab": "Lab A",
        "method": "LC-MS/MS", "comment": None, "original_value": [f"{v:g}" for v in value],
        "original_unit": "ng/L"})


@pytest.fixture
def clients(engine):
    put(engine, "sites", sites_df(), "sites")
    days = pd.date_range(FIRST, pd.Timestamp(TODAY - dt.timedelta(days=2)), freq="D")
    days = days[days.day_of_week != 2]  # no Wednesdays: the day that arrives late fills a gap
    flows = pd.DataFrame({"site": "SE-BIG", "date": pd.date_range(FIRST, periods=810).astype("datetime64[ns]"),
                          "flow_m3_per_day": 10_000.0})
    put(engine, "flows", flows, "flows")
    put(engine, "results", _results(days, 1), "results")
    events = pd.DataFrame({
        "event_id": ["EV-RECENT", "EV-OLD"], "kind": "operation",
        "start": pd.to_datetime([RECENT_END - dt.timedelta(days=6), OLD_END - dt.timedelta(days=6)]
                                ).astype("datetime64[ns]"),
        "end": pd.to_datetime([RECENT_END, OLD_END]).astype("datetime64[ns]"),
        "sites": [["SE-BIG"], ["SE-BIG"]], "substances": [["benzoylecgonine"], ["benzoylecgonine"]],
        "description": ["Insats nyss", "Insats i våras"], "confidential": False})
    put(engine, "events", events, "events")
    return engine, make_clients(engine)


def _one_more_day(engine, day: dt.date = TODAY - dt.timedelta(days=1), tag: str = "late") -> None:
    put(engine, "results", _results(pd.DatetimeIndex([pd.Timestamp(day)]), 2), tag)


def test_release_date_is_two_weeks_after_the_follow_up():
    last, release = access.operation_effect_release(RECENT_END)
    assert last == RECENT_END + dt.timedelta(days=56)
    assert release == RECENT_END + dt.timedelta(days=70)
    effect = {"analyte": "benzoylecgonine", "relative_change_after": -0.1, "n_after": 20}
    day_before = release - dt.timedelta(days=1)
    assert access.public_operation_effect(effect, RECENT_END, today=day_before)["published"] is False
    shown = access.public_operation_effect(effect, RECENT_END, today=release)
    assert shown == {**effect, "published": True}
    # a deployment's closing time moves the release with it
    later = access.PublicRule(closed_after_days=21)
    assert access.operation_effect_release(RECENT_END, later)[1] == RECENT_END + dt.timedelta(days=77)


def test_running_follow_up_gives_the_public_nothing_that_moves(clients):
    engine, cl = clients
    first = cl["public"].get(f"{B}/analyses/operation-effect?{QUERY}EV-RECENT")
    analyst_first = cl["analyst"].get(f"{B}/analyses/operation-effect?{QUERY}EV-RECENT").json()["results"][0]
    assert first.status_code == 200, first.text
    (res,) = first.json()["results"]
    release = (RECENT_END + dt.timedelta(days=70)).isoformat()
    assert res["published"] is False and res["published_from"] == release
    assert not {"relative_change_after", "n_after", "p_value_after", "relative_change_during"} & set(res)
    assert f"publiceras {release}" in res["sentence_sv"] and f"published on {release}" in res["sentence_en"]
    page = cl["public"].get("/dashboard/operations", params={"site": "SE-BIG", "analyte": "benzoylecgonine",
                                                             "event": "EV-RECENT"})
    assert page.status_code == 200 and f"Resultatet publiceras {release}" in page.text
    # the weekly chart around the operation is there, its estimate panel is not
    assert 'id="plot-operation"' in page.text and "Skattad förändring" not in page.text

    _one_more_day(engine)
    again = cl["public"].get(f"{B}/analyses/operation-effect?{QUERY}EV-RECENT")
    assert again.json()["results"] == first.json()["results"]
    page_again = cl["public"].get("/dashboard/operations", params={"site": "SE-BIG", "analyte": "benzoylecgonine",
                                                                   "event": "EV-RECENT"})
    assert f"Resultatet publiceras {release}" in page_again.text
    # the analyst's estimate did take the new day in: this is what the public would have diffed
    analyst_again = cl["analyst"].get(f"{B}/analyses/operation-effect?{QUERY}EV-RECENT").json()["results"][0]
    assert analyst_again["n_after"] == analyst_first["n_after"] + 1
    assert analyst_again["relative_change_after"] != analyst_first["relative_change_after"]


def test_closed_follow_up_is_published(clients):
    _, cl = clients
    (res,) = cl["public"].get(f"{B}/analyses/operation-effect?{QUERY}EV-OLD").json()["results"]
    # 56 days after the operation, eight of them Wednesdays (never sampled here)
    assert res["published"] is True and res["n_after"] == 48 and -1.0 < res["relative_change_after"] < 1.0
    assert set(res) <= set(access.PUBLIC_EFFECT_FIELDS)


def test_risk_weekend_figures_do_not_move_with_a_new_day(clients):
    engine, cl = clients
    path = f"{B}/analyses/risk-weekend-effect?site=SE-BIG&analyte=benzoylecgonine"
    csv_path = "/dashboard/data/riskweekends.csv?site=SE-BIG&analyte=benzoylecgonine"
    first, first_csv = cl["public"].get(path), cl["public"].get(csv_path)
    analyst_first = cl["analyst"].get(path).json()
    assert first.status_code == 200 and first_csv.status_code == 200, first.text
    body = first.json()
    assert body["results"] and body["events"]
    data_end = access.public_data_end()
    assert data_end < TODAY - dt.timedelta(days=13) and data_end.day != 1
    weeks = access.PUBLIC_FIXED_PARAMETERS["risk_weekend_ratios"]["window_weeks"]
    assert all(pd.Timestamp(e["end"]).date() + dt.timedelta(days=7 * weeks) <= data_end for e in body["events"])
    assert len(analyst_first["events"]) > len(body["events"])  # the recent weekends: with a key

    # yesterday's result, and last Wednesday's arriving late
    _one_more_day(engine)
    last_wednesday = TODAY - dt.timedelta(days=(TODAY.weekday() - 2) % 7 or 7)
    _one_more_day(engine, last_wednesday, "late-wednesday")
    again = cl["public"].get(path)
    assert again.json()["results"] == body["results"] and again.json()["events"] == body["events"]
    assert cl["public"].get(csv_path).text == first_csv.text
    analyst_again = cl["analyst"].get(path).json()
    assert analyst_again["results"] != analyst_first["results"]  # what the public would have diffed
