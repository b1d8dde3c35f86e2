"""Validate results files (long: one row per analyte; wide: one column per analyte), column-wise.

One path for both layouts. A file is turned into *records* (long: one per row; wide: one per
non-empty analyte cell) held as whole columns; every distinct cell text is parsed once by the
cell specs of :mod:`wastewater.ingest.columnar` (parser, issue code, message), and the rules that
combine cells (censoring with its qualifier, limits, units, the detected-below-LOQ interval,
duplicate records) are vectorised masks over the records. Issues are then made from the masks
with the physical line of their row, in the order a lab reads them: by line, then left to right
through the checks of a row. Concentrations are converted once to ng L⁻¹ (unit factors of
:class:`wastewater.units.ConcentrationUnit`).

Wide and long files with the same content give the same frame
(tests/test_ingest_properties.py); the issues equal those of the simple per-row reference
checker in tests/reference_results.py, line for line (tests/test_ingest_single_path.py).
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from wastewater.catalogue import closest_analytes, try_resolve_analyte
from wastewater.exceptions import UnitError
from wastewater.ingest.cells import CellError, parse_censored, parse_number, parse_qualifier
from wastewater.ingest.columnar import (
    Fail,
    Issues,
    Parsed,
    free_text,
    free_text_note,
    parse_column,
    parse_distinct,
    site_spec,
)
from wastewater.ingest.columns import REQUIRED, AnalyteHeader
from wastewater.ingest.context import (
    FRAME_COLUMNS,
    FREE_TEXT_COLUMNS,
    FileContext,
    check_required,
    empty_frame,
    map_header,
)
from wastewater.ingest.plausibility import plausibility_warnings
from wastewater.units import ConcentrationUnit, accepted_concentration_units, parse_unit

__all__ = ["DEFAULT_COMPOSITE_HOURS", "SAMPLE_ROLES", "validate_results"]

SAMPLE_ROLES = ("sample", "blank", "spike", "reference")
DEFAULT_COMPOSITE_HOURS = 24
USUAL_COMPOSITE_HOURS = (24, 72)
MAX_COMPOSITE_HOURS = 168  # one week
MAX_REPLICATE = 1000  # replicate numbers above this are typing errors

_ROLE_ALIASES = {
    "prov": "sample",
    "blindprov": "blank",
    "blankprov": "blank",
    "spiked": "spike",
    "tillsats": "spike",
    "ref": "reference",
    "referens": "reference",
    "qc": "reference",
}

#: Censor states as small integer codes (index into this tuple) for the vectorised rules.
CENSORS = ("empty", "none", "<LOQ", "<LOD", "ND", "D")
_EMPTY, _NONE, _LOQ, _LOD, _ND, _D = range(6)

# Order of the checks inside one row (issues of a line are listed in this order); in a wide
# file the checks of each analyte cell follow those of the row, column by column.
(_S_SITE, _S_DATE, _S_REPLICATE, _S_HOURS, _S_ROLE, _S_FLOW, _S_FREE, _S_ANALYTE, _S_UNIT,
 _S_QUALIFIER, _S_VALUE, _S_LOQ, _S_LOD, _S_RULES, _S_LOQ_MISSING) = range(15)


# ------------------------------------------------------------------------------------------
# Cell specs: each distinct text → value or Fail(code, message, value)


def _date_spec(canonical: str, today: Any) -> Any:
    from wastewater.ingest.cells import parse_date

    def parse(text: str) -> Any:
        if not text:
            return Fail("missing_value", f"the {canonical} is empty; write it as YYYY-MM-DD.")
        try:
            value = parse_date(text)
        except CellError as exc:
            return Fail(exc.code, f"{text!r} is not a valid date; {exc.hint}.", text)
        if value > today:
            return Fail("future_date", f"{text!r} is after today ({today.isoformat()}); check the "
                        "year and month.", text)
        return value

    return parse


def _integer_spec(decimal_comma: bool, code: str, default: int, low: int, high: int,
                  hint: str) -> Any:
    def parse(text: str) -> Any:
        if not text:
            return default
        try:
            value = parse_number(text, decimal_comma)
        except CellError:
            return Fail(code, f"{text!r} is not a whole number; {hint}.", text)
        if not value.is_integer() or value < low or value > high:
            return Fail(code, f"{text!r} is not allowed; {hint}.", text)
        return int(value)

    return parse


def _unusual_hours(text: str, hours: int) -> Fail | None:
    if hours in USUAL_COMPOSITE_HOURS:
        return None
    return Fail("unusual_composite_hours", f"a {hours}-hour composite is unusual (24 or 72 "
                "expected); check the value. The row was kept.", text)


def _role(text: str) -> Any:
    role = re.sub(r"[\s\-]+", "_", text.casefold()) if text else "sample"
    role = _ROLE_ALIASES.get(role, role)
    if role not in SAMPLE_ROLES:
        return Fail("bad_sample_role", f"{text!r} is not a sample role; write one of "
                    f"{', '.join(SAMPLE_ROLES)}.", text)
    return role


def _number_spec(decimal_comma: bool, what: str) -> Any:
    """Optional non-negative number (flow, LOQ, LOD): NaN when empty."""
    def parse(text: str) -> Any:
        if not text:
            return math.nan
        try:
            value = parse_number(text, decimal_comma)
        except CellError as exc:
            return Fail(exc.code, f"{text!r} is not a number; {exc.hint}.", text)
        if value < 0:
            return Fail("negative_value", f"{text!r} is negative; {what} cannot be below 0.", text)
        return value

    return parse


def _analyte(text: str) -> Any:
    if not text:
        return Fail("missing_value", "the analyte is empty; fill it in.")
    analyte = try_resolve_analyte(text)
    if analyte is not None:
        return analyte
    close = closest_analytes(text)
    hint = f" Closest known names: {', '.join(close)}." if close else " See the list of analytes."
    return Fail("unknown_analyte", f"analyte {text!r} is not in the substance catalogue.{hint}",
                text)


def _unit(text: str) -> Any:
    if not text:
        return Fail("missing_unit", f"the unit is empty; write one of "
                    f"{accepted_concentration_units()}.")
    return _known_unit(text)


def _known_unit(text: str) -> Any:
    try:
        return parse_unit(text)
    except UnitError:
        return Fail("unknown_unit", f"unit {text!r} is not accepted; use one of "
                    f"{accepted_concentration_units()}.", text)


def _qualifier(text: str) -> Any:
    if not text:
        return _NONE
    try:
        return CENSORS.index(parse_qualifier(text))
    except CellError as exc:
        return Fail(exc.code, f"{text!r}: {exc.hint}.", text)


def _concentration_spec(decimal_comma: bool) -> Any:
    def parse(text: str) -> Any:
        try:
            censor, number = parse_censored(text, decimal_comma)
        except CellError as exc:
            return Fail(exc.code, f"{text!r} is not a concentration; {exc.hint}.", text)
        return CENSORS.index(censor), (math.nan if number is None else number)

    return parse


# ------------------------------------------------------------------------------------------
# Records: the cells each concentration is read from


class _Coded:
    """Cell texts of records as ``codes`` into ``texts`` (the reader's columns, no object per
    cell); the texts of different columns are joined by offsetting the codes.
    """

    def __init__(self, codes: np.ndarray, texts: list[Any]):
        self.codes = codes
        self.texts = texts

    @classmethod
    def empty(cls, n: int, text: Any = "") -> _Coded:
        """``n`` cells of one ``text`` (empty by default)."""
        return cls(np.zeros(n, dtype=np.int32), [text])

    def __getitem__(self, i: int) -> Any:
        return self.texts[self.codes[i]]

    def take(self, index: np.ndarray) -> _Coded:
        return _Coded(self.codes[index], self.texts)

    @classmethod
    def concat(cls, parts: list[_Coded]) -> _Coded:
        texts: list[Any] = []
        codes = []
        for part in parts:
            codes.append(part.codes.astype(np.int64) + len(texts))
            texts.extend(part.texts)
        return cls(np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64), texts)

    def parse(self, spec: Any) -> Parsed:
        """The spec applied once per distinct text."""
        return parse_distinct(self.codes, self.texts, spec)

    def text_array(self) -> np.ndarray:
        table = np.empty(len(self.texts), dtype=object)
        table[:] = self.texts
        out: np.ndarray = table[self.codes]
        return out


class _Records:
    """Concentration records as columns: ``row`` (table row), ``group`` (0 for long files, 1 +
    analyte column position for wide ones) and the texts and column names of each record.
    """

    #: Header of the qualifier column (long files; wide files have none).
    qualifier_column: str = ""
    #: Record i is table row i (long files): ``row`` need not be gathered through.
    one_per_row: bool = False

    def __init__(self, n: int):
        self.row = np.zeros(n, dtype=np.int64)
        self.group = np.zeros(n, dtype=np.int64)
        self.analyte = _Coded.empty(n)
        self.value_text = _Coded.empty(n)
        self.value_column = _Coded.empty(n)
        self.qualifier_text = _Coded.empty(n)
        self.loq_text = _Coded.empty(n)
        self.lod_text = _Coded.empty(n)
        self.loq_column = _Coded.empty(n)
        self.lod_column = _Coded.empty(n)
        self.unit_text = _Coded.empty(n)
        self.factor = np.full(n, np.nan)
        self.ok = np.ones(n, dtype=bool)  # analyte and unit known


def validate_results(ctx: FileContext, layout: str | None) -> tuple[pd.DataFrame, int]:
    """Validate a results file.

    Parameters
    ----------
    ctx : FileContext
        Context of the file (table, issues, known sites, today).
    layout : {"long", "wide"} or None
        ``None`` chooses long when ``analyte`` and ``value`` columns exist, else wide.

    Returns
    -------
    frame : pandas.DataFrame
        Valid records, columns of ``FRAME_COLUMNS["results"]``, in file order.
    rows_total : int
        Records in the file: rows (long) or non-empty analyte cells (wide).

    Valid records then get the plausibility warnings of
    :mod:`wastewater.ingest.plausibility` (kept rows, one rule pass over the frame).
    """
    wide_columns = map_header(ctx, analyte_columns=layout != "long")
    if layout is None:
        layout = "long" if {"analyte", "value"} <= set(ctx.column_index) else "wide"
    ctx.layout = layout
    issues = Issues(ctx)
    table = ctx.table
    n_rows = table.n_rows
    if layout == "long":
        header_ok = check_required(ctx, REQUIRED["results"])
        n_records = n_rows
        checked = np.full(n_rows, header_ok)
        records = _long_records(ctx, issues, checked) if header_ok else None
    else:
        _drop_long_only_columns(ctx)
        header_ok = check_required(ctx, ("site", "sample_date"))
        records, checked, n_records = _wide_records(ctx, issues, wide_columns, header_ok)
    if records is None or not len(records.row):
        issues.flush()
        return empty_frame("results"), n_records
    fields = _sample_fields(ctx, issues, checked)
    frame, keys = _frame(ctx, issues, records, fields)
    issues.flush()
    kept = _reject_duplicates(ctx, frame, keys.duplicate)
    if kept is not None:
        frame = frame.loc[kept].reset_index(drop=True)
        keys = keys.take(np.flatnonzero(kept))
    value_headers = {h.analyte: table.header[i] for i, h in wide_columns.items()
                     if h.role == "value"}
    long_header = ctx.header_name("value")
    plausibility_warnings(
        frame,
        ctx.add,
        value_column=lambda analyte: (long_header if layout == "long"
                                      else value_headers.get(analyte, analyte)),
        date_column=ctx.header_name("sample_date"),
        analytes=(keys.analyte, keys.analyte_names),
        sites=(keys.site, keys.site_names),
        site_history=ctx.site_history,
    )
    return frame, n_records


def _sample_fields(ctx: FileContext, issues: Issues, checked: np.ndarray) -> dict[str, Any]:
    """The sample-level cells of every row (both layouts); issues for the ``checked`` rows."""
    table = ctx.table
    dc = table.decimal_comma
    n = table.n_rows

    def column(canonical: str, spec: Any, stage: int) -> Parsed:
        parsed = parse_column(ctx, canonical, spec)
        issues.add_failed(parsed, checked, ctx.header_name(canonical), stage)
        return parsed

    site = column("site", site_spec(ctx.known_sites), _S_SITE)
    date = column("sample_date", _date_spec("sample_date", ctx.today), _S_DATE)
    replicate = column("replicate", _integer_spec(
        dc, "bad_replicate", 1, 1, MAX_REPLICATE,
        f"write the replicate number as a whole number from 1 to {MAX_REPLICATE}"), _S_REPLICATE)
    hours = parse_column(ctx, "composite_hours", _integer_spec(
        dc, "bad_composite_hours", DEFAULT_COMPOSITE_HOURS, 1, MAX_COMPOSITE_HOURS,
        f"write the sampling duration in whole hours 1-{MAX_COMPOSITE_HOURS} "
        "(24 for a 24-h composite)"), note=_unusual_hours)
    issues.add_failed(hours, checked, ctx.header_name("composite_hours"), _S_HOURS)
    issues.add_failed(hours, checked, ctx.header_name("composite_hours"), _S_HOURS, notes=True)
    role = column("sample_role", _role, _S_ROLE)
    flow = column("flow_m3_per_day", _number_spec(dc, "flow"), _S_FLOW)
    free = {}
    for i, name in enumerate(FREE_TEXT_COLUMNS["results"]):
        parsed = parse_column(ctx, name, free_text, note=free_text_note)
        issues.add_failed(parsed, checked, ctx.header_name(name), _S_FREE, order=i, notes=True)
        free[name] = parsed
    ok = site.ok & date.ok & replicate.ok & hours.ok & role.ok & flow.ok
    sample_id = parse_column(ctx, "sample_id", lambda t: t)
    return {"ok": ok, "site": site, "date": date, "replicate": replicate, "hours": hours,
            "role": role, "flow": flow, "free": free, "sample_id": sample_id, "n": n}


def _texts_or_empty(ctx: FileContext, canonical: str, n: int) -> _Coded:
    """The cells of column ``canonical`` (empty texts when absent)."""
    index = ctx.column_index.get(canonical)
    return _Coded.empty(n) if index is None else _Coded(*ctx.table.column_codes(index))


def _long_records(ctx: FileContext, issues: Issues, checked: np.ndarray) -> _Records:
    """Records of a long file: one row = one analyte value."""
    n = ctx.table.n_rows
    records = _Records(n)
    records.row = np.arange(n)
    records.one_per_row = True
    analyte = parse_column(ctx, "analyte", _analyte)
    issues.add_failed(analyte, checked, ctx.header_name("analyte"), _S_ANALYTE)
    unit = parse_column(ctx, "unit", _unit)
    issues.add_failed(unit, checked, ctx.header_name("unit"), _S_UNIT)
    records.analyte = _Coded(analyte.codes, [None if isinstance(v, Fail) else v
                                             for v in analyte.values])
    records.ok = analyte.ok & unit.ok
    factors = np.array([u.factor_to_canonical if isinstance(u, ConcentrationUnit) else np.nan
                        for u in unit.values], dtype=float)
    records.factor = factors[unit.codes]
    records.unit_text = _Coded(unit.codes, unit.texts)
    records.value_text = _texts_or_empty(ctx, "value", n)
    records.value_column = _Coded.empty(n, ctx.header_name("value"))
    records.qualifier_text = _texts_or_empty(ctx, "qualifier", n)
    records.loq_text = _texts_or_empty(ctx, "loq", n)
    records.lod_text = _texts_or_empty(ctx, "lod", n)
    records.loq_column = _Coded.empty(n, ctx.header_name("loq"))
    records.lod_column = _Coded.empty(n, ctx.header_name("lod"))
    records.qualifier_column = ctx.header_name("qualifier")
    return records


def _drop_long_only_columns(ctx: FileContext) -> None:
    """In a wide file, warn about and ignore analyte/value/qualifier/loq/lod columns."""
    for canonical in ("analyte", "value", "qualifier", "loq", "lod"):
        if canonical in ctx.column_index:
            ctx.add(
                ctx.table.header_line,
                ctx.header_name(canonical),
                "unknown_column",
                "this column is only used in the long layout (one row per analyte) and was "
                "ignored; in a wide file write '<2.5' or 'ND' in the analyte's own column and "
                "give limits in columns such as 'loq_amphetamine'.",
            )
            del ctx.column_index[canonical]


def _wide_records(
    ctx: FileContext, issues: Issues, wide_columns: dict[int, AnalyteHeader], header_ok: bool
) -> tuple[_Records | None, np.ndarray, int]:
    """Records of a wide file: one row = one sample, one column per analyte.

    Returns the records (``None`` when the header is unusable), the rows whose sample cells
    are checked (a row with at least one analyte value) and the number of records.
    """
    table = ctx.table
    header = table.header
    n = table.n_rows
    value_columns = {i: h for i, h in wide_columns.items() if h.role == "value"}
    limit_columns = {(h.analyte, h.role): i for i, h in wide_columns.items() if h.role != "value"}
    if not value_columns and header_ok:
        ctx.add(
            table.header_line,
            None,
            "missing_column",
            "no analyte columns found. A wide results file needs one column per analyte, "
            "e.g. 'amphetamine (ng/L)', or use the long layout with analyte, value and unit "
            "columns.",
        )
        header_ok = False
    has_unit_column = "unit" in ctx.column_index
    header_units: dict[int, ConcentrationUnit | None] = {}
    for index, parsed in value_columns.items():
        header_units[index] = None
        if parsed.unit_text is not None:
            unit = _known_unit(parsed.unit_text)
            if isinstance(unit, Fail):
                ctx.add(table.header_line, header[index], unit.code, unit.message, unit.value)
            else:
                header_units[index] = unit
        elif not has_unit_column:
            ctx.add(
                table.header_line,
                header[index],
                "missing_unit",
                "no unit for this analyte column; write it in the header, e.g. "
                f"'{header[index]} (ng/L)', or add a 'unit' column.",
            )
    cells = {i: _Coded(*table.column_codes(i)) for i in value_columns}
    present = {i: np.flatnonzero(np.array([bool(t) for t in c.texts], dtype=bool)[c.codes])
               for i, c in cells.items()}
    n_records = int(sum(len(p) for p in present.values()))
    has_value = np.zeros(n, dtype=bool)
    for p in present.values():
        has_value[p] = True
    checked = has_value & header_ok
    if not header_ok or not n_records:
        return None, checked, n_records
    # the row's unit cell is read when an analyte column without a unit in its header has a value
    needs_row_unit = np.zeros(n, dtype=bool)
    if has_unit_column:
        for i, p in present.items():
            if value_columns[i].unit_text is None:
                needs_row_unit[p] = True
    row_unit = parse_column(ctx, "unit", _unit)
    issues.add_failed(row_unit, checked & needs_row_unit, ctx.header_name("unit"), _S_UNIT)
    row_factor = np.array([u.factor_to_canonical if isinstance(u, ConcentrationUnit) else np.nan
                           for u in row_unit.values], dtype=float)[row_unit.codes]
    row_unit_text = _Coded(row_unit.codes, row_unit.texts)
    parts: list[_Records] = []
    for position, (index, parsed) in enumerate(sorted(value_columns.items())):
        rows = present[index]
        part = _Records(len(rows))
        part.row = rows
        part.group = np.full(len(rows), 1 + position)
        part.analyte = _Coded.empty(len(rows), parsed.analyte)
        part.value_text = cells[index].take(rows)
        part.value_column = _Coded.empty(len(rows), header[index])
        if parsed.unit_text is not None:
            unit = header_units[index]
            part.factor = np.full(len(rows), unit.factor_to_canonical if unit else np.nan)
            part.ok = np.full(len(rows), unit is not None)
            part.unit_text = _Coded.empty(len(rows), parsed.unit_text)
        else:
            part.factor = row_factor[rows]
            part.ok = row_unit.ok[rows] if has_unit_column else np.zeros(len(rows), dtype=bool)
            part.unit_text = row_unit_text.take(rows)
        for role in ("loq", "lod"):
            limit = limit_columns.get((parsed.analyte, role))
            if limit is not None:
                setattr(part, f"{role}_text", _Coded(*table.column_codes(limit)).take(rows))
                setattr(part, f"{role}_column", _Coded.empty(len(rows), header[limit]))
        parts.append(part)
    return _concat(parts), checked, n_records


def _concat(parts: list[_Records]) -> _Records:
    """All parts' records in file order (row, then analyte column)."""
    out = _Records(0)
    for name, value in vars(out).items():
        if isinstance(value, _Coded):
            setattr(out, name, _Coded.concat([getattr(p, name) for p in parts]))
        else:
            setattr(out, name, np.concatenate([getattr(p, name) for p in parts]))
    order = np.lexsort((out.group, out.row))
    for name, value in vars(out).items():
        setattr(out, name, value.take(order) if isinstance(value, _Coded) else value[order])
    return out


