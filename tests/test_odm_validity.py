"""The PHES-ODM export is valid against the official v2.2.3 dictionary (tests/odm_validator.py).

The dictionary tables are read from ``shared/data/phes-odm`` beside the checkout; without them
these tests fail (they do not skip): CI has ``shared/`` beside the clone.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import numpy as np
import odm_validator as v
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wastewater.interop import exchange, odm

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
EXPECTED_WARNINGS = {("measures", "aDateEnd", "nr"), ("measures", "value", "nr"),
                     ("samples", "collNum", "NA"), ("sites", "contactID", "nr")}
"""Mandatory cells the service cannot fill, written as ODM missingness codes: analysis date
and contact unknown (``nr``), censored value (``nr``), collNum of proportional composites
(``NA``, as ODM's description asks). ODM's own validator reports these as warnings."""


def _assert_valid(tables: dict[str, pd.DataFrame]) -> list[v.Problem]:
    problems = v.validate(tables)
    errs = v.errors(problems)
    assert not errs, "ODM validation errors:\n" + v.summary(errs).to_string()
    warned = {(p.table, p.column, p.value) for p in problems}
    assert warned <= EXPECTED_WARNINGS, warned
    return problems


def test_dictionary_is_the_official_v223():
    d = v.load_dictionary()
    assert d.version == "2.2.3"
    assert {"measures", "samples", "sites", "qualityReports"} <= set(d.tables)
    assert d.tables["measures"]["aDateEnd"] == "mandatory"
    assert d.tables["sites"]["contactID"] == "mandatory"
    assert {"TRUE", "FALSE"} == d.sets["booleanSet"]
    assert {"liq", "mix", "NA", "sol"} == d.sets["fractionSet"]


def _demo_frames():
    from wastewater.ingest import parse_upload

    def parsed(name):
        return parse_upload((SAMPLES / name).read_bytes(), None, filename=name,
                            known_sites={"SE-KAT-ROS", "SE-FLN-ARV", "SE-KAT-PS1"},
                            today=dt.date(2026, 1, 15)).frame

    return parsed("results.csv"), parsed("sites.csv"), parsed("flows.csv")


def test_demo_export_is_valid_and_round_trips():
    results, sites, flows = _demo_frames()
    tables = odm.export_odm(results, sites, flows)
    problems = _assert_valid(tables)
    assert len(tables["measures"]) > 5000 and len(tables["qualityReports"]) > 100
    assert {(p.table, p.column) for p in problems} == {
        (t, c) for t, c, _ in EXPECTED_WARNINGS}
    back = odm.import_odm(odm.read_odm_csv(odm.format_odm_csv(tables)))
    pd.testing.assert_frame_equal(back["results"], odm.normalise_results(results))
    pd.testing.assert_frame_equal(back["sites"], odm.normalise_sites(sites))
    pd.testing.assert_frame_equal(back["flows"], odm.normalise_flows(flows))


def test_validator_finds_the_errors_of_the_old_export():
    """Negative controls: each defect listed in issue 15 is an error of the validator."""
    results, sites, flows = _demo_frames()
    good = odm.export_odm(results.head(50), sites, flows.head(5))

    def rules(mutate) -> set[tuple[str, str | None, str]]:
        t = {k: f.copy() for k, f in good.items()}
        mutate(t)
        return {(p.table, p.column, p.rule) for p in v.errors(v.validate(t))}

    def setcol(table, col, value):
        return lambda t: t[table].__setitem__(col, value)

    assert ("measures", "reportable", "invalid_type") in rules(setcol("measures", "reportable", "true"))
    assert ("measures", "fraction", "invalid_category") in rules(setcol("measures", "fraction", "local:whole"))
    assert ("measures", "specimen", "invalid_category") in rules(setcol("measures", "specimen", "rawWW"))
    assert ("measures", "measure", "too_long") in rules(setcol("measures", "measure", "benzoylecgonine"))
    assert ("measures", "measureRepID", "too_long") in rules(
        setcol("measures", "measureRepID", "ROS-20250101|benzoylecgonine|1|sample"))
    assert ("measures", "aDateEnd", "empty_mandatory_value") in rules(setcol("measures", "aDateEnd", None))
    assert ("samples", "collNum", "empty_mandatory_value") in rules(setcol("samples", "collNum", None))
    assert ("measures", "unit", "invalid_category") in rules(setcol("measures", "unit", "m3PerDay"))
    assert ("measures", "qualityFlag", "unknown_column") in rules(setcol("measures", "qualityFlag", None))
    assert ("sites", "contactID", "missing_mandatory_column") in rules(
        lambda t: t.__setitem__("sites", t["sites"].drop(columns=["contactID", "sampleShed"])))
    assert ("sites", "name", "too_long") in rules(setcol("sites", "name", "x" * 31))
    assert ("measures", "value", "invalid_type") in rules(setcol("measures", "value", "abc"))
    assert ("samples", "collDT", "invalid_type") in rules(setcol("samples", "collDT", "2025-13-01"))
    assert ("measures", "local_loq", "unknown_column") in rules(setcol("measures", "local_loq", None))
    assert ("measures", "measure", "invalid_category") in rules(setcol("measures", "measure", "lsd"))
    # without the extension parts the drug measures and the ngL unit are unknown to ODM
    plain = {(p.table, p.column, p.rule) for p in v.errors(v.validate(good, with_extensions=False))}
    assert ("measures", "measure", "invalid_category") in plain
    assert ("extPopulations", None, "unknown_table") in plain


# ------------------------------------------------------------------ extensions
def _documented_extensions() -> dict[str, str]:
    """partID → partType from the extension table in docs/interop.md."""
    text = (REPO / "docs" / "interop.md").read_text(encoding="utf-8")
    block = text.split("<!-- odm-extensions -->")[1].split("<!-- /odm-extensions -->")[0]
    out = {}
    for line in block.splitlines():
        m = re.match(r"^\|\s*`([A-Za-z0-9]+)`\s*\|\s*(\w+)\s*\|", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def test_extensions_follow_odm_rules_and_are_exactly_the_documented_ones():
    ext = odm.extensions()
    official = v.load_dictionary(with_extensions=False)
    assert dict(zip(ext["partID"], ext["partType"])) == _documented_extensions()
    assert ext["partID"].is_unique
    lower = {p.lower() for p in official.parts.index}
    for e in ext.itertuples(index=False):
        assert v.PART_ID_RULE.match(e.partID), e.partID
        assert e.partID.lower() not in lower, f"{e.partID} exists in ODM v2.2.3"
        assert e.partType in set(official.parts["partType"]), e.partType
        for s in filter(None, e.sets.split(";")):
            assert s in official.sets, s                     # joins an existing ODM set
        for key in ("specimenSet", "unitSet", "aggregationSet", "qualityIndSet"):
            assert not getattr(e, key) or getattr(e, key) in official.sets
    # measure codes fit ODM's 12 characters; every ODM code the vocabulary uses exists
    d = v.load_dictionary()
    voc = odm.vocabulary()
    for kind in ("measure", "unit", "quality", "aggregation", "fraction", "sample_material",
                 "collection", "site_type", "sample_shed", "missing"):
        for code in voc.loc[voc["kind"] == kind, "odm"]:
            assert code in d.parts.index, (kind, code)
            assert d.parts.loc[code, "status"] == "active", code
    assert voc.loc[voc["kind"] == "measure", "odm"].str.len().max() <= 12
    # every analyte of the catalogue can be exported
    from wastewater.catalogue import list_analytes

    assert set(list_analytes()["id"]) <= set(voc.loc[voc["kind"] == "measure", "local"])


# ------------------------------------------------------------------ hypothesis databases
_ANALYTES = ["benzoylecgonine", "cocaine", "amphetamine", "methamphetamine", "mdma", "6-mam",
             "thc-cooh", "ketamine", "caffeine", "bod5", "nh4-n", "norfentanyl", "oxycodone"]
_UNITS = {"ng/L": 1.0, "ug/L": 1000.0, "ng/mL": 1000.0}
_ID = st.text(alphabet="ABCDEFGHKLMNPRS0123456789-", min_size=1, max_size=40).filter(
    lambda s: s.strip("-") == s)
_WORDS = st.text(alphabet="abcdeåäö XYZ0123456789.,()", min_size=1, max_size=260).map(str.strip)


@st.composite
def uploads(draw) -> dict[str, bytes]:
    """Sites, flows and results CSV uploads as a lab would send them."""
    sites = draw(st.lists(_ID, min_size=1, max_size=3, unique=True))
    site_rows = []
    for s in sites:
        name = draw(_WORDS.filter(bool))
        plant = draw(st.sampled_from([name, "Annat verk"]))
        for year in draw(st.lists(st.integers(2020, 2025), min_size=1, max_size=2, unique=True)):
            site_rows.append([s, name, "Kommun", str(draw(st.integers(1000, 900000))), str(year),
                              draw(st.sampled_from(["", "59.1"])), draw(st.sampled_from(["", "16.2"])),
                              plant])
    res_rows, flow_rows, seen = [], [], set()
    for _ in range(draw(st.integers(1, 6))):
        site = draw(st.sampled_from(sites))
        day = draw(st.dates(dt.date(2020, 1, 1), dt.date(2025, 12, 31)))
        sid = draw(_ID)
        if sid in seen:
            continue
        seen.add(sid)
        flow = draw(st.sampled_from(["", "9412", "10250.5"]))
        for analyte in draw(st.lists(st.sampled_from(_ANALYTES), min_size=1, max_size=4, unique=True)):
            unit = draw(st.sampled_from(list(_UNITS)))
            censored = draw(st.booleans())
            value = "" if censored else f"{draw(st.floats(0.001, 5e5)):.{draw(st.integers(0, 4))}f}"
            res_rows.append([sid, site, day.isoformat(), analyte, value, unit,
                             "<LOQ" if censored else "", draw(st.sampled_from(["", "10", "2.5"])), "",
                             flow, "24", "1", "sample", "Lab", "SPE-LC-MS/MS",
                             draw(st.one_of(st.just(""), _WORDS))])
        if draw(st.booleans()):
            flow_rows.append([site, day.isoformat(), "9000.5"])
    flow_rows = list({(r[0], r[1]): r for r in flow_rows}.values())
    out = {"sites": exchange._csv(exchange.SITES_CSV_COLUMNS[:5] + ["lat", "lon", "treatment_plant"],
                                  [r[:5] + r[5:] for r in site_rows])}
    if flow_rows:
        out["flows"] = exchange._csv(exchange.FLOWS_CSV_COLUMNS, flow_rows)
    out["results"] = exchange._csv(exchange.RESULTS_CSV_COLUMNS, res_rows)
    return out


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(files=uploads())
def test_hypothesis_databases_export_valid_odm_and_import_back(files, _sqlite_migrated_template, tmp_path):
    from wastewater.storage import repository as repo
    from wastewater.storage.database import get_engine
    from wastewater.storage.service import ingest_bytes

    urls = []
    for name in ("src", "dst"):
        path = tmp_path / f"{name}-{np.random.default_rng().integers(1e12)}.db"
        shutil.copyfile(_sqlite_migrated_template, path)
        urls.append(f"sqlite:///{path}")
    src, dst = (get_engine(u) for u in urls)
    try:
        for kind in ("sites", "flows", "results"):
            if kind in files:
                out = ingest_bytes(src, files[kind], kind=kind, filename=f"{kind}.csv",
                                   uploader="hyp", today=dt.date(2026, 1, 15))
                assert out.report.ok, out.report.to_dict()
        tables = exchange.load_odm_export(src)
        _assert_valid(tables)
        csv_tables = odm.read_odm_csv(odm.format_odm_csv(tables))
        outs = exchange.import_odm_tables(dst, csv_tables, source="hyp", uploader="hyp",
                                          today=dt.date(2026, 1, 15))
        assert outs and not any(o.rejected for o in outs), [o.to_dict() for o in outs]
        cols = ["sample_id", "site", "sample_date", "analyte", "replicate", "value_ng_per_l",
                "censor", "loq_ng_per_l", "lod_ng_per_l", "flow_m3_per_day", "composite_hours",
                "sample_role", "lab", "method", "comment"]

        def frame(engine):
            f = odm.normalise_results(repo.load_results(engine, roles=None))[cols]
            return f.sort_values(cols[:5]).reset_index(drop=True)

        pd.testing.assert_frame_equal(frame(dst), frame(src))
    finally:
        src.dispose()
        dst.dispose()
