"""FastAPI dependencies: settings, engine, the calling principal, role checks, paging."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.config import Settings
from api.errors import ApiError, access_denied, unknown_key
from api.security import Principal, resolve_token
from wastewater import access
from wastewater.access import AccessDenied

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


async def get_token(
    api_key: Annotated[str | None, Depends(_api_key_header)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
) -> str | None:
    """The API key token from ``X-API-Key`` or ``Authorization: Bearer`` (``None``: no key).

    Async and without I/O: a route that resolves the key itself (``/series``, together with
    its other reads) pays no worker-thread hop for it.
    """
    return api_key or (bearer.credentials if bearer is not None else None)


TokenDep = Annotated[str | None, Depends(get_token)]


def get_principal(engine: EngineDep, settings: SettingsDep, token: TokenDep = None) -> Principal:
    """Resolve the key from ``X-API-Key`` or ``Authorization: Bearer``; no key = public."""
    admin = settings.admin_key.get_secret_value() if settings.admin_key else None
    p = resolve_token(engine, token, admin)
    if p is None:
        raise unknown_key()
    return p


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def denied(exc: AccessDenied) -> ApiError:
    """The API answer to a refusal of the policy (:func:`api.errors.access_denied`)."""
    return access_denied(exc)


def require(resource: str, what: str | None = None) -> Callable[[Principal], Principal]:
    """Dependency: the policy (:mod:`wastewater.access`) must give the caller ``resource``."""

    def dep(p: PrincipalDep) -> Principal:
        try:
            access.check(p, resource, what)
        except AccessDenied as exc:
            raise denied(exc) from exc
        return p

    dep.resource = resource  # type: ignore[attr-defined]  # read by the access-matrix test
    return dep


def public_rule(settings: Settings) -> access.PublicRule:
    """The deployment's thresholds of the public rule."""
    return access.PublicRule.from_settings(settings)


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
