"""The ASGI app of the service: the API under ``/api/v1`` and the dashboard under ``/dashboard``
(``/`` redirects there).

``uvicorn --factory service.app:app_from_env`` (what ``wastewater serve`` runs); tests build it
with :func:`create_app`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse


def create_app(settings: Any = None, *, engine: Any = None) -> FastAPI:
    """:func:`api.main.create_app` with the dashboard mounted (:func:`dashboards.mount`).

    Same parameters: ``settings`` (:class:`wastewater.settings.Settings`, default from the
    ``WASTEWATER_*`` environment) and an optional ``engine`` (tests).
    """
    import dashboards
    from api.main import create_app as create_api

    app = create_api(settings, engine=engine)
    dashboards.mount(app)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        # someone typing the host name gets the dashboard, not the API's JSON "not found"
        return RedirectResponse("/dashboard/", status_code=307)

    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory service.app:app_from_env``."""
    return create_app()
