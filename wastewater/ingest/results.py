"""Validate results files (long: one row per analyte; wide: one column per analyte).

Each concentration is read with its censoring (``<2.5``, ``< LOQ``, ``<LOD``, ``ND`` or a
qualifier column), converted once to ng L⁻¹ and checked; duplicate records (same sample_id,
analyte, replicate and sample_role) are rejected with both line numbers. Wide and long files
with the same content give the same frame (tests/test_ingest_properties.py).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from wastewater.ingest.cells import CellError, parse_censored, parse_number, parse_qualifier
from wastewater.ingest.columns import REQUIRED, AnalyteHeader
from wastewater.ingest.context import (
    FRAME_COLUMNS,
    FREE_TEXT_COLUMNS,
    RowContext,
    build_frame,
    check_required,
    map_header,
)
from wastewater.ingest.fastlong import _factorize, long_fast_rows
from wastewater.ingest.plausibility import plausibility_warnings
from wastewater.units import ConcentrationUnit, accepted_concentration_units

__all__ = ["DEFAULT_COMPOSITE_HOURS", "SAMPLE_ROLES", "validate_results"]

SAMPLE_ROLES = ("sample", "blank", "spike", "reference")
DEFAULT_COMPOSITE_HOURS = 24
USUAL_COMPOSITE_HOURS = (24, 72)
MAX_COMPOSITE_HOURS = 168  # one week
MAX_REPLICATE = 1000  # replicate numbers above this are typing errors

#: Validate long files column-wise (:mod:`wastewater.ingest.fastlong`), sending only rows with
#: problems through the row validator. Read at call time; False gives the row-by-row
#: reference path (tests/test_ingest_fastpath.py compares the two).
FAST_PATH = True

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


def _sample_fields(ctx: RowContext, row: list[str], line: int) -> _SampleFields | None:
    """Validate the sample-level cells of a results row (both layouts)."""
    ok = True
    site_text = ctx.required_text(row, line, "site")
    site = ctx.site(site_text, line, ctx.header_name("site")) if site_text else None
    ok &= site is not None
    sample_date, good = ctx.date(row, line, "sample_date", required=True, future_ok=False)
    ok &= good
    replicate, good = ctx.integer(
        row,
        line,
        "replicate",
        code="bad_replicate",
        default=1,
        low=1,
        high=MAX_REPLICATE,
        hint=f"write the replicate number as a whole number from 1 to {MAX_REPLICATE}",
    )
    ok &= good
    hours, good = ctx.integer(
        row,
        line,
        "composite_hours",
        code="bad_composite_hours",
        default=DEFAULT_COMPOSITE_HOURS,
        low=1,
        high=MAX_COMPOSITE_HOURS,
        hint=(
            f"write the sampling duration in whole hours 1-{MAX_COMPOSITE_HOURS} "
            "(24 for a 24-h composite)"
        ),
    )
    ok &= good
    if good and hours not in USUAL_COMPOSITE_HOURS:
        ctx.add(
            line,
            ctx.header_name("composite_hours"),
            "unusual_composite_hours",
            f"a {hours}-hour composite is unusual (24 or 72 expected); check the value. The row "
            "was kept.",
            ctx.cell(row, "composite_hours"),
        )
    role_text = ctx.cell(row, "sample_role")
    role = re.sub(r"[\s\-]+", "_", role_text.casefold()) if role_text else "sample"
    role = _ROLE_ALIASES.get(role, role)
    if role not in SAMPLE_ROLES:
        ctx.add(
            line,
            ctx.header_name("sample_role"),
            "bad_sample_role",
            f"{role_text!r} is not a sample role; write one of {', '.join(SAMPLE_ROLES)}.",
            role_text,
        )
        ok = False
    flow, good = ctx.number(row, line, "flow_m3_per_day", what="flow")
    ok &= good
    lab, method, comment = (ctx.free_text(row, line, c) for c in FREE_TEXT_COLUMNS["results"])
    # ok implies every value was read (the None checks only tell the type checker so)
    if not ok or site is None or sample_date is None or replicate is None or hours is None:
        return None
    sample_id = ctx.cell(row, "sample_id") or f"{site}-{sample_date:%Y%m%d}"
    return _SampleFields(
        sample_id, site, sample_date, replicate, flow, hours, role, lab, method, comment
    )


def _limit(ctx: RowContext, text: str, line: int, column: str, factor: float) -> tuple[float, bool]:
    """Parse an LOQ/LOD cell in the row's unit and convert it to ng/L."""
    if not text:
        return math.nan, True
    try:
        value = parse_number(text, ctx.table.decimal_comma)
    except CellError as exc:
        ctx.add(line, column, exc.code, f"{text!r} is not a number; {exc.hint}.", text)
        return math.nan, False
    if value < 0:
        ctx.add(
            line,
            column,
            "negative_value",
            f"{text!r} is negative; a limit cannot be below 0.",
            text,
        )
        return math.nan, False
    return value * factor, True


