"""Bulk load of validated frames: column-wise value conversion, SQLite executemany, PostgreSQL COPY.

The ingest service (:mod:`wastewater.storage.service`) hands whole columns here instead of one
dict per row:

* :func:`column_values` turns a frame column into the Python values the database driver takes
  (``None`` for every missing value), converting each distinct date once;
* :func:`insert_frame` (and :func:`insert_frames` for a stream of frames) writes the rows of a
  frame inside the caller's transaction without making Python values row by row: each column
  is prepared once for the whole frame and every batch gathered from it. On PostgreSQL each
  batch becomes one block of ``COPY`` text (:func:`copy_text`: each distinct number, date or
  flag formatted and each text escaped once, text without anything to escape taken as it is;
  a column with one text in every row written once, at the end of each line); on SQLite each
  column becomes its driver values at once (dates as their ISO text, as SQLAlchemy stores
  them) and a batch is written by ``INSERT`` statements of :data:`SQLITE_ROWS_PER_INSERT`
  rows each.

Both run on the caller's connection and transaction, so a failure or a killed process
anywhere (also in the middle of a ``COPY``) leaves nothing stored. Integrity (the results'
sites and uploads exist, the unique index of current rows) is checked by the database (on
PostgreSQL the references once per statement, migration 0007); the parser has already checked
the upload's sites against the ``sites`` table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["BATCH_ROWS", "SQLITE_BULK_CACHE_KIB", "SQLITE_ROWS_PER_INSERT", "column_values", "copy_column", "copy_text",
           "insert_frame", "insert_frames", "sqlite_values"]

BATCH_ROWS = 20_000
"""Rows per batch: the ``INSERT`` statements of one ``executemany`` (SQLite) or one stretch of
the ``COPY`` stream (PostgreSQL); progress is reported after each."""

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
    """Insert ``frame``'s columns ``names`` (absent ones NULL) in the caller's transaction,
    prepared once per column and converted one batch at a time, so that only one batch of
    driver values exists at once; ``constants``: column name → one value shared by every row
    (upload id, stored_at …); ``progress(rows_written)`` after each batch of
    :data:`BATCH_ROWS` rows (inside the transaction, before the commit).

    ``order`` (positions of ``frame``'s rows) inserts the rows in that order, each batch
    gathered on its own, instead of a reordered copy of the whole frame.

    PostgreSQL (psycopg): one ``COPY`` fed with text, batch by batch; each column's distinct
    values are formatted once (:func:`copy_text`) and the columns with one text in every row
    are written once, as constant fields at the end of each line. SQLite: each column's driver
    values are made once (:func:`sqlite_values`), each batch gathered from them and written by
    ``INSERT`` statements of :data:`SQLITE_ROWS_PER_INSERT` rows each.
    """
    _load(conn, table, [(frame, order)], names, constants, progress)


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
    _load(conn, table, ((frame, None) for frame in frames), names, constants, progress)


def _load(conn: Connection, table: sa.Table, parts: Iterable[tuple[pd.DataFrame, np.ndarray | None]],
          names: Sequence[str], constants: dict[str, Any] | None,
          progress: Callable[[int], None] | None) -> None:
    """Write the rows of ``parts`` (a frame and the order of its rows, ``None``: as they are)
    in batches of at most :data:`BATCH_ROWS` rows: one ``COPY`` on PostgreSQL (psycopg),
    ``INSERT`` statements on SQLite.
    """
    dialect = conn.dialect
    stream = iter(parts)
    first = next((part for part in stream if len(part[0])), None)
    if first is None:
        return
    stream = itertools.chain([first], (part for part in stream if len(part[0])))
    names = list(names)
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        _copy_frames(conn, table, stream, names, dict(constants or {}), progress)
    elif dialect.name == "sqlite":
        _sqlite_frames(conn, table, stream, names, dict(constants or {}), progress)
    else:  # pragma: no cover - only SQLite and PostgreSQL (psycopg) are supported
        def converted() -> Iterator[tuple[int, Batch]]:
            done = 0
            for frame, order in stream:
                for idx in _batches(len(frame), order):
                    part = frame.iloc[idx]
                    done += len(part)
                    yield done, {c: column_values(part[c] if c in part.columns else None, len(part))
                                 for c in names}

        _insert_batches(conn, table, names, len(first[0]), converted(), constants, progress)


def _count(idx: slice | np.ndarray) -> int:
    """Rows of a batch of :func:`_batches`."""
    return int(idx.stop - idx.start) if isinstance(idx, slice) else len(idx)


def _batches(n_rows: int, order: np.ndarray | None) -> Iterator[slice | np.ndarray]:
    """Row positions of each batch of :data:`BATCH_ROWS` rows (a slice, or a part of ``order``)."""
    for start in range(0, n_rows, BATCH_ROWS):
        stop = min(start + BATCH_ROWS, n_rows)
        yield slice(start, stop) if order is None else order[start:stop]


# --------------------------------------------------------------------------- SQLite values


SQLITE_ROWS_PER_INSERT = 100
"""Rows per SQLite ``INSERT … VALUES (…), (…)`` statement of the bulk load (fewer when the rows'
parameters would pass the connection's variable limit). Measured in one run on 1 M results:
the statements' execution 3.1 s against 4.2 s for one row per statement, the grouping of the
parameters no dearer than one tuple per row."""


def sqlite_values(series: pd.Series | None, type_: Any, n_rows: int) -> list[Any]:
    """The values the SQLite bulk load binds for a column (:func:`_sqlite_array`), as a list.

    Dates become ``YYYY-MM-DD`` text (SQLAlchemy's SQLite ``DATE`` storage), each distinct day
    formatted once; flags stay Python ``bool`` (stored as 1/0); missing text is ``None``;
    floats stay floats, NaN included, which SQLite stores as NULL.

    Examples
    --------
    >>> sqlite_values(pd.Series(pd.to_datetime(["2025-03-04", None])), sa.Date(), 2)
    ['2025-03-04', None]
    >>> sqlite_values(pd.Series([True, False]), sa.Boolean(), 2)
    [True, False]
    >>> sqlite_values(pd.Series(["a", None, float("nan")]), sa.Text(), 3)
    ['a', None, None]
    """
    values = _sqlite_array(series, type_, n_rows)
    out: list[Any] = [None] * n_rows if values is None else values.tolist()
    return out


def _sqlite_array(series: pd.Series | None, type_: Any, n_rows: int) -> np.ndarray | None:
    """A column's driver values for SQLite as one array, each batch then gathered from it;
    ``None`` when every value is missing (or the column is absent).

    Dates (``datetime64`` in a ``DATE`` column): ISO text, each distinct day formatted once,
    ``None`` for NaT. Floats: the float64 array itself; SQLite stores a bound NaN as NULL
    (``sqlite3_bind_double``; tests/test_storage_bulk.py), so missing values need no
    conversion. Integers and flags without missing values: their numpy array. Text: the
    column's objects, copied with ``None`` for every missing value only when it has any
    (a column of nothing but ``str`` is recognised by one ``infer_dtype`` pass). Anything
    else: :func:`column_values`.
    """
    if series is None:
        return None
    if isinstance(type_, sa.Date) and not isinstance(type_, sa.DateTime) \
            and pd.api.types.is_datetime64_any_dtype(series):
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        if not len(uniques):
            return None
        days = np.array([f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d}" for ts in uniques] + [None],
                        dtype=object)
        dated: np.ndarray = days[codes]  # code -1 → None
        return dated
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        floats = series.to_numpy()
        return None if np.isnan(floats).all() else floats
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        numbers: np.ndarray = series.to_numpy()
        return numbers
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        values: np.ndarray = series.to_numpy(dtype=object)
        if pd.api.types.infer_dtype(values, skipna=False) == "string":
            return values  # no missing value: the texts as they are
        missing = pd.isna(values)
        if missing.all():
            return None
        if missing.any():
            values = values.copy()
            values[missing] = None
        return values
    python_values = column_values(series, n_rows)
    if all(v is None for v in python_values):
        return None
    out = np.empty(n_rows, dtype=object)
    out[:] = python_values
    return out


def _sqlite_frames(conn: Connection, table: sa.Table,
                   parts: Iterable[tuple[pd.DataFrame, np.ndarray | None]], names: list[str],
                   constants: dict[str, Any], progress: Callable[[int], None] | None) -> None:
    """SQLite: each frame's columns made into driver values once (:func:`_sqlite_array`),
    then batch by batch ``INSERT`` statements of several rows each (:func:`_sqlite_insert`).

    The constants and a frame's columns of one integer or text in every row
    (:func:`_one_literal`) are literals of the statement (not bound on every row) and its
    nullable columns without any value are left out (they take their NULL default), so only
    the values that differ from row to row are bound. The page cache is larger during the
    load (:data:`SQLITE_BULK_CACHE_KIB`).
    """
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    literals = []
    for name, value in constants.items():
        proc = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        literals.append(_sqlite_literal(proc(value) if proc is not None and value is not None
                                        else value))
    raw: Any = conn.connection.driver_connection
    limit = int(raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    cache = int(conn.exec_driver_sql("PRAGMA cache_size").scalar() or -2000)
    conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_BULK_CACHE_KIB}")
    try:
        done = 0
        for frame, order in parts:
            n = len(frame)
            bound, arrays, fixed, fixed_sql = [], [], [], []
            for name in names:
                values = _sqlite_array(frame[name] if name in frame.columns else None,
                                       table.c[name].type, n)
                if values is None:
                    if _null_by_default(table.c[name]):
                        continue
                    values = np.full(n, None, dtype=object)
                literal = _one_literal(values)
                if literal is not None:  # one integer or text in every row: written once
                    fixed.append(name)
                    fixed_sql.append(literal)
                    continue
                bound.append(name)
                arrays.append(values)
            columns = ", ".join(quote(c) for c in [*bound, *fixed, *constants])
            row_sql = "(" + ", ".join(["?"] * len(bound) + fixed_sql + literals) + ")"
            per_insert = max(1, min(SQLITE_ROWS_PER_INSERT, limit // max(1, len(bound))))
            head = f"INSERT INTO {quote(table.name)} ({columns}) VALUES "
            for idx in _batches(n, order):
                batch = [values[idx].tolist() for values in arrays]
                done += _sqlite_insert(conn, head, row_sql, batch, per_insert, _count(idx))
                if progress is not None:
                    progress(done)
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache)}")


def _one_literal(values: np.ndarray) -> str | None:
    """The SQL literal of the one value of every row of a column of driver values, when that
    value is an integer, a flag or a text (:func:`_sqlite_literal`); ``None`` otherwise (more
    than one value, floats, whose literals SQLite would read back by its own conversion).

    Text columns are first compared at a few rows spread over the column, so that a column of
    several texts is told apart without comparing every row.

    >>> _one_literal(np.array([3, 3])), _one_literal(np.array(["a'b", "a'b"], dtype=object))
    ('3', "'a''b'")
    >>> _one_literal(np.array([3, 4])), _one_literal(np.array([0.5, 0.5]))
    (None, None)
    """
    if not len(values) or values.dtype.kind not in "ibO":
        return None
    first = values[0]
    if values.dtype.kind == "O":
        if type(first) is not str or "\x00" in first:
            return None
        spread = np.linspace(0, len(values) - 1, num=min(len(values), 32)).astype(np.int64)
        if any(type(v) is not str or v != first for v in values[spread].tolist()):
            return None
        if not (values == first).all():  # only a text equals a text
            return None
        return _sqlite_literal(first)
    if not (values == first).all():
        return None
    return _sqlite_literal(first.item())


def _sqlite_insert(conn: Connection, head: str, row_sql: str, columns: list[list[Any]],
                   per_insert: int, n_rows: int) -> int:
    """Insert ``n_rows`` rows given column-wise: one ``executemany`` of statements with
    ``per_insert`` rows each (their parameters one flat tuple, row after row), then one of
    single-row statements for the rows left over. Returns ``n_rows``.
    """
    full = n_rows - n_rows % per_insert
    if full and per_insert > 1:
        if columns:
            flat = itertools.chain.from_iterable(zip(*[c[:full] for c in columns], strict=True))
            groups: list[tuple[Any, ...]] = list(zip(*[flat] * (per_insert * len(columns)),
                                                     strict=False))
        else:
            groups = [()] * (full // per_insert)
        conn.exec_driver_sql(head + ", ".join([row_sql] * per_insert), groups)
    else:
        full = 0
    if full < n_rows:
        rest: list[tuple[Any, ...]] = (list(zip(*[c[full:] for c in columns], strict=True))
                                       if columns else [()] * (n_rows - full))
        conn.exec_driver_sql(head + row_sql, rest)
    return n_rows


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


@dataclasses.dataclass(frozen=True)
class _CopyColumn:
    """One column in ``COPY`` text format, ready to be gathered batch by batch: the rows'
    texts (``codes`` ``None``) or a table of texts and each row's code into it (``-1``, the
    table's last text, is ``\\N``); ``constant`` is the one text of every row, if there is one.
    ``numbers``: a column of mostly distinct numbers (numpy integers or floats), formatted
    batch by batch instead of holding a text per row.
    """

    texts: np.ndarray
    codes: np.ndarray | None
    constant: str | None = None
    numbers: np.ndarray | None = None

    def take(self, idx: slice | np.ndarray) -> list[str]:
        """The texts of the rows ``idx``."""
        if self.numbers is not None:
            values = self.numbers[idx]
            if values.dtype.kind != "f":
                return list(map(str, values.tolist()))
            texts = list(map(repr, values.tolist()))
            for i in np.flatnonzero(~np.isfinite(values)).tolist():
                texts[i] = _NULL if np.isnan(values[i]) else _float_text(float(values[i]))
            return texts
        out: list[str] = (self.texts[idx] if self.codes is None
                          else self.texts[self.codes[idx]]).tolist()
        return out


def _copy_prepare(series: pd.Series | None, type_: Any, n_rows: int) -> _CopyColumn:
    """:class:`_CopyColumn` of a whole column (see :func:`copy_column`).

    A column of nothing but ``str`` (one ``infer_dtype`` pass) without a backslash, tab,
    newline or carriage return anywhere is its own text: no hashing of the texts. Any other
    column is factorised once: each distinct value formatted and escaped once, every row a
    code into those texts.
    """
    if series is None:
        return _CopyColumn(np.array([_NULL], dtype=object), np.zeros(n_rows, dtype=np.int32),
                           _NULL)
    if series.dtype == object:
        values = series.to_numpy(dtype=object)
        if pd.api.types.infer_dtype(values, skipna=False) == "string":
            joined = "".join(values)
            if not ("\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined):
                return _CopyColumn(values, None)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    if len(uniques) > n_rows // 8 and isinstance(series.dtype, np.dtype) and (
            series.dtype.kind in "iu" or (series.dtype.kind == "f"
                                          and not isinstance(type_, sa.Integer))):
        # mostly distinct numbers (a line number, a measured value): a table of their texts
        # would hold one more string per row for the whole load
        return _CopyColumn(np.empty(0, dtype=object), None, numbers=series.to_numpy())
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
    constant = None
    if len(texts) == 1:
        constant = _NULL
    elif len(texts) == 2 and (codes >= 0).all():
        constant = texts[0]
    small = codes.astype(np.int32) if len(texts) < 2**31 else codes
    return _CopyColumn(np.array(texts, dtype=object), small, constant)


def copy_column(series: pd.Series | None, type_: Any, n_rows: int) -> list[str]:
    """One column in ``COPY`` text format, made column-wise.

    Each distinct value is formatted once (``pd.factorize``, then one ``map`` over the distinct
    values): ``repr`` for floats (the shortest text that reads back as the same double),
    ``str`` for integers, ISO dates, ``t``/``f`` for flags, text with backslash, tab, newline
    and carriage return escaped; NaN, NA and ``None`` → ``\\N``. Text without missing values
    and without any character to escape is taken as it is.

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
    return _copy_prepare(series, type_, n_rows).take(slice(0, n_rows))


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
    columns = [_copy_prepare(frame[c] if c in frame.columns else None, table.c[c].type, n)
               for c in names]
    return _copy_lines([c.take(slice(0, n)) for c in columns], tail)


def _copy_lines(columns: list[list[str]], tail: str) -> str:
    """``COPY`` lines of texts given column-wise, ``tail`` at the end of each line."""
    end = tail + "\n"
    if not columns:
        raise ValueError("a COPY line needs at least one field")
    return end.join(map("\t".join, zip(*columns, strict=True))) + end


def _copy_frames(conn: Connection, table: sa.Table,
                 parts: Iterator[tuple[pd.DataFrame, np.ndarray | None]], names: list[str],
                 constants: dict[str, Any], progress: Callable[[int], None] | None) -> None:
    """PostgreSQL: one ``COPY`` of every frame's rows, batch by batch.

    Each frame's columns are prepared once (:func:`_copy_prepare`). The ``COPY``'s column
    list is the first frame's columns with more than one text, then its columns of one text
    and the constants: those are one pre-formatted tail written at the end of every line
    instead of a field per row. A later frame writes every column in that order (its own
    texts for the columns that were constant in the first).
    """
    quote = conn.dialect.identifier_preparer.quote
    frame, order = next(parts)
    prepared = _copy_columns(frame, table, names)
    varying = [c for c in names if prepared[c].constant is None]
    fixed = [c for c in names if prepared[c].constant is not None]
    if not varying:  # a line needs one field to join on: the first column, row by row
        varying, fixed = fixed[:1], fixed[1:]
    constants_tail = "".join("\t" + _copy_scalar(v, table.c[c].type) for c, v in constants.items())
    tail = "".join("\t" + str(prepared[c].constant) for c in fixed) + constants_tail
    layout = [*varying, *fixed]
    column_sql = ", ".join(quote(c) for c in [*layout, *constants])

    def chunks() -> Iterator[tuple[int, str]]:
        done = 0
        for idx in _batches(len(frame), order):
            done += _count(idx)
            yield done, _copy_lines([prepared[c].take(idx) for c in varying], tail)
        for later, later_order in parts:
            columns = _copy_columns(later, table, names)
            for idx in _batches(len(later), later_order):
                done += _count(idx)
                yield done, _copy_lines([columns[c].take(idx) for c in layout], constants_tail)

    _copy_text(conn, table, column_sql, chunks(), progress)


def _copy_columns(frame: pd.DataFrame, table: sa.Table, names: list[str]) -> dict[str, _CopyColumn]:
    n = len(frame)
    return {c: _copy_prepare(frame[c] if c in frame.columns else None, table.c[c].type, n)
            for c in names}


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
                    progress: Callable[[int], None] | None) -> None:
    """Write ``batches`` (rows done after the batch, the batch's columns) by one
    ``executemany`` each, the values through the columns' bind processors: the load of a
    database other than SQLite and PostgreSQL with psycopg (:func:`_sqlite_frames` and
    :func:`_copy_frames` serve those).
    """
    constants = dict(constants or {})
    names = column_names + list(constants)
    if not n_rows:
        return
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    processors = {c: table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in names}
    bound_constants = []
    for name, value in constants.items():
        proc = processors[name]
        bound_constants.append(proc(value) if proc is not None and value is not None else value)
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in names)}) "
           f"VALUES ({', '.join([marker] * len(names))})")
    for done, batch in batches:
        converted = []
        for name in column_names:
            values = batch[name]
            proc = processors[name]
            if proc is not None and name in _DATE_COLUMNS.get(table.name, ()):
                values = _dates_bound(values, proc)
            elif proc is not None:
                values = [None if v is None else proc(v) for v in values]
            converted.append(values)
        n = len(batch[column_names[0]]) if column_names else 0
        converted += [[value] * n for value in bound_constants]
        conn.exec_driver_sql(sql, list(zip(*converted, strict=True)))
        if progress is not None:
            progress(done)


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
