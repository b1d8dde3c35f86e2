"""Every issue class of the ingest report: code, line, column, severity and a useful message.

Line numbers are physical lines with the header on line 1 (docs/architecture.md).
"""

from __future__ import annotations

import datetime as dt

import pytest

from wastewater.ingest import ISSUE_CODES, parse_upload, readers

TODAY = dt.date(2025, 6, 1)
RESULTS_HEADER = "sample_id,site,sample_date,analyte,value,unit"


def parse(text: str | bytes, **kwargs):
    data = text.encode() if isinstance(text, str) else text
    kwargs.setdefault("today", TODAY)
    return parse_upload(data, **kwargs)


def only_issue(upload, code):
    """The single issue with ``code`` (and check the registry agrees on severity)."""
    found = [i for i in upload.report.issues if i.code == code]
    assert len(found) == 1, upload.report.issues
    issue = found[0]
    assert issue.severity == ISSUE_CODES[code][0]
    return issue


def results(*rows: str, header: str = RESULTS_HEADER, **kwargs):
    return parse("\n".join([header, *rows]) + "\n", **kwargs)


# -- whole file -----------------------------------------------------------------------------


def test_empty_file():
    for data in (b"", b"   \n\n", b"\xef\xbb\xbf"):
        upload = parse(data)
        issue = only_issue(upload, "empty_file")
        assert not upload.report.ok and upload.frame.empty
        assert "empty" in issue.message


def test_header_only_is_a_warning():
    upload = results()
    issue = only_issue(upload, "header_only")
    assert upload.report.ok and issue.line == 1
    assert (upload.report.rows_total, upload.report.rows_accepted) == (0, 0)


@pytest.mark.parametrize(
    ("data", "filename", "words"),
    [
        (b"PK\x03\x04rest-of-zip", "results.csv", "Excel workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", None, ".xls"),
        (b"site,date\x00,flow\n", None, "NUL"),
        (b"%PDF-1.7\n", "x.pdf", "PDF"),
    ],
)
def test_binary_file(data, filename, words):
    upload = parse(data, filename=filename)
    issue = only_issue(upload, "binary_file")
    assert words in issue.message
    assert len(upload.report.issues) == 1


def test_xlsx_unreadable():
    upload = parse(b"PK\x03\x04not really a workbook", filename="lab.xlsx")
    assert only_issue(upload, "xlsx_unreadable").line is None


def test_cp1252_fallback_warning():
    data = "site;name;municipality;population\nKTH;Nyköping;Katrineholm;34 324\n".encode("cp1252")
    upload = parse(data)
    issue = only_issue(upload, "encoding_fallback")
    assert issue.line == 2 and "Windows-1252" in issue.message
    assert upload.report.ok and upload.frame["name"].tolist() == ["Nyköping"]
    assert upload.report.details["encoding"] == "cp1252"


def test_utf16_with_bom_is_read():
    data = "site\tdate\tflow_m3_per_day\r\nKTH\t2025-03-04\t8640,5\r\n".encode("utf-16")
    upload = parse(data)
    assert upload.report.ok and upload.frame["flow_m3_per_day"].tolist() == [8640.5]


def test_limits(monkeypatch):
    monkeypatch.setattr(readers, "MAX_COLUMNS", 3)
    issue = only_issue(parse("a,b,c,d\n1,2,3,4\n"), "too_many_columns")
    assert issue.line == 1 and "4 columns" in issue.message

    monkeypatch.setattr(readers, "MAX_ROWS", 2)
    upload = parse("site,date,flow_m3_per_day\nA,2025-01-01,1\nA,2025-01-02,1\nA,2025-01-03,1\n")
    assert only_issue(upload, "too_many_rows").line == 4
    assert upload.frame.empty

    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 40)
    upload = parse('site,date,flow_m3_per_day\nA,2025-01-01,1,"' + "x" * 50 + '"\n')
    issue = only_issue(upload, "line_too_long")
    assert issue.line == 2 and "40 bytes" in issue.message


