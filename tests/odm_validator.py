"""A PHES-ODM v2.2.3 validator driven by the official dictionary tables (test helper).

The rules are read from ``ODM_parts.csv`` and ``ODM_sets.csv`` (PHES-ODM Team 2025, v2.2.3,
CC BY-SA 4.0), which are *not* in this repository: they are looked up in ``shared/data/phes-odm``
beside the checkout (or in any parent directory; ``$PHES_ODM_DICTIONARY`` overrides). The
service's extension parts (``wastewater/interop/odm_extensions.csv``) are merged in the way ODM
adds parts: new ``partID``s with a ``partType``, table membership and set membership.

Rules (one :class:`Problem` per violation, ``severity`` ``error`` or ``warning``):

- ``unknown_table``: a file that is not an ODM data table (look-up tables excluded) or extension.
- ``unknown_column``: a column that is not an attribute of that table (``pK``/``fK``/``header``).
- ``missing_mandatory_column``: a ``mandatory`` attribute of the table is absent.
- ``empty_mandatory_value`` (error) / ``missing_value`` (warning, as ODM's own validator): a
  mandatory cell that is empty / holds an ODM missingness code (``NA``, ``nr`` …).
- ``invalid_type``: not an integer / float / ISO 8601 datetime / ``TRUE``-``FALSE`` boolean;
  a measure's ``value`` must fit the data type of its unit (``seeUnitData``).
- ``too_long`` / ``too_short`` and ``below_min`` / ``above_max``: ``maxLength``/``minLength``,
  ``minValue``/``maxValue`` of the attribute (and of the unit for ``value``).
- ``invalid_category``: a categorical cell outside its ``mmaSet``; ``measure`` must be a
  measurement part, ``unit``/``specimen``/``aggregation`` members of that measure's
  ``unitSet``/``specimenSet``/``aggregationSet``, ``qualityFlag`` a quality indicator.
- ``inactive_part``: a category or measure whose status is not ``active``.
- ``duplicate_key`` and ``missing_reference`` (``measures.sampleID`` in samples,
  ``qualityReports.measureRepID`` in measures, ``siteID`` in sites when sites are given).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
EXTENSIONS = REPO / "wastewater" / "interop" / "odm_extensions.csv"
_TABLE_ROLES = {"pk", "fk", "header"}
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
PART_ID_RULE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
"""ODM's new-part rule: alphanumeric, not starting with a digit, no spaces, '-', '_'."""


def dictionary_dir() -> Path:
    """``shared/data/phes-odm`` beside the checkout or in a parent directory (or
    ``$PHES_ODM_DICTIONARY``). Raises FileNotFoundError naming the places looked in."""
    env = os.environ.get("PHES_ODM_DICTIONARY")
    tried = []
    candidates = [Path(env)] if env else [p / "shared" / "data" / "phes-odm"
                                          for p in REPO.parents]
    for c in candidates:
        tried.append(str(c))
        if (c / "ODM_parts.csv").is_file() and (c / "ODM_sets.csv").is_file():
            return c
    raise FileNotFoundError(
        "the PHES-ODM v2.2.3 dictionary (ODM_parts.csv, ODM_sets.csv) is needed by the ODM "
        f"validity tests and was not found in: {tried}. Put the shared data beside the "
        "checkout (shared/data/phes-odm) or set PHES_ODM_DICTIONARY")


@dataclasses.dataclass(frozen=True)
class Problem:
    table: str
    row: int | None  # 1-based data row (header = row 0), None for table/column problems
    column: str | None
    rule: str
    value: str | None
    message: str
    severity: str = "error"


@dataclasses.dataclass(frozen=True)
class Dictionary:
    version: str
    parts: pd.DataFrame          # indexed by partID (ODM + extensions)
    sets: dict[str, set[str]]    # setID → member partIDs (ODM + extensions)
    tables: dict[str, dict[str, str]]  # table → {column: required}
    missing: frozenset[str]      # missingness codes
    extension_ids: frozenset[str]
    info: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)  # partID → row


def _read(path: Path) -> tuple[str, pd.DataFrame]:
    first = path.read_text(encoding="utf-8-sig").split("\n", 1)[0].split(",")
    return first[1], pd.read_csv(path, dtype=str, keep_default_na=False, skiprows=1,
                                 encoding="utf-8-sig")


