"""POST /import/odm (PHES-ODM tables stored as ordinary uploads) and GET /export/euda (our
campaign week in EUDA's all-data layout). The library side is :mod:`wastewater.interop.exchange`,
shared with ``wastewater odm import`` and ``wastewater euda export``."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, Principal, SettingsDep, require
from api.errors import ApiError, issues_to_errors, item, responses
from api.routers.common import content_disposition
from api.routers.uploads import _read_limited
from api.schemas import UploadOut
from api.services import require_site, resolve_analyte
from wastewater import access
from wastewater.csvout import neutralise
from wastewater.jsonsafe import json_safe

router = APIRouter(tags=["reference"])
_IMPORT = Depends(require("import_odm"))
_EXPORT_EUDA = Depends(require("exports"))

ODM_TABLES = ("measures", "samples", "sites", "qualityReports", "extPopulations")
"""ODM tables read from the upload (others are ignored); measures and samples are required."""


class OdmImportOut(BaseModel):
    """Result of an ODM import: one converted upload per kind, in storage order."""

    model_config = ConfigDict(extra="allow")
    ok: bool = True
    source: str = Field(..., description="Name of the ODM source, part of each upload's file name.")
    stored: bool = Field(..., description="At least one converted file was stored (false: all were duplicates).")
    files: list[UploadOut] = Field(..., description="Converted sites, flows and results uploads with their "
                                   "validation reports (`filename` = odm_<source>_<kind>.csv).")


def _odm_files(parts: list[tuple[str, bytes]], max_bytes: int) -> dict[str, bytes]:
    """``{table: bytes}`` from several CSV files or one zip (members' base names count)."""
    if len(parts) == 1 and parts[0][1][:4] == b"PK\x03\x04":
        try:
            zf = zipfile.ZipFile(io.BytesIO(parts[0][1]))
            members = [m for m in zf.infolist() if not m.is_dir()]
            total = sum(m.file_size for m in members)
            if total > max_bytes:
                raise ApiError(413, "upload too large", [item(
                    "too_large", f"the zip expands to {total} bytes, over the limit of {max_bytes}; "
                    "send fewer rows per import", limit_bytes=max_bytes)])
            parts = [(m.filename, zf.read(m)) for m in members]
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError) as exc:
            raise ApiError(422, "import rejected", [item("bad_zip", f"the zip cannot be read: {exc}",
                                                         column="files")]) from exc
    out: dict[str, bytes] = {}
    for name, data in parts:
        p = PurePosixPath((name or "").replace("\\", "/"))
        if p.suffix.lower() != ".csv" or p.stem not in ODM_TABLES:
            continue
        if p.stem in out:
            raise ApiError(422, "import rejected", [item(
                "duplicate_table", f"two files hold the ODM table {p.stem!r}; send it once", column="files")])
        out[p.stem] = data
    missing = [t for t in ("measures", "samples") if t not in out]
    if missing:
        raise ApiError(422, "import rejected", [item(
            "missing_table", f"no {', '.join(m + '.csv' for m in missing)} in the upload; send the ODM "
            f"tables {', '.join(t + '.csv' for t in ODM_TABLES)} (measures and samples required) as files "
            "or in one zip", column="files")])
    return out


@router.post(
    "/import/odm",
    response_model=OdmImportOut,
    status_code=201,
    summary="Import PHES-ODM v2 tables as ordinary uploads (analyst, admin)",
    responses={
        201: {"model": OdmImportOut, "description": "Stored (sites, then flows, then results)."},
        200: {"model": OdmImportOut, "description": "Every converted file was stored before (`duplicate=true`); "
              "nothing stored again."},
        **responses(401, 403, 413, 422, 503),
    },
)
async def import_odm(
    engine: EngineDep,
    settings: SettingsDep,
    files: Annotated[list[UploadFile], File(
        description="measures.csv and samples.csv (required), sites.csv, qualityReports.csv and "
                    "extPopulations.csv (optional) as separate files, or one .zip holding them.")],
    source: Annotated[str | None, Query(
        min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._-]+$",
        description="Name of the ODM source for the upload file names (default: the zip's name, else `api`).")] = None,
    p: Principal = _IMPORT,
):
    """The ODM tables are converted (`wastewater.interop.odm.import_odm`; concentrations in ng/L,
    flows in m³/day) to the service's own sites, flows and results CSV files, which are validated
    and stored like any `POST /uploads/{kind}`: same validation report, supersession history,
    verbatim storage of the converted file, audit-log entry per stored upload with this key as
    actor. All converted files are validated first; if any has an error nothing is stored and
    the answer is `422` with every error (line numbers refer to the converted file, which the
    response names). Keys with a site scope may import only their sites, and only admin keys
    may add or change sites and populations (as `POST /uploads/sites`): an analyst's import
    whose sites table differs from the stored sites is refused with `403`."""
    from wastewater.interop.exchange import import_odm_tables
    from wastewater.interop.odm import read_odm_csv

    parts, total = [], 0
    for f in files:
        data = await _read_limited(f, settings.max_upload_bytes)
        total += len(data)
        if total > settings.max_upload_bytes:
            raise ApiError(413, "upload too large", [item(
                "too_large", f"the files together exceed the limit of {settings.max_upload_bytes} bytes; "
                "send fewer rows per import", limit_bytes=settings.max_upload_bytes)])
        parts.append((f.filename or "", data))
    tables_bytes = _odm_files(parts, settings.max_upload_bytes)
    if source is None:
        zname = parts[0][0] if len(parts) == 1 and parts[0][0].lower().endswith(".zip") else ""
        source = PurePosixPath(zname.replace("\\", "/")).stem if zname else "api"
    try:
        tables = read_odm_csv({f"{k}.csv": v for k, v in tables_bytes.items()})
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(422, "import rejected", [item("unreadable_csv", f"an ODM table is not UTF-8 CSV: {exc}",
                                                     column="files")]) from exc
    try:
        outs = await run_in_threadpool(lambda: import_odm_tables(  # off the event loop
            engine, tables, source=source, uploader=p.name, allowed_sites=p.sites,
            sites_writable=access.may(p, "upload_sites")))
    except PermissionError as exc:
        raise ApiError(403, "forbidden", [item("role", str(exc), column="files")]) from exc
    except KeyError as exc:
        raise ApiError(422, "import rejected", [item("odm_import", f"missing ODM column {exc}; see "
                                                     "docs/interop.md", column="files")]) from exc
    except ValueError as exc:
        code = "site_out_of_scope" if "scope" in str(exc) else "odm_import"
        raise ApiError(403 if code == "site_out_of_scope" else 422,
                       "forbidden" if code == "site_out_of_scope" else "import rejected",
                       [item(code, str(exc), column="files")]) from exc
    file_bodies = []
    for o in outs:
        body = json_safe(o.to_dict())
        body["ok"] = not o.rejected
        body.setdefault("rows_inserted", 0)
        file_bodies.append(body)
    if any(o.rejected for o in outs):
        errors = []
        for o in outs:
            errors += [dict(e, file=o.filename) for e in issues_to_errors(o.report) if e.get("severity") == "error"]
        return JSONResponse({"ok": False, "status": 422, "error": "import rejected", "errors": errors,
                             "source": source, "stored": False, "files": file_bodies}, status_code=422)
    stored = any(o.outcome is not None and o.outcome.stored for o in outs)
    return JSONResponse({"ok": True, "source": source, "stored": stored, "files": file_bodies},
                        status_code=201 if stored else 200)


