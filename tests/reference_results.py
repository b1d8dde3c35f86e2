"""A simple per-row checker of long results files: the reference for the package's column-wise path.

Row by row, cell by cell, in reading order, with the pure cell parsers of
:mod:`wastewater.ingest.cells`; it returns every issue as ``(line, column, message)`` and the
accepted records. Written to be obviously correct rather than fast: each rule is one ``if``.
tests/test_ingest_single_path.py checks that :func:`wastewater.ingest.parse_upload` reports the
same issues, line for line.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re

from wastewater.catalogue import closest_analytes, try_resolve_analyte
from wastewater.exceptions import UnitError
from wastewater.ingest.cells import (
    CellError,
    looks_like_formula,
    parse_censored,
    parse_date,
    parse_number,
    parse_qualifier,
)
from wastewater.units import accepted_concentration_units, parse_unit

ROLES = ("sample", "blank", "spike", "reference")
ROLE_ALIASES = {"prov": "sample", "blindprov": "blank", "blankprov": "blank", "spiked": "spike",
                "tillsats": "spike", "ref": "reference", "referens": "reference",
                "qc": "reference"}
UNITS = accepted_concentration_units()


def check_long(header: list[str], rows: list[list[str]], lines: list[int], *,
               decimal_comma: bool, known_sites: set[str] | None, today: dt.date
               ) -> tuple[list[tuple[int, str | None, str]], list[dict]]:
    """Issues ``(line, column, message)`` and accepted records of a long results table whose
    header cells are the canonical column names."""
    issues: list[tuple[int, str | None, str]] = []
    records: list[dict] = []
    known = None if known_sites is None else {s.casefold(): s for s in known_sites}

    for cells, line in zip(rows, lines, strict=True):
        cell = dict(zip(header, cells, strict=False))

        def get(name: str, cell: dict[str, str] = cell) -> str:
            return cell.get(name, "")

        def issue(column: str | None, message: str, line: int = line) -> None:
            where = f"Line {line}" + (f", column '{column}'" if column is not None else "")
            issues.append((line, column, f"{where}: {message}"))

        ok = True
        # site
        site = get("site")
        if not site:
            issue("site", "the site is empty; fill it in.")
            ok = False
        elif known is not None:
            if site.casefold() in known:
                site = known[site.casefold()]
            else:
                close = difflib.get_close_matches(site, sorted(known.values()), n=3, cutoff=0.5)
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                issue("site", f"site {site!r} is not registered.{hint} Upload it in a sites file "
                      "first, or fix the id.")
                ok = False
        # sample date
        text = get("sample_date")
        date = None
        if not text:
            issue("sample_date", "the sample_date is empty; write it as YYYY-MM-DD.")
            ok = False
        else:
            try:
                date = parse_date(text)
            except CellError as exc:
                issue("sample_date", f"{text!r} is not a valid date; {exc.hint}.")
                ok = False
            else:
                if date > today:
                    issue("sample_date", f"{text!r} is after today ({today.isoformat()}); check "
                          "the year and month.")
                    ok = False
        # replicate and composite hours: whole numbers in a range
        whole = {}
        for name, code_hint, default, high in (
                ("replicate", "write the replicate number as a whole number from 1 to 1000", 1,
                 1000),
                ("composite_hours", "write the sampling duration in whole hours 1-168 (24 for a "
                 "24-h composite)", 24, 168)):
            text = get(name)
            whole[name] = default
            if not text:
                continue
            try:
                number = parse_number(text, decimal_comma)
            except CellError:
                issue(name, f"{text!r} is not a whole number; {code_hint}.")
                ok = False
                whole[name] = None
                continue
            if not number.is_integer() or not 1 <= number <= high:
                issue(name, f"{text!r} is not allowed; {code_hint}.")
                ok = False
                whole[name] = None
                continue
            whole[name] = int(number)
            if name == "composite_hours" and number not in (24, 72):
                issue(name, f"a {int(number)}-hour composite is unusual (24 or 72 expected); "
                      "check the value. The row was kept.")
        # role
        text = get("sample_role")
        role = ROLE_ALIASES.get(re.sub(r"[\s\-]+", "_", text.casefold()) if text else "sample",
                                re.sub(r"[\s\-]+", "_", text.casefold()) if text else "sample")
        if role not in ROLES:
            issue("sample_role", f"{text!r} is not a sample role; write one of "
                  f"{', '.join(ROLES)}.")
            ok = False
        # flow
        text = get("flow_m3_per_day")
        flow = math.nan
        if text:
            try:
                flow = parse_number(text, decimal_comma)
                if flow < 0:
                    issue("flow_m3_per_day", f"{text!r} is negative; flow cannot be below 0.")
                    ok = False
            except CellError as exc:
                issue("flow_m3_per_day", f"{text!r} is not a number; {exc.hint}.")
                ok = False
        # free texts
        for name in ("lab", "method", "comment"):
            text = get(name)
            if text and looks_like_formula(text):
                issue(name, f"{text[:40]!r} starts with '{text[0]}', which a spreadsheet would run "
                      "as a formula; it is stored as plain text.")
        # analyte and unit
        analyte = get("analyte")
        if not analyte:
            issue("analyte", "the analyte is empty; fill it in.")
            ok = False
        elif try_resolve_analyte(analyte) is None:
            close = closest_analytes(analyte)
            hint = (f" Closest known names: {', '.join(close)}." if close
                    else " See the list of analytes.")
            issue("analyte", f"analyte {analyte!r} is not in the substance catalogue.{hint}")
            ok = False
        else:
            analyte = try_resolve_analyte(analyte)
        unit_text = get("unit")
        factor = None
        if not unit_text:
            issue("unit", f"the unit is empty; write one of {UNITS}.")
            ok = False
        else:
            try:
                factor = parse_unit(unit_text).factor_to_canonical
            except UnitError:
                issue("unit", f"unit {unit_text!r} is not accepted; use one of {UNITS}.")
                ok = False
        if not ok:
            continue
        # the concentration: qualifier, value, limits
        q_text, v_text = get("qualifier"), get("value")
        qualifier = "none"
        if q_text:
            try:
                qualifier = parse_qualifier(q_text)
            except CellError as exc:
                issue("qualifier", f"{q_text!r}: {exc.hint}.")
                continue
        try:
            censor, number = parse_censored(v_text, decimal_comma)
        except CellError as exc:
            issue("value", f"{v_text!r} is not a concentration; {exc.hint}.")
            continue
        limits = {}
        for name in ("loq", "lod"):
            text = get(name)
            limits[name] = math.nan
            if not text:
                continue
            try:
                limits[name] = parse_number(text, decimal_comma) * factor
                if limits[name] < 0:
                    issue(name, f"{text!r} is negative; a limit cannot be below 0.")
            except CellError as exc:
                issue(name, f"{text!r} is not a number; {exc.hint}.")
                limits[name] = None
        if any(v is None or v < 0 for v in limits.values()):
            continue
        loq, lod = limits["loq"], limits["lod"]
        if censor == "empty" and qualifier == "none":
            issue("value", "the value is empty; write the measured value, or <LOQ, <2.5, ND for a "
                  "censored result.")
            continue
        if censor == "empty" and qualifier == "D":
            issue("value", "the qualifier D (detected below the LOQ) needs the reported value; "
                  "write it, or write <LOQ in the qualifier if the lab reported no value.")
            continue
        if censor == "none" and qualifier in ("<LOD", "ND"):
            issue("value", f"the value {v_text!r} is a measured number but the qualifier says "
                  f"{qualifier}; either empty the qualifier or write the value as <{v_text}.")
            continue
        if censor not in ("empty", "none") and qualifier == "D":
            issue("value", f"the value {v_text!r} is censored but the qualifier D says a value was "
                  "detected and reported; write the reported value, or write <LOQ as qualifier.")
            continue
        if number is not None and number < 0:
            issue("value", f"{v_text!r} is negative; a concentration cannot be below 0.")
            continue
        if censor == "empty" or (censor != "none" and qualifier != "none"):
            censor = qualifier
        elif censor == "none" and qualifier in ("<LOQ", "D"):
            censor = "D"
        value = math.nan
        if censor in ("none", "D"):
            value = number * factor
        elif number is not None and censor == "<LOQ":
            loq = number * factor
        elif number is not None:
            lod = number * factor
        if censor == "D" and not math.isnan(loq) and value >= loq:
            issue("value", f"the value {v_text!r} ({value:g} ng/L) is at or above the LOQ "
                  f"({loq:g} ng/L), but the qualifier says it is below the LOQ; empty the "
                  "qualifier if the value is quantified, or check the value and the LOQ.")
            continue
        if censor == "D" and not math.isnan(lod) and value < lod:
            issue("value", f"the value {v_text!r} ({value:g} ng/L) is below the LOD ({lod:g} "
                  "ng/L), so it cannot be 'detected below the LOQ'; write <LOD (or ND) if it was "
                  "not detected, or check the value and the LOD.")
            continue
        if censor == "<LOQ" and math.isnan(loq):
            shown = v_text or q_text
            issue("value", f"{shown!r} gives no LOQ; write it as <2.5 (the LOQ number) or add a "
                  "loq column. The row was kept without an LOQ.")
        sample_id = get("sample_id") or f"{site}-{date:%Y%m%d}"
        records.append({"line": line, "key": (sample_id, analyte, whole["replicate"], role),
                        "value_ng_per_l": value, "censor": censor, "loq_ng_per_l": loq,
                        "lod_ng_per_l": lod, "flow_m3_per_day": flow})
    # duplicate records: every later one names the first; all of them are rejected
    first: dict[tuple, int] = {}
    duplicated: set[tuple] = set()
    for record in records:
        key, line = record["key"], record["line"]
        if key not in first:
            first[key] = line
            continue
        duplicated.add(key)
        sample_id, analyte, replicate, role = key
        issues.append((line, None, (
            f"Line {line}: same sample_id '{sample_id}', analyte '{analyte}', replicate "
            f"{replicate} and sample_role '{role}' as line {first[key]}; keep one of lines "
            f"{first[key]} and {line} (both were rejected), or give them different replicate "
            "numbers.")))
    issues.sort(key=lambda i: i[0])  # by line; a line's own issues keep their reading order
    return issues, [r for r in records if r["key"] not in duplicated]
