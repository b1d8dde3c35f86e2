"""The published trend (wastewater.access.trend_request): the one trend without a key.

An attacker picks every parameter: the window (start, end), the test (``method``), the
substitution (``loq_method``), the level (``alpha``), ``published``, the site and the analyte, on
every path (API, dashboard trend page, report). The rule: only the 12 calendar months ending at a
month's last day, on the public ISO-week means, with the published test; anything else needs a
key. The property that makes it safe is tested directly: the published trend is a function of
the public weekly means alone, so two data sets with the same public weekly means give the same
published trend for *every* window — no set of answers can be differenced into a day.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from wastewater import access
from wastewater.access import PUBLIC, Principal, PublicParameterRefused, PublicTrendRefused, trend_request
from wastewater.analysis import published_trend
from wastewater.analysis import trend as daily_trend

VIEWER = Principal(name="v", role="viewer")
TODAY = dt.date(2026, 12, 2)

# -- the rule: windows ------------------------------------------------------------------------


def test_public_gets_exactly_12_calendar_months_ending_at_a_month_end():
    assert trend_request(PUBLIC, end=dt.date(2025, 8, 31)) == access.TrendRequest(
        dt.date(2024, 9, 1), dt.date(2025, 8, 31), True)
    assert trend_request(PUBLIC, dt.date(2024, 9, 1), dt.date(2025, 8, 31)).published
    # leap year: the calendar months, not 365 days
    assert trend_request(PUBLIC, end=dt.date(2024, 2, 29)).start == dt.date(2023, 3, 1)
    assert trend_request(PUBLIC, end=dt.date(2025, 12, 31)).start == dt.date(2025, 1, 1)
    # default: the latest month that has ended and holds the latest data
    assert trend_request(PUBLIC, last_day=dt.date(2025, 12, 30), today=TODAY).end == dt.date(2025, 12, 31)
    assert trend_request(PUBLIC, last_day=dt.date(2026, 11, 20), today=dt.date(2026, 11, 25)).end == \
        dt.date(2026, 10, 31)
    assert trend_request(PUBLIC, today=dt.date(2025, 3, 14)).end == dt.date(2025, 2, 28)


@pytest.mark.parametrize(("start", "end", "problem"), [
    (None, dt.date(2025, 8, 30), "to=2025-08-30 är inte sista dagen i en månad"),      # ends a day apart
    (dt.date(2025, 8, 18), dt.date(2025, 8, 31), "from=2025-08-18 är inte första dagen"),  # a 2-week trend
    (dt.date(2025, 8, 1), dt.date(2025, 8, 31), "from=2025-08-01"),                      # one month
    (dt.date(2024, 9, 2), dt.date(2025, 8, 31), "from=2024-09-02"),                      # a day shorter
    (dt.date(2023, 9, 1), dt.date(2025, 8, 31), "from=2023-09-01"),                      # 24 months
    (dt.date(2024, 9, 1), None, "from=2024-09-01"),                                      # start alone
])
def test_any_other_window_is_refused_with_what_the_public_can_get(start, end, problem):
    with pytest.raises(PublicTrendRefused) as err:
        trend_request(PUBLIC, start, end, last_day=dt.date(2025, 12, 31), today=TODAY)
    exc = err.value
    assert exc.authenticate and exc.resource == "other_analyses"
    assert exc.message_sv.startswith(
        "utan API-nyckel visas trenden för hela 12-månadersperioder som slutar vid ett månadsskifte "
        "(till exempel to=")
    assert problem in exc.message_sv
    assert "en annan period eller metod kräver en API-nyckel" in exc.message_sv
    assert "whole 12-month windows ending at a month's end" in exc.message_en


@pytest.mark.parametrize(("params", "published", "problem"), [
    ({"method": "mann_kendall"}, None, "method=mann_kendall (den publicerade trenden: method=gls)"),
    ({"loq_method": "zero"}, None, "loq_method=zero (den publicerade trenden: loq_method=loq_half)"),
    ({"alpha": 0.1}, None, "alpha=0.1 (den publicerade trenden: alpha=0.05)"),
    ({}, False, "published=false (en trend på dygnsvärden) kräver en nyckel"),
])
def test_every_parameter_that_shapes_the_trend_is_fixed_without_a_key(params, published, problem):
    with pytest.raises(PublicTrendRefused) as err:
        trend_request(PUBLIC, end=dt.date(2025, 8, 31), published=published,
                      parameters={"method": "gls", "loq_method": "loq_half", "alpha": 0.05, **params})
    assert problem in err.value.message_sv and err.value.authenticate


def test_a_key_gets_any_window_and_the_published_form_on_request():
    anywhere = trend_request(VIEWER, dt.date(2025, 8, 18), dt.date(2025, 8, 31),
                             parameters={"method": "mann_kendall", "alpha": 0.1})
    assert anywhere == access.TrendRequest(dt.date(2025, 8, 18), dt.date(2025, 8, 31), False)
    assert trend_request(VIEWER, end=dt.date(2025, 8, 31), published=True).start == dt.date(2024, 9, 1)
    with pytest.raises(PublicTrendRefused) as err:  # the published form is one form, for keys too
        trend_request(VIEWER, end=dt.date(2025, 8, 15), published=True)
    assert not err.value.authenticate  # the API answers 422, not 401/403


def test_a_revoked_key_gets_no_trend():
    with pytest.raises(access.AccessDenied) as err:
        trend_request(access.REVOKED, end=dt.date(2025, 8, 31))
    assert "återkallad" in err.value.message_sv and err.value.resource == "published_trend"


# -- the 401 sentences: a changed method is not about single days --------------------------------


def test_a_changed_method_has_its_own_sentence():
    with pytest.raises(PublicParameterRefused) as err:
        access.check_public_parameters(PUBLIC, "risk_weekend_ratios", {"method": "matched_weekends"})
    sv, en = err.value.message_sv, err.value.message_en
    assert sv == ("utan API-nyckel visas bara den publicerade analysen; 'method' går inte att ändra: den "
                  "publicerade analysen använder metoden 'model', och de andra metoderna (för jämförelse) "
                  "visas bara med nyckel – ta bort parametern eller använd en API-nyckel")
    assert "dygn" not in sv and "day" not in en
    with pytest.raises(PublicParameterRefused) as err:
        access.check_public_parameters(PUBLIC, "operation_effects", {"method": "ols", "after_days": 7})
    sv = err.value.message_sv
    assert "'after_days' går inte att ändra, eftersom två svar vars fönster skiljer sig med ett dygn" in sv
    assert "använder metoden 'ar1_noise'" in sv and err.value.names == ["method", "after_days"]
    with pytest.raises(PublicParameterRefused) as err:
        access.check_public_parameters(PUBLIC, "operation_effects", {"loq_method": "zero"})
    assert "hur värden under kvantifieringsgränsen ersätts" in err.value.message_sv


# -- the property: a function of the public weekly means alone --------------------------------------


def _year(seed: int = 3, missing: float = 0.05) -> pd.DataFrame:
    from wastewater.stats.simulate import simulate_series

    sim = simulate_series(n_days=410, start="2024-11-25", seed=seed, missing_fraction=missing,
                          trend_per_year=0.2)
    return pd.DataFrame({"date": sim.index, "value": sim["load_mg_per_day_per_1000"].to_numpy(float),
                         "censored": sim["censored"].to_numpy(bool)})


WINDOWS = [access.published_trend_window(dt.date(2025, m, 28)) for m in (10, 11, 12)]


def _published(daily: pd.DataFrame, window=WINDOWS[-1], **kw) -> dict:
    return published_trend(daily, window, today=TODAY, **kw)


def test_days_that_keep_every_public_weekly_mean_give_the_same_published_trend_for_every_window():
    """Move load between two days of one week (the weekly mean unchanged): every published
    answer — each window, consecutive month ends included — is exactly the same, so no
    combination of them (nor with the weekly means) can tell the two days; the daily trend does
    change, which is why it needs a key."""
    daily = _year()
    moved = daily.copy()
    mon, tue = pd.Timestamp("2025-06-02"), pd.Timestamp("2025-06-03")
    x = 0.5 * moved.loc[moved["date"] == mon, "value"].item()
    moved.loc[moved["date"] == mon, "value"] -= x
    moved.loc[moved["date"] == tue, "value"] += x
    for window in WINDOWS:
        a, b = _published(daily, window), _published(moved, window)
        assert a["trend"] is not None and a == b, window
    ser = daily.set_index("date")
    ser2 = moved.set_index("date")
    assert daily_trend(ser["value"], ser["censored"]).percent_change_per_year != \
        daily_trend(ser2["value"], ser2["censored"]).percent_change_per_year


def test_a_week_too_thin_to_publish_does_not_enter_the_trend():
    daily = _year()
    week = (daily["date"] >= "2025-06-02") & (daily["date"] <= "2025-06-08")
    thin = daily.copy()
    thin.loc[week & (thin["date"] != pd.Timestamp("2025-06-04")), "value"] = np.nan  # one day left
    other = thin.copy()
    other.loc[other["date"] == pd.Timestamp("2025-06-04"), "value"] *= 5
    a, b = _published(thin), _published(other)
    assert a == b and a["n_weeks"] == _published(daily)["n_weeks"] - 1


def test_a_suspected_dumping_day_drops_its_whole_week():
    daily = _year()
    dumped = _published(daily, leave_out=[pd.Timestamp("2025-06-05")])
    gone = daily[(daily["date"] < "2025-06-02") | (daily["date"] > "2025-06-08")]
    assert dumped["weeks_left_out_dumping"] == 1
    assert {k: v for k, v in dumped.items() if k != "weeks_left_out_dumping"} == \
        {k: v for k, v in _published(gone).items() if k != "weeks_left_out_dumping"}


def test_the_published_trend_is_the_gls_trend_on_hand_grouped_weekly_means():
    from wastewater.stats import trend_gls

    daily = _year()
    start, end = WINDOWS[-1]  # 2025-01-01 … 2025-12-31: ISO weeks from Mon 30 Dec 2024 to Mon 29 Dec 2025
    d = daily.dropna(subset=["value"])
    monday = d["date"] - pd.to_timedelta(d["date"].dt.day_of_week, unit="D")
    d = d[(monday >= "2024-12-30") & (monday <= "2025-12-29")]
    monday = d["date"] - pd.to_timedelta(d["date"].dt.day_of_week, unit="D")
    g = d.groupby(monday)
    weekly = g["value"].mean()[g["value"].count() >= 2]
    cens = g["censored"].all()[weekly.index]
    want = trend_gls(weekly, censored=cens)
    got = _published(daily)
    assert got["n_weeks"] == len(weekly) == 53 and got["window_start"] == "2025-01-01"
    assert got["percent_change_per_year"] == pytest.approx(want.percent_change_per_year)
    assert got["ci_low_percent_per_year"] == pytest.approx(want.percent_change_per_year_ci[0])
    assert got["p_value"] == pytest.approx(want.p_value)
    assert got["trend"] == want.trend == "increasing"   # simulated +22 %/year
    # and a window with only part of a year of weeks is not published
    short = _published(daily[daily["date"] >= "2025-07-01"])
    assert short["trend"] is None and short["reason"] == "too_short"


# -- every path on the demo data: API, dashboard, report ----------------------------------------------


@pytest.fixture(scope="module")
def demo_client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from api.config import Settings
    from api.security import create_key
    from dashboards.demo import load_demo
    from service.app import create_app
    from wastewater.storage.database import get_engine, upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('published') / 'demo.db'}"
    engine = get_engine(url)
    upgrade(engine)
    load_demo(engine)
    key = create_key(engine, "viewer-published", "viewer")
    yield TestClient(create_app(Settings(database_url=url), engine=engine)), key, engine
    engine.dispose()


T = "/api/v1/analyses/trend"
ROS = {"site": "SE-KAT-ROS"}


def test_the_public_api_trend_is_the_report_trend(demo_client):
    """The public tertial report's trend column (T3 2025: the 12 months of 2025) and the API
    without a key give the same numbers — also for benzoylecgonine, whose suspected dumping
    week after a police operation both leave out."""
    from dashboards.i18n import format_number, format_percent
    from dashboards.report import build_report

    client, _key, engine = demo_client
    html = build_report(engine, 2025, 3, lang="sv", cache=False)
    for analyte, label in (("amphetamine", "Amfetamin"), ("benzoylecgonine", "Bensoylekgonin")):
        body = client.get(T, params={**ROS, "analyte": analyte, "to": "2025-12-31"}).json()
        r = body["results"][0]
        assert body["published"] is True and body["window"] == {"from": "2025-01-01", "to": "2025-12-31"}
        p = format_number(r["p_value"], "sv", 3)
        cell = (f"{format_percent(r['percent_change_per_year'], 'sv')} "
                f"({format_percent(r['ci_low_percent_per_year'], 'sv')} till "
                f"{format_percent(r['ci_high_percent_per_year'], 'sv')}), p = {p}")
        assert cell in html, (analyte, cell)
        assert label in html
    be = client.get(T, params={**ROS, "analyte": "benzoylecgonine", "to": "2025-12-31"}).json()["results"][0]
    assert be["weeks_left_out_dumping"] == 1 and be["n_weeks"] == 52
    am = client.get(T, params={**ROS, "analyte": "amphetamine", "to": "2025-12-31"}).json()["results"][0]
    assert (am["n_weeks"], am["n_days"], am["trend"]) == (53, 364, "no trend")
    assert round(am["percent_change_per_year"], 1) == -10.1 and round(am["p_value"], 3) == 0.146


@pytest.mark.parametrize("query", [
    {"from": "2025-12-01", "to": "2025-12-14"},                   # a 2-week trend
    {"from": "2025-01-02", "to": "2025-12-31"},                   # a day shorter
    {"to": "2025-12-30"},                                          # ends a day before another
    {"from": "2025-01-01", "to": "2025-11-30"},                   # 11 months
    {"to": "2025-12-31", "method": "mann_kendall"},
    {"to": "2025-12-31", "loq_method": "zero"},
    {"to": "2025-12-31", "alpha": "0.1"},
    {"to": "2025-12-31", "published": "false"},
])
def test_the_api_refuses_every_other_trend_without_a_key(demo_client, query):
    client, _key, _engine = demo_client
    r = client.get(T, params={**ROS, "analyte": "amphetamine", **query})
    assert r.status_code == 401, r.text
    msg = r.json()["errors"][0]["message"]
    assert "Bearer" in r.headers["www-authenticate"]
    assert "utan API-nyckel visas trenden för hela 12-månadersperioder som slutar vid ett månadsskifte" in msg


def test_the_api_small_catchment_and_keys(demo_client):
    client, key, _engine = demo_client
    assert client.get(T, params={"site": "SE-KAT-PS1", "to": "2025-12-31"}).status_code == 404  # < 10 000
    h = {"X-API-Key": key}
    daily = client.get(T, params={**ROS, "analyte": "amphetamine", "from": "2025-12-01", "to": "2025-12-14"},
                       headers=h).json()
    assert daily["published"] is False and "phi" in daily["results"][0]
    pub = client.get(T, params={**ROS, "analyte": "amphetamine", "to": "2025-12-31", "published": "true"},
                     headers=h).json()
    anon = client.get(T, params={**ROS, "analyte": "amphetamine", "to": "2025-12-31"}).json()
    assert pub["results"][0]["percent_change_per_year"] == anon["results"][0]["percent_change_per_year"]
    bad = client.get(T, params={**ROS, "to": "2025-12-15", "published": "true"}, headers=h)
    assert bad.status_code == 422 and "to=2025-12-15 is not the last day of a month" in bad.text
    # every analyte of the site without ?analyte=, one published row each with BH q-values
    every = client.get(T, params={**ROS, "to": "2025-12-31"}).json()
    assert len(every["results"]) == len(every["q_values"]) >= 8
    assert all(set(r) <= {*access.PUBLIC_TREND_FIELDS, "error", "error_sv", "q_value"} for r in every["results"])


def test_the_public_trend_page_shows_the_published_trend_whatever_the_period(demo_client):
    """The public page's period (and smoothing) choose what the figure shows, never the trend:
    a 2-week period gives the 12 months ending with its month."""
    client, _key, _engine = demo_client
    client.cookies.clear()
    api = client.get(T, params={**ROS, "analyte": "amphetamine", "to": "2025-12-31"}).json()["results"][0]
    pages = [client.get("/dashboard/trend", params={**ROS, "analyte": "amphetamine", **q}).text
             for q in ({"start": "2025-12-15", "end": "2025-12-28"}, {"end": "2025-12-31", "smooth": "mean7"},
                       {})]
    from dashboards.i18n import format_percent

    pct = format_percent(api["percent_change_per_year"], "sv")
    for html in pages:
        sentence = re.search(r'data-testid="trend-sentence"><p>(.*?)</p>', html).group(1)
        assert sentence.startswith("Under de tolv månaderna 2025-01-01 – 2025-12-31")
        assert f"med {pct} per år" in sentence


def test_false_positive_rate_of_the_published_trend_on_simulated_years():
    """1 000 simulated years without a trend (``simulate_series`` defaults: φ 0.5, σ 0.2, CV 10 %,
    5 % missing days, seeds 1000–1999): the published trend on the weekly means calls 42 of them
    a trend at α = 0.05 (the README's 0.042; the daily GLS trend on the same years: 0.043)."""
    from wastewater.stats.simulate import simulate_series

    rejected = 0
    for seed in range(1000, 2000):
        sim = simulate_series(n_days=365, start="2024-09-01", seed=seed)
        daily = pd.DataFrame({"date": sim.index, "value": sim["load_mg_per_day_per_1000"].to_numpy(float),
                              "censored": sim["censored"].to_numpy(bool)})
        res = published_trend(daily, (dt.date(2024, 9, 1), dt.date(2025, 8, 31)), today=TODAY)
        rejected += res["p_value"] < 0.05
    assert rejected == 42
