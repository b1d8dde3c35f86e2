"""Figure builders draw exactly the numbers they are given (hand-made frames, hand-checked values)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboards import figures
from dashboards.i18n import format_number, format_percent, t


@pytest.fixture
def series() -> pd.DataFrame:
    return pd.DataFrame({
        "date": pd.to_datetime(["2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04", "2025-03-05"]),
        "value": [100.0, 120.0, 1.25, 90.0, 110.0],
        "lower": [80.0, 96.0, 0.0, 72.0, 88.0],
        "upper": [120.0, 144.0, 2.5, 108.0, 132.0],
        "censored": [False, False, True, False, False],
    })


@pytest.fixture
def events() -> pd.DataFrame:
    return pd.DataFrame({
        "event_id": ["EV-1", "EV-2"],
        "kind": ["operation", "campaign"],
        "start": pd.to_datetime(["2025-03-02", "2025-03-04"]),
        "end": pd.to_datetime(["2025-03-03", "2025-03-04"]),
        "description": ["Insats", "Kampanj"],
    })


def _trace(fig, name):
    return next(tr for tr in fig.data if tr.name == name)


def test_trend_traces_carry_values_and_loq_markers(series, events):
    weekends = pd.DataFrame({"name": ["Valborg"], "start": pd.to_datetime(["2025-03-05"]),
                             "end": pd.to_datetime(["2025-03-05"])})
    fig = figures.trend_figure(series, measure="load_per_1000", events=events, risk_weekends=weekends,
                               lang="sv")
    measured = _trace(fig, t("trace_value", "sv"))
    assert list(measured.y) == [100.0, 120.0, 90.0, 110.0]  # censored day not on the line
    loq = _trace(fig, t("trace_below_loq", "sv"))
    assert list(loq.y) == [1.25]
    assert loq.marker.symbol == "triangle-down-open"
    assert pd.Timestamp(loq.x[0]) == pd.Timestamp("2025-03-03")
    band = _trace(fig, t("trace_band", "sv"))
    # upper forwards, lower backwards (closed polygon)
    assert list(band.y) == [120.0, 144.0, 2.5, 108.0, 132.0, 88.0, 72.0, 0.0, 96.0, 80.0]
    assert fig.layout.yaxis.title.text == "Belastning per 1000 invånare (mg/dygn/1000 inv.)"
    assert fig.layout.separators == ", "
    assert fig.layout.xaxis.tickformat == "%Y-%m-%d"
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(rects) == 3
    # the inclusive end date 2025-03-03 is shaded through the end of that day
    op = next(s for s in rects if s.name == "event:EV-1")
    assert pd.Timestamp(op.x0) == pd.Timestamp("2025-03-02")
    assert pd.Timestamp(op.x1) == pd.Timestamp("2025-03-04")
    assert any(s.name == "risk_weekend:Valborg" for s in rects)


def test_trend_units_follow_measure_and_language(series):
    fig = figures.trend_figure(series, measure="concentration", lang="en")
    assert fig.layout.yaxis.title.text == "Concentration (ng/L)"
    assert fig.layout.separators == ".,"
    fig = figures.trend_figure(series.assign(censored=False), measure="consumption", lang="sv")
    assert "mg moderämne/dygn/1000 inv." in fig.layout.yaxis.title.text
    assert all(tr.name != t("trace_below_loq", "sv") for tr in fig.data)


def test_trend_without_bounds_has_no_band(series):
    fig = figures.trend_figure(series.drop(columns=["lower", "upper"]), measure="load_per_1000")
    assert [tr.name for tr in fig.data] == [t("trace_value", "sv"), t("trace_below_loq", "sv")]


def test_trend_summary_numbers(series, events):
    text = figures.trend_summary(series, measure="load_per_1000", lang="sv", events=events)
    assert "5 provdygn från 2025-03-01 till 2025-03-05" in text
    assert "Median 100,00" in text  # median of 100, 120, 1.25, 90, 110
    assert "högsta 120,00" in text and "2025-03-02" in text
    assert "1 dygn under" in text and "2 markerade" in text


def test_weekday_profile_bars_and_iqr():
    profile = pd.DataFrame({"weekday": [0, 1, 2, 3, 4, 5, 6],
                            "median": [10.0, 9.0, 9.5, 10.0, 12.0, 14.0, 13.0],
                            "q25": [8.0, 8.0, 8.5, 9.0, 11.0, 12.0, 12.0],
                            "q75": [11.0, 10.0, 10.5, 11.0, 13.0, 16.0, 15.0],
                            "n": [52] * 7})
    fig = figures.weekday_profile_figure(profile, measure="load_per_1000", lang="sv")
    # two bar traces, named in the legend: Monday–Thursday and the weekend Friday–Sunday
    week, weekend = fig.data
    assert (week.name, weekend.name) == ("Måndag–torsdag", "Helg (fredag–söndag)")
    assert list(week.x) + list(weekend.x) == ["mån", "tis", "ons", "tor", "fre", "lör", "sön"]
    assert list(week.y) + list(weekend.y) == [10.0, 9.0, 9.5, 10.0, 12.0, 14.0, 13.0]
    assert list(week.error_y.array) + list(weekend.error_y.array) == [1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0]
    assert list(week.error_y.arrayminus) + list(weekend.error_y.arrayminus) == [2.0, 1.0, 1.0, 1.0, 1.0, 2.0, 1.0]
    assert week.marker.color != weekend.marker.color and week.showlegend and weekend.showlegend
    assert "mg/dygn/1000 inv." in fig.layout.yaxis.title.text
    assert figures.weekday_summary(profile, measure="load_per_1000", lang="sv").startswith(
        "Högst median på lör (14,00")


def test_operation_effect_panels():
    days = pd.date_range("2025-03-01", periods=9)
    series = pd.DataFrame({"date": days, "value": [10, 12, 11, 30, 31, 8, 9, 7, 8.0],
                           "censored": False,
                           "period": ["before"] * 3 + ["during"] * 2 + ["after"] * 4})
    event = {"event_id": "EV-9", "kind": "operation", "start": "2025-03-04", "end": "2025-03-05"}
    effect = {"change_percent": -27.3, "ci_low_percent": -40.0, "ci_high_percent": -10.0}
    fig = figures.operation_effect_figure(series, event=event, effect=effect, lang="sv")
    names = [tr.name for tr in fig.data]
    assert names[:2] == ["Före", "mean_before"]
    mean_before = next(tr for tr in fig.data if tr.name == "mean_before")
    assert list(mean_before.y) == [11.0, 11.0]
    mean_after = next(tr for tr in fig.data if tr.name == "mean_after")
    assert list(mean_after.y) == [8.0, 8.0]
    est = next(tr for tr in fig.data if tr.name == t("operation_estimate", "sv"))
    assert list(est.y) == [-27.3]
    assert est.error_y.array[0] == pytest.approx(17.3)
    assert est.error_y.arrayminus[0] == pytest.approx(12.7)
    assert any(s.name == "event:EV-9" for s in fig.layout.shapes)
    assert fig.layout.yaxis.title.text == "Belastning (mg/dygn/1000 inv.)"
    assert fig.layout.yaxis2.title.text == "Skattad förändring (%)"
    summary = figures.operation_summary(effect, lang="sv")
    assert summary == ("Skattad förändring \u221227\u00a0% (95 % konfidensintervall "
                       "\u221240\u00a0% till \u221210\u00a0%).")
    # an effect not yet published: the same series panel, no estimate panel
    pending = figures.operation_effect_figure(series, event=event, effect=None, lang="sv")
    assert [tr.name for tr in pending.data] == [tr.name for tr in fig.data
                                                if tr.name != t("operation_estimate", "sv")]
    assert pending.layout.yaxis.title.text == "Belastning (mg/dygn/1000 inv.)"
    assert "yaxis2" not in pending.to_plotly_json()["layout"]


def test_effect_numbers_from_ratio():
    numbers = figures.effect_numbers({"ratio": 0.75, "ci_low": 0.5, "ci_high": 1.1})
    assert numbers["estimate_percent"] == pytest.approx(-25.0)
    assert numbers["ci_low_percent"] == pytest.approx(-50.0)
    assert numbers["ci_high_percent"] == pytest.approx(10.0)


def test_risk_weekend_and_comparison_figures():
    effects = pd.DataFrame({"name": ["Valborg", "Midsommar"],
                            "start": pd.to_datetime(["2025-04-30", "2025-06-20"]),
                            "ratio": [2.0, 1.5], "lower": [1.5, 1.1], "upper": [2.6, 2.0]})
    fig = figures.risk_weekend_figure(effects, lang="sv")
    assert list(fig.data[0].x) == [2.0, 1.5]
    assert list(fig.data[0].y) == ["Valborg 2025-04-30", "Midsommar 2025-06-20"]
    assert fig.layout.xaxis.type == "log"
    ref = pd.DataFrame({"city": ["Stockholm", "Antwerp", "Katrineholm", "Oslo", "Wien", "Dublin"],
                        "country": ["SE", "BE", "SE", "NO", "AT", "IE"],
                        "value": [50.0, 800.0, 90.0, 600.0, 400.0, 200.0],
                        "group": ["sweden", "europe", "this_site", "europe", "europe", "europe"]})
    fig = figures.comparison_figure(ref, lang="en")
    by_name = {tr.name: list(tr.x) for tr in fig.data if tr.type == "bar"}
    assert by_name == {"Sweden": [50.0], "Our site": [90.0]}
    assert list(fig.layout.yaxis.categoryarray) == ["Stockholm (SE)", "Katrineholm (SE)"]
    # Europe: 200, 400, 600, 800 → quartiles (linear) 350 and 650, median 500
    iqr = next(s for s in fig.layout.shapes if s.name == "europe_iqr")
    assert (iqr.x0, iqr.x1) == (350.0, 650.0)
    median = next(s for s in fig.layout.shapes if s.name == "europe_median")
    assert median.x0 == 500.0
    names = [tr.name for tr in fig.data]
    assert "Other EUDA cities: median 500 (n = 4)" in names
    assert "Other EUDA cities: interquartile range 350–650" in names
    assert tuple(fig.layout.xaxis.range) == (0, pytest.approx(682.5))  # 1.05 × Q3


def test_figure_html_does_not_load_plotly_from_cdn(series):
    html = figures.figure_html(figures.trend_figure(series), "fig-trend")
    assert 'id="fig-trend"' in html
    assert "cdn.plot.ly" not in html and "<script src=" not in html


def test_swedish_number_format():
    assert format_number(34324, "sv", 0) == "34\u00a0324"
    assert format_number(12.5, "sv") == "12,5"
    assert format_number(1234.5, "en") == "1,234.5"
    assert format_number(np.nan, "sv") == "–"
    assert format_number(-3.25, "sv", 2) == "\u22123,25"
    assert format_percent(12.4, "sv") == "+12\u00a0%"


def test_every_kind_of_shading_has_a_legend_entry(series, events):
    """A complete legend: one entry per kind of shaded event (named, not by id) and one for the
    risk weekends, however many rectangles each has."""
    more = pd.concat([events, events.assign(event_id=["EV-3", "EV-4"])], ignore_index=True)
    weekends = pd.DataFrame({"name": ["Valborg"], "start": pd.to_datetime(["2025-03-05"]),
                             "end": pd.to_datetime(["2025-03-05"])})
    fig = figures.trend_figure(series, events=more, risk_weekends=weekends, lang="sv")
    proxies = [tr for tr in fig.data if tr.meta and tr.meta.get("role") == "legend_proxy"]
    assert [tr.name for tr in proxies] == ["Polisinsats", "Kampanj", "Riskhelg"]
    assert proxies[0].marker.color == figures.EVENT_FILLS["operation"]
    assert sum(1 for s in fig.layout.shapes if s.name.startswith("event:")) == 4
    assert all("EV-" not in tr.name for tr in fig.data)


def test_risk_weekends_have_one_legend_entry(series):
    weekends = pd.DataFrame({"name": ["Valborg", "Midsommar"],
                             "start": pd.to_datetime(["2025-03-01", "2025-03-04"]),
                             "end": pd.to_datetime(["2025-03-02", "2025-03-05"])})
    fig = figures.trend_figure(series, risk_weekends=weekends, lang="sv")
    assert [tr.name for tr in fig.data].count("Riskhelg") == 1
    assert sum(1 for s in fig.layout.shapes if s.name.startswith("risk_weekend:")) == 2


def test_tertial_change_figure_marks_euda_stable_band():
    changes = pd.DataFrame({"label": ["BE", "MDMA"], "change_percent": [-25.0, 4.0]})
    fig = figures.tertial_change_figure(changes, lang="sv")
    assert list(fig.data[0].x) == [-25.0, 4.0]
    band = next(s for s in fig.layout.shapes if s.name == "stable_band")
    assert (band.x0, band.x1) == (-10.0, 10.0)
    assert fig.layout.xaxis.ticksuffix == " %"
    # the axis shows the whole ±10 % band and the largest change: [1.1 × −25, 1.5 × 10]
    assert tuple(fig.layout.xaxis.range) == (pytest.approx(-27.5), pytest.approx(15.0))


def test_weekly_summary_counts_weeks(series):
    text = figures.trend_summary(series, measure="load_per_1000", lang="en", weekly=True)
    assert text.startswith("5 weeks (weekly means) from 2025-03-01")


def test_trend_weekly_mean_with_named_change_band_and_level_on_demand(series):
    weekly = pd.DataFrame({
        "date": pd.to_datetime(["2025-02-24", "2025-03-03"]), "value": [105.0, 80.0],
        "change_lower": [92.0, 70.0], "change_upper": [120.0, 91.0],
        "level_lower": [66.0, 50.0], "level_upper": [168.0, 128.0], "n_days": [7, 7]})
    fig = figures.trend_figure(series, weekly=weekly, measure="load_per_1000", lang="sv")
    roles = [tr.meta["role"] if tr.meta else None for tr in fig.data]
    assert roles == ["level_band", "change_band", "daily", "weekly_mean", "below_loq"]
    level, change, daily, mean = fig.data[:4]
    assert change.visible is True and level.visible == "legendonly"  # level band on demand
    assert change.name == "95 % konfidensintervall för förändring (jämför över tid)"
    assert level.name.startswith("95 % konfidensintervall för nivå")
    assert list(change.y) == [120.0, 91.0, 70.0, 92.0]
    # the weekly mean is drawn mid-week (Thursday noon) and thicker than the light daily points
    assert pd.Timestamp(mean.x[0]) == pd.Timestamp("2025-02-27 12:00")
    assert list(mean.y) == [105.0, 80.0] and mean.line.width == 3
    assert list(daily.y) == [100.0, 120.0, 90.0, 110.0] and daily.mode == "markers"  # points, no line
    assert daily.marker.size < mean.marker.size and daily.marker.color == "rgba(0, 114, 178, 0.35)"
    en = figures.trend_figure(series.iloc[0:0], weekly=weekly, lang="en", band="level")
    assert [tr.name for tr in en.data][:2] == [
        "95 % confidence interval for level (compare with other cities) – click to show",
        "95 % confidence interval for change (compare over time)"]
    assert en.data[0].visible is True and en.data[1].visible == "legendonly"
    assert "daily" not in [tr.meta["role"] for tr in en.data if tr.meta]  # public: weeks only
