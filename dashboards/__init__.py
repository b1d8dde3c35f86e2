"""Dashboard (HTML pages with plotly figures) and the tertial follow-up report.

``mount(app)`` adds everything under ``/dashboard`` to the API's FastAPI app; the core
library (``wastewater``) never imports this package.
"""

from __future__ import annotations

__all__ = ["mount"]


def mount(app):
    """Serve the dashboard from ``app`` under ``/dashboard`` (called by ``api.main.create_app``)."""
    from dashboards.app import mount as _mount

    _mount(app)
