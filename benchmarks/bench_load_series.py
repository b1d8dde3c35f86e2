"""Load test of GET /api/v1/series under 50 concurrent httpx clients, against a floor.

Usage::

    .venv/bin/python benchmarks/bench_load_series.py [--requests 1000] [--rounds 4] [--cases 3] [--port P]
    .venv/bin/python benchmarks/bench_load_series.py --mode demo [--requests 1000]

``--mode floor`` (default): for each case — (3 sites, 5 years daily), (300 sites, the measured
one 5 years, the others 1 year), (3 sites, 1 year), (3 sites, 2.5 years); ``--cases N`` runs
the first N — builds a SQLite database through the ingest service, starts
``uvicorn --factory service.app:app_from_env`` and the floor (``benchmarks/floor_app.py``: a
minimal FastAPI endpoint returning the byte-identical JSON from a precomputed array) with the
same uvicorn settings, all at once, then measures every server once per round in ABBA order
(odd rounds reversed). Reports p50/p99 latency and the server's CPU time per request (user +
system time of the uvicorn process over the round, from /proc) and their ratios to the floor,
per round and pooled, in the first section of benchmarks/reports/bench_load_series.md (the
sections below it are kept).

``--mode demo``: the demo samples, a rotation of site × analyte × measure (daily JSON for a
viewer key, a share of anonymous weekly and CSV requests); p50/p90/p99, throughput and CPU per
request, written over the report (a ``## History`` section already in it is kept).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import datetime as dt
import os
import platform
import shutil
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
    ap.add_argument("--mode", choices=("floor", "demo"), default="floor",
                    help="floor: /series vs the floor endpoint (5 years daily, 3 and 300 sites, "
                         "1/2.5/5 years); demo: the rotation over the demo data")
    ap.add_argument("--port", type=int, default=0,
                    help="floor mode: first of 2 × cases consecutive ports (0: free ports)")
    ap.add_argument("--rounds", type=int, default=4,
                    help="floor mode: rounds per server (ABBA order; even for a balanced order)")
    ap.add_argument("--cases", type=int, default=3, help="floor mode: run only the first N cases "
                    "of (3 sites, 5 y), (300 sites, 5 y; the others 1 y), (3, 1 y), (3, 2.5 y)")
    args = ap.parse_args()
    if args.mode == "floor":
        floor_main(args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="ww-bench-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)  # the database and pages go at exit
    url = f"sqlite:///{tmp / 'bench.db'}"
    t0 = time.perf_counter()
    counts = load_demo(url)
    load_s = time.perf_counter() - t0
    token = str(counts.pop("token"))
    port = _free_port()
    env = {**os.environ, "WASTEWATER_DATABASE_URL": url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "service.app:app_from_env", "--host", "127.0.0.1",
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


# --------------------------------------------------------------------------- floor comparison

FLOOR_SITE = "SE-BENCH-000"
FLOOR_ANALYTE = "benzoylecgonine"
FLOOR_MEASURES = ("load_per_1000", "concentration", "load")
FLOOR_REPORT_START = "<!-- floor comparison -->"


def synthetic_csvs(n_sites: int, years: float, seed: int = 7, other_years: float | None = None
                   ) -> tuple[bytes, bytes, bytes]:
    """Sites, flows and results CSV bytes: ``n_sites`` sites × one analyte, every day for
    ``years`` years ending 2025-12-31 (about 5 % of days below the LOQ); with ``other_years``
    every site but the first has that shorter history."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_days = int(round(365.25 * years))
    n_other = n_days if other_years is None else int(round(365.25 * other_years))
    days = [dt.date(2025, 12, 31) - dt.timedelta(days=n_days - 1 - i) for i in range(n_days)]
    iso = [d.isoformat() for d in days]
    sites = [f"SE-BENCH-{i:03d}" for i in range(n_sites)]
    s_lines = ["site,name,municipality,population,population_year"]
    s_lines += [f"{s},Verk {s},Kommun {i},{20000 + 97 * i},{days[0].year}" for i, s in enumerate(sites)]
    f_lines, r_lines = ["site,date,flow_m3_per_day"], [
        "sample_id,site,sample_date,analyte,value,unit,qualifier,loq,lod,composite_hours"]
    for i_site, s in enumerate(sites):
        flow = rng.normal(10000, 800, n_days).round(0)
        conc = np.exp(rng.normal(np.log(300), 0.25, n_days)).round(1)
        cens = rng.random(n_days) < 0.05
        for k in range(0 if i_site == 0 else n_days - n_other, n_days):
            f_lines.append(f"{s},{iso[k]},{flow[k]:.0f}")
            value, qual = ("", "<LOQ") if cens[k] else (f"{conc[k]}", "")
            r_lines.append(f"{s}-{iso[k]},{s},{iso[k]},{FLOOR_ANALYTE},{value},ng/L,{qual},10,1,24")
    return tuple(("\n".join(x) + "\n").encode() for x in (s_lines, f_lines, r_lines))  # type: ignore[return-value]


