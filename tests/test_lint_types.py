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
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)


def test_ruff_check_passes():
    out = _run("ruff", "check", "--no-cache", ".")
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]


# -- mypy ----------------------------------------------------------------------------------------
#
# The core has no known type errors. api/ and dashboards/ still have the ones listed in
# tests/mypy_baseline.txt (one line per error, "path: message  [code]", no line numbers); a new
# error there fails the suite, and fixing one means deleting its line.

BASELINE = ROOT / "tests" / "mypy_baseline.txt"


def _mypy_errors() -> list[str]:
    out = _run("mypy", "--no-error-summary", "--show-error-codes", "--no-pretty")
    assert out.returncode in (0, 1), out.stdout[-4000:] + out.stderr[-4000:]
    found = []
    for line in out.stdout.splitlines():
        m = re.match(r"^(?P<path>[^:]+):\d+(?::\d+)?: error: (?P<msg>.*)$", line)
        if m:
            found.append(f"{m['path']}: {m['msg'].strip()}")
    return found


def _baseline() -> Counter[str]:
    if not BASELINE.exists():
        return Counter()
    lines = [x for x in BASELINE.read_text("utf-8").splitlines() if x and not x.startswith("#")]
    return Counter(lines)


def test_mypy_finds_no_errors_in_the_core_and_no_new_ones_elsewhere():
    errors = _mypy_errors()
    core = [e for e in errors if e.startswith("wastewater/")]
    assert not core, "mypy errors in the core (checked strictly):\n" + "\n".join(core)
    new = Counter(e for e in errors if not e.startswith("wastewater/")) - _baseline()
    assert not new, ("mypy errors in api/ or dashboards/ not in tests/mypy_baseline.txt:\n"
                     + "\n".join(sorted(new.elements())))


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
