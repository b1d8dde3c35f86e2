"""Tertial follow-up report ("uppföljningsrapport") as one self-contained HTML file.

Swedish municipalities follow up plans per *tertial* (T1 January–April, T2 May–August,
T3 September–December). The report says what changed against the previous tertial, around
which events (operations, campaigns, risk weekends), and with what certainty (confidence
intervals of the operation effects, EUDA's ±10 % "stable" band, censored days, the dumping
warning). It inlines plotly.js and the CSS, so it opens offline and can be mailed or
archived (lägesbild under lag 2023:196, [Brottsforebyggande2023]_).

This module computes and hands the templates plain values (specs): the document is
``templates/report.html``, its sections the macros of ``templates/_report.html`` (tables and
figures from ``_macros.html``), every text escaped there.

Access rules are the API's: by default the public role (catchments < 10 000 inhabitants
suppressed, weekly means only in figures, no confidential events).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from dashboards import data as D
from dashboards import figures as F
from dashboards.html import figure_spec, table_spec
from dashboards.i18n import (
    analyte_name,
    count,
    format_date,
    format_number,
    format_percent,
    normalise_language,
    t,
)
from dashboards.templating import Markup, render
from wastewater import access
from wastewater.bytecache import ByteCache

#: Tertial number → (first month, last month), inclusive.
TERTIALS = {1: (1, 4), 2: (5, 8), 3: (9, 12)}

#: Analytes that are drug-use markers (hydrochemical parameters are left out of the report).
HYDROCHEMICAL = {"bod5", "cod", "total-n", "total-p", "nh4-n", "creatinine"}

CSS_PATH = Path(__file__).parent / "static" / "dashboard.css"

#: The report shows loads per 1000 inhabitants only (no concentration or consumption).
REPORT_MEASURES = ("load_per_1000",)


def tertial_period(year: int, tertial: int) -> tuple[dt.date, dt.date]:
    """First and last day (inclusive) of a tertial.

    >>> tertial_period(2025, 2)
    (datetime.date(2025, 5, 1), datetime.date(2025, 8, 31))
    """
    if tertial not in TERTIALS:
        raise ValueError(f"tertial must be 1, 2 or 3 (T1 Jan–Apr, T2 May–Aug, T3 Sep–Dec), not {tertial!r}")
    first, last = TERTIALS[tertial]
    start = dt.date(year, first, 1)
    end = (dt.date(year + 1, 1, 1) if last == 12 else dt.date(year, last + 1, 1)) - dt.timedelta(days=1)
    return start, end


def previous_tertial(year: int, tertial: int) -> tuple[int, int]:
    """The tertial before: T1 → T3 of the previous year."""
    return (year - 1, 3) if tertial == 1 else (year, tertial - 1)


def current_tertial(day: dt.date) -> tuple[int, int]:
    """The tertial containing ``day``."""
    return day.year, 1 + (day.month - 1) // 4


@functools.lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


FIGURES_JS = Path(__file__).parent / "static" / "figures.js"


@functools.lru_cache(maxsize=1)
def figures_js() -> str:
    """The script that draws the ``data-plotly`` figures (inlined so the report opens offline)."""
    return FIGURES_JS.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def script_hashes() -> tuple[str, ...]:
    """CSP source expressions (``'sha256-…'``) of the report's two inline scripts, so the served
    report runs under a Content-Security-Policy without ``'unsafe-inline'``."""
    import base64
    import hashlib

    return tuple("'sha256-" + base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode() + "'"
                 for s in (_plotly_js(), figures_js()))


def _viewer(engine: sa.Engine, principal: Any, settings: Any) -> D.Viewer:
    from wastewater.access import PUBLIC

    if settings is None:
        from wastewater.settings import Settings

        settings = Settings()
    return D.Viewer(engine=engine, settings=settings, principal=principal or PUBLIC)


def tertial_changes(ds, site: str, start: dt.date, end: dt.date, prev_start: dt.date,
                    prev_end: dt.date, method_changes: dict[str, list] | None = None,
                    operations: pd.DataFrame | None = None,
                    trends: dict[str, dict[str, Any]] | None = None,
                    public: access.PublicRule | None = None,
                    today: dt.date | None = None) -> pd.DataFrame:
    """Mean load per 1000 in the tertial and the previous one, per analyte, and the change with
    its 95 % interval.

    Means over the available days (:func:`wastewater.summaries.euda_means`, daily mean). The
    change and its interval come from :func:`wastewater.summaries.period_change` (ISO-week
    means, delta method, Welch–Satterthwaite df); with fewer than
    :data:`wastewater.summaries.MIN_WEEKS_PER_PERIOD` weeks of data in either tertial the row
    is ``enough = False`` ("för lite data") and carries no change. EUDA class of the change:
    stable within ±10 % [EUDA2025]_.

    The trend is the published one (:func:`wastewater.access.trend_request`,
    :func:`wastewater.analysis.published_trend`): the GLS trend on the public ISO-week means of
    the 12 calendar months ending with the tertial, a level shift at each of the analyte's
    marked ``method_changes``, the weeks of suspected dumping days left out, and only when the
    weeks cover the year (:data:`wastewater.access.PUBLIC_TREND_MIN_DAYS`): a per-year trend
    from a few months is not reported. ``trends`` (analyte → the result of
    :func:`wastewater.analysis.published_trends`) gives it as the API computes it; without it
    it is computed from ``ds``.

    Suspected dumping days during or just after the police operations in ``operations``
    (:func:`dashboards.data.dumping_days`, the rule of
    :func:`wastewater.stats.dumping.suspected_dumping_days`) are left out of the means, the
    change and the trend: drugs flushed during a raid are not use ([Emke2014]_).

    ``public`` (the public view's rule): the means and the change rest on the days of the
    public ISO weeks whose Thursday lies in each tertial only, and a week with a dumping day is left out
    whole (:func:`wastewater.access.public_period_values`), so that no two readings of a
    running tertial, and no public weekly mean beside the table, give one day's value.

    Returns ``analyte, mean, prev_mean, change_percent, change_low, change_high, enough,
    n_weeks, n_weeks_prev, change_class, n_days, n_censored, trend, trend_percent_per_year,
    trend_ci_low, trend_ci_high, trend_p, dumping_dates`` (the days left out in either
    tertial), ``dumping_events`` (their operations' ids).
    """
    from wastewater.analysis import published_trend
    from wastewater.summaries import CHANGE_THRESHOLD_PERCENT, euda_means, period_change

    rows = []
    if ds is None:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    window = access.published_trend_window(end)
    for analyte in ds["analyte"].values.tolist():
        if analyte in HYDROCHEMICAL:
            continue
        values, cens = D.stats_series(ds, site, analyte)
        dumped = D.dumping_days(ds, site, analyte, operations) if operations is not None else None
        dumping_dates: list[pd.Timestamp] = []
        dumping_events: list[str] = []
        dumping_dates_all = [] if dumped is None else dumped["date"].tolist()
        if dumped is not None and len(dumped):
            shown = dumped[(dumped["date"] >= pd.Timestamp(prev_start)) & (dumped["date"] <= pd.Timestamp(end))]
            dumping_dates = [pd.Timestamp(d) for d in shown["date"]]
            dumping_events = sorted(set(shown["event_id"]))
            values = values.where(~values.index.isin(pd.DatetimeIndex(dumped["date"])))
        if public is not None:  # whole public weeks only, dumping weeks left out whole
            cur = access.public_period_values(values, start, end, public, leave_out=dumping_dates_all,
                                              today=today).dropna()
            prev = access.public_period_values(values, prev_start, prev_end, public,
                                               leave_out=dumping_dates_all, today=today).dropna()
        else:
            cur = values[(values.index >= pd.Timestamp(start)) & (values.index <= pd.Timestamp(end))]
            prev = values[(values.index >= pd.Timestamp(prev_start)) & (values.index <= pd.Timestamp(prev_end))]
        if cur.dropna().empty:
            continue
        m = euda_means(cur, year=start.year, censored=cens.reindex(cur.index))
        pm = euda_means(prev, year=prev_start.year, censored=cens.reindex(prev.index)) \
            if prev.dropna().size else {"daily_mean": math.nan}
        mean, prev_mean = m["daily_mean"], pm["daily_mean"]
        pc = period_change(cur, prev)
        if not prev.dropna().size:
            klass = "no previous data"
        elif not pc["enough"]:
            klass = "too little data"
        elif pc["change_percent"] >= CHANGE_THRESHOLD_PERCENT:
            klass = "increase"
        elif pc["change_percent"] <= -CHANGE_THRESHOLD_PERCENT:
            klass = "decrease"
        else:
            klass = "stable"
        if trends is not None and analyte in trends:
            tr = trends[analyte]
        else:
            raw, _ = D.stats_series(ds, site, analyte)
            tr = published_trend(pd.DataFrame({"date": raw.index, "value": raw.to_numpy(float),
                                               "censored": cens.reindex(raw.index).fillna(False).to_numpy(bool)}),
                                 window, method_changes=(method_changes or {}).get(analyte),
                                 leave_out=dumping_dates_all)
        trend = {"trend": tr["trend"], "trend_percent_per_year": _num(tr["percent_change_per_year"]),
                 "trend_ci_low": _num(tr["ci_low_percent_per_year"]),
                 "trend_ci_high": _num(tr["ci_high_percent_per_year"]), "trend_p": _num(tr["p_value"])}
        rows.append({"analyte": analyte, "mean": mean, "prev_mean": prev_mean,
                     "change_percent": pc["change_percent"], "change_low": pc["ci_low_percent"],
                     "change_high": pc["ci_high_percent"], "enough": pc["enough"],
                     "n_weeks": pc["n_weeks"], "n_weeks_prev": pc["n_weeks_previous"],
                     "change_class": klass,
                     "n_days": int(m["n_days"]), "n_censored": int(m["n_censored"]), **trend,
                     "dumping_dates": dumping_dates, "dumping_events": dumping_events})
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS)


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


#: Above this share of censored days a trend only follows flow and LOQ changes of the
#: substituted values, not use; the report then shows no trend ([Helsel2012]_).
CENSORED_SHARE_NO_TREND = 0.5

CHANGE_COLUMNS = ["analyte", "mean", "prev_mean", "change_percent", "change_low", "change_high", "enough",
                  "n_weeks", "n_weeks_prev", "change_class", "n_days",
                  "n_censored", "trend", "trend_percent_per_year", "trend_ci_low", "trend_ci_high",
                  "trend_p", "dumping_dates", "dumping_events"]

def _coded_text(prefix: str, code: Any, lang: str) -> Any:
    """The catalogue's word for a trend direction (``trend_word_*``) or EUDA change class
    (``change_class_*``); a code without one is shown as it is."""
    if not isinstance(code, str):
        return code
    key = f"{prefix}_{code.replace(' ', '_')}"
    text = t(key, lang)
    return code if text == key else text


def _trend_text(code: Any, lang: str) -> Any:
    return _coded_text("trend_word", code, lang)


def _class_text(code: Any, lang: str) -> Any:
    return _coded_text("change_class", code, lang)


def _figure(fig_id: str, title: str, fig, summary: str, lang: str, data_table: dict[str, Any],
            level: int = 3) -> dict[str, Any]:
    """The spec of a report figure with its data table (the ``figure`` macro)."""
    return figure_spec(fig_id=fig_id, title=title, plot_html=F.figure_html(fig, f"plot-{fig_id}"),
                       summary=summary, lang=lang, table=data_table, level=level)


def _alerts_section(viewer: Any, sites: list[str], start: Any, end: Any, lang: str) -> dict[str, Any]:
    """Alerts of the period: counts by kind and status (acknowledged = acted on). Confidential
    operations only in the analyst view; the public view shows counts, not days or values.
    The spec of the ``alerts`` macro of ``_report.html`` (no ``text``: no alerts)."""
    from wastewater.alerts import ALERT_KINDS
    from wastewater.storage.alerts import alert_summary

    summary = alert_summary(viewer.engine, sites=sites, start=start, end=end,
                            include_confidential=viewer.sees_confidential)
    public = D.published_days(viewer)
    if public is not None and summary["alerts"]:  # an alert of a late day does not count
        summary = _without_late_alerts(viewer.engine, summary, public)
    if not summary["n"]:
        return {"text": None, "table": None}
    st = summary["by_status"]
    text = t("report_alerts_summary", lang, n=summary["n"], ack=st.get("acknowledged", 0),
             dis=st.get("dismissed", 0), open=st.get("open", 0))
    rows = []
    for kind in ALERT_KINDS:
        mine = [a for a in summary["alerts"] if a["kind"] == kind]
        if mine:
            rows.append({"kind": t(f"alert_kind_{kind}", lang), "n": len(mine),
                         "acknowledged": sum(a["status"] == "acknowledged" for a in mine),
                         "dismissed": sum(a["status"] == "dismissed" for a in mine),
                         "open": sum(a["status"] == "open" for a in mine)})
    tab = table_spec(pd.DataFrame(rows), caption=t("report_alerts", lang), lang=lang, decimals=0,
                     row_header="kind", table_id="report-alerts-table",
                     headers={"kind": t("col_kind_alert", lang), "n": "n",
                              "acknowledged": t("alert_status_acknowledged", lang),
                              "dismissed": t("alert_status_dismissed", lang),
                              "open": t("alert_status_open", lang)})
    return {"text": text, "table": tab}


def _without_late_alerts(engine: sa.Engine, summary: dict[str, Any], rule: Any) -> dict[str, Any]:
    """``summary`` without the alerts of days that arrived after their week was public
    (:func:`wastewater.analysis.late_days`; a load alert also when the day's flow came late), so
    the published counts stay as first shown."""
    from wastewater.access import whole_week_bounds
    from wastewater.analysis import late_days
    from wastewater.storage.alerts import alert_counts
    from wastewater.storage.repository import first_stored

    alerts = summary["alerts"]
    days = [pd.Timestamp(a["date"]) for a in alerts]
    lo, hi = whole_week_bounds(min(days).date(), max(days).date())
    stored = first_stored(engine, sorted({str(a["site"]) for a in alerts}),
                          sorted({str(a["analyte"]) for a in alerts}), lo, hi)
    conc_late, load_late = late_days(stored, rule)
    keys = list(zip(stored["site"], stored["analyte"], pd.DatetimeIndex(stored["date"]), strict=True))
    late_conc = {k for k, late in zip(keys, conc_late, strict=True) if late}
    late_load = {k for k, late in zip(keys, load_late, strict=True) if late}
    kept = [a for a, d in zip(alerts, days, strict=True)
            if (key := (str(a["site"]), str(a["analyte"]), d)) not in late_conc
            and not (str(a["variable"]).startswith("load") and key in late_load)]
    return alert_counts(kept)


REPORT_CACHE = ByteCache(max_entries=16, max_bytes=96 * 2**20)
"""Built reports by (period, language, sites, role and scope, public rule, data version, day)."""


def build_report(engine: sa.Engine, year: int, tertial: int, *, lang: str = "sv",
                 sites: list[str] | None = None, principal: Any = None,
                 settings: Any = None, cache: bool = True) -> str:
    """Self-contained HTML follow-up report for one tertial.

    A report already built for the same period, language, sites, role and site scope, public
    rule, :func:`wastewater.analysis.data_version` and day is returned from
    :data:`REPORT_CACHE` (``cache=False`` always builds).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        Service database.
    year : int
    tertial : {1, 2, 3}
        T1 January–April, T2 May–August, T3 September–December.
    lang : {"sv", "en"}
    sites : list of str, optional
        Restrict to these sites (still only those visible to ``principal``).
    principal : wastewater.access.Principal, optional
        Whose view; default public (catchments < ``min_public_population`` suppressed,
        whole-ISO-week means, no confidential events), exactly as the API. Any other view
        carries "Innehåller sekretessbelagda uppgifter – får inte publiceras" (and the English)
        at the top and bottom and on every printed page.
    settings : wastewater.settings.Settings, optional
    cache : bool, default True

    Returns
    -------
    str
        A complete HTML document with plotly.js and CSS inlined (no external URL).
    """
    lang = normalise_language(lang)
    viewer = _viewer(engine, principal, settings)
    key = None
    if cache:
        from wastewater.analysis import data_version

        p = viewer.principal
        key = (year, tertial, lang, None if sites is None else tuple(sorted(sites)), p.role,
               None if p.sites is None else tuple(sorted(p.sites)), D.public_rule(viewer),
               data_version(engine), dt.date.today())
        hit = REPORT_CACHE.get(key)
        if hit is not None:
            return hit.decode("utf-8")
    html = _build_report(engine, viewer, year, tertial, lang, sites)
    if key is not None:
        REPORT_CACHE.put(key, html.encode("utf-8"))
    return html


def _build_report(engine: sa.Engine, viewer: D.Viewer, year: int, tertial: int, lang: str,
                  sites: list[str] | None) -> str:
    start, end = tertial_period(year, tertial)
    py, pt = previous_tertial(year, tertial)
    prev_start, prev_end = tertial_period(py, pt)
    visible = D.visible_sites(viewer)
    if sites:
        visible = visible[visible["site"].isin(sites)]
    prev_label = f"T{pt} {py}"

    change_rows: list[dict] = []
    site_sections: list[dict[str, Any]] = []
    effect_sections: list[dict[str, Any]] = []
    all_events = D.events_frame(viewer, start=start, end=end)
    if len(all_events):  # only events that concern a site of the report (empty list = all)
        shown_sites = set(visible["site"])
        all_events = all_events[all_events["sites"].apply(
            lambda ev_sites: not ev_sites or bool(shown_sites & set(ev_sites)))]
    calendar = D.risk_weekend_calendar(viewer, start, end)
    public = not access.may(viewer.principal, "daily_values")
    rule = D.public_rule(viewer)
    n_fig = 0
    for rec in visible.itertuples(index=False):
        site, label = rec.site, rec.name
        # whole weeks for the public rule; the dumping check's 8-week baseline before an operation
        # early in the previous tertial (the trend loads its own 12 months)
        load_start, load_end = access.whole_week_bounds(prev_start - dt.timedelta(days=DUMPING_BASELINE_DAYS), end)
        ds = D.site_dataset(engine, [site], start=load_start, end=load_end, measures=REPORT_MEASURES,
                            public=D.published_days(viewer))
        marked = D.method_changes(viewer, site, [] if ds is None else ds["analyte"].values.tolist())
        operations = D.events_frame(viewer, site=site, start=prev_start - dt.timedelta(days=_days_after()),
                                    end=end, kinds=("operation",))
        analytes = [] if ds is None else [a for a in ds["analyte"].values.tolist() if a not in HYDROCHEMICAL]
        trends = _published_trends(engine, viewer, site, analytes, end)
        changes = tertial_changes(ds, site, start, end, prev_start, prev_end, marked, operations=operations,
                                  trends=trends, public=rule if public else None)
        if public and len(changes):  # no public mean resting on fewer days than a public week
            changes = changes[changes["n_days"] >= rule.min_days_per_week].reset_index(drop=True)
        for c in changes.itertuples(index=False):
            change_rows.append({"site": label, "analyte": analyte_name(c.analyte, lang),
                                "mean": c.mean, "prev_mean": c.prev_mean,
                                "change_percent": c.change_percent, "change_low": c.change_low,
                                "change_high": c.change_high, "enough": c.enough, "n_weeks": c.n_weeks,
                                "n_weeks_prev": c.n_weeks_prev, "change_ci": _change_cell(c, lang),
                                "change_class": _class_text(c.change_class, lang),
                                "n_days": c.n_days, "n_censored": c.n_censored,
                                "trend": _trend_cell(c, lang), "dumping_dates": c.dumping_dates,
                                "dumping_events": c.dumping_events,
                                "label": f"{analyte_name(c.analyte, lang)} – {label}"})
        site_events = D.events_frame(viewer, site=site, start=start, end=end)
        figures: list[dict[str, Any]] = []
        for c in changes.itertuples(index=False):
            daily = D.series_frame(ds, site, c.analyte, "load_per_1000")
            if public:  # whole ISO weeks over every day; the tertial only selects the weeks
                shown = weekly = D.weekly_frame(daily, start, end, viewer)
            else:  # each week's own level and change intervals, every week kept
                weekly = D.weekly_frame(daily, start, end, suppress=False)
                shown = daily[(daily["date"] >= pd.Timestamp(start)) & (daily["date"] <= pd.Timestamp(end))]
                daily = shown
            ev = site_events[site_events["substances"].apply(lambda s, a=c.analyte: not s or a in s)] \
                if len(site_events) else site_events
            n_fig += 1
            fig = F.trend_figure(daily.iloc[0:0] if public else daily, weekly=weekly,
                                 measure="load_per_1000", events=ev, risk_weekends=calendar,
                                 lang=lang)
            cols = ["date", "value", *D.BAND_COLUMNS, "censored"]
            figures.append(_figure(
                f"trend-{n_fig}", t("trend_title", lang, analyte=analyte_name(c.analyte, lang), site=label),
                fig, F.trend_summary(shown, measure="load_per_1000", lang=lang, events=ev,
                                     weekly=public), lang,
                table_spec(shown[cols], caption=t("figure_table_caption", lang), lang=lang,
                           headers={"date": t("col_date", lang), "value": t("col_value_num", lang),
                                    **{c: t(f"col_{c}", lang) for c in D.BAND_COLUMNS},
                                    "censored": t("col_censored", lang)}), level=4))
            # operation effects of events in the period that concern this analyte; the analyte's
            # dataset and the plan for the next operation are made once for all its events
            eds, plan = None, None
            for event in ev.to_dict("records") if len(ev) else []:
                if event["kind"] != "operation":
                    continue
                if not event["substances"] and c.analyte not in ("benzoylecgonine", "amphetamine", "mdma",
                                                                 "thc-cooh"):
                    continue
                if eds is None:
                    eds = D.site_dataset(engine, [site], analytes=D.analytes_for_dumping(c.analyte),
                                         measures=REPORT_MEASURES, public=D.published_days(viewer))
                    plan = _next_operation_sentence(
                        D.operation_plan(viewer, site, c.analyte, after_days=[56], ds=eds,
                                         marked=marked.get(c.analyte, [])), lang)
                effect = D.operation_effect(eds, site, c.analyte, event, lang=lang,
                                            method_changes=marked.get(c.analyte))
                if access.level(viewer.principal, "operation_effects") is access.Level.PUBLIC:
                    effect = D.public_effect(viewer, effect, event, lang)
                effect_sections.append(_effect_section(eds, site, label, c.analyte, event, effect,
                                                       lang, weekly=public, viewer=viewer, plan=plan or ""))
        site_sections.append({"site": site, "label": label, "figures": figures})

    changes_frame = pd.DataFrame(change_rows)
    # 1. what changed
    changed: dict[str, Any] = {"empty": changes_frame.empty, "prev": prev_label, "largest": [],
                               "table": None, "figure": None, "dumping": None}
    if not changes_frame.empty:
        comparable = changes_frame[changes_frame["enough"].astype(bool)]
        clear = comparable[comparable["change_percent"].abs() >= _change_threshold()]
        tab = changes_frame[["site", "analyte", "mean", "prev_mean", "change_ci", "change_class",
                             "trend", "n_days", "n_censored"]]
        changes_table = table_spec(
            tab, caption=t("figure_table_caption", lang), lang=lang,
            decimals={"mean": 1, "prev_mean": 1, "n_days": 0, "n_censored": 0},
            headers={"site": t("col_site", lang), "analyte": t("col_analyte", lang),
                     "mean": t("col_mean", lang), "prev_mean": t("col_prev_mean", lang),
                     "change_ci": t("report_col_change_ci", lang),
                     "change_class": t("report_col_class", lang),
                     "trend": t("report_col_trend", lang),
                     "n_days": t("col_n_days", lang), "n_censored": "n < LOQ"})
        changed["dumping"] = _dumping_spec(changes_frame, lang, public)
        if comparable.empty:
            changed["table"] = changes_table
        else:
            changed["largest"] = _changes_text(comparable, lang, prev_label)
            fig = F.tertial_change_figure(comparable[["label", "change_percent", "change_low", "change_high"]],
                                          lang=lang)
            summary = t("report_changes_summary", lang, n=len(clear), total=len(comparable))
            changed["figure"] = _figure("changes", t("report_change", lang, prev=prev_label) + " (%)", fig,
                                        summary, lang, changes_table)
    # 2. events, risk weekends and the operations' effects
    events: dict[str, Any] = {"table": None, "calendar": None, "effects": effect_sections}
    if not all_events.empty:
        ev = all_events[["description", "kind", "start", "end", "event_id"]].copy()
        ev["description"] = [str(d) if isinstance(d, str) and d else str(i)
                             for d, i in zip(ev["description"], ev["event_id"])]
        ev["kind"] = [t(f"event_{k}", lang) for k in ev["kind"]]
        events["table"] = table_spec(ev, caption=t("report_events", lang), lang=lang, row_header="description",
                                     headers={"description": t("col_event", lang), "kind": t("col_kind", lang),
                                              "start": t("col_start", lang), "end": t("col_end", lang),
                                              "event_id": t("col_event_id", lang)})
    if len(calendar):
        events["calendar"] = table_spec(calendar[["name", "start", "end"]], lang=lang, row_header="name",
                                        caption=t("report_risk_weekends", lang),
                                        headers={"name": t("risk_weekend", lang), "start": t("col_start", lang),
                                                 "end": t("col_end", lang)})
    return _document(
        title=t("report_title", lang, year=year, tertial=tertial), lang=lang, period=(start, end),
        note=_suppressed_note(viewer, lang), role=viewer.role, confidential=not public,
        summary=_summary_paragraph(changes_frame, all_events, calendar, lang, year, tertial, prev_label,
                                   (start, end)),
        changed=changed, events=events,
        # 2b. alerts raised by uploads in the tertial (how many, which were acted on)
        alerts=_alerts_section(viewer, list(visible["site"]), start, end, lang),
        # 3. certainty; 4. per-site figures
        certainty=_certainty_section(lang, changes_frame), sites=site_sections)


def _published_trends(engine: sa.Engine, viewer: D.Viewer, site: str, analytes: list[str],
                      end: dt.date) -> dict[str, dict[str, Any]]:
    """The trend column: the published trend of the 12 months ending with the tertial
    (:func:`wastewater.access.trend_request` decides; :func:`wastewater.analysis.published_trends`,
    the API's loader, so the report and ``/analyses/trend`` give the same number)."""
    from wastewater.analysis import published_trends

    req = access.trend_request(viewer.principal, end=access.month_end(end), published=True)
    return published_trends(engine, viewer.principal, D.public_rule(viewer), site, analytes,
                            (req.start, req.end))


#: Days before an operation the dumping check's baseline needs (its first, 8-week baseline).
DUMPING_BASELINE_DAYS = 56


def _days_after() -> int:
    from wastewater.alerts import DUMPING_DAYS_AFTER

    return DUMPING_DAYS_AFTER


def _dumping_note(changes: pd.DataFrame, lang: str, public: bool) -> str:
    """The note under the changes table naming the suspected dumping days left out of them
    (public view: how many days per series, not which: no daily facts leave the authorised view)."""
    return str(_report_macros().dumping_note(_dumping_spec(changes, lang, public)))


def _report_macros() -> Any:
    from dashboards.templating import TEMPLATES

    return TEMPLATES["_report.html"].module


def _dumping_spec(changes: pd.DataFrame, lang: str, public: bool) -> dict[str, Any] | None:
    """The spec of the ``dumping_note`` macro (``None``: no day left out)."""
    if changes.empty or not changes["dumping_dates"].apply(len).any():
        return None
    items = []
    for r in changes[changes["dumping_dates"].apply(len) > 0].itertuples(index=False):
        days = count(len(r.dumping_dates), "day", lang) if public else \
            ", ".join(format_date(d) for d in r.dumping_dates)
        items.append(t("report_dumping_item", lang, analyte=r.analyte, site=r.site, days=days,
                       events=", ".join(r.dumping_events)))
    return {"text": t("report_dumping_note", lang, days=_days_after()), "entries": items}


def _change_threshold() -> float:
    from wastewater.summaries import CHANGE_THRESHOLD_PERCENT

    return CHANGE_THRESHOLD_PERCENT


def _decimals(pct: float) -> int:
    """Whole percent, or one decimal where rounding would put the change on the other side of
    the change threshold (−9.7 % is "−9,7 %", not a "−10 %" that the summary calls stable).

    >>> _decimals(-9.7), _decimals(-12.4), _decimals(10.2), _decimals(3.0)
    (1, 0, 0, 0)
    """
    threshold = _change_threshold()
    return 1 if (abs(round(pct)) >= threshold) != (abs(pct) >= threshold) else 0


def _interval(pct: float, low: float, high: float, lang: str) -> str:
    """``+7 % (95 % KI −8 % till +26 %)``."""
    return t("report_change_interval", lang, change=format_percent(pct, lang, _decimals(pct)),
             low=format_percent(low, lang), high=format_percent(high, lang))


def _change_cell(c, lang: str) -> str:
    """The change with its 95 % interval, or why there is none (too little data, no previous data)."""
    if c.change_class == "no previous data":
        return t("report_no_previous", lang)
    if not c.enough:
        return t("report_too_little_data", lang, n=min(c.n_weeks, c.n_weeks_prev), min=_min_weeks())
    return _interval(c.change_percent, c.change_low, c.change_high, lang)


def _min_weeks() -> int:
    from wastewater.summaries import MIN_WEEKS_PER_PERIOD

    return MIN_WEEKS_PER_PERIOD


def _trend_cell(c, lang: str) -> str:
    """``+12 % (−3 % till +30 %), p = 0,120 – ingen säker trend``; ``–`` without 12 months of data."""
    if c.trend is None:
        return t("report_trend_short", lang)
    if c.n_days and c.n_censored / c.n_days > CENSORED_SHARE_NO_TREND:
        return t("report_trend_censored", lang)
    join = "till" if lang == "sv" else "to"
    p = ("p < " + format_number(0.001, lang, 3)) if c.trend_p < 0.001 \
        else f"p = {format_number(c.trend_p, lang, 3)}"
    return (f"{format_percent(c.trend_percent_per_year, lang)} ({format_percent(c.trend_ci_low, lang)} "
            f"{join} {format_percent(c.trend_ci_high, lang)}), {p} – "
            f"{_trend_text(c.trend, lang)}")


def _changes_text(frame: pd.DataFrame, lang: str, prev_label: str) -> list[str]:
    """The five largest changes, one sentence each."""
    items = []
    ordered = frame.assign(_abs=frame["change_percent"].abs()).sort_values("_abs", ascending=False)
    for r in ordered.head(5).itertuples(index=False):
        items.append(t("report_change_item", lang, analyte=r.analyte, site=r.site, prev=prev_label,
                       change=_interval(r.change_percent, r.change_low, r.change_high, lang),
                       before=format_number(r.prev_mean, lang, 1),
                       after=format_number(r.mean, lang, 1), klass=r.change_class))
    return items


def _summary_paragraph(changes: pd.DataFrame, events: pd.DataFrame, calendar: pd.DataFrame, lang: str,
                       year: int, tertial: int, prev_label: str, period: tuple[dt.date, dt.date]) -> str:
    """The report's first paragraph in plain language: what changed (with 95 % intervals), how
    sure we are, around which events, and what wastewater cannot show."""
    parts = [t("report_summary_period", lang, tertial=f"T{tertial} {year}", start=format_date(period[0]),
               end=format_date(period[1]))]
    if changes.empty:
        parts.append(t("report_summary_no_data", lang))
    else:
        enough = changes[changes["enough"].astype(bool)]
        no_prev = int((changes["change_class"] == _class_text("no previous data", lang)).sum())
        few = int((changes["change_class"] == _class_text("too little data", lang)).sum())
        if no_prev == len(changes):
            parts.append(t("report_summary_no_previous", lang, prev=prev_label))
        elif enough.empty:
            parts.append(t("report_summary_none_comparable", lang, prev=prev_label))
        else:
            threshold = _change_threshold()
            clear = enough[enough["change_percent"].abs() >= threshold]
            sure = enough[(enough["change_low"] > 0) | (enough["change_high"] < 0)]
            parts.append(t("report_summary_compared", lang, n=len(enough), prev=prev_label))
            if clear.empty:
                parts.append(t("report_summary_stable", lang, threshold=format_number(threshold, lang, 0)))
            else:
                names = ", ".join(t("report_series_name", lang, analyte=r.analyte, site=r.site)
                                  for r in clear.itertuples(index=False))
                parts.append(t("report_summary_changed", lang, n=len(clear), names=names,
                               threshold=format_number(threshold, lang, 0)))
            top = enough.loc[enough["change_percent"].abs().idxmax()]
            parts.append(t("report_summary_largest", lang, analyte=top["analyte"], site=top["site"],
                           change=_interval(top["change_percent"], top["change_low"], top["change_high"], lang)))
            parts.append(t("report_summary_sure", lang, n=len(sure), total=len(enough)))
        if few:
            parts.append(t("report_summary_too_little", lang, n=few, min=_min_weeks()))
        n_dumped = len({(r.site, d) for r in changes.itertuples(index=False) for d in r.dumping_dates}) \
            if "dumping_dates" in changes else 0  # site-days (one day can be left out of several series)
        if n_dumped:
            parts.append(t("report_summary_dumping", lang, days=count(n_dumped, "day", lang),
                           section=t("report_what_changed", lang)))
    n_ev = len(events)
    kinds = sorted({t(f"event_{k}", lang).lower() for k in events["kind"]}) if n_ev else []
    parts.append(t("report_summary_events", lang, events=count(n_ev, "event", lang), kinds=", ".join(kinds) or "–",
                   weekends=count(len(calendar), "risk_weekend", lang)))
    parts.append(t("report_summary_limits", lang))
    return " ".join(parts)


def _effect_section(ds, site: str, label: str, analyte: str, event: dict, effect: dict, lang: str,
                    weekly: bool = True, viewer: D.Viewer | None = None, plan: str = "") -> dict[str, Any]:
    """The spec of the ``effect`` macro of ``_report.html``: an operation's heading, description,
    dumping warning, quotable sentence, the smallest drop its sampling could detect and ``plan``,
    the sentence planning the next one (views with keys; :func:`_next_operation_sentence`), and
    figure (or the error why there is none)."""
    title = (f"{event['event_id']} ({format_date(event['start'])} – {format_date(event['end'])}): "
             + t("report_series_name", lang, analyte=analyte_name(analyte, lang), site=label))
    out: dict[str, Any] = {"title": title, "description": str(event.get("description") or ""),
                           "dumping": D.dumping_raised(effect), "error": effect.get("error"),
                           "sentence": "", "detectable": "", "plan": "", "figure": None}
    if out["error"]:
        return out
    out["sentence"] = effect.get(f"sentence_{lang}") or effect.get("sentence_sv") or ""
    mde = effect.get("minimum_detectable_drop_after")  # not among the public fields
    if isinstance(mde, (int, float)) and math.isfinite(mde):
        n_after = count(int(effect.get("n_after") or 0), "sample_day", lang)
        out["detectable"] = t("report_detectable_drop", lang, n=n_after, drop=f"{format_number(100 * mde, lang, 0)} %")
        out["plan"] = plan
    pct = D.effect_percentages(effect)
    daily = D.series_frame(ds, site, analyte, "load_per_1000")
    if weekly:  # public: whole ISO-week means only, as the API; the weeks the figure shows
        window = pd.Timedelta(days=D.OPERATION_WINDOW_DAYS)
        daily = D.weekly_frame(daily, pd.Timestamp(event["start"]) - window,
                               pd.Timestamp(event["end"]) + window, viewer=viewer)
    series = D.operation_series(daily, event)
    fig = F.operation_effect_figure(series, event=event, effect=pct, measure="load_per_1000", lang=lang)
    fid = f"op-{event['event_id']}-{site}-{analyte}".replace(" ", "_")
    out["figure"] = figure_spec(fig_id=fid, title=t("operation_title", lang, event=event["event_id"]),
                                plot_html=F.figure_html(fig, f"plot-{fid}"),
                                summary=F.operation_summary(pct, lang=lang), lang=lang, level=4)
    return out


def _next_operation_sentence(plan: pd.DataFrame | None, lang: str) -> str:
    """The sentence planning the next operation from :func:`dashboards.data.operation_plan` at
    8 weeks after (as the operations page's table); empty for the public (``None``) or where the
    history is too short."""
    drop = plan["minimum_detectable_drop"].iloc[0] if plan is not None and len(plan) else math.nan
    if not math.isfinite(drop):
        return ""
    return t("report_plan_sentence", lang, drop=f"{format_number(100 * drop, lang, 0)} %")


def _certainty_section(lang: str, changes: pd.DataFrame) -> dict[str, Any]:
    """The figures of the certainty section (its text is in the catalogue, ``report_certainty_*``): level and
    change RSD of a daily load, the weekly mean's change RSD, censored and sample days."""
    from wastewater.parameters import default_rsd
    from wastewater.summaries import CHANGE_THRESHOLD_PERCENT
    from wastewater.uncertainty import combined_rsd, components_for, rsd_for

    rsd = rsd_for("load_mg_per_day_per_1000") * 100
    change = combined_rsd(*(default_rsd(c) for c in components_for("load_mg_per_day_per_1000", "change")))
    rsd_change, rsd_week = change * 100, change / math.sqrt(7) * 100
    return {"rsd": format_number(rsd, lang, 0), "rsd_change": format_number(rsd_change, lang, 0),
            "rsd_week": format_number(rsd_week, lang, 0),
            "threshold": format_number(CHANGE_THRESHOLD_PERCENT, lang, 0),
            "n_censored": int(changes["n_censored"].sum()) if len(changes) else 0,
            "n_days": int(changes["n_days"].sum()) if len(changes) else 0}


def _suppressed_note(viewer: D.Viewer, lang: str) -> str:
    if not viewer.is_public:
        return ""
    limit = format_number(getattr(viewer.settings, "min_public_population", 10_000), lang, 0)
    return t("report_public_note", lang, limit=limit)


#: Marking of every page of a non-public report (both languages, whatever ``lang``).
CONFIDENTIAL_MARK_SV = "Innehåller sekretessbelagda uppgifter – får inte publiceras"
CONFIDENTIAL_MARK_EN = "Contains confidential information – must not be published"

#: The marking repeats on every printed page (a fixed element is printed on each page).
_CONFIDENTIAL_CSS = """
.confidential-mark{background:#8b0000;color:#fff;font-weight:bold;padding:.4rem .8rem;margin:0 0 .5rem}
@media print{.confidential-mark{position:fixed;top:0;left:0;right:0;margin:0}
 body{padding-top:2.5rem}}
"""


def _document(*, title: str, lang: str, period: tuple[dt.date, dt.date], note: str, role: str,
              confidential: bool = False, **sections: Any) -> str:
    """The report as one document (``report.html``): CSS and both scripts inlined verbatim (their
    hashes are :func:`script_hashes`), ``sections`` the specs of the ``_report.html`` macros."""
    css = CSS_PATH.read_text(encoding="utf-8") + (_CONFIDENTIAL_CSS if confidential else "")
    return render("report.html", title=title, lang=lang, role=role, note=note, confidential=confidential,
                  mark_sv=CONFIDENTIAL_MARK_SV, mark_en=CONFIDENTIAL_MARK_EN,
                  css=Markup(css), plotly_js=Markup(_plotly_js()), figures_js=Markup(figures_js()),
                  generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                  period=f"{format_date(period[0])} – {format_date(period[1])}", **sections)
