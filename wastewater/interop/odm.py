"""PHES-ODM v2.2.3 export and import of results, sites and flows.

The Public Health Environmental Surveillance Open Data Model (PHES-ODM) v2.2.3 [PHESODM]_ is a long
format: one ``measures`` row per sample × measure with its unit and aggregation, plus
``samples``, ``sites`` and ``qualityReports`` tables. The export is valid against the v2.2.3
dictionary (``ODM_parts``/``ODM_sets``): every table, column, category, boolean, data type and
length limit is ODM's, except the *extension parts* of ``odm_extensions.csv`` next to this
module. ODM has no illicit-drug measures and no ng/L unit, so those are added the way ODM adds
any part (its new-part rules: a unique alphanumeric ``partID`` not starting with a digit, a
``partType``, and membership of existing sets): 21 drug measures (``benzoylecg``, ``mdma`` …),
the unit ``ngL`` (joins ``stdConcentrationUnitSet``), attributes for what ODM has no place for
(``extLoq``, ``extLab`` … ``ext`` prefix) and the table ``extPopulations``. The service's own
terms map to ODM codes through ``odm_vocabulary.csv`` (``kind, local, odm, description``).

Mapping (service → ODM)
-----------------------
- results row → ``measures`` row: ``measureRepID`` (a 30-character digest of sample id,
  measure, replicate and role), ``sampleID, siteID, measure`` (vocabulary), ``specimen`` (``sa``,
  or ``sit`` where the measure's specimen set has no ``sa``), ``fraction = mix``,
  ``unit = ngL``, ``aggregation = sin``, ``value`` (shortest exact text; ``nr`` when censored
  without a number), ``index = replicate``, ``reportable`` ``TRUE`` for routine samples,
  ``notes = comment``, ``aDateEnd = nr`` (the analysis date is not known to the service);
  extension attributes ``extLoq, extLod`` [ng/L], ``extLab, extMethod, extOrigValue,
  extOrigUnit, extSampleRole``.
- censored result → ``qualityReports`` row: ``qualityFlag`` ``belowLOQ``/``beLOD``/``flagND``
  for ``censor`` ``<LOQ``/``<LOD``/``ND``, linked by ``measureRepID``.
- a sample's lab-reported flow → one ``floRate`` measure (unit ``m3D``) per ``sample_id`` and
  role; a flows-upload row → ``floRate`` on a sample ``flow:<site>:<date>`` with
  ``extSampleRole = flow``.
- sample → ``samples`` row: ``sampleID, siteID, saMaterial = rawWW, collType = comp,
  collPer`` (composite hours),
  ``collNum = NA`` (ODM: NA for proportional sampling), ``collDT = collDTStart`` (the collection
  start day, the service's ``sample_date``), ``collDTEnd = start + collPer``.
- site → ``sites`` row (latest population year): ``siteID, siteType`` (``wwtp``/``upstream``),
  ``sampleShed`` (``municp``/``neigh``), ``contactID = nr``, ``name`` (first 30 characters;
  the whole name in ``descr`` when longer), ``popServ, geoLat, geoLong, geoEPSG = 4326`` plus
  ``extMunicipality, extPopYear, extPopMethod, extTreatPlant``; every population year →
  ``extPopulations`` (``siteID, popServ, extPopYear, extPopMethod``).
- Identifiers and text longer than ODM allows (``sampleID``/``siteID`` 30, ``value`` 15,
  ``notes`` 200 characters) are shortened in the ODM column and carried whole in
  ``extSampleID``/``extSiteID``/``extValue``/``extNotes``, so the round trip stays lossless.

Every exported cell is text (``None`` = empty), as it is written to CSV.

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Iterable
from functools import lru_cache
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

_HERE = Path(__file__).resolve().parent
VOCABULARY_PATH = _HERE / "odm_vocabulary.csv"
EXTENSIONS_PATH = _HERE / "odm_extensions.csv"

MEASURES_COLUMNS = ["measureRepID", "sampleID", "siteID", "aDateEnd", "specimen", "fraction",
                    "measure", "value", "unit", "aggregation", "index", "reportable", "notes",
                    "extValue", "extNotes", "extLoq", "extLod", "extLab", "extMethod",
                    "extOrigValue", "extOrigUnit", "extSampleRole"]
SAMPLES_COLUMNS = ["sampleID", "siteID", "saMaterial", "collType", "collPer", "collNum", "collDT",
                   "collDTStart", "collDTEnd", "extSampleID", "extSiteID"]
SITES_COLUMNS = ["siteID", "siteType", "sampleShed", "contactID", "name", "descr", "popServ",
                 "geoLat", "geoLong", "geoEPSG", "extSiteID", "extMunicipality", "extPopYear",
                 "extPopMethod", "extTreatPlant"]
QUALITY_COLUMNS = ["qualityReportID", "measureRepID", "sampleID", "qualityFlag"]
POPULATIONS_COLUMNS = ["siteID", "popServ", "extSiteID", "extPopYear", "extPopMethod"]
TABLES = {"measures": MEASURES_COLUMNS, "samples": SAMPLES_COLUMNS, "sites": SITES_COLUMNS,
          "qualityReports": QUALITY_COLUMNS, "extPopulations": POPULATIONS_COLUMNS}
"""ODM tables written by :func:`export_odm` and their columns, in order."""
REQUIRED_TABLES = ("measures", "samples")

RESULT_COLUMNS = ["sample_id", "site", "sample_date", "analyte", "replicate", "value_ng_per_l",
                  "censor", "loq_ng_per_l", "lod_ng_per_l", "flow_m3_per_day", "composite_hours",
                  "sample_role", "lab", "method", "comment", "original_value", "original_unit"]
SITE_COLUMNS = ["site", "name", "municipality", "population", "population_year",
                "population_method", "lat", "lon", "treatment_plant"]
FLOW_COLUMNS = ["site", "date", "flow_m3_per_day"]
"""Service frames (docs/architecture.md) that round-trip; ``source_line`` is not carried."""

FLOW_MEASURE = "floRate"
NOT_REPORTED = "nr"
NOT_APPLICABLE = "NA"
ID_MAX, VALUE_MAX, NOTES_MAX, NAME_MAX = 30, 15, 200, 30
"""ODM v2.2.3 length limits (``maxLength`` in ODM_parts) of ids, ``value``, ``notes``, ``name``."""

CONCENTRATION_UNITS_TO_NG_PER_L = {"ngL": 1.0, "mgL": 1e6}
FLOW_UNITS_TO_M3_PER_DAY = {"m3D": 1.0, "m3H": 24.0, "m3S": 86400.0, "mld": 1000.0}
"""ODM units the importer converts (ODM ``stdConcentrationUnitSet``/``flowUnitSet`` members and
the extension ``ngL``): factor to the service's canonical unit."""


