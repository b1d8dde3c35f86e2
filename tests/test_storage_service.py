"""Storage service on SQLite and PostgreSQL: round trips, idempotence, supersession, policies."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from storage_factories import (
    as_bytes,
    events_frame,
    flows_frame,
    parsed,
    results_frame,
    sites_frame,
)

from wastewater.exceptions import NotFound
from wastewater.ingest.report import Issue
from wastewater.storage import repository as repo
from wastewater.storage import tables as t
from wastewater.storage.service import store_parsed


def _store(engine, upload, salt="", **kw):
    kw.setdefault("filename", f"{upload.kind}.csv")
    kw.setdefault("uploader", "tester")
    return store_parsed(engine, as_bytes(upload, salt), upload, **kw)


def _count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar()


@pytest.fixture
def with_sites(engine):
    out = _store(engine, parsed("sites", sites_frame()))
    assert out.stored
    return engine


# --------------------------------------------------------------------------- round trips


def test_sites_round_trip_keeps_latest_population(engine):
    out = _store(engine, parsed("sites", sites_frame()))
    assert (out.stored, out.duplicate, out.rows_inserted, out.rows_superseded) == (True, False, 2, 0)
    sites = repo.load_sites(engine)
    assert list(sites.columns) == list(repo.SITE_COLUMNS)
    a = sites.set_index("site").loc["SE-A"]
    # two population lines for SE-A (2024: 25 100, 2025: 25 300): the latest year wins
    assert (a["population"], a["population_year"], a["population_method"]) == (25300, 2025,
                                                                                "de_jure")
    assert a["lat"] == pytest.approx(58.99) and a["treatment_plant"] == "A WWTP"
    b = sites.set_index("site").loc["SE-B"]
    assert math.isnan(b["lat"])
    assert pd.isna(b["treatment_plant"])
    pops = repo.load_populations(engine)
    assert pops.to_dict("records") == [
        {"site": "SE-A", "year": 2024, "population": 25100, "method": "de_jure"},
        {"site": "SE-A", "year": 2025, "population": 25300, "method": "de_jure"},
        {"site": "SE-B", "year": 2025, "population": 11000, "method": "de_jure"},
    ]
    assert repo.load_populations(engine, sites="SE-B")["population"].tolist() == [11000]


def test_flows_round_trip(with_sites):
    engine = with_sites
    out = _store(engine, parsed("flows", flows_frame(days=5)))
    assert (out.stored, out.rows_inserted) == (True, 5)
    flows = repo.load_flows(engine)
    assert list(flows.columns) == ["site", "date", "flow_m3_per_day"]
    assert str(flows["date"].dtype) == "datetime64[ns]"
    assert flows["flow_m3_per_day"].tolist() == [9000.0, 9010.0, 9020.0, 9030.0, 9040.0]
    sub = repo.load_flows(engine, sites=["SE-A"], start="2025-01-02", end=dt.date(2025, 1, 3))
    assert sub["date"].dt.strftime("%Y-%m-%d").tolist() == ["2025-01-02", "2025-01-03"]


def test_results_round_trip_with_censored_value(with_sites):
    engine = with_sites
    frame = results_frame(n_days=2)
    # a "<2.5 ug/L" cell as the parser delivers it: censored, LOQ 2500 ng/L, no value
    frame.loc[1, ["value_ng_per_l", "censor", "loq_ng_per_l", "original_value",
                  "original_unit"]] = [np.nan, "<LOQ", 2500.0, "<2.5", "ug/L"]
    blank = frame.iloc[[0]].assign(sample_role="blank", value_ng_per_l=0.5)
    frame = pd.concat([frame, blank], ignore_index=True)
    out = _store(engine, parsed("results", frame))
    assert (out.stored, out.rows_inserted, out.rows_superseded, out.rows_unchanged) == (
        True, 5, 0, 0)
    res = repo.load_results(engine)
    assert list(res.columns) == list(repo.RESULT_COLUMNS)
    assert len(res) == 4  # blanks are not returned by default
    row = res[(res.sample_id == "SE-A-20250101") & (res.analyte == "amphetamine")].iloc[0]
    assert math.isnan(row["value_ng_per_l"]) and row["censor"] == "<LOQ"
    assert row["loq_ng_per_l"] == 2500.0 and row["original_unit"] == "ug/L"
    assert bool(row["is_current"]) and pd.isna(row["superseded_by"])
    assert row["upload_id"] == out.upload_id
    assert str(res["sample_date"].dtype) == "datetime64[ns]"
    assert str(res["stored_at"].dtype) == "datetime64[ns, UTC]"
    be = res[res.analyte == "benzoylecgonine"]["value_ng_per_l"].tolist()
    assert be == [100.0, 110.0]  # base + 10·day, analyte index 0
    all_roles = repo.load_results(engine, roles=None)
    assert sorted(all_roles["sample_role"].unique()) == ["blank", "sample"]
    only = repo.load_results(engine, analytes="benzoylecgonine", start="2025-01-02")
    assert only["value_ng_per_l"].tolist() == [110.0]


def test_events_round_trip_and_confidential_filter(with_sites):
    engine = with_sites
    out = _store(engine, parsed("events", events_frame()))
    assert out.rows_inserted == 2
    ev = repo.load_events(engine)
    assert list(ev.columns) == list(repo.EVENT_COLUMNS)
    first = ev.iloc[0]
    assert first["event_id"] == "EV-1" and first["sites"] == ["SE-A"]
    assert first["substances"] == ["benzoylecgonine", "cocaine"]
    assert first["start"] == pd.Timestamp("2025-03-10") and first["end"] == pd.Timestamp(
        "2025-03-21")
    assert ev.iloc[1]["sites"] == [] and bool(ev.iloc[1]["confidential"])
    assert repo.load_events(engine, include_confidential=False)["event_id"].tolist() == ["EV-1"]


def test_upload_bytes_kept_verbatim(with_sites):
    engine = with_sites
    upload = parsed("flows", flows_frame())
    data = as_bytes(upload)
    out = store_parsed(engine, data, upload, filename="flöden.csv", uploader="lab-a")
    stored = repo.get_upload(engine, out.upload_id)
    assert stored["content"] == data
    assert stored["filename"] == "flöden.csv" and stored["uploader"] == "lab-a"
    assert stored["size_bytes"] == len(data) and stored["rows_accepted"] == 5
    assert stored["report"]["ok"] is True
    assert stored["uploaded_at"].tzinfo is not None
    listed = repo.list_uploads(engine)
    assert listed["upload_id"].tolist()[0] == out.upload_id  # newest first
    assert "content" not in listed.columns
    with pytest.raises(NotFound):
        repo.get_upload(engine, 999_999)


# --------------------------------------------------------------------------- idempotence


def test_identical_bytes_are_a_duplicate(with_sites):
    engine = with_sites
    upload = parsed("results", results_frame())
    first = _store(engine, upload)
    n_rows = _count(engine, t.results)
    again = _store(engine, parsed("results", results_frame()))
    assert (again.duplicate, again.stored, again.upload_id) == (True, False, first.upload_id)
    assert again.report.details["duplicate_of_upload_id"] == first.upload_id
    assert _count(engine, t.results) == n_rows == 6
    assert _count(engine, t.uploads) == 2  # sites + results


def test_same_content_in_other_bytes_is_unchanged(with_sites):
    engine = with_sites
    _store(engine, parsed("results", results_frame()))
    out = _store(engine, parsed("results", results_frame()), salt="-resent")
    assert (out.stored, out.rows_inserted, out.rows_superseded, out.rows_unchanged) == (
        True, 0, 0, 6)
    assert _count(engine, t.results) == 6


# --------------------------------------------------------------------------- supersession


def test_result_correction_supersedes_and_keeps_history(with_sites):
    engine = with_sites
    first = _store(engine, parsed("results", results_frame()))
    corrected = results_frame()
    corrected.loc[0, "value_ng_per_l"] = 123.0  # SE-A-20250101 benzoylecgonine, was 100
    second = _store(engine, parsed("results", corrected))
    assert (second.rows_inserted, second.rows_superseded, second.rows_unchanged) == (1, 1, 5)
    current = repo.load_results(engine, analytes="benzoylecgonine")
    assert current["value_ng_per_l"].tolist() == [123.0, 110.0, 120.0]
    hist = repo.result_history(engine, "SE-A-20250101", "benzoylecgonine")
    assert hist["value_ng_per_l"].tolist() == [100.0, 123.0]
    assert hist["is_current"].tolist() == [False, True]
    assert hist["upload_id"].tolist() == [first.upload_id, second.upload_id]
    assert hist["superseded_by"].iloc[0] == hist["result_id"].iloc[1]
    assert pd.isna(hist["superseded_by"].iloc[1])
    with_history = repo.load_results(engine, include_history=True)
    assert len(with_history) == 7 and int((~with_history["is_current"]).sum()) == 1
    # a third version chains: v1 → v2 → v3
    corrected.loc[0, "value_ng_per_l"] = 124.0
    _store(engine, parsed("results", corrected))
    hist = repo.result_history(engine, "SE-A-20250101", "benzoylecgonine")
    ids = hist["result_id"].tolist()
    assert hist["superseded_by"].tolist()[:2] == ids[1:]
    assert hist["is_current"].tolist() == [False, False, True]
    with pytest.raises(NotFound):
        repo.result_history(engine, "nope", "benzoylecgonine")


def _stored_results(engine) -> list[tuple]:
    r = t.results.c
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(
            sa.select(r.result_id, r.sample_id, r.analyte, r.value_ng_per_l, r.is_current,
                      r.superseded_by, r.upload_id, r.source_line).order_by(r.result_id))]


def test_reupload_ids_links_flags_and_counts(with_sites):
    """A re-upload with changed, unchanged and new rows, checked row by row: the new versions
    take the next ids in key order (sample_id, analyte), then the new keys in key order;
    each old version points at its successor and is no longer current."""
    engine = with_sites
    first = _store(engine, parsed("results", results_frame()))  # lines 2-7, 3 days × 2
    # fresh rows are inserted in key order: amphetamine sorts before benzoylecgonine
    day = {1: "SE-A-20250101", 2: "SE-A-20250102", 3: "SE-A-20250103", 4: "SE-A-20250104",
           5: "SE-A-20250105"}
    amp, be = "amphetamine", "benzoylecgonine"
    u1 = first.upload_id
    assert _stored_results(engine) == [
        (1, day[1], amp, 101.0, True, None, u1, 3), (2, day[1], be, 100.0, True, None, u1, 2),
        (3, day[2], amp, 111.0, True, None, u1, 5), (4, day[2], be, 110.0, True, None, u1, 4),
        (5, day[3], amp, 121.0, True, None, u1, 7), (6, day[3], be, 120.0, True, None, u1, 6),
    ]
    corrected = results_frame(n_days=5)  # lines 2-11: days 1-3 again, days 4-5 new
    corrected.loc[1, "value_ng_per_l"] = 555.0  # line 3: day 1 amphetamine (id 1)
    corrected.loc[4, "value_ng_per_l"] = 999.0  # line 6: day 3 benzoylecgonine (id 6)
    second = _store(engine, parsed("results", corrected))
    assert (second.rows_inserted, second.rows_superseded, second.rows_unchanged) == (6, 2, 4)
    u2 = second.upload_id
    assert _stored_results(engine) == [
        (1, day[1], amp, 101.0, False, 7, u1, 3), (2, day[1], be, 100.0, True, None, u1, 2),
        (3, day[2], amp, 111.0, True, None, u1, 5), (4, day[2], be, 110.0, True, None, u1, 4),
        (5, day[3], amp, 121.0, True, None, u1, 7), (6, day[3], be, 120.0, False, 8, u1, 6),
        (7, day[1], amp, 555.0, True, None, u2, 3), (8, day[3], be, 999.0, True, None, u2, 6),
        (9, day[4], amp, 131.0, True, None, u2, 9), (10, day[4], be, 130.0, True, None, u2, 8),
        (11, day[5], amp, 141.0, True, None, u2, 11), (12, day[5], be, 140.0, True, None, u2, 10),
    ]
    # a third version of day 1 amphetamine chains 1 → 7 → 13; day 5 benzoylecgonine → 14
    corrected.loc[1, "value_ng_per_l"] = 556.0
    corrected.loc[8, "value_ng_per_l"] = 1.5
    third = _store(engine, parsed("results", corrected))
    assert (third.rows_inserted, third.rows_superseded, third.rows_unchanged) == (2, 2, 8)
    u3 = third.upload_id
    rows = _stored_results(engine)
    assert rows[6] == (7, day[1], amp, 555.0, False, 13, u2, 3)
    assert rows[11] == (12, day[5], be, 140.0, False, 14, u2, 10)
    assert rows[12:] == [(13, day[1], amp, 556.0, True, None, u3, 3),
                         (14, day[5], be, 1.5, True, None, u3, 10)]
    assert [r[0] for r in rows if r[4]] == [2, 3, 4, 5, 8, 9, 10, 11, 13, 14]
    hist = repo.result_history(engine, day[1], amp)
    assert hist["result_id"].tolist() == [1, 7, 13]
    assert hist["superseded_by"].tolist()[:2] == [7, 13]


def test_new_versions_take_their_ids_in_key_order_not_file_order(with_sites):
    """Line 2 (benzoylecgonine) comes before line 3 (amphetamine) in the file, but the new
    versions are inserted in key order (sample_id, analyte), as fresh rows are: amphetamine's
    takes id 3, benzoylecgonine's id 4."""
    engine = with_sites
    u1 = _store(engine, parsed("results", results_frame(n_days=1))).upload_id
    day1, amp, be = "SE-A-20250101", "amphetamine", "benzoylecgonine"
    corrected = results_frame(n_days=1)
    corrected["value_ng_per_l"] = [200.0, 201.0]  # lines 2 (be, id 2) and 3 (amp, id 1)
    second = _store(engine, parsed("results", corrected))
    assert (second.rows_inserted, second.rows_superseded, second.rows_unchanged) == (2, 2, 0)
    u2 = second.upload_id
    assert _stored_results(engine) == [
        (1, day1, amp, 101.0, False, 3, u1, 3), (2, day1, be, 100.0, False, 4, u1, 2),
        (3, day1, amp, 201.0, True, None, u2, 3), (4, day1, be, 200.0, True, None, u2, 2),
    ]


