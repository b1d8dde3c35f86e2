"""Ingest layer: read lab, site, flow and event uploads (CSV or .xlsx) into canonical frames.

The single entry point is :func:`parse_upload`; it never raises on bad data but returns a
:class:`ParsedUpload` whose ``report`` lists every problem with line, column, a stable code
and the fix, and whose ``frame`` holds only the valid rows (docs/architecture.md,
"Parsed upload"). No database code lives here; see :mod:`wastewater.storage`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from collections.abc import Iterable, Iterator, Mapping
from zoneinfo import ZoneInfo

from wastewater.ingest.columns import KINDS, detect_kind
from wastewater.ingest.progress import IngestProgress
from wastewater.ingest.readers import read_table
from wastewater.ingest.report import ISSUE_CODES, Issue, ParsedUpload, ValidationReport
from wastewater.ingest.validation import FRAME_COLUMNS, empty_frame, validate_table

__all__ = [
    "FRAME_COLUMNS",
    "ISSUE_CODES",
    "IngestProgress",
    "KINDS",
    "Issue",
    "ParsedUpload",
    "ValidationReport",
    "parse_upload",
]

#: Dates are calendar days in the service's time zone (docs/architecture.md).
LOCAL_TIME_ZONE = ZoneInfo("Europe/Stockholm")


def parse_upload(
    data: bytes,
    kind: str | None = None,
    *,
    known_sites: Iterable[str] | None = None,
    filename: str | None = None,
    today: dt.date | None = None,
    progress: IngestProgress | None = None,
    site_history: Mapping[str, tuple[dt.date, dt.date]] | None = None,
) -> ParsedUpload:
    """Parse and validate one uploaded file.

    Parameters
    ----------
    data : bytes
        File content: CSV (comma, semicolon or tab separated; UTF-8 with or without BOM,
        UTF-16 with BOM, else read as Windows-1252 with a warning) or an ``.xlsx`` workbook
        (first sheet; needs ``filename`` ending in ``.xlsx``).
    kind : {"sites", "flows", "results", "events"}, optional
        File kind; detected from the header when ``None``.
    known_sites : iterable of str, optional
        Registered site ids. When given, rows naming other sites are errors. A sites upload
        defines sites, so this is not used for ``kind="sites"``.
    filename : str, optional
        Original file name (used to recognise ``.xlsx``).
    today : datetime.date, optional
        Reference day for "date in the future" errors; default today in Europe/Stockholm.
    progress : IngestProgress, optional
        Receives the phases ``reading`` and ``validating`` with their rows and seconds.
    site_history : mapping, optional
        Site → (first, last) sample date already stored; results dated far outside get a
        plausibility warning (:mod:`wastewater.ingest.plausibility`).

    Returns
    -------
    ParsedUpload
        ``kind``, ``frame`` (valid rows only, columns per docs/architecture.md, plus
        ``source_line``) and ``report`` (:class:`ValidationReport`).

    Raises
    ------
    ValueError
        Only for a programming error: ``kind`` not one of the four kinds.

    Examples
    --------
    >>> upload = parse_upload(b"site;date;flow_m3_per_day\\nKTH;2025-03-04;8 640,5\\n")
    >>> upload.kind, upload.report.ok, float(upload.frame.loc[0, "flow_m3_per_day"])
    ('flows', True, 8640.5)
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)} or None, not {kind!r}")
    if today is None:
        today = dt.datetime.now(LOCAL_TIME_ZONE).date()
    try:
        with _collection_paused():
            return _parse(data, kind, known_sites=known_sites, filename=filename, today=today,
                          progress=progress or IngestProgress(clock=lambda: 0.0),
                          site_history=dict(site_history) if site_history else None)
    except Exception as exc:  # noqa: BLE001 - a report, never a crash, for any upload
        report = ValidationReport(kind=kind or "unknown")
        report.issues.append(
            Issue(
                line=None,
                column=None,
                code="internal_error",
                severity="error",
                value=None,
                message=(
                    f"File: the file could not be checked because of a program error "
                    f"({type(exc).__name__}: {exc}). Please report this with the file."
                ),
            )
        )
        return ParsedUpload(kind=report.kind, frame=empty_frame(report.kind), report=report)


@contextlib.contextmanager
def _collection_paused() -> Iterator[None]:
    """Pause Python's automatic cyclic garbage collection while a file is parsed.

    Parsing allocates one list per row and no reference cycles worth collecting; with
    collection on, each generation-2 pass walks every row already read, which made reading
    1 M rows about 5× slower (benchmarks/reports/bench_ingest.md). The previous state is
    restored afterwards (nothing is changed if collection was already off).
    """
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse(
    data: bytes,
    kind: str | None,
    *,
    known_sites: Iterable[str] | None,
    filename: str | None,
    today: dt.date,
    progress: IngestProgress,
    site_history: dict[str, tuple[dt.date, dt.date]] | None,
) -> ParsedUpload:
    progress.start("reading")
    table, issues = read_table(bytes(data), filename=filename)
    if table is not None:
        progress.update(table.n_rows, table.n_rows)
    progress.finish()
    if table is None:
        report = ValidationReport(kind=kind or "unknown", issues=issues)
        return ParsedUpload(kind=report.kind, frame=empty_frame(report.kind), report=report)
    details = dict(table.details)
    layout = None
    detected, detected_layout = detect_kind(table.header)
    if kind is None:
        kind = detected
        layout = detected_layout
        if kind is None:
            issues.append(
                Issue(
                    line=table.header_line,
                    column=None,
                    code="unknown_kind",
                    severity="error",
                    value=None,
                    message=(
                        f"Line {table.header_line}: cannot tell what this file holds from its "
                        "header "
                        f"({', '.join(repr(h) for h in table.header[:8])}). Expected columns: "
                        "sites "
                        "(site, name, municipality, population); flows (site, date, "
                        "flow_m3_per_day); results (site, sample_date, analyte, value, unit — or "
                        "one "
                        "column per analyte such as 'amphetamine (ng/L)'); events (event_id, kind, "
                        "start). Check the header line and the delimiter."
                    ),
                )
            )
            report = ValidationReport(kind="unknown", issues=issues, details=details)
            return ParsedUpload(kind="unknown", frame=empty_frame("unknown"), report=report)
    elif kind == detected:
        layout = detected_layout
    sites = None if kind == "sites" else known_sites
    progress.start("validating", table.n_rows)
    frame, row_issues, rows_total, extra = validate_table(
        table, kind, layout=layout, known_sites=sites, today=today, site_history=site_history
    )
    progress.update(table.n_rows, table.n_rows)
    progress.finish()
    details.update(extra)
    if not table.n_rows:
        issues.append(
            Issue(
                line=table.header_line,
                column=None,
                code="header_only",
                severity="warning",
                value=None,
                message=(
                    f"Line {table.header_line}: the file has a header but no data rows; "
                    "nothing to store."
                ),
            )
        )
    issues.extend(sorted(row_issues, key=lambda i: i.line if i.line is not None else 0))
    report = ValidationReport(
        kind=kind, rows_total=rows_total, rows_accepted=len(frame), issues=issues, details=details
    )
    return ParsedUpload(kind=kind, frame=frame.reset_index(drop=True), report=report)
