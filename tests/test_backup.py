"""Full backup and restore (``wastewater.backup``) on SQLite and PostgreSQL.

The source database is filled through the real paths — the sample files through
``ingest_bytes``, a correction that supersedes results, a population update, an upload stored
with ``on_error="skip"``, a rejected upload and a dry run (which on PostgreSQL burn sequence
numbers, so upload ids have gaps), API keys created and revoked through ``api.security``, and
EUDA reference rows — then:

* export → import into an empty database *of the other backend* → export again gives a
  byte-identical archive (SQLite → PostgreSQL and PostgreSQL → SQLite);
* the restored database answers the repository queries exactly as the source does
  (results with history, flows, events, sites, populations) and keeps upload ids;
* a corrupt member, a foreign file, a non-empty target and a table the replay cannot
  reproduce are each refused with a clear error, and a failed import leaves the target empty.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from wastewater import backup
from wastewater.storage import repository, tables
from wastewater.storage.database import get_engine, head_revision, upgrade
from wastewater.storage.service import ingest_bytes

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
TODAY = dt.date(2025, 12, 31)
RESULTS_BYTES = b"".join((SAMPLES / "results.csv").read_bytes().splitlines(keepends=True)[:1201])
"""Header + the first 1200 results of the demo data (kept small: the tests replay it often)."""


def _correction(results: bytes) -> bytes:
    """First 40 data lines of results.csv with every value × 1.1 (a lab re-report)."""
    lines = results.decode("utf-8").splitlines()
    header = lines[0].split(",")
    vi = header.index("value")
    out = [lines[0]]
    for line in lines[1:41]:
        cells = line.split(",")
        if cells[vi] and cells[vi][0].isdigit():
            cells[vi] = f"{float(cells[vi]) * 1.1:.4g}"
        out.append(",".join(cells))
    return ("\n".join(out) + "\n").encode("utf-8")


def _fill(engine: sa.Engine) -> None:
    read = {name: (SAMPLES / name).read_bytes() for name in
            ("sites.csv", "flows.csv", "events.csv", "bad_results.csv")}
    read["results.csv"] = RESULTS_BYTES

    def put(data: bytes, name: str, **kw) -> object:
        kw.setdefault("uploader", "lab-a")
        return ingest_bytes(engine, data, filename=name, today=TODAY, **kw)

    assert put(read["sites.csv"], "sites.csv", uploader="admin").stored
    assert put(read["flows.csv"], "flows.csv").stored
    put(read["results.csv"], "results.csv", dry_run=True)            # burns ids on PostgreSQL
    assert put(read["results.csv"], "results.csv").stored
    rejected = put(read["bad_results.csv"], "bad_results.csv")        # nothing stored
    assert rejected.rejected
    skipped = put(read["bad_results.csv"], "bad_results.csv", on_error="skip")
    assert skipped.stored and not skipped.report.ok
    corr = put(_correction(read["results.csv"]), "results-corrected.csv", uploader="lab-b")
    assert corr.stored and corr.rows_superseded > 0
    assert put(read["events.csv"], "events.csv", uploader="police-liaison").stored
    sites = read["sites.csv"].decode().replace("25300", "25410").encode()
    assert put(sites, "sites-2025-update.csv", uploader="admin").rows_superseded >= 1

    from api.security import create_key, revoke_key

    create_key(engine, "Katrineholm lab", "lab", ["SE-KAT-ROS"], actor="bootstrap-admin")
    create_key(engine, "Analyst", "analyst", actor="bootstrap-admin")
    with engine.connect() as conn:
        first = conn.execute(sa.select(tables.api_keys.c.key_id)
                             .order_by(tables.api_keys.c.name)).scalars().first()
    revoke_key(engine, first, actor="bootstrap-admin")
    with engine.begin() as conn:
        conn.execute(tables.reference_sites.insert(), [
            {"source": "EUDA-2025", "site_id": "SE001", "country": "Sweden", "city": "Stockholm",
             "location": "Henriksdal", "lat": 59.31, "lon": 18.11, "population": 1_000_000},
            {"source": "EUDA-2025", "site_id": "SE002", "country": "Sweden", "city": "Göteborg",
             "location": None, "lat": None, "lon": None, "population": None},
        ])
        conn.execute(tables.reference_values.insert(), [
            {"source": "EUDA-2025", "site_id": "SE001", "year": 2024, "analyte": "cocaine",
             "weekday": "Sat", "value_mg_per_day_per_1000": 812.5, "censored": False},
            {"source": "EUDA-2025", "site_id": "SE001", "year": 2024, "analyte": "mdma",
             "weekday": "Mon", "value_mg_per_day_per_1000": None, "censored": True},
        ])


@contextlib.contextmanager
def _fresh(request: pytest.FixtureRequest, backend: str, folder: Path) -> Iterator[sa.Engine]:
    """An empty migrated database of ``backend`` (dropped afterwards)."""
    admin = name = None
    if backend == "postgresql":
        admin = request.getfixturevalue("pg_admin")
        name = f"ww_backup_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    else:
        url = f"sqlite:///{folder / f'{uuid.uuid4().hex[:8]}.db'}"
    upgrade(url)
    eng = get_engine(url)
    try:
        yield eng
    finally:
        eng.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=["sqlite",
                                        pytest.param("postgresql", marks=pytest.mark.postgres)])
def source(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[tuple[sa.Engine, Path]]:
    """A filled database of one backend and its archive (built once per module)."""
    folder = tmp_path_factory.mktemp(f"source-{request.param}")
    with _fresh(request, request.param, folder) as eng:
        _fill(eng)
        archive = folder / "source.zip"
        backup.export_all(eng, archive)
        yield eng, archive


@pytest.fixture(scope="module")
def sqlite_source(request, tmp_path_factory) -> Iterator[tuple[sa.Engine, Path]]:
    folder = tmp_path_factory.mktemp("source-sqlite-only")
    with _fresh(request, "sqlite", folder) as eng:
        _fill(eng)
        archive = folder / "source.zip"
        backup.export_all(eng, archive)
        yield eng, archive


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _norm(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop(columns=[c for c in ("result_id", "superseded_by") if c in frame.columns])
    frame = frame.sort_values(list(frame.columns[:6])).reset_index(drop=True)
    if "stored_at" in frame.columns:
        frame["stored_at"] = pd.to_datetime(frame["stored_at"], utc=True)
    return frame


@pytest.mark.postgres
def test_round_trip_across_backends(source, request, tmp_path) -> None:
    """SQLite → PostgreSQL and PostgreSQL → SQLite: same archive bytes, same answers."""
    filled, first = source
    other = "postgresql" if filled.dialect.name == "sqlite" else "sqlite"
    with _fresh(request, other, tmp_path) as target:
        restored = backup.import_all(target, first)
        assert restored.uploads_replayed == 7  # the rejected attempt and the dry run are not
        assert "results" in restored.verified and restored.unverified == ()

        second = tmp_path / "second.zip"
        backup.export_all(target, second)
        assert first.read_bytes() == second.read_bytes()

        src = repository.load_results(filled, include_history=True, roles=None)
        dst = repository.load_results(target, include_history=True, roles=None)
        assert (~src["is_current"]).sum() > 0  # the supersession history is there
        pd.testing.assert_frame_equal(_norm(src), _norm(dst), check_dtype=False)
        for loader in (repository.load_flows, repository.load_events, repository.load_sites,
                       repository.load_populations):
            pd.testing.assert_frame_equal(loader(filled).reset_index(drop=True),
                                          loader(target).reset_index(drop=True),
                                          check_dtype=False)
        ids = list(repository.list_uploads(filled)["upload_id"])
        assert list(repository.list_uploads(target)["upload_id"]) == ids
        # the restored database goes on working: a new upload gets the next free id
        new = ingest_bytes(target, b"site,date,flow_m3_per_day\nSE-KAT-ROS,2026-01-01,9000\n",
                           filename="late.csv", uploader="lab-a", today=dt.date(2026, 1, 2))
        assert new.stored and new.upload_id > max(ids)


def test_archive_holds_every_upload_verbatim_with_metadata(source) -> None:
    filled, path = source
    members = _members(path)
    index = [json.loads(line) for line in members["uploads/index.jsonl"].splitlines()]
    assert len(index) == 7
    for up in index:
        assert hashlib.sha256(members[up["member"]]).hexdigest() == up["sha256"]
        assert {"uploader", "uploaded_at", "kind", "filename", "sha256"} <= set(up)
        assert json.loads(members[up["member"].replace(".bin", ".report.json")])["kind"] == \
            up["kind"]
    assert members[index[2]["member"]] == RESULTS_BYTES
    assert [u["uploader"] for u in index] == [
        "admin", "lab-a", "lab-a", "lab-a", "lab-b", "police-liaison", "admin"]
    if filled.dialect.name == "postgresql":  # the dry run burnt a sequence number
        assert index[2]["upload_id"] - index[1]["upload_id"] == 2
    keys = [json.loads(line) for line in members["tables/api_keys.jsonl"].splitlines()]
    assert len(keys) == 2 and all(len(k["key_hash"]) >= 64 for k in keys)
    assert sum(k["revoked_at"] is not None for k in keys) == 1
    audit = [json.loads(line) for line in members["tables/audit_log.jsonl"].splitlines()]
    assert [a["action"] for a in audit].count("key_created") == 2
    assert [a["action"] for a in audit].count("upload_stored") == 7


def test_export_is_deterministic_and_atomic(sqlite_source, tmp_path) -> None:
    filled, first = sqlite_source
    again = tmp_path / "again.zip"
    backup.export_all(filled, again)
    assert again.read_bytes() == first.read_bytes()
    assert not (tmp_path / "again.zip.tmp").exists()
    manifest = backup.read_manifest(again)
    assert manifest["schema_revision"] == head_revision()
    assert manifest["members"]["tables/results.jsonl"]["rows"] > 1000


def _tamper(src: Path, dst: Path, member: str, edit, fix_manifest: bool) -> None:
    members = _members(src)
    members[member] = edit(members[member])
    if fix_manifest:
        manifest = json.loads(members["manifest.json"])
        manifest["members"][member]["sha256"] = hashlib.sha256(members[member]).hexdigest()
        members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _row_count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return sum(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                   for t in tables.metadata.sorted_tables)


def test_corrupt_or_foreign_archives_are_refused(sqlite_source, sqlite_engine, tmp_path) -> None:
    _, good = sqlite_source
    bad = tmp_path / "bad.zip"
    _tamper(good, bad, "uploads/00000002.bin", lambda b: b.replace(b"9412", b"9413"), False)
    with pytest.raises(backup.BackupError, match=r"uploads/00000002.bin is corrupt"):
        backup.import_all(sqlite_engine, bad)
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": "something-else"}))
    with pytest.raises(backup.BackupError, match="expected 'wastewater-backup'"):
        backup.import_all(sqlite_engine, foreign)
    (tmp_path / "not.zip").write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(backup.BackupError, match="not a wastewater backup"):
        backup.import_all(sqlite_engine, tmp_path / "not.zip")
    assert _row_count(sqlite_engine) == 0


def test_non_empty_target_is_refused(sqlite_source) -> None:
    filled, path = sqlite_source
    with pytest.raises(backup.BackupError, match="needs an empty, migrated database.*uploads"):
        backup.import_all(filled, path)


def test_replay_mismatch_is_reported_and_target_left_empty(sqlite_source, sqlite_engine,
                                                           tmp_path) -> None:
    """An archive whose results table disagrees with its own uploads (e.g. written by another
    ingest version): the import names the row, and leaves nothing behind."""
    _, good = sqlite_source
    bad = tmp_path / "edited.zip"

    def edit(data: bytes) -> bytes:
        lines = data.splitlines(keepends=True)
        row = json.loads(lines[0])
        row["value_ng_per_l"] = 1.0e9
        lines[0] = (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        return b"".join(lines)

    _tamper(good, bad, "tables/results.jsonl", edit, True)
    with pytest.raises(backup.BackupMismatch, match=r"tables/results.jsonl at row 1"):
        backup.import_all(sqlite_engine, bad)
    assert _row_count(sqlite_engine) == 0
    relaxed = backup.import_all(sqlite_engine, bad, verify=False)  # accept re-derived rows
    assert relaxed.verified == () and relaxed.uploads_replayed == 7
