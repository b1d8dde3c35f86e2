"""Full export and import of the service database as one deterministic zip archive.

The archive is built around the raw uploads, which are the source of truth: every file ever
stored is kept verbatim (``uploads/<upload_id>.bin``) with its metadata, and
:func:`import_all` rebuilds a database by *replaying* those uploads through the normal ingest
path (``parse_upload`` + ``store_parsed``, as :func:`wastewater.storage.service.ingest_bytes`
does, with the original uploader and upload day) in their original order. Results, flows,
events, sites and populations — including the supersession history — are therefore derived
again, exactly as they were the first time, and then checked against the tables saved in the
archive. Tables that do not come from uploads (API keys as hashes, the audit log, EUDA reference
data) are restored row by row.

Archive layout (zip, members in this order)::

    uploads/index.jsonl          one JSON object per stored upload, in upload_id order:
                                 upload_id, kind, filename, sha256, size_bytes, uploader,
                                 uploaded_at (UTC ISO 8601), rows_total, rows_accepted, member
    uploads/<id>.bin             the uploaded bytes, verbatim (sha256 as in the index)
    uploads/<id>.report.json     the validation report stored with the upload
    tables/<table>.jsonl         every other table, one JSON object per row (see below)
    manifest.json                format, format_version, schema_revision, package_version,
                                 per-member sha256 and row counts

In ``tables/*.jsonl`` rows derived from uploads drop their surrogate integer key (which a
replay need not reproduce) and express ``superseded_by`` as the ``upload_id`` of the successor
row (``superseded_by_upload_id``; the successor has the same natural key). Rows are ordered by
``upload_id`` and natural key with byte-wise string order on every backend, values are JSON
(``null`` = SQL NULL; dates and UTC timestamps in ISO 8601; floats as the shortest repr that
round-trips). Member timestamps are fixed, so the same database content always gives the same
archive bytes: export → import into an empty database → export again is byte-identical, also
between SQLite and PostgreSQL (``tests/test_backup.py``).

Functions: :func:`export_all`, :func:`import_all`, :func:`read_manifest`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from wastewater.exceptions import WastewaterError
from wastewater.jsonsafe import json_safe

FORMAT = "wastewater-backup"
FORMAT_VERSION = 1
"""Bumped when the archive layout changes incompatibly; :func:`import_all` refuses others."""

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps → reproducible archive bytes
_FETCH_ROWS = 5_000

UPLOADS_TABLE = "uploads"
DERIVED_NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "results": ("sample_id", "analyte", "replicate", "sample_role"),
    "flows": ("site", "date"),
    "events": ("event_id",),
    "site_populations": ("site", "year", "method"),
    "sites": ("site",),
}
"""Tables filled by replaying uploads, with the natural key that orders their rows."""

REPLAY_AUDIT_TABLE = "audit_log"
"""Rewritten by the replay; deleted afterwards and restored verbatim from the archive."""


class BackupError(WastewaterError, ValueError):
    """The archive is unreadable, of another format, corrupt, or the target is not empty."""


class BackupMismatch(WastewaterError, RuntimeError):
    """Replaying the uploads did not reproduce a table saved in the archive.

    The target database was emptied again; nothing of the failed import remains.
    """


@dataclasses.dataclass(frozen=True)
class ExportSummary:
    """What :func:`export_all` wrote: archive path, number of uploads, rows per table."""

    path: Path
    uploads: int
    rows: dict[str, int]
    schema_revision: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "uploads": self.uploads, "rows": dict(self.rows),
                "schema_revision": self.schema_revision}


@dataclasses.dataclass(frozen=True)
class ImportSummary:
    """What :func:`import_all` did.

    Attributes
    ----------
    uploads_replayed : int
        Uploads stored again through the ingest path.
    rows : dict
        Rows per table after the import.
    verified : tuple of str
        Tables whose content was checked equal to the archive (all of them unless the
        archive comes from another schema revision).
    unverified : tuple of str
        Tables not compared (schema revision differs); see ``notes``.
    notes : tuple of str
    """

    uploads_replayed: int
    rows: dict[str, int]
    verified: tuple[str, ...]
    unverified: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- serialisation


def _line(row: dict[str, Any]) -> bytes:
    if any(isinstance(v, bytes | bytearray | memoryview) for v in row.values()):
        raise TypeError("binary columns are written as separate members, not in JSON")
    return (json.dumps(json_safe(row, utc=True), ensure_ascii=False,
                       allow_nan=False, separators=(",", ":")) + "\n").encode("utf-8")


def _from_json(column: sa.Column[Any], value: Any) -> Any:
    """Python value for an SQL parameter from its archived JSON value."""
    if value is None:
        return None
    if isinstance(column.type, sa.DateTime):
        return dt.datetime.fromisoformat(value)
    if isinstance(column.type, sa.Date):
        return dt.date.fromisoformat(value)
    return value


# --------------------------------------------------------------------------- table queries


def _ordered(conn: Connection, col: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """Byte-wise ordering of strings on every backend; NULLs first everywhere."""
    if conn.dialect.name == "postgresql" and isinstance(col.type, sa.String | sa.Text):
        col = col.collate("C")
    return col.asc().nulls_first()


def _surrogate(table: sa.Table) -> str | None:
    """Integer autoincrement primary key that a replay need not reproduce."""
    if table.name not in DERIVED_NATURAL_KEYS:
        return None
    pk = list(table.primary_key.columns)
    if len(pk) == 1 and isinstance(pk[0].type, sa.Integer):
        return pk[0].name
    return None


def _table_query(conn: Connection, table: sa.Table) -> sa.Select[*tuple[Any, ...]]:
    """SELECT producing the archived rows of ``table`` in their archived order."""
    surrogate = _surrogate(table)
    cols: list[sa.ColumnElement[Any]] = []
    succ = None
    for col in table.columns:
        if col.name == surrogate:
            continue
        if table.name == UPLOADS_TABLE and col.name == "content":
            continue
        if col.name == "superseded_by" and surrogate is not None:
            succ = table.alias("successor")
            cols.append(succ.c.upload_id.label("superseded_by_upload_id"))
            continue
        cols.append(col)
    query = sa.select(*cols)
    if succ is not None and surrogate is not None:
        query = query.select_from(
            table.outerjoin(succ, succ.c[surrogate] == table.c.superseded_by)
        )
    if table.name in DERIVED_NATURAL_KEYS:
        order = (["upload_id"] if "upload_id" in table.c else []) + list(
            DERIVED_NATURAL_KEYS[table.name]
        )
        if "source_line" in table.c:
            order.append("source_line")
    else:
        order = [c.name for c in table.primary_key.columns] or [c.name for c in table.columns]
    return query.order_by(*[_ordered(conn, table.c[name]) for name in order])


def _iter_rows(conn: Connection, query: sa.Select[*tuple[Any, ...]]) -> Iterator[dict[str, Any]]:
    result = conn.execution_options(stream_results=True, yield_per=_FETCH_ROWS).execute(query)
    for row in result.mappings():
        yield dict(row)


DERIVED_STORE_TABLES = ("series_blocks", "series_versions")
"""Tables the ingest derives from the uploads (``wastewater.storage.series``): not archived;
replaying the uploads on import rebuilds them."""


def _serialised_tables(metadata: sa.MetaData) -> list[sa.Table]:
    return [t for t in metadata.sorted_tables
            if t.name != UPLOADS_TABLE and t.name not in DERIVED_STORE_TABLES]


# --------------------------------------------------------------------------- zip helpers


def _zipinfo(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o644 << 16
    return info


class _HashingWriter:
    """Write to a zip member while counting lines and hashing the bytes."""

    def __init__(self, handle: IO[bytes]):
        self.handle = handle
        self.sha = hashlib.sha256()
        self.lines = 0

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.sha.update(data)
        self.lines += data.count(b"\n")


def _write_member(zf: zipfile.ZipFile, name: str, chunks: Iterable[bytes]) -> tuple[str, int]:
    with zf.open(_zipinfo(name), "w", force_zip64=True) as handle:
        writer = _HashingWriter(handle)
        for chunk in chunks:
            writer.write(chunk)
    return writer.sha.hexdigest(), writer.lines


def _schema_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


# --------------------------------------------------------------------------- export


def export_all(engine: Engine, path: str | Path) -> ExportSummary:
    """
    Write the whole database into one zip archive at ``path``.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        Migrated service database (SQLite or PostgreSQL).
    path : str or Path
        Archive to create; written to ``<path>.tmp`` and renamed when complete, so an
        interrupted export never leaves a truncated archive under the final name.

    Returns
    -------
    ExportSummary

    Notes
    -----
    Everything is read inside one transaction (``REPEATABLE READ`` on PostgreSQL, a read
    snapshot on SQLite), so uploads stored while the export runs are either wholly in the
    archive or not at all.

    Raises
    ------
    wastewater.exceptions.StorageUnavailable
        The database cannot be reached.
    """
    from wastewater.storage.database import connect
    from wastewater.storage.tables import metadata

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    members: dict[str, dict[str, Any]] = {}
    rows: dict[str, int] = {}
    with connect(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            revision = _schema_revision(conn)
            with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
                uploads = metadata.tables[UPLOADS_TABLE]
                index = list(_iter_rows(conn, _table_query(conn, uploads)))
                for up in index:
                    up["member"] = f"uploads/{up['upload_id']:08d}.bin"
                sha, n = _write_member(
                    zf, "uploads/index.jsonl",
                    (_line({k: v for k, v in up.items() if k != "report_json"}) for up in index),
                )
                members["uploads/index.jsonl"] = {"sha256": sha, "rows": n}
                rows[UPLOADS_TABLE] = n
                for up in index:
                    content = conn.execute(
                        sa.select(uploads.c.content).where(
                            uploads.c.upload_id == up["upload_id"])
                    ).scalar_one()
                    content = bytes(content)
                    if hashlib.sha256(content).hexdigest() != up["sha256"]:
                        raise BackupError(
                            f"upload {up['upload_id']} in the database does not match its own "
                            "sha256; the stored bytes were altered. Investigate before backing up."
                        )
                    sha, _ = _write_member(zf, up["member"], [content])
                    members[up["member"]] = {"sha256": sha, "bytes": len(content)}
                    report_member = f"uploads/{up['upload_id']:08d}.report.json"
                    sha, _ = _write_member(zf, report_member, [up["report_json"].encode("utf-8")])
                    members[report_member] = {"sha256": sha}
                for table in _serialised_tables(metadata):
                    name = f"tables/{table.name}.jsonl"
                    sha, n = _write_member(
                        zf, name, (_line(r) for r in _iter_rows(conn, _table_query(conn, table)))
                    )
                    members[name] = {"sha256": sha, "rows": n}
                    rows[table.name] = n
                manifest = {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "schema_revision": revision,
                    "package_version": _package_version(),
                    "members": members,
                }
                _write_member(zf, "manifest.json",
                              [json.dumps(manifest, indent=1, sort_keys=True).encode() + b"\n"])
    tmp.replace(path)
    return ExportSummary(path, len(index), rows, revision)


def _package_version() -> str:
    from wastewater import __version__

    return __version__


# --------------------------------------------------------------------------- import


def read_manifest(path: str | Path) -> dict[str, Any]:
    """
    Read and check the manifest of an archive written by :func:`export_all`.

    Raises
    ------
    BackupError
        Not a zip file, no manifest, another format, or a newer ``format_version``.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            manifest: dict[str, Any] = json.loads(zf.read("manifest.json"))
    except (zipfile.BadZipFile, KeyError, OSError, json.JSONDecodeError) as exc:
        raise BackupError(f"{path}: not a wastewater backup archive ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"{path}: archive format_version {manifest.get('format_version')} but this "
            f"version of wastewater reads {FORMAT_VERSION}; use a matching release"
        )
    return manifest


