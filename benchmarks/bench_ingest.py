"""Benchmark: the real ingest path against a bare ``pandas.read_csv`` of the same results file.

A seeded long-format results CSV (default 1 000 000 rows: 50 sites × 20 analytes × 1 000 days,
ng/L and µg/L mixed, 3 % censored as ``<LOQ``) is written to a temporary file. Each step then
runs in its **own Python process**, so that its peak resident memory (``ru_maxrss``) is its own:

``read_csv``
    ``pandas.read_csv(path)``: the floor — tokenising the same bytes, no validation.
``parse_upload``
    :func:`wastewater.ingest.parse_upload` on the bytes: dialect sniffing, unit conversion,
    per-cell validation and the full report (no database).
``ingest_bytes (SQLite)`` / ``ingest_bytes (PostgreSQL)``
    :func:`wastewater.storage.service.ingest_bytes` into a freshly migrated database holding the
    50 sites: hash, duplicate check, parse, and the one-transaction store (what
    ``wastewater ingest`` and ``POST /api/v1/uploads/results`` do).

Per step: wall time, rows/s, peak RSS and the RSS of the same process after its imports only
(the baseline), so "peak − baseline" is the memory the step itself needed.
The report goes to ``benchmarks/reports/bench_ingest.md``.

Usage::

    .venv/bin/python benchmarks/bench_ingest.py [--rows 1000000] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPORT = Path(__file__).resolve().parent / "reports" / "bench_ingest.md"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TODAY = dt.date(2030, 1, 1)
ANALYTES = ["benzoylecgonine", "cocaine", "amphetamine", "methamphetamine", "mdma", "mda",
            "ketamine", "norketamine", "thc-cooh", "morphine", "codeine", "6-mam", "methadone",
            "eddp", "tramadol", "o-desmethyltramadol", "cotinine", "hydroxycotinine",
            "ethyl-sulfate", "caffeine"]
N_SITES = 50


def write_files(folder: Path, n_rows: int, seed: int = 7) -> tuple[Path, Path]:
    """Seeded sites.csv and results.csv with ``n_rows`` result rows; returns both paths."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    sites = [f"SE-I{i:03d}" for i in range(N_SITES)]
    sites_csv = folder / "sites.csv"
    sites_csv.write_text("site,name,municipality,population,population_year\n" + "".join(
        f"{s},Verk {s},Kommun {i},{15000 + 250 * i},2025\n" for i, s in enumerate(sites)),
        encoding="utf-8")
    idx = np.arange(n_rows)
    site_i = (idx // len(ANALYTES)) % N_SITES
    day = idx // (len(ANALYTES) * N_SITES)
    dates = (pd.Timestamp("2021-01-01") + pd.to_timedelta(day, unit="D")).strftime("%Y-%m-%d")
    site = np.array(sites)[site_i]
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
    results_csv = folder / "results.csv"
    frame.to_csv(results_csv, index=False)
    return sites_csv, results_csv


# --------------------------------------------------------------------------- one step, own process


def _rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def step(name: str, sites_csv: Path, results_csv: Path, url: str | None) -> dict:
    """Run one measured step in this process; returns seconds, rows, RSS figures."""
    import pandas as pd  # noqa: F401 - baseline includes the libraries every step imports

    from wastewater.ingest import parse_upload
    from wastewater.storage.database import get_engine, upgrade
    from wastewater.storage.service import ingest_bytes

    engine = None
    if url is not None:
        upgrade(url)
        engine = get_engine(url)
        ingest_bytes(engine, sites_csv.read_bytes(), filename="sites.csv", uploader="bench",
                     today=TODAY)
    baseline = _current_rss_mib()
    start = time.perf_counter()
    if name == "read_csv":
        import pandas

        rows = len(pandas.read_csv(results_csv))
    elif name == "parse_upload":
        parsed = parse_upload(results_csv.read_bytes(), known_sites={f"SE-I{i:03d}" for i in
                                                                     range(N_SITES)},
                              filename="results.csv", today=TODAY)
        assert parsed.report.ok, parsed.report.to_dict()["issues"][:3]
        rows = len(parsed.frame)
    else:
        out = ingest_bytes(engine, results_csv.read_bytes(), filename="results.csv",
                           uploader="bench", today=TODAY)
        assert out.stored, out.report.to_dict()["issues"][:3]
        rows = out.rows_inserted
    seconds = time.perf_counter() - start
    if engine is not None:
        engine.dispose()
    return {"step": name, "seconds": seconds, "rows": rows, "peak_rss_mib": _rss_mib(),
            "baseline_rss_mib": baseline}


def _run_step(name: str, sites_csv: Path, results_csv: Path, url: str | None) -> dict:
    cmd = [sys.executable, __file__, "--step", name, "--sites", str(sites_csv),
           "--results", str(results_csv)] + (["--url", url] if url else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"step {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--skip-postgres", action="store_true")
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("--sites", help=argparse.SUPPRESS)
    ap.add_argument("--results", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        print(json.dumps(step(args.step, Path(args.sites), Path(args.results), args.url)))
        return

    measured: list[tuple[str, dict]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        sites_csv, results_csv = write_files(folder, args.rows)
        t_gen = time.perf_counter() - t0
        size_mib = results_csv.stat().st_size / 2**20
        print(f"generated {args.rows:,} rows ({size_mib:.1f} MiB) in {t_gen:.1f} s", flush=True)
        plan: list[tuple[str, str, str | None]] = [
            ("pandas.read_csv", "read_csv", None),
            ("parse_upload", "parse_upload", None),
            ("ingest_bytes → SQLite file", "ingest", f"sqlite:///{folder / 'bench.db'}"),
        ]
        admin = name = None
        if not args.skip_postgres:
            import sqlalchemy as sa

            admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            name = f"ww_bench_ingest_{uuid.uuid4().hex[:8]}"
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            plan.append(("ingest_bytes → PostgreSQL 15",
                         "ingest", f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"))
        try:
            for label, step_name, url in plan:
                result = _run_step(step_name, sites_csv, results_csv, url)
                print(f"{label}: {result}", flush=True)
                measured.append((label, result))
        finally:
            if admin is not None:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()

    base = measured[0][1]
    lines = [
        "# bench_ingest: real ingest path vs bare pandas.read_csv",
        "",
        (f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.platform()}, "
        f"Python {platform.python_version()}; {args.rows:,} result rows, "
        f"{size_mib:.1f} MiB CSV (generated in {t_gen:.1f} s). Each step ran in its own process."),
        ("The machine (2 cores) was shared with other jobs: times are indicative, not a "
        "performance claim."),
        "",
        ("| step | rows | wall [s] | rows/s | × read_csv time | peak RSS [MiB] | "
        "RSS after imports [MiB] | peak − baseline [MiB] |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in measured:
        lines.append(
            f"| {label} | {r['rows']:,} | {r['seconds']:.2f} | {r['rows'] / r['seconds']:,.0f} | "
            f"{r['seconds'] / base['seconds']:.1f} | {r['peak_rss_mib']:,.0f} | "
            f"{r['baseline_rss_mib']:,.0f} | "
            f"{r['peak_rss_mib'] - r['baseline_rss_mib']:,.0f} |")
    lines += [
        "",
        ("`parse_upload` validates every cell (units, censoring, dates, known sites, duplicates) "
        "and builds the report; `ingest_bytes` adds SHA-256, the duplicate check and the "
        "single-transaction insert with supersession look-ups in batches of "
        "`CHUNK_ROWS` rows. Memory of the ingest path is dominated by the parsed frame plus "
        "one batch of records."),
        "",
    ]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
