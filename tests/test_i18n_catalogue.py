"""The dashboard's message catalogue (dashboards/i18n.py) is complete: every key the code asks
for has a Swedish (and an English) entry, also the keys built at run time from the core's lists
(event kinds, alert kinds, roles, measures, upload issue codes ...), and both languages have the
same keys and the same ``{placeholders}``.

The keys used in code are found by reading the source (every ``t(...)`` call in dashboards/*.py
and in the Jinja2 templates of dashboards/templates/):
a literal key must be in the catalogue; a key built from a pattern (``f"event_{kind}"``) must
belong to a family listed in :data:`FAMILIES`, whose members come from the core, so a new
event kind without a Swedish label fails here instead of showing ``event_new_kind`` on a page.
"""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from dashboards import i18n

DASHBOARDS = Path(__file__).resolve().parents[1] / "dashboards"


def _pattern(node: ast.expr, top: bool = True) -> list[str]:
    """The key pattern(s) of a ``t()`` first argument: literal keys as they are, run-time parts
    as ``{}`` (``f"event_{k}"`` → ``event_{}``); a bare name as ``<name>``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value.replace("{", "{{").replace("}", "}}")]
    if isinstance(node, ast.JoinedStr):
        return ["".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [a + b for a in _pattern(node.left, False) for b in _pattern(node.right, False)]
    if isinstance(node, ast.IfExp):
        return _pattern(node.body, top) + _pattern(node.orelse, top)
    if isinstance(node, ast.Name) and top:
        return [f"<{node.id}>"]
    return ["{}"]


def _template_pattern(node, top: bool = True) -> list[str]:
    """:func:`_pattern` for a Jinja2 expression node (``"event_" ~ kind`` → ``event_{}``)."""
    from jinja2 import nodes

    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return [node.value.replace("{", "{{").replace("}", "}}")]
    if isinstance(node, nodes.Concat):
        out = [""]
        for part in node.nodes:
            out = [a + b for a in out for b in _template_pattern(part, False)]
        return out
    if isinstance(node, nodes.Add):
        return [a + b for a in _template_pattern(node.left, False) for b in _template_pattern(node.right, False)]
    if isinstance(node, nodes.CondExpr):
        return _template_pattern(node.expr1, top) + _template_pattern(node.expr2, top)
    if isinstance(node, nodes.Name) and top:
        return [f"<{node.name}>"]
    return ["{}"]


def keys_used_in_templates(folder: Path = DASHBOARDS / "templates") -> dict[str, set[str]]:
    """``pattern → {file:line, ...}`` for every ``t(key, ...)`` call in the Jinja2 templates."""
    from jinja2 import nodes

    from dashboards.templating import ENV

    found: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.html")):
        tree = ENV.parse(path.read_text(encoding="utf-8"))
        for node in tree.find_all(nodes.Call):
            if isinstance(node.node, nodes.Name) and node.node.name == "t" and node.args:
                for pat in _template_pattern(node.args[0]):
                    found.setdefault(pat, set()).add(f"templates/{path.name}:{node.lineno}")
    return found


def keys_used_in_code(folder: Path = DASHBOARDS) -> dict[str, set[str]]:
    """``pattern → {file:line, ...}`` for every ``t(key, ...)`` call under ``folder`` (Python
    files and the templates)."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "t"
                    and node.args):
                for pat in _pattern(node.args[0]):
                    found.setdefault(pat, set()).add(f"{path.name}:{node.lineno}")
    for pat, where in keys_used_in_templates(folder / "templates").items():
        found.setdefault(pat, set()).update(where)
    return found


def test_the_templates_calls_are_read():
    """The template reader finds literal keys and run-time families (``"event_" ~ kind``)."""
    from jinja2 import nodes

    from dashboards.templating import ENV

    tree = ENV.parse('{{ t("nav_trend", lang) }}{{ t("event_" ~ kind, lang) }}{{ t(key, lang) }}')
    pats = [p for call in tree.find_all(nodes.Call) for p in _template_pattern(call.args[0])]
    assert pats == ["nav_trend", "event_{}", "<key>"]
    used = keys_used_in_templates()
    assert "skip_link" in used and any(w.startswith("templates/base.html:") for w in used["skip_link"])


