"""Validate a :class:`~wastewater.ingest.readers.RawTable` row by row into a canonical frame.

One validator per kind (sites, flows, results long/wide, events). Each checks every cell,
records every problem as an :class:`~wastewater.ingest.report.Issue` (line, column, code,
message with the fix) and keeps only rows without errors. Concentrations are converted to
ng L⁻¹ and flows to m³ day⁻¹ here, once (docs/architecture.md, code-style-anchors.md §3.3).
Frame columns follow docs/architecture.md "Parsed upload".
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

from wastewater.exceptions import UnitError
from wastewater.ingest.cells import (
    CellError,
    parse_boolean,
    split_list,
)
from wastewater.ingest.columns import (
    KINDS,
    REQUIRED,
)
from wastewater.ingest.context import (
    FRAME_COLUMNS,
    FREE_TEXT_COLUMNS,
    RowContext,
    build_frame,
    check_required,
    empty_frame,
    map_header,
    report_duplicates,
)
from wastewater.ingest.readers import RawTable
from wastewater.ingest.report import Issue
from wastewater.ingest.results import validate_results
from wastewater.units import (
    FlowUnit,
    accepted_flow_units,
    parse_flow_unit,
)

__all__ = ["EVENT_KINDS", "FRAME_COLUMNS", "empty_frame", "validate_table"]

EVENT_KINDS = ("operation", "school_search", "campaign", "safety_walk", "risk_weekend", "method_change",
               "other")

_EVENT_KIND_ALIASES = {
    "insats": "operation",
    "polisinsats": "operation",
    "police_operation": "operation",
    "skolsök": "school_search",
    "skolsökning": "school_search",
    "school_search": "school_search",
    "kampanj": "campaign",
    "trygghetsvandring": "safety_walk",
    "riskhelg": "risk_weekend",
    "metodbyte": "method_change",
    "metodändring": "method_change",
    "annat": "other",
    "övrigt": "other",
}

# ------------------------------------------------------------------------------------------
# Sites


def _validate_sites(ctx: RowContext) -> tuple[pd.DataFrame, int]:
    map_header(ctx, analyte_columns=False)
    if not check_required(ctx, REQUIRED["sites"]):
        return empty_frame("sites"), len(ctx.table.rows)
    records: list[dict[str, Any]] = []
    keys: list[tuple[Any, int]] = []
    year_high = ctx.today.year + 1
    for row, line in zip(ctx.table.rows, ctx.table.lines, strict=True):
        ok = True
        site = ctx.required_text(row, line, "site")
        name = ctx.required_text(row, line, "name")
        municipality = ctx.required_text(row, line, "municipality")
        ok &= None not in (site, name, municipality)
        population, good = ctx.integer(
            row,
            line,
            "population",
            code="bad_integer",
            default=None,
            low=1,
            high=None,
            hint="write the number of inhabitants as a whole number >= 1, e.g. 34324 or 34 324",
        )
        if good and population is None:
            ctx.add(
                line,
                ctx.header_name("population"),
                "missing_value",
                "the population is empty; fill in the number of inhabitants.",
            )
        ok &= good and population is not None
        year, good = ctx.integer(
            row,
            line,
            "population_year",
            code="out_of_range",
            default=None,
            low=1800,
            high=year_high,
            hint=f"write the year the population refers to, e.g. 2024 (at most {year_high})",
        )
        ok &= good
        lat, good = ctx.number(row, line, "lat", minimum=None)
        if good and not math.isnan(lat) and not -90 <= lat <= 90:
            ctx.add(
                line,
                ctx.header_name("lat"),
                "out_of_range",
                f"latitude {lat:g} is outside -90..90 (decimal degrees, WGS84).",
                ctx.cell(row, "lat"),
            )
            good = False
        ok &= good
        lon, good = ctx.number(row, line, "lon", minimum=None)
        if good and not math.isnan(lon) and not -180 <= lon <= 180:
            ctx.add(
                line,
                ctx.header_name("lon"),
                "out_of_range",
                f"longitude {lon:g} is outside -180..180 (decimal degrees, WGS84).",
                ctx.cell(row, "lon"),
            )
            good = False
        ok &= good
        for column in FREE_TEXT_COLUMNS["sites"]:
            ctx.free_text(row, line, column)
        method = ctx.cell(row, "population_method")
        method = re.sub(r"[\s\-]+", "_", method.casefold()) if method else "de_jure"
        if not ok:
            continue
        keys.append(((site, year), line))
        records.append(
            {
                "site": site,
                "name": name,
                "municipality": municipality,
                "population": population,
                "population_year": pd.NA if year is None else year,
                "population_method": method,
                "lat": lat,
                "lon": lon,
                "treatment_plant": ctx.cell(row, "treatment_plant") or None,
                "source_line": line,
            }
        )
    rejected = report_duplicates(
        ctx,
        keys,
        lambda k: f"site '{k[0]}' and population_year {k[1] if k[1] is not None else '(empty)'}",
    )
    records = [r for r in records if r["source_line"] not in rejected]
    return build_frame("sites", records), len(ctx.table.rows)


# ------------------------------------------------------------------------------------------
# Flows


def _validate_flows(ctx: RowContext) -> tuple[pd.DataFrame, int]:
    map_header(ctx, analyte_columns=False)
    if not check_required(ctx, REQUIRED["flows"]):
        return empty_frame("flows"), len(ctx.table.rows)
    unit_cache: dict[str, FlowUnit | None] = {}
    records: list[dict[str, Any]] = []
    keys: list[tuple[Any, int]] = []
    for row, line in zip(ctx.table.rows, ctx.table.lines, strict=True):
        ok = True
        site_text = ctx.required_text(row, line, "site")
        site = ctx.site(site_text, line, ctx.header_name("site")) if site_text else None
        ok &= site is not None
        date, good = ctx.date(row, line, "date", required=True, future_ok=False)
        ok &= good
        flow, good = ctx.number(row, line, "flow_m3_per_day", required=True, what="flow")
        ok &= good
        unit_text = ctx.cell(row, "unit")
        factor = 1.0
        if unit_text:
            if unit_text not in unit_cache:
                try:
                    unit_cache[unit_text] = parse_flow_unit(unit_text)
                except UnitError:
                    unit_cache[unit_text] = None
            unit = unit_cache[unit_text]
            if unit is None:
                ctx.add(
                    line,
                    ctx.header_name("unit"),
                    "unknown_unit",
                    f"flow unit {unit_text!r} is not accepted; use one of {accepted_flow_units()}.",
                    unit_text,
                )
                ok = False
            else:
                factor = unit.factor_to_canonical
        if not ok:
            continue
        keys.append(((site, date), line))
        records.append(
            {"site": site, "date": date, "flow_m3_per_day": flow * factor, "source_line": line}
        )
    rejected = report_duplicates(ctx, keys, lambda k: f"site '{k[0]}' and date {k[1].isoformat()}")
    records = [r for r in records if r["source_line"] not in rejected]
    return build_frame("flows", records), len(ctx.table.rows)


# ------------------------------------------------------------------------------------------
# Events


def _validate_events(ctx: RowContext) -> tuple[pd.DataFrame, int]:
    map_header(ctx, analyte_columns=False)
    if not check_required(ctx, REQUIRED["events"]):
        return empty_frame("events"), len(ctx.table.rows)
    records: list[dict[str, Any]] = []
    keys: list[tuple[Any, int]] = []
    for row, line in zip(ctx.table.rows, ctx.table.lines, strict=True):
        ok = True
        event_id = ctx.required_text(row, line, "event_id")
        ok &= event_id is not None
        kind_text = ctx.required_text(row, line, "kind")
        kind = None
        if kind_text:
            folded = re.sub(r"[\s\-]+", "_", kind_text.casefold())
            kind = _EVENT_KIND_ALIASES.get(folded, folded)
            if kind not in EVENT_KINDS:
                ctx.add(
                    line,
                    ctx.header_name("kind"),
                    "bad_event_kind",
                    f"{kind_text!r} is not an event kind; write one of {', '.join(EVENT_KINDS)}.",
                    kind_text,
                )
                kind = None
        ok &= kind is not None
        start, good = ctx.date(row, line, "start", required=True, future_ok=True)
        ok &= good
        end, good = ctx.date(row, line, "end", required=False, future_ok=True)
        ok &= good
        if start is not None and good:
            end = end or start
            if end < start:
                ctx.add(
                    line,
                    ctx.header_name("end"),
                    "end_before_start",
                    f"the end {end.isoformat()} is before the start {start.isoformat()}; swap "
                    "them or fix the date.",
                    ctx.cell(row, "end"),
                )
                ok = False
        sites: list[str] = []
        column = ctx.header_name("sites")
        for text in split_list(ctx.cell(row, "sites")):
            site = ctx.site(text, line, column)
            ok &= site is not None
            sites.append(site or text)
        substances: list[str] = []
        column = ctx.header_name("substances")
        for text in split_list(ctx.cell(row, "substances")):
            analyte = ctx.analyte(text, line, column)
            ok &= analyte is not None
            if analyte and analyte not in substances:
                substances.append(analyte)
        confidential_text = ctx.cell(row, "confidential")
        try:
            confidential = parse_boolean(confidential_text)
        except CellError as exc:
            ctx.add(
                line,
                ctx.header_name("confidential"),
                exc.code,
                f"{confidential_text!r}: {exc.hint}.",
                confidential_text,
            )
            ok = False
        for column_name in FREE_TEXT_COLUMNS["events"]:
            ctx.free_text(row, line, column_name)
        if not ok:
            continue
        keys.append((event_id, line))
        records.append(
            {
                "event_id": event_id,
                "kind": kind,
                "start": start,
                "end": end,
                "sites": sites,
                "substances": substances,
                "description": ctx.cell(row, "description"),
                "confidential": confidential,
                "source_line": line,
            }
        )
    rejected = report_duplicates(ctx, keys, lambda k: f"event_id '{k}'")
    records = [r for r in records if r["source_line"] not in rejected]
    return build_frame("events", records), len(ctx.table.rows)


# ------------------------------------------------------------------------------------------


def validate_table(
    table: RawTable,
    kind: str,
    *,
    layout: str | None = None,
    known_sites: Iterable[str] | None = None,
    today: dt.date,
    site_history: dict[str, tuple[dt.date, dt.date]] | None = None,
) -> tuple[pd.DataFrame, list[Issue], int, dict[str, Any]]:
    """Validate every row of ``table`` as ``kind``.

    Parameters
    ----------
    table : RawTable
        Output of :func:`wastewater.ingest.readers.read_table`.
    kind : {"sites", "flows", "results", "events"}
    layout : {"long", "wide"}, optional
        Results layout; detected from the header when ``None``.
    known_sites : iterable of str, optional
        Registered site ids; when given, other sites are errors (matched case-insensitively
        and returned in the registered spelling).
    today : datetime.date
        Dates after this are errors for samples and flows.
    site_history : dict, optional
        Site → (first, last) sample date already stored: results far outside get a warning.

    Returns
    -------
    frame : pandas.DataFrame
        Valid records (columns per docs/architecture.md).
    issues : list of Issue
    rows_total : int
        Records in the file (wide results: non-empty analyte cells).
    details : dict
        ``layout`` for results.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    sites = None if known_sites is None else {str(s).casefold(): str(s) for s in known_sites}
    ctx = RowContext(table=table, kind=kind, today=today, known_sites=sites,
                     site_history=site_history)
    table, n_ragged = _drop_ragged_rows(ctx)
    ctx.table = table
    details: dict[str, Any] = {}
    if kind == "sites":
        frame, total = _validate_sites(ctx)
    elif kind == "flows":
        frame, total = _validate_flows(ctx)
    elif kind == "events":
        frame, total = _validate_events(ctx)
    else:
        frame, total = validate_results(ctx, layout)
        details["layout"] = ctx.layout
    return frame, ctx.issues, total + n_ragged, details


