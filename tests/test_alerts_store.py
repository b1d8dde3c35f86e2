"""Upload-time alerts through the real ingest path (bytes → parser → one transaction), on SQLite
and PostgreSQL: which alerts are stored, with which numbers and which upload, idempotency on
re-upload, corrections, the outbox written in the same transaction, and acknowledgement."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from tests.alert_fixtures import (
    ANALYTE,
    NEW_START,
    SITE,
    SPIKE_DAY,
    history_csv,
    new_week_csv,
    results_csv,
    sites_csv,
)
from wastewater.storage import alerts as store
from wastewater.storage import tables as t
from wastewater.storage.service import ingest_bytes


def _ingest(engine, data: bytes, name: str):
    out = ingest_bytes(engine, data, filename=name, uploader="lab-a")
    assert out.stored or out.duplicate, out.report.to_dict()
    return out


@pytest.fixture
def site_with_history(engine):
    _ingest(engine, sites_csv(), "sites.csv")
    hist = _ingest(engine, history_csv(), "history.csv")
    assert hist.alerts == ()  # seed 2: an ordinary 12 weeks raise nothing
    return engine


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_unusual_day_is_stored_once_with_reason_statistics_and_upload(site_with_history):
    engine = site_with_history
    store.add_subscription(engine, channel="email", target="samordnare@kommun.example",
                           created_by="admin", role="viewer", lang="sv")
    out = _ingest(engine, new_week_csv(), "week.csv")
    assert [(a["kind"], a["date"]) for a in out.alerts] == [("unusually_high", SPIKE_DAY.isoformat())]
    a = out.alerts[0]
    assert a["upload_id"] == out.upload_id and a["site"] == SITE and a["analyte"] == ANALYTE
    st = a["statistics"]
    assert st["n_history"] == 8 and st["robust_z"] > st["threshold"] > 3
    assert st["false_alarm_rate"] == 0.01
    # the value is the load: 1.6 × the Wednesday profile (55 ng/L) × 9000 m³/d / 34 000 inh.
    assert a["variable"] == "load_mg_per_day_per_1000"
    assert a["value"] == pytest.approx(55 * 1.6 * 9000 / 34000, rel=0.15)
    assert "gånger medianen för samma veckodag" in a["reason_sv"]
    assert "times the median of the same weekday" in a["reason_en"]
    stored = store.load_alerts(engine, upload_id=out.upload_id)
    assert [s["alert_id"] for s in stored] == [a["alert_id"]]
    assert _count(engine, t.alert_outbox) == 1  # one alert × one subscriber

    again = ingest_bytes(engine, new_week_csv(), filename="week.csv", uploader="lab-a")
    assert again.duplicate and again.alerts == ()
    assert _count(engine, t.alerts) == 1 and _count(engine, t.alert_outbox) == 1

    # the same values in other bytes (unit spelled "ng/l"): the rows are new versions and are
    # evaluated again, but the findings are the same (same fingerprint), so none is raised twice
    other = new_week_csv().replace(b"ng/L", b"ng/l")
    out3 = _ingest(engine, other, "week-copy.csv")
    assert out3.stored and out3.rows_superseded == 7 and out3.alerts == ()
    assert _count(engine, t.alerts) == 1


def test_correction_is_evaluated_and_names_the_correcting_upload(site_with_history):
    engine = site_with_history
    first = _ingest(engine, new_week_csv(spike_day=None), "week.csv")
    assert first.alerts == ()
    fix_day = NEW_START + dt.timedelta(days=4)
    corrected = _ingest(engine, new_week_csv(spike_day=fix_day, factor=1.5), "week-v2.csv")
    assert corrected.rows_superseded == 1  # only the corrected Friday changed
    assert [(a["kind"], a["date"], a["upload_id"]) for a in corrected.alerts] == [
        ("unusually_high", fix_day.isoformat(), corrected.upload_id)]


def test_unit_slip_is_far_outside_the_history(site_with_history):
    out = _ingest(site_with_history, new_week_csv(factor=1000.0), "slip.csv")
    kinds = {a["kind"]: a for a in out.alerts}
    assert set(kinds) == {"unusually_high", "outside_history"}
    far = kinds["outside_history"]["statistics"]
    assert far["direction"] == "high" and far["n_history"] == 56
    assert far["robust_z"] > far["threshold"]
    assert "Kontrollera enhet" in kinds["outside_history"]["reason_sv"]


def test_unmarked_level_shift_from_the_first_day(site_with_history):
    engine = site_with_history
    shifted = results_csv(NEW_START.isoformat(), 14, seed=3, sd_log=0.05,
                          spike={(NEW_START + dt.timedelta(days=i)).isoformat(): 1.5
                                 for i in range(14)})
    out = _ingest(engine, shifted, "new-method.csv")
    shift = [a for a in out.alerts if a["kind"] == "method_change"]
    assert [a["date"] for a in shift] == [NEW_START.isoformat()]
    st = shift[0]["statistics"]
    assert st["relative_change"] == pytest.approx(0.5, abs=0.08)
    assert st["p_value"] < 1e-6 and st["n_after"] == 14 and st["n_before"] == 56


def _x2_new_method(method: str | None = "LC-MS/MS v2") -> bytes:
    return results_csv(NEW_START.isoformat(), 14, seed=3, sd_log=0.05, method=method,
                       spike={(NEW_START + dt.timedelta(days=i)).isoformat(): 2.0 for i in range(14)},
                       prefix="T")


def test_marked_method_change_is_not_an_alert(engine):
    """A ×2 step marked by the method column: the new days are not compared with the old
    method's values (no unusually_high, outside_history or method_change), and the upload's
    answer says the checks wait for new-method history."""
    _ingest(engine, sites_csv(), "sites.csv")
    from tests.alert_fixtures import HISTORY_START

    _ingest(engine, results_csv(HISTORY_START.isoformat(), 84, seed=2, sd_log=0.05,
                                method="LC-MS/MS v1"), "hist.csv")
    out = _ingest(engine, _x2_new_method(), "v2.csv")
    assert out.alerts == ()
    (note,) = out.alert_notes
    assert note["method_change"] == NEW_START.isoformat() and len(note["days"]) == 14
    # 14 days: the 2nd week's days have 1 same-weekday value of the new method (4 needed),
    # the last day 13 earlier values (28 needed)
    assert note["checks"]["unusually_high"] == {"n_since_change": 0, "n_needed": 4}
    assert note["checks"]["outside_history"] == {"n_since_change": 0, "n_needed": 28}
    assert "method_change" not in note["checks"]
    assert f"Metodbytet {NEW_START.isoformat()} är markerat för {ANALYTE} vid {SITE}" in note["sentence_sv"]
    assert out.to_dict()["alert_notes"] == [note]


def test_method_change_event_marks_the_change_like_the_method_column(engine):
    """The same ×2 results without a method column, marked by an event of kind method_change
    naming the drug the analyte measures for (one rule with the operation and trend tests)."""
    _ingest(engine, sites_csv(), "sites.csv")
    _ingest(engine, history_csv(), "history.csv")
    events = ("event_id,kind,start,end,sites,substances,description,confidential\n"
              f"MC-1,method_change,{NEW_START},{NEW_START},{SITE},{ANALYTE},ny LC-MS/MS-metod,false\n").encode()
    _ingest(engine, events, "events.csv")
    out = _ingest(engine, _x2_new_method(method=None), "v2.csv")
    assert out.alerts == ()
    assert [n["method_change"] for n in out.alert_notes] == [NEW_START.isoformat()]


def test_unmarked_x2_step_is_alerted(site_with_history):
    """Without a mark the same ×2 step is a possible unmarked method change, and its days are
    unusually high against the old level."""
    out = _ingest(site_with_history, _x2_new_method(method=None), "v2.csv")
    kinds = [a["kind"] for a in out.alerts]
    assert kinds.count("method_change") == 1
    shift = next(a for a in out.alerts if a["kind"] == "method_change")
    assert shift["date"] == NEW_START.isoformat()
    assert shift["statistics"]["relative_change"] == pytest.approx(1.0, abs=0.15)
    assert kinds.count("unusually_high") >= 10 and out.alert_notes == ()


def test_dumping_day_during_a_confidential_operation(site_with_history):
    engine = site_with_history
    start, end = NEW_START, NEW_START + dt.timedelta(days=4)
    events = ("event_id,kind,start,end,sites,substances,description,confidential\n"
              f"OP-1,operation,{start},{end},{SITE},{ANALYTE},razzia,true\n").encode()
    ev = ingest_bytes(engine, events, filename="ev.csv", uploader="analyst")
    assert ev.stored and ev.alerts == ()  # no results in the window yet
    out = _ingest(engine, new_week_csv(factor=4.0), "raid-week.csv")
    dump = [a for a in out.alerts if a["kind"] == "possible_dumping"]
    assert [(a["date"], a["event_id"], a["confidential"]) for a in dump] == [
        (SPIKE_DAY.isoformat(), "OP-1", True)]
    assert dump[0]["statistics"]["z_load"] > dump[0]["statistics"]["threshold"]


def test_outbox_follows_the_access_policy_and_dry_runs_queue_nothing(site_with_history):
    engine = site_with_history
    store.add_subscription(engine, channel="email", target="allman@example.se",
                           created_by="admin", role="public", lang="en")
    store.add_subscription(engine, channel="webhook", target="http://127.0.0.1:9/hook",
                           secret="s3cret", created_by="admin", role="viewer",
                           kinds=["outside_history"])
    store.add_subscription(engine, channel="email", target="other@example.se",
                           created_by="admin", role="viewer", sites=["SE-OTHER"])
    dry = ingest_bytes(engine, new_week_csv(), filename="w.csv", uploader="lab", dry_run=True)
    assert dry.dry_run and dry.alerts == ()
    assert _count(engine, t.alerts) == 0 and _count(engine, t.alert_outbox) == 0
    out = _ingest(engine, new_week_csv(), "w.csv")
    assert len(out.alerts) == 1
    rows = store.load_deliveries(engine)
    # public subscriber of a 34 000-inhabitant site: yes; the webhook wants only
    # outside_history; the third is scoped to another site
    assert [(r["channel"], r["target"]) for r in rows] == [("email", "allman@example.se")]
    with engine.connect() as conn:
        body = json.loads(conn.execute(sa.select(t.alert_outbox.c.body_json)).scalar_one())
        text = conn.execute(sa.select(t.alert_outbox.c.body_text)).scalar_one()
    # public: ISO week only, no day, no value
    assert "date" not in body and "value" not in body and body["iso_week"].startswith(
        str(SPIKE_DAY.isocalendar()[0]))
    assert SPIKE_DAY.isoformat() not in text and "week" in text


def test_small_catchment_alert_is_not_sent_to_public(engine):
    _ingest(engine, sites_csv(population=4000), "sites.csv")
    _ingest(engine, history_csv(), "h.csv")
    store.add_subscription(engine, channel="email", target="allman@example.se",
                           created_by="admin", role="public")
    store.add_subscription(engine, channel="email", target="viewer@example.se",
                           created_by="admin", role="viewer")
    out = _ingest(engine, new_week_csv(), "w.csv")
    assert len(out.alerts) == 1
    assert [r["target"] for r in store.load_deliveries(engine)] == ["viewer@example.se"]


def test_failed_evaluation_keeps_the_upload_and_is_audited(site_with_history, monkeypatch):
    import wastewater.alerts as core

    def boom(*a, **k):
        raise RuntimeError("statistics bug")

    monkeypatch.setattr(core, "evaluate_upload", boom)
    out = _ingest(site_with_history, new_week_csv(), "w.csv")
    assert out.stored and out.alerts == ()
    with site_with_history.connect() as conn:
        actions = conn.execute(sa.select(t.audit_log.c.action, t.audit_log.c.detail_json)
                               .where(t.audit_log.c.action == "alert_evaluation_failed")).all()
    assert len(actions) == 1 and "statistics bug" in actions[0][1]


def test_acknowledge_and_dismiss_are_audited(site_with_history):
    engine = site_with_history
    out = _ingest(engine, new_week_csv(), "w.csv")
    aid = out.alerts[0]["alert_id"]
    ack = store.set_alert_status(engine, aid, "acknowledged", actor="coordinator",
                                 note="ringt labbet")
    assert ack["status"] == "acknowledged" and ack["status_by"] == "coordinator"
    store.set_alert_status(engine, aid, "dismissed", actor="analyst")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.audit_log.c.action, t.audit_log.c.actor,
                                      t.audit_log.c.detail_json)
                            .where(t.audit_log.c.target == f"alert/{aid}")
                            .order_by(t.audit_log.c.id)).all()
    assert [(r[0], r[1]) for r in rows] == [("alert_acknowledged", "coordinator"),
                                            ("alert_dismissed", "analyst")]
    assert json.loads(rows[1][2]) == {"old": "acknowledged", "new": "dismissed", "note": None}
    summary = store.alert_summary(engine, sites=[SITE], start=NEW_START,
                                  end=NEW_START + dt.timedelta(days=6), include_confidential=False)
    assert summary["n"] == 1 and summary["by_status"]["dismissed"] == 1
    with pytest.raises(ValueError):
        store.set_alert_status(engine, aid, "closed", actor="x")
