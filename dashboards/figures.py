"""Pure figure builders: tidy DataFrames in canonical units → plain plotly JSON figures
(:class:`dashboards.plotspec.Figure`).

No I/O and no statistics live here: the numbers come from ``wastewater.*`` (through
:mod:`dashboards.data`), exactly as the API computes them; these functions only draw.
Every builder has a sibling ``*_summary`` that returns a one-paragraph text alternative
(WCAG 2.1 SC 1.1.1), and the page shows the input frame as a table and a CSV download.

Input frames (column names are the contract):

- trend/series: ``date`` (datetime64), ``value``, ``censored`` (bool, value below LOQ, plotted
  at the substituted value) and 95 % bounds named by their kind: ``change_lower,
  change_upper`` (what does not cancel within a site) and ``level_lower, level_upper`` (every
  error component), float, NaN allowed; plain ``lower, upper`` are drawn as an unnamed band.
- weekly means: ``date`` (Monday of the ISO week), ``value``, the same bound columns (the
  week's own interval, computed on the draws of its days; in the public view each day at the
  week's mean), ``n_days``.
- events: ``event_id, kind, start, end, description`` (inclusive dates, architecture.md).
- risk weekends: ``name, start, end`` (inclusive dates).
- weekday profile: ``weekday`` (0 = Monday), ``median, q25, q75, n``.
- risk-weekend effects: ``name, start, ratio, lower, upper`` (ratio [unitless]).
- reference comparison: ``city, country, value, group`` with group in
  ``this_site | sweden | europe``.

Colours: Okabe & Ito (2008) colour-blind-safe palette, restricted to the members with at
least 3:1 contrast on white (WCAG 2.1 SC 1.4.11 non-text contrast); the below-LOQ points
differ by symbol as well as colour (SC 1.4.1).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from dashboards import plotspec as go
from dashboards.i18n import (
    PLOTLY_SEPARATORS,
    count,
    format_date,
    format_number,
    format_percent,
    measure_label,
    normalise_language,
    t,
    weekday_names,
)
from dashboards.plotspec import make_subplots

#: Okabe–Ito colours with contrast ratio on white: blue 5.1:1, vermillion 3.8:1,
#: reddish purple 3.1:1, black 21:1.
BLUE = "#0072B2"
VERMILLION = "#D55E00"
PURPLE = "#A0527D"  # darkened reddish purple (Okabe–Ito #CC79A7 is only 2.6:1)
BLACK = "#000000"
GREY = "#595959"  # 7:1 on white
BAND_FILL = "rgba(0, 114, 178, 0.18)"
CHANGE_FILL = "rgba(0, 114, 178, 0.28)"
LEVEL_FILL = "rgba(89, 89, 89, 0.14)"
DAILY_LIGHT = "rgba(0, 114, 178, 0.35)"

#: vrect fill per event kind (fills are backgrounds, so text contrast does not apply;
#: each kind also carries a text label on the rectangle).
EVENT_FILLS = {
    "operation": "rgba(213, 94, 0, 0.16)",
    "school_search": "rgba(213, 94, 0, 0.10)",
    "campaign": "rgba(0, 158, 115, 0.16)",
    "safety_walk": "rgba(0, 158, 115, 0.10)",
    "risk_weekend": "rgba(160, 82, 125, 0.18)",
    "other": "rgba(89, 89, 89, 0.12)",
}
RISK_WEEKEND_FILL = "rgba(160, 82, 125, 0.18)"

DATE_FORMAT = "%Y-%m-%d"


@functools.lru_cache(maxsize=1)
def _template() -> dict[str, Any]:
    """plotly's ``plotly_white`` template as plain JSON, resolved once; :func:`figure_html`
    adds it to every figure."""
    import plotly.io as pio

    return go.to_plotly(pio.templates["plotly_white"].to_plotly_json())


def _figure(*data: Any) -> go.Figure:
    """A figure of plain dicts (:mod:`dashboards.plotspec`; plotly.py's validated objects were
    about 40 % of a tertial report's build time, benchmarks/bench_dashboard.py)."""
    return go.Figure(list(data) or None)


def _base_layout(fig: go.Figure, lang: str, title: str) -> go.Figure:
    """Language-aware layout shared by every figure (decimal comma in Swedish)."""
    lang = normalise_language(lang)
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        separators=PLOTLY_SEPARATORS[lang],
        font={"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
              "size": 14, "color": "#1a1a1a"},
        margin={"l": 70, "r": 20, "t": 60, "b": 60},
        legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0},
        hoverlabel={"bgcolor": "white", "font_color": "#1a1a1a"},
        meta={"lang": lang},
    )
    return fig


