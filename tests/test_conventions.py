"""Conventions the code checks itself: one JSON encoder, no functions looked up by name, no
user-facing sentences in the statistics code.

(Lint, types, doctests and the documentation examples have their own test modules.)
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("wastewater", "api", "dashboards")
ENCODER = ROOT / "wastewater" / "jsonsafe.py"


def _modules():
    for top in PACKAGES:
        for p in sorted((ROOT / top).rglob("*.py")):
            yield p, ast.parse(p.read_text("utf-8"), filename=str(p))


def test_one_json_encoder():
    """JSON cleaning (NaN → null, numpy → Python, timestamps → ISO) lives in wastewater.jsonsafe."""
    pattern = re.compile(r"json_?(able|safe|value|clean)|sanitis|saniti[sz]e", re.IGNORECASE)
    others = [f"{p.relative_to(ROOT)}:{node.lineno} {node.name}"
              for p, tree in _modules() if p != ENCODER
              for node in ast.walk(tree)
              if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and pattern.search(node.name)]
    assert not others, f"JSON sanitisers outside wastewater/jsonsafe.py: {others}"


def test_no_function_looked_up_by_name():
    """No ``importlib.import_module`` / ``__import__`` / ``getattr(module, name)`` dispatch in the
    service code: a renamed function must fail at import time, not as an error at request time."""
    hits = []
    for p, tree in _modules():
        modules = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = (f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else "")
            if name in {"import_module", "__import__"}:
                hits.append(f"{p.relative_to(ROOT)}:{node.lineno} {name}")
            elif (name == "getattr" and node.args and isinstance(node.args[0], ast.Name)
                  and node.args[0].id in modules):
                hits.append(f"{p.relative_to(ROOT)}:{node.lineno} getattr({node.args[0].id}, …)")
    assert not hits, f"functions looked up by name: {hits}"


def test_analysis_registry_holds_the_library_functions():
    from api.routers.analyses import ANALYSES
    from wastewater import analysis, stats

    assert ANALYSES["operation_effect"] is stats.operation_effect
    assert ANALYSES["trend"] is analysis.trend            # the service's default test: trend_gls
    assert ANALYSES["trend_mann_kendall"] is stats.trend_test
    assert ANALYSES["riskweekend_model"] is analysis.risk_weekend_models
    assert all(callable(f) for f in ANALYSES.values())


def test_no_user_facing_sentences_in_the_statistics():
    """Swedish/English sentences live in wastewater.wording (and dashboards.i18n), not in stats/."""
    hits = []
    for p in sorted((ROOT / "wastewater" / "stats").rglob("*.py")):
        tree = ast.parse(p.read_text("utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
                      and n.body and isinstance(n.body[0], ast.Expr)
                      and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                    and re.search(r"[åäöÅÄÖ]", node.value)):
                hits.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.value[:40]!r}")
    assert not hits, f"Swedish text in the statistics code (move it to wastewater/wording.py): {hits}"
