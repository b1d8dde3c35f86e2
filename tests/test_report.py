"""Tertial follow-up report: periods, per-tertial means, offline HTML, access rules."""

from __future__ import annotations

import datetime as dt
import math
import re

import pandas as pd
import pytest

from dashboards import data as D
from dashboards.report import (
    build_report,
    current_tertial,
    previous_tertial,
    tertial_changes,
    tertial_period,
)


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory):
    from dashboards.demo import load_demo
    from wastewater.storage.database import get_engine, upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'demo.db'}"
    engine = get_engine(url)
    upgrade(engine)
    load_demo(engine)
    yield engine
    engine.dispose()


def test_tertial_periods():
    assert tertial_period(2025, 1) == (dt.date(2025, 1, 1), dt.date(2025, 4, 30))
    assert tertial_period(2024, 2) == (dt.date(2024, 5, 1), dt.date(2024, 8, 31))
    assert tertial_period(2025, 3) == (dt.date(2025, 9, 1), dt.date(2025, 12, 31))
    assert previous_tertial(2025, 1) == (2024, 3)
    assert previous_tertial(2025, 3) == (2025, 2)
    assert current_tertial(dt.date(2025, 4, 30)) == (2025, 1)
    assert current_tertial(dt.date(2025, 5, 1)) == (2025, 2)
    assert current_tertial(dt.date(2025, 12, 31)) == (2025, 3)
    with pytest.raises(ValueError, match="T1 Jan"):
        tertial_period(2025, 4)


def test_tertial_changes_windows(demo_engine):
    # SE-KAT-ROS is sampled every day of 2025 (samples/README.md): T1 = 31+28+31+30 = 120 days
    ds = D.site_dataset(demo_engine, ["SE-KAT-ROS"], start=dt.date(2024, 9, 1),
                        end=dt.date(2025, 8, 31))
    t1 = tertial_changes(ds, "SE-KAT-ROS", *tertial_period(2025, 1), *tertial_period(2024, 3))
    be = t1.set_index("analyte").loc["benzoylecgonine"]
    assert be["n_days"] == 120
    assert math.isnan(be["prev_mean"]) and be["change_class"] == "no previous data"
    values, cens = D.stats_series(ds, "SE-KAT-ROS", "benzoylecgonine")
    assert be["mean"] == pytest.approx(values["2025-01-01":"2025-04-30"].mean())
    # T2 against T1: the change of the mean ISO-week means (wastewater.summaries.period_change)
    t2 = tertial_changes(ds, "SE-KAT-ROS", *tertial_period(2025, 2), *tertial_period(2025, 1))
    be2 = t2.set_index("analyte").loc["benzoylecgonine"]
    assert be2["prev_mean"] == pytest.approx(be["mean"])

    def week_means(v):
        iso = v.index.isocalendar()
        return v.groupby((iso["year"] * 100 + iso["week"]).to_numpy()).mean()

    w2, w1 = week_means(values["2025-05-01":"2025-08-31"].dropna()), week_means(values["2025-01-01":"2025-04-30"])
    assert be2["change_percent"] == pytest.approx((w2.mean() / w1.mean() - 1) * 100)
    assert be2["change_low"] < be2["change_percent"] < be2["change_high"] and be2["enough"]
    # no per-year trend from 8 months; over the 12 months of 2025 for T3 the published trend:
    # the service's GLS trend on the ISO-week means of the weeks touching 2025 (hand-grouped here)
    assert be2["trend"] is None and math.isnan(be2["trend_percent_per_year"])
    from wastewater.stats import trend_gls

    year_ds = D.site_dataset(demo_engine, ["SE-KAT-ROS"], start=dt.date(2024, 12, 30), end=dt.date(2026, 1, 4))
    t3 = tertial_changes(year_ds, "SE-KAT-ROS", *tertial_period(2025, 3), *tertial_period(2025, 2))
    be3 = t3.set_index("analyte").loc["benzoylecgonine"]
    yv, yc = D.stats_series(year_ds, "SE-KAT-ROS", "benzoylecgonine")
    year = yv.dropna()
    monday = year.index - pd.to_timedelta(year.index.day_of_week, unit="D")
    weekly = year.groupby(monday).mean()
    assert weekly.index[0] == pd.Timestamp("2024-12-30") and len(weekly) == 53  # Wed 1 Jan … Mon 29 Dec
    all_censored = yc.reindex(year.index).groupby(monday).all()
    expected = trend_gls(weekly, censored=all_censored)
    assert be3["trend_percent_per_year"] == pytest.approx(expected.percent_change_per_year)
    assert be3["trend_p"] == pytest.approx(expected.p_value)
    assert be3["trend_ci_low"] == pytest.approx(expected.percent_change_per_year_ci[0])
    # T2 has 123 days; build_dataset spreads the 72 h composite of Fri 15 Aug over the three
    # days it covers (15–17 Aug), and Mon 18 Aug has no sample in the demo set: 123 − 1
    assert be2["n_days"] == 122


