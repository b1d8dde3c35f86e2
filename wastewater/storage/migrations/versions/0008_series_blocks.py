"""Derived daily-series store: one row per series with its days as a columnar block
(``series_blocks``) instead of one row per (site, analyte, day) (``series_daily``).

A results upload of 50 sites × 20 analytes × 1 000 days wrote a million ``series_daily`` rows
inside its transaction; it now writes 1 000 blocks, and a reader of a series reads one row.
The existing rows are converted into blocks of layout version 1
(``wastewater.storage.series.BLOCK_LAYOUT``; the encoder and decoder below are this revision's
own copies of that layout, ``tests/test_series_blocks.py`` checks that they give the runtime's
bytes); the downgrade converts the blocks back into rows. An offline SQL script only creates
and drops the tables: run ``wastewater db rebuild-series`` after it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from typing import Any

import numpy as np
import sqlalchemy as sa
from alembic import context, op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# layout version 1, as wastewater.storage.series.BLOCK_LAYOUT when this revision was written
MAGIC = b"WWSB"
VERSION = 1
LAYOUT = (("date", "<i4"), ("concentration_ng_per_l", "<f8"), ("censored", "u1"),
          ("loq_ng_per_l", "<f8"), ("flow_m3_per_day", "<f8"), ("population", "<f8"),
          ("load_mg_per_day", "<f8"), ("load_mg_per_day_per_1000", "<f8"),
          ("n_replicates", "<i4"), ("replicate_sd_ng_per_l", "<f8"), ("composite_hours", "<i4"))
HEADER = struct.Struct("<4sHHI")
COLUMNS = ("site", "analyte", *[name for name, _ in LAYOUT])
_EPOCH = dt.date(1970, 1, 1).toordinal()
_BATCH = 500  # blocks (upgrade) or series (downgrade) per executemany

_FLOATS = {name for name, code in LAYOUT if code == "<f8"}
_INTS = {"n_replicates", "composite_hours"}


def encode(columns: dict[str, np.ndarray]) -> bytes:
    """Block of one series' days (``date`` in days since 1970-01-01, ascending)."""
    n = len(columns["date"])
    parts = [HEADER.pack(MAGIC, VERSION, len(LAYOUT), n)]
    parts += [np.ascontiguousarray(columns[name], dtype=code).tobytes() for name, code in LAYOUT]
    return b"".join(parts)


def decode(data: bytes) -> dict[str, np.ndarray]:
    magic, version, n_columns, n = HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION or n_columns != len(LAYOUT):
        raise ValueError(f"unknown series block (magic {magic!r}, version {version})")
    out, offset = {}, HEADER.size
    for name, code in LAYOUT:
        dtype = np.dtype(code)
        out[name] = np.frombuffer(data, dtype=dtype, count=n, offset=offset)
        offset += n * dtype.itemsize
    return out


def _daily_table() -> list[sa.Column[Any]]:
    return [
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("analyte", sa.Text(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("concentration_ng_per_l", sa.Float(), nullable=True),
        sa.Column("censored", sa.Boolean(), nullable=False),
        sa.Column("loq_ng_per_l", sa.Float(), nullable=True),
        sa.Column("flow_m3_per_day", sa.Float(), nullable=True),
        sa.Column("population", sa.Float(), nullable=True),
        sa.Column("load_mg_per_day", sa.Float(), nullable=True),
        sa.Column("load_mg_per_day_per_1000", sa.Float(), nullable=True),
        sa.Column("n_replicates", sa.Integer(), nullable=False),
        sa.Column("replicate_sd_ng_per_l", sa.Float(), nullable=True),
        sa.Column("composite_hours", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site", "analyte", "date", name=op.f("pk_series_daily")),
    ]


def _blocks_table() -> list[Any]:
    return [
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("analyte", sa.Text(), nullable=False),
        sa.Column("n_days", sa.Integer(), nullable=False),
        sa.Column("first_date", sa.Date(), nullable=False),
        sa.Column("last_date", sa.Date(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("site", "analyte", name=op.f("pk_series_blocks")),
    ]


def _light(name: str, columns: list[Any]) -> sa.TableClause:
    return sa.table(name, *[sa.column(c.name, c.type) for c in columns
                            if isinstance(c, sa.Column)])


def _day(value: Any) -> int:
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        value = value.date()
    return value.toordinal() - _EPOCH


def _block_row(site: str, analyte: str, rows: list[Any]) -> dict[str, Any]:
    columns: dict[str, np.ndarray] = {}
    for i, (name, _code) in enumerate(LAYOUT, start=2):
        values = [r[i] for r in rows]
        if name == "date":
            columns[name] = np.array([_day(v) for v in values], dtype=np.int64)
        elif name in _FLOATS:
            columns[name] = np.array([math.nan if v is None else float(v) for v in values])
        else:
            columns[name] = np.array([int(v) for v in values], dtype=np.int64)
    days = columns["date"]
    return {"site": site, "analyte": analyte, "n_days": len(days),
            "first_date": dt.date.fromordinal(int(days[0]) + _EPOCH),
            "last_date": dt.date.fromordinal(int(days[-1]) + _EPOCH), "data": encode(columns)}


def upgrade() -> None:
    op.create_table("series_blocks", *_blocks_table())
    if not context.is_offline_mode():
        _rows_to_blocks(op.get_bind())
    op.drop_table("series_daily")


def _rows_to_blocks(conn: sa.Connection) -> None:
    daily = _light("series_daily", _daily_table())
    blocks = _light("series_blocks", _blocks_table())
    result = conn.execute(
        sa.select(*[daily.c[c] for c in COLUMNS])
        .order_by(daily.c.site, daily.c.analyte, daily.c.date),
        execution_options={"stream_results": True, "yield_per": 10_000})
    batch: list[dict[str, Any]] = []
    key: tuple[str, str] | None = None
    rows: list[Any] = []
    for row in result:
        if (row[0], row[1]) != key:
            if rows and key is not None:
                batch.append(_block_row(*key, rows))
            key, rows = (row[0], row[1]), []
        rows.append(row)
        if len(batch) >= _BATCH:
            conn.execute(sa.insert(blocks), batch)
            batch = []
    if rows and key is not None:
        batch.append(_block_row(*key, rows))
    if batch:
        conn.execute(sa.insert(blocks), batch)


def downgrade() -> None:
    op.create_table("series_daily", *_daily_table())
    if not context.is_offline_mode():
        _blocks_to_rows(op.get_bind())
    op.drop_table("series_blocks")


def _blocks_to_rows(conn: sa.Connection) -> None:
    daily = _light("series_daily", _daily_table())
    blocks = _light("series_blocks", _blocks_table())
    result = conn.execute(
        sa.select(blocks.c.site, blocks.c.analyte, blocks.c.data)
        .order_by(blocks.c.site, blocks.c.analyte),
        execution_options={"stream_results": True, "yield_per": _BATCH})
    batch: list[dict[str, Any]] = []
    for site, analyte, data in result:
        columns = decode(bytes(data))
        for i in range(len(columns["date"])):
            row: dict[str, Any] = {"site": site, "analyte": analyte}
            for name, _code in LAYOUT:
                v = columns[name][i]
                if name == "date":
                    row[name] = dt.date.fromordinal(int(v) + _EPOCH)
                elif name == "censored":
                    row[name] = bool(v)
                elif name in _INTS:
                    row[name] = int(v)
                else:
                    row[name] = None if math.isnan(v) else float(v)
            batch.append(row)
        if len(batch) >= 20_000:
            conn.execute(sa.insert(daily), batch)
            batch = []
    if batch:
        conn.execute(sa.insert(daily), batch)
