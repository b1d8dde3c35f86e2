"""The column-wise path for long results files equals the row-by-row reference path.

``wastewater.ingest.results.FAST_PATH`` switches between :mod:`wastewater.ingest.fastlong`
(whole columns, distinct texts parsed once, only problem rows through the row validator) and
the original row validator. For random long files mixing valid and broken cells of every
column (hypothesis, derandomised) and for a seeded larger file, both must give the same
report (codes, lines, columns, messages, order) and the same frame, dtypes included.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wastewater.ingest.readers as readers_module
import wastewater.ingest.results as results_module
from wastewater.ingest import parse_upload
from wastewater.ingest.context import RowContext, map_header
from wastewater.ingest.fastlong import long_fast_rows
from wastewater.ingest.readers import read_table

TODAY = dt.date(2025, 6, 1)
KNOWN = {"KTH", "SE005"}

#: Column -> cell texts, valid and broken (every row-level issue code of long files).
POOLS: dict[str, list[str]] = {
    "sample_id": ["", "S1", "S2", "s1", "=cmd"],
    "site": ["", "KTH", "kth", "SE005", "XYZ"],
    "sample_date": [
        "",
        "2025-03-04",
        "2025-03-05 08:00",
        "20250306",
        "2025-02-30",
        "03/04/2025",
        "2030-01-01",
        "1500-01-01",
    ],
    "analyte": ["", "BE", "amphetamine", "Amfetamin", "THC-COOH", "foo"],
    "value": [
        "",
        "12.5",
        "12,5",
        "1e3",
        "-3",
        "<2.5",
        "<2,5",
        "< LOQ",
        "<LOD",
        "ND",
        "n.d.",
        "abc",
        "1 234",
        "1 234,5",
        ".5",
        "<.5",
        "1e400",
        "<-1",
        "+7",
        "\u22123",
        "<LOQ 2.5",
        "0",
        "-0",
        "1.2.3",
    ],
    "unit": ["", "ng/L", "µg/L", "ug/l", "mg/m3", "ppb"],
    "qualifier": ["", "", "", "<LOQ", "<LOD", "ND", "=", "maybe"],
    "loq": ["", "", "2.5", "2,5", "-1", "x", "0.1"],
    "lod": ["", "", "1", "0,5", "-1", "y"],
    "replicate": ["", "1", "2", "0", "1.5", "x", "1e20", "3.0"],
    "composite_hours": ["", "24", "72", "48", "0", "200", "x"],
    "sample_role": ["", "sample", "Blank", "qc", "blind prov", "bogus"],
    "flow_m3_per_day": ["", "8640", "8 640,5", "-1", "x", "12.5"],
    "lab": ["", "Lab A", "=HYPERLINK()", "-5", "@x"],
    "comment": ["", "ok", "+x1"],
}
#: Texts whose accepted record makes the frame conversion fail (date before 1677, replicate
#: beyond int64): both paths report internal_error; kept out of the seeded file only.
CRASHERS = {"1500-01-01", "1e20"}
#: Valid texts, drawn more often so that many files have accepted rows and duplicates.
VALID: dict[str, list[str]] = {
    "sample_id": ["S1", "S2", ""],
    "site": ["KTH", "SE005"],
    "sample_date": ["2025-03-04", "20250306"],
    "analyte": ["BE", "amphetamine"],
    "value": ["12.5", "<2.5", "ND", "0", "1e3"],
    "unit": ["ng/L", "µg/L"],
    "qualifier": [""],
    "loq": ["", "2.5"],
    "lod": ["", "1"],
    "replicate": ["", "1", "2"],
    "composite_hours": ["", "24"],
    "sample_role": ["", "sample", "Blank"],
    "flow_m3_per_day": ["", "8640"],
    "lab": ["", "Lab A"],
    "comment": ["", "ok"],
}
REQUIRED = ["site", "sample_date", "analyte", "value", "unit"]
OPTIONAL = [c for c in POOLS if c not in REQUIRED]


def write(header: list[str], rows: list[list[str]], dialect: str) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter="," if dialect == "comma" else ";")
    writer.writerow(header)
    writer.writerows(rows)
    data = buffer.getvalue().encode("utf-8")
    return data if dialect == "comma" else codecs.BOM_UTF8 + data


def both_paths(data: bytes, known_sites):
    """parse_upload with the column-wise path and with the row-by-row reference path."""
    try:
        results_module.FAST_PATH = True
        fast = parse_upload(data, known_sites=known_sites, today=TODAY)
        results_module.FAST_PATH = False
        reference = parse_upload(data, known_sites=known_sites, today=TODAY)
    finally:
        results_module.FAST_PATH = True
    return fast, reference


def assert_same(fast, reference) -> None:
    assert fast.kind == reference.kind
    assert fast.report.to_dict() == reference.report.to_dict()
    pd.testing.assert_frame_equal(fast.frame, reference.frame)


@st.composite
def long_files(draw):
    optional = draw(st.lists(st.sampled_from(OPTIONAL), unique=True, max_size=len(OPTIONAL)))
    columns = REQUIRED + optional
    order = draw(st.permutations(columns))
    rows = draw(
        st.lists(
            st.fixed_dictionaries({c: st.sampled_from(VALID[c] * 6 + POOLS[c]) for c in columns}),
            min_size=1,
            max_size=25,
        )
    )
    dialect = draw(st.sampled_from(["comma", "semicolon"]))
    return write(list(order), [[r[c] for c in order] for r in rows], dialect)


@settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=long_files(), known=st.sampled_from([None, KNOWN]))
def test_fast_path_equals_reference_on_random_long_files(data, known):
    assert_same(*both_paths(data, known))


def seeded_file(n_rows: int, seed: int, p_broken: float) -> bytes:
    """Long file where most cells are valid and ``p_broken`` of the cells come from the pools."""
    rng = np.random.default_rng(seed)
    good = {
        "sample_id": [f"S{i}" for i in range(n_rows // 4)],
        "site": ["KTH", "SE005"],
        "sample_date": ["2025-03-04", "2025-03-05", "2025-04-01"],
        "analyte": ["BE", "amphetamine", "mdma", "cotinine"],
        "value": [f"{v:.3f}" for v in rng.lognormal(4, 1, 200)] + ["<2.5", "<0.1"],
        "unit": ["ng/L", "µg/L"],
        "qualifier": [""],
        "loq": ["", "2.5"],
        "lod": ["", "0.5"],
        "replicate": ["1", "2", ""],
        "composite_hours": ["24", "72", ""],
        "sample_role": ["sample", "blank", ""],
        "flow_m3_per_day": ["8640", "12000.5", ""],
        "lab": ["Lab A", ""],
        "comment": ["", "rain"],
    }
    header = list(POOLS)
    rows = []
    for _ in range(n_rows):
        row = []
        for column in header:
            pool = POOLS[column] if rng.random() < p_broken else good[column]
            pool = [t for t in pool if t not in CRASHERS]
            row.append(pool[rng.integers(len(pool))])
        rows.append(row)
    return write(header, rows, "comma")


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("known", [None, KNOWN])
def test_fast_path_equals_reference_on_a_seeded_file(seed, known):
    fast, reference = both_paths(seeded_file(3000, seed, p_broken=0.01), known)
    assert len(fast.frame) > 100 and fast.report.issues  # both paths really exercised
    assert_same(fast, reference)


def test_clean_rows_take_the_fast_path():
    """A clean file is accepted column-wise: no row goes through the row validator."""
    data = (
        b"sample_id,site,sample_date,analyte,value,unit,loq\n"
        b"S1,KTH,2025-03-04,BE,412.5,ng/L,10\n"
        b"S1,KTH,2025-03-04,amphetamine,<0.01,ug/L,0.01\n"
        b",SE005,2025-03-05,cocaine,ND,ng/L,5\n"
    )
    table, _ = read_table(data)
    ctx = RowContext(
        table=table, kind="results", today=TODAY, known_sites={s.casefold(): s for s in KNOWN}
    )
    map_header(ctx, analyte_columns=False)
    fast, columns = long_fast_rows(ctx)
    assert fast.tolist() == [True, True, True]
    assert columns["sample_id"].tolist() == ["S1", "S1", "SE005-20250305"]
    assert columns["censor"].tolist() == ["none", "<LOQ", "ND"]
    np.testing.assert_array_equal(columns["value_ng_per_l"], [412.5, np.nan, np.nan])
    np.testing.assert_array_equal(columns["loq_ng_per_l"], [10.0, 10.0, 5.0])  # 0.01 µg/L


# ------------------------------------------------------------------------------------------
# Reader: text without quotes is split with str.split instead of the csv module.

unquoted_text = st.lists(
    st.sampled_from(
        list("ab1.ä ,;\t\r\n\u00a0\u202f\ufeff")
        + ["sep=;\n", "sep=ä\n", "sep= \n", "sep=\u00a0\n", "x,y,z\n"]
    ),
    max_size=120,
).map("".join)


def read_both(data: bytes):
    try:
        readers_module.UNQUOTED_FAST_PATH = True
        fast = read_table(data)
        readers_module.UNQUOTED_FAST_PATH = False
        reference = read_table(data)
    finally:
        readers_module.UNQUOTED_FAST_PATH = True
    return fast, reference


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


def test_seeded_file_goes_through_the_fast_path_without_fallback():
    """``_long_frame_fast`` itself (no fallback to the row validator) gives the frame."""
    data = seeded_file(500, 3, p_broken=0.02)
    table, _ = read_table(data)
    ctx = RowContext(
        table=table, kind="results", today=TODAY, known_sites={s.casefold(): s for s in KNOWN}
    )
    map_header(ctx, analyte_columns=False)
    frame = results_module._long_frame_fast(ctx)
    _, reference = both_paths(data, KNOWN)
    pd.testing.assert_frame_equal(frame, reference.frame)
    issues = sorted(ctx.issues, key=lambda i: i.line)  # as parse_upload orders them
    # plausibility warnings come from one pass over the finished frame, after validation
    expected = [i for i in reference.report.issues if not i.code.startswith("implausible_")]
    assert issues == expected
    assert len(frame) > 300 and len(issues) > 10


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
