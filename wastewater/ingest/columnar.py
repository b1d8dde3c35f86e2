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

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from wastewater.ingest.cells import looks_like_formula
from wastewater.ingest.report import Issue, make_issue

if TYPE_CHECKING:
    from wastewater.ingest.context import RowContext

__all__ = ["Fail", "Issues", "Parsed", "factorize", "free_text_note", "parse_column"]


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
        """Per row: the cell parsed without an error."""
        out: np.ndarray = ~self._failed[self.codes]
        return out

    def fail_mask(self) -> np.ndarray:
        """Per row: the cell has an error."""
        out: np.ndarray = self._failed[self.codes]
        return out

    def value_array(self) -> np.ndarray:
        """Per row the parsed value (``None`` for an error) as an object array."""
        table = np.empty(len(self.values), dtype=object)
        table[:] = [None if isinstance(v, Fail) else v for v in self.values]
        out: np.ndarray = table[self.codes]
        return out

    def float_array(self) -> np.ndarray:
        """Per row the parsed number (NaN for an error)."""
        table = np.array([np.nan if isinstance(v, Fail) else v for v in self.values], dtype=float)
        out: np.ndarray = table[self.codes]
        return out

    def int_array(self) -> np.ndarray:
        """Per row the parsed whole number (0 for an error)."""
        table = np.array([0 if isinstance(v, Fail) else v for v in self.values], dtype=np.int64)
        out: np.ndarray = table[self.codes]
        return out

    def text_array(self) -> np.ndarray:
        """Per row the cell text."""
        table = np.empty(len(self.texts), dtype=object)
        table[:] = self.texts
        out: np.ndarray = table[self.codes]
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


def parse_column(ctx: RowContext, canonical: str, spec: Callable[[str], Any],
                 note: Callable[[str, Any], Fail | None] | None = None) -> Parsed:
    """Apply ``spec`` to column ``canonical`` (an absent column reads as empty cells)."""
    index = ctx.column_index.get(canonical)
    n = ctx.table.n_rows
    if index is None:
        value = spec("")
        notes = None if note is None else [None if isinstance(value, Fail) else note("", value)]
        return Parsed(np.zeros(n, dtype=np.intp), [""], [value], notes)
    return parse_texts(ctx.table.column(index), spec, note)


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

    def __init__(self, ctx: RowContext):
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
        for i in np.flatnonzero(rows & flagged[parsed.codes]).tolist():
            self.add(lines[i], column, results[parsed.codes[i]], stage, order=order)

    def flush(self) -> None:
        """Append the collected issues, sorted, to the context and start again."""
        self.items.sort(key=lambda item: item[0])
        self.ctx.issues.extend(issue for _, issue in self.items)
        self.items = []
