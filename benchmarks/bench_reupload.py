"""Benchmark: a corrected backfill re-uploaded against a first upload of the same rows.

A lab re-sends a results file whose natural keys are all stored already; the changed rows
become new versions (the old ones demoted and linked), the others are counted unchanged. For
each database and fraction of changed values, a freshly migrated database gets the 50 sites,
then the seeded results file of ``bench_ingest.write_files`` (the **first** upload), then the
same file with that fraction of the numeric values multiplied by 1.1 (the **re-upload**); both
through :func:`wastewater.storage.service.ingest_bytes` (parse, validate, store, daily-series
store, alerts: one transaction each). The ratio re-upload ÷ first upload is taken per run, the
report gives medians over the repetitions.

The report goes to ``benchmarks/reports/bench_reupload.md``; a section headed :data:`NOTES` at
its end (a reading of the figures, kept by hand) stays when the script rewrites the rest.

Usage::

    .venv/bin/python benchmarks/bench_reupload.py [--rows 300000] [--fractions 0.001 0.3]
        [--repeat 2] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import TODAY, write_files  # noqa: E402
from report_file import NOTES, write_report  # noqa: E402
from scratch import scratch_postgres, scratch_sqlite  # noqa: E402

REPORT = Path(__file__).resolve().parent / "reports" / "bench_reupload.md"


def changed_copy(data: bytes, fraction: float, seed: int = 1) -> bytes:
    """The results file with ``fraction`` of its numeric values multiplied by 1.1."""
    import numpy as np
    import pandas as pd

    df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    pick = np.random.default_rng(seed).random(len(df)) < fraction
    value = pd.to_numeric(df["value"], errors="coerce")
    ok = pick & value.notna()
    df.loc[ok, "value"] = (value[ok] * 1.1).round(4).astype(str)
    return df.to_csv(index=False).encode()


def run_once(url: str, sites_csv: Path, data: bytes, changed: bytes) -> dict:
    """First upload and re-upload into the migrated database ``url``; seconds and counts."""
    from wastewater.storage.database import get_engine, upgrade
    from wastewater.storage.service import ingest_bytes

    upgrade(url)
    engine = get_engine(url)
    try:
        ingest_bytes(engine, sites_csv.read_bytes(), filename="sites.csv", uploader="bench",
                     today=TODAY)
        start = time.perf_counter()
        first = ingest_bytes(engine, data, filename="results.csv", uploader="bench", today=TODAY)
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        again = ingest_bytes(engine, changed, filename="results_corrected.csv", uploader="bench",
                             today=TODAY)
        again_s = time.perf_counter() - start
    finally:
        engine.dispose()
    assert first.stored and again.stored
    return {"first_s": first_s, "reupload_s": again_s, "superseded": again.rows_superseded,
            "unchanged": again.rows_unchanged, "inserted": again.rows_inserted}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.001, 0.3])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip-postgres", action="store_true")
    args = ap.parse_args()

    backends = ["SQLite"] + ([] if args.skip_postgres else ["PostgreSQL"])
    runs: dict[tuple[str, float], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sites_csv, results_csv = write_files(folder, args.rows)
        data = results_csv.read_bytes()
        changed = {f: changed_copy(data, f) for f in args.fractions}
        for rep in range(args.repeat):
            for backend in backends:
                for fraction in args.fractions:
                    scratch = (scratch_sqlite(folder) if backend == "SQLite"
                               else scratch_postgres("ww_bench_reupload"))
                    with scratch as url:
                        load = os.getloadavg()[0]
                        result = run_once(url, sites_csv, data, changed[fraction])
                    result["load_1min"] = load
                    runs.setdefault((backend, fraction), []).append(result)
                    print(f"rep {rep + 1} {backend} {fraction:.1%} changed: first "
                          f"{result['first_s']:.2f} s, re-upload {result['reupload_s']:.2f} s "
                          f"({result['superseded']:,} superseded, {result['unchanged']:,} "
                          f"unchanged), load {load:.1f}", flush=True)
    _write_report(args, runs)


def _write_report(args: argparse.Namespace, runs: dict[tuple[str, float], list[dict]]) -> None:
    commit = os.environ.get("BENCH_COMMIT") or subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False,
        cwd=Path(__file__).parent).stdout.strip()
    loads = [r["load_1min"] for rs in runs.values() for r in rs]
    lines = [
        "# bench_reupload: re-upload of a corrected backfill vs its first upload",
        "",
        (f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.platform()}, "
         f"Python {platform.python_version()}; {args.repeat} repetitions at {args.rows:,} "
         f"result rows, each run in a freshly migrated database; commit {commit or 'unknown'}; "
         f"1-minute load average before the runs {min(loads, default=float('nan')):.1f}–"
         f"{max(loads, default=float('nan')):.1f} (2 cores)."),
        "",
        ("| database | values changed | superseded | unchanged | first upload [s] | "
         "re-upload [s] | re-upload ÷ first (median of per-run ratios) |"),
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (backend, fraction), rs in runs.items():
        first = statistics.median(r["first_s"] for r in rs)
        again = statistics.median(r["reupload_s"] for r in rs)
        ratio = statistics.median(r["reupload_s"] / r["first_s"] for r in rs)
        lines.append(f"| {backend} | {fraction:.1%} | {rs[0]['superseded']:,} | "
                     f"{rs[0]['unchanged']:,} | {first:.2f} | {again:.2f} | {ratio:.2f} |")
    lines += [
        "",
        ("Targets: re-upload with 30 % of the values changed ≤ 1.3× the first upload, with "
         "0.1 % changed ≤ 1.2×, on SQLite and PostgreSQL at 300 k rows."),
        "",
    ]
    print(write_report(REPORT, lines, NOTES))


if __name__ == "__main__":
    main()
