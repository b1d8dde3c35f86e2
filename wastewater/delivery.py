"""Delivery worker: drains the alert outbox by e-mail (SMTP) and signed webhooks.

``wastewater worker`` runs :func:`run_worker`. Each round it leases the due outbox rows
(:func:`wastewater.storage.alerts.claim_due`), sends each one and records the outcome:

- **sent** → ``status = sent``;
- **error** (connection refused, timeout, SMTP 4xx/5xx, HTTP status ≥ 300) → tried again after
  ``backoff_seconds · 2^(attempt−1)`` (capped at ``backoff_max_seconds``); after
  ``max_attempts`` the row is ``failed`` with the last error as its reason
  (``GET /api/v1/alerts/deliveries?status=failed``, admin only).

Delivery is **at least once**: a worker killed after the receiver got a message but before
it recorded ``sent`` sends it again when its lease runs out. Every message carries the same
idempotency key on every attempt (webhook header ``Idempotency-Key``, e-mail ``Message-ID``
and ``X-Wastewater-Idempotency-Key``), so a receiver that remembers keys sees it once.

Daily digest: a subscription with channel ``email_digest`` gets no message per alert but, once a
day after ``digest_hour_utc``, one e-mail listing the previous UTC day's alerts it may receive
(:func:`queue_due_digest` → :func:`wastewater.storage.alerts.queue_digests`; idempotency key
per subscription and day, so it is queued once however many workers run or restart).

Webhook requests are ``POST`` with a JSON body and the headers ``X-Wastewater-Timestamp``
(Unix seconds) and ``X-Wastewater-Signature: sha256=<hex>``, the HMAC-SHA256 of
``"<timestamp>." + body`` with the subscription's secret
(:func:`wastewater.alerts.sign_webhook`; verify with :func:`wastewater.alerts.verify_webhook`).
"""

from __future__ import annotations

import datetime as dt
import email.message
import email.utils
import json
import logging
import smtplib
import ssl
import threading
import time
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("wastewater.delivery")


