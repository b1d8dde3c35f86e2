"""GET /events and GET /calendar/risk-weekends."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.deps import EngineDep, PageDep, SettingsDep, paginate, require
from api.errors import responses
from api.routers.common import (
    CSV_RESPONSE,
    DialectQ,
    FormatQ,
    FromQ,
    ToQ,
    check_range,
    csv_response,
)
from api.schemas import EventOut, PageOut, RiskWeekendOut
from api.security import Principal
from api.services import records, repository, risk_calendar, visible_site_ids
from wastewater import access

router = APIRouter(tags=["events"])
_EVENTS = Depends(require("events"))
_CALENDAR = Depends(require("calendar"))


def visible_events(engine, settings, p: Principal) -> list[dict]:
    """Events the caller may see (:func:`wastewater.access.visible_events`): confidential ones
    (police operations whose dates may be secret under OSL 18:1, [OSL2009]_) only for analyst/admin; an
    event naming sites is shown when it names at least one visible site, listing only those."""
    df = repository().load_events(engine, include_confidential=p.sees_confidential)
    if df.empty:
        return []
    df = access.visible_events(p, df, visible_site_ids(engine, p, settings))
    out = []
    for r in records(df):
        r["sites"] = list(r.get("sites") or [])
        r["substances"] = list(r.get("substances") or [])
        for k in ("start", "end"):
            if isinstance(r.get(k), str):
                r[k] = r[k][:10]
        out.append({k: r.get(k) for k in EventOut.model_fields})
    out.sort(key=lambda e: (e["start"], e["event_id"]))
    return out


@router.get("/events", response_model=PageOut[EventOut], summary="Operations, campaigns and other events",
            responses={**responses(401, 422, 503), 200: CSV_RESPONSE})
def list_events(request: Request, engine: EngineDep, settings: SettingsDep, page: PageDep,
                start: FromQ = None, end: ToQ = None, format: FormatQ = "json", dialect: DialectQ = "machine",
                p: Principal = _EVENTS):
    """Confidential events are returned to analyst and admin keys only."""
    check_range(start, end)
    ev = visible_events(engine, settings, p)
    if start:
        ev = [e for e in ev if e["end"] >= start.isoformat()]
    if end:
        ev = [e for e in ev if e["start"] <= end.isoformat()]
    if format == "csv":
        return csv_response(ev, dialect, "events.csv")
    return paginate(request, ev, page)


@router.get("/calendar/risk-weekends", response_model=list[RiskWeekendOut],
            summary="Swedish risk, payday and long weekends of a year", responses=responses(401, 422))
def risk_weekends(engine: EngineDep, settings: SettingsDep,
                  year: Annotated[int | None, Query(ge=1990, le=2100,
                                                    description="Calendar year (default: this year).")] = None,
                  p: Principal = _CALENDAR):
    """Computed by `wastewater.riskweekends.risk_weekends` ([Holidays0109]_); the kommun's
    own dates, uploaded as events of kind `risk_weekend` (named in `description`), replace or
    extend the computed ones — only events the caller may see (for the public: none naming only
    catchments under `min_public_population`)."""
    return records(risk_calendar(engine, year or dt.date.today().year, p, settings))
