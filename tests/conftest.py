"""Shared fixtures: a fresh, migrated database per test on SQLite and on PostgreSQL.

Fixtures
--------
blank_db_url
    URL of a new *empty* database; parametrized ``sqlite`` (a file under ``tmp_path``) and
    ``postgresql`` (a uniquely named database on 127.0.0.1:5432, dropped afterwards with FORCE).
    The PostgreSQL case carries the ``postgres`` marker (deselect with ``-m "not postgres"``).
db_url
    A new database migrated to the newest Alembic revision (a copy of a session-wide
    migrated template, so each test still starts from an empty, migrated schema).
engine / migrated_engine
    A SQLAlchemy engine on ``db_url`` (disposed afterwards).
sqlite_url / sqlite_engine
    SQLite-only variants for tests that do not need to run on both databases.

PostgreSQL must be running (``sh .ci/ensure-services`` starts it; CI does). When it is not, the
PostgreSQL cases **fail** with a message saying so; they are not skipped silently.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from wastewater.storage.database import get_engine, upgrade

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
"""Maintenance database used to CREATE/DROP the per-test databases (trust auth)."""


def pytest_report_header(config: pytest.Config) -> list[str]:
    import alembic
    import pandas

    versions = (f"sqlalchemy {sa.__version__}, alembic {alembic.__version__}, "
                f"pandas {pandas.__version__}")
    return [versions]


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


def _new_pg_database(request: pytest.FixtureRequest, template: str | None = None
                     ) -> Iterator[str]:
    admin = request.getfixturevalue("pg_admin")
    name = f"ww_test_{uuid.uuid4().hex[:16]}"
    with admin.connect() as conn:
        suffix = f' TEMPLATE "{template}"' if template else ""
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"{suffix}')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _pg_migrated_template(request: pytest.FixtureRequest) -> Iterator[str]:
    """Name of a session-wide PostgreSQL database migrated to head, copied for each test."""
    gen = _new_pg_database(request)
    url = next(gen)
    upgrade(url)
    yield url.rsplit("/", 1)[1]
    gen.close()


@pytest.fixture(scope="session")
def _sqlite_migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    upgrade(f"sqlite:///{path}")
    engine = get_engine(f"sqlite:///{path}")
    with engine.connect() as conn:  # fold the WAL into the main file before copying it
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def blank_db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """URL of a fresh empty database (see module docstring)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'wastewater-test.db'}"
    else:
        yield from _new_pg_database(request)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """URL of a fresh database migrated to head (SQLite and PostgreSQL).

    Each test gets its own copy of a database migrated once per session (a file copy for
    SQLite, ``CREATE DATABASE ... TEMPLATE`` for PostgreSQL).
    """
    if request.param == "sqlite":
        path = tmp_path / "wastewater-test.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_migrated_template"), path)
        yield f"sqlite:///{path}"
    else:
        template = request.getfixturevalue("_pg_migrated_template")
        yield from _new_pg_database(request, template=template)


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