class _Keys(NamedTuple):
    """Per accepted record, integer codes the later checks group by instead of hashing texts:
    ``duplicate`` (equal exactly for records of equal sample_id, analyte, replicate and
    sample_role), and ``analyte`` / ``site`` codes into ``analyte_names`` / ``site_names`` (the
    frame's values; a name may stand at more than one code).
    """

    duplicate: np.ndarray
    analyte: np.ndarray
    analyte_names: list[Any]
    site: np.ndarray
    site_names: list[Any]

    def take(self, index: np.ndarray) -> _Keys:
        """The codes of the records at ``index``."""
        return self._replace(duplicate=self.duplicate[index], analyte=self.analyte[index],
                             site=self.site[index])


def _frame(ctx: FileContext, issues: Issues, rec: _Records, fields: dict[str, Any]
           ) -> tuple[pd.DataFrame, _Keys]:
    """Apply the concentration rules to every record; the frame of the accepted ones and their
    :class:`_Keys`.

    Every column is gathered from a table of distinct values by the records' codes (one
    gather per column, no hashing of texts per record). The per-record arrays of the rules are
    freed before the row cells are gathered, and the frame takes the gathered arrays as its
    columns without copying them (a 1 M-record file would otherwise hold its columns three
    times: arrays, series and the frame's blocks).
    """
    k, columns, analyte_codes = _apply_rules(ctx, issues, rec, fields)
    kr = k if rec.one_per_row else _at(rec.row, k)  # table rows of the accepted records
    site, dates, replicate, role = fields["site"], fields["date"], fields["replicate"], fields["role"]
    site_codes = _at(site.codes, kr)
    sample_id, number, n_sample_ids = _sample_ids(fields["sample_id"], site, dates, kr)
    free = fields["free"]
    replicate_codes = _at(replicate.codes, kr)
    role_codes = _at(role.codes, kr)
    columns.update({
        "sample_id": sample_id,
        "site": _table(site.values)[site_codes],
        "sample_date": _dates_ns(dates.values)[_at(dates.codes, kr)],
        "replicate": np.array([0 if isinstance(v, Fail) else v for v in replicate.values],
                              dtype=np.int64)[replicate_codes],
        "flow_m3_per_day": fields["flow"].float_array(kr),
        "composite_hours": fields["hours"].int_array(kr),
        "sample_role": _table(role.values)[role_codes],
        "lab": free["lab"].value_array(kr),
        "method": free["method"].value_array(kr),
        "comment": free["comment"].value_array(kr),
    })
    frame = pd.DataFrame({name: pd.Series(columns[name], dtype=dtype, copy=False)
                          for name, dtype in FRAME_COLUMNS["results"].items()}, copy=False)
    # one integer per record: the value ids of the four fields in mixed radix (number so far
    # × distinct values of the field + its id, in place), renumbered only when the next product
    # could overflow; a field of one value leaves the number as it is
    size = max(n_sample_ids, 1)
    for values, codes in ((rec.analyte.texts, analyte_codes), (replicate.values, replicate_codes),
                          (role.values, role_codes)):
        ids, radix = _value_ids(values)
        if radix <= 1:
            continue
        if size * radix >= 2**62:
            number = pd.factorize(number)[0].astype(np.int64)
            size = int(number.max()) + 1
        number *= radix
        number += ids[codes]
        size *= radix
    keys = _Keys(number, analyte_codes, list(rec.analyte.texts), site_codes, list(site.values))
    return frame, keys


