"""Validation report of an upload: issues with stable codes, line and column.

Validation never raises on bad data: it returns a :class:`ValidationReport` that lists every
problem at once (PHES-ODM-Validation style, code-style-anchors.md §2.6). ``Issue.line`` is the
1-based physical line in the file (the header is line 1), so a lab technician can open the
file in a text editor or spreadsheet and go straight to it.

:data:`ISSUE_CODES` is the registry of every code the ingest layer can emit, with its
severity and a one-line explanation; codes are stable and may be used by clients.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pandas as pd

__all__ = ["ISSUE_CODES", "Issue", "ParsedUpload", "Severity", "ValidationReport", "make_issue"]

Severity = Literal["error", "warning"]

#: code -> (severity, explanation). Every issue the ingest layer emits uses one of these.
ISSUE_CODES: dict[str, tuple[Severity, str]] = {
    # whole file
    "empty_file": ("error", "The file is empty."),
    "header_only": ("warning", "The file has a header line but no data rows."),
    "binary_file": ("error", "The file is not a text (CSV) file."),
    "encoding_fallback": ("warning", "The file is not UTF-8; it was read as Windows-1252."),
    "xlsx_unreadable": ("error", "The .xlsx workbook could not be read."),
    "malformed_csv": ("error", "The CSV structure is broken (e.g. an unclosed quote)."),
    "too_many_columns": ("error", "The header has more columns than allowed."),
    "line_too_long": ("error", "A line is longer than allowed."),
    "too_many_rows": ("error", "The file has more data rows than allowed."),
    "unknown_kind": ("error", "The header does not match any known file kind."),
    # header
    "missing_column": ("error", "A required column is missing from the header."),
    "duplicate_column": ("error", "Two header cells name the same column."),
    "unknown_column": ("warning", "A column is not recognised and was ignored."),
    # rows
    "column_count": ("error", "A line has more values than the header has columns."),
    "missing_value": ("error", "A required cell is empty."),
    "unknown_site": ("error", "The site is not registered."),
    "unknown_analyte": ("error", "The analyte is not in the substance catalogue."),
    "bad_date": ("error", "A date is not written as YYYY-MM-DD."),
    "future_date": ("error", "A sample or flow date lies in the future."),
    "negative_value": ("error", "A concentration, LOQ/LOD, flow or population is negative."),
    "non_numeric": ("error", "A cell that must hold a number does not."),
    "bad_integer": ("error", "A cell that must hold a whole number does not."),
    "out_of_range": ("error", "A number is outside its allowed range."),
    "missing_unit": ("error", "No unit is given for a concentration."),
    "unknown_unit": ("error", "The unit is not one of the accepted units."),
    "censor_conflict": ("error", "A cell gives both a measured value and a <LOQ/<LOD/ND flag."),
    "bad_qualifier": ("error", "The qualifier is not one of <LOQ, <LOD, ND."),
    "loq_missing": ("warning", "'< LOQ' is given without a number or LOQ column."),
    "duplicate_row": ("error", "The same record appears twice in the file."),
    "bad_composite_hours": ("error", "composite_hours is not a whole number of hours 1-168."),
    "unusual_composite_hours": ("warning", "composite_hours is neither 24 nor 72."),
    "bad_sample_role": ("error", "sample_role is not sample, blank, spike or reference."),
    "bad_replicate": ("error", "replicate is not a whole number >= 1."),
    "bad_event_kind": ("error", "The event kind is not one of the allowed kinds."),
    "end_before_start": ("error", "An event ends before it starts."),
    "bad_boolean": ("error", "A yes/no cell holds something else."),
    "formula_text": ("warning", "A text cell starts with =, +, - or @ and is stored as text."),
    "implausible_value": ("warning", "A concentration is above the cited plausible maximum."),
    "implausible_date": ("warning", "A sample date is far outside the site's stored history."),
    "internal_error": ("error", "The file could not be checked because of a program error."),
    # added by wastewater.storage.service; registered here to keep all codes in one place
    "duplicate_upload": ("warning", "The same file was uploaded before; nothing was stored twice."),
}


@dataclass(frozen=True)
class Issue:
    """One problem found in an upload.

    Parameters
    ----------
    line : int or None
        1-based physical line in the file (header = 1); ``None`` for whole-file issues.
    column : str or None
        Column name as written in the file's header, or ``None``.
    code : str
        Stable code, a key of :data:`ISSUE_CODES`.
    message : str
        Plain-language message naming the line, column and the fix.
    severity : {"error", "warning"}
        Errors reject the row (or the file); warnings do not.
    value : str or None
        The offending cell text, if any.
    message_sv : str or None
        The same message in Swedish, where one is written (``to_dict`` leaves it out when
        ``None``).
    """

    line: int | None
    column: str | None
    code: str
    message: str
    severity: Severity
    value: str | None = None
    message_sv: str | None = None

    def __post_init__(self) -> None:
        if self.code not in ISSUE_CODES:
            raise ValueError(f"unregistered issue code {self.code!r}")
        if self.severity not in ("error", "warning"):
            raise ValueError(f"severity must be 'error' or 'warning', not {self.severity!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the fields (``message_sv`` only when there is one)."""
        out = asdict(self)
        if out["message_sv"] is None:
            del out["message_sv"]
        return out


