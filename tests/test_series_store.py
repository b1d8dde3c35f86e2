"""The derived daily-series store equals a from-scratch build after any sequence of uploads.

Real bytes go through the real ingest path (``ingest_bytes``) on SQLite and PostgreSQL:
uploads of results (with replicates, censored values, 24–72 h composites, own flows),
corrections that supersede them (other values, another day, another site), flow uploads and
population changes. After every sequence the stored days (``read_store`` of the
``series_blocks`` blocks) must equal :func:`wastewater.storage.series.scratch_build` float for
float, every block must describe its days (no empty block) and every touched series' version
must have grown. A writer killed inside the store maintenance leaves raw and store tables as
they were.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wastewater.storage import series
from wastewater.storage import tables as t
from wastewater.storage.database import connect
from wastewater.storage.series import (
    read_store,
    rebuild_series,
    scratch_build,
    series_version,
)
from wastewater.storage.service import ingest_bytes

SITES = ("SE-A", "SE-B")
ANALYTES = ("benzoylecgonine", "amphetamine")
DAY0 = dt.date(2024, 12, 24)  # the window crosses a year boundary: population years matter
N_DAYS = 20
RESULT_HEADER = ("sample_id,site,sample_date,analyte,value,unit,qualifier,loq,lod,"
                 "flow_m3_per_day,composite_hours,replicate,sample_role\n")


def _sites_csv(pops: list[tuple[str, int, int]]) -> bytes:
    lines = ["site,name,municipality,population,population_year,population_method"]
    for site, year, pop in pops:
        lines.append(f"{site},Plant {site},Kommun,{pop},{year},de_jure")
    return ("\n".join(lines) + "\n").encode()


def _wipe(engine) -> None:
    with engine.begin() as conn:
        for table in reversed(t.metadata.sorted_tables):
            conn.execute(table.delete())


def _assert_store_is_scratch(engine) -> pd.DataFrame:
    stored = read_store(engine).reset_index(drop=True)
    with connect(engine) as conn:
        scratch = scratch_build(conn).reset_index(drop=True)
        b = t.series_blocks.c
        blocks = conn.execute(sa.select(b.site, b.analyte, b.n_days, b.first_date, b.last_date,
                                        b.data)).all()
    pd.testing.assert_frame_equal(stored, scratch, check_exact=True, check_dtype=True)
    # one block per series with a stored day, its columns describing it
    days = scratch.groupby(["site", "analyte"])["date"].agg(["count", "min", "max"])
    assert sorted((s, a) for s, a, *_ in blocks) == list(days.index)
    for site, analyte, n_days, first, last, data in blocks:
        count, lo, hi = days.loc[(site, analyte)]
        assert (n_days, first, last) == (count, lo.date(), hi.date())
        assert len(series.decode_block(bytes(data))["date"]) == n_days
    return stored


# ----------------------------------------------------------------- hand-computed values


def test_store_row_has_the_joined_daily_inputs(engine):
    """100 ng/L × 9 000 m³/day = 900 mg/day; / 25 300 inhabitants × 1000 = 35.5731… mg/day/1000."""
    ingest_bytes(engine, _sites_csv([("SE-A", 2025, 25300)]), filename="s.csv", uploader="t")
    ingest_bytes(engine, b"site,date,flow_m3_per_day\nSE-A,2025-01-02,9000\nSE-A,2025-01-03,8000\n",
                 filename="f.csv", uploader="t")
    body = (RESULT_HEADER
            + "S1,SE-A,2025-01-02,benzoylecgonine,90,ng/L,,10,1,,24,1,sample\n"
            + "S1,SE-A,2025-01-02,benzoylecgonine,110,ng/L,,10,1,,24,2,sample\n"
            + "S2,SE-A,2025-01-03,benzoylecgonine,,ng/L,<LOQ,10,1,,24,1,sample\n")
    out = ingest_bytes(engine, body.encode(), filename="r.csv", uploader="t")
    assert out.stored, out.report.to_dict()
    rows = read_store(engine, "SE-A", "benzoylecgonine")
    assert rows["date"].dt.date.tolist() == [dt.date(2025, 1, 2), dt.date(2025, 1, 3)]
    first, second = rows.iloc[0], rows.iloc[1]
    assert first["concentration_ng_per_l"] == 100.0
    assert first["n_replicates"] == 2
    assert first["replicate_sd_ng_per_l"] == pytest.approx(14.142135623730951)  # sd(90, 110)
    assert first["flow_m3_per_day"] == 9000.0 and first["population"] == 25300.0
    assert first["load_mg_per_day"] == pytest.approx(900.0)
    assert first["load_mg_per_day_per_1000"] == pytest.approx(900.0 / 25300 * 1000)
    assert not first["censored"] and first["composite_hours"] == 24
    # censored day: LOQ/2 = 5 ng/L × 8 000 m³/day = 40 mg/day
    assert bool(second["censored"]) and second["loq_ng_per_l"] == 10.0
    assert second["concentration_ng_per_l"] == 5.0
    assert second["load_mg_per_day"] == pytest.approx(40.0)
    with connect(engine) as conn:
        assert series_version(conn, "SE-A", "benzoylecgonine")[0] == 1
    # a flow correction for 2025-01-03 changes that day's load and the series' version
    ingest_bytes(engine, b"site,date,flow_m3_per_day\nSE-A,2025-01-03,6000\n", filename="f2.csv",
                 uploader="t")
    rows = read_store(engine, "SE-A", "benzoylecgonine")
    assert rows.iloc[1]["load_mg_per_day"] == pytest.approx(30.0)
    assert rows.iloc[0]["load_mg_per_day"] == pytest.approx(900.0)
    with connect(engine) as conn:
        assert series_version(conn, "SE-A", "benzoylecgonine")[0] == 2
    _assert_store_is_scratch(engine)


def test_72h_composite_covers_three_days_with_mean_flow(engine):
    ingest_bytes(engine, _sites_csv([("SE-A", 2025, 20000)]), filename="s.csv", uploader="t")
    ingest_bytes(engine, b"site,date,flow_m3_per_day\nSE-A,2025-01-03,9000\nSE-A,2025-01-04,"
                         b"12000\nSE-A,2025-01-05,6000\n", filename="f.csv", uploader="t")
    body = RESULT_HEADER + "W1,SE-A,2025-01-03,amphetamine,200,ng/L,,10,1,,72,1,sample\n"
    ingest_bytes(engine, body.encode(), filename="r.csv", uploader="t")
    rows = read_store(engine, "SE-A", "amphetamine")
    assert rows["date"].dt.day.tolist() == [3, 4, 5]
    assert rows["composite_hours"].tolist() == [72, 72, 72]
    # 200 ng/L × mean(9000, 12000, 6000) = 9000 m³/day → 1 800 mg/day on each covered day
    assert rows["load_mg_per_day"].tolist() == pytest.approx([1800.0] * 3)
    # a flow change on the middle day changes all three days (the composite's mean flow)
    ingest_bytes(engine, b"site,date,flow_m3_per_day\nSE-A,2025-01-04,15000\n", filename="f2.csv",
                 uploader="t")
    rows = read_store(engine, "SE-A", "amphetamine")
    assert rows["load_mg_per_day"].tolist() == pytest.approx([2000.0] * 3)
    _assert_store_is_scratch(engine)


def test_correction_moving_a_sample_to_another_site_empties_the_old_days(engine):
    ingest_bytes(engine, _sites_csv([("SE-A", 2025, 20000), ("SE-B", 2025, 30000)]),
                 filename="s.csv", uploader="t")
    ingest_bytes(engine, (RESULT_HEADER + "X1,SE-A,2025-01-03,mdma,50,ng/L,,1,0.5,8000,24,1,"
                          "sample\n").encode(), filename="r1.csv", uploader="t")
    ingest_bytes(engine, (RESULT_HEADER + "X1,SE-B,2025-01-04,mdma,55,ng/L,,1,0.5,8000,24,1,"
                          "sample\n").encode(), filename="r2.csv", uploader="t")
    assert read_store(engine, "SE-A", "mdma").empty
    assert read_store(engine, "SE-B", "mdma")["date"].dt.day.tolist() == [4]
    with connect(engine) as conn:
        assert series_version(conn, "SE-A", "mdma")[0] == 2  # emptied: still a new version
    _assert_store_is_scratch(engine)


def test_rebuild_series_keeps_rows_and_increments_versions(engine):
    ingest_bytes(engine, _sites_csv([("SE-A", 2025, 20000)]), filename="s.csv", uploader="t")
    ingest_bytes(engine, (RESULT_HEADER + "X1,SE-A,2025-01-03,mdma,50,ng/L,,1,0.5,8000,24,1,"
                          "sample\n").encode(), filename="r1.csv", uploader="t")
    before = read_store(engine)
    with engine.begin() as conn:  # damage the store by hand
        conn.execute(t.series_blocks.delete())
    assert read_store(engine).empty
    assert rebuild_series(engine) == 1
    pd.testing.assert_frame_equal(read_store(engine), before, check_exact=True)
    with connect(engine) as conn:
        assert series_version(conn, "SE-A", "mdma")[0] == 2


# ----------------------------------------------------------------- random sequences

_day = st.integers(0, N_DAYS - 1)
_result_row = st.fixed_dictionaries({
    "sample": st.integers(0, 7),           # small pool of sample ids → corrections happen
    "site": st.sampled_from(SITES),
    "day": _day,
    "analyte": st.sampled_from(ANALYTES),
    "replicate": st.integers(1, 2),
    "value": st.one_of(st.none(), st.floats(1, 1000, allow_nan=False).map(lambda v: round(v, 2))),
    "hours": st.sampled_from((24, 24, 24, 48, 72)),
    "own_flow": st.one_of(st.none(), st.integers(5000, 15000)),
})
_op = st.one_of(
    st.tuples(st.just("results"), st.lists(_result_row, min_size=1, max_size=8)),
    st.tuples(st.just("flows"), st.lists(
        st.tuples(st.sampled_from(SITES), _day, st.integers(3000, 20000)), min_size=1,
        max_size=6)),
    st.tuples(st.just("sites"), st.lists(
        st.tuples(st.sampled_from(SITES), st.sampled_from((2023, 2024, 2025, 2026)),
                  st.integers(5000, 60000)), min_size=1, max_size=3)),
)


def _op_bytes(kind: str, rows: list) -> bytes:
    if kind == "sites":
        return _sites_csv(rows)
    if kind == "flows":
        lines = ["site,date,flow_m3_per_day"]
        lines += [f"{s},{DAY0 + dt.timedelta(days=d)},{q}" for s, d, q in rows]
        return ("\n".join(lines) + "\n").encode()
    lines = []
    for r in rows:
        day = DAY0 + dt.timedelta(days=r["day"])
        value, qual = (("", "<LOQ") if r["value"] is None else (f"{r['value']}", ""))
        flow = "" if r["own_flow"] is None else str(r["own_flow"])
        lines.append(f"S{r['sample']},{r['site']},{day},{r['analyte']},{value},ng/L,{qual},5,1,"
                     f"{flow},{r['hours']},{r['replicate']},sample")
    return (RESULT_HEADER + "\n".join(lines) + "\n").encode()


def _versions(engine) -> dict[tuple[str, str], int]:
    with connect(engine) as conn:
        v = t.series_versions.c
        return {(a, b): int(c) for a, b, c in conn.execute(sa.select(v.site, v.analyte,
                                                                     v.version))}


@settings(max_examples=int(os.environ.get("WW_SERIES_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(_op, min_size=1, max_size=7),
       build_rows=st.sampled_from((series.BUILD_ROWS, 1)))
def test_store_equals_scratch_build_after_random_uploads(engine, monkeypatch, ops, build_rows):
    # build_rows=1: the touched days are built one site at a time (as a million-row upload is)
    monkeypatch.setattr(series, "BUILD_ROWS", build_rows)
    _wipe(engine)
    ingest_bytes(engine, _sites_csv([("SE-A", 2024, 20000), ("SE-B", 2025, 12000)]),
                 filename="sites.csv", uploader="t")
    for i, (kind, rows) in enumerate(ops):
        before = _versions(engine)
        stored_before = read_store(engine)
        out = ingest_bytes(engine, _op_bytes(kind, rows), kind=kind, filename=f"{i}.csv",
                           uploader="t", on_error="skip")
        stored = _assert_store_is_scratch(engine)
        after = _versions(engine)
        # every series whose rows changed has a higher version; none went down
        assert all(after.get(k, 0) >= n for k, n in before.items())
        changed = _changed_pairs(stored_before, stored)
        assert all(after.get(k, 0) > before.get(k, 0) for k in changed), (changed, out)


def _changed_pairs(a: pd.DataFrame, b: pd.DataFrame) -> set[tuple[str, str]]:
    keys = set(zip(a["site"], a["analyte"], strict=True)) | set(zip(b["site"], b["analyte"],
                                                                      strict=True))
    out = set()
    for site, analyte in keys:
        x = a[(a["site"] == site) & (a["analyte"] == analyte)].reset_index(drop=True)
        y = b[(b["site"] == site) & (b["analyte"] == analyte)].reset_index(drop=True)
        if not x.equals(y):
            out.add((site, analyte))
    return out


# ----------------------------------------------------------------- crash mid-upload

_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import wastewater.storage.series as series
    from wastewater.storage.database import get_engine
    from wastewater.storage.service import ingest_bytes

    url, marker, data = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]).read_bytes()
    real = series._write_blocks

    def write_then_stall(conn, **blocks):
        real(conn, **blocks)  # store blocks written inside the open upload transaction
        marker.write_text("store blocks written, transaction open")
        time.sleep(120)

    series._write_blocks = write_then_stall
    ingest_bytes(get_engine(url), data, filename="r2.csv", uploader="t")
    """
)


