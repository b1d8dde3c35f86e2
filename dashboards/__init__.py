"""Dashboard (HTML pages with plotly figures) and the tertial follow-up report.

``mount(app)`` adds everything under ``/dashboard`` to a FastAPI app (:mod:`service.app` mounts
it on the API's); it imports only the core (``wastewater``), never ``api``, and the core never
imports it.
"""

from __future__ import annotations

__all__ = ["mount"]


def mount(app):
    """Serve the dashboard from ``app`` under ``/dashboard`` (called by ``service.app.create_app``)."""
    from dashboards.app import mount as _mount

    _mount(app)
