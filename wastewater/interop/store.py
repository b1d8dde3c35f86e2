"""Persist EUDA reference series in ``reference_sites`` / ``reference_values`` and read them back.

Thin I/O wrapper around the pure parsers of :mod:`wastewater.interop.euda`; the tables are
defined by :mod:`wastewater.storage.tables` (created by the Alembic migrations).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from wastewater.interop.euda import (
    LONG_COLUMNS,
    MEANS_COLUMNS,
    Source,
    campaign_rules,
    parse_euda_all_data,
    parse_euda_published_means,
    parse_euda_site_info,
)
from wastewater.storage.database import connect, write_transaction
from wastewater.storage.tables import reference_means, reference_sites, reference_values

REFERENCE_COLUMNS = ["source", "site_id", "country", "city", "location", "lat", "lon",
                     "population", "year", "analyte", "weekday", "value_mg_per_day_per_1000",
                     "censored"]
"""Columns of :func:`load_reference` (the long frame plus the site's location and coordinates)."""

_CHUNK = 2000


def _none(v: Any) -> Any:
    if v is None or v is pd.NA:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def import_euda(engine: Engine, all_data: Source, site_info: Source, *,
                source: str = "EUDA-2025", actor: str = "system") -> dict[str, int]:
    """
    Load an EUDA release into the reference tables, replacing any earlier import of ``source``.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        Migrated service database (SQLite or PostgreSQL).
    all_data, site_info : bytes, str, path or file object
        ``ww2025-all-data.csv`` and ``ww2025-site-info-table.csv``.
    source : str, default "EUDA-2025"
        Label of the release; rows of other sources are untouched.
    actor : str, default "system"
        Who imports (key name, ``cli:user``, ``demo``): the ``euda_imported`` row of
        ``audit_log``, written in the same transaction (every write is audited).

    Returns
    -------
    dict
        ``{"sites": n, "values": n, "means": n, "censored": n, "missing": n}`` rows written
        (missing = blank days, stored with a NULL value; means = EUDA's published
        Daily/Weekday/Weekend means, one row per file row, with the campaign rules of the year).

    Notes
    -----
    Idempotent: the delete of ``source``'s rows and the inserts run in one transaction, so a
    failure leaves the previous import intact and a repeat gives identical tables. Sites that
    occur in all-data but not in the site table are added with country and city only.
    Both files are parsed before the database is touched (a malformed file writes nothing).
    """
    long = parse_euda_all_data(all_data, source=source)
    published = parse_euda_published_means(all_data, source=source)
    sites = parse_euda_site_info(site_info, source=source)
    extra = (long.drop_duplicates("site_id")[["site_id", "country", "city"]]
             .loc[lambda d: ~d["site_id"].isin(sites["site_id"])])
    site_rows = [
        {"source": source, "site_id": r.site_id, "country": _none(r.country),
         "city": _none(r.city), "location": _none(r.location), "lat": _none(r.lat),
         "lon": _none(r.lon), "population": None if pd.isna(r.population) else int(r.population)}
        for r in sites.itertuples()
    ] + [
        {"source": source, "site_id": r.site_id, "country": r.country, "city": r.city,
         "location": None, "lat": None, "lon": None, "population": None}
        for r in extra.itertuples()
    ]
    dup = long.duplicated(["site_id", "year", "analyte", "weekday"])
    if dup.any():
        first = long[dup].iloc[0]
        raise ValueError(f"all-data has two rows for site {first.site_id}, year {first.year}, "
                         f"{first.analyte}; remove the duplicate before importing")
    value_rows = [
        {"source": source, "site_id": r.site_id, "year": int(r.year), "analyte": r.analyte,
         "weekday": r.weekday, "value_mg_per_day_per_1000": _none(r.value_mg_per_day_per_1000),
         "censored": bool(r.censored)}
        for r in long.itertuples()
    ]
    mean_rows = [
        {"source": source, "site_id": r.site_id, "year": int(r.year), "analyte": r.analyte,
         "weekday_mean": _none(r.weekday_mean), "weekend_mean": _none(r.weekend_mean),
         "daily_mean": _none(r.daily_mean), **campaign_rules(int(r.year))}
        for r in published.itertuples()
    ]
    with write_transaction(engine) as conn:
        conn.execute(reference_means.delete().where(reference_means.c.source == source))
        conn.execute(reference_values.delete().where(reference_values.c.source == source))
        conn.execute(reference_sites.delete().where(reference_sites.c.source == source))
        for i in range(0, len(site_rows), _CHUNK):
            conn.execute(reference_sites.insert(), site_rows[i:i + _CHUNK])
        for i in range(0, len(value_rows), _CHUNK):
            conn.execute(reference_values.insert(), value_rows[i:i + _CHUNK])
        for i in range(0, len(mean_rows), _CHUNK):
            conn.execute(reference_means.insert(), mean_rows[i:i + _CHUNK])
        counts = {"sites": len(site_rows), "values": len(value_rows), "means": len(mean_rows),
                  "censored": int(long["censored"].sum()),
                  "missing": int(long["value_mg_per_day_per_1000"].isna().sum())}
        import datetime as _dt
        import json as _json

        from wastewater.storage.tables import audit_log

        conn.execute(audit_log.insert().values(
            at=_dt.datetime.now(_dt.UTC), actor=str(actor)[:200], action="euda_imported",
            target=f"reference/{source}"[:256], detail_json=_json.dumps(counts)))
    return counts


def load_reference(engine: Engine, *, source: str | None = None, country: str | None = None,
                   analyte: str | None = None, year: int | None = None,
                   site_id: str | None = None) -> pd.DataFrame:
    """
    Reference daily values joined with their sites.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    source, country, analyte, year, site_id : optional filters
        ``analyte`` is a canonical id (``benzoylecgonine``, ``thc-cooh`` …).

    Returns
    -------
    pd.DataFrame
        :data:`REFERENCE_COLUMNS`, sorted by source, site, year, analyte and EUDA day order
        (Wed…Tue); ``value_mg_per_day_per_1000`` [mg day⁻¹ (1000 inh)⁻¹] NaN for a missing
        day. Pass the result to :func:`wastewater.interop.euda.euda_summary_from_daily`.
    """
    v, s = reference_values, reference_sites
    q = (sa.select(v.c.source, v.c.site_id, s.c.country, s.c.city, s.c.location, s.c.lat,
                   s.c.lon, s.c.population, v.c.year, v.c.analyte, v.c.weekday,
                   v.c.value_mg_per_day_per_1000, v.c.censored)
         .select_from(v.outerjoin(s, sa.and_(s.c.source == v.c.source,
                                             s.c.site_id == v.c.site_id))))
    if source is not None:
        q = q.where(v.c.source == source)
    if country is not None:
        q = q.where(s.c.country == country)
    if analyte is not None:
        q = q.where(v.c.analyte == analyte)
    if year is not None:
        q = q.where(v.c.year == int(year))
    if site_id is not None:
        q = q.where(v.c.site_id == site_id)
    with connect(engine) as conn:
        rows = conn.execute(q).fetchall()
    frame = pd.DataFrame(rows, columns=REFERENCE_COLUMNS)
    day_order = {"Wed": 0, "Thu": 1, "Fri": 2, "Sat": 3, "Sun": 4, "Mon": 5, "Tue": 6}
    frame = (frame.assign(_d=frame["weekday"].map(day_order))
             .sort_values(["source", "site_id", "year", "analyte", "_d"], kind="stable")
             .drop(columns="_d").reset_index(drop=True))
    return frame.astype({"year": "int64", "value_mg_per_day_per_1000": "float64",
                         "censored": "bool", "lat": "float64", "lon": "float64",
                         "population": "Int64"})


def reference_long(frame: pd.DataFrame) -> pd.DataFrame:
    """The :data:`wastewater.interop.euda.LONG_COLUMNS` subset of a :func:`load_reference`
    frame (same shape as :func:`wastewater.interop.euda.parse_euda_all_data`).
    """
    return frame[LONG_COLUMNS].copy()


PUBLISHED_MEANS_COLUMNS = [*MEANS_COLUMNS, "weekday_days", "weekend_days"]
"""Columns of :func:`load_published_means`."""


def load_published_means(engine: Engine, *, source: str | None = None,
                         country: str | None = None, analyte: str | None = None,
                         year: int | None = None, site_id: str | None = None) -> pd.DataFrame:
    """
    EUDA's published Daily/Weekday/Weekend means as published [mg day⁻¹ (1000 inh)⁻¹] (NaN
    where blank), with the days each mean covers in that year (``weekday_days``,
    ``weekend_days``). Filters as :func:`load_reference`; sorted by source, site, year, analyte.
    """
    m, s = reference_means, reference_sites
    q = (sa.select(m.c.source, m.c.site_id, s.c.country, s.c.city, m.c.year, m.c.analyte,
                   m.c.weekday_mean, m.c.weekend_mean, m.c.daily_mean, m.c.weekday_days,
                   m.c.weekend_days)
         .select_from(m.outerjoin(s, sa.and_(s.c.source == m.c.source,
                                             s.c.site_id == m.c.site_id))))
    for col, val in (("source", source), ("analyte", analyte), ("site_id", site_id)):
        if val is not None:
            q = q.where(m.c[col] == val)
    if year is not None:
        q = q.where(m.c.year == int(year))
    if country is not None:
        q = q.where(s.c.country == country)
    with connect(engine) as conn:
        rows = conn.execute(q).fetchall()
    frame = pd.DataFrame(rows, columns=PUBLISHED_MEANS_COLUMNS)
    frame = frame.sort_values(["source", "site_id", "year", "analyte"], kind="stable")
    return frame.reset_index(drop=True).astype({
        "year": "int64", "weekday_mean": "float64", "weekend_mean": "float64",
        "daily_mean": "float64"})


# --------------------------------------------------------------------------- national series
def import_reference_series(engine: Engine, frame: pd.DataFrame) -> dict[str, int]:
    """
    Store a reference-series frame (:func:`wastewater.interop.reference_series.parse_statcan_13100871`)
    in ``reference_series``: new rows are inserted, changed rows updated, identical rows left
    alone, in one transaction.

    Returns
    -------
    dict
        ``{"rows": n, "inserted": n, "updated": n, "unchanged": n}``; re-importing the same
        table gives ``inserted = updated = 0`` (nothing new is stored).
    """
    from wastewater.interop.reference_series import SERIES_COLUMNS
    from wastewater.storage.tables import reference_series as rs

    key = ["source", "series_id", "analyte", "period"]
    rows = [{c: _none(v) for c, v in zip(SERIES_COLUMNS, r)}
            for r in frame[SERIES_COLUMNS].itertuples(index=False)]
    counts = {"rows": len(rows), "inserted": 0, "updated": 0, "unchanged": 0}
    sources = sorted({r["source"] for r in rows})
    with write_transaction(engine) as conn:
        have = {tuple(r[:4]): dict(zip(SERIES_COLUMNS, r)) for r in conn.execute(
            sa.select(*[rs.c[c] for c in SERIES_COLUMNS]).where(rs.c.source.in_(sources)))}
        new, changed = [], []
        for r in rows:
            old = have.get(tuple(r[k] for k in key))
            if old is None:
                new.append(r)
            elif any(_differs(old[c], r[c]) for c in SERIES_COLUMNS):
                changed.append(r)
            else:
                counts["unchanged"] += 1
        for i in range(0, len(new), _CHUNK):
            conn.execute(rs.insert(), new[i:i + _CHUNK])
        for r in changed:
            conn.execute(rs.update().where(sa.and_(*[rs.c[k] == r[k] for k in key]))
                         .values({c: r[c] for c in SERIES_COLUMNS if c not in key}))
    counts["inserted"], counts["updated"] = len(new), len(changed)
    return counts


def _differs(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) > 1e-12 * max(1.0, abs(float(a)))
    return str(a) != str(b)


def load_reference_series(engine: Engine, *, source: str | None = None,
                          series_id: str | None = None, analyte: str | None = None,
                          country: str | None = None, start: dt.date | None = None,
                          end: dt.date | None = None) -> pd.DataFrame:
    """Stored reference series (:data:`wastewater.interop.reference_series.SERIES_COLUMNS`),
    filtered; ``start``/``end`` select periods overlapping the dates. Sorted by source, series,
    analyte, period.
    """
    from wastewater.interop.reference_series import SERIES_COLUMNS
    from wastewater.storage.tables import reference_series as rs

    q = sa.select(*[rs.c[c] for c in SERIES_COLUMNS])
    for col, val in (("source", source), ("series_id", series_id), ("analyte", analyte),
                     ("country", country)):
        if val is not None:
            q = q.where(rs.c[col] == val)
    if start is not None:
        q = q.where(rs.c.period_end >= start)
    if end is not None:
        q = q.where(rs.c.period_start <= end)
    with connect(engine) as conn:
        frame = pd.DataFrame(conn.execute(q).fetchall(), columns=SERIES_COLUMNS)
    frame = frame.sort_values(["source", "series_id", "analyte", "period"], kind="stable")
    return frame.reset_index(drop=True).astype({c: "float64" for c in SERIES_COLUMNS
                                                if c.endswith(("_1000", "_percent"))})