def test_malformed_csv_unclosed_quote():
    upload = parse('site,date,flow_m3_per_day\nA,"2025-01-01,1\nB,2025-01-02,3\n')
    issue = only_issue(upload, "malformed_csv")
    assert issue.line == 2 and "never closed" in issue.message
    # a closed multi-line quoted description is fine
    upload = parse(
        'event_id,kind,start,description\ne1,other,2025-01-01,"two\nlines"\ne2,other,2025-01-02,x\n'
    )
    assert upload.report.ok and upload.frame["description"].tolist() == ["two\nlines", "x"]
    assert upload.frame["source_line"].tolist() == [2, 4]


def test_unknown_kind():
    upload = parse("foo,bar\n1,2\n")
    issue = only_issue(upload, "unknown_kind")
    assert issue.line == 1 and "site, name, municipality, population" in issue.message
    assert upload.kind == "unknown"


# -- header ---------------------------------------------------------------------------------


def test_missing_column():
    upload = parse("site,date,flow_m3_per_day\nA,2025-01-01,1\n", kind="results")
    missing = [i for i in upload.report.issues if i.code == "missing_column"]
    assert {i.line for i in missing} == {1}
    assert any("'analyte'" in i.message for i in missing) or any(
        "analyte columns" in i.message for i in missing
    )
    upload = parse("site,name,population\nA,Alpha,100\n")
    issue = only_issue(upload, "missing_column")
    assert "'municipality'" in issue.message and upload.frame.empty


def test_duplicate_and_unknown_columns():
    upload = parse("site,datum,date,flow_m3_per_day,colour\nA,2025-01-01,2025-01-01,1,red\n")
    duplicate = only_issue(upload, "duplicate_column")
    assert (duplicate.line, duplicate.column) == (1, "date") and "'datum'" in duplicate.message
    unknown = only_issue(upload, "unknown_column")
    assert (unknown.line, unknown.column) == (1, "colour")
    upload = parse("site,sample_date,BE (ng/L),Benzoylecgonine (ng/L),loq\nA,2025-01-01,1,2,3\n")
    duplicate = only_issue(upload, "duplicate_column")
    assert duplicate.column == "Benzoylecgonine (ng/L)" and "'BE (ng/L)'" in duplicate.message
    assert upload.frame["value_ng_per_l"].tolist() == [1.0]
    # long-layout columns in a wide file are ignored with a warning
    assert only_issue(upload, "unknown_column").column == "loq"


# -- rows -----------------------------------------------------------------------------------


def test_column_count():
    upload = parse("site;date;flow_m3_per_day\nA;2025-01-01;1;;;\nA;2025-01-02;1;5\n")
    issue = only_issue(upload, "column_count")
    assert issue.line == 3 and "4 values" in issue.message and "3 columns" in issue.message
    assert (upload.report.rows_total, upload.report.rows_accepted) == (
        2,
        1,
    )  # empty extras are fine


def test_missing_value():
    issue = only_issue(results("S1,,2025-03-04,BE,1,ng/L"), "missing_value")
    assert (issue.line, issue.column) == (2, "site")
    issue = only_issue(results("S1,A,2025-03-04,BE,,ng/L"), "missing_value")
    assert (issue.line, issue.column) == (2, "value") and "<LOQ" in issue.message


def test_unknown_site_only_with_known_sites():
    rows = ("S1,KTH,2025-03-04,BE,1,ng/L", "S2,KTHX,2025-03-04,BE,1,ng/L")
    assert results(*rows).report.ok
    upload = results(*rows, known_sites={"KTH", "FLN"})
    issue = only_issue(upload, "unknown_site")
    assert (issue.line, issue.column, issue.value) == (3, "site", "KTHX")
    assert "Did you mean KTH?" in issue.message
    assert upload.report.rows_accepted == 1
    # case-insensitive match returns the registered spelling
    assert results("S1,kth,2025-03-04,BE,1,ng/L", known_sites={"KTH"}).frame["site"].tolist() == [
        "KTH"
    ]


def test_sites_upload_ignores_known_sites():
    upload = parse("site,name,municipality,population\nNEW,New,Flen,100\n", known_sites={"KTH"})
    assert upload.report.ok


def test_unknown_analyte():
    issue = only_issue(results("S1,A,2025-03-04,amfetamine,1,ng/L"), "unknown_analyte")
    assert (issue.line, issue.column) == (2, "analyte")
    assert "amfetamin (amphetamine)" in issue.message


