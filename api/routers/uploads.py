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
from api.errors import ApiError, item, responses
from api.routers.common import content_disposition
from api.schemas import PageOut, UploadMeta, UploadOut
from api.services import records, repository
from wastewater import access
from wastewater.jsonsafe import json_safe

router = APIRouter(tags=["uploads"])

CHUNK = 1024 * 1024


def _any_upload(p: PrincipalDep) -> Principal:
    """Dependency: the caller may upload at least one kind (which one is checked per file)."""
    from wastewater.uploading import check_any

    try:
        check_any(p)
    except access.AccessDenied as exc:
        raise denied(exc) from exc
    return p


_UPLOAD = Depends(_any_upload)
_LIST = Depends(require("upload_metadata"))
_READ = Depends(require("upload_metadata"))
_RAW = Depends(require("raw_uploads"))


async def _read_limited(file: UploadFile, max_bytes: int) -> bytes:
    """Read the file, refusing with 413 as soon as it passes ``max_bytes``."""
    from wastewater.uploading import too_large

    parts, size = [], 0
    while True:
        chunk = await file.read(CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            exc = too_large(max_bytes)
            raise ApiError(exc.status, exc.error, exc.errors)
        parts.append(chunk)
    return b"".join(parts)


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

    from wastewater.uploading import UploadRefusal, check_kind, receive_upload

    try:
        if kind != "auto":
            check_kind(p, kind)  # before reading the body
        data = await _read_limited(file, settings.max_upload_bytes)
        # parsing and storing run off the event loop (reads and /health stay responsive); the parse
        # itself in a separate process with size, ratio, row, time and memory limits
        answer = await run_in_threadpool(lambda: receive_upload(
            engine, p, data, kind, filename=file.filename, settings=settings, dry_run=dry_run,
            on_error=on_error))
    except access.AccessDenied as exc:
        raise denied(exc) from exc
    except UploadRefusal as exc:
        raise ApiError(exc.status, exc.error, exc.errors) from exc
    return JSONResponse(answer.body, status_code=answer.status)


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
