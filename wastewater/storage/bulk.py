"""Bulk load of validated frames: column-wise value conversion, SQLite executemany, PostgreSQL COPY.

The ingest service (:mod:`wastewater.storage.service`) hands whole columns here instead of one
dict per row:

* :func:`column_values` turns a frame column into the Python values the database driver takes
  (``None`` for every missing value), converting each distinct date once;
* :func:`insert_columns` writes the rows of those columns inside the caller's transaction:
  PostgreSQL through **one** ``COPY … FROM STDIN`` (psycopg 3) streamed batch by batch,
  SQLite through one ``executemany`` per batch with a larger page cache for the index updates,
  binding only what varies from row to row (the constants are literals of the statement, a
  batch's columns without any value are left to their NULL default);
* :func:`insert_frame` does the same for a whole frame without making Python values row by
  row: on PostgreSQL each batch becomes one block of ``COPY`` text built column by column
  (:func:`copy_text`: each distinct text, date or flag formatted and escaped once, numbers
  formatted by one ``map`` over the column), on SQLite each column becomes its driver values
  at once (dates as their ISO text, as SQLAlchemy stores them).

Both run on the caller's connection and transaction, so a failure or a killed process
anywhere (also in the middle of a ``COPY``) leaves nothing stored. Integrity (the results'
sites and uploads exist, the unique index of current rows) is checked by the database (on
PostgreSQL the references once per statement, migration 0007); the parser has already checked
the upload's sites against the ``sites`` table.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["BATCH_ROWS", "SQLITE_BULK_CACHE_KIB", "column_values", "copy_column", "copy_text",
           "insert_columns", "insert_frame", "insert_frames", "sqlite_values"]

BATCH_ROWS = 20_000
"""Rows per batch: one ``executemany`` (SQLite) or one stretch of the ``COPY`` stream
(PostgreSQL); progress is reported after each."""

SQLITE_BULK_CACHE_KIB = 128 * 1024
"""SQLite page cache during a bulk insert [KiB] (default 2 MiB): the four ``results`` indexes of
a million rows then stay in memory while they are updated in random key order. It is a
ceiling, reset to the default afterwards."""


def column_values(series: pd.Series | None, n_rows: int) -> list[Any]:
    """Python values of one column (``None`` for missing), as the drivers take them.

    Dates (``datetime64``) become ``datetime.date``, each distinct day converted once;
    floats stay floats with ``None`` for NaN; nullable integers become ``int``/``None``.
    ``series`` ``None`` (column absent) gives ``n_rows`` ``None`` values.

    Examples
    --------
    >>> column_values(pd.Series([1.5, float("nan")]), 2)
    [1.5, None]
    >>> column_values(pd.Series(pd.to_datetime(["2025-03-04", None])), 2)
    [datetime.date(2025, 3, 4), None]
    """
    if series is None:
        return [None] * n_rows
    python_values: list[Any]  # ``tolist()`` of a pandas or numpy column (one copy, no re-wrapping)
    if pd.api.types.is_datetime64_any_dtype(series):
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        days = [ts.date() for ts in uniques] + [None]  # code -1 → None
        python_values = np.array(days, dtype=object)[codes].tolist()
        return python_values
    if pd.api.types.is_bool_dtype(series):
        if series.isna().any():
            return [None if pd.isna(v) else bool(v) for v in series.astype(object)]
        python_values = series.astype(bool).tolist()
        return python_values
    if pd.api.types.is_integer_dtype(series):
        if series.isna().any():
            return [None if pd.isna(v) else int(v) for v in series.astype(object)]
        python_values = series.astype("int64").tolist()
        return python_values
    if pd.api.types.is_float_dtype(series):
        arr = series.to_numpy(dtype=float, na_value=np.nan)
        missing = np.isnan(arr)
        if not missing.any():
            python_values = arr.tolist()
            return python_values
        out = arr.astype(object)
        out[missing] = None
        python_values = out.tolist()
        return python_values
    values = series.to_numpy(dtype=object)
    missing = pd.isna(values)
    if missing.any():
        values = values.copy()
        values[missing] = None
    python_values = values.tolist()
    return python_values


Batch = dict[str, list[Any]]
"""Column name → the values of one batch of rows."""


def insert_columns(
    conn: Connection,
    table: sa.Table,
    columns: dict[str, list[Any]],
    *,
    constants: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Insert the rows given column-wise, in the caller's transaction.

    Parameters
    ----------
    conn : sqlalchemy.engine.Connection
        Connection inside an open transaction.
    table : sqlalchemy.Table
    columns : dict of list
        Column name → one Python value per row (as from :func:`column_values`).
    constants : dict, optional
        Column name → one value shared by every row (upload id, stored_at …).
    progress : callable, optional
        ``progress(rows_written)`` after each batch of :data:`BATCH_ROWS` rows (inside the
        transaction, before the commit).
    """
    n_rows = len(next(iter(columns.values()))) if columns else 0

    def batches() -> Iterator[tuple[int, Batch]]:
        for start in range(0, n_rows, BATCH_ROWS):
            stop = min(start + BATCH_ROWS, n_rows)
            yield stop, {c: v[start:stop] for c, v in columns.items()}

    _insert_batches(conn, table, list(columns), n_rows, batches(), constants, progress)