def build_db(url: str, n_sites: int, years: float, other_years: float | None = None
             ) -> tuple[str, float]:
    from api.security import create_key
    from wastewater.storage.database import get_engine, upgrade
    from wastewater.storage.service import ingest_bytes

    upgrade(url)
    engine = get_engine(url)
    t0 = time.perf_counter()
    for kind, data in zip(("sites", "flows", "results"), synthetic_csvs(n_sites, years, other_years=other_years),
                          strict=True):
        out = ingest_bytes(engine, data, kind=kind, filename=f"{kind}.csv", uploader="benchmark")
        assert out.stored, out.report.to_dict()
    load_s = time.perf_counter() - t0
    token = create_key(engine, "bench-viewer", "viewer")
    engine.dispose()
    return token, load_s


def _start(cmd: list[str], env: dict[str, str], port: int, cwd: Path = ROOT) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, cwd=cwd)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server on port {port} did not start")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


async def _hammer(base: str, headers: dict[str, str], n_requests: int, concurrency: int
                  ) -> tuple[list[float], dict[int, int], float]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n_requests):
        queue.put_nowait(i)
    latencies: list[float] = []
    statuses: dict[int, int] = {}  # -1: connection error

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=120, headers=headers) as client:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                params = {"site": FLOOR_SITE, "analyte": FLOOR_ANALYTE,
                          "measure": FLOOR_MEASURES[i % len(FLOOR_MEASURES)]}
                t0 = time.perf_counter()
                try:
                    r = await client.get("/api/v1/series", params=params)
                    code = r.status_code
                except httpx.TransportError:  # counted, not timed (reported with the statuses)
                    statuses[-1] = statuses.get(-1, 0) + 1
                    continue
                latencies.append(time.perf_counter() - t0)
                statuses[code] = statuses.get(code, 0) + 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses, time.perf_counter() - t0


def _measure(proc: subprocess.Popen, base: str, headers: dict[str, str], n: int, conc: int) -> dict:
    asyncio.run(_hammer(base, headers, 60, 10))  # warm-up: imports, first reads, caches
    cpu0 = process_cpu_s(proc.pid)
    lat, statuses, wall = asyncio.run(_hammer(base, headers, n, conc))
    cpu1 = process_cpu_s(proc.pid)
    ms = [x * 1000 for x in lat]
    cpu_ms = sum(b - a for a, b in zip(cpu0, cpu1, strict=True)) * 1000 / n
    return {"p50": percentile(ms, 0.5), "p99": percentile(ms, 0.99), "rps": n / wall,
            "cpu_ms": cpu_ms, "statuses": statuses, "ms": ms, "n": n}


CASES = ((3, 5.0, None), (300, 5.0, 1.0), (3, 1.0, None), (3, 2.5, None))
"""(sites, years of the measured site, years of the other sites): the 299 other sites of the
300-site case hold one year each (keeps the build short on a shared machine); the measured
site always has the case's full history."""