class DeliverySettings(BaseSettings):
    """Settings of the delivery worker, from ``WASTEWATER_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="WASTEWATER_", extra="ignore")

    smtp_host: str = Field("localhost", description="SMTP server (WASTEWATER_SMTP_HOST).")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port (25, 587 STARTTLS, 465 TLS).")
    smtp_tls: Literal["none", "starttls", "tls"] = Field(
        "none", description="`none`, `starttls` (upgrade after connecting) or `tls` (implicit TLS).")
    smtp_user: str | None = Field(None, description="SMTP login, when the server needs one.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_timeout_seconds: float = Field(20.0, gt=0, description="Socket timeout [s].")
    mail_from: str = Field("avloppsvatten@localhost",
                           description="Sender address of alert e-mails (WASTEWATER_MAIL_FROM).")
    public_base_url: str = Field(
        "", description="Base URL of the service for links in messages, e.g. https://ww.example.se.")
    min_public_population: int = Field(
        10_000, ge=0, description="Smallest catchment [persons] whose alerts go to public subscribers "
        "(the same variable as the API's public rule).")
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="Webhook request timeout [s].")
    delivery_max_attempts: int = Field(8, ge=1, description="Attempts before a delivery is failed.")
    delivery_backoff_seconds: float = Field(30.0, gt=0, description="First retry delay [s]; doubles each time.")
    delivery_backoff_max_seconds: float = Field(3600.0, gt=0, description="Longest retry delay [s].")
    worker_poll_seconds: float = Field(5.0, gt=0, description="Pause between outbox polls [s].")
    worker_lease_seconds: float = Field(
        120.0, gt=0, description="How long a claimed delivery is reserved for one worker [s].")
    digest_hour_utc: int = Field(
        6, ge=0, le=23, description="Hour (UTC) from which the previous day's digest e-mails are "
        "queued (WASTEWATER_DIGEST_HOUR_UTC).")


class DeliveryError(Exception):
    """One attempt failed; the message says why (it becomes ``last_error``)."""


def send_email(row: dict[str, Any], cfg: DeliverySettings) -> None:
    """Send one outbox row as a plain-text e-mail (UTF-8)."""
    msg = email.message.EmailMessage()
    msg["From"] = cfg.mail_from
    msg["To"] = row["target"]
    msg["Subject"] = row["subject"]
    msg["Date"] = email.utils.formatdate(usegmt=True)
    domain = cfg.mail_from.rpartition("@")[2] or "localhost"
    msg["Message-ID"] = f"<{row['idempotency_key']}@{domain}>"
    msg["X-Wastewater-Idempotency-Key"] = row["idempotency_key"]
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(row["body_text"])
    try:
        if cfg.smtp_tls == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(cfg.smtp_host, cfg.smtp_port,
                                                    timeout=cfg.smtp_timeout_seconds,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.smtp_timeout_seconds)
        with client:
            if cfg.smtp_tls == "starttls":
                client.starttls(context=ssl.create_default_context())
            if cfg.smtp_user:
                password = cfg.smtp_password.get_secret_value() if cfg.smtp_password else ""
                client.login(cfg.smtp_user, password)
            client.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = "; ".join(f"{addr}: {code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
                          for addr, (code, text) in exc.recipients.items())
        raise DeliveryError(f"SMTP refused the recipient ({codes})") from exc
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) \
            else str(exc.smtp_error)
        raise DeliveryError(f"SMTP {exc.smtp_code} {text}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP {cfg.smtp_host}:{cfg.smtp_port}: {exc}") from exc


def send_webhook(row: dict[str, Any], cfg: DeliverySettings) -> None:
    """POST one outbox row's JSON body, signed with the subscription's secret (stdlib urllib)."""
    import urllib.error
    import urllib.request

    from wastewater.alerts import payload_bytes, sign_webhook

    body = payload_bytes(json.loads(row["body_json"]))
    ts = int(time.time())
    headers = {"Content-Type": "application/json; charset=utf-8",
               "Idempotency-Key": row["idempotency_key"],
               "X-Wastewater-Timestamp": str(ts),
               "X-Wastewater-Signature": sign_webhook(row["secret"] or "", ts, body),
               "User-Agent": "wastewater-alerts/1"}
    request = urllib.request.Request(row["target"], data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=cfg.webhook_timeout_seconds) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"webhook {row['target']}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"webhook {row['target']}: {type(reason).__name__}: {reason}") from exc
    if status >= 300:
        raise DeliveryError(f"webhook {row['target']}: HTTP {status}")


SENDERS = {"email": send_email, "webhook": send_webhook, "email_digest": send_email}


def digest_day_due(now: dt.datetime, digest_hour_utc: int) -> dt.date:
    """The UTC day whose digest is due at ``now``: yesterday from ``digest_hour_utc`` on,
    the day before yesterday until then.

    >>> digest_day_due(dt.datetime(2026, 12, 2, 6, 0, tzinfo=dt.timezone.utc), 6)
    datetime.date(2026, 12, 1)
    >>> digest_day_due(dt.datetime(2026, 12, 2, 5, 59, tzinfo=dt.timezone.utc), 6)
    datetime.date(2026, 11, 30)
    """
    shifted = now.astimezone(dt.UTC) - dt.timedelta(hours=digest_hour_utc)
    return shifted.date() - dt.timedelta(days=1)


def queue_due_digest(engine: Any, cfg: DeliverySettings | None = None, *,
                     now: dt.datetime | None = None) -> int:
    """Queue the digests of the day due at ``now`` (default: the clock; idempotent). The rows
    are due at once; returns how many were queued.
    """
    from wastewater.storage import alerts as store

    cfg = cfg or DeliverySettings()
    now = now or dt.datetime.now(dt.UTC)
    return store.queue_digests(engine, digest_day_due(now, cfg.digest_hour_utc))


def deliver_once(engine: Any, cfg: DeliverySettings | None = None, *, limit: int = 20
                 ) -> dict[str, int]:
    """One round: claim due deliveries, send each, record the outcome.

    Returns counts ``{"sent": n, "retry": n, "failed": n}``.
    """
    from wastewater.storage import alerts as store

    cfg = cfg or DeliverySettings()
    counts = {"sent": 0, "retry": 0, "failed": 0}
    for row in store.claim_due(engine, limit=limit, lease_seconds=cfg.worker_lease_seconds):
        try:
            SENDERS[row["channel"]](row, cfg)
        except DeliveryError as exc:
            status = store.mark_retry(engine, row["delivery_id"], str(exc),
                                      attempts_done=row["attempts"],
                                      max_attempts=cfg.delivery_max_attempts,
                                      backoff_seconds=cfg.delivery_backoff_seconds,
                                      backoff_max_seconds=cfg.delivery_backoff_max_seconds)
            counts["failed" if status == "failed" else "retry"] += 1
            log.warning("delivery %s to %s: %s (%s)", row["delivery_id"], row["target"], exc,
                        status)
            continue
        store.mark_sent(engine, row["delivery_id"])
        counts["sent"] += 1
        log.info("delivery %s sent to %s", row["delivery_id"], row["target"])
    return counts


def run_worker(engine: Any, cfg: DeliverySettings | None = None, *,
               stop: threading.Event | None = None, once: bool = False) -> dict[str, int]:
    """Drain the outbox until ``stop`` is set (or after one round with ``once``)."""
    cfg = cfg or DeliverySettings()
    stop = stop or threading.Event()
    total = {"sent": 0, "retry": 0, "failed": 0}
    digest_done: dt.date | None = None
    while True:
        try:
            due = digest_day_due(dt.datetime.now(dt.UTC), cfg.digest_hour_utc)
            if due != digest_done:
                queue_due_digest(engine, cfg)
                digest_done = due
            counts = deliver_once(engine, cfg)
        except Exception as exc:  # noqa: BLE001 - database down: keep polling, log it
            log.error("outbox round failed: %s", exc)
            counts = {}
        for k, v in counts.items():
            total[k] += v
        if once or stop.wait(0 if counts.get("sent") else cfg.worker_poll_seconds):
            return total