@lru_cache(maxsize=2)
def load_dictionary(with_extensions: bool = True) -> Dictionary:
    d = dictionary_dir()
    version, parts = _read(d / "ODM_parts.csv")
    _, sets_tab = _read(d / "ODM_sets.csv")
    sets: dict[str, set[str]] = {}
    for sid, pid in zip(sets_tab["setID"], sets_tab["partID"]):
        sets.setdefault(sid, set()).add(pid)
    table_ids = parts.loc[(parts["partType"] == "tables") & (parts["class"] != "lookup")
                          & (parts["status"] == "active"), "partID"]
    tables = {}
    attrs = parts[parts["partType"] == "attributes"]
    for t in table_ids:
        if t not in parts.columns:
            continue
        on = attrs[attrs[t].str.lower().isin(_TABLE_ROLES)]
        tables[t] = dict(zip(on["partID"], on[t + "Required"]))
    ext_ids: set[str] = set()
    if with_extensions:
        ext = pd.read_csv(EXTENSIONS, dtype=str, keep_default_na=False)
        ext_ids = set(ext["partID"])
        rows = []
        for e in ext.itertuples(index=False):
            row = {c: "NA" for c in parts.columns}
            row.update({"partID": e.partID, "partType": e.partType, "partLabel": e.partLabel,
                        "partDesc": e.partDesc, "status": "active",
                        "dataType": e.dataType or "NA", "maxLength": e.maxLength or "NA",
                        "specimenSet": e.specimenSet or "NA", "unitSet": e.unitSet or "NA",
                        "aggregationSet": e.aggregationSet or "NA",
                        "qualityIndSet": e.qualityIndSet or "NA"})
            rows.append(row)
            if e.partType == "tables":
                tables[e.partID] = {}
            for s in filter(None, e.sets.split(";")):
                sets.setdefault(s, set()).add(e.partID)
        parts = pd.concat([parts, pd.DataFrame(rows)], ignore_index=True)
        for e in ext[ext["partType"] == "attributes"].itertuples(index=False):
            for t in filter(None, e.table.split(";")):
                tables.setdefault(t, {})[e.partID] = e.required or "optional"
        # attributes an extension table reuses from ODM
        if "extPopulations" in tables:
            tables["extPopulations"].setdefault("siteID", "mandatory")
            tables["extPopulations"].setdefault("popServ", "mandatory")
    missing = frozenset(parts.loc[parts["partType"] == "missingness", "partID"])
    info = {r["partID"]: r for r in parts.to_dict("records")}
    return Dictionary(version, parts.set_index("partID", drop=False), sets, tables, missing,
                      frozenset(ext_ids), info)


def _cell(x) -> str | None:
    if x is None or x is pd.NA or (isinstance(x, float) and x != x):
        return None
    s = str(x)
    return None if s == "" else s


def _num(x: str) -> float | None:
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


class _Checker:
    def __init__(self, d: Dictionary):
        self.d = d
        self.problems: list[Problem] = []

    def add(self, table, row, column, rule, value, message, severity="error"):
        self.problems.append(Problem(table, row, column, rule, value, message, severity))

    def part(self, pid: str) -> dict | None:
        return self.d.info.get(pid)

    def check_type(self, table, row, col, v, dtype, lo, hi, minlen, maxlen):
        if dtype == "integer" and not _INT.match(v):
            self.add(table, row, col, "invalid_type", v, f"{col} is an integer, got {v!r}")
            return
        if dtype == "float" and not _FLOAT.match(v):
            self.add(table, row, col, "invalid_type", v, f"{col} is a float, got {v!r}")
            return
        if dtype == "datetime":
            ok = bool(_ISO.match(v))
            if ok:
                try:
                    dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
                except ValueError:
                    ok = False
            if not ok:
                self.add(table, row, col, "invalid_type", v,
                         f"{col} is an ISO 8601 datetime, got {v!r}")
            return
        if dtype == "boolean" and v not in self.d.sets.get("booleanSet", {"TRUE", "FALSE"}):
            self.add(table, row, col, "invalid_type", v, f"{col} is a boolean (TRUE/FALSE), "
                     f"got {v!r}")
            return
        if dtype in ("integer", "float"):
            x = float(v)
            if lo is not None and x < lo:
                self.add(table, row, col, "below_min", v, f"{col} {v} < minValue {lo:g}")
            if hi is not None and x > hi:
                self.add(table, row, col, "above_max", v, f"{col} {v} > maxValue {hi:g}")
        if maxlen is not None and len(v) > maxlen:
            self.add(table, row, col, "too_long", v, f"{col} has {len(v)} characters, "
                     f"maxLength {maxlen}")
        if minlen is not None and minlen > 0 and len(v) < minlen:
            self.add(table, row, col, "too_short", v, f"{col} has {len(v)} characters, "
                     f"minLength {minlen}")

    def category(self, table, row, col, v, allowed: Iterable[str] | None, what: str):
        if allowed is not None and v not in allowed:
            self.add(table, row, col, "invalid_category", v, f"{v!r} is not in {what}")
            return
        p = self.part(v)
        if p is not None and p["status"] != "active":
            self.add(table, row, col, "inactive_part", v, f"{v!r} has status {p['status']}")


def _limits(p: dict):
    def n(key):
        x = _num(p.get(key))
        return x

    ml, xl = n("minLength"), n("maxLength")
    return n("minValue"), n("maxValue"), (int(ml) if ml is not None else None), (
        int(xl) if xl is not None else None)


