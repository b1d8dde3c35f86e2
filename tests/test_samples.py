"""The shipped demo data: reproducible from the seeded generator and valid against ingest."""

from __future__ import annotations

import datetime as dt
import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _generator():
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["make_samples"] = mod
    spec.loader.exec_module(mod)
    return mod


GEN = _generator()
FILES = GEN.build()


@pytest.mark.parametrize("name", sorted(FILES))
def test_generator_reproduces_committed_file(name):
    assert (SAMPLES / name).read_bytes() == FILES[name].encode("utf-8"), (
        f"samples/{name} differs from make_samples.py output; run "
        "`.venv/bin/python samples/make_samples.py` and commit")


def test_contract_columns():
    heads = {n: (SAMPLES / n).read_text(encoding="utf-8").splitlines()[0] for n in FILES}
    assert heads["results.csv"] == ("sample_id,site,sample_date,analyte,value,unit,qualifier,loq,"
                                    "lod,flow_m3_per_day,composite_hours,replicate,sample_role,"
                                    "lab,method,comment")
    assert heads["sites.csv"] == ("site,name,municipality,population,population_year,lat,lon,"
                                  "treatment_plant")
    assert heads["flows.csv"] == "site,date,flow_m3_per_day"
    assert heads["events.csv"] == ("event_id,kind,start,end,sites,substances,description,"
                                   "confidential")
    raw = (SAMPLES / "results_wide_sv.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b";" in raw.splitlines()[0]


def _ros_pnl() -> pd.DataFrame:
    r = pd.read_csv(SAMPLES / "results.csv")
    f = pd.read_csv(SAMPLES / "flows.csv")
    r = r[(r.site == "SE-KAT-ROS") & (r.sample_role == "sample") & (r.replicate == 1)
          & (r.composite_hours == 24)]
    r = r.merge(f, left_on=["site", "sample_date"], right_on=["site", "date"],
                suffixes=("_lab", ""))
    r["value"] = pd.to_numeric(r["value"], errors="coerce")
    # PNL [mg/day/1000] = c [ng/L] * Q [m3/d] * 1e3 [L/m3] * 1e-6 [mg/ng] / (pop / 1000)
    r["pnl"] = r["value"] * r["flow_m3_per_day"] * 1e-3 / (25300 / 1000)
    r["date"] = pd.to_datetime(r["sample_date"])
    return r


def test_levels_and_weekly_pattern_as_documented():
    r = _ros_pnl()
    means = r.groupby("analyte")["pnl"].mean()
    for analyte, target in [("benzoylecgonine", 90), ("amphetamine", 350), ("thc-cooh", 40),
                            ("tramadol", 60)]:
        assert means[analyte] == pytest.approx(target, rel=0.10)
    wd = r["date"].dt.day_of_week
    for analyte, ratio in [("benzoylecgonine", 1.30), ("mdma", 1.75)]:
        sel = r["analyte"] == analyte
        weekend = r.loc[sel & wd.isin([4, 5, 6, 0]), "pnl"].mean()
        weekday = r.loc[sel & wd.isin([1, 2, 3]), "pnl"].mean()
        # risk days add a little on top of the profile ratio
        assert ratio * 0.95 < weekend / weekday < ratio * 1.15


def test_embedded_operation_drop_and_dumping_spike():
    r = _ros_pnl().set_index("date")
    be = r[r.analyte == "benzoylecgonine"]["pnl"]
    before = be["2025-01-27":"2025-03-09"].mean()
    during = be["2025-03-10":"2025-04-18"].mean()
    assert during / before == pytest.approx(0.75, abs=0.08)
    coc = r[r.analyte == "cocaine"]["pnl"]
    ratio = coc / be
    assert ratio["2025-09-03"] > 4 * ratio["2025-08-01":"2025-08-31"].median()


def test_flows_in_documented_range():
    f = pd.read_csv(SAMPLES / "flows.csv")
    q = f[f.site == "SE-KAT-ROS"]["flow_m3_per_day"]
    assert len(q) == 365 and 9000 < q.median() < 11000 and q.min() > 8000
    sites = pd.read_csv(SAMPLES / "sites.csv")
    assert sites.groupby("site")["population"].max()["SE-KAT-PS1"] < 10000


def test_expected_bad_lines_listed():
    lines = [ln for ln, _ in GEN.expected_bad_lines()]
    n = len((SAMPLES / "bad_results.csv").read_text(encoding="utf-8").splitlines())
    assert lines == sorted(lines) and max(lines) == n and len(lines) == 11


# ---------------------------------------------------------------- against helper H1's ingest
def _parse_upload():
    try:
        from wastewater.ingest import parse_upload as fn
    except ImportError:
        fn = None
    if fn is None:
        pytest.skip("wastewater.ingest.parse_upload not available yet")
    return fn


KNOWN = {"SE-KAT-ROS", "SE-FLN-ARV", "SE-KAT-PS1"}
TODAY = dt.date(2026, 1, 15)


@pytest.mark.parametrize("name,kind", [("sites.csv", "sites"), ("flows.csv", "flows"),
                                       ("results.csv", "results"), ("events.csv", "events"),
                                       ("results_wide_sv.csv", "results")])
def test_shipped_files_validate_without_errors(name, kind):
    parse_upload = _parse_upload()
    parsed = parse_upload((SAMPLES / name).read_bytes(), None, known_sites=KNOWN,
                          filename=name, today=TODAY)
    assert parsed.kind == kind
    assert parsed.report.errors == [], parsed.report.errors[:5]
    assert parsed.report.rows_accepted == parsed.report.rows_total
    if name == "results.csv":
        fr = parsed.frame
        ros = fr[(fr.site == "SE-KAT-ROS") & (fr.sample_role == "sample")]
        assert set(ros.analyte) == set(GEN.ANALYTES)
        meth = ros[ros.analyte == "methamphetamine"]
        assert (meth.censor == "<LOQ").mean() > 0.9
        assert meth.loc[meth.censor == "<LOQ", "loq_ng_per_l"].eq(10.0).all()
        flen = fr[(fr.site == "SE-FLN-ARV") & (fr.censor != "none")]
        assert len(flen) > 0 and flen["value_ng_per_l"].isna().all()
        assert fr.loc[fr.composite_hours == 72, "sample_date"].dt.date.unique().tolist() == [
            dt.date(2025, 8, 15)]
    if name == "results_wide_sv.csv":
        fr = parsed.frame
        assert len(fr) == 7 * 6
        row = fr[(fr.analyte == "benzoylecgonine") & (fr.sample_date == "2025-10-01")]
        assert row["value_ng_per_l"].iloc[0] == pytest.approx(206.0)
    if name == "events.csv":
        ev = parsed.frame.set_index("event_id")
        assert bool(ev.loc["EV-2025-07", "confidential"]) is True
        assert list(ev.loc["EV-2025-05", "sites"]) == ["SE-KAT-ROS", "SE-KAT-PS1"]


def test_bad_results_report_the_planted_mistakes():
    parse_upload = _parse_upload()
    parsed = parse_upload((SAMPLES / "bad_results.csv").read_bytes(), "results",
                          known_sites=KNOWN, filename="bad_results.csv", today=TODAY)
    expected = dict(GEN.expected_bad_lines())
    flagged = {i.line for i in parsed.report.issues}
    error_lines = {i.line for i in parsed.report.errors}
    missing = sorted(set(expected) - flagged)
    assert not missing, [(ln, expected[ln]) for ln in missing]
    # errors only on planted lines, and the clear-cut mistakes are errors, not warnings
    assert error_lines <= set(expected)
    assert {3, 6, 9, 12, 15, 17, 18, 20} <= error_lines
    assert not parsed.report.ok
    assert math.isclose(parsed.report.rows_total, 20)
    assert np.isfinite(parsed.frame["value_ng_per_l"].dropna()).all()
