"""Alert store, subscriptions and the delivery outbox (tables ``alerts``, ``alert_subscriptions``,
``alert_outbox``).

:func:`record_upload_alerts` is the one call the ingest transaction makes
(:func:`wastewater.storage.service.store_parsed`): on the transaction's own connection it finds
the days the upload added or changed, runs :func:`wastewater.alerts.evaluate_upload` on each
touched site × analyte, stores every new alert (an alert's ``fingerprint`` is unique, so the
same finding is stored once) and writes one outbox row per alert and subscriber that may
receive it. Everything commits or rolls back with the upload: an alert never exists without its
upload, and a queued delivery never without its alert.

The delivery worker (:mod:`wastewater.delivery`) drains the outbox with :func:`claim_due`,
:func:`mark_sent` and :func:`mark_retry`; deliveries are at least once, each with a stable
``idempotency_key`` the receiver can use to drop a repeat.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any, overload

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from wastewater.access import Principal, PublicRule, alert_receivable
from wastewater.storage import tables as t
from wastewater.storage.database import connect, write_transaction

#: Days of history read before an upload's first day (covers every check's window).
HISTORY_DAYS = 70


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@overload
def _aware(value: dt.datetime) -> dt.datetime: ...
@overload
def _aware(value: None) -> None: ...
def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


# --------------------------------------------------------------------------- evaluation on upload


def _touched(conn: Connection, kind: str, upload_id: int) -> dict[tuple[str, str], set[dt.date]]:
    """(site, analyte) → days whose value this upload inserted (new or superseding rows)."""
    out: dict[tuple[str, str], set[dt.date]] = {}
    r = t.results.c
    if kind == "results":
        rows = conn.execute(sa.select(r.site, r.analyte, r.sample_date).distinct()
                            .where(r.upload_id == upload_id, r.sample_role == "sample"))
        for site, analyte, day in rows:
            out.setdefault((site, analyte), set()).add(day)
    elif kind == "flows":
        f = t.flows.c
        flow_days = sa.select(f.site, f.date).where(f.upload_id == upload_id).subquery()
        rows = conn.execute(
            sa.select(r.site, r.analyte, r.sample_date).distinct()
            .join(flow_days, sa.and_(flow_days.c.site == r.site,
                                     flow_days.c.date == r.sample_date))
            .where(r.is_current.is_(True), r.sample_role == "sample"))
        for site, analyte, day in rows:
            out.setdefault((site, analyte), set()).add(day)
    elif kind == "events":
        e = t.events.c
        evs = conn.execute(sa.select(e.start_date, e.end_date, e.sites_json, e.substances_json)
                           .where(e.upload_id == upload_id, e.kind == "operation")).all()
        for start, end, sites_json, subs_json in evs:
            sites = json.loads(sites_json or "[]")
            subs = json.loads(subs_json or "[]")
            q = (sa.select(r.site, r.analyte, r.sample_date).distinct()
                 .where(r.is_current.is_(True), r.sample_role == "sample",
                        r.sample_date >= start,
                        r.sample_date <= end + dt.timedelta(days=3)))
            if sites:
                q = q.where(r.site.in_(sites))
            if subs:
                q = q.where(r.analyte.in_(subs))
            for site, analyte, day in conn.execute(q):
                out.setdefault((site, analyte), set()).add(day)
    return out


def _touched_in_memory(days: pd.DataFrame, oldest: dt.date | None
                       ) -> dict[tuple[str, str], set[dt.date]]:
    """:func:`_touched` of a results upload from its inserted rows (``site, analyte,
    sample_date``), days before ``oldest`` dropped column-wise before any date object is made.
    """
    if oldest is not None and len(days):
        days = days[days["sample_date"].to_numpy() >= pd.Timestamp(oldest).to_datetime64()]
    out: dict[tuple[str, str], set[dt.date]] = {}
    for (site, analyte), group in days.groupby(["site", "analyte"], sort=False):
        out[(str(site), str(analyte))] = {ts.date() for ts in pd.to_datetime(group["sample_date"])}
    return out


def record_upload_alerts(conn: Connection, *, kind: str, upload_id: int, now: dt.datetime,
                         today: dt.date | None = None, settings: Any = None,
                         touched_days: pd.DataFrame | None = None,
                         notes: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Evaluate, store and queue the alerts of one upload, inside its transaction.

    Parameters
    ----------
    conn : Connection
        The ingest transaction (sees the upload's rows before they are committed).
    kind : {"results", "flows", "events", "sites"}
        Upload kind; ``sites`` uploads raise no alert.
    upload_id : int
    now : datetime
        Stored as ``created_at`` of alerts and outbox rows.
    today : date, optional
        Upload date (default ``now``'s date); days older than ``settings.max_age_days``
        before it are not evaluated.
    settings : wastewater.alerts.AlertSettings, optional
    touched_days : pandas.DataFrame, optional
        Distinct ``site, analyte, sample_date`` of the sample rows the upload inserted, when
        the caller has them in memory (the ingest of a results upload); otherwise they are
        read back by the upload's id.
    notes : list, optional
        Receives the :class:`wastewater.alerts.AlertNote` dicts (checks a marked method change
        left without enough new-method history), for the upload's answer.

    Returns
    -------
    list of dict
        The alerts stored by this call (:func:`alert_row_dict` form), in site, analyte, date
        order. Alerts whose fingerprint was already stored are not returned again.
    """
    from wastewater.alerts import AlertSettings, evaluate_upload, reason_texts
    from wastewater.readers import method_change_dates, method_labels
    from wastewater.storage import repository as repo
    from wastewater.timeseries import build_dataset, site_series

    settings = settings or AlertSettings()
    oldest = None if settings.max_age_days is None else (
        (today or now.date()) - dt.timedelta(days=settings.max_age_days))
    if touched_days is not None:
        touched = _touched_in_memory(touched_days, oldest)
    else:
        touched = _touched(conn, kind, upload_id)
    if oldest is not None:
        touched = {k: {d for d in v if d >= oldest} for k, v in touched.items()}
        touched = {k: v for k, v in touched.items() if v}
    if not touched:
        return []
    by_site: dict[str, dict[str, set[dt.date]]] = {}
    for (site, analyte), days in touched.items():
        by_site.setdefault(site, {})[analyte] = days
    event_frame = repo.load_events(conn)
    events = event_frame.to_dict("records")
    stored: list[dict[str, Any]] = []
    for site, analytes in sorted(by_site.items()):
        first = min(min(d) for d in analytes.values())
        last = max(max(d) for d in analytes.values())
        start = first - dt.timedelta(days=HISTORY_DAYS)
        wanted = sorted(set(analytes) | _pair_analytes(analytes))
        results = repo.load_results(conn, sites=[site], analytes=wanted, start=start, end=last)
        if results.empty:
            continue
        flows = repo.load_flows(conn, sites=[site], start=start, end=last)
        pops = repo.load_populations(conn, sites=[site])
        ds = build_dataset(results, flows, pops, loq_method="loq_half")
        site_events = [e for e in events if not e["sites"] or site in e["sites"]]
        marked = method_change_dates(event_frame, site=site, analytes=list(analytes))
        labels = method_labels(results)
        for analyte, days in sorted(analytes.items()):
            if analyte not in ds["analyte"].values:
                continue
            variable = "load_mg_per_day_per_1000"
            series, cens = site_series(ds, site, analyte, variable)
            if series.reindex(pd.DatetimeIndex(sorted(days))).notna().sum() == 0:
                variable = "concentration_ng_per_l"
                series, cens = site_series(ds, site, analyte, variable)
            ratio = _ratio_pair(ds, site, analyte, variable)
            found = evaluate_upload(series, days, site=site, analyte=analyte, censored=cens,
                                    variable=variable, events=site_events,
                                    method_changes=marked.get(analyte),
                                    method_labels=labels.get(analyte),
                                    shift_test=kind == "results", ratio_pair=ratio,
                                    settings=settings)
            if notes is not None:
                notes.extend(n.to_dict() for n in found.notes)
            for cand in found.alerts:
                sv, en = reason_texts(cand)
                row = _insert_alert(conn, cand, upload_id=upload_id, now=now, reason_sv=sv,
                                    reason_en=en)
                if row is not None:
                    stored.append(row)
    if stored:
        queue_deliveries(conn, stored, now=now)
    return stored