def _raw_snapshot(engine) -> dict[str, list[tuple]]:
    out = {}
    with engine.connect() as conn:
        for table in (t.uploads, t.site_populations, t.flows, t.results, t.series_blocks,
                      t.series_versions, t.audit_log):
            cols = [c for c in table.c if c.name != "content"]
            out[table.name] = [tuple(r) for r in conn.execute(
                sa.select(*cols).order_by(*table.primary_key.columns))]
    return out


def _mdma_days(days: range, value_of_day: int, prefix: str = "S") -> bytes:
    """One 24-h MDMA sample a day at SE-A in January 2025: ``value_of_day + d`` ng/L on day d."""
    return (RESULT_HEADER + "".join(
        f"{prefix}{d},SE-A,2025-01-{d:02d},mdma,{value_of_day + d},ng/L,,1,0.5,8000,24,1,sample\n"
        for d in days)).encode()


def test_writer_killed_inside_store_maintenance_leaves_both_consistent(engine, db_url, tmp_path):
    ingest_bytes(engine, _sites_csv([("SE-A", 2025, 20000)]), filename="s.csv", uploader="t")
    first = _mdma_days(range(1, 11), 10)
    ingest_bytes(engine, first, filename="r1.csv", uploader="t")
    before = _raw_snapshot(engine)
    correction = _mdma_days(range(5, 16), 20)
    data_file = tmp_path / "r2.csv"
    data_file.write_bytes(correction)
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, str(script), db_url, str(marker), str(data_file)])
    try:
        deadline = time.monotonic() + 300  # imports on a loaded machine take a while
        while not marker.exists():
            assert proc.poll() is None, "writer ended before reaching the store maintenance"
            assert time.monotonic() < deadline, "writer never reached the store maintenance"
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    engine.dispose()  # PostgreSQL drops the killed session's transaction; SQLite its journal
    assert _raw_snapshot(engine) == before
    _assert_store_is_scratch(engine)
    out = ingest_bytes(engine, correction, filename="r2.csv", uploader="t")
    assert out.stored and out.rows_superseded == 6
    stored = _assert_store_is_scratch(engine)
    assert stored["concentration_ng_per_l"].tolist() == [11.0, 12.0, 13.0, 14.0] + [
        20.0 + d for d in range(5, 16)]


