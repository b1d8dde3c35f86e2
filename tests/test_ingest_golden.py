"""Golden validation reports (PHES-ODM-Validation style, code-style-anchors.md §2.6).

Each ``tests/data/ingest/golden/<name>.csv`` holds one problem per line; the matching
``<name>.report.json`` is the exact report expected, messages included. Regenerate with
``tests/data/ingest/golden/regenerate.py`` and review the diff.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from wastewater.ingest import ISSUE_CODES, parse_upload

GOLDEN = Path(__file__).parent / "data" / "ingest" / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.csv"))


@pytest.mark.parametrize("name", CASES)
def test_golden_report(name):
    report = parse_upload(
        (GOLDEN / f"{name}.csv").read_bytes(), known_sites={"KTH"}, today=dt.date(2025, 6, 1)
    ).report
    expected = json.loads((GOLDEN / f"{name}.report.json").read_text("utf-8"))
    assert report.to_dict() == expected


def test_golden_files_cover_the_row_level_codes():
    seen = set()
    for name in CASES:
        seen |= {
            i["code"] for i in json.loads((GOLDEN / f"{name}.report.json").read_text())["issues"]
        }
    row_codes = {
        "unknown_column",
        "bad_date",
        "unknown_site",
        "unknown_analyte",
        "negative_value",
        "non_numeric",
        "missing_unit",
        "unknown_unit",
        "censor_conflict",
        "loq_missing",
        "bad_composite_hours",
        "unusual_composite_hours",
        "bad_sample_role",
        "bad_replicate",
        "future_date",
        "formula_text",
        "duplicate_row",
        "bad_qualifier",
        "bad_event_kind",
        "end_before_start",
        "bad_boolean",
    }
    assert row_codes <= seen
    assert seen <= set(ISSUE_CODES)
