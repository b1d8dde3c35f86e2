"""Rendered dashboard pages are cached by data version: a hit is the page rendered anew, and an
upload (a new data version) shows at once."""

from __future__ import annotations

import pytest


@pytest.fixture()
def app_engine(tmp_path):
    from fastapi.testclient import TestClient

    from dashboards import app as dash
    from dashboards.demo import load_demo
    from service.app import create_app
    from wastewater.settings import Settings
    from wastewater.storage.database import get_engine, upgrade

    url = f"sqlite:///{tmp_path / 'cache.db'}"
    engine = get_engine(url)
    upgrade(engine)
    load_demo(engine, euda_dir=None)
    dash.PAGE_CACHE.clear()
    yield TestClient(create_app(Settings(database_url=url), engine=engine)), engine
    dash.PAGE_CACHE.clear()
    engine.dispose()


TREND = "/dashboard/trend?site=SE-KAT-ROS&analyte=benzoylecgonine&measure=concentration&lang=sv"


def test_cached_trend_page_equals_a_fresh_render_and_follows_uploads(app_engine):
    from api.security import create_key
    from dashboards import app as dash
    from wastewater.analysis import data_version
    from wastewater.storage.service import ingest_bytes

    client, engine = app_engine
    client.cookies.set("ww_api_key", create_key(engine, "cache-viewer", "viewer"))  # daily values
    first = client.get(TREND)
    assert first.status_code == 200
    assert len(dash.PAGE_CACHE._data) == 1
    again = client.get(TREND)
    assert again.content == first.content  # served from the cache
    dash.PAGE_CACHE.clear()
    assert client.get(TREND).content == first.content  # and equal to a fresh render

    before = data_version(engine)
    # a new day of benzoylecgonine (a concentration: no flow is needed): the page must show it at once
    csv = (b"sample_id,site,sample_date,analyte,value,unit,loq,composite_hours\n"
           b"CACHE-1,SE-KAT-ROS,2026-06-01,benzoylecgonine,98765,ng/L,10,24\n")
    out = ingest_bytes(engine, csv, filename="cache.csv", uploader="test")
    assert out.stored
    assert data_version(engine) != before
    after = client.get(TREND)
    assert after.status_code == 200
    assert after.content != first.content
    assert "2026-06-01" in after.text
    assert len(dash.PAGE_CACHE._data) == 2


def test_the_cache_key_separates_roles(app_engine):
    from api.security import create_key

    client, engine = app_engine
    public = client.get(TREND)
    token = create_key(engine, "cache-analyst", "analyst")
    client.cookies.set("ww_api_key", token)
    try:
        keyed = client.get(TREND)
    finally:
        client.cookies.clear()
    assert keyed.status_code == 200
    assert keyed.content != public.content  # daily values for the key, weekly means for the public
    assert client.get(TREND).content == public.content


@pytest.mark.parametrize("measure", ["load_per_1000", "concentration", "consumption"])
def test_trend_reads_through_read_series_equal_to_the_dataset_path(app_engine, measure):
    """The trend page reads its series with wastewater.analysis.read_series (dashboards.data.read_frame):
    the same daily values, flags and intervals, and the same weekly Monte Carlo bounds, as the
    multi-series Dataset path the report uses, bit for bit."""
    import pandas as pd

    from dashboards import data as D

    _client, engine = app_engine
    for site, analyte in [("SE-KAT-ROS", "benzoylecgonine"), ("SE-FLN-ARV", "amphetamine")]:
        old = D.series_frame(D.site_dataset(engine, [site], analytes=[analyte]), site, analyte, measure)
        new = D.read_frame(engine, site, analyte, measure)
        assert len(new) > 100
        pd.testing.assert_frame_equal(old, new, check_exact=True)
        pd.testing.assert_frame_equal(D.weekly_frame(old, suppress=False), D.weekly_frame(new, suppress=False),
                                      check_exact=True)
