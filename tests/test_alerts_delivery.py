"""Delivery of alerts against real peers: an aiosmtpd SMTP server and an HTTP receiver started
on 127.0.0.1 by the test, the worker in-process or as the real ``wastewater worker`` process.

At-least-once with an idempotency key: a worker killed after the receiver got a webhook but
before it recorded ``sent`` sends it once more after its lease ran out. The tests count those
repeats (the receiver sees the same ``Idempotency-Key`` twice) instead of pretending they
cannot happen; docs/operations.md §8 documents them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest
import sqlalchemy as sa

from tests.alert_fixtures import SPIKE_DAY, history_csv, new_week_csv, sites_csv
from tests.alert_peers import HOOK_SECRET, SMTP_PORT, HookReceiver, SmtpServer, wait_for
from wastewater.delivery import DeliverySettings, deliver_once, run_worker
from wastewater.storage import alerts as store
from wastewater.storage import tables as t
from wastewater.storage.service import ingest_bytes


def _cfg(**kw) -> DeliverySettings:
    base = {"smtp_host": "127.0.0.1", "smtp_port": SMTP_PORT, "smtp_tls": "none",
            "mail_from": "larm@avlopp.example.se", "delivery_backoff_seconds": 0.2,
            "delivery_backoff_max_seconds": 1.0, "worker_poll_seconds": 0.1,
            "worker_lease_seconds": 2.0, "public_base_url": "https://ww.example.se"}
    return DeliverySettings(**{**base, **kw})


@pytest.fixture
def site(engine, monkeypatch):
    # read by the ingest transaction when it renders the queued messages (links)
    monkeypatch.setenv("WASTEWATER_PUBLIC_BASE_URL", "https://ww.example.se")
    for name, data in (("sites.csv", sites_csv()), ("history.csv", history_csv())):
        assert ingest_bytes(engine, data, filename=name, uploader="lab").stored
    return engine


def _upload_unusual_week(engine):
    out = ingest_bytes(engine, new_week_csv(), filename="week.csv", uploader="lab")
    assert out.stored and [a["kind"] for a in out.alerts] == ["unusually_high"]
    return out


def _status(engine) -> list[tuple]:
    o = t.alert_outbox.c
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(o.channel, o.status, o.attempts)
                                               .order_by(o.delivery_id))]


def test_one_email_and_one_signed_webhook_per_subscriber_and_none_on_reupload(site):
    engine = site
    store.add_subscription(engine, channel="email", target="samordnare@kommun.example.se",
                           role="viewer", lang="sv", created_by="admin")
    store.add_subscription(engine, channel="email", target="lab@lab.example.com",
                           role="viewer", lang="en", created_by="admin")
    store.add_subscription(engine, channel="webhook", target="http://127.0.0.1:8193/hooks/wastewater",
                           secret=HOOK_SECRET, role="analyst", lang="en", created_by="admin")
    with SmtpServer() as smtp, HookReceiver() as hook:
        out = _upload_unusual_week(engine)
        assert deliver_once(engine, _cfg()) == {"sent": 3, "retry": 0, "failed": 0}
        assert sorted(m["To"] for m in smtp.messages) == ["lab@lab.example.com",
                                                          "samordnare@kommun.example.se"]
        sv = next(m for m in smtp.messages if m["To"].endswith("kommun.example.se"))
        en = next(m for m in smtp.messages if m["To"].endswith("lab.example.com"))
        assert sv["Subject"].startswith("Larm: ovanligt högt värde – amphetamine vid SE-KAT-ROS")
        assert en["Subject"].startswith("Alert: unusually high – amphetamine at SE-KAT-ROS")
        assert SPIKE_DAY.isoformat() in sv["Subject"]
        sv_text = sv.get_content()
        assert "gånger medianen för samma veckodag" in sv_text
        assert "https://ww.example.se/dashboard/alerts?site=SE-KAT-ROS&lang=sv" in sv_text
        assert "times the median of the same weekday" in en.get_content()
        assert sv["Message-ID"] != en["Message-ID"]
        assert [r["signature_ok"] for r in hook.requests] == [True]
        body = hook.requests[0]["json"]
        assert body["alert_id"] == out.alerts[0]["alert_id"] and body["date"] == SPIKE_DAY.isoformat()
        assert body["upload_id"] == out.upload_id and body["statistics"]["n_history"] == 8
        assert body["idempotency_key"] == hook.requests[0]["key"]

        again = ingest_bytes(engine, new_week_csv(), filename="week.csv", uploader="lab")
        assert again.duplicate
        assert deliver_once(engine, _cfg()) == {"sent": 0, "retry": 0, "failed": 0}
        assert len(smtp.messages) == 2 and len(hook.requests) == 1
    assert _status(engine) == [("email", "sent", 1), ("email", "sent", 1), ("webhook", "sent", 1)]


def test_receiver_down_is_retried_until_it_is_back_then_delivered_once(site):
    engine = site
    store.add_subscription(engine, channel="webhook", target="http://127.0.0.1:8193/hooks/wastewater",
                           secret=HOOK_SECRET, role="viewer", created_by="admin")
    _upload_unusual_week(engine)
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(engine, _cfg()), kwargs={"stop": stop})
    worker.start()
    try:
        # nothing listens on 8193 yet: connection refused, retried with back-off
        assert wait_for(lambda: _status(engine)[0][2] >= 3, timeout=30)
        o = t.alert_outbox.c
        with engine.connect() as conn:
            status, err = conn.execute(sa.select(o.status, o.last_error)).one()
        assert status == "pending" and "ConnectionRefusedError" in err
        with HookReceiver() as hook:
            assert wait_for(lambda: _status(engine)[0][1] == "sent", timeout=30)
            assert wait_for(lambda: len(hook.requests) >= 1, timeout=5)
            stop.wait(1.0)  # a few more polls: nothing is sent again
            assert len(hook.requests) == 1 and hook.requests[0]["signature_ok"]
    finally:
        stop.set()
        worker.join(10)
    assert _status(engine)[0][2] >= 4  # ≥ 3 failed attempts + the successful one


def _worker_process(engine, **env) -> subprocess.Popen:
    url = engine.url.render_as_string(hide_password=False)
    full = {**os.environ, "WASTEWATER_DATABASE_URL": url, "WASTEWATER_WORKER_POLL_SECONDS": "0.2",
            "WASTEWATER_WORKER_LEASE_SECONDS": "3", "WASTEWATER_DELIVERY_BACKOFF_SECONDS": "0.2",
            "WASTEWATER_SMTP_HOST": "127.0.0.1", "WASTEWATER_SMTP_PORT": str(SMTP_PORT), **env}
    return subprocess.Popen([sys.executable, "-m", "wastewater.cli", "worker"], env=full,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_worker_killed_mid_delivery_delivers_once_after_restart(site):
    engine = site
    store.add_subscription(engine, channel="webhook", target="http://127.0.0.1:8193/hooks/wastewater",
                           secret=HOOK_SECRET, role="viewer", created_by="admin")
    _upload_unusual_week(engine)
    with HookReceiver(hold_first_seconds=4.0) as hook:
        proc = _worker_process(engine)
        try:
            assert hook.first_arrived.wait(60), proc.stderr.read().decode() if proc.poll() else ""
            os.kill(proc.pid, signal.SIGKILL)  # the receiver holds the request: mid-delivery
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert _status(engine) == [("webhook", "pending", 0)]  # not recorded as sent
        restarted = _worker_process(engine)
        try:
            assert wait_for(lambda: _status(engine)[0][1] == "sent", timeout=60)
        finally:
            restarted.send_signal(signal.SIGTERM)
            restarted.wait(20)
        assert restarted.returncode == 0
    # at least once: the receiver saw the request twice with the same idempotency key
    assert len(hook.requests) == 2 and len(hook.unique_keys) == 1
    assert all(r["signature_ok"] for r in hook.requests)
    assert _status(engine) == [("webhook", "sent", 1)]


def test_smtp_refusing_is_retried_then_failed_with_the_reason(site):
    engine = site
    store.add_subscription(engine, channel="email", target="finns-inte@kommun.example.se",
                           role="viewer", created_by="admin")
    _upload_unusual_week(engine)
    cfg = _cfg(delivery_max_attempts=3, delivery_backoff_seconds=0.1)
    with SmtpServer(refuse=True) as smtp:
        seen = []
        assert wait_for(lambda: seen.append(deliver_once(engine, cfg)) or
                        _status(engine)[0][1] == "failed", timeout=30, step=0.15)
        assert smtp.rcpt_attempts == 3 and smtp.messages == []
    assert sum(c["retry"] for c in seen) == 2 and sum(c["failed"] for c in seen) == 1
    failed = store.load_deliveries(engine, status="failed")
    assert len(failed) == 1 and failed[0]["attempts"] == 3
    assert "SMTP refused the recipient" in failed[0]["last_error"]
    assert "550 5.1.1 mailbox unavailable" in failed[0]["last_error"]
