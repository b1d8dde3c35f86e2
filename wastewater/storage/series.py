"""The derived daily-series store: maintenance inside the ingest transaction, rebuild, reads.

``series_daily`` holds, per (site, analyte, day) covered by a current sample result, the joined
daily inputs in canonical units exactly as :func:`wastewater.timeseries.build_dataset` computes
them for that one site × analyte (``loq_half`` substitution, ``de_jure`` population):
concentration, censoring flag and LOQ, flow, population used, load, load per 1 000 inhabitants,
replicate count and SD, composite hours. ``series_versions`` holds the data version of each
(site, analyte) series.

Which days a change touches (``MAX_COMPOSITE_DAYS`` = 7, the longest composite ingest accepts):

==================  =======================================================================
change              recomputed days
==================  =======================================================================
result (new, new    its site × analyte, the days its composite covers, for the new *and*
version)            the superseded version (a correction may move a sample to another day
                    or site)
flow of day D       every analyte of the site, days D − 6 … D + 6 (a composite's flow is the
                    mean over the days it covers)
de jure population  every analyte of the site, the dates whose year uses that population:
of year Y           from Y (or from the beginning when Y is the earliest year) to the year
                    before the next stored year (or to the end)
==================  =======================================================================

Day D of a series depends only on results sampled in D − 6 … D and on flows of D − 6 … D + 6,
so recomputing a range from those rows gives the same floats as a from-scratch build
(``tests/test_series_store.py`` checks this with random sequences of uploads on SQLite and
PostgreSQL). For a results upload the ingest service describes the change before writing
(:meth:`ResultsChange.prepare`) and calls :func:`refresh_for_results` after it, which rebuilds
the touched days from the rows in memory; for flows and sites uploads it calls
:func:`refresh_for_upload`, which finds what changed from the rows carrying the upload's id.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from wastewater.storage import tables as t

if TYPE_CHECKING:
    from wastewater.access import Principal

MAX_COMPOSITE_DAYS = 7
"""Days the longest accepted composite covers (168 h, ``wastewater.ingest.results``)."""

STORE_LOQ_METHOD = "loq_half"
STORE_POPULATION_METHOD = "de_jure"

VALUE_COLUMNS = ("concentration_ng_per_l", "censored", "loq_ng_per_l", "flow_m3_per_day",
                 "population", "load_mg_per_day", "load_mg_per_day_per_1000", "n_replicates",
                 "replicate_sd_ng_per_l", "composite_hours")
STORE_COLUMNS = ("site", "analyte", "date", *VALUE_COLUMNS)
"""Columns of ``series_daily`` and of the frames :func:`build_pair` and :func:`read_store` return."""

_FIRST_DAY = dt.date(1900, 1, 1)   # ingest accepts years 1900-2200
_LAST_DAY = dt.date(2200, 12, 31)
_INT_COLUMNS = ("n_replicates", "composite_hours")
_BOOL_COLUMNS = ("censored",)

_RESULT_READ = ("site", "sample_date", "analyte", "value_ng_per_l", "censor", "loq_ng_per_l",
                "lod_ng_per_l", "flow_m3_per_day", "composite_hours", "sample_role")


def _empty_store_frame() -> pd.DataFrame:
    data: dict[str, Any] = {"site": pd.Series(dtype=object), "analyte": pd.Series(dtype=object),
                            "date": pd.Series(dtype="datetime64[ns]")}
    for c in VALUE_COLUMNS:
        data[c] = pd.Series(dtype=bool if c in _BOOL_COLUMNS else
                            "int64" if c in _INT_COLUMNS else float)
    return pd.DataFrame(data)


# --------------------------------------------------------------------------- pure build


def build_pair(results: pd.DataFrame, flows: pd.DataFrame, populations: pd.DataFrame
               ) -> pd.DataFrame:
    """Store rows of one site × analyte from its raw rows (the one rule: ``build_dataset``).

    ``results`` are the current sample results of one site and one analyte, ``flows`` the
    site's current flows, ``populations`` its populations (all methods). Returns
    :data:`STORE_COLUMNS` for every day a sample covers (``composite_hours > 0``), sorted by date.
    """
    from wastewater.timeseries import build_dataset

    if results.empty:
        return _empty_store_frame()
    pops = populations
    if "method" in pops.columns:
        pops = pops[pops["method"].fillna("de_jure") == STORE_POPULATION_METHOD]
    pops = pops[["site", "year", "population"]]  # no de jure rows → NaN loads per 1000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no population" / "no LOQ": NaN, as the API shows
        ds = build_dataset(results, flows, pops, loq_method=STORE_LOQ_METHOD,
                           population_method=STORE_POPULATION_METHOD)
    sel = ds.isel(site=0, analyte=0)
    hours = np.asarray(sel["composite_hours"].values)
    keep = hours > 0
    out = pd.DataFrame({
        "site": str(ds["site"].values[0]),
        "analyte": str(ds["analyte"].values[0]),
        "date": np.asarray(ds["date"].values)[keep].astype("datetime64[ns]"),
    })
    for c in VALUE_COLUMNS:
        values = np.asarray(sel[c].values)[keep]
        if c in _INT_COLUMNS:
            values = values.astype("int64")
        elif c in _BOOL_COLUMNS:
            values = values.astype(bool)
        else:
            values = values.astype(float)
        out[c] = values
    return out


def build_pairs(results: pd.DataFrame, flows: pd.DataFrame, populations: pd.DataFrame
                ) -> pd.DataFrame:
    """Store rows of every site × analyte in ``results``: :func:`build_pair` of each, at once.

    Each series is built from its own rows (:func:`wastewater.timeseries.daily_by_series`), so
    the rows equal those of :func:`build_pair` float for float (tests/test_series_store.py);
    sorted by site, analyte and date.
    """
    from wastewater.timeseries import daily_by_series

    if results.empty:
        return _empty_store_frame()
    pops = populations
    if "method" in pops.columns:
        pops = pops[pops["method"].fillna("de_jure") == STORE_POPULATION_METHOD]
    out = daily_by_series(results, flows, pops[["site", "year", "population"]],
                          loq_method=STORE_LOQ_METHOD, population_method=STORE_POPULATION_METHOD)
    return out[list(STORE_COLUMNS)].reset_index(drop=True)


# --------------------------------------------------------------------------- ranges


@dataclasses.dataclass
class _Touched:
    """Day ranges to recompute: (site, analyte) → list of [lo, hi] ordinals; site → ranges
    of every analyte of the site.
    """

    pairs: dict[tuple[str, str], list[tuple[int, int]]] = dataclasses.field(
        default_factory=lambda: defaultdict(list))
    sites: dict[str, list[tuple[int, int]]] = dataclasses.field(
        default_factory=lambda: defaultdict(list))

    def __bool__(self) -> bool:
        return bool(self.pairs) or bool(self.sites)


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of closed integer ranges as sorted disjoint ranges (adjacent ones joined)."""
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(a, b) for a, b in out]


