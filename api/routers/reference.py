"""EUDA reference data (GET /reference/euda, admin POST /reference/euda/import) and the
PHES-ODM export (GET /export/odm)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.deps import (
    EngineDep,
    PageDep,
    Principal,
    SettingsDep,
    paginate,
    require,
)
from api.errors import ApiError, item, responses
from api.routers.common import (
    CSV_RESPONSE,
    DialectQ,
    FormatQ,
    FromQ,
    ToQ,
    check_range,
    csv_response,
)
from api.routers.uploads import _read_limited
from api.schemas import PageOut, ReferenceOut
from api.security import audit
from api.services import records, repository, resolve_analyte, visible_site_ids
from wastewater.interop import euda as euda_lib
from wastewater.interop import odm
from wastewater.interop.reference_series import parse_reference_series
from wastewater.interop.store import (
    import_euda,
    import_reference_series,
    load_published_means,
    load_reference,
    load_reference_series,
)

router = APIRouter(tags=["reference"])
_ADMIN_IMPORT = Depends(require("import_euda"))
_EXPORT = Depends(require("daily_values", "the PHES-ODM export (single results)"))
_REFERENCE = Depends(require("reference"))


@router.get("/reference/euda", response_model=PageOut[ReferenceOut],
            summary="EUDA multi-city reference values (mg/day/1000 inhabitants)",
            responses={**responses(422, 503), 200: CSV_RESPONSE})
def euda(
    request: Request, engine: EngineDep, page: PageDep,
    country: Annotated[str | None, Query(max_length=64)] = None,
    analyte: Annotated[str | None, Query(max_length=64)] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    site_id: Annotated[str | None, Query(max_length=64, description="EUDA site id.")] = None,
    source: Annotated[str | None, Query(max_length=32, description="Release label, e.g. EUDA-2025.")] = None,
    format: FormatQ = "json", dialect: DialectQ = "machine",
    p: Principal = _REFERENCE,
):
    """Published daily values of the EUDA/SCORE campaigns (public data, no key needed);
    `value_mg_per_day_per_1000` is the residue load without excretion correction."""
    a = resolve_analyte(analyte) if analyte else None
    rows = records(load_reference(engine, source=source, country=country, analyte=a, year=year, site_id=site_id))
    if format == "csv":
        return csv_response(rows, dialect, "euda_reference.csv")
    return paginate(request, rows, page)


def _euda_source(engine, source: str | None) -> str:
    """The requested release, else the newest imported one (404 when none is imported)."""
    if source:
        return source
    frame = load_published_means(engine)
    if frame.empty:
        raise ApiError(404, "not found", [item("no_reference", "no EUDA release is imported; an admin "
                                               "imports one with POST /reference/euda/import")])
    return str(sorted(frame["source"].unique())[-1])


@router.get("/reference/euda/means", response_model=PageOut[dict],
            summary="EUDA site-year means: published Daily/Weekday/Weekend means and our recomputation",
            responses={**responses(404, 422), 200: CSV_RESPONSE})
def euda_means(
    request: Request, engine: EngineDep, page: PageDep,
    country: Annotated[str | None, Query(max_length=64)] = None,
    analyte: Annotated[str | None, Query(max_length=64)] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    site_id: Annotated[str | None, Query(max_length=64, description="EUDA site id.")] = None,
    source: Annotated[str | None, Query(max_length=32, description="Release label; default the newest.")] = None,
    format: FormatQ = "json", dialect: DialectQ = "machine",
    p: Principal = _REFERENCE,
):
    """`daily_mean`, `weekday_mean`, `weekend_mean` are EUDA's figures **as published**
    [mg/day/1000 inhabitants], with the days they cover in that year (`weekday_days`,
    `weekend_days`: Tue–Thu / Fri–Mon, 2021 Tue–Fri / Sat–Mon). The `*_recomputed` means are
    recomputed from the published days (`wastewater.interop.euda.site_year_means`); they agree
    within 0.02 where `all_days_present`, and differ where EUDA averaged a week with a missing
    day differently. Public data, no key needed."""
    src = _euda_source(engine, source)
    a = resolve_analyte(analyte) if analyte else None
    pub = load_published_means(engine, source=src, country=country, analyte=a, year=year, site_id=site_id)
    long = load_reference(engine, source=src, country=country, analyte=a, year=year, site_id=site_id)
    rows = records(euda_lib.site_year_means(pub, long))
    if format == "csv":
        return csv_response(rows, dialect, "euda_means.csv")
    return paginate(request, rows, page)


@router.get("/reference/euda/changes", response_model=PageOut[dict],
            summary="EUDA year-on-year change per site: change_percent and the ±10 % class",
            responses={**responses(404, 422), 200: CSV_RESPONSE})
def euda_changes(
    request: Request, engine: EngineDep, page: PageDep,
    year: Annotated[int, Query(ge=2001, le=2100, description="Current campaign year.")] = 2024,
    previous_year: Annotated[int | None, Query(ge=2000, le=2100, description="Default year − 1.")] = None,
    analyte: Annotated[str | None, Query(max_length=64)] = None,
    country: Annotated[str | None, Query(max_length=64)] = None,
    source: Annotated[str | None, Query(max_length=32, description="Release label; default the newest.")] = None,
    format: FormatQ = "json", dialect: DialectQ = "machine",
    p: Principal = _REFERENCE,
):
    """From the published daily means: `change_percent` = (current − previous)/previous × 100 [%]
    and `change_class` `increase` (≥ +10 %), `decrease` (≤ −10 %), `stable` or
    `no previous data`, as in EUDA's changes table ([EUDA2025]_)."""
    src = _euda_source(engine, source)
    a = resolve_analyte(analyte) if analyte else None
    pub = load_published_means(engine, source=src, country=country, analyte=a)
    ch = euda_lib.euda_changes(pub, year=year, previous_year=previous_year)
    rows = records(ch)
    if format == "csv":
        return csv_response(rows, dialect, "euda_changes.csv")
    return paginate(request, rows, page)


