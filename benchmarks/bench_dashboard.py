"""Dashboard trend page vs a static file of the same bytes, and one tertial report.

Usage::

    .venv/bin/python benchmarks/bench_dashboard.py [--requests 30] [--port 0]

Loads samples/*.csv into a fresh SQLite database (the ingest service, which also fills the
daily-series store), starts the real app with uvicorn (1 worker) and a minimal FastAPI app that
serves the trend page's HTML, fetched once, as a static file (same uvicorn settings), then
times sequential GETs of each, alternating; then the first render of the trend page in headless
Debian chromium against a plain page with the same plotly.js and the same figure JSON. Also times
``dashboards.report.build_report`` for T1 and T3 2025 (all public sites, Swedish) in this
process after one warm-up call, built anew (``cache=False``; wall and CPU time) and from the
report cache.
Writes benchmarks/reports/bench_dashboard.md.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from bench_load_series import _free_port, _start, _stop  # one way to start and stop servers

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "benchmarks" / "reports" / "bench_dashboard.md"
TREND = "/dashboard/trend?site=SE-KAT-ROS&analyte=benzoylecgonine&lang=sv"

STATIC_APP = '''
import os
from fastapi import FastAPI
from fastapi.responses import FileResponse

def app_from_env():
    app = FastAPI()
    path = os.environ["STATIC_PAGE"]

    @app.get("/page")
    def page():
        return FileResponse(path, media_type="text/html; charset=utf-8")

    @app.get("/plain")
    def plain():
        return FileResponse(os.environ["PLAIN_PAGE"], media_type="text/html; charset=utf-8")

    @app.get("/plotly.min.js")
    def plotly_js():
        return FileResponse(os.environ["PLOTLY_JS"], media_type="application/javascript")

    @app.get("/api/v1/health")
    def health():
        return {"status": "ok"}

    return app
'''


CHROMIUM = "/usr/bin/chromium"


def _plain_page(page_html: str) -> str:
    """A plain page with the trend page's figures (same JSON) drawn by the same plotly.js."""
    import html as h
    import json
    import re

    specs = [json.loads(h.unescape(m)) for m in re.findall(r'data-plotly="([^"]*)"', page_html)]
    divs = "".join(f'<div id="plain-{i}" class="plotly-graph-div"></div>' for i in range(len(specs)))
    calls = "".join(f"Plotly.newPlot('plain-{i}', S[{i}].data, S[{i}].layout, S[{i}].config);"
                    for i in range(len(specs)))
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><script src="/plotly.min.js"></script>'
            f'</head><body>{divs}<script>const S = {json.dumps(specs)};{calls}</script></body></html>')