def _span_days(hours: Any) -> int:
    h = 24 if hours is None else int(hours)
    return max(1, -(-h // 24))


def _ordinal(day: Any) -> int:
    if isinstance(day, dt.datetime):
        day = day.date()
    if not isinstance(day, dt.date):
        day = pd.Timestamp(day).date()
    return int(day.toordinal())


def _touched_by_upload(conn: Connection, upload_id: int, kind: str) -> _Touched:
    touched = _Touched()
    if kind == "results":
        r = t.results.c
        new = sa.select(r.site, r.analyte, r.sample_date, r.composite_hours).where(
            r.upload_id == upload_id, r.sample_role == "sample")
        newer = t.results.alias("newer")
        old = (sa.select(r.site, r.analyte, r.sample_date, r.composite_hours)
               .join(newer, newer.c.result_id == r.superseded_by)
               .where(newer.c.upload_id == upload_id, r.sample_role == "sample"))
        ordinals: dict[Any, int] = {}
        spans: dict[Any, int] = {}
        for query in (new, old):
            for site, analyte, day, hours in _fetch_rows(conn, query):
                lo = ordinals.get(day)
                if lo is None:
                    lo = ordinals[day] = _ordinal(day)
                span = spans.get(hours)
                if span is None:
                    span = spans[hours] = _span_days(hours)
                touched.pairs[(site, analyte)].append((lo, lo + span - 1))
    elif kind == "flows":
        f = t.flows.c
        span = MAX_COMPOSITE_DAYS - 1
        for site, day in conn.execute(sa.select(f.site, f.date).where(f.upload_id == upload_id)):
            d = _ordinal(day)
            touched.sites[site].append((d - span, d + span))
    elif kind == "sites":
        p = t.site_populations.c
        changed = conn.execute(sa.select(p.site, p.year).where(
            p.upload_id == upload_id, p.method == STORE_POPULATION_METHOD)).all()
        by_site: dict[str, set[int]] = defaultdict(set)
        for site, year in changed:
            by_site[site].add(int(year))
        for site, years_changed in by_site.items():
            years = sorted(int(y) for y in conn.execute(sa.select(p.year).where(
                p.site == site, p.method == STORE_POPULATION_METHOD)).scalars())
            for year in years_changed:
                first = _FIRST_DAY if year <= years[0] else dt.date(year, 1, 1)
                later = [y for y in years if y > year]
                last = dt.date(later[0], 1, 1) - dt.timedelta(days=1) if later else _LAST_DAY
                touched.sites[site].append((first.toordinal(), last.toordinal()))
    return touched


# --------------------------------------------------------------------------- maintenance


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_BUILD_ORDER = ("site", "analyte", "sample_date", "sample_id", "replicate", "result_id")
_CHANGE_READ = (*_RESULT_READ, "sample_id", "replicate", "result_id")


def _epoch_days(values: Any) -> np.ndarray:
    """Days since 1970-01-01 of dates (``datetime64``, ``datetime.date`` or ISO text)."""
    days: np.ndarray = (pd.to_datetime(pd.Series(values).to_numpy())
                        .to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
                        .astype(np.int64))
    return days


def _build_order(results: pd.DataFrame) -> pd.DataFrame:
    """Rows in build order: site, analyte, sample_date, sample_id, replicate, result_id, each
    compared as Python compares them (code points), whatever the database's collation, so that
    every build (incremental or from scratch) averages a day's replicates in the same order.
    """
    if len(results) < 2:
        return results.reset_index(drop=True)
    keys = [pd.factorize(results[c], sort=True)[0] for c in _BUILD_ORDER if c in results.columns]
    return results.iloc[np.lexsort(keys[::-1])].reset_index(drop=True)


def _day_keys(site: np.ndarray, analyte: np.ndarray, day: np.ndarray, sites: pd.Index,
              analytes: pd.Index, first_day: int, n_days: int) -> np.ndarray:
    """One int64 per (site, analyte, day) (-1 where the site or analyte is not indexed)."""
    si = sites.get_indexer(site).astype(np.int64)
    ai = analytes.get_indexer(analyte).astype(np.int64)
    key: np.ndarray = (si * len(analytes) + ai) * n_days + (day - first_day)
    key[(si < 0) | (ai < 0) | (day < first_day) | (day >= first_day + n_days)] = -1
    return key


def _runs(days: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """Sorted distinct days as closed ranges; days at most ``gap`` apart share a range."""
    if not len(days):
        return []
    breaks = np.flatnonzero(np.diff(days) > gap)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(days) - 1]])
    return [(int(days[a]), int(days[b])) for a, b in zip(starts, ends, strict=True)]