@lru_cache(maxsize=1)
def vocabulary() -> pd.DataFrame:
    """The vocabulary (``kind, local, odm, description``) from ``odm_vocabulary.csv``."""
    return pd.read_csv(VOCABULARY_PATH, dtype=str, keep_default_na=False)


@lru_cache(maxsize=1)
def extensions() -> pd.DataFrame:
    """The extension parts (ODM parts-table shape) from ``odm_extensions.csv``: ``partID,
    partType, partLabel, partDesc, table`` (``;``-separated tables an attribute belongs to),
    ``required, dataType, maxLength, sets`` (sets a category or unit joins) and, for
    measurements, ``specimenSet, unitSet, aggregationSet, qualityIndSet``.
    """
    return pd.read_csv(EXTENSIONS_PATH, dtype=str, keep_default_na=False)


def _map(kind: str, reverse: bool = False) -> dict[str, str]:
    v = vocabulary()
    v = v[v["kind"] == kind]
    return dict(zip(v["odm"], v["local"])) if reverse else dict(zip(v["local"], v["odm"]))


@lru_cache(maxsize=1)
def _site_measures() -> frozenset[str]:
    """Measures whose ODM specimen set holds only ``sit`` (a site property, e.g. flow, BOD5)."""
    return frozenset({"floRate", "bod5t"})


def _opt_str(v: object) -> str | None:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    s = str(v)
    return None if s == "" else s


def _missing_code(v: object) -> bool:
    return _opt_str(v) is None or str(v) in (NOT_REPORTED, NOT_APPLICABLE)


def _digest(*parts: str, prefix: str = "m", size: int = ID_MAX) -> str:
    h = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=16).hexdigest()
    return (prefix + h)[:size]


def odm_id(text: str) -> tuple[str, str | None]:
    """``(id, full)``: ``text`` itself when it fits ODM's 30 characters (``full`` None), else its
    first 19 characters, ``~`` and a 10-character digest, with ``full = text``.
    """
    if len(text) <= ID_MAX:
        return text, None
    return text[:19] + "~" + _digest(text, prefix="", size=10), text