def test_unknown_analyte_in_wide_header():
    upload = parse("site,sample_date,amfetamine (ng/L),BE (ng/L)\nA,2025-03-04,1,2\n")
    issue = only_issue(upload, "unknown_analyte")
    assert (issue.line, issue.column) == (1, "amfetamine (ng/L)")
    assert upload.frame["analyte"].tolist() == ["benzoylecgonine"]


@pytest.mark.parametrize("text", ["03/04/2025", "4 mars 2025", "2025-02-30", "2025/03/04"])
def test_bad_date(text):
    issue = only_issue(results(f"S1,A,{text},BE,1,ng/L"), "bad_date")
    assert (issue.line, issue.column, issue.value) == (2, "sample_date", text)
    assert "YYYY-MM-DD" in issue.message


@pytest.mark.parametrize(
    "text", ["2025-03-04", "2025-03-04 08:30", "2025-03-04T08:30:00", "20250304"]
)
def test_good_dates(text):
    assert results(f"S1,A,{text},BE,1,ng/L").frame["sample_date"].tolist() == [
        dt.datetime(2025, 3, 4)
    ]


def test_future_date():
    issue = only_issue(results("S1,A,2025-06-02,BE,1,ng/L"), "future_date")
    assert (issue.line, issue.column) == (2, "sample_date") and "2025-06-01" in issue.message
    assert results("S1,A,2025-06-01,BE,1,ng/L").report.ok  # today itself is fine


def test_negative_value_and_limits():
    issue = only_issue(results("S1,A,2025-03-04,BE,-3,ng/L"), "negative_value")
    assert (issue.line, issue.column) == (2, "value")
    upload = results("S1,A,2025-03-04,BE,3,ng/L,-1", header=RESULTS_HEADER + ",loq")
    assert only_issue(upload, "negative_value").column == "loq"


def test_non_numeric_value():
    issue = only_issue(results("S1,A,2025-03-04,BE,12.5x,ng/L"), "non_numeric")
    assert (issue.line, issue.column, issue.value) == (2, "value", "12.5x")
    # a decimal comma inside quotes in a comma-separated file: explain the fix
    issue = only_issue(results('S1,A,2025-03-04,BE,"12,5",ng/L'), "non_numeric")
    assert "decimal point" in issue.message


def test_missing_unit():
    issue = only_issue(results("S1,A,2025-03-04,BE,1,"), "missing_unit")
    assert (issue.line, issue.column) == (2, "unit")
    upload = parse("site,sample_date,BE\nA,2025-03-04,1\n")
    issue = only_issue(upload, "missing_unit")
    assert (issue.line, issue.column) == (1, "BE") and "(ng/L)" in issue.message
    assert upload.frame.empty


def test_unknown_unit():
    issue = only_issue(results("S1,A,2025-03-04,BE,1,ppb"), "unknown_unit")
    assert (issue.line, issue.column, issue.value) == (2, "unit", "ppb")
    assert "ng/L" in issue.message and "µg/m³" in issue.message
    issue = only_issue(
        parse("site,date,flow_m3_per_day,unit\nA,2025-01-01,3,gpm\n"), "unknown_unit"
    )
    assert (issue.line, issue.column) == (2, "unit") and "L/s" in issue.message


def test_censor_conflict():
    upload = results("S1,A,2025-03-04,BE,12.5,ng/L,<LOD", header=RESULTS_HEADER + ",qualifier")
    issue = only_issue(upload, "censor_conflict")
    assert (issue.line, issue.column) == (2, "value") and "<12.5" in issue.message
    assert upload.frame.empty


@pytest.mark.parametrize("qualifier", ["D", "<LOQ", "dnq", "detected below LOQ"])
def test_detected_below_loq_with_value_is_stored_as_its_own_state(qualifier):
    """ODM/Eawag flag D: detected, LOD <= x < LOQ, value reported (here in µg/L)."""
    upload = results(f"S1,A,2025-03-04,BE,0.0042,ug/L,{qualifier},0.005,0.001",
                     header=RESULTS_HEADER + ",qualifier,loq,lod")
    assert upload.report.ok, upload.report.issues
    row = upload.frame.iloc[0]
    assert row["censor"] == "D"
    assert row["value_ng_per_l"] == pytest.approx(4.2)
    assert (row["loq_ng_per_l"], row["lod_ng_per_l"]) == (pytest.approx(5.0), pytest.approx(1.0))