def test_at_most_one_current_row_is_enforced_by_the_database(with_sites):
    engine = with_sites
    _store(engine, parsed("results", results_frame(n_days=1)))
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.results).limit(1)).mappings().one()
        dup = {k: v for k, v in row.items() if k != "result_id"}
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(t.results.insert(), dup)
        conn.rollback()
        conn.execute(t.results.insert(), {**dup, "is_current": False})  # history rows are fine
        conn.rollback()


def test_flow_and_event_supersession(with_sites):
    engine = with_sites
    _store(engine, parsed("flows", flows_frame(days=3)))
    out = _store(engine, parsed("flows", flows_frame(days=3, flow_m3_per_day=[9000.0, 1.0,
                                                                               9020.0])))
    assert (out.rows_inserted, out.rows_superseded, out.rows_unchanged) == (1, 1, 2)
    assert repo.load_flows(engine)["flow_m3_per_day"].tolist() == [9000.0, 1.0, 9020.0]
    assert _count(engine, t.flows) == 4
    assert _count(engine, t.flows, t.flows.c.superseded_by.is_not(None)) == 1

    _store(engine, parsed("events", events_frame()))
    ev = events_frame()
    ev.loc[1, "end"] = pd.Timestamp("2025-05-02")
    out = _store(engine, parsed("events", ev))
    assert (out.rows_inserted, out.rows_superseded, out.rows_unchanged) == (1, 1, 1)
    assert repo.load_events(engine)["end"].tolist()[1] == pd.Timestamp("2025-05-02")
    assert _count(engine, t.events) == 3