#: parent/metabolite pairs for the ratio part of the dumping check
PARENT_METABOLITE = {"cocaine": ("cocaine", "benzoylecgonine"),
                     "benzoylecgonine": ("cocaine", "benzoylecgonine"),
                     "methadone": ("methadone", "eddp"), "eddp": ("methadone", "eddp")}


def _pair_analytes(analytes: Iterable[str]) -> set[str]:
    return {a for x in analytes for a in PARENT_METABOLITE.get(x, ())}


def _ratio_pair(ds: Any, site: str, analyte: str,
                variable: str) -> tuple[pd.Series, pd.Series, str, str] | None:
    from wastewater.timeseries import site_series

    pair = PARENT_METABOLITE.get(analyte)
    names = set(ds["analyte"].values.tolist())
    if not pair or not set(pair) <= names:
        return None
    parent, _ = site_series(ds, site, pair[0], variable)
    metabolite, _ = site_series(ds, site, pair[1], variable)
    if parent.notna().sum() < 14 or metabolite.notna().sum() < 14:
        return None
    return parent, metabolite, pair[0], pair[1]


def _insert_alert(conn: Connection, cand: Any, *, upload_id: int, now: dt.datetime,
                  reason_sv: str, reason_en: str) -> dict[str, Any] | None:
    a = t.alerts.c
    fp = cand.fingerprint
    if conn.execute(sa.select(a.alert_id).where(a.fingerprint == fp)).first() is not None:
        return None
    values = {
        "fingerprint": fp, "kind": cand.kind, "site": cand.site, "analyte": cand.analyte,
        "sample_date": dt.date.fromisoformat(cand.date), "variable": cand.variable,
        "value": cand.value, "upload_id": upload_id, "event_id": cand.event_id,
        "confidential": bool(cand.confidential), "reason_sv": reason_sv, "reason_en": reason_en,
        "statistics_json": json.dumps(cand.statistics, sort_keys=True, default=str),
        "status": "open", "created_at": now,
    }
    alert_id = conn.execute(t.alerts.insert().returning(a.alert_id), values).scalar_one()
    return alert_row_dict({**values, "alert_id": alert_id})


