"""GET /series: one site × analyte in canonical units (daily, or weekly means for the public).

Read path: one SELECT gives the key (if any), the site's visibility and the series' data
version (:func:`api.services.series_access`, one worker-thread call; the endpoint itself is
async); the ETag follows from the version and the request, so a matching ``If-None-Match``
is answered 304 before anything is read or computed. Otherwise the response bytes come from a
per-process cache keyed by (site, analyte, measure, options, representation, data version);
a miss reads the derived daily-series store once (:func:`wastewater.analysis.read_series`, in
a second worker-thread call).
The version lives in the database, so every worker's cache is invalidated by the same commit
that changes the data.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.deps import TokenDep
from api.errors import ApiError, item, responses
from api.routers.common import DialectQ, FromQ, ToQ, check_range, content_disposition
from api.schemas import SeriesOut
from api.services import RESPONSE_CACHE, resolve_analyte, series_access
from wastewater import access
from wastewater.analysis import BOUNDS, MEASURES, read_series, weekly_means
from wastewater.csvout import Dialect, frame_to_csv
from wastewater.jsonsafe import dumps_bytes, json_column
from wastewater.uncertainty import INTERVAL_KINDS, components_for, interval_fields

router = APIRouter(tags=["series"])

SERIES_RESPONSES = {
    **responses(401, 403, 404, 422, 503),
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-netcdf": {"schema": {"type": "string", "format": "binary"}},
        },
        "description": "The series (JSON, CSV or NetCDF). Carries `ETag` and `Last-Modified`.",
        "headers": {"ETag": {"schema": {"type": "string"}}, "Last-Modified": {"schema": {"type": "string"}}},
    },
    304: {"description": "Not modified (the `If-None-Match` ETag matches)."},
}

_MEDIA = {"json": "application/json", "csv": "text/csv; charset=utf-8", "netcdf": "application/x-netcdf"}


@router.get("/series", response_model=SeriesOut, summary="Time series of one site and analyte",
            responses=SERIES_RESPONSES)
async def get_series(
    request: Request,
    token: TokenDep,
    site: Annotated[str, Query(min_length=1, max_length=64, description="Site id.")],
    analyte: Annotated[str, Query(min_length=1, max_length=64, description="Analyte id or alias.")],
    measure: Annotated[
        Literal["concentration", "load", "load_per_1000", "consumption", "doses"],
        Query(description="concentration [ng/L], load [mg/day], load_per_1000 [mg/day/1000], "
                          "consumption [mg parent/day/1000], doses [doses/day/1000]."),
    ] = "load_per_1000",
    start: FromQ = None,
    end: ToQ = None,
    loq_method: Annotated[
        Literal["loq_half", "loq_sqrt2", "zero", "loq"],
        Query(description="Substitution of censored values (LOQ/2 by default)."),
    ] = "loq_half",
    cf_id: Annotated[str | None, Query(max_length=100, description="Correction factor id (consumption/doses).")] = None,
    ci: Annotated[Literal["none", "analytic", "montecarlo"], Query(description="95 % interval method.")] = "none",
    format: Annotated[Literal["json", "csv", "netcdf"], Query(description="Response format.")] = "json",
    dialect: DialectQ = "machine",
    smooth: Annotated[Literal["none", "median7", "mean7"], Query(
        description="Add `{value_field}_{smooth}`: the 7-day trailing median or mean of the daily values "
                    "(days t-6..t with a value; `wastewater.smoothing`). Daily series only.")] = "none",
):
    """Daily values for keys (viewer and above). Anonymous callers get only catchments with at
    least `min_public_population` inhabitants and only **whole ISO-week means**: each week is
    computed over all its days whatever `from`/`to` say (the window only selects the weeks that
    touch it), and weeks with fewer than `min_public_days_per_week` measured days are left out
    (`wastewater.access.public_weeks`). Value field and bounds carry the unit of `measure`.
    `ETag` is the data version of the series with the request's options: revalidate with
    `If-None-Match`."""
    engine, settings = request.app.state.engine, request.app.state.settings
    check_range(start, end)
    a = resolve_analyte(analyte)
    _check_measure(a, measure, cf_id)
    # the one database round trip of a cached or 304 answer, in one worker thread
    p, version, changed_at = await run_in_threadpool(series_access, engine, token, settings, site, a)
    # THE policy: daily values, or the public whole-ISO-week means (wastewater.access)
    weekly = not access.may(p, "daily_values")
    if weekly:
        access.check(p, "weekly_means")
    if smooth != "none" and weekly:
        raise ApiError(422, "invalid request parameters", [item(
            "smooth_weekly", "smoothing applies to daily series; anonymous readers get weekly means, "
            "ask for a key to smooth daily values", column="smooth")])
    # the public weeks also depend on the day (a week with a missing day closes two weeks after
    # its Sunday, wastewater.access.week_is_closed): their key and ETag carry today's date
    # the version's time too: a restored backup or another database in the same process can
    # count a series' versions from the start again
    key = (site, a, measure, start, end, loq_method, cf_id, ci, format,
           dialect if format == "csv" else "", weekly, version, changed_at, smooth,
           dt.date.today() if weekly else None)
    etag = '"' + hashlib.blake2b(repr(key).encode(), digest_size=16).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache" if not weekly else "public, no-cache",
               "Vary": "X-API-Key, Authorization"}
    if changed_at is not None:
        headers["Last-Modified"] = email.utils.format_datetime(changed_at.astimezone(dt.UTC), usegmt=True)
    inm = request.headers.get("if-none-match")
    if inm:  # RFC 9110 §13.2.2: If-None-Match takes precedence over If-Modified-Since
        if etag in [tag.strip() for tag in inm.split(",")] or inm.strip() == "*":
            return Response(status_code=304, headers=headers)
    elif changed_at is not None and request.headers.get("if-modified-since"):
        try:
            since = email.utils.parsedate_to_datetime(request.headers["if-modified-since"])
        except (TypeError, ValueError):
            since = None
        if since is not None and since.tzinfo is not None and changed_at.replace(microsecond=0) <= since:
            return Response(status_code=304, headers=headers)
    content = RESPONSE_CACHE.get(key)
    if content is None:
        content = await run_in_threadpool(
            _render, engine, site, a, measure, start, end, loq_method, cf_id, ci, format, dialect,
            access.PublicRule.from_settings(settings) if weekly else None, smooth)
        RESPONSE_CACHE.put(key, content)
    if format != "json":
        ext = "csv" if format == "csv" else "nc"
        headers["Content-Disposition"] = content_disposition(f"series_{site}_{a}_{measure}.{ext}")
    return Response(content, media_type=_MEDIA[format], headers=headers)


def _check_measure(a: str, measure: str, cf_id: str | None) -> None:
    if cf_id is not None and measure not in ("consumption", "doses"):
        raise ApiError(422, "invalid request parameters",
                       [item("cf_id_unused", "cf_id applies only to measure=consumption or doses", column="cf_id")])
    if cf_id is not None:
        from wastewater.parameters import get_correction_factor

        entry = get_correction_factor(cf_id)
        if entry.analyte != a:
            raise ApiError(422, "invalid request parameters",
                           [item("cf_id_analyte", f"cf_id {cf_id!r} is for analyte {entry.analyte!r}, not {a!r}",
                                 column="cf_id")])
    if measure in ("consumption", "doses"):
        from wastewater.parameters import correction_factors_for

        if cf_id is None and not correction_factors_for(a):
            raise ApiError(422, "invalid request parameters",
                           [item("no_correction_factor", f"analyte {a!r} has no catalogued correction factor; "
                                 "use measure=load_per_1000", column="measure")])


def _render(engine, site: str, a: str, measure: str, start, end, loq_method: str, cf_id: str | None,
            ci: str, format: str, dialect: Dialect, rule: access.PublicRule | None, smooth: str = "none") -> bytes:
    """The response body of one series representation (what the cache holds); ``rule`` set =
    the public rule's whole-ISO-week means."""
    field, unit = MEASURES[measure]
    weekly = rule is not None
    # public: every week is computed over all its days, whatever window was asked
    load_start, load_end = access.whole_week_bounds(start, end) if weekly else (start, end)
    daily = read_series(engine, site, a, measure, start=load_start, end=load_end, loq_method=loq_method,
                        cf_id=cf_id, ci=ci, public=rule)
    bounds = interval_fields(field)  # level_lo95 -> level_lo95_mg_per_day_per_1000 ...
    if weekly:
        # whole-week means with their shared-draw intervals, then the public window/minimum rule
        frame = access.public_week_filter(weekly_means(daily, site=site, analyte=a, variable=field, ci=ci,
                                                       public=True), start, end, rule)
        src: tuple[str, ...] = ("date", "iso_week", "value", *BOUNDS, "n_days", "n_censored")
        n_cens = int(frame["n_censored"].sum()) if len(frame) else 0
    else:
        frame = daily.assign(censored=daily["censored"].astype(bool))
        src = ("date", "value", *BOUNDS, "censored")
        n_cens = int(np.sum(daily["censored"].to_numpy(dtype=bool) & daily["value"].notna().to_numpy()))
    keys = tuple(field if c == "value" else bounds.get(c, c) for c in src)
    if smooth != "none" and not weekly:
        from wastewater.smoothing import smooth as smooth_series

        frame = frame.assign(smoothed=smooth_series(
            pd.Series(frame["value"].to_numpy(float), index=pd.to_datetime(frame["date"])), smooth).to_numpy())
        keys, src = (*keys, f"{field}_{smooth}"), (*src, "smoothed")
    if format == "csv":
        points = [dict(zip(keys, (r[c] for c in src), strict=True)) for r in frame.to_dict("records")]
        cols = ["site", "analyte"] + list(points[0].keys()) if points else ["site", "analyte", "date", field]
        df = pd.DataFrame([{"site": site, "analyte": a, **pt} for pt in points], columns=cols)
        return frame_to_csv(df, dialect)
    columns = [json_column(frame[c]) for c in src]  # JSON points column by column
    json_points = [dict(zip(keys, vals, strict=True)) for vals in zip(*columns, strict=True)]
    body = {
        "site": site, "analyte": a, "measure": measure, "value_field": field, "unit": unit,
        "aggregation": "weekly_mean" if weekly else "daily", "loq_method": loq_method, "ci": ci,
        "intervals": interval_info(field, unit, ci, weekly=weekly),
        "n_censored": n_cens, "smooth": smooth, "points": json_points,
    }
    if format == "netcdf":
        return _netcdf(body)
    return dumps_bytes(body)