def test_public_report_is_offline_and_suppresses(demo_engine):
    html = build_report(demo_engine, 2025, 3, lang="sv")
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="sv">' in html
    # no external resource at all: scripts and styles are inlined
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=", html)
    markup = re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.DOTALL)  # plotly.js has URL strings
    assert not re.search(r'(src|href)="https?://', markup)
    assert "Plotly.newPlot" in html and len(html) > 3_000_000  # plotly.js inlined
    # one change chart + one trend per public site × drug analyte + operation panels
    n_figures = html.count('class="plotly-graph-div"')
    assert n_figures >= 1 + 15
    assert "Uppföljningsrapport 2025 T3" in html and "2025-09-01 – 2025-12-31" in html
    assert "SE-KAT-PS1" not in html          # 3 500 inhabitants < 10 000
    assert "EV-2025-07" not in html          # confidential operation
    assert "EV-2025-05" in html and "dumpning" in html
    assert "Förändring mot T2 2025" in html


@pytest.mark.slow
def test_report_route_download_with_analyst_key(demo_engine):
    from fastapi.testclient import TestClient

    from api.config import Settings
    from api.security import create_key
    from service.app import create_app

    token = create_key(demo_engine, "analyst-report", "analyst")
    app = create_app(Settings(database_url=str(demo_engine.url)), engine=demo_engine)
    client = TestClient(app)
    client.cookies.set("ww_api_key", token)
    # issue 11 item 6: the download follows the public view unless the analyst view is chosen
    resp = client.get("/dashboard/report", params={"year": 2025, "tertial": 3, "lang": "en",
                                                   "download": 1})
    assert resp.status_code == 200
    assert resp.headers["content-disposition"].startswith(
        'attachment; filename="uppfoljning_2025_T3_en_public.html"')
    html = resp.text
    assert '<html lang="en">' in html and "Follow-up report 2025 T3" in html
    assert "EV-2025-07" not in html and "SE-KAT-PS1" not in html
    assert "får inte publiceras" not in html
    resp = client.get("/dashboard/report", params={"year": 2025, "tertial": 3, "lang": "en",
                                                   "download": 1, "view": "analyst"})
    assert resp.status_code == 200
    assert "uppfoljning_2025_T3_en_analyst.html" in resp.headers["content-disposition"]
    html = resp.text
    assert "EV-2025-07" in html               # analyst sees the confidential operation
    assert "SE-KAT-PS1" in html               # and the small sub-catchment
    # marked at the top and the bottom, and (print CSS) on every printed page
    assert html.count("Innehåller sekretessbelagda uppgifter – får inte publiceras") == 2
    assert html.count("Contains confidential information – must not be published") == 2
    assert "@media print{.confidential-mark{position:fixed" in html


def test_first_tertial_without_history_says_so(demo_engine):
    html = build_report(demo_engine, 2025, 1, lang="en", sites=["SE-FLN-ARV"])
    assert "No series can be compared with T3 2024 (no or too few weeks of data); means for the period:" in html
    assert "There are no measurements from T3 2024 to compare with" in html
    assert "Rosenholm" not in html                     # restricted to the requested site
    assert "EV-2025-03" in html                        # campaign for all sites is listed
    assert "EV-2025-02" not in html                    # Rosenholm-only operation is not