@pytest.mark.parametrize(
    ("row", "english", "swedish"),
    [
        ("S1,A,2025-03-04,BE,6,ng/L,D,5,1", "at or above the LOQ (5 ng/L)",
         "över kvantifieringsgränsen (5 ng/L)"),
        ("S1,A,2025-03-04,BE,0.5,ng/L,D,5,1", "below the LOD (1 ng/L)",
         "under detektionsgränsen (1 ng/L)"),
        ("S1,A,2025-03-04,BE,,ng/L,D,5,1", "needs the reported value", "kräver det rapporterade"),
        ("S1,A,2025-03-04,BE,<5,ng/L,D,5,1", "qualifier D says", "kvalifikatorn D säger"),
    ],
)
def test_detected_below_loq_outside_its_interval_is_an_error_in_both_languages(
        row, english, swedish):
    upload = results(row, header=RESULTS_HEADER + ",qualifier,loq,lod")
    (issue,) = upload.report.errors
    assert issue.code in ("censor_conflict", "missing_value")
    assert (issue.line, issue.column) == (2, "value")
    assert english in issue.message and issue.message.startswith("Line 2, column 'value': ")
    assert swedish in issue.message_sv and issue.message_sv.startswith("Rad 2, kolumn 'value': ")
    assert upload.frame.empty


def test_bad_qualifier():
    upload = results("S1,A,2025-03-04,BE,,ng/L,maybe", header=RESULTS_HEADER + ",qualifier")
    issue = only_issue(upload, "bad_qualifier")
    assert (issue.line, issue.column) == (2, "qualifier")


def test_loq_missing_is_a_warning():
    upload = results("S1,A,2025-03-04,BE,< LOQ,ng/L")
    issue = only_issue(upload, "loq_missing")
    assert (issue.line, issue.column) == (2, "value")
    assert upload.report.ok and upload.frame["censor"].tolist() == ["<LOQ"]


def test_censored_with_number_converts_loq():
    upload = results("S1,A,2025-03-04,BE,<2.5,ug/L")  # docs/architecture.md example
    row = upload.frame.iloc[0]
    assert (row["censor"], row["loq_ng_per_l"]) == ("<LOQ", 2500.0)
    assert row["value_ng_per_l"] != row["value_ng_per_l"]  # NaN


def test_duplicate_rows_name_both_lines():
    upload = results(
        "S1,A,2025-03-04,BE,1,ng/L",
        "S1,A,2025-03-04,amphetamine,1,ng/L",
        "S1,A,2025-03-04,be,2,ng/L",
    )
    issue = only_issue(upload, "duplicate_row")
    assert issue.line == 4 and "line 2" in issue.message and "4" in issue.message
    assert upload.frame["analyte"].tolist() == ["amphetamine"]  # both duplicates rejected
    upload = parse("site,date,flow_m3_per_day\nA,2025-01-01,1\nA,2025-01-01,2\n")
    assert only_issue(upload, "duplicate_row").line == 3
    upload = parse(
        "site,name,municipality,population,population_year\nA,a,m,10,2024\nA,a,m,11,2024\n"
    )
    assert only_issue(upload, "duplicate_row").line == 3


def test_composite_hours():
    header = RESULTS_HEADER + ",composite_hours"
    issue = only_issue(
        results("S1,A,2025-03-04,BE,1,ng/L,200", header=header), "bad_composite_hours"
    )
    assert (issue.line, issue.column) == (2, "composite_hours")
    assert only_issue(
        results("S1,A,2025-03-04,BE,1,ng/L,24.5", header=header), "bad_composite_hours"
    )
    upload = results("S1,A,2025-03-04,BE,1,ng/L,48", header=header)
    assert only_issue(upload, "unusual_composite_hours").line == 2
    assert upload.report.ok and upload.frame["composite_hours"].tolist() == [48]


def test_bad_sample_role_and_replicate():
    header = RESULTS_HEADER + ",sample_role,replicate"
    issue = only_issue(
        results("S1,A,2025-03-04,BE,1,ng/L,control,1", header=header), "bad_sample_role"
    )
    assert (issue.line, issue.column) == (2, "sample_role") and "blank" in issue.message
    issue = only_issue(
        results("S1,A,2025-03-04,BE,1,ng/L,sample,0", header=header), "bad_replicate"
    )
    assert (issue.line, issue.column) == (2, "replicate")