def _at(array: np.ndarray, index: np.ndarray | None) -> np.ndarray:
    """``array`` at ``index`` (``None``: all of it, not copied)."""
    return array if index is None else array[index]


def _table(values: list[Any]) -> np.ndarray:
    """Distinct values (a Fail as None) as an object array to gather from."""
    table = np.empty(len(values), dtype=object)
    table[:] = [None if isinstance(v, Fail) else v for v in values]
    return table


def _value_ids(values: list[Any]) -> tuple[np.ndarray, int]:
    """Per distinct text's value an id, equal exactly for equal values; and the number of ids."""
    position: dict[Any, int] = {}
    ids = np.fromiter((position.setdefault(v, len(position)) for v in values), dtype=np.int32,
                      count=len(values))
    return ids, len(position)


def _sample_ids(sample_id: Parsed, site: Parsed, dates: Parsed, kr: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray, int]:
    """The sample_id of rows ``kr`` (``None``: every row; an empty cell made
    ``{site}-{YYYYMMDD}``) as texts, and as ids (int64, a new array) equal exactly for equal
    sample_ids; and the number of ids.

    A cell's id is its code (the reader's texts of a column are distinct); a made id is
    formatted once per distinct (site, date) cell pair of the rows without one.
    """
    texts = list(sample_id.texts)
    ids = _at(sample_id.codes, kr).astype(np.int64)
    empty = np.array([not t for t in texts], dtype=bool)
    missing = np.flatnonzero(empty[ids])
    if len(missing):
        rows = missing if kr is None else kr[missing]
        n_dates = len(dates.texts)
        pair_codes, pairs = pd.factorize(site.codes[rows].astype(np.int64) * n_dates
                                         + dates.codes[rows])
        position = {t: i for i, t in enumerate(texts)}
        made = np.fromiter((position.setdefault(f"{site.values[p // n_dates]}-"
                                                f"{dates.values[p % n_dates]:%Y%m%d}", len(position))
                            for p in pairs.tolist()), dtype=np.int64, count=len(pairs))
        ids[missing] = made[pair_codes]
        texts = list(position)
    table = np.empty(len(texts), dtype=object)
    table[:] = texts
    return table[ids], ids, len(texts)


