"""Lint and type checks run with the suite (``make test`` and CI), so main stays clean.

ruff uses the rule set in ``pyproject.toml`` (``[tool.ruff.lint]``); mypy is strict on the core
``wastewater/`` and normal on ``api/`` and ``dashboards/`` (``[tool.mypy]``), with its cache in
``.mypy_cache`` so a re-run checks only what changed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)


def test_ruff_check_passes():
    out = _run("ruff", "check", "--no-cache", ".")
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
