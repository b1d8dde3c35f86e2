"""POST /import/odm and GET /export/euda: roles, round trip, hand-computed EUDA values.

Seed (api_fixtures.py): SE-BIG 25 300 inhabitants, benzoylecgonine 100 + d ng/L from Monday
2025-01-06 (d = day index), flow 10 000 m³/day, day 3 (Thursday 2025-01-09) <LOQ; SE-SMALL
3 500 inhabitants (below the public threshold).
"""

from __future__ import annotations

import csv
import io
import zipfile

import pandas as pd
import pytest
from api_fixtures import FLOW, POP_BIG, conc, make_clients

from wastewater.interop.euda import ALL_DATA_COLUMNS, EUDA_DAY_COLUMNS
from wastewater.interop.exchange import load_odm_export
from wastewater.interop.odm import RESULT_COLUMNS, format_odm_csv, normalise_results
from wastewater.storage import repository as repo

B = "/api/v1"
WEEK = "2025-01-08"  # a Wednesday: days d = 2 … 8 of the seed


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def _pnl(d: int) -> float:
    """load_mg_per_day_per_1000 = c [ng/L] · Q [m³/day] · 1e3 [L/m³] · 1e-6 [mg/ng] / (P/1000)
    (Zuccato2008), rounded to two decimals as EUDA publishes."""
    return round(conc(d) * FLOW * 1e3 * 1e-6 / (POP_BIG / 1000), 2)


# --------------------------------------------------------------------------- GET /export/euda
def test_euda_export_values_by_hand(clients):
    r = clients["viewer"].get(f"{B}/export/euda", params={"site": "SE-BIG", "year": 2025,
                                                          "week_start": WEEK})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines()[0] == ",".join(f'"{c}"' for c in ALL_DATA_COLUMNS)
    (row,) = _rows(r.text)  # benzoylecgonine only → one row, EUDA label "cocaine"
    assert (row["Year"], row["Metabolite"], row["Site ID"], row["Country"], row["City"]) == (
        "2025", "cocaine", "SE-BIG", "SE", "Bigby")
    # Wed d=2 … Tue d=8; Thursday (d=3) is <LOQ → 0 as in EUDA's files
    expected = [0.0 if d == 3 else _pnl(d) for d in range(2, 9)]
    assert [float(row[c]) for c in EUDA_DAY_COLUMNS] == pytest.approx(expected, abs=1e-9)
    assert expected[0] == pytest.approx(40.32)  # 102 · 10 / 25.3 = 40.316
    wed, thu, fri, sat, sun, mon, tue = expected
    # EUDA means: weekday = Tue–Thu, weekend = Fri–Mon, daily = all seven days
    assert float(row["Weekday mean"]) == pytest.approx(round((tue + wed + thu) / 3, 2))
    assert float(row["Weekend mean"]) == pytest.approx(round((fri + sat + sun + mon) / 4, 2))
    assert float(row["Daily mean"]) == pytest.approx(round(sum(expected) / 7, 2))
    assert float(row["Daily mean"]) == pytest.approx(35.69)


def test_euda_export_needs_a_key(clients):
    """The Wednesday–Tuesday week straddles two ISO weeks: with the public weekly means it could
    be solved for single days, so the public gets 401 (policy resource ``exports``)."""
    r = clients["public"].get(f"{B}/export/euda", params={"site": "SE-BIG", "year": 2025,
                                                          "week_start": WEEK})
    assert r.status_code == 401, r.text
    assert "API-nyckel" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize("role,site,status", [
    ("public", "SE-SMALL", 401),        # the export needs a key at all
    ("viewer_small", "SE-BIG", 404),    # outside the key's site scope
    ("viewer_small", "SE-SMALL", 200),
    ("lab", "SE-BIG", 200),
    ("analyst", "SE-SMALL", 200),
])
def test_euda_export_visibility(clients, role, site, status):
    r = clients[role].get(f"{B}/export/euda", params={"site": site, "year": 2025, "week_start": WEEK})
    assert r.status_code == status, r.text
    if status == 404:
        assert r.json()["ok"] is False and r.json()["errors"][0]["code"] == "unknown_site"


def test_euda_export_parameter_errors(clients):
    c = clients["viewer"]
    r = c.get(f"{B}/export/euda", params={"site": "SE-BIG", "year": 2025, "week_start": "2025-01-09"})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "not_wednesday"
    r = c.get(f"{B}/export/euda", params={"site": "SE-BIG", "year": 2024, "week_start": WEEK})
    assert r.status_code == 422 and r.json()["errors"][0]["column"] == "week_start"
    r = c.get(f"{B}/export/euda", params={"site": "SE-BIG", "year": 2025, "week_start": WEEK,
                                          "analyte": "tramadol"})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "euda_analyte"
    # default week = first Wednesday on/after 1 March 2025 (5 March): no seed data there
    r = c.get(f"{B}/export/euda", params={"site": "SE-BIG", "year": 2025})
    assert r.status_code == 404 and "2025-03-05" in r.json()["errors"][0]["message"]


def test_openapi_documents_interop_endpoints(clients):
    spec = clients["public"].get(f"{B}/openapi.json").json()
    post = spec["paths"][f"{B}/import/odm"]["post"]
    get = spec["paths"][f"{B}/export/euda"]["get"]
    assert post["summary"] and get["summary"]
    assert {"201", "200", "401", "403", "413", "422"} <= set(post["responses"])
    assert "text/csv" in get["responses"]["200"]["content"]
    assert {"401", "403", "404", "422"} <= set(get["responses"])