def num_text(v: Any) -> str | None:
    """Shortest text that reads back as the same float (``348`` not ``348.0``); None for NaN."""
    if v is None or v is pd.NA:
        return None
    x = float(v)
    if math.isnan(x):
        return None
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _fit_value(v: Any) -> tuple[str | None, str | None]:
    """``(value, extValue)``: the shortest exact text when it fits 15 characters, else the
    value rounded to fit and the exact text in ``extValue``.
    """
    s = num_text(v)
    if s is None or len(s) <= VALUE_MAX:
        return s, None
    x = float(v)
    for digits in range(15, 0, -1):
        r = f"{x:.{digits}g}"
        if len(r) <= VALUE_MAX:
            return r, s
    return s[:VALUE_MAX], s  # pragma: no cover - unreachable for finite floats


def _fit_text(v: object, limit: int) -> tuple[str | None, str | None]:
    s = _opt_str(v)
    if s is None or len(s) <= limit:
        return s, None
    return s[:limit], s


def _pick(pairs: pd.Series, i: int) -> pd.Series:
    """Element ``i`` of a Series of tuples (object dtype, also when empty)."""
    return pd.Series([t[i] for t in pairs], index=pairs.index, dtype=object)


def _bool(x: object) -> str:
    return "TRUE" if bool(x) else "FALSE"


def _texts(values: Iterable[object]) -> list[str | None]:
    return [num_text(x) for x in values]


def normalise_results(frame: pd.DataFrame) -> pd.DataFrame:
    """
    The :data:`RESULT_COLUMNS` of a results frame with fixed dtypes: dates ``datetime64[ns]``
    (day precision), ``replicate``/``composite_hours`` int64, numbers float64, text ``object``
    with ``None`` for missing/empty optional text. Both sides of a round trip pass through this.
    """
    f = frame[RESULT_COLUMNS].copy().reset_index(drop=True)
    f["sample_date"] = pd.to_datetime(f["sample_date"]).dt.normalize().astype("datetime64[ns]")
    for c in ("replicate", "composite_hours"):
        f[c] = f[c].astype("int64")
    for c in ("value_ng_per_l", "loq_ng_per_l", "lod_ng_per_l", "flow_m3_per_day"):
        f[c] = f[c].astype("float64")
    for c in ("sample_id", "site", "analyte", "censor", "sample_role"):
        f[c] = pd.Series([str(x) for x in f[c]], dtype=object)
    for c in ("lab", "method", "comment", "original_value", "original_unit"):
        f[c] = pd.Series([_opt_str(x) for x in f[c]], dtype=object)
    return f


def normalise_sites(frame: pd.DataFrame) -> pd.DataFrame:
    """:data:`SITE_COLUMNS` with fixed dtypes (``population`` int64, ``population_year`` Int64,
    ``lat``/``lon`` float64, text ``object``/``None``), one row per site and population year.
    """
    f = frame.copy()
    if "population_method" not in f:
        f["population_method"] = "de_jure"
    f = f[SITE_COLUMNS].reset_index(drop=True)
    f["population"] = f["population"].astype("int64")
    f["population_year"] = f["population_year"].astype("Int64")
    for c in ("lat", "lon"):
        f[c] = f[c].astype("float64")
    for c in ("site", "name", "municipality", "population_method"):
        f[c] = pd.Series([str(x) for x in f[c]], dtype=object)
    f["treatment_plant"] = pd.Series([_opt_str(x) for x in f["treatment_plant"]], dtype=object)
    return f


def normalise_flows(frame: pd.DataFrame) -> pd.DataFrame:
    """:data:`FLOW_COLUMNS` with ``date`` datetime64[ns] and ``flow_m3_per_day`` float64."""
    f = frame[FLOW_COLUMNS].copy().reset_index(drop=True)
    f["site"] = pd.Series([str(x) for x in f["site"]], dtype=object)
    f["date"] = pd.to_datetime(f["date"]).dt.normalize().astype("datetime64[ns]")
    f["flow_m3_per_day"] = f["flow_m3_per_day"].astype("float64")
    return f


def _conflict(frame: pd.DataFrame, key: list[str], cols: list[str], what: str) -> None:
    g = frame.groupby(key, sort=False, dropna=False)[cols].nunique(dropna=False)
    bad = g[(g > 1).any(axis=1)]
    if len(bad):
        cols = list(bad.columns[(bad > 1).any()])
        raise ValueError(f"{what} {bad.index[0]!r} has conflicting {cols} across rows; ODM "
                         "stores them once per sample — fix the input rows")


