"""GET /health (database ping) and GET /version."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter

from api.deps import EngineDep
from api.errors import ApiError, item, responses
from api.schemas import Health, Version

router = APIRouter(tags=["meta"])


@router.get(
    "/health",
    response_model=Health,
    summary="Liveness and database ping",
    responses=responses(503),
)
def health(engine: EngineDep) -> Health:
    """`200 {"ok": true, "database": "ok"}` when `SELECT 1` succeeds, else 503."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        raise ApiError(503, "database unavailable",
                       [item("storage_unavailable", f"database ping failed: {type(exc).__name__}")],
                       {"Retry-After": "30"}) from exc
    return Health(ok=True, database="ok")


@router.get("/version", response_model=Version, summary="API, package and schema versions",
            responses=responses(503))
def version(engine: EngineDep) -> Version:
    import wastewater

    rev = None
    try:
        from wastewater.storage.database import current_revision

        rev = current_revision(engine)
    except Exception:  # noqa: BLE001 - version must answer even when the DB is down
        rev = None
    return Version(api_version="v1", package_version=wastewater.__version__, database_revision=rev)
