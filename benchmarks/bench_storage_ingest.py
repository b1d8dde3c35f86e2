"""Benchmark: ingest a 1 000 000-row results CSV through ``ingest_bytes`` (parse + one transaction).

A seeded synthetic long-format results file (50 sites × 20 analytes × 1 000 days = 1 M rows, in
ng/L) is generated in memory, then for each database (SQLite file; PostgreSQL at
127.0.0.1:5432 when reachable, in a scratch database dropped afterwards):

1. ``sites.csv`` is ingested (50 sites);
2. the results file is parsed with :func:`wastewater.ingest.parse_upload` (timed alone);
3. it is stored with :func:`wastewater.storage.service.store_parsed` in one transaction (timed);
4. the same bytes are offered again (duplicate detection by SHA-256, timed);
5. a corrected copy with 1 % of the values changed is ingested (supersession path, timed).

Wall times and the process's peak resident memory (``resource.ru_maxrss``) go to
``benchmarks/reports/bench_storage_ingest.md``.

Usage::

    .venv/bin/python benchmarks/bench_storage_ingest.py [--rows 1000000] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scratch import scratch_postgres

from wastewater.ingest import parse_upload
from wastewater.storage.database import get_engine, upgrade
from wastewater.storage.service import ingest_bytes, store_parsed

ANALYTES = ["benzoylecgonine", "cocaine", "amphetamine", "methamphetamine", "mdma", "mda",
            "ketamine", "norketamine", "thc-cooh", "morphine", "codeine", "6-mam", "methadone",
            "eddp", "tramadol", "o-desmethyltramadol", "cotinine", "hydroxycotinine",
            "ethyl-sulfate", "caffeine"]
REPORT = Path(__file__).resolve().parent / "reports" / "bench_storage_ingest.md"
TODAY = dt.date(2030, 1, 1)


def make_files(n_rows: int, seed: int = 42) -> tuple[bytes, bytes, bytes]:
    """Sites CSV, results CSV with ``n_rows`` rows, and a copy with 1 % of values changed."""
    rng = np.random.default_rng(seed)
    n_sites = 50
    sites = [f"SE-B{i:03d}" for i in range(n_sites)]
    sites_csv = "site,name,municipality,population,population_year\n" + "".join(
        f"{s},Plant {s},Town {i},{20000 + 100 * i},2025\n" for i, s in enumerate(sites))
    idx = np.arange(n_rows)
    analyte = np.array(ANALYTES)[idx % 20]
    site_i = (idx // 20) % n_sites
    day = idx // (20 * n_sites)
    dates = (pd.Timestamp("2020-01-01") + pd.to_timedelta(day, unit="D")).strftime("%Y-%m-%d")
    site = np.array(sites)[site_i]
    sample_id = pd.Series(site).str.cat(pd.Series(dates).str.replace("-", ""), sep="-")
    values = np.round(rng.lognormal(5.0, 0.6, n_rows), 1)
    frame = pd.DataFrame({"sample_id": sample_id, "site": site, "sample_date": dates,
                          "analyte": analyte, "value": values, "unit": "ng/L", "loq": 10,
                          "lod": 1})
    results = frame.to_csv(index=False).encode()
    changed = frame.copy()
    pick = rng.choice(n_rows, size=max(1, n_rows // 100), replace=False)
    changed.loc[pick, "value"] = changed.loc[pick, "value"] + 1.0
    return sites_csv.encode(), results, changed.to_csv(index=False).encode()


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def run(url: str, sites: bytes, results: bytes, corrected: bytes) -> dict:
    upgrade(url)
    engine = get_engine(url)
    try:
        ingest_bytes(engine, sites, filename="sites.csv", uploader="bench", today=TODAY)
        known = {f"SE-B{i:03d}" for i in range(50)}
        parsed, t_parse = timed(lambda: parse_upload(results, known_sites=known,
                                                     filename="results.csv", today=TODAY))
        assert parsed.report.ok, parsed.report.to_dict()["issues"][:3]
        out, t_store = timed(lambda: store_parsed(engine, results, parsed,
                                                  filename="results.csv", uploader="bench"))
        assert out.stored and out.rows_inserted == len(parsed.frame)
        dup, t_dup = timed(lambda: ingest_bytes(engine, results, filename="again.csv",
                                                uploader="bench", today=TODAY))
        assert dup.duplicate
        corr, t_corr = timed(lambda: ingest_bytes(engine, corrected, filename="corr.csv",
                                                  uploader="bench", today=TODAY))
        assert corr.stored
        return {"rows": len(parsed.frame), "parse_s": t_parse, "store_s": t_store,
                "duplicate_s": t_dup, "correction_s": t_corr,
                "superseded": corr.rows_superseded, "unchanged": corr.rows_unchanged}
    finally:
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--skip-postgres", action="store_true")
    args = ap.parse_args()
    (sites, results, corrected), t_gen = timed(lambda: make_files(args.rows))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("SQLite (file, WAL)", run(f"sqlite:///{tmp}/bench.db", sites, results,
                                                corrected)))
    if not args.skip_postgres:
        with scratch_postgres("ww_bench") as url:
            rows.append(("PostgreSQL 127.0.0.1", run(url, sites, results, corrected)))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        "# bench_storage_ingest",
        "",
        (f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.platform()}, "
         f"Python {platform.python_version()}, {args.rows:,} result rows "
         f"({len(results) / 2**20:.1f} MiB CSV, generated in {t_gen:.1f} s)."),
        "Machine shared with other jobs: times are indicative.",
        "",
        ("| database | rows | parse [s] | store, one transaction [s] | rows/s stored | "
         "duplicate check [s] | 1 % corrected re-upload [s] | superseded | unchanged |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in rows:
        lines.append(
            f"| {label} | {r['rows']:,} | {r['parse_s']:.1f} | {r['store_s']:.1f} | "
            f"{r['rows'] / r['store_s']:,.0f} | {r['duplicate_s']:.1f} | "
            f"{r['correction_s']:.1f} | {r['superseded']:,} | {r['unchanged']:,} |")
    lines += ["", f"Peak resident memory of the process: {peak_mib:,.0f} MiB.", ""]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
