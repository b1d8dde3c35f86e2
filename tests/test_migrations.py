"""Alembic migrations from an empty database, on SQLite and PostgreSQL, match the table metadata."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from wastewater.exceptions import StorageUnavailable
from wastewater.storage.database import (
    alembic_config,
    current_revision,
    get_engine,
    head_revision,
    upgrade,
)
from wastewater.storage.tables import compared_in_schema, metadata

EXPECTED_TABLES = {
    "uploads", "sites", "site_populations", "flows", "results", "events", "reference_sites",
    "reference_means", "reference_series", "reference_values", "api_keys", "audit_log", "alembic_version",
    "series_blocks",
    "series_versions",
    "alerts", "alert_subscriptions", "alert_outbox",
}


def test_upgrade_from_empty_matches_metadata(blank_db_url):
    engine = get_engine(blank_db_url)
    try:
        assert current_revision(engine) is None
        upgrade(blank_db_url)
        assert current_revision(engine) == head_revision()
        assert set(sa.inspect(engine).get_table_names()) == EXPECTED_TABLES
        # `alembic check`: autogenerate finds no difference between migrations and tables.py
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True,
                            "include_object": compared_in_schema(engine.dialect.name)})
            assert compare_metadata(ctx, metadata) == []
        upgrade(blank_db_url)  # running it again is a no-op
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_partial_unique_indexes_exist(db_url):
    engine = get_engine(db_url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                sql = dict(conn.exec_driver_sql(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index'").all())
            else:
                sql = dict(conn.exec_driver_sql(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
                ).all())
        for name in ("uq_results_current", "uq_flows_current", "uq_events_current"):
            assert "UNIQUE" in sql[name].upper() and "WHERE" in sql[name].upper(), sql[name]
            assert "is_current" in sql[name]
        assert "ix_results_site_analyte_sample_date" in sql
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(db_url):
    engine = get_engine(db_url)
    try:
        cfg = alembic_config(db_url)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert set(sa.inspect(engine).get_table_names()) == {"alembic_version"}
        upgrade(engine)
        assert set(sa.inspect(engine).get_table_names()) == EXPECTED_TABLES
    finally:
        engine.dispose()


def test_unreachable_database_raises_storage_unavailable(tmp_path):
    with pytest.raises(StorageUnavailable, match="cannot connect.*127.0.0.1"):
        get_engine("postgresql+psycopg://postgres@127.0.0.1:1/nothing",
                   connect_args={"connect_timeout": 2})
    with pytest.raises(StorageUnavailable, match="WASTEWATER_DATABASE_URL"):
        get_engine(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    with pytest.raises(StorageUnavailable, match="not a valid SQLAlchemy URL"):
        get_engine("not a url")


def test_default_url_comes_from_environment(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    monkeypatch.setenv("WASTEWATER_DATABASE_URL", url)
    engine = get_engine()
    try:
        assert str(engine.url) == url
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 120_000
    finally:
        engine.dispose()
    monkeypatch.delenv("WASTEWATER_DATABASE_URL")
    from wastewater.storage.database import database_url

    assert database_url() == "sqlite:///wastewater.db"


def test_reading_an_unmigrated_database_says_how_to_fix(tmp_path):
    from wastewater.storage.repository import load_sites

    engine = get_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(StorageUnavailable, match="wastewater db upgrade"):
            load_sites(engine)
    finally:
        engine.dispose()
