"""Plausibility warnings: cited per-analyte maxima, sample dates before WBE existed or far outside
a site's stored history. Warnings keep the row; messages in English and Swedish."""

from __future__ import annotations

import datetime as dt

import pytest

from wastewater.ingest import parse_upload
from wastewater.parameters import cited_sources, plausible_range
from wastewater.storage.service import ingest_bytes

TODAY = dt.date(2025, 6, 1)
HEADER = "sample_id,site,sample_date,analyte,value,unit\n"


def _parse(*rows: str, header: str = HEADER, **kw):
    kw.setdefault("today", TODAY)
    return parse_upload((header + "".join(r + "\n" for r in rows)).encode(), **kw)


def _warnings(upload, code):
    return [i for i in upload.report.issues if i.code == code]


def test_catalogue_limit_is_the_highest_euda_load_at_a_low_flow():
    be = plausible_range("benzoylecgonine")
    # 4 751.5 mg/day/1000 inh. / (100 L/person/day = 100 m3/day per 1000) = 47.515 mg/m3
    assert be.max_ng_per_l == pytest.approx(47_515.0)
    assert be.source == "EUDA2025" and {"EUDA2025", "NoPrimarySource"} <= cited_sources()
    assert plausible_range("caffeine") is None  # no cited range: never flagged


def test_value_above_the_cited_maximum_is_a_warning_and_the_row_is_kept():
    upload = _parse("S1,A,2025-03-04,BE,60000,ng/L",
                    "S2,A,2025-03-04,BE,45,ug/L",  # 45 000 ng/L: below 47 515
                    "S3,A,2025-03-04,BE,50,ug/L",  # 50 000 ng/L: above
                    "S4,A,2025-03-04,caffeine,900000,ng/L")
    assert upload.report.ok and len(upload.frame) == 4
    found = _warnings(upload, "implausible_value")
    assert [(i.line, i.column, i.value, i.severity) for i in found] == [
        (2, "value", "60000", "warning"), (4, "value", "50", "warning")]
    assert "60000 ng/L (60,000 ng/L) of benzoylecgonine" in found[0].message
    assert "47,515 ng/L" in found[0].message and "The row was kept" in found[0].message
    assert found[1].message_sv.startswith("Rad 4, kolumn 'value': 50 ug/L (50\u00a0000 ng/L)")
    assert "47\u00a0515 ng/L" in found[1].message_sv and "Raden sparades" in found[1].message_sv


def test_wide_file_names_the_analyte_column():
    upload = _parse("A,2025-03-04,52000,10", header="site,sample_date,BE (ng/L),MDMA (ng/L)\n")
    (issue,) = _warnings(upload, "implausible_value")
    assert (issue.line, issue.column) == (2, "BE (ng/L)")


def test_sample_date_before_wastewater_monitoring_existed():
    upload = _parse("S1,A,1905-03-04,BE,100,ng/L", "S2,A,2005-01-01,BE,100,ng/L")
    (issue,) = _warnings(upload, "implausible_date")
    assert (issue.line, issue.column, issue.value) == (2, "sample_date", "1905-03-04")
    assert "before 2005" in issue.message and "före 2005" in issue.message_sv
    assert len(upload.frame) == 2


def test_dates_far_outside_the_sites_stored_history(engine):
    ingest_bytes(engine, b"site,name,municipality,population\nA,Verk A,Aby,1000\n",
                 filename="s.csv", uploader="t", today=TODAY)
    first = ingest_bytes(engine, (HEADER + "S1,A,2024-01-10,BE,100,ng/L\n"
                                  "S2,A,2024-03-20,BE,100,ng/L\n").encode(),
                         filename="r1.csv", uploader="t", today=TODAY)
    assert first.stored and not _warnings(first, "implausible_date")
    out = ingest_bytes(engine, (HEADER + "S3,A,2022-01-09,BE,100,ng/L\n"  # 366 days before
                                "S4,A,2023-01-10,BE,100,ng/L\n"  # 365 days before: fine
                                "S5,A,2025-04-01,BE,100,ng/L\n").encode(),  # 377 days after
                       filename="r2.csv", uploader="t", today=TODAY)
    assert out.stored and out.rows_inserted == 3
    found = _warnings(out, "implausible_date")
    assert [i.line for i in found] == [2, 4]
    assert "site A (2024-01-10 – 2024-03-20)" in found[0].message
    assert "provplatsen A (2024-01-10 – 2024-03-20)" in found[1].message_sv
