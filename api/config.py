"""Settings of the HTTP API: :class:`wastewater.settings.Settings` (``WASTEWATER_*`` environment
variables), shared with the dashboard and the report."""

from __future__ import annotations

from wastewater.settings import Settings

__all__ = ["Settings"]