def _unit(measure: str, lang: str) -> str:
    return t(f"unit_{measure}", lang)


def _inclusive_end(end: Any) -> pd.Timestamp:
    """A daily sample dated D covers D; an inclusive end date is shaded to the end of D."""
    return pd.Timestamp(end) + pd.Timedelta(days=1)


def _clean_series(series: pd.DataFrame) -> pd.DataFrame:
    frame = series.copy()
    for column in ("lower", "upper", "change_lower", "change_upper", "level_lower", "level_upper"):
        if column not in frame:
            frame[column] = np.nan
    if "censored" not in frame:
        frame["censored"] = False
    frame["censored"] = frame["censored"].fillna(False).astype(bool)
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.sort_values("date").reset_index(drop=True)


def _band(frame: pd.DataFrame, lower: str, upper: str, x: pd.Series | None = None) -> tuple | None:
    """Closed polygon (upper forwards, lower backwards) of the rows with both bounds."""
    ok = frame[[lower, upper]].notna().all(axis=1)
    if not ok.any():
        return None
    xs = (frame["date"] if x is None else x)[ok]
    return (pd.concat([xs, xs[::-1]]), pd.concat([frame.loc[ok, upper], frame.loc[ok, lower][::-1]]))


def trend_figure(
    series: pd.DataFrame,
    *,
    weekly: pd.DataFrame | None = None,
    measure: str = "load_per_1000",
    title: str = "",
    events: pd.DataFrame | None = None,
    risk_weekends: pd.DataFrame | None = None,
    lang: str = "sv",
    band: str = "change",
) -> go.Figure:
    """Trend with a named 95 % band, <LOQ points, shaded events and risk weekends.

    Parameters
    ----------
    series : DataFrame
        Daily ``date, value, censored`` and bounds (module docstring) for one site and
        analyte; ``value`` in the canonical unit of ``measure`` (mg/day/1000 inh. for load and
        consumption, ng/L for concentration). Censored rows carry the substituted value (e.g.
        LOQ/2). May be empty when only weekly means may be shown.
    weekly : DataFrame, optional
        ISO-week means with their own bounds. Given, the weekly mean with its **change** band
        (named "95 % konfidensintervall …" / "95 % confidence interval …" in the legend) is what
        the eye follows (drawn at mid-week, thick line), daily values of ``series`` are small
        semi-transparent points behind it (no line: pass an empty ``series`` for readers who may
        not see single days), and the **level** band is in the legend, hidden until clicked
        (``band="level"`` shows it instead of the change band).
    measure : {"load_per_1000", "concentration", "consumption"}
    events : DataFrame, optional
        ``event_id, kind, start, end, description``; each becomes a shaded ``vrect``.
    risk_weekends : DataFrame, optional
        ``name, start, end``; each becomes a hatched ``vrect``, with one legend entry for all.
    band : {"change", "level"}
        Which band is visible first.

    Returns
    -------
    plotly.graph_objects.Figure
        Without ``weekly``: band (if any bounds; the ``{band}_*`` columns, else ``lower``/
        ``upper``), measured values (quantified days only), below-LOQ marker trace (if any).
        With ``weekly``: level band, change band, daily values (light), weekly mean,
        below-LOQ markers. Band traces carry ``meta={"role": "change_band" | "level_band"}``.
        Then one legend entry (``meta={"role": "legend_proxy"}``) per kind of event shown and
        one for the risk weekends.
    """
    lang = normalise_language(lang)
    frame = _clean_series(series)
    fig = _figure()
    unit = _unit(measure, lang)
    if weekly is None:
        named = frame[[f"{band}_lower", f"{band}_upper"]].notna().all(axis=1).any()
        cols = (f"{band}_lower", f"{band}_upper") if named else ("lower", "upper")
        poly = _band(frame, *cols)
        if poly is not None:
            fig.add_trace(go.Scatter(
                x=poly[0], y=poly[1], fill="toself", fillcolor=BAND_FILL, line={"width": 0},
                hoverinfo="skip", legendgroup="band",
                name=t(f"trace_band_{band}_day", lang) if named else t("trace_band", lang),
                meta={"role": f"{band}_band" if named else "band"},
            ))
        quantified = frame[~frame["censored"]]
        fig.add_trace(go.Scatter(
            x=quantified["date"], y=quantified["value"], mode="lines+markers",
            name=t("trace_value", lang), line={"color": BLUE, "width": 2},
            marker={"color": BLUE, "size": 6, "symbol": "circle"},
            connectgaps=False,
            hovertemplate=f"%{{x|{DATE_FORMAT}}}<br>%{{y:.2f}} {unit}<extra></extra>",
        ))
    else:
        week = _clean_series(weekly)
        mid = week["date"] + pd.Timedelta(hours=84)  # Monday + 3.5 days: the middle of the week
        for kind, fill in (("level", LEVEL_FILL), ("change", CHANGE_FILL)):
            poly = _band(week, f"{kind}_lower", f"{kind}_upper", x=mid)
            if poly is None:
                continue
            fig.add_trace(go.Scatter(
                x=poly[0], y=poly[1], fill="toself", fillcolor=fill, line={"width": 0},
                hoverinfo="skip", name=t(f"trace_band_{kind}", lang), legendgroup=f"{kind}_band",
                visible=True if kind == band else "legendonly", meta={"role": f"{kind}_band"},
            ))
        quantified = frame[~frame["censored"]]
        if len(quantified):
            fig.add_trace(go.Scatter(
                x=quantified["date"], y=quantified["value"], mode="markers",
                name=t("trace_daily_light", lang),
                marker={"color": DAILY_LIGHT, "size": 4, "symbol": "circle"},
                hovertemplate=f"%{{x|{DATE_FORMAT}}}<br>%{{y:.2f}} {unit}<extra></extra>",
                meta={"role": "daily"},
            ))
        custom = np.column_stack([week[f"{band}_lower"], week[f"{band}_upper"],
                                  week.get("n_days", pd.Series(np.nan, index=week.index))])
        kind_text = t(f"trace_band_{band}", lang).split(" (")[0]
        fig.add_trace(go.Scatter(
            x=mid, y=week["value"], mode="lines+markers", name=t("trace_weekly_mean", lang),
            line={"color": BLUE, "width": 3}, marker={"color": BLUE, "size": 7},
            customdata=custom, meta={"role": "weekly_mean"},
            hovertemplate=(f"%{{x|{DATE_FORMAT}}}<br>%{{y:.2f}} {unit}<br>{kind_text}: "
                           f"%{{customdata[0]:.2f}}–%{{customdata[1]:.2f}}<extra></extra>"),
        ))
    censored = frame[frame["censored"]]
    if len(censored):
        fig.add_trace(go.Scatter(
            x=censored["date"], y=censored["value"], mode="markers",
            name=t("trace_below_loq", lang),
            marker={"color": VERMILLION, "size": 10, "symbol": "triangle-down-open",
                    "line": {"width": 2, "color": VERMILLION}},
            hovertemplate=f"%{{x|{DATE_FORMAT}}}<br>&lt;LOQ (%{{y:.2f}} {unit})<extra></extra>",
            meta={"role": "below_loq"},
        ))
    if events is not None:
        kinds: list[str] = []
        for event in events.itertuples(index=False):
            kind = getattr(event, "kind", "other") or "other"
            fig.add_vrect(
                x0=pd.Timestamp(event.start), x1=_inclusive_end(event.end),
                fillcolor=EVENT_FILLS.get(kind, EVENT_FILLS["other"]), line_width=0,
                layer="below", name=f"event:{event.event_id}",
                annotation_text=t(f"event_{kind}", lang), annotation_position="top left",
                annotation_font={"size": 11, "color": "#1a1a1a"},
            )
            if kind not in kinds:
                kinds.append(kind)
        for kind in kinds:  # one legend entry per kind of shaded event (a complete legend)
            fig.add_trace(go.Scatter(
                x=[None], y=[None], mode="markers", name=t(f"event_{kind}", lang),
                marker={"symbol": "square", "size": 12, "color": EVENT_FILLS.get(kind, EVENT_FILLS["other"]),
                        "line": {"color": GREY, "width": 1}},
                hoverinfo="skip", meta={"role": "legend_proxy", "kind": kind},
            ))
    if risk_weekends is not None and len(risk_weekends):
        # no text on the rectangles (neighbouring weekends would overprint each other); the
        # legend entry below names them and the page lists them in a table. One layout update
        # with the rectangles add_vrect would make (full height of the x axis), not one each.
        fig.update_layout(shapes=[*(fig.layout.shapes or ()), *(
            {"type": "rect", "xref": "x", "yref": "y domain", "y0": 0, "y1": 1,
             "x0": pd.Timestamp(weekend.start), "x1": _inclusive_end(weekend.end),
             "fillcolor": RISK_WEEKEND_FILL, "line": {"width": 1, "color": PURPLE, "dash": "dot"},
             "layer": "below", "name": f"risk_weekend:{weekend.name}"}
            for weekend in risk_weekends.itertuples(index=False))])
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", name=t("risk_weekend", lang),
            marker={"symbol": "square", "size": 12, "color": RISK_WEEKEND_FILL,
                    "line": {"color": PURPLE, "width": 1}},
            hoverinfo="skip", meta={"role": "legend_proxy"},
        ))
    _base_layout(fig, lang, title)
    fig.update_xaxes(title_text=t("axis_date", lang), tickformat=DATE_FORMAT,
                     hoverformat=DATE_FORMAT)
    fig.update_yaxes(title_text=measure_label(measure, lang), rangemode="tozero")
    return fig