def test_site_and_population_updates_in_place_with_audit(with_sites):
    engine = with_sites
    changed = sites_frame([
        ("SE-A", "Plant A renamed", "Alby", 25300, 2025, 58.99, 16.21, "A WWTP"),
        ("SE-B", "Plant B", "Bby", 11111, 2025, np.nan, np.nan, None),
    ])
    out = _store(engine, parsed("sites", changed))
    assert (out.rows_inserted, out.rows_superseded, out.rows_unchanged) == (0, 2, 0)
    sites = repo.load_sites(engine).set_index("site")
    assert sites.loc["SE-A", "name"] == "Plant A renamed"
    assert sites.loc["SE-B", "population"] == 11111
    assert _count(engine, t.site_populations) == 3  # updated in place, not added
    with engine.connect() as conn:
        audit = conn.execute(sa.select(t.audit_log.c.action, t.audit_log.c.detail_json)
                             .where(t.audit_log.c.action != "upload_stored")
                             .order_by(t.audit_log.c.id)).all()
    assert [a.action for a in audit] == ["site_updated", "population_updated"]
    assert json.loads(audit[1].detail_json)["old"] == 11000
    assert json.loads(audit[1].detail_json)["new"] == 11111


# --------------------------------------------------------------------------- policies


def _bad_issue(line: int) -> Issue:
    return Issue(line=line, column="value", code="non_numeric",
                 message=f"line {line}: 'abc' is not a number", severity="error", value="abc")