def _rule_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per pair of qualifier state ``q`` and value censor state ``c`` (index ``q * 6 + c``, states
    of :data:`CENSORS`): the record's final censor, and which cross-cell rule it breaks (0 none,
    1 empty value, 2 D without a value, 3 measured value censored by the qualifier, 4 censored
    value with D).
    """
    q, c = (a.ravel() for a in np.meshgrid(np.arange(6), np.arange(6), indexing="ij"))
    empty = c == _EMPTY
    measured = c == _NONE
    censored = ~empty & ~measured
    final = np.where(empty | (censored & (q != _NONE)), q, c)
    final = np.where(measured & ((q == _LOQ) | (q == _D)), _D, final)
    rule = np.select([empty & (q == _NONE), empty & (q == _D),
                      measured & ((q == _LOD) | (q == _ND)), censored & (q == _D)], [1, 2, 3, 4], 0)
    return final.astype(np.int8), rule.astype(np.int8)


_FINAL_CENSOR, _CENSOR_RULE = _rule_tables()
#: Per final censor state: the record has a value (measured or D); it is not detected (<LOD, ND).
_VALUED = np.isin(np.arange(6), (_NONE, _D))
_NOT_DETECTED = np.isin(np.arange(6), (_LOD, _ND))


def _apply_rules(ctx: FileContext, issues: Issues, rec: _Records, fields: dict[str, Any]
                 ) -> tuple[np.ndarray | None, dict[str, np.ndarray], np.ndarray]:
    """The concentration rules over every record (their issues added): the positions of the
    accepted records, their record columns (analyte, value, censor, limits, original value and
    unit, source line) and their analyte codes (into ``rec.analyte.texts``).

    Each cell text is read once (qualifier, value, limits: tables per distinct text); per
    record only codes are gathered and combined: the censor rules are one lookup of the
    (qualifier state, value censor state) pair in :func:`_rule_tables`. The positions are
    ``None`` when every record is accepted (the columns are then not gathered again).
    """
    table = ctx.table
    dc = table.decimal_comma
    lines = np.asarray(table.lines, dtype=np.int64)
    row = None if rec.one_per_row else rec.row
    line = _at(lines, row)
    group = rec.group

    def failed(mask: np.ndarray, fails: list[Any], codes: np.ndarray, column: _Coded,
               stage: int) -> None:
        for i in np.flatnonzero(mask).tolist():
            issues.add(int(line[i]), str(column[i]), fails[codes[i]], stage, group=int(group[i]))

    alive = rec.ok & _at(fields["ok"], row)
    qualifier = rec.qualifier_text.parse(_qualifier)
    q_fail = qualifier.fail_mask()
    failed(alive & q_fail, qualifier.values, qualifier.codes,
           _Coded.empty(len(rec.row), rec.qualifier_column), _S_QUALIFIER)
    alive &= ~q_fail
    value = rec.value_text.parse(_concentration_spec(dc))
    v_fail = value.fail_mask()
    failed(alive & v_fail, value.values, value.codes, rec.value_column, _S_VALUE)
    alive &= ~v_fail
    limits = []
    for texts, column, stage in ((rec.loq_text, rec.loq_column, _S_LOQ),
                                 (rec.lod_text, rec.lod_column, _S_LOD)):
        parsed = texts.parse(_number_spec(dc, "a limit"))
        fail = parsed.fail_mask()
        failed(alive & fail, parsed.values, parsed.codes, column, stage)
        limits.append((parsed, fail))
    for _, fail in limits:
        alive &= ~fail
    factor = rec.factor
    loq = limits[0][0].float_array()
    loq *= factor
    lod = limits[1][0].float_array()
    lod *= factor
    # per distinct text: qualifier state; value censor state, number, sign
    q_table = np.array([v if isinstance(v, int) else _NONE for v in qualifier.values], dtype=np.int8)
    pairs = [v if isinstance(v, tuple) else (_EMPTY, math.nan) for v in value.values]
    censor_table = np.array([p[0] for p in pairs], dtype=np.int8)
    number_table = np.array([p[1] for p in pairs], dtype=float)
    with np.errstate(invalid="ignore"):
        negative_table = number_table < 0
    has_number_table = ~np.isnan(number_table)
    has_text_table = np.array([bool(t) for t in value.texts], dtype=bool)
    state = q_table[qualifier.codes] * np.int8(6) + censor_table[value.codes]
    final = _FINAL_CENSOR[state]
    rule = _CENSOR_RULE[state]
    del state
    rule[(rule == 0) & negative_table[value.codes]] = 5
    scaled = number_table[value.codes]
    scaled *= factor
    is_d = (final == _D) & (rule == 0)
    with np.errstate(invalid="ignore"):
        above = is_d & (scaled >= loq)
        rule[above] = 6
        rule[is_d & ~above & (scaled < lod)] = 7
    del is_d, above
    rule_error = rule != 0
    makes = (_empty_value, _empty_detected, _measured_but_censored, _censored_but_detected,
             _negative, _above_loq, _below_lod)
    for i in np.flatnonzero(alive & rule_error).tolist():
        issues.add(int(line[i]), str(rec.value_column[i]),
                   makes[rule[i] - 1](value.texts[value.codes[i]], int(q_table[qualifier.codes[i]]),
                                      scaled[i], loq[i], lod[i]),
                   _S_RULES,
                   group=int(group[i]))
    keep = alive & ~rule_error
    del alive, rule_error, rule
    k = None if keep.all() else np.flatnonzero(keep)  # None: every record is accepted
    del keep
    final_k = _at(final, k)
    scaled_k = _at(scaled, k)
    vcodes_k = _at(value.codes, k)
    has_number_k = has_number_table[vcodes_k]
    # arrays of this function either way (``_at`` copies or gives the whole): set in place
    loq_k = _at(loq, k)
    np.copyto(loq_k, scaled_k, where=(final_k == _LOQ) & has_number_k)
    lod_k = _at(lod, k)
    np.copyto(lod_k, scaled_k, where=_NOT_DETECTED[final_k] & has_number_k)
    del has_number_k
    value_ng = scaled_k
    value_ng[~_VALUED[final_k]] = np.nan
    del scaled_k
    # the value text of a record, else (no value text) its qualifier text
    original = _table(value.texts)[vcodes_k]
    bare = np.flatnonzero(~has_text_table[vcodes_k])
    original[bare] = _table(qualifier.texts)[qualifier.codes[bare if k is None else k[bare]]]
    for j in np.flatnonzero((final_k == _LOQ) & np.isnan(loq_k)).tolist():
        text = str(original[j])
        i = j if k is None else int(k[j])
        issues.add(int(line[i]), str(rec.value_column[i]), Fail(
            "loq_missing", f"{text!r} gives no LOQ; write it as <2.5 (the LOQ number) or add a loq "
            "column. The row was kept without an LOQ.", text), _S_LOQ_MISSING, group=int(group[i]))
    analyte_codes = _at(rec.analyte.codes, k)
    return k, {
        "analyte": _table(rec.analyte.texts)[analyte_codes],
        "value_ng_per_l": value_ng,
        "censor": np.array(CENSORS, dtype=object)[final_k],
        "loq_ng_per_l": loq_k,
        "lod_ng_per_l": lod_k,
        "original_value": original,
        "original_unit": _table(rec.unit_text.texts)[_at(rec.unit_text.codes, k)],
        "source_line": _at(line, k),
    }, analyte_codes


def _dates_ns(values: list[Any]) -> np.ndarray:
    """Distinct dates (``datetime.date`` or a Fail) → datetime64[ns] (NaT for a Fail)."""
    dates = [None if isinstance(v, Fail) else v for v in values]
    out: np.ndarray = pd.to_datetime(pd.Series(dates, dtype=object)).astype(
        "datetime64[ns]").to_numpy()
    return out


# Messages of the cross-cell rules ----------------------------------------------------------


def _empty_value(text: str, q: int, value: float, loq: float, lod: float) -> Fail:
    return Fail("missing_value", "the value is empty; write the measured value, or <LOQ, <2.5, "
                "ND for a censored result.")


def _empty_detected(text: str, q: int, value: float, loq: float, lod: float) -> Fail:
    return Fail(
        "missing_value",
        "the qualifier D (detected below the LOQ) needs the reported value; write it, or "
        "write <LOQ in the qualifier if the lab reported no value.",
        message_sv=(
            "kvalifikatorn D (påvisad under kvantifieringsgränsen) kräver det "
            "rapporterade värdet; skriv in det, eller skriv <LOQ som kvalifikator om "
            "labbet inte rapporterade något värde."
        ),
    )


def _measured_but_censored(text: str, q: int, value: float, loq: float, lod: float) -> Fail:
    return Fail(
        "censor_conflict",
        f"the value {text!r} is a measured number but the qualifier says {CENSORS[q]}; "
        f"either empty the qualifier or write the value as <{text}.",
        text,
    )


def _censored_but_detected(text: str, q: int, value: float, loq: float, lod: float) -> Fail:
    return Fail(
        "censor_conflict",
        f"the value {text!r} is censored but the qualifier D says a value was "
        "detected and reported; write the reported value, or write <LOQ as qualifier.",
        text,
        message_sv=(
            f"värdet {text!r} är censurerat men kvalifikatorn D säger att ett värde "
            "påvisades och rapporterades; skriv det rapporterade värdet, eller <LOQ som "
            "kvalifikator."
        ),
    )


def _negative(text: str, q: int, value: float, loq: float, lod: float) -> Fail:
    return Fail("negative_value", f"{text!r} is negative; a concentration cannot be below 0.", text)


def _above_loq(text: str, q: int, value: float, loq: float, lod: float) -> Fail:
    return Fail(
        "censor_conflict",
        f"the value {text!r} ({value:g} ng/L) is at or above the LOQ ({loq:g} ng/L), but the "
        "qualifier says it is below the LOQ; empty the qualifier if the value is quantified, "
        "or check the value and the LOQ.",
        text,
        message_sv=(
            f"värdet {text!r} ({value:g} ng/L) är lika med eller över "
            f"kvantifieringsgränsen ({loq:g} ng/L), men kvalifikatorn säger under LOQ; töm "
            "kvalifikatorn om värdet är kvantifierat, eller kontrollera värdet och LOQ."
        ),
    )


def _below_lod(text: str, q: int, value: float, loq: float, lod: float) -> Fail:
    return Fail(
        "censor_conflict",
        f"the value {text!r} ({value:g} ng/L) is below the LOD ({lod:g} ng/L), so it cannot "
        "be 'detected below the LOQ'; write <LOD (or ND) if it was not detected, or check "
        "the value and the LOD.",
        text,
        message_sv=(
            f"värdet {text!r} ({value:g} ng/L) ligger under detektionsgränsen ({lod:g} "
            "ng/L) och kan då inte vara 'påvisat under LOQ'; skriv <LOD (eller ND) om det "
            "inte påvisades, eller kontrollera värdet och LOD."
        ),
    )


def _reject_duplicates(ctx: FileContext, frame: pd.DataFrame, key: np.ndarray) -> np.ndarray | None:
    """Report records sharing sample_id+analyte+replicate+role (equal ``key``); the mask of the
    records to keep (every record of such a group is dropped), ``None`` when there is none.
    """
    n = len(frame)
    if n < 2:
        return None
    # records of equal key share one of 2n + 1 buckets (key mod 2n + 1, counted without
    # hashing; keys below 2n + 1 each have their own), so only records sharing a bucket are
    # compared exactly
    buckets = key % (2 * n + 1)
    shared = np.flatnonzero(np.bincount(buckets, minlength=2 * n + 1)[buckets] > 1)
    del buckets
    in_group = shared[pd.Series(key[shared], copy=False).duplicated(keep=False).to_numpy()]
    if not len(in_group):
        return None
    fields = ["sample_id", "analyte", "replicate", "sample_role"]
    first: dict[int, int] = {}
    lines = frame["source_line"].to_numpy()
    values = [frame[f].to_numpy() for f in fields]
    for i in in_group.tolist():
        group = int(key[i])
        if group not in first:
            first[group] = int(lines[i])
            continue
        sample_id, analyte, replicate, role = (v[i] for v in values)
        first_line, this_line = first[group], int(lines[i])
        ctx.add(
            this_line,
            None,
            "duplicate_row",
            f"same sample_id '{sample_id}', analyte '{analyte}', replicate {replicate} and "
            f"sample_role '{role}' as line {first_line}; keep one of lines {first_line} and "
            f"{this_line} (both were rejected), or give them different replicate numbers.",
        )
    keep = np.ones(len(frame), dtype=bool)
    keep[in_group] = False
    return keep