def trend_summary(series: pd.DataFrame, *, measure: str, lang: str = "sv",
                  events: pd.DataFrame | None = None, weekly: bool = False) -> str:
    """Text alternative for :func:`trend_figure` (first/last date, range, <LOQ count, events)."""
    lang = normalise_language(lang)
    frame = _clean_series(series).dropna(subset=["value"])
    if frame.empty:
        return t("no_data", lang)
    unit = _unit(measure, lang)
    peak = frame.loc[frame["value"].idxmax()]
    n_censored = int(frame["censored"].sum())
    n_events = 0 if events is None else len(events)
    if weekly:
        n_text = f"{len(frame)} veckor (veckomedel)" if lang == "sv" else f"{len(frame)} weeks (weekly means)"
    else:
        n_text = f"{len(frame)} provdygn" if lang == "sv" else f"{len(frame)} sample days"
    if lang == "sv":
        return (
            f"{n_text} från {format_date(frame['date'].min())} till "
            f"{format_date(frame['date'].max())}. Median {format_number(frame['value'].median(), lang, 2)} "
            f"{unit}, högsta {format_number(peak['value'], lang, 2)} {unit} den "
            f"{format_date(peak['date'])}. {count(n_censored, 'week' if weekly else 'day', lang)} under "
            f"kvantifieringsgränsen. "
            f"{count(n_events, 'marked_event', lang)}."
        )
    return (
        f"{n_text} from {format_date(frame['date'].min())} to "
        f"{format_date(frame['date'].max())}. Median {format_number(frame['value'].median(), lang, 2)} "
        f"{unit}, highest {format_number(peak['value'], lang, 2)} {unit} on "
        f"{format_date(peak['date'])}. {count(n_censored, 'week' if weekly else 'day', lang)} below the limit "
        f"of quantification. "
        f"{count(n_events, 'marked_event', lang)}."
    )


