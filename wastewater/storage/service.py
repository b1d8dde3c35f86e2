"""Atomic ingest service: validated upload bytes → one database transaction with supersession history.

:func:`ingest_bytes` is what the CLI and the API call. It

1. hashes the bytes (SHA-256); bytes already stored are a *duplicate*: nothing is written and
   the existing ``upload_id`` is returned;
2. parses and validates them with :func:`wastewater.ingest.parse_upload`, the known sites being
   the sites already in the database;
3. under ``on_error="reject"`` stores nothing if the report has any error; under
   ``on_error="skip"`` stores the valid rows and keeps the report of the others;
4. writes the upload row (verbatim bytes, report) and every data row in **one** transaction, so an
   error or a killed process leaves the database as it was.

Supersession (natural keys): a row whose key matches a *current* row is **unchanged** when every
stored field is equal (it is not inserted again); otherwise the old row gets
``is_current = false`` and ``superseded_by`` = the new row's id, and the new row is current.

=========  ======================================  ======================================
kind       natural key                             on change
=========  ======================================  ======================================
results    sample_id, analyte, replicate, role     new version, old row kept (history)
flows      site, date                              new version, old row kept (history)
events     event_id                                new version, old row kept (history)
sites      site                                    updated in place, ``audit_log`` entry
(popul.)   site, year, method                      updated in place, ``audit_log`` entry
=========  ======================================  ======================================

Populations and site attributes are updated in place (the table keeps one row per key) and
every change writes an ``audit_log`` row (``action`` = ``site_updated`` / ``population_updated``,
``detail_json`` with old and new values and both upload ids); together with the verbatim bytes
kept in ``uploads.content`` this is their history.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from wastewater.storage import tables as t
from wastewater.storage.bulk import column_values, insert_frame
from wastewater.storage.database import connect, write_transaction
from wastewater.storage.repository import _day_array
from wastewater.storage.series import ResultsChange, refresh_for_results, refresh_for_upload

if TYPE_CHECKING:
    from wastewater.ingest.progress import IngestProgress


IN_CLAUSE_MAX = 900
"""Largest number of values bound in one ``IN (...)`` list (below SQLite's variable limit)."""

ON_ERROR_CHOICES = ("reject", "skip")

ProgressCallback = Callable[[int, int], None]
"""``progress(rows_done, rows_total)`` called after every stored batch. Instead of this callback
the entry points also take a :class:`wastewater.ingest.progress.IngestProgress`, which then
records the phases reading, validating and storing (rows and seconds)."""


@dataclasses.dataclass(frozen=True)
class IngestOutcome:
    """
    What :func:`ingest_bytes` did with one upload.

    Attributes
    ----------
    upload_id : int or None
        Id of the stored upload, or of the identical upload already stored when ``duplicate``;
        ``None`` when nothing was stored (rejected or dry run).
    duplicate : bool
        The identical bytes were stored before; nothing was written.
    stored : bool
        This call committed a new upload.
    report : ValidationReport
        Validation report of the bytes. For a duplicate the bytes are not parsed again: the
        report carries the stored upload's kind and row counts, one ``duplicate_upload``
        warning and ``details["duplicate_of_upload_id"]``.
    rows_inserted, rows_superseded, rows_unchanged : int
        Rows written as new current rows; earlier current rows replaced by a new version (for
        a sites upload: known sites whose attributes or population changed, updated in place);
        rows identical to the current version and therefore not written. In a dry run these
        are what *would* have happened.
    kind : str or None
        ``sites``, ``flows``, ``results`` or ``events``.
    dry_run : bool
        Nothing was committed because a dry run was asked for.
    """

    upload_id: int | None
    duplicate: bool
    stored: bool
    report: Any
    rows_inserted: int = 0
    rows_superseded: int = 0
    rows_unchanged: int = 0
    kind: str | None = None
    dry_run: bool = False
    alerts: tuple[dict[str, Any], ...] = ()
    #: checks not made for lack of history since a marked method change
    #: (:class:`wastewater.alerts.AlertNote` dicts)
    alert_notes: tuple[dict[str, Any], ...] = ()

    @property
    def rejected(self) -> bool:
        """Nothing was stored because the report has errors (not a duplicate, not a dry run)."""
        return not self.stored and not self.duplicate and not self.dry_run

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (the report via its own ``to_dict``)."""
        return {
            "upload_id": self.upload_id,
            "duplicate": self.duplicate,
            "stored": self.stored,
            "dry_run": self.dry_run,
            "kind": self.kind,
            "rows_inserted": self.rows_inserted,
            "rows_superseded": self.rows_superseded,
            "rows_unchanged": self.rows_unchanged,
            "alerts": list(self.alerts),
            "alert_notes": list(self.alert_notes),
            "report": self.report.to_dict() if hasattr(self.report, "to_dict") else self.report,
        }


@dataclasses.dataclass
class _Counts:
    inserted: int = 0
    superseded: int = 0
    unchanged: int = 0
    #: results only: what the upload changed, for the store refresh and the alerts
    #: (:class:`wastewater.storage.series.ResultsChange`)
    change: Any = None


class _DryRunRollback(Exception):
    """Raised inside the transaction to roll a dry run back."""

    def __init__(self, counts: _Counts):
        self.counts = counts


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data`` as 64 lowercase hex digits (the upload identity)."""
    return hashlib.sha256(data).hexdigest()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------- entry points


def _upload_context(conn: sa.Connection) -> tuple[set[str], dict[str, tuple[dt.date, dt.date]]]:
    known_sites = set(conn.execute(sa.select(t.sites.c.site)).scalars())
    # from the daily-series store's one row per series, not from the results rows: a scan
    # of every current result would grow with the database for every upload, however small
    b = t.series_blocks.c
    site_history = {
        row.site: (row.first, row.last)
        for row in conn.execute(
            sa.select(b.site, sa.func.min(b.first_date).label("first"),
                      sa.func.max(b.last_date).label("last")).group_by(b.site))
    }
    return known_sites, site_history


def upload_context(engine: sa.Engine) -> tuple[set[str], dict[str, tuple[dt.date, dt.date]]]:
    """What a parse needs from the database: the known site ids and each site's history, the
    first and last day of its daily series (the days its current sample results cover, a
    composite's days included), for the ``implausible_date`` warnings of
    :mod:`wastewater.ingest.plausibility`. Two small queries for every upload path: the
    history comes from the store's one row per (site, analyte), whatever the number of results.
    """
    with connect(engine) as conn:
        return _upload_context(conn)


def ingest_bytes(
    engine: Engine,
    data: bytes,
    *,
    kind: str | None = None,
    filename: str | None,
    uploader: str,
    dry_run: bool = False,
    on_error: str = "reject",
    today: dt.date | None = None,
    progress: ProgressCallback | IngestProgress | None = None,
    uploader_key_id: str | None = None,
) -> IngestOutcome:
    """
    Validate an uploaded file and store it atomically, with supersession history.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        Migrated service database.
    data : bytes
        The file exactly as uploaded; stored verbatim in ``uploads.content``.
    kind : {"sites", "flows", "results", "events"}, optional
        Detected from the header when ``None``.
    filename : str or None
        Original file name (for the report and the uploads list).
    uploader : str
        Who uploaded (user name or API key name); recorded on the upload and in ``audit_log``.
    uploader_key_id : str, optional
        Id of the API key that uploaded; upload ownership (``wastewater.access.upload_visible``)
        is by this id, never by the display name.
    dry_run : bool, default False
        Validate and compute what would be inserted/superseded/unchanged, then roll back.
    on_error : {"reject", "skip"}, default "reject"
        ``reject``: any error-severity issue → nothing stored. ``skip``: store the valid rows,
        report the others.
    today : datetime.date, optional
        Passed to the parser (future-date checks); also the year given to a population that
        has no year. Default: today (UTC).
    progress : callable or IngestProgress, optional
        ``progress(rows_done, rows_total)`` after each stored batch; or an
        :class:`~wastewater.ingest.progress.IngestProgress`, which records every phase
        (reading, validating, storing) with its rows and seconds.

    Returns
    -------
    IngestOutcome
        Never raises for invalid data: a rejected upload has ``stored=False`` and a report
        with errors; the caller chooses the exit code / HTTP status.

    Raises
    ------
    ValueError
        ``on_error`` is not ``reject`` or ``skip``.
    wastewater.exceptions.StorageUnavailable
        The database cannot be reached or stays locked; nothing was written.
    """
    from wastewater.ingest import parse_upload

    _check_on_error(on_error)
    sha = sha256_hex(data)
    with connect(engine) as conn:
        existing = _find_upload(conn, sha)
        known_sites, site_history = _upload_context(conn)
    if existing is not None:  # no need to parse bytes stored before
        from wastewater.ingest.report import ValidationReport

        report = ValidationReport(kind=existing.kind, rows_total=existing.rows_total,
                                  rows_accepted=existing.rows_accepted)
        return _duplicate_outcome(report, existing, existing.kind)
    phases = _phases(progress)
    parsed = parse_upload(data, kind, known_sites=known_sites, filename=filename, today=today,
                          progress=phases, site_history=site_history)
    return store_parsed(
        engine,
        data,
        parsed,
        filename=filename,
        uploader=uploader,
        dry_run=dry_run,
        on_error=on_error,
        today=today,
        progress=progress,
        uploader_key_id=uploader_key_id,
    )


def store_parsed(
    engine: Engine,
    data: bytes,
    parsed: Any,
    *,
    filename: str | None,
    uploader: str,
    dry_run: bool = False,
    on_error: str = "reject",
    today: dt.date | None = None,
    progress: ProgressCallback | IngestProgress | None = None,
    uploader_key_id: str | None = None,
) -> IngestOutcome:
    """
    Store an already parsed upload (``ParsedUpload``) in one transaction.

    Same as :func:`ingest_bytes` after parsing; for callers that parsed the bytes themselves.
    ``parsed.frame`` must hold only valid rows, with the columns of the ingest contract
    (docs/architecture.md). Bytes already stored are a duplicate (checked first); identical
    bytes stored meanwhile by a concurrent request are caught by the unique
    ``uploads.sha256`` and also returned as a duplicate.
    """
    _check_on_error(on_error)
    report = parsed.report
    kind = parsed.kind
    frame = parsed.frame
    sha = sha256_hex(data)
    with connect(engine) as conn:
        existing = _find_upload(conn, sha)
    if existing is not None:  # stored before (possibly with on_error="skip")
        return _duplicate_outcome(report, existing, kind)
    if not report.ok and (on_error == "reject" or len(frame) == 0 or kind not in _STORERS):
        return IngestOutcome(None, False, False, report, kind=kind)
    if kind not in _STORERS:
        raise ValueError(f"unknown upload kind {kind!r}; expected one of "
                         f"{', '.join(t.UPLOAD_KINDS)}")
    now = _utcnow()
    today = today or now.date()
    phases = _phases(progress)
    if phases is not None:
        phases.start("storing", len(frame))
        progress = phases.update
    try:
        with write_transaction(engine, data_lock=True) as conn:
            upload_id = conn.execute(
                t.uploads.insert().returning(t.uploads.c.upload_id),
                {
                    "kind": kind,
                    "filename": filename,
                    "sha256": sha,
                    "size_bytes": len(data),
                    "content": data,
                    "uploader": uploader,
                    "uploader_key_id": uploader_key_id,
                    "uploaded_at": now,
                    "rows_total": int(report.rows_total),
                    "rows_accepted": int(report.rows_accepted),
                    "report_json": json.dumps(report.to_dict(), default=str),
                },
            ).scalar_one()
            counts = _STORERS[kind](
                conn,
                frame,
                upload_id=upload_id,
                stored_at=now,
                uploader=uploader,
                today=today,
                progress=progress,
                dry_run=dry_run,
            )
            if dry_run:
                pass
            elif counts.change is not None:  # the derived daily-series store, same transaction
                refresh_for_results(conn, counts.change, now=now)
            else:
                refresh_for_upload(conn, upload_id, kind, now=now)
            alert_notes: list[dict[str, Any]] = []
            raised = () if dry_run else _record_alerts(
                conn, kind, upload_id, now, today,
                None if counts.change is None else counts.change.new_sample_days(), alert_notes)
            conn.execute(
                t.audit_log.insert(),
                {
                    "at": now,
                    "actor": uploader,
                    "action": "upload_stored",
                    "target": f"upload/{upload_id}",
                    "detail_json": json.dumps(
                        {
                            "kind": kind,
                            "filename": filename,
                            "sha256": sha,
                            "rows_inserted": counts.inserted,
                            "rows_superseded": counts.superseded,
                            "rows_unchanged": counts.unchanged,
                        }
                    ),
                },
            )
            if dry_run:
                raise _DryRunRollback(counts)
    except _DryRunRollback as rb:
        if phases is not None:
            phases.finish()
        c = rb.counts
        return IngestOutcome(
            None, False, False, report, c.inserted, c.superseded, c.unchanged, kind, dry_run=True
        )
    except sa.exc.IntegrityError:
        with connect(engine) as conn:
            existing = _find_upload(conn, sha)
        if existing is None:
            raise
        return _duplicate_outcome(report, existing, kind)
    finally:
        if phases is not None:
            phases.finish()
    return IngestOutcome(
        upload_id, False, True, report, counts.inserted, counts.superseded, counts.unchanged, kind,
        alerts=tuple(raised), alert_notes=tuple(alert_notes),
    )


def _record_alerts(conn: Connection, kind: str, upload_id: int, now: dt.datetime,
                   today: dt.date, touched_days: pd.DataFrame | None = None,
                   notes: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Upload-time alerts and their outbox rows, in this transaction
    (:func:`wastewater.storage.alerts.record_upload_alerts`).

    Runs in a savepoint: if the evaluation itself fails, the upload is still stored, without
    alerts, and the failure is logged and written to the audit log (``alert_evaluation_failed``).
    """
    import logging

    from wastewater.storage.alerts import record_upload_alerts

    try:
        with conn.begin_nested():
            return record_upload_alerts(conn, kind=kind, upload_id=upload_id, now=now,
                                        today=today, touched_days=touched_days, notes=notes)
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise
        error: Exception = exc
    except Exception as exc:  # noqa: BLE001 - a statistics bug must not refuse a lab's upload
        error = exc
    if notes is not None:
        notes.clear()
    logging.getLogger("wastewater.alerts").exception("alert evaluation failed for upload %s",
                                                     upload_id)
    conn.execute(t.audit_log.insert(), _audit_row(now, "system", "alert_evaluation_failed",
                                                  f"upload/{upload_id}", {"error": str(error)}))
    return []


def _phases(progress: Any) -> Any:
    """The :class:`~wastewater.ingest.progress.IngestProgress` given as ``progress``, or None."""
    from wastewater.ingest.progress import IngestProgress

    return progress if isinstance(progress, IngestProgress) else None


def _check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error={on_error!r}; expected 'reject' or 'skip'")


def _find_upload(conn: Connection, sha: str) -> sa.Row[*tuple[Any, ...]] | None:
    u = t.uploads.c
    return conn.execute(
        sa.select(u.upload_id, u.kind, u.filename, u.uploaded_at, u.rows_total,
                  u.rows_accepted).where(u.sha256 == sha)
    ).first()


def _duplicate_outcome(report: Any, existing: sa.Row[*tuple[Any, ...]], kind: str | None) -> IngestOutcome:
    when = existing.uploaded_at
    when_text = when.strftime("%Y-%m-%d %H:%M UTC") if when is not None else "earlier"
    message = (
        f"identical file already stored as upload {existing.upload_id}"
        f" ({existing.filename or 'unnamed'}, {when_text}); nothing was stored again"
    )
    details = getattr(report, "details", None)
    if isinstance(details, dict):
        details["duplicate_of_upload_id"] = existing.upload_id
        details["duplicate_message"] = message
    _add_warning(report, code="duplicate_upload", message=message)
    return IngestOutcome(existing.upload_id, True, False, report, kind=kind or existing.kind)


def _add_warning(report: Any, *, code: str, message: str, line: int | None = None,
                 column: str | None = None, value: str | None = None) -> None:
    """Append a warning ``Issue`` to the parser's report (if ``code`` is registered there)."""
    from wastewater.ingest.report import Issue

    try:
        issue = Issue(line=line, column=column, code=code, message=message, severity="warning",
                      value=value)
    except ValueError:  # code not (yet) in wastewater.ingest.report.ISSUE_CODES
        return
    report.issues.append(issue)


# --------------------------------------------------------------------------- frame → records


def _records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    cols = [column_values(frame[c] if c in frame.columns else None, len(frame)) for c in columns]
    return [dict(zip(columns, row, strict=True)) for row in zip(*cols, strict=True)]


def _chunks(seq: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(seq), size):
        yield seq[start:start + size]


def _same(a: Any, b: Any) -> bool:
    """Equality for stored values: floats to 1e-12 relative, None only equals None."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
        except (TypeError, ValueError):
            return False
    if isinstance(a, dt.datetime):
        a = a.date()
    if isinstance(b, dt.datetime):
        b = b.date()
    return bool(a == b)


# --------------------------------------------------------------------------- versioned kinds


@dataclasses.dataclass(frozen=True)
class _Versioned:
    table: sa.Table
    id_col: str
    key: tuple[str, ...]
    compare: tuple[str, ...]

    @property
    def insert_cols(self) -> tuple[str, ...]:
        return (*self.key, *[c for c in self.compare if c not in self.key], "source_line")


_RESULTS = _Versioned(
    t.results,
    "result_id",
    ("sample_id", "analyte", "replicate", "sample_role"),
    ("site", "sample_date", "value_ng_per_l", "censor", "loq_ng_per_l", "lod_ng_per_l",
     "flow_m3_per_day", "composite_hours", "lab", "method", "comment", "original_value",
     "original_unit"),
)
_FLOWS = _Versioned(t.flows, "id", ("site", "date"), ("flow_m3_per_day",))
_EVENTS = _Versioned(
    t.events,
    "id",
    ("event_id",),
    ("kind", "start_date", "end_date", "sites_json", "substances_json", "description",
     "confidential"),
)


def _prefetch_current(conn: Connection, spec: _Versioned, frame: pd.DataFrame) -> pd.DataFrame:
    """Current stored rows whose first key value occurs in ``frame``, in **one** query.

    The distinct values travel as one parameter (a JSON array read with ``json_each`` on
    SQLite, a text array with ``= ANY`` on PostgreSQL), not as thousands of bound values.
    Columns: the id, the key and the compared columns; the frame is made from the driver's
    plain tuples (no result-row object per row) through one 2-d object array, each column then
    converted on its own (:func:`_stored_column`: dates by
    :func:`wastewater.storage.repository._day_array`, SQLite's 1/0 flags made ``bool``).
    """
    tab = spec.table
    first = spec.key[0]
    wanted = [str(v) for v in pd.unique(frame[first].astype(object))]
    names = [spec.id_col, *spec.key, *[c for c in spec.compare if c not in spec.key]]
    # spelled as the partial unique index's predicate, so that the index serves the look-up
    query = sa.select(*[tab.c[c] for c in names]).where(sa.text(f"{tab.name}.is_current"))
    dialect = conn.dialect.name
    if dialect == "postgresql":
        query = query.where(tab.c[first] == sa.any_(
            sa.bindparam("wanted", wanted, type_=postgresql.ARRAY(sa.Text))))
    elif dialect == "sqlite":
        query = query.where(tab.c[first].in_(
            sa.text("SELECT value FROM json_each(:wanted)")
            .bindparams(wanted=json.dumps(wanted)).columns(sa.column("value"))))
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        query = query.where(tab.c[first].in_(wanted))
    if spec is _FLOWS and len(frame):  # narrow a site's flow history to the upload's dates
        dates = frame["date"]
        query = query.where(tab.c.date >= dates.min().date(), tab.c.date <= dates.max().date())
    result = conn.execute(query)
    try:
        rows = result.cursor.fetchall()  # the driver's tuples (SQLite: dates as ISO text)
    finally:
        result.close()
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in names})
    table = _object_table(rows)
    del rows
    return pd.DataFrame({c: _stored_column(table[:, i], tab.c[c].type)
                         for i, c in enumerate(names)}, copy=False)


def _object_table(rows: Sequence[Any]) -> np.ndarray:
    """The driver's rows (equal-length tuples) as one 2-d object array: pandas' converter of
    row tuples (the one ``DataFrame(rows)`` starts with), about twice as fast as
    ``np.array(rows, dtype=object)``, which stands in if a pandas version lacks that private
    function (the lock file pins pandas; ``tests/test_storage_service.py`` checks both).
    """
    try:
        from pandas._libs.lib import to_object_array_tuples
    except ImportError:  # pragma: no cover - pandas moved its private converter
        return np.array(rows, dtype=object).reshape(len(rows), -1)
    return np.asarray(to_object_array_tuples(rows))


def _stored_column(values: np.ndarray, type_: Any) -> pd.Series:
    """One column of driver values (object array) in the form the comparison reads: dates as
    ``datetime64[ns]`` (:func:`wastewater.storage.repository._day_array`), integers as ``int64``
    when none is missing, floats as ``float64`` (NaN for NULL), flags as ``bool``/``None``, and
    text as it came (object, ``None`` for NULL; no string inference).
    """
    if isinstance(type_, sa.Date) and not isinstance(type_, sa.DateTime):
        return pd.Series(_day_array(values.tolist()), copy=False)
    if isinstance(type_, sa.Boolean):
        return pd.Series([None if v is None else bool(v) for v in values.tolist()], dtype=object)
    if isinstance(type_, sa.Float):
        return pd.Series(np.array(values, dtype=float), copy=False)
    if isinstance(type_, sa.Integer):
        try:
            return pd.Series(values.astype(np.int64), copy=False)
        except TypeError:  # a NULL among them
            pass
    return pd.Series(values, dtype=object, copy=False)


def _as_compared(values: np.ndarray, like: pd.Series | None, *,
                 none_for_missing: bool = False) -> np.ndarray:
    """Values in a form compared column-wise: dates as datetime64, numbers as float, text as
    objects with ``None`` for missing. ``like`` is the upload's column (its dtype decides).
    ``none_for_missing``: object values are missing only as ``None`` already (the driver's
    NULL, :func:`_stored_column`), so they are not searched for NaN or NA.
    """
    if like is not None and pd.api.types.is_datetime64_any_dtype(like):
        if values.dtype.kind == "M":
            same_unit: np.ndarray = values.astype("datetime64[ns]")
            return same_unit
        days: np.ndarray = pd.to_datetime(pd.Series(values.astype(object)),
                                          errors="coerce").to_numpy(dtype="datetime64[ns]")
        return days
    if like is not None and (pd.api.types.is_numeric_dtype(like)
                             or pd.api.types.is_bool_dtype(like)):
        if values.dtype.kind in "fiub":
            floats: np.ndarray = values.astype(float)
            return floats
        numbers: np.ndarray = pd.Series(values.astype(object)).astype(float).to_numpy()
        return numbers
    if none_for_missing and values.dtype == object:
        return values
    out = values.astype(object)  # a copy: missing values are set below
    out[pd.isna(out)] = None
    return out


def _column_at(frame: pd.DataFrame, column: str, at: np.ndarray) -> np.ndarray:
    """``frame[column]`` at the row positions ``at`` as a numpy array: numpy columns as they are,
    nullable numbers and flags as floats (NaN for missing), other columns as objects.
    """
    values = frame[column]
    if isinstance(values.dtype, np.dtype):
        taken: np.ndarray = values.to_numpy()[at]
        return taken
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        floats: np.ndarray = values.to_numpy(dtype=float, na_value=np.nan)[at]
        return floats
    objects: np.ndarray = values.to_numpy(dtype=object)[at]
    return objects


def _equal_rows(new: pd.DataFrame, new_at: np.ndarray, old: pd.DataFrame, old_at: np.ndarray,
                columns: Sequence[str]) -> np.ndarray:
    """Row-wise: every column of ``new`` at positions ``new_at`` equals ``old`` (stored rows
    from :func:`_prefetch_current`) at ``old_at`` (floats to 1e-12 relative, missing only
    equals missing) — the vectorised form of :func:`_same`. Only the compared columns are
    gathered, one at a time.

    Text (and any other object) columns are compared element by element with Python ``==``
    (in numpy's loop), missing values being ``None``, which equals only ``None``.
    """
    equal = np.ones(len(new_at), dtype=bool)
    for c in columns:
        like = new[c] if c in new.columns else None
        x = _as_compared(_column_at(new, c, new_at) if like is not None
                         else np.full(len(new_at), None, dtype=object), like)
        y = _as_compared(_column_at(old, c, old_at), like, none_for_missing=True)
        if x.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                same = np.abs(x - y) <= 1e-12 * np.maximum(np.abs(x), np.abs(y))
            same |= np.isnan(x) & np.isnan(y)
        elif x.dtype.kind == "M":
            same = (x == y) | (np.isnat(x) & np.isnat(y))
        else:
            same = np.asarray(np.equal(x, y), dtype=bool)
        equal &= same
    return equal


def _matching_rows(frame: pd.DataFrame, current: pd.DataFrame, key: Sequence[str]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``frame`` and in ``current`` of the rows with the same natural key (each
    key occurs at most once on either side), frame positions ascending.

    Each key column of both sides is factorised together (dates as ``datetime64[ns]``,
    integers as ``int64``), the codes combined into one integer per row and the upload's
    looked up among the stored ones.
    """
    combined_new = np.zeros(len(frame), dtype=np.int64)
    combined_old = np.zeros(len(current), dtype=np.int64)
    for k in key:
        a, b = frame[k], current[k]
        if pd.api.types.is_datetime64_any_dtype(a):
            x, y = a.to_numpy(dtype="datetime64[ns]"), \
                pd.to_datetime(b).to_numpy(dtype="datetime64[ns]")
        elif pd.api.types.is_integer_dtype(a):
            x, y = a.to_numpy(dtype=np.int64), b.to_numpy(dtype=np.int64)
        else:
            x, y = a.to_numpy(dtype=object), b.to_numpy(dtype=object)
        codes, uniques = pd.factorize(np.concatenate([x, y]))
        width = len(uniques) + 1  # codes + 1 in 0 … width - 1
        pair_codes, _ = pd.factorize(np.concatenate([combined_new, combined_old]) * width
                                     + (codes + 1))
        combined_new, combined_old = pair_codes[:len(frame)], pair_codes[len(frame):]
    found = pd.Index(combined_old).get_indexer(combined_new)
    new_at = np.flatnonzero(found >= 0)
    return new_at, found[new_at].astype(np.int64)


def _key_order(frame: pd.DataFrame, key: Sequence[str]) -> np.ndarray:
    """Row order sorted by the natural key (first two key columns).

    Inserting in key order turns the updates of the key indexes into appends; on SQLite this
    halved the insert time of a million results (benchmarks/reports/bench_ingest.md). Rows
    keep their ``source_line``; only the order of their ids changes.
    """
    columns = [c for c in key[:2] if c in frame.columns]
    if len(frame) < 2 or not columns:
        return np.arange(len(frame))
    codes = [pd.factorize(frame[c], sort=True)[0] for c in columns]
    return np.lexsort(codes[::-1])


def _reserve_ids(conn: Connection, spec: _Versioned, n_rows: int) -> np.ndarray:
    """``n_rows`` new ids of ``spec.table``, ascending, taken inside the write transaction.

    PostgreSQL: ``nextval`` of the id column's sequence, as a default would take them (ids
    taken by a transaction that rolls back are skipped, as always with sequences). SQLite: the
    id is the rowid (``INTEGER PRIMARY KEY`` without ``AUTOINCREMENT``), which an insert
    without id sets to the largest id + 1; the transaction holds the write lock from its
    first statement (``BEGIN IMMEDIATE``), so nobody else takes these ids meanwhile.
    """
    tab = spec.table
    if conn.dialect.name == "postgresql":
        sequence = conn.execute(sa.select(sa.func.pg_get_serial_sequence(
            tab.name, spec.id_col))).scalar_one()
        if sequence is None:  # pragma: no cover - every versioned table has a serial id
            raise RuntimeError(f"{tab.name}.{spec.id_col} has no sequence")
        taken = conn.execute(  # one array, not a result row per id
            sa.text("SELECT array_agg(nextval(CAST(:sequence AS regclass))) "
                    "FROM generate_series(1, :n)"),
            {"sequence": sequence, "n": n_rows}).scalar_one()
        return np.sort(np.asarray(taken, dtype=np.int64))
    largest = conn.execute(sa.select(sa.func.max(tab.c[spec.id_col]))).scalar()
    return np.arange(1, n_rows + 1, dtype=np.int64) + int(largest or 0)


def _array_literal(ids: np.ndarray) -> str:
    """PostgreSQL array literal of integers.

    Examples
    --------
    >>> _array_literal(np.array([3, 1, 2]))
    '{3,1,2}'
    """
    return "{" + ",".join(map(str, np.asarray(ids, dtype=np.int64).tolist())) + "}"


def _demote_and_link(conn: Connection, spec: _Versioned, old_ids: np.ndarray,
                     new_ids: np.ndarray) -> None:
    """One bulk update of the versions being replaced: ``is_current = false`` and
    ``superseded_by`` = the id of the row replacing it (``new_ids[i]`` replaces
    ``old_ids[i]``; it is inserted right after, ``superseded_by`` has no foreign key).

    PostgreSQL: one ``UPDATE … FROM unnest(old, new)`` of two integer arrays, each bound as
    one array literal (``{1,2,…}``, made by one join instead of adapting every element); SQLite:
    one ``executemany``, in id order (``UPDATE … FROM json_each`` measured no faster).
    """
    tab = spec.table
    quote = conn.dialect.identifier_preparer.quote
    table, id_col = quote(tab.name), quote(spec.id_col)
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text(f"UPDATE {table} SET is_current = false, superseded_by = v.new_id "
                    "FROM unnest(CAST(:old_ids AS bigint[]), CAST(:new_ids AS bigint[])) "
                    f"AS v(old_id, new_id) WHERE {table}.{id_col} = v.old_id"),
            {"old_ids": _array_literal(old_ids), "new_ids": _array_literal(new_ids)})
        return
    order = np.argsort(old_ids, kind="stable")
    conn.exec_driver_sql(
        f"UPDATE {table} SET is_current = 0, superseded_by = ? WHERE {id_col} = ?",
        list(zip(new_ids[order].tolist(), old_ids[order].tolist(), strict=True)))


def _store_versioned(
    conn: Connection,
    spec: _Versioned,
    frame: pd.DataFrame,
    *,
    upload_id: int,
    stored_at: dt.datetime,
    progress: ProgressCallback | None,
    before_write: Callable[[pd.DataFrame, pd.DataFrame, pd.DataFrame], Any] | None = None,
) -> _Counts:
    """Insert/supersede ``frame``: one look-up of the current rows, column-wise comparison,
    the new versions through the ORM-free bulk load (:mod:`wastewater.storage.bulk`).

    Rows replacing a current version get their ids first (:func:`_reserve_ids`, in key
    order), so that the old versions are demoted and linked to them in one bulk update
    (:func:`_demote_and_link`) and the new versions, id included, go through the same bulk
    load as the fresh rows, which follow (also in key order, ids from the database).

    ``before_write(new_rows, superseded, current)``, when given, runs after the comparison and
    before the first write, with the rows about to be inserted (replacing versions, then fresh
    rows), the current rows about to be superseded and every current row looked up (id, key and
    compared columns: all current rows of each first key value of the upload); its result
    becomes ``counts.change``.
    """
    counts = _Counts()
    tab = spec.table
    total = len(frame)
    frame = frame.reset_index(drop=True)
    current = _prefetch_current(conn, spec, frame) if total else pd.DataFrame()
    fresh = np.arange(total)
    replace_positions = np.zeros(0, dtype=np.int64)
    superseded = current.iloc[:0]
    if len(current):
        positions, stored_at_rows = _matching_rows(frame, current, spec.key)
        compared = [c for c in spec.compare if c not in spec.key]
        same = _equal_rows(frame, positions, current, stored_at_rows, compared)
        counts.unchanged = int(same.sum())
        replace_positions = positions[~same]
        replaced_rows = stored_at_rows[~same]
        # in key order, as the fresh rows: the key indexes' updates become near-appends
        # (SQLite, 88 k new versions of 300 k rows: 0.52 s instead of 0.65 s in file order)
        order = _key_order(frame[list(spec.key[:2])].iloc[replace_positions], spec.key)
        replace_positions, replaced_rows = replace_positions[order], replaced_rows[order]
        old_ids = current[spec.id_col].to_numpy(dtype=np.int64)[replaced_rows]
        superseded = current.iloc[replaced_rows]
        seen = np.zeros(total, dtype=bool)
        seen[positions] = True
        fresh = np.flatnonzero(~seen)
    if before_write is not None:
        every_row_fresh = not len(replace_positions) and len(fresh) == total
        counts.change = before_write(
            frame if every_row_fresh else frame.iloc[np.concatenate([replace_positions, fresh])],
            superseded, current)
    if len(replace_positions):
        # the new versions' ids are known before anything is written, so the old versions are
        # demoted and linked in one bulk update (first: the partial unique index allows one
        # current row per key) and the new ones go through the same bulk load as fresh rows
        new_ids = _reserve_ids(conn, spec, len(replace_positions))
        _demote_and_link(conn, spec, old_ids, new_ids)
        replacing = frame.iloc[replace_positions].assign(**{spec.id_col: new_ids})
        insert_frame(conn, tab, replacing, (spec.id_col, *spec.insert_cols),
                     constants={"upload_id": upload_id, "stored_at": stored_at,
                                "is_current": True, "superseded_by": None})
        counts.superseded = len(old_ids)
        counts.inserted = len(old_ids)
    if len(current) and progress is not None and len(positions):
        progress(len(positions), total)
    done_before = total - len(fresh)
    if len(fresh):
        rows = frame if len(fresh) == total else frame.iloc[fresh]
        n_fresh = len(rows)
        bulk_progress = None
        if progress is not None:
            def bulk_progress(written: int) -> None:
                progress(done_before + written, total)
        # in key order, gathered batch by batch (no sorted copy of the whole frame)
        insert_frame(conn, tab, rows, spec.insert_cols, order=_key_order(rows, spec.key),
                     constants={"upload_id": upload_id, "stored_at": stored_at,
                                "is_current": True, "superseded_by": None},
                     progress=bulk_progress)
        counts.inserted += n_fresh
    elif progress is not None and not len(current):
        progress(total, total)
    return counts


def _dedupe_last(frame: pd.DataFrame, key: Sequence[str]) -> pd.DataFrame:
    """Keep the last line of rows repeating a natural key inside one upload."""
    present = [k for k in key if k in frame.columns]
    if not present:
        return frame
    repeated = frame.duplicated(present, keep="last").to_numpy()
    if not repeated.any():
        return frame
    return frame.loc[~repeated]


def _store_results(conn: Connection, frame: pd.DataFrame, *, upload_id: int,
                   stored_at: dt.datetime, progress: ProgressCallback | None, dry_run: bool = False,
                   **_: Any) -> _Counts:
    frame = frame.copy(deep=False)  # columns are replaced, never written into (copy on write)
    if "replicate" not in frame.columns:
        frame["replicate"] = 1
    if "sample_role" not in frame.columns:
        frame["sample_role"] = "sample"
    if "censor" not in frame.columns:
        frame["censor"] = "none"
    frame["replicate"] = frame["replicate"].fillna(1)
    frame["sample_role"] = frame["sample_role"].fillna("sample")
    frame = _dedupe_last(frame, _RESULTS.key)
    return _store_versioned(
        conn, _RESULTS, frame, upload_id=upload_id, stored_at=stored_at, progress=progress,
        # the store's other inputs are read before the upload's rows are written (a dry run
        # changes no store)
        before_write=None if dry_run else
        lambda new, old, current: ResultsChange.prepare(conn, new, old, current))


def _store_flows(conn: Connection, frame: pd.DataFrame, *, upload_id: int,
                 stored_at: dt.datetime, progress: ProgressCallback | None, **_: Any) -> _Counts:
    frame = _dedupe_last(frame, _FLOWS.key)
    return _store_versioned(conn, _FLOWS, frame, upload_id=upload_id, stored_at=stored_at,
                            progress=progress)


def _json_list(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "[]"
    if isinstance(value, str):
        items = [value] if value else []
    else:
        items = [str(v) for v in value]
    return json.dumps(sorted(items))


def _store_events(conn: Connection, frame: pd.DataFrame, *, upload_id: int,
                  stored_at: dt.datetime, progress: ProgressCallback | None, **_: Any) -> _Counts:
    frame = _dedupe_last(frame, _EVENTS.key)
    out = pd.DataFrame(
        {
            "event_id": frame["event_id"].astype(object),
            "kind": frame["kind"].astype(object),
            "start_date": frame["start"],
            "end_date": frame["end"],
            "sites_json": [_json_list(v) for v in frame.get("sites", [None] * len(frame))],
            "substances_json": [_json_list(v) for v in
                                frame.get("substances", [None] * len(frame))],
            "description": frame["description"].astype(object)
            if "description" in frame.columns else None,
            "confidential": frame["confidential"].fillna(False).astype(bool)
            if "confidential" in frame.columns else False,
            "source_line": frame["source_line"] if "source_line" in frame.columns else None,
        },
        index=frame.index,
    )
    return _store_versioned(conn, _EVENTS, out, upload_id=upload_id, stored_at=stored_at,
                            progress=progress)


# --------------------------------------------------------------------------- sites (in place)

_SITE_FIELDS = ("name", "municipality", "treatment_plant", "lat", "lon")


def _store_sites(conn: Connection, frame: pd.DataFrame, *, upload_id: int,
                 stored_at: dt.datetime, uploader: str, today: dt.date,
                 progress: ProgressCallback | None, **_: Any) -> _Counts:
    """Upsert sites (attributes from the site's last line) and their populations.

    A sites file may give one line per site and population year; every line's population is
    stored under ``(site, population_year, population_method)``.
    """
    counts = _Counts()
    all_records = _records(frame, ("site", *_SITE_FIELDS, "population", "population_year",
                                   "population_method"))
    records = list({r["site"]: r for r in all_records}.values())  # last line per site wins
    s = t.sites.c
    existing = {
        row.site: row._mapping
        for part in _chunks(sorted(r["site"] for r in records), IN_CLAUSE_MAX)
        for row in conn.execute(sa.select(t.sites).where(s.site.in_(part)))
    }
    audit: list[dict[str, Any]] = []
    new_sites = []
    changed: set[str] = set()
    for rec in records:
        values = {f: rec[f] for f in _SITE_FIELDS}
        old = existing.get(rec["site"])
        if old is None:
            new_sites.append({"site": rec["site"], **values, "upload_id": upload_id})
        elif not all(_same(values[f], old[f]) for f in _SITE_FIELDS):
            conn.execute(t.sites.update().where(s.site == rec["site"])
                         .values(**values, upload_id=upload_id))
            changed.add(rec["site"])
            audit.append(_audit_row(stored_at, uploader, "site_updated", f"site/{rec['site']}",
                                    {"old": {f: old[f] for f in _SITE_FIELDS}, "new": values,
                                     "old_upload_id": old["upload_id"], "upload_id": upload_id}))
    if new_sites:
        conn.execute(t.sites.insert(), new_sites)

    # populations: one row per (site, year, method), updated in place with an audit entry
    p = t.site_populations.c
    by_key: dict[tuple[str, int, str], dict[str, Any]] = {}
    for rec in all_records:
        if rec["population"] is None:
            continue
        pop = {
            "site": rec["site"],
            "year": rec["population_year"] if rec["population_year"] is not None else today.year,
            "method": rec["population_method"] or "de_jure",
            "population": int(rec["population"]),
        }
        by_key[(pop["site"], pop["year"], pop["method"])] = pop  # last line per key wins
    pops = list(by_key.values())
    if pops:
        stored = {
            (row.site, row.year, row.method): row
            for part in _chunks(sorted({r["site"] for r in pops}), IN_CLAUSE_MAX)
            for row in conn.execute(sa.select(t.site_populations).where(p.site.in_(part)))
        }
        new_pops = []
        for pop in pops:
            old_pop = stored.get((pop["site"], pop["year"], pop["method"]))
            if old_pop is None:
                new_pops.append({**pop, "upload_id": upload_id})
                changed.add(pop["site"])
            elif old_pop.population != pop["population"]:
                conn.execute(t.site_populations.update().where(p.id == old_pop.id)
                             .values(population=pop["population"], upload_id=upload_id))
                changed.add(pop["site"])
                audit.append(_audit_row(
                    stored_at, uploader, "population_updated",
                    f"site/{pop['site']}/population/{pop['year']}/{pop['method']}",
                    {"old": old_pop.population, "new": pop["population"],
                     "old_upload_id": old_pop.upload_id, "upload_id": upload_id}))
        if new_pops:
            conn.execute(t.site_populations.insert(), new_pops)
    if audit:
        conn.execute(t.audit_log.insert(), audit)
    fresh = {r["site"] for r in new_sites}
    counts.inserted = len(fresh)
    counts.superseded = len(changed - fresh)
    counts.unchanged = len(records) - counts.inserted - counts.superseded
    if progress is not None:
        progress(len(records), len(records))
    return counts


def _audit_row(at: dt.datetime, actor: str, action: str, target: str,
               detail: dict[str, Any]) -> dict[str, Any]:
    return {"at": at, "actor": actor, "action": action, "target": target,
            "detail_json": json.dumps(detail, default=str)}


_STORERS: dict[str, Callable[..., _Counts]] = {
    "sites": _store_sites,
    "flows": _store_flows,
    "results": _store_results,
    "events": _store_events,
}
