"""POST /uploads/{kind}, GET /uploads, /uploads/{id}, /uploads/{id}/raw."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from api.deps import (
    EngineDep,
    PageDep,
    Principal,
    PrincipalDep,
    SettingsDep,
    denied,
    paginate,
    require,
)
from api.errors import ApiError, issues_to_errors, item, responses
from api.routers.common import content_disposition
from api.schemas import PageOut, UploadMeta, UploadOut
from api.services import records, repository
from wastewater import access
from wastewater.jsonsafe import json_safe

router = APIRouter(tags=["uploads"])

#: the policy resource (wastewater.access) that decides who may upload which kind; a key's
#: site scope limits the rows it may write (labs: their own sites only)
KIND_RESOURCE = {
    "sites": "upload_sites",
    "events": "upload_events",
    "flows": "upload_results",
    "results": "upload_results",
}
CHUNK = 1024 * 1024


def _any_upload(p: PrincipalDep) -> Principal:
    """Dependency: the caller may upload at least one kind (which one is checked per file)."""
    if not any(access.may(p, r) for r in set(KIND_RESOURCE.values())):
        raise denied(access.AccessDenied(p, "upload_results", "uploads / uppladdningar"))
    return p


_UPLOAD = Depends(_any_upload)
_LIST = Depends(require("upload_metadata"))
_READ = Depends(require("upload_metadata"))
_RAW = Depends(require("raw_uploads"))


async def _read_limited(file: UploadFile, max_bytes: int) -> bytes:
    """Read the file, refusing with 413 as soon as it passes ``max_bytes``."""
    parts, size = [], 0
    while True:
        chunk = await file.read(CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, "upload too large", [item(
                "too_large",
                f"the file exceeds the limit of {max_bytes} bytes ({max_bytes / 1048576:.1f} MiB); "
                "split it into smaller files",
                limit_bytes=max_bytes)])
        parts.append(chunk)
    return b"".join(parts)


def _check_kind(p: Principal, kind: str) -> None:
    try:
        access.check(p, KIND_RESOURCE[kind])
    except access.AccessDenied as exc:
        raise denied(exc) from exc


def _scope_errors(p: Principal, kind: str, frame) -> list[dict]:
    """Rows naming a site outside the key's scope (labs upload for their own sites only)."""
    if p.sites is None and p.role != "lab":
        return []
    scope = p.sites or frozenset()
    errs = []
    if kind == "events":
        for r in frame.to_dict("records"):
            sites = list(r.get("sites") or [])
            bad = [s for s in sites if s not in scope] if sites else ["(all sites)"]
            if bad:
                errs.append(item("site_out_of_scope",
                                 f"this key may write only sites {sorted(scope)}; row names {bad}",
                                 line=json_safe(r.get("source_line")), column="sites"))
        return errs
    if "site" not in frame:
        return []
    for r in frame[["site", "source_line"] if "source_line" in frame else ["site"]].to_dict("records"):
        if r["site"] not in scope:
            errs.append(item("site_out_of_scope",
                             f"site {r['site']!r} is outside this key's scope {sorted(scope)}; "
                             "upload only your own sites",
                             line=json_safe(r.get("source_line")), column="site", value=r["site"]))
    return errs


def upload_limits(settings):
    """The deployment's upload limits (:class:`wastewater.upload_guard.UploadLimits`)."""
    from wastewater.upload_guard import UploadLimits

    return UploadLimits(max_uncompressed_bytes=settings.max_upload_uncompressed_bytes,
                        max_compression_ratio=settings.max_upload_compression_ratio,
                        max_rows=settings.max_upload_rows, max_seconds=settings.upload_time_limit_seconds,
                        max_parse_memory_bytes=settings.max_upload_parse_memory_bytes)


def _known_sites(engine) -> set[str]:
    df = repository().load_sites(engine)
    return set(df["site"]) if len(df) else set()


