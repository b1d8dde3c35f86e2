"""The ``wastewater`` command line, run through typer's CliRunner on a real SQLite file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from service.cli import app
from tests.servers import free_port
from wastewater.storage import repository as repo
from wastewater.storage import tables as t
from wastewater.storage.database import get_engine

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
runner = CliRunner()


@pytest.fixture
def cli_db(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("WASTEWATER_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")  # one table row per issue, no wrapping
    return url


def _invoke(*args: str):
    return runner.invoke(app, list(args))


def _counts(url: str) -> dict[str, int]:
    engine = get_engine(url)
    try:
        with engine.connect() as conn:
            return {tab.name: conn.execute(sa.select(sa.func.count()).select_from(tab)).scalar()
                    for tab in (t.uploads, t.sites, t.flows, t.results, t.events)}
    finally:
        engine.dispose()


def test_ingest_before_upgrade_says_how_to_fix(cli_db):
    res = _invoke("ingest", str(SAMPLES / "sites.csv"))
    assert res.exit_code == 3
    assert "wastewater db upgrade" in res.output


def test_upgrade_ingest_and_list(cli_db):
    res = _invoke("db", "upgrade")
    assert res.exit_code == 0, res.output
    from wastewater.storage.database import head_revision

    assert f"revision {head_revision()}" in res.output
    res = _invoke("ingest", "--uploader", "lab-a", str(SAMPLES / "sites.csv"),
                  str(SAMPLES / "flows.csv"))
    assert res.exit_code == 0, res.output
    # samples/sites.csv: 3 sites (two population years each); flows.csv: 1095 daily rows
    assert "sites.csv: stored as upload 1 (sites): 3 inserted" in res.output
    assert "flows.csv: stored as upload 2 (flows): 1095 inserted" in res.output
    assert _counts(cli_db) == {"uploads": 2, "sites": 3, "flows": 1095, "results": 0,
                               "events": 0}
    res = _invoke("uploads", "list")
    assert res.exit_code == 0
    assert "flows.csv" in res.output and "1095/1095" in res.output and "lab-a" in res.output
    # the same file again: duplicate, exit 0, nothing stored
    res = _invoke("ingest", str(SAMPLES / "flows.csv"))
    assert res.exit_code == 0
    assert "identical file already stored as upload 2" in res.output
    assert _counts(cli_db)["uploads"] == 2


def test_rejected_file_prints_report_and_exits_1(cli_db):
    assert _invoke("db", "upgrade").exit_code == 0
    assert _invoke("ingest", str(SAMPLES / "sites.csv")).exit_code == 0
    res = _invoke("ingest", str(SAMPLES / "bad_results.csv"))
    assert res.exit_code == 1
    assert "rejected, nothing stored" in res.output
    # line / column / code / message of the first problem of samples/bad_results.csv
    row = next(line for line in res.output.splitlines() if "kokainmetabolit" in line)
    assert "│    3 │ analyte" in row and "unknown_analyte" in row
    assert _counts(cli_db)["results"] == 0 and _counts(cli_db)["uploads"] == 1


def test_skip_stores_valid_rows_and_dry_run_stores_nothing(cli_db):
    assert _invoke("db", "upgrade").exit_code == 0
    assert _invoke("ingest", str(SAMPLES / "sites.csv")).exit_code == 0
    res = _invoke("ingest", "--dry-run", "--on-error", "skip", str(SAMPLES / "bad_results.csv"))
    assert res.exit_code == 0 and "dry run" in res.output
    assert _counts(cli_db)["results"] == 0
    res = _invoke("ingest", "--on-error", "skip", "--kind", "results",
                  str(SAMPLES / "bad_results.csv"))
    assert res.exit_code == 0, res.output
    assert "error(s) skipped" in res.output
    engine = get_engine(cli_db)
    try:
        upload = repo.get_upload(engine, 2)
        assert upload["content"] == (SAMPLES / "bad_results.csv").read_bytes()
        assert 0 < upload["rows_accepted"] < upload["rows_total"]
        stored = repo.load_results(engine, roles=None)
        assert len(stored) == upload["rows_accepted"]
    finally:
        engine.dispose()


def test_demo_loads_samples_once(cli_db, tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    for name in ("sites.csv", "flows.csv", "results.csv"):  # events.csv deliberately missing
        shutil.copy(SAMPLES / name, samples / name)
    res = _invoke("demo", "--no-serve", "--samples-dir", str(samples))
    assert res.exit_code == 0, res.output
    assert "events.csv not found; skipped" in res.output
    assert "http://127.0.0.1:8000/dashboard" in res.output
    first = _counts(cli_db)
    assert first["uploads"] == 3 and first["events"] == 0 and first["results"] > 0
    res = _invoke("demo", "--no-serve", "--port", "8123", "--samples-dir", str(samples))
    assert res.exit_code == 0
    assert res.output.count("identical file already stored") == 3
    assert "http://127.0.0.1:8123/dashboard" in res.output
    assert _counts(cli_db) == first


@pytest.mark.parametrize("command", [[], ["ingest"], ["db", "upgrade"], ["uploads", "list"],
                                     ["serve"], ["demo"]])
def test_help(command):
    res = runner.invoke(app, [*command, "--help"])
    assert res.exit_code == 0
    assert "Usage" in res.output


@pytest.mark.slow
def test_serve_answers_health(cli_db, tmp_path):
    """`wastewater serve` starts uvicorn with service.app:create_app on the given port."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    assert _invoke("db", "upgrade").exit_code == 0
    port = free_port()
    exe = Path(sys.executable).parent / "wastewater"
    proc = subprocess.Popen([str(exe), "--database-url", cli_db, "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline, body = time.monotonic() + 60, None
        while time.monotonic() < deadline and proc.poll() is None and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health",
                                            timeout=2) as resp:
                    body = json.loads(resp.read())
            except OSError:
                time.sleep(0.3)
        assert body is not None, proc.stdout.read().decode() if proc.poll() is not None else ""
        assert resp.status == 200
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)  # the server started above
            proc.wait(20)
    log = proc.stdout.read().decode()
    assert f"Uvicorn running on http://127.0.0.1:{port}" in log
    # graceful stop; recent uvicorn re-raises the signal after shutting down
    assert "Application shutdown complete" in log, log
    assert proc.returncode in (0, -signal.SIGTERM)


