"""The dashboard's figures are plain dicts (dashboards.plotspec), not plotly.py objects. Every
builder's output must still be a figure plotly accepts: plotly.py validates each property of it
(an unknown or misspelt property raises) and serialises it to the same JSON we send to plotly.js."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboards import figures, plotspec

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T[\d:.]+)?$")


def _plain(value):
    """Compare JSON trees: typed arrays decoded to lists, dates as Timestamps, NaN as None."""
    if isinstance(value, dict):
        if set(value) >= {"dtype", "bdata"}:
            arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
            if "shape" in value:
                arr = arr.reshape([int(n) for n in value["shape"].split(",")])
            return _plain(arr.astype(float).tolist())
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, str) and _DATE.match(value):
        return pd.Timestamp(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _as_plotly(fig: plotspec.Figure) -> dict:
    spec = fig.to_plotly_json()
    validated = go.Figure(spec)  # raises ValueError on any property plotly does not know
    return _plain(json.loads(validated.to_json()))


def _days(n=60, start="2025-01-01"):
    d = pd.date_range(start, periods=n)
    v = 100 + 10 * np.sin(np.arange(n))
    return pd.DataFrame({"date": d, "value": v, "censored": np.arange(n) % 13 == 0,
                         "change_lower": v * 0.9, "change_upper": v * 1.1,
                         "level_lower": v * 0.6, "level_upper": v * 1.5})


def _weeks():
    d = pd.date_range("2024-12-30", periods=9, freq="7D")
    v = np.linspace(90, 110, 9)
    return pd.DataFrame({"date": d, "value": v, "change_lower": v * 0.9, "change_upper": [*(v[:-1] * 1.1), np.nan],
                         "level_lower": v * 0.6, "level_upper": v * 1.5, "n_days": [7] * 9})


EVENTS = pd.DataFrame({"event_id": ["EV-1", "EV-2"], "kind": ["operation", "campaign"],
                       "start": pd.to_datetime(["2025-01-10", "2025-02-01"]),
                       "end": pd.to_datetime(["2025-01-12", "2025-02-03"]), "description": ["a", "b"]})
WEEKENDS = pd.DataFrame({"name": ["Nyår", "Trettondagen"], "start": pd.to_datetime(["2025-01-01", "2025-01-04"]),
                         "end": pd.to_datetime(["2025-01-01", "2025-01-06"])})


def _builders():
    days = _days()
    op = days.assign(period=np.where(days["date"] < "2025-01-10", "before",
                                     np.where(days["date"] > "2025-01-12", "after", "during")))
    yield "trend_daily", figures.trend_figure(days, events=EVENTS, risk_weekends=WEEKENDS, lang="sv")
    yield "trend_weekly", figures.trend_figure(days, weekly=_weeks(), events=EVENTS, risk_weekends=WEEKENDS,
                                               lang="en")
    yield "trend_public", figures.trend_figure(days.iloc[0:0], weekly=_weeks(), lang="sv", band="level")
    smooth = figures.trend_figure(days, lang="sv")
    yield "smoothed", figures.add_smoothed_trace(smooth, days["date"], days["value"].rolling(7).median(),
                                                 name="7 dygn")
    profile = pd.DataFrame({"weekday": range(7), "median": [10.0, 9, 9.5, 10, 12, 14, 13],
                            "q25": [8.0, 8, 8.5, 9, 11, 12, 12], "q75": [11.0, 10, 10.5, 11, 13, 16, 15],
                            "n": [52] * 7})
    yield "weekday", figures.weekday_profile_figure(profile, lang="sv")
    yield "operation", figures.operation_effect_figure(
        op, event={"event_id": "EV-1", "kind": "operation", "start": "2025-01-10", "end": "2025-01-12"},
        effect={"change_percent": -20.0, "ci_low_percent": -30.0, "ci_high_percent": -8.0}, lang="sv")
    effects = pd.DataFrame({"name": ["Valborg", "Midsommar"], "start": pd.to_datetime(["2025-04-30", "2025-06-20"]),
                            "ratio": [2.0, 1.5], "lower": [1.5, 1.1], "upper": [2.6, 2.0]})
    yield "riskweekends", figures.risk_weekend_figure(effects, lang="en")
    ref = pd.DataFrame({"city": ["Stockholm", "Antwerp", "Katrineholm", "Oslo", "Wien"],
                        "country": ["SE", "BE", "SE", "NO", "AT"], "value": [50.0, 800, 90, 600, 400],
                        "group": ["sweden", "europe", "this_site", "europe", "europe"]})
    yield "compare", figures.comparison_figure(ref, lang="sv")
    changes = pd.DataFrame({"label": ["BE – A", "MDMA – A"], "change_percent": [-25.0, 4.0],
                            "change_low": [-35.0, -6.0], "change_high": [-12.0, 15.0]})
    yield "tertial", figures.tertial_change_figure(changes, lang="sv")


@pytest.mark.parametrize("name,fig", list(_builders()), ids=[n for n, _ in _builders()])
def test_plotly_accepts_the_figure_and_serialises_it_alike(name, fig):
    ours = _plain(fig.to_plotly_json())
    theirs = _as_plotly(fig)
    theirs["layout"].pop("template")  # plotly's default; figure_html adds plotly_white to ours
    assert ours == theirs


def test_subplot_layout_is_plotlys():
    """Domains, anchors and the title of the second panel as plotly.subplots.make_subplots makes them."""
    from plotly.subplots import make_subplots

    ref = make_subplots(rows=1, cols=2, column_widths=[0.74, 0.26], horizontal_spacing=0.1,
                        subplot_titles=("", "Skattad förändring"))
    ours = plotspec.make_subplots(rows=1, cols=2, column_widths=[0.74, 0.26], horizontal_spacing=0.1,
                                  subplot_titles=("", "Skattad förändring"))
    for f in (ref, ours):
        for col in (1, 2):  # (plotly leaves shapes off a subplot without a trace)
            f.add_trace(go.Scatter(x=[0], y=[1]) if f is ref else plotspec.Scatter(x=[0], y=[1]), row=1, col=col)
        f.add_vrect(x0=1, x1=2, row=1, col=1, annotation_text="A", annotation_position="top left",
                    line_width=0)
        f.add_hline(y=0, line={"color": "#595959", "width": 1}, row=1, col=2)
        f.update_yaxes(title_text="%", row=1, col=2)
    theirs = _plain(json.loads(ref.to_json()))
    theirs["layout"].pop("template")
    assert _plain(ours.to_plotly_json()) == theirs
    assert ours.layout.xaxis.domain == [0.0, pytest.approx(0.666)]
    assert ours.layout.xaxis2.domain == [pytest.approx(0.766), 1.0]


def test_magic_underscores_and_reading_back():
    fig = plotspec.Figure()
    fig.add_trace(plotspec.Bar(x=[1, 2], marker_color="#000", error_x={"type": "data", "array": [1, 1]}))
    fig.update_layout(hoverlabel={"font_color": "#111"}, legend={"y": -0.18, "x": 0})
    fig.update_layout(legend={"y": -0.25})
    fig.update_xaxes(title_text="Datum")
    assert fig.data[0].marker.color == "#000" and fig.data[0].error_x.array == [1, 1]
    assert fig.layout.hoverlabel.font.color == "#111"
    assert dict(fig.layout.legend) == {"y": -0.25, "x": 0}  # nested dicts merge, as plotly's update
    assert fig.layout.xaxis.title.text == "Datum" and fig.layout.yaxis is None
    assert fig.data[0].meta is None  # unset reads as None


def test_figure_html_json_is_the_spec_with_template():
    import html as h

    fig = figures.trend_figure(_days(), weekly=_weeks(), lang="sv")
    div = figures.figure_html(fig, "p")
    payload = json.loads(h.unescape(re.search(r'data-plotly="([^"]*)"', div).group(1)))
    assert payload["config"] == {"displaylogo": False, "responsive": True, "displayModeBar": False}
    assert payload["layout"]["template"]["layout"]["plot_bgcolor"] == "white"
    payload["layout"].pop("template")
    assert _plain(payload["data"]) == _plain(fig.to_plotly_json()["data"])
    mean = next(tr for tr in payload["data"] if tr.get("meta", {}).get("role") == "weekly_mean")
    assert _plain(mean["y"]) == pytest.approx(list(np.linspace(90, 110, 9)))
    assert mean["x"][0] == "2025-01-02T12:00:00"  # Monday 30 Dec + 3.5 days
