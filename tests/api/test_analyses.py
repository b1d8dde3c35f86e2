"""/analyses/*: the API returns exactly what wastewater.stats computes on the stored series,
with Benjamini–Hochberg q-values on multi-test endpoints; /analytes catalogue."""

from __future__ import annotations

import pytest

B = "/api/v1"


def _series(engine, site="SE-BIG", analyte="benzoylecgonine"):
    from wastewater.storage import repository as r
    from wastewater.timeseries import build_dataset, site_series

    ds = build_dataset(r.load_results(engine, sites=[site]), r.load_flows(engine, sites=[site]),
                       r.load_populations(engine, sites=[site]))
    return site_series(ds, site, analyte)


def test_operation_effect_matches_library(clients, seeded_engine):
    from wastewater.stats.effects import operation_effect

    s, c = _series(seeded_engine)
    want = operation_effect(s, censored=c, event_start="2025-01-20", event_end="2025-01-21").to_dict()
    got = clients["viewer"].get(f"{B}/analyses/operation-effect?site=SE-BIG&event_id=EV-PUB").json()
    assert got["analysis"] == "operation_effect" and got["event_id"] == "EV-PUB"
    r0 = got["results"][0]
    assert r0["analyte"] == "benzoylecgonine"                       # from the event's substances
    assert r0["relative_change_after"] == pytest.approx(want["relative_change_after"])
    assert r0["p_value_after"] == pytest.approx(want["p_value_after"])
    assert r0["q_value"] == pytest.approx(want["p_value_after"])     # one test: q = p
    secret = f"{B}/analyses/operation-effect?site=SE-BIG&event_id=EV-SECRET"
    assert clients["viewer"].get(secret).status_code == 404
    assert clients["analyst"].get(secret).status_code == 200


def test_trend_and_bh_q_values(clients, seeded_engine):
    """The default trend test is the GLS trend (the operation test's error model); Mann–Kendall
    on request. On 28 days of 100 + d ng/L the GLS puts the drift into the AR(1) use variation
    (φ at its bound, a few df) and calls it no clear trend, where Mann–Kendall calls it increasing."""
    from wastewater.stats.multiple import bh_qvalues
    from wastewater.stats.trends import trend_gls, trend_test

    s, c = _series(seeded_engine)
    want = trend_gls(s, censored=c).to_dict()
    got = clients["viewer"].get(f"{B}/analyses/trend?site=SE-BIG").json()
    assert got["test"] == "gls" and [r["analyte"] for r in got["results"]] == ["benzoylecgonine"]
    r0 = got["results"][0]
    assert r0["p_value"] == pytest.approx(want["p_value"])
    assert r0["percent_change_per_year"] == pytest.approx(want["percent_change_per_year"])
    assert r0["trend"] == want["trend"] == "no trend" and r0["phi"] == pytest.approx(want["phi"])
    assert r0["method"].startswith("GLS of log load on weekday")
    ps = [r["p_value"] for r in got["results"]]
    assert got["q_values"] == pytest.approx(list(bh_qvalues(ps)))
    mk = clients["viewer"].get(f"{B}/analyses/trend?site=SE-BIG&method=mann_kendall").json()
    want_mk = trend_test(s, censored=c).to_dict()
    assert mk["test"] == "mann_kendall"
    assert mk["results"][0]["p_value"] == pytest.approx(want_mk["p_value"])
    assert mk["results"][0]["trend"] == want_mk["trend"] == "increasing"   # 100 + d ng/L


def test_bh_q_values_hand_computed():
    from api.routers.analyses import bh_q_values

    # BH: sorted p 0.005, 0.01, 0.03, 0.04 with m = 4 -> 0.02, 0.02, 0.04, 0.04
    assert bh_q_values([0.01, 0.04, 0.03, 0.005, None]) == pytest.approx([0.02, 0.04, 0.04, 0.02, None])