EUDA_CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                  "description": "`ww2025-all-data.csv` layout: Year, Metabolite, Site ID, Country, City, "
                                 "Wednesday…Tuesday, Weekday mean, Weekend mean, Daily mean; values in "
                                 "mg/day/1000 inhabitants, two decimals, below LOQ = 0, blank = missing "
                                 "(or suppressed for anonymous callers)."}}


@router.get("/export/euda", summary="Our campaign week in EUDA all-data layout (mg/day/1000 inhabitants)",
            response_class=Response, responses={**EUDA_CSV, **responses(401, 403, 404, 422, 503)})
def export_euda(
    engine: EngineDep,
    settings: SettingsDep,
    site: Annotated[str, Query(min_length=1, max_length=64, description="Site id.")],
    year: Annotated[int, Query(ge=2000, le=2100, description="Campaign year (EUDA's `Year`).")],
    week_start: Annotated[dt.date | None, Query(
        description="The campaign Wednesday, YYYY-MM-DD, in `year` (default: the first Wednesday on or "
                    "after 1 March).")] = None,
    analyte: Annotated[list[str] | None, Query(
        description="Analyte id or alias; repeat. Default: every analyte EUDA reports.")] = None,
    p: Principal = _EXPORT_EUDA,
):
    """Daily population-normalised loads `load_mg_per_day_per_1000` [mg/day/1000 inhabitants] of
    one site for the Wednesday…Tuesday week, from the stored results, flows and de jure
    population (`wastewater.timeseries.build_dataset`), with EUDA's weekday/weekend/daily means.
    Needs a key (policy resource `exports`): the Wednesday–Tuesday week straddles two ISO weeks,
    so with the public weekly means it could be solved for single days. Keys see their sites'
    daily values. Text cells are formula-neutralised."""
    from wastewater.interop.euda import ALL_DATA_COLUMNS, format_euda_all_data
    from wastewater.interop.exchange import (
        default_week_start,
        euda_campaign_rows,
    )

    require_site(engine, p, settings, site)
    start = week_start or default_week_start(year)
    if start.year != year:
        raise ApiError(422, "invalid request parameters",
                       [item("week_start_year", f"week_start {start} is not in {year}", column="week_start")])
    if start.weekday() != 2:
        raise ApiError(422, "invalid request parameters",
                       [item("not_wednesday", f"week_start {start} is a {start:%A}; EUDA campaign weeks run "
                             "Wednesday…Tuesday, pass the Wednesday", column="week_start")])
    analytes = [resolve_analyte(a) for a in analyte] if analyte else None
    try:
        rows = euda_campaign_rows(engine, sites=[site], week_start=start, analytes=analytes)
    except ValueError as exc:
        raise ApiError(422, "invalid request parameters", [item("euda_analyte", str(exc), column="analyte")]) from exc
    if not rows:
        raise ApiError(404, "not found", [item(
            "no_results", f"no results for {site} in the week {start} … {start + dt.timedelta(days=6)}",
            column="week_start")])
    text_cols = ("Metabolite", "Site ID", "Country", "City")
    rows = [{k: (neutralise(str(v)) if k in text_cols else v) for k, v in r.items()} for r in rows]
    body = format_euda_all_data([{c: r[c] for c in ALL_DATA_COLUMNS} for r in rows]).encode("utf-8")
    headers = {"Content-Disposition": content_disposition(f"euda_all_data_{site}_{start}.csv"),
               "Cache-Control": "private, no-cache" if not p.is_public else "public, no-cache",
               "Vary": "X-API-Key, Authorization"}
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
