"""A clean install works: the built wheel, installed into a new virtual environment from the
runtime lock file (requirements.lock, no test extras), migrates, loads the samples, creates a
lab key with its own CLI, serves, shows every dashboard page in Swedish and English and takes an
upload through the dashboard's upload form.

Downloads and built wheels are kept in test-artifacts/pip-cache between runs, so only the first
run on a machine fetches packages. This is the check that the runtime dependencies are complete:
nothing from the development environment (test extras, the editable checkout) is visible to the
server, which runs from a temporary folder outside the repository.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import free_port, stop, wait_until_up

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "test-artifacts" / "pip-cache"
PAGES = ["trend", "operations", "riskweekends", "compare", "upload", "alerts", "report", "login"]


def _run(*cmd, **kw) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert done.returncode == 0, f"{cmd}: {done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def clean_venv(tmp_path_factory):
    """A venv with the wheel and requirements.lock only; yields its ``bin`` folder."""
    root = tmp_path_factory.mktemp("clean-install")
    wheels = root / "wheel"
    CACHE.mkdir(parents=True, exist_ok=True)
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--cache-dir", str(CACHE), "-w", str(wheels),
         str(REPO))
    (wheel,) = wheels.glob("wastewater-*.whl")
    _run(sys.executable, "-m", "venv", str(root / "venv"))
    bin_ = root / "venv" / "bin"
    CACHE.mkdir(parents=True, exist_ok=True)
    pip = [str(bin_ / "pip"), "install", "-q", "--cache-dir", str(CACHE), "--disable-pip-version-check"]
    _run(*pip, "-r", str(REPO / "requirements.lock"))
    _run(*pip, "--no-deps", str(wheel))
    return bin_


def test_wheel_from_the_lock_file_serves_every_page_and_an_upload(clean_venv, tmp_path):
    bin_ = clean_venv
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["WASTEWATER_DATABASE_URL"] = f"sqlite:///{tmp_path / 'clean.db'}"
    # nothing test-only is installed
    installed = _run(str(bin_ / "pip"), "list", "--format=freeze", env=env, cwd=tmp_path).lower()
    for test_only in ("pytest", "playwright", "hypothesis", "schemathesis", "pypdf"):
        assert f"\n{test_only}==" not in "\n" + installed, test_only
    cli = str(bin_ / "wastewater")
    _run(cli, "demo", "--no-serve", "--samples-dir", str(REPO / "samples"), env=env, cwd=tmp_path)
    out = _run(cli, "keys", "create", "lab-clean", "--role", "lab", env=env, cwd=tmp_path)
    token = re.findall(r"\S{30,}", out)[-1]
    port = free_port()
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - open while the server runs
    server = subprocess.Popen([cli, "serve", "--port", str(port)], env=env, cwd=tmp_path, stdout=log,
                              stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/dashboard/login", server, log=(tmp_path / "server.log").read_text)
        import httpx

        with httpx.Client(base_url=base, timeout=120) as client:
            for lang in ("sv", "en"):
                for name in PAGES:
                    resp = client.get(f"/dashboard/{name}", params={"lang": lang})
                    assert resp.status_code == 200, (name, lang, resp.text[:500])
                    assert f'<html lang="{lang}">' in resp.text
            report = client.get("/dashboard/report", params={"year": 2025, "tertial": 3})
            assert report.status_code == 200 and 'data-testid="report-summary"' in report.text
            # the upload flow with the CLI's lab key in the dashboard's cookie
            client.cookies.set("ww_api_key", token, path="/dashboard")
            bad = (REPO / "samples" / "bad_results.csv").read_bytes()
            resp = client.post("/dashboard/upload", params={"lang": "sv"},
                               data={"kind": "auto", "action": "dry_run"},
                               files={"file": ("bad_results.csv", bad, "text/csv")})
            assert resp.status_code == 200
            assert 'id="upload-issues"' in resp.text and "Inget har sparats" in resp.text
            assert 'data-role="lab"' in resp.text
    finally:
        stop(server)
        log.close()
