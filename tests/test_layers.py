"""The layers point one way (docs/architecture.md, "Layers"), checked by import-linter.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``): the core ``wastewater``
imports neither ``api``, ``dashboards`` nor ``service``; ``api`` and ``dashboards`` never import
each other; and no installed package imports a test-only dependency (``httpx``, ``pytest`` ...),
so a production install without the test extra has every module it runs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_the_contracts_name_the_layers_of_the_issue():
    by_type = {(c["type"], tuple(c.get("source_modules", c.get("modules", [])))): c for c in _contracts()}
    core = by_type[("forbidden", ("wastewater",))]
    assert set(core["forbidden_modules"]) >= {"api", "dashboards"}
    assert set(by_type[("independence", ("api", "dashboards"))]["modules"]) == {"api", "dashboards"}
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    runtime = by_type[("forbidden", ("wastewater", "api", "dashboards", "service"))]
    assert {"httpx", "pytest", "hypothesis", "playwright"} <= set(runtime["forbidden_modules"])
    assert any(e.startswith("import-linter") for e in extras)


def test_lint_imports_keeps_every_contract():
    exe = Path(sys.executable).parent / "lint-imports"
    cmd = [str(exe)] if exe.exists() else [shutil.which("lint-imports") or "lint-imports"]
    out = subprocess.run([*cmd, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-6000:]
    n = len(_contracts())
    assert f"Contracts: {n} kept, 0 broken." in text, text[-3000:]