def weekday_profile_figure(profile: pd.DataFrame, *, measure: str = "load_per_1000", title: str = "",
                           lang: str = "sv") -> go.Figure:
    """Median per weekday with interquartile range as asymmetric error bars.

    Parameters
    ----------
    profile : DataFrame
        ``weekday`` (0 = Monday … 6 = Sunday, the composite's start day), ``median``,
        ``q25``, ``q75`` in the measure's canonical unit, ``n`` [days].
    """
    lang = normalise_language(lang)
    frame = profile.sort_values("weekday")
    names = weekday_names(lang)
    unit = _unit(measure, lang)
    fig = go.Figure()
    # two traces so the legend names the colours: Monday–Thursday and the weekend (Fri–Sun)
    for part, colour, key in ((frame[frame["weekday"] < 4], BLUE, "weekday_legend_weekdays"),
                              (frame[frame["weekday"] >= 4], PURPLE, "weekday_legend_weekend")):
        if part.empty:
            continue
        fig.add_trace(go.Bar(
            x=[names[int(w)] for w in part["weekday"]], y=part["median"], marker_color=colour,
            error_y={"type": "data", "symmetric": False, "color": BLACK,
                     "array": (part["q75"] - part["median"]).to_numpy(),
                     "arrayminus": (part["median"] - part["q25"]).to_numpy()},
            customdata=np.column_stack([part["q25"], part["q75"], part["n"]]),
            name=t(key, lang), showlegend=True,
            hovertemplate=(f"%{{x}}: %{{y:.2f}} {unit}<br>IQR %{{customdata[0]:.2f}}–"
                           f"%{{customdata[1]:.2f}}<br>n = %{{customdata[2]}}<extra></extra>"),
        ))
    fig.update_xaxes(categoryorder="array", categoryarray=[names[int(w)] for w in frame["weekday"]])
    _base_layout(fig, lang, title)
    fig.update_xaxes(title_text=t("axis_weekday", lang))
    fig.update_yaxes(title_text=measure_label(measure, lang), rangemode="tozero")
    return fig