def test_reject_policy_stores_nothing(with_sites):
    engine = with_sites
    upload = parsed("results", results_frame(), issues=[_bad_issue(8)])
    out = _store(engine, upload)
    assert (out.stored, out.duplicate, out.upload_id, out.rejected) == (False, False, None, True)
    assert not out.report.ok
    assert _count(engine, t.results) == 0 and _count(engine, t.uploads) == 1


def test_skip_policy_stores_valid_rows(with_sites):
    engine = with_sites
    upload = parsed("results", results_frame(), issues=[_bad_issue(8)])
    out = _store(engine, upload, on_error="skip")
    assert out.stored and out.rows_inserted == 6
    stored = repo.get_upload(engine, out.upload_id)
    assert (stored["rows_total"], stored["rows_accepted"]) == (7, 6)
    assert stored["report"]["issues"][0]["line"] == 8
    with pytest.raises(ValueError, match="on_error"):
        _store(engine, upload, on_error="ignore")


def test_dry_run_counts_but_stores_nothing(with_sites):
    engine = with_sites
    _store(engine, parsed("results", results_frame()))
    corrected = results_frame(n_days=4)
    corrected.loc[0, "value_ng_per_l"] = 1.0
    out = _store(engine, parsed("results", corrected), dry_run=True)
    assert (out.dry_run, out.stored, out.upload_id) == (True, False, None)
    assert (out.rows_inserted, out.rows_superseded, out.rows_unchanged) == (3, 1, 5)
    assert _count(engine, t.results) == 6 and _count(engine, t.uploads) == 2


