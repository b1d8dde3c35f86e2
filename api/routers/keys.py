"""Admin: API keys (POST/GET/DELETE /keys) and the audit log (GET /audit)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from api.deps import EngineDep, PageDep, Principal, paginate, require
from api.errors import ApiError, item, responses
from api.schemas import AuditOut, KeyCreated, KeyIn, KeyOut, PageOut
from api.security import KeyNameTaken, LastAdminKey, create_key_record, list_keys, load_audit, revoke_key
from wastewater.jsonsafe import json_safe

router = APIRouter(tags=["admin"])
_ADMIN_KEYS = Depends(require("keys"))
_ADMIN_AUDIT = Depends(require("audit"))
Admin = _ADMIN_KEYS


@router.post("/keys", response_model=KeyCreated, status_code=201, summary="Create an API key",
             responses=responses(401, 403, 409, 422, 503))
def create(body: KeyIn, engine: EngineDep, p: Principal = Admin) -> dict:
    """The token is returned once; only its SHA-256 digest is stored. A `lab` key needs `sites`."""
    if body.role == "lab" and not body.sites:
        raise ApiError(422, "invalid request", [item("lab_without_sites",
                       "a lab key must name the sites it uploads for", column="sites")])
    try:
        token, meta = create_key_record(engine, body.name, body.role, body.sites, actor=p.name)
    except KeyNameTaken as exc:
        raise ApiError(409, "conflict", [item("name_taken", f"{exc.message_en} / {exc.message_sv}",
                                              column="name")]) from exc
    return {**meta, "token": token}


@router.get("/keys", response_model=PageOut[KeyOut], summary="List API keys",
            responses=responses(401, 403, 422, 503))
def list_(request: Request, engine: EngineDep, page: PageDep, p: Principal = Admin) -> dict:
    return paginate(request, list_keys(engine), page)


@router.delete("/keys/{key_id}", response_model=KeyOut, summary="Revoke an API key",
               responses=responses(401, 403, 404, 409, 422, 503))
def revoke(engine: EngineDep, key_id: Annotated[str, Path(max_length=64)], p: Principal = Admin) -> dict:
    try:
        done = revoke_key(engine, key_id, actor=p.name)
    except LastAdminKey as exc:
        raise ApiError(409, "conflict", [item("last_admin_key", f"{exc.message_en} / {exc.message_sv}",
                                              column="key_id")]) from exc
    if not done:
        raise ApiError(404, "not found", [item("unknown_key", f"no active key {key_id!r}", column="key_id")])
    return next(k for k in list_keys(engine) if k["id"] == key_id)


@router.get("/audit", response_model=PageOut[AuditOut], summary="Audit log, newest first", responses=responses(401, 403, 422, 503))  # noqa: E501
def audit_log(request: Request, engine: EngineDep, page: PageDep,
              p: Principal = _ADMIN_AUDIT) -> dict:
    """Every write (uploads, key changes, site/population updates, EUDA imports), newest first."""
    rows = [json_safe(r) for r in load_audit(engine, limit=100_000)]
    return paginate(request, rows, page)
