"""Alembic migrations between versions, on SQLite and PostgreSQL.

(``tests/test_migrations.py``, by the storage owner, covers empty → head against the metadata and
head → base → head; this module covers what happens *between* versions and in deployment.)

* the "stairway": every revision upgrades, downgrades one step and upgrades again in order, so a
  broken ``downgrade()`` in any revision is caught, not only in the newest; the end state
  matches ``wastewater.storage.tables`` (``alembic.autogenerate.compare_metadata``);
* rows written at an older revision survive the upgrade to head (runs once a 0002 exists);
* re-running ``upgrade`` at head is a no-op; several processes upgrading the same empty
  database at the same moment (several API replicas starting together) all succeed;
* the offline SQL script (``alembic upgrade --sql``) that a DBA can review is complete.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from wastewater.storage import database
from wastewater.storage.tables import compared_in_schema, metadata

SCRIPTS = ScriptDirectory.from_config(database.alembic_config())
REVISIONS = [s.revision for s in reversed(list(SCRIPTS.walk_revisions("base", "heads")))]
"""Every revision, oldest first."""


def _run(url: str, action: str, revision: str) -> None:
    """``alembic upgrade|downgrade <revision>`` through an open connection (as the app does)."""
    engine = database.get_engine(url)
    try:
        cfg = database.alembic_config(url)
        with engine.connect() as conn, conn.begin():
            cfg.attributes["connection"] = conn
            getattr(command, action)(cfg, revision)
    finally:
        engine.dispose()


def _schema_diff(url: str) -> list:
    engine = database.get_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={
                "compare_type": True, "include_object": compared_in_schema(engine.dialect.name)})
            return compare_metadata(ctx, metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = database.get_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _revision(url: str) -> str | None:
    engine = database.get_engine(url)
    try:
        return database.current_revision(engine)
    finally:
        engine.dispose()


def test_revision_chain_is_linear_and_starts_at_0001() -> None:
    assert REVISIONS[0] == "0001"
    assert len(SCRIPTS.get_heads()) == 1, "branched migration history: merge the heads"
    for older, newer in itertools.pairwise(REVISIONS):
        assert SCRIPTS.get_revision(newer).down_revision == older


def test_stairway_every_revision_up_down_up(blank_db_url: str) -> None:
    previous = "base"
    for rev in REVISIONS:
        _run(blank_db_url, "upgrade", rev)
        tables_up = _tables(blank_db_url)
        _run(blank_db_url, "downgrade", previous)
        assert _revision(blank_db_url) == (None if previous == "base" else previous)
        _run(blank_db_url, "upgrade", rev)
        assert _tables(blank_db_url) == tables_up
        assert _revision(blank_db_url) == rev
        previous = rev
    assert _schema_diff(blank_db_url) == []


@pytest.mark.parametrize("start", REVISIONS[:-1])
def test_rows_written_at_older_revision_survive_upgrade(blank_db_url: str, start: str) -> None:
    """Rows of the 0001 tables inserted at ``start`` are still there at head."""
    _run(blank_db_url, "upgrade", start)
    engine = database.get_engine(blank_db_url)
    now = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO uploads (upload_id, kind, filename, sha256, size_bytes, content, uploader,"
            " uploaded_at, rows_total, rows_accepted, report_json) VALUES (1, 'sites', 's.csv',"
            " :sha, 3, :content, 'lab', :now, 1, 1, '{}')"),
            {"sha": "0" * 64, "content": b"a,b", "now": now})
        conn.execute(sa.text(
            "INSERT INTO sites (site, name, municipality, upload_id) "
            "VALUES ('SE-X', 'X verket', 'Xstad', 1)"))
    engine.dispose()
    _run(blank_db_url, "upgrade", "head")
    engine = database.get_engine(blank_db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM sites WHERE site = 'SE-X'")).scalar_one() \
            == "X verket"
        assert bytes(conn.execute(sa.text("SELECT content FROM uploads")).scalar_one()) == b"a,b"
    engine.dispose()


def test_upgrade_at_head_is_a_no_op(db_url: str) -> None:
    before = _tables(db_url)
    database.upgrade(db_url)
    assert _tables(db_url) == before
    assert _revision(db_url) == REVISIONS[-1]


_UPGRADE_CODE = textwrap.dedent("""
    import sys, time
    from wastewater.storage.database import upgrade
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # all start together, imports done
    upgrade(sys.argv[1])
""")


@pytest.mark.slow
def test_concurrent_upgrades_from_several_processes(blank_db_url: str) -> None:
    """Three API replicas starting at once each run `wastewater db upgrade` first.

    Alembic is not thread-safe (module-level ``context``), so replicas are separate processes.
    """
    # database.upgrade() serialises migrations (PostgreSQL advisory lock, SQLite BEGIN IMMEDIATE).
    start_at = str(time.time() + 3.0)
    procs = [
        subprocess.Popen([sys.executable, "-c", _UPGRADE_CODE, blank_db_url, start_at],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outcomes = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for code, err in outcomes:
        assert code == 0, err.strip().splitlines()[-1:]
    assert _revision(blank_db_url) == REVISIONS[-1]
    assert _schema_diff(blank_db_url) == []


def test_offline_sql_script_creates_every_table() -> None:
    """``alembic upgrade head --sql`` for PostgreSQL: the DDL a DBA can review and apply."""
    buf = io.StringIO()
    cfg = database.alembic_config("postgresql+psycopg://reviewer@db.invalid/wastewater")
    cfg.output_buffer = buf
    command.upgrade(cfg, "head", sql=True)
    sql = buf.getvalue()
    for table in metadata.tables:
        assert f"CREATE TABLE {table} (" in sql, table
    assert "CREATE TABLE alembic_version" in sql
    assert f"UPDATE alembic_version SET version_num='{REVISIONS[-1]}'" in sql or (
        len(REVISIONS) == 1 and f"INSERT INTO alembic_version (version_num) VALUES "
        f"('{REVISIONS[-1]}')" in sql
    )
    assert "COMMIT;" in sql
