"""CLI interop commands on real SQLite files: euda import/export, odm export/import, backup,
keys, report (typer's CliRunner, the demo database built once per module)."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from api.security import lookup_key
from service.cli import app
from wastewater.interop.euda import EUDA_DAY_COLUMNS
from wastewater.interop.odm import RESULT_COLUMNS, normalise_results
from wastewater.storage import repository as repo
from wastewater.storage import tables as t
from wastewater.storage.database import get_engine

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
EUDA = SAMPLES / "euda"
runner = CliRunner()


def _run(url: str, *args: str):
    return runner.invoke(app, ["--database-url", url, *args], env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    """``wastewater demo --no-serve``: samples/*.csv plus the vendored EUDA release."""
    path = tmp_path_factory.mktemp("cli_interop") / "demo.db"
    res = _run(f"sqlite:///{path}", "demo", "--no-serve", "--samples-dir", str(SAMPLES))
    assert res.exit_code == 0, res.output
    return path


@pytest.fixture
def demo_url(demo_file, tmp_path) -> str:
    """A private copy of the demo database for tests that write."""
    path = tmp_path / "demo.db"
    shutil.copyfile(demo_file, path)
    return f"sqlite:///{path}"


@pytest.fixture
def fresh_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert _run(url, "db", "upgrade").exit_code == 0
    return url


def _count(url: str, table: sa.Table, **where) -> int:
    engine = get_engine(url)
    try:
        q = sa.select(sa.func.count()).select_from(table)
        for col, value in where.items():
            q = q.where(table.c[col] == value)
        with engine.connect() as conn:
            return conn.execute(q).scalar_one()
    finally:
        engine.dispose()


def _results(url: str) -> pd.DataFrame:
    engine = get_engine(url)
    try:
        r = normalise_results(repo.load_results(engine, roles=None))
    finally:
        engine.dispose()
    return r.sort_values(["sample_id", "analyte", "replicate", "sample_role"]).reset_index(drop=True)


# --------------------------------------------------------------------------- euda
def test_euda_import_counts_match_the_files(fresh_url):
    with open(EUDA / "ww2025-all-data.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(EUDA / "ww2025-site-info-table.csv", encoding="utf-8", newline="") as fh:
        site_ids = {r["SiteID"] for r in csv.DictReader(fh)}
    n_values = 7 * len(rows)  # one stored value per EUDA day column (blank = NULL)
    n_missing = sum(r[d].strip() == "" for r in rows for d in EUDA_DAY_COLUMNS)
    n_zero = sum(r[d].strip() not in ("",) and float(r[d]) == 0 for r in rows for d in EUDA_DAY_COLUMNS)
    n_sites = len(site_ids | {r["Site ID"] for r in rows})
    res = _run(fresh_url, "euda", "import", str(EUDA / "ww2025-all-data.csv"),
               str(EUDA / "ww2025-site-info-table.csv"), "--source", "EUDA-TEST")
    assert res.exit_code == 0, res.output
    assert (f"EUDA-TEST: {n_sites} sites, {n_values} daily values ({n_zero} below LOQ, "
            f"{n_missing} missing days)") in res.output
    assert _count(fresh_url, t.reference_values, source="EUDA-TEST") == n_values
    assert _count(fresh_url, t.reference_sites, source="EUDA-TEST") == n_sites
    # a malformed file: refused, nothing stored (the earlier import stays)
    bad = Path(fresh_url.removeprefix("sqlite:///")).with_name("bad.csv")
    bad.write_text('"Year","Metabolite"\n2024,"cocaine"\n', encoding="utf-8")
    res = _run(fresh_url, "euda", "import", str(bad), str(EUDA / "ww2025-site-info-table.csv"),
               "--source", "EUDA-TEST")
    assert res.exit_code == 1 and "nothing stored" in res.output
    assert _count(fresh_url, t.reference_values, source="EUDA-TEST") == n_values


def test_demo_imports_euda_and_is_idempotent(demo_url):
    before = {tab.name: _count(demo_url, tab) for tab in (t.uploads, t.results, t.reference_values)}
    n_rows = len((EUDA / "ww2025-all-data.csv").read_text(encoding="utf-8").splitlines()) - 1
    assert before["reference_values"] == 7 * n_rows
    res = _run(demo_url, "demo", "--no-serve", "--samples-dir", str(SAMPLES))
    assert res.exit_code == 0, res.output
    assert "identical file already stored" in res.output and "EUDA reference data" in res.output
    assert {tab.name: _count(demo_url, tab) for tab in (t.uploads, t.results, t.reference_values)
            } == before


def test_euda_export_demo_week_by_hand(demo_file, tmp_path):
    """First campaign Wednesday of 2025 (5 March), Rosenholm: PNL recomputed from the sample
    CSVs with load/1000 = c · Q · 1e-3 / (P / 1000) [mg/day/1000] (Zuccato2008)."""
    out = tmp_path / "euda.csv"
    res = _run(f"sqlite:///{demo_file}", "euda", "export", "--site", "SE-KAT-ROS", "--year",
               "2025", "--analyte", "benzoylecgonine", "--analyte", "mdma", "-o", str(out))
    assert res.exit_code == 0, res.output
    got = {r["Metabolite"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert set(got) == {"cocaine", "MDMA"}

    days = pd.date_range("2025-03-05", periods=7, freq="D")
    results = pd.read_csv(SAMPLES / "results.csv", parse_dates=["sample_date"])
    flows = pd.read_csv(SAMPLES / "flows.csv", parse_dates=["date"])
    sites = pd.read_csv(SAMPLES / "sites.csv")
    pop = sites[(sites.site == "SE-KAT-ROS") & (sites.population_year == 2025)].population.item()
    q = flows[flows.site == "SE-KAT-ROS"].set_index("date")["flow_m3_per_day"]
    for analyte, label in (("benzoylecgonine", "cocaine"), ("mdma", "MDMA")):
        r = results[(results.site == "SE-KAT-ROS") & (results.analyte == analyte)
                    & (results.sample_role == "sample")].set_index("sample_date")
        expected = []
        for day in days:
            if r.loc[day, "qualifier"] == "<LOQ":
                expected.append(0.0)  # EUDA writes below-LOQ days as 0
            else:
                expected.append(round(float(r.loc[day, "value"]) * q[day] * 1e-3 / (pop / 1000), 2))
        row = got[label]
        assert [float(row[d]) for d in EUDA_DAY_COLUMNS] == pytest.approx(expected, abs=1e-9)
        wed, thu, fri, sat, sun, mon, tue = expected
        assert float(row["Weekday mean"]) == pytest.approx(round((tue + wed + thu) / 3, 2))
        assert float(row["Weekend mean"]) == pytest.approx(round((fri + sat + sun + mon) / 4, 2))
        assert float(row["Daily mean"]) == pytest.approx(round(sum(expected) / 7, 2))
    assert (row["Year"], row["Site ID"], row["Country"], row["City"]) == (
        "2025", "SE-KAT-ROS", "SE", "Katrineholm")


def test_euda_export_usage_errors(demo_file):
    url = f"sqlite:///{demo_file}"
    res = _run(url, "euda", "export", "--site", "SE-KAT-ROS", "--year", "2025",
               "--week-start", "2025-03-06")
    assert res.exit_code == 2 and "Wednesday" in res.output
    res = _run(url, "euda", "export", "--site", "SE-KAT-ROS", "--year", "2025", "--analyte",
               "not-a-drug")
    assert res.exit_code == 2
    res = _run(url, "euda", "export", "--site", "SE-KAT-ROS", "--year", "2024")
    assert res.exit_code == 1 and "nothing written" in res.output


# --------------------------------------------------------------------------- odm
def test_odm_export_import_round_trip(demo_file, fresh_url, tmp_path):
    src = f"sqlite:///{demo_file}"
    outdir = tmp_path / "odm-2025"
    res = _run(src, "odm", "export", str(outdir))
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in outdir.iterdir()) == [
        "extPopulations.csv", "measures.csv", "qualityReports.csv", "samples.csv",
        "sites.csv"]
    res = _run(fresh_url, "odm", "import", str(outdir))
    assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(_results(fresh_url)[RESULT_COLUMNS], _results(src)[RESULT_COLUMNS])
    engine_a, engine_b = get_engine(src), get_engine(fresh_url)
    try:
        for load in (repo.load_sites, repo.load_populations, repo.load_flows):
            pd.testing.assert_frame_equal(load(engine_b), load(engine_a))
        ups = repo.list_uploads(engine_b)
    finally:
        engine_a.dispose()
        engine_b.dispose()
    assert sorted(ups["filename"]) == ["odm_odm-2025_flows.csv", "odm_odm-2025_results.csv",
                                       "odm_odm-2025_sites.csv"]
    assert set(ups["uploader"]) == {"odm-import:odm-2025"}
    # re-import: identical converted files are duplicates, nothing new stored
    res = _run(fresh_url, "odm", "import", str(outdir))
    assert res.exit_code == 0 and res.output.count("identical file already stored") == 3
    assert _count(fresh_url, t.uploads) == 3


def test_odm_export_filters_and_rejected_import(demo_file, fresh_url, tmp_path):
    src = f"sqlite:///{demo_file}"
    out = tmp_path / "odm"
    res = _run(src, "odm", "export", str(out), "--site", "SE-FLN-ARV", "--analyte", "MDMA",
               "--from", "2025-06-01", "--to", "2025-06-07")
    assert res.exit_code == 0, res.output
    m = pd.read_csv(out / "measures.csv", dtype=str, keep_default_na=False)
    results = pd.read_csv(SAMPLES / "results.csv", dtype=str, keep_default_na=False)
    want = results[(results.site == "SE-FLN-ARV") & (results.analyte == "mdma")
                   & results.sample_date.between("2025-06-01", "2025-06-07")]
    assert (m["measure"] == "mdma").sum() == len(want) == 7
    assert set(m["siteID"]) == {"SE-FLN-ARV"}
    # the fresh database has no sites and the export holds SE-FLN-ARV only: fine; break a value
    m.loc[m["measure"] == "mdma", "value"] = "abc"
    m.to_csv(out / "measures.csv", index=False)
    res = _run(fresh_url, "odm", "import", str(out))
    assert res.exit_code == 1 and "nothing stored" in res.output
    assert _count(fresh_url, t.uploads) == 0 and _count(fresh_url, t.sites) == 0


# --------------------------------------------------------------------------- backup
def test_backup_round_trip(demo_file, fresh_url, tmp_path):
    src = f"sqlite:///{demo_file}"
    archive = tmp_path / "backup.zip"
    res = _run(src, "backup", "export", str(archive))
    assert res.exit_code == 0 and archive.is_file(), res.output
    target = f"sqlite:///{tmp_path / 'restored.db'}"  # not migrated: the import migrates it
    res = _run(target, "backup", "import", str(archive))
    assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(_results(target), _results(src))
    for tab in (t.uploads, t.sites, t.flows, t.events, t.reference_values, t.audit_log):
        assert _count(target, tab) == _count(src, tab), tab.name
    res = _run(target, "backup", "import", str(archive))  # not empty any more: refused
    assert res.exit_code == 1 and "empty" in res.output


# --------------------------------------------------------------------------- keys
def test_keys_create_list_revoke(fresh_url):
    res = _run(fresh_url, "keys", "create", "lab-ros", "--role", "lab", "--site", "SE-KAT-ROS")
    assert res.exit_code == 0, res.output
    token = re.search(r"^(ww_\S+)$", res.output, re.MULTILINE).group(1)
    key_id = re.search(r"Key (k_[0-9a-f]+)", res.output).group(1)
    engine = get_engine(fresh_url)
    try:
        p = lookup_key(engine, token)
        assert (p.name, p.role, p.sites, p.key_id) == ("lab-ros", "lab", frozenset({"SE-KAT-ROS"}),
                                                       key_id)
        listed = _run(fresh_url, "keys", "list")
        assert listed.exit_code == 0 and key_id in listed.output and "active" in listed.output
        assert token not in listed.output
        assert _run(fresh_url, "keys", "revoke", key_id).exit_code == 0
        assert lookup_key(engine, token) is None
    finally:
        engine.dispose()
    assert "revoked" in _run(fresh_url, "keys", "list").output
    assert _run(fresh_url, "keys", "revoke", key_id).exit_code == 1
    assert _run(fresh_url, "keys", "create", "x", "--role", "superuser").exit_code == 2


# --------------------------------------------------------------------------- report
def test_report_writes_offline_html(demo_file, tmp_path):
    out = tmp_path / "t1.html"
    res = _run(f"sqlite:///{demo_file}", "report", "--year", "2025", "--tertial", "1",
               "--lang", "en", "-o", str(out))
    assert res.exit_code == 0, res.output
    html = out.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert 'lang="en"' in html
    # self-contained: no script, stylesheet or image loaded from elsewhere
    assert not re.search(r"<(script|img|iframe)[^>]+src=[\"']?(https?:)?//", html, re.IGNORECASE)
    assert not re.search(r"<link[^>]+href=[\"']?(https?:)?//", html, re.IGNORECASE)
    assert "Rosenholm" in html  # the public view shows the large catchment…
    assert "SE-KAT-PS1" not in html  # …and suppresses the 3 500-inhabitant sub-catchment


# --------------------------------------------------------------------------- euda tables, national series
def test_euda_means_changes_trend_commands(demo_file, tmp_path):
    src = f"sqlite:///{demo_file}"
    out = tmp_path / "means.csv"
    res = _run(src, "euda", "means", "--site-id", "HR002", "--year", "2024", "--analyte",
               "benzoylecgonine", "-o", str(out))
    assert res.exit_code == 0, res.output
    row = next(csv.DictReader(out.open(encoding="utf-8")))
    assert (row["daily_mean"], row["weekday_days"]) == ("677.38", "Tue Wed Thu")
    assert float(row["daily_mean_recomputed"]) == pytest.approx(651.07, abs=0.005)
    res = _run(src, "euda", "changes", "--year", "2024", "--analyte", "mdma")
    assert res.exit_code == 0 and "AT001,AT,Graz,mdma,2024,2023,15.53,23.73," in res.output
    res = _run(src, "euda", "trend")
    assert res.exit_code == 0 and "7 sites" in res.output and "2024,848.15" in res.output


def test_reference_import_is_idempotent(fresh_url, tmp_path):
    f = None
    for parent in Path(__file__).resolve().parents:
        c = parent / "shared" / "data" / "statcan" / "13100871-drug-metabolites-wastewater.csv"
        if c.is_file():
            f = c
            break
    assert f is not None, "shared/data/statcan beside the checkout is needed"
    res = _run(fresh_url, "reference", "import", str(f))
    assert res.exit_code == 0 and "1320 series rows: 1320 new, 0 changed" in res.output
    res = _run(fresh_url, "reference", "import", str(f))
    assert res.exit_code == 0 and "0 new, 0 changed, 1320 unchanged" in res.output