def _read_jsonl(zf: zipfile.ZipFile, name: str) -> Iterator[dict[str, Any]]:
    with zf.open(name) as raw:
        for line in io.TextIOWrapper(raw, encoding="utf-8"):
            if line.strip():
                yield json.loads(line)


def _member_sha(zf: zipfile.ZipFile, name: str) -> str:
    sha = hashlib.sha256()
    with zf.open(name) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _check_empty(conn: Connection, metadata: sa.MetaData) -> None:
    busy = [
        t.name for t in metadata.sorted_tables
        if conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
    ]
    if busy:
        raise BackupError(
            "import_all needs an empty, migrated database; these tables already hold rows: "
            f"{', '.join(busy)}. Create a new database, run `wastewater db upgrade`, retry."
        )


def _wipe(engine: Engine, metadata: sa.MetaData) -> None:
    """Delete every row again (the target was empty before the import)."""
    from wastewater.storage.database import write_transaction

    with write_transaction(engine) as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


def _next_upload_id(conn: Connection, upload_id: int) -> None:
    """Make the next inserted ``uploads`` row get ``upload_id`` (ids are kept by a restore)."""
    from wastewater.storage.tables import uploads

    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT setval(pg_get_serial_sequence('uploads', 'upload_id'), :v, false)"),
            {"v": upload_id},
        )
        return
    # SQLite: an INTEGER PRIMARY KEY gets max(rowid) + 1; a placeholder row fills a gap and is
    # deleted again once the real upload holds the id (see _drop_placeholder).
    current = conn.execute(sa.select(sa.func.max(uploads.c.upload_id))).scalar_one() or 0
    if upload_id - 1 > current:
        conn.execute(uploads.insert(), {
            "upload_id": upload_id - 1, "kind": "placeholder", "filename": None,
            "sha256": f"placeholder-{upload_id - 1}", "size_bytes": 0, "content": b"",
            "uploader": "wastewater.backup", "uploaded_at": dt.datetime.now(dt.UTC),
            "rows_total": 0, "rows_accepted": 0, "report_json": "{}",
        })