def alert_row_dict(row: Any) -> dict[str, Any]:
    """A stored alert as a JSON-safe dict (``date`` ISO, ``statistics`` parsed)."""
    m = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    day = m.pop("sample_date")
    stats = m.pop("statistics_json", "{}")
    out = {**m, "date": day.isoformat() if hasattr(day, "isoformat") else str(day),
           "statistics": json.loads(stats) if isinstance(stats, str) else stats}
    for k in ("created_at", "status_at"):
        v = _aware(out.get(k))
        out[k] = v.isoformat() if v is not None else None
    out["confidential"] = bool(out.get("confidential"))
    return out


# --------------------------------------------------------------------------- subscriptions


def _site_populations(conn: Connection, sites: Iterable[str]) -> dict[str, int | None]:
    from wastewater.storage import repository as repo

    frame = repo.load_sites(conn)
    pops = {r["site"]: (None if pd.isna(r["population"]) else int(r["population"]))
            for r in frame.to_dict("records")}
    return {s: pops.get(s) for s in sites}


def _subscriber_role(conn: Connection, sub: Any) -> tuple[str, frozenset[str] | None] | None:
    """Role and site scope a subscription receives as; ``None`` if its key was revoked."""
    scope = frozenset(json.loads(sub.sites_json or "[]")) or None
    if sub.key_id is None:
        return sub.role, scope
    k = t.api_keys.c
    key = conn.execute(sa.select(k.role, k.sites_json, k.revoked_at)
                       .where(k.key_id == sub.key_id)).first()
    if key is None or key.revoked_at is not None:
        return None
    key_scope = frozenset(json.loads(key.sites_json or "[]")) or None
    if key_scope is not None:
        scope = key_scope if scope is None else scope & key_scope
    return key.role, scope