def weekday_summary(profile: pd.DataFrame, *, measure: str, lang: str = "sv") -> str:
    """Text alternative: highest and lowest weekday medians."""
    lang = normalise_language(lang)
    frame = profile.dropna(subset=["median"])
    if frame.empty:
        return t("no_data", lang)
    names = weekday_names(lang)
    unit = _unit(measure, lang)
    hi = frame.loc[frame["median"].idxmax()]
    lo = frame.loc[frame["median"].idxmin()]
    if lang == "sv":
        return (f"Högst median på {names[int(hi['weekday'])]} ({format_number(hi['median'], lang, 2)} "
                f"{unit}), lägst på {names[int(lo['weekday'])]} "
                f"({format_number(lo['median'], lang, 2)} {unit}).")
    return (f"Highest median on {names[int(hi['weekday'])]} ({format_number(hi['median'], lang, 2)} "
            f"{unit}), lowest on {names[int(lo['weekday'])]} ({format_number(lo['median'], lang, 2)} {unit}).")


def _effect_value(effect: Mapping[str, Any], *names: str) -> float:
    for name in names:
        if name in effect and effect[name] is not None:
            try:
                return float(effect[name])
            except (TypeError, ValueError):
                continue
    return float("nan")


def effect_numbers(effect: Mapping[str, Any]) -> dict[str, float]:
    """Pick estimate/CI (percent change) out of an operation-effect ``to_dict()``.

    Accepts the field spellings used by :mod:`wastewater.stats` (``change_percent``,
    ``ci_low_percent`` …) and falls back to a ratio (``ratio``, ``ci_low``…) converted to
    percent: change % = 100 · (ratio − 1).
    """
    estimate = _effect_value(effect, "change_percent", "percent_change", "estimate_percent")
    low = _effect_value(effect, "ci_low_percent", "ci_lower_percent", "change_percent_ci_low")
    high = _effect_value(effect, "ci_high_percent", "ci_upper_percent", "change_percent_ci_high")
    if np.isnan(estimate):
        ratio = _effect_value(effect, "ratio", "estimate_ratio", "rate_ratio")
        estimate = 100.0 * (ratio - 1.0)
        low = 100.0 * (_effect_value(effect, "ci_low", "ci_lower", "ratio_ci_low") - 1.0)
        high = 100.0 * (_effect_value(effect, "ci_high", "ci_upper", "ratio_ci_high") - 1.0)
    return {"estimate_percent": estimate, "ci_low_percent": low, "ci_high_percent": high}