def _drop_placeholder(conn: Connection) -> None:
    from wastewater.storage.tables import uploads

    conn.execute(uploads.delete().where(uploads.c.kind == "placeholder"))


def _restore_rows(conn: Connection, table: sa.Table, rows: Iterable[dict[str, Any]]) -> int:
    """Insert archived rows of a table restored verbatim (not derived from uploads)."""
    batch: list[dict[str, Any]] = []
    n = 0
    for row in rows:
        batch.append({c.name: _from_json(c, row.get(c.name)) for c in table.columns
                      if c.name in row})
        if len(batch) >= _FETCH_ROWS:
            conn.execute(table.insert(), batch)
            n += len(batch)
            batch = []
    if batch:
        conn.execute(table.insert(), batch)
        n += len(batch)
    return n


def _reset_sequence(conn: Connection, table: sa.Table) -> None:
    """After explicit ids on PostgreSQL, continue the serial sequence after the largest id."""
    if conn.dialect.name != "postgresql":
        return
    pk = list(table.primary_key.columns)
    if len(pk) != 1 or not isinstance(pk[0].type, sa.Integer):
        return
    conn.execute(sa.text(
        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{pk[0].name}'), "
        f"COALESCE((SELECT MAX({pk[0].name}) FROM {table.name}), 0) + 1, false)"
    ))