def _families() -> dict[str, tuple[str, ...]]:
    """Run-time key families and their members, taken from where each list is defined."""
    from dashboards.data import BAND_COLUMNS
    from dashboards.html import NAV
    from wastewater import access
    from wastewater.alerts import ALERT_KINDS
    from wastewater.ingest.validation import EVENT_KINDS
    from wastewater.smoothing import SMOOTHERS
    from wastewater.storage.tables import ALERT_STATUSES

    measures = tuple(i18n.MEASURES)
    return {
        "event_{}": tuple(EVENT_KINDS) + ("risk_weekend",),
        "alert_kind_{}": tuple(ALERT_KINDS),
        "alert_status_{}": tuple(ALERT_STATUSES),
        "alert_{}": ("acknowledge", "dismiss", "reopen"),
        "role_{}": tuple(access.ROLES),
        "unit_{}": measures,
        "measure_{}": measures,
        "short_{}": ("load_per_1000",),
        "smooth_{}": ("none", *SMOOTHERS),
        "operation_{}": ("before", "during", "after"),
        "severity_{}": ("error", "warning"),
        "col_{}": tuple(BAND_COLUMNS),
        "trace_band_{}": ("change", "level"),
        "trace_band_{}_day": ("change", "level"),
        "upload_kind_{}": ("results", "flows", "sites", "events"),
        "report_t{}": ("1", "2", "3"),
        "<label>": tuple(label for _key, label in NAV),
        "<group>": ("sweden", "national", "this_site"),
        "<sure>": ("riskweekend_sure", "riskweekend_unsure"),
        "<key>": ("weekday_legend_weekdays", "weekday_legend_weekend"),
    }


def missing_entries(strings: dict[str, dict[str, str]], lang: str) -> list[str]:
    """Keys the code needs that ``strings[lang]`` lacks (literal keys and every family member)."""
    families = _families()
    need: set[str] = set()
    for pat in keys_used_in_code():
        if pat in families:
            need |= {pat.replace("{}", member) for member in families[pat]} if "{}" in pat \
                else set(families[pat])
        else:
            need.add(pat.replace("{{", "{").replace("}}", "}"))
    return sorted(k for k in need if k not in strings[lang])


def test_every_pattern_in_code_is_a_known_family():
    unknown = {pat: where for pat, where in keys_used_in_code().items()
               if ("{}" in pat or pat.startswith("<")) and pat not in _families()}
    assert unknown == {}, f"register these run-time key patterns in FAMILIES: {unknown}"


def test_every_key_used_in_code_has_a_swedish_and_an_english_entry():
    assert missing_entries(i18n.STRINGS, "sv") == []
    assert missing_entries(i18n.STRINGS, "en") == []


def test_a_missing_swedish_entry_is_found():
    """The check itself: drop one literal key and one family member from the Swedish side."""
    broken = {"sv": dict(i18n.STRINGS["sv"]), "en": i18n.STRINGS["en"]}
    del broken["sv"]["upload_intro"], broken["sv"]["event_method_change"]
    assert missing_entries(broken, "sv") == ["event_method_change", "upload_intro"]
    assert missing_entries(broken, "en") == []


def test_both_languages_have_the_same_keys_and_placeholders():
    sv, en = i18n.STRINGS["sv"], i18n.STRINGS["en"]
    assert sorted(set(sv) ^ set(en)) == []

    def fields(text: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}

    differ = {k: (fields(sv[k]), fields(en[k])) for k in sv if fields(sv[k]) != fields(en[k])}
    assert differ == {}


def test_every_upload_issue_code_has_a_swedish_text():
    from wastewater.ingest.report import ISSUE_CODES

    assert sorted(set(ISSUE_CODES) ^ set(i18n.ISSUE_TEXT_SV)) == []


@pytest.mark.parametrize("issue, expected", [
    ({"line": 7, "column": "unit", "code": "unknown_unit", "message": "Line 7, column 'unit': x"},
     "Rad 7, kolumn 'unit': Enheten är inte en av de godkända enheterna."),
    ({"line": None, "column": None, "code": "empty_file", "message": "File: The file is empty."},
     "Filen: Filen är tom."),
    ({"line": 3, "column": "site", "code": "unknown_site", "message": "Line 3 ...",
      "message_sv": "Rad 3, kolumn 'site': platsen 'X' är okänd"},
     "Rad 3, kolumn 'site': platsen 'X' är okänd"),
])
def test_issue_messages_are_swedish_in_the_swedish_view(issue, expected):
    assert i18n.issue_message(issue, "sv") == expected
    assert i18n.issue_message(issue, "en") == issue["message"]


def test_swedish_entries_use_swedish_number_style():
    """Swedish text writes "95 %" with a space and no English connectives like " and " / " of "."""
    english = re.compile(r"\b(the|and|of|with|from|to|per day)\b")
    offenders = {k: v for k, v in i18n.STRINGS["sv"].items()
                 if english.search(re.sub(r"\([^)]*multi-city[^)]*\)|Wastewater analysis and drugs[^.]*", "", v))}
    assert offenders == {}
