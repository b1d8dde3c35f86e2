"""Dashboard pages served by the API app under ``/dashboard`` (server-rendered HTML, no JS needed
except plotly.js for the charts, which is served locally from ``/dashboard/static``).

Access (chosen to stay simple): every page reads data as the *public* role unless the
browser holds an API key in the ``ww_api_key`` cookie, set on ``/dashboard/login`` by a
small form (HttpOnly, SameSite=Strict, path ``/dashboard``). The key is resolved exactly as
the API resolves ``X-API-Key`` (:func:`dashboards.data.principal_for_token`), so the public
rules of the API apply unchanged: catchments < 10 000 inhabitants hidden, weekly means only,
confidential operations only for analyst/admin. Uploads are forwarded, with that key, to the
API endpoint ``POST /api/v1/uploads/{kind}`` (dry run first).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup

from dashboards import data as D
from dashboards import figures as F
from dashboards.html import (
    controls_spec,
    date_spec,
    figure_spec,
    hint_spec,
    render_page,
    select_spec,
    table_spec,
    url,
)
from dashboards.i18n import (
    MEASURES,
    analyte_name,
    count,
    format_date,
    format_number,
    format_percent,
    issue_message,
    measure_label,
    normalise_language,
    t,
)
from wastewater import access
from wastewater.bytecache import ByteCache
from wastewater.downloads import content_disposition

BASE = "/dashboard"
COOKIE = "ww_api_key"
STATIC_DIR = Path(__file__).parent / "static"

router = APIRouter(prefix=BASE, include_in_schema=False)


# -- plumbing ------------------------------------------------------------------------------------


def plotly_js_path() -> Path:
    """plotly.min.js of the installed plotly package (same version as the Python figures)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def mount(app: FastAPI) -> None:
    """Add the dashboard (pages, CSV downloads, report, static files) to the API app."""
    app.include_router(router)
    app.mount(f"{BASE}/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")


