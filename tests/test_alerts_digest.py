"""Daily digest e-mails (channel ``email_digest``) against a real aiosmtpd server on 127.0.0.1:
one e-mail per digest subscriber and day listing what its role may see, none on a day without
alerts, none twice, and no per-alert message to a digest subscriber."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from tests.alert_fixtures import SPIKE_DAY, history_csv, new_week_csv, sites_csv
from tests.alert_peers import SMTP_PORT, SmtpServer
from wastewater.delivery import DeliverySettings, deliver_once, digest_day_due, queue_due_digest
from wastewater.storage import alerts as store
from wastewater.storage import tables as t
from wastewater.storage.service import ingest_bytes


def _cfg() -> DeliverySettings:
    return DeliverySettings(smtp_host="127.0.0.1", smtp_port=SMTP_PORT, smtp_tls="none",
                            mail_from="larm@avlopp.example.se", digest_hour_utc=6,
                            public_base_url="https://ww.example.se")


def _outbox(engine) -> list[tuple]:
    o = t.alert_outbox.c
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(o.channel, o.target, o.status)
                                               .order_by(o.delivery_id))]


def test_one_digest_per_subscriber_and_day_with_what_its_role_may_see(engine, monkeypatch):
    monkeypatch.setenv("WASTEWATER_PUBLIC_BASE_URL", "https://ww.example.se")
    for name, data in (("sites.csv", sites_csv()), ("history.csv", history_csv())):
        assert ingest_bytes(engine, data, filename=name, uploader="lab").stored
    store.add_subscription(engine, channel="email_digest", target="samordnare@kommun.example.se",
                           role="viewer", lang="sv", created_by="admin")
    store.add_subscription(engine, channel="email_digest", target="press@tidning.example.com",
                           role="public", lang="en", created_by="admin")
    store.add_subscription(engine, channel="email_digest", target="metod@lab.example.com",
                           role="viewer", lang="en", kinds=["method_change"], created_by="admin")
    store.add_subscription(engine, channel="email", target="direkt@kommun.example.se",
                           role="viewer", lang="sv", created_by="admin")
    out = ingest_bytes(engine, new_week_csv(), filename="week.csv", uploader="lab")
    assert [a["kind"] for a in out.alerts] == ["unusually_high"]
    # the upload queues only the per-alert e-mail; digests wait for their hour
    assert _outbox(engine) == [("email", "direkt@kommun.example.se", "pending")]

    raised = dt.datetime.fromisoformat(out.alerts[0]["created_at"]).astimezone(dt.UTC).date()
    before_hour = dt.datetime.combine(raised + dt.timedelta(days=1), dt.time(5, 59), dt.UTC)
    after_hour = before_hour + dt.timedelta(minutes=1)
    assert digest_day_due(before_hour, 6) == raised - dt.timedelta(days=1)
    assert queue_due_digest(engine, _cfg(), now=before_hour) == 0  # that day had no alerts
    assert queue_due_digest(engine, _cfg(), now=after_hour) == 2   # viewer sv + public en
    assert queue_due_digest(engine, _cfg(), now=after_hour + dt.timedelta(hours=3)) == 0

    with SmtpServer() as smtp:
        assert deliver_once(engine, _cfg()) == {"sent": 3, "retry": 0, "failed": 0}
        assert deliver_once(engine, _cfg()) == {"sent": 0, "retry": 0, "failed": 0}
        by_to = {m["To"]: m for m in smtp.messages}
    assert sorted(by_to) == ["direkt@kommun.example.se", "press@tidning.example.com",
                             "samordnare@kommun.example.se"]
    day = raised.isoformat()
    sv = by_to["samordnare@kommun.example.se"]
    assert sv["Subject"] == f"Larm {day}: 1 nytt larm"
    text = sv.get_content()
    assert f"ovanligt högt värde – amphetamine vid SE-KAT-ROS ({SPIKE_DAY.isoformat()})" in text
    assert "gånger medianen för samma veckodag" in text
    assert "https://ww.example.se/dashboard/alerts?lang=sv" in text
    assert sv["X-Wastewater-Idempotency-Key"]
    en = by_to["press@tidning.example.com"]
    assert en["Subject"] == f"Alerts {day}: 1 new alert"
    public_text = en.get_content()
    y, w, _ = SPIKE_DAY.isocalendar()
    assert f"unusually high – amphetamine at SE-KAT-ROS (week {y}-W{w:02d})" in public_text
    assert SPIKE_DAY.isoformat() not in public_text and "times the median" not in public_text
    assert [c for c, _, s in _outbox(engine) if s != "sent"] == []
    assert sorted(c for c, _, _ in _outbox(engine)) == ["email", "email_digest", "email_digest"]
