"""Column-wise validation of long results files: the common case without per-cell loops.

:func:`long_fast_rows` reads every column of a long results table at once. Each distinct cell
text is parsed once with the same pure cell parsers the row validator uses
(:mod:`wastewater.ingest.cells`, :func:`wastewater.units.parse_unit`,
:func:`wastewater.catalogue.try_resolve_analyte`), and the per-row rules of
:mod:`wastewater.ingest.results` (censoring, limits, unit factors) are applied with numpy.
A row is *fast* only when the row validator would accept it without any issue (error or
warning); every other row is left to the row validator, which reports it exactly as before.
tests/test_ingest_fastpath.py checks that both paths give the same frame and report.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from wastewater.catalogue import try_resolve_analyte
from wastewater.exceptions import UnitError
from wastewater.ingest.cells import (
    CellError,
    looks_like_formula,
    parse_censored,
    parse_date,
    parse_number,
    parse_qualifier,
)
from wastewater.ingest.context import RowContext
from wastewater.units import parse_unit

__all__ = ["long_fast_rows"]

_BAD = object()  # marks a distinct cell text that needs the row validator

# Plain ASCII numbers float() reads exactly as parse_number does (no sign handling beyond
# +/-, no grouping spaces, at most one decimal sign).
_PLAIN_POINT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_PLAIN_COMMA = re.compile(r"[+-]?(?:[0-9]+[.,]?[0-9]*|[.,][0-9]+)(?:[eE][+-]?[0-9]+)?")

# datetime64[ns] covers 1677-09-21 .. 2262-04-11; other years go to the row validator.
_MIN_DATE_YEAR, _MAX_DATE_YEAR = 1678, 2261
# Whole numbers kept on the fast path stay far inside int64.
_MAX_FAST_INTEGER = 2**31


def _column(rows: list[list[str]], index: int, width: int) -> list[str]:
    """Cells ``index`` of every row (``width``: length of the shortest row; shorter rows read
    as empty cells).
    """
    if index < width:
        return list(map(operator.itemgetter(index), rows))
    return [r[index] if index < len(r) else "" for r in rows]


def _factorize(values: list[Any]) -> tuple[np.ndarray, list[Any]]:
    """Codes and distinct values (first-seen order) of hashable ``values``.

    Same result as :func:`pandas.factorize` for values that are never NA (text, dates), from
    two C-level passes over a list (``dict.fromkeys`` and a ``map`` over the index).
    """
    uniques = list(dict.fromkeys(values))
    position = {u: i for i, u in enumerate(uniques)}
    codes = np.fromiter(map(position.__getitem__, values), dtype=np.intp, count=len(values))
    return codes, uniques


def _map_unique(
    cells: list[str] | None, n_rows: int, parse: Callable[[str], Any], *, dtype: Any = object
) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``parse`` to each distinct text; return (values per row, ok per row).

    ``parse`` returns a value or :data:`_BAD`. An absent column is read as all-empty cells.
    """
    if cells is None:
        value = parse("")
        ok = value is not _BAD
        values = np.empty(n_rows, dtype=dtype)
        values[:] = value if ok else _fill(dtype)
        return values, np.full(n_rows, ok)
    codes, uniques = _factorize(cells)
    parsed = [parse(u) for u in uniques]
    good = np.array([p is not _BAD for p in parsed], dtype=bool)
    table = np.empty(len(parsed), dtype=dtype)
    table[:] = [p if p is not _BAD else _fill(dtype) for p in parsed]
    return table[codes], good[codes]


def _fill(dtype: Any) -> Any:
    """Placeholder stored for rejected texts (never part of a fast row)."""
    if dtype is float:
        return np.nan
    return 0 if dtype in (np.int64, np.int8) else None


def _dates_ns(dates: list[Any]) -> np.ndarray:
    """Distinct ``datetime.date`` objects (or None) → datetime64[ns] (NaT for None)."""
    converted = pd.to_datetime(pd.Series(dates, dtype=object)).astype("datetime64[ns]")
    days: np.ndarray = converted.to_numpy()
    return days


def _number_or_bad(decimal_comma: bool, *, empty: Any = math.nan) -> Callable[[str], Any]:
    """Parser of an optional non-negative number (flow, LOQ, LOD): no issue, or _BAD."""

    def parse(text: str) -> Any:
        if not text:
            return empty
        try:
            value = parse_number(text, decimal_comma)
        except CellError:
            return _BAD
        return _BAD if value < 0 else value

    return parse


