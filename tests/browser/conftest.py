"""A real uvicorn server on a free port with a temp SQLite database holding the demo data,
and headless Debian chromium driven by Python playwright (no browser download)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import free_port, stop, wait_until_up

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DEMO_SITES = ["SE-KAT-ROS", "SE-FLN-ARV", "SE-KAT-PS1"]


@contextlib.contextmanager
def serve(database_url: str, folder: Path, *, port: int | None = None,
          start_timeout_s: float = 60):
    """Run uvicorn on ``database_url`` (log in ``folder/server.log``); yield its base URL."""
    port = port or free_port()
    env = {**os.environ, "WASTEWATER_DATABASE_URL": database_url}
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - open while the server runs
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "service.app:app_from_env",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/dashboard/login", proc, timeout_s=start_timeout_s,
                      log=(folder / "server.log").read_text)
        yield base
    finally:
        stop(proc)
        log.close()


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory):
    """Base URL of a running server plus API keys: ``{"url", "lab_key", "analyst_key"}``."""
    from api.security import create_key
    from dashboards.demo import load_demo
    from wastewater.storage.database import get_engine, upgrade

    db = tmp_path_factory.mktemp("dashboard") / "demo.db"
    url = f"sqlite:///{db}"
    engine = get_engine(url)
    upgrade(engine)
    load_demo(engine)
    lab_key = create_key(engine, "lab-e2e", "lab", sites=DEMO_SITES)
    analyst_key = create_key(engine, "analyst-e2e", "analyst")
    engine.dispose()
    with serve(url, db.parent) as base:
        yield {"url": base, "lab_key": lab_key, "analyst_key": analyst_key}


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package", pytrace=False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="sv-SE")
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    # every response carries a strict CSP: any script or style it blocks fails the test
    csp_errors: list[str] = []
    pg.on("console", lambda m: csp_errors.append(m.text)
          if m.type == "error" and "Content Security Policy" in m.text else None)
    pg.on("pageerror", lambda e: csp_errors.append(f"page error: {e}"))
    yield pg
    context.close()
    assert csp_errors == [], csp_errors


def shot(page, name: str) -> Path:
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
