"""One bibliography: every citation in the code resolves, every entry is cited, no outside notes.

The bibliography is ``wastewater/data/references.md`` (entries ``- **Key**: ...``). A docstring
cites an entry as ``[Key]_``; the CSV catalogues name the key in their ``source`` column. The
team's research notes live outside the repository, so nothing in it may point to them: a reader
of the code must be able to follow every citation to a primary source listed in the bibliography.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from wastewater import parameters

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "wastewater" / "data" / "references.md"
CODE_DIRS = ("wastewater", "api", "dashboards", "samples", "benchmarks")
TEXT_SUFFIXES = {".py", ".md", ".csv", ".toml", ".html", ".js", ".json", ".txt", ".yml", ".yaml",
                 ".ini", ".cfg", ".sh", ""}
SKIP_DIRS = {".venv", ".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
             "node_modules", "test-artifacts", "build", "dist"}
#: names of the team's notes outside the repository (spelled in pieces so this file passes too)
OUTSIDE_NOTES = ("wbe" + "-domain", "sweden" + "-context", "WBE" + "Domain", "domain" + ".md")
CITATION = re.compile(r"\[([A-Za-z][A-Za-z0-9]*)\]_")
#: placeholders used when a docstring explains the convention itself
PLACEHOLDERS = {"Key", "key", "AuthorYear"}
LOCAL_TARGET = re.compile(r"^\s*\.\. \[([A-Za-z][A-Za-z0-9]*)\]", re.MULTILINE)


def bibliography() -> dict[str, str]:
    text = REFERENCES.read_text("utf-8")
    return dict(re.findall(r"^- \*\*([A-Za-z][A-Za-z0-9]*)\*\*: (.+)$", text, re.MULTILINE))


def _files(*tops: str, suffixes: set[str] | None = None) -> list[Path]:
    out: list[Path] = []
    for top in tops:
        base = ROOT / top
        paths = [base] if base.is_file() else sorted(base.rglob("*"))
        for p in paths:
            if not p.is_file() or SKIP_DIRS & set(p.relative_to(ROOT).parts):
                continue
            if suffixes is None or p.suffix in suffixes:
                out.append(p)
    return out


def _repo_text_files() -> list[Path]:
    tops = [p.name for p in ROOT.iterdir() if p.name not in SKIP_DIRS]
    return [p for p in _files(*tops, suffixes=TEXT_SUFFIXES)
            if p.suffix != "" or p.name in {"Makefile", "Dockerfile", "run", "ensure-services"}]


def _python_citations() -> dict[str, set[str]]:
    """key → files citing it as ``[key]_``."""
    found: dict[str, set[str]] = {}
    for p in _files(*CODE_DIRS, "tests", suffixes={".py"}):
        for key in set(CITATION.findall(p.read_text("utf-8"))) - PLACEHOLDERS:
            found.setdefault(key, set()).add(str(p.relative_to(ROOT)))
    return found


def _csv_source_keys() -> dict[str, set[str]]:
    """key → catalogue files naming it in a ``source`` column (evidence tags like ``[C]`` dropped)."""
    found: dict[str, set[str]] = {}
    for p in _files("wastewater", suffixes={".csv"}):
        with p.open(encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if "source" not in (reader.fieldnames or []):
                continue
            for row in reader:
                cell = re.sub(r"\[[^\]]*\]", " ", row["source"] or "")
                for key in re.split(r"[\s;|,]+", cell):
                    if key:
                        found.setdefault(key, set()).add(str(p.relative_to(ROOT)))
    return found


def test_bibliography_is_parsed():
    bib = bibliography()
    assert {"Zuccato2008", "Castiglioni2013", "YueWang2004", "PraisWinsten1954",
            "KackarHarville1984", "HartungKnapp2001", "EUDA2025"} <= set(bib)
    assert all(len(v) > 20 for v in bib.values())


def test_every_citation_in_code_resolves():
    bib = set(bibliography())
    cited = _python_citations()
    unresolved = {k: sorted(v) for k, v in cited.items() if k not in bib}
    assert not unresolved, f"[Key]_ citations without an entry in references.md: {unresolved}"
    sources = _csv_source_keys()
    unresolved = {k: sorted(v) for k, v in sources.items() if k not in bib}
    assert not unresolved, f"CSV source keys without an entry in references.md: {unresolved}"
    missing = parameters.cited_sources() - bib
    assert not missing, f"wastewater.parameters sources without an entry: {missing}"


def _named_in_code(keys: set[str]) -> set[str]:
    """Keys named as a whole word in code or data files (comments, CSV notes, CitedValue sources)."""
    named: set[str] = set()
    for p in _files(*CODE_DIRS, suffixes={".py", ".csv", ".json"}):
        text = p.read_text("utf-8")
        named |= {k for k in keys - named if re.search(rf"\b{k}\b", text)}
    return named


def test_every_entry_is_cited():
    bib = set(bibliography())
    cited = set(_python_citations()) | set(_csv_source_keys()) | parameters.cited_sources()
    uncited = sorted(bib - cited - _named_in_code(bib - cited))
    assert not uncited, (f"bibliography entries nobody cites (cite them as [Key]_ where the code "
                         f"relies on them, or remove them): {uncited}")


def test_one_citation_system():
    """No module-local ``.. [X]`` reference lists: a docstring cites the bibliography only."""
    local = {}
    for p in _files(*CODE_DIRS, suffixes={".py"}):
        keys = LOCAL_TARGET.findall(p.read_text("utf-8"))
        if keys:
            local[str(p.relative_to(ROOT))] = keys
    assert not local, f"module-local citation targets (move them to references.md): {local}"


def test_no_references_to_notes_outside_the_repository():
    hits = []
    for p in _repo_text_files():
        if p == Path(__file__).resolve():
            continue
        try:
            text = p.read_text("utf-8")
        except UnicodeDecodeError:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if any(name in line for name in OUTSIDE_NOTES):
                hits.append(f"{p.relative_to(ROOT)}:{n}")
    assert not hits, f"{len(hits)} references to notes outside the repository: {hits[:30]}"