def _date_of(epoch_day: int) -> dt.date:
    return _day(epoch_day + _EPOCH_ORDINAL)


@dataclasses.dataclass
class ResultsChange:
    """What a results upload changes in the store, known before its rows are written.

    ``new_rows``: the rows the upload inserts (all roles, as validated); ``touched``: the
    (site, analyte, day) the store must recompute (``day`` in days since 1970-01-01): the days
    covered by every inserted sample row and by every sample row it supersedes;
    ``existing``: the current sample rows of the touched sites and analytes that the upload
    keeps, read before the write, from ``MAX_COMPOSITE_DAYS - 1`` days before each touched
    day to the day itself (a day depends only on those). :func:`refresh_for_results` builds
    the touched days from ``existing`` and ``new_rows`` without reading the upload back.
    """

    new_rows: pd.DataFrame
    touched: pd.DataFrame
    existing: pd.DataFrame

    @classmethod
    def prepare(cls, conn: Connection, new_rows: pd.DataFrame,
                superseded: pd.DataFrame) -> ResultsChange:
        """The change of inserting ``new_rows`` and demoting ``superseded`` (current rows
        with ``result_id``, key and compared columns), read on ``conn`` before the write.
        """
        parts = []
        for rows in (new_rows, superseded):  # the sample rows' four columns, not a whole copy
            rows = rows.loc[rows["sample_role"].to_numpy() == "sample",
                            ["site", "analyte", "sample_date", "composite_hours"]]
            if not len(rows):
                continue
            hours = pd.to_numeric(rows["composite_hours"], errors="coerce").to_numpy(
                dtype=float, na_value=np.nan)
            hours = np.where(np.isnan(hours), 24.0, hours)
            parts.append((rows["site"].to_numpy(dtype=object),
                          rows["analyte"].to_numpy(dtype=object),
                          _epoch_days(rows["sample_date"]),
                          np.maximum(1, np.ceil(hours / 24.0)).astype(np.int64)))
        if not parts:
            empty = pd.DataFrame({"site": pd.Series(dtype=object),
                                  "analyte": pd.Series(dtype=object),
                                  "day": pd.Series(dtype=np.int64)})
            return cls(new_rows, empty, _frame_of(conn, [], _CHANGE_READ))
        site = np.concatenate([p[0] for p in parts])
        analyte = np.concatenate([p[1] for p in parts])
        day = np.concatenate([p[2] for p in parts])
        span = np.concatenate([p[3] for p in parts])
        sites = pd.Index(pd.unique(site)).sort_values()
        analytes = pd.Index(pd.unique(analyte)).sort_values()
        first = int(day.min())
        n_days = int(day.max() + span.max()) - first + 1
        keys = np.unique(np.concatenate([
            _day_keys(site[span > k], analyte[span > k], day[span > k] + k, sites, analytes,
                      first, n_days) for k in range(int(span.max()))]))
        pair, offset = np.divmod(keys, n_days)
        touched = pd.DataFrame({
            "site": np.asarray(sites, dtype=object)[pair // len(analytes)],
            "analyte": np.asarray(analytes, dtype=object)[pair % len(analytes)],
            "day": offset + first,
        })
        existing = _window_rows(conn, touched)
        if len(superseded) and len(existing):
            gone = pd.to_numeric(superseded["result_id"]).to_numpy(dtype=np.int64)
            existing = existing[~np.isin(existing["result_id"].to_numpy(dtype=np.int64), gone)]
        return cls(new_rows, touched, existing.reset_index(drop=True))

    def new_sample_days(self) -> pd.DataFrame:
        """Distinct (site, analyte, sample_date) of the inserted sample rows (the days the
        upload-time alerts evaluate).
        """
        rows = self.new_rows
        rows = rows.loc[rows["sample_role"].to_numpy() == "sample",
                        ["site", "analyte", "sample_date"]]
        return rows.drop_duplicates().reset_index(drop=True)


def _frame_of(conn: Connection, rows: list[tuple[Any, ...]], columns: Sequence[str]
              ) -> pd.DataFrame:
    from wastewater.storage.repository import _frame

    return _frame(rows, columns)


def _window_rows(conn: Connection, touched: pd.DataFrame) -> pd.DataFrame:
    """Current sample rows (:data:`_CHANGE_READ`) of the touched sites × analytes from
    ``MAX_COMPOSITE_DAYS - 1`` days before each touched day of the site to the day.
    """
    r = t.results.c
    back = MAX_COMPOSITE_DAYS - 1
    rows: list[tuple[Any, ...]] = []
    for site, group in touched.groupby("site", sort=True):
        days = np.unique(group["day"].to_numpy(dtype=np.int64))
        ranges = [(lo - back, hi) for lo, hi in _runs(days, back + 1)]
        analytes = sorted(pd.unique(group["analyte"]))
        for part in _chunks(ranges, 200):
            rows.extend(_fetch_rows(conn, sa.select(*[r[c] for c in _CHANGE_READ]).where(
                r.site == site, r.analyte.in_(analytes), r.is_current.is_(True),
                r.sample_role == "sample",
                sa.or_(*[r.sample_date.between(_date_of(lo), _date_of(hi)) for lo, hi in part]))))
    return _frame_of(conn, rows, _CHANGE_READ)


def refresh_for_results(conn: Connection, change: ResultsChange, *,
                        now: dt.datetime | None = None) -> int:
    """Bring the store up to date with a results upload whose rows were just written (call
    inside its transaction): the touched days are rebuilt from the rows kept
    (``change.existing``) and the rows inserted (``change.new_rows``, already in memory), the
    flows and populations of the touched sites; the stored rows of those days are replaced in
    one bulk insert and the versions of the touched series incremented. Gives the rows a
    from-scratch build gives for those days (tests/test_series_store.py). Returns the number
    of series whose version was incremented.
    """
    from wastewater.storage.repository import FLOW_COLUMNS, POPULATION_COLUMNS

    touched = change.touched
    if not len(touched):
        return 0
    f, p, s, v = t.flows.c, t.site_populations.c, t.series_daily.c, t.series_versions.c
    back = MAX_COMPOSITE_DAYS - 1
    sites = sorted(pd.unique(touched["site"]))
    flow_rows: list[tuple[Any, ...]] = []
    for site, group in touched.groupby("site", sort=True):
        lo, hi = int(group["day"].min()), int(group["day"].max())
        flow_rows.extend(_fetch_rows(conn, sa.select(f.site, f.date, f.flow_m3_per_day).where(
            f.site == site, f.is_current.is_(True),
            f.date >= _date_of(lo - back), f.date <= _date_of(hi + back)).order_by(f.date)))
    pop_rows: list[tuple[Any, ...]] = []
    for part in _chunks(sites, 500):
        pop_rows.extend(_fetch_rows(conn, sa.select(p.site, p.year, p.population, p.method)
                                    .where(p.site.in_(part)).order_by(p.site, p.year, p.method)))
    flows = _frame_of(conn, flow_rows, FLOW_COLUMNS)
    pops = _frame_of(conn, pop_rows, POPULATION_COLUMNS)
    built = _build_touched(change, touched, sites, flows, pops)  # built while written
    # stored days to replace: only series that ever had a version can have stored rows
    known: set[tuple[str, str]] = set()
    for part in _chunks(sites, 500):
        known.update((a, b) for a, b in conn.execute(
            sa.select(v.site, v.analyte).where(v.site.in_(part))))
    pairs = _distinct_pairs(touched)
    if known:
        for (site, analyte), group in touched.groupby(["site", "analyte"], sort=True):
            if (site, analyte) not in known:
                continue
            ranges = _runs(group["day"].to_numpy(dtype=np.int64), 1)
            for part in _chunks(ranges, 200):
                conn.execute(t.series_daily.delete().where(
                    s.site == site, s.analyte == analyte,
                    sa.or_(*[s.date.between(_date_of(lo), _date_of(hi)) for lo, hi in part])))
    _insert_rows(conn, built)
    return _bump_versions(conn, pairs, now=now)


def _distinct_pairs(touched: pd.DataFrame) -> list[tuple[str, str]]:
    """The distinct (site, analyte) of ``touched``, sorted (from codes, not a frame of pairs)."""
    site_codes, site_names = pd.factorize(touched["site"])
    analyte_codes, analyte_names = pd.factorize(touched["analyte"])
    n_analytes = max(len(analyte_names), 1)
    pair = np.unique(site_codes.astype(np.int64) * n_analytes + analyte_codes)
    return sorted(zip(np.asarray(site_names, dtype=object)[pair // n_analytes].tolist(),
                      np.asarray(analyte_names, dtype=object)[pair % n_analytes].tolist(),
                      strict=True))


#: Result rows per build of :func:`_build_touched` (whole sites; a site with more is built alone).
BUILD_ROWS = 100_000


def _build_touched(change: ResultsChange, touched: pd.DataFrame, sites: list[str],
                   flows: pd.DataFrame, pops: pd.DataFrame) -> Iterator[pd.DataFrame]:
    """Store rows of the touched (site, analyte, day) of ``change``, sorted by site, analyte
    and date, as frames of a few whole sites each, made one at a time.

    Each frame is built from the kept rows and the inserted sample rows of its sites only
    (about :data:`BUILD_ROWS` result rows), so that a million-row upload never holds the
    intermediate arrays of a build over all its rows, nor all its store rows at once (the bulk
    load writes each frame before the next is built); every series is built on its own rows
    (:func:`build_pairs`), so the rows equal those of one build over everything.
    """
    site_index = pd.Index(sites)
    analyte_index = pd.Index(sorted(pd.unique(touched["analyte"])))
    first = int(touched["day"].min())
    n_days = int(touched["day"].max()) - first + 1
    touched_keys = _day_keys(touched["site"].to_numpy(dtype=object),
                             touched["analyte"].to_numpy(dtype=object),
                             touched["day"].to_numpy(dtype=np.int64), site_index, analyte_index,
                             first, n_days)
    new = change.new_rows
    existing = change.existing
    columns = [new.columns.get_loc(c) for c in _CHANGE_READ if c != "result_id"]
    # each row's site position (-1: not a sample row, or a site outside the touched ones)
    new_site = site_index.get_indexer(new["site"].to_numpy(dtype=object))
    new_site[new["sample_role"].to_numpy() != "sample"] = -1
    old_site = site_index.get_indexer(existing["site"].to_numpy(dtype=object))
    rows_before = np.concatenate([[0], np.cumsum(
        np.bincount(new_site[new_site >= 0], minlength=len(sites))
        + np.bincount(old_site[old_site >= 0], minlength=len(sites)))])
    lo = 0
    while lo < len(sites):  # sites lo..hi-1: about BUILD_ROWS rows, at least one site
        hi = max(lo + 1, int(np.searchsorted(rows_before, rows_before[lo] + BUILD_ROWS,
                                             side="right")) - 1)
        results = _build_order(pd.concat(
            [existing.iloc[np.flatnonzero((old_site >= lo) & (old_site < hi))],
             new.iloc[np.flatnonzero((new_site >= lo) & (new_site < hi)), columns]],
            ignore_index=True))
        lo = hi
        if not len(results):
            continue
        built = build_pairs(results, flows, pops)
        del results
        built_days = built["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
        built_keys = _day_keys(built["site"].to_numpy(dtype=object),
                               built["analyte"].to_numpy(dtype=object), built_days, site_index,
                               analyte_index, first, n_days)
        inside = (built_keys >= 0) & np.isin(built_keys, touched_keys)
        if inside.any():
            yield built[inside]


def refresh_for_upload(conn: Connection, upload_id: int, kind: str, *,
                       now: dt.datetime | None = None) -> int:
    """Bring the store up to date with upload ``upload_id`` (call inside its transaction).

    The rows written for the upload (and the versions they superseded) say which
    (site, analyte, day) ranges changed; those ranges are recomputed from the current raw
    rows and the versions of the affected series incremented. Events and site attributes do
    not enter the store. Returns the number of series whose version was incremented.
    """
    touched = _touched_by_upload(conn, int(upload_id), kind)
    if not touched:
        return 0
    return _refresh(conn, touched, now=now)


def _site_analytes(conn: Connection, sites: list[str]) -> dict[str, set[str]]:
    """Analytes with a series (current sample results or a stored version) per site."""
    r = t.results.c
    v = t.series_versions.c
    out: dict[str, set[str]] = defaultdict(set)
    for part in _chunks(sites, 500):
        for site, analyte in conn.execute(
                sa.select(r.site, r.analyte).distinct()
                .where(r.site.in_(part), r.is_current.is_(True), r.sample_role == "sample")):
            out[site].add(analyte)
        for site, analyte in conn.execute(sa.select(v.site, v.analyte).where(v.site.in_(part))):
            out[site].add(analyte)
    return out


_T = TypeVar("_T")


def _chunks(seq: list[_T], size: int) -> Iterable[list[_T]]:
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


def _refresh(conn: Connection, touched: _Touched, *, now: dt.datetime | None) -> int:
    from wastewater.storage.repository import FLOW_COLUMNS, POPULATION_COLUMNS, _frame

    pairs: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for key, ranges in touched.pairs.items():
        pairs[key].extend(ranges)
    if touched.sites:
        analytes = _site_analytes(conn, sorted(touched.sites))
        for site, ranges in touched.sites.items():
            for analyte in analytes.get(site, ()):
                pairs[(site, analyte)].extend(ranges)
    if not pairs:
        return 0
    by_site: dict[str, dict[str, list[tuple[int, int]]]] = defaultdict(dict)
    for (site, analyte), ranges in pairs.items():
        by_site[site][analyte] = _merge(ranges)
    r, f, p, s = t.results.c, t.flows.c, t.site_populations.c, t.series_daily.c
    back = MAX_COMPOSITE_DAYS - 1
    for site, per_analyte in sorted(by_site.items()):
        lo_all = min(lo for rs in per_analyte.values() for lo, _ in rs)
        hi_all = max(hi for rs in per_analyte.values() for _, hi in rs)
        res_rows = _fetch_rows(conn,
            sa.select(*[r[c] for c in _RESULT_READ])
            .where(r.site == site, r.analyte.in_(sorted(per_analyte)), r.is_current.is_(True),
                   r.sample_role == "sample",
                   r.sample_date >= _day(lo_all - back), r.sample_date <= _day(hi_all))
            .order_by(r.analyte, r.sample_date, r.sample_id, r.replicate, r.result_id))
        results = _build_order(_frame(res_rows, _RESULT_READ))
        flows = _frame(_fetch_rows(conn,
            sa.select(f.site, f.date, f.flow_m3_per_day)
            .where(f.site == site, f.is_current.is_(True),
                   f.date >= _day(lo_all - back), f.date <= _day(hi_all + back))
            .order_by(f.date)), FLOW_COLUMNS)
        pops = _frame(conn.execute(
            sa.select(p.site, p.year, p.population, p.method).where(p.site == site)
            .order_by(p.year, p.method)).all(), POPULATION_COLUMNS)
        for analyte, ranges in sorted(per_analyte.items()):
            for part in _chunks(ranges, 200):
                conn.execute(t.series_daily.delete().where(
                    s.site == site, s.analyte == analyte,
                    sa.or_(*[s.date.between(_day(lo), _day(hi)) for lo, hi in part])))
        if not len(results):
            continue
        # every analyte of the site in one build (each series on its own rows), then only the
        # days inside the analyte's touched ranges are kept
        built = build_pairs(results, flows, pops)
        days = (built["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
                + dt.date(1970, 1, 1).toordinal())
        inside = np.zeros(len(built), dtype=bool)
        analyte_of = built["analyte"].to_numpy()
        for analyte, ranges in per_analyte.items():
            m = np.flatnonzero(analyte_of == analyte)
            if not len(m):
                continue
            bounds = np.array(ranges, dtype=np.int64)
            pos = np.searchsorted(bounds[:, 0], days[m], side="right") - 1
            inside[m] = (pos >= 0) & (days[m] <= bounds[np.clip(pos, 0, None), 1])
        if inside.any():
            _insert_rows(conn, built[inside])
    return _bump_versions(conn, sorted(pairs), now=now)


def _day(ordinal: int) -> dt.date:
    return dt.date.fromordinal(max(_FIRST_DAY.toordinal(), min(_LAST_DAY.toordinal(), ordinal)))


def _insert_rows(conn: Connection, rows: pd.DataFrame | Iterable[pd.DataFrame]) -> None:
    """Bulk-insert store rows (a frame, or frames made one at a time), one batch of driver
    values at a time (:func:`wastewater.storage.bulk.insert_frames`).
    """
    from wastewater.storage.bulk import insert_frames

    insert_frames(conn, t.series_daily, [rows] if isinstance(rows, pd.DataFrame) else rows,
                  STORE_COLUMNS)


def _fetch_rows(conn: Connection, query: sa.Select[Any]) -> list[tuple[Any, ...]]:
    """The driver's plain tuples of ``query`` (no result-row object per row; SQLite returns
    dates as ISO text, which :func:`wastewater.storage.repository._frame` reads).
    """
    result = conn.execute(query)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def _bump_versions(conn: Connection, pairs: list[tuple[str, str]], *,
                   now: dt.datetime | None) -> int:
    """Increment the version of every pair (insert version 1 for new ones)."""
    if not pairs:
        return 0
    now = now or dt.datetime.now(dt.UTC)
    v = t.series_versions.c
    existing: set[tuple[str, str]] = set()
    sites = sorted({site for site, _ in pairs})
    for part in _chunks(sites, 500):
        existing.update((a, b) for a, b in conn.execute(
            sa.select(v.site, v.analyte).where(v.site.in_(part))))
    old = [{"s": a, "a": b} for a, b in pairs if (a, b) in existing]
    new = [{"site": a, "analyte": b, "version": 1, "changed_at": now}
           for a, b in pairs if (a, b) not in existing]
    if old:
        conn.execute(
            t.series_versions.update()
            .where(v.site == sa.bindparam("s"), v.analyte == sa.bindparam("a"))
            .values(version=v.version + 1, changed_at=now), old)
    if new:
        conn.execute(t.series_versions.insert(), new)
    return len(pairs)


# --------------------------------------------------------------------------- rebuild


def scratch_build(conn: Connection) -> pd.DataFrame:
    """The whole store computed from the raw tables (every pair, every day), sorted by key."""
    from wastewater.storage.repository import FLOW_COLUMNS, POPULATION_COLUMNS, _frame

    r, f, p = t.results.c, t.flows.c, t.site_populations.c
    read = (*_RESULT_READ, "sample_id", "replicate", "result_id")
    results = _build_order(_frame(conn.execute(
        sa.select(*[r[c] for c in read])
        .where(r.is_current.is_(True), r.sample_role == "sample")
        .order_by(r.site, r.analyte, r.sample_date, r.sample_id, r.replicate, r.result_id)).all(),
        read))[list(_RESULT_READ)]
    flows = _frame(conn.execute(sa.select(f.site, f.date, f.flow_m3_per_day)
                                .where(f.is_current.is_(True)).order_by(f.site, f.date)).all(),
                   FLOW_COLUMNS)
    pops = _frame(conn.execute(sa.select(p.site, p.year, p.population, p.method)
                               .order_by(p.site, p.year, p.method)).all(), POPULATION_COLUMNS)
    if results.empty:
        return _empty_store_frame()
    flows_by_site = {k: g for k, g in flows.groupby("site", sort=False)}
    pops_by_site = {k: g for k, g in pops.groupby("site", sort=False)}
    parts = []
    for (site, _analyte), group in results.groupby(["site", "analyte"], sort=True):
        parts.append(build_pair(group, flows_by_site.get(site, flows.iloc[:0]),
                                pops_by_site.get(site, pops.iloc[:0])))
    return pd.concat(parts, ignore_index=True)


def rebuild_series_conn(conn: Connection, *, now: dt.datetime | None = None) -> int:
    """Replace the whole store by a from-scratch build and increment every series' version.

    Runs on ``conn`` (inside the caller's transaction). Returns the number of stored rows.
    """
    frame = scratch_build(conn)
    conn.execute(t.series_daily.delete())
    if len(frame):
        _insert_rows(conn, frame)
    v = t.series_versions.c
    pairs = {(a, b) for a, b in conn.execute(sa.select(v.site, v.analyte))}
    pairs.update(zip(frame["site"], frame["analyte"], strict=True))
    _bump_versions(conn, sorted(pairs), now=now)
    return len(frame)


def rebuild_series(engine: Engine) -> int:
    """``wastewater db rebuild-series``: rebuild the store in one write transaction."""
    from wastewater.storage.database import write_transaction

    with write_transaction(engine) as conn:
        return rebuild_series_conn(conn)


# --------------------------------------------------------------------------- reads


def read_store(conn_or_engine: Connection | Engine, site: str | None = None,
               analyte: str | None = None, start: Any = None, end: Any = None) -> pd.DataFrame:
    """Stored rows (:data:`STORE_COLUMNS`), sorted by site, analyte, date; one indexed query."""
    from wastewater.storage.database import connect
    from wastewater.storage.repository import _frame

    s = t.series_daily.c
    query = sa.select(*[s[c] for c in STORE_COLUMNS]).order_by(s.site, s.analyte, s.date)
    if site is not None:
        query = query.where(s.site == site)
    if analyte is not None:
        query = query.where(s.analyte == analyte)
    if start is not None:
        query = query.where(s.date >= pd.Timestamp(start).date())
    if end is not None:
        query = query.where(s.date <= pd.Timestamp(end).date())
    if isinstance(conn_or_engine, Engine):
        with connect(conn_or_engine) as conn:
            rows = conn.execute(query).all()
    else:
        rows = conn_or_engine.execute(query).all()
    if not rows:
        return _empty_store_frame()
    frame = _frame(rows, STORE_COLUMNS)
    for c in VALUE_COLUMNS:
        if c in _BOOL_COLUMNS:
            frame[c] = frame[c].astype(bool)
        elif c in _INT_COLUMNS:
            frame[c] = frame[c].astype("int64")
        else:
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    return frame


def series_version(conn: Connection, site: str, analyte: str) -> tuple[int, dt.datetime] | None:
    """(version, changed_at UTC) of one series, ``None`` when it never existed."""
    v = t.series_versions.c
    row = conn.execute(sa.select(v.version, v.changed_at)
                       .where(v.site == site, v.analyte == analyte)).first()
    if row is None:
        return None
    when = row.changed_at
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(row.version), when


def read_store_many(engine: Engine, sites: Iterable[str], *, analytes: Iterable[str] | None = None,
                    start: Any = None, end: Any = None) -> pd.DataFrame:
    """Stored rows of several sites (and analytes), sorted by site, analyte, date."""
    wanted = sorted(set(sites))
    if not wanted:
        return _empty_store_frame()
    parts = []
    for site in wanted:
        if analytes is None:
            parts.append(read_store(engine, site, start=start, end=end))
        else:
            parts.extend(read_store(engine, site, a, start=start, end=end)
                         for a in sorted(set(analytes)))
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty_store_frame()
    return pd.concat(parts, ignore_index=True)


_STATE_QUERY = (
    sa.select(t.sites.c.site, t.series_versions.c.version, t.series_versions.c.changed_at)
    .select_from(t.sites.outerjoin(
        t.series_versions, sa.and_(t.series_versions.c.site == t.sites.c.site,
                                   t.series_versions.c.analyte == sa.bindparam("analyte"))))
    .where(t.sites.c.site == sa.bindparam("site")))
_POPULATION_QUERY = (
    sa.select(t.site_populations.c.site, t.site_populations.c.year,
              t.site_populations.c.population, t.site_populations.c.method)
    .where(t.site_populations.c.site == sa.bindparam("site"))
    .order_by(t.site_populations.c.year, t.site_populations.c.method))


@dataclasses.dataclass(frozen=True)
class SeriesState:
    """What a reader of one series needs before reading it: the site exists, its latest
    population (for the public threshold) and the series' data version.
    """

    version: int
    changed_at: dt.datetime | None
    population: int | None


def site_series_state(engine: Engine, site: str, analyte: str, *,
                      with_population: bool = True) -> SeriesState | None:
    """One site's existence, latest population and the (site, analyte) data version.

    ``None`` when the site does not exist. ``version`` is 0 for a series without data. The
    latest population is chosen as in :func:`wastewater.storage.repository.load_sites`.
    """
    from wastewater.storage.database import connect
    from wastewater.storage.repository import latest_populations

    with connect(engine) as conn:
        row = conn.execute(_STATE_QUERY, {"site": site, "analyte": analyte}).first()
        if row is None:
            return None
        population = None
        if with_population:
            pops = conn.execute(_POPULATION_QUERY, {"site": site}).all()
            population = latest_populations(pops).get(site, (None,))[0]
    when = row.changed_at
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return SeriesState(int(row.version or 0), when, population)


_KEY_SITE_STATE_QUERY = (
    sa.select(t.api_keys.c.key_id, t.api_keys.c.name, t.api_keys.c.role, t.api_keys.c.sites_json,
              t.api_keys.c.revoked_at, t.sites.c.site, t.series_versions.c.version,
              t.series_versions.c.changed_at)
    .select_from(
        sa.select(sa.literal_column("1").label("one")).subquery("one")
        .outerjoin(t.api_keys, t.api_keys.c.key_hash == sa.bindparam("digest"))
        .outerjoin(t.sites, t.sites.c.site == sa.bindparam("site"))
        .outerjoin(t.series_versions, sa.and_(t.series_versions.c.site == t.sites.c.site,
                                              t.series_versions.c.analyte == sa.bindparam("analyte")))))


def key_and_series_state(engine: Engine, key_digest: str | None, site: str, analyte: str, *,
                         with_population: bool = False) -> tuple[Principal | None, SeriesState | None]:
    """The key of ``key_digest`` and :func:`site_series_state` of one series in one SELECT.

    What a request for one series needs before anything is computed (``/series``): one pooled
    connection, one statement (an index lookup each of the key digest, the site and the
    series version; :func:`wastewater.storage.database.read_rows`), plus the site's population
    rows when ``with_population`` (the public threshold). The principal is ``None`` for no
    digest, an unknown or a revoked key (as :func:`wastewater.storage.keys.lookup_key`); the
    state is ``None`` when the site does not exist.
    """
    from wastewater.storage.database import read_rows
    from wastewater.storage.keys import key_principal
    from wastewater.storage.repository import latest_populations

    (row,) = read_rows(engine, _KEY_SITE_STATE_QUERY, {"digest": key_digest, "site": site, "analyte": analyte})
    key_id, name, role, sites_json, revoked_at, found, version, when = row
    principal = key_principal(key_id, name, role, sites_json, revoked_at)
    if found is None:
        return principal, None
    population = None
    if with_population:
        pops = read_rows(engine, _POPULATION_QUERY, {"site": site})
        population = latest_populations(pops).get(site, (None,))[0]
    if isinstance(when, str):  # SQLite gives the stored text
        when = dt.datetime.fromisoformat(when)
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return principal, SeriesState(int(version or 0), when, population)


def stored_analytes(engine: Engine, site: str) -> list[str]:
    """Analytes with at least one stored day at ``site`` (sorted; an index range scan)."""
    from wastewater.storage.database import connect

    s = t.series_daily.c
    with connect(engine) as conn:
        return sorted(conn.execute(sa.select(s.analyte).distinct().where(s.site == site)).scalars())