EVENTS_HEADER = "event_id,kind,start,end,sites,substances,description,confidential"


def test_bad_event_kind_and_end_before_start():
    upload = parse(
        EVENTS_HEADER + "\n"
        "e1,raid,2025-03-04,,,,x,\n"
        "e2,operation,2025-03-04,2025-03-01,,,x,\n"
        "e3,insats,2025-03-04,,,,x,kanske\n"
    )
    kind = only_issue(upload, "bad_event_kind")
    assert (kind.line, kind.column) == (2, "kind") and "school_search" in kind.message
    end = only_issue(upload, "end_before_start")
    assert (end.line, end.column) == (3, "end")
    boolean = only_issue(upload, "bad_boolean")
    assert (boolean.line, boolean.column) == (4, "confidential")
    assert upload.frame.empty


def test_events_unknown_site_and_substance():
    upload = parse(
        EVENTS_HEADER + '\ne1,operation,2025-03-04,,"KTH|XYZ","BE|amfetamine",x,\n',
        known_sites={"KTH"},
    )
    assert only_issue(upload, "unknown_site").column == "sites"
    assert only_issue(upload, "unknown_analyte").column == "substances"


def test_formula_text_warning():
    upload = results(
        'S1,A,2025-03-04,BE,1,ng/L,=HYPERLINK("x")', header=RESULTS_HEADER + ",comment"
    )
    issue = only_issue(upload, "formula_text")
    assert (issue.line, issue.column) == (2, "comment") and "stored as plain text" in issue.message
    assert upload.report.ok and upload.frame["comment"].tolist() == ['=HYPERLINK("x")']


def test_population_must_be_whole_and_coordinates_in_range():
    upload = parse("site;name;municipality;population;lat\nA;a;m;34,5;58\nB;b;m;100;95\n")
    population = only_issue(upload, "bad_integer")
    assert (population.line, population.column) == (2, "population")
    coordinate = only_issue(upload, "out_of_range")
    assert (coordinate.line, coordinate.column) == (3, "lat")


def test_all_problems_reported_at_once():
    upload = results(
        "S1,A,03/04/2025,BE,1,ng/L",
        "S2,A,2025-03-04,foo,1,ng/L",
        "S3,A,2025-03-04,BE,-1,ng/L",
        "S4,A,2025-03-04,BE,1,ppb",
        "S5,A,2025-03-04,BE,7,ng/L",
    )
    assert upload.report.codes() == [
        "bad_date",
        "unknown_analyte",
        "negative_value",
        "unknown_unit",
    ]
    assert [i.line for i in upload.report.issues] == [2, 3, 4, 5]
    assert (upload.report.rows_total, upload.report.rows_accepted) == (5, 1)
    assert upload.frame["sample_id"].tolist() == ["S5"]


def test_every_message_names_line_and_column():
    upload = results("S1,A,03/04/2025,BE,x,ppb")
    for issue in upload.report.issues:
        assert issue.message.startswith(f"Line {issue.line}, column '{issue.column}'")


@pytest.mark.parametrize("date_text", ["1500-01-01", "2999-01-01", "0001-01-01"])
def test_implausible_year_is_bad_date_not_internal_error(date_text):
    data = (
        "sample_id,site,sample_date,analyte,value,unit\n"
        f"S1,SE-A,{date_text},amphetamine,12,ng/L\n"
    ).encode()
    report = parse_upload(data, "results", known_sites={"SE-A"}, today=dt.date(2026, 1, 1)).report
    assert [(i.code, i.line, i.column) for i in report.errors] == [("bad_date", 2, "sample_date")]
    assert "year" in report.errors[0].message


def test_huge_replicate_is_bad_replicate_not_internal_error():
    data = (
        b"sample_id,site,sample_date,analyte,value,unit,replicate\n"
        b"S1,SE-A,2025-01-01,amphetamine,12,ng/L,1e20\n"
        b"S2,SE-A,2025-01-01,amphetamine,12,ng/L,1001\n"
    )
    report = parse_upload(data, "results", known_sites={"SE-A"}, today=dt.date(2026, 1, 1)).report
    assert [(i.code, i.line) for i in report.errors] == [("bad_replicate", 2), ("bad_replicate", 3)]
