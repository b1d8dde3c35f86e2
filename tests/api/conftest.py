"""Fixtures of the API tests: a seeded database (SQLite and PostgreSQL) and clients per role.

Seed data and helpers live in ``api_fixtures.py`` (a uniquely named module, so tests can import
them whatever other ``conftest`` modules the full suite loads).
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_fixtures import Clients, make_clients, seed


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def seeded_engine(request: pytest.FixtureRequest, tmp_path_factory):
    """A migrated, seeded database shared by the read-only tests (session scope)."""
    from wastewater.storage.database import get_engine, upgrade

    name = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'api.db'}"
    else:
        admin = request.getfixturevalue("pg_admin")  # H2's session fixture (tests/conftest.py)
        name = f"ww_api_{uuid.uuid4().hex[:16]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    upgrade(url)
    eng = get_engine(url)
    seed(eng)
    yield eng
    eng.dispose()
    if name is not None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def clients(seeded_engine) -> Clients:
    return make_clients(seeded_engine)


@pytest.fixture
def fresh_clients(engine) -> Clients:
    """Clients on H2's per-test migrated, seeded database (for tests that write)."""
    seed(engine)
    return make_clients(engine)
