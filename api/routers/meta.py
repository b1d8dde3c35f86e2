"""GET /health (database ping) and GET /version."""

from __future__ import annotations

import functools

import sqlalchemy as sa
from fastapi import APIRouter

from api.deps import EngineDep
from api.errors import ApiError, item, responses
from api.schemas import Health, Version

router = APIRouter(tags=["meta"])


@functools.lru_cache(maxsize=1)
def _head_revision() -> str:
    """The newest migration shipped with the package (read once: it cannot change while running)."""
    from wastewater.storage.database import head_revision

    return head_revision()


@router.get(
    "/health",
    response_model=Health,
    summary="Liveness and database ping",
    responses=responses(503),
)
def health(engine: EngineDep) -> Health:
    """`200 {"ok": true, "database": "ok"}` when the database answers *and* its schema is at the
    newest migration; otherwise 503 (degraded): unreachable, no schema, or an older schema
    (run `wastewater db upgrade`). The body never names the database, host or user."""
    from wastewater.storage.database import current_revision

    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        rev = current_revision(engine)
    except Exception as exc:
        raise ApiError(503, "database unavailable",
                       [item("storage_unavailable", "the database does not answer; retry later / databasen "
                             "svarar inte; försök igen senare")],
                       {"Retry-After": "30"}) from exc
    head = _head_revision()
    if rev != head:
        code = "schema_missing" if rev is None else "schema_outdated"
        what = ("the database has no schema" if rev is None else f"the schema is at revision {rev}, not {head}")
        vad = ("databasen saknar schema" if rev is None else f"schemat är på revision {rev}, inte {head}")
        raise ApiError(503, "degraded", [item(code, f"{what}; run `wastewater db upgrade` / {vad}; kör "
                                                    "`wastewater db upgrade`", revision=rev, head=head)],
                       {"Retry-After": "30"})
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
