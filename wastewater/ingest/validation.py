"""Validate a :class:`~wastewater.ingest.readers.RawTable` column by column into a canonical frame.

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

import numpy as np
import pandas as pd

from wastewater.exceptions import UnitError
from wastewater.ingest.cells import (
    CellError,
    parse_boolean,
    split_list,
)
from wastewater.ingest.columnar import (
    Fail,
    Issues,
    Parsed,
    date_spec,
    free_text,
    free_text_note,
    integer_spec,
    known_analyte,
    known_site,
    number_spec,
    parse_column,
    reject_duplicates,
    required,
    site_spec,
)
from wastewater.ingest.columns import (
    KINDS,
    REQUIRED,
)
from wastewater.ingest.context import (
    FRAME_COLUMNS,
    FREE_TEXT_COLUMNS,
    FileContext,
    check_required,
    empty_frame,
    map_header,
)
from wastewater.ingest.readers import RawTable
from wastewater.ingest.report import Issue
from wastewater.ingest.results import validate_results
from wastewater.units import (
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


def _validate_sites(ctx: FileContext) -> tuple[pd.DataFrame, int]:
    """Sites, column-wise: one spec per column, issues by line and check order."""
    map_header(ctx, analyte_columns=False)
    n = ctx.table.n_rows
    if not check_required(ctx, REQUIRED["sites"]):
        return empty_frame("sites"), n
    issues = Issues(ctx)
    dc = ctx.table.decimal_comma
    every = np.ones(n, dtype=bool)
    year_high = ctx.today.year + 1

    def column(canonical: str, spec: Any, stage: int, note: Any = None) -> Parsed:
        parsed = parse_column(ctx, canonical, spec, note)
        issues.add_failed(parsed, every, ctx.header_name(canonical), stage)
        return parsed

    site = column("site", required("site"), 0)
    name = column("name", required("name"), 1)
    municipality = column("municipality", required("municipality"), 2)
    population = column("population", _required_integer(integer_spec(
        dc, "bad_integer", None, 1, None,
        "write the number of inhabitants as a whole number >= 1, e.g. 34324 or 34 324")), 3)
    year = column("population_year", integer_spec(
        dc, "out_of_range", None, 1800, year_high,
        f"write the year the population refers to, e.g. 2024 (at most {year_high})"), 4)
    lat = column("lat", _coordinate("latitude", 90, dc), 5)
    lon = column("lon", _coordinate("longitude", 180, dc), 6)
    for i, text_column in enumerate(FREE_TEXT_COLUMNS["sites"]):
        parsed = parse_column(ctx, text_column, free_text, free_text_note)
        issues.add_failed(parsed, every, ctx.header_name(text_column), 7, order=i, notes=True)
    issues.flush()
    ok = site.ok & name.ok & municipality.ok & population.ok & year.ok & lat.ok & lon.ok
    methods = parse_column(ctx, "population_method", lambda t: (
        re.sub(r"[\s\-]+", "_", t.casefold()) if t else "de_jure"))
    keep = np.flatnonzero(ok)
    lines = np.asarray(ctx.table.lines, dtype=np.int64)[keep]
    sites, years = site.value_array()[keep], year.value_array()[keep]
    keys = list(zip(sites.tolist(), years.tolist(), strict=True))
    rejected = reject_duplicates(ctx, keys, lines, lambda k: (
        f"site '{k[0]}' and population_year {k[1] if k[1] is not None else '(empty)'}"))
    keep = keep[~rejected]
    plant = parse_column(ctx, "treatment_plant", free_text)
    records = {
        "site": site.value_array()[keep],
        "name": name.value_array()[keep],
        "municipality": municipality.value_array()[keep],
        "population": population.int_array()[keep],
        "population_year": pd.array(year.value_array()[keep].tolist(), dtype="Int64"),
        "population_method": methods.value_array()[keep],
        "lat": lat.float_array()[keep],
        "lon": lon.float_array()[keep],
        "treatment_plant": plant.value_array()[keep],
        "source_line": np.asarray(ctx.table.lines, dtype=np.int64)[keep],
    }
    return _frame_of("sites", records), n


def _required_integer(spec: Any) -> Any:
    """The population: a whole number, and not empty."""
    def parse(text: str) -> Any:
        value = spec(text)
        if value is None:
            return Fail("missing_value", "the population is empty; fill in the number of "
                        "inhabitants.")
        return value

    return parse


def _coordinate(what: str, limit: int, decimal_comma: bool) -> Any:
    """Latitude (±90) or longitude (±180) in decimal degrees, NaN when empty."""
    number = number_spec(decimal_comma, what, minimum=None)

    def parse(text: str) -> Any:
        value = number(text)
        if isinstance(value, Fail) or math.isnan(value) or -limit <= value <= limit:
            return value
        return Fail("out_of_range", f"{what} {value:g} is outside -{limit}..{limit} (decimal "
                    "degrees, WGS84).", text)

    return parse


def _frame_of(kind: str, records: dict[str, Any]) -> pd.DataFrame:
    """The frame of ``kind`` from its columns, with the contract's dtypes (None for missing text)."""
    if not len(records["source_line"]):
        return empty_frame(kind)
    out = {}
    for column, dtype in FRAME_COLUMNS[kind].items():
        values = records[column]
        if dtype == "object":
            series = pd.Series(values, dtype=object)
            out[column] = series.where(series.notna(), None)
        elif dtype == "datetime64[ns]":
            out[column] = pd.to_datetime(pd.Series(values, dtype=object)).astype("datetime64[ns]")
        else:
            out[column] = pd.Series(values).astype(dtype)
    return pd.DataFrame(out)