def test_changepoints_riskweekend_alerts_shapes(clients):
    v = clients["viewer"]
    cp = v.get(f"{B}/analyses/changepoints?site=SE-BIG&analyte=benzoylecgonine&min_segment_days=7").json()
    assert cp["analysis"] == "changepoints" and len(cp["q_values"]) == len(cp["results"])
    rw = v.get(f"{B}/analyses/risk-weekend-effect?site=SE-BIG&analyte=benzoylecgonine&kind=payday_weekend"
               "&window_weeks=2&method=matched_weekends")
    assert rw.status_code == 200, rw.text
    body = rw.json()
    assert body["test"] == "matched_weekends"
    assert [e["event_id"] for e in body["results"]] == ["pay-2025-lonehelg-01"]   # 24–26 Jan 2025
    assert len(body["q_values"]) == 1 and "pooled" in body
    al = v.get(f"{B}/analyses/alerts?site=SE-BIG&only_alerts=false").json()
    assert len(al["results"]) == 28 and all("q_value" in r for r in al["results"])
    assert not any(r["alert"] for r in al["results"])          # < 4 weeks of history: no test
    assert v.get(f"{B}/analyses/trend?site=SE-MID").status_code == 422      # no results there
    # without a key only the published 12-month trend (28 days here: too short to publish one)
    pub = clients["public"].get(f"{B}/analyses/trend?site=SE-BIG")
    assert pub.status_code == 200 and pub.json()["published"] is True
    assert pub.json()["window"] == {"from": "2024-03-01", "to": "2025-02-28"}
    assert pub.json()["results"][0]["trend"] is None and "no per-year trend" in pub.json()["results"][0]["error"]
    assert clients["public"].get(f"{B}/analyses/trend?site=SE-BIG&from=2025-01-06&to=2025-01-19").status_code == 401


def test_analytes_catalogue_with_references(clients):
    body = clients["public"].get(f"{B}/analytes").json()
    ids = {a["analyte"] for a in body["analytes"]}
    assert {"benzoylecgonine", "amphetamine", "thc-cooh", "creatinine"} <= ids
    cf = {p["cf_id"]: p for p in body["parameters"]}
    assert cf["cocaine-be-zuccato2008"]["correction_factor"] == pytest.approx(2.33)
    assert all(p["source"] in body["references"] for p in body["parameters"])
    assert "Environ. Health Perspect." in body["references"]["Zuccato2008"]


def test_euda_import_admin_only_and_reference_read(fresh_clients, engine):
    from pathlib import Path

    euda = Path(__file__).resolve().parents[2] / "samples" / "euda"
    lines = (euda / "ww2025-all-data.csv").read_text(encoding="utf-8").splitlines()
    subset = "\n".join([lines[0]] + [ln for ln in lines[1:] if ',"SE",' in ln]) + "\n"
    files = {"all_data": ("all.csv", subset.encode()), "site_info": ("sites.csv", (euda / "ww2025-site-info-table.csv").read_bytes())}  # noqa: E501
    assert fresh_clients["analyst"].post(f"{B}/reference/euda/import", files=files).status_code == 403
    r = fresh_clients["admin"].post(f"{B}/reference/euda/import", files=files)
    assert r.status_code == 201, r.text
    assert r.json()["values"] > 0
    ref = fresh_clients["public"].get(f"{B}/reference/euda?site_id=SE002&year=2024&analyte=mdma&limit=10").json()
    # ww2025-all-data.csv, 2024 MDMA SE002 Gävle: Wednesday 11.47, Saturday 15.06 mg/day/1000
    vals = {x["weekday"]: x["value_mg_per_day_per_1000"] for x in ref["items"]}
    assert vals["Wed"] == pytest.approx(11.47) and vals["Sat"] == pytest.approx(15.06) and ref["total"] == 7
    log = fresh_clients["admin"].get(f"{B}/audit").json()["items"]
    assert any(e["action"] == "euda_imported" and e["actor"] == "admin-key" for e in log)