@router.get("/reference/euda/trend", summary="EUDA fixed-cohort trend of the daily means",
            responses=responses(404, 422))
def euda_trend(
    engine: EngineDep,
    analyte: Annotated[str, Query(max_length=64)] = "benzoylecgonine",
    first_year: Annotated[int, Query(ge=2000, le=2100)] = 2011,
    last_year: Annotated[int, Query(ge=2000, le=2100)] = 2024,
    source: Annotated[str | None, Query(max_length=32, description="Release label; default the newest.")] = None,
    p: Principal = _REFERENCE,
) -> dict:
    """Yearly mean of the published daily means of the fixed cohort of sites that have a value in
    every year of the range (EUDA's aggregated trend; 2011–2024 benzoylecgonine: 7 sites)."""
    src = _euda_source(engine, source)
    a = resolve_analyte(analyte)
    try:
        trend, cohort = euda_lib.cohort_trend(load_published_means(engine, source=src, analyte=a),
                                              analyte=a, first_year=first_year, last_year=last_year)
    except ValueError as exc:
        raise ApiError(422, "invalid request parameters", [item("cohort", str(exc), column="first_year")]) from exc
    return {"source": src, "analyte": a, "first_year": first_year, "last_year": last_year,
            "unit": "mg/day/1000 inhabitants", "cohort": cohort, "n_sites": len(cohort),
            "years": records(trend)}


@router.get("/reference/series", response_model=PageOut[dict],
            summary="National reference series: published population-normalised loads (e.g. Statistics Canada)",
            responses={**responses(422), 200: CSV_RESPONSE})
def reference_series(
    request: Request, engine: EngineDep, page: PageDep,
    analyte: Annotated[str | None, Query(max_length=64)] = None,
    series_id: Annotated[str | None, Query(max_length=100, description="e.g. vancouver-british-columbia.")] = None,
    country: Annotated[str | None, Query(max_length=8)] = None,
    source: Annotated[str | None, Query(max_length=32)] = None,
    start: FromQ = None, end: ToQ = None,
    format: FormatQ = "json", dialect: DialectQ = "machine",
    p: Principal = _REFERENCE,
):
    """Monthly (or weekly) loads as the national programme published them
    [mg/day/1000 people], with the published 95 % interval (`lo95_…`, `hi95_…`), standard error,
    imputation rate [%] and quality `status` (`E` = use with caution). Not results: the
    programme publishes loads, not per-sample concentrations. Public data."""
    check_range(start, end)
    a = resolve_analyte(analyte) if analyte else None
    rows = records(load_reference_series(engine, source=source, series_id=series_id, analyte=a,
                                         country=country, start=start, end=end))
    if format == "csv":
        return csv_response(rows, dialect, "reference_series.csv")
    return paginate(request, rows, page)


@router.post("/reference/series/import", status_code=201,
             summary="Import a national table of normalised loads as reference series (admin)",
             responses={201: {"description": "Rows inserted, updated, unchanged."},
                        **responses(401, 403, 413, 422)})
