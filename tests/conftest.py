"""Shared fixtures: a fresh, migrated database per test on SQLite and on PostgreSQL.

Fixtures
--------
blank_db_url
    URL of a new *empty* database; parametrized ``sqlite`` (a file under ``tmp_path``) and
    ``postgresql`` (a uniquely named database on 127.0.0.1:5432, dropped afterwards with FORCE).
    The PostgreSQL case carries the ``postgres`` marker (deselect with ``-m "not postgres"``).
db_url
    Same, migrated to the newest Alembic revision.
engine / migrated_engine
    A SQLAlchemy engine on ``db_url`` (disposed afterwards).
sqlite_url / sqlite_engine
    SQLite-only variants for tests that do not need to run on both databases.

PostgreSQL must be running (``sh .ci/ensure-services`` starts it; CI does). When it is not, the
PostgreSQL cases **fail** with a message saying so; they are not skipped silently.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from wastewater.storage.database import get_engine, upgrade

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
"""Maintenance database used to CREATE/DROP the per-test databases (trust auth)."""


def pytest_report_header(config: pytest.Config) -> list[str]:
    import alembic
    import pandas

    return [f"sqlalchemy {sa.__version__}, alembic {alembic.__version__}, "
            f"pandas {pandas.__version__}"]


def _pg_admin_engine() -> sa.Engine:
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": 5})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        engine.dispose()
        pytest.fail(
            "PostgreSQL is not reachable at 127.0.0.1:5432 (user postgres, trust auth): "
            f"{str(exc.orig).strip().splitlines()[0]}. Start it with `sh .ci/ensure-services` "
            "(CI does this), or deselect these cases with -m 'not postgres'.",
            pytrace=False,
        )
    return engine


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    """AUTOCOMMIT engine on the ``postgres`` maintenance database."""
    engine = _pg_admin_engine()
    yield engine
    engine.dispose()


def _new_pg_database(request: pytest.FixtureRequest) -> Iterator[str]:
    admin = request.getfixturevalue("pg_admin")
    name = f"ww_test_{uuid.uuid4().hex[:16]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def blank_db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """URL of a fresh empty database (see module docstring)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'wastewater-test.db'}"
    else:
        yield from _new_pg_database(request)


@pytest.fixture
def db_url(blank_db_url: str) -> str:
    """URL of a fresh database migrated to head (SQLite and PostgreSQL)."""
    upgrade(blank_db_url)
    return blank_db_url


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """Engine on a fresh migrated database (SQLite and PostgreSQL)."""
    eng = get_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def migrated_engine(engine: sa.Engine) -> sa.Engine:
    """Alias of :func:`engine`, for readability in other test modules."""
    return engine


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """URL of a fresh migrated SQLite file database."""
    url = f"sqlite:///{tmp_path / 'wastewater-sqlite.db'}"
    upgrade(url)
    return url


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[sa.Engine]:
    """Engine on :func:`sqlite_url`."""
    eng = get_engine(sqlite_url)
    yield eng
    eng.dispose()