def test_a_failing_store_rebuild_leaves_the_upload_unstored(engine, monkeypatch):
    # the store's refresh runs inside the upload's transaction: when its rebuild fails,
    # nothing of the upload is stored (rows, upload, audit, store)
    ingest_bytes(engine, _sites_csv([("SE-A", 2025, 20000)]), filename="s.csv", uploader="t")
    first = _mdma_days(range(1, 6), 10)
    ingest_bytes(engine, first, filename="r1.csv", uploader="t")
    before = _raw_snapshot(engine)

    def broken(*args, **kwargs):
        raise RuntimeError("rebuild failed")

    monkeypatch.setattr(series, "_build_touched", broken)
    second = _mdma_days(range(6, 11), 30, prefix="T")
    with pytest.raises(RuntimeError, match="rebuild failed"):
        ingest_bytes(engine, second, filename="r2.csv", uploader="t")
    assert _raw_snapshot(engine) == before
    monkeypatch.undo()
    out = ingest_bytes(engine, second, filename="r2.csv", uploader="t")
    assert out.stored and out.rows_inserted == 5
    stored = _assert_store_is_scratch(engine)
    assert stored["concentration_ng_per_l"].tolist() == [11.0 + d for d in range(5)] + [
        36.0 + d for d in range(5)]


