"""PHES-ODM v2 export and import of results, sites and flows (with a local vocabulary).

The Public Health Environmental Surveillance Open Data Model (PHES-ODM) v2.2.3 [PHESODM]_ is a long
format: one ``measures`` row per sample × measure with its unit, aggregation and quality flag,
plus ``samples`` and ``sites`` tables. ODM has no illicit-drug measures and no ng/L or
mg/day/1000 units [PHESODM]_, so the codes it lacks come from a documented local
vocabulary, ``odm_vocabulary.csv`` next to this module (``local:benzoylecgonine``,
``local:ngPerL`` …). Fields the service needs for a lossless round trip and ODM does not have
are written as extra columns prefixed ``local_`` (e.g. ``local_loq``); ODM tools can drop them.

Mapping (service → ODM)
-----------------------
- results row → ``measures`` row: ``measureRepID = sample_id|analyte|replicate|sample_role``,
  ``measure`` from the vocabulary, ``unit = local:ngPerL``, ``aggregation = sin``,
  ``index = replicate``, ``value = value_ng_per_l`` (blank when censored without a number),
  ``qualityFlag`` ``belowLOQ``/``beLOD`` for ``censor`` ``<LOQ``/``<LOD``, ``reportable`` true for
  routine samples, ``notes = comment``; ``local_loq``, ``local_lod`` [ng/L], ``local_lab``,
  ``local_method``, ``local_originalValue``, ``local_originalUnit``, ``local_sampleRole``.
- a sample's lab-reported flow → one ``floRate`` measure (unit ``local:m3PerDay``) per
  ``sample_id`` and role; a flows-upload row → ``floRate`` on a sample
  ``flow:<site>:<date>`` with ``local_sampleRole = flow``.
- sample → ``samples`` row: ``sampleID, siteID, saMaterial = rawWW, collType = comp,
  collDT = collDTStart`` (the collection start day, the service's ``sample_date``),
  ``collDTEnd = start + collPer``, ``collPer = composite_hours`` [h].
- site → ``sites`` row (latest population year): ``siteID, name, siteType, popServ, geoLat,
  geoLong, geoEPSG = 4326`` plus ``local_municipality, local_popYear, local_popMethod,
  local_treatmentPlant``; every population year → ``local_populations``
  (``siteID, popYear, popServ, popMethod``).

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

VOCABULARY_PATH = Path(__file__).resolve().parent / "odm_vocabulary.csv"

MEASURES_COLUMNS = ["measureRepID", "sampleID", "siteID", "measure", "specimen", "fraction",
                    "unit", "aggregation", "value", "aDateStart", "aDateEnd", "index",
                    "reportable", "qualityFlag", "notes", "local_loq", "local_lod", "local_lab",
                    "local_method", "local_originalValue", "local_originalUnit",
                    "local_sampleRole"]
SAMPLES_COLUMNS = ["sampleID", "siteID", "saMaterial", "collType", "collDT", "collDTStart",
                   "collDTEnd", "collPer", "collNum", "repType"]
SITES_COLUMNS = ["siteID", "name", "siteType", "popServ", "geoLat", "geoLong", "geoEPSG",
                 "parSiteID", "local_municipality", "local_popYear", "local_popMethod",
                 "local_treatmentPlant"]
POPULATIONS_COLUMNS = ["siteID", "popYear", "popServ", "popMethod"]
TABLES = {"measures": MEASURES_COLUMNS, "samples": SAMPLES_COLUMNS, "sites": SITES_COLUMNS,
          "local_populations": POPULATIONS_COLUMNS}
"""ODM tables written by :func:`export_odm` and their columns, in order."""

RESULT_COLUMNS = ["sample_id", "site", "sample_date", "analyte", "replicate", "value_ng_per_l",
                  "censor", "loq_ng_per_l", "lod_ng_per_l", "flow_m3_per_day", "composite_hours",
                  "sample_role", "lab", "method", "comment", "original_value", "original_unit"]
SITE_COLUMNS = ["site", "name", "municipality", "population", "population_year",
                "population_method", "lat", "lon", "treatment_plant"]
FLOW_COLUMNS = ["site", "date", "flow_m3_per_day"]
"""Service frames (docs/architecture.md) that round-trip; ``source_line`` is not carried."""

FLOW_MEASURE = "floRate"
_SEP = "|"


@lru_cache(maxsize=1)
def vocabulary() -> pd.DataFrame:
    """The local vocabulary (``kind, local, odm, description``) from ``odm_vocabulary.csv``."""
    return pd.read_csv(VOCABULARY_PATH, dtype=str, keep_default_na=False)


def _map(kind: str, reverse: bool = False) -> dict[str, str]:
    v = vocabulary()
    v = v[v["kind"] == kind]
    return dict(zip(v["odm"], v["local"])) if reverse else dict(zip(v["local"], v["odm"]))


def _opt_str(v: object) -> str | None:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    s = str(v)
    return None if s == "" else s


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


def export_odm(results: pd.DataFrame, sites: pd.DataFrame | None = None,
               flows: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """
    Convert service frames to PHES-ODM v2 tables.

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
        ``measures``, ``samples``, ``sites``, ``local_populations`` with the columns of
        :data:`TABLES` (mapping in the module docstring).

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
                         "add a row of kind 'measure'")
    bad_role = sorted(set(r["sample_role"]) - set(role_of))
    if bad_role:
        raise ValueError(f"sample_role(s) {bad_role} unknown; expected {sorted(role_of)}")
    bad_censor = sorted(set(r["censor"]) - set(quality_of) - {"none"})
    if bad_censor:
        raise ValueError(f"censor value(s) {bad_censor} unknown; expected none, <LOQ, <LOD, ND")
    _conflict(r, ["sample_id"], ["site", "sample_date", "composite_hours"], "sample_id")
    _conflict(r, ["sample_id", "sample_role"], ["flow_m3_per_day"], "sample_id/role")
    unit_ng, unit_flow = _map("unit")["ng/L"], _map("unit")["m3/day"]

    m = pd.DataFrame({
        "measureRepID": (r["sample_id"] + _SEP + r["analyte"] + _SEP + r["replicate"].astype(str)
                         + _SEP + r["sample_role"]),
        "sampleID": r["sample_id"], "siteID": r["site"],
        "measure": r["analyte"].map(measure_of), "specimen": "rawWW", "fraction": "local:whole",
        "unit": unit_ng, "aggregation": "sin", "value": r["value_ng_per_l"],
        "aDateStart": None, "aDateEnd": None, "index": r["replicate"],
        "reportable": r["sample_role"] == "sample",
        "qualityFlag": r["censor"].map(lambda c: quality_of.get(c)),
        "notes": r["comment"], "local_loq": r["loq_ng_per_l"], "local_lod": r["lod_ng_per_l"],
        "local_lab": r["lab"], "local_method": r["method"],
        "local_originalValue": r["original_value"], "local_originalUnit": r["original_unit"],
        "local_sampleRole": r["sample_role"].map(role_of),
    }, columns=MEASURES_COLUMNS)
    fl = r.dropna(subset=["flow_m3_per_day"]).drop_duplicates(["sample_id", "sample_role"])
    fm = pd.DataFrame({
        "measureRepID": fl["sample_id"] + _SEP + FLOW_MEASURE + _SEP + "1" + _SEP
        + fl["sample_role"],
        "sampleID": fl["sample_id"], "siteID": fl["site"], "measure": FLOW_MEASURE,
        "specimen": "rawWW", "fraction": None, "unit": unit_flow, "aggregation": "sin",
        "value": fl["flow_m3_per_day"], "index": 1, "reportable": fl["sample_role"] == "sample",
        "local_sampleRole": fl["sample_role"].map(role_of),
    }, columns=MEASURES_COLUMNS)
    smp = r.drop_duplicates("sample_id")
    start = smp["sample_date"]
    samples = pd.DataFrame({
        "sampleID": smp["sample_id"], "siteID": smp["site"], "saMaterial": "rawWW",
        "collType": "comp", "collDT": start.dt.strftime("%Y-%m-%d"),
        "collDTStart": start.dt.strftime("%Y-%m-%dT%H:%M"),
        "collDTEnd": (start + pd.to_timedelta(smp["composite_hours"], unit="h"))
        .dt.strftime("%Y-%m-%dT%H:%M"),
        "collPer": smp["composite_hours"], "collNum": None, "repType": None,
    }, columns=SAMPLES_COLUMNS)
    parts_m, parts_s = [m, fm], [samples]
    if flows is not None and len(flows):
        f = normalise_flows(flows)
        sid = "flow:" + f["site"] + ":" + f["date"].dt.strftime("%Y-%m-%d")
        parts_m.append(pd.DataFrame({
            "measureRepID": sid + _SEP + FLOW_MEASURE + _SEP + "1" + _SEP + "flow",
            "sampleID": sid, "siteID": f["site"], "measure": FLOW_MEASURE, "specimen": "rawWW",
            "unit": unit_flow, "aggregation": "sin", "value": f["flow_m3_per_day"], "index": 1,
            "reportable": True, "local_sampleRole": role_of["flow"]}, columns=MEASURES_COLUMNS))
        parts_s.append(pd.DataFrame({
            "sampleID": sid, "siteID": f["site"], "saMaterial": "rawWW", "collType": "comp",
            "collDT": f["date"].dt.strftime("%Y-%m-%d"),
            "collDTStart": f["date"].dt.strftime("%Y-%m-%dT%H:%M"),
            "collDTEnd": (f["date"] + pd.Timedelta(hours=24)).dt.strftime("%Y-%m-%dT%H:%M"),
            "collPer": 24}, columns=SAMPLES_COLUMNS))
    measures = pd.concat([p for p in parts_m if len(p)], ignore_index=True) if any(
        len(p) for p in parts_m) else pd.DataFrame(columns=MEASURES_COLUMNS)
    samples = pd.concat([p for p in parts_s if len(p)], ignore_index=True) if any(
        len(p) for p in parts_s) else pd.DataFrame(columns=SAMPLES_COLUMNS)
    site_tab, pops = _export_sites(sites)
    return {"measures": measures[MEASURES_COLUMNS], "samples": samples[SAMPLES_COLUMNS],
            "sites": site_tab, "local_populations": pops}