def import_all(engine: Engine, path: str | Path, *, verify: bool = True) -> ImportSummary:
    """
    Restore an archive written by :func:`export_all` into an empty, migrated database.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        Target database, migrated to head (``wastewater db upgrade``) and empty.
    path : str or Path
        Archive from :func:`export_all`.
    verify : bool, default True
        Compare every table with the archive after the replay. Skipped automatically (and
        named in ``ImportSummary.unverified``) when the archive comes from another schema
        revision; the replayed rows are then what the current code derives from the uploads.

    Returns
    -------
    ImportSummary

    Notes
    -----
    Steps: check the manifest and every member's sha256; replay each upload through
    ``parse_upload`` and ``store_parsed`` (what ``ingest_bytes`` does) with the original
    uploader, file name and upload day, keeping its ``upload_id``; then, in one transaction, put
    back the original upload times,
    reports and ``stored_at`` stamps, replace the audit-log rows written by the replay with the
    archived audit log and restore the other tables verbatim; finally compare. Any failure
    empties the database again before the exception propagates.

    Raises
    ------
    BackupError
        Unreadable/corrupt archive or a non-empty target database.
    BackupMismatch
        Replaying the uploads gave different rows than the archive holds.
    wastewater.exceptions.StorageUnavailable
        The database cannot be reached.
    """
    from wastewater.storage.database import connect, write_transaction
    from wastewater.storage.tables import metadata

    path = Path(path)
    manifest = read_manifest(path)
    with zipfile.ZipFile(path) as zf:
        for name, info in manifest["members"].items():
            try:
                actual = _member_sha(zf, name)
            except KeyError as exc:
                raise BackupError(f"{path}: member {name} listed in the manifest is missing") \
                    from exc
            if actual != info["sha256"]:
                raise BackupError(f"{path}: member {name} is corrupt (sha256 {actual} "
                                  f"≠ manifest {info['sha256']})")
        with connect(engine) as conn:
            _check_empty(conn, metadata)
            revision = _schema_revision(conn)
        same_schema = revision == manifest.get("schema_revision")
        notes: list[str] = []
        if not same_schema:
            notes.append(
                f"archive schema revision {manifest.get('schema_revision')} ≠ database "
                f"{revision}: derived tables were rebuilt by the current ingest code and not "
                "compared with the archive"
            )
        try:
            index = list(_read_jsonl(zf, "uploads/index.jsonl"))
            for up in index:
                data = zf.read(up["member"])
                uploaded_at = dt.datetime.fromisoformat(up["uploaded_at"])
                with write_transaction(engine) as conn:
                    _next_upload_id(conn, int(up["upload_id"]))
                outcome = _replay(engine, data, up, uploaded_at)
                if not outcome.stored or outcome.upload_id != up["upload_id"]:
                    raise BackupMismatch(
                        f"upload {up['upload_id']} ({up['filename'] or 'unnamed'}, "
                        f"{up['kind']}) could not be replayed as upload {up['upload_id']}: "
                        f"stored={outcome.stored}, duplicate={outcome.duplicate}, "
                        f"upload_id={outcome.upload_id}"
                    )
                with write_transaction(engine) as conn:
                    _drop_placeholder(conn)
            _finish(engine, zf, index, metadata)
            verified, unverified = _verify(engine, zf, manifest, metadata,
                                           enabled=verify and same_schema)
            if not same_schema:
                notes.append("tables restored verbatim kept only columns the schema still has")
        except BaseException:
            _wipe(engine, metadata)
            raise
    with connect(engine) as conn:
        rows = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in metadata.sorted_tables}
    return ImportSummary(len(index), rows, verified, unverified, tuple(notes))