def _frame(rows: dict[str, Any], columns: list[str]) -> pd.DataFrame:
    f = pd.DataFrame(rows, columns=columns)
    return f.astype(object).where(f.notna(), None)


def export_odm(results: pd.DataFrame, sites: pd.DataFrame | None = None,
               flows: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """
    Convert service frames to PHES-ODM v2.2.3 tables.

    Parameters
    ----------
    results : pd.DataFrame
        Results frame (docs/architecture.md): concentrations [ng/L], flow [m³/day].
    sites : pd.DataFrame, optional
        Sites frame, one row per site and population year.
    flows : pd.DataFrame, optional
        Flows frame [m³/day].

    Returns
    -------
    dict of str → pd.DataFrame
        ``measures``, ``samples``, ``sites``, ``qualityReports``, ``extPopulations`` with the
        columns of :data:`TABLES` (mapping in the module docstring); every cell is text or
        ``None`` (empty).

    Raises
    ------
    ValueError
        A ``sample_id`` with two sites, dates or composite durations, two different flows for
        one sample and role, or an analyte/censor/role missing from the vocabulary.
    """
    r = normalise_results(results)
    measure_of, quality_of, role_of = _map("measure"), _map("quality"), _map("sample_role")
    unknown = sorted(set(r["analyte"]) - set(measure_of))
    if unknown:
        raise ValueError(f"analyte(s) {unknown} have no ODM code in {VOCABULARY_PATH.name}; "
                         "add a row of kind 'measure' (and an extension part if ODM lacks it)")
    bad_role = sorted(set(r["sample_role"]) - set(role_of))
    if bad_role:
        raise ValueError(f"sample_role(s) {bad_role} unknown; expected {sorted(role_of)}")
    bad_censor = sorted(set(r["censor"]) - set(quality_of) - {"none"})
    if bad_censor:
        raise ValueError(f"censor value(s) {bad_censor} unknown; expected none, <LOQ, <LOD, ND")
    _conflict(r, ["sample_id"], ["site", "sample_date", "composite_hours"], "sample_id")
    _conflict(r, ["sample_id", "sample_role"], ["flow_m3_per_day"], "sample_id/role")
    unit_ng, unit_flow = _map("unit")["ng/L"], _map("unit")["m3/day"]
    fraction = _map("fraction")["whole"]
    site_only = _site_measures()

    sid = r["sample_id"].map(odm_id)
    site_id = r["site"].map(odm_id)
    code = r["analyte"].map(measure_of)
    rep_id = [_digest(s, c, str(i), ro) for s, c, i, ro in
              zip(r["sample_id"], code, r["replicate"], r["sample_role"])]
    val = r["value_ng_per_l"].map(_fit_value)
    notes = r["comment"].map(lambda c: _fit_text(c, NOTES_MAX))
    m = _frame({
        "measureRepID": rep_id, "sampleID": _pick(sid, 0), "siteID": _pick(site_id, 0),
        "aDateEnd": NOT_REPORTED,
        "specimen": np.where(code.isin(site_only), "sit", "sa"), "fraction": fraction,
        "measure": code, "value": [v[0] or NOT_REPORTED for v in val], "unit": unit_ng,
        "aggregation": "sin", "index": r["replicate"].astype(str),
        "reportable": (r["sample_role"] == "sample").map(_bool),
        "notes": _pick(notes, 0), "extValue": _pick(val, 1), "extNotes": _pick(notes, 1),
        "extLoq": _texts(r["loq_ng_per_l"]), "extLod": _texts(r["lod_ng_per_l"]),
        "extLab": r["lab"], "extMethod": r["method"], "extOrigValue": r["original_value"],
        "extOrigUnit": r["original_unit"], "extSampleRole": r["sample_role"].map(role_of),
    }, MEASURES_COLUMNS)
    cens = r["censor"] != "none"
    q = _frame({
        "qualityReportID": [_digest(x, prefix="q") for x in np.asarray(rep_id)[cens.to_numpy()]],
        "measureRepID": np.asarray(rep_id)[cens.to_numpy()],
        "sampleID": _pick(sid, 0)[cens].to_numpy(),
        "qualityFlag": r.loc[cens, "censor"].map(quality_of).to_numpy()}, QUALITY_COLUMNS)

    fl = r.dropna(subset=["flow_m3_per_day"]).drop_duplicates(["sample_id", "sample_role"])
    fval = fl["flow_m3_per_day"].map(_fit_value)
    fm = _frame({
        "measureRepID": [_digest(s, FLOW_MEASURE, "1", ro) for s, ro in
                         zip(fl["sample_id"], fl["sample_role"])],
        "sampleID": fl["sample_id"].map(lambda s: odm_id(s)[0]),
        "siteID": fl["site"].map(lambda s: odm_id(s)[0]), "aDateEnd": NOT_REPORTED,
        "specimen": "sit", "fraction": NOT_APPLICABLE, "measure": FLOW_MEASURE,
        "value": _pick(fval, 0), "unit": unit_flow, "aggregation": "sin", "index": "1",
        "reportable": (fl["sample_role"] == "sample").map(_bool), "extValue": _pick(fval, 1),
        "extSampleRole": fl["sample_role"].map(role_of),
    }, MEASURES_COLUMNS)
    smp = r.drop_duplicates("sample_id")
    parts_m, parts_s = [m, fm], [_samples(smp["sample_id"], smp["site"], smp["sample_date"],
                                          smp["composite_hours"])]
    if flows is not None and len(flows):
        f = normalise_flows(flows)
        fsid = "flow:" + f["site"] + ":" + f["date"].dt.strftime("%Y-%m-%d")
        v = f["flow_m3_per_day"].map(_fit_value)
        parts_m.append(_frame({
            "measureRepID": [_digest(s, FLOW_MEASURE, "1", "flow") for s in fsid],
            "sampleID": fsid.map(lambda s: odm_id(s)[0]),
            "siteID": f["site"].map(lambda s: odm_id(s)[0]), "aDateEnd": NOT_REPORTED,
            "specimen": "sit", "fraction": NOT_APPLICABLE, "measure": FLOW_MEASURE,
            "value": _pick(v, 0), "unit": unit_flow, "aggregation": "sin", "index": "1",
            "reportable": "TRUE", "extValue": _pick(v, 1), "extSampleRole": role_of["flow"]},
            MEASURES_COLUMNS))
        parts_s.append(_samples(fsid, f["site"], f["date"], pd.Series(24, index=f.index)))
    measures = pd.concat([x for x in parts_m if len(x)] or [parts_m[0]], ignore_index=True)
    samples = pd.concat([x for x in parts_s if len(x)] or [parts_s[0]], ignore_index=True)
    site_tab, pops = _export_sites(sites)
    return {"measures": measures[MEASURES_COLUMNS], "samples": samples[SAMPLES_COLUMNS],
            "sites": site_tab, "qualityReports": q, "extPopulations": pops}


def _samples(sample_ids: pd.Series, sites: pd.Series, start: pd.Series,
             hours: pd.Series) -> pd.DataFrame:
    sid = sample_ids.map(odm_id)
    site = sites.map(odm_id)
    start = pd.to_datetime(start)
    return _frame({
        "sampleID": _pick(sid, 0), "siteID": _pick(site, 0),
        "saMaterial": _map("sample_material")["influent"],
        "collType": _map("collection")["composite"],
        "collPer": hours.astype(int).astype(str), "collNum": NOT_APPLICABLE,
        "collDT": start.dt.strftime("%Y-%m-%d"),
        "collDTStart": start.dt.strftime("%Y-%m-%dT%H:%M"),
        "collDTEnd": (start + pd.to_timedelta(hours.astype(int), unit="h"))
        .dt.strftime("%Y-%m-%dT%H:%M"),
        "extSampleID": _pick(sid, 1), "extSiteID": _pick(site, 1)}, SAMPLES_COLUMNS)


def _export_sites(sites: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    if sites is None or not len(sites):
        return _frame({}, SITES_COLUMNS), _frame({}, POPULATIONS_COLUMNS)
    s = normalise_sites(sites)
    sid = s["site"].map(odm_id)
    pops = _frame({"siteID": _pick(sid, 0), "popServ": s["population"].astype(str),
                   "extSiteID": _pick(sid, 1),
                   "extPopYear": [None if pd.isna(y) else str(int(y))
                                  for y in s["population_year"]],
                   "extPopMethod": s["population_method"]}, POPULATIONS_COLUMNS)
    # latest population year per site (a missing year counts as oldest), first occurrence order
    order = s.assign(_y=s["population_year"].fillna(-1).astype("int64"),
                     _i=np.arange(len(s)))
    latest = order.sort_values(["_y", "_i"]).groupby("site", sort=False).tail(1)
    latest = latest.set_index("site").loc[pd.unique(s["site"])].reset_index()
    plant = (latest["name"] == latest["treatment_plant"]).to_numpy()
    kind = np.where(plant, "treatment_plant", "sub_catchment")
    lid = latest["site"].map(odm_id)
    name = latest["name"].map(lambda n: _fit_text(n, NAME_MAX))
    has_geo = latest["lat"].notna() & latest["lon"].notna()
    tab = _frame({
        "siteID": _pick(lid, 0), "siteType": pd.Series(kind).map(_map("site_type")),
        "sampleShed": pd.Series(kind).map(_map("sample_shed")), "contactID": NOT_REPORTED,
        "name": _pick(name, 0), "descr": _pick(name, 1), "popServ": latest["population"].astype(str),
        "geoLat": _texts(latest["lat"]), "geoLong": _texts(latest["lon"]),
        "geoEPSG": ["4326" if g else None for g in has_geo],
        "extSiteID": _pick(lid, 1), "extMunicipality": latest["municipality"],
        "extPopYear": [None if pd.isna(y) else str(int(y)) for y in latest["population_year"]],
        "extPopMethod": latest["population_method"],
        "extTreatPlant": latest["treatment_plant"]}, SITES_COLUMNS)
    return tab, pops


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame:
        return pd.Series([_opt_str(x) for x in frame[name]], index=frame.index, dtype=object)
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _full(frame: pd.DataFrame, short: str, full: str) -> pd.Series:
    """The whole text: ``full`` (extension column) where set, else ``short``."""
    s, f = _col(frame, short), _col(frame, full)
    return f.where(f.notna(), s)


def _numbers(short: pd.Series, exact: pd.Series | None = None) -> pd.Series:
    s = short.where(~short.map(_missing_code), None) if len(short) else short
    if exact is not None:
        s = exact.where(exact.notna(), s)
    return pd.to_numeric(s, errors="raise").astype(float)


def import_odm(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """
    Convert PHES-ODM tables (as written by :func:`export_odm`, or by another ODM producer) back
    to service frames.

    Parameters
    ----------
    tables : dict
        ``measures`` and ``samples`` (required), ``sites``, ``qualityReports`` and
        ``extPopulations`` (optional), e.g. from :func:`read_odm_csv`.

    Returns
    -------
    dict
        ``results`` (:data:`RESULT_COLUMNS`), ``sites`` (:data:`SITE_COLUMNS`) and ``flows``
        (:data:`FLOW_COLUMNS`), normalised with :func:`normalise_results` etc.

    Raises
    ------
    ValueError
        An unknown measure code, a unit that is not a concentration (or flow) unit — e.g. a
        population-normalised load, which belongs in the reference series
        (:mod:`wastewater.interop.reference_series`) — or a measure whose sample is missing.

    Notes
    -----
    Measures without the ``ext*`` columns (another ODM producer) are accepted when their
    measure is in the vocabulary and their unit is a concentration unit (``ngL``, ``mgL``;
    converted to ng/L) or, for ``floRate``, a flow unit (``m3D``, ``m3H``, ``m3S``, ``mld``):
    LOQ/LOD, lab and method are then missing and ``sample_role`` is ``sample``. Censoring is
    read from ``qualityReports`` (``belowLOQ``/``beLOD``/``flagND``) and, for ODM v2.0 files, a
    ``qualityFlag`` column of ``measures``.
    """
    meas = tables["measures"].copy()
    samples = tables["samples"].copy()
    samples["_sid"] = _col(samples, "sampleID")
    samples = samples.drop_duplicates("_sid").set_index("_sid")
    missing = sorted(set(_col(meas, "sampleID")) - set(samples.index))
    if missing:
        raise ValueError(f"measures refer to sampleID(s) {missing[:5]} not in the samples table")
    analyte_of, quality_back = _map("measure", reverse=True), _map("quality", reverse=True)
    role_back = _map("sample_role", reverse=True)
    code = _col(meas, "measure")
    unknown = sorted(set(code.dropna()) - set(analyte_of)) + (["(empty)"] if code.isna().any()
                                                             else [])
    if unknown:
        raise ValueError(f"ODM measure code(s) {unknown} not in {VOCABULARY_PATH.name}; "
                         f"known: {sorted(analyte_of)}")
    is_flow = (code == FLOW_MEASURE).to_numpy()
    unit = _col(meas, "unit")
    rep_id = _col(meas, "measureRepID")
    factor = np.where(is_flow, unit.map(FLOW_UNITS_TO_M3_PER_DAY),
                      unit.map(CONCENTRATION_UNITS_TO_NG_PER_L)).astype(float)
    bad = np.flatnonzero(np.isnan(factor))
    if len(bad):
        i = bad[0]
        what = ("a flow unit " + ", ".join(FLOW_UNITS_TO_M3_PER_DAY) if is_flow[i] else
                "a concentration unit " + ", ".join(CONCENTRATION_UNITS_TO_NG_PER_L))
        raise ValueError(
            f"measure {rep_id.iloc[i]!r} ({code.iloc[i]}) has unit {unit.iloc[i]!r}; expected "
            f"{what}. Results are concentrations per sample: population-normalised loads "
            "(mg/day/1000) are not results — import national series of loads as reference "
            "series (wastewater reference import)")
    value = _numbers(_col(meas, "value"), _col(meas, "extValue")) * factor
    roles = _col(meas, "extSampleRole").map(lambda x: role_back.get(x, "sample") if x
                                            else "sample")
    censor = pd.Series("none", index=meas.index, dtype=object)
    if "qualityFlag" in meas:  # ODM v2.0 files carried the flag on the measure
        censor = _col(meas, "qualityFlag").map(lambda q: quality_back.get(q, "none") if q
                                               else "none")
    qr = tables.get("qualityReports")
    if qr is not None and len(qr):
        flag_of = {}
        for mid, flag in zip(_col(qr, "measureRepID"), _col(qr, "qualityFlag")):
            if mid and flag in quality_back:
                flag_of[mid] = quality_back[flag]
        censor = pd.Series([flag_of.get(x, c) for x, c in zip(rep_id, censor)],
                           index=meas.index, dtype=object)

    sample_full = _full(samples, "sampleID", "extSampleID")
    site_full = _site_ids(tables, samples)
    res = ~is_flow
    smp = samples.loc[_col(meas, "sampleID")[res]]
    results = pd.DataFrame({
        "sample_id": sample_full.loc[smp.index].to_numpy(object),
        "site": [site_full.get(x, x) for x in _col(meas, "siteID")[res].fillna(
            pd.Series(_col(smp, "siteID").to_numpy(), index=meas.index[res]))],
        "sample_date": _days(smp),
        "analyte": code[res].map(analyte_of).to_numpy(),
        "replicate": pd.to_numeric(_col(meas, "index")[res]).fillna(1).astype("int64")
        .to_numpy(),
        "value_ng_per_l": value[res].to_numpy(float),
        "censor": censor[res].to_numpy(object),
        "loq_ng_per_l": (_numbers(_col(meas, "extLoq")) * factor)[res].to_numpy(float),
        "lod_ng_per_l": (_numbers(_col(meas, "extLod")) * factor)[res].to_numpy(float),
        "flow_m3_per_day": np.nan,
        "composite_hours": pd.to_numeric(_col(smp, "collPer")).fillna(24).astype("int64")
        .to_numpy(),
        "sample_role": roles[res].to_numpy(object),
        "lab": _col(meas, "extLab")[res].to_numpy(object),
        "method": _col(meas, "extMethod")[res].to_numpy(object),
        "comment": _full(meas, "notes", "extNotes")[res].to_numpy(object),
        "original_value": _col(meas, "extOrigValue")[res].to_numpy(object),
        "original_unit": _col(meas, "extOrigUnit")[res].to_numpy(object),
    })
    froles = roles[is_flow]
    fsid = _col(meas, "sampleID")[is_flow]
    fval = value[is_flow]
    lab_flow = froles != "flow"
    if lab_flow.any():
        key = dict(zip(zip(sample_full.loc[fsid[lab_flow]].to_numpy(object), froles[lab_flow]),
                       fval[lab_flow]))
        results["flow_m3_per_day"] = [key.get((s, ro), np.nan) for s, ro in
                                      zip(results["sample_id"], results["sample_role"])]
    site_flow = ~lab_flow
    fs = samples.loc[fsid[site_flow]]
    flows = pd.DataFrame({
        "site": [site_full.get(x, x) for x in _col(fs, "siteID")],
        "date": _days(fs),
        "flow_m3_per_day": fval[site_flow].to_numpy(float)})
    return {"results": normalise_results(results), "sites": _import_sites(tables),
            "flows": normalise_flows(flows)}


def _days(samples: pd.DataFrame) -> np.ndarray:
    """Collection start day (``collDTStart``, else ``collDT``) of each samples row."""
    start, coll = _col(samples, "collDTStart"), _col(samples, "collDT")
    days: np.ndarray = pd.to_datetime([(a or b or "")[:10] or None for a, b in zip(start, coll)]
                                      ).to_numpy("datetime64[ns]")
    return days


def _site_ids(tables: dict[str, pd.DataFrame], samples: pd.DataFrame) -> dict[str, str]:
    """ODM siteID → the service's full site id (from ``extSiteID`` where shortened)."""
    out: dict[str, str] = {}
    for t in (samples, tables.get("sites"), tables.get("extPopulations")):
        if t is not None and len(t) and "extSiteID" in t:
            for short, full in zip(_col(t, "siteID"), _col(t, "extSiteID")):
                if short and full:
                    out[short] = full
    return out


def _import_sites(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    st = tables.get("sites")
    if st is None or not len(st):
        return normalise_sites(pd.DataFrame({c: pd.Series(dtype=object) for c in SITE_COLUMNS})
                               .astype({"population": "int64", "lat": float, "lon": float}))
    st = st.copy()
    st["_id"] = _col(st, "siteID")
    pops = tables.get("extPopulations")
    if pops is None or not len(pops):
        pops = pd.DataFrame({"siteID": st["_id"], "popServ": _col(st, "popServ"),
                             "extPopYear": _col(st, "extPopYear"),
                             "extPopMethod": _col(st, "extPopMethod")})
    info = st.set_index("_id")
    p = pops.reset_index(drop=True)
    pid = _col(p, "siteID")
    full = _site_ids(tables, pd.DataFrame())
    at = info.loc[pid]
    out = pd.DataFrame({
        "site": [full.get(x, x) for x in pid],
        "name": _full(at, "name", "descr").to_numpy(object),
        "municipality": _col(at, "extMunicipality").to_numpy(object),
        "population": pd.to_numeric(_col(p, "popServ")).to_numpy(),
        "population_year": pd.to_numeric(_col(p, "extPopYear")).astype("Int64").to_numpy(),
        "population_method": [(x or "de_jure") for x in _col(p, "extPopMethod")],
        "lat": pd.to_numeric(_col(at, "geoLat")).to_numpy(float),
        "lon": pd.to_numeric(_col(at, "geoLong")).to_numpy(float),
        "treatment_plant": _col(at, "extTreatPlant").to_numpy(object),
    })
    return normalise_sites(out)


# --------------------------------------------------------------------------- CSV I/O
def format_odm_csv(tables: dict[str, pd.DataFrame]) -> dict[str, bytes]:
    """``{"measures.csv": bytes, …}``: UTF-8, comma, ``\\n``, blank for missing; the cells are
    the text of :func:`export_odm` (booleans ``TRUE``/``FALSE``, shortest exact numbers).
    """
    out = {}
    for name, frame in tables.items():
        f = frame.astype(object).where(frame.notna(), None)
        out[f"{name}.csv"] = f.to_csv(index=False, lineterminator="\n").encode("utf-8")
    return out


def read_odm_csv(files: dict[str, bytes | str | PathLike[str]] | str | PathLike[str]
                 ) -> dict[str, pd.DataFrame]:
    """
    Read ODM CSV tables: a directory holding ``measures.csv``, ``samples.csv`` … or a dict of
    file name → bytes/path. Every cell is read as text (empty = missing), so codes such as
    ``NA`` or ``nr`` stay text.
    """
    if not isinstance(files, dict):
        d = Path(files)
        files = {p.name: p for p in d.glob("*.csv")}
    tables = {}
    for name, data in files.items():
        raw = data if isinstance(data, (bytes, bytearray)) else Path(data).read_bytes()
        f = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, encoding="utf-8-sig")
        f = f.astype(object).where(f != "", None)
        tables[Path(name).stem] = f
    return tables


def write_odm_csv(tables: dict[str, pd.DataFrame], directory: str | PathLike[str]) -> list[Path]:
    """Write :func:`format_odm_csv` output into ``directory`` (created); return the paths."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in format_odm_csv(tables).items():
        (d / name).write_bytes(data)
        paths.append(d / name)
    return paths
