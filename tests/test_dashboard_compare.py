"""Dashboard comparison: every EUDA country, explicit years, all-<LOQ cities marked, national
reference series (Statistics Canada) beside our site."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest


def _statcan() -> Path:
    for parent in Path(__file__).resolve().parents:
        f = parent / "shared" / "data" / "statcan" / "13100871-drug-metabolites-wastewater.csv"
        if f.is_file():
            return f
    pytest.fail("shared/data/statcan beside the checkout is needed by the comparison tests")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from api.config import Settings
    from dashboards.demo import load_demo
    from service.app import create_app
    from wastewater.interop.reference_series import parse_statcan_13100871
    from wastewater.interop.store import import_reference_series
    from wastewater.storage.database import get_engine, upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('compare') / 'demo.db'}"
    engine = get_engine(url)
    upgrade(engine)
    load_demo(engine)
    assert import_reference_series(engine, parse_statcan_13100871(_statcan()))["inserted"] == 1320
    yield TestClient(create_app(Settings(database_url=url), engine=engine))
    engine.dispose()


def test_every_country_explicit_years_and_below_loq_marks(client):
    html = client.get("/dashboard/compare", params={"site": "SE-KAT-ROS", "analyte": "mdma",
                                                    "year": "2024", "lang": "en"}).text
    assert "Växjö (SE) 2024 &lt; LOQ" in html or "Växjö (SE) 2024 < LOQ" in html
    assert "Trollhättan (SE) 2024" in html
    assert "2 Swedish cities have every day below LOQ" in html
    assert "(BR) 2024" in html and "(NZ) 2024" in html              # non-European sites too
    html23 = client.get("/dashboard/compare", params={"analyte": "mdma", "year": "2023", "lang": "en"}).text
    assert "Debrecen (HU) 2023" in html23 and "(H) 2023" not in html23   # EUDA codes Hungary H
    # our demo data are 2025: the bar says so, and the page says the years differ
    assert "2025" in html and "no data for 2024; it is shown for 2025" in html
    rows = list(csv.DictReader(io.StringIO(client.get("/dashboard/data/compare.csv", params={
        "site": "SE-KAT-ROS", "analyte": "mdma", "year": "2024"}).text)))
    vax = [r for r in rows if r["city"] == "Växjö"]
    assert vax and vax[0]["all_below_loq"].lower() == "true" and vax[0]["year"] == "2024"
    assert float(vax[0]["daily_mean_mg_per_day_per_1000"]) == 0.0
    own = [r for r in rows if r["group"] == "this_site"]
    assert own and own[0]["year"] == "2025"


def test_national_reference_series_shown_for_the_same_year(client):
    rows = list(csv.DictReader(io.StringIO(client.get("/dashboard/data/compare.csv", params={
        "analyte": "benzoylecgonine", "year": "2023"}).text)))
    nat = [r for r in rows if r["group"] == "national"]
    assert {r["country"] for r in nat} == {"CA"} and all(r["year"] == "2023" for r in nat)
    assert any(r["city"].startswith("Toronto, Ontario") for r in nat)
    html = client.get("/dashboard/compare", params={"analyte": "benzoylecgonine", "year": "2023",
                                                    "lang": "en"}).text
    assert "Toronto, Ontario" in html and "National reference series" in html


def test_trend_page_offers_7day_trailing_median(client):
    from api.security import create_key

    key = create_key(client.app.state.engine, "analyst-compare", "analyst")
    client.cookies.set("ww_api_key", key)
    try:
        html = client.get("/dashboard/trend", params={"site": "SE-KAT-ROS", "analyte": "benzoylecgonine",
                                                      "smooth": "median7", "lang": "en"}).text
    finally:
        client.cookies.clear()
    assert 'name="smooth"' in html and html.count("7-day trailing median") >= 2  # control + column

