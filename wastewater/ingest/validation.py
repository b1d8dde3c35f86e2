"""Validate a :class:`~wastewater.ingest.readers.RawTable` row by row into a canonical frame.

One validator per kind (sites, flows, results long/wide, events). Each checks every cell,
records every problem as an :class:`~wastewater.ingest.report.Issue` (line, column, code,
message with the fix) and keeps only rows without errors. Concentrations are converted to
ng L⁻¹ and flows to m³ day⁻¹ here, once (docs/architecture.md, code-style-anchors.md §3.3).
Frame columns follow docs/architecture.md "Parsed upload".
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from wastewater.catalogue import closest_analytes, try_resolve_analyte
from wastewater.exceptions import UnitError
from wastewater.ingest.cells import (
    CellError,
    looks_like_formula,
    parse_boolean,
    parse_censored,
    parse_date,
    parse_number,
    parse_qualifier,
    split_list,
)
from wastewater.ingest.columns import (
    KINDS,
    OPTIONAL,
    REQUIRED,
    AnalyteHeader,
    canonical_column,
    header_has_unit,
    parse_analyte_header,
)
from wastewater.ingest.readers import RawTable
from wastewater.ingest.report import ISSUE_CODES, Issue
from wastewater.units import (
    ConcentrationUnit,
    FlowUnit,
    accepted_concentration_units,
    accepted_flow_units,
    parse_flow_unit,
    parse_unit,
)

__all__ = ["FRAME_COLUMNS", "empty_frame", "validate_table", "EVENT_KINDS", "SAMPLE_ROLES"]

EVENT_KINDS = ("operation", "school_search", "campaign", "safety_walk", "risk_weekend", "other")
SAMPLE_ROLES = ("sample", "blank", "spike", "reference")
DEFAULT_COMPOSITE_HOURS = 24
USUAL_COMPOSITE_HOURS = (24, 72)
MAX_COMPOSITE_HOURS = 168  # one week

_EVENT_KIND_ALIASES = {
    "insats": "operation", "polisinsats": "operation", "police_operation": "operation",
    "skolsök": "school_search", "skolsökning": "school_search", "school_search": "school_search",
    "kampanj": "campaign", "trygghetsvandring": "safety_walk", "riskhelg": "risk_weekend",
    "annat": "other", "övrigt": "other",
}
_ROLE_ALIASES = {
    "prov": "sample", "blindprov": "blank", "blankprov": "blank", "spiked": "spike",
    "tillsats": "spike", "ref": "reference", "referens": "reference", "qc": "reference",
}
_FREE_TEXT = {
    "sites": ("name", "municipality", "treatment_plant"),
    "results": ("lab", "method", "comment"),
    "events": ("event_id", "description"),
    "flows": (),
}

#: Column name -> dtype of the frame each kind produces (docs/architecture.md).
FRAME_COLUMNS: dict[str, dict[str, str]] = {
    "sites": {
        "site": "object", "name": "object", "municipality": "object", "population": "int64",
        "population_year": "Int64", "population_method": "object", "lat": "float64",
        "lon": "float64", "treatment_plant": "object", "source_line": "int64",
    },
    "flows": {
        "site": "object", "date": "datetime64[ns]", "flow_m3_per_day": "float64",
        "source_line": "int64",
    },
    "results": {
        "sample_id": "object", "site": "object", "sample_date": "datetime64[ns]",
        "analyte": "object", "replicate": "int64", "value_ng_per_l": "float64",
        "censor": "object", "loq_ng_per_l": "float64", "lod_ng_per_l": "float64",
        "flow_m3_per_day": "float64", "composite_hours": "int64", "sample_role": "object",
        "lab": "object", "method": "object", "comment": "object", "original_value": "object",
        "original_unit": "object", "source_line": "int64",
    },
    "events": {
        "event_id": "object", "kind": "object", "start": "datetime64[ns]",
        "end": "datetime64[ns]", "sites": "object", "substances": "object",
        "description": "object", "confidential": "bool", "source_line": "int64",
    },
}


def empty_frame(kind: str) -> pd.DataFrame:
    """An empty frame with the columns and dtypes of ``kind`` (any columns if unknown)."""
    columns = FRAME_COLUMNS.get(kind, {})
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


def _frame(kind: str, records: list[dict[str, Any]]) -> pd.DataFrame:
    """Build the frame of ``kind`` from row dicts, with the contract's dtypes."""
    if not records:
        return empty_frame(kind)
    columns = FRAME_COLUMNS[kind]
    frame = pd.DataFrame.from_records(records, columns=list(columns))
    for column, dtype in columns.items():
        if dtype == "datetime64[ns]":
            frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
        elif dtype == "object":
            values = frame[column].astype(object)
            frame[column] = values.where(values.notna(), None)  # None, not NaN, for missing text
        else:
            frame[column] = frame[column].astype(dtype)
    return frame


