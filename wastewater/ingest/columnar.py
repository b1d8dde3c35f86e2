"""Column-wise validation machinery: cell specs parsed once per distinct text, issues from masks.

A *cell spec* is a pure function of one cell text returning the parsed value or a :class:`Fail`
(issue code, message with the fix, offending text). :func:`parse_column` applies a spec to each
distinct text of a column once (a 1 M-row file has a few thousand distinct dates, units or
sites) and gives a :class:`Parsed`: per-row codes into the distinct texts and their results,
from which masks (``ok``) and value arrays are read without a Python loop per row.
:class:`Issues` turns the flagged rows into report issues with their physical line and sorts
them the way a lab reads a report: by line, then left to right through the checks of a row.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from wastewater.catalogue import closest_analytes, try_resolve_analyte
from wastewater.ingest.cells import CellError, looks_like_formula, parse_date, parse_number
from wastewater.ingest.report import Issue, make_issue

if TYPE_CHECKING:
    from wastewater.ingest.context import FileContext

__all__ = [
    "Fail",
    "Issues",
    "Parsed",
    "date_spec",
    "factorize",
    "free_text",
    "free_text_note",
    "integer_spec",
    "known_analyte",
    "known_site",
    "number_spec",
    "parse_column",
    "parse_distinct",
    "parse_texts",
    "reject_duplicates",
    "required",
    "site_spec",
]


@dataclass(frozen=True)
class Fail:
    """A cell that cannot be used (or, as a note, one kept with a warning)."""

    code: str
    message: str
    value: str | None = None
    message_sv: str | None = None


def factorize(values: list[str] | np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Codes and distinct texts (first-seen order) of cell texts (a list or an object array).

    :func:`pandas.factorize` (a C hash table) on an object array of the texts.

    Examples
    --------
    >>> codes, uniques = factorize(["b", "a", "b"])
    >>> codes.tolist(), uniques
    ([0, 1, 0], ['b', 'a'])
    """
    if isinstance(values, np.ndarray):
        array = values
    else:
        array = np.empty(len(values), dtype=object)
        array[:] = values
    codes, uniques = pd.factorize(array)
    return codes.astype(np.intp, copy=False), list(uniques)


class Parsed:
    """A spec applied to a column: ``codes`` (per row) into ``texts`` (distinct) and ``values``
    (spec result per distinct text); ``notes`` holds a warning per distinct text or None.
    """

    def __init__(self, codes: np.ndarray, texts: list[str], values: list[Any],
                 notes: list[Fail | None] | None = None):
        self.codes = codes
        self.texts = texts
        self.values = values
        self.notes = notes
        self._failed = np.array([isinstance(v, Fail) for v in values], dtype=bool)

    @property
    def ok(self) -> np.ndarray:
        """Per row: the cell parsed without an error (no gather when no text failed)."""
        if not self._failed.any():
            return np.ones(len(self.codes), dtype=bool)
        out: np.ndarray = ~self._failed[self.codes]
        return out

    def fail_mask(self) -> np.ndarray:
        """Per row: the cell has an error (no gather when no text failed)."""
        if not self._failed.any():
            return np.zeros(len(self.codes), dtype=bool)
        out: np.ndarray = self._failed[self.codes]
        return out

    def _codes(self, index: np.ndarray | None) -> np.ndarray:
        return self.codes if index is None else self.codes[index]

    def value_array(self, index: np.ndarray | None = None) -> np.ndarray:
        """Per row (or per row of ``index``) the parsed value (``None`` for an error) as an
        object array.
        """
        table = np.empty(len(self.values), dtype=object)
        table[:] = [None if isinstance(v, Fail) else v for v in self.values]
        out: np.ndarray = table[self._codes(index)]
        return out

    def float_array(self, index: np.ndarray | None = None) -> np.ndarray:
        """Per row (or per row of ``index``) the parsed number (NaN for an error)."""
        table = np.array([np.nan if isinstance(v, Fail) else v for v in self.values], dtype=float)
        out: np.ndarray = table[self._codes(index)]
        return out

    def int_array(self, index: np.ndarray | None = None) -> np.ndarray:
        """Per row (or per row of ``index``) the parsed whole number (0 for an error)."""
        table = np.array([0 if isinstance(v, Fail) else v for v in self.values], dtype=np.int64)
        out: np.ndarray = table[self._codes(index)]
        return out

    def text_array(self, index: np.ndarray | None = None) -> np.ndarray:
        """Per row (or per row of ``index``) the cell text."""
        table = np.empty(len(self.texts), dtype=object)
        table[:] = self.texts
        out: np.ndarray = table[self._codes(index)]
        return out


