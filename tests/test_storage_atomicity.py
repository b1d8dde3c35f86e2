"""All-or-nothing uploads: injected DB failures, a SIGKILLed writer, concurrent identical uploads."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from storage_factories import as_bytes, big_results_frame, parsed, results_frame, sites_frame

from wastewater.storage import bulk
from wastewater.storage import tables as t
from wastewater.storage.service import sha256_hex, store_parsed

TESTS_DIR = Path(__file__).resolve().parent


def _snapshot(engine) -> dict[str, list[tuple]]:
    """Every row of every table the ingest writes (upload bytes excluded)."""
    out = {}
    with engine.connect() as conn:
        for table in (t.uploads, t.sites, t.site_populations, t.flows, t.results, t.events,
                      t.audit_log, t.series_blocks, t.series_versions):
            cols = [c for c in table.c if c.name != "content"]
            pk = list(table.primary_key.columns)
            out[table.name] = [tuple(r) for r in conn.execute(sa.select(*cols).order_by(*pk))]
    return out


class _InjectedFailure(RuntimeError):
    pass


@pytest.mark.parametrize(
    "failing_statement",
    [
        "INSERT INTO uploads",  # the very first write
        "UPDATE results SET is_current",  # old versions being demoted and linked, first
        "INSERT INTO results",  # old versions demoted and linked, new ones being inserted
        "UPDATE series_blocks",  # raw rows written, derived store being refreshed
        "UPDATE series_versions",  # store rows written, versions being incremented
        "INSERT INTO audit_log",  # every data row written, just before COMMIT
    ],
)
def test_failure_mid_upload_leaves_database_as_before(engine, failing_statement, monkeypatch):
    store_parsed(engine, b"sites", parsed("sites", sites_frame()), filename="s.csv",
                 uploader="t")
    store_parsed(engine, b"v1", parsed("results", results_frame()), filename="v1.csv",
                 uploader="t")
    before = _snapshot(engine)
    correction = results_frame(n_days=5)  # 2 changed + 4 new + 4 unchanged rows
    correction.loc[0:1, "value_ng_per_l"] = [1.0, 2.0]

    def fail(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(failing_statement.upper()):
            raise _InjectedFailure(f"injected before {failing_statement}")

    if failing_statement == "INSERT INTO results" and engine.dialect.name == "postgresql":
        # PostgreSQL loads the rows by COPY, not a cursor execute: fail while it is fed (the
        # lines of a batch are made)
        def fail_copy(*args, **kwargs):
            raise _InjectedFailure("injected while the results COPY is fed")

        monkeypatch.setattr(bulk, "_copy_lines", fail_copy)
    event.listen(engine, "before_cursor_execute", fail)
    try:
        with pytest.raises(_InjectedFailure):
            store_parsed(engine, b"v2", parsed("results", correction), filename="v2.csv",
                         uploader="t")
    finally:
        event.remove(engine, "before_cursor_execute", fail)
        monkeypatch.undo()
    assert _snapshot(engine) == before
    # and the same upload goes through once the fault is gone
    out = store_parsed(engine, b"v2", parsed("results", correction), filename="v2.csv",
                       uploader="t")
    assert (out.rows_inserted, out.rows_superseded, out.rows_unchanged) == (6, 2, 4)


def test_constraint_violation_rolls_back_whole_upload(engine):
    """A row the database refuses (unknown site → foreign key) aborts the upload."""
    store_parsed(engine, b"sites", parsed("sites", sites_frame()), filename="s.csv",
                 uploader="t")
    before = _snapshot(engine)
    frame = results_frame(n_days=3)
    frame.loc[5, "site"] = "SE-NOT-REGISTERED"  # the parser would report unknown_site
    with pytest.raises(sa.exc.IntegrityError):
        store_parsed(engine, b"bad", parsed("results", frame), filename="bad.csv", uploader="t")
    assert _snapshot(engine) == before


def test_concurrent_identical_uploads_are_stored_once(engine):
    store_parsed(engine, b"sites", parsed("sites", sites_frame()), filename="s.csv",
                 uploader="t")
    upload = parsed("results", results_frame(n_days=30))
    data = as_bytes(upload)
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def worker() -> None:
        try:
            barrier.wait()
            # both may pass the duplicate pre-check; then UNIQUE(sha256) decides the race
            outcomes.append(store_parsed(engine, data, upload, filename="r.csv", uploader="t"))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert errors == []
    assert sorted((o.stored, o.duplicate) for o in outcomes) == [(False, True), (True, False)]
    assert len({o.upload_id for o in outcomes}) == 1
    with engine.connect() as conn:
        n_uploads = conn.execute(sa.select(sa.func.count()).select_from(t.uploads)).scalar()
        n_results = conn.execute(sa.select(sa.func.count()).select_from(t.results)).scalar()
    assert (n_uploads, n_results) == (2, 60)


def test_uncommitted_identical_upload_makes_the_second_a_duplicate(engine):
    """Deterministic race: B passes the pre-check while A's upload row is uncommitted.

    B's INSERT then waits for A (PostgreSQL: unique-index lock; SQLite: the write lock) and,
    once A commits, fails on UNIQUE(sha256), which store_parsed reports as a duplicate.
    """
    from wastewater.storage.database import write_transaction

    store_parsed(engine, b"sites", parsed("sites", sites_frame()), filename="s.csv",
                 uploader="t")
    upload = parsed("results", results_frame())
    data = as_bytes(upload)
    outcome, errors, b_inserts = [], [], []

    def count_b_inserts(conn, cursor, statement, parameters, context, executemany):
        if (threading.current_thread().name == "B"
                and statement.lstrip().upper().startswith("INSERT INTO UPLOADS")):
            b_inserts.append(statement)

    def b() -> None:
        try:
            outcome.append(store_parsed(engine, data, upload, filename="b.csv", uploader="b"))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    event.listen(engine, "before_cursor_execute", count_b_inserts)
    try:
        with write_transaction(engine) as conn:  # "A": same bytes, not yet committed
            a_id = conn.execute(t.uploads.insert().returning(t.uploads.c.upload_id), {
                "kind": "results", "filename": "a.csv", "sha256": sha256_hex(data),
                "size_bytes": len(data), "content": data, "uploader": "a",
                "uploaded_at": dt.datetime.now(dt.UTC), "rows_total": 0, "rows_accepted": 0,
                "report_json": "{}"}).scalar_one()
            thread = threading.Thread(target=b, name="B")
            thread.start()
            time.sleep(2.0)  # B checks for duplicates (sees nothing) and blocks on its INSERT
            assert thread.is_alive()
        thread.join(60)
    finally:
        event.remove(engine, "before_cursor_execute", count_b_inserts)
    assert errors == []
    assert (outcome[0].duplicate, outcome[0].stored, outcome[0].upload_id) == (True, False, a_id)
    assert len(b_inserts) >= 1  # B really tried to insert: the UNIQUE path was exercised
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.results)).scalar() == 0


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {tests_dir!r})
    from storage_factories import big_results_frame, parsed
    from wastewater.storage.database import get_engine
    from wastewater.storage.service import store_parsed

    url, marker, n_rows, stall = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    engine = get_engine(url)
    upload = parsed("results", big_results_frame(n_rows))

    def progress(done, total):
        # called inside the open transaction after each stored batch
        if stall == "stall" and done < total:
            marker.write_text(f"{{done}} of {{total}} rows written, transaction open")
            time.sleep(120)

    out = store_parsed(engine, b"big-results-file", upload, filename="big.csv", uploader="t",
                       progress=progress)
    print(out.stored, out.rows_inserted)
    """
)


