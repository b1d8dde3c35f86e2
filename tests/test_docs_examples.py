"""The examples in README.md and docs/ still run (datasette-style documentation tests).

- Every ``wastewater …`` command line written in the docs names a real command, and every
  ``--option`` on it is one that command's ``--help`` lists.
- The README's command-line session runs, in order, against a temporary SQLite database on the
  files in ``samples/`` (placeholders such as ``NAME`` or ``FILE.zip`` filled in, optional
  ``[…]`` parts left out); each command exits 0.
- The Python snippets of docs/interop.md run against the vendored EUDA release and a database
  loaded with the samples, and the values they quote in comments are the values they compute.

Docker and curl examples need a Docker engine or a running server; they are not run here
(the compose file is checked by tests/test_compose.py, the HTTP API by tests/api/).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "api" / "README.md",
        ROOT / "samples" / "README.md"]
#: not run in the session: long-running servers, the id-dependent revoke, and the tertial report
#: (about 45 s here; tests/test_report.py runs the same code)
SKIP_RUN = ("wastewater serve", "wastewater demo", "wastewater --help", "wastewater keys revoke",
            "wastewater worker",
            "wastewater report")


def _blocks(path: Path, lang: str) -> list[str]:
    text = path.read_text("utf-8")
    return re.findall(rf"^[ \t]*```{lang}\n(.*?)^[ \t]*```", text, re.MULTILINE | re.DOTALL)


def _command_lines(path: Path) -> list[str]:
    lines = []
    for block in _blocks(path, "sh"):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("wastewater"):
                lines.append(line)
    return lines


def _command_path(tokens: list[str]) -> list[str]:
    """``wastewater keys create NAME --role …`` → ``["keys", "create"]`` (the sub-commands)."""
    import typer.main

    group = typer.main.get_command(app)
    path: list[str] = []
    for tok in tokens[1:]:
        sub = getattr(group, "commands", {}).get(tok)
        if sub is None:
            break
        path.append(tok)
        group = sub
    return path


ALL_LINES = [(p.relative_to(ROOT).as_posix(), line) for p in DOCS for line in _command_lines(p)]


def test_docs_show_the_cli():
    readme = [line for where, line in ALL_LINES if where == "README.md"]
    assert "wastewater db upgrade" in readme and len(readme) >= 15


@pytest.mark.parametrize(("where", "line"), ALL_LINES, ids=[f"{w}:{line[:50]}" for w, line in ALL_LINES])
def test_documented_command_and_options_exist(where, line):
    tokens = shlex.split(line.replace("[", " ").replace("]", " ").replace("|", " "))
    path = _command_path(tokens)
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, f"{where}: `wastewater {' '.join(path)} --help` failed: {result.output}"
    help_text = result.output
    for opt in (t for t in tokens if t.startswith("--") and len(t) > 2):
        opt = opt.split("=", 1)[0]
        assert re.search(rf"{re.escape(opt)}\b", help_text), (
            f"{where}: `{line}` uses {opt}, which `wastewater {' '.join(path)} --help` does not list")


def _concrete(line: str, tmp: Path) -> list[str] | None:
    """The README line as arguments, placeholders filled, optional parts dropped (None: skip)."""
    if line.startswith(SKIP_RUN):
        return None
    line = re.sub(r"\[[^\]]*\]", " ", line)           # optional parts
    subst = {
        "viewer|lab|analyst|admin": "viewer", "NAME": "docs-example", "KEY_ID": "",
        "t2.html": str(tmp / "t2.html"), "FILE.zip": str(tmp / "backup.zip"),
        "OUTDIR": str(tmp / "odm"), "DIR": str(tmp / "odm"),
    }
    args = []
    for tok in shlex.split(line)[1:]:
        tok = subst.get(tok, tok)
        if tok.endswith(".csv") and "/" not in tok:
            tok = f"samples/{tok}"
        args.append(tok)
    return args


def test_readme_command_line_session_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    url = f"sqlite:///{tmp_path / 'docs.db'}"
    runner = CliRunner()
    ran = []
    lines = _command_lines(ROOT / "README.md")
    # a dry run of results before their sites exist lists thousands of errors; run it after
    # the real ingest instead, where it must find none
    lines = [x for x in lines if "--dry-run" not in x] + [x for x in lines if "--dry-run" in x]
    for line in lines:
        args = _concrete(line, tmp_path)
        if args is None:
            continue
        if args[:2] == ["backup", "import"]:          # restores only into an empty database
            db = f"sqlite:///{tmp_path / 'restored.db'}"
            assert runner.invoke(app, ["--database-url", db, "db", "upgrade"]).exit_code == 0
        else:
            db = url
        result = runner.invoke(app, ["--database-url", db, *args], terminal_width=200)
        assert result.exit_code == 0, f"`{line}` exited {result.exit_code}:\n{result.output[-3000:]}"
        ran.append(args[0])
    assert {"db", "ingest", "uploads", "keys", "euda", "odm", "backup"} <= set(ran)
    assert (tmp_path / "odm" / "measures.csv").exists()


def test_interop_python_snippets_run(tmp_path, monkeypatch):
    """docs/interop.md, top to bottom, in one namespace (as a reader would paste them)."""
    from wastewater.storage.database import get_engine, upgrade
    from wastewater.storage.repository import load_flows, load_results
    from wastewater.storage.service import ingest_bytes
    from wastewater.timeseries import build_dataset

    url = f"sqlite:///{tmp_path / 'interop.db'}"
    monkeypatch.setenv("WASTEWATER_DATABASE_URL", url)
    engine = get_engine(url)
    upgrade(engine)
    for name in ("sites.csv", "flows.csv", "results.csv", "events.csv"):
        ingest_bytes(engine, (ROOT / "samples" / name).read_bytes(), filename=name, uploader="docs")
    from wastewater.ingest import parse_upload

    results, flows = load_results(engine), load_flows(engine)
    # the sites frame of docs/architecture.md: one row per site and population year
    sites = parse_upload((ROOT / "samples" / "sites.csv").read_bytes(), "sites").frame
    from wastewater.storage.repository import load_populations, load_sites

    ds = build_dataset(results, flows, load_populations(engine))
    series = ds["load_mg_per_day_per_1000"].sel(site="SE-KAT-ROS")
    daily = series.sel(analyte="benzoylecgonine").to_series()
    ns = {
        "results": results, "sites": sites, "flows": flows, "sites_frame": load_sites(engine),
        "daily": daily,
        "censored": ds["censored"].sel(site="SE-KAT-ROS", analyte="benzoylecgonine").to_series(),
        "be": daily, "mdma": series.sel(analyte="mdma").to_series(),
    }
    monkeypatch.chdir(tmp_path)
    for name in ("ww2025-all-data.csv", "ww2025-site-info-table.csv"):
        (tmp_path / name).write_bytes((ROOT / "samples" / "euda" / name).read_bytes())
    blocks = _blocks(ROOT / "docs" / "interop.md", "python")
    assert len(blocks) >= 4
    for block in blocks:
        exec(compile(block, "docs/interop.md", "exec"), ns)  # noqa: S102 - the point of the test
    assert round(float(ns["check"]["match"].mean()), 2) == 0.96          # "# 0.96" in the doc
    assert ns["counts"] == {"sites": 217, "values": 30632, "means": 4376, "censored": 2393,
                            "missing": 349}
    assert set(ns["back"]) >= {"results", "sites", "flows"}