LOCAL_TIME_ZONE = "Europe/Stockholm"
"""Time zone of the parser's default "today" (``wastewater.ingest.parse_upload``)."""


def _replay(engine: Engine, data: bytes, up: dict[str, Any], uploaded_at: dt.datetime) -> Any:
    """Store one archived upload again exactly as the original request did.

    The original call used the defaults of the ingest path: the parser's "today" (future-date
    check) is the upload day in Europe/Stockholm, the storage's "today" (year of a population
    given without one) is the upload day in UTC. ``on_error="skip"`` reproduces uploads that
    were stored with some rows rejected and is identical to ``reject`` for clean ones.
    """
    from zoneinfo import ZoneInfo

    from wastewater.ingest import parse_upload
    from wastewater.storage.database import connect
    from wastewater.storage.service import store_parsed
    from wastewater.storage.tables import sites

    with connect(engine) as conn:
        known = set(conn.execute(sa.select(sites.c.site)).scalars())
    parsed = parse_upload(data, up["kind"], known_sites=known, filename=up["filename"],
                          today=uploaded_at.astimezone(ZoneInfo(LOCAL_TIME_ZONE)).date())
    return store_parsed(engine, data, parsed, filename=up["filename"], uploader=up["uploader"],
                        on_error="skip", today=uploaded_at.astimezone(dt.UTC).date())