def operation_effect_figure(
    series: pd.DataFrame,
    *,
    event: Mapping[str, Any],
    effect: Mapping[str, Any] | None,
    measure: str = "load_per_1000",
    title: str = "",
    lang: str = "sv",
) -> go.Figure:
    """Before/during/after view of one operation with the estimated change and its CI
    (without the estimate panel when ``effect`` is ``None``: an effect not yet published).

    Parameters
    ----------
    series : DataFrame
        ``date, value, censored`` and ``period`` in ``before | during | after``.
    event : mapping
        ``event_id, kind, start, end, description``.
    effect : mapping
        ``operation_effect(...).to_dict()`` from :mod:`wastewater.stats`; see
        :func:`effect_numbers` for the fields read.

    Returns
    -------
    Figure with two panels: left, daily values coloured by period with the operation shaded
    and the before/after means as horizontal lines; right, the estimate with its 95 % CI [%].
    """
    lang = normalise_language(lang)
    frame = _clean_series(series)
    if "period" not in frame:
        frame["period"] = "before"
    unit = _unit(measure, lang)
    if effect is None:
        fig = make_subplots(rows=1, cols=1)
    else:
        fig = make_subplots(rows=1, cols=2, column_widths=[0.74, 0.26], horizontal_spacing=0.1,
                            subplot_titles=("", t("operation_estimate", lang)))
    colours = {"before": BLUE, "during": VERMILLION, "after": BLACK}
    symbols = {"before": "circle", "during": "diamond", "after": "square"}
    for period in ("before", "during", "after"):
        part = frame[frame["period"] == period]
        if part.empty:
            continue
        fig.add_trace(go.Scatter(
            x=part["date"], y=part["value"], mode="markers",
            name=t(f"operation_{period}", lang),
            marker={"color": colours[period], "symbol": symbols[period], "size": 8},
            hovertemplate=f"%{{x|{DATE_FORMAT}}}<br>%{{y:.2f}} {unit}<extra></extra>",
        ), row=1, col=1)
        mean = part["value"].mean()
        if period != "during" and np.isfinite(mean):
            fig.add_trace(go.Scatter(
                x=[part["date"].min(), part["date"].max()], y=[mean, mean], mode="lines",
                line={"color": colours[period], "dash": "dash"}, showlegend=False,
                hoverinfo="skip", name=f"mean_{period}",
            ), row=1, col=1)
    fig.add_vrect(x0=pd.Timestamp(event["start"]), x1=_inclusive_end(event["end"]),
                  fillcolor=EVENT_FILLS["operation"], line_width=0, layer="below",
                  name=f"event:{event.get('event_id', '')}",
                  annotation_text=t(f"event_{event.get('kind') or 'operation'}", lang),
                  annotation_position="top left", row=1, col=1)
    _base_layout(fig, lang, title)
    fig.update_xaxes(title_text=t("axis_date", lang), tickformat=DATE_FORMAT,
                     hoverformat=DATE_FORMAT, nticks=5, tickangle=0, row=1, col=1)
    fig.update_layout(legend={"y": -0.25}, margin={"b": 90})
    short = t(f"short_{measure}", lang)
    fig.update_yaxes(title_text=short if not short.startswith("short_") else measure_label(measure, lang),
                     rangemode="tozero", row=1, col=1)
    if effect is None:
        return fig
    numbers = effect_numbers(effect)
    estimate = numbers["estimate_percent"]
    fig.add_trace(go.Scatter(
        x=[0], y=[estimate], mode="markers", name=t("operation_estimate", lang),
        marker={"color": VERMILLION if estimate < 0 else BLUE, "size": 12, "symbol": "diamond"},
        error_y={"type": "data", "symmetric": False, "color": BLACK, "thickness": 2,
                 "array": [numbers["ci_high_percent"] - estimate],
                 "arrayminus": [estimate - numbers["ci_low_percent"]]},
        hovertemplate="%{y:.0f} %<extra></extra>", showlegend=False,
    ), row=1, col=2)
    fig.add_hline(y=0, line={"color": GREY, "width": 1}, row=1, col=2)
    fig.update_xaxes(visible=False, range=[-1, 1], row=1, col=2)
    fig.update_yaxes(title_text=t("operation_estimate", lang) + " (%)", ticksuffix=" %",
                     zeroline=True, row=1, col=2)
    return fig


def operation_summary(effect: Mapping[str, Any], *, lang: str = "sv") -> str:
    """Text alternative for the estimate panel: change and CI in percent."""
    numbers = effect_numbers(effect)
    if lang == "en":
        return (f"Estimated change {format_percent(numbers['estimate_percent'], 'en')} "
                f"(95 % CI {format_percent(numbers['ci_low_percent'], 'en')} to "
                f"{format_percent(numbers['ci_high_percent'], 'en')}).")
    return (f"Skattad förändring {format_percent(numbers['estimate_percent'], 'sv')} "
            f"(95 % konfidensintervall {format_percent(numbers['ci_low_percent'], 'sv')} till "
            f"{format_percent(numbers['ci_high_percent'], 'sv')}).")