def _receivable(conn: Connection, sub: Any, alerts: Sequence[dict[str, Any]],
                pops: dict[str, int | None], *, min_population: int,
                ) -> tuple[str, list[dict[str, Any]]] | None:
    """The role a subscription receives as and those of ``alerts`` it may receive: its kinds,
    then :func:`wastewater.access.alert_receivable` for the :class:`Principal` it stands for.
    ``None`` when its key is revoked or gone.
    """
    who = _subscriber_role(conn, sub)
    if who is None:
        return None
    role, scope = who
    receiver = Principal(name=f"alert_subscription/{sub.subscription_id}", role=role, sites=scope,
                         key_id=sub.key_id)
    kinds = set(json.loads(sub.kinds_json or "[]"))
    rule = PublicRule(min_population=min_population)
    return role, [x for x in alerts if (not kinds or x["kind"] in kinds)
                  and alert_receivable(receiver, x, site_population=pops.get(x["site"]), rule=rule)]


def _delivery_defaults(min_public_population: int | None, link_base: str | None) -> tuple[int, str]:
    """The public-population floor and the link base of messages: the arguments, else the settings."""
    from wastewater.delivery import DeliverySettings

    cfg = DeliverySettings()
    min_pop = cfg.min_public_population if min_public_population is None else min_public_population
    return min_pop, (link_base if link_base is not None else cfg.public_base_url).rstrip("/")


def queue_deliveries(conn: Connection, alerts: Sequence[dict[str, Any]], *,
                     now: dt.datetime, min_public_population: int | None = None,
                     link_base: str | None = None) -> int:
    """Write one outbox row per alert × active subscription allowed to receive it.

    The message is rendered now, in the subscriber's language and for its role
    (:func:`wastewater.alerts.render_alert`), so what is sent is exactly what the access
    policy allowed when the alert was raised. Returns the number of rows written.
    """
    from wastewater.alerts import render_alert

    min_pop, base = _delivery_defaults(min_public_population, link_base)
    s = t.alert_subscriptions.c
    subs = conn.execute(sa.select(t.alert_subscriptions).where(
        s.active.is_(True), s.channel != "email_digest").order_by(s.subscription_id)).all()
    if not subs:
        return 0
    pops = _site_populations(conn, {a["site"] for a in alerts})
    rows = []
    for sub in subs:
        got = _receivable(conn, sub, alerts, pops, min_population=min_pop)
        if got is None:
            continue
        role, mine = got
        for alert in mine:
            link = (f"{base}/dashboard/alerts?site={alert['site']}&lang={sub.lang}"
                    if base else None)
            msg = render_alert(alert, lang=sub.lang, role=role, link=link)
            key = hashlib.sha256(
                f"{alert['fingerprint']}|{sub.subscription_id}".encode()).hexdigest()
            rows.append({"alert_id": alert["alert_id"], "subscription_id": sub.subscription_id,
                         "channel": sub.channel, "target": sub.target, "idempotency_key": key,
                         "subject": msg["subject"], "body_text": msg["text"],
                         "body_json": json.dumps({**msg["json"], "idempotency_key": key},
                                                 sort_keys=True, ensure_ascii=False, default=str),
                         "status": "pending", "attempts": 0, "next_attempt_at": now,
                         "created_at": now})
    if rows:
        conn.execute(t.alert_outbox.insert(), rows)
    return len(rows)


