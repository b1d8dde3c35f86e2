"""The analysis layer on the store gives what the raw pipeline gives, float for float.

For every site × analyte of the demo samples, ``wastewater.analysis.read_series`` (one read of
the derived store) equals ``build_dataset`` on that series' raw rows followed by consumption
and intervals (the pipeline the API, dashboard and exports each ran before), for the stored
measures, consumption and both interval methods. A 304 or a cached answer of ``/series`` runs
one SELECT and reads nothing of the store.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import event

from wastewater import analysis
from wastewater.storage import repository as repo
from wastewater.storage.service import ingest_bytes
from wastewater.timeseries import build_dataset

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory):
    from wastewater.storage.database import get_engine, upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('analysis') / 'demo.db'}"
    upgrade(url)
    engine = get_engine(url)
    for name in ("sites", "flows", "results"):
        out = ingest_bytes(engine, (SAMPLES / f"{name}.csv").read_bytes(), kind=name,
                           filename=f"{name}.csv", uploader="t")
        assert out.stored
    yield engine
    engine.dispose()


def _raw(engine, site, analyte, measure, ci, start=None, end=None):
    results = repo.load_results(engine, sites=[site], analytes=[analyte], start=start, end=end)
    ds = build_dataset(results, repo.load_flows(engine, sites=[site], start=start, end=end),
                       repo.load_populations(engine, sites=[site]))
    ds = analysis.add_measure(ds, measure, ci=ci)
    var = analysis.MEASURES[measure][0]
    sel = ds.isel(site=0, analyte=0)
    return pd.DataFrame({
        "date": sel["date"].values.astype("datetime64[ns]"),
        "value": sel[var].values.astype(float),
        **{b: sel[f"{var}_{b}"].values.astype(float) if ci != "none" else np.nan
           for b in analysis.BOUNDS},
        "censored": sel["censored"].values.astype(bool),
    })


def test_read_series_equals_the_raw_pipeline_for_every_demo_series(demo_engine):
    pairs = repo.load_results(demo_engine, columns=("site", "analyte"))[["site", "analyte"]]
    pairs = pairs.drop_duplicates().itertuples(index=False)
    checked = 0
    for site, analyte in pairs:
        for measure, ci in (("concentration", "none"), ("load", "none"),
                            ("load_per_1000", "none"), ("load_per_1000", "analytic"),
                            ("load_per_1000", "montecarlo")):
            got = analysis.read_series(demo_engine, site, analyte, measure, ci=ci)
            want = _raw(demo_engine, site, analyte, measure, ci)
            pd.testing.assert_frame_equal(got, want, check_exact=True)
            checked += 1
    assert checked >= 5 * 20


def test_read_series_consumption_and_period(demo_engine):
    got = analysis.read_series(demo_engine, "SE-KAT-ROS", "benzoylecgonine", "consumption",
                               ci="analytic", start="2025-03-01", end="2025-03-31")
    want = _raw(demo_engine, "SE-KAT-ROS", "benzoylecgonine", "consumption", "analytic",
                start="2025-03-01", end="2025-03-31")
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got["date"].min() >= pd.Timestamp("2025-03-01")
    assert got["date"].max() <= pd.Timestamp("2025-03-31")


def test_weekly_means_by_hand():
    import math

    from wastewater.parameters import default_rsd
    from wastewater.uncertainty import Z_975, components_for, lognormal_sigma

    daily = pd.DataFrame({
        "date": pd.to_datetime(["2025-03-03", "2025-03-04", "2025-03-09", "2025-03-10"]),
        "value": [1.0, 3.0, np.nan, 10.0], "censored": [False, True, False, False]})
    w = analysis.weekly_means(daily)
    assert w["iso_week"].tolist() == ["2025-W10", "2025-W11"]
    assert w["value"].tolist() == [2.0, 10.0]
    assert w["n_days"].tolist() == [2, 1] and w["n_censored"].tolist() == [1, 0]
    assert w["change_lo95"].isna().all()  # no ci: no bounds
    a = analysis.weekly_means(daily, site="S", analyte="a", ci="analytic")
    sig = math.sqrt(sum(lognormal_sigma(default_rsd(c)) ** 2
                        for c in components_for("load_mg_per_day_per_1000", "change")))
    # one day in W11: its change band; two days 1 and 3 in W10: weights 1/4, 3/4 (Σw² = 5/8)
    assert a["change_hi95"].tolist()[1] == pytest.approx(10 * math.exp(Z_975 * sig))
    assert a["change_hi95"].tolist()[0] == pytest.approx(2 * math.exp(Z_975 * sig * math.sqrt(5 / 8)))
    assert (a["level_hi95"] > a["change_hi95"]).all()


def test_304_and_cache_hits_run_one_select(demo_engine):
    """A 304 and a cached 200 of ``/series`` run one statement each: the key, the site and the
    series version in one SELECT, nothing of the store. Counted by SQLite itself (its trace
    callback sees every statement the driver runs, SQLAlchemy's or not)."""
    from fastapi.testclient import TestClient

    from api.config import Settings
    from api.security import create_key
    from service.app import create_app

    statements: list[str] = []
    tracing = [False]

    def on_connect(dbapi_conn, _record):
        dbapi_conn.set_trace_callback(lambda sql: statements.append(sql) if tracing[0] else None)

    demo_engine.dispose()  # new pooled connections, each with the trace callback
    event.listen(demo_engine, "connect", on_connect)
    try:
        app = create_app(Settings(database_url=str(demo_engine.url)), engine=demo_engine)
        client = TestClient(app)
        token = create_key(demo_engine, "v304", "viewer")
        client.headers["X-API-Key"] = token
        q = "/api/v1/series?site=SE-KAT-ROS&analyte=mdma&measure=load"
        first = client.get(q)
        assert first.status_code == 200
        runs = {}
        for name, headers in (("304", {"If-None-Match": first.headers["etag"]}), ("hit", {}),
                              ("public hit", {"X-API-Key": ""})):
            if name == "public hit":
                assert client.get(q, headers=headers).status_code == 200  # fills the public entry
            statements.clear()
            tracing[0] = True
            r = client.get(q, headers=headers)
            tracing[0] = False
            runs[name] = (r, list(statements))
    finally:
        event.remove(demo_engine, "connect", on_connect)
        demo_engine.dispose()
    r304, sql304 = runs["304"]
    assert r304.status_code == 304 and r304.content == b""
    hit, sqlhit = runs["hit"]
    assert hit.status_code == 200 and hit.content == first.content
    assert hit.headers["etag"] == first.headers["etag"]
    for sql in (sql304, sqlhit):
        assert len(sql) == 1 and sql[0].lstrip().upper().startswith("SELECT"), sql
        assert "api_keys" in sql[0] and "series_versions" in sql[0], sql
        assert "series_blocks" not in sql[0] and "FROM results" not in sql[0], sql
    public, sqlpublic = runs["public hit"]  # no key: the site's population rows too
    assert public.status_code == 200 and public.json()["aggregation"] == "weekly_mean"
    assert len(sqlpublic) == 2 and "site_populations" in sqlpublic[1], sqlpublic