def _drop_ragged_rows(ctx: RowContext) -> tuple[RawTable, int]:
    """Reject rows with non-empty cells beyond the header (a delimiter or quote problem)."""
    table = ctx.table
    width = len(table.header)
    if table.columns is not None:
        return table, 0  # column-wise tables are exactly header-wide
    ragged = (
        [i for i, row in enumerate(table.rows) if len(row) > width and any(row[width:])]
        if max(map(len, table.rows), default=0) > width
        else []
    )
    for i in ragged:
        row = table.rows[i]
        ctx.add(
            table.lines[i],
            None,
            "column_count",
            f"this line has {len(row)} values but the header has {width} columns "
            f"(extra: {', '.join(repr(c) for c in row[width:] if c)[:80]}). Check the delimiter, "
            "quotes around texts that contain it, and decimal commas in a comma-separated file.",
        )
    if not ragged:
        return table, 0
    keep = set(range(len(table.rows))) - set(ragged)
    filtered = RawTable(
        header=table.header,
        rows=[r for i, r in enumerate(table.rows) if i in keep],
        lines=[n for i, n in enumerate(table.lines) if i in keep],
        header_line=table.header_line,
        delimiter=table.delimiter,
        decimal_comma=table.decimal_comma,
        encoding=table.encoding,
        format=table.format,
    )
    return filtered, len(ragged)
