"""Design study: what a results upload would cost if results were stored as columnar blocks.

The real ingest (``benchmarks/bench_ingest.py``) stores one indexed ``results`` row per result,
and that insert alone takes 13–15× ``pandas.read_csv`` of the file (its floor rows), against
the issue's budget of 3× for the whole upload. This study measures the parts of the design
that could fit the budget, on the same seeded 1 M-row file, interleaved with ``read_csv`` in
one process (median of the per-repetition ratios):

``read_csv``
    ``pandas.read_csv(path)``, the yardstick.
``parse_upload``
    The real reading and validation (:func:`wastewater.ingest.parse_upload`), unchanged.
``series store``
    The real daily-series build (:func:`wastewater.storage.series.build_pairs`) of the
    validated rows and the real block encoder (:func:`wastewater.storage.series.encode_block`),
    one block per series.
``results blocks``
    A prototype of the design, **not** package code: the text columns of the upload
    factorised once (one dictionary per upload), then one block per (site, analyte) holding
    the numbers and the text codes of its rows, sorted by date.
``write``
    One transaction on a fresh database: the upload row with its bytes (as the ingest
    keeps them), the upload's dictionary, the results blocks and the series blocks, in two
    prototype tables; then commit. SQLite file database (WAL, ``synchronous=NORMAL`` as the
    service), PostgreSQL on 127.0.0.1:5432.

What it leaves out (a fresh upload needs none of it, a re-upload does): the look-up of
current rows for supersession (decode the candidate blocks of the upload's analytes), the
alert evaluation, and the flows and populations read for the store. The report goes to
``benchmarks/reports/bench_ingest_design.md``.

Usage::

    .venv/bin/python benchmarks/bench_ingest_design.py [--rows 1000000] [--repeat 3] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import SITES, TODAY, write_files  # noqa: E402
from report_file import write_report  # noqa: E402
from scratch import scratch_postgres, scratch_sqlite  # noqa: E402

REPORT = Path(__file__).resolve().parent / "reports" / "bench_ingest_design.md"
NOTES = "## Reading (kept by hand; the script rewrites the sections above)"
TEXT_COLUMNS = ("sample_id", "censor", "sample_role", "lab", "method", "comment", "original_value",
                "original_unit")
NUMBER_COLUMNS = (("replicate", "<i2"), ("value_ng_per_l", "<f8"), ("loq_ng_per_l", "<f8"),
                  ("lod_ng_per_l", "<f8"), ("flow_m3_per_day", "<f8"), ("composite_hours", "<i2"),
                  ("source_line", "<i4"))


def results_blocks(frame: pd.DataFrame) -> tuple[bytes, list[tuple[str, str, int, bytes]]]:
    """The prototype's upload dictionary and (site, analyte, n_rows, block) of ``frame``."""
    codes, dictionary = {}, {}
    for c in TEXT_COLUMNS:
        k, uniques = pd.factorize(frame[c], use_na_sentinel=True)
        codes[c] = k.astype("<i4")
        dictionary[c] = [None if v is None else str(v) for v in uniques]
    site_k, site_u = pd.factorize(frame["site"], sort=True)
    analyte_k, analyte_u = pd.factorize(frame["analyte"], sort=True)
    day = frame["sample_date"].to_numpy().astype("datetime64[D]").astype("<i4")
    pair = site_k.astype(np.int64) * len(analyte_u) + analyte_k
    order = np.lexsort((day, pair))
    bounds = np.flatnonzero(np.diff(pair[order])) + 1
    numbers = {c: frame[c].to_numpy(dtype=float if d[1] == "f" else np.int64, na_value=np.nan if d[1] == "f" else 0)
               for c, d in NUMBER_COLUMNS}
    blocks = []
    for rows in np.split(order, bounds):
        parts = [day[rows].tobytes()]
        parts += [numbers[c][rows].astype(d).tobytes() for c, d in NUMBER_COLUMNS]
        parts += [codes[c][rows].tobytes() for c in TEXT_COLUMNS]
        p = int(pair[rows[0]])
        blocks.append((str(site_u[p // len(analyte_u)]), str(analyte_u[p % len(analyte_u)]), len(rows),
                       b"".join(parts)))
    return json.dumps(dictionary).encode(), blocks


def series_blocks(frame: pd.DataFrame, pops: pd.DataFrame) -> list[tuple[str, str, int, bytes]]:
    """The real store build and block encoder over every series of ``frame``."""
    from wastewater.storage.series import BLOCK_LAYOUT, build_pairs, encode_block

    flows = pd.DataFrame({"site": pd.Series(dtype=object), "date": pd.Series(dtype="datetime64[ns]"),
                          "flow_m3_per_day": pd.Series(dtype=float)})
    built = build_pairs(frame, flows, pops)
    pair = pd.factorize(built["site"].astype(str) + "\x00" + built["analyte"].astype(str))[0]
    bounds = np.flatnonzero(np.diff(pair)) + 1
    cols = {name: built[name].to_numpy() for name, _ in BLOCK_LAYOUT}
    out = []
    for rows in np.split(np.arange(len(built)), bounds):
        out.append((str(built["site"].iat[rows[0]]), str(built["analyte"].iat[rows[0]]), len(rows),
                    encode_block({name: v[rows] for name, v in cols.items()})))
    return out


DDL = ("CREATE TABLE uploads_p (upload_id INTEGER PRIMARY KEY, content {blob} NOT NULL, "
       "dictionary {blob} NOT NULL)",
       "CREATE TABLE result_blocks_p (upload_id INTEGER NOT NULL REFERENCES uploads_p, site TEXT NOT NULL, "
       "analyte TEXT NOT NULL, n_rows INTEGER NOT NULL, data {blob} NOT NULL, PRIMARY KEY (upload_id, site, analyte))",
       "CREATE INDEX ix_result_blocks_p ON result_blocks_p (site, analyte)",
       "CREATE TABLE series_blocks_p (site TEXT NOT NULL, analyte TEXT NOT NULL, n_days INTEGER NOT NULL, "
       "data {blob} NOT NULL, PRIMARY KEY (site, analyte))")


def write(url: str, content: bytes, dictionary: bytes, rblocks: list, sblocks: list) -> float:
    """Seconds of one transaction: upload row with its bytes and dictionary, results and series blocks."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    blob = "BLOB" if engine.dialect.name == "sqlite" else "BYTEA"
    with engine.begin() as conn:
        for ddl in DDL:
            conn.exec_driver_sql(ddl.format(blob=blob))
    start = time.perf_counter()
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA synchronous = NORMAL")
        ph = "?" if engine.dialect.name == "sqlite" else "%s"
        conn.exec_driver_sql(f"INSERT INTO uploads_p VALUES (1, {ph}, {ph})", (content, dictionary))
        conn.exec_driver_sql(f"INSERT INTO result_blocks_p VALUES (1, {ph}, {ph}, {ph}, {ph})", rblocks)
        conn.exec_driver_sql(f"INSERT INTO series_blocks_p VALUES ({ph}, {ph}, {ph}, {ph})", sblocks)
    engine.dispose()
    return time.perf_counter() - start


Scratch = Callable[[], contextlib.AbstractContextManager[str]]


def _databases(tmp: Path, skip_postgres: bool) -> list[tuple[str, Scratch]]:
    """(name, context manager giving a scratch database's URL, removed after it) of each database written."""
    import sqlalchemy as sa

    @contextlib.contextmanager
    def sqlite_url() -> Iterator[str]:
        with scratch_sqlite(tmp, "design") as url:
            eng = sa.create_engine(url)
            with eng.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode = WAL")
            eng.dispose()
            yield url

    out: list[tuple[str, Scratch]] = [("SQLite", sqlite_url)]
    if not skip_postgres:
        out.append(("PostgreSQL", lambda: scratch_postgres("wastewater_design")))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-postgres", action="store_true")
    args = ap.parse_args(argv)
    from wastewater.ingest import parse_upload

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        sites_csv, results_csv = write_files(tmp, args.rows)
        data = results_csv.read_bytes()
        sites = pd.read_csv(sites_csv)
        pops = pd.DataFrame({"site": sites["site"], "year": sites["population_year"],
                             "population": sites["population"], "method": "de_jure"})
        head = b"".join(data.splitlines(keepends=True)[:50])  # lazy tables loaded outside the clock
        pd.read_csv(io.BytesIO(head))
        warm = parse_upload(head, known_sites=set(SITES), filename="results.csv", today=TODAY).frame
        series_blocks(warm, pops)
        results_blocks(warm)
        rows: list[dict[str, float]] = []
        for rep in range(args.repeat):
            for db, make_url in _databases(tmp, args.skip_postgres):
                m: dict[str, float] = {"rep": rep, "db": db}
                t0 = time.perf_counter()
                pd.read_csv(results_csv)
                m["read_csv"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                frame = parse_upload(data, known_sites=set(SITES), filename="results.csv", today=TODAY).frame
                m["parse_upload"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                sblocks = series_blocks(frame, pops)
                m["series store"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                dictionary, rblocks = results_blocks(frame)
                m["results blocks"] = time.perf_counter() - t0
                with make_url() as url:
                    m["write"] = write(url, data, dictionary, rblocks, sblocks)
                m["total"] = m["parse_upload"] + m["series store"] + m["results blocks"] + m["write"]
                rows.append(m)
                print(f"rep {rep + 1} {db}: " + ", ".join(f"{k} {v:.2f} s" for k, v in m.items()
                                                         if isinstance(v, float)), flush=True)
                del frame, sblocks, rblocks
    parts = ["read_csv", "parse_upload", "series store", "results blocks", "write", "total"]
    lines = [
        "# bench_ingest_design: results as columnar blocks, measured by parts",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.platform()}, Python "
        f"{platform.python_version()}; {args.repeat} interleaved repetitions at {args.rows:,} result rows, "
        f"one process; whole run {(time.perf_counter() - started) / 60:.1f} min; 1-minute load average "
        f"before {load_before:.1f} (2 cores).",
        "",
        "| database | part | median [s] | × read_csv (median of per-repetition ratios) |",
        "|---|---|---:|---:|",
    ]
    for db in sorted({r["db"] for r in rows}, key=lambda d: d != "SQLite"):
        mine = [r for r in rows if r["db"] == db]
        for part in parts:
            sec = statistics.median(r[part] for r in mine)
            ratio = statistics.median(r[part] / r["read_csv"] for r in mine)
            name = f"**{part}**" if part == "total" else part
            lines.append(f"| {db} | {name} | {sec:.2f} | {ratio:.2f} |")
    lines += ["", "`total` = parse_upload + series store + results blocks + write (the upload without "
              "`read_csv`). Target of issue 14: the whole upload ≤ 3× read_csv.", ""]
    print(write_report(REPORT, lines, NOTES))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