def test_event_drug_maps_to_the_measured_residue(seeded_engine):
    from api.errors import ApiError
    from api.routers.analyses import _measured_for_event

    # the lab measures benzoylecgonine; an event naming the drug cocaine tests it
    assert _measured_for_event(seeded_engine, "SE-BIG", {"substances": ["cocaine"]}) == ["benzoylecgonine"]
    with pytest.raises(ApiError) as exc:
        _measured_for_event(seeded_engine, "SE-BIG", {"substances": ["ketamine"]})
    assert exc.value.status == 422
    msg = exc.value.errors[0]["message"]
    assert exc.value.errors[0]["code"] == "analyte_not_measured"
    assert "measured as ketamine" in msg and "one of: benzoylecgonine" in msg


def test_risk_weekend_default_is_one_model_over_the_whole_series(clients, seeded_engine):
    """Did the payday weekends raise loads: one result per weekend name from
    wastewater.stats.riskweekend_model on the whole stored series and the full calendar (every
    other event its own term), with a BH q-value; each year's weekend against matched ordinary
    weekends stays in ``events``."""
    from wastewater.riskweekends import risk_weekends
    from wastewater.stats.riskweekend_effect import riskweekend_effect, riskweekend_model

    s, c = _series(seeded_engine)
    cal = risk_weekends([2024, 2025])
    want = riskweekend_model(s, cal, "Lönehelg", censored=c)
    got = clients["viewer"].get(f"{B}/analyses/risk-weekend-effect?site=SE-BIG&analyte=benzoylecgonine"
                                "&kind=payday_weekend").json()
    assert got["test"] == "model" and [r["name"] for r in got["results"]] == ["Lönehelg"]
    r0 = got["results"][0]
    assert r0["relative_change"] == pytest.approx(want.relative_change)
    assert r0["p_value"] == pytest.approx(want.p_value) == pytest.approx(r0["q_value"])  # one test
    assert (r0["n_event_days"], r0["n_events"], r0["n_days"]) == (3, 1, 28)   # 24–26 Jan 2025, 28 days
    per_year = riskweekend_effect(s, cal, censored=c, kinds=("payday_weekend",)).events.set_index("event_id")
    assert [e["event_id"] for e in got["events"]] == ["pay-2025-lonehelg-01"]
    assert got["events"][0]["relative_change"] == pytest.approx(
        float(per_year.loc["pay-2025-lonehelg-01", "relative_change"]))
    none = clients["viewer"].get(f"{B}/analyses/risk-weekend-effect?site=SE-BIG&analyte=benzoylecgonine").json()
    assert none["results"] == [] and none["events"] == []   # no risk weekend in January 2025


def test_operation_plan_is_the_librarys_and_needs_a_key(clients, seeded_engine):
    """/analyses/operation-plan gives planned_detectable_drops on the stored series (2, 4, 8,
    12 weeks after), and nothing without a key: the drop follows the fitted day-to-day noise."""
    from wastewater.stats.effects import planned_detectable_drops

    s, c = _series(seeded_engine)
    want = planned_detectable_drops(s, censored=c, duration_days=3)
    got = clients["viewer"].get(f"{B}/analyses/operation-plan?site=SE-BIG&analyte=benzoylecgonine&duration_days=3")
    assert got.status_code == 200, got.text
    rows = got.json()["results"]
    assert [r["after_days"] for r in rows] == [14, 28, 56, 84] == want["after_days"].tolist()
    for r, (_, w) in zip(rows, want.iterrows(), strict=True):
        assert r["n_after"] == w["n_after"]
        if w["reason"] is None or w["reason"] != w["reason"]:
            assert r["minimum_detectable_drop"] == pytest.approx(w["minimum_detectable_drop"])
        else:
            assert r["minimum_detectable_drop"] is None and r["reason"] == w["reason"]
    public = clients["public"].get(f"{B}/analyses/operation-plan?site=SE-BIG&analyte=benzoylecgonine")
    assert public.status_code == 401