def _result_record(
    ctx: RowContext,
    fields: _SampleFields,
    *,
    line: int,
    analyte: str,
    value_text: str,
    value_column: str,
    qualifier_text: str,
    qualifier_column: str,
    unit: ConcentrationUnit,
    unit_text: str,
    loq_text: str,
    loq_column: str,
    lod_text: str,
    lod_column: str,
) -> dict[str, Any] | None:
    """Validate one concentration (value + qualifier + limits) and build its record."""
    factor = unit.factor_to_canonical
    qualifier = "none"
    if qualifier_text:
        try:
            qualifier = parse_qualifier(qualifier_text)
        except CellError as exc:
            ctx.add(
                line, qualifier_column, exc.code, f"{qualifier_text!r}: {exc.hint}.", qualifier_text
            )
            return None
    try:
        censor, number = parse_censored(value_text, ctx.table.decimal_comma)
    except CellError as exc:
        ctx.add(
            line,
            value_column,
            exc.code,
            f"{value_text!r} is not a concentration; {exc.hint}.",
            value_text,
        )
        return None
    loq, good_loq = _limit(ctx, loq_text, line, loq_column, factor)
    lod, good_lod = _limit(ctx, lod_text, line, lod_column, factor)
    if not (good_loq and good_lod):
        return None
    if censor == "empty":
        if qualifier == "none":
            ctx.add(
                line,
                value_column,
                "missing_value",
                "the value is empty; write the measured value, or <LOQ, <2.5, ND for a censored "
                "result.",
            )
            return None
        if qualifier == "D":
            ctx.add(
                line,
                value_column,
                "missing_value",
                "the qualifier D (detected below the LOQ) needs the reported value; write it, or "
                "write <LOQ in the qualifier if the lab reported no value.",
                message_sv=(
                    "kvalifikatorn D (påvisad under kvantifieringsgränsen) kräver det "
                    "rapporterade värdet; skriv in det, eller skriv <LOQ som kvalifikator om "
                    "labbet inte rapporterade något värde."
                ),
            )
            return None
        censor = qualifier
    elif censor == "none" and qualifier in ("<LOQ", "D"):
        censor = "D"  # detected below the LOQ, value reported: LOD <= x < LOQ
    elif censor == "none":
        if qualifier != "none":
            ctx.add(
                line,
                value_column,
                "censor_conflict",
                f"the value {value_text!r} is a measured number but the qualifier says "
                f"{qualifier}; "
                f"either empty the qualifier or write the value as <{value_text}.",
                value_text,
            )
            return None
    elif qualifier == "D":
        ctx.add(
            line,
            value_column,
            "censor_conflict",
            f"the value {value_text!r} is censored but the qualifier D says a value was "
            "detected and reported; write the reported value, or write <LOQ as qualifier.",
            value_text,
            message_sv=(
                f"värdet {value_text!r} är censurerat men kvalifikatorn D säger att ett värde "
                "påvisades och rapporterades; skriv det rapporterade värdet, eller <LOQ som "
                "kvalifikator."
            ),
        )
        return None
    elif qualifier != "none":
        censor = qualifier  # "<2.5" with qualifier "<LOD": the qualifier names the limit
    if number is not None and number < 0:
        ctx.add(
            line,
            value_column,
            "negative_value",
            f"{value_text!r} is negative; a concentration cannot be below 0.",
            value_text,
        )
        return None
    value = math.nan
    if censor == "D" and number is not None:  # a "D" always carries its number here
        value = number * factor
        if not _detected_below_loq_ok(ctx, line, value_column, value_text, value, loq, lod):
            return None
    elif censor == "none" and number is not None:  # a measured value always has its number
        value = number * factor
    elif number is not None:
        if censor == "<LOQ":
            loq = number * factor
        else:
            lod = number * factor
    if censor == "<LOQ" and math.isnan(loq):
        ctx.add(
            line,
            value_column,
            "loq_missing",
            f"{value_text or qualifier_text!r} gives no LOQ; write it as <2.5 (the LOQ number) or "
            "add a "
            "loq column. The row was kept without an LOQ.",
            value_text or qualifier_text,
        )
    return {
        "sample_id": fields.sample_id,
        "site": fields.site,
        "sample_date": fields.sample_date,
        "analyte": analyte,
        "replicate": fields.replicate,
        "value_ng_per_l": value,
        "censor": censor,
        "loq_ng_per_l": loq,
        "lod_ng_per_l": lod,
        "flow_m3_per_day": fields.flow_m3_per_day,
        "composite_hours": fields.composite_hours,
        "sample_role": fields.sample_role,
        "lab": fields.lab,
        "method": fields.method,
        "comment": fields.comment,
        "original_value": value_text or qualifier_text,
        "original_unit": unit_text,
        "source_line": line,
    }