def validate(tables: dict[str, pd.DataFrame], *, with_extensions: bool = True
             ) -> list[Problem]:
    """Every problem of ``tables`` (table name → frame of text cells, None/"" = empty)."""
    d = load_dictionary(with_extensions)
    c = _Checker(d)
    frames = {}
    for name, f in tables.items():
        frames[name] = pd.DataFrame({
            col: pd.Series([_cell(x) for x in f[col]], index=f.index, dtype=object)
            for col in f.columns})
    for name, f in frames.items():
        if name not in d.tables:
            c.add(name, None, None, "unknown_table", name, f"{name} is not an ODM table")
            continue
        cols = d.tables[name]
        for col in f.columns:
            if col not in cols:
                c.add(name, None, col, "unknown_column", col,
                      f"{col} is not a column of the ODM table {name}")
        for col, req in cols.items():
            if req == "mandatory" and col not in f.columns:
                c.add(name, None, col, "missing_mandatory_column", None,
                      f"mandatory column {col} of {name} is missing")
        for col in f.columns:
            if col not in cols:
                continue
            p = c.part(col)
            dtype = p["dataType"]
            lo, hi, minlen, maxlen = _limits(p)
            catset = p["mmaSet"] if p["mmaSet"] not in ("", "NA") else None
            for i, v in enumerate(f[col], start=1):
                if v is None:
                    if cols[col] == "mandatory":
                        c.add(name, i, col, "empty_mandatory_value", None,
                              f"mandatory {col} is empty")
                    continue
                if v in d.missing:
                    if cols[col] == "mandatory":
                        c.add(name, i, col, "missing_value", v,
                              f"mandatory {col} holds the missingness code {v!r}", "warning")
                    continue
                if dtype in ("integer", "float", "datetime", "boolean", "varchar",
                             "categorical"):
                    c.check_type(name, i, col, v, dtype, lo, hi, minlen, maxlen)
                if dtype == "categorical" and catset:
                    c.category(name, i, col, v, d.sets.get(catset, set()), catset)
        if name == "measures":
            _check_measures(c, f)
        if name == "qualityReports" and "qualityFlag" in f:
            qi = set(d.parts.index[d.parts["partType"] == "qualityIndicators"])
            for i, v in enumerate(f["qualityFlag"], start=1):
                if v is not None and v not in d.missing:
                    c.category(name, i, "qualityFlag", v, qi & d.sets["measQualitySet"],
                               "the measure quality indicators (measQualitySet)")
    _check_keys(c, frames)
    return c.problems


def _check_measures(c: _Checker, f: pd.DataFrame) -> None:
    d = c.d
    measurements = {k for k, r in d.info.items() if r["partType"] == "measurements"}
    for i, row in enumerate(f.to_dict("records"), start=1):
        m = row.get("measure")
        if m is None or m in d.missing:
            continue
        c.category("measures", i, "measure", m, measurements, "the ODM measurements")
        p = c.part(m)
        if p is None or m not in measurements:
            continue
        for col, key in (("unit", "unitSet"), ("specimen", "specimenSet"),
                         ("aggregation", "aggregationSet")):
            v = row.get(col)
            if v is None or v in d.missing:
                continue
            c.category("measures", i, col, v, d.sets.get(p[key], frozenset()), f"{p[key]} of {m}")
        unit, value = row.get("unit"), row.get("value")
        u = c.part(unit) if unit else None
        if u is not None and value is not None and value not in d.missing:
            dtype = u["dataType"] if p["dataType"] == "seeUnitData" else p["dataType"]
            lo, hi, _, _ = _limits(u)
            if dtype in ("integer", "float", "boolean", "datetime"):
                c.check_type("measures", i, "value", value, dtype, lo, hi, None, None)


_KEYS = {"measures": "measureRepID", "samples": "sampleID", "sites": "siteID",
         "qualityReports": "qualityReportID"}
_REFS = [("measures", "sampleID", "samples", "sampleID"),
         ("qualityReports", "measureRepID", "measures", "measureRepID"),
         ("measures", "siteID", "sites", "siteID"), ("samples", "siteID", "sites", "siteID"),
         ("extPopulations", "siteID", "sites", "siteID")]


def _check_keys(c: _Checker, frames: dict[str, pd.DataFrame]) -> None:
    for t, k in _KEYS.items():
        if t in frames and k in frames[t]:
            s = frames[t][k]
            for i in s.index[s.duplicated(keep="first") & s.notna()]:
                c.add(t, int(i) + 1, k, "duplicate_key", s[i], f"{k} {s[i]!r} appears twice")
    for t, col, target, key in _REFS:
        if t in frames and target in frames and col in frames[t] and key in frames[target]:
            have = set(frames[target][key].dropna())
            for i, v in enumerate(frames[t][col], start=1):
                if v is not None and v not in have and v not in c.d.missing:
                    c.add(t, i, col, "missing_reference", v, f"{col} {v!r} is not in {target}")


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def summary(problems: list[Problem]) -> pd.DataFrame:
    """Problems counted per table, column, rule, severity (for assertion messages)."""
    if not problems:
        return pd.DataFrame(columns=["table", "column", "rule", "severity", "n", "example"])
    f = pd.DataFrame([dataclasses.asdict(p) for p in problems])
    return (f.groupby(["table", "column", "rule", "severity"], dropna=False)
            .agg(n=("message", "size"), example=("message", "first")).reset_index())
