"""The bulk load writes exactly the values of the frame (COPY text escaping, NULLs, dates,
floats to the last bit) on SQLite and PostgreSQL, and the results look-ups use the partial
indexes of migration 0006."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import sqlalchemy as sa

from wastewater.storage import tables as t
from wastewater.storage.bulk import BATCH_ROWS, insert_frame, insert_frames
from wastewater.storage.database import write_transaction
from wastewater.storage.service import ingest_bytes

SITES = b"site,name,municipality,population\nSE-A,Verk A,Kommun,10000\n"
TRICKY = ["tab\there", "new\nline", "back\\slash", "cr\rlf", "\\N", "", "åäö – 50 µg", None]


def _frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    values = rng.lognormal(3, 2, n)
    values[::7] = np.nan
    return pd.DataFrame({
        "sample_id": [f"S{i}" for i in range(n)],
        "analyte": "cocaine",
        "replicate": np.arange(n) % 3 + 1,
        "sample_role": "sample",
        "site": "SE-A",
        "sample_date": pd.to_datetime("2025-01-01") + pd.to_timedelta(np.arange(n) % 400, "D"),
        "value_ng_per_l": values,
        "censor": np.where(np.isnan(values), "<LOQ", "none"),
        "loq_ng_per_l": 0.1 + np.arange(n) / 3.0,
        "composite_hours": 24,
        "comment": [TRICKY[i % len(TRICKY)] for i in range(n)],
        "source_line": np.arange(n) + 2,
    })


def test_insert_frame_stores_every_value_exactly(engine):
    ingest_bytes(engine, SITES, filename="s.csv", uploader="t")
    n = BATCH_ROWS + 17  # two batches
    frame = _frame(n)
    now = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    with write_transaction(engine) as conn:
        upload_id = conn.execute(t.uploads.insert().returning(t.uploads.c.upload_id), {
            "kind": "results", "sha256": "x", "size_bytes": 0, "content": b"", "uploader": "t",
            "uploaded_at": now, "rows_total": n, "rows_accepted": n, "report_json": "{}"}
        ).scalar_one()
        done: list[int] = []
        insert_frame(conn, t.results, frame, list(frame.columns),
                     constants={"upload_id": upload_id, "stored_at": now, "is_current": True,
                                "superseded_by": None}, progress=done.append)
    assert done == [BATCH_ROWS, n]
    r = t.results.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(r.sample_id, r.sample_date, r.value_ng_per_l,
                                      r.loq_ng_per_l, r.comment, r.replicate, r.lab,
                                      r.is_current, r.superseded_by, r.stored_at)
                            .order_by(r.source_line)).all()
    assert len(rows) == n
    assert [row.sample_id for row in rows] == frame["sample_id"].tolist()
    expected = [None if pd.isna(v) else v for v in frame["comment"]]
    assert [row.comment for row in rows] == expected  # '' stays '', missing is NULL
    assert [row.replicate for row in rows] == frame["replicate"].tolist()
    days = [pd.Timestamp(row.sample_date).date() for row in rows]
    assert days == [ts.date() for ts in frame["sample_date"]]
    stored = np.array([np.nan if row.value_ng_per_l is None else row.value_ng_per_l
                       for row in rows])
    np.testing.assert_array_equal(stored, frame["value_ng_per_l"].to_numpy())  # bit for bit
    assert [row.loq_ng_per_l for row in rows] == frame["loq_ng_per_l"].tolist()
    assert all(row.lab is None and row.superseded_by is None and row.is_current for row in rows)
    when = rows[0].stored_at
    assert when.replace(tzinfo=when.tzinfo or dt.UTC) == now


def _upload(conn, n: int, now: dt.datetime) -> int:
    return conn.execute(t.uploads.insert().returning(t.uploads.c.upload_id), {
        "kind": "results", "sha256": "x", "size_bytes": 0, "content": b"", "uploader": "t",
        "uploaded_at": now, "rows_total": n, "rows_accepted": n, "report_json": "{}"}
    ).scalar_one()


def _stored_ids(engine) -> tuple[list[str], list[int]]:
    r = t.results.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(r.sample_id, r.source_line).order_by(r.result_id)).all()
    return [row.sample_id for row in rows], [row.source_line for row in rows]


def test_insert_frame_in_a_given_order_gathers_each_batch(engine):
    ingest_bytes(engine, SITES, filename="s.csv", uploader="t")
    n = BATCH_ROWS + 17
    frame = _frame(n)
    order = np.argsort(-frame["source_line"].to_numpy() % 5, kind="stable")  # a permutation
    now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    with write_transaction(engine) as conn:
        constants = {"upload_id": _upload(conn, n, now), "stored_at": now, "is_current": True}
        done: list[int] = []
        insert_frame(conn, t.results, frame, list(frame.columns), constants=constants,
                     progress=done.append, order=order)
    assert done == [BATCH_ROWS, n]
    ids, lines = _stored_ids(engine)  # ids are given in insert order
    assert ids == frame["sample_id"].to_numpy()[order].tolist()
    assert lines == frame["source_line"].to_numpy()[order].tolist()


def test_insert_frames_writes_a_stream_of_frames_as_one_load(engine):
    ingest_bytes(engine, SITES, filename="s.csv", uploader="t")
    n = BATCH_ROWS + 17
    frame = _frame(n)
    made: list[int] = []

    def frames():  # made lazily: the next frame only after the rows before it are handed on
        for part in (frame.iloc[:BATCH_ROWS + 5], frame.iloc[:0], frame.iloc[BATCH_ROWS + 5:]):
            made.append(len(part))
            yield part

    now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    with write_transaction(engine) as conn:
        constants = {"upload_id": _upload(conn, n, now), "stored_at": now, "is_current": True}
        done: list[int] = []
        insert_frames(conn, t.results, frames(), list(frame.columns), constants=constants,
                      progress=lambda rows: done.append(rows) or made.append(-rows))
        insert_frames(conn, t.results, iter([]), list(frame.columns), constants=constants)
    # batches of at most BATCH_ROWS rows, each written before the next frame was made
    assert done == [BATCH_ROWS, BATCH_ROWS + 5, n]
    assert made == [BATCH_ROWS + 5, -BATCH_ROWS, -(BATCH_ROWS + 5), 0, 12, -n]
    assert _stored_ids(engine)[0] == frame["sample_id"].tolist()


def test_current_and_history_lookups_use_the_partial_indexes(engine):
    """SQLite plans (PostgreSQL chooses by table statistics; tested by hand in the report)."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        plans = {pred: " ".join(str(row[-1]) for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT result_id FROM results WHERE sample_id = 'a' "
            f"AND analyte = 'b' AND {pred}")) for pred in ("results.is_current",
                                                        "NOT results.is_current")}
    assert "USING INDEX uq_results_current" in plans["results.is_current"]
    assert "USING INDEX ix_results_history" in plans["NOT results.is_current"]


