"""Alerts through the HTTP API: the upload's answer names them, GET /alerts lists them by key,
acknowledge/dismiss are audited, subscriptions bind to the calling key, deliveries are admin-only
and show why a failed one failed."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.config import Settings
from api.security import create_key
from service.app import create_app
from tests.alert_fixtures import NEW_START, SITE, SPIKE_DAY, history_csv, new_week_csv, sites_csv
from wastewater.storage.service import ingest_bytes


@pytest.fixture
def api(engine):
    for name, data in (("sites.csv", sites_csv()), ("h.csv", history_csv())):
        assert ingest_bytes(engine, data, filename=name, uploader="seed").stored
    events = ("event_id,kind,start,end,sites,substances,description,confidential\n"
              f"OP-X,operation,{NEW_START},{NEW_START + dt.timedelta(days=4)},{SITE},amphetamine,"
              "insats,true\n").encode()
    assert ingest_bytes(engine, events, filename="ev.csv", uploader="seed").stored
    app = create_app(Settings(database_url=str(engine.url)), engine=engine)
    tokens = {"lab": create_key(engine, "lab-kat", "lab", sites=[SITE]),
              "viewer": create_key(engine, "samordnare", "viewer"),
              "viewer_other": create_key(engine, "annan", "viewer", sites=["SE-OTHER"]),
              "analyst": create_key(engine, "polis", "analyst"),
              "admin": create_key(engine, "it", "admin")}

    def client(role: str) -> TestClient:
        c = TestClient(app, raise_server_exceptions=False)
        if role != "public":
            c.headers["X-API-Key"] = tokens[role]
        return c
    return client


def _upload(api, factor=1.6):
    return api("lab").post("/api/v1/uploads/results",
                           files={"file": ("week.csv", new_week_csv(factor=factor))})


def test_upload_answer_names_its_alerts_and_hides_confidential_ones_from_the_lab(api):
    r = _upload(api)
    assert r.status_code == 201, r.text
    body = r.json()
    # the lab key sees the unusual day but not the dumping alert of the confidential operation
    assert [(a["kind"], a["date"]) for a in body["alerts"]] == [("unusually_high", SPIKE_DAY.isoformat())]
    assert body["alerts_message"] == {
        "sv": f"1 dag ovanligt höga för amphetamine vid {SITE}; se /dashboard/alerts?site={SITE}.",
        "en": f"1 day unusually high for amphetamine at {SITE}; see /dashboard/alerts?site={SITE}."}
    upload_id = body["upload_id"]
    kinds = {a["kind"] for a in api("analyst").get(
        "/api/v1/alerts", params={"upload_id": upload_id}).json()["items"]}
    assert kinds == {"unusually_high", "possible_dumping"}
    viewer = api("viewer").get("/api/v1/alerts", params={"upload_id": upload_id}).json()
    assert [a["kind"] for a in viewer["items"]] == ["unusually_high"]
    assert api("viewer_other").get("/api/v1/alerts").json()["items"] == []
    assert api("public").get("/api/v1/alerts").status_code == 401  # needs a key
    again = api("lab").post("/api/v1/uploads/results", files={"file": ("week.csv", new_week_csv())})
    assert again.status_code == 200 and again.json()["duplicate"] and again.json()["alerts"] == []


def test_acknowledge_and_dismiss_are_audited(api):
    _upload(api)
    alert = api("viewer").get("/api/v1/alerts").json()["items"][0]
    r = api("viewer").post(f"/api/v1/alerts/{alert['alert_id']}/acknowledge",
                           json={"note": "labbet kontaktat"})
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    assert r.json()["status_by"] == "samordnare" and r.json()["status_note"] == "labbet kontaktat"
    assert api("viewer_other").post(f"/api/v1/alerts/{alert['alert_id']}/dismiss").status_code == 404
    assert api("viewer").post(f"/api/v1/alerts/{alert['alert_id']}/dismiss").json()["status"] == "dismissed"
    audit = api("admin").get("/api/v1/audit", params={"limit": 1000}).json()
    items = audit["items"] if isinstance(audit, dict) else audit
    mine = [(a["action"], a["actor"]) for a in items if a.get("target") == f"alert/{alert['alert_id']}"]
    assert sorted(mine) == [("alert_acknowledged", "samordnare"), ("alert_dismissed", "samordnare")]
    assert api("viewer").get("/api/v1/alerts", params={"status": "open"}).json()["items"] == []


def test_subscriptions_bind_to_the_key_and_deliveries_are_admin_only(api):
    r = api("viewer").post("/api/v1/alerts/subscriptions",
                           json={"channel": "email", "target": "samordnare@kommun.example.se",
                                 "lang": "sv"})
    assert r.status_code == 201, r.text
    assert api("viewer").post("/api/v1/alerts/subscriptions", json={
        "channel": "email", "target": "x@example.se", "role": "admin"}).status_code == 403
    bad = api("viewer").post("/api/v1/alerts/subscriptions", json={
        "channel": "webhook", "target": "ftp://x", "secret": "0123456789abcdef"})
    assert bad.status_code == 422 and "http(s)" in bad.text
    mine = api("viewer").get("/api/v1/alerts/subscriptions").json()["items"]
    assert [(s["role"], s["target"]) for s in mine] == [("viewer", "samordnare@kommun.example.se")]
    assert "secret" not in mine[0]
    assert api("analyst").get("/api/v1/alerts/subscriptions").json()["items"] == []
    _upload(api)
    assert api("viewer").get("/api/v1/alerts/deliveries").status_code == 403
    rows = api("admin").get("/api/v1/alerts/deliveries").json()["items"]
    # the viewer receives the unusual day, not the confidential dumping alert
    assert [(d["target"], d["status"]) for d in rows] == [("samordnare@kommun.example.se", "pending")]
    sid = mine[0]["subscription_id"]
    assert api("analyst").delete(f"/api/v1/alerts/subscriptions/{sid}").status_code == 404
    assert api("viewer").delete(f"/api/v1/alerts/subscriptions/{sid}").json()["active"] is False


def test_marked_method_change_through_the_api(api, engine):
    """A method_change event, then a ×2 upload by the new method: the answer has no alert and
    a note (without naming the confidential operation over the same days); the changepoint
    analysis does not report the marked step and lists it; the same-weekday analysis does not
    compare the new days with the old method's."""
    from tests.alert_fixtures import results_csv

    events = ("event_id,kind,start,end,sites,substances,description,confidential\n"
              f"MC-1,method_change,{NEW_START},{NEW_START},{SITE},amphetamine,ny metod,false\n").encode()
    assert ingest_bytes(engine, events, filename="mc.csv", uploader="seed").stored
    x2 = results_csv(NEW_START.isoformat(), 14, seed=3, sd_log=0.05, prefix="T",
                     spike={(NEW_START + dt.timedelta(days=i)).isoformat(): 2.0 for i in range(14)})
    r = api("lab").post("/api/v1/uploads/results", files={"file": ("v2.csv", x2)})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["alerts"] == [] and body["alerts_message"] is None
    (note,) = body["alert_notes"]
    assert note["method_change"] == NEW_START.isoformat()
    assert set(note["checks"]) == {"unusually_high", "outside_history"}     # not the operation's
    assert "insats" not in note["sentence_sv"]
    cp = api("viewer").get("/api/v1/analyses/changepoints",
                           params={"site": SITE, "analyte": "amphetamine"}).json()
    assert cp["method_changes"] == [NEW_START.isoformat()]
    assert cp["results"] == []     # unmarked, this series has one step found at NEW_START (+98 %)
    al = api("viewer").get("/api/v1/analyses/alerts",
                           params={"site": SITE, "analyte": "amphetamine", "only_alerts": "false"}).json()
    new_days = [row for row in al["results"] if row["date"] >= NEW_START.isoformat()]
    assert len(new_days) == 14 and not any(row["alert"] for row in new_days)
    assert all(row["n_history"] <= 1 and row["segment_start"].startswith(NEW_START.isoformat())
               for row in new_days)


