"""The series block layout (``wastewater.storage.series.encode_block`` / ``decode_block``): exact
round trips, the documented bytes, refusals; merging touched days; migration 0008's conversion.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import math
import struct

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from wastewater.storage import series
from wastewater.storage.series import BLOCK_LAYOUT, decode_block, encode_block, merge_days

EPOCH = dt.date(1970, 1, 1)
FIRST, LAST = dt.date(1900, 1, 1), dt.date(2200, 12, 31)  # the dates ingest accepts
MIGRATION = (series.__file__.rsplit("/", 1)[0]
             + "/migrations/versions/0008_series_blocks.py")


def _days(*dates: dt.date) -> np.ndarray:
    return np.array([(d - EPOCH).days for d in dates], dtype=np.int64)


def _columns(days: np.ndarray, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = len(days)
    out: dict[str, np.ndarray] = {"date": days}
    for name, code in BLOCK_LAYOUT[1:]:
        if code == "<f8":
            values = rng.lognormal(3, 2, n)
            values[rng.random(n) < 0.3] = np.nan  # NULL in the old table
            out[name] = values
        elif code == "u1":
            out[name] = rng.random(n) < 0.5
        else:
            out[name] = rng.integers(0, 200, n)
    return out


def _assert_same(decoded: dict[str, np.ndarray], columns: dict[str, np.ndarray]) -> None:
    assert list(decoded) == [name for name, _ in BLOCK_LAYOUT]
    for name, values in columns.items():
        got = decoded[name]
        if got.dtype.kind == "f":
            # bit for bit: the same floats, NaN where NaN
            assert got.tobytes() == np.asarray(values, dtype=np.float64).tobytes(), name
        else:
            assert got.tolist() == np.asarray(values).tolist(), name


def test_round_trip_is_exact_with_nan_and_extreme_dates():
    days = _days(FIRST, dt.date(1969, 12, 31), EPOCH, dt.date(2025, 2, 28), LAST)
    columns = _columns(days)
    columns["concentration_ng_per_l"][:] = [math.nan, -0.0, 5e-324, 1.7976931348623157e308,
                                            0.1 + 0.2]
    block = encode_block(columns)
    assert len(block) == 12 + 69 * 5
    decoded = decode_block(block)
    _assert_same(decoded, columns)
    assert decoded["date"].tolist() == [-25567, -1, 0, 20147, 84370]
    assert math.copysign(1.0, decoded["concentration_ng_per_l"][1]) == -1.0
    assert decoded["date"].dtype == np.int32 and decoded["censored"].dtype == bool
    assert decoded["n_replicates"].dtype == np.int32
    assert decode_block(memoryview(block))["date"].tolist() == decoded["date"].tolist()


def test_empty_series_round_trips():
    block = encode_block(_columns(np.empty(0, dtype=np.int64)))
    assert block == b"WWSB" + struct.pack("<HHI", 1, 11, 0)
    decoded = decode_block(block)
    assert all(len(v) == 0 for v in decoded.values())


def test_documented_layout_little_endian_column_after_column():
    columns = {"date": np.array([1, 3]), "concentration_ng_per_l": np.array([2.5, np.nan]),
               "censored": np.array([False, True]), "n_replicates": np.array([2, 1]),
               "composite_hours": np.array([24, 72])}
    for name, _code in BLOCK_LAYOUT:
        columns.setdefault(name, np.array([1.0, 2.0]))
    block = encode_block(columns)
    assert block[:12] == b"WWSB\x01\x00\x0b\x00\x02\x00\x00\x00"
    assert block[12:20] == struct.pack("<ii", 1, 3)
    assert block[20:36] == struct.pack("<dd", 2.5, math.nan)
    assert block[36:38] == b"\x00\x01"
    assert block[-8:] == struct.pack("<ii", 24, 72)


def test_datetime_dates_are_days_since_1970():
    columns = _columns(_days(FIRST, LAST))
    as_dates = dict(columns, date=np.array(["1900-01-01", "2200-12-31"], dtype="datetime64[ns]"))
    assert encode_block(as_dates) == encode_block(columns)


@pytest.mark.parametrize("days", [[3, 3], [5, 4]])
def test_unsorted_or_repeated_days_are_refused(days):
    with pytest.raises(ValueError, match="strictly ascending"):
        encode_block(_columns(np.array(days)))


def test_values_the_layout_cannot_hold_are_refused():
    columns = _columns(np.array([0, 1]))
    with pytest.raises(ValueError, match="2 values for 1 days|values for"):
        encode_block(dict(columns, date=np.array([0])))
    with pytest.raises(ValueError, match="n_replicates out of range"):
        encode_block(dict(columns, n_replicates=np.array([1, 2**31])))
    with pytest.raises(ValueError, match="composite_hours cannot hold a missing value"):
        encode_block(dict(columns, composite_hours=np.array([24.0, np.nan])))


def test_foreign_or_truncated_blocks_are_refused():
    block = encode_block(_columns(np.array([0, 1])))
    with pytest.raises(ValueError, match="unknown series block"):
        decode_block(b"XXXX" + block[4:])
    with pytest.raises(ValueError, match="version 2"):
        decode_block(block[:4] + struct.pack("<H", 2) + block[6:])
    with pytest.raises(ValueError, match="149 bytes for 2 days"):
        decode_block(block[:-1])
    with pytest.raises(ValueError, match="shorter than its header"):
        decode_block(block[:5])


def test_merge_replaces_the_touched_days_only():
    old = decode_block(encode_block(_columns(np.array([1, 2, 3, 10, 11, 20]))))
    new = _columns(np.array([2, 12]), seed=2)
    merged = merge_days(old, np.array([[2, 4], [11, 12]]), new)
    # day 3 and day 11 were touched and have no new data: gone; 2 and 12 come from new
    assert merged["date"].tolist() == [1, 2, 10, 12, 20]
    source = [old, new, old, new, old]
    index = [0, 0, 3, 1, 5]
    for name, _ in BLOCK_LAYOUT[1:]:
        expected = np.array([s[name][i] for s, i in zip(source, index, strict=True)], dtype=float)
        np.testing.assert_array_equal(np.asarray(merged[name], dtype=float), expected)
    assert merge_days(old, np.empty((0, 2), dtype=np.int64), series._empty_columns())["date"] \
        .tolist() == [1, 2, 3, 10, 11, 20]
    assert merge_days(old, np.array([[0, 30]]), series._empty_columns())["date"].tolist() == []


def test_stored_frame_has_the_store_dtypes():
    block = decode_block(encode_block(_columns(_days(dt.date(2025, 1, 1), dt.date(2025, 1, 3)))))
    frame = series._store_frame(["SE-A"], ["mdma"], [block])
    empty = series._empty_store_frame()
    assert list(frame.columns) == list(series.STORE_COLUMNS) == list(empty.columns)
    assert frame["date"].tolist() == [pd.Timestamp("2025-01-01"), pd.Timestamp("2025-01-03")]
    assert str(frame["date"].dtype) == "datetime64[ns]"
    assert frame["n_replicates"].dtype == np.int64 and frame["censored"].dtype == bool
    assert frame["site"].tolist() == ["SE-A", "SE-A"]


def _migration():
    spec = importlib.util.spec_from_file_location("migration_0008", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_migration_copy_of_the_layout_gives_the_runtime_bytes():
    m = _migration()
    assert m.LAYOUT == BLOCK_LAYOUT and m.MAGIC == series.BLOCK_MAGIC
    assert m.VERSION == series.BLOCK_VERSION
    columns = _columns(_days(FIRST, dt.date(2024, 2, 29), LAST))
    assert m.encode(columns) == encode_block(columns)
    block = encode_block(columns)
    for name, values in m.decode(block).items():
        assert values.tobytes() == np.ascontiguousarray(
            decode_block(block)[name], dtype=dict(BLOCK_LAYOUT)[name]).tobytes()


def test_migration_0008_converts_rows_to_blocks_and_back(blank_db_url):
    """Rows of series_daily at 0007 (NULLs, extreme dates) become blocks and come back."""
    from wastewater.storage.database import get_engine, upgrade

    upgrade(blank_db_url, "0007")
    engine = get_engine(blank_db_url)
    names = [c for c in series.STORE_COLUMNS]
    rows = []
    for i, day in enumerate([FIRST, dt.date(2025, 1, 2), dt.date(2025, 1, 3), LAST]):
        rows.append({"site": "SE-A", "analyte": "mdma", "date": day,
                     "concentration_ng_per_l": None if i == 1 else 10.0 + i / 3, "censored": i == 1,
                     "loq_ng_per_l": 5.0, "flow_m3_per_day": None, "population": 20000.0,
                     "load_mg_per_day": None if i == 1 else 0.1 * i,
                     "load_mg_per_day_per_1000": None, "n_replicates": i + 1,
                     "replicate_sd_ng_per_l": None if i else 1.25, "composite_hours": 24 * (i + 1)})
    rows.append(dict(rows[1], site="SE-B", analyte="amphetamine", date=dt.date(2025, 3, 1)))
    daily = sa.table("series_daily", *[sa.column(c, t) for c, t in zip(names, [
        sa.Text(), sa.Text(), sa.Date(), sa.Float(), sa.Boolean(), sa.Float(), sa.Float(),
        sa.Float(), sa.Float(), sa.Float(), sa.Integer(), sa.Float(), sa.Integer()], strict=True)])
    with engine.begin() as conn:
        conn.execute(sa.insert(daily), rows)
    try:
        upgrade(blank_db_url)
        stored = series.read_store(engine)
        assert list(zip(stored["site"], stored["analyte"], stored["date"].dt.date, strict=True)) \
            == [(r["site"], r["analyte"], r["date"]) for r in rows]
        for c in names[3:]:
            expected = [math.nan if r[c] is None else r[c] for r in rows]
            np.testing.assert_array_equal(stored[c].to_numpy(dtype=float), expected, err_msg=c)
        with engine.connect() as conn:
            b = series.t.series_blocks.c
            assert conn.execute(sa.select(b.site, b.n_days, b.first_date, b.last_date)
                                .order_by(b.site)).all() == [("SE-A", 4, FIRST, LAST),
                                                             ("SE-B", 1, dt.date(2025, 3, 1),
                                                              dt.date(2025, 3, 1))]
        upgrade_cfg_downgrade(blank_db_url, "0007")
        with engine.connect() as conn:
            back = conn.execute(sa.select(daily).order_by(daily.c.site, daily.c.date)).mappings().all()
        assert [dict(r) for r in back] == rows
    finally:
        engine.dispose()


def upgrade_cfg_downgrade(url: str, revision: str) -> None:
    from alembic import command

    from wastewater.storage.database import alembic_config, get_engine

    engine = get_engine(url)
    try:
        cfg = alembic_config(url)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)
    finally:
        engine.dispose()
