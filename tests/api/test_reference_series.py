"""Statistics Canada Table 13-10-0871-01 as national reference series through the API."""

from __future__ import annotations

from pathlib import Path

import pytest

B = "/api/v1"


def _statcan() -> bytes:
    """The table from ``shared/data/statcan`` beside the checkout (fails clearly without it)."""
    for parent in Path(__file__).resolve().parents:
        f = parent / "shared" / "data" / "statcan" / "13100871-drug-metabolites-wastewater.csv"
        if f.is_file():
            return f.read_bytes()
    pytest.fail("shared/data/statcan/13100871-drug-metabolites-wastewater.csv not found beside the "
                "checkout; the StatCan tests need the shared data")


def test_statcan_import_idempotent_and_read(fresh_clients, engine):
    data = _statcan()
    assert data.count(b"\n") - 1 == 6600
    files = {"file": ("13100871.csv", data, "text/csv")}
    assert fresh_clients["analyst"].post(f"{B}/reference/series/import", files=files).status_code == 403
    r = fresh_clients["admin"].post(f"{B}/reference/series/import", files=files)
    assert r.status_code == 201, r.text
    assert r.json() | {} == {"ok": True, "format": "statcan-13100871", "rows": 1320, "inserted": 1320,
                             "updated": 0, "unchanged": 0}
    again = fresh_clients["admin"].post(f"{B}/reference/series/import", files=files).json()
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 1320)
    body = fresh_clients["public"].get(f"{B}/reference/series?series_id=edmonton-alberta&analyte=amphetamine"
                                       "&from=2022-01-01&to=2022-01-31").json()
    assert body["total"] == 1
    row = body["items"][0]
    assert (row["value_mg_per_day_per_1000"], row["lo95_mg_per_day_per_1000"], row["hi95_mg_per_day_per_1000"],
            row["se_mg_per_day_per_1000"], row["imputation_rate_percent"], row["status"]) == (
        176.32, 79.3, 273.34, 28.6, 42.86, "E")
    assert (row["period"], row["period_start"], row["period_end"], row["frequency"], row["country"]) == (
        "2022-01", "2022-01-01", "2022-01-31", "monthly", "CA")
    allrows = fresh_clients["public"].get(f"{B}/reference/series?limit=1").json()
    assert allrows["total"] == 1320
    nf = fresh_clients["public"].get(f"{B}/reference/series?analyte=norfentanyl&limit=1000").json()
    assert nf["total"] == 132 and {i["analyte"] for i in nf["items"]} == {"norfentanyl"}
    assert sum(1 for i in nf["items"] if i["status"] == "E") >= 1


def test_statcan_bad_file_names_line_and_column(fresh_clients):
    bad = _statcan().replace(b'"2022-01","Weighted', b'"2022-13","Weighted', 1)
    r = fresh_clients["admin"].post(f"{B}/reference/series/import", files={"file": ("x.csv", bad)})
    assert r.status_code == 422
    msg = r.json()["errors"][0]["message"]
    assert "rad 2, kolumn REF_DATE" in msg and "line 2, column REF_DATE" in msg