def interval_info(field: str, unit: str, ci: str, *, weekly: bool) -> dict:
    """What each interval in the points is: field names, unit, components, meaning."""
    if ci == "none":
        return {}
    names = interval_fields(field)
    return {kind: {"lo95_field": names[f"{kind}_lo95"], "hi95_field": names[f"{kind}_hi95"],
                   "unit": unit, "coverage": 0.95, "method": ci,
                   "components": list(components_for(field, kind)), "meaning": INTERVAL_KINDS[kind],
                   "of": "weekly mean (computed on the draws of its days, each at the week's mean)" if weekly
                   else "daily value"}
            for kind in INTERVAL_KINDS}


def _netcdf(body: dict) -> bytes:
    """CF-1.10 netCDF of the series (attributes from `wastewater.export.cf_attrs`)."""
    from wastewater.export import dataset_to_netcdf, series_to_dataset

    field = body["value_field"]
    ds = series_to_dataset(body["points"], value_field=field, site=body["site"],
                           analyte=body["analyte"],
                           attrs={k: str(body[k]) for k in ("measure", "aggregation", "loq_method", "ci")})
    # the named intervals: {value_field}_{kind}_{lo95|hi95}, so CF units follow the value field
    ds = ds.drop_vars([f"{field}_lo95", f"{field}_hi95"], errors="ignore")
    pts = body["points"]
    for kind, info in body["intervals"].items():
        for bound, key in (("lower", info["lo95_field"]), ("upper", info["hi95_field"])):
            name = f"{field}_{kind}_{'lo95' if bound == 'lower' else 'hi95'}"
            ds[name] = ("date", np.array([pt.get(key) if pt.get(key) is not None else np.nan
                                          for pt in pts], dtype=np.float64))
            ds[name].attrs.update({
                "interval_kind": kind, "bound": bound, "coverage": 0.95, "api_field": key,
                "components": ",".join(info["components"]), "description": info["meaning"],
                "method": info["method"], "interval_of": info["of"]})
    return dataset_to_netcdf(
        ds, title=f"Wastewater {body['measure']} of {body['analyte']} at {body['site']} "
                  f"({body['aggregation'].replace('_', ' ')})",
        source="24 h composite samples of raw wastewater influent analysed by laboratories "
               f"(GET /api/v1/series, loq_method={body['loq_method']}, ci={body['ci']})",
        history="daily series read from the service's series store (GET /api/v1/series); "
                "converted to CF-1.10 netCDF by wastewater.export")
