"""The FastAPI application: ``create_app(settings) -> FastAPI`` with every route under /api/v1.

The API only; the deployed app with the dashboard is composed by :mod:`service.app` (this
package never imports ``dashboards``).

Stateless by design: the app holds its settings, a SQLAlchemy engine (a connection pool) and
bounded caches of response bytes keyed by data versions that live in the database
(:class:`wastewater.bytecache.ByteCache`), so any number of workers or replicas can sit behind
a load balancer and all see a commit at once.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from api import errors
from api.config import Settings
from api.examples import add_parameter_examples
from api.middleware import BodySizeLimit, SecurityHeaders
from api.query import reject_unknown_query

API_PREFIX = "/api/v1"

TAGS = [
    {"name": "meta", "description": "Health and version."},
    {"name": "sites", "description": "Catchments (treatment plants, sub-catchments)."},
    {"name": "catalogue", "description": "Analytes and the cited literature parameters."},
    {"name": "results", "description": "Lab results and samples (authorised roles only)."},
    {"name": "series", "description": "Daily (authorised) or weekly-mean (public) series in canonical units."},
    {"name": "events", "description": "Operations, campaigns and the risk-weekend calendar."},
    {"name": "analyses", "description": "Change tests; multi-test endpoints report Benjamini–Hochberg q-values."},
    {"name": "uploads", "description": "Validated, atomic uploads of sites, flows, results and events."},
    {"name": "reference", "description": "EUDA comparison data and export, PHES-ODM import and export."},
    {"name": "admin", "description": "API keys and the audit log (admin only)."},
]

DESCRIPTION = """
Open wastewater drug-monitoring data service.

* **Access**: send an API key as `X-API-Key: <token>` or `Authorization: Bearer <token>`.
  One policy table (`wastewater.access.POLICY`, reproduced in api/README.md) decides what each
  role (public, viewer, lab, analyst, admin; a revoked key gets 401) may see or write; keys may
  be limited to sites.
* **Privacy** (after Hall et al. 2012 and Prichard et al. 2014, bibliography keys Hall2012,
  Prichard2014): anonymous users see only catchments whose latest population is at least
  `min_public_population` (default 10 000), only whole-ISO-week means (weeks with too few
  measured days suppressed), and operation effects / risk-weekend ratios of non-confidential
  events. Confidential events are shown to analyst/admin only.
* **Units** are part of every field name (`flow_m3_per_day`, `load_mg_per_day_per_1000` ...).
* **Errors** always use one envelope: `{"ok": false, "status", "error", "errors": [{line, column, code, message}]}`.
"""


def create_app(settings: Settings | None = None, *, engine=None) -> FastAPI:
    """Build the application.

    Parameters
    ----------
    settings : api.config.Settings, optional
        Default: read from the ``WASTEWATER_*`` environment.
    engine : sqlalchemy.Engine, optional
        Use this engine instead of creating one from ``settings.database_url`` (tests).
    """
    import wastewater

    settings = settings or Settings()
    # Swagger UI and ReDoc from the files fastapi-offline installs (no CDN: works offline).
    app = FastAPIOffline(
        title="Wastewater drug monitoring API",
        version=wastewater.__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=f"{API_PREFIX}/redoc",
        static_url=f"{API_PREFIX}/docs-static",
        swagger_ui_oauth2_redirect_url=f"{API_PREFIX}/docs/oauth2-redirect",
    )
    app.state.settings = settings
    if engine is None:
        engine = _engine_for(settings)
    app.state.engine = engine

    errors.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    # outermost: every answer, including 413 and errors, carries the security headers
    app.add_middleware(SecurityHeaders, docs_paths=(f"{API_PREFIX}/docs", f"{API_PREFIX}/redoc"))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type", "If-None-Match"],
            expose_headers=["ETag", "Last-Modified"],
        )

    from api.routers import (
        alerts,
        analyses,
        catalogue,
        events,
        interop,
        keys,
        meta,
        reference,
        results,
        series,
        sites,
        uploads,
    )

    for r in (meta, sites, catalogue, results, series, events, analyses, uploads, alerts, reference,
              interop, keys):
        app.include_router(
            r.router, prefix=API_PREFIX, dependencies=[Depends(reject_unknown_query)]
        )

    _document_examples(app)
    return app


def _document_examples(app: FastAPI) -> None:
    """Give every parameter of the OpenAPI document its example (``api.examples``)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = add_parameter_examples(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _engine_for(settings: Settings):
    """Engine for ``settings.database_url``; unreachable databases answer 503 later, not here."""
    from wastewater.storage import database

    engine = database.get_engine(settings.database_url, check=False)
    if settings.auto_upgrade:
        database.upgrade(engine)
    return engine


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory api.main:app_from_env`` (the API without the dashboard)."""
    return create_app()
