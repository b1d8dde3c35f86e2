"""Benchmark: the real ingest path (parse + validate + store, one transaction) against a bare
``pandas.read_csv`` of the same results file, at 100 k, 300 k and 1 M rows.

Seeded long-format results CSVs (50 sites × 20 analytes × n/1 000 days, ng/L and µg/L mixed,
3 % censored as ``<LOQ``) are written to a temporary folder. Every measured step runs in its
**own Python process**, so that its peak resident memory (``ru_maxrss``) is its own, and the
steps are **interleaved**: repetition 1 runs every step of every size, then repetition 2 …, so
load from other jobs on the machine hits all steps alike. Ratios are medians of the
per-repetition ratios to ``read_csv`` of the same size in the same repetition. Before its clock
starts, every step reads and parses the first 50 lines of the file once, so that lazy loading
(catalogue, units, plausibility ranges, pandas' parsers) is not counted in any step.

Steps
-----
``read_csv``
    ``pandas.read_csv(path)``: the floor — tokenising the same bytes, no validation; also
    measures the DataFrame's memory (``memory_usage(deep=True)``), the yardstick of the RSS
    target.
``parse_upload``
    :func:`wastewater.ingest.parse_upload` on the bytes (no database).
``ingest SQLite`` / ``ingest PostgreSQL``
    :func:`wastewater.storage.service.ingest_bytes` into a freshly migrated database holding the
    50 sites: hash, duplicate check, parse, validation and the one-transaction bulk store
    (what ``wastewater ingest`` and ``POST /api/v1/uploads/results`` do).
``floor: executemany (SQLite)`` / ``floor: COPY (PostgreSQL)``
    What the database alone needs for the same rows: the stored rows are prepared untimed
    (SQLite parameter tuples; PostgreSQL the ``COPY`` text the ingest builds), then only
    ``executemany`` + commit (SQLite, same table and indexes, the ingest's statements of
    ``SQLITE_ROWS_PER_INSERT`` rows, columns without any value left out) or ``COPY`` + commit
    (PostgreSQL, into the same ``results`` table and into a plain table without indexes or
    foreign keys) are timed; likewise an ``executemany`` of the ``series_blocks`` rows of the
    daily-series store (one block per series, built and encoded untimed from the same frame),
    which the ingest writes in the same transaction.

The report goes to ``benchmarks/reports/bench_ingest.md``.

Usage::

    .venv/bin/python benchmarks/bench_ingest.py [--rows 100000 300000 1000000] [--repeat 2]
        [--skip-postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report_file import NOTES, write_report
from scratch import scratch_postgres, scratch_sqlite

REPORT = Path(__file__).resolve().parent / "reports" / "bench_ingest.md"
TODAY = dt.date(2030, 1, 1)
ANALYTES = ["benzoylecgonine", "cocaine", "amphetamine", "methamphetamine", "mdma", "mda",
            "ketamine", "norketamine", "thc-cooh", "morphine", "codeine", "6-mam", "methadone",
            "eddp", "tramadol", "o-desmethyltramadol", "cotinine", "hydroxycotinine",
            "ethyl-sulfate", "caffeine"]
N_SITES = 50
SITES = [f"SE-I{i:03d}" for i in range(N_SITES)]


def write_files(folder: Path, n_rows: int, seed: int = 7) -> tuple[Path, Path]:
    """Seeded sites.csv and results.csv with ``n_rows`` result rows; returns both paths."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    sites_csv = folder / "sites.csv"
    sites_csv.write_text("site,name,municipality,population,population_year\n" + "".join(
        f"{s},Verk {s},Kommun {i},{15000 + 250 * i},2025\n" for i, s in enumerate(SITES)),
        encoding="utf-8")
    idx = np.arange(n_rows)
    site_i = (idx // len(ANALYTES)) % N_SITES
    day = idx // (len(ANALYTES) * N_SITES)
    dates = (pd.Timestamp("2021-01-01") + pd.to_timedelta(day, unit="D")).strftime("%Y-%m-%d")
    site = np.array(SITES)[site_i]
    value = np.round(rng.lognormal(5.0, 0.8, n_rows), 1)
    unit = np.where(rng.random(n_rows) < 0.2, "ug/L", "ng/L")
    shown = np.where(unit == "ug/L", np.round(value / 1000.0, 4), value).astype(str)
    censored = rng.random(n_rows) < 0.03
    shown = np.where(censored, np.where(unit == "ug/L", "<0.01", "<10"), shown)
    frame = pd.DataFrame({
        "sample_id": pd.Series(site).str.cat(pd.Series(dates).str.replace("-", ""), sep="-"),
        "site": site, "sample_date": dates, "analyte": np.array(ANALYTES)[idx % len(ANALYTES)],
        "value": shown, "unit": unit, "loq": np.where(unit == "ug/L", 0.01, 10),
        "lod": np.where(unit == "ug/L", 0.001, 1), "lab": "Syntetiskt lab",
    })
    results_csv = folder / f"results_{n_rows}.csv"
    frame.to_csv(results_csv, index=False)
    return sites_csv, results_csv


# --------------------------------------------------------------------------- one step, own process


def _rss_mib() -> float:
    """Peak resident memory of this process image (``VmHWM``) [MiB].

    Not ``ru_maxrss``: Linux keeps that across ``exec``, so a step would inherit the peak of the
    parent that generated the files.
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _current_rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _stored_rows(results_csv: Path, sites_csv: Path, upload_id: int, dialect: str) -> dict:
    """What ``ingest_bytes`` writes for the file, prepared for a raw driver insert (untimed):
    the ``results`` rows as SQLite parameter tuples or as the ``COPY`` text the ingest builds
    (:func:`wastewater.storage.bulk.copy_text`), and the ``series_blocks`` rows of the store as
    parameter tuples (SQLite: dates as ISO text, as SQLAlchemy stores them).
    """
    import pandas as pd

    from wastewater.ingest import parse_upload
    from wastewater.storage import tables as t
    from wastewater.storage.bulk import copy_text, sqlite_values
    from wastewater.storage.series import _block_row, _split_pairs, build_pairs
    from wastewater.storage.service import _RESULTS

    frame = parse_upload(results_csv.read_bytes(), known_sites=set(SITES), today=TODAY).frame
    frame = frame.sort_values(["sample_id", "analyte"], kind="stable")  # as the ingest inserts
    sites = pd.read_csv(sites_csv)
    pops = pd.DataFrame({"site": sites["site"], "year": sites["population_year"],
                         "population": sites["population"], "method": "de_jure"})
    flows = pd.DataFrame({"site": pd.Series(dtype=object),
                          "date": pd.Series(dtype="datetime64[ns]"),
                          "flow_m3_per_day": pd.Series(dtype=float)})
    store = build_pairs(frame, flows, pops)
    constants = {"upload_id": upload_id, "stored_at": "2030-01-01 00:00:00.000000",
                 "is_current": True}
    out: dict = {}
    names, extra = list(_RESULTS.insert_cols), constants
    columns = names + list(extra)
    if dialect == "sqlite":  # as the ingest binds them: no column without any value
        cols = {c: sqlite_values(frame[c] if c in frame.columns else None, t.results.c[c].type,
                                 len(frame)) for c in names}
        cols = {c: v for c, v in cols.items() if any(x is not None for x in v)}
        cols.update({c: [v] * len(frame) for c, v in extra.items()})
        out["results"] = (list(cols), list(zip(*cols.values(), strict=True)))
    else:
        tail = "".join(f"\t{'t' if v is True else v}" for v in extra.values())
        out["results"] = (columns, copy_text(frame, t.results, names, tail=tail))
    block_columns = ["site", "analyte", "n_days", "first_date", "last_date", "data"]
    blocks = [_block_row(pair, cols) for pair, cols in _split_pairs(store)]
    out["series_blocks"] = (block_columns, [
        tuple(b[c].isoformat() if dialect == "sqlite" and c.endswith("_date") else b[c]
              for c in block_columns) for b in blocks])
    return out


def step(name: str, sites_csv: Path, results_csv: Path, url: str | None) -> dict:
    """Run one measured step in this process; returns seconds, rows, RSS figures."""
    import pandas as pd
    import sqlalchemy as sa

    from wastewater.ingest import parse_upload
    from wastewater.storage.bulk import SQLITE_ROWS_PER_INSERT
    from wastewater.storage.database import get_engine, upgrade
    from wastewater.storage.service import ingest_bytes

    engine = None
    extra: dict = {}
    if url is not None:
        upgrade(url)
        engine = get_engine(url)
        ingest_bytes(engine, sites_csv.read_bytes(), filename="sites.csv", uploader="bench",
                     today=TODAY)
    prepared = None
    if name.startswith("floor"):
        with engine.begin() as conn:
            upload_id = conn.exec_driver_sql(
                "INSERT INTO uploads (kind, sha256, size_bytes, content, uploader, uploaded_at, "
                "rows_total, rows_accepted, report_json) VALUES ('results', 'floor', 0, '', "
                "'bench', '2030-01-01', 0, 0, '{}') RETURNING upload_id").scalar_one()
        prepared = _stored_rows(results_csv, sites_csv, upload_id, engine.dialect.name)
    # warm-up outside the clock: the first call of each library loads its lazy tables
    # (catalogue, units, plausibility ranges, pandas' parsers) once per process
    head = b"".join(results_csv.read_bytes().splitlines(keepends=True)[:50])
    pd.read_csv(io.BytesIO(head))
    parse_upload(head, known_sites=set(SITES), filename="results.csv", today=TODAY)
    baseline = _current_rss_mib()
    start = time.perf_counter()
    if name == "read_csv":
        frame = pd.read_csv(results_csv)
        seconds = time.perf_counter() - start
        rows = len(frame)
        extra["frame_mib"] = frame.memory_usage(deep=True).sum() / 2**20
    elif name == "parse_upload":
        parsed = parse_upload(results_csv.read_bytes(), known_sites=set(SITES),
                              filename="results.csv", today=TODAY)
        seconds = time.perf_counter() - start
        assert parsed.report.ok, parsed.report.to_dict()["issues"][:3]
        rows = len(parsed.frame)
    elif name == "ingest":
        from wastewater.ingest import IngestProgress

        phases = IngestProgress()
        out = ingest_bytes(engine, results_csv.read_bytes(), filename="results.csv",
                           uploader="bench", today=TODAY, progress=phases)
        seconds = time.perf_counter() - start
        extra["phases"] = {p.name: p.seconds for p in phases.phases}
        assert out.stored, out.report.to_dict()["issues"][:3]
        rows = out.rows_inserted
    elif name == "floor_sqlite":
        times = {}
        for table in ("results", "series_blocks"):
            columns, tuples = prepared[table]
            # the ingest's statements of several rows, their parameters grouped untimed
            per = SQLITE_ROWS_PER_INSERT if table == "results" else 1
            full = len(tuples) - len(tuples) % per
            flat = itertools.chain.from_iterable(tuples[:full])
            groups = list(zip(*[flat] * (per * len(columns)), strict=False))
            row_sql = f"({', '.join('?' * len(columns))})"
            head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            raw = engine.raw_connection()
            cursor = raw.cursor()
            start = time.perf_counter()
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(f"PRAGMA cache_size = -{128 * 1024}")  # as the ingest's bulk load
            cursor.executemany(head + ", ".join([row_sql] * per), groups)
            cursor.executemany(head + row_sql, tuples[full:])
            cursor.execute("COMMIT")
            times[table] = time.perf_counter() - start
            raw.close()
        seconds = times["results"]
        extra["store_seconds"] = times["series_blocks"]
        rows = len(prepared["results"][1])
    elif name == "floor_postgres":
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE plain (LIKE results INCLUDING DEFAULTS)")
            conn.exec_driver_sql("ALTER TABLE plain ALTER COLUMN result_id DROP NOT NULL")
        times = {}
        for table, source in (("results", "results"), ("plain", "results"),
                              ("series_blocks", "series_blocks")):
            columns, text = prepared[source]
            raw = engine.raw_connection()
            start = time.perf_counter()
            if table == "series_blocks":  # a thousand blocks: one executemany
                with raw.driver_connection.cursor() as cur:
                    cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                                    f"({', '.join(['%s'] * len(columns))})", text)
            else:
                with raw.driver_connection.cursor() as cur, cur.copy(
                        f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for i in range(0, len(text), 1 << 22):
                        copy.write(text[i:i + (1 << 22)])
            raw.commit()
            times[table] = time.perf_counter() - start
            raw.close()
        seconds = times["results"]
        extra["plain_seconds"] = times["plain"]
        extra["store_seconds"] = times["series_blocks"]
        rows = prepared["results"][1].count("\n")
    else:
        raise ValueError(name)
    if engine is not None:
        with engine.connect() as conn:
            extra["stored"] = conn.execute(sa.text("SELECT count(*) FROM results")).scalar()
        engine.dispose()
    return {"step": name, "seconds": seconds, "rows": rows, "peak_rss_mib": _rss_mib(),
            "baseline_rss_mib": baseline, **extra}


def _run_step(name: str, sites_csv: Path, results_csv: Path, url: str | None) -> dict:
    cmd = [sys.executable, __file__, "--step", name, "--sites", str(sites_csv),
           "--results", str(results_csv)] + (["--url", url] if url else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"step {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _plan(skip_postgres: bool) -> list[tuple[str, str, str | None]]:
    plan = [("pandas.read_csv", "read_csv", None), ("parse_upload", "parse_upload", None),
            ("ingest → SQLite", "ingest", "sqlite"),
            ("floor: executemany (SQLite)", "floor_sqlite", "sqlite")]
    if not skip_postgres:
        plan += [("ingest → PostgreSQL", "ingest", "postgres"),
                 ("floor: COPY (PostgreSQL)", "floor_postgres", "postgres")]
    return plan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip-postgres", action="store_true")
    ap.add_argument("--floors-max-rows", type=int, default=300_000,
                    help="run parse_upload alone and the database floors only up to this size "
                    "(they grow linearly; saves time at 1 M)")
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("--sites", help=argparse.SUPPRESS)
    ap.add_argument("--results", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        print(json.dumps(step(args.step, Path(args.sites), Path(args.results), args.url)))
        return

    plan = _plan(args.skip_postgres)
    runs: dict[tuple[int, str], list[dict]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {n: write_files(folder, n) for n in args.rows}
        sizes = {n: files[n][1].stat().st_size / 2**20 for n in args.rows}
        for rep in range(args.repeat):
            for n in args.rows:
                sites_csv, results_csv = files[n]
                for label, step_name, backend in plan:
                    if (step_name.startswith("floor") or step_name == "parse_upload") \
                            and n > args.floors_max_rows:
                        continue
                    scratch = (scratch_sqlite(folder) if backend == "sqlite"
                               else scratch_postgres("ww_bench_ingest") if backend == "postgres"
                               else contextlib.nullcontext(None))
                    with scratch as url:
                        load = os.getloadavg()[0]
                        result = _run_step(step_name, sites_csv, results_csv, url)
                        result["load_1min"] = load
                    print(f"rep {rep + 1} {n:>9,} {label}: {result['seconds']:.2f} s, "
                          f"peak {result['peak_rss_mib']:.0f} MiB", flush=True)
                    runs.setdefault((n, label), []).append(result)
            _write_report(args, plan, runs, sizes, time.perf_counter() - started, rep + 1)
def _write_report(args: argparse.Namespace, plan: list, runs: dict, sizes: dict,
                  total_s: float, reps_done: int) -> None:
    """Write (and print) the report of the repetitions done so far."""

    def ratio(n: int, label: str) -> float:
        base = runs[(n, "pandas.read_csv")]
        return statistics.median(r["seconds"] / b["seconds"]
                                 for r, b in zip(runs[(n, label)], base, strict=False))

    lines = [
        "# bench_ingest: real ingest path vs bare pandas.read_csv",
        "",
        (f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.platform()}, "
         f"Python {platform.python_version()}; {reps_done} of {args.repeat} interleaved "
         f"repetitions of every step at {', '.join(f'{n:,}' for n in args.rows)} result rows "
         f"({', '.join(f'{sizes[n]:.1f}' for n in args.rows)} MiB CSV), each step in its own "
         f"process; whole run {total_s / 60:.1f} min."),
        ("The machine (2 cores) was shared with other jobs: absolute times are indicative; the "
         "ratios compare steps of the same repetition."),
        "",
        ("| rows | step | median wall [s] | rows/s | × read_csv (median of per-repetition "
         "ratios) | peak RSS [MiB] | peak RSS ÷ read_csv DataFrame |"),
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n in args.rows:
        frame_mib = statistics.median(r["frame_mib"] for r in runs[(n, "pandas.read_csv")])
        for label, _, _ in plan:
            rs = runs.get((n, label))
            if not rs:
                continue
            wall = statistics.median(r["seconds"] for r in rs)
            peak = max(r["peak_rss_mib"] for r in rs)
            lines.append(f"| {n:,} | {label} | {wall:.2f} | {n / wall:,.0f} | "
                         f"{ratio(n, label):.1f} | {peak:,.0f} | {peak / frame_mib:.2f} |")
            if label.startswith("floor:"):
                store = statistics.median(r["store_seconds"] for r in rs)
                base = statistics.median(r["seconds"] for r in runs[(n, "pandas.read_csv")])
                db = "PostgreSQL" if "COPY" in label else "SQLite"
                lines.append(f"| {n:,} | floor: executemany of the store's blocks into series_blocks ({db})"
                             f" | {store:.2f} | {n / store:,.0f} | {store / base:.1f} | | |")
            if label.startswith("floor: COPY"):
                plain = statistics.median(r["plain_seconds"] for r in rs)
                base = statistics.median(r["seconds"] for r in runs[(n, "pandas.read_csv")])
                lines.append(f"| {n:,} | floor: COPY into a plain table (PostgreSQL) | "
                             f"{plain:.2f} | {n / plain:,.0f} | {plain / base:.1f} | | |")
        lines.append(f"| {n:,} | *pandas DataFrame of the file (deep)* | | | | "
                     f"{frame_mib:,.0f} | 1.00 |")
    phase_rows = []
    for n in args.rows:
        for label, step_name, _ in plan:
            rs = [r for r in runs.get((n, label), []) if "phases" in r]
            if step_name == "ingest" and rs:
                med = {p: statistics.median(r["phases"].get(p, 0.0) for r in rs)
                       for p in ("reading", "validating", "storing")}
                phase_rows.append(f"| {n:,} | {label} | {med['reading']:.2f} | "
                                  f"{med['validating']:.2f} | {med['storing']:.2f} |")
    loads = [r["load_1min"] for rs in runs.values() for r in rs if "load_1min" in r]
    commit = os.environ.get("BENCH_COMMIT") or subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False, cwd=Path(__file__).parent).stdout.strip()
    lines += [
        "",
        "Phases of the ingest steps (median seconds; storing includes the daily-series store "
        "and the alert evaluation of the same transaction):",
        "",
        "| rows | step | reading [s] | validating [s] | storing [s] |",
        "|---:|---|---:|---:|---:|",
        *phase_rows,
        "",
        (f"Measured commit {commit or 'unknown'}; 1-minute load average before the steps "
         f"{min(loads, default=float('nan')):.1f}–{max(loads, default=float('nan')):.1f} "
         f"(2 cores)."),
    ]
    lines += [
        "",
        ("Targets (issue 14): ingest ≤ 3× read_csv on SQLite and PostgreSQL at 1 M rows; peak "
         "RSS ≤ 2× the DataFrame. The floors show what the database alone needs for the same "
         "rows and indexes: an ingest cannot be faster than its floor plus reading the file."),
        "",
    ]
    print(write_report(REPORT, lines, NOTES))


if __name__ == "__main__":
    main()