def test_dashboard_upload_page_shows_the_method_change_note(api, engine):
    """A change of the method column marks the change too; the dashboard's upload answer shows
    the note in the page's language."""
    from tests.alert_fixtures import results_csv

    x2 = results_csv(NEW_START.isoformat(), 7, seed=3, sd_log=0.05, prefix="T", method="v2",
                     spike={(NEW_START + dt.timedelta(days=i)).isoformat(): 2.0 for i in range(7)})
    # the day before names the old method (a correction of that day's history row)
    day_before = (NEW_START - dt.timedelta(days=1)).isoformat()
    assert ingest_bytes(engine, results_csv(day_before, 1, seed=2, sd_log=0.05, method="v1"),
                        filename="v1.csv", uploader="seed").stored
    lab = api("lab")
    token = lab.headers.pop("X-API-Key")
    lab.cookies.set("ww_api_key", token)
    html = lab.post("/dashboard/upload", params={"lang": "sv"}, data={"kind": "auto", "action": "commit"},
                    files={"file": ("v2.csv", x2, "text/csv")}).text
    notes = re.findall(r'data-testid="upload-alert-note">(.*?)</p>', html)
    assert len(notes) == 1 and notes[0].startswith(f"Metodbytet {NEW_START.isoformat()} är markerat för "
                                                   f"amphetamine vid {SITE}")
    assert "ovanligt högt: 0 av 4 värden för samma veckodag" in notes[0]