def parse_texts(texts: list[str] | np.ndarray, spec: Callable[[str], Any],
                note: Callable[[str, Any], Fail | None] | None = None) -> Parsed:
    """:class:`Parsed` of a list of texts: ``spec`` (and ``note``) once per distinct text."""
    codes, uniques = factorize(texts)
    values = [spec(u) for u in uniques]
    notes = None
    if note is not None:
        notes = [None if isinstance(v, Fail) else note(u, v) for u, v in zip(uniques, values,
                                                                                strict=True)]
    return Parsed(codes, uniques, values, notes)


def parse_column(ctx: FileContext, canonical: str, spec: Callable[[str], Any],
                 note: Callable[[str, Any], Fail | None] | None = None) -> Parsed:
    """Apply ``spec`` to column ``canonical`` (an absent column reads as empty cells)."""
    index = ctx.column_index.get(canonical)
    n = ctx.table.n_rows
    if index is None:
        value = spec("")
        notes = None if note is None else [None if isinstance(value, Fail) else note("", value)]
        return Parsed(np.zeros(n, dtype=np.intp), [""], [value], notes)
    codes, texts = ctx.table.column_codes(index)
    return parse_distinct(codes, texts, spec, note)


def parse_distinct(codes: np.ndarray, texts: list[str], spec: Callable[[str], Any],
                   note: Callable[[str, Any], Fail | None] | None = None) -> Parsed:
    """:class:`Parsed` of cells given as ``codes`` into distinct ``texts`` (the reader's
    columns): ``spec`` (and ``note``) once per text, no work per row.
    """
    values = [spec(t) for t in texts]
    notes = None
    if note is not None:
        notes = [None if isinstance(v, Fail) else note(t, v)
                 for t, v in zip(texts, values, strict=True)]
    return Parsed(codes, texts, values, notes)


def free_text(text: str) -> str | None:
    """Spec of a free-text cell: the text, ``None`` when empty."""
    return text or None


def free_text_note(text: str, value: Any) -> Fail | None:
    """Warning for a free text a spreadsheet would run as a formula (it is kept as text)."""
    if not looks_like_formula(text):
        return None
    return Fail("formula_text", f"{text[:40]!r} starts with '{text[0]}', which a spreadsheet "
                "would run as a formula; it is stored as plain text.", text)


class Issues:
    """Row issues of one file, sorted by (line, group, stage, order) when flushed into the
    context's issue list (``group`` 0 for a row's own cells, 1 + k for the k-th analyte column
    of a wide row; ``stage`` the position of the check in a row).
    """

    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        self.items: list[tuple[tuple[int, int, int, int, int], Issue]] = []

    def add(self, line: int, column: str | None, fail: Fail, stage: int, *, group: int = 0,
            order: int = 0) -> None:
        """One issue at ``line`` in ``column``."""
        key = (line, group, stage, order, len(self.items))
        self.items.append((key, make_issue(line, column, fail.code, fail.message, fail.value,
                                           message_sv=fail.message_sv)))

    def add_failed(self, parsed: Parsed, rows: np.ndarray, column: str, stage: int, *,
                   order: int = 0, notes: bool = False) -> None:
        """An issue for every row in ``rows`` (mask) whose cell failed (or has a note)."""
        if notes:
            if parsed.notes is None:
                return
            flagged = np.array([n is not None for n in parsed.notes], dtype=bool)
            results: list[Any] = parsed.notes
        else:
            flagged = parsed._failed
            results = parsed.values
        if not flagged.any():
            return
        lines = self.ctx.table.lines
        codes = parsed.codes
        for i in np.flatnonzero(rows & flagged[codes]).tolist():
            self.add(int(lines[i]), column, results[codes[i]], stage, order=order)

    def flush(self) -> None:
        """Append the collected issues, sorted, to the context and start again."""
        self.items.sort(key=lambda item: item[0])
        for _, issue in self.items:  # every issue is counted; only the first ctx.max_issues are listed
            self.ctx.issue_counts[issue.code] += 1
        room = max(self.ctx.max_issues - len(self.ctx.issues), 0)
        self.ctx.issues.extend(issue for _, issue in self.items[:room])
        self.items = []


# ------------------------------------------------------------------------------------------
# Shared cell specs (every kind)


def required(canonical: str, spec: Callable[[str], Any] | None = None) -> Callable[[str], Any]:
    """Spec of a cell that must not be empty (``spec`` reads the non-empty text)."""
    def parse(text: str) -> Any:
        if not text:
            return Fail("missing_value", f"the {canonical} is empty; fill it in.")
        return text if spec is None else spec(text)

    return parse