# ------------------------------------------------------------------------------------------
# Flows


def _flow_unit(text: str) -> Any:
    if not text:
        return 1.0
    try:
        return parse_flow_unit(text).factor_to_canonical
    except UnitError:
        return Fail("unknown_unit", f"flow unit {text!r} is not accepted; use one of "
                    f"{accepted_flow_units()}.", text)


def _validate_flows(ctx: FileContext) -> tuple[pd.DataFrame, int]:
    """Flows, column-wise; flows converted to m³ day⁻¹ by the unit column's factor."""
    map_header(ctx, analyte_columns=False)
    n = ctx.table.n_rows
    if not check_required(ctx, REQUIRED["flows"]):
        return empty_frame("flows"), n
    issues = Issues(ctx)
    every = np.ones(n, dtype=bool)
    dc = ctx.table.decimal_comma
    parsed = []
    for stage, (canonical, spec) in enumerate((
            ("site", site_spec(ctx.known_sites)),
            ("date", date_spec("date", required=True, today=ctx.today)),
            ("flow_m3_per_day", number_spec(dc, "flow", required=True)),
            ("unit", _flow_unit))):
        column = parse_column(ctx, canonical, spec)
        issues.add_failed(column, every, ctx.header_name(canonical), stage)
        parsed.append(column)
    issues.flush()
    site, date, flow, unit = parsed
    keep = np.flatnonzero(site.ok & date.ok & flow.ok & unit.ok)
    lines = np.asarray(ctx.table.lines, dtype=np.int64)[keep]
    keys = list(zip(site.value_array()[keep].tolist(), date.value_array()[keep].tolist(),
                    strict=True))
    rejected = reject_duplicates(ctx, keys, lines,
                                 lambda k: f"site '{k[0]}' and date {k[1].isoformat()}")
    keep = keep[~rejected]
    records = {
        "site": site.value_array()[keep],
        "date": date.value_array()[keep],
        "flow_m3_per_day": flow.float_array()[keep] * unit.float_array()[keep],
        "source_line": np.asarray(ctx.table.lines, dtype=np.int64)[keep],
    }
    return _frame_of("flows", records), n


# ------------------------------------------------------------------------------------------
# Events


def _event_kind(text: str) -> Any:
    if not text:
        return Fail("missing_value", "the kind is empty; fill it in.")
    folded = re.sub(r"[\s\-]+", "_", text.casefold())
    kind = _EVENT_KIND_ALIASES.get(folded, folded)
    if kind not in EVENT_KINDS:
        return Fail("bad_event_kind", f"{text!r} is not an event kind; write one of "
                    f"{', '.join(EVENT_KINDS)}.", text)
    return kind


def _list_of(resolve: Any, dedupe: bool) -> Any:
    """A list cell (``|``, ``,`` or ``;``): (values, [Fail of each unknown item])."""
    def parse(text: str) -> tuple[list[str], list[Fail]]:
        values: list[str] = []
        fails: list[Fail] = []
        for item in split_list(text):
            value = resolve(item)
            if isinstance(value, Fail):
                fails.append(value)
                if not dedupe:
                    values.append(item)
                continue
            if not dedupe or value not in values:
                values.append(value)
        return values, fails

    return parse


def _boolean(text: str) -> Any:
    try:
        return parse_boolean(text)
    except CellError as exc:
        return Fail(exc.code, f"{text!r}: {exc.hint}.", text)


