"""parse_upload on well-formed files of every kind, in both CSV dialects, and .xlsx."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wastewater.ingest import FRAME_COLUMNS, ParsedUpload, ValidationReport, parse_upload

DATA = Path(__file__).parent / "data" / "ingest"
TODAY = dt.date(2025, 6, 1)


def load(name: str, **kwargs) -> ParsedUpload:
    return parse_upload((DATA / name).read_bytes(), today=TODAY, **kwargs)


def assert_contract(upload: ParsedUpload) -> None:
    """Frame columns and dtypes follow docs/architecture.md."""
    expected = FRAME_COLUMNS[upload.kind]
    assert list(upload.frame.columns) == list(expected)
    for column, dtype in expected.items():
        assert str(upload.frame[column].dtype) == dtype, column


# -- sites ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sites_comma.csv", "sites_semicolon_bom.csv"])
def test_sites_both_dialects(name):
    upload = load(name)
    assert upload.kind == "sites"
    assert upload.report.ok and upload.report.issues == []
    assert (upload.report.rows_total, upload.report.rows_accepted) == (3, 3)
    assert_contract(upload)
    frame = upload.frame
    assert frame["population"].tolist() == [34324, 33900, 16500]  # "34 324" read as 34324
    assert frame["population_year"].tolist() == [2024, 2020, 2024]  # history of KTH
    assert frame["lat"].iloc[0] == 58.9959
    assert np.isnan(frame["lat"].iloc[2])
    assert frame["population_method"].tolist() == ["de_jure", "de_jure", "connected"]
    assert frame["treatment_plant"].tolist() == ["Katrineholm ARV", "Katrineholm ARV", None]
    assert frame["source_line"].tolist() == [2, 3, 4]


def test_sites_dialects_give_identical_frames():
    pd.testing.assert_frame_equal(
        load("sites_comma.csv").frame, load("sites_semicolon_bom.csv").frame
    )
    assert load("sites_semicolon_bom.csv").report.details == {
        "format": "csv",
        "encoding": "utf-8-sig",
        "delimiter": "semicolon",
        "decimal": "comma or point",
    }


def test_sites_defaults():
    upload = parse_upload(b"site,name,municipality,population\nA,Alpha,Eskilstuna,1000\n")
    row = upload.frame.iloc[0]
    assert upload.report.ok
    assert row["population_method"] == "de_jure"
    assert pd.isna(row["population_year"])
    assert row["treatment_plant"] is None


# -- flows ----------------------------------------------------------------------------------


def test_flows_comma():
    upload = load("flows_comma.csv", known_sites={"KTH", "FLN"})
    assert upload.kind == "flows" and upload.report.ok
    assert_contract(upload)
    assert upload.frame["flow_m3_per_day"].tolist() == [8640.0, 9072.5, 4320.0]
    assert upload.frame["date"].tolist() == [
        pd.Timestamp("2025-03-04"),
        pd.Timestamp("2025-03-05"),
        pd.Timestamp("2025-03-04"),
    ]


def test_flows_swedish_headers_and_flow_units_give_same_frame():
    # 100 L/s = 8640 m³/d; 9,0725 ML/d = 9072.5 m³/d; "4 320" m3/d; 20250304 compact date
    swedish = load("flows_semicolon_units.csv", known_sites={"KTH", "FLN"})
    assert swedish.report.ok, swedish.report.issues
    english = load("flows_comma.csv")
    pd.testing.assert_frame_equal(swedish.frame, english.frame, check_exact=False, rtol=1e-12)


# -- results --------------------------------------------------------------------------------


def test_results_long_values():
    upload = load("results_long.csv", known_sites={"KTH"})
    assert upload.kind == "results" and upload.report.ok and upload.report.issues == []
    assert upload.report.details["layout"] == "long"
    assert_contract(upload)
    frame = upload.frame.set_index(["sample_date", "analyte"])
    row = frame.loc[(pd.Timestamp("2025-03-04"), "amphetamine")]
    assert row["value_ng_per_l"] == 850.0  # 0.85 µg/L
    assert row["original_value"] == "0.85" and row["original_unit"] == "µg/L"
    mdma = frame.loc[(pd.Timestamp("2025-03-04"), "mdma")]
    assert (
        mdma["censor"] == "<LOQ"
        and mdma["loq_ng_per_l"] == 2.5
        and np.isnan(mdma["value_ng_per_l"])
    )
    thc = frame.loc[(pd.Timestamp("2025-03-04"), "thc-cooh")]
    assert thc["censor"] == "<LOQ" and thc["loq_ng_per_l"] == 5.0  # "< LOQ" + loq column
    nd = frame.loc[(pd.Timestamp("2025-03-05"), "thc-cooh")]
    assert nd["censor"] == "ND" and np.isnan(nd["value_ng_per_l"])
    assert (upload.frame["replicate"] == 1).all()
    assert (upload.frame["composite_hours"] == 24).all()
    assert (upload.frame["sample_role"] == "sample").all()


def test_results_wide_equals_long():
    long = load("results_long.csv")
    wide = load("results_wide.csv")
    assert wide.report.ok and wide.report.issues == []
    assert wide.report.details["layout"] == "wide"
    assert (
        (wide.report.rows_total, wide.report.rows_accepted)
        == (long.report.rows_total, long.report.rows_accepted)
        == (8, 8)
    )
    keys = ["sample_id", "analyte"]
    a = long.frame.drop(columns="source_line").sort_values(keys).reset_index(drop=True)
    b = wide.frame.drop(columns="source_line").sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert wide.frame["source_line"].tolist() == [2, 2, 2, 2, 3, 3, 3, 3]


def test_results_semicolon_bom_decimal_comma_matches_comma_file():
    """Swedish dialect, Swedish headers and names, mixed units: same canonical numbers."""
    swedish = load("results_long_semicolon_bom.csv", known_sites={"KTH"})
    assert swedish.report.ok, [i.message for i in swedish.report.issues]
    english = load("results_long.csv")
    numeric = [
        "sample_id",
        "site",
        "sample_date",
        "analyte",
        "replicate",
        "value_ng_per_l",
        "censor",
        "loq_ng_per_l",
        "lod_ng_per_l",
        "composite_hours",
        "sample_role",
    ]
    pd.testing.assert_frame_equal(
        swedish.frame[numeric], english.frame[numeric], check_exact=False, rtol=1e-12
    )


def test_results_wide_with_unit_column_and_suffix_headers():
    data = (
        "site;provdatum;enhet;BE;amphetamine;thc_cooh_ng_per_l\n"
        "KTH;2025-03-04;µg/L;0,4125;0,85;<5\n"
    ).encode()
    upload = parse_upload(data, today=TODAY)
    assert upload.kind == "results" and upload.report.ok, upload.report.issues
    frame = upload.frame.set_index("analyte")
    assert frame.loc["benzoylecgonine", "value_ng_per_l"] == pytest.approx(412.5)
    assert frame.loc["amphetamine", "value_ng_per_l"] == pytest.approx(850.0)
    # header unit wins over the unit column for thc_cooh_ng_per_l
    assert frame.loc["thc-cooh", "loq_ng_per_l"] == 5.0
    assert frame.loc["thc-cooh", "original_unit"] == "ng_per_l"
    assert frame["sample_id"].unique().tolist() == ["KTH-20250304"]  # default id


def test_results_optional_columns():
    data = (
        b"sample_id,site,sample_date,analyte,value,unit,replicate,composite_hours,sample_role,"
        b"flow_m3_per_day,lod,lab,method,comment\n"
        b"S1,KTH,2025-03-04,BE,400,ng/L,2,72,sample,8640,1,RISE,LC-MS/MS,ok\n"
        b"B1,KTH,2025-03-04,BE,<LOD,ng/L,1,24,blank,,0.5,RISE,,\n"
    )
    upload = parse_upload(data, today=TODAY)
    assert upload.report.ok and upload.report.issues == []
    first, blank = upload.frame.iloc[0], upload.frame.iloc[1]
    assert (first["replicate"], first["composite_hours"], first["flow_m3_per_day"]) == (
        2,
        72,
        8640.0,
    )
    assert (first["lab"], first["method"], first["comment"]) == ("RISE", "LC-MS/MS", "ok")
    assert first["lod_ng_per_l"] == 1.0
    assert (blank["sample_role"], blank["censor"], blank["lod_ng_per_l"]) == ("blank", "<LOD", 0.5)
    assert blank["comment"] is None


# -- events ---------------------------------------------------------------------------------


def test_events():
    upload = load("events.csv", known_sites={"KTH", "FLN"})
    assert upload.kind == "events" and upload.report.ok, upload.report.issues
    assert_contract(upload)
    frame = upload.frame
    assert frame["event_id"].tolist() == ["op-2025-01", "sk-2025-02", "rw-2025-valborg"]
    assert frame["sites"].tolist() == [["KTH", "FLN"], ["KTH"], []]
    assert frame["substances"].tolist() == [
        ["cocaine", "benzoylecgonine"],
        [],
        ["mdma", "amphetamine"],
    ]
    assert frame["end"].tolist()[1] == pd.Timestamp("2025-03-10")  # end defaults to start
    assert frame["confidential"].tolist() == [True, False, False]


# -- xlsx -----------------------------------------------------------------------------------


def test_xlsx_first_sheet():
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["site", "sample_date", "analyte", "value", "unit"])
    sheet.append(["KTH", dt.datetime(2025, 3, 4), "BE", 412.5, "ng/L"])
    sheet.append([None, None, None, None, None])  # empty row keeps line numbering
    sheet.append(["KTH", dt.date(2025, 3, 5), "MDMA", "<2,5", "ng/L"])
    workbook.create_sheet("ignored").append(["nothing"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    upload = parse_upload(buffer.getvalue(), filename="Labbsvar.XLSX", today=TODAY)
    assert upload.report.ok, upload.report.issues
    assert upload.report.details["format"] == "xlsx"
    assert upload.frame["value_ng_per_l"].iloc[0] == 412.5
    assert upload.frame["loq_ng_per_l"].iloc[1] == 2.5
    assert upload.frame["source_line"].tolist() == [2, 4]


# -- report ---------------------------------------------------------------------------------


def test_report_to_dict_is_json_safe():
    import json

    upload = parse_upload(b"site,date,flow_m3_per_day\nKTH,2025-03-04,-5\n", today=TODAY)
    report = upload.report
    assert isinstance(report, ValidationReport)
    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["ok"] is False and payload["n_errors"] == 1
    assert payload["issues"][0] == {
        "line": 2,
        "column": "flow_m3_per_day",
        "code": "negative_value",
        "severity": "error",
        "value": "-5",
        "message": "Line 2, column 'flow_m3_per_day': '-5' is negative; flow cannot be below 0.",
    }


def test_explicit_kind_and_bad_kind_argument():
    upload = parse_upload((DATA / "flows_comma.csv").read_bytes(), kind="flows", today=TODAY)
    assert upload.kind == "flows" and upload.report.ok
    with pytest.raises(ValueError, match="kind must be one of"):
        parse_upload(b"a,b\n1,2\n", kind="samples")
