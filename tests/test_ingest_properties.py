"""Property tests of the ingest layer (hypothesis, derandomised so CI is deterministic).

- Well-formed tables written by Python's csv module in either dialect (comma + decimal point,
  semicolon + decimal comma + BOM) read back to exactly the written values.
- Wide and long layouts of the same random results give the same frame.
- Writing concentrations in µg/L instead of ng/L does not change ``value_ng_per_l``.
- Arbitrary bytes never raise: they give a report (and never an internal error).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wastewater.ingest import parse_upload

TODAY = dt.date(2025, 6, 1)
PROFILE = settings(
    max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

site_ids = st.from_regex(r"[A-Z][A-Za-z0-9_-]{0,7}", fullmatch=True)
dates = st.dates(min_value=dt.date(2015, 1, 1), max_value=TODAY)
free_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=12,
)
names = st.lists(free_text, min_size=1, max_size=3).map(" ".join)
positive = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False)


def write_csv(header, rows, dialect):
    """Write rows as a spreadsheet would: ("comma", ".") or ("semicolon", "," + BOM)."""
    buffer = io.StringIO(newline="")
    delimiter = "," if dialect == "comma" else ";"
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, float):
                cell = repr(cell) if dialect == "comma" else repr(cell).replace(".", ",")
            cells.append(str(cell))
        writer.writerow(cells)
    data = buffer.getvalue().encode("utf-8")
    return data if dialect == "comma" else codecs.BOM_UTF8 + data


@PROFILE
@given(
    rows=st.lists(
        st.tuples(
            site_ids,
            names,
            names,
            st.integers(1, 10_000_000),
            st.integers(1900, 2025),
            st.floats(-90, 90, allow_nan=False),
        ),
        min_size=1,
        max_size=15,
        unique_by=lambda r: (r[0], r[4]),
    ),
    dialect=st.sampled_from(["comma", "semicolon"]),
)
def test_sites_round_trip(rows, dialect):
    data = write_csv(
        ["site", "name", "municipality", "population", "population_year", "lat"], rows, dialect
    )
    upload = parse_upload(data, today=TODAY)
    assert upload.kind == "sites"
    assert upload.report.ok, upload.report.issues
    assert upload.report.rows_accepted == len(rows)
    frame = upload.frame
    assert frame["site"].tolist() == [r[0] for r in rows]
    assert frame["name"].tolist() == [r[1] for r in rows]
    assert frame["municipality"].tolist() == [r[2] for r in rows]
    assert frame["population"].tolist() == [r[3] for r in rows]
    assert frame["population_year"].tolist() == [r[4] for r in rows]
    assert frame["lat"].tolist() == [r[5] for r in rows]


@PROFILE
@given(
    rows=st.lists(
        st.tuples(site_ids, dates, positive),
        min_size=1,
        max_size=20,
        unique_by=lambda r: (r[0], r[1]),
    ),
    dialect=st.sampled_from(["comma", "semicolon"]),
)
def test_flows_round_trip(rows, dialect):
    data = write_csv(
        ["site", "date", "flow_m3_per_day"], [(s, d.isoformat(), q) for s, d, q in rows], dialect
    )
    upload = parse_upload(data, today=TODAY)
    assert upload.kind == "flows" and upload.report.ok, upload.report.issues
    assert upload.frame["flow_m3_per_day"].tolist() == [q for *_, q in rows]
    assert upload.frame["date"].tolist() == [pd.Timestamp(d) for _, d, _ in rows]
    assert upload.frame["source_line"].tolist() == list(range(2, len(rows) + 2))


ANALYTES = ["benzoylecgonine", "amphetamine", "mdma", "thc-cooh", "methamphetamine"]
cells = st.one_of(
    positive.map(lambda v: ("value", v)),
    st.floats(0.01, 100, allow_nan=False).map(lambda v: ("loq", v)),
    st.just(("nd", None)),
    st.just(("empty", None)),
)


def render(cell, dialect):
    kind, number = cell
    text = (
        None
        if number is None
        else (repr(number) if dialect == "comma" else repr(number).replace(".", ","))
    )
    return {"value": text, "loq": f"<{text}", "nd": "ND", "empty": ""}[kind]


@PROFILE
@given(
    samples=st.lists(
        st.tuples(site_ids, dates, st.lists(cells, min_size=5, max_size=5)),
        min_size=1,
        max_size=6,
        unique_by=lambda s: (s[0], s[1]),
    ),
    dialect=st.sampled_from(["comma", "semicolon"]),
)
def test_wide_and_long_results_agree(samples, dialect):
    delimiter = "," if dialect == "comma" else ";"
    wide_lines = [delimiter.join(["site", "sample_date"] + [f"{a} (ng/L)" for a in ANALYTES])]
    long_lines = [delimiter.join(["site", "sample_date", "analyte", "value", "unit"])]
    for site, day, row in samples:
        texts = [render(c, dialect) for c in row]
        wide_lines.append(delimiter.join([site, day.isoformat(), *texts]))
        for analyte, text in zip(ANALYTES, texts, strict=True):
            if text:
                long_lines.append(delimiter.join([site, day.isoformat(), analyte, text, "ng/L"]))
    wide = parse_upload(("\n".join(wide_lines) + "\n").encode(), today=TODAY)
    long = parse_upload(("\n".join(long_lines) + "\n").encode(), today=TODAY)
    n_cells = sum(1 for *_, row in samples for c in row if c[0] != "empty")
    assert wide.report.rows_total == long.report.rows_total == n_cells
    assert wide.report.ok and long.report.ok
    keys = ["sample_id", "analyte"]
    a = wide.frame.drop(columns="source_line").sort_values(keys).reset_index(drop=True)
    b = long.frame.drop(columns="source_line").sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


@PROFILE
@given(values=st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=10))
def test_unit_invariance_ug_vs_ng(values):
    """The same concentrations written in ng/L and in µg/L give the same value_ng_per_l."""
    header = "sample_id,site,sample_date,analyte,value,unit\n"
    ng = header + "".join(f"S{i},A,2025-03-04,BE,{v!r},ng/L\n" for i, v in enumerate(values))
    ug = header + "".join(f"S{i},A,2025-03-04,BE,{v / 1000!r},µg/L\n" for i, v in enumerate(values))
    a = parse_upload(ng.encode(), today=TODAY).frame["value_ng_per_l"]
    b = parse_upload(ug.encode(), today=TODAY).frame["value_ng_per_l"]
    pd.testing.assert_series_equal(a, b, check_exact=False, rtol=1e-12, atol=1e-9)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b),  # broken workbooks
        st.binary(max_size=200).map(lambda b: b"\xff\xfe" + b),  # UTF-16 BOM + junk
    ),
    filename=st.sampled_from([None, "x.csv", "x.xlsx"]),
)
def test_arbitrary_bytes_give_a_report(data, filename):
    upload = parse_upload(data, filename=filename, today=TODAY)
    report = upload.report
    assert "internal_error" not in report.codes(), report.issues
    assert report.rows_accepted == len(upload.frame) <= report.rows_total
    report.to_dict()


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    header=st.sampled_from(
        [
            "site,date,flow_m3_per_day",
            "site;sample_date;BE (ng/L);amphetamine",
            "sample_id,site,sample_date,analyte,value,unit,qualifier,loq",
            "event_id,kind,start,end,sites,substances,confidential",
            "site,name,municipality,population,lat",
        ]
    ),
    body=st.text(
        alphabet=st.sampled_from(list('abcKTH0123456789.,;-<> "\n\r|=µ/LDOQN')), max_size=300
    ),
)
def test_arbitrary_text_under_real_headers_gives_a_report(header, body):
    upload = parse_upload((header + "\n" + body).encode(), today=TODAY)
    assert "internal_error" not in upload.report.codes(), upload.report.issues
    assert upload.report.rows_accepted == len(upload.frame)
