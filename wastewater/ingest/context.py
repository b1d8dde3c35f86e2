"""Shared machinery of the row validators: frame contract, issue context, header mapping.

:class:`RowContext` collects issues for one file and offers typed cell readers (numbers,
whole numbers, dates, sites, analytes, units, free text) that record a plain-language issue
naming the line, the column as written in the file and the fix. :data:`FRAME_COLUMNS` is the
frame contract of docs/architecture.md ("Parsed upload").
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
    parse_date,
    parse_number,
)
from wastewater.ingest.columns import (
    OPTIONAL,
    REQUIRED,
    AnalyteHeader,
    canonical_column,
    header_has_unit,
    parse_analyte_header,
)
from wastewater.ingest.readers import RawTable
from wastewater.ingest.report import Issue, make_issue
from wastewater.units import (
    ConcentrationUnit,
    accepted_concentration_units,
    parse_unit,
)

__all__ = [
    "FRAME_COLUMNS",
    "FREE_TEXT_COLUMNS",
    "RowContext",
    "build_frame",
    "check_required",
    "empty_frame",
    "map_header",
    "report_duplicates",
]

FREE_TEXT_COLUMNS = {
    "sites": ("name", "municipality", "treatment_plant"),
    "results": ("lab", "method", "comment"),
    "events": ("event_id", "description"),
    "flows": (),
}

#: Column name -> dtype of the frame each kind produces (docs/architecture.md).
#: Column name -> dtype of the frame each kind produces (docs/architecture.md).
FRAME_COLUMNS: dict[str, dict[str, str]] = {
    "sites": {
        "site": "object",
        "name": "object",
        "municipality": "object",
        "population": "int64",
        "population_year": "Int64",
        "population_method": "object",
        "lat": "float64",
        "lon": "float64",
        "treatment_plant": "object",
        "source_line": "int64",
    },
    "flows": {
        "site": "object",
        "date": "datetime64[ns]",
        "flow_m3_per_day": "float64",
        "source_line": "int64",
    },
    "results": {
        "sample_id": "object",
        "site": "object",
        "sample_date": "datetime64[ns]",
        "analyte": "object",
        "replicate": "int64",
        "value_ng_per_l": "float64",
        "censor": "object",
        "loq_ng_per_l": "float64",
        "lod_ng_per_l": "float64",
        "flow_m3_per_day": "float64",
        "composite_hours": "int64",
        "sample_role": "object",
        "lab": "object",
        "method": "object",
        "comment": "object",
        "original_value": "object",
        "original_unit": "object",
        "source_line": "int64",
    },
    "events": {
        "event_id": "object",
        "kind": "object",
        "start": "datetime64[ns]",
        "end": "datetime64[ns]",
        "sites": "object",
        "substances": "object",
        "description": "object",
        "confidential": "bool",
        "source_line": "int64",
    },
}


def empty_frame(kind: str) -> pd.DataFrame:
    """An empty frame with the columns and dtypes of ``kind`` (any columns if unknown)."""
    columns = FRAME_COLUMNS.get(kind, {})
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


def build_frame(kind: str, records: list[dict[str, Any]]) -> pd.DataFrame:
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
class RowContext:
    """State shared by the row validators of one file."""

    table: RawTable
    kind: str
    today: dt.date
    known_sites: dict[str, str] | None  # casefold -> canonical id
    site_history: dict[str, tuple[dt.date, dt.date]] | None = None  # first, last stored date
    issues: list[Issue] = field(default_factory=list)
    layout: str | None = None  # results only: long or wide
    column_index: dict[str, int] = field(default_factory=dict)  # canonical -> position
    _unit_cache: dict[str, ConcentrationUnit | None] = field(default_factory=dict)
    _date_cache: dict[str, dt.date | CellError] = field(default_factory=dict)
    _analyte_cache: dict[str, str | None] = field(default_factory=dict)

    # issue helpers ---------------------------------------------------------------------
    def add(
        self,
        line: int | None,
        column: str | None,
        code: str,
        message: str,
        value: str | None = None,
        *,
        message_sv: str | None = None,
    ) -> None:
        """Record an issue; ``message_sv`` is the Swedish text of ``message`` (optional)."""
        self.issues.append(make_issue(line, column, code, message, value, message_sv=message_sv))

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
            self.add(
                line,
                self.header_name(canonical),
                "missing_value",
                f"the {canonical} is empty; fill it in.",
            )
            return None
        return text

    def number(
        self,
        row: list[str],
        line: int,
        canonical: str,
        *,
        required: bool = False,
        minimum: float | None = 0.0,
        what: str | None = None,
    ) -> tuple[float, bool]:
        """Parse a numeric cell; NaN if empty and optional. ``ok`` False on error."""
        text = self.cell(row, canonical)
        column = self.header_name(canonical)
        if not text:
            if required:
                self.add(
                    line,
                    column,
                    "missing_value",
                    f"the {what or canonical} is empty; fill in a number.",
                )
                return math.nan, False
            return math.nan, True
        try:
            value = parse_number(text, self.table.decimal_comma)
        except CellError as exc:
            self.add(line, column, exc.code, f"{text!r} is not a number; {exc.hint}.", text)
            return math.nan, False
        if minimum is not None and value < minimum:
            self.add(
                line,
                column,
                "negative_value",
                f"{text!r} is negative; {what or canonical} cannot be below {minimum:g}.",
                text,
            )
            return math.nan, False
        return value, True

    def integer(
        self,
        row: list[str],
        line: int,
        canonical: str,
        *,
        code: str,
        default: int | None,
        low: int,
        high: int | None,
        hint: str,
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

    def date(
        self, row: list[str], line: int, canonical: str, *, required: bool, future_ok: bool
    ) -> tuple[dt.date | None, bool]:
        text = self.cell(row, canonical)
        column = self.header_name(canonical)
        if not text:
            if required:
                self.add(
                    line,
                    column,
                    "missing_value",
                    f"the {canonical} is empty; write it as YYYY-MM-DD.",
                )
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
                line,
                column,
                "future_date",
                f"{text!r} is after today ({self.today.isoformat()}); check the year and month.",
                text,
            )
            return None, False
        return value, True

    def site(self, text: str, line: int, column: str) -> str | None:
        """Check a site id against the known sites; returns the canonical id or None."""
        if self.known_sites is None:
            return text
        canonical = self.known_sites.get(text.casefold())
        if canonical is None:
            close = difflib.get_close_matches(
                text, sorted(self.known_sites.values()), n=3, cutoff=0.5
            )
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            self.add(
                line,
                column,
                "unknown_site",
                f"site {text!r} is not registered.{hint} Upload it in a sites file first, or fix "
                "the id.",
                text,
            )
        return canonical

    def analyte(self, text: str, line: int, column: str) -> str | None:
        if text not in self._analyte_cache:
            self._analyte_cache[text] = try_resolve_analyte(text)
        analyte = self._analyte_cache[text]
        if analyte is None:
            close = closest_analytes(text)
            hint = (
                f" Closest known names: {', '.join(close)}."
                if close
                else " See the list of analytes."
            )
            self.add(
                line,
                column,
                "unknown_analyte",
                f"analyte {text!r} is not in the substance catalogue.{hint}",
                text,
            )
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
            self.add(
                line,
                column,
                "unknown_unit",
                f"unit {text!r} is not accepted; use one of {accepted_concentration_units()}.",
                text,
            )
        return unit

    def free_text(self, row: list[str], line: int, canonical: str) -> str | None:
        text = self.cell(row, canonical)
        if not text:
            return None
        if looks_like_formula(text):
            self.add(
                line,
                self.header_name(canonical),
                "formula_text",
                f"{text[:40]!r} starts with '{text[0]}', which a spreadsheet would run as a "
                "formula; "
                "it is stored as plain text.",
                text,
            )
        return text


def report_duplicates(
    ctx: RowContext, keyed: Iterable[tuple[Any, int]], describe: Callable[[Any], str]
) -> set[int]:
    """Report rows sharing a key; return the lines of *all* rows in duplicate groups."""
    first_line: dict[Any, int] = {}
    rejected: set[int] = set()
    for key, line in keyed:
        if key in first_line:
            rejected.update((first_line[key], line))
            ctx.add(
                line,
                None,
                "duplicate_row",
                f"same {describe(key)} as line {first_line[key]}; keep one of lines "
                f"{first_line[key]} and {line} (both were rejected).",
            )
        else:
            first_line[key] = line
    return rejected


# ------------------------------------------------------------------------------------------
# Header


def map_header(ctx: RowContext, analyte_columns: bool) -> dict[int, AnalyteHeader]:
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
                ctx.add(
                    header_line,
                    header,
                    "duplicate_column",
                    f"this column means the same as '{other}'; remove one of them.",
                )
                continue
            ctx.column_index[canonical] = index
            continue
        if analyte_columns and canonical is None:
            parsed = parse_analyte_header(header)
            if parsed is not None:
                same = [
                    i
                    for i, h in wide.items()
                    if (h.analyte, h.role) == (parsed.analyte, parsed.role)
                ]
                if same:
                    ctx.add(
                        header_line,
                        header,
                        "duplicate_column",
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
                ctx.add(
                    header_line,
                    header,
                    "unknown_analyte",
                    f"analyte {name!r} is not in the substance catalogue; the column was not "
                    f"read.{hint}",
                    header,
                )
                continue
        ctx.add(
            header_line,
            header,
            "unknown_column",
            f"column not recognised for a {ctx.kind} file and ignored. Known columns: "
            f"{', '.join(REQUIRED[ctx.kind] + OPTIONAL[ctx.kind])}.",
        )
    return wide


def check_required(ctx: RowContext, required: Iterable[str]) -> bool:
    """Record an error for each required column the row lacks; ``True`` when none is missing."""
    missing = [c for c in required if c not in ctx.column_index]
    for column in missing:
        ctx.add(
            ctx.table.header_line,
            None,
            "missing_column",
            f"the required column '{column}' is missing. A {ctx.kind} file needs the columns "
            f"{', '.join(REQUIRED[ctx.kind])}.",
        )
    return not missing
