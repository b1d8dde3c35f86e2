"""FastAPI dependencies: settings, engine, the calling principal, role checks, paging."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.config import Settings
from api.errors import ApiError, item
from api.security import BOOTSTRAP_NAME, PUBLIC, Principal, bootstrap_matches, lookup_key

_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="API key token (`ww_...`)."
)
_bearer = HTTPBearer(auto_error=False, description="The same API key token as a Bearer token.")


async def get_settings(request: Request) -> Settings:
    # async: no I/O here, so FastAPI need not hop to a worker thread for it on every request
    return request.app.state.settings


async def get_engine(request: Request) -> sa.Engine:
    """The app's SQLAlchemy engine (a connection pool; data caches are keyed by data version)."""
    return request.app.state.engine


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[sa.Engine, Depends(get_engine)]


def get_principal(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    api_key: Annotated[str | None, Depends(_api_key_header)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
) -> Principal:
    """Resolve the key from ``X-API-Key`` or ``Authorization: Bearer``; no key = public."""
    token = api_key or (bearer.credentials if bearer is not None else None)
    if not token:
        return PUBLIC
    admin = settings.admin_key.get_secret_value() if settings.admin_key else None
    if bootstrap_matches(admin, token):
        return Principal(name=BOOTSTRAP_NAME, role="admin")
    p = lookup_key(engine, token)
    if p is None:
        raise ApiError(
            401,
            "authentication required",
            [item("unknown_key", "the API key is unknown or revoked; ask an admin for a key")],
            {"WWW-Authenticate": 'Bearer realm="wastewater"'},
        )
    return p


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def _refuse(p: Principal, what: str) -> ApiError:
    if p.is_public:
        return ApiError(
            401,
            "authentication required",
            [item("key_required", f"{what} needs an API key (X-API-Key header or Bearer token)")],
            {"WWW-Authenticate": 'Bearer realm="wastewater"'},
        )
    return ApiError(403, "forbidden", [item("role", f"role {p.role!r} may not {what}")])


def require_roles(*roles: str, what: str = "use this endpoint") -> Callable[[Principal], Principal]:
    """Dependency: the caller's role must be one of ``roles``."""

    def dep(p: PrincipalDep) -> Principal:
        if p.role not in roles:
            raise _refuse(p, what)
        return p

    return dep


def require_rank(rank: int, what: str = "use this endpoint") -> Callable[[Principal], Principal]:
    """Dependency: the caller's read rank must be at least ``rank`` (1 viewer, 2 analyst, 3 admin)."""

    def dep(p: PrincipalDep) -> Principal:
        if p.rank < rank:
            raise _refuse(p, what)
        return p

    return dep


class Page:
    """``limit``/``offset`` query parameters of list endpoints."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=1000, description="Items per page.")] = 100,
        offset: Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")] = 0,
    ) -> None:
        self.limit = limit
        self.offset = offset


PageDep = Annotated[Page, Depends(Page)]


def paginate(request: Request, items: list, page: Page) -> dict:
    """Slice ``items`` and add ``total``, ``limit``, ``offset`` and ``next`` (URL or null)."""
    total = len(items)
    chunk = items[page.offset : page.offset + page.limit]
    nxt = None
    if page.offset + page.limit < total:
        nxt = str(request.url.include_query_params(offset=page.offset + page.limit, limit=page.limit))
    return {"total": total, "limit": page.limit, "offset": page.offset, "next": nxt, "items": chunk}