@router.get("/static/plotly.min.js")
def plotly_js() -> FileResponse:
    """plotly.js from the installed package: no CDN, works offline."""
    return FileResponse(plotly_js_path(), media_type="application/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})


def _viewer(request: Request) -> tuple[D.Viewer, str | None]:
    """Viewer from the cookie key; an unknown key falls back to public with a notice."""
    engine = request.app.state.engine
    settings = request.app.state.settings
    token = request.cookies.get(COOKIE)
    principal = D.principal_for_token(engine, settings, token)
    notice = None
    if principal is None:
        principal = access.PUBLIC
        notice = "unknown_key"
    return D.Viewer(engine=engine, settings=settings, principal=principal), notice


def _lang(request: Request) -> str:
    return normalise_language(request.query_params.get("lang"))


def _date_param(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status)


def _notice_page(title: str, text: str, cls: str = "notice", *, lang: str, active: str, role: str) -> str:
    """A page with one notice (a refusal, nothing found)."""
    return render_page("notice.html", title=title, lang=lang, active=active, role=role, text=text, cls=cls)


def _site_label(sites: pd.DataFrame, site: str) -> str:
    hit = sites[sites["site"] == site]
    return str(hit["name"].iloc[0]) if len(hit) else site


def _choose_site(sites: pd.DataFrame, requested: str | None) -> str | None:
    if sites.empty:
        return None
    if requested in set(sites["site"]):
        return requested
    pop = pd.to_numeric(sites["population"], errors="coerce").fillna(0)
    return str(sites.loc[pop.idxmax(), "site"])


def _choose_analyte(analytes: list[str], requested: str | None) -> str | None:
    if requested in analytes:
        return requested
    if "benzoylecgonine" in analytes:
        return "benzoylecgonine"
    return analytes[0] if analytes else None


def _csv_links(name: str, params: dict[str, Any], lang: str) -> list[tuple[str, str]]:
    return [(url(f"{BASE}/data/{name}.csv", params), t("figure_data_csv", lang)),
            (url(f"{BASE}/data/{name}.csv", {**params, "dialect": "sv"}),
             t("figure_data_csv_sv", lang))]


def _site_options(sites: pd.DataFrame, lang: str) -> list[tuple[str, str]]:
    out = []
    for rec in sites.itertuples(index=False):
        pop = "" if pd.isna(rec.population) else \
            f" – {format_number(rec.population, lang, 0)} {t('inhabitants_short', lang)}"
        out.append((rec.site, f"{rec.name} ({rec.site}){pop}"))
    return out


def _series_headers(lang: str, measure: str) -> dict[str, str]:
    unit = t(f"unit_{measure}", lang)
    return {"date": t("col_date", lang), "iso_week": t("iso_week", lang),
            "value": f"{t('col_value_num', lang)} ({unit})", "lower": f"{t('col_lower', lang)} ({unit})",
            "upper": f"{t('col_upper', lang)} ({unit})", "censored": t("col_censored", lang),
            **{c: f"{t('col_' + c, lang)} ({unit})" for c in D.BAND_COLUMNS},
            "n_days": t("col_n_days", lang), "n_censored": "n < LOQ", "period": t("report_period", lang)}


# -- selection shared by trend, operations, risk weekends ----------------------------------------


class Selection:
    """Site/analyte/measure/period chosen on a page (defaults: largest site, BE, load/1000)."""

    def __init__(self, request: Request, viewer: D.Viewer) -> None:
        q = request.query_params
        self.lang = _lang(request)
        self.sites = D.visible_sites(viewer)
        self.site = _choose_site(self.sites, q.get("site"))
        self.analytes = D.analytes_for_site(viewer.engine, self.site) if self.site else []
        self.analyte = _choose_analyte(self.analytes, q.get("analyte"))
        measure = q.get("measure")
        self.measure: str = measure if measure is not None and measure in MEASURES else "load_per_1000"
        self.start = _date_param(q.get("start"))
        self.end = _date_param(q.get("end"))
        self.site_label = _site_label(self.sites, self.site) if self.site else ""

    def params(self, **extra: Any) -> dict[str, Any]:
        return {"lang": self.lang, "site": self.site, "analyte": self.analyte,
                "measure": self.measure, "start": self.start and self.start.isoformat(),
                "end": self.end and self.end.isoformat(), **extra}

    def fields(self, *, measure: bool = True, period: bool = True) -> list[dict[str, Any]]:
        """Control specs (:func:`dashboards.html.select_spec`, ``date_spec``) of the selection."""
        lang = self.lang
        out = [select_spec("site", t("site", lang), _site_options(self.sites, lang), self.site),
               select_spec("analyte", t("analyte", lang),
                      [(a, analyte_name(a, lang)) for a in self.analytes], self.analyte)]
        if measure:
            out.append(select_spec("measure", t("measure", lang),
                              [(m, measure_label(m, lang)) for m in MEASURES], self.measure))
        if period:
            out += [date_spec("start", t("start", lang), self.start, lang),
                    date_spec("end", t("end", lang), self.end, lang)]
        return out

    def hint(self) -> dict[str, Any]:
        return hint_spec(t("date_hint", self.lang))

    def chosen(self) -> tuple[str, str]:
        """Site and analyte of a page that needs both (its route has checked they are set)."""
        if self.site is None or self.analyte is None:
            raise ValueError("no site or analyte chosen")
        return self.site, self.analyte


def _in_period(frame: pd.DataFrame, start: dt.date | None, end: dt.date | None) -> pd.DataFrame:
    if start is not None:
        frame = frame[frame["date"] >= pd.Timestamp(start)]
    if end is not None:
        frame = frame[frame["date"] <= pd.Timestamp(end)]
    return frame.reset_index(drop=True)


def _method_text(effect: dict[str, Any], lang: str) -> str:
    """The model of an operation effect: in English the library's technical description, in
    Swedish a plain one (the dashboard always uses the default ``ar1_noise`` model)."""
    return t("operation_method_ar1_noise", lang) if lang == "sv" else str(effect.get("method", ""))


# -- trend page ------------------------------------------------------------------------------------


def trend_data(viewer: D.Viewer, sel: Selection) -> dict[str, Any]:
    """Everything the trend page and its CSV need, from the library/API services."""
    site, analyte = sel.chosen()
    full = D.read_frame(viewer.engine, site, analyte, sel.measure,  # THE series reader
                        public=D.published_days(viewer))
    weekly = not access.may(viewer.principal, "daily_values")
    if weekly:  # THE public rule: whole ISO weeks over every day, the period only selects weeks
        shown = D.weekly_frame(full, sel.start, sel.end, viewer)
        weekly_means = shown
        profile = D.weekday_profile(full, sel.start, sel.end, viewer)
        daily = shown.iloc[0:0]
        span = (shown["date"].min(), shown["date"].max() + pd.Timedelta(days=6)) if len(shown) else (None, None)
    else:
        daily = _in_period(full, sel.start, sel.end)
        shown = daily
        # the week's own level and change intervals (shared draws), every week kept
        weekly_means = D.weekly_frame(full, sel.start, sel.end, suppress=False)
        profile = D.weekday_profile(daily)
        span = (daily["date"].min(), daily["date"].max()) if len(daily) else (None, None)
    first, last = span
    events = D.events_frame(viewer, site=sel.site, analyte=sel.analyte, start=first, end=last)
    weekends = D.risk_weekend_calendar(viewer, first, last, site=sel.site)
    return {"daily": daily, "shown": shown, "weekly_means": weekly_means, "events": events,
            "weekends": weekends, "profile": profile, "weekly": weekly}


def _events_table(events: pd.DataFrame, lang: str, caption: str) -> dict[str, Any] | None:
    """Events named by their description (the id in its own column), as a table spec."""
    if events.empty:
        return None
    frame = events[["description", "kind", "start", "end", "event_id"]].copy()
    frame["description"] = [str(d) if isinstance(d, str) and d else str(i)
                            for d, i in zip(frame["description"], frame["event_id"])]
    frame["kind"] = [t(f"event_{k}", lang) for k in frame["kind"]]
    return table_spec(frame, caption=caption, lang=lang, row_header="description",
                      headers={"description": t("col_event", lang), "kind": t("col_kind", lang),
                               "start": t("col_start", lang), "end": t("col_end", lang),
                               "event_id": t("col_event_id", lang)})


def _trend_verdict(trend: str, lang: str) -> str:
    if trend == "increasing":
        return t("trend_verdict_increasing", lang)
    if trend == "decreasing":
        return t("trend_verdict_decreasing", lang)
    return t("trend_verdict_none", lang)


def _p_text(p: float, lang: str) -> str:
    return ("p < " + format_number(0.001, lang, 3)) if p < 0.001 else f"p = {format_number(p, lang, 3)}"


def _trend_test(viewer: D.Viewer, sel: Selection, lang: str) -> dict[str, Any]:
    """Is there a trend, as a sentence (``heading, sentence, note, notice`` for the template).

    The rule decides (:func:`wastewater.access.trend_request`): the chosen period when the viewer
    may have a trend on daily values (a key: the service's default test,
    :func:`wastewater.analysis.trend`, GLS with the operation test's error model and a level
    shift at each marked method change); otherwise the published trend
    (:func:`wastewater.analysis.published_trends`, the tertial report's) of the 12 calendar
    months ending with the month of the period's end (or of the latest data), once it has ended.
    """
    from wastewater.analysis import last_sample_day

    site, analyte = sel.chosen()
    out: dict[str, Any] = {"heading": t("trend_test_heading", lang), "sentence": None, "note": "",
                           "notice": t("trend_test_too_short", lang)}
    last = sel.end or last_sample_day(viewer.engine, site)
    try:
        req = access.trend_request(viewer.principal, sel.start, sel.end, last_day=last)
    except access.PublicTrendRefused:  # a period the public may not have: the published window
        req = access.trend_request(viewer.principal, end=access.latest_published_end(last), published=True)
    if req.published and req.start is not None and req.end is not None:  # the published form has both
        return _published_trend_test(viewer, sel, lang, (req.start, req.end))
    load = _in_period(D.read_frame(viewer.engine, site, analyte, "load_per_1000"), sel.start, sel.end)
    changes = D.method_changes(viewer, site, [analyte]).get(analyte) or []
    res = D.trend_answer(load, changes)
    if res is None:
        return out
    measured = load.dropna(subset=["value"])
    low, high = res.percent_change_per_year_ci
    out["sentence"] = t("trend_test_sentence", lang, start=format_date(measured["date"].min()),
                        end=format_date(measured["date"].max()), analyte=analyte_name(analyte, lang),
                        site=sel.site_label, pct=format_percent(res.percent_change_per_year, lang),
                        low=format_percent(low, lang), high=format_percent(high, lang),
                        p=_p_text(res.p_value, lang), verdict=_trend_verdict(res.trend, lang))
    note = t("trend_test_note", lang)
    if res.method_changes:
        note += " " + t("method_change_level_shift", lang, dates=", ".join(res.method_changes))
    out["note"] = note
    return out


def _published_trend_test(viewer: D.Viewer, sel: Selection, lang: str,
                          window: tuple[dt.date, dt.date]) -> dict[str, Any]:
    """The published 12-month trend as the trend page's sentence (the same number as the report
    and ``/analyses/trend`` without a key)."""
    from wastewater.analysis import published_trends

    site, analyte = sel.chosen()
    start, end = format_date(window[0]), format_date(window[1])
    res = published_trends(viewer.engine, viewer.principal, D.public_rule(viewer), site, [analyte], window)[analyte]
    out: dict[str, Any] = {"heading": t("trend_test_heading", lang), "sentence": None,
                           "note": t("published_trend_note", lang),
                           "notice": t("published_trend_too_short", lang, start=start, end=end)}
    if res["trend"] is None:
        return out
    out["sentence"] = t("published_trend_sentence", lang, start=start, end=end,
                        analyte=analyte_name(analyte, lang), site=sel.site_label,
                        pct=format_percent(res["percent_change_per_year"], lang),
                        low=format_percent(res["ci_low_percent_per_year"], lang),
                        high=format_percent(res["ci_high_percent_per_year"], lang),
                        p=_p_text(res["p_value"], lang), verdict=_trend_verdict(res["trend"], lang))
    if res["method_changes"]:
        out["note"] += " " + t("method_change_level_shift", lang, dates=", ".join(res["method_changes"]))
    return out


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> RedirectResponse:
    return RedirectResponse(url(f"{BASE}/trend", {"lang": _lang(request)}), status_code=307)


PAGE_CACHE = ByteCache(max_entries=512, max_bytes=64 * 2**20)
"""Rendered pages by (page, query, who is looking, data version): see :func:`_cached_page`."""


def _cached_page(name: str, request: Request, render: Callable[[Request, D.Viewer, str | None], HTMLResponse]
                 ) -> HTMLResponse:
    """The page from :data:`PAGE_CACHE`, else rendered and kept.

    Keyed by the page, its whole query string, the viewer's role and site scope (the policy's
    inputs: a page shows the same to every key of one role and scope), the unknown-key notice
    and :func:`wastewater.analysis.data_version` (read from the database on every request, so
    a new upload shows at once in every worker, as ``/series`` does with its ETag), and today's
    date (the public weeks close with time, :func:`wastewater.access.week_is_closed`).
    """
    from wastewater.analysis import data_version

    viewer, notice = _viewer(request)
    p = viewer.principal
    scope = None if p.sites is None else tuple(sorted(p.sites))
    key = (name, tuple(sorted(request.query_params.multi_items())), p.role, scope, notice,
           data_version(viewer.engine), dt.date.today())
    hit = PAGE_CACHE.get(key)
    if hit is not None:
        return HTMLResponse(hit)
    resp = render(request, viewer, notice)
    if resp.status_code == 200:
        PAGE_CACHE.put(key, bytes(resp.body))
    return resp


@router.get("/trend", response_class=HTMLResponse)
def trend_page(request: Request) -> HTMLResponse:
    """The trend figure, its table, events and the weekday profile (cached per data version)."""
    return _cached_page("trend", request, _trend_page)


def _trend_page(request: Request, viewer: D.Viewer, notice: str | None) -> HTMLResponse:
    sel = Selection(request, viewer)
    lang = sel.lang
    ctx: dict[str, Any] = {"unknown_key": bool(notice), "controls": None, "no_data": False,
                           "trend": None, "public": viewer.is_public, "events": None,
                           "weekday": None, "weekday_title": "", "trend_test": None}
    layout: dict[str, Any] = {"title": t("nav_trend", lang), "lang": lang, "active": "trend", "role": viewer.role}
    if sel.site is None:
        ctx["no_data"] = True
        return _html(render_page("trend.html", **layout, **ctx))
    smooth = request.query_params.get("smooth")
    smooth = smooth if smooth in ("median7", "mean7") else "none"
    smooth_select = select_spec("smooth", t("smooth_label", lang),
                                [(k, t(f"smooth_{k}", lang)) for k in ("none", "median7", "mean7")], smooth)
    ctx["controls"] = controls_spec(f"{BASE}/trend", lang, sel.fields() + [smooth_select, sel.hint()])
    title = t("trend_title", lang, analyte=analyte_name(sel.analyte or "", lang), site=sel.site_label)
    if sel.analyte is None:
        ctx["no_data"] = True
        return _html(render_page("trend.html", **layout, query=sel.params(), **ctx))
    d = trend_data(viewer, sel)
    shown = d["shown"]
    band = request.query_params.get("band")
    band = band if band in ("change", "level") else "change"
    fig = F.trend_figure(d["daily"], weekly=d["weekly_means"], measure=sel.measure, title="",
                         events=d["events"], risk_weekends=d["weekends"], lang=lang, band=band)
    bounds = list(D.BAND_COLUMNS)
    cols = ["date", "iso_week", "value", *bounds, "n_days", "n_censored"] \
        if d["weekly"] else ["date", "value", *bounds, "censored"]
    if smooth != "none" and not d["weekly"] and len(shown):
        from wastewater.smoothing import smooth as smooth_series

        shown = shown.assign(smoothed=smooth_series(pd.Series(
            shown["value"].to_numpy(float), index=pd.to_datetime(shown["date"])), smooth).to_numpy())
        F.add_smoothed_trace(fig, pd.to_datetime(shown["date"]), shown["smoothed"],
                             name=t(f"smooth_{smooth}", lang))
        cols = [*cols, "smoothed"]
    ctx["trend"] = figure_spec(
        fig_id="fig-trend", title=title, plot_html=F.figure_html(fig, "plot-trend"),
        summary=F.trend_summary(shown, measure=sel.measure, lang=lang, events=d["events"],
                                weekly=d["weekly"]),
        lang=lang, csv_links=_csv_links("trend", sel.params(), lang),
        table=table_spec(shown[cols], caption=t("figure_table_caption", lang), lang=lang,
                         headers={**_series_headers(lang, sel.measure),
                                  "smoothed": t(f"smooth_{smooth}", lang)}, table_id="table-trend",
                         decimals={"n_days": 0, "n_censored": 0, "value": 2, "smoothed": 2,
                                   **dict.fromkeys(bounds, 2)}),
    )
    ctx["trend_test"] = _trend_test(viewer, sel, lang)
    rw = d["weekends"]
    listed = d["events"]
    if len(rw):
        listed = pd.concat([listed, rw.assign(description=rw["name"])[
            ["event_id", "kind", "start", "end", "description"]]], ignore_index=True)
        listed = listed.sort_values("start", kind="stable")
    ctx["events"] = _events_table(listed, lang, t("report_events", lang))
    profile = d["profile"]
    ctx["weekday_title"] = t("weekday_title", lang, analyte=analyte_name(sel.analyte, lang), site=sel.site_label)
    if len(profile):
        from dashboards.i18n import weekday_names

        wfig = F.weekday_profile_figure(profile, measure=sel.measure, lang=lang)
        ptab = profile.copy()
        ptab["weekday"] = [weekday_names(lang)[int(w)] for w in ptab["weekday"]]
        ctx["weekday"] = figure_spec(
            fig_id="fig-weekday", title=ctx["weekday_title"], plot_html=F.figure_html(wfig, "plot-weekday"),
            summary=F.weekday_summary(profile, measure=sel.measure, lang=lang) + " "
            + t("weekday_caption", lang),
            lang=lang, csv_links=_csv_links("weekday", sel.params(), lang),
            table=table_spec(ptab, caption=t("figure_table_caption", lang), lang=lang,
                             row_header="weekday", decimals={"n": 0},
                             headers={"weekday": t("axis_weekday", lang),
                                      "median": t("trace_median", lang),
                                      "q25": "Q1", "q75": "Q3", "n": "n"}),
        )
    ctx["weekday_needs_key"] = not len(profile) and not access.may(viewer.principal, "weekday_profile")
    return _html(render_page("trend.html", **layout, query=sel.params(), **ctx))


# -- operations --------------------------------------------------------------------------------------


OPERATION_KINDS = ("operation", "school_search", "campaign", "safety_walk", "other")


def operation_data(viewer: D.Viewer, sel: Selection, event_id: str | None) -> dict[str, Any]:
    site, analyte = sel.chosen()
    events = D.events_frame(viewer, site=site, analyte=analyte, kinds=OPERATION_KINDS)
    if events.empty:
        return {"events": events, "event": None}
    ids = events["event_id"].tolist()
    if event_id not in ids:
        ops = events[events["kind"] == "operation"]
        event_id = (ops if len(ops) else events)["event_id"].iloc[0]
    event = events[events["event_id"] == event_id].iloc[0].to_dict()
    ds = D.site_dataset(viewer.engine, [site], analytes=D.analytes_for_dumping(analyte),
                        public=D.published_days(viewer))
    daily = D.series_frame(ds, site, analyte, "load_per_1000")
    effect = D.operation_effect(ds, site, analyte, event, lang=sel.lang,
                                method_changes=D.method_changes(viewer, site, [analyte]).get(analyte))
    weekly = not access.may(viewer.principal, "daily_values")
    if access.level(viewer.principal, "operation_effects") is access.Level.PUBLIC:
        effect = D.public_effect(viewer, effect, event, sel.lang)
    if weekly:  # public: whole ISO-week means only, as the API
        daily = D.weekly_frame(daily, viewer=viewer)
    series = D.operation_series(daily, event)
    return {"events": events, "event": event, "effect": effect, "series": series,
            "weekly": weekly}


def _plan_spec(plan: pd.DataFrame | None, lang: str) -> dict[str, Any] | None:
    """Rows of the planning table: period after the operation, smallest detectable drop, samples."""
    if plan is None:
        return None
    rows = []
    for r in plan.itertuples(index=False):
        weeks = count(int(r.after_days) // 7, "week", lang)
        drop = (t("plan_not_estimable", lang) if r.minimum_detectable_drop != r.minimum_detectable_drop
                else f"{format_number(100 * r.minimum_detectable_drop, lang, 0)} %")
        rows.append({"weeks": weeks, "drop": drop, "n_after": int(r.n_after)})
    return {"rows": rows}


@router.get("/operations", response_class=HTMLResponse)
def operations_page(request: Request) -> HTMLResponse:
    """The operation-effect test of one event at one site (cached per data version, as the trend page)."""
    return _cached_page("operations", request, _operations_page)


def _operations_page(request: Request, viewer: D.Viewer, notice: str | None) -> HTMLResponse:
    sel = Selection(request, viewer)
    lang = sel.lang
    ctx: dict[str, Any] = {"controls": None, "no_data": False, "no_event": False, "event": None,
                           "dumping": False, "error": None, "sentence": "", "facts": [], "figure": None,
                           "plan": None, "plan_needs_key": False}
    layout: dict[str, Any] = {"title": t("nav_operation", lang), "lang": lang, "active": "operations",
                              "role": viewer.role}
    if sel.site is None or sel.analyte is None:
        ctx["no_data"] = True
        return _html(render_page("operations.html", **layout, **ctx))
    d = operation_data(viewer, sel, request.query_params.get("event"))
    fields = sel.fields(measure=False, period=False)
    if d["event"] is not None:
        fields.append(select_spec("event", t("operation_choose", lang),
                                  [(r.event_id, (f"{r.event_id}: {format_date(r.start)}–{format_date(r.end)} "
                                                 f"{t(f'event_{r.kind}', lang)}"
                                                 + (f" ({t('confidential', lang)})" if r.confidential else "")))
                                   for r in d["events"].itertuples(index=False)],
                                  d["event"]["event_id"]))
    ctx["controls"] = controls_spec(f"{BASE}/operations", lang, fields)
    ctx["plan"] = _plan_spec(D.operation_plan(viewer, sel.site, sel.analyte), lang)
    ctx["plan_needs_key"] = ctx["plan"] is None
    if d["event"] is None:
        ctx["no_event"] = True
        return _html(render_page("operations.html", **layout, query=sel.params(), **ctx))
    event, effect = d["event"], d["effect"]
    params = sel.params(event=event["event_id"], measure=None, start=None, end=None)
    ctx["event"] = {"event_id": event["event_id"], "description": str(event.get("description") or ""),
                    "confidential": bool(event.get("confidential")), "start": event["start"], "end": event["end"]}
    ctx["dumping"] = D.dumping_raised(effect)
    pending = effect.get("published") is False  # the public, while the follow-up runs
    if effect.get("error"):
        ctx["error"] = effect["error"]
    if pending:  # the weekly chart around the operation, without an estimate
        ctx["figure"] = _operation_figure(d, sel, event, params, None, lang)
    elif not effect.get("error"):
        ctx["sentence"] = effect.get(f"sentence_{lang}") or effect.get("sentence_sv") or ""
        pct = D.effect_percentages(effect)
        n_label = (f"n ({t('operation_before', lang).lower()} / {t('operation_during', lang).lower()} / "
                   f"{t('operation_after', lang).lower()})")
        ctx["facts"] = [
            (t("operation_estimate", lang), format_percent(pct["change_percent"], lang)),
            (t("operation_ci", lang), f"{format_percent(pct['ci_low_percent'], lang)} – "
                                      f"{format_percent(pct['ci_high_percent'], lang)}"),
            ("p", format_number(effect.get("p_value_after"), lang, 3)),
            (n_label, f"{effect.get('n_before')} / {effect.get('n_during')} / {effect.get('n_after')}"),
            (t("operation_method", lang), _method_text(effect, lang)),
        ]
        ctx["figure"] = _operation_figure(d, sel, event, params, pct, lang)
    return _html(render_page("operations.html", **layout, query=sel.params(), **ctx))


def _operation_figure(d: dict[str, Any], sel: Selection, event: dict[str, Any], params: dict[str, Any],
                      pct: dict[str, float] | None, lang: str) -> dict[str, Any]:
    """The operation's figure spec: the series by period and, unless ``pct`` is ``None`` (an
    effect not yet published), the estimate with its interval."""
    fig = F.operation_effect_figure(d["series"], event=event, effect=pct, measure="load_per_1000", lang=lang)
    stab = d["series"][["date", "period", "value", "censored"]].copy()
    stab["period"] = [t(f"operation_{p_}", lang) for p_ in stab["period"]]
    weekly = " " + t("operation_weekly_points", lang) if d["weekly"] else ""
    return figure_spec(
        fig_id="fig-operation",
        title=t("operation_title", lang, event=event["event_id"]) + " – " + analyte_name(sel.analyte or "", lang),
        plot_html=F.figure_html(fig, "plot-operation"),
        summary=(F.operation_summary(pct, lang=lang) + weekly) if pct is not None else weekly.strip(),
        lang=lang, csv_links=_csv_links("operation", params, lang),
        table=table_spec(stab, caption=t("figure_table_caption", lang), lang=lang,
                         headers=_series_headers(lang, "load_per_1000")),
    )


# -- risk weekends -------------------------------------------------------------------------------------


def riskweekend_data(viewer: D.Viewer, sel: Selection) -> dict[str, Any]:
    site, analyte = sel.chosen()
    public = access.level(viewer.principal, "risk_weekend_ratios") is access.Level.PUBLIC
    data_end = access.public_data_end(rule=D.public_rule(viewer)) if public else None
    ds = D.site_dataset(viewer.engine, [site], analytes=[analyte], end=data_end, public=D.published_days(viewer))
    values, _ = D.stats_series(ds, site, analyte)
    values = values.dropna()
    if values.empty:
        return {"calendar": pd.DataFrame(), "effects": pd.DataFrame(), "paydays": pd.DataFrame()}
    # the year before too, as the API: a Nyår window starts on 31 December of the year before
    full = D.full_calendar(viewer, values.index.min() - pd.DateOffset(years=1), values.index.max(), site=site)
    calendar = D.risk_weekends_between(full, values.index.min(), values.index.max())
    effects = D.risk_weekend_effects(ds, site, analyte, full)
    changes = D.method_changes(viewer, site, [analyte]).get(analyte)
    models = D.risk_weekend_models(ds, site, analyte, full, changes)
    if public:
        effects = access.public_risk_weekend_ratios(effects, D.public_rule(viewer), data_end=data_end)
        models = access.public_risk_weekend_ratios(models, D.public_rule(viewer))
    paydays = full[full["kind"] == "payday_weekend"].copy() if len(full) else full
    if len(paydays):
        paydays = paydays[(pd.to_datetime(paydays["end"]) >= values.index.min())
                          & (pd.to_datetime(paydays["start"]) <= values.index.max())]
    return {"calendar": calendar, "effects": effects, "models": models, "paydays": paydays,
            "method_changes": changes or []}


def _riskweekend_sentence(best: Any, lang: str, analyte: str, site: str) -> str:
    """A sentence to quote about the weekend name with the largest change in the one-model test
    (all years together, :func:`wastewater.analysis.risk_weekend_models`), with its 95 % interval."""
    ratio = float(best["ratio"])
    lo, hi = float(best["lower"]), float(best["upper"])
    sure = "riskweekend_sure" if lo > 1 or hi < 1 else "riskweekend_unsure"
    return t("riskweekend_model_sentence", lang, name=best["name"],
             years=count(int(best["n_events"]), "year", lang),
             days=count(int(best["n_event_days"]), "sample_day", lang),
             analyte=analyte, site=site, ratio=format_number(ratio, lang, 2),
             low=format_number(lo, lang, 2), high=format_number(hi, lang, 2)) + " " + t(sure, lang)


@router.get("/riskweekends", response_class=HTMLResponse)
def riskweekends_page(request: Request) -> HTMLResponse:
    """Risk weekends in one model and per year (cached per data version: the page fits a model per weekend name)."""
    return _cached_page("riskweekends", request, _riskweekends_page)


def _riskweekends_page(request: Request, viewer: D.Viewer, notice: str | None) -> HTMLResponse:
    sel = Selection(request, viewer)
    lang = sel.lang
    ctx: dict[str, Any] = {"controls": None, "no_data": False, "model": None, "figure": None,
                           "heading": "", "calendar": None, "paydays": None}
    if sel.site is None or sel.analyte is None:
        ctx["no_data"] = True
    else:
        ctx["controls"] = controls_spec(f"{BASE}/riskweekends", lang, sel.fields(measure=False, period=False))
        d = riskweekend_data(viewer, sel)
        effects = d["effects"]
        models = d["models"]
        title = t("riskweekend_title", lang, analyte=analyte_name(sel.analyte, lang), site=sel.site_label)
        if len(models):
            best = models.loc[models["ratio"].idxmax()]
            note = t("riskweekend_model_note", lang)
            if d["method_changes"]:
                note += " " + t("method_change_level_shift", lang,
                                dates=", ".join(format_date(x) for x in d["method_changes"]))
            ctx["model"] = {
                "sentence": _riskweekend_sentence(best, lang, analyte_name(sel.analyte, lang), sel.site_label),
                "note": note,
                "table": table_spec(models, caption=t("riskweekend_model_caption", lang), lang=lang,
                                    row_header="name", table_id="riskweekend-model",
                                    decimals={"n_events": 0, "n_event_days": 0, "ratio": 2, "lower": 2, "upper": 2,
                                              "p_value": 3},
                                    headers={"name": t("risk_weekend", lang),
                                             "ratio": t("riskweekend_model_ratio", lang),
                                             "lower": t("col_lower", lang), "upper": t("col_upper", lang),
                                             "p_value": "p", "n_events": t("riskweekend_years", lang),
                                             "n_event_days": t("col_n_days", lang)})}
        if len(effects):
            fig = F.risk_weekend_figure(effects, lang=lang)
            tab = effects[["name", "start", "end", "ratio", "lower", "upper", "p_value",
                           "n_controls"]]
            top = effects.loc[effects["ratio"].idxmax()]
            summary = t("riskweekend_summary", lang, weekends=count(len(effects), "risk_weekend", lang),
                        ratio=format_number(top["ratio"], lang, 2),
                        name=top["name"], date=format_date(top["start"]))
            ctx["figure"] = figure_spec(
                fig_id="fig-riskweekends", title=title, plot_html=F.figure_html(fig, "plot-rw"),
                summary=summary, lang=lang,
                csv_links=_csv_links("riskweekends", sel.params(measure=None, start=None, end=None), lang),
                table=table_spec(tab, caption=t("figure_table_caption", lang), lang=lang,
                                 row_header="name",
                                 headers={"name": t("risk_weekend", lang), "start": t("col_start", lang),
                                          "end": t("col_end", lang), "ratio": t("riskweekend_ratio", lang),
                                          "lower": t("col_lower", lang), "upper": t("col_upper", lang),
                                          "p_value": "p", "n_controls": t("riskweekend_controls", lang)}),
            )
        elif not len(models):
            ctx["heading"] = title
        cal = d["calendar"]
        if len(cal):
            ctx["calendar"] = table_spec(cal[["name", "start", "end"]], lang=lang, row_header="name",
                                         caption=t("riskweekend_in_period", lang),
                                         headers={"name": t("risk_weekend", lang), "start": t("col_start", lang),
                                                  "end": t("col_end", lang)})
        pay = d["paydays"]
        if len(pay):
            pay = pay.assign(kind=t("event_payday_weekend", lang))
            ctx["paydays"] = table_spec(
                pay[["anchor_date", "kind", "start", "end"]], lang=lang, row_header="anchor_date",
                caption=t("payday_in_period", lang), table_id="payday-weekends",
                headers={"anchor_date": t("payday_date", lang), "kind": t("col_kind", lang),
                         "start": t("col_start", lang), "end": t("col_end", lang)})
    return _html(render_page("riskweekends.html", title=t("nav_riskweekends", lang), lang=lang,
                             active="riskweekends", query=sel.params(), role=viewer.role, **ctx))


# -- comparison ------------------------------------------------------------------------------------------


@router.get("/compare", response_class=HTMLResponse)
def compare_page(request: Request) -> HTMLResponse:
    viewer, _ = _viewer(request)
    sel = Selection(request, viewer)
    lang = sel.lang
    years = D.reference_years(viewer.engine)
    year = request.query_params.get("year")
    year_i = int(year) if year and year.isdigit() else (years[0] if years else None)
    euda_analytes = ["benzoylecgonine", "amphetamine", "methamphetamine", "mdma", "thc-cooh", "ketamine"]
    analyte = request.query_params.get("analyte")
    analyte = analyte if analyte in euda_analytes else "benzoylecgonine"
    fields = [select_spec("site", t("site", lang), _site_options(sel.sites, lang), sel.site),
              select_spec("analyte", t("analyte", lang), [(a, analyte_name(a, lang)) for a in euda_analytes],
                          analyte),
              select_spec("year", t("compare_year", lang), [(str(y), str(y)) for y in years],
                          str(year_i) if year_i else None)]
    controls = controls_spec(f"{BASE}/compare", lang, fields)
    figure = None
    frame, ref_year = D.comparison_frame(viewer, analyte, year_i, sel.site, sel.site_label)
    if not frame.empty:
        fig = F.comparison_figure(frame, lang=lang)
        own = frame[frame["group"] == "this_site"]
        se = frame[frame["group"] == "sweden"]
        summary = t("compare_summary", lang, n=len(frame), year=ref_year,
                    median=format_number(se["value"].median(), lang, 1))
        if len(own):
            summary += " " + t("compare_own", lang, value=format_number(own["value"].iloc[0], lang, 1))
            own_year = int(own["year"].iloc[0])
            summary += " " + t("compare_years", lang, ref_year=ref_year, own_year=own_year)
            if own_year != ref_year:
                summary += " " + t("compare_years_differ", lang, ref_year=ref_year, own_year=own_year)
        n_below = int(se["all_below_loq"].sum())
        if n_below:
            summary += " " + t("compare_below_loq", lang, n=n_below)
        tab = frame.sort_values("value", ascending=False)[["label", "country", "value", "population"]].rename(
            columns={"label": "city"})
        figure = figure_spec(
            fig_id="fig-compare",
            title=t("compare_title", lang, analyte=analyte_name(analyte, lang)) + f" ({ref_year})",
            plot_html=F.figure_html(fig, "plot-compare"), summary=summary, lang=lang,
            csv_links=_csv_links("compare", {"lang": lang, "site": sel.site, "analyte": analyte,
                                             "year": ref_year}, lang),
            table=table_spec(tab, caption=t("figure_table_caption", lang), lang=lang, row_header="city",
                             decimals={"value": 1, "population": 0},
                             headers={"city": t("col_city", lang), "country": t("col_country", lang),
                                      "value": t("compare_axis", lang),
                                      "population": t("col_population", lang)}),
            extra=Markup("<p>{}</p>").format(t("compare_source", lang)),
        )
    return _html(render_page("compare.html", title=t("nav_compare", lang), lang=lang, active="compare",
                             query={"site": sel.site, "analyte": analyte, "year": year_i}, role=viewer.role,
                             controls=controls, figure=figure))


# -- CSV downloads -------------------------------------------------------------------------------------------


@router.get("/data/{name}.csv")
def figure_csv(request: Request, name: str) -> Response:
    """The data behind each figure: machine CSV (``,`` and dot) or ``dialect=sv`` for Excel."""
    from wastewater.csvout import Dialect, frame_to_csv

    viewer, _ = _viewer(request)
    sel = Selection(request, viewer)
    dialect: Dialect = "sv" if request.query_params.get("dialect") == "sv" else "machine"
    frame = pd.DataFrame()
    if name == "compare":
        year = request.query_params.get("year")
        frame, _y = D.comparison_frame(viewer, request.query_params.get("analyte") or "benzoylecgonine",
                                       int(year) if year and year.isdigit() else None,
                                       sel.site, sel.site_label)
        frame = frame.rename(columns={"value": "daily_mean_mg_per_day_per_1000"})
    elif sel.site and sel.analyte:
        unit_col = D.MEASURE_VARIABLES[sel.measure]
        if name == "trend":
            d = trend_data(viewer, sel)
            from wastewater.uncertainty import interval_fields

            names = interval_fields(unit_col)  # change_lo95_mg_per_day_per_1000 ...
            frame = d["shown"].rename(columns={
                "value": unit_col, "change_lower": names["change_lo95"],
                "change_upper": names["change_hi95"], "level_lower": names["level_lo95"],
                "level_upper": names["level_hi95"]})
        elif name == "weekday":
            d = trend_data(viewer, sel)
            frame = d["profile"].rename(columns={"median": f"median_{unit_col}",
                                                 "q25": f"q25_{unit_col}", "q75": f"q75_{unit_col}",
                                                 "n": "n_days"})
        elif name == "operation":
            d = operation_data(viewer, sel, request.query_params.get("event"))
            if d["event"] is not None:
                frame = d["series"][["date", "period", "value", "censored"]].rename(
                    columns={"value": "load_mg_per_day_per_1000"})
        elif name == "riskweekends":
            frame = riskweekend_data(viewer, sel)["effects"].rename(
                columns={"ratio": "ratio_to_baseline", "lower": "ratio_lo95", "upper": "ratio_hi95"})
        else:
            return Response("unknown figure", status_code=404)
        frame.insert(0, "analyte", sel.analyte)
        frame.insert(0, "site", sel.site)
    body = frame_to_csv(frame.reset_index(drop=True), dialect)
    filename = f"{name}_{sel.site or 'all'}_{sel.analyte or ''}.csv".replace("__", "_")
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": content_disposition(filename)})


# -- upload --------------------------------------------------------------------------------------------------


def _kind_select(lang: str, kind: str = "auto") -> dict[str, Any]:
    kinds = [("auto", t("upload_kind_auto", lang)),
             *((k, t(f"upload_kind_{k}", lang)) for k in ("results", "flows", "sites", "events"))]
    return select_spec("kind", t("upload_kind", lang), kinds, kind)


def issues_table(issues: list[dict], lang: str) -> dict[str, Any]:
    """The validation report row by row (line, column, severity, message, value)."""
    frame = pd.DataFrame([{
        "line": i.get("line"), "column": i.get("column") or "–",
        "severity": t(f"severity_{i.get('severity', 'error')}", lang),
        "code": i.get("code") or "", "message": issue_message(i, lang),
        "value": "" if i.get("value") is None else str(i.get("value")),
    } for i in issues], columns=["line", "column", "severity", "code", "message", "value"])
    frame["line"] = frame["line"].map(lambda v: "–" if v is None or pd.isna(v) else str(int(v)))
    return table_spec(frame, caption=t("upload_result", lang), lang=lang, table_id="upload-issues",
                      scroll=False,
                      headers={"line": t("col_line", lang), "column": t("col_column", lang),
                               "severity": t("col_severity", lang), "code": t("col_code", lang),
                               "message": t("col_message", lang), "value": t("col_value", lang)})


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request) -> HTMLResponse:
    viewer, _ = _viewer(request)
    lang = _lang(request)
    needs_key = not any(access.may(viewer.principal, r) for r in ("upload_results", "upload_events", "upload_sites"))
    return _html(render_page("upload.html", title=t("upload_title", lang), lang=lang, active="upload",
                             role=viewer.role, needs_key=needs_key, kind_select=_kind_select(lang),
                             result=None))


@router.post("/upload", response_class=HTMLResponse)
async def upload_post(request: Request, file: Annotated[UploadFile, File()],
                      kind: Annotated[str, Form()] = "auto",
                      action: Annotated[str, Form()] = "dry_run") -> HTMLResponse:
    """Check (dry run unless "check and save" was pressed) and store the file with the cookie's key
    through :func:`wastewater.uploading.receive_upload` (the API's upload flow: the same policy
    checks, limits and store) and show its validation report."""
    from starlette.concurrency import run_in_threadpool

    from wastewater.uploading import UploadRefusal, receive_upload

    viewer, _ = _viewer(request)
    lang = _lang(request)
    kind = kind if kind in ("auto", "results", "flows", "sites", "events") else "auto"
    content = await file.read()
    try:
        got = await run_in_threadpool(lambda: receive_upload(
            viewer.engine, viewer.principal, content, kind, filename=file.filename or "upload.csv",
            settings=viewer.settings, dry_run=action != "commit"))
        status, answer = got.status, got.body
    except access.AccessDenied as exc:
        status = 401 if exc.authenticate else 403
        answer = {"ok": False, "errors": [{"code": "role", "message": f"{exc.message_sv} / {exc.message_en}"}]}
    except UploadRefusal as exc:
        status, answer = exc.status, {"ok": False, "status": exc.status, "error": exc.error, "errors": exc.errors}
    report = answer.get("report") or {}
    issues = report.get("issues") or answer.get("errors") or []
    n_err = sum(1 for i in issues if i.get("severity", "error") == "error")
    n_warn = sum(1 for i in issues if i.get("severity") == "warning")
    result: dict[str, Any] = {"filename": file.filename or "", "rows": "", "refused": status in (401, 403),
                              "errors": "", "duplicate": False, "stored": "", "alerts": "", "alerts_link": "",
                              "alert_notes": [],
                              "ok": status < 300, "issues": issues_table(issues, lang) if issues else None}
    if report:
        result["rows"] = t("upload_rows", lang, accepted=report.get("rows_accepted", 0),
                           total=report.get("rows_total", 0))
    if n_err:
        result["errors"] = t("upload_errors", lang, n=n_err, w=n_warn)
    elif answer.get("duplicate"):
        result["duplicate"] = True
    elif answer.get("stored"):
        result["stored"] = t("upload_stored", lang, n=answer.get("rows_inserted", 0))
        message = (answer.get("alerts_message") or {}).get(lang)
        if message:
            sites = sorted({a["site"] for a in answer.get("alerts") or []})
            result["alerts"] = message
            result["alerts_link"] = url(f"{BASE}/alerts", {"lang": lang, "site": sites[0] if len(sites) == 1 else None})
        result["alert_notes"] = [n[f"sentence_{lang}"] for n in answer.get("alert_notes") or []
                                 if n.get(f"sentence_{lang}")]
    return _html(render_page("upload.html", title=t("upload_title", lang), lang=lang, active="upload",
                             role=viewer.role, needs_key=False, kind_select=_kind_select(lang, kind),
                             result=result))


# -- alerts ----------------------------------------------------------------------------------------------------------

ALERT_ACTIONS = {"acknowledge": "acknowledged", "dismiss": "dismissed", "reopen": "open"}


def _alert_done_text(done: str | None, lang: str) -> str:
    """The confirmation after an alert action, from the redirect's ``done=<alert id>:<status>``.

    Only that shape is shown, in the catalogue's words: the page never echoes query text, so a
    link can't make it display a message of someone else's choosing.
    """
    alert_id, _, status = (done or "").partition(":")
    if not alert_id.isdigit() or status not in ALERT_ACTIONS.values():
        return ""
    return t("alert_done", lang, id=int(alert_id), status=t(f"alert_status_{status}", lang).lower())


def _visible_alerts(viewer: D.Viewer, site: str | None) -> list[dict[str, Any]]:
    """Stored alerts of ``site`` the viewer's key may read (:func:`wastewater.access.alert_visible`)."""
    from wastewater.storage.alerts import load_alerts

    p = viewer.principal
    rows = load_alerts(viewer.engine, sites=[site] if site else None,
                       include_confidential=viewer.sees_confidential)
    return [r for r in rows if access.alert_visible(p, r)]


def _alert_rows(alerts: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """The alerts table's rows for ``alerts.html``: status text and the buttons each alert offers."""
    rows = []
    for a in alerts:
        status = t(f"alert_status_{a['status']}", lang)
        if a.get("status_by"):
            status += f" ({a['status_by']})"
        actions = [x for x in ("acknowledge", "dismiss", "reopen")
                   if ALERT_ACTIONS[x] != a["status"] and not (x == "reopen" and a["status"] == "open")]
        rows.append({"alert_id": a["alert_id"], "status": a["status"], "date": a["date"], "analyte": a["analyte"],
                     "kind": a["kind"], "reason": a["reason_sv"] if lang == "sv" else a["reason_en"],
                     "upload_id": a["upload_id"], "status_text": status, "actions": actions})
    return rows


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request) -> HTMLResponse:
    """Alerts per site, newest day first, with acknowledge / dismiss buttons (audited)."""
    viewer, notice = _viewer(request)
    lang = _lang(request)
    ctx: dict[str, Any] = {"needs_key": False, "done": "", "no_data": False, "controls": None, "alerts": [],
                           "caption": "", "site": "", "failed": None}
    layout: dict[str, Any] = {"title": t("alerts_title", lang), "lang": lang, "active": "alerts",
                              "role": viewer.role}
    if not access.may(viewer.principal, "alerts"):
        ctx["needs_key"] = True
        return _html(render_page("alerts.html", **layout, **ctx))
    sites = D.visible_sites(viewer)
    site = _choose_site(sites, request.query_params.get("site"))
    ctx["done"] = _alert_done_text(request.query_params.get("done"), lang)
    if site is None:
        ctx["no_data"] = True
    else:
        ctx["controls"] = controls_spec(f"{BASE}/alerts", lang,
                                        [select_spec("site", t("site", lang), _site_options(sites, lang), site)])
        ctx["alerts"] = _alert_rows(_visible_alerts(viewer, site), lang)
        ctx["caption"] = t("alerts_caption", lang, site=_site_label(sites, site))
        ctx["site"] = site
    if access.may(viewer.principal, "alert_admin"):
        from wastewater.storage.alerts import load_deliveries

        failed = load_deliveries(viewer.engine, status="failed")
        if failed:
            frame = pd.DataFrame([{"target": f["target"], "attempts": f["attempts"],
                                   "last_error": f["last_error"]} for f in failed])
            ctx["failed"] = table_spec(frame, caption=t("alerts_failed_caption", lang), lang=lang,
                                       table_id="failed-deliveries", decimals=0,
                                       headers={"target": t("col_target", lang),
                                                "attempts": t("col_attempts", lang),
                                                "last_error": t("col_error", lang)})
    return _html(render_page("alerts.html", **layout, query={"site": site}, **ctx))


@router.post("/alerts/{alert_id}")
def alert_action(request: Request, alert_id: int, action: Annotated[str, Form()] = "",
                 site: Annotated[str, Form()] = "") -> Response:
    """Acknowledge / dismiss / reopen with the cookie's key; written to the audit log."""
    from wastewater.storage.alerts import set_alert_status

    viewer, _ = _viewer(request)
    lang = _lang(request)
    if not access.may(viewer.principal, "alerts") or action not in ALERT_ACTIONS:
        return _html(_notice_page(t("alerts_title", lang), t("alerts_needs_key", lang), lang=lang,
                                  active="alerts", role=viewer.role), status=403)
    mine = [a for a in _visible_alerts(viewer, None) if a["alert_id"] == alert_id]
    if not mine:
        return _html(_notice_page(t("alerts_title", lang), t("no_data", lang), lang=lang,
                                  active="alerts", role=viewer.role), status=404)
    status = ALERT_ACTIONS[action]
    set_alert_status(viewer.engine, alert_id, status, actor=viewer.principal.name)
    return RedirectResponse(url(f"{BASE}/alerts", {"lang": lang, "site": site or mine[0]["site"],
                                                   "done": f"{alert_id}:{status}"}), status_code=303)


# -- login (API key in a cookie) ---------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    viewer, notice = _viewer(request)
    lang = _lang(request)
    return _html(render_page("login.html", title=t("login_title", lang), lang=lang, active="login",
                             role=viewer.role, unknown_key=bool(notice)))


@router.post("/login")
def login_post(request: Request, key: Annotated[str, Form()] = "") -> RedirectResponse:
    lang = _lang(request)
    resp = RedirectResponse(url(f"{BASE}/login", {"lang": lang}), status_code=303)
    key = key.strip()
    if key:
        resp.set_cookie(COOKIE, key, httponly=True, samesite="strict", path=BASE,
                        secure=request.url.scheme == "https", max_age=8 * 3600)
    else:
        resp.delete_cookie(COOKIE, path=BASE)
    return resp


# -- follow-up report ----------------------------------------------------------------------------------------------


@router.get("/report", response_class=HTMLResponse)
def report_page(request: Request) -> HTMLResponse:
    """Without ``year``/``tertial``: a form. With them: the self-contained report
    (``download=1`` as an attachment)."""
    from dashboards.report import build_report, current_tertial

    viewer, _ = _viewer(request)
    lang = _lang(request)
    q = request.query_params
    year, tertial = q.get("year"), q.get("tertial")
    view = "analyst" if q.get("view") == "analyst" else "public"
    may_analyst = access.may(viewer.principal, "report_analyst")
    if year and year.isdigit() and tertial in ("1", "2", "3"):
        if view == "analyst" and not may_analyst:
            return _html(_notice_page(t("nav_report", lang), t("report_needs_analyst", lang), "warning",
                                      lang=lang, active="report", role=viewer.role), status=403)
        # the public view unless the analyst view was chosen explicitly (and is allowed)
        principal = viewer.principal if view == "analyst" else access.PUBLIC
        html = build_report(viewer.engine, int(year), int(tertial), lang=lang,
                            principal=principal, settings=viewer.settings)
        from dashboards.report import script_hashes

        # the report inlines plotly.js and the figure script: allow exactly those two
        headers = {"Content-Security-Policy": (
            f"default-src 'self'; script-src {' '.join(script_hashes())}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; font-src 'self' data:; object-src 'none'; base-uri 'self'; "
            "form-action 'self'; frame-ancestors 'none'")}
        if q.get("download"):
            headers["Content-Disposition"] = content_disposition(
                f"uppfoljning_{int(year)}_T{tertial}_{lang}_{view}.html")
        return HTMLResponse(html, headers=headers)
    last = D.last_sample_date(viewer)  # default: the latest tertial with data, not today's
    y0, t0 = current_tertial(last or dt.date.today())
    until = t("report_data_until", lang, date=format_date(last), tertial=f"T{t0} {y0}") if last else ""
    view_select = select_spec("view", t("report_view", lang),
                              [("public", t("report_view_public", lang)),
                               ("analyst", t("report_view_analyst", lang))], "public") if may_analyst else None
    return _html(render_page("report_form.html", title=t("nav_report", lang), lang=lang, active="report",
                             role=viewer.role, year=y0, data_until=until, view_select=view_select,
                             tertial_select=select_spec("tertial", t("report_tertial", lang),
                                                        [(str(n), t(f"report_t{n}", lang)) for n in (1, 2, 3)],
                                                        str(t0))))
