"""Bytes → parser → database through ``ingest_bytes`` on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest
import sqlalchemy as sa

from wastewater.storage import repository as repo
from wastewater.storage import tables as t
from wastewater.storage.service import ingest_bytes, sha256_hex

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
TODAY = dt.date(2026, 1, 1)

SITES_CSV = (
    b"site,name,municipality,population,population_year,lat,lon,treatment_plant\n"
    b"SE-X,Plant X,Xby,25100,2024,58.99,16.21,X WWTP\n"
    b"SE-X,Plant X,Xby,25300,2025,58.99,16.21,X WWTP\n"
)
RESULTS_HEADER = ("sample_id,site,sample_date,analyte,value,unit,qualifier,loq,lod,"
                  "flow_m3_per_day,composite_hours,replicate,sample_role,lab,method,comment\n")


def _ingest(engine, data: bytes, name: str, **kw):
    kw.setdefault("uploader", "tester")
    kw.setdefault("today", TODAY)
    return ingest_bytes(engine, data, filename=name, **kw)


def _results_csv(*lines: str) -> bytes:
    return (RESULTS_HEADER + "".join(line + "\n" for line in lines)).encode()


def test_each_kind_from_bytes(engine):
    out = _ingest(engine, SITES_CSV, "sites.csv")
    assert out.stored and out.kind == "sites"
    assert repo.load_sites(engine).iloc[0][["site", "population", "population_year"]].tolist() \
        == ["SE-X", 25300, 2025]

    flows = b"site;date;flow_m3_per_day\nSE-X;2025-03-04;8 640,5\nSE-X;2025-03-05;9000\n"
    out = _ingest(engine, flows, "flows.csv")
    assert (out.kind, out.rows_inserted) == ("flows", 2)
    assert repo.load_flows(engine)["flow_m3_per_day"].tolist() == [8640.5, 9000.0]

    results = _results_csv(
        "X-1,SE-X,2025-03-04,benzoylecgonine,348,ng/L,,10,1,,24,1,sample,Lab,M,",
        "X-1,SE-X,2025-03-04,amphetamine,<2.5,ug/L,,,,,24,1,sample,Lab,M,",
        "X-1,SE-X,2025-03-04,cocaine,0.128,ug/L,,2.5,1,,24,1,sample,Lab,M,",
    )
    out = _ingest(engine, results, "results.csv")
    assert (out.kind, out.stored, out.rows_inserted) == ("results", True, 3)
    res = repo.load_results(engine).set_index("analyte")
    assert res.loc["benzoylecgonine", "value_ng_per_l"] == 348.0
    # <2.5 ug/L → censored, LOQ 2500 ng/L, no value (docs/architecture.md)
    amph = res.loc["amphetamine"]
    assert (amph["censor"], amph["loq_ng_per_l"]) == ("<LOQ", 2500.0)
    assert math.isnan(amph["value_ng_per_l"])
    assert res.loc["cocaine", "value_ng_per_l"] == pytest.approx(128.0)  # 0.128 µg/L
    assert res.loc["cocaine", "source_line"] == 4

    events = (b"event_id,kind,start,end,sites,substances,description,confidential\n"
              b"EV-1,operation,2025-03-10,2025-03-21,SE-X,benzoylecgonine;cocaine,Op,false\n")
    out = _ingest(engine, events, "events.csv")
    assert (out.kind, out.rows_inserted) == ("events", 1)
    ev = repo.load_events(engine).iloc[0]
    assert ev["sites"] == ["SE-X"] and ev["substances"] == ["benzoylecgonine", "cocaine"]


def test_results_for_unregistered_site_are_rejected(engine):
    """known_sites comes from the database: nothing registered yet → unknown_site."""
    out = _ingest(engine, _results_csv(
        "X-1,SE-X,2025-03-04,benzoylecgonine,348,ng/L,,10,1,,24,1,sample,Lab,M,"), "r.csv")
    assert (out.stored, out.rejected) == (False, True)
    assert "unknown_site" in out.report.codes()
    _ingest(engine, SITES_CSV, "sites.csv")
    out = _ingest(engine, _results_csv(
        "X-1,SE-X,2025-03-04,benzoylecgonine,348,ng/L,,10,1,,24,1,sample,Lab,M,"), "r.csv")
    assert out.stored


def test_reupload_is_idempotent_and_corrections_supersede(engine):
    _ingest(engine, SITES_CSV, "sites.csv")
    v1 = _results_csv("X-1,SE-X,2025-03-04,benzoylecgonine,348,ng/L,,10,1,,24,1,sample,Lab,M,",
                      "X-2,SE-X,2025-03-05,benzoylecgonine,220,ng/L,,10,1,,24,1,sample,Lab,M,")
    first = _ingest(engine, v1, "v1.csv")
    again = _ingest(engine, v1, "v1-copy.csv")
    assert (again.duplicate, again.stored, again.upload_id) == (True, False, first.upload_id)
    assert "already stored as upload" in again.report.details["duplicate_message"]
    assert again.report.codes() == ["duplicate_upload"] and again.report.rows_accepted == 2
    with engine.connect() as conn:
        shas = conn.execute(sa.select(t.uploads.c.sha256)).scalars().all()
    assert sha256_hex(v1) in shas and len(shas) == 2

    v2 = _results_csv("X-1,SE-X,2025-03-04,benzoylecgonine,350,ng/L,,10,1,,24,1,sample,Lab,M,"
                      "corrected",
                      "X-2,SE-X,2025-03-05,benzoylecgonine,220,ng/L,,10,1,,24,1,sample,Lab,M,")
    second = _ingest(engine, v2, "v2.csv")
    assert (second.rows_inserted, second.rows_superseded, second.rows_unchanged) == (1, 1, 1)
    hist = repo.result_history(engine, "X-1", "benzoylecgonine")
    assert hist["value_ng_per_l"].tolist() == [348.0, 350.0]
    assert hist["upload_id"].tolist() == [first.upload_id, second.upload_id]
    assert hist["comment"].iloc[1] == "corrected"
    assert repo.load_results(engine)["value_ng_per_l"].tolist() == [350.0, 220.0]


def test_shipped_samples_load(engine):
    for name, n_rows in (("sites.csv", 3), ("flows.csv", 1095), ("results.csv", 4159),
                         ("events.csv", 7), ("results_wide_sv.csv", 42)):
        out = _ingest(engine, (SAMPLES / name).read_bytes(), name)
        assert out.stored and out.report.ok, out.report.to_dict()
        assert out.rows_inserted == n_rows, name
    first = repo.load_results(engine, sites="SE-KAT-ROS", analytes="benzoylecgonine").iloc[0]
    # samples/results.csv line 2: ROS-20250101, benzoylecgonine, 348 ng/L
    assert (first["sample_id"], first["value_ng_per_l"], first["source_line"]) == (
        "ROS-20250101", 348.0, 2)


def test_detected_below_loq_is_stored_and_read_back_as_an_interval(engine):
    """Qualifier D (LOD <= x < LOQ, value reported): stored with censor 'D' and its value; the
    daily series substitutes inside [LOD, LOQ] and the censoring methods get the interval."""
    from wastewater.timeseries import censoring_limit_ng_per_l, censoring_lower_ng_per_l

    _ingest(engine, SITES_CSV, "sites.csv")
    out = _ingest(engine, _results_csv(
        "X-1,SE-X,2025-03-04,benzoylecgonine,7.5,ng/L,D,10,6,,24,1,sample,Lab,M,",
        "X-2,SE-X,2025-03-05,benzoylecgonine,<10,ng/L,,,1,,24,1,sample,Lab,M,"), "d.csv")
    assert out.stored and out.rows_inserted == 2
    stored = repo.load_results(engine)
    assert stored["censor"].tolist() == ["D", "<LOQ"]
    assert stored["value_ng_per_l"].iloc[0] == 7.5
    assert math.isnan(stored["value_ng_per_l"].iloc[1])
    # upper end LOQ 10 for both; lower end LOD 6 only for the detected one
    assert censoring_limit_ng_per_l(stored).tolist() == [10.0, 10.0]
    lower = censoring_lower_ng_per_l(stored).tolist()
    assert lower[0] == 6.0 and math.isnan(lower[1])
