"""The reader (pandas' C parser, codes into distinct texts per column, a scan of the bytes for lines)
gives exactly the cells, physical lines and issues of the :mod:`csv` module's reader
(tests/reference_reader.py), with and without quotes (embedded line breaks, ``""``), for every
text, broken ones included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_reader import read_table_csv_module

import wastewater.ingest.readers as readers_module
from wastewater.ingest.readers import read_table

unquoted_text = st.lists(
    st.sampled_from(
        list("ab1.ä ,;\t\r\n\u00a0\u202f\ufeff")
        + ["sep=;\n", "sep=ä\n", "sep= \n", "sep=\u00a0\n", "x,y,z\n"]
    ),
    max_size=120,
).map("".join)


def read_both(data: bytes):
    return read_table(data), read_table_csv_module(data)


def table_fields(result):
    table, issues = result
    fields = None
    if table is not None:
        fields = (table.header, table.rows, table.lines.tolist(), table.header_line, table.details,
                  table.extra_cells)
    return fields, [i.to_dict() for i in issues]


@settings(max_examples=300, derandomize=True, deadline=None)
@given(text=unquoted_text, encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_unquoted_reader_equals_csv_reader(text, encoding):
    fast, reference = read_both(text.encode(encoding))
    assert table_fields(fast) == table_fields(reference)


@pytest.mark.parametrize(("limit", "columns"), [(3, 1000), (1000, 2)])
def test_unquoted_reader_limits_equal_csv_reader(monkeypatch, limit, columns):
    """too_many_rows and too_many_columns: same issue, same line, on both readers."""
    monkeypatch.setattr(readers_module, "MAX_ROWS", limit)
    monkeypatch.setattr(readers_module, "MAX_COLUMNS", columns)
    data = b"\n a,b,c\n1,2,3\n\n,,\n4,5\n6,7,8,9\n10,11,12\n"
    fast, reference = read_both(data)
    assert table_fields(fast) == table_fields(reference)
    assert fast[0] is None and fast[1]


quoted_text = st.lists(
    st.sampled_from(
        list('ab1 ,;\t\r\n"\u00a0') + ['"', '""', '"x,\ny"', '"a""b"', '"\r\n"', "sep=;\n",
                                       "x,y,z\n", "\r\n", 'a,"b;c",d\n']
    ),
    max_size=80,
).map("".join)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(text=quoted_text, encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
def test_quoted_reader_equals_csv_reader(text, encoding):
    """Quoted cells with delimiters and line breaks inside: same cells and physical lines."""
    fast, reference = read_both(text.encode(encoding, "replace"))
    assert table_fields(fast) == table_fields(reference)


@pytest.mark.parametrize(
    ("text", "lines", "rows"),
    [
        ('a,b,c\n"1\n2",x,"y"\n3,"p""q",r\n', [2, 4], [["1\n2", "x", "y"], ["3", 'p"q', "r"]]),
        ("a;b\r\n1,5;2\r\n\r\n;\r\n3;4", [2, 5], [["1,5", "2"], ["3", "4"]]),
        ('\ufeffa,b\n"x\r\ny",1\r2,3', [2, 4], [["x\r\ny", "1"], ["2", "3"]]),
    ],
)
def test_tokenizer_keeps_physical_lines(text, lines, rows):
    """Line numbers count the breaks inside quoted cells; blank lines are skipped."""
    table, issues = read_table(text.encode("utf-8"))
    assert not issues
    assert table.lines.tolist() == lines
    assert table.rows == rows


def test_tokenizer_stores_codes_not_strings():
    """A column of a million-row file is one small code per row into its distinct texts."""
    body = "".join(f"S{i % 3},2025-01-0{1 + i % 2}\n" for i in range(3000))
    table, _ = read_table(("site,date\n" + body).encode())
    codes, texts = table.column_codes(0)
    assert codes.dtype == np.int32 and len(codes) == 3000
    assert sorted({texts[c] for c in codes.tolist()}) == ["S0", "S1", "S2"]
    assert table.column(1)[:3].tolist() == ["2025-01-01", "2025-01-02", "2025-01-01"]


def test_numeric_looking_cells_stay_texts():
    """Cells are texts as written: pandas would read a column of categories as numbers."""
    table, issues = read_table(b"a,b\n1,true\n1.0,TRUE\n01,1\n")
    assert not issues
    assert table.rows == [["1", "true"], ["1.0", "TRUE"], ["01", "1"]]


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b'a,b\n1,2\n3,"' + b"x\n" * 20 + b'"\n4,5\n', 3),  # a long quoted cell, closed
        (b'a,b\n1,2\n3,"' + b"x\n" * 20, 3),  # never closed
        (b'a,b\n1,2\n\n"x\ny\n' + b"z,z\n" * 10, 4),
    ],
)
def test_a_cell_over_the_limit_is_reported_where_its_record_starts(monkeypatch, data, line):
    monkeypatch.setattr(readers_module, "MAX_LINE_BYTES", 10)
    fast, reference = read_both(data)
    assert table_fields(fast) == table_fields(reference)
    table, issues = fast
    assert table is None and [(i.code, i.line) for i in issues] == [("malformed_csv", line)]
    assert "longer than 11 characters" in issues[0].message


def test_wide_rows_and_an_unclosed_quote_in_a_larger_file():
    """Rows wider than the header and a quote never closed, past the first bytes searched."""
    rows = [f"S{i},{i}" for i in range(20_000)]
    rows[15_000] += ",extra,,x"
    text = "site,n\n" + "\n".join(rows) + '\nS,"open\nS,1\n'
    fast, reference = read_both(text.encode())
    assert table_fields(fast) == table_fields(reference)
    assert [(i.code, i.line) for i in fast[1]] == [("malformed_csv", 20_002)]
    fast, reference = read_both(text.rsplit("\n", 3)[0].encode() + b"\n")
    assert table_fields(fast) == table_fields(reference)
    assert fast[0].extra_cells == {15_000: ["extra", "", "x"]}


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    text=st.lists(
        st.sampled_from(list('a;,\t "\r\n ') + ["sep=;", "sep=,\r\n", "x;y\n"]), max_size=40
    ).map("".join),
    prefix=st.integers(1, 12),
)
def test_sniffing_a_prefix_equals_sniffing_the_whole_text(text, prefix):
    original = readers_module._SNIFF_CHARS
    try:
        readers_module._SNIFF_CHARS = prefix
        assert readers_module._sniff(text) == readers_module._sniff_lines(text)[0]
    finally:
        readers_module._SNIFF_CHARS = original