async def reference_series_import(
    engine: EngineDep, settings: SettingsDep,
    file: Annotated[UploadFile, File(description="The national table, e.g. StatCan 13100871.csv")],
    table_format: Annotated[Literal["statcan-13100871"],
                            Query(alias="format", description="Table format.")] = "statcan-13100871",
    source: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    p: Principal = _ADMIN_IMPORT,
) -> dict:
    """Stores new and changed rows only: re-importing the same table stores nothing new
    (`inserted` = `updated` = 0)."""
    data = await _read_limited(file, settings.max_upload_bytes)
    try:
        counts = import_reference_series(engine, parse_reference_series(data, format=table_format, source=source))
    except ValueError as exc:
        raise ApiError(422, "import rejected", [item("reference_series", str(exc), column="file")]) from exc
    audit(engine, p.name, "reference_series_imported", f"reference/{table_format}",
          {"file": file.filename, **counts})
    return {"ok": True, "format": table_format, **counts}


@router.post("/reference/euda/import", status_code=201, summary="Import an EUDA release (admin)",
             responses={201: {"description": "Rows written per table."}, **responses(401, 403, 413, 422, 503)})
async def euda_import(
    engine: EngineDep, settings: SettingsDep,
    all_data: Annotated[UploadFile, File(description="ww2025-all-data.csv")],
    site_info: Annotated[UploadFile, File(description="ww2025-site-info-table.csv")],
    source: Annotated[str, Query(min_length=1, max_length=32)] = "EUDA-2025",
    p: Principal = _ADMIN_IMPORT,
) -> dict:
    """Replaces the earlier import of the same `source` in one transaction."""
    a = await _read_limited(all_data, settings.max_upload_bytes)
    s = await _read_limited(site_info, settings.max_upload_bytes)
    try:
        # parsing and storing off the event loop; the audit row is written in the same transaction
        counts = await run_in_threadpool(lambda: import_euda(engine, a, s, source=source, actor=p.name))
    except (ValueError, KeyError) as exc:
        raise ApiError(422, "import rejected", [item(type(exc).__name__, str(exc))]) from exc
    return {"ok": True, "source": source, **dict(counts)}


@router.get("/export/odm", summary="PHES-ODM v2 export of results, samples, sites and populations",
            response_class=Response,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}},
                                         "application/json": {"schema": {"type": "object"}}},
                             "description": "One ODM table (CSV) or all tables (JSON)."},
                       **responses(401, 403, 404, 422, 503)})
def export_odm(
    engine: EngineDep, settings: SettingsDep,
    site: Annotated[str | None, Query(max_length=64)] = None,
    start: FromQ = None, end: ToQ = None,
    table: Annotated[Literal["measures", "samples", "sites", "qualityReports", "extPopulations"],
                     Query(description="ODM table returned as CSV.")] = "measures",
    format: Annotated[Literal["csv", "json"], Query(description="`json`: every table.")] = "csv",
    p: Principal = _EXPORT,
):
    """`wastewater.interop.odm.export_odm` on the visible sites: valid PHES-ODM v2.2.3 tables
    (concentrations in ng/L, unit `ngL`; the extension parts ODM lacks are listed in
    docs/interop.md). CSV cells are formula-neutralised like every CSV of the API."""
    check_range(start, end)
    sites = visible_site_ids(engine, p, settings)
    if site:
        if site not in sites:
            raise ApiError(404, "not found", [item("unknown_site", f"no site {site!r} visible to this key",
                                                   column="site")])
        sites = [site]
    r = repository()
    results = r.load_results(engine, sites=sites, start=start, end=end, roles=None) if sites else None
    if results is None or results.empty:
        raise ApiError(404, "not found", [item("no_results", "no results to export for these sites and dates")])
    site_attrs = r.load_sites(engine)
    site_attrs = site_attrs[site_attrs["site"].isin(sites)]
    pops = r.load_populations(engine, sites=sites).rename(
        columns={"year": "population_year", "method": "population_method"})
    attrs = site_attrs.drop(columns=["population", "population_year", "population_method"], errors="ignore")
    site_rows = attrs.merge(pops, on="site", how="left") if len(pops) else site_attrs
    flows = r.load_flows(engine, sites=sites, start=start, end=end)
    try:
        tables = odm.export_odm(results, site_rows, flows)
    except ValueError as exc:
        raise ApiError(422, "export not possible", [item("odm_export", str(exc))]) from exc
    if format == "json":
        import json

        return Response(json.dumps({k: records(v) for k, v in tables.items()}, default=str),
                        media_type="application/json")
    return csv_response(records(tables[table]), "machine", f"odm_{table}.csv")
