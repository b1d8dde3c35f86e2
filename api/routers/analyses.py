"""GET /analyses/*: change tests as JSON (wastewater.stats, issue 4).

Every analysis works on the daily ``load_mg_per_day_per_1000`` series of a site × analyte
(canonical units, censored days substituted by ``loq_method``). Endpoints that run several
tests at once (several analytes, several weekends, several alerts) report Benjamini–Hochberg
q-values next to the p-values (Benjamini & Hochberg 1995, JRSS B 57:289).
Who may run which analysis is decided by :mod:`wastewater.access`: operation effects and
risk-weekend ratios are public for non-confidential events at public catchments, and so is the
published 12-month trend (:func:`wastewater.access.trend_request`); a trend over any other
window, change points and alerts need a key (they expose single days).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Query

from api.deps import EngineDep, Principal, SettingsDep, require
from api.errors import ApiError, item, responses
from api.routers.common import FromQ, ToQ, check_range
from api.routers.events import visible_events
from api.schemas import AnalysisOut
from api.services import records, require_site, resolve_analyte, risk_calendar
from wastewater import access
from wastewater import analysis as _analysis
from wastewater.jsonsafe import json_safe
from wastewater.stats import alerts as _alerts
from wastewater.stats import changepoints as _changepoints
from wastewater.stats import effects as _effects
from wastewater.stats import trends as _trends
from wastewater.stats.riskweekend_effect import riskweekend_effect as _riskweekend_effect

router = APIRouter(prefix="/analyses", tags=["analyses"])
Viewer = Depends(require("other_analyses"))
_TREND = Depends(require("published_trend"))
_EFFECTS = Depends(require("operation_effects"))
_RW = Depends(require("risk_weekend_ratios"))
ERRS = responses(401, 403, 404, 422, 503)
LoqQ = Annotated[Literal["loq_half", "loq_sqrt2", "zero", "loq"],
                 Query(description="Substitution of censored values.")]
SiteReq = Annotated[str, Query(min_length=1, max_length=64, description="Site id.")]


ANALYSES: dict[str, Callable[..., Any]] = {
    "operation_effect": _effects.operation_effect,
    "operation_plan": _effects.planned_detectable_drops,
    "trend": _analysis.trend,
    "trend_mann_kendall": _trends.trend_test,
    "changepoints": _changepoints.detect_changepoints,
    "riskweekend_model": _analysis.risk_weekend_models,
    "riskweekend_effect": _riskweekend_effect,
    "alerts": _alerts.same_weekday_alerts,
}
"""The statistics behind each endpoint, bound when the module is imported: a renamed function
fails at start-up (and in the tests), not as a 503 at request time."""


def bh_q_values(p_values: list[float | None]) -> list[float | None]:
    """Benjamini–Hochberg q-values [BenjaminiHochberg1995] via :func:`wastewater.stats.multiple.bh_qvalues`;
    missing p-values stay ``None`` and do not count as tests."""
    from wastewater.stats.multiple import bh_qvalues

    if not p_values:
        return []
    q = bh_qvalues([float("nan") if p is None else float(p) for p in p_values])
    return [json_safe(v) for v in q]


def _site_dataset(engine, site: str, analytes: list[str] | None, loq_method: str, start=None, end=None,
                  public: access.PublicRule | None = None):
    """Dataset of one site (all or some analytes): :func:`wastewater.analysis.load_dataset`
    (``public``: the rule of a published figure)."""
    from wastewater.analysis import load_dataset

    ds = load_dataset(engine, [site], analytes=analytes, start=start, end=end, loq_method=loq_method,
                      public=public)
    if ds is None:
        raise ApiError(422, "not enough data", [item("no_data", f"no results for site {site!r}"
                                                      + (f" and {analytes}" if analytes else ""), column="analyte")])
    return ds


def _site_series(ds, site: str, analyte: str) -> tuple[pd.Series, pd.Series]:
    from wastewater.timeseries import site_series

    return site_series(ds, site, analyte, "load_mg_per_day_per_1000")


def _series(engine, site, analyte, loq_method, start=None, end=None,
            public: access.PublicRule | None = None) -> tuple[pd.Series, pd.Series]:
    from wastewater.analysis import read_series

    daily = read_series(engine, site, analyte, "load_per_1000", start=start, end=end, loq_method=loq_method,
                        public=public)
    if daily.empty:
        raise ApiError(422, "not enough data", [item("no_data", f"no results for {site} / {analyte}",
                                                      column="analyte")])
    idx = pd.DatetimeIndex(daily["date"])
    return (pd.Series(daily["value"].to_numpy(float), index=idx, name="load_mg_per_day_per_1000"),
            pd.Series(daily["censored"].to_numpy(bool), index=idx, name="censored"))


def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict:
    try:
        res = fn(*args, **kwargs)
    except (ValueError, LookupError) as exc:  # InsufficientDataError etc.
        code = getattr(exc, "code", type(exc).__name__)  # NotEstimableError: a reason code
        extra = ({"message_sv": exc.sentence_sv} if hasattr(exc, "sentence_sv") else {})
        raise ApiError(422, "analysis not possible", [item(code, str(exc), **extra)]) from exc
    return json_safe(res.to_dict() if hasattr(res, "to_dict") else res)


def _p(d: dict) -> float | None:
    for k in ("p_value_after", "p_value", "p"):
        if d.get(k) is not None:
            return d[k]
    return None


@router.get("/operation-effect", response_model=AnalysisOut, summary="Effect of an operation/event on loads",
            responses=ERRS)
def operation_effect(
    engine: EngineDep, settings: SettingsDep, site: SiteReq,
    event_id: Annotated[str, Query(min_length=1, max_length=128)],
    analyte: Annotated[str | None, Query(max_length=64, description="Default: the event's substances.")] = None,
    method: Annotated[Literal["ar1_noise", "ar1", "hac", "ols"], Query(
        description="ar1_noise (default): AR(1) use variation + measurement noise; "
                    "others for comparison.")] = "ar1_noise",
    before_days: Annotated[int, Query(
        ge=7, le=1100, description="History before the event for the baseline [days]; "
                                   "default ~2 years (what exists is used).")] = 730,
    after_days: Annotated[int, Query(ge=7, le=365, description="[days]")] = 56,
    loq_method: LoqQ = "loq_half",
    p: Principal = _EFFECTS,
):
    """Relative change after (and during) the event with 95 % CI and p-value
    (`wastewater.stats.effects.operation_effect`); several analytes → BH q-values.
    Confidential events are found only with analyst/admin keys. Anonymous callers get the
    effects of non-confidential events at public catchments, with the fields the dashboard
    shows (`wastewater.access.PUBLIC_EFFECT_FIELDS`): the medborgarlöfte follow-up publishes
    them on public web pages. They get an effect once the follow-up period (56 days after the
    event) has closed, two weeks after its last day (`published_from`; before that the result
    has `published: false` and a sentence saying why: each new day would move it). Without a
    key the published analysis only: `method`, `before_days`, `after_days` and `loq_method`
    stay at their defaults (401 otherwise;
    `wastewater.access.PUBLIC_FIXED_PARAMETERS`)."""
    access.check_public_parameters(p, "operation_effects", {
        "method": method, "before_days": before_days, "after_days": after_days, "loq_method": loq_method})
    require_site(engine, p, settings, site)
    ev = next((e for e in visible_events(engine, settings, p) if e["event_id"] == event_id), None)
    if ev is None:
        raise ApiError(404, "not found", [item("unknown_event", f"no event {event_id!r} visible to this key",
                                               column="event_id")])
    analytes = [resolve_analyte(analyte)] if analyte else _measured_for_event(engine, site, ev)
    fn = ANALYSES["operation_effect"]
    changes = _method_changes(engine, settings, p, site, analytes)
    public = access.PublicRule.from_settings(settings) \
        if access.level(p, "operation_effects") is access.Level.PUBLIC else None
    out = []
    for a in analytes:
        s, c = _series(engine, site, a, loq_method, public=public)
        d = _run(fn, s, censored=c, event_start=ev["start"], event_end=ev["end"], before_days=before_days,
                 after_days=after_days, method=method, method_changes=changes.get(a))
        out.append({"analyte": a, **d})
    qs = bh_q_values([_p(d) for d in out])
    for d, q in zip(out, qs):
        d["q_value"] = q
    if public is not None:
        out = [access.public_operation_effect(d, ev["end"], rule=public) for d in out]
    return {"analysis": "operation_effect", "site": site, "analyte": ",".join(analytes), "event_id": event_id,
            "results": out, "q_values": qs}


@router.get("/operation-plan", response_model=AnalysisOut,
            summary="Planning an operation: the smallest drop the current sampling detects", responses=ERRS)
def operation_plan(
    engine: EngineDep, settings: SettingsDep, site: SiteReq,
    analyte: Annotated[str, Query(min_length=1, max_length=64, description="Analyte as measured.")],
    duration_days: Annotated[int, Query(ge=1, le=90, description="Length of the planned operation [days].")] = 7,
    p: Principal = Viewer,
):
    """For each length of the period after a planned operation (2, 4, 8 and 12 weeks): the
    smallest drop in load the site's current sampling would detect with 80 % power at α = 0.05
    (`wastewater.stats.effects.planned_detectable_drops`: the operation test with its defaults
    on the site's latest days, with a level shift at each marked method change), with the
    number of samples it rests on, or a reason code where the history is too short. Needs a key
    (resource `other_analyses`): the drop follows the fitted day-to-day noise, and two answers a
    day apart would say how far the new day lies from the rest."""
    require_site(engine, p, settings, site)
    a = resolve_analyte(analyte)
    s, c = _series(engine, site, a, "loq_half")
    changes = _method_changes(engine, settings, p, site, [a]).get(a)
    rows = _run(lambda: ANALYSES["operation_plan"](s, censored=c, duration_days=duration_days,
                                                   method_changes=changes).to_dict(orient="records"))
    return {"analysis": "operation_plan", "site": site, "analyte": a, "results": rows}


def _measured_for_event(engine, site: str, ev: dict) -> list[str]:
    """The analytes this site measures for the event's substances (cocaine → benzoylecgonine,
    from the catalogue's ``parent`` column), or a 422 that names the analyte to pass."""
    from wastewater.analysis import site_analytes
    from wastewater.catalogue import measured_analytes_for

    have = site_analytes(engine, site)
    subs = list(ev.get("substances") or [])
    if not subs:
        raise ApiError(422, "invalid request parameters",
                       [item("analyte_required", "the event names no substances; give ?analyte= "
                             f"(this site measures: {', '.join(have) or 'nothing yet'})", column="analyte")])
    out: list[str] = []
    for sub in subs:
        for a in measured_analytes_for(sub, have):
            if a not in out:
                out.append(a)
    if not out:
        wanted = sorted({a for sub in subs for a in measured_analytes_for(sub)})
        raise ApiError(422, "invalid request parameters", [item(
            "analyte_not_measured",
            f"the event names {', '.join(subs)}, measured as {', '.join(wanted) or 'no catalogued analyte'}, "
            f"but site {site} has none of them; give ?analyte= one of: {', '.join(have) or 'none'}",
            column="analyte")])
    return out


def _method_changes(engine, settings, p, site: str, analytes: list[str] | None = None) -> dict[str, list]:
    """Analyte → start dates of the visible ``method_change`` events that apply to ``site``
    (:func:`wastewater.readers.method_changes`; default: every analyte of the site)."""
    from wastewater.analysis import site_analytes
    from wastewater.readers import method_changes

    have = site_analytes(engine, site) if analytes is None else analytes
    return method_changes(engine, p, access.PublicRule.from_settings(settings), site=site, analytes=have)


def _analytes_param(analyte: str | None) -> list[str] | None:
    return [resolve_analyte(analyte)] if analyte else None


def _with_q(rows: list[dict], p_key: str = "p_value") -> list[float | None]:
    qs = bh_q_values([r.get(p_key) for r in rows])
    for r, q in zip(rows, qs):
        r["q_value"] = q
    return qs


AnalyteOpt = Annotated[str | None, Query(max_length=64, description="Analyte; default: every analyte of the site (BH q-values across them).")]  # noqa: E501


@router.get("/trend", response_model=AnalysisOut, summary="Trend per analyte (the published 12-month trend "
            "without a key; GLS on daily values, Mann–Kendall on request, with one)", responses=ERRS)
def trend(engine: EngineDep, settings: SettingsDep, site: SiteReq, analyte: AnalyteOpt = None,
          start: Annotated[dt.date | None, Query(alias="from", description=(
              "First day (inclusive), YYYY-MM-DD. Published trend: omit it, or the first day of the 12 "
              "calendar months ending with `to`."))] = None,
          end: Annotated[dt.date | None, Query(alias="to", description=(
              "Last day (inclusive), YYYY-MM-DD. Published trend: a month's last day (default: the last "
              "day of the latest month that has ended and holds the site's latest sample)."))] = None,
          loq_method: LoqQ = "loq_half",
          alpha: Annotated[float, Query(gt=0, lt=1, description="Test level; published trend: 0.05.")] = 0.05,
          method: Annotated[Literal["gls", "mann_kendall"], Query(
              description="gls (default): log-linear trend with the operation test's error model "
                          "(AR(1) use variation + measurement noise) and a level shift at each marked "
                          "method change; mann_kendall: Mann–Kendall with Yue–Wang correction and "
                          "Sen's slope (the earlier default, for comparison; key only).")] = "gls",
          published: Annotated[bool | None, Query(description=(
              "true: the published trend (the tertial report's: 12 calendar months ending at a month's "
              "end, on the public ISO-week means); false: the trend on daily values over any window "
              "(key only). Default: true without a key, false with one."))] = None,
          p: Principal = _TREND):
    """Is there a trend. Who gets which is decided by `wastewater.access.trend_request`.

    **Published trend** (the only one without a key; `published=true` with one): the tertial
    report's trend over exactly 12 calendar months ending at a month's last day,
    `wastewater.analysis.published_trend` — the GLS trend (`wastewater.stats.trend_gls`) on the
    public ISO-week means of the window (weeks with too few days or not yet closed left out,
    weeks with a suspected dumping day during a visible police operation left out, marked
    method changes as level shifts), fields `wastewater.access.PUBLIC_TREND_FIELDS`. It rests on
    the public weekly means alone, so no choice of windows tells more than `/series` does.
    Without a key any other `from`/`to`, `method`, `loq_method`, `alpha` or `published=false`
    is 401, and the message says which window to ask for.

    **Trend on daily values** (keys, the default with one): `wastewater.analysis.trend` — by
    default `wastewater.stats.trend_gls` (false positives 0.049 with a marked ×2 method change),
    with `method=mann_kendall` `wastewater.stats.trend_test` (weekday-adjusted, log scale); both
    with the visible `method_change` events of the site as level shifts / strata, over any
    window. `percent_change_per_year` with CI; one result per analyte with BH q-values."""
    check_range(start, end)
    try:
        req = access.trend_request(p, start, end, published=published,
                                   parameters={"method": method, "loq_method": loq_method, "alpha": alpha},
                                   last_day=_last_day(engine, site) if end is None else None)
    except access.PublicTrendRefused as exc:
        if exc.authenticate:
            raise
        raise ApiError(422, "invalid request parameters", [item(
            "published_trend", f"{'; '.join(exc.problems_en)} / {'; '.join(exc.problems_sv)}",
            column="to")]) from exc
    require_site(engine, p, settings, site)
    if req.published:
        return _published_trend(engine, settings, p, site, analyte, (req.start, req.end))
    ds = _site_dataset(engine, site, _analytes_param(analyte), loq_method, start, end)
    fn = ANALYSES["trend"]
    names = ds["analyte"].values.tolist()
    changes = _method_changes(engine, settings, p, site, names)
    out = []
    for a in names:
        s, c = _site_series(ds, site, a)
        if s.notna().sum() < 3:
            continue
        try:
            out.append({"analyte": a, "test": method,
                        **_run(fn, s, censored=c, alpha=alpha, method=method, method_changes=changes.get(a))})
        except ApiError as exc:
            if analyte:
                raise
            out.append({"analyte": a, "p_value": None, "error": exc.errors[0]["message"]})
    qs = _with_q(out)
    return {"analysis": "trend", "site": site, "analyte": analyte and resolve_analyte(analyte),
            "test": method, "published": False, "results": out, "q_values": qs}


def _last_day(engine, site: str):
    from wastewater.analysis import last_sample_day

    return last_sample_day(engine, site)


_TREND_TOO_SHORT = {
    "too_short": ("fewer than {days} measured days in the public weeks of the 12 months, or they span "
                  "under {span} days: no per-year trend is published",
                  "färre än {days} mätta dygn i de publika veckorna under de 12 månaderna, eller de spänner "
                  "över mindre än {span} dygn: ingen trend per år publiceras"),
    "not_estimable": ("the trend model could not be fitted to these weeks",
                      "trendmodellen gick inte att skatta på de här veckorna"),
}


def _published_trend(engine, settings, p, site: str, analyte: str | None, window) -> dict:
    """The published trend of one or every analyte of ``site`` (`wastewater.analysis.published_trends`)."""
    from wastewater.analysis import published_trends, site_analytes

    names = [resolve_analyte(analyte)] if analyte else site_analytes(engine, site)
    rule = access.PublicRule.from_settings(settings)
    res = published_trends(engine, p, rule, site, names, window)
    out = []
    for a in names:
        r = res[a]
        row = json_safe({k: r.get(k) for k in access.PUBLIC_TREND_FIELDS})  # an unbounded CI: null
        if r.get("reason"):
            en, sv = _TREND_TOO_SHORT[r["reason"]]
            fmt = {"days": access.PUBLIC_TREND_MIN_DAYS, "span": access.PUBLIC_TREND_MIN_SPAN_DAYS}
            row["error"], row["error_sv"] = en.format(**fmt), sv.format(**fmt)
        out.append(row)
    qs = _with_q(out)
    return {"analysis": "trend", "site": site, "analyte": analyte and resolve_analyte(analyte), "test": "gls",
            "published": True, "window": {"from": window[0].isoformat(), "to": window[1].isoformat()},
            "results": out, "q_values": qs}


@router.get("/changepoints", response_model=AnalysisOut, summary="Level shifts (CUSUM, binary segmentation)",
            responses=ERRS)
def changepoints(engine: EngineDep, settings: SettingsDep, site: SiteReq,
                 analyte: Annotated[str, Query(min_length=1, max_length=64)],
                 start: FromQ = None, end: ToQ = None, loq_method: LoqQ = "loq_half",
                 alpha: Annotated[float, Query(gt=0, lt=1)] = 0.01,
                 min_segment_days: Annotated[int, Query(ge=3, le=365, description="[days]")] = 14,
                 p: Principal = Viewer):
    """`wastewater.stats.changepoints.detect_changepoints`; each detected change has its
    p-value and a BH q-value over the changes found. The visible `method_change` events of the
    site are known level shifts and not reported (`method_changes` lists them); every step found
    says "possible method change — mark it or explain it" (`note_sv`, `note_en`)."""
    check_range(start, end)
    require_site(engine, p, settings, site)
    a = resolve_analyte(analyte)
    ds = _site_dataset(engine, site, [a], loq_method, start, end)
    s, c = _site_series(ds, site, a)
    changes = _method_changes(engine, settings, p, site, [a]).get(a) or []
    d = _run(ANALYSES["changepoints"], s, censored=c, alpha=alpha,
             min_segment_days=min_segment_days, method_changes=changes)
    d["method_changes"] = [pd.Timestamp(x).date().isoformat() for x in changes]
    rows = list(d.pop("changepoints", []))
    qs = _with_q(rows)
    return {"analysis": "changepoints", "site": site, "analyte": a, "results": rows, "q_values": qs, **d}


@router.get("/risk-weekend-effect", response_model=AnalysisOut,
            summary="Did risk weekends raise loads (one model over the whole series; matched weekends on request)",
            responses=ERRS)
def risk_weekend_effect(
    engine: EngineDep, settings: SettingsDep, site: SiteReq,
    analyte: Annotated[str, Query(min_length=1, max_length=64)],
    kind: Annotated[Literal["risk_weekend", "payday_weekend", "long_weekend"], Query()] = "risk_weekend",
    start: FromQ = None, end: ToQ = None, loq_method: LoqQ = "loq_half",
    window_weeks: Annotated[int, Query(ge=1, le=12, description="[weeks]")] = 6,
    method: Annotated[Literal["model", "matched_weekends"], Query(
        description="model (default): every day of one named weekend over all years as one term of a "
                    "GLS over the whole daily series (the operation test's error model), one result "
                    "per weekend name; matched_weekends: per-year ratios against the same weekdays "
                    "±window_weeks weeks pooled over years with a t-test (the earlier default).")] = "model",
    p: Principal = _RW,
):
    """`method=model` (default): `wastewater.analysis.risk_weekend_models`
    (`wastewater.stats.riskweekend_model` per weekend name of `kind`), one result per name with
    its relative change, 95 % CI, p-value and BH q-values across the names; marked
    `method_change` events are level shifts. `events` lists each year's weekend against matched
    ordinary weekends (`wastewater.stats.riskweekend_effect.riskweekend_effect`, a description,
    as the dashboard table). `method=matched_weekends`: the per-year rows as `results` with BH
    q-values, plus the pooled estimates of that test.
    On the Swedish calendar (`wastewater.riskweekends`). Without a key the published analysis
    only: `from`, `to`, `window_weeks`, `loq_method` and `method` stay at their defaults (401
    otherwise; `wastewater.access.PUBLIC_FIXED_PARAMETERS`), every result rests on at least
    `WASTEWATER_MIN_PUBLIC_DAYS_PER_WEEKEND` measured days, and on the series up to the end of
    the latest month that ended at least two weeks ago (`wastewater.access.public_data_end`),
    a weekend only once its control weeks lie before that day: on the series so far, each new
    day would move the figures."""
    check_range(start, end)
    access.check_public_parameters(p, "risk_weekend_ratios", {
        "from": start, "to": end, "window_weeks": window_weeks, "loq_method": loq_method, "method": method})
    require_site(engine, p, settings, site)
    a = resolve_analyte(analyte)
    public = access.level(p, "risk_weekend_ratios") is access.Level.PUBLIC
    rule = access.PublicRule.from_settings(settings)
    data_end = access.public_data_end(rule=rule) if public else None
    ds = _site_dataset(engine, site, [a], loq_method, start, data_end or end, public=rule if public else None)
    s, c = _site_series(ds, site, a)
    years = sorted({d.year for d in s.index} | {d.year - 1 for d in s.index})
    cal = risk_calendar(engine, years, p, settings, site=site)
    d = _run(ANALYSES["riskweekend_effect"], s, cal, censored=c, kinds=(kind,),
             window_weeks=window_weeks)
    # only the events that fall in the data (others have no event day with a sample)
    rows = [r for r in d.pop("events", []) if (r.get("n_event_days") or 0) > 0]
    if public and rows:
        rows = records(access.public_risk_weekend_ratios(pd.DataFrame(rows), rule, data_end=data_end))
    if method == "matched_weekends":
        qs = _with_q(rows)
        return {"analysis": "risk_weekend_effect", "site": site, "analyte": a, "kind": kind,
                "test": method, "results": rows, "q_values": qs, **d}
    changes = _method_changes(engine, settings, p, site, [a]).get(a)
    try:
        models = ANALYSES["riskweekend_model"](s, cal, censored=c, kind=kind, method_changes=changes)
    except (ValueError, LookupError) as exc:
        raise ApiError(422, "analysis not possible", [item(getattr(exc, "code", type(exc).__name__),
                                                            str(exc))]) from exc
    if public and len(models):
        models = access.public_risk_weekend_ratios(models, rule)
    results = records(models) if len(models) else []
    qs = _with_q(results)
    return {"analysis": "risk_weekend_effect", "site": site, "analyte": a, "kind": kind, "test": method,
            "results": results, "q_values": qs, "events": rows, "alpha": d.get("alpha")}


@router.get("/alerts", response_model=AnalysisOut, summary="Unusually high days vs the same weekdays before",
            responses=ERRS)
def alerts(engine: EngineDep, settings: SettingsDep, site: SiteReq, analyte: AnalyteOpt = None,
           start: FromQ = None, end: ToQ = None, loq_method: LoqQ = "loq_half",
           false_alarm_rate: Annotated[float, Query(gt=0, lt=0.5)] = 0.01,
           only_alerts: Annotated[bool, Query(description="Return only days that alert.")] = True,
           p: Principal = Viewer):
    """`wastewater.stats.alerts.same_weekday_alerts` (robust z on the log scale against the
    previous 8 same weekdays). `p_value` = one-sided normal tail of `robust_z` (an approximation
    used only to rank days and form BH q-values across every tested day × analyte; the
    `alert` flag itself uses the library's small-sample threshold). After a visible
    `method_change` event a day's history holds only values of the new method
    (`segment_start`, `n_history_cut`); until it has 4 of them the day is not tested."""
    from scipy.stats import norm

    check_range(start, end)
    require_site(engine, p, settings, site)
    ds = _site_dataset(engine, site, _analytes_param(analyte), loq_method, start, end)
    fn = ANALYSES["alerts"]
    names = ds["analyte"].values.tolist()
    changes = _method_changes(engine, settings, p, site, names)
    rows = []
    for a in names:
        s, c = _site_series(ds, site, a)
        if s.notna().sum() == 0:
            continue
        try:
            df = fn(s, censored=c, false_alarm_rate=false_alarm_rate, method_changes=changes.get(a))
        except (ValueError, LookupError):
            continue
        for date, r in df.iterrows():
            z = r["robust_z"]
            rows.append({"analyte": a, "date": pd.Timestamp(date).date().isoformat(),
                         **{k: json_safe(v) for k, v in r.items()},
                         "p_value": None if pd.isna(z) else float(norm.sf(z))})
    _with_q(rows)
    if only_alerts:
        rows = [r for r in rows if r.get("alert")]
    return {"analysis": "alerts", "site": site, "analyte": analyte and resolve_analyte(analyte),
            "results": rows, "q_values": [r["q_value"] for r in rows]}