@router.post(
    "/uploads/{kind}",
    response_model=UploadOut,
    status_code=201,
    summary="Upload a CSV or XLSX file (validated, atomic)",
    responses={
        200: {"model": UploadOut, "description": "Dry run, or identical bytes already stored (`duplicate=true`)."},
        201: {"model": UploadOut, "description": "Stored."},
        **responses(401, 403, 413, 422, 503),
    },
)
async def upload(
    engine: EngineDep,
    settings: SettingsDep,
    kind: Annotated[Literal["sites", "flows", "results", "events", "auto"],
                    Path(description="What the file holds; `auto` detects it from the header.")],
    file: Annotated[UploadFile, File(description="CSV (`,` or `;`, either decimal sign) or .xlsx.")],
    dry_run: Annotated[bool, Query(description="Validate only; nothing is stored.")] = False,
    on_error: Annotated[Literal["reject", "skip"],
                        Query(description="`reject`: any error rejects the file; `skip`: store valid rows.")] = "reject",  # noqa: E501
    p: Principal = _UPLOAD,
):
    """Answers with the validation report: rows accepted and every problem with its line
    (1-based, header = 1), column and message. `422` when the file is rejected; `200` with
    `duplicate=true` when the same bytes were uploaded before (nothing is stored twice)."""
    from starlette.concurrency import run_in_threadpool

    from wastewater.storage.service import store_parsed
    from wastewater.upload_guard import UploadRefused, parse_guarded

    if kind != "auto":
        _check_kind(p, kind)
    data = await _read_limited(file, settings.max_upload_bytes)
    if not data:
        raise ApiError(422, "upload rejected", [item(
            "empty_file", "the file is empty; choose the file with your results / filen är tom; välj filen "
            "med era resultat", line=1)])
    # parsing and storing run off the event loop (reads and /health stay responsive); the parse
    # itself in a separate process with size, ratio, row, time and memory limits
    known = await run_in_threadpool(_known_sites, engine)
    try:
        parsed = await run_in_threadpool(parse_guarded, data, None if kind == "auto" else kind,
                                         known_sites=known, filename=file.filename,
                                         limits=upload_limits(settings))
    except UploadRefused as exc:
        raise ApiError(exc.status, "upload too large" if exc.status == 413 else "upload rejected",
                       [item(exc.code, f"{exc.message_en} / {exc.message_sv}", **exc.extra)]) from exc
    if parsed.kind in KIND_RESOURCE and parsed.report.rows_total == 0 and not parsed.report.errors:
        line = 1
        raise ApiError(422, "upload rejected", [item(
            "header_only", "the file has a header but no data rows; nothing was stored – add the rows "
            "below the header / filen har en rubrikrad men inga datarader; inget sparades – lägg till "
            "raderna under rubrikraden", line=line)])
    if kind == "auto":
        if parsed.kind not in KIND_RESOURCE:
            raise ApiError(422, "upload rejected", issues_to_errors(parsed.report)
                           or [item("unknown_kind", "cannot tell what the file holds; use /uploads/{kind}", line=1)])
        _check_kind(p, parsed.kind)
    scope_errs = _scope_errors(p, parsed.kind, parsed.frame)
    if scope_errs:
        raise ApiError(403, "forbidden", scope_errs)
    out = await run_in_threadpool(lambda: store_parsed(
        engine, data, parsed, filename=file.filename, uploader=p.name, uploader_key_id=p.key_id,
        dry_run=dry_run, on_error=on_error))
    body = json_safe(out.to_dict())
    body["ok"] = bool(out.stored or out.duplicate or (out.dry_run and out.report.ok)
                      or (out.dry_run and on_error == "skip" and out.report.rows_accepted > 0))
    body["filename"] = file.filename
    body["alerts"], body["alerts_message"] = _alerts_for(p, out.alerts)
    if out.duplicate:
        details = getattr(out.report, "details", None) or {}
        body["message"] = details.get("duplicate_message") or (
            f"identical file already stored as upload {out.upload_id}; nothing was stored again")
    if out.rejected or (out.dry_run and not body["ok"]):
        errors = [e for e in issues_to_errors(out.report) if e.get("severity") == "error"]
        details = getattr(out.report, "details", None) or {}
        if details.get("issues_total"):
            counts = ", ".join(f"{c}: {n}" for c, n in details["issue_counts"].items())
            errors.append(item(
                "issues_truncated",
                f"{details['issues_total']} problems in all, the first {details['issues_listed']} are listed; "
                f"per code: {counts} / {details['issues_total']} problem totalt, de första "
                f"{details['issues_listed']} visas; per kod: {counts}", counts=details["issue_counts"]))
        return JSONResponse(
            {"ok": False, "status": 422, "error": "upload rejected",
             "errors": errors,
             **{k: v for k, v in body.items() if k != "ok"}},
            status_code=422,
        )
    return JSONResponse(body, status_code=201 if out.stored and not out.dry_run else 200)


def _alerts_for(p: Principal, raised) -> tuple[list[dict], dict[str, str] | None]:
    """The upload's alerts this key may see, and one sentence about them (sv, en)."""
    from api.routers.alerts import alert_visible
    from wastewater.alerts import summary_sentences

    visible = [json_safe(a) for a in raised if alert_visible(p, a)]
    if not visible:
        return [], None
    sites = sorted({a["site"] for a in visible})
    link = "/dashboard/alerts" + (f"?site={sites[0]}" if len(sites) == 1 else "")
    return visible, summary_sentences(visible, link=link)


def _upload_visible(p: Principal, meta: dict, resource: str = "upload_metadata") -> bool:
    return access.upload_visible(p, meta, resource)


@router.get("/uploads", response_model=PageOut[UploadMeta], summary="Stored uploads, newest first",
            responses=responses(401, 403, 422, 503))
def list_uploads(request: Request, engine: EngineDep, page: PageDep,
                 p: Principal = _LIST):
    """Lab keys see the uploads made with that very key (by key id); analyst and admin see all."""
    rows = [r for r in records(repository().list_uploads(engine)) if _upload_visible(p, r)]
    return paginate(request, rows, page)


def _get(engine, p: Principal, upload_id: int, resource: str = "upload_metadata") -> dict:
    from wastewater.exceptions import NotFound

    try:
        meta = repository().get_upload(engine, upload_id)
    except NotFound as exc:
        raise ApiError(404, "not found", [item("unknown_upload", str(exc), column="upload_id")]) from exc
    if not _upload_visible(p, meta, resource):
        raise ApiError(404, "not found", [item("unknown_upload", f"upload {upload_id} is not visible to this key",
                                               column="upload_id")])
    return meta


UploadId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Upload id.")]


@router.get("/uploads/{upload_id}", response_model=UploadMeta, summary="Upload metadata and validation report",
            responses=responses(401, 403, 404, 422, 503))
def get_upload(engine: EngineDep, upload_id: UploadId,
               p: Principal = _READ):
    meta = _get(engine, p, upload_id)
    meta.pop("content", None)
    return json_safe(meta)


@router.get(
    "/uploads/{upload_id}/raw",
    summary="The uploaded bytes, verbatim",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                     "description": "The file exactly as uploaded."},
               **responses(401, 403, 404, 422, 503)},
)
def get_upload_raw(engine: EngineDep, upload_id: UploadId,
                   p: Principal = _RAW):
    """Lab keys (uploads made with that very key) and admin only."""
    meta = _get(engine, p, upload_id, "raw_uploads")
    name = meta.get("filename") or f"upload-{upload_id}"
    return Response(meta["content"], media_type="application/octet-stream",
                    headers={"Content-Disposition": content_disposition(name)})
