"""docs/client_example.py runs against a live server (the browser tests' demo server)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.browser.conftest import REPO

pytestmark = [pytest.mark.browser]  # shares the session's live demo server

CLIENT = REPO / "docs" / "client_example.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CLIENT), *args], capture_output=True, text=True,
                          timeout=120)


def test_public_client_prints_weekly_means_of_a_public_catchment(demo_server):
    out = _run("--base-url", demo_server["url"], "--site", "SE-KAT-ROS",
               "--analyte", "benzoylecgonine", "--from", "2025-03-03", "--to", "2025-03-30")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Catchments:") and "SE-KAT-ROS" in lines[0]
    assert "SE-KAT-PS1" not in lines[0]  # 3 500 people: never shown to the public
    assert "load_mg_per_day_per_1000 [mg/day/1000 inhabitants]" in lines[1]
    assert "weekly" in lines[1]
    # whole ISO weeks, each labelled by its Monday
    dates = [line.split()[0] for line in lines[2:]]
    assert dates and all(d >= "2025-03-03" and d <= "2025-03-30" for d in dates)


def test_client_with_a_key_gets_daily_values_and_errors_are_readable(demo_server):
    out = _run("--base-url", demo_server["url"], "--api-key", demo_server["analyst_key"],
               "--from", "2025-03-03", "--to", "2025-03-09")
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()[2:]) == 7  # one line per day
    bad = _run("--base-url", demo_server["url"], "--analyte", "no-such-drug")
    assert bad.returncode == 1 and "error" in bad.stderr