def _export_sites(sites: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    if sites is None or not len(sites):
        return pd.DataFrame(columns=SITES_COLUMNS), pd.DataFrame(columns=POPULATIONS_COLUMNS)
    s = normalise_sites(sites)
    pops = pd.DataFrame({"siteID": s["site"], "popYear": s["population_year"],
                         "popServ": s["population"], "popMethod": s["population_method"]},
                        columns=POPULATIONS_COLUMNS)
    # latest population year per site (a missing year counts as oldest), first occurrence order
    order = s.assign(_y=s["population_year"].fillna(-1).astype("int64"),
                     _i=np.arange(len(s)))
    latest = order.sort_values(["_y", "_i"]).groupby("site", sort=False).tail(1)
    latest = latest.set_index("site").loc[pd.unique(s["site"])].reset_index()
    st = _map("site_type")
    site_type = np.where(latest["name"] == latest["treatment_plant"], st["treatment_plant"],
                         st["sub_catchment"])
    tab = pd.DataFrame({
        "siteID": latest["site"], "name": latest["name"], "siteType": site_type,
        "popServ": latest["population"], "geoLat": latest["lat"], "geoLong": latest["lon"],
        "geoEPSG": 4326, "parSiteID": None, "local_municipality": latest["municipality"],
        "local_popYear": latest["population_year"], "local_popMethod": latest["population_method"],
        "local_treatmentPlant": latest["treatment_plant"]}, columns=SITES_COLUMNS)
    return tab, pops


def import_odm(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """
    Convert PHES-ODM tables (as written by :func:`export_odm`) back to service frames.

    Parameters
    ----------
    tables : dict
        ``measures`` (required), ``samples`` (required), ``sites`` and ``local_populations``
        (optional), e.g. from :func:`read_odm_csv`.

    Returns
    -------
    dict
        ``results`` (:data:`RESULT_COLUMNS`), ``sites`` (:data:`SITE_COLUMNS`) and ``flows``
        (:data:`FLOW_COLUMNS`), normalised with :func:`normalise_results` etc.

    Raises
    ------
    ValueError
        An unknown measure code or unit, or a measure whose sample is missing.

    Notes
    -----
    Measures without ``local_*`` columns (data from another ODM producer) are accepted when
    their measure and unit are in the vocabulary: the analyte's unit must be ``local:ngPerL``;
    LOQ/LOD, lab and method are then missing and ``sample_role`` is ``sample``.
    """
    meas = tables["measures"].copy()
    for c in MEASURES_COLUMNS:
        if c not in meas:
            meas[c] = None
    samples = tables["samples"].copy().drop_duplicates("sampleID").set_index("sampleID")
    missing = sorted(set(meas["sampleID"]) - set(samples.index))
    if missing:
        raise ValueError(f"measures refer to sampleID(s) {missing[:5]} not in the samples table")
    analyte_of, quality_back = _map("measure", reverse=True), _map("quality", reverse=True)
    role_back = _map("sample_role", reverse=True)
    unknown = sorted(set(meas["measure"]) - set(analyte_of))
    if unknown:
        raise ValueError(f"ODM measure code(s) {unknown} not in {VOCABULARY_PATH.name}")
    roles = meas["local_sampleRole"].map(lambda x: role_back.get(x, "sample") if _opt_str(x)
                                         else "sample")
    is_flow = meas["measure"] == FLOW_MEASURE
    bad_unit = meas[~is_flow & (meas["unit"] != _map("unit")["ng/L"])]
    if len(bad_unit):
        raise ValueError(f"measure {bad_unit['measureRepID'].iloc[0]!r} has unit "
                         f"{bad_unit['unit'].iloc[0]!r}; expected local:ngPerL (ng/L)")

    res = meas[~is_flow]
    smp = samples.loc[res["sampleID"]]
    results = pd.DataFrame({
        "sample_id": res["sampleID"].to_numpy(), "site": res["siteID"].to_numpy(),
        "sample_date": pd.to_datetime(smp["collDTStart"].astype(str).str[:10]).to_numpy(),
        "analyte": res["measure"].map(analyte_of).to_numpy(),
        "replicate": pd.to_numeric(res["index"]).fillna(1).astype("int64").to_numpy(),
        "value_ng_per_l": pd.to_numeric(res["value"]).to_numpy(float),
        "censor": res["qualityFlag"].map(lambda q: quality_back.get(q, "none") if _opt_str(q)
                                         else "none").to_numpy(),
        "loq_ng_per_l": pd.to_numeric(res["local_loq"]).to_numpy(float),
        "lod_ng_per_l": pd.to_numeric(res["local_lod"]).to_numpy(float),
        "flow_m3_per_day": np.nan,
        "composite_hours": pd.to_numeric(smp["collPer"]).fillna(24).astype("int64").to_numpy(),
        "sample_role": roles[~is_flow].to_numpy(),
        "lab": res["local_lab"].to_numpy(object), "method": res["local_method"].to_numpy(object),
        "comment": res["notes"].to_numpy(object),
        "original_value": res["local_originalValue"].to_numpy(object),
        "original_unit": res["local_originalUnit"].to_numpy(object),
    })
    fmeas = meas[is_flow]
    froles = roles[is_flow]
    lab_flow = fmeas[froles != "flow"]
    if len(lab_flow):
        key = dict(zip(zip(lab_flow["sampleID"], froles[froles != "flow"]),
                       pd.to_numeric(lab_flow["value"]).astype(float)))
        results["flow_m3_per_day"] = [key.get((s, ro), np.nan) for s, ro in
                                      zip(results["sample_id"], results["sample_role"])]
    site_flow = fmeas[froles == "flow"]
    flows = pd.DataFrame({
        "site": site_flow["siteID"].to_numpy(),
        "date": pd.to_datetime(samples.loc[site_flow["sampleID"], "collDTStart"].astype(str)
                               .str[:10]).to_numpy(),
        "flow_m3_per_day": pd.to_numeric(site_flow["value"]).to_numpy(float)})
    return {"results": normalise_results(results), "sites": _import_sites(tables),
            "flows": normalise_flows(flows)}


def _import_sites(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    st = tables.get("sites")
    if st is None or not len(st):
        return normalise_sites(pd.DataFrame({c: pd.Series(dtype=object) for c in SITE_COLUMNS})
                               .astype({"population": "int64", "lat": float, "lon": float}))
    st = st.copy()
    for c in SITES_COLUMNS:
        if c not in st:
            st[c] = None
    pops = tables.get("local_populations")
    if pops is None or not len(pops):
        pops = pd.DataFrame({"siteID": st["siteID"], "popYear": st["local_popYear"],
                             "popServ": st["popServ"], "popMethod": st["local_popMethod"]})
    info = st.set_index("siteID")
    p = pops.reset_index(drop=True)
    out = pd.DataFrame({
        "site": p["siteID"], "name": info.loc[p["siteID"], "name"].to_numpy(),
        "municipality": info.loc[p["siteID"], "local_municipality"].to_numpy(),
        "population": pd.to_numeric(p["popServ"]).to_numpy(),
        "population_year": pd.to_numeric(p["popYear"]).astype("Int64").to_numpy(),
        "population_method": [(_opt_str(x) or "de_jure") for x in p["popMethod"]],
        "lat": pd.to_numeric(info.loc[p["siteID"], "geoLat"]).to_numpy(float),
        "lon": pd.to_numeric(info.loc[p["siteID"], "geoLong"]).to_numpy(float),
        "treatment_plant": info.loc[p["siteID"], "local_treatmentPlant"].to_numpy(object),
    })
    return normalise_sites(out)


# --------------------------------------------------------------------------- CSV I/O
def format_odm_csv(tables: dict[str, pd.DataFrame]) -> dict[str, bytes]:
    """``{"measures.csv": bytes, …}``: UTF-8, comma, ``\\n``, blank for missing, booleans
    ``true``/``false``, floats in shortest round-trip form.
    """
    out = {}
    for name, frame in tables.items():
        f = frame.copy()
        for c in f.columns:
            if f[c].dtype == bool or (f[c].dtype == object and f[c].map(
                    lambda x: isinstance(x, (bool, np.bool_))).any()):
                f[c] = f[c].map(lambda x: "" if _opt_str(x) is None else
                                ("true" if bool(x) else "false"))
            elif pd.api.types.is_float_dtype(f[c]):
                f[c] = f[c].map(lambda x: "" if pd.isna(x) else repr(float(x)))
        out[f"{name}.csv"] = f.to_csv(index=False, lineterminator="\n").encode("utf-8")
    return out


def read_odm_csv(files: dict[str, bytes | str | PathLike[str]] | str | PathLike[str]
                 ) -> dict[str, pd.DataFrame]:
    """
    Read ODM CSV tables: a directory holding ``measures.csv``, ``samples.csv`` … or a dict of
    file name → bytes/path. Every cell is read as text (empty = missing), so codes such as
    ``NA`` or ``null`` in notes stay text.
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