def start_case(n_sites: int, years: float, other_years: float | None, ports: tuple[int, int]) -> dict:
    """Build a database, start /series and the floor on it (same uvicorn settings), check bytes."""
    import json as _json

    tmp = Path(tempfile.mkdtemp(prefix="ww-bench-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)  # the database and pages go at exit
    url = f"sqlite:///{tmp / 'bench.db'}"
    token, load_s = build_db(url, n_sites, years, other_years)
    uv = [sys.executable, "-m", "uvicorn", "--factory", "--host", "127.0.0.1", "--log-level",
          "warning", "--workers", "1", "--timeout-keep-alive", "120"]
    port_api, port_floor = ports
    case = {"sites": n_sites, "years": years, "other_years": other_years, "load_s": load_s,
            "token": token, "procs": {}}
    env = {**os.environ, "WASTEWATER_DATABASE_URL": url}
    case["procs"]["api"] = _start(uv + ["service.app:app_from_env", "--port", str(port_api)], env, port_api)
    case["base"] = {"api": f"http://127.0.0.1:{port_api}", "floor": f"http://127.0.0.1:{port_floor}"}
    bodies_raw = {}
    for m in FLOOR_MEASURES:
        r = httpx.get(f"{case['base']['api']}/api/v1/series",
                      params={"site": FLOOR_SITE, "analyte": FLOOR_ANALYTE, "measure": m},
                      headers={"X-API-Key": token}, timeout=120)
        assert r.status_code == 200, r.text[:500]
        bodies_raw[m] = r.content
    bodies_file = tmp / "floor_bodies.json"
    bodies_file.write_text(_json.dumps({m: _json.loads(b) for m, b in bodies_raw.items()}))
    case["procs"]["floor"] = _start(uv + ["benchmarks.floor_app:app_from_env", "--port", str(port_floor)],
                                    {**os.environ, "FLOOR_BODIES": str(bodies_file)}, port_floor)
    for m in FLOOR_MEASURES:  # byte-identical answers
        fb = httpx.get(f"{case['base']['floor']}/api/v1/series", params={"measure": m}, timeout=60).content
        assert fb == bodies_raw[m], f"floor bytes differ for {m}"
    case["points"] = len(_json.loads(bodies_raw["load"])["points"])
    case["bytes"] = len(bodies_raw["load_per_1000"])
    case["rounds"] = {"api": [], "floor": []}
    return case


def _pooled(rounds: list[dict]) -> dict:
    ms = [x for r in rounds for x in r["ms"]]
    n = sum(r["n"] for r in rounds)
    return {"p50": percentile(ms, 0.5), "p99": percentile(ms, 0.99),
            "cpu_ms": sum(r["cpu_ms"] * r["n"] for r in rounds) / n}


def floor_main(args: argparse.Namespace) -> None:
    cases_spec = CASES[:args.cases]
    base_port = args.port or 0
    cases = []
    try:
        for i, (n_sites, years, other) in enumerate(cases_spec):
            ports = (base_port + 2 * i, base_port + 2 * i + 1) if base_port else (_free_port(), _free_port())
            print(f"case {n_sites} sites × {years} years: building and starting ...", flush=True)
            cases.append(start_case(n_sites, years, other, ports))
        # every (case, server) unit once per round; odd rounds in reverse order (ABBA), so a
        # machine load that drifts during the run falls on every unit alike
        units = [(i, kind) for i in range(len(cases)) for kind in ("api", "floor")]
        for r in range(args.rounds):
            for i, kind in (units if r % 2 == 0 else units[::-1]):
                c = cases[i]
                headers = {"X-API-Key": c["token"]} if kind == "api" else {}
                res = _measure(c["procs"][kind], c["base"][kind], headers, args.requests, args.concurrency)
                c["rounds"][kind].append(res)
                print(f"round {r + 1} {c['sites']}×{c['years']:g} {kind}: p50 {res['p50']:.1f} ms, "
                      f"p99 {res['p99']:.1f} ms, CPU {res['cpu_ms']:.2f} ms/req", flush=True)
    finally:
        for c in cases:
            for proc in c["procs"].values():
                _stop(proc)
    write_floor_report(args, cases)


def write_floor_report(args: argparse.Namespace, cases: list[dict]) -> None:
    lines = [
        FLOOR_REPORT_START,
        "# Load test: GET /api/v1/series against the floor",
        "",
        (f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC} by `benchmarks/bench_load_series.py` "
         f"(`--requests {args.requests} --concurrency {args.concurrency} --rounds {args.rounds}`)."),
        "",
        (f"- Machine: {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
         f"shared with other jobs (load average {os.getloadavg()[0]:.1f} at the end): compare ratios only."),
        "- Both servers: `uvicorn --factory --workers 1 --log-level warning`, started by this script on "
         "the same database file; every server of every case runs for the whole run and is measured "
         "once per round, the rounds in ABBA order (odd rounds reversed), so a drifting machine load "
         "falls alike on /series and floor, and on 3 and 300 sites.",
        "- /series: the real app (key check, one-site visibility + data version query, response cache, "
        "store read on a miss), viewer key, daily JSON of one site × benzoylecgonine rotating over "
        "load_per_1000, concentration and load.",
        "- Floor: `benchmarks/floor_app.py`, a minimal FastAPI endpoint returning `orjson.dumps` of the "
        "same bodies (parsed once from /series' answers: byte-identical, checked).",
        (f"- Clients: {args.concurrency} concurrent `httpx.AsyncClient`, {args.requests} requests per round "
         "after a 60-request warm-up; server CPU per request = user + system time of the server "
         "process (/proc) over the round."),
        "",
        "| sites | years | points | body | round | /series p50 | floor p50 | ratio | /series p99 | floor p99 "
        "| ratio | /series CPU/req | floor CPU/req | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def label(c: dict) -> str:
        return f"{c['sites']}" + (f" (others {c['other_years']:g} y)" if c.get("other_years") else "")

    def row(c: dict, k: str, a: dict, f: dict) -> str:
        return (f"| {label(c)} | {c['years']:g} | {c['points']} | {c['bytes'] / 1024:.0f} KB | {k} "
                f"| {a['p50']:.1f} ms | {f['p50']:.1f} ms | {a['p50'] / f['p50']:.2f} "
                f"| {a['p99']:.1f} ms | {f['p99']:.1f} ms | {a['p99'] / f['p99']:.2f} "
                f"| {a['cpu_ms']:.2f} ms | {f['cpu_ms']:.2f} ms | {a['cpu_ms'] / f['cpu_ms']:.2f} |")

    pooled = {}
    for c in cases:
        for k, (a, f) in enumerate(zip(c["rounds"]["api"], c["rounds"]["floor"], strict=True), 1):
            lines.append(row(c, str(k), a, f))
        pooled[(c["sites"], c["years"])] = pa, pf = _pooled(c["rounds"]["api"]), _pooled(c["rounds"]["floor"])
        lines.append(row(c, "**all**", pa, pf))
    lines.append("")
    lines.append("Rows **all**: the latencies of every round pooled, CPU over every round.")
    lines.append("")
    for c in cases:
        key = (c["sites"], c["years"])
        pa, pf = pooled[key]
        per_round = [(a["p50"] / f["p50"], a["p99"] / f["p99"], a["cpu_ms"] / f["cpu_ms"])
                     for a, f in zip(c["rounds"]["api"], c["rounds"]["floor"], strict=True)]
        lines.append(
            f"- {label(c)} sites × {c['years']:g} y, /series ÷ floor, all rounds: p50 {pa['p50'] / pf['p50']:.2f}, "
            f"p99 {pa['p99'] / pf['p99']:.2f}, CPU {pa['cpu_ms'] / pf['cpu_ms']:.2f}; range over rounds: "
            f"p50 {min(x[0] for x in per_round):.2f}–{max(x[0] for x in per_round):.2f}, "
            f"p99 {min(x[1] for x in per_round):.2f}–{max(x[1] for x in per_round):.2f}, "
            f"CPU {min(x[2] for x in per_round):.2f}–{max(x[2] for x in per_round):.2f}.")
    if (3, 5.0) in pooled and (300, 5.0) in pooled:
        (a3, f3), (a300, f300) = pooled[(3, 5.0)], pooled[(300, 5.0)]
        lines.append(
            f"- CPU per /series request, 300 vs 3 sites (5 years, all rounds): {a300['cpu_ms']:.2f} / "
            f"{a3['cpu_ms']:.2f} ms = {a300['cpu_ms'] / a3['cpu_ms']:.3f} (target within 10 %); the floor "
            f"beside them: {f300['cpu_ms']:.2f} / {f3['cpu_ms']:.2f} ms = {f300['cpu_ms'] / f3['cpu_ms']:.3f}.")
    hist = [(y, pooled[(3, y)][0]["cpu_ms"]) for y in (1.0, 2.5, 5.0) if (3, y) in pooled]
    if len(hist) > 1:
        lines.append("- CPU per /series request by history length (3 sites): "
                     + ", ".join(f"{y:g} y: {v:.2f} ms" for y, v in hist)
                     + f"; {hist[-1][0]:g} y / {hist[0][0]:g} y = {hist[-1][1] / hist[0][1]:.2f} "
                       f"(linear would be {hist[-1][0] / hist[0][0]:.1f}).")
    lines += [
        "- Status codes (/series, all rounds): " + "; ".join(
            f"{c['sites']}×{c['years']:g}: " + ", ".join(
                f"{k}: {v}" for k, v in sorted(_sum_statuses(c["rounds"]["api"]).items()))
            for c in cases),
        "- Database build (ingest incl. the store maintenance): " + ", ".join(
            f"{c['sites']} sites × {c['years']:g} y: {c['load_s']:.0f} s" for c in cases),
        "",
        "A warm request costs one SELECT (the key, the site and the series' data version together, "
        "`wastewater.storage.series.key_and_series_state`) in one worker-thread call, and a lookup in "
        "the per-process response cache; the store is read (one indexed query) only when the version "
        "or the representation is new. So the CPU per request does not depend on the number of sites, "
        "and on the history length only through the bytes sent.",
        "",
    ]
    previous = REPORT.read_text(encoding="utf-8") if REPORT.exists() else ""
    if FLOOR_REPORT_START in previous:  # replace an earlier floor section, keep the rest
        rest = previous[previous.index(FLOOR_REPORT_START):]
        rest = rest[rest.index("\n# Load test: GET /api/v1/series\n") + 1:] if \
            "\n# Load test: GET /api/v1/series\n" in rest else ""
        previous = rest
    REPORT.write_text("\n".join(lines) + "\n" + previous, encoding="utf-8")
    print("\n".join(lines))


def _sum_statuses(rounds: list[dict]) -> dict[int, int]:
    out: dict[int, int] = {}
    for r in rounds:
        for k, v in r["statuses"].items():
            out[k] = out.get(k, 0) + v
    return out


if __name__ == "__main__":
    main()
