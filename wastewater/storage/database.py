"""Engine creation, connection settings and programmatic Alembic migrations.

The database URL comes from the argument, else the environment variable
``WASTEWATER_DATABASE_URL``, else ``sqlite:///wastewater.db`` (a file in the working directory).
SQLite connections enable foreign keys, WAL journalling and a busy timeout so that concurrent
writers wait for each other instead of failing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from wastewater.exceptions import StorageUnavailable

if TYPE_CHECKING:
    import sqlite3

    from alembic.config import Config
    from sqlalchemy.pool import ConnectionPoolEntry

DATABASE_URL_ENV = "WASTEWATER_DATABASE_URL"
"""Environment variable read by :func:`database_url` when no URL is given."""

DEFAULT_DATABASE_URL = "sqlite:///wastewater.db"
"""Used when neither an argument nor ``WASTEWATER_DATABASE_URL`` gives a URL."""

SQLITE_BUSY_TIMEOUT_S = 120.0
"""How long a SQLite writer waits for another writer's lock before failing [s] (a large
upload can hold the write lock for tens of seconds)."""

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_IMMEDIATE = "wastewater_begin_immediate"


def database_url(url: str | None = None) -> str:
    """Return ``url``, else ``$WASTEWATER_DATABASE_URL``, else ``sqlite:///wastewater.db``."""
    return url or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def _redacted(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only used to build an error message
        return "<unparsable URL>"


def _configure_sqlite(engine: Engine) -> None:
    """Foreign keys on, WAL, busy timeout; BEGIN handled by us so writers can BEGIN IMMEDIATE."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's implicit BEGIN is lazy
        # and cannot take the write lock up front).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
        except Exception:  # noqa: BLE001, S110 - e.g. read-only media; WAL only speeds things up
            pass
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_IMMEDIATE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def get_engine(url: str | None = None, *, check: bool = True, **kwargs: Any) -> Engine:
    """
    Create a SQLAlchemy engine for the service database.

    Parameters
    ----------
    url : str, optional
        SQLAlchemy URL, e.g. ``sqlite:///wastewater.db`` or
        ``postgresql+psycopg://user@host:5432/dbname``. Default: ``$WASTEWATER_DATABASE_URL``,
        else ``sqlite:///wastewater.db``.
    check : bool, default True
        Open one connection now so that an unreachable database fails here, with a clear
        message, rather than at the first query.
    **kwargs
        Passed on to :func:`sqlalchemy.create_engine`.

    Returns
    -------
    sqlalchemy.engine.Engine

    Raises
    ------
    wastewater.exceptions.StorageUnavailable
        The URL is malformed, its driver is missing, or the database cannot be reached.
    """
    url = database_url(url)
    try:
        parsed = sa.make_url(url)
    except Exception as exc:
        raise StorageUnavailable(
            f"database URL {url!r} is not a valid SQLAlchemy URL ({exc}); set "
            f"{DATABASE_URL_ENV}, e.g. 'sqlite:///wastewater.db' or "
            "'postgresql+psycopg://user@host:5432/dbname'"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_S)
        connect_args.setdefault("check_same_thread", False)
        kwargs["connect_args"] = connect_args
    else:
        kwargs.setdefault("pool_pre_ping", True)
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except Exception as exc:
        raise StorageUnavailable(
            f"cannot create a database engine for {_redacted(url)}: {exc}"
        ) from exc
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    if check:
        with connect(engine):
            pass
    return engine


@contextlib.contextmanager
def connect(engine: Engine) -> Iterator[Connection]:
    """Open a connection; failure to connect raises :class:`StorageUnavailable`."""
    try:
        conn = engine.connect()
    except sa.exc.DBAPIError as exc:
        raise _unavailable(engine, exc) from exc
    with conn:
        yield conn


_COMPILED: dict[tuple[str, int], tuple[sa.ClauseElement, str, tuple[str, ...] | None]] = {}


def read_rows(engine: Engine, statement: sa.ClauseElement, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run one read-only ``statement`` on a pooled DBAPI connection: the rows as plain tuples.

    For the few queries that run on every request (``/series``' key and version check): the
    statement is compiled once per dialect and executed on the driver's cursor, without
    SQLAlchemy's connection, transaction and result objects (measured in one process on the
    shared 2-core machine: about 45 µs against 210 µs for the same SELECT through a SQLAlchemy
    connection, whose checkout also runs a BEGIN). One statement is one transaction: SQLite
    runs it in autocommit, PostgreSQL's is rolled back when the connection returns to the
    pool. Values come as the driver gives them (no SQLAlchemy type processing: SQLite gives
    timestamps as text). A connection failure raises :class:`StorageUnavailable` as
    :func:`connect` does.
    """
    name = engine.dialect.name
    entry = _COMPILED.get((name, id(statement)))
    if entry is None or entry[0] is not statement:
        compiled = statement.compile(dialect=engine.dialect)
        positions = getattr(compiled, "positiontup", None)  # qmark/format drivers: bound by position
        entry = (statement, str(compiled), tuple(positions) if positions else None)
        _COMPILED[(name, id(statement))] = entry
    _, sql, positions = entry
    args: Any = tuple(params[k] for k in positions) if positions is not None else params
    dbapi = engine.dialect.loaded_dbapi
    try:
        conn = engine.raw_connection()
    except (sa.exc.DBAPIError, dbapi.Error) as exc:
        raise _unavailable(engine, exc) from exc
    try:
        cursor = conn.cursor()
        try:
            cursor.execute(sql, args)
            rows = cursor.fetchall()
        finally:
            cursor.close()
    except (dbapi.OperationalError, dbapi.InterfaceError) as exc:
        conn.invalidate(exc)
        raise _unavailable(engine, exc, "cannot read from") from exc
    finally:
        conn.close()
    return [tuple(r) for r in rows]


def _unavailable(engine: Engine, exc: BaseException, what: str = "cannot connect to") -> StorageUnavailable:
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return StorageUnavailable(
        f"{what} the database {_redacted(str(engine.url))}: {first}. "
        f"Check that the server is running and that {DATABASE_URL_ENV} is right; "
        "nothing was written."
    )


_DATA_LOCK_KEY = 0x57415355  # advisory-lock id serialising the writers of uploaded data (PostgreSQL)


def _take_advisory_lock(conn: Connection, key: int, *, wait_s: float | None = None) -> None:
    """Take PostgreSQL's transaction-scoped advisory lock ``key`` (released at commit or rollback).

    ``wait_s=None`` (the migration lock): wait as the session's ``lock_timeout`` allows (by
    default without a limit). ``wait_s`` (the writers' lock, given SQLite's busy timeout): wait at
    most that long, as a SQLite writer waits for the write lock, then raise
    :class:`StorageUnavailable` (busy, nothing written); the transaction's own ``lock_timeout``
    is restored for the statements after it.
    """
    if wait_s is None:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        return
    before = conn.execute(sa.text("SELECT current_setting('lock_timeout')")).scalar_one()
    conn.execute(sa.text("SELECT set_config('lock_timeout', :ms, true)"), {"ms": f"{int(wait_s * 1000)}ms"})
    try:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    except sa.exc.OperationalError as exc:
        if getattr(getattr(exc.orig, "diag", None), "sqlstate", None) != "55P03":  # lock_not_available
            raise
        raise StorageUnavailable(
            f"the database is busy: another upload has held the write lock for {wait_s:g} s. "
            "Nothing was written; retry later."
        ) from exc
    conn.execute(sa.text("SELECT set_config('lock_timeout', :ms, true)"), {"ms": before})


@contextlib.contextmanager
def write_transaction(engine: Engine, *, data_lock: bool = False) -> Iterator[Connection]:
    """
    One write transaction; commits on success, rolls back on any exception.

    On SQLite the transaction starts with ``BEGIN IMMEDIATE`` so that it holds the write
    lock from the first statement: two concurrent writers then queue (busy timeout) instead
    of one failing with a stale snapshot.

    ``data_lock``: on PostgreSQL, first take the transaction-scoped advisory lock that every
    writer of uploaded data and of the derived series store takes (an upload, a series
    rebuild), so that they queue as on SQLite, for as long as SQLite's busy timeout. An
    upload computes the store's days from the rows its snapshot shows; without the queue, two
    uploads touching the same day would each build it without the other's rows, and the
    later commit would leave that day stale.
    Readers never wait for it.
    """
    with connect(engine) as conn:
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(**{_IMMEDIATE: True})
        try:
            transaction = conn.begin()
        except sa.exc.OperationalError as exc:
            raise StorageUnavailable(
                f"the database is busy ({exc.orig}); another upload holds the write lock. "
                "Nothing was written; retry later."
            ) from exc
        try:
            with transaction:
                if data_lock and engine.dialect.name == "postgresql":
                    _take_advisory_lock(conn, _DATA_LOCK_KEY, wait_s=SQLITE_BUSY_TIMEOUT_S)
                yield conn
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise StorageUnavailable(
                    "the database connection was lost during the transaction "
                    f"({str(exc.orig).strip().splitlines()[0] if exc.orig else exc}); "
                    "it was rolled back, nothing was written. Retry later."
                ) from exc
            raise


def alembic_config(url: str | None = None) -> Config:
    """Alembic ``Config`` pointing at the packaged migrations (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    return cfg


_MIGRATION_LOCK_KEY = 0x57415354  # "WAST": advisory-lock id serialising migrations


def upgrade(url: str | Engine | None = None, revision: str = "head") -> None:
    """
    Bring the database schema up to ``revision`` (default: the newest) with Alembic.

    Parameters
    ----------
    url : str or Engine, optional
        Database to migrate; default as in :func:`get_engine`. SQLite files are created.
    revision : str, default "head"

    Raises
    ------
    wastewater.exceptions.StorageUnavailable
        The database cannot be reached.
    """
    from alembic import command

    engine = url if isinstance(url, Engine) else get_engine(url)
    cfg = alembic_config(str(engine.url.render_as_string(hide_password=False)))
    try:
        # Several API replicas run ``wastewater db upgrade`` at start-up; serialise them so only
        # the first migrates and the others find the schema at head (SQLite: BEGIN IMMEDIATE
        # via write_transaction; PostgreSQL: a transaction-scoped advisory lock, waited for without
        # a cap, since the first replica's migration may rightly take longer than an upload).
        with write_transaction(engine) as conn:
            if engine.dialect.name == "postgresql":
                _take_advisory_lock(conn, _MIGRATION_LOCK_KEY)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        if not isinstance(url, Engine):
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """Alembic revision the database is at (``None`` for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with connect(engine) as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """Newest revision shipped with the package."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head
