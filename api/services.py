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
from api.errors import ApiError, item, unknown_key
from api.security import Principal
from wastewater.bytecache import ByteCache
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


def series_access(engine: sa.Engine, token: str | None, settings: Settings, site: str, analyte: str
                  ) -> tuple[Principal, int, dt.datetime | None]:
    """The caller, data version and change time of one series: 401 for an unknown or revoked
    key, 404 when ``site`` is not visible to the caller.

    One database round trip for a key (the key, the site and the series' version in one
    SELECT: :func:`wastewater.storage.series.key_and_series_state`); an anonymous caller's
    site population (the public threshold) is a second one. No list of all sites. Same rules
    as :func:`sites_frame`.
    """
    from wastewater import access
    from wastewater.storage.keys import hash_token, token_principal
    from wastewater.storage.series import key_and_series_state

    admin = settings.admin_key.get_secret_value() if settings.admin_key else None
    known = token_principal(token, admin)
    digest = hash_token(token) if known is None and token else None
    public = known is not None and access.level(known, "sites") is access.Level.PUBLIC
    keyed, state = key_and_series_state(engine, digest, site, analyte, with_population=public)
    if known is not None:
        p = known
    elif keyed is None:
        raise unknown_key()
    else:
        p = keyed
        if state is not None and access.level(p, "sites") is access.Level.PUBLIC:
            # a key role the policy shows public sites only: its population decides, as without a key
            _, state = key_and_series_state(engine, None, site, analyte, with_population=True)
    visible = state is not None and p.in_scope(site) and access.may(p, "sites")
    if state is not None and visible and access.level(p, "sites") is access.Level.PUBLIC:
        visible = access.site_is_public(state.population, access.PublicRule.from_settings(settings))
    if state is None or not visible:
        raise ApiError(
            404,
            "not found",
            [item("unknown_site", f"no site {site!r} visible to this key; see GET /api/v1/sites",
                  column="site")],
        )
    return p, state.version, state.changed_at


RESPONSE_CACHE = ByteCache()
"""Response bytes of ``/series`` (and dashboard downloads) by representation and data version."""
