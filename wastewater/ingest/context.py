"""Shared machinery of the validators: frame contract, file context, header mapping.

:class:`FileContext` holds one file's table, the header mapping (canonical column → position)
and the issues found; the cells themselves are read column-wise by the specs of
:mod:`wastewater.ingest.columnar`. :data:`FRAME_COLUMNS` is the frame contract of
docs/architecture.md ("Parsed upload").
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from wastewater.catalogue import closest_analytes
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

__all__ = [
    "FRAME_COLUMNS",
    "FREE_TEXT_COLUMNS",
    "FileContext",
    "check_required",
    "empty_frame",
    "map_header",
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


# ------------------------------------------------------------------------------------------
# Context: issue collection


#: Issues listed one by one per file; beyond this only their number per code is kept (and the
#: costly "did you mean" hints are skipped), so a file with 100 000 bad rows answers fast.
MAX_LISTED_ISSUES = 1000


@dataclass
class FileContext:
    """State shared by the validators of one file."""

    table: RawTable
    kind: str
    today: dt.date
    known_sites: dict[str, str] | None  # casefold -> canonical id
    site_history: dict[str, tuple[dt.date, dt.date]] | None = None  # first, last stored date
    issues: list[Issue] = field(default_factory=list)
    layout: str | None = None  # results only: long or wide
    column_index: dict[str, int] = field(default_factory=dict)  # canonical -> position
    max_issues: int = MAX_LISTED_ISSUES
    issue_counts: Counter[str] = field(default_factory=Counter)  # every issue by code, listed or not

    @property
    def capped(self) -> bool:
        """True once :attr:`max_issues` issues are listed (later ones are only counted)."""
        return len(self.issues) >= self.max_issues

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
        self.issue_counts[code] += 1
        if self.capped:
            return
        self.issues.append(make_issue(line, column, code, message, value, message_sv=message_sv))

    def header_name(self, canonical: str) -> str:
        """The column name as written in the file (for messages)."""
        index = self.column_index.get(canonical)
        return self.table.header[index] if index is not None else canonical


# ------------------------------------------------------------------------------------------
# Header


def map_header(ctx: FileContext, analyte_columns: bool) -> dict[int, AnalyteHeader]:
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


def check_required(ctx: FileContext, required: Iterable[str]) -> bool:
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