def _integer_or_bad(
    decimal_comma: bool, default: int, allowed: Callable[[int], bool]
) -> Callable[[str], Any]:
    """Parser of an optional whole number that the row validator accepts without an issue."""

    def parse(text: str) -> Any:
        if not text:
            return default
        try:
            value = parse_number(text, decimal_comma)
        except CellError:
            return _BAD
        if not value.is_integer() or not 1 <= value <= _MAX_FAST_INTEGER:
            return _BAD
        number = int(value)
        return number if allowed(number) else _BAD

    return parse


#: Censor states as small integer codes (index into this tuple) for the vectorised rules.
_CENSORS = ("empty", "none", "<LOQ", "<LOD", "ND", "D")
_EMPTY, _NONE, _LOQ, _DETECTED = 0, 1, 2, 5


def _censored_values(
    cells: list[str], decimal_comma: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Censor code and number of each value cell: (censor, number, ok).

    ``censor`` indexes :data:`_CENSORS` (``parse_censored``'s first result), ``number`` is NaN
    when it gives none; ``ok`` False where it raises.
    """
    codes, uniques = _factorize(cells)
    plain = _PLAIN_COMMA if decimal_comma else _PLAIN_POINT
    n = len(uniques)
    censor = np.full(n, _NONE, dtype=np.int8)
    number = np.full(n, np.nan)
    ok = np.ones(n, dtype=bool)
    for i, text in enumerate(uniques):
        if plain.fullmatch(text):
            value = float(text.replace(",", "."))
            if math.isfinite(value):
                number[i] = value
                continue
        try:
            kind, censored_value = parse_censored(text, decimal_comma)
        except CellError:
            ok[i] = False
            continue
        censor[i] = _CENSORS.index(kind)
        if censored_value is not None:
            number[i] = censored_value
    return censor[codes], number[codes], ok[codes]


def long_fast_rows(ctx: RowContext) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Validate a long results table column-wise.

    Parameters
    ----------
    ctx : RowContext
        Context of a results file in long layout whose header has every required column.

    Returns
    -------
    fast : numpy.ndarray of bool
        Per row: True when the row validator would accept the row with no issue at all.
    columns : dict of numpy.ndarray
        The record fields (``FRAME_COLUMNS["results"]`` names) of the fast rows, in row order.

    Notes
    -----
    Same rules as :func:`wastewater.ingest.results._sample_fields` and
    ``_result_record``: value = number × unit factor [ng L⁻¹ per unit]
    (:class:`wastewater.units.ConcentrationUnit`); a ``<number`` gives the LOQ (or the LOD when
    the qualifier says ``<LOD``/``ND``).
    """
    # Imported here: results imports this module.
    from wastewater.ingest.results import (
        _ROLE_ALIASES,
        DEFAULT_COMPOSITE_HOURS,
        MAX_REPLICATE,
        SAMPLE_ROLES,
        USUAL_COMPOSITE_HOURS,
    )

    table = ctx.table
    n = table.n_rows
    dc = table.decimal_comma
    known = ctx.known_sites
    today = ctx.today

    def site(text: str) -> Any:
        if not text:
            return _BAD
        if known is None:
            return text
        return known.get(text.casefold(), _BAD)

    def sample_date(text: str) -> Any:
        if not text:
            return _BAD
        try:
            value = parse_date(text)
        except CellError:
            return _BAD
        if value > today or not _MIN_DATE_YEAR <= value.year <= _MAX_DATE_YEAR:
            return _BAD
        return value

    def role(text: str) -> Any:
        folded = re.sub(r"[\s\-]+", "_", text.casefold()) if text else "sample"
        folded = _ROLE_ALIASES.get(folded, folded)
        return folded if folded in SAMPLE_ROLES else _BAD

    def free_text(text: str) -> Any:
        if not text:
            return None
        return _BAD if looks_like_formula(text) else text

    def analyte(text: str) -> Any:
        if not text:
            return _BAD
        return try_resolve_analyte(text) or _BAD

    def unit_factor(text: str) -> Any:
        if not text:
            return _BAD
        try:
            return parse_unit(text).factor_to_canonical
        except UnitError:
            return _BAD

    def qualifier(text: str) -> Any:
        if not text:
            return _NONE
        try:
            return _CENSORS.index(parse_qualifier(text))
        except CellError:
            return _BAD

    ok = np.ones(n, dtype=bool)
    columns = table.columns
    width = min(map(len, table.rows), default=0) if columns is None else 0
    cache: dict[str, list[str] | None] = {}

    def column(canonical: str) -> list[str] | None:
        if canonical not in cache:
            index = ctx.column_index.get(canonical)
            if index is None:
                cache[canonical] = None
            elif columns is not None:
                cache[canonical] = columns[index]
            else:
                cache[canonical] = _column(table.rows, index, width)
        return cache[canonical]

    def cells_array(canonical: str) -> np.ndarray | None:
        cells = column(canonical)
        return None if cells is None else np.fromiter(cells, dtype=object, count=n)

    def required_column(canonical: str) -> list[str]:
        cells = column(canonical)
        if cells is None:  # callers check the header first (REQUIRED["results"])
            raise ValueError(f"long_fast_rows: the header has no {canonical!r} column")
        return cells

    def read(canonical: str, parse: Callable[[str], Any], dtype: Any = object) -> np.ndarray:
        values, good = _map_unique(column(canonical), n, parse, dtype=dtype)
        np.logical_and(ok, good, out=ok)
        return values

    site_values = read("site", site)
    date_codes, date_texts = _factorize(column("sample_date") or [""] * n)
    unique_dates = [sample_date(t) for t in date_texts]
    ok &= np.array([d is not _BAD for d in unique_dates], dtype=bool)[date_codes]
    unique_dates = [None if d is _BAD else d for d in unique_dates]
    replicate = read(
        "replicate", _integer_or_bad(dc, 1, lambda r: r <= MAX_REPLICATE), dtype=np.int64
    )
    hours = read(
        "composite_hours",
        _integer_or_bad(dc, DEFAULT_COMPOSITE_HOURS, lambda h: h in USUAL_COMPOSITE_HOURS),
        dtype=np.int64,
    )
    roles = read("sample_role", role)
    flow = read("flow_m3_per_day", _number_or_bad(dc), dtype=float)
    lab = read("lab", free_text)
    method = read("method", free_text)
    comment = read("comment", free_text)
    analytes = read("analyte", analyte)
    unit_cells = np.fromiter(required_column("unit"), dtype=object, count=n)
    factor = read("unit", unit_factor, dtype=float)
    qualifier_cells = cells_array("qualifier")
    qualifiers = read("qualifier", qualifier, dtype=np.int8)
    loq = read("loq", _number_or_bad(dc), dtype=float) * factor
    lod = read("lod", _number_or_bad(dc), dtype=float) * factor

    value_texts = required_column("value")
    censor, number, good = _censored_values(value_texts, dc)
    value_cells = np.fromiter(value_texts, dtype=object, count=n)
    ok &= good
    has_number = ~np.isnan(number)
    qualified = qualifiers != _NONE
    empty = censor == _EMPTY
    measured = censor == _NONE
    ok &= ~(empty & ~qualified)  # missing_value
    ok &= ~(measured & qualified)  # censor_conflict, or detected below LOQ (row validator)
    ok &= qualifiers != _DETECTED  # "D" rows: value checked against LOD/LOQ by the row validator
    censor = np.where(empty | (~measured & qualified), qualifiers, censor)
    with np.errstate(invalid="ignore"):
        ok &= ~(has_number & (number < 0))  # negative_value
    scaled = number * factor
    is_loq = censor == _LOQ
    is_none = censor == _NONE
    value = np.where(is_none, scaled, np.nan)
    loq = np.where(is_loq & has_number, scaled, loq)
    lod = np.where(~is_loq & ~is_none & has_number, scaled, lod)
    ok &= ~(is_loq & np.isnan(loq))  # loq_missing warning

    keep = np.flatnonzero(ok)
    if qualifier_cells is None:
        original = value_cells[keep]
    else:
        original = np.where(value_cells[keep] != "", value_cells[keep], qualifier_cells[keep])
    sample_ids = cells_array("sample_id")
    sample_ids = np.full(len(keep), "", dtype=object) if sample_ids is None else sample_ids[keep]
    missing_id = np.flatnonzero(sample_ids == "")
    if len(missing_id):
        rows = keep[missing_id]
        sample_ids[missing_id] = [
            f"{s}-{unique_dates[c]:%Y%m%d}"
            for s, c in zip(site_values[rows], date_codes[rows].tolist(), strict=True)
        ]
    fields = {
        "sample_id": sample_ids,
        "site": site_values[keep],
        "sample_date": _dates_ns(unique_dates)[date_codes[keep]],
        "analyte": analytes[keep],
        "replicate": replicate[keep],
        "value_ng_per_l": value[keep],
        "censor": np.array(_CENSORS, dtype=object)[censor[keep]],
        "loq_ng_per_l": loq[keep],
        "lod_ng_per_l": lod[keep],
        "flow_m3_per_day": flow[keep],
        "composite_hours": hours[keep],
        "sample_role": roles[keep],
        "lab": lab[keep],
        "method": method[keep],
        "comment": comment[keep],
        "original_value": original,
        "original_unit": unit_cells[keep],
        "source_line": np.asarray(table.lines, dtype=np.int64)[keep],
    }
    return ok, fields