def test_a_method_column_change_is_a_marked_change_in_every_analysis(api, engine):
    """The results' method column marks a change for the analyses too (one rule,
    wastewater.readers.method_changes): the trend test puts a level shift there and says so, the
    changepoint analysis leaves it out; an event on the same day counts once."""
    from tests.alert_fixtures import results_csv
    from wastewater.readers import method_changes

    day_before = (NEW_START - dt.timedelta(days=1)).isoformat()
    assert ingest_bytes(engine, results_csv(day_before, 1, seed=2, sd_log=0.05, method="v1"),
                        filename="v1.csv", uploader="seed").stored
    x2 = results_csv(NEW_START.isoformat(), 14, seed=3, sd_log=0.05, prefix="T", method="v2",
                     spike={(NEW_START + dt.timedelta(days=i)).isoformat(): 2.0 for i in range(14)})
    assert ingest_bytes(engine, x2, filename="v2.csv", uploader="seed").stored
    assert method_changes(engine, site=SITE, analytes=["amphetamine", "mdma"]) == {
        "amphetamine": [pd.Timestamp(NEW_START)]}
    events = ("event_id,kind,start,end,sites,substances,description,confidential\n"
              f"MC-1,method_change,{NEW_START},{NEW_START},{SITE},,ny metod,false\n").encode()
    assert ingest_bytes(engine, events, filename="mc.csv", uploader="seed").stored
    assert method_changes(engine, site=SITE, analytes=["amphetamine", "mdma"]) == {
        "amphetamine": [pd.Timestamp(NEW_START)], "mdma": [pd.Timestamp(NEW_START)]}
    params = {"site": SITE, "analyte": "amphetamine"}
    tr = api("viewer").get("/api/v1/analyses/trend", params=params).json()["results"][0]
    assert tr["method_changes"] == [NEW_START.isoformat()]
    assert "a level shift per marked method change" in tr["method"]
    assert tr["trend"] == "no trend"          # the ×2 step is not a trend (14 days after it)
    cp = api("viewer").get("/api/v1/analyses/changepoints", params=params).json()
    assert cp["method_changes"] == [NEW_START.isoformat()] and cp["results"] == []