def risk_weekend_figure(effects: pd.DataFrame, *, title: str = "", lang: str = "sv") -> go.Figure:
    """Ratio of each risk weekend to its comparison weekends, with CI whiskers.

    Parameters
    ----------
    effects : DataFrame
        ``name, start, ratio, lower, upper`` (ratio [unitless], 1 = no difference).
    """
    lang = normalise_language(lang)
    frame = effects.copy()
    frame["start"] = pd.to_datetime(frame["start"])
    frame = frame.sort_values("start")
    labels = [f"{name} {format_date(start)}" for name, start in zip(frame["name"], frame["start"])]
    fig = _figure(go.Scatter(
        x=frame["ratio"], y=labels, mode="markers", name=t("riskweekend_ratio", lang),
        marker={"color": PURPLE, "size": 11, "symbol": "diamond"},
        error_x={"type": "data", "symmetric": False, "color": BLACK,
                 "array": (frame["upper"] - frame["ratio"]).to_numpy(),
                 "arrayminus": (frame["ratio"] - frame["lower"]).to_numpy()},
        hovertemplate="%{y}: %{x:.2f}<extra></extra>",
    ))
    fig.add_vline(x=1.0, line={"color": GREY, "dash": "dash"})
    _base_layout(fig, lang, title)
    ticks = [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8]
    fig.update_xaxes(title_text=t("riskweekend_axis", lang), type="log", tickvals=ticks,
                     ticktext=[format_number(v, lang, 2).rstrip("0").rstrip(",.") for v in ticks])
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_layout(height=max(320, 60 + 36 * len(frame)))
    return fig


def comparison_figure(reference: pd.DataFrame, *, title: str = "", lang: str = "sv") -> go.Figure:
    """Bars for the Swedish EUDA cities and our site; the other European cities as their
    median (dashed line) and interquartile range (shaded band).

    Parameters
    ----------
    reference : DataFrame
        ``city, country, value, group``; ``value`` in mg/day/1000 inh. (EUDA daily mean),
        ``group`` in ``this_site | sweden | europe``.

    Returns
    -------
    Figure with one bar trace per group present among ``this_site``/``sweden`` and, when
    European cities are given, a ``vrect`` (IQR) and a ``vline`` (median) named
    ``europe_iqr`` / ``europe_median`` with two legend-only traces naming them.
    """
    lang = normalise_language(lang)
    frame = reference.dropna(subset=["value"])
    bars = frame[frame["group"].isin(["sweden", "this_site", "national"])].sort_values("value")
    colours = {"this_site": VERMILLION, "sweden": BLUE, "national": BLACK}
    if "label" not in bars:
        bars = bars.assign(label=[f"{c} ({k})" for c, k in zip(bars["city"], bars["country"])])
    labels = [f"{c} ({k})" for c, k in zip(bars["city"], bars["country"])]
    fig = _figure()
    for group in ("sweden", "national", "this_site"):
        part = bars[bars["group"] == group]
        if part.empty:
            continue
        fig.add_trace(go.Bar(
            x=part["value"], y=list(part["label"]),
            orientation="h", name=t(group, lang), marker_color=colours[group],
            hovertemplate="%{y}: %{x:.1f}<extra></extra>",
        ))
    europe = frame[frame["group"] == "europe"]["value"]
    x_max = float(bars["value"].max()) if len(bars) else 0.0
    if len(europe):
        q1, med, q3 = (float(europe.quantile(q)) for q in (0.25, 0.5, 0.75))
        x_max = max(x_max, q3)
        fig.add_vrect(x0=q1, x1=q3, fillcolor="rgba(89, 89, 89, 0.15)", line_width=0,
                      layer="below", name="europe_iqr")
        fig.add_vline(x=med, line={"color": BLACK, "dash": "dash", "width": 2}, name="europe_median")
        # legend entries for the line and the band (no text on the plot to overprint bars)
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="lines", line={"color": BLACK, "dash": "dash", "width": 2},
            name=(f"{t('europe', lang)}: median {format_number(med, lang, 0)} "
                  f"(n = {len(europe)})"), hoverinfo="skip", meta={"role": "legend_proxy"}))
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers",
            marker={"symbol": "square", "size": 14, "color": "rgba(89, 89, 89, 0.25)"},
            name=(f"{t('europe', lang)}: {'kvartilavstånd' if lang == 'sv' else 'interquartile range'} "
                  f"{format_number(q1, lang, 0)}–{format_number(q3, lang, 0)}"),
            hoverinfo="skip", meta={"role": "legend_proxy"}))
    _base_layout(fig, lang, title)
    fig.update_yaxes(categoryorder="array", categoryarray=labels, automargin=True)
    fig.update_xaxes(title_text=t("compare_axis", lang), range=[0, 1.05 * x_max or 1])
    fig.update_layout(height=max(360, 160 + 28 * len(bars)), bargap=0.25)
    return fig