def _digest_day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def queue_digests(engine: Engine, day: dt.date, *, now: dt.datetime | None = None,
                  min_public_population: int | None = None,
                  link_base: str | None = None) -> int:
    """Queue the daily digest of ``day`` (UTC) for every active ``email_digest`` subscription.

    A digest lists every alert *raised* that day (``created_at``) that the subscription may
    receive (:func:`wastewater.access.alert_receivable`, its kinds and sites), rendered
    for its role and language (:func:`wastewater.alerts.render_digest`); no alert, no e-mail.
    It goes through the outbox like any delivery (retries, at least once) with the idempotency
    key ``sha256("digest|<subscription>|<day>")``, so queueing the same day again (a second
    worker, a restart) adds nothing. The outbox row's ``alert_id`` is the newest alert it lists.
    Returns the number of digests queued.
    """
    from wastewater.alerts import render_digest

    min_pop, base = _delivery_defaults(min_public_population, link_base)
    now = now or _utcnow()
    start, end = _digest_day_bounds(day)
    s, a, o = t.alert_subscriptions.c, t.alerts.c, t.alert_outbox.c
    queued = 0
    with write_transaction(engine) as conn:
        subs = conn.execute(sa.select(t.alert_subscriptions).where(
            s.active.is_(True), s.channel == "email_digest").order_by(s.subscription_id)).all()
        if not subs:
            return 0
        alerts = [alert_row_dict(r) for r in conn.execute(
            sa.select(t.alerts).where(a.created_at >= start, a.created_at < end)
            .order_by(a.alert_id))]
        if not alerts:
            return 0
        pops = _site_populations(conn, {x["site"] for x in alerts})
        for sub in subs:
            key = hashlib.sha256(f"digest|{sub.subscription_id}|{day.isoformat()}".encode()).hexdigest()
            if conn.execute(sa.select(o.delivery_id).where(o.idempotency_key == key)).first():
                continue
            got = _receivable(conn, sub, alerts, pops, min_population=min_pop)
            if got is None or not got[1]:
                continue
            role, mine = got
            link = f"{base}/dashboard/alerts?lang={sub.lang}" if base else None
            msg = render_digest(mine, day=day.isoformat(), lang=sub.lang, role=role, link=link)
            conn.execute(t.alert_outbox.insert(), {
                "alert_id": max(x["alert_id"] for x in mine),
                "subscription_id": sub.subscription_id, "channel": sub.channel,
                "target": sub.target, "idempotency_key": key, "subject": msg["subject"],
                "body_text": msg["text"],
                "body_json": json.dumps({**msg["json"], "idempotency_key": key}, sort_keys=True,
                                        ensure_ascii=False, default=str),
                "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now})
            queued += 1
    return queued


def add_subscription(engine: Engine, *, channel: str, target: str, created_by: str,
                     role: str = "public", key_id: str | None = None, secret: str | None = None,
                     sites: Iterable[str] | None = None, kinds: Iterable[str] | None = None,
                     lang: str = "sv") -> int:
    """Store a subscription (audited) and return its id.

    A subscription tied to ``key_id`` receives as that key's role and site scope (and stops
    when the key is revoked); one without a key receives as ``role`` (default ``public``).
    """
    from wastewater.alerts import ALERT_KINDS

    if channel not in t.CHANNELS:
        raise ValueError(f"channel={channel!r}; expected one of {', '.join(t.CHANNELS)}")
    if channel == "webhook" and not secret:
        raise ValueError("a webhook subscription needs a secret (its requests are signed with it)")
    if channel == "webhook" and not target.startswith(("http://", "https://")):
        raise ValueError(f"webhook target {target!r} must be an http(s) URL")
    if channel in ("email", "email_digest") and "@" not in target:
        raise ValueError(f"e-mail target {target!r} is not an address")
    kinds = sorted(set(kinds or ()))
    bad = [k for k in kinds if k not in ALERT_KINDS]
    if bad:
        raise ValueError(f"unknown alert kind(s) {bad}; expected some of {', '.join(ALERT_KINDS)}")
    if lang not in ("sv", "en"):
        raise ValueError(f"lang={lang!r}; expected 'sv' or 'en'")
    now = _utcnow()
    with write_transaction(engine) as conn:
        sid = conn.execute(t.alert_subscriptions.insert().returning(
            t.alert_subscriptions.c.subscription_id), {
            "channel": channel, "target": target, "secret": secret, "key_id": key_id,
            "role": role, "sites_json": json.dumps(sorted(set(sites or ()))),
            "kinds_json": json.dumps(kinds), "lang": lang, "active": True, "created_at": now,
            "created_by": created_by}).scalar_one()
        conn.execute(t.audit_log.insert(), {
            "at": now, "actor": created_by, "action": "alert_subscription_created",
            "target": f"alert_subscription/{sid}",
            "detail_json": json.dumps({"channel": channel, "target": target, "role": role,
                                       "key_id": key_id, "kinds": kinds, "lang": lang})})
    return int(sid)


def list_subscriptions(engine: Engine, *, key_id: str | None = None) -> list[dict[str, Any]]:
    """Subscriptions (without their secrets), optionally only those of one key."""
    s = t.alert_subscriptions.c
    q = sa.select(*[c for c in t.alert_subscriptions.c if c.name != "secret"]).order_by(
        s.subscription_id)
    if key_id is not None:
        q = q.where(s.key_id == key_id)
    with connect(engine) as conn:
        out = []
        for r in conn.execute(q):
            m = dict(r._mapping)
            m["sites"] = json.loads(m.pop("sites_json") or "[]")
            m["kinds"] = json.loads(m.pop("kinds_json") or "[]")
            m["created_at"] = _aware(m["created_at"]).isoformat()
            out.append(m)
    return out


def deactivate_subscription(engine: Engine, subscription_id: int, *, actor: str) -> bool:
    """Stop a subscription (kept for the outbox history); audited. False if unknown."""
    now = _utcnow()
    s = t.alert_subscriptions.c
    with write_transaction(engine) as conn:
        n = conn.execute(t.alert_subscriptions.update().where(
            s.subscription_id == subscription_id).values(active=False)).rowcount
        if n:
            conn.execute(t.audit_log.insert(), {
                "at": now, "actor": actor, "action": "alert_subscription_stopped",
                "target": f"alert_subscription/{subscription_id}", "detail_json": "{}"})
    return bool(n)


# --------------------------------------------------------------------------- reading and acting


def load_alerts(engine: Engine | Connection, *, sites: Iterable[str] | None = None,
                upload_id: int | None = None, status: str | None = None,
                include_confidential: bool = True, start: Any = None, end: Any = None,
                limit: int | None = None) -> list[dict[str, Any]]:
    """Stored alerts, newest day first (then kind)."""
    from wastewater.storage.repository import _fetch

    a = t.alerts.c
    q = sa.select(t.alerts).order_by(a.sample_date.desc(), a.site, a.analyte, a.alert_id)
    if sites is not None:
        q = q.where(a.site.in_(list(sites)))
    if upload_id is not None:
        q = q.where(a.upload_id == upload_id)
    if status is not None:
        q = q.where(a.status == status)
    if not include_confidential:
        q = q.where(a.confidential.is_(False))
    if start is not None:
        q = q.where(a.sample_date >= pd.Timestamp(start).date())
    if end is not None:
        q = q.where(a.sample_date <= pd.Timestamp(end).date())
    if limit is not None:
        q = q.limit(limit)
    return [alert_row_dict(r) for r in _fetch(engine, q)]


def set_alert_status(engine: Engine, alert_id: int, status: str, *, actor: str,
                     note: str | None = None) -> dict[str, Any]:
    """Acknowledge or dismiss an alert (or reopen it); the change goes to the audit log.

    Raises :class:`~wastewater.exceptions.NotFound` for an unknown id and ``ValueError`` for
    an unknown status.
    """
    from wastewater.exceptions import NotFound

    if status not in t.ALERT_STATUSES:
        raise ValueError(f"status={status!r}; expected one of {', '.join(t.ALERT_STATUSES)}")
    now = _utcnow()
    a = t.alerts.c
    with write_transaction(engine) as conn:
        old = conn.execute(sa.select(a.status).where(a.alert_id == alert_id)).scalar()
        if old is None:
            raise NotFound(f"alert {alert_id} does not exist")
        conn.execute(t.alerts.update().where(a.alert_id == alert_id).values(
            status=status, status_by=actor, status_at=now, status_note=note))
        conn.execute(t.audit_log.insert(), {
            "at": now, "actor": actor, "action": f"alert_{status}",
            "target": f"alert/{alert_id}",
            "detail_json": json.dumps({"old": old, "new": status, "note": note})})
        row = conn.execute(sa.select(t.alerts).where(a.alert_id == alert_id)).first()
    return alert_row_dict(row)


def alert_summary(engine: Engine, *, sites: Iterable[str] | None, start: Any, end: Any,
                  include_confidential: bool) -> dict[str, Any]:
    """Counts for the tertial report: alerts in the period by kind and status."""
    return alert_counts(load_alerts(engine, sites=sites, start=start, end=end,
                                    include_confidential=include_confidential))


def alert_counts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``n``, ``by_kind``, ``by_status`` and the ``alerts`` themselves of alert rows (:func:`load_alerts`)."""
    by_kind: dict[str, int] = {}
    by_status = {s: 0 for s in t.ALERT_STATUSES}
    for r in rows:
        by_kind[r["kind"]] = by_kind.get(r["kind"], 0) + 1
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    return {"n": len(rows), "by_kind": by_kind, "by_status": by_status, "alerts": rows}


# --------------------------------------------------------------------------- outbox (worker side)


def claim_due(engine: Engine, *, now: dt.datetime | None = None, limit: int = 20,
              lease_seconds: float = 60.0) -> list[dict[str, Any]]:
    """Lease up to ``limit`` due deliveries to this worker (``claimed_until`` = now + lease).

    A lease that runs out (the worker died) makes the row due again, so a crash between
    sending and :func:`mark_sent` gives one repeat with the same idempotency key.
    """
    now = now or _utcnow()
    o = t.alert_outbox.c
    due = sa.and_(o.status == "pending", o.next_attempt_at <= now,
                  sa.or_(o.claimed_until.is_(None), o.claimed_until <= now))
    with write_transaction(engine) as conn:
        q = sa.select(t.alert_outbox).where(due).order_by(o.next_attempt_at, o.delivery_id) \
            .limit(limit)
        if engine.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        rows = [dict(r._mapping) for r in conn.execute(q)]
        if rows:
            conn.execute(t.alert_outbox.update().where(
                o.delivery_id.in_([r["delivery_id"] for r in rows])).values(
                claimed_until=now + dt.timedelta(seconds=lease_seconds)))
        subs = {}
        ids = sorted({r["subscription_id"] for r in rows})
        if ids:
            s = t.alert_subscriptions.c
            subs = {r.subscription_id: r.secret for r in conn.execute(
                sa.select(s.subscription_id, s.secret).where(s.subscription_id.in_(ids)))}
    for r in rows:
        r["secret"] = subs.get(r["subscription_id"])
    return rows


def mark_sent(engine: Engine, delivery_id: int, *, now: dt.datetime | None = None) -> None:
    """Record a delivery as sent (counts the attempt, clears the lease and the last error)."""
    o = t.alert_outbox.c
    with write_transaction(engine) as conn:
        conn.execute(t.alert_outbox.update().where(o.delivery_id == delivery_id).values(
            status="sent", sent_at=now or _utcnow(), claimed_until=None,
            attempts=o.attempts + 1, last_error=None))


def mark_retry(engine: Engine, delivery_id: int, error: str, *, attempts_done: int,
               max_attempts: int, backoff_seconds: float, backoff_max_seconds: float,
               now: dt.datetime | None = None) -> str:
    """Record a failed attempt: due again after ``backoff · 2^(attempts−1)`` (capped) or,
    after ``max_attempts``, ``failed`` with the reason. Returns the new status.
    """
    now = now or _utcnow()
    o = t.alert_outbox.c
    attempts = attempts_done + 1
    status = "failed" if attempts >= max_attempts else "pending"
    delay = min(backoff_max_seconds, backoff_seconds * 2 ** (attempts - 1))
    with write_transaction(engine) as conn:
        conn.execute(t.alert_outbox.update().where(o.delivery_id == delivery_id).values(
            status=status, attempts=attempts, last_error=error[:2000], claimed_until=None,
            next_attempt_at=now + dt.timedelta(seconds=delay)))
    return status


def load_deliveries(engine: Engine, *, status: str | None = None,
                    alert_id: int | None = None) -> list[dict[str, Any]]:
    """Outbox rows (admin view): target, status, attempts, last error."""
    o = t.alert_outbox.c
    cols = [o.delivery_id, o.alert_id, o.subscription_id, o.channel, o.target,
            o.idempotency_key, o.subject, o.status, o.attempts, o.next_attempt_at,
            o.last_error, o.created_at, o.sent_at]
    q = sa.select(*cols).order_by(o.delivery_id)
    if status is not None:
        q = q.where(o.status == status)
    if alert_id is not None:
        q = q.where(o.alert_id == alert_id)
    with connect(engine) as conn:
        out = []
        for r in conn.execute(q):
            m = dict(r._mapping)
            for k in ("next_attempt_at", "created_at", "sent_at"):
                v = _aware(m[k])
                m[k] = v.isoformat() if v is not None else None
            out.append(m)
    return out
