"""Database layer: tables, Alembic migrations, repository (reads) and the atomic ingest service.

This package is the only code in ``wastewater`` that speaks SQL.
"""

from wastewater.storage.database import get_engine, upgrade

__all__ = ["get_engine", "upgrade"]