@pytest.mark.slow
def test_sigkill_mid_upload_leaves_upload_absent_then_complete(engine, db_url, tmp_path):
    """SIGKILL while the writer holds its transaction open (on PostgreSQL inside the bulk
    COPY): nothing is stored; a rerun stores everything."""
    store_parsed(engine, b"sites", parsed("sites", sites_frame()), filename="s.csv",
                 uploader="t")
    before = _snapshot(engine)
    script = tmp_path / "writer.py"
    script.write_text(_WRITER.format(tests_dir=str(TESTS_DIR)))
    marker = tmp_path / "marker"
    n_rows = 25_000  # two bulk batches (BATCH_ROWS): killed after the first (PostgreSQL: mid-COPY)
    proc = subprocess.Popen([sys.executable, str(script), db_url, str(marker), str(n_rows),
                             "stall"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), proc.stderr.read().decode() if proc.poll() is not None else ""
        if engine.dialect.name == "postgresql":  # the kill lands inside the bulk COPY
            with engine.connect() as conn:
                running = conn.exec_driver_sql(
                    "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()").scalars().all()
            assert any(q.startswith('COPY "results"') or q.startswith("COPY results")
                       for q in running), running
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)  # the writer started above
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    engine.dispose()
    # "restart": new connections see the database exactly as before the killed upload
    after_kill = _snapshot(engine)
    assert after_kill == before
    # a clean run stores the upload completely
    done = subprocess.run([sys.executable, str(script), db_url, str(marker), str(n_rows),
                           "go"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", str(n_rows)]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.results)).scalar() == n_rows
        assert conn.execute(sa.select(sa.func.count()).select_from(t.uploads)).scalar() == 2


def test_big_frame_values_survive_round_trip(sqlite_engine):
    """Spot-check the seeded big frame used above: values are stored bit-for-bit."""
    store_parsed(sqlite_engine, b"sites", parsed("sites", sites_frame()), filename="s.csv",
                 uploader="t")
    frame = big_results_frame(2_000)
    store_parsed(sqlite_engine, b"big", parsed("results", frame), filename="b.csv", uploader="t")
    from wastewater.storage.repository import load_results

    got = load_results(sqlite_engine).sort_values(["sample_id", "analyte"])
    want = frame.sort_values(["sample_id", "analyte"])
    assert got["value_ng_per_l"].tolist() == want["value_ng_per_l"].tolist()


def test_lost_connection_mid_upload_is_storage_unavailable(engine, pg_admin):
    """The server ends the writer's session mid-transaction: clear error, nothing stored."""
    if engine.dialect.name != "postgresql":
        pytest.skip("terminating a server backend only exists on PostgreSQL")
    from wastewater.exceptions import StorageUnavailable

    store_parsed(engine, b"sites", parsed("sites", sites_frame()), filename="s.csv",
                 uploader="t")
    before = _snapshot(engine)
    dbname = engine.url.database

    def terminate_writer(done: int, total: int) -> None:
        with pg_admin.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{dbname}' AND (state LIKE 'idle in transaction%%' "
                "OR query LIKE 'COPY%%')")  # progress runs between statements or inside a COPY

    with pytest.raises(StorageUnavailable, match="connection was lost.*nothing was written"):
        store_parsed(engine, b"r", parsed("results", results_frame()), filename="r.csv",
                     uploader="t", progress=terminate_writer)
    assert _snapshot(engine) == before
