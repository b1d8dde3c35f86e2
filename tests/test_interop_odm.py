"""PHES-ODM v2 export/import: field mapping, vocabulary and lossless round trips."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wastewater.interop import odm

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _results(rows: list[dict]) -> pd.DataFrame:
    base = {"replicate": 1, "value_ng_per_l": np.nan, "censor": "none", "loq_ng_per_l": np.nan,
            "lod_ng_per_l": np.nan, "flow_m3_per_day": np.nan, "composite_hours": 24,
            "sample_role": "sample", "lab": None, "method": None, "comment": None,
            "original_value": None, "original_unit": None}
    return pd.DataFrame([base | r for r in rows])


SMALL = _results([
    {"sample_id": "ROS-20250301", "site": "SE-KAT-ROS", "sample_date": "2025-03-01",
     "analyte": "benzoylecgonine", "value_ng_per_l": 230.0, "loq_ng_per_l": 10.0,
     "lod_ng_per_l": 1.0, "flow_m3_per_day": 9800.0, "lab": "Lab A", "method": "SPE-LC-MS/MS",
     "original_value": "0.23", "original_unit": "ug/L"},
    {"sample_id": "ROS-20250301", "site": "SE-KAT-ROS", "sample_date": "2025-03-01",
     "analyte": "methamphetamine", "censor": "<LOQ", "loq_ng_per_l": 10.0,
     "flow_m3_per_day": 9800.0, "original_value": "<LOQ", "original_unit": "ng/L"},
    {"sample_id": "ROS-20250301", "site": "SE-KAT-ROS", "sample_date": "2025-03-01",
     "analyte": "mdma", "censor": "<LOD", "lod_ng_per_l": 1.0, "flow_m3_per_day": 9800.0,
     "replicate": 2, "comment": "omkörning"},
    {"sample_id": "ROS-20250307", "site": "SE-KAT-ROS", "sample_date": "2025-03-07",
     "analyte": "mdma", "value_ng_per_l": 41.5, "composite_hours": 72},
    {"sample_id": "BLK-1", "site": "SE-KAT-ROS", "sample_date": "2025-03-07",
     "analyte": "mdma", "censor": "ND", "sample_role": "blank"},
])
SITES = pd.DataFrame({
    "site": ["SE-KAT-ROS", "SE-KAT-ROS", "SE-KAT-PS1"],
    "name": ["Rosenholms reningsverk"] * 2 + ["Pumpstation PS1"],
    "municipality": ["Katrineholm"] * 3, "population": [25100, 25300, 3500],
    "population_year": pd.array([2024, 2025, pd.NA], dtype="Int64"),
    "population_method": ["de_jure"] * 3, "lat": [58.99, 58.99, np.nan],
    "lon": [16.21, 16.21, np.nan],
    "treatment_plant": ["Rosenholms reningsverk"] * 3})
FLOWS = pd.DataFrame({"site": ["SE-KAT-ROS", "SE-KAT-ROS"],
                      "date": pd.to_datetime(["2025-03-01", "2025-03-02"]),
                      "flow_m3_per_day": [9800.0, 10250.5]})


def _by(table: pd.DataFrame, **key) -> pd.DataFrame:
    sel = np.ones(len(table), bool)
    for k, v in key.items():
        sel &= (table[k] == v).to_numpy()
    return table[sel]


def test_field_mapping_and_vocabulary():
    t = odm.export_odm(SMALL, SITES, FLOWS)
    assert list(t) == ["measures", "samples", "sites", "qualityReports", "extPopulations"]
    m = t["measures"]
    be = _by(m, sampleID="ROS-20250301", measure="benzoylecg").iloc[0]
    assert (be.unit, be.aggregation, be.specimen, be.fraction, be.value, be["index"]) == (
        "ngL", "sin", "sa", "mix", "230", "1")
    assert be.reportable == "TRUE" and be.extLoq == "10" and be.aDateEnd == "nr"
    assert len(be.measureRepID) <= 30 and m["measureRepID"].is_unique
    q = t["qualityReports"].set_index("measureRepID")["qualityFlag"]
    meth = _by(m, sampleID="ROS-20250301", measure="methamphet").iloc[0]
    assert meth.value == "nr" and q[meth.measureRepID] == "belowLOQ"
    assert q[_by(m, measure="mdma", index="2").iloc[0].measureRepID] == "beLOD"
    blank = _by(m, sampleID="BLK-1").iloc[0]
    assert q[blank.measureRepID] == "flagND" and blank.reportable == "FALSE"
    assert be.measureRepID not in q.index and len(q) == 3
    # lab-reported flow: one floRate measure per sample; flows upload: own flow samples
    flo = m[m.measure == "floRate"]
    assert _by(flo, sampleID="ROS-20250301").value.tolist() == ["9800"]
    assert _by(flo, sampleID="flow:SE-KAT-ROS:2025-03-02").value.tolist() == ["10250.5"]
    assert set(flo.unit) == {"m3D"} and set(flo.specimen) == {"sit"} and len(flo) == 3
    s = t["samples"].set_index("sampleID")
    assert s.loc["ROS-20250307", "collPer"] == "72" and s.loc["ROS-20250307", "collNum"] == "NA"
    assert s.loc["ROS-20250307", "collDTStart"] == "2025-03-07T00:00"
    assert s.loc["ROS-20250307", "collDTEnd"] == "2025-03-10T00:00"
    assert set(s.saMaterial) == {"rawWW"} and set(s.collType) == {"comp"}
    sites = t["sites"].set_index("siteID")
    assert sites.loc["SE-KAT-ROS", "popServ"] == "25300"           # latest year
    assert tuple(sites.loc["SE-KAT-ROS", ["siteType", "sampleShed"]]) == ("wwtp", "municp")
    assert tuple(sites.loc["SE-KAT-PS1", ["siteType", "sampleShed"]]) == ("upstream", "neigh")
    assert sites.loc["SE-KAT-PS1", "geoEPSG"] is None and sites.loc["SE-KAT-ROS", "geoEPSG"] == "4326"
    assert len(t["extPopulations"]) == 3


def test_long_ids_text_and_values_are_shortened_and_carried_whole():
    long_sid, long_site = "LAB-2025-03-01-KATRINEHOLM-ROSENHOLM-24H", "SE-KAT-ROSENHOLMS-RENINGSVERK-INLOPP"
    r = _results([{"sample_id": long_sid, "site": long_site, "sample_date": "2025-03-01",
                   "analyte": "mdma", "value_ng_per_l": 0.1 * 3, "comment": "x" * 250,
                   "flow_m3_per_day": 12345.678901234567}])
    s = SITES.iloc[[0]].assign(site=long_site, name="Rosenholms reningsverk, inlopp efter galler")
    t = odm.export_odm(r, s)
    m = t["measures"].iloc[0]
    assert len(m.sampleID) == 30 and len(m.siteID) == 30 and m.value == "0.3" and m.extValue == repr(0.1 * 3)
    assert m.notes == "x" * 200 and m.extNotes == "x" * 250
    assert t["samples"].iloc[0].extSampleID == long_sid
    site = t["sites"].iloc[0]
    assert len(site["name"]) == 30 and site.descr == "Rosenholms reningsverk, inlopp efter galler"
    _assert_roundtrip(r, s, None, via_csv=True)


def _assert_roundtrip(results, sites, flows, *, via_csv: bool):
    t = odm.export_odm(results, sites, flows)
    if via_csv:
        t = odm.read_odm_csv(odm.format_odm_csv(t))
    back = odm.import_odm(t)
    pd.testing.assert_frame_equal(back["results"], odm.normalise_results(results))
    if sites is not None:
        pd.testing.assert_frame_equal(back["sites"], odm.normalise_sites(sites))
    if flows is not None:
        pd.testing.assert_frame_equal(back["flows"], odm.normalise_flows(flows))


@pytest.mark.parametrize("via_csv", [False, True])
def test_roundtrip_small(via_csv):
    _assert_roundtrip(SMALL, SITES, FLOWS, via_csv=via_csv)


def test_roundtrip_shipped_samples(tmp_path):
    from wastewater.ingest import parse_upload

    def parsed(name):
        return parse_upload((SAMPLES / name).read_bytes(), None, filename=name,
                            known_sites={"SE-KAT-ROS", "SE-FLN-ARV", "SE-KAT-PS1"},
                            today=dt.date(2026, 1, 15)).frame

    results, sites, flows = parsed("results.csv"), parsed("sites.csv"), parsed("flows.csv")
    paths = odm.write_odm_csv(odm.export_odm(results, sites, flows), tmp_path)
    assert sorted(p.name for p in paths) == ["extPopulations.csv", "measures.csv",
                                             "qualityReports.csv", "samples.csv", "sites.csv"]
    back = odm.import_odm(odm.read_odm_csv(tmp_path))
    pd.testing.assert_frame_equal(back["results"], odm.normalise_results(results))
    pd.testing.assert_frame_equal(back["sites"], odm.normalise_sites(sites))
    pd.testing.assert_frame_equal(back["flows"], odm.normalise_flows(flows))


def test_errors_name_the_problem():
    bad = SMALL.copy()
    bad.loc[0, "analyte"] = "lsd"
    with pytest.raises(ValueError, match="lsd"):
        odm.export_odm(bad)
    bad = SMALL.copy()
    bad.loc[1, "sample_date"] = "2025-03-02"
    with pytest.raises(ValueError, match="ROS-20250301"):
        odm.export_odm(bad)
    t = odm.export_odm(SMALL)
    t["measures"].loc[0, "unit"] = "mgD1000"
    with pytest.raises(ValueError, match="normalised loads.*reference series"):
        odm.import_odm(t)


def test_import_foreign_odm_without_extension_columns():
    """A minimal ODM producer: core fields only, mg/L and m³/s converted; roles default to
    sample, LOQ missing, censoring from qualityReports."""
    tables = {
        "samples": pd.DataFrame({"sampleID": ["X1"], "siteID": ["S"], "collDT": ["2025-05-02"],
                                 "collPer": ["24"]}),
        "measures": pd.DataFrame({"measureRepID": ["m1", "m2", "m3"],
                                  "sampleID": ["X1", "X1", "X1"], "siteID": ["S", "S", "S"],
                                  "measure": ["mdma", "floRate", "caff"],
                                  "unit": ["ngL", "m3S", "mgL"], "aggregation": ["sin"] * 3,
                                  "value": ["12.5", "0.5", "nr"]}),
        "qualityReports": pd.DataFrame({"qualityReportID": ["q1"], "measureRepID": ["m3"],
                                        "qualityFlag": ["belowLOQ"]}),
    }
    r = odm.import_odm(tables)["results"].set_index("analyte")
    assert r.loc["mdma", "value_ng_per_l"] == 12.5 and r.loc["mdma", "censor"] == "none"
    assert r.loc["mdma", "flow_m3_per_day"] == 0.5 * 86400 and r.loc["mdma", "sample_role"] == "sample"
    assert r.loc["caffeine", "censor"] == "<LOQ" and np.isnan(r.loc["caffeine", "value_ng_per_l"])
    assert r.loc["mdma", "sample_date"] == pd.Timestamp("2025-05-02")


# ------------------------------------------------------------------ property: any valid frame
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
_opt_text = st.one_of(st.none(), _text.filter(lambda s: s != ""))
_num = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False)
_opt_num = st.one_of(st.just(np.nan), _num)
_ids = st.text(alphabet="ABCDEFGHKLMNPRS0123456789-", min_size=1, max_size=40)
ANALYTES = ["benzoylecgonine", "cocaine", "mdma", "thc-cooh", "ketamine", "tramadol"]


@st.composite
def result_frames(draw):
    n_samples = draw(st.integers(1, 5))
    sample_ids = draw(st.lists(_ids, min_size=n_samples, max_size=n_samples, unique=True))
    rows = []
    for sid in sample_ids:
        site = draw(st.sampled_from(["SE-KAT-ROS", "SE-FLN-ARV", "A|B"]))
        day = draw(st.dates(dt.date(2015, 1, 1), dt.date(2030, 12, 31)))
        hours = draw(st.sampled_from([24, 48, 72]))
        flows = {role: draw(_opt_num) for role in ("sample", "blank")}
        keys = draw(st.lists(st.tuples(st.sampled_from(ANALYTES), st.integers(1, 3),
                                       st.sampled_from(["sample", "blank"])),
                             min_size=1, max_size=4, unique=True))
        for analyte, rep, role in keys:
            censor = draw(st.sampled_from(["none", "<LOQ", "<LOD", "ND"]))
            rows.append({
                "sample_id": sid, "site": site, "sample_date": pd.Timestamp(day),
                "analyte": analyte, "replicate": rep,
                "value_ng_per_l": draw(_num) if censor == "none" else draw(_opt_num),
                "censor": censor, "loq_ng_per_l": draw(_opt_num), "lod_ng_per_l": draw(_opt_num),
                "flow_m3_per_day": flows[role], "composite_hours": hours, "sample_role": role,
                "lab": draw(_opt_text), "method": draw(_opt_text), "comment": draw(_opt_text),
                "original_value": draw(_opt_text), "original_unit": draw(_opt_text),
                "source_line": 0})
    return pd.DataFrame(rows)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=result_frames(), via_csv=st.booleans())
def test_roundtrip_property(frame, via_csv):
    _assert_roundtrip(frame, None, None, via_csv=via_csv)
