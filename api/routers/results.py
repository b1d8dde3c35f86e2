"""GET /samples, /results, /results/history: single results (authorised roles only)."""

from __future__ import annotations

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request

from api.deps import EngineDep, PageDep, Principal, SettingsDep, paginate, require
from api.errors import ApiError, item, responses
from api.routers.common import (
    CSV_RESPONSE,
    AnalyteQ,
    DialectQ,
    FormatQ,
    FromQ,
    SiteQ,
    ToQ,
    check_range,
    csv_response,
)
from api.schemas import PageOut, ResultOut, SampleOut
from api.services import records, repository, require_site, resolve_analyte, visible_site_ids

router = APIRouter(tags=["results"])
Viewer = Depends(require("daily_values", "single results (the public gets weekly means from /series)"))


def _load(engine, settings, p, site, analyte, start, end, include_history):
    check_range(start, end)
    if site:
        require_site(engine, p, settings, site)
        sites = [site]
    else:
        sites = visible_site_ids(engine, p, settings)
    if not sites:
        return pd.DataFrame()
    analytes = [resolve_analyte(analyte)] if analyte else None
    df = repository().load_results(engine, sites=sites, analytes=analytes, start=start, end=end,
                                   include_history=include_history)
    if df.empty:
        return df
    sort = [c for c in ("sample_date", "site", "sample_id", "analyte", "replicate", "result_id") if c in df]
    return df.sort_values(sort).reset_index(drop=True)


@router.get("/results", response_model=PageOut[ResultOut], summary="Lab results",
            responses={**responses(401, 403, 404, 422, 503), 200: CSV_RESPONSE})
def list_results(
    request: Request, engine: EngineDep, settings: SettingsDep, page: PageDep,
    site: SiteQ = None, analyte: AnalyteQ = None, start: FromQ = None, end: ToQ = None,
    include_history: bool = Query(False, description="Include superseded versions (is_current=false)."),
    format: FormatQ = "json", dialect: DialectQ = "machine",
    p: Principal = Viewer,
):
    """Current results (concentrations in ng/L, flows in m³/day), optionally with history.
    Needs a key (viewer, lab, analyst, admin); scoped keys see their sites only."""
    rows = records(_load(engine, settings, p, site, analyte, start, end, include_history))
    if format == "csv":
        return csv_response(rows, dialect, "results.csv")
    return paginate(request, rows, page)


@router.get("/results/history", response_model=PageOut[ResultOut],
            summary="Every version of one sample's result", responses=responses(401, 403, 404, 422, 503))
def result_history(
    request: Request, engine: EngineDep, settings: SettingsDep, page: PageDep,
    sample_id: str = Query(..., min_length=1, max_length=128),
    analyte: str = Query(..., min_length=1, max_length=64),
    p: Principal = Viewer,
):
    """All stored versions (oldest first) with `is_current`, `superseded_by` and `upload_id`."""
    a = resolve_analyte(analyte)
    sites = visible_site_ids(engine, p, settings)
    df = repository().load_results(engine, sites=sites, analytes=[a], include_history=True) if sites else pd.DataFrame()
    if not df.empty:
        df = df[df["sample_id"] == sample_id].sort_values("result_id")
    if df.empty:
        raise ApiError(404, "not found", [item("unknown_result", f"no result for sample {sample_id!r}, analyte {a!r}",
                                               column="sample_id")])
    return paginate(request, records(df), page)


@router.get("/samples", response_model=PageOut[SampleOut], summary="Samples (one per sample_id)",
            responses={**responses(401, 403, 404, 422, 503), 200: CSV_RESPONSE})
def list_samples(
    request: Request, engine: EngineDep, settings: SettingsDep, page: PageDep,
    site: SiteQ = None, start: FromQ = None, end: ToQ = None,
    format: FormatQ = "json", dialect: DialectQ = "machine",
    p: Principal = Viewer,
):
    """One row per `sample_id` with its site, date, number of results and analytes."""
    df = _load(engine, settings, p, site, None, start, end, False)
    rows = []
    if not df.empty:
        for (sid, s, d), g in df.groupby(["sample_id", "site", "sample_date"], sort=False):
            rows.append({"sample_id": sid, "site": s, "sample_date": pd.Timestamp(d).date().isoformat(),
                         "n_results": len(g), "analytes": sorted(g["analyte"].unique().tolist())})
        rows.sort(key=lambda r: (r["sample_date"], r["site"], r["sample_id"]))
    if format == "csv":
        return csv_response(rows, dialect, "samples.csv")
    return paginate(request, rows, page)