# ------------------------------------------------------------------------------------------
# Context: issue collection and per-cell helpers


@dataclass
class _Context:
    """State shared by the row validators of one file."""

    table: RawTable
    kind: str
    today: dt.date
    known_sites: dict[str, str] | None  # casefold -> canonical id
    issues: list[Issue] = field(default_factory=list)
    layout: str | None = None  # results only: long or wide
    column_index: dict[str, int] = field(default_factory=dict)  # canonical -> position
    _unit_cache: dict[str, ConcentrationUnit | None] = field(default_factory=dict)
    _date_cache: dict[str, dt.date | CellError] = field(default_factory=dict)
    _analyte_cache: dict[str, str | None] = field(default_factory=dict)

    # issue helpers ---------------------------------------------------------------------
    def add(self, line: int | None, column: str | None, code: str, message: str, value: str | None = None) -> None:
        severity = ISSUE_CODES[code][0]
        where = f"Line {line}" if line is not None else "File"
        if column is not None:
            where += f", column '{column}'"
        self.issues.append(Issue(line, column, code, f"{where}: {message}", severity, value))

    def header_name(self, canonical: str) -> str:
        """The column name as written in the file (for messages)."""
        index = self.column_index.get(canonical)
        return self.table.header[index] if index is not None else canonical

    def cell(self, row: list[str], canonical: str) -> str:
        index = self.column_index.get(canonical)
        return row[index] if index is not None and index < len(row) else ""

    # typed cells: each returns (value, ok) and records issues ---------------------------
    def required_text(self, row: list[str], line: int, canonical: str) -> str | None:
        text = self.cell(row, canonical)
        if not text:
            self.add(line, self.header_name(canonical), "missing_value", f"the {canonical} is empty; fill it in.")
            return None
        return text

    def number(
        self, row: list[str], line: int, canonical: str, *, required: bool = False,
        minimum: float | None = 0.0, what: str | None = None,
    ) -> tuple[float, bool]:
        """Parse a numeric cell; NaN if empty and optional. ``ok`` False on error."""
        text = self.cell(row, canonical)
        column = self.header_name(canonical)
        if not text:
            if required:
                self.add(line, column, "missing_value", f"the {what or canonical} is empty; fill in a number.")
                return math.nan, False
            return math.nan, True
        try:
            value = parse_number(text, self.table.decimal_comma)
        except CellError as exc:
            self.add(line, column, exc.code, f"{text!r} is not a number; {exc.hint}.", text)
            return math.nan, False
        if minimum is not None and value < minimum:
            self.add(line, column, "negative_value", f"{text!r} is negative; {what or canonical} cannot be below {minimum:g}.", text)
            return math.nan, False
        return value, True

    def integer(
        self, row: list[str], line: int, canonical: str, *, code: str, default: int | None,
        low: int, high: int | None, hint: str,
    ) -> tuple[int | None, bool]:
        """Parse a whole-number cell in [low, high]; ``default`` if empty."""
        text = self.cell(row, canonical)
        if not text:
            return default, True
        column = self.header_name(canonical)
        try:
            value = parse_number(text, self.table.decimal_comma)
        except CellError:
            self.add(line, column, code, f"{text!r} is not a whole number; {hint}.", text)
            return None, False
        if not value.is_integer() or value < low or (high is not None and value > high):
            self.add(line, column, code, f"{text!r} is not allowed; {hint}.", text)
            return None, False
        return int(value), True

    def date(self, row: list[str], line: int, canonical: str, *, required: bool, future_ok: bool) -> tuple[dt.date | None, bool]:
        text = self.cell(row, canonical)
        column = self.header_name(canonical)
        if not text:
            if required:
                self.add(line, column, "missing_value", f"the {canonical} is empty; write it as YYYY-MM-DD.")
                return None, False
            return None, True
        value = self._date_cache.get(text)
        if value is None:
            try:
                value = parse_date(text)
            except CellError as exc:
                value = exc
            self._date_cache[text] = value
        if isinstance(value, CellError):
            self.add(line, column, value.code, f"{text!r} is not a valid date; {value.hint}.", text)
            return None, False
        if not future_ok and value > self.today:
            self.add(
                line, column, "future_date",
                f"{text!r} is after today ({self.today.isoformat()}); check the year and month.", text,
            )
            return None, False
        return value, True

    def site(self, text: str, line: int, column: str) -> str | None:
        """Check a site id against the known sites; returns the canonical id or None."""
        if self.known_sites is None:
            return text
        canonical = self.known_sites.get(text.casefold())
        if canonical is None:
            close = difflib.get_close_matches(text, sorted(self.known_sites.values()), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            self.add(
                line, column, "unknown_site",
                f"site {text!r} is not registered.{hint} Upload it in a sites file first, or fix the id.",
                text,
            )
        return canonical

    def analyte(self, text: str, line: int, column: str) -> str | None:
        if text not in self._analyte_cache:
            self._analyte_cache[text] = try_resolve_analyte(text)
        analyte = self._analyte_cache[text]
        if analyte is None:
            close = closest_analytes(text)
            hint = f" Closest known names: {', '.join(close)}." if close else " See the list of analytes."
            self.add(line, column, "unknown_analyte", f"analyte {text!r} is not in the substance catalogue.{hint}", text)
        return analyte

    def conc_unit(self, text: str, line: int, column: str) -> ConcentrationUnit | None:
        if text in self._unit_cache:
            unit = self._unit_cache[text]
        else:
            try:
                unit = parse_unit(text)
            except UnitError:
                unit = None
            self._unit_cache[text] = unit
        if unit is None:
            self.add(line, column, "unknown_unit", f"unit {text!r} is not accepted; use one of {accepted_concentration_units()}.", text)
        return unit

    def free_text(self, row: list[str], line: int, canonical: str) -> str | None:
        text = self.cell(row, canonical)
        if not text:
            return None
        if looks_like_formula(text):
            self.add(
                line, self.header_name(canonical), "formula_text",
                f"{text[:40]!r} starts with '{text[0]}', which a spreadsheet would run as a formula; "
                "it is stored as plain text.", text,
            )
        return text


def _duplicates(ctx: _Context, keyed: Iterable[tuple[Any, int]], describe: Callable[[Any], str]) -> set[int]:
    """Report rows sharing a key; return the lines of *all* rows in duplicate groups."""
    first_line: dict[Any, int] = {}
    rejected: set[int] = set()
    for key, line in keyed:
        if key in first_line:
            rejected.update((first_line[key], line))
            ctx.add(
                line, None, "duplicate_row",
                f"same {describe(key)} as line {first_line[key]}; keep one of lines "
                f"{first_line[key]} and {line} (both were rejected).",
            )
        else:
            first_line[key] = line
    return rejected


# ------------------------------------------------------------------------------------------
# Header


def _map_header(ctx: _Context, analyte_columns: bool) -> dict[int, AnalyteHeader]:
    """Fill ``ctx.column_index``; report duplicate/unknown columns; return wide analyte columns."""
    wide: dict[int, AnalyteHeader] = {}
    allowed = set(REQUIRED[ctx.kind]) | set(OPTIONAL[ctx.kind])
    if ctx.kind == "results":
        allowed |= {"sample_date"}
    header_line = ctx.table.header_line
    for index, header in enumerate(ctx.table.header):
        if not header:
            continue
        canonical = canonical_column(header, ctx.kind)
        if canonical is not None and canonical in allowed:
            if canonical in ctx.column_index:
                other = ctx.table.header[ctx.column_index[canonical]]
                ctx.add(header_line, header, "duplicate_column", f"this column means the same as '{other}'; remove one of them.")
                continue
            ctx.column_index[canonical] = index
            continue
        if analyte_columns and canonical is None:
            parsed = parse_analyte_header(header)
            if parsed is not None:
                same = [i for i, h in wide.items() if (h.analyte, h.role) == (parsed.analyte, parsed.role)]
                if same:
                    ctx.add(
                        header_line, header, "duplicate_column",
                        f"this column means the same as '{ctx.table.header[same[0]]}' "
                        f"({parsed.analyte}); remove one of them.",
                    )
                    continue
                wide[index] = parsed
                continue
            if header_has_unit(header):
                name = re.split(r"[(\[_]", header)[0].strip() or header
                close = closest_analytes(name)
                hint = f" Closest known names: {', '.join(close)}." if close else ""
                ctx.add(header_line, header, "unknown_analyte", f"analyte {name!r} is not in the substance catalogue; the column was not read.{hint}", header)
                continue
        ctx.add(
            header_line, header, "unknown_column",
            f"column not recognised for a {ctx.kind} file and ignored. Known columns: "
            f"{', '.join(REQUIRED[ctx.kind] + OPTIONAL[ctx.kind])}.",
        )
    return wide


def _check_required(ctx: _Context, required: Iterable[str]) -> bool:
    missing = [c for c in required if c not in ctx.column_index]
    for column in missing:
        ctx.add(
            ctx.table.header_line, None, "missing_column",
            f"the required column '{column}' is missing. A {ctx.kind} file needs the columns "
            f"{', '.join(REQUIRED[ctx.kind])}.",
        )
    return not missing


# ------------------------------------------------------------------------------------------
# Sites


def _validate_sites(ctx: _Context) -> tuple[pd.DataFrame, int]:
    _map_header(ctx, analyte_columns=False)
    if not _check_required(ctx, REQUIRED["sites"]):
        return empty_frame("sites"), len(ctx.table.rows)
    records: list[dict[str, Any]] = []
    keys: list[tuple[Any, int]] = []
    year_high = ctx.today.year + 1
    for row, line in zip(ctx.table.rows, ctx.table.lines):
        ok = True
        site = ctx.required_text(row, line, "site")
        name = ctx.required_text(row, line, "name")
        municipality = ctx.required_text(row, line, "municipality")
        ok &= None not in (site, name, municipality)
        population, good = ctx.integer(
            row, line, "population", code="bad_integer", default=None, low=1, high=None,
            hint="write the number of inhabitants as a whole number >= 1, e.g. 34324 or 34 324",
        )
        if good and population is None:
            ctx.add(line, ctx.header_name("population"), "missing_value", "the population is empty; fill in the number of inhabitants.")
        ok &= good and population is not None
        year, good = ctx.integer(
            row, line, "population_year", code="out_of_range", default=None, low=1800, high=year_high,
            hint=f"write the year the population refers to, e.g. 2024 (at most {year_high})",
        )
        ok &= good
        lat, good = ctx.number(row, line, "lat", minimum=None)
        if good and not math.isnan(lat) and not -90 <= lat <= 90:
            ctx.add(line, ctx.header_name("lat"), "out_of_range", f"latitude {lat:g} is outside -90..90 (decimal degrees, WGS84).", ctx.cell(row, "lat"))
            good = False
        ok &= good
        lon, good = ctx.number(row, line, "lon", minimum=None)
        if good and not math.isnan(lon) and not -180 <= lon <= 180:
            ctx.add(line, ctx.header_name("lon"), "out_of_range", f"longitude {lon:g} is outside -180..180 (decimal degrees, WGS84).", ctx.cell(row, "lon"))
            good = False
        ok &= good
        for column in _FREE_TEXT["sites"]:
            ctx.free_text(row, line, column)
        method = ctx.cell(row, "population_method")
        method = re.sub(r"[\s\-]+", "_", method.casefold()) if method else "de_jure"
        if not ok:
            continue
        keys.append(((site, year), line))
        records.append({
            "site": site, "name": name, "municipality": municipality, "population": population,
            "population_year": pd.NA if year is None else year, "population_method": method,
            "lat": lat, "lon": lon, "treatment_plant": ctx.cell(row, "treatment_plant") or None,
            "source_line": line,
        })
    rejected = _duplicates(
        ctx, keys,
        lambda k: f"site '{k[0]}' and population_year {k[1] if k[1] is not None else '(empty)'}",
    )
    records = [r for r in records if r["source_line"] not in rejected]
    return _frame("sites", records), len(ctx.table.rows)


# ------------------------------------------------------------------------------------------
# Flows


def _validate_flows(ctx: _Context) -> tuple[pd.DataFrame, int]:
    _map_header(ctx, analyte_columns=False)
    if not _check_required(ctx, REQUIRED["flows"]):
        return empty_frame("flows"), len(ctx.table.rows)
    unit_cache: dict[str, FlowUnit | None] = {}
    records: list[dict[str, Any]] = []
    keys: list[tuple[Any, int]] = []
    for row, line in zip(ctx.table.rows, ctx.table.lines):
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
                ctx.add(line, ctx.header_name("unit"), "unknown_unit", f"flow unit {unit_text!r} is not accepted; use one of {accepted_flow_units()}.", unit_text)
                ok = False
            else:
                factor = unit.factor_to_canonical
        if not ok:
            continue
        keys.append(((site, date), line))
        records.append({"site": site, "date": date, "flow_m3_per_day": flow * factor, "source_line": line})
    rejected = _duplicates(ctx, keys, lambda k: f"site '{k[0]}' and date {k[1].isoformat()}")
    records = [r for r in records if r["source_line"] not in rejected]
    return _frame("flows", records), len(ctx.table.rows)


# ------------------------------------------------------------------------------------------
# Results


@dataclass
class _SampleFields:
    """Per-row fields shared by every analyte value of that row."""

    sample_id: str
    site: str
    sample_date: dt.date
    replicate: int
    flow_m3_per_day: float
    composite_hours: int
    sample_role: str
    lab: str | None
    method: str | None
    comment: str | None


def _sample_fields(ctx: _Context, row: list[str], line: int) -> _SampleFields | None:
    """Validate the sample-level cells of a results row (both layouts)."""
    ok = True
    site_text = ctx.required_text(row, line, "site")
    site = ctx.site(site_text, line, ctx.header_name("site")) if site_text else None
    ok &= site is not None
    sample_date, good = ctx.date(row, line, "sample_date", required=True, future_ok=False)
    ok &= good
    replicate, good = ctx.integer(
        row, line, "replicate", code="bad_replicate", default=1, low=1, high=None,
        hint="write the replicate number as a whole number 1, 2, 3 …",
    )
    ok &= good
    hours, good = ctx.integer(
        row, line, "composite_hours", code="bad_composite_hours", default=DEFAULT_COMPOSITE_HOURS,
        low=1, high=MAX_COMPOSITE_HOURS,
        hint=f"write the sampling duration in whole hours 1-{MAX_COMPOSITE_HOURS} (24 for a 24-h composite)",
    )
    ok &= good
    if good and hours not in USUAL_COMPOSITE_HOURS:
        ctx.add(
            line, ctx.header_name("composite_hours"), "unusual_composite_hours",
            f"a {hours}-hour composite is unusual (24 or 72 expected); check the value. The row was kept.",
            ctx.cell(row, "composite_hours"),
        )
    role_text = ctx.cell(row, "sample_role")
    role = re.sub(r"[\s\-]+", "_", role_text.casefold()) if role_text else "sample"
    role = _ROLE_ALIASES.get(role, role)
    if role not in SAMPLE_ROLES:
        ctx.add(line, ctx.header_name("sample_role"), "bad_sample_role", f"{role_text!r} is not a sample role; write one of {', '.join(SAMPLE_ROLES)}.", role_text)
        ok = False
    flow, good = ctx.number(row, line, "flow_m3_per_day", what="flow")
    ok &= good
    lab, method, comment = (ctx.free_text(row, line, c) for c in _FREE_TEXT["results"])
    if not ok:
        return None
    sample_id = ctx.cell(row, "sample_id") or f"{site}-{sample_date:%Y%m%d}"
    return _SampleFields(sample_id, site, sample_date, replicate, flow, hours, role, lab, method, comment)


def _limit(ctx: _Context, text: str, line: int, column: str, factor: float) -> tuple[float, bool]:
    """Parse an LOQ/LOD cell in the row's unit and convert it to ng/L."""
    if not text:
        return math.nan, True
    try:
        value = parse_number(text, ctx.table.decimal_comma)
    except CellError as exc:
        ctx.add(line, column, exc.code, f"{text!r} is not a number; {exc.hint}.", text)
        return math.nan, False
    if value < 0:
        ctx.add(line, column, "negative_value", f"{text!r} is negative; a limit cannot be below 0.", text)
        return math.nan, False
    return value * factor, True


def _result_record(
    ctx: _Context, fields: _SampleFields, *, line: int, analyte: str, value_text: str,
    value_column: str, qualifier_text: str, qualifier_column: str, unit: ConcentrationUnit,
    unit_text: str, loq_text: str, loq_column: str, lod_text: str, lod_column: str,
) -> dict[str, Any] | None:
    """Validate one concentration (value + qualifier + limits) and build its record."""
    factor = unit.factor_to_canonical
    qualifier = "none"
    if qualifier_text:
        try:
            qualifier = parse_qualifier(qualifier_text)
        except CellError as exc:
            ctx.add(line, qualifier_column, exc.code, f"{qualifier_text!r}: {exc.hint}.", qualifier_text)
            return None
    try:
        censor, number = parse_censored(value_text, ctx.table.decimal_comma)
    except CellError as exc:
        ctx.add(line, value_column, exc.code, f"{value_text!r} is not a concentration; {exc.hint}.", value_text)
        return None
    loq, good_loq = _limit(ctx, loq_text, line, loq_column, factor)
    lod, good_lod = _limit(ctx, lod_text, line, lod_column, factor)
    if not (good_loq and good_lod):
        return None
    if censor == "empty":
        if qualifier == "none":
            ctx.add(line, value_column, "missing_value", "the value is empty; write the measured value, or <LOQ, <2.5, ND for a censored result.")
            return None
        censor = qualifier
    elif censor == "none":
        if qualifier != "none":
            ctx.add(
                line, value_column, "censor_conflict",
                f"the value {value_text!r} is a measured number but the qualifier says {qualifier}; "
                f"either empty the qualifier or write the value as <{value_text}.", value_text,
            )
            return None
    elif qualifier != "none":
        censor = qualifier  # "<2.5" with qualifier "<LOD": the qualifier names the limit
    if number is not None and number < 0:
        ctx.add(line, value_column, "negative_value", f"{value_text!r} is negative; a concentration cannot be below 0.", value_text)
        return None
    value = math.nan
    if censor == "none":
        value = number * factor
    elif number is not None:
        if censor == "<LOQ":
            loq = number * factor
        else:
            lod = number * factor
    if censor == "<LOQ" and math.isnan(loq):
        ctx.add(
            line, value_column, "loq_missing",
            f"{value_text or qualifier_text!r} gives no LOQ; write it as <2.5 (the LOQ number) or add a "
            "loq column. The row was kept without an LOQ.", value_text or qualifier_text,
        )
    return {
        "sample_id": fields.sample_id, "site": fields.site, "sample_date": fields.sample_date,
        "analyte": analyte, "replicate": fields.replicate, "value_ng_per_l": value,
        "censor": censor, "loq_ng_per_l": loq, "lod_ng_per_l": lod,
        "flow_m3_per_day": fields.flow_m3_per_day, "composite_hours": fields.composite_hours,
        "sample_role": fields.sample_role, "lab": fields.lab, "method": fields.method,
        "comment": fields.comment, "original_value": value_text or qualifier_text,
        "original_unit": unit_text, "source_line": line,
    }


def _validate_results(ctx: _Context, layout: str | None) -> tuple[pd.DataFrame, int]:
    wide_columns = _map_header(ctx, analyte_columns=layout != "long")
    if layout is None:
        layout = "long" if {"analyte", "value"} <= set(ctx.column_index) else "wide"
    ctx.layout = layout
    if layout == "wide":
        for canonical in ("analyte", "value", "qualifier", "loq", "lod"):
            if canonical in ctx.column_index:
                ctx.add(
                    ctx.table.header_line, ctx.header_name(canonical), "unknown_column",
                    "this column is only used in the long layout (one row per analyte) and was "
                    "ignored; in a wide file write '<2.5' or 'ND' in the analyte's own column and "
                    "give limits in columns such as 'loq_amphetamine'.",
                )
                del ctx.column_index[canonical]
    required = REQUIRED["results"] if layout == "long" else ("site", "sample_date")
    header_ok = _check_required(ctx, required)
    records: list[dict[str, Any]] = []
    keys: list[tuple[Any, int]] = []
    n_records = 0
    if layout == "long":
        n_records = len(ctx.table.rows)
        if not header_ok:
            return empty_frame("results"), n_records
        for row, line in zip(ctx.table.rows, ctx.table.lines):
            fields = _sample_fields(ctx, row, line)
            analyte_text = ctx.required_text(row, line, "analyte")
            analyte = ctx.analyte(analyte_text, line, ctx.header_name("analyte")) if analyte_text else None
            unit_text = ctx.cell(row, "unit")
            unit = None
            if not unit_text:
                ctx.add(line, ctx.header_name("unit"), "missing_unit", f"the unit is empty; write one of {accepted_concentration_units()}.")
            else:
                unit = ctx.conc_unit(unit_text, line, ctx.header_name("unit"))
            if fields is None or analyte is None or unit is None:
                continue
            record = _result_record(
                ctx, fields, line=line, analyte=analyte, value_text=ctx.cell(row, "value"),
                value_column=ctx.header_name("value"), qualifier_text=ctx.cell(row, "qualifier"),
                qualifier_column=ctx.header_name("qualifier"), unit=unit, unit_text=unit_text,
                loq_text=ctx.cell(row, "loq"), loq_column=ctx.header_name("loq"),
                lod_text=ctx.cell(row, "lod"), lod_column=ctx.header_name("lod"),
            )
            if record is not None:
                records.append(record)
                keys.append(((fields.sample_id, analyte, fields.replicate, fields.sample_role), line))
    else:
        value_columns = {i: h for i, h in wide_columns.items() if h.role == "value"}
        limit_columns = {(h.analyte, h.role): i for i, h in wide_columns.items() if h.role != "value"}
        header = ctx.table.header
        if not value_columns and header_ok:
            ctx.add(
                ctx.table.header_line, None, "missing_column",
                "no analyte columns found. A wide results file needs one column per analyte, "
                "e.g. 'amphetamine (ng/L)', or use the long layout with analyte, value and unit columns.",
            )
            header_ok = False
        has_unit_column = "unit" in ctx.column_index
        header_units: dict[int, ConcentrationUnit | None] = {}
        for index, parsed in value_columns.items():
            if parsed.unit_text is not None:
                header_units[index] = ctx.conc_unit(parsed.unit_text, ctx.table.header_line, header[index])
            elif not has_unit_column:
                ctx.add(
                    ctx.table.header_line, header[index], "missing_unit",
                    "no unit for this analyte column; write it in the header, e.g. "
                    f"'{header[index]} (ng/L)', or add a 'unit' column.",
                )
                header_units[index] = None
            else:
                header_units[index] = None
        for row, line in zip(ctx.table.rows, ctx.table.lines):
            present = [i for i in value_columns if i < len(row) and row[i]]
            n_records += len(present)
            if not header_ok or not present:
                continue
            fields = _sample_fields(ctx, row, line)
            row_unit_text = ctx.cell(row, "unit")
            row_unit = None
            if has_unit_column and any(value_columns[i].unit_text is None for i in present):
                if not row_unit_text:
                    ctx.add(line, ctx.header_name("unit"), "missing_unit", f"the unit is empty; write one of {accepted_concentration_units()}.")
                else:
                    row_unit = ctx.conc_unit(row_unit_text, line, ctx.header_name("unit"))
            if fields is None:
                continue
            for index in present:
                parsed = value_columns[index]
                unit = header_units[index] if parsed.unit_text is not None else row_unit
                unit_text = parsed.unit_text if parsed.unit_text is not None else row_unit_text
                if unit is None:
                    continue
                loq_index = limit_columns.get((parsed.analyte, "loq"))
                lod_index = limit_columns.get((parsed.analyte, "lod"))
                record = _result_record(
                    ctx, fields, line=line, analyte=parsed.analyte, value_text=row[index],
                    value_column=header[index], qualifier_text="", qualifier_column="",
                    unit=unit, unit_text=unit_text,
                    loq_text=row[loq_index] if loq_index is not None else "",
                    loq_column=header[loq_index] if loq_index is not None else "",
                    lod_text=row[lod_index] if lod_index is not None else "",
                    lod_column=header[lod_index] if lod_index is not None else "",
                )
                if record is not None:
                    records.append(record)
                    keys.append(((fields.sample_id, parsed.analyte, fields.replicate, fields.sample_role), (line, index)))
    # duplicates: key -> first position; wide positions are (line, column) pairs
    first: dict[Any, Any] = {}
    rejected: set[Any] = set()
    for key, position in keys:
        if key in first:
            rejected.update((first[key], position))
            first_line = first[key][0] if isinstance(first[key], tuple) else first[key]
            this_line = position[0] if isinstance(position, tuple) else position
            ctx.add(
                this_line, None, "duplicate_row",
                f"same sample_id '{key[0]}', analyte '{key[1]}', replicate {key[2]} and sample_role "
                f"'{key[3]}' as line {first_line}; keep one of lines {first_line} and {this_line} "
                "(both were rejected), or give them different replicate numbers.",
            )
        else:
            first[key] = position
    if rejected:
        records = [r for r, (_, position) in zip(records, keys) if position not in rejected]
    return _frame("results", records), n_records


# ------------------------------------------------------------------------------------------
# Events


def _validate_events(ctx: _Context) -> tuple[pd.DataFrame, int]:
    _map_header(ctx, analyte_columns=False)
    if not _check_required(ctx, REQUIRED["events"]):
        return empty_frame("events"), len(ctx.table.rows)
    records: list[dict[str, Any]] = []
    keys: list[tuple[Any, int]] = []
    for row, line in zip(ctx.table.rows, ctx.table.lines):
        ok = True
        event_id = ctx.required_text(row, line, "event_id")
        ok &= event_id is not None
        kind_text = ctx.required_text(row, line, "kind")
        kind = None
        if kind_text:
            folded = re.sub(r"[\s\-]+", "_", kind_text.casefold())
            kind = _EVENT_KIND_ALIASES.get(folded, folded)
            if kind not in EVENT_KINDS:
                ctx.add(line, ctx.header_name("kind"), "bad_event_kind", f"{kind_text!r} is not an event kind; write one of {', '.join(EVENT_KINDS)}.", kind_text)
                kind = None
        ok &= kind is not None
        start, good = ctx.date(row, line, "start", required=True, future_ok=True)
        ok &= good
        end, good = ctx.date(row, line, "end", required=False, future_ok=True)
        ok &= good
        if start is not None and good:
            end = end or start
            if end < start:
                ctx.add(line, ctx.header_name("end"), "end_before_start", f"the end {end.isoformat()} is before the start {start.isoformat()}; swap them or fix the date.", ctx.cell(row, "end"))
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
            ctx.add(line, ctx.header_name("confidential"), exc.code, f"{confidential_text!r}: {exc.hint}.", confidential_text)
            ok = False
        for column_name in _FREE_TEXT["events"]:
            ctx.free_text(row, line, column_name)
        if not ok:
            continue
        keys.append((event_id, line))
        records.append({
            "event_id": event_id, "kind": kind, "start": start, "end": end, "sites": sites,
            "substances": substances, "description": ctx.cell(row, "description"),
            "confidential": confidential, "source_line": line,
        })
    rejected = _duplicates(ctx, keys, lambda k: f"event_id '{k}'")
    records = [r for r in records if r["source_line"] not in rejected]
    return _frame("events", records), len(ctx.table.rows)


# ------------------------------------------------------------------------------------------


def validate_table(
    table: RawTable, kind: str, *, layout: str | None = None,
    known_sites: Iterable[str] | None = None, today: dt.date,
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
    ctx = _Context(table=table, kind=kind, today=today, known_sites=sites)
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
        frame, total = _validate_results(ctx, layout)
        details["layout"] = ctx.layout
    return frame, ctx.issues, total + n_ragged, details


def _drop_ragged_rows(ctx: _Context) -> tuple[RawTable, int]:
    """Reject rows with non-empty cells beyond the header (a delimiter or quote problem)."""
    table = ctx.table
    width = len(table.header)
    ragged = [i for i, row in enumerate(table.rows) if len(row) > width and any(row[width:])]
    for i in ragged:
        row = table.rows[i]
        ctx.add(
            table.lines[i], None, "column_count",
            f"this line has {len(row)} values but the header has {width} columns "
            f"(extra: {', '.join(repr(c) for c in row[width:] if c)[:80]}). Check the delimiter, "
            "quotes around texts that contain it, and decimal commas in a comma-separated file.",
        )
    if not ragged:
        return table, 0
    keep = set(range(len(table.rows))) - set(ragged)
    filtered = RawTable(
        header=table.header, rows=[r for i, r in enumerate(table.rows) if i in keep],
        lines=[n for i, n in enumerate(table.lines) if i in keep], header_line=table.header_line,
        delimiter=table.delimiter, decimal_comma=table.decimal_comma, encoding=table.encoding,
        format=table.format,
    )
    return filtered, len(ragged)