def test_a_column_missing_in_one_batch_and_set_in_the_next_is_stored_as_given(engine):
    """SQLite leaves a batch's all-missing nullable columns out of the INSERT and writes the
    constants into the statement; the stored rows are the same as binding every value.
    """
    ingest_bytes(engine, SITES, filename="s.csv", uploader="t")
    n = BATCH_ROWS + 3
    frame = _frame(n)
    frame["comment"] = [None] * BATCH_ROWS + ["it's", "", "x"]  # first batch: no comment at all
    frame["flow_m3_per_day"] = [np.nan] * BATCH_ROWS + [1.5, np.nan, 2.5]
    now = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    with write_transaction(engine) as conn:
        upload_id = conn.execute(t.uploads.insert().returning(t.uploads.c.upload_id), {
            "kind": "results", "sha256": "y", "size_bytes": 0, "content": b"", "uploader": "t",
            "uploaded_at": now, "rows_total": n, "rows_accepted": n, "report_json": "{}"}
        ).scalar_one()
        insert_frame(conn, t.results, frame, list(frame.columns),
                     constants={"upload_id": upload_id, "stored_at": now, "is_current": True,
                                "superseded_by": None})
    r = t.results.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(r.comment, r.flow_m3_per_day, r.upload_id, r.is_current,
                                      r.superseded_by, r.stored_at)
                            .order_by(r.source_line)).all()
    assert [row.comment for row in rows] == [None] * BATCH_ROWS + ["it's", "", "x"]
    assert [row.flow_m3_per_day for row in rows[-4:]] == [None, 1.5, None, 2.5]
    assert {(row.upload_id, row.is_current, row.superseded_by) for row in rows} == {
        (upload_id, True, None)}
    when = rows[-1].stored_at
    assert when.replace(tzinfo=when.tzinfo or dt.UTC) == now


def test_missing_values_of_any_kind_are_stored_as_null(engine):
    """None, NaN and NA in a text column, NaN in a float column (SQLite binds a NaN as NULL)
    and columns holding one value in every row (PostgreSQL writes them once per line, at its
    end) are stored as given.
    """
    ingest_bytes(engine, SITES, filename="s.csv", uploader="t")
    n = 2 * 100 + 3  # SQLite: two statements of 100 rows and three rows of one
    frame = _frame(n)
    frame["comment"] = pd.Series(["x", np.nan, pd.NA, None, "a\tb"] * 40 + ["y", None, "z"],
                                 dtype=object)
    frame["lab"] = "Lab"
    frame["flow_m3_per_day"] = np.nan
    frame["method"] = None
    now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    with write_transaction(engine) as conn:
        constants = {"upload_id": _upload(conn, n, now), "stored_at": now, "is_current": True}
        insert_frame(conn, t.results, frame, list(frame.columns), constants=constants)
    r = t.results.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(r.comment, r.lab, r.flow_m3_per_day, r.method,
                                      r.value_ng_per_l, r.sample_id)
                            .order_by(r.result_id)).all()
    assert [row.comment for row in rows] == ["x", None, None, None, "a\tb"] * 40 + ["y", None, "z"]
    assert {(row.lab, row.flow_m3_per_day, row.method) for row in rows} == {("Lab", None, None)}
    assert [row.value_ng_per_l is None for row in rows] == np.isnan(frame["value_ng_per_l"]).tolist()
    assert [row.sample_id for row in rows] == frame["sample_id"].tolist()
