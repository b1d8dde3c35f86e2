"""Read access to the service database, returning the DataFrames of docs/architecture.md.

Every function takes a SQLAlchemy ``Engine`` first and returns pandas objects in canonical units
(ng/L, m³/day); dates are ``datetime64[ns]`` (collection day of the composite sample),
timestamps ``datetime64[ns, UTC]``. Only current rows are returned unless ``include_history``
says otherwise. Writing goes through :mod:`wastewater.storage.service`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from wastewater.exceptions import NotFound, StorageUnavailable
from wastewater.storage import tables as t
from wastewater.storage.database import connect

SITE_COLUMNS = ("site", "name", "municipality", "population", "population_year",
                "population_method", "lat", "lon", "treatment_plant")
POPULATION_COLUMNS = ("site", "year", "population", "method")
FLOW_COLUMNS = ("site", "date", "flow_m3_per_day")
RESULT_COLUMNS = ("sample_id", "site", "sample_date", "analyte", "replicate", "value_ng_per_l",
                  "censor", "loq_ng_per_l", "lod_ng_per_l", "flow_m3_per_day", "composite_hours",
                  "sample_role", "lab", "method", "comment", "original_value", "original_unit",
                  "source_line", "result_id", "upload_id", "is_current", "superseded_by",
                  "stored_at")
EVENT_COLUMNS = ("event_id", "kind", "start", "end", "sites", "substances", "description",
                 "confidential")
UPLOAD_COLUMNS = ("upload_id", "kind", "filename", "sha256", "size_bytes", "uploader",
                  "uploader_key_id", "uploaded_at", "rows_total", "rows_accepted")

_DTYPES: dict[str, str] = {
    # float quantities
    "lat": "float64", "lon": "float64", "flow_m3_per_day": "float64",
    "value_ng_per_l": "float64", "loq_ng_per_l": "float64", "lod_ng_per_l": "float64",
    # integers (nullable where NULL is possible)
    "population": "Int64", "population_year": "Int64", "year": "int64",
    "replicate": "int64", "composite_hours": "Int64", "source_line": "Int64",
    "result_id": "int64", "upload_id": "int64", "superseded_by": "Int64",
    "size_bytes": "int64", "rows_total": "int64", "rows_accepted": "int64",
    # booleans
    "is_current": "bool", "confidential": "bool",
}
_DATES = {"date", "sample_date", "start", "end"}
_TIMESTAMPS = {"stored_at", "uploaded_at"}


def _frame(rows: Iterable[Sequence[Any]], columns: Sequence[str]) -> pd.DataFrame:
    """Build a frame with the contract dtypes (empty results keep columns and dtypes).

    Columns are built one at a time from the transposed rows with their explicit dtype
    (numpy ``float64``/``datetime64[D]`` arrays, nullable ``Int64``), instead of an object
    frame converted column by column afterwards; text columns keep pandas' own inference.
    """
    rows = list(rows)
    if not rows:
        return _frame_empty(columns)
    data: dict[str, Any] = {}
    for col, values in zip(columns, zip(*rows, strict=True), strict=True):
        if col in _DATES:
            data[col] = _day_array(values)
        elif col in _TIMESTAMPS:
            data[col] = _utc_timestamps(values)
        elif col in _DTYPES:
            kind = _DTYPES[col]
            if kind == "Int64":
                data[col] = pd.array(values, dtype="Int64")
            elif kind == "bool" and None in values:
                data[col] = pd.Series(values, dtype=object).astype(bool).to_numpy()
            else:
                data[col] = np.array(values, dtype=kind)
        else:
            data[col] = list(values)
    return pd.DataFrame(data, columns=list(columns))


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _day_array(values: Sequence[Any]) -> np.ndarray:
    """``datetime64[ns]`` days of stored dates (``None`` → NaT).

    ``datetime.date`` values go through their proleptic ordinal (20× faster than numpy's
    per-object date parsing); anything else through numpy.
    """
    if all(type(v) is dt.date for v in values):
        days = np.fromiter((v.toordinal() for v in values), dtype=np.int64, count=len(values))
        return (days - _EPOCH_ORDINAL).astype("datetime64[D]").astype("datetime64[ns]")
    return np.array(values, dtype="datetime64[D]").astype("datetime64[ns]")


def _utc_timestamps(values: Sequence[Any]) -> Any:
    """``datetime64[ns, UTC]`` array of stored timestamps (naive values are UTC, as SQLite returns them)."""
    if all(isinstance(v, dt.datetime) and v.tzinfo is None for v in values):
        naive = np.array(values, dtype="datetime64[us]").astype("datetime64[ns]")
        return pd.DatetimeIndex(naive).tz_localize("UTC").array
    return pd.to_datetime(pd.Series(values, dtype=object), utc=True).astype("datetime64[ns, UTC]").array


def _frame_empty(columns: Sequence[str]) -> pd.DataFrame:
    """Empty frame with the contract columns and dtypes."""
    df = pd.DataFrame.from_records([], columns=list(columns))
    for col in columns:
        if col in _DATES:
            df[col] = pd.to_datetime(df[col]).astype("datetime64[ns]")
        elif col in _TIMESTAMPS:
            df[col] = pd.to_datetime(df[col], utc=True).astype("datetime64[ns, UTC]")
        elif col in _DTYPES:
            df[col] = df[col].astype(_DTYPES[col])
    return df


def _fetch(engine: Engine | sa.Connection, query: sa.Executable) -> list[sa.Row[*tuple[Any, ...]]]:
    """Run a read query; a missing schema becomes :class:`StorageUnavailable`.

    ``engine`` may also be an open ``Connection`` (e.g. inside the ingest transaction, which
    must see its own uncommitted rows).
    """
    if isinstance(engine, sa.Connection):
        return list(engine.execute(query))
    with connect(engine) as conn:
        try:
            return list(conn.execute(query))
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
            text = str(exc.orig) if exc.orig is not None else str(exc)
            if "no such table" in text or "does not exist" in text:
                raise StorageUnavailable(
                    f"the database has no wastewater schema ({text.splitlines()[0]}); "
                    "run `wastewater db upgrade` first"
                ) from exc
            raise


def _as_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    day: dt.date = pd.Timestamp(value).date()
    return day


def _as_list(values: str | Iterable[str] | None) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        return [values]
    return list(values)


# --------------------------------------------------------------------------- sites


def load_populations(engine: Engine | sa.Connection, sites: str | Iterable[str] | None = None) -> pd.DataFrame:
    """
    Populations served per site, year and method.

    Returns
    -------
    pandas.DataFrame
        Columns ``site, year, population [persons], method`` sorted by site, year, method.
    """
    p = t.site_populations.c
    query = sa.select(p.site, p.year, p.population, p.method).order_by(p.site, p.year, p.method)
    wanted = _as_list(sites)
    if wanted is not None:
        query = query.where(p.site.in_(wanted))
    return _frame(_fetch(engine, query), POPULATION_COLUMNS)


def latest_populations(pop_rows: Iterable[Sequence[Any]]) -> dict[str, tuple[int, int, str]]:
    """Latest population per site: ``site → (population, year, method)``.

    ``pop_rows`` are ``(site, year, population, method)`` in (site, year, method) order; the
    latest year wins, a ``de_jure`` row before any other method; among ties the last row.
    """
    latest: dict[str, tuple[int, int, str]] = {}
    best: dict[str, tuple[int, int]] = {}
    for site, year, population, method in pop_rows:
        key = (int(method == "de_jure"), int(year))
        if site not in best or key >= best[site]:
            best[site] = key
            latest[site] = (int(population), int(year), method)
    return latest


def load_sites(engine: Engine | sa.Connection) -> pd.DataFrame:
    """
    All sites with their latest population.

    ``population`` / ``population_year`` / ``population_method`` come from the row with the
    latest year, preferring method ``de_jure`` when a site has it; ``<NA>`` when the site has
    no population.

    Returns
    -------
    pandas.DataFrame
        Columns ``site, name, municipality, population, population_year, population_method,
        lat, lon, treatment_plant``, sorted by site.
    """
    s = t.sites.c
    rows = _fetch(engine, sa.select(s.site, s.name, s.municipality, s.lat, s.lon,
                                    s.treatment_plant).order_by(s.site))
    p = t.site_populations.c
    pop_rows = _fetch(engine, sa.select(p.site, p.year, p.population, p.method)
                      .order_by(p.site, p.year, p.method))
    latest = latest_populations(pop_rows)
    out = []
    for r in rows:
        pop, year, method = latest.get(r.site, (None, None, None))
        out.append((r.site, r.name, r.municipality, pop, year, method, r.lat, r.lon,
                    r.treatment_plant))
    return _frame(out, SITE_COLUMNS)


# --------------------------------------------------------------------------- flows


def load_flows(
    engine: Engine | sa.Connection,
    sites: str | Iterable[str] | None = None,
    start: Any = None,
    end: Any = None,
) -> pd.DataFrame:
    """
    Current daily influent flows.

    Parameters
    ----------
    sites : str or iterable of str, optional
        Restrict to these sites.
    start, end : date-like, optional
        Inclusive date range.

    Returns
    -------
    pandas.DataFrame
        Columns ``site, date (datetime64[ns]), flow_m3_per_day [m³ day⁻¹]``, sorted by site, date.
    """
    f = t.flows.c
    query = (sa.select(f.site, f.date, f.flow_m3_per_day).where(f.is_current.is_(True))
             .order_by(f.site, f.date))
    wanted = _as_list(sites)
    if wanted is not None:
        query = query.where(f.site.in_(wanted))
    if start is not None:
        query = query.where(f.date >= _as_date(start))
    if end is not None:
        query = query.where(f.date <= _as_date(end))
    return _frame(_fetch(engine, query), FLOW_COLUMNS)


# --------------------------------------------------------------------------- results


def _result_select() -> sa.Select[*tuple[Any, ...]]:
    r = t.results.c
    return sa.select(*[r[c] for c in RESULT_COLUMNS])


def load_results(
    engine: Engine | sa.Connection,
    sites: str | Iterable[str] | None = None,
    analytes: str | Iterable[str] | None = None,
    start: Any = None,
    end: Any = None,
    include_history: bool = False,
    roles: Sequence[str] | None = ("sample",),
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """
    Laboratory results (concentrations in ng/L).

    Parameters
    ----------
    sites, analytes : str or iterable of str, optional
        Restrict to these sites / canonical analyte ids.
    start, end : date-like, optional
        Inclusive range of ``sample_date``.
    include_history : bool, default False
        Also return superseded versions (``is_current`` False, ``superseded_by`` = id of the
        row that replaced it).
    roles : sequence of str or None, default ("sample",)
        ``sample_role`` values to return; ``None`` for all (blanks, spikes, references).
    columns : sequence of str, optional
        Return only these columns of :data:`RESULT_COLUMNS` (in that order); rows, filters
        and order are the same. ``None`` (default) returns all columns. Callers that need only
        the figures (e.g. GET /series) skip reading and converting the text columns.

    Returns
    -------
    pandas.DataFrame
        The ingest results columns plus ``result_id, upload_id, is_current, superseded_by,
        stored_at``; sorted by site, analyte, sample_date, sample_id, replicate, result_id.
    """
    r = t.results.c
    wanted_cols = list(RESULT_COLUMNS)
    if columns is not None:
        unknown = sorted(set(columns) - set(RESULT_COLUMNS))
        if unknown:
            raise ValueError(f"load_results(columns=...) got unknown column(s) {unknown}; "
                             f"valid: {', '.join(RESULT_COLUMNS)}")
        wanted_cols = [c for c in RESULT_COLUMNS if c in set(columns)]
    query = (sa.select(*[r[c] for c in wanted_cols])
             .order_by(r.site, r.analyte, r.sample_date, r.sample_id, r.replicate, r.result_id))
    if not include_history:
        query = query.where(r.is_current.is_(True))
    for col, values in ((r.site, _as_list(sites)), (r.analyte, _as_list(analytes)),
                        (r.sample_role, _as_list(roles))):
        if values is not None:
            query = query.where(col.in_(values))
    if start is not None:
        query = query.where(r.sample_date >= _as_date(start))
    if end is not None:
        query = query.where(r.sample_date <= _as_date(end))
    return _frame(_fetch(engine, query), wanted_cols)


def first_stored(engine: Engine | sa.Connection, sites: str | Iterable[str],
                 analytes: str | Iterable[str] | None = None, start: Any = None, end: Any = None
                 ) -> pd.DataFrame:
    """When each sample day's figures first reached the database.

    One row per (site, analyte, day) that a result of role ``sample`` covers in ``[start, end]``
    (a composite sampled on day *S* over *h* hours covers *S* … *S* + ⌈h/24⌉ − 1):
    ``concentration_stored_at`` is the earliest time an upload stored a covering result (any
    version, superseded ones included, so a corrected day keeps the time it first arrived);
    ``flow_stored_at`` the earliest of a flow for that day, from the ``flows`` table (any
    version) or a covering result with its own flow; ``NaT`` when there is none. Both UTC:
    ``uploads.uploaded_at``, the ``stored_at`` of every row the upload wrote (the rows are read
    as integers, their uploads' times once). The public rule's reader
    (:func:`wastewater.access.late_for_public`).
    """
    from wastewater.storage.series import MAX_COMPOSITE_DAYS
    from wastewater.timeseries import composite_days

    r, f, u = t.results.c, t.flows.c, t.uploads.c
    wanted_sites = _as_list(sites) or []
    lo, hi = _as_date(start), _as_date(end)
    # integers only per row (the upload, not its time): one row per day, sample duration and upload
    own_flow = sa.func.max(sa.case((r.flow_m3_per_day.is_not(None), 1), else_=0))
    q = (sa.select(r.site, r.analyte, r.sample_date, r.composite_hours, r.upload_id, own_flow)
         .where(r.site.in_(wanted_sites), r.sample_role == "sample")
         .group_by(r.site, r.analyte, r.sample_date, r.composite_hours, r.upload_id))
    wanted = _as_list(analytes)
    if wanted is not None:
        q = q.where(r.analyte.in_(wanted))
    if lo is not None:
        q = q.where(r.sample_date >= lo - dt.timedelta(days=MAX_COMPOSITE_DAYS - 1))
    if hi is not None:
        q = q.where(r.sample_date <= hi)
    rows = _fetch(engine, q)
    if not rows:
        return _first_stored_empty()
    fq = (sa.select(f.site, f.date, f.upload_id).where(f.site.in_(wanted_sites))
          .group_by(f.site, f.date, f.upload_id))
    if lo is not None:
        fq = fq.where(f.date >= lo)
    if hi is not None:
        fq = fq.where(f.date <= hi)
    flow_rows = _fetch(engine, fq)
    site, analyte, day, hours, upload, own = zip(*rows, strict=True)
    ids = sorted(set(upload) | {x[2] for x in flow_rows})
    when = dict(_fetch(engine, sa.select(u.upload_id, u.uploaded_at).where(u.upload_id.in_(ids))))
    ns = dict(zip(ids, pd.DatetimeIndex(_utc_timestamps([when[i] for i in ids])).as_unit("ns").asi8, strict=True))

    span = composite_days(hours)  # a missing duration (None) counts as 24 h
    take = np.repeat(np.arange(len(rows)), span)
    days = (_day_array(day).astype("datetime64[D]").astype(np.int64)[take]
            + np.arange(len(take)) - np.repeat(np.cumsum(span) - span, span))
    site_code, site_names = pd.factorize(np.asarray(site, dtype=object))
    analyte_code, analyte_names = pd.factorize(np.asarray(analyte, dtype=object))
    pair = (site_code * len(analyte_names) + analyte_code)[take]
    at = np.fromiter((ns[i] for i in upload), dtype=np.int64, count=len(upload))[take]
    never = np.iinfo(np.int64).max
    flow_at = np.where(np.asarray(own, dtype=bool)[take], at, never)
    keep = np.ones(len(days), dtype=bool)
    if lo is not None:
        keep &= days >= np.datetime64(lo, "D").astype(np.int64)
    if hi is not None:
        keep &= days <= np.datetime64(hi, "D").astype(np.int64)
    pair, days, at, flow_at = pair[keep], days[keep], at[keep], flow_at[keep]
    order = np.lexsort((days, pair))
    pair, days, at, flow_at = pair[order], days[order], at[order], flow_at[order]
    first = np.flatnonzero(np.r_[True, (pair[1:] != pair[:-1]) | (days[1:] != days[:-1])])
    if not len(first):
        return _first_stored_empty()
    at, flow_at = np.minimum.reduceat(at, first), np.minimum.reduceat(flow_at, first)
    pair, days = pair[first], days[first]
    out_site = pair // len(analyte_names)
    if flow_rows:  # the flows table's first flow of each (site, day)
        fsite, fday, fup = zip(*flow_rows, strict=True)
        fcode = pd.Index(site_names).get_indexer(np.asarray(fsite, dtype=object))
        fkey = fcode * 2**32 + _day_array(fday).astype("datetime64[D]").astype(np.int64)
        fat = np.fromiter((ns[i] for i in fup), dtype=np.int64, count=len(fup))
        forder = np.lexsort((fat, fkey))
        fkey, fat = fkey[forder], fat[forder]
        ffirst = np.flatnonzero(np.r_[True, fkey[1:] != fkey[:-1]])
        fkey, fat = fkey[ffirst], fat[ffirst]
        key = out_site * 2**32 + days
        pos = np.clip(np.searchsorted(fkey, key), 0, len(fkey) - 1)
        flow_at = np.minimum(flow_at, np.where(fkey[pos] == key, fat[pos], never))

    def stamp(v: np.ndarray) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(np.where(v == never, np.iinfo(np.int64).min, v).view("datetime64[ns]")
                                ).tz_localize("UTC")

    return pd.DataFrame({
        "site": np.asarray(site_names, dtype=object)[out_site],
        "analyte": np.asarray(analyte_names, dtype=object)[pair % len(analyte_names)],
        "date": days.astype("datetime64[D]").astype("datetime64[ns]"),
        "concentration_stored_at": stamp(at), "flow_stored_at": stamp(flow_at)})


def _first_stored_empty() -> pd.DataFrame:
    return pd.DataFrame({"site": pd.Series(dtype=object), "analyte": pd.Series(dtype=object),
                         "date": pd.Series(dtype="datetime64[ns]"),
                         "concentration_stored_at": pd.Series(dtype="datetime64[ns, UTC]"),
                         "flow_stored_at": pd.Series(dtype="datetime64[ns, UTC]")})


def result_history(engine: Engine, sample_id: str, analyte: str) -> pd.DataFrame:
    """
    Every stored version of one sample's result for one analyte, oldest first.

    All replicates and roles are included; the current version of each has ``is_current``
    True. Raises :class:`~wastewater.exceptions.NotFound` when nothing was ever stored.
    """
    r = t.results.c
    # two index look-ups: current versions (uq_results_current), superseded ones
    # (ix_results_history); both partial indexes need their own predicate spelled as declared
    wanted = (r.sample_id == sample_id, r.analyte == analyte)
    parts = [_result_select().where(*wanted, sa.text(predicate))
             for predicate in ("results.is_current", "NOT results.is_current")]
    union = sa.union_all(*parts).subquery()
    query = sa.select(*[union.c[c] for c in RESULT_COLUMNS]).order_by(
        union.c.replicate, union.c.sample_role, union.c.result_id)
    frame = _frame(_fetch(engine, query), RESULT_COLUMNS)
    if frame.empty:
        raise NotFound(f"no result stored for sample_id={sample_id!r}, analyte={analyte!r}")
    return frame


# --------------------------------------------------------------------------- events


def load_events(engine: Engine | sa.Connection, include_confidential: bool = True) -> pd.DataFrame:
    """
    Current events (police operations, school searches, campaigns ...).

    Returns
    -------
    pandas.DataFrame
        Columns ``event_id, kind, start, end`` (inclusive dates), ``sites`` and ``substances``
        (lists; empty = all), ``description, confidential``; sorted by start, event_id.
    """
    e = t.events.c
    query = (sa.select(e.event_id, e.kind, e.start_date, e.end_date, e.sites_json,
                       e.substances_json, e.description, e.confidential)
             .where(e.is_current.is_(True)).order_by(e.start_date, e.event_id))
    if not include_confidential:
        query = query.where(e.confidential.is_(False))
    rows = [(r.event_id, r.kind, r.start_date, r.end_date, json.loads(r.sites_json or "[]"),
             json.loads(r.substances_json or "[]"), r.description, bool(r.confidential))
            for r in _fetch(engine, query)]
    return _frame(rows, EVENT_COLUMNS)


# --------------------------------------------------------------------------- uploads


def list_uploads(engine: Engine) -> pd.DataFrame:
    """
    Stored uploads, newest first (without their bytes).

    Returns
    -------
    pandas.DataFrame
        Columns ``upload_id, kind, filename, sha256, size_bytes, uploader, uploader_key_id, uploaded_at (UTC),
        rows_total, rows_accepted``.
    """
    u = t.uploads.c
    query = sa.select(*[u[c] for c in UPLOAD_COLUMNS]).order_by(u.upload_id.desc())
    return _frame(_fetch(engine, query), UPLOAD_COLUMNS)


def get_upload(engine: Engine, upload_id: int) -> dict[str, Any]:
    """
    One upload with its verbatim bytes and its validation report.

    Returns
    -------
    dict
        Keys of :data:`UPLOAD_COLUMNS` plus ``content`` (bytes, exactly as uploaded) and
        ``report`` (the validation report as a dict). ``uploaded_at`` is a UTC datetime.

    Raises
    ------
    wastewater.exceptions.NotFound
        No upload has this id.
    """
    u = t.uploads.c
    rows = _fetch(engine, sa.select(t.uploads).where(u.upload_id == int(upload_id)))
    if not rows:
        raise NotFound(f"upload {upload_id} does not exist; `wastewater uploads list` shows ids")
    row = rows[0]._mapping
    out = {c: row[c] for c in UPLOAD_COLUMNS}
    when = out["uploaded_at"]
    if when is not None and when.tzinfo is None:
        out["uploaded_at"] = when.replace(tzinfo=dt.UTC)
    out["content"] = bytes(row["content"])
    out["report"] = json.loads(row["report_json"])
    return out