def make_issue(line: int | None, column: str | None, code: str, message: str,
               value: str | None = None, *, message_sv: str | None = None) -> Issue:
    """An issue whose messages begin with where it is: ``Line 4, column 'value': …`` (and
    ``Rad 4, kolumn 'value': …`` for the Swedish text); the severity is the code's.

    Examples
    --------
    >>> make_issue(4, "value", "missing_value", "the value is empty.").message
    "Line 4, column 'value': the value is empty."
    """
    severity = ISSUE_CODES[code][0]
    where = f"Line {line}" if line is not None else "File"
    if column is not None:
        where += f", column '{column}'"
    swedish = None
    if message_sv is not None:
        plats = f"Rad {line}" if line is not None else "Filen"
        if column is not None:
            plats += f", kolumn '{column}'"
        swedish = f"{plats}: {message_sv}"
    return Issue(line, column, code, f"{where}: {message}", severity, value, message_sv=swedish)


@dataclass
class ValidationReport:
    """Every problem found in one upload.

    Parameters
    ----------
    kind : str
        ``sites``, ``flows``, ``results`` or ``events`` (``unknown`` if undetectable).
    rows_total : int
        Records in the file. For wide results files one record is one non-empty
        analyte cell (sample × analyte), so wide and long files give the same counts.
    rows_accepted : int
        Records without errors, i.e. ``len(ParsedUpload.frame)``.
    issues : list of Issue
        Errors and warnings, in file order.
    details : dict
        How the file was read: ``encoding``, ``delimiter``, ``decimal``, ``layout``
        (``long``/``wide`` for results), ``format`` (``csv``/``xlsx``).
    """

    kind: str
    rows_total: int = 0
    rows_accepted: int = 0
    issues: list[Issue] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> list[Issue]:
        """Issues with severity ``error``."""
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        """Issues with severity ``warning``."""
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when no issue has severity ``error``."""
        return not self.errors

    def codes(self) -> list[str]:
        """Codes of all issues, in order (handy in tests and logs)."""
        return [i.code for i in self.issues]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: kind, ok, counts, details and the list of issues."""
        return {
            "kind": self.kind,
            "ok": self.ok,
            "rows_total": int(self.rows_total),
            "rows_accepted": int(self.rows_accepted),
            "n_errors": len(self.errors),
            "n_warnings": len(self.warnings),
            "details": dict(self.details),
            "issues": [i.to_dict() for i in self.issues],
        }


@dataclass
class ParsedUpload:
    """Result of :func:`wastewater.ingest.parse_upload`.

    Parameters
    ----------
    kind : str
        ``sites``, ``flows``, ``results`` or ``events``.
    frame : pandas.DataFrame
        Valid rows only, with the columns docs/architecture.md fixes for ``kind``.
    report : ValidationReport
        Every problem found.
    """

    kind: str
    frame: pd.DataFrame
    report: ValidationReport
