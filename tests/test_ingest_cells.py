"""Single-cell parsers of the ingest layer: numbers, dates, censoring marks, yes/no, lists."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wastewater.ingest.cells import (
    CellError,
    looks_like_formula,
    parse_boolean,
    parse_censored,
    parse_date,
    parse_number,
    parse_qualifier,
    split_list,
)


@pytest.mark.parametrize(
    ("text", "decimal_comma", "expected"),
    [
        ("12.5", False, 12.5),
        ("12,5", True, 12.5),
        ("12.5", True, 12.5),  # a point is always accepted
        ("34 324", True, 34324.0),  # space as thousands separator (Unicode2001)
        ("34\u00a0324", False, 34324.0),  # no-break space
        ("1 234 567,5", True, 1234567.5),
        ("1e3", False, 1000.0),
        ("\u22123", False, -3.0),  # Unicode minus sign
        (".5", False, 0.5),
    ],
)
def test_parse_number(text, decimal_comma, expected):
    assert parse_number(text, decimal_comma) == expected


@pytest.mark.parametrize(
    ("text", "decimal_comma"),
    [
        ("12,5", False),
        ("1.234,5", True),
        ("1,2,3", True),
        ("nan", False),
        ("inf", False),
        ("1e999", False),
        ("12 5", False),
        ("", False),
        ("abc", True),
    ],
)
def test_parse_number_rejects(text, decimal_comma):
    with pytest.raises(CellError) as info:
        parse_number(text, decimal_comma)
    assert info.value.code == "non_numeric"


@settings(max_examples=200, derandomize=True)
@given(st.floats(allow_nan=False, allow_infinity=False), st.booleans())
def test_parse_number_round_trips_repr(value, decimal_comma):
    text = repr(value)
    if decimal_comma:
        text = text.replace(".", ",")
    assert parse_number(text, decimal_comma) == value


@settings(max_examples=200, derandomize=True)
@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 12, 31)))
def test_parse_date_round_trips(day):
    assert parse_date(day.isoformat()) == day
    assert parse_date(day.strftime("%Y%m%d")) == day
    assert parse_date(f"{day.isoformat()} 23:59") == day


@pytest.mark.parametrize("text", ["03/04/2025", "2025-3-4", "25-03-04", "2025-02-29", "4 mars"])
def test_parse_date_rejects(text):
    with pytest.raises(CellError, match="YYYY-MM-DD") as info:
        parse_date(text)
    assert info.value.code == "bad_date"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12.5", ("none", 12.5)),
        ("<2.5", ("<LOQ", 2.5)),
        ("< 2,5", ("<LOQ", 2.5)),
        ("<LOQ", ("<LOQ", None)),
        ("< LOQ", ("<LOQ", None)),
        ("<LOQ 2.5", ("<LOQ", 2.5)),
        ("<LOD", ("<LOD", None)),
        ("<LOD 0.5", ("<LOD", 0.5)),
        ("ND", ("ND", None)),
        ("n.d.", ("ND", None)),
        ("", ("empty", None)),
    ],
)
def test_parse_censored(text, expected):
    assert parse_censored(text, decimal_comma=True) == expected


@pytest.mark.parametrize("text", ["<", "<abc", "n.a.", "> 1000", "12 ng"])
def test_parse_censored_rejects(text):
    with pytest.raises(CellError) as info:
        parse_censored(text, decimal_comma=False)
    assert info.value.code == "non_numeric"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "none"),
        ("=", "none"),
        ("<LOQ", "<LOQ"),
        ("< loq", "<LOQ"),
        ("belowLOQ", "<LOQ"),
        ("<LOD", "<LOD"),
        ("beLOD", "<LOD"),
        ("ND", "ND"),
        ("not detected", "ND"),
    ],
)
def test_parse_qualifier(text, expected):
    assert parse_qualifier(text) == expected


def test_parse_qualifier_rejects():
    with pytest.raises(CellError) as info:
        parse_qualifier("maybe")
    assert info.value.code == "bad_qualifier"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("ja", True), ("Nej", False), ("TRUE", True), ("0", False), ("", False), ("yes", True)],
)
def test_parse_boolean(text, expected):
    assert parse_boolean(text) is expected


def test_split_list_and_formula_detection():
    assert split_list("KTH|FLN, PS1;X") == ["KTH", "FLN", "PS1", "X"]
    assert split_list("alla") == []
    assert split_list("") == []
    assert (
        looks_like_formula("=SUM(A1:A3)")
        and looks_like_formula("@cmd")
        and looks_like_formula("+x")
    )
    assert (
        not looks_like_formula("-")
        and not looks_like_formula("-5")
        and not looks_like_formula("ok")
    )