def _validate_events(ctx: FileContext) -> tuple[pd.DataFrame, int]:
    """Events, column-wise; sites and substances are list cells checked item by item."""
    map_header(ctx, analyte_columns=False)
    n = ctx.table.n_rows
    if not check_required(ctx, REQUIRED["events"]):
        return empty_frame("events"), n
    issues = Issues(ctx)
    every = np.ones(n, dtype=bool)
    lines_all = np.asarray(ctx.table.lines, dtype=np.int64)

    def column(canonical: str, spec: Any, stage: int) -> Parsed:
        parsed = parse_column(ctx, canonical, spec)
        issues.add_failed(parsed, every, ctx.header_name(canonical), stage)
        return parsed

    event_id = column("event_id", required("event_id"), 0)
    kind = column("kind", _event_kind, 1)
    start = column("start", date_spec("start", required=True, today=None), 2)
    end = column("end", date_spec("end", required=False, today=None), 3)
    starts, ends = start.value_array(), end.value_array()
    both = start.ok & end.ok
    ends = np.where(both & (ends == None), starts, ends)  # noqa: E711 - element-wise
    backwards = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(both).tolist():
        backwards[i] = ends[i] < starts[i]
    end_texts = end.text_array()
    for i in np.flatnonzero(backwards).tolist():
        issues.add(int(lines_all[i]), ctx.header_name("end"), Fail(
            "end_before_start", f"the end {ends[i].isoformat()} is before the start "
            f"{starts[i].isoformat()}; swap them or fix the date.", str(end_texts[i])), 4)
    lists = {}
    for stage, (canonical, resolve, dedupe) in enumerate((
            ("sites", lambda t: known_site(t, ctx.known_sites), False),
            ("substances", known_analyte, True)), start=5):
        parsed = parse_column(ctx, canonical, _list_of(resolve, dedupe))
        if any(p[1] for p in parsed.values):
            for i in np.flatnonzero([bool(parsed.values[c][1]) for c in parsed.codes]).tolist():
                for fail in parsed.values[parsed.codes[i]][1]:
                    issues.add(int(lines_all[i]), ctx.header_name(canonical), fail, stage)
        lists[canonical] = parsed
    confidential = column("confidential", _boolean, 7)
    for i, text_column in enumerate(FREE_TEXT_COLUMNS["events"]):
        parsed = parse_column(ctx, text_column, free_text, free_text_note)
        issues.add_failed(parsed, every, ctx.header_name(text_column), 8, order=i, notes=True)
    issues.flush()
    lists_ok = [np.array([not p[1] for p in lists[c].values], dtype=bool)[lists[c].codes]
                for c in ("sites", "substances")]
    ok = event_id.ok & kind.ok & both & ~backwards & lists_ok[0] & lists_ok[1] & confidential.ok
    keep = np.flatnonzero(ok)
    ids = event_id.value_array()[keep]
    rejected = reject_duplicates(ctx, ids.tolist(), lines_all[keep], lambda k: f"event_id '{k}'")
    keep = keep[~rejected]
    description = parse_column(ctx, "description", lambda t: t)
    records = {
        "event_id": event_id.value_array()[keep],
        "kind": kind.value_array()[keep],
        "start": starts[keep],
        "end": ends[keep],
        "sites": [list(lists["sites"].values[c][0]) for c in lists["sites"].codes[keep]],
        "substances": [list(lists["substances"].values[c][0])
                       for c in lists["substances"].codes[keep]],
        "description": description.value_array()[keep],
        "confidential": confidential.value_array()[keep].astype(bool),
        "source_line": lines_all[keep],
    }
    return _frame_of("events", records), n


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
    ctx = FileContext(table=table, kind=kind, today=today, known_sites=sites,
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
    n_all = sum(ctx.issue_counts.values())
    if n_all > len(ctx.issues):  # the list is capped: say how many of each code there are
        details["issues_listed"] = len(ctx.issues)
        details["issues_total"] = n_all
        details["issue_counts"] = dict(sorted(ctx.issue_counts.items()))
    return frame, ctx.issues, total + n_ragged, details


def _drop_ragged_rows(ctx: FileContext) -> tuple[RawTable, int]:
    """Reject rows with non-empty cells beyond the header (a delimiter or quote problem)."""
    table = ctx.table
    width = len(table.header)
    if not table.extra_cells:
        return table, 0
    for i, extra in sorted(table.extra_cells.items()):
        ctx.add(
            int(table.lines[i]),
            None,
            "column_count",
            f"this line has {width + len(extra)} values but the header has {width} columns "
            f"(extra: {', '.join(repr(c) for c in extra if c)[:80]}). Check the delimiter, "
            "quotes around texts that contain it, and decimal commas in a comma-separated file.",
        )
    keep = np.ones(table.n_rows, dtype=bool)
    keep[list(table.extra_cells)] = False
    return table.select(keep), len(table.extra_cells)