def test_db_rebuild_series_restores_a_damaged_store(cli_db):
    import sqlalchemy as sa

    from wastewater.storage.database import get_engine
    from wastewater.storage.series import read_store

    assert _invoke("db", "upgrade").exit_code == 0
    assert _invoke("ingest", *(str(SAMPLES / n) for n in ("sites.csv", "flows.csv",
                                                          "results.csv"))).exit_code == 0
    engine = get_engine(cli_db)
    before = read_store(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM series_blocks WHERE site = 'SE-KAT-ROS'"))
    engine.dispose()
    res = _invoke("db", "rebuild-series")
    assert res.exit_code == 0, res.output
    assert f"{len(before)} rows" in res.output
    engine = get_engine(cli_db)
    assert read_store(engine).equals(before)
    engine.dispose()


def test_analyse_operations_writes_the_table_with_q_values(cli_db, tmp_path):
    assert _invoke("demo", "--no-serve", "--samples-dir", str(SAMPLES)).exit_code == 0
    out = tmp_path / "table.csv"
    res = _invoke("analyse", "operations", "--all", "-o", str(out))
    assert res.exit_code == 0, res.output
    import pandas as pd

    from wastewater.stats.effects import operation_effect
    from wastewater.timeseries import build_dataset, site_series

    table = pd.read_csv(out, keep_default_na=False, na_values=[""])
    ev2 = table[table.event_id == "EV-2025-02"]
    # the event names benzoylecgonine and cocaine: both measured analytes are tested once
    assert sorted(ev2.analyte) == ["benzoylecgonine", "cocaine"]
    engine = get_engine(cli_db)
    ds = build_dataset(repo.load_results(engine), repo.load_flows(engine),
                       repo.load_populations(engine))
    engine.dispose()
    s, c = site_series(ds, "SE-KAT-ROS", "benzoylecgonine")
    want = operation_effect(s, censored=c, event_start="2025-03-10", event_end="2025-03-21")
    row = ev2[ev2.analyte == "benzoylecgonine"].iloc[0]
    assert row.relative_change_after == pytest.approx(want.relative_change_after, abs=1e-6)
    assert row.p_value_after == pytest.approx(want.p_value_after, abs=1e-6)
    assert row.q_value >= row.p_value_after
    assert _invoke("analyse", "operations").exit_code == 2  # neither --all nor a filter


def test_analyse_operations_puts_a_level_shift_at_a_method_column_change(cli_db, tmp_path):
    """The batch finds marked method changes where the API does: a change of the results'
    ``method`` column (×2 step on 2025-03-01, no event) gets a level shift, so the table equals
    operation_effect with the readers' changes, and says the change's day."""
    import numpy as np
    import pandas as pd

    from wastewater.access import Principal
    from wastewater.readers import method_changes
    from wastewater.stats.effects import operation_effect
    from wastewater.storage.service import ingest_bytes
    from wastewater.timeseries import build_dataset, site_series

    engine = get_engine(cli_db)
    assert _invoke("db", "upgrade").exit_code == 0
    ingest_bytes(engine, b"site,name,municipality,population,population_year\nSE-M,M-verket,Mstad,30000,2025\n",
                 filename="s.csv", uploader="t")
    rng = np.random.default_rng(4)
    days = pd.date_range("2024-09-01", "2025-06-30")
    value = 400 * np.exp(rng.normal(0, 0.15, len(days))) * np.where(days >= "2025-03-01", 2.0, 1.0)
    method = np.where(days >= "2025-03-01", "LC-MS/MS B", "LC-MS/MS A")
    rows = "".join(f"M{d:%Y%m%d},SE-M,{d:%Y-%m-%d},benzoylecgonine,{v:.1f},ng/L,10,{m},20000\n"
                   for d, v, m in zip(days, value, method, strict=True))
    results = b"sample_id,site,sample_date,analyte,value,unit,loq,method,flow_m3_per_day\n" + rows.encode()
    assert ingest_bytes(engine, results, filename="r.csv", uploader="t").stored
    events = (b"event_id,kind,start,end,sites,substances,description\n"
              b"EV-M,operation,2025-03-10,2025-03-16,SE-M,cocaine,insats\n")
    assert ingest_bytes(engine, events, filename="e.csv", uploader="t").stored
    out = tmp_path / "table.csv"
    res = _invoke("analyse", "operations", "--all", "-o", str(out))
    assert res.exit_code == 0, res.output
    row = pd.read_csv(out, keep_default_na=False, na_values=[""]).iloc[0]
    marked = method_changes(engine, Principal(name="t", role="admin"), site="SE-M", analytes=["benzoylecgonine"])
    assert marked == {"benzoylecgonine": [pd.Timestamp("2025-03-01")]}
    assert row.method_changes == "2025-03-01"
    ds = build_dataset(repo.load_results(engine), repo.load_flows(engine), repo.load_populations(engine))
    engine.dispose()
    s, c = site_series(ds, "SE-M", "benzoylecgonine")
    want = operation_effect(s, censored=c, event_start="2025-03-10", event_end="2025-03-16",
                            method_changes=marked["benzoylecgonine"])
    assert row.relative_change_after == pytest.approx(want.relative_change_after, abs=1e-6)
    assert row.p_value_after == pytest.approx(want.p_value_after, abs=1e-6)
    assert abs(row.relative_change_after) < 0.2  # the ×2 step is not counted as an effect