def _detected_below_loq_ok(
    ctx: RowContext,
    line: int,
    column: str,
    text: str,
    value: float,
    loq: float,
    lod: float,
) -> bool:
    """Check a "detected below LOQ" value (censor ``D``): LOD ≤ value < LOQ when those are known."""
    if not math.isnan(loq) and value >= loq:
        ctx.add(
            line,
            column,
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
        return False
    if not math.isnan(lod) and value < lod:
        ctx.add(
            line,
            column,
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
        return False
    return True


# A record's position in the file: (line, column index); long rows use column -1.
_Position = tuple[int, int]
_Key = tuple[str, str, int, str]  # sample_id, analyte, replicate, sample_role


def validate_results(ctx: RowContext, layout: str | None) -> tuple[pd.DataFrame, int]:
    """Validate a results file.

    Parameters
    ----------
    ctx : RowContext
        Context of the file (table, issues, known sites, today).
    layout : {"long", "wide"} or None
        ``None`` chooses long when ``analyte`` and ``value`` columns exist, else wide.

    Returns
    -------
    frame : pandas.DataFrame
        Valid records, columns of ``FRAME_COLUMNS["results"]``.
    rows_total : int
        Records in the file: rows (long) or non-empty analyte cells (wide).

    Valid records then get the plausibility warnings of
    :mod:`wastewater.ingest.plausibility` (kept rows, one rule pass over the frame).
    """
    frame, n_records, wide_columns = _validate_results(ctx, layout)
    value_headers = {h.analyte: ctx.table.header[i] for i, h in wide_columns.items()
                     if h.role == "value"}
    long_header = ctx.header_name("value")
    plausibility_warnings(
        frame,
        ctx.add,
        value_column=lambda analyte: (long_header if ctx.layout == "long"
                                      else value_headers.get(analyte, analyte)),
        date_column=ctx.header_name("sample_date"),
        site_history=ctx.site_history,
    )
    return frame, n_records


def _validate_results(
    ctx: RowContext, layout: str | None
) -> tuple[pd.DataFrame, int, dict[int, AnalyteHeader]]:
    wide_columns = map_header(ctx, analyte_columns=layout != "long")
    if layout is None:
        layout = "long" if {"analyte", "value"} <= set(ctx.column_index) else "wide"
    ctx.layout = layout
    if layout == "long":
        header_ok = check_required(ctx, REQUIRED["results"])
        if header_ok and FAST_PATH and ctx.table.n_rows:
            # no silent fallback: an exception here is a bug, reported as internal_error
            return _long_frame_fast(ctx), ctx.table.n_rows, wide_columns
        records, keys, n_records = _long_records(ctx, header_ok)
    else:
        _drop_long_only_columns(ctx)
        header_ok = check_required(ctx, ("site", "sample_date"))
        records, keys, n_records = _wide_records(ctx, wide_columns, header_ok)
    rejected = _reject_duplicates(ctx, keys)
    if rejected:
        records = [r for r, (_, pos) in zip(records, keys, strict=True) if pos not in rejected]
    return build_frame("results", records), n_records, wide_columns


def _long_records(
    ctx: RowContext, header_ok: bool
) -> tuple[list[dict[str, Any]], list[tuple[_Key, _Position]], int]:
    """Records of a long file: one row = one analyte value."""
    records: list[dict[str, Any]] = []
    keys: list[tuple[_Key, _Position]] = []
    if not header_ok:
        return records, keys, len(ctx.table.rows)
    unit_column = ctx.header_name("unit")
    for row, line in zip(ctx.table.rows, ctx.table.lines, strict=True):
        checked = _long_record(ctx, row, line, unit_column)
        if checked is not None:
            records.append(checked[0])
            keys.append(checked[1])
    return records, keys, len(ctx.table.rows)


def _long_record(
    ctx: RowContext, row: list[str], line: int, unit_column: str
) -> tuple[dict[str, Any], tuple[_Key, _Position]] | None:
    """Validate one row of a long file; its record and duplicate key, or None if rejected."""
    fields = _sample_fields(ctx, row, line)
    analyte_text = ctx.required_text(row, line, "analyte")
    analyte = ctx.analyte(analyte_text, line, ctx.header_name("analyte")) if analyte_text else None
    unit_text = ctx.cell(row, "unit")
    unit = _row_unit(ctx, unit_text, line, unit_column)
    if fields is None or analyte is None or unit is None:
        return None
    record = _result_record(
        ctx,
        fields,
        line=line,
        analyte=analyte,
        value_text=ctx.cell(row, "value"),
        value_column=ctx.header_name("value"),
        qualifier_text=ctx.cell(row, "qualifier"),
        qualifier_column=ctx.header_name("qualifier"),
        unit=unit,
        unit_text=unit_text,
        loq_text=ctx.cell(row, "loq"),
        loq_column=ctx.header_name("loq"),
        lod_text=ctx.cell(row, "lod"),
        lod_column=ctx.header_name("lod"),
    )
    if record is None:
        return None
    key = (fields.sample_id, analyte, fields.replicate, fields.sample_role)
    return record, (key, (line, -1))


def _long_frame_fast(ctx: RowContext) -> pd.DataFrame:
    """Long layout, column-wise: the same frame and issues as :func:`_long_records`.

    Rows the column-wise check accepts without any issue (:func:`long_fast_rows`) skip the
    row validator; every other row goes through it unchanged (its issues, in file order).
    Duplicate keys are found with :meth:`pandas.DataFrame.duplicated` and reported by
    :func:`_reject_duplicates` for the duplicated records only, in file order.
    """
    fast, columns = long_fast_rows(ctx)
    slow_records: list[dict[str, Any]] = []
    slow_keys: list[tuple[_Key, _Position]] = []
    unit_column = ctx.header_name("unit")
    table = ctx.table
    for i in np.flatnonzero(~fast).tolist():
        checked = _long_record(ctx, table.row(i), table.lines[i], unit_column)
        if checked is not None:
            slow_records.append(checked[0])
            slow_keys.append(checked[1])
    fields = ("sample_id", "analyte", "replicate", "sample_role")
    keys = [columns[f].tolist() + [k[j] for k, _ in slow_keys] for j, f in enumerate(fields)]
    lines = np.concatenate(
        [columns["source_line"], np.array([p[0] for _, p in slow_keys], dtype=np.int64)]
    )
    # equal keys <=> equal codes of each part (first-seen codes over the same lists)
    coded = pd.DataFrame({f: _factorize(values)[0] for f, values in zip(fields, keys, strict=True)})
    in_group = np.flatnonzero(coded.duplicated(keep=False).to_numpy())
    rejected_lines: set[int] = set()
    if len(in_group):
        in_group = in_group[np.argsort(lines[in_group], kind="stable")]  # file order
        rejected = _reject_duplicates(
            ctx,
            [(tuple(part[i] for part in keys), (int(lines[i]), -1)) for i in in_group.tolist()],
        )
        rejected_lines = {line for line, _ in rejected}
    keep = np.ones(len(columns["source_line"]), dtype=bool)
    if rejected_lines:
        keep = ~np.isin(columns["source_line"], list(rejected_lines))
    fast_frame = pd.DataFrame(
        {
            name: pd.Series(values[keep], dtype=FRAME_COLUMNS["results"][name])
            for name, values in columns.items()
        }
    )
    slow_records = [r for r in slow_records if r["source_line"] not in rejected_lines]
    if not slow_records:
        return fast_frame if len(fast_frame) else build_frame("results", [])
    slow_frame = build_frame("results", slow_records)
    if not len(fast_frame):
        return slow_frame
    frame = pd.concat([fast_frame, slow_frame], ignore_index=True)
    return frame.sort_values("source_line", kind="stable").reset_index(drop=True)


def _row_unit(ctx: RowContext, unit_text: str, line: int, column: str) -> ConcentrationUnit | None:
    """The concentration unit of one row's ``unit`` cell (issue if empty or unknown)."""
    if not unit_text:
        ctx.add(
            line,
            column,
            "missing_unit",
            f"the unit is empty; write one of {accepted_concentration_units()}.",
        )
        return None
    return ctx.conc_unit(unit_text, line, column)


def _drop_long_only_columns(ctx: RowContext) -> None:
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
    ctx: RowContext, wide_columns: dict[int, AnalyteHeader], header_ok: bool
) -> tuple[list[dict[str, Any]], list[tuple[_Key, _Position]], int]:
    """Records of a wide file: one row = one sample, one column per analyte."""
    records: list[dict[str, Any]] = []
    keys: list[tuple[_Key, _Position]] = []
    header = ctx.table.header
    value_columns = {i: h for i, h in wide_columns.items() if h.role == "value"}
    limit_columns = {(h.analyte, h.role): i for i, h in wide_columns.items() if h.role != "value"}
    if not value_columns and header_ok:
        ctx.add(
            ctx.table.header_line,
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
            header_units[index] = ctx.conc_unit(
                parsed.unit_text, ctx.table.header_line, header[index]
            )
        elif not has_unit_column:
            ctx.add(
                ctx.table.header_line,
                header[index],
                "missing_unit",
                "no unit for this analyte column; write it in the header, e.g. "
                f"'{header[index]} (ng/L)', or add a 'unit' column.",
            )

    def limit(analyte: str, role: str, row: list[str]) -> tuple[str, str]:
        index = limit_columns.get((analyte, role))
        return (row[index], header[index]) if index is not None else ("", "")

    n_records = 0
    for row, line in zip(ctx.table.rows, ctx.table.lines, strict=True):
        present = [i for i in value_columns if i < len(row) and row[i]]
        n_records += len(present)
        if not header_ok or not present:
            continue
        fields = _sample_fields(ctx, row, line)
        row_unit_text = ctx.cell(row, "unit")
        row_unit = None
        if has_unit_column and any(value_columns[i].unit_text is None for i in present):
            row_unit = _row_unit(ctx, row_unit_text, line, ctx.header_name("unit"))
        if fields is None:
            continue
        for index in present:
            parsed = value_columns[index]
            in_header = parsed.unit_text is not None
            unit = header_units[index] if in_header else row_unit
            if unit is None:
                continue
            loq_text, loq_column = limit(parsed.analyte, "loq", row)
            lod_text, lod_column = limit(parsed.analyte, "lod", row)
            record = _result_record(
                ctx,
                fields,
                line=line,
                analyte=parsed.analyte,
                value_text=row[index],
                value_column=header[index],
                qualifier_text="",
                qualifier_column="",
                unit=unit,
                unit_text=parsed.unit_text if parsed.unit_text is not None else row_unit_text,
                loq_text=loq_text,
                loq_column=loq_column,
                lod_text=lod_text,
                lod_column=lod_column,
            )
            if record is not None:
                records.append(record)
                key = (fields.sample_id, parsed.analyte, fields.replicate, fields.sample_role)
                keys.append((key, (line, index)))
    return records, keys, n_records


def _reject_duplicates(ctx: RowContext, keys: list[tuple[_Key, _Position]]) -> set[_Position]:
    """Report records sharing sample_id+analyte+replicate+role; return all their positions."""
    first: dict[_Key, _Position] = {}
    rejected: set[_Position] = set()
    for key, position in keys:
        if key not in first:
            first[key] = position
            continue
        rejected.update((first[key], position))
        first_line, this_line = first[key][0], position[0]
        sample_id, analyte, replicate, role = key
        ctx.add(
            this_line,
            None,
            "duplicate_row",
            f"same sample_id '{sample_id}', analyte '{analyte}', replicate {replicate} and "
            f"sample_role '{role}' as line {first_line}; keep one of lines {first_line} and "
            f"{this_line} (both were rejected), or give them different replicate numbers.",
        )
    return rejected