def _first_render(urls: dict[str, tuple[str, list[str]]], rounds: int) -> dict[str, list[float]]:
    """Seconds from navigation start to every figure's SVG in the DOM, per URL, alternating, each
    load in a fresh browser context (nothing cached)."""
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {k: [] for k in urls}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            for _ in range(rounds):
                for name, (u, div_ids) in urls.items():
                    ctx = browser.new_context()
                    page = ctx.new_page()
                    t0 = time.perf_counter()
                    page.goto(u, wait_until="commit")
                    for div in div_ids:  # selectors, not script: the dashboard's CSP forbids eval
                        page.locator(f"#{div} .main-svg").first.wait_for(state="attached", timeout=120_000)
                    out[name].append(time.perf_counter() - t0)
                    ctx.close()
        finally:
            browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    from wastewater.storage.database import get_engine, upgrade
    from wastewater.storage.service import ingest_bytes

    tmp = Path(tempfile.mkdtemp(prefix="ww-bench-dash-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)  # the database and pages go at exit
    url = f"sqlite:///{tmp / 'dash.db'}"
    upgrade(url)
    engine = get_engine(url)
    for name in ("sites", "flows", "results", "events"):
        path = ROOT / "samples" / f"{name}.csv"
        assert ingest_bytes(engine, path.read_bytes(), kind=name, filename=path.name,
                            uploader="benchmark").stored
    p_app, p_static = (args.port, args.port + 1) if args.port else (_free_port(), _free_port())
    uv = [sys.executable, "-m", "uvicorn", "--factory", "--host", "127.0.0.1", "--log-level",
          "warning", "--workers", "1"]
    app = _start(uv + ["service.app:app_from_env", "--port", str(p_app)],
                 {**os.environ, "WASTEWATER_DATABASE_URL": url}, p_app, ROOT)
    try:
        t0 = time.perf_counter()
        page = httpx.get(f"http://127.0.0.1:{p_app}{TREND}", timeout=120)
        first_ms = (time.perf_counter() - t0) * 1000
        assert page.status_code == 200, page.text[:300]
        (tmp / "static_app.py").write_text(STATIC_APP)
        (tmp / "page.html").write_bytes(page.content)
        (tmp / "plain.html").write_text(_plain_page(page.text), encoding="utf-8")
        n_figures = page.text.count('data-plotly="')
        from dashboards.app import plotly_js_path

        static = _start(uv + ["static_app:app_from_env", "--port", str(p_static)],
                        {**os.environ, "STATIC_PAGE": str(tmp / "page.html"),
                         "PLAIN_PAGE": str(tmp / "plain.html"), "PLOTLY_JS": str(plotly_js_path()),
                         "PYTHONPATH": str(tmp)}, p_static, tmp)
        try:
            t_app: list[float] = []
            t_static: list[float] = []
            with httpx.Client(timeout=120) as client:
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    assert client.get(f"http://127.0.0.1:{p_app}{TREND}").status_code == 200
                    t_app.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    r = client.get(f"http://127.0.0.1:{p_static}/page")
                    t_static.append(time.perf_counter() - t0)
                    assert r.content == page.content
            import re

            ids = re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', page.text)
            render = _first_render({"dashboard": (f"http://127.0.0.1:{p_app}{TREND}", ids),
                                    "plain": (f"http://127.0.0.1:{p_static}/plain",
                                              [f"plain-{i}" for i in range(n_figures)])}, 7)
        finally:
            _stop(static)
    finally:
        _stop(app)
    from dashboards.report import build_report

    build_report(engine, 2025, 1, lang="sv", cache=False)  # warm-up: imports, first reads
    built: dict[int, tuple[float, float]] = {}  # tertial → (median wall s, median CPU s)
    for tertial in (3, 1):
        wall, cpu = [], []
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            html = build_report(engine, 2025, tertial, lang="sv", cache=False)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        built[tertial] = (statistics.median(wall), statistics.median(cpu))
    build_report(engine, 2025, 1, lang="sv")  # fills the report cache
    t0 = time.perf_counter()
    cached = build_report(engine, 2025, 1, lang="sv")
    cached_s = time.perf_counter() - t0
    assert cached == html
    engine.dispose()
    a, s = statistics.median(t_app) * 1000, statistics.median(t_static) * 1000
    rd, rp = statistics.median(render["dashboard"]) * 1000, statistics.median(render["plain"]) * 1000
    lines = [
        "# Dashboard trend page and tertial report",
        "",
        (f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC} by `benchmarks/bench_dashboard.py` "
         f"(`--requests {args.requests}`), {platform.platform()}, {os.cpu_count()} CPUs shared with "
         f"other jobs (load average {os.getloadavg()[0]:.1f}): compare ratios only."),
        "",
        "| what | median | ratio |",
        "|---|---|---|",
        f"| trend page `{TREND}` ({len(page.content) / 1024:.0f} KB) | {a:.1f} ms | {a / s:.2f} |",
        f"| the same bytes as a static file (FastAPI FileResponse, same uvicorn settings) | {s:.1f} ms | 1 |",
        f"| first request of that page (nothing cached: store read, intervals, figures) | {first_ms:.0f} ms "
        f"| {first_ms / s:.1f} |",
        f"| first render in headless chromium: the trend page, navigation to its {n_figures} figure(s) drawn "
        f"| {rd:.0f} ms | {rd / rp:.2f} |",
        f"| first render: a plain page with the same plotly.js and the same figure JSON | {rp:.0f} ms | 1 |",
        *(f"| tertial report T{k} 2025, sv, public view (`build_report(cache=False)`, in process, warm, "
          f"median of 3; CPU time {built[k][1] * 1000:.0f} ms) | {built[k][0] * 1000:.0f} ms | – |" for k in (1, 3)),
        f"| the same report again (`build_report`, from the report cache: same data version and day) "
        f"| {cached_s * 1000:.1f} ms | – |",
        "",
        "Page rows: medians of sequential requests alternating between the two servers. Render rows: "
        "medians of 7 alternating loads, each in a fresh browser context (plotly.js fetched every time).",
        "",
        f"Report size {len(html) / 1024:.0f} KB. Both servers on the demo data (samples/), sequential "
        "requests alternating between them.",
        "",
    ]
    REPORT.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
