"""Lint and type checks run with the suite (``make test`` and CI), so main stays clean.

ruff uses the rule set in ``pyproject.toml`` (``[tool.ruff.lint]``); mypy is strict on the core
``wastewater/`` and normal on ``api/`` and ``dashboards/`` (``[tool.mypy]``), with its cache in
``.mypy_cache`` so a re-run checks only what changed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)


def test_ruff_check_passes():
    out = _run("ruff", "check", "--no-cache", ".")
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]


# -- mypy ----------------------------------------------------------------------------------------


def test_mypy_finds_no_errors():
    """No known errors are kept anywhere: the core strictly, api/ and dashboards/ normally."""
    out = _run("mypy", "--show-error-codes", "--no-pretty")
    errors = [line for line in out.stdout.splitlines() if ": error: " in line]
    assert out.returncode == 0 and not errors, out.stdout[-8000:] + out.stderr[-4000:]


def _strict_flags() -> list[str]:
    """The flags ``mypy --strict`` enables, as the installed mypy lists them in its help."""
    out = _run("mypy", "--help")
    text = re.search(r"--strict\s+Strict mode; enables the following flags:(.*?)\n  -", out.stdout, re.DOTALL)
    assert text, out.stdout[:2000]
    flags = re.sub(r"\s+", "", text[1]).split(",")
    assert len(flags) >= 10 and all(f.startswith("--") for f in flags), flags
    return [f.removeprefix("--").replace("-", "_") for f in flags]


def test_the_core_is_checked_with_every_strict_flag():
    """``[tool.mypy]`` plus the ``wastewater.*`` override switch on everything ``--strict`` does
    (spelled out: a per-module ``strict = true`` is not honoured)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["mypy"]
    core = [o for o in config.get("overrides", []) if "wastewater.*" in o["module"]]
    assert len(core) == 1
    settings = {**config, **core[0]}
    missing = [flag for flag in _strict_flags() if settings.get(flag) is not True]
    assert not missing, f"strict flags not set for wastewater/ in pyproject.toml: {missing}"
    assert not settings.get("ignore_errors") and "disable_error_code" not in settings
