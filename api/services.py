"""Glue between the routes and the library: visibility rules, series assembly, JSON cleaning.

No HTTP here except raising :class:`api.errors.ApiError`; no SQL here (storage does that).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from api.config import Settings
from api.errors import ApiError, item
from api.security import Principal
from wastewater.jsonsafe import json_safe

MEASURES: dict[str, tuple[str, str]] = {
    # measure -> (dataset variable / JSON field, unit)
    "concentration": ("concentration_ng_per_l", "ng/L"),
    "load": ("load_mg_per_day", "mg/day"),
    "load_per_1000": ("load_mg_per_day_per_1000", "mg/day/1000 inhabitants"),
    "consumption": ("consumption_mg_per_day_per_1000", "mg parent drug/day/1000 inhabitants"),
    "doses": ("doses_per_day_per_1000", "doses/day/1000 inhabitants"),
}


SERIES_RESULT_COLUMNS = ("site", "sample_date", "analyte", "value_ng_per_l", "censor", "loq_ng_per_l",
                         "lod_ng_per_l", "flow_m3_per_day", "composite_hours", "sample_role", "stored_at")
"""Result columns :func:`daily_series` reads (those ``build_dataset`` uses, plus ``stored_at``)."""


def repository():
    from wastewater.storage import repository as r

    return r


# -- JSON helpers ---------------------------------------------------------------------------


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [json_safe(r) for r in df.to_dict("records")]


# -- sites and visibility ---------------------------------------------------------------------


def sites_frame(engine: sa.Engine, p: Principal, settings: Settings) -> pd.DataFrame:
    """Sites visible to ``p`` with a ``public`` column.

    Anonymous callers see only catchments whose latest population is at least
    ``settings.min_public_population`` ([Hall2012]_); keys with a site scope see
    only their sites.
    """
    df = repository().load_sites(engine)
    if df.empty:
        df = df.assign(public=pd.Series(dtype=bool))
        return df
    pop = pd.to_numeric(df["population"], errors="coerce")
    df = df.assign(public=(pop >= settings.min_public_population).fillna(False).astype(bool))
    if p.is_public:
        df = df[df["public"]]
    if p.sites is not None:
        df = df[df["site"].isin(sorted(p.sites))]
    return df.sort_values("site").reset_index(drop=True)


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
    """Daily series of one site × analyte as ``[date, value, lo95, hi95, censored]``.

    Returns the frame and the newest ``stored_at`` among the rows used (for Last-Modified).
    Figures come from :func:`wastewater.timeseries.build_dataset` and
    :mod:`wastewater.backcalculation` (issue 3); the API only selects and reshapes.
    """
    from wastewater.timeseries import build_dataset

    r = repository()
    results = r.load_results(engine, sites=[site], analytes=[analyte], start=start, end=end,
                             columns=SERIES_RESULT_COLUMNS)
    flows = r.load_flows(engine, sites=[site], start=start, end=end)
    pops = r.load_populations(engine, sites=[site])
    last = None
    for frame in (results,):
        if "stored_at" in frame and len(frame):
            last = pd.to_datetime(frame["stored_at"], utc=True).max().to_pydatetime()
    empty = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "value": pd.Series(dtype=float),
                          "lo95": pd.Series(dtype=float), "hi95": pd.Series(dtype=float),
                          "censored": pd.Series(dtype=bool)})
    if results.empty:
        return empty, last
    ds = build_dataset(results, flows, pops, loq_method=loq_method)
    var, _unit = MEASURES[measure]
    if measure in ("consumption", "doses"):
        from wastewater.backcalculation import add_consumption

        ds = add_consumption(ds, {analyte: cf_id} if cf_id else None)
    if site not in ds["site"].values or analyte not in ds["analyte"].values:
        return empty, last
    one = ds.sizes["site"] == 1 and ds.sizes["analyte"] == 1  # loaded for this site × analyte only
    sub = ds if one else ds.sel(site=[site], analyte=[analyte])
    if ci == "analytic":
        from wastewater.uncertainty import add_analytic_intervals

        sub = add_analytic_intervals(sub, var)
    elif ci == "montecarlo":
        from wastewater.uncertainty import monte_carlo_intervals

        sub = monte_carlo_intervals(sub, var)  # seeded (default seed of the library)
    sel = sub.isel(site=0, analyte=0)
    dates = np.asarray(sel["date"].values).astype("datetime64[ns]")
    keep = np.ones(len(dates), dtype=bool)
    if start is not None:
        keep &= dates >= pd.Timestamp(start).to_datetime64()
    if end is not None:
        keep &= dates <= pd.Timestamp(end).to_datetime64()
    n_keep = int(keep.sum())
    out = pd.DataFrame({
        "date": dates[keep],
        "value": np.asarray(sel[var].values, dtype=float)[keep],
        "censored": (np.asarray(sel["censored"].values).astype(bool)[keep] if "censored" in sel
                     else np.zeros(n_keep, dtype=bool)),
        "lo95": (np.asarray(sel[f"{var}_lo95"].values, dtype=float)[keep] if ci != "none"
                 else np.full(n_keep, np.nan)),
        "hi95": (np.asarray(sel[f"{var}_hi95"].values, dtype=float)[keep] if ci != "none"
                 else np.full(n_keep, np.nan)),
    })
    return out, last


def weekly_means(daily: pd.DataFrame) -> pd.DataFrame:
    """ISO-week (Monday-first, [ISO8601]_) means of the daily values.

    ``n_days`` = days with a value, ``n_censored`` = censored days among them. ``lo95``/``hi95``
    are the means of the daily bounds: exact when the errors are fully correlated within
    the week (systematic CF, flow and population errors dominate, [Castiglioni2013]_),
    conservative (too wide) otherwise.
    """
    if daily.empty:
        return pd.DataFrame(columns=["date", "iso_week", "value", "lo95", "hi95", "n_days", "n_censored"])
    d = daily.copy()
    d["date"] = pd.to_datetime(d["date"])
    d = d[d["value"].notna()]
    d["monday"] = d["date"] - pd.to_timedelta(d["date"].dt.day_of_week, unit="D")
    g = d.groupby("monday", sort=True)
    out = pd.DataFrame(
        {
            "value": g["value"].mean(),
            "lo95": g["lo95"].mean(),
            "hi95": g["hi95"].mean(),
            "n_days": g["value"].count().astype(int),
            "n_censored": g["censored"].sum().astype(int),
        }
    ).reset_index().rename(columns={"monday": "date"})
    iso = out["date"].dt.isocalendar()
    out["iso_week"] = [f"{y}-W{w:02d}" for y, w in zip(iso["year"], iso["week"])]
    return out[["date", "iso_week", "value", "lo95", "hi95", "n_days", "n_censored"]]


def risk_calendar(engine: sa.Engine, years: int | Iterable[int]) -> pd.DataFrame:
    """Risk, payday and long weekends of ``years`` with the kommun's own dates applied.

    :func:`wastewater.riskweekends.risk_weekends`, overridden/extended by the stored events of
    kind ``risk_weekend`` (:func:`wastewater.riskweekends.overrides_from_events`). Only
    non-confidential events count, so every role sees the same calendar.
    """
    from wastewater.riskweekends import overrides_from_events, risk_weekends

    events = repository().load_events(engine, include_confidential=False)
    return risk_weekends(years, overrides=overrides_from_events(events))
