"""The reader: text without quotes is split with ``str.split`` (whole columns when every line is
header-wide) and gives exactly the cells, lines and issues of the :mod:`csv` module's reader."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    return read_table(data), read_table(data, split_unquoted=False)


def table_fields(result):
    table, issues = result
    fields = None
    if table is not None:
        fields = (table.header, table.rows, table.lines, table.header_line, table.details)
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


@pytest.mark.parametrize(
    "text",
    [
        "a,b,c\n1,2,3\n4,,6\n",  # every line header-wide: read column-wise
        "a;b;c\r\n1;2;3\r\n;;\r\n4;5;6",  # a blank line: row-wise
        "a,b,c,\n1,2,3,\n",  # trailing empty header cell: row-wise
        "a,b\n1,2,3\n",  # ragged: row-wise
    ],
)
def test_column_wise_reading_equals_csv_reader(text):
    fast, reference = read_both(text.encode())
    assert table_fields(fast) == table_fields(reference)
    assert (fast[0].columns is not None) == (text == "a,b,c\n1,2,3\n4,,6\n")


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