def test_migration_builds_the_store_of_a_database_with_results(blank_db_url):
    """A database at 0001 with results gets its store from the 0002 upgrade."""
    from wastewater.storage.database import get_engine, upgrade

    upgrade(blank_db_url, "0001")
    engine = get_engine(blank_db_url)
    now = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO uploads (upload_id, kind, filename, sha256, size_bytes, content, uploader,"
            " uploaded_at, rows_total, rows_accepted, report_json) VALUES (1, 'results', 'r.csv',"
            " :sha, 3, :content, 'lab', :now, 1, 1, '{}')"),
            {"sha": "0" * 64, "content": b"a,b", "now": now})
        conn.execute(sa.text("INSERT INTO sites (site, name) VALUES ('SE-X', 'X')"))
        conn.execute(sa.text("INSERT INTO site_populations (site, year, population, method) "
                             "VALUES ('SE-X', 2025, 20000, 'de_jure')"))
        conn.execute(sa.text(
            "INSERT INTO results (sample_id, site, sample_date, analyte, replicate, sample_role,"
            " value_ng_per_l, censor, flow_m3_per_day, composite_hours, upload_id, is_current,"
            " stored_at) VALUES ('S1', 'SE-X', :d, 'mdma', 1, 'sample', 50, 'none', 10000, 24, 1,"
            " :t, :now)"), {"d": dt.date(2025, 2, 1), "t": True, "now": now})
    upgrade(blank_db_url)
    rows = read_store(engine)
    assert rows["load_mg_per_day"].tolist() == [500.0]  # 50 ng/L × 10 000 m³/day / 1000
    assert rows["load_mg_per_day_per_1000"].tolist() == pytest.approx([25.0])
    _assert_store_is_scratch(engine)
    engine.dispose()