def test_outcome_to_dict_is_json(with_sites):
    out = _store(with_sites, parsed("flows", flows_frame()))
    d = json.loads(json.dumps(out.to_dict()))
    assert d["stored"] is True and d["rows_inserted"] == 5 and d["report"]["ok"] is True


def test_free_text_has_no_length_limit(with_sites):
    """User-given ids and texts are TEXT columns: PostgreSQL must not refuse long values."""
    engine = with_sites
    frame = results_frame(n_days=1)
    frame["sample_id"] = "S" * 300
    frame["comment"] = "lång kommentar " * 100
    out = _store(engine, parsed("results", frame))
    assert out.stored
    assert repo.load_results(engine)["sample_id"].str.len().tolist() == [300, 300]


def test_stored_rows_become_one_object_table_with_or_without_pandas_private_converter(monkeypatch):
    # the look-up's rows become a 2-d object array through a private pandas function;
    # without it (another pandas version) np.array stands in and gives the same cells
    import pandas._libs.lib

    from wastewater.storage.service import _object_table

    rows = [("S1", dt.date(2025, 1, 6), 12.5, None, 1), ("S2", None, float("nan"), "<LOQ", 2)]
    fast = _object_table(rows)
    monkeypatch.delattr(pandas._libs.lib, "to_object_array_tuples")
    slow = _object_table(rows)
    for table in (fast, slow):
        assert table.shape == (2, 5) and table.dtype == object
    assert [list(r) for r in fast[[0]]] == [list(r) for r in slow[[0]]] == [list(rows[0])]
    assert slow[1, 0] == "S2" and slow[1, 1] is None and np.isnan(slow[1, 2]) and slow[1, 3] == "<LOQ"
    assert fast[1, 1] is None and np.isnan(fast[1, 2]) and fast[1, 4] == slow[1, 4] == 2