def site_spec(known: dict[str, str] | None) -> Callable[[str], Any]:
    """A site id: required; the registered spelling when ``known`` (casefold → id) is given."""
    def parse(text: str) -> Any:
        if not text:
            return Fail("missing_value", "the site is empty; fill it in.")
        return known_site(text, known)

    return parse


def known_site(text: str, known: dict[str, str] | None) -> Any:
    """The registered id of a non-empty site text, or ``unknown_site`` with close matches."""
    if known is None:
        return text
    canonical = known.get(text.casefold())
    if canonical is not None:
        return canonical
    close = difflib.get_close_matches(text, sorted(known.values()), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return Fail("unknown_site", f"site {text!r} is not registered.{hint} Upload it in a sites "
                "file first, or fix the id.", text)


def date_spec(canonical: str, *, required: bool, today: dt.date | None) -> Callable[[str], Any]:
    """A date ``YYYY-MM-DD``; after ``today`` is ``future_date`` (``today`` None: any day)."""
    def parse(text: str) -> Any:
        if not text:
            if required:
                return Fail("missing_value", f"the {canonical} is empty; write it as YYYY-MM-DD.")
            return None
        try:
            value = parse_date(text)
        except CellError as exc:
            return Fail(exc.code, f"{text!r} is not a valid date; {exc.hint}.", text)
        if today is not None and value > today:
            return Fail("future_date", f"{text!r} is after today ({today.isoformat()}); check the "
                        "year and month.", text)
        return value

    return parse


def integer_spec(decimal_comma: bool, code: str, default: int | None, low: int,
                 high: int | None, hint: str) -> Callable[[str], Any]:
    """A whole number in [low, high] (``high`` None: no upper bound); ``default`` when empty."""
    def parse(text: str) -> Any:
        if not text:
            return default
        try:
            value = parse_number(text, decimal_comma)
        except CellError:
            return Fail(code, f"{text!r} is not a whole number; {hint}.", text)
        if not value.is_integer() or value < low or (high is not None and value > high):
            return Fail(code, f"{text!r} is not allowed; {hint}.", text)
        return int(value)

    return parse


def number_spec(decimal_comma: bool, what: str, *, minimum: float | None = 0.0,
                required: bool = False) -> Callable[[str], Any]:
    """A decimal number ≥ ``minimum`` (None: any); NaN when empty and not ``required``."""
    def parse(text: str) -> Any:
        if not text:
            if required:
                return Fail("missing_value", f"the {what} is empty; fill in a number.")
            return math.nan
        try:
            value = parse_number(text, decimal_comma)
        except CellError as exc:
            return Fail(exc.code, f"{text!r} is not a number; {exc.hint}.", text)
        if minimum is not None and value < minimum:
            return Fail("negative_value", f"{text!r} is negative; {what} cannot be below "
                        f"{minimum:g}.", text)
        return value

    return parse


def known_analyte(text: str) -> Any:
    """The catalogue id of a non-empty analyte text, or ``unknown_analyte`` with close names."""
    analyte = try_resolve_analyte(text)
    if analyte is not None:
        return analyte
    close = closest_analytes(text)
    hint = f" Closest known names: {', '.join(close)}." if close else " See the list of analytes."
    return Fail("unknown_analyte", f"analyte {text!r} is not in the substance catalogue.{hint}",
                text)


def reject_duplicates(ctx: FileContext, keys: list[Any], lines: np.ndarray,
                      describe: Callable[[Any], str], hint: str = "") -> np.ndarray:
    """Report records sharing a key (each later one names the first line); the mask of every
    record in a duplicate group (all of them are rejected). ``keys`` are hashable, in file order.
    """
    codes, _ = factorize_keys(keys)
    counts = np.bincount(codes, minlength=1) if len(codes) else np.zeros(0, dtype=np.int64)
    in_group = counts[codes] > 1 if len(codes) else np.zeros(0, dtype=bool)
    first: dict[int, int] = {}
    for i in np.flatnonzero(in_group).tolist():
        code, line = int(codes[i]), int(lines[i])
        if code not in first:
            first[code] = line
            continue
        ctx.add(line, None, "duplicate_row", f"same {describe(keys[i])} as line {first[code]}; "
                f"keep one of lines {first[code]} and {line} (both were rejected){hint}.")
    return in_group


def factorize_keys(keys: list[Any]) -> tuple[np.ndarray, list[Any]]:
    """Codes and distinct values of hashable keys (tuples, dates …), first-seen order."""
    uniques = list(dict.fromkeys(keys))
    position = {u: i for i, u in enumerate(uniques)}
    return np.fromiter(map(position.__getitem__, keys), dtype=np.intp, count=len(keys)), uniques
