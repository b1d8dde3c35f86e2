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
from typing import Any

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
    frame = _frame(ctx, issues, records, fields)
    issues.flush()
    frame = _reject_duplicates(ctx, frame)
    value_headers = {h.analyte: table.header[i] for i, h in wide_columns.items()
                     if h.role == "value"}
    long_header = ctx.header_name("value")
    plausibility_warnings(
        frame,
        ctx.add,
        value_column=lambda analyte: (long_header if layout == "long"
                                      else value_headers.get(analyte, analyte)),
        date_column=ctx.header_name("sample_date"),
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


def _frame(ctx: FileContext, issues: Issues, rec: _Records, fields: dict[str, Any]
           ) -> pd.DataFrame:
    """Apply the concentration rules to every record; the frame of the accepted ones.

    The per-record arrays of the rules are freed before the row cells are gathered, and the
    frame takes the gathered arrays as its columns without copying them (a 1 M-record file
    would otherwise hold its columns three times: arrays, series and the frame's blocks).
    """
    k, columns = _apply_rules(ctx, issues, rec, fields)
    kr = rec.row[k]
    site = fields["site"].value_array(kr)
    dates = fields["date"]
    sample_id = fields["sample_id"].text_array(kr)
    missing_id = np.flatnonzero(sample_id == "")
    if len(missing_id):
        sample_id[missing_id] = [f"{s}-{d:%Y%m%d}" for s, d in
                                 zip(site[missing_id], dates.value_array(kr[missing_id]),
                                     strict=True)]
    free = fields["free"]
    columns.update({
        "sample_id": sample_id,
        "site": site,
        "sample_date": _dates_ns(dates.values)[dates.codes[kr]],
        "replicate": fields["replicate"].int_array(kr),
        "flow_m3_per_day": fields["flow"].float_array(kr),
        "composite_hours": fields["hours"].int_array(kr),
        "sample_role": fields["role"].value_array(kr),
        "lab": free["lab"].value_array(kr),
        "method": free["method"].value_array(kr),
        "comment": free["comment"].value_array(kr),
    })
    return pd.DataFrame({name: pd.Series(columns[name], dtype=dtype, copy=False)
                         for name, dtype in FRAME_COLUMNS["results"].items()}, copy=False)


def _apply_rules(ctx: FileContext, issues: Issues, rec: _Records, fields: dict[str, Any]
                 ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The concentration rules over every record (their issues added): the positions of the
    accepted records and their record columns (analyte, value, censor, limits, original
    value and unit, source line).
    """
    table = ctx.table
    dc = table.decimal_comma
    lines = np.asarray(table.lines, dtype=np.int64)
    row = rec.row
    line = lines[row]
    group = rec.group

    def failed(mask: np.ndarray, fails: list[Any], codes: np.ndarray, column: _Coded,
               stage: int) -> None:
        for i in np.flatnonzero(mask).tolist():
            issues.add(int(line[i]), str(column[i]), fails[codes[i]], stage, group=int(group[i]))

    alive = rec.ok & fields["ok"][row]
    qualifier = rec.qualifier_text.parse(_qualifier)
    q_fail = qualifier.fail_mask()
    failed(alive & q_fail, qualifier.values, qualifier.codes,
           _Coded.empty(len(row), rec.qualifier_column), _S_QUALIFIER)
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
    loq = limits[0][0].float_array() * factor
    lod = limits[1][0].float_array() * factor
    q = np.array([v if isinstance(v, int) else _NONE for v in qualifier.values],
                 dtype=np.int8)[qualifier.codes]
    pairs = [v if isinstance(v, tuple) else (_EMPTY, math.nan) for v in value.values]
    censor = np.array([p[0] for p in pairs], dtype=np.int8)[value.codes]
    number = np.array([p[1] for p in pairs], dtype=float)[value.codes]
    has_number = ~np.isnan(number)
    empty = censor == _EMPTY
    measured = censor == _NONE
    censored = ~empty & ~measured
    e_empty = empty & (q == _NONE)
    e_empty_d = empty & (q == _D)
    e_measured = measured & ((q == _LOD) | (q == _ND))
    e_censored_d = censored & (q == _D)
    final = np.where(empty | (censored & (q != _NONE)), q, censor)
    final = np.where(measured & ((q == _LOQ) | (q == _D)), _D, final)
    rule_error = e_empty | e_empty_d | e_measured | e_censored_d
    with np.errstate(invalid="ignore"):
        e_negative = ~rule_error & has_number & (number < 0)
    rule_error |= e_negative
    scaled = number * factor
    is_d = (final == _D) & ~rule_error
    with np.errstate(invalid="ignore"):
        e_above = is_d & ~np.isnan(loq) & (scaled >= loq)
        e_below = is_d & ~e_above & ~np.isnan(lod) & (scaled < lod)
    rule_error |= e_above | e_below
    for mask, make in ((e_empty, _empty_value), (e_empty_d, _empty_detected),
                       (e_measured, _measured_but_censored), (e_censored_d, _censored_but_detected),
                       (e_negative, _negative), (e_above, _above_loq), (e_below, _below_lod)):
        for i in np.flatnonzero(alive & mask).tolist():
            issues.add(int(line[i]), str(rec.value_column[i]),
                       make(value.texts[value.codes[i]], int(q[i]), scaled[i], loq[i], lod[i]),
                       _S_RULES,
                       group=int(group[i]))
    keep = alive & ~rule_error
    value_ng = np.where((final == _NONE) | (final == _D), scaled, np.nan)
    loq = np.where((final == _LOQ) & has_number, scaled, loq)
    lod = np.where(((final == _LOD) | (final == _ND)) & has_number, scaled, lod)
    has_value_text = np.array([bool(t) for t in value.texts], dtype=bool)[value.codes]

    def original(index: np.ndarray) -> np.ndarray:
        """The value text of records ``index``, else their qualifier text."""
        out = rec.value_text.take(index).text_array()
        bare = ~has_value_text[index]
        out[bare] = rec.qualifier_text.take(index[bare]).text_array()
        return out

    no_loq = keep & (final == _LOQ) & np.isnan(loq)
    for i in np.flatnonzero(no_loq).tolist():
        text = str(original(np.array([i]))[0])
        issues.add(int(line[i]), str(rec.value_column[i]), Fail(
            "loq_missing", f"{text!r} gives no LOQ; write it as <2.5 (the LOQ number) or add a loq "
            "column. The row was kept without an LOQ.", text), _S_LOQ_MISSING, group=int(group[i]))
    k = np.flatnonzero(keep)
    return k, {
        "analyte": rec.analyte.take(k).text_array(),
        "value_ng_per_l": value_ng[k],
        "censor": np.array(CENSORS, dtype=object)[final[k]],
        "loq_ng_per_l": loq[k],
        "lod_ng_per_l": lod[k],
        "original_value": original(k),
        "original_unit": rec.unit_text.take(k).text_array(),
        "source_line": line[k],
    }


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


def _reject_duplicates(ctx: FileContext, frame: pd.DataFrame) -> pd.DataFrame:
    """Report records sharing sample_id+analyte+replicate+role; drop every one of them."""
    fields = ["sample_id", "analyte", "replicate", "sample_role"]
    if len(frame) < 2:
        return frame
    # one integer per record: the field codes in mixed radix (number so far × distinct values
    # of the field + its code), renumbered only when the next product could overflow
    number = np.zeros(len(frame), dtype=np.int64)
    size = 1
    for f in fields:
        codes, uniques = pd.factorize(frame[f])
        radix = max(len(uniques), 1)
        if size * radix >= 2**62:
            number = pd.factorize(number)[0].astype(np.int64)
            size = int(number.max()) + 1
        number = number * radix + codes
        size *= radix
    number = pd.factorize(number)[0]
    in_group = np.flatnonzero(np.bincount(number)[number] > 1)
    if not len(in_group):
        return frame
    first: dict[tuple[Any, ...], int] = {}
    lines = frame["source_line"].to_numpy()
    keys = frame[fields].to_numpy(dtype=object)
    for i in in_group.tolist():
        key = tuple(keys[i])
        if key not in first:
            first[key] = int(lines[i])
            continue
        sample_id, analyte, replicate, role = key
        first_line, this_line = first[key], int(lines[i])
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
    return frame.loc[keep].reset_index(drop=True)
