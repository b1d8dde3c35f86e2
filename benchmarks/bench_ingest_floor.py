"""Benchmark: what the database engine alone needs to write a million ``results`` rows, with no
Python in the loop, against ``pandas.read_csv`` of a results file of the same size.

Issue 14 asks for an ingest of 1 M result rows (parse + validate + store) in at most 3× the time
``pandas.read_csv`` takes to read the file. ``bench_ingest.py`` measures the real ingest and
client-side floors (``executemany`` / ``COPY`` of the prepared rows). This script measures the
floor below those: the engine generating the same number of rows itself and inserting them,

- **SQLite**: ``INSERT INTO results (...) SELECT * FROM src``, where ``src`` is an in-memory
  temporary table the engine filled from a recursive CTE of *n* rows before the clock starts; one
  transaction, in a database migrated to the service's schema (the three indexes, the partial
  unique index, both foreign keys on, WAL, the bulk load's 128 MiB cache);
- **PostgreSQL**: ``INSERT INTO results (...) SELECT * FROM src``, server side, where ``src`` is an
  unlogged table filled from ``generate_series`` before the clock starts; one transaction, same
  schema (foreign-key triggers fire per row);

each also into a plain table with the same columns and no index, key or foreign key. The rows
have the shapes of the benchmark file of ``bench_ingest.py`` (50 sites × 20 analytes × n/1 000
days: text sample ids, ISO dates, floats, the upload's constants). No value is bound from
Python, so this is a lower bound for *any* client that stores one row per result in this
schema. Repetitions are interleaved (``read_csv``, SQLite, PostgreSQL, then again), and each
ratio is the median of per-repetition ratios to ``read_csv`` of the same repetition.

The report goes to ``benchmarks/reports/bench_ingest_floor.md``.

Usage::

    .venv/bin/python benchmarks/bench_ingest_floor.py [--rows 1000000] [--repeat 3] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import ANALYTES, SITES, write_files  # noqa: E402
from report_file import write_report  # noqa: E402
from scratch import scratch_postgres, scratch_sqlite  # noqa: E402

REPORT = Path(__file__).resolve().parent / "reports" / "bench_ingest_floor.md"
NOTES = "## Where PostgreSQL's time goes (kept by hand; the script rewrites the sections above)"

_COLUMNS = ("sample_id, site, sample_date, analyte, replicate, sample_role, value_ng_per_l, censor, "
            "loq_ng_per_l, lod_ng_per_l, lab, original_value, original_unit, upload_id, source_line, "
            "is_current, stored_at")


def _sqlite_select(n: int) -> str:
    """The rows as SQLite computes them from ``i`` = 0 … n−1 (same shapes as the CSV's)."""
    n_sites, n_analytes = len(SITES), len(ANALYTES)
    site = f"'SE-I' || printf('%03d', (i / {n_analytes}) % {n_sites})"
    day = f"date('2021-01-01', '+' || (i / {n_analytes * n_sites}) || ' days')"
    analyte = f"'a' || (i % {n_analytes})"
    return (f"WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {n - 1}) "
            f"SELECT {site} || '-' || replace({day}, '-', ''), {site}, {day}, {analyte}, 1, 'sample', "
            "(i % 997) * 0.37 + 1.0, 'none', 10.0, 1.0, 'Syntetiskt lab', CAST((i % 997) * 0.37 + 1.0 AS TEXT), "
            "'ng/L', 1, i + 2, 1, '2030-01-01 00:00:00.000000' FROM s")


def _postgres_select(n: int) -> str:
    n_sites, n_analytes = len(SITES), len(ANALYTES)
    site = f"'SE-I' || lpad((((i / {n_analytes}) % {n_sites}))::text, 3, '0')"
    day = f"(date '2021-01-01' + (i / {n_analytes * n_sites})::int)"
    analyte = f"'a' || (i % {n_analytes})"
    return (f"SELECT {site} || '-' || to_char({day}, 'YYYYMMDD'), {site}, {day}, {analyte}, 1, 'sample', "
            "(i % 997) * 0.37 + 1.0, 'none', 10.0, 1.0, 'Syntetiskt lab', ((i % 997) * 0.37 + 1.0)::text, "
            f"'ng/L', 1, i + 2, true, timestamptz '2030-01-01 00:00:00+00' FROM generate_series(0, {n - 1}) AS i")


def _prepare(url: str) -> None:
    """Migrate, add the 50 sites (the analytes are free text) and one upload row."""
    import sqlalchemy as sa

    from wastewater.storage.database import get_engine, upgrade

    upgrade(url)
    engine = get_engine(url)
    with engine.begin() as conn:
        for s in SITES:
            conn.execute(sa.text("INSERT INTO sites (site, name) VALUES (:s, :s)"), {"s": s})
        conn.exec_driver_sql(
            "INSERT INTO uploads (upload_id, kind, sha256, size_bytes, content, uploader, uploaded_at, "
            "rows_total, rows_accepted, report_json) VALUES (1, 'results', 'floor', 0, '', 'bench', "
            "'2030-01-01', 0, 0, '{}')")
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("CREATE TABLE plain (LIKE results INCLUDING DEFAULTS)")
            conn.exec_driver_sql("ALTER TABLE plain ALTER COLUMN result_id DROP NOT NULL")
        else:
            columns = ", ".join(c.strip() for c in _COLUMNS.split(","))
            conn.exec_driver_sql(f"CREATE TABLE plain ({columns})")
    engine.dispose()


def _sqlite_insert(path: Path, table: str, n: int) -> float:
    import sqlite3

    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA foreign_keys = ON")
    con.execute("PRAGMA journal_mode = WAL")
    con.execute(f"PRAGMA cache_size = -{128 * 1024}")
    con.execute("PRAGMA temp_store = MEMORY")
    # the rows, materialised in memory before the clock starts (expression evaluation untimed)
    con.execute(f"CREATE TEMP TABLE src AS {_sqlite_select(n)}")
    start = time.perf_counter()
    con.execute("BEGIN IMMEDIATE")
    con.execute(f"INSERT INTO {table} ({_COLUMNS}) SELECT * FROM src")
    con.execute("COMMIT")
    seconds = time.perf_counter() - start
    assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == n
    con.close()
    return seconds


def _postgres_insert(url: str, table: str, n: int) -> float:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as con:
        with con.cursor() as cur:  # the rows, materialised before the clock starts
            cur.execute(f"CREATE UNLOGGED TABLE src ({_COLUMNS}) AS {_postgres_select(n)}")
        con.commit()
        start = time.perf_counter()
        with con.cursor() as cur:
            cur.execute(f"INSERT INTO {table} ({_COLUMNS}) SELECT * FROM src")
        con.commit()
        seconds = time.perf_counter() - start
        with con.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {table}")
            assert cur.fetchone()[0] == n
    return seconds


def _read_csv_seconds(path: Path) -> float:
    """``pandas.read_csv`` in a fresh process (as ``bench_ingest.py`` runs it), import excluded."""
    code = ("import sys, time, pandas as pd; t = time.perf_counter(); pd.read_csv(sys.argv[1]); "
            "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-postgres", action="store_true")
    args = ap.parse_args()

    n = args.rows
    runs: dict[str, list[float]] = {}
    loads: list[float] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _, results_csv = write_files(folder, n)
        for rep in range(args.repeat):
            loads.append(os.getloadavg()[0])
            runs.setdefault("read_csv", []).append(_read_csv_seconds(results_csv))
            for table in ("results", "plain"):
                with scratch_sqlite(folder, "floor") as url:
                    _prepare(url)
                    runs.setdefault(f"sqlite {table}", []).append(
                        _sqlite_insert(Path(url.removeprefix("sqlite:///")), table, n))
            if not args.skip_postgres:
                for table in ("results", "plain"):
                    with scratch_postgres("ww_bench_floor") as url:
                        _prepare(url)
                        runs.setdefault(f"postgres {table}", []).append(_postgres_insert(url, table, n))
            print(f"rep {rep + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in runs.items()), flush=True)
    _write_report(args, runs, loads, time.perf_counter() - started)


_LABELS = {
    "read_csv": "pandas.read_csv of the results file (fresh process)",
    "sqlite results": "SQLite: INSERT … SELECT into `results` (schema, indexes, foreign keys)",
    "sqlite plain": "SQLite: INSERT … SELECT into a plain table, same columns, no index or key",
    "postgres results": "PostgreSQL: INSERT … SELECT into `results` (schema, indexes, FK triggers)",
    "postgres plain": "PostgreSQL: INSERT … SELECT into a plain table (LIKE results, no index or key)",
}


def _write_report(args: argparse.Namespace, runs: dict[str, list[float]], loads: list[float],
                  total: float) -> None:
    reads = runs["read_csv"]
    lines = [
        "# bench_ingest_floor: the database engine's own insert of a million result rows",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.platform()}, Python "
        f"{platform.python_version()}; {args.rows:,} rows, {len(reads)} interleaved repetitions; "
        f"1-minute load average {min(loads):.1f}–{max(loads):.1f} (2 cores); whole run {total:.0f} s.",
        "",
        "No value is bound from Python: the engine generates the rows itself (recursive CTE / "
        "`generate_series`) into a source table before the clock starts, then copies them with one "
        "`INSERT … SELECT` in one transaction (timed, with the commit). A lower bound for any client that "
        "stores one row per result in this schema.",
        "",
        "| step | median [s] | × read_csv (median of per-repetition ratios) |",
        "|---|---:|---:|",
    ]
    for key, label in _LABELS.items():
        if key not in runs:
            continue
        ratio = statistics.median(s / r for s, r in zip(runs[key], reads, strict=True))
        lines.append(f"| {label} | {statistics.median(runs[key]):.2f} | {ratio:.2f} |")
    lines += [
        "",
        "Issue 14's target is the whole ingest (reading, validating and storing, and the daily-series "
        "store of the same transaction) in at most 3× `read_csv`. Where the `results` row above is "
        "already near or above 3×, no client-side work can reach the target with this table: it needs "
        "a storage design that does not write one indexed row per result (see the notes in "
        "`bench_ingest.md`).",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_ingest_floor.py --rows {args.rows} --repeat {args.repeat}"
        f"{' --skip-postgres' if args.skip_postgres else ''}`",
        "",
    ]
    write_report(REPORT, lines, NOTES)
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
