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
from wastewater.jsonsafe import json_safe


def repository():
    from wastewater.storage import repository as r

    return r


# -- JSON helpers ---------------------------------------------------------------------------


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [json_safe(r) for r in df.to_dict("records")]


# -- sites and visibility ---------------------------------------------------------------------


def sites_frame(engine: sa.Engine, p: Principal, settings: Settings) -> pd.DataFrame:
    """Sites visible to ``p`` with a ``public`` column (:func:`wastewater.readers.visible_sites`)."""
    from wastewater.access import PublicRule
    from wastewater.readers import visible_sites

    return visible_sites(engine, p, PublicRule.from_settings(settings))


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


# -- calendar ----------------------------------------------------------------------------------


def risk_calendar(engine: sa.Engine, years: int | Iterable[int], p: Principal | None = None,
                  settings: Settings | None = None, *, site: str | None = None) -> pd.DataFrame:
    """:func:`wastewater.readers.risk_calendar` under the deployment's public rule."""
    from wastewater.access import PublicRule
    from wastewater.readers import risk_calendar as _calendar

    return _calendar(engine, years, p, PublicRule.from_settings(settings or Settings()), site=site)


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