def test_concurrent_uploads_of_the_same_day_both_reach_the_store(engine):
    """Two results uploads with replicates of the same day, the second started while the first
    has written its rows but not committed. Each builds the day from the rows its snapshot
    shows, so on PostgreSQL (concurrent writers) the second must wait for the first: the stored
    day is then the mean of all three replicates (100, 200, 600 → 300 ng/L), as a from-scratch
    build gives. SQLite queues writers anyway (BEGIN IMMEDIATE)."""
    import threading

    from wastewater.storage.series import read_store

    ingest_bytes(engine, _sites_csv([("SE-A", 2024, 20_000)]), filename="s.csv", uploader="t")

    def results(replicate: int, value: float) -> bytes:
        return (RESULT_HEADER + f"A-1,SE-A,2025-01-02,benzoylecgonine,{value},ng/L,,10,1,1000,24,"
                f"{replicate},sample\n").encode()

    ingest_bytes(engine, results(1, 100), filename="r1.csv", uploader="t")  # the series exists
    first_writing, release = threading.Event(), threading.Event()

    def hold(done: int, total: int) -> None:  # the first upload's rows are written, not committed
        first_writing.set()
        release.wait(10)

    outcomes: dict[str, object] = {}
    first = threading.Thread(target=lambda: outcomes.setdefault("first", ingest_bytes(
        engine, results(2, 200), filename="r2.csv", uploader="t", progress=hold)))
    second = threading.Thread(target=lambda: outcomes.setdefault("second", ingest_bytes(
        engine, results(3, 600), filename="r3.csv", uploader="t")))
    first.start()
    assert first_writing.wait(10)
    second.start()
    time.sleep(0.5)  # the second upload reads and builds now, unless it waits for the first
    release.set()
    first.join(20)
    second.join(20)
    assert all(o.stored for o in outcomes.values()), outcomes
    day = read_store(engine, "SE-A", "benzoylecgonine")
    assert day["n_replicates"].tolist() == [3]
    assert day["concentration_ng_per_l"].tolist() == [300.0]
    _assert_store_is_scratch(engine)


def test_an_upload_waits_for_the_write_lock_only_as_long_as_sqlite_would(engine, monkeypatch):
    """PostgreSQL: while another transaction holds the writers' lock, an upload waits at most
    the busy timeout, then fails as busy with nothing stored (SQLite: its own busy timeout)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's")
    from wastewater.exceptions import StorageUnavailable
    from wastewater.storage import database

    ingest_bytes(engine, _sites_csv([("SE-A", 2024, 20_000)]), filename="s.csv", uploader="t")
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_S", 0.3)
    body = (RESULT_HEADER + "A-1,SE-A,2025-01-02,benzoylecgonine,100,ng/L,,10,1,1000,24,1,sample\n").encode()
    with database.write_transaction(engine, data_lock=True):  # another upload, still running
        started = time.perf_counter()
        with pytest.raises(StorageUnavailable, match="busy"):
            ingest_bytes(engine, body, filename="r.csv", uploader="t")
        assert 0.3 <= time.perf_counter() - started < 5
    with connect(engine) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.uploads)).scalar_one() == 1
        assert conn.execute(sa.text("SHOW lock_timeout")).scalar_one() == "0"
    assert ingest_bytes(engine, body, filename="r.csv", uploader="t").stored  # once it is free
