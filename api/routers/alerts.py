"""GET /alerts, POST /alerts/{id}/{acknowledge|dismiss|reopen}, subscriptions, deliveries.

Alerts are raised when an upload is stored (``wastewater.storage.alerts``); they are computed
from single-day values, so reading them needs a key (viewer and above), within the key's site
scope; alerts about a confidential operation only for analyst and admin. Acknowledging or
dismissing an alert is audited (``audit_log`` action ``alert_acknowledged`` /
``alert_dismissed`` / ``alert_open``). Deliveries (the outbox) are for admins: a failed one
shows its last error.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from api.deps import EngineDep, PageDep, Principal, paginate, require
from api.errors import ApiError, item, responses
from api.schemas import PageOut
from wastewater import access

router = APIRouter(prefix="/alerts", tags=["alerts"])
Reader = Depends(require("alerts"))
Admin = Depends(require("alert_admin"))
ERRS = responses(401, 403, 404, 422, 503)
AlertId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Alert id.")]


class AlertOut(BaseModel):
    """One stored alert."""

    alert_id: int
    kind: Literal["unusually_high", "outside_history", "method_change", "possible_dumping"]
    site: str
    analyte: str
    date: str = Field(..., description="Sample day (ISO) the alert is about.")
    variable: str = Field(..., description="Quantity of `value`, e.g. load_mg_per_day_per_1000.")
    value: float | None = None
    upload_id: int = Field(..., description="The upload that raised it.")
    event_id: str | None = None
    confidential: bool = False
    reason_sv: str
    reason_en: str
    statistics: dict[str, Any] = Field(default_factory=dict)
    status: Literal["open", "acknowledged", "dismissed"]
    status_by: str | None = None
    status_at: str | None = None
    status_note: str | None = None
    created_at: str


class StatusIn(BaseModel):
    note: str | None = Field(None, max_length=2000, description="Why (kept in the audit log).")


class SubscriptionIn(BaseModel):
    channel: Literal["email", "webhook", "email_digest"] = Field(
        ..., description="`email` (one message per alert), `webhook` (signed POST per alert) or "
        "`email_digest` (one e-mail a day listing the previous UTC day's alerts).")
    target: str = Field(..., min_length=3, max_length=2000,
                        description="E-mail address or webhook URL (http/https).")
    secret: str | None = Field(None, min_length=16, max_length=256,
                               description="Webhook signing secret (HMAC-SHA256), required for webhooks.")
    sites: list[str] = Field(default_factory=list, description="Only these sites; empty = all in scope.")
    kinds: list[str] = Field(default_factory=list, description="Only these alert kinds; empty = all.")
    lang: Literal["sv", "en"] = "sv"
    role: Literal["public", "viewer", "analyst", "admin"] | None = Field(
        None, description="Admin only: subscribe an address without a key, receiving as this role "
        "(default public). Other keys always receive as themselves.")


def alert_visible(p: Principal, alert: dict[str, Any]) -> bool:
    """The access policy's rule (:func:`wastewater.access.alert_visible`): the key's site
    scope, and confidential operations only for roles that see confidential events."""
    return access.alert_visible(p, alert)


@router.get("", response_model=PageOut[AlertOut], summary="Alerts raised by uploads, newest day first",
            responses=ERRS)
def list_alerts(
    request: Request, engine: EngineDep, page: PageDep,
    site: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[Literal["open", "acknowledged", "dismissed"] | None, Query()] = None,
    upload_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    p: Principal = Reader,
):
    from wastewater.storage.alerts import load_alerts

    rows = load_alerts(engine, sites=[site] if site else None, status=status, upload_id=upload_id,
                       include_confidential=p.sees_confidential)
    return paginate(request, [r for r in rows if alert_visible(p, r)], page)


def _set(engine, p: Principal, alert_id: int, status: str, body: StatusIn | None) -> dict:
    from wastewater.exceptions import NotFound
    from wastewater.storage.alerts import load_alerts, set_alert_status

    rows = [r for r in load_alerts(engine) if r["alert_id"] == alert_id]
    if not rows or not alert_visible(p, rows[0]):
        raise ApiError(404, "not found", [item("unknown_alert", f"no alert {alert_id} visible to this key",
                                               column="alert_id")])
    try:
        return set_alert_status(engine, alert_id, status, actor=p.name, note=body.note if body else None)
    except NotFound as exc:  # pragma: no cover - deleted in between
        raise ApiError(404, "not found", [item("unknown_alert", str(exc))]) from exc


NoteBody = Annotated[StatusIn | None, Body()]


@router.post("/{alert_id}/acknowledge", response_model=AlertOut, summary="Acknowledge an alert (audited)",
             responses=ERRS)
def acknowledge(engine: EngineDep, alert_id: AlertId, body: NoteBody = None, p: Principal = Reader):
    """Someone has seen it and acts on it (counted as *acted on* in the tertial report)."""
    return _set(engine, p, alert_id, "acknowledged", body)


@router.post("/{alert_id}/dismiss", response_model=AlertOut, summary="Dismiss an alert (audited)",
             responses=ERRS)
def dismiss(engine: EngineDep, alert_id: AlertId, body: NoteBody = None, p: Principal = Reader):
    """Not worth acting on (e.g. explained by a known event)."""
    return _set(engine, p, alert_id, "dismissed", body)


@router.post("/{alert_id}/reopen", response_model=AlertOut, summary="Reopen an alert (audited)",
             responses=ERRS)
def reopen(engine: EngineDep, alert_id: AlertId, body: NoteBody = None, p: Principal = Reader):
    return _set(engine, p, alert_id, "open", body)


@router.get("/deliveries", summary="Queued, sent and failed deliveries (admin)", responses=ERRS)
def deliveries(
    request: Request, engine: EngineDep, page: PageDep,
    status: Annotated[Literal["pending", "sent", "failed"] | None, Query()] = None,
    p: Principal = Admin,
):
    """Each row: channel, target, status, attempts, `last_error` (why a failed one failed)."""
    from wastewater.storage.alerts import load_deliveries

    return paginate(request, load_deliveries(engine, status=status), page)


@router.get("/subscriptions", summary="Alert subscriptions (own; admin: all)", responses=ERRS)
def subscriptions(request: Request, engine: EngineDep, page: PageDep, p: Principal = Reader):
    from wastewater.storage.alerts import list_subscriptions

    rows = list_subscriptions(engine, key_id=None if access.may(p, "alert_admin") else (p.key_id or "-"))
    return paginate(request, rows, page)


@router.post("/subscriptions", status_code=201,
             summary="Subscribe to alerts by e-mail, webhook or daily e-mail digest",
             responses=ERRS)
def subscribe(engine: EngineDep, body: SubscriptionIn, p: Principal = Reader):
    """A key subscribes itself: it receives only what its role and site scope may see, and the
    subscription stops when the key is revoked. An admin may also subscribe an address without a
    key (`role`, default `public`: weekly wording, no values, no small catchments, no
    operations)."""
    from wastewater.storage.alerts import add_subscription

    if body.role is not None and not access.may(p, "alert_admin"):
        raise ApiError(403, "forbidden", [item("role", "only admin keys may set `role`", column="role")])
    keyless = access.may(p, "alert_admin") and (body.role is not None or p.key_id is None)
    try:
        sid = add_subscription(
            engine, channel=body.channel, target=body.target, secret=body.secret,
            sites=body.sites, kinds=body.kinds, lang=body.lang, created_by=p.name,
            role=(body.role or "public") if keyless else p.role,
            key_id=None if keyless else p.key_id)
    except ValueError as exc:
        raise ApiError(422, "invalid subscription", [item("invalid", str(exc))]) from exc
    return {"subscription_id": sid}


@router.delete("/subscriptions/{subscription_id}", summary="Stop a subscription", responses=ERRS)
def unsubscribe(engine: EngineDep,
                subscription_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                p: Principal = Reader):
    from wastewater.storage.alerts import deactivate_subscription, list_subscriptions

    mine = {s["subscription_id"] for s in list_subscriptions(
        engine, key_id=None if access.may(p, "alert_admin") else (p.key_id or "-"))}
    if subscription_id not in mine or not deactivate_subscription(engine, subscription_id, actor=p.name):
        raise ApiError(404, "not found", [item("unknown_subscription",
                                               f"no subscription {subscription_id} of this key")])
    return {"subscription_id": subscription_id, "active": False}
