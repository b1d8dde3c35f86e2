"""Glue between the routes and the library: visibility rules, series assembly, JSON cleaning.

No HTTP here except raising :class:`api.errors.ApiError`; no SQL here (storage does that).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pandas as pd
import sqlalchemy as sa

from api.config import Settings
from api.errors import ApiError, item
from api.security import Principal
from wastewater import analysis as _analysis
from wastewater.jsonsafe import json_safe

MEASURES = _analysis.MEASURES
"""The measure map of :mod:`wastewater.analysis` (measure → Dataset variable / JSON field, unit)."""



def repository():
    from wastewater.storage import repository as r

    return r


# -- JSON helpers ---------------------------------------------------------------------------


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [json_safe(r) for r in df.to_dict("records")]


# -- sites and visibility ---------------------------------------------------------------------


def sites_frame(engine: sa.Engine, p: Principal, settings: Settings) -> pd.DataFrame:
    """Sites visible to ``p`` with a ``public`` column (:func:`wastewater.access.visible_sites_frame`:
    the public sees only catchments of at least ``settings.min_public_population``, [Hall2012]_;
    keys with a site scope see only their sites)."""
    from wastewater.access import PublicRule, visible_sites_frame

    return visible_sites_frame(p, repository().load_sites(engine), PublicRule.from_settings(settings))


def visible_site_ids(engine: sa.Engine, p: Principal, settings: Settings) -> list[str]:
    return sites_frame(engine, p, settings)["site"].tolist()


def require_site(engine: sa.Engine, p: Principal, settings: Settings, site: str) -> dict[str, Any]:
    """The site's record, or 404 when it does not exist *or is not visible* (no existence leak)."""
    df = sites_frame(engine, p, settings)
    hit = df[df["site"] == site]
    if hit.empty:
        raise ApiError(
            404,
            "not found",
            [item("unknown_site", f"no site {site!r} visible to this key; see GET /api/v1/sites",
                  column="site")],
        )
    return records(hit)[0]


def resolve_analyte(text: str) -> str:
    from wastewater.catalogue import resolve_analyte as _resolve

    return _resolve(text)


def filter_sites_param(requested: Iterable[str] | None, visible: list[str]) -> list[str]:
    if not requested:
        return visible
    req = [s for s in requested if s]
    return [s for s in req if s in set(visible)]


# -- series ------------------------------------------------------------------------------------


def daily_series(
    engine: sa.Engine,
    site: str,
    analyte: str,
    measure: str,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    loq_method: str = "loq_half",
    cf_id: str | None = None,
    ci: str = "none",
) -> tuple[pd.DataFrame, dt.datetime | None]:
    """Daily series ``[date, value, level_lo95, level_hi95, change_lo95, change_hi95, censored]``
    and when the series last changed.

    :func:`wastewater.analysis.read_series` on the derived store; the API only reshapes.
    """
    frame = _analysis.read_series(engine, site, analyte, measure, start=start, end=end,
                                  loq_method=loq_method, cf_id=cf_id, ci=ci)
    return frame, _analysis.series_version(engine, site, analyte).changed_at


def weekly_means(daily: pd.DataFrame, start: dt.date | None = None, end: dt.date | None = None,
                 settings: Settings | None = None, *, suppress: bool = True) -> pd.DataFrame:
    """ISO-week means under the public rule (:func:`wastewater.access.public_weeks`): whole
    weeks, the window only selects weeks, weeks with too few measured days suppressed.
    ``daily`` must cover :func:`wastewater.access.whole_week_bounds` of the window."""
    from wastewater.access import PublicRule, public_weeks

    rule = PublicRule.from_settings(settings) if settings is not None else PublicRule()
    return public_weeks(daily, start, end, rule, suppress=suppress)


def risk_calendar(engine: sa.Engine, years: int | Iterable[int], p: Principal | None = None,
                  settings: Settings | None = None, *, site: str | None = None) -> pd.DataFrame:
    """Risk, payday and long weekends of ``years`` with the kommun's own dates applied.

    :func:`wastewater.riskweekends.risk_weekends`, overridden/extended by the stored events of
    kind ``risk_weekend`` (:func:`wastewater.riskweekends.overrides_from_events`) that ``p`` may
    see (:func:`wastewater.access.visible_events`: never confidential ones, and for the public
    none that names only small catchments). With ``site``, only events naming that site or
    every site (empty list) count. ``p`` defaults to the public principal.
    """
    from wastewater.access import PUBLIC, visible_events
    from wastewater.riskweekends import overrides_from_events, risk_weekends

    p = p or PUBLIC
    events = repository().load_events(engine, include_confidential=False)
    if len(events):
        events = events[~events["confidential"].astype(bool)] if "confidential" in events else events
        events = events[events["kind"] == "risk_weekend"] if "kind" in events else events
    if len(events):
        visible = visible_site_ids(engine, p, settings or Settings())
        events = visible_events(p, events, visible)
        if site is not None and len(events):
            events = events[events["sites"].apply(lambda s: not s or site in s)]
    return risk_weekends(years, overrides=overrides_from_events(events))


# -- one series: visibility, data version, response cache ---------------------------------------


def series_access(engine: sa.Engine, p: Principal, settings: Settings, site: str, analyte: str
                  ) -> tuple[int, dt.datetime | None]:
    """Data version and change time of one series, or 404 when ``site`` is not visible to ``p``.

    Reads only this site (its row, its populations when the caller is anonymous, the
    series' version): no list of all sites. Same rules as :func:`sites_frame`.
    """
    from wastewater import access
    from wastewater.storage.series import site_series_state

    public = access.level(p, "sites") is access.Level.PUBLIC
    state = site_series_state(engine, site, analyte, with_population=public)
    visible = state is not None and p.in_scope(site) and access.may(p, "sites")
    if state is not None and visible and public:
        visible = access.site_is_public(state.population, access.PublicRule.from_settings(settings))
    if state is None or not visible:
        raise ApiError(
            404,
            "not found",
            [item("unknown_site", f"no site {site!r} visible to this key; see GET /api/v1/sites",
                  column="site")],
        )
    return state.version, state.changed_at


class ResponseCache:
    """Thread-safe LRU of response bytes, bounded in entries and bytes.

    Keys include the data version read from the database for each request, so a cached body
    is never served after the data changed, in any worker: no cross-process invalidation is
    needed (the old entries age out).
    """

    def __init__(self, max_entries: int = 2048, max_bytes: int = 128 * 2**20) -> None:
        import collections
        import threading

        self._data: collections.OrderedDict[Any, bytes] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._bytes = 0

    def get(self, key: Any) -> bytes | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
            return hit

    def put(self, key: Any, value: bytes) -> None:
        if len(value) > self.max_bytes:
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._data[key] = value
            self._bytes += len(value)
            while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._data.popitem(last=False)
                self._bytes -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0


RESPONSE_CACHE = ResponseCache()
"""Response bytes of ``/series`` (and dashboard downloads) by representation and data version."""
