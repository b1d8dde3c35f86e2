"""Load test of GET /api/v1/series: uvicorn on the demo data, 50 concurrent httpx clients.

Usage::

    .venv/bin/python benchmarks/bench_load_series.py [--requests 1000] [--concurrency 50]

Loads samples/*.csv into a fresh SQLite database (through the same ingest service the API
uses), starts ``uvicorn --factory api.main:app_from_env`` on a free port (1 worker), creates a
viewer key, then fires requests for a rotation of site × analyte × measure combinations
(daily JSON for the key; a share of anonymous weekly requests and CSV requests) and reports
p50/p90/p99 latency, throughput and the server's CPU time per request (user + system time of the
uvicorn process over the timed requests, from /proc) in benchmarks/reports/bench_load_series.md; a
``## History`` section already in that report is kept below the new numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "benchmarks" / "reports" / "bench_load_series.md"
SITES = ("SE-KAT-ROS", "SE-FLN-ARV", "SE-KAT-PS1")
ANALYTES = ("benzoylecgonine", "amphetamine", "mdma", "thc-cooh", "methamphetamine")
MEASURES = ("load_per_1000", "concentration", "load")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_demo(url: str) -> dict[str, int]:
    from wastewater.storage.database import get_engine, upgrade
    from wastewater.storage.service import ingest_bytes

    upgrade(url)
    engine = get_engine(url)
    counts = {}
    for name in ("sites", "flows", "results", "events"):
        path = ROOT / "samples" / f"{name}.csv"
        out = ingest_bytes(engine, path.read_bytes(), kind=name, filename=path.name, uploader="benchmark")
        assert out.stored, out.report.to_dict()
        counts[name] = out.rows_inserted
    from api.security import create_key

    counts["token"] = create_key(engine, "bench-viewer", "viewer")  # type: ignore[assignment]
    engine.dispose()
    return counts


def process_cpu_s(pid: int) -> tuple[float, float]:
    """(user, system) CPU time of a process [s] from /proc/<pid>/stat (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


async def run(base: str, token: str, n_requests: int, concurrency: int) -> tuple[list[float], dict[int, int], float]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n_requests):
        queue.put_nowait(i)
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                site = SITES[i % len(SITES)]
                params = {"site": site, "analyte": ANALYTES[(i // 3) % len(ANALYTES)],
                          "measure": MEASURES[(i // 15) % len(MEASURES)]}
                headers = {"X-API-Key": token}
                if i % 10 == 0 and site != "SE-KAT-PS1":
                    headers = {}                      # anonymous: weekly means
                if i % 7 == 0:
                    params["format"] = "csv"
                t0 = time.perf_counter()
                r = await client.get("/api/v1/series", params=params, headers=headers)
                latencies.append(time.perf_counter() - t0)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=50)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ww-bench-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    t0 = time.perf_counter()
    counts = load_demo(url)
    load_s = time.perf_counter() - t0
    token = str(counts.pop("token"))
    port = _free_port()
    env = {**os.environ, "WASTEWATER_DATABASE_URL": url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.main:app_from_env", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--workers", "1"],
        env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit("uvicorn did not start")
        asyncio.run(run(base, token, 50, 10))            # warm-up (imports, first queries)
        cpu0 = process_cpu_s(proc.pid)
        lat, statuses, wall = asyncio.run(run(base, token, args.requests, args.concurrency))
        cpu1 = process_cpu_s(proc.pid)
        user_ms, sys_ms = ((b - a) * 1000 / args.requests for a, b in zip(cpu0, cpu1, strict=True))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    ms = [x * 1000 for x in lat]
    p50, p90, p99 = (percentile(ms, q) for q in (0.5, 0.9, 0.99))
    lines = [
        "# Load test: GET /api/v1/series",
        "",
        (f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC} by `benchmarks/bench_load_series.py` "
        f"(`--requests {args.requests} --concurrency {args.concurrency}`)."),
        "",
        (f"- Machine: {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs "
        "(shared with other jobs while this ran)."),
        ("- Server: uvicorn, 1 worker, SQLite database with the demo data "
        f"({counts['results']} results, {counts['flows']} flows, {counts['sites']} sites, "
        f"{counts['events']} events; loaded in {load_s:.1f} s)."),
        (f"- Clients: {args.concurrency} concurrent httpx.AsyncClient, {args.requests} requests rotating over "
        f"{len(SITES)} sites × {len(ANALYTES)} analytes × {len(MEASURES)} measures; every 10th anonymous "
        "(weekly means), every 7th as CSV."),
        "",
        "| metric | value |",
        "|---|---|",
        f"| requests | {len(ms)} |",
        f"| status codes | {', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))} |",
        f"| p50 latency | {p50:.0f} ms |",
        f"| p90 latency | {p90:.0f} ms |",
        f"| p99 latency | {p99:.0f} ms |",
        f"| mean latency | {statistics.mean(ms):.0f} ms |",
        f"| throughput | {len(ms) / wall:.1f} requests/s |",
        f"| server CPU per request | {user_ms + sys_ms:.1f} ms (user {user_ms:.1f}, system {sys_ms:.1f}) |",
        "",
        ("Latency under 50 concurrent clients is dominated by queueing: one worker computes each "
        "series (SQL read, `build_dataset`, JSON) in turn, so p50 ≈ concurrency × service time. "
        "The app is stateless; add uvicorn workers or replicas behind a load balancer to scale, and "
        "clients can revalidate with `If-None-Match` (304 without a body)."),
        "",
    ]
    history = ""
    if REPORT.exists():  # keep the hand-kept "## History" section of earlier runs
        previous = REPORT.read_text(encoding="utf-8")
        if "\n## History\n" in previous:
            history = previous[previous.index("\n## History\n"):]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + history, encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
