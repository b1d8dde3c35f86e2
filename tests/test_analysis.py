"""The analysis layer on the store gives what the raw pipeline gives, float for float.

For every site × analyte of the demo samples, ``wastewater.analysis.read_series`` (one read of
the derived store) equals ``build_dataset`` on that series' raw rows followed by consumption
and intervals (the pipeline the API, dashboard and exports each ran before), for the stored
measures, consumption and both interval methods. A 304 of ``/series`` reads nothing of the store.
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


def test_304_reads_nothing_from_the_store(demo_engine):
    from fastapi.testclient import TestClient

    from api.config import Settings
    from api.security import create_key
    from service.app import create_app

    app = create_app(Settings(database_url=str(demo_engine.url)), engine=demo_engine)
    client = TestClient(app)
    client.headers["X-API-Key"] = create_key(demo_engine, "v304", "viewer")
    q = "/api/v1/series?site=SE-KAT-ROS&analyte=mdma&measure=load"
    first = client.get(q)
    assert first.status_code == 200
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(demo_engine, "before_cursor_execute", record)
    try:
        again = client.get(q, headers={"If-None-Match": first.headers["etag"]})
    finally:
        event.remove(demo_engine, "before_cursor_execute", record)
    assert again.status_code == 304 and again.content == b""
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert not any("series_daily" in s for s in selects), selects
    assert not any("FROM results" in s for s in selects), selects
    assert len(selects) <= 2, selects  # the key; the site with its series version
