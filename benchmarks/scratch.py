"""Scratch databases for the benchmarks, each removed when its ``with`` block ends.

- :func:`scratch_postgres`: a new, empty database on the PostgreSQL server at 127.0.0.1:5432
  (user postgres), dropped afterwards ``WITH (FORCE)``, so a failed run leaves none behind;
- :func:`scratch_sqlite`: a new SQLite file in a folder, deleted afterwards with its ``-wal``
  and ``-shm`` files.

Both give the database's SQLAlchemy URL.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/"


@contextlib.contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """URL of a new PostgreSQL database ``<prefix>_<8 hex digits>``, dropped on exit."""
    import sqlalchemy as sa

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield PG_BASE + name
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@contextlib.contextmanager
def scratch_sqlite(folder: Path, prefix: str = "bench") -> Iterator[str]:
    """URL of a new SQLite file ``<prefix>_<8 hex digits>.db`` in ``folder``, deleted on exit
    (with its ``-wal`` and ``-shm`` files)."""
    path = folder / f"{prefix}_{uuid.uuid4().hex[:8]}.db"
    try:
        yield f"sqlite:///{path}"
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