def insert_frame(
    conn: Connection,
    table: sa.Table,
    frame: pd.DataFrame,
    names: Sequence[str],
    *,
    constants: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
    order: np.ndarray | None = None,
) -> None:
    """:func:`insert_columns` of ``frame``'s columns ``names`` (absent ones NULL), converted
    one batch at a time, so that only one batch of driver values exists at once.

    ``order`` (positions of ``frame``'s rows) inserts the rows in that order, each batch
    gathered on its own, instead of a reordered copy of the whole frame.

    PostgreSQL (psycopg): one ``COPY`` fed with the text of :func:`copy_text`, batch by batch.
    SQLite: one ``executemany`` per batch of column-wise converted values
    (:func:`sqlite_values`).
    """
    n_rows = len(frame)

    def parts() -> Iterator[pd.DataFrame]:
        for start in range(0, n_rows, BATCH_ROWS):
            stop = min(start + BATCH_ROWS, n_rows)
            yield frame.iloc[start:stop] if order is None else frame.iloc[order[start:stop]]

    insert_frames(conn, table, parts(), names, constants=constants, progress=progress)


def insert_frames(
    conn: Connection,
    table: sa.Table,
    frames: Iterable[pd.DataFrame],
    names: Sequence[str],
    *,
    constants: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """:func:`insert_frame` of the rows of ``frames`` one after the other, as one load (one
    ``COPY`` on PostgreSQL); each frame is made only when the rows before it are written, so a
    generator of frames never has more than one in memory. Frames longer than
    :data:`BATCH_ROWS` are split into batches.
    """
    dialect = conn.dialect

    def batches() -> Iterator[tuple[int, pd.DataFrame]]:
        done = 0
        for frame in frames:
            for start in range(0, len(frame), BATCH_ROWS):
                part = frame.iloc[start:start + BATCH_ROWS]
                done += len(part)
                yield done, part

    stream = batches()
    first = next(stream, None)
    if first is None:
        return
    stream = itertools.chain([first], stream)
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        constants = dict(constants or {})
        column_sql = ", ".join(dialect.identifier_preparer.quote(c)
                               for c in [*names, *constants])
        tail = "".join("\t" + _copy_scalar(v, table.c[c].type) for c, v in constants.items())
        _copy_text(conn, table, column_sql,
                   ((done, copy_text(part, table, names, tail=tail)) for done, part in stream),
                   progress)
        return

    def converted() -> Iterator[tuple[int, Batch]]:
        for done, part in stream:
            n = len(part)
            if dialect.name == "sqlite":
                yield done, {c: sqlite_values(part[c] if c in part.columns else None,
                                              table.c[c].type, n) for c in names}
            else:  # pragma: no cover - only SQLite and PostgreSQL (psycopg) are supported
                yield done, {c: column_values(part[c] if c in part.columns else None, n)
                             for c in names}

    _insert_batches(conn, table, list(names), len(first[1]), converted(), constants, progress,
                    prebound=dialect.name == "sqlite")


# --------------------------------------------------------------------------- SQLite values


def sqlite_values(series: pd.Series | None, type_: Any, n_rows: int) -> list[Any]:
    """The values SQLAlchemy would bind for a SQLite column, made for the whole column at once.

    Dates become ``YYYY-MM-DD`` text (SQLAlchemy's SQLite ``DATE`` storage), each distinct day
    formatted once; flags stay Python ``bool`` (stored as 1/0); numbers and text as in
    :func:`column_values`.

    Examples
    --------
    >>> sqlite_values(pd.Series(pd.to_datetime(["2025-03-04", None])), sa.Date(), 2)
    ['2025-03-04', None]
    >>> sqlite_values(pd.Series([True, False]), sa.Boolean(), 2)
    [True, False]
    """
    if series is not None and isinstance(type_, sa.Date) and not isinstance(type_, sa.DateTime) \
            and pd.api.types.is_datetime64_any_dtype(series):
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        days = [f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d}" for ts in uniques] + [None]
        out: list[Any] = np.array(days, dtype=object)[codes].tolist()
        return out
    return column_values(series, n_rows)


# --------------------------------------------------------------------------- COPY text


_NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_scalar(value: Any, type_: Any) -> str:
    """One value in ``COPY`` text format (``\\N`` for NULL, escaped text)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return _NULL
    if isinstance(value, (bool, np.bool_)):
        return "t" if value else "f"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if isinstance(type_, sa.Integer):
            return str(int(value))
        return _float_text(float(value))
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        if isinstance(type_, sa.Date) and not isinstance(type_, sa.DateTime):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).translate(_ESCAPES)


def _float_text(x: float) -> str:
    """Shortest text that reads back as the same double (``repr``); infinities as PostgreSQL
    spells them.
    """
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return repr(x)


def copy_column(series: pd.Series | None, type_: Any, n_rows: int) -> list[str]:
    """One column in ``COPY`` text format, made column-wise.

    Each distinct value is formatted once (``pd.factorize``, then one ``map`` over the distinct
    values): ``repr`` for floats (the shortest text that reads back as the same double),
    ``str`` for integers, ISO dates, ``t``/``f`` for flags, text with backslash, tab, newline
    and carriage return escaped; NaN, NA and ``None`` → ``\\N``.

    Examples
    --------
    >>> copy_column(pd.Series([1.5, float("nan"), 0.1]), sa.Float(), 3)
    ['1.5', '\\\\N', '0.1']
    >>> copy_column(pd.Series(["a\\tb", None, "a\\tb"], dtype=object), sa.Text(), 3)
    ['a\\\\tb', '\\\\N', 'a\\\\tb']
    >>> copy_column(pd.Series(pd.to_datetime(["2025-03-04", None])), sa.Date(), 2)
    ['2025-03-04', '\\\\N']
    >>> copy_column(pd.Series([24.0, float("nan")]), sa.Integer(), 2)
    ['24', '\\\\N']
    """
    if series is None:
        return [_NULL] * n_rows
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts: list[str]
    values = uniques.tolist() if isinstance(uniques, np.ndarray) else list(uniques)
    if pd.api.types.is_float_dtype(uniques.dtype) and not isinstance(type_, sa.Integer) \
            and not np.isinf(np.asarray(uniques, dtype=float)).any():
        texts = list(map(repr, values))
    elif pd.api.types.is_integer_dtype(uniques.dtype) and not pd.api.types.is_bool_dtype(
            uniques.dtype):
        texts = list(map(str, values))
    elif values and all(type(v) is str for v in values):
        joined = "".join(values)
        if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
            texts = [v.translate(_ESCAPES) for v in values]
        else:
            texts = values
    else:
        texts = [_copy_scalar(v, type_) for v in values]
    texts.append(_NULL)  # code -1 → NULL
    out: list[str] = np.array(texts, dtype=object)[codes].tolist()
    return out


def copy_text(frame: pd.DataFrame, table: sa.Table, names: Sequence[str], *,
              tail: str = "") -> str:
    """Rows of ``frame``'s columns ``names`` (absent ones NULL) as ``COPY`` text: one line per
    row, fields separated by tabs, ``tail`` (pre-formatted constant fields, each led by a
    tab) at the end of every line.

    Examples
    --------
    >>> tab = sa.Table("x", sa.MetaData(), sa.Column("a", sa.Integer), sa.Column("b", sa.Text))
    >>> copy_text(pd.DataFrame({"a": [1, 2], "b": ["x", None]}), tab, ["a", "b"], tail="\\tt")
    '1\\tx\\tt\\n2\\t\\\\N\\tt\\n'
    """
    n = len(frame)
    if not n:
        return ""
    columns = [copy_column(frame[c] if c in frame.columns else None, table.c[c].type, n)
               for c in names]
    end = tail + "\n"
    return end.join(map("\t".join, zip(*columns, strict=True))) + end


def _copy_text(conn: Connection, table: sa.Table, column_sql: str,
               chunks: Iterator[tuple[int, str]], progress: Callable[[int], None] | None) -> None:
    """One ``COPY … FROM STDIN`` (text format) fed with ``chunks`` (rows done after the chunk,
    its text); see :func:`_copy_stream`.
    """
    def feed(copy: Any) -> None:
        for done, text in chunks:
            copy.write(text)
            if progress is not None:
                progress(done)  # the COPY is still open: nothing is visible or committed

    _copy_stream(conn, table, column_sql, feed)


def _copy_stream(conn: Connection, table: sa.Table, column_sql: str, feed: Callable[[Any], None]) -> None:
    """One ``COPY … FROM STDIN`` on the transaction's psycopg connection; ``feed(copy)`` writes
    to it. Progress reported inside ``feed`` runs while the COPY is open, so a process killed
    there leaves nothing stored (tests/test_storage_atomicity.py). Driver errors come out as the
    same exception classes as SQLAlchemy-executed statements, a lost connection invalidated.
    """
    dialect = conn.dialect
    sql = f"COPY {dialect.identifier_preparer.quote(table.name)} ({column_sql}) FROM STDIN"
    raw: Any = conn.connection.driver_connection
    base_error = dialect.loaded_dbapi.Error
    try:
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            feed(copy)
    except base_error as exc:
        lost = dialect.is_disconnect(exc, raw, None)
        if lost:
            conn.invalidate(exc)
        raise sa.exc.DBAPIError.instance(sql, None, exc, base_error, dialect=dialect,
                                         connection_invalidated=lost) from exc


def _insert_batches(conn: Connection, table: sa.Table, column_names: list[str], n_rows: int,
                    batches: Iterator[tuple[int, Batch]], constants: dict[str, Any] | None,
                    progress: Callable[[int], None] | None, *, prebound: bool = False) -> None:
    """Write ``batches`` (rows done after the batch, the batch's columns): one ``COPY`` on
    PostgreSQL, one ``executemany`` per batch elsewhere. ``prebound``: the batches already
    hold the values to bind (:func:`sqlite_values`), no bind processor is applied.
    """
    constants = dict(constants or {})
    names = column_names + list(constants)
    if not n_rows:
        return
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    column_sql = ", ".join(quote(c) for c in names)
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        _copy(conn, table, column_sql, batches, constants, progress)
        return
    processors = {c: table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in names}
    bound_constants = []
    for name, value in constants.items():
        proc = processors[name]
        bound_constants.append(proc(value) if proc is not None and value is not None else value)
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    is_sqlite = dialect.name == "sqlite"
    if is_sqlite:
        # SQLite: the constants are written into the statement once (not bound on every row)
        # and a column with no value in a batch is left out (it takes its NULL default), so
        # only the values that differ from row to row are bound
        tail_names, tail_sql = list(constants), [_sqlite_literal(v) for v in bound_constants]
        bound_constants = []
    else:
        tail_names, tail_sql = list(constants), [marker] * len(constants)
    if is_sqlite:
        cache = int(conn.exec_driver_sql("PRAGMA cache_size").scalar() or -2000)
        conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_BULK_CACHE_KIB}")
    try:
        for done, batch in batches:
            bound_names: list[str] = []
            converted = []
            for name in column_names:
                values = batch[name]
                if is_sqlite and _null_by_default(table.c[name]) and \
                        values.count(None) == len(values):
                    continue
                proc = None if prebound else processors[name]
                if proc is not None and name in _DATE_COLUMNS.get(table.name, ()):
                    values = _dates_bound(values, proc)
                elif proc is not None:
                    values = [None if v is None else proc(v) for v in values]
                bound_names.append(name)
                converted.append(values)
            n = len(batch[column_names[0]]) if column_names else 0
            converted += [[value] * n for value in bound_constants]
            sql = (f"INSERT INTO {quote(table.name)} "
                   f"({', '.join(quote(c) for c in [*bound_names, *tail_names])}) "
                   f"VALUES ({', '.join([marker] * len(bound_names) + tail_sql)})")
            conn.exec_driver_sql(sql, list(zip(*converted, strict=True)))
            if progress is not None:
                progress(done)
    finally:
        if is_sqlite:
            conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache)}")


def _null_by_default(column: sa.Column[Any]) -> bool:
    """Leaving ``column`` out of an INSERT stores NULL: nullable, no default of any kind."""
    return bool(column.nullable) and column.server_default is None and column.default is None \
        and not column.primary_key


def _sqlite_literal(value: Any) -> str:
    """A bound SQLite value (``None``, bool, int, float, text) as an SQL literal.

    Examples
    --------
    >>> [_sqlite_literal(v) for v in (None, True, 7, 0.5, "it's")]
    ['NULL', '1', '7', '0.5', "'it''s'"]
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, str) and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for the constant {value!r}")


#: Date columns per table: their bind processor is applied once per distinct day.
_DATE_COLUMNS = {"results": ("sample_date",), "flows": ("date",),
                 "events": ("start_date", "end_date")}


def _dates_bound(values: list[Any], proc: Callable[[Any], Any]) -> list[Any]:
    """Bind-processed dates, each distinct value processed once."""
    cache: dict[Any, Any] = {None: None}
    out = []
    for v in values:
        bound = cache.get(v, cache)
        if bound is cache:
            bound = cache[v] = proc(v)
        out.append(bound)
    return out


def _copy(conn: Connection, table: sa.Table, column_sql: str,
          batches: Iterator[tuple[int, Batch]], constants: dict[str, Any],
          progress: Callable[[int], None] | None) -> None:
    """One ``COPY … FROM STDIN`` of ``batches``, row by row through psycopg's adaptation
    (:func:`_copy_stream`).
    """
    tail = tuple(constants.values())

    def feed(copy: Any) -> None:
        write = copy.write_row
        for done, batch in batches:
            for row in zip(*batch.values(), strict=True):
                write(row + tail)
            if progress is not None:
                progress(done)  # the COPY is still open: nothing is visible or committed

    _copy_stream(conn, table, column_sql, feed)