def tertial_change_figure(changes: pd.DataFrame, *, title: str = "", lang: str = "sv") -> go.Figure:
    """Bar chart of per-analyte percent change against the previous tertial.

    Parameters
    ----------
    changes : DataFrame
        ``label, change_percent`` [%].
    """
    lang = normalise_language(lang)
    frame = changes.dropna(subset=["change_percent"])
    bars: dict[str, Any] = {}
    if {"change_low", "change_high"} <= set(frame.columns):  # the 95 % interval of each change
        bars["error_x"] = {"type": "data", "symmetric": False, "color": GREY,
                           "array": (frame["change_high"] - frame["change_percent"]).tolist(),
                           "arrayminus": (frame["change_percent"] - frame["change_low"]).tolist()}
    fig = _figure(go.Bar(
        x=frame["change_percent"], y=frame["label"], orientation="h",
        marker_color=[VERMILLION if v > 0 else BLUE for v in frame["change_percent"]],
        hovertemplate="%{y}: %{x:.0f} %<extra></extra>", name=t("col_change_pct", lang), **bars,
    ))
    # EUDA's "stable" class: |change| < 10 % (wastewater.summaries.CHANGE_THRESHOLD_PERCENT)
    from wastewater.summaries import CHANGE_THRESHOLD_PERCENT

    fig.add_vrect(x0=-CHANGE_THRESHOLD_PERCENT, x1=CHANGE_THRESHOLD_PERCENT,
                  fillcolor="rgba(89, 89, 89, 0.12)", line_width=0, layer="below",
                  name="stable_band", annotation_text=t("stable_band", lang),
                  annotation_position="top left", annotation_font={"size": 11})
    fig.add_vline(x=0, line={"color": GREY})
    _base_layout(fig, lang, title)
    low = frame["change_low"] if "change_low" in frame else frame["change_percent"]
    high = frame["change_high"] if "change_high" in frame else frame["change_percent"]
    lo = min(-1.5 * CHANGE_THRESHOLD_PERCENT, 1.1 * float(low.min()))
    hi = max(1.5 * CHANGE_THRESHOLD_PERCENT, 1.1 * float(high.max()))
    fig.update_xaxes(title_text=t("col_change_pct", lang), ticksuffix=" %", range=[lo, hi])
    fig.update_yaxes(automargin=True)
    fig.update_layout(height=max(300, 80 + 32 * len(frame)))
    return fig


def figure_html(fig: go.Figure, div_id: str) -> str:
    """HTML fragment for a figure: a ``<div data-plotly="…">`` holding the figure as JSON,
    drawn by ``static/figures.js`` (plotly.js is loaded once by the page, never from a CDN; no
    inline script, so the page runs under a strict Content-Security-Policy)."""
    import html

    import orjson

    spec = fig.to_plotly_json()
    if not isinstance(fig, go.Figure):  # a plotly.py figure: numpy arrays, Timestamps
        spec = go.to_plotly(spec)
    layout = spec.get("layout", {})
    if "template" not in layout:  # the resolved plotly_white template
        layout = {**layout, "template": _template()}
    payload = orjson.dumps(
        {"data": spec.get("data", []), "layout": layout,
         # No mode bar: its unlabelled buttons would be focusable inside role="img"; the data
         # table and CSV under each figure are the accessible equivalent (WCAG 1.1.1, 2.1.1).
         "config": {"displaylogo": False, "responsive": True, "displayModeBar": False}}).decode("utf-8")
    return (f'<div id="{html.escape(div_id)}" class="plotly-graph-div" style="height:100%;width:100%;" '
            f'data-plotly="{html.escape(payload, quote=True)}"></div>')


def add_smoothed_trace(fig: go.Figure, dates, values, *, name: str) -> go.Figure:
    """Add a smoothed line (e.g. the 7-day trailing median, :mod:`wastewater.smoothing`) to a
    trend figure; same unit as the trend's values."""
    fig.add_trace(go.Scatter(x=list(dates), y=list(values), mode="lines", name=name,
                             line={"color": BLACK, "width": 2},
                             hovertemplate="%{x|%Y-%m-%d}: %{y:.1f}<extra>" + name + "</extra>"))
    return fig