def _finish(engine: Engine, zf: zipfile.ZipFile, index: list[dict[str, Any]],
            metadata: sa.MetaData) -> None:
    """One transaction: original upload metadata and stamps, verbatim tables, audit log."""
    from wastewater.storage.database import write_transaction

    uploads = metadata.tables[UPLOADS_TABLE]
    members = set(zf.namelist())
    with write_transaction(engine) as conn:
        for up in index:
            report_member = up["member"].replace(".bin", ".report.json")
            conn.execute(
                uploads.update().where(uploads.c.upload_id == up["upload_id"]).values(
                    uploader=up["uploader"],
                    uploaded_at=dt.datetime.fromisoformat(up["uploaded_at"]),
                    filename=up["filename"],
                    rows_total=up["rows_total"],
                    rows_accepted=up["rows_accepted"],
                    report_json=zf.read(report_member).decode("utf-8"),
                )
            )
        # rows the replay wrote into verbatim tables (audit log, alerts raised by the replayed
        # uploads and their outbox): delete children before parents, then restore
        verbatim = [tb for tb in _serialised_tables(metadata)
                    if tb.name not in DERIVED_NATURAL_KEYS and f"tables/{tb.name}.jsonl" in members]
        for table in reversed(verbatim):
            conn.execute(table.delete())
        for table in _serialised_tables(metadata):
            member = f"tables/{table.name}.jsonl"
            if member not in members:
                continue
            if table.name in DERIVED_NATURAL_KEYS:
                if "stored_at" in table.c:
                    stamps: dict[int, str] = {}
                    for row in _read_jsonl(zf, member):
                        stamps.setdefault(row["upload_id"], row["stored_at"])
                    for upload_id, stamp in stamps.items():
                        conn.execute(table.update().where(table.c.upload_id == upload_id)
                                     .values(stored_at=dt.datetime.fromisoformat(stamp)))
                # rows created outside uploads (upload_id NULL) cannot be replayed: restore them
                loose = (r for r in _read_jsonl(zf, member)
                         if "upload_id" in r and r["upload_id"] is None)
                _restore_rows(conn, table, loose)
                continue
            _restore_rows(conn, table, _read_jsonl(zf, member))
            _reset_sequence(conn, table)
        _reset_sequence(conn, uploads)


def _verify(engine: Engine, zf: zipfile.ZipFile, manifest: dict[str, Any],
            metadata: sa.MetaData, *, enabled: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Serialise the restored tables exactly as :func:`export_all` does and compare."""
    from wastewater.storage.database import connect

    names = [UPLOADS_TABLE] + [t.name for t in _serialised_tables(metadata)]
    if not enabled:
        return (), tuple(names)
    with connect(engine) as conn:
        uploads = metadata.tables[UPLOADS_TABLE]
        checks: list[tuple[str, str, Iterable[bytes]]] = []
        index_rows = (
            _line({**{k: v for k, v in r.items() if k != "report_json"},
                   "member": f"uploads/{r['upload_id']:08d}.bin"})
            for r in _iter_rows(conn, _table_query(conn, uploads))
        )
        checks.append((UPLOADS_TABLE, "uploads/index.jsonl", index_rows))
        for table in _serialised_tables(metadata):
            checks.append((table.name, f"tables/{table.name}.jsonl",
                           (_line(r) for r in _iter_rows(conn, _table_query(conn, table)))))
        for table_name, member, lines in checks:
            expected = manifest["members"].get(member)
            sha = hashlib.sha256()
            got_lines: list[bytes] = []
            for chunk in lines:
                sha.update(chunk)
                if len(got_lines) < 3 or expected is None:
                    got_lines.append(chunk)
            if expected is None:
                if got_lines:
                    raise BackupMismatch(f"table {table_name} has rows after the replay but the "
                                         "archive has none")
                continue
            if sha.hexdigest() != expected["sha256"]:
                raise BackupMismatch(_first_difference(conn, zf, member, table_name, metadata))
    return tuple(names), ()


def _first_difference(conn: Connection, zf: zipfile.ZipFile, member: str, table_name: str,
                      metadata: sa.MetaData) -> str:
    if table_name == UPLOADS_TABLE:
        return (f"uploads differ from {member} after the replay; the database was emptied")
    table = metadata.tables[table_name]
    archived = (json.dumps(r, ensure_ascii=False, separators=(",", ":"))
                for r in _read_jsonl(zf, member))
    restored = (_line(r).decode("utf-8").rstrip("\n")
                for r in _iter_rows(conn, _table_query(conn, table)))
    for n, (a, b) in enumerate(zip(archived, restored, strict=False), start=1):
        if a != b:
            return (f"replaying the uploads did not reproduce {member} at row {n}:\n"
                    f"  archive:  {a}\n  replayed: {b}\n"
                    "Was the archive written by another version of the ingest code? "
                    "Retry with verify=False to accept the re-derived rows. "
                    "The database was emptied.")
    return (f"replaying the uploads gave a different number of rows than {member}; "
            "the database was emptied")
