"""Lint and type checks run with the suite (``make test`` and CI), so main stays clean.

ruff uses the rule set in ``pyproject.toml`` (``[tool.ruff.lint]``); mypy is strict on the core
``wastewater/`` and normal on ``api/`` and ``dashboards/`` (``[tool.mypy]``), with its cache in
``.mypy_cache`` so a re-run checks only what changed.
"""

from __future__ import annotations

import re
import subprocess
import sys
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
# Type errors that predate the checker are listed in tests/mypy_baseline.txt (one line per error,
# "path: message  [code]", no line numbers, so edits elsewhere in a file do not disturb it). The
# test fails on any error that is not in the baseline, so new code is typed (strictly in the core);
# fixing an old error and deleting its baseline line is always welcome. Regenerate after fixing:
#     .venv/bin/python tests/test_lint_types.py --update-baseline

BASELINE = ROOT / "tests" / "mypy_baseline.txt"


def _mypy_errors() -> Counter[str]:
    out = _run("mypy", "--no-error-summary", "--show-error-codes", "--no-pretty")
    assert out.returncode in (0, 1), out.stdout[-4000:] + out.stderr[-4000:]
    found: Counter[str] = Counter()
    for line in out.stdout.splitlines():
        m = re.match(r"^(?P<path>[^:]+):\d+(?::\d+)?: error: (?P<msg>.*)$", line)
        if m:
            found[f"{m['path']}: {m['msg'].strip()}"] += 1
    return found


def _baseline() -> Counter[str]:
    if not BASELINE.exists():
        return Counter()
    lines = [x for x in BASELINE.read_text("utf-8").splitlines() if x and not x.startswith("#")]
    return Counter(lines)


def test_mypy_finds_no_new_errors():
    current, baseline = _mypy_errors(), _baseline()
    new = current - baseline
    assert not new, ("mypy errors not in tests/mypy_baseline.txt (annotate the new code; the core "
                     "wastewater/ is checked strictly):\n" + "\n".join(sorted(new.elements())))


if __name__ == "__main__" and "--update-baseline" in sys.argv:
    errors = _mypy_errors()
    BASELINE.write_text(
        "# mypy errors that predate the type checker (tests/test_lint_types.py); delete lines as they are fixed\n"
        + "".join(f"{e}\n" for e in sorted(errors.elements())), "utf-8")
    print(f"{sum(errors.values())} errors written to {BASELINE.relative_to(ROOT)}")