# --------------------------------------------------------------------------- POST /import/odm
def _odm_payload(seeded_engine) -> dict[str, bytes]:
    return format_odm_csv(load_odm_export(seeded_engine))


def _results(engine) -> pd.DataFrame:
    r = normalise_results(repo.load_results(engine, roles=None))
    return r.sort_values(["sample_id", "analyte", "replicate"]).reset_index(drop=True)


def test_odm_import_round_trip_into_fresh_db(seeded_engine, engine):
    payload = _odm_payload(seeded_engine)
    c = make_clients(engine)  # fresh database: no sites, no results
    files = [("files", (name, data, "text/csv")) for name, data in payload.items()]
    r = c["admin"].post(f"{B}/import/odm", files=files, params={"source": "seed-export"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert [f["kind"] for f in body["files"]] == ["sites", "flows", "results"]
    assert [f["filename"] for f in body["files"]] == [
        "odm_seed-export_sites.csv", "odm_seed-export_flows.csv", "odm_seed-export_results.csv"]
    assert [f["rows_inserted"] for f in body["files"]] == [2, 56, 56]  # SE-BIG, SE-SMALL × 28 days
    pd.testing.assert_frame_equal(_results(engine)[RESULT_COLUMNS], _results(seeded_engine)[RESULT_COLUMNS])
    # normal upload path: uploads listed with their verbatim bytes, audit rows by this key
    ups = repo.list_uploads(engine)
    assert set(ups["uploader"]) == {"admin-key"} and len(ups) == 3
    log = c["admin"].get(f"{B}/audit").json()["items"]
    assert sum(e["action"] == "upload_stored" and e["actor"] == "admin-key" for e in log) == 3
    # the same tables again, now as one zip: identical converted files → duplicates, 200
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in payload.items():
            zf.writestr(f"export/{name}", data)
    r = c["admin"].post(f"{B}/import/odm", files=[("files", ("seed-export.zip", buf.getvalue(),
                                                             "application/zip"))])
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "seed-export" and r.json()["stored"] is False
    assert all(f["duplicate"] for f in r.json()["files"])


@pytest.mark.parametrize("role,status", [("public", 401), ("viewer", 403), ("lab", 403),
                                         ("analyst", 403), ("admin", 201)])
def test_odm_import_roles(seeded_engine, engine, role, status):
    """Into an empty database: the import creates sites, which only admin may (as /uploads/sites)."""
    c = make_clients(engine)
    files = [("files", (n, d, "text/csv")) for n, d in _odm_payload(seeded_engine).items()]
    r = c[role].post(f"{B}/import/odm", files=files)
    assert r.status_code == status, r.text
    if status >= 400:
        assert r.json()["ok"] is False
        assert repo.list_uploads(engine).empty


def test_odm_import_rejection_stores_nothing(seeded_engine, engine):
    payload = _odm_payload(seeded_engine)
    m = pd.read_csv(io.BytesIO(payload["measures.csv"]), dtype=str, keep_default_na=False)
    m.loc[5, "value"] = "-7"  # a negative concentration: rejected by the results validation
    payload["measures.csv"] = m.to_csv(index=False).encode()
    c = make_clients(engine)
    r = c["admin"].post(f"{B}/import/odm", files=[("files", (n, d, "text/csv")) for n, d in payload.items()])
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["ok"] is False and body["stored"] is False
    assert body["errors"] and body["errors"][0]["file"] == "odm_api_results.csv"
    assert body["errors"][0]["line"] is not None
    assert repo.list_uploads(engine).empty and repo.load_sites(engine).empty


def test_odm_import_missing_table_and_scope(seeded_engine, engine):
    payload = _odm_payload(seeded_engine)
    c = make_clients(engine)
    r = c["admin"].post(f"{B}/import/odm", files=[("files", ("measures.csv", payload["measures.csv"]))])
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "missing_table"
    from api.security import create_key

    token = create_key(engine, "scoped-analyst", "analyst", sites=["SE-BIG"])
    scoped = c["public"]
    scoped.headers["X-API-Key"] = token
    r = scoped.post(f"{B}/import/odm", files=[("files", (n, d)) for n, d in payload.items()])
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "site_out_of_scope"
    assert repo.list_uploads(engine).empty


def test_odm_import_analyst_with_known_sites(seeded_engine, fresh_clients, engine):
    """Analysts may import results and flows for stored sites; changing a population is refused."""
    payload = _odm_payload(seeded_engine)
    files = [("files", (n, d, "text/csv")) for n, d in payload.items()]
    n_uploads = len(repo.list_uploads(engine))
    r = fresh_clients["analyst"].post(f"{B}/import/odm", files=files)
    assert r.status_code == 201, r.text
    by_kind = {f["kind"]: f for f in r.json()["files"]}
    assert by_kind["results"]["rows_unchanged"] == 56 and by_kind["results"]["rows_inserted"] == 0
    assert by_kind["sites"]["rows_unchanged"] == 2
    pops = pd.read_csv(io.BytesIO(payload["extPopulations.csv"]), dtype=str, keep_default_na=False)
    pops.loc[pops["siteID"] == "SE-SMALL", "popServ"] = "12000"  # would publish a small catchment
    payload["extPopulations.csv"] = pops.to_csv(index=False).encode()
    before = len(repo.list_uploads(engine))
    assert before == n_uploads + 3
    r = fresh_clients["analyst"].post(f"{B}/import/odm",
                                      files=[("files", (n, d)) for n, d in payload.items()])
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "role"
    assert "admin" in r.json()["errors"][0]["message"]
    assert len(repo.list_uploads(engine)) == before
    assert repo.load_sites(engine).set_index("site").loc["SE-SMALL", "population"] == 3_500
