"""The derived daily-series store: maintenance inside the ingest transaction, rebuild, reads.

``series_blocks`` holds one row per (site, analyte) series with at least one day covered by a
current sample result; its ``data`` is one columnar block of the series' days
(:data:`BLOCK_LAYOUT`, :func:`encode_block` / :func:`decode_block`, pure functions): per day the
joined daily inputs in canonical units exactly as :func:`wastewater.timeseries.build_dataset`
computes them for that one site × analyte (``loq_half`` substitution, ``de_jure`` population):
concentration, censoring flag and LOQ, flow, population used, load, load per 1 000 inhabitants,
replicate count and SD, composite hours. ``series_versions`` holds the data version of each
(site, analyte) series. A refresh reads the blocks of every touched series in one query, replaces
the touched days in memory (:func:`merge_days`: touched days without data disappear, a series
left without days loses its row) and writes the changed blocks back in one ``executemany`` each
for updated, new and removed series; :func:`read_store` decodes the blocks it selects and cuts
``[start, end]`` by binary search on the days.

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
(:meth:`ResultsChange.prepare`, given the current rows of the upload's samples that the ingest
has already read, so that only other samples' rows in the touched windows are read) and calls
:func:`refresh_for_results` after it, which rebuilds the touched days from the rows in memory;
for flows and sites uploads it calls :func:`refresh_for_upload`, which finds what changed from
the rows carrying the upload's id.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import struct
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
"""Columns of the frames :func:`build_pair` and :func:`read_store` return (one row per day)."""

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


# --------------------------------------------------------------------------- block encoding

BLOCK_MAGIC = b"WWSB"
"""First four bytes of every stored block (``series_blocks.data``)."""
BLOCK_VERSION = 1
"""Layout version written by :func:`encode_block`; :func:`decode_block` refuses any other."""
BLOCK_LAYOUT: tuple[tuple[str, str], ...] = (
    ("date", "<i4"),                        # days since 1970-01-01, strictly ascending
    ("concentration_ng_per_l", "<f8"),
    ("censored", "u1"),                     # 0 or 1
    ("loq_ng_per_l", "<f8"),
    ("flow_m3_per_day", "<f8"),
    ("population", "<f8"),
    ("load_mg_per_day", "<f8"),
    ("load_mg_per_day_per_1000", "<f8"),
    ("n_replicates", "<i4"),
    ("replicate_sd_ng_per_l", "<f8"),
    ("composite_hours", "<i4"),
)
"""Columns of a block in their order and little-endian numpy dtype (version 1).

A block is a 12-byte header — the magic ``WWSB``, the layout version (``<u2``), the number of
columns (``<u2``, 11) and the number of days *n* (``<u4``) — followed by each column's *n*
values one column after the other (no padding): ``date`` as ``<i4`` days since 1970-01-01,
floats as ``<f8`` (NaN where a value is missing), ``censored`` as ``u1`` (0/1), the counts as
``<i4``. Length: 12 + 69 *n* bytes."""
_BLOCK_HEADER = struct.Struct("<4sHHI")
_BLOCK_DTYPES = [(name, np.dtype(code)) for name, code in BLOCK_LAYOUT]
_BLOCK_ROW_BYTES = sum(d.itemsize for _, d in _BLOCK_DTYPES)
_INT32 = np.iinfo(np.int32)


def encode_block(columns: Mapping[str, Any]) -> bytes:
    """The block (:data:`BLOCK_LAYOUT`) of one series' days.

    ``columns`` maps every name of :data:`BLOCK_LAYOUT` to equally long arrays: ``date`` in
    days since 1970-01-01 (integers) or as ``datetime64``, strictly ascending; floats with NaN
    for missing values; ``censored`` booleans; the counts integers. Raises ``ValueError`` for
    unsorted or repeated days, lengths that differ or values the layout cannot hold.

    >>> block = encode_block({"date": [0], **{c: [1] for c, _ in BLOCK_LAYOUT[1:]}})
    >>> len(block), block[:4]
    (81, b'WWSB')
    """
    date = np.asarray(columns["date"])
    if np.issubdtype(date.dtype, np.datetime64):
        date = date.astype("datetime64[D]").astype(np.int64)
    date = date.astype(np.int64, copy=False)
    n = len(date)
    if n and (np.any(np.diff(date) <= 0) or date[0] < _INT32.min or date[-1] > _INT32.max):
        raise ValueError("block dates must be strictly ascending days within int32")
    parts = [_BLOCK_HEADER.pack(BLOCK_MAGIC, BLOCK_VERSION, len(BLOCK_LAYOUT), n)]
    for name, dtype in _BLOCK_DTYPES:
        values = date if name == "date" else np.asarray(columns[name])
        if len(values) != n:
            raise ValueError(f"block column {name}: {len(values)} values for {n} days")
        if dtype.kind in "iu" and n:
            if values.dtype.kind == "f" and np.any(np.isnan(values)):
                raise ValueError(f"block column {name} cannot hold a missing value")
            lo, hi = np.iinfo(dtype).min, np.iinfo(dtype).max
            if values.min() < lo or values.max() > hi:
                raise ValueError(f"block column {name} out of range for {dtype.str}")
        parts.append(np.ascontiguousarray(values, dtype=dtype).tobytes())
    return b"".join(parts)


def decode_block(data: bytes | memoryview) -> dict[str, np.ndarray]:
    """The columns of a block (:func:`encode_block`), as new native arrays: ``date`` int32
    days since 1970-01-01, floats float64, ``censored`` bool, the counts int32.

    Raises ``ValueError`` for another magic, layout version or column count, or a length
    that does not match the number of days.
    """
    buf = memoryview(data)
    if len(buf) < _BLOCK_HEADER.size:
        raise ValueError("series block shorter than its header")
    magic, version, n_columns, n = _BLOCK_HEADER.unpack_from(buf)
    if magic != BLOCK_MAGIC or version != BLOCK_VERSION or n_columns != len(BLOCK_LAYOUT):
        raise ValueError(f"unknown series block (magic {magic!r}, version {version}, "
                         f"{n_columns} columns)")
    if len(buf) != _BLOCK_HEADER.size + n * _BLOCK_ROW_BYTES:
        raise ValueError(f"series block of {len(buf)} bytes for {n} days")
    out: dict[str, np.ndarray] = {}
    offset = _BLOCK_HEADER.size
    for name, dtype in _BLOCK_DTYPES:
        raw = np.frombuffer(buf, dtype=dtype, count=n, offset=offset)
        offset += n * dtype.itemsize
        out[name] = raw.astype(bool) if name == "censored" else raw.astype(dtype.newbyteorder("="))
    return out


def _empty_columns() -> dict[str, np.ndarray]:
    return {name: np.empty(0, dtype=bool if name == "censored" else dtype.newbyteorder("="))
            for name, dtype in _BLOCK_DTYPES}


def merge_days(old: Mapping[str, np.ndarray], ranges: np.ndarray,
               new: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A series' days after replacing the days inside ``ranges`` by ``new``.

    ``old`` and ``new`` are block columns (:func:`decode_block`; ``date`` in days since
    1970-01-01, ascending); ``ranges`` are closed ranges of days as a (k, 2) integer array,
    sorted and disjoint. Days of ``old`` inside a range are dropped (a touched day without new
    data disappears), ``new`` must lie inside the ranges; the result is sorted by day.
    """
    old_days = np.asarray(old["date"], dtype=np.int64)
    new_days = np.asarray(new["date"], dtype=np.int64)
    if not len(old_days):  # a new series: its rebuilt days as they are
        return {name: np.asarray(new[name]) for name, _ in _BLOCK_DTYPES}
    if len(ranges):
        bounds = np.asarray(ranges, dtype=np.int64).reshape(-1, 2)
        pos = np.searchsorted(bounds[:, 0], old_days, side="right") - 1
        inside = (pos >= 0) & (old_days <= bounds[np.clip(pos, 0, None), 1])
        keep = np.flatnonzero(~inside)
    else:
        keep = np.arange(len(old_days))
    if not len(new_days):
        return {name: np.asarray(old[name])[keep] for name, _ in _BLOCK_DTYPES}
    order = np.argsort(np.concatenate([old_days[keep], new_days]), kind="stable")
    return {name: np.concatenate([np.asarray(old[name])[keep], np.asarray(new[name])])[order]
            for name, _ in _BLOCK_DTYPES}


def _frame_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Block columns of store rows (:data:`STORE_COLUMNS`; ``date`` as days since 1970-01-01)."""
    out = {c: frame[c].to_numpy() for c in VALUE_COLUMNS}
    out["date"] = frame["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    return out


def _store_frame(sites: Sequence[str], analytes: Sequence[str],
                 blocks: Sequence[Mapping[str, np.ndarray]]) -> pd.DataFrame:
    """Store rows (:data:`STORE_COLUMNS`, the dtypes of :func:`build_pair`) of decoded blocks."""
    counts = [len(b["date"]) for b in blocks]
    if not sum(counts):
        return _empty_store_frame()
    data: dict[str, Any] = {
        "site": np.repeat(np.asarray(sites, dtype=object), counts),
        "analyte": np.repeat(np.asarray(analytes, dtype=object), counts),
        "date": np.concatenate([b["date"] for b in blocks]).astype("datetime64[D]")
                .astype("datetime64[ns]"),
    }
    for c in VALUE_COLUMNS:
        values = np.concatenate([b[c] for b in blocks])
        data[c] = values.astype("int64") if c in _INT_COLUMNS else values
    return pd.DataFrame(data, columns=list(STORE_COLUMNS))


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


def _ordinal(day: Any) -> int:
    if isinstance(day, dt.datetime):
        day = day.date()
    if not isinstance(day, dt.date):
        day = pd.Timestamp(day).date()
    return int(day.toordinal())


def _touched_by_upload(conn: Connection, upload_id: int, kind: str) -> _Touched:
    from wastewater.timeseries import composite_days

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
                    span = spans[hours] = int(composite_days([hours])[0])
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


def _build_order(results: pd.DataFrame, leading: Sequence[np.ndarray] = ()) -> pd.DataFrame:
    """Rows in build order: site, analyte, sample_date, sample_id, replicate, result_id, each
    compared as Python compares them (code points), whatever the database's collation, so that
    every build (incremental or from scratch) averages a day's replicates in the same order.

    ``leading``: integer codes of the rows for the first ``len(leading)`` of those columns,
    ordered as the values (positions in their sorted distinct values), used instead of
    factorizing the column again.
    """
    if len(results) < 2:
        return results.reset_index(drop=True)
    keys = [*leading, *[pd.factorize(results[c], sort=True)[0]
                        for c in _BUILD_ORDER[len(leading):] if c in results.columns]]
    return results.iloc[np.lexsort(keys[::-1])].reset_index(drop=True)


@dataclasses.dataclass(frozen=True)
class _TouchedDays:
    """The touched (site, analyte, day) of a results upload as sorted distinct int64 keys.

    ``sites`` and ``analytes`` are the sorted distinct sites and analytes (object arrays), the
    key of (site position *s*, analyte position *a*, day *d*) is
    ``(s * len(analytes) + a) * n_days + d - first_day``, so the keys sort by site, analyte
    and day (Python order of the names).
    """

    sites: np.ndarray
    analytes: np.ndarray
    first_day: int
    n_days: int
    keys: np.ndarray

    def pair_of(self) -> np.ndarray:
        """Series position (``s * len(analytes) + a``) of each key."""
        pair: np.ndarray = self.keys // self.n_days
        return pair

    def day_of(self) -> np.ndarray:
        """Day (days since 1970-01-01) of each key."""
        day: np.ndarray = self.keys % self.n_days + self.first_day
        return day

    def site_spans(self) -> list[tuple[int, int, int]]:
        """(site position, first and one-past-last index into ``keys``) of each touched site."""
        site = self.pair_of() // len(self.analytes)
        cut = np.flatnonzero(site[1:] != site[:-1]) + 1
        starts = np.concatenate([[0], cut]).astype(np.int64)
        ends = np.concatenate([cut, [len(site)]]).astype(np.int64)
        return [(int(site[a]), int(a), int(b)) for a, b in zip(starts, ends, strict=True)]

    def frame(self) -> pd.DataFrame:
        """``site``, ``analyte``, ``day`` of every touched day, sorted."""
        pair = self.pair_of()
        return pd.DataFrame({"site": self.sites[pair // len(self.analytes)],
                             "analyte": self.analytes[pair % len(self.analytes)],
                             "day": self.day_of()})


def _no_touched_days() -> _TouchedDays:
    return _TouchedDays(np.empty(0, dtype=object), np.empty(0, dtype=object), 0, 1,
                        np.empty(0, dtype=np.int64))


def _sorted_distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values of an integer array, sorted (``np.unique``'s result, by a sort; numpy 2
    takes a slower hash-based route for a plain ``np.unique`` of many distinct integers).
    """
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    out: np.ndarray = ordered[keep]
    return out


def _date_of(epoch_day: int) -> dt.date:
    return _day(epoch_day + _EPOCH_ORDINAL)


@dataclasses.dataclass
class ResultsChange:
    """What a results upload changes in the store, known before its rows are written.

    ``new_rows``: the rows the upload inserts (all roles, as validated); ``touched``: the
    (site, analyte, day) the store must recompute (:class:`_TouchedDays`, ``day`` in days
    since 1970-01-01): the days covered by every inserted sample row and by every sample row it
    supersedes; ``new_site`` / ``new_analyte``: each inserted row's position in
    ``touched.sites`` / ``touched.analytes`` (-1 for rows that are not samples);
    ``existing``: the current sample rows of the touched sites and analytes that the upload
    keeps, read before the write, from ``MAX_COMPOSITE_DAYS - 1`` days before each touched
    day to the day itself (a day depends only on those). :func:`refresh_for_results` builds
    the touched days from ``existing`` and ``new_rows`` without reading the upload back.
    """

    new_rows: pd.DataFrame
    touched: _TouchedDays
    existing: pd.DataFrame
    new_site: np.ndarray
    new_analyte: np.ndarray

    @classmethod
    def prepare(cls, conn: Connection, new_rows: pd.DataFrame, superseded: pd.DataFrame,
                stored: pd.DataFrame | None = None) -> ResultsChange:
        """The change of inserting ``new_rows`` and demoting ``superseded`` (current rows
        with ``result_id``, key and compared columns), read on ``conn`` before the write.

        ``stored``: current rows already read on ``conn`` before the write (same columns as
        ``superseded``), holding *every* current row of each ``sample_id`` it contains (the
        ingest's look-up of the upload's stored versions). The kept rows of those samples are
        taken from it; only the current rows of other samples in the windows are read
        (:func:`_kept_rows`).
        """
        from wastewater.timeseries import composite_days

        parts = []
        new_sample = new_rows["sample_role"].to_numpy() == "sample"
        for rows, sample in ((new_rows, new_sample),
                             (superseded, superseded["sample_role"].to_numpy() == "sample")):
            # the sample rows' four columns, not a whole copy
            rows = rows.loc[sample, ["site", "analyte", "sample_date", "composite_hours"]]
            hours = pd.to_numeric(rows["composite_hours"], errors="coerce").to_numpy(
                dtype=float, na_value=np.nan)
            parts.append((rows["site"].to_numpy(dtype=object),
                          rows["analyte"].to_numpy(dtype=object),
                          _epoch_days(rows["sample_date"]) if len(rows) else
                          np.empty(0, dtype=np.int64),
                          composite_days(hours)))
        n_new = len(parts[0][0])
        new_site = np.full(len(new_rows), -1, dtype=np.int64)
        new_analyte = np.full(len(new_rows), -1, dtype=np.int64)
        if not n_new + len(parts[1][0]):
            return cls(new_rows, _no_touched_days(), _frame_of(conn, [], _CHANGE_READ),
                       new_site, new_analyte)
        site_codes, sites = pd.factorize(np.concatenate([p[0] for p in parts]), sort=True)
        analyte_codes, analytes = pd.factorize(np.concatenate([p[1] for p in parts]), sort=True)
        new_site[new_sample] = site_codes[:n_new]
        new_analyte[new_sample] = analyte_codes[:n_new]
        day = np.concatenate([p[2] for p in parts])
        span = np.concatenate([p[3] for p in parts])
        first = int(day.min())
        n_days = int(day.max() + span.max()) - first + 1
        base = (site_codes.astype(np.int64) * len(analytes) + analyte_codes) * n_days + (day - first)
        keys = _sorted_distinct(np.concatenate([base[span > k] + k for k in range(int(span.max()))]))
        touched = _TouchedDays(np.asarray(sites, dtype=object), np.asarray(analytes, dtype=object),
                               first, n_days, keys)
        existing = _kept_rows(conn, touched, superseded, stored)
        return cls(new_rows, touched, existing, new_site, new_analyte)

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


def _kept_rows(conn: Connection, touched: _TouchedDays, superseded: pd.DataFrame,
               stored: pd.DataFrame | None) -> pd.DataFrame:
    """Current sample rows (:data:`_CHANGE_READ`) that a results upload keeps in the windows
    of its touched days (:func:`_in_windows`), as read before the write; the rows of
    ``superseded`` are left out.

    The rows of the samples in ``stored`` (every current row of each of its ``sample_id``)
    come from ``stored``; the other samples' rows are read (:func:`_window_rows`, those
    samples excluded in the query), so that no row is read twice.
    """
    if stored is None or not len(stored):
        return _window_rows(conn, touched)
    inside = _in_windows(touched, stored["site"].to_numpy(dtype=object),
                         stored["analyte"].to_numpy(dtype=object), _epoch_days(stored["sample_date"]))
    read = _window_rows(conn, touched, skip_samples=pd.unique(stored["sample_id"].to_numpy(dtype=object)),
                        skipped_inside=int(inside.sum()))
    keep = inside & (stored["sample_role"].to_numpy(dtype=object) == "sample")
    if len(superseded):
        gone = pd.to_numeric(superseded["result_id"]).to_numpy(dtype=np.int64)
        keep &= ~np.isin(stored["result_id"].to_numpy(dtype=np.int64), gone)
    # one gather of the rows and columns kept
    held = _contract_dtypes(stored.iloc[np.flatnonzero(keep),
                                        [stored.columns.get_loc(c) for c in _CHANGE_READ]])
    if not len(read):
        return held.reset_index(drop=True)
    return pd.concat([held, read], ignore_index=True)


def _contract_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the dtypes :func:`wastewater.storage.repository._frame` gives its columns
    (the kept rows taken from memory then match the ones read).
    """
    from wastewater.storage.repository import _DTYPES

    return frame.astype({c: _DTYPES[c] for c in frame.columns
                         if c in _DTYPES and frame[c].dtype != _DTYPES[c]})


def _in_windows(touched: _TouchedDays, site: np.ndarray, analyte: np.ndarray,
                day: np.ndarray) -> np.ndarray:
    """Which rows (site, analyte, sample day in days since 1970-01-01) lie in the window of a
    touched day of their series: day D is touched and the sample day is in
    D − ``MAX_COMPOSITE_DAYS`` + 1 … D (a day depends only on those samples).
    """
    if not len(touched.keys) or not len(day):
        return np.zeros(len(day), dtype=bool)
    s = pd.Index(touched.sites).get_indexer(site)
    a = pd.Index(touched.analytes).get_indexer(analyte)
    lo = np.asarray(day, dtype=np.int64) - touched.first_day
    hi = lo + MAX_COMPOSITE_DAYS - 1
    inside = (s >= 0) & (a >= 0) & (hi >= 0) & (lo < touched.n_days)
    base = (s.astype(np.int64) * len(touched.analytes) + a) * touched.n_days
    first = base + np.clip(lo, 0, touched.n_days - 1)  # both bounds inside the series' keys
    last = base + np.clip(hi, 0, touched.n_days - 1)
    pos = np.searchsorted(touched.keys, first)
    found = touched.keys[np.minimum(pos, len(touched.keys) - 1)]
    in_window: np.ndarray = inside & (pos < len(touched.keys)) & (found <= last)
    return in_window


def _window_rows(conn: Connection, touched: _TouchedDays, skip_samples: Sequence[Any] = (),
                 skipped_inside: int | None = None) -> pd.DataFrame:
    """Current sample rows (:data:`_CHANGE_READ`) of the touched series from
    ``MAX_COMPOSITE_DAYS - 1`` days before each touched day to the day, except those of the
    samples ``skip_samples``, in **one** query.

    Each series' touched days become runs (days at most ``MAX_COMPOSITE_DAYS`` apart share
    one), each run one window ``(site, analyte, first day − 6, last day)`` (the union of the
    days' windows); the windows travel as one parameter, joined to the rows through the
    ``(site, analyte, sample_date)`` index (SQLite: a JSON array read with ``json_each``,
    PostgreSQL: four arrays ``unnest``-ed), and so do the skipped samples (``NOT IN`` a JSON
    array on SQLite, ``NOT EXISTS`` over a text array on PostgreSQL: a hash anti-join, which
    stays one even when the samples outgrow ``work_mem``, unlike a hashed ``NOT IN``).

    ``skipped_inside``: how many rows the windows hold of the skipped samples (every current
    row of them, any role). On SQLite, when the windows hold no other row at all, which one
    count over the index says (it counts every version and role, from the index alone),
    nothing else is read: no row of another sample can be in them (a first correction of a
    backfill is such a case; 300 k rows: 0.04 s instead of 0.28 s). PostgreSQL visits the
    rows for that count, which took longer than the read itself.
    """
    if not len(touched.keys):
        return _frame_of(conn, [], _CHANGE_READ)
    back = MAX_COMPOSITE_DAYS - 1
    pair, day = touched.pair_of(), touched.day_of()
    starts = np.ones(len(day), dtype=bool)
    starts[1:] = (pair[1:] != pair[:-1]) | (np.diff(day) > back + 1)
    first = np.flatnonzero(starts)
    last = np.append(first[1:], len(day)) - 1
    n_analytes = len(touched.analytes)
    sites = touched.sites[pair[first] // n_analytes].tolist()
    analytes = touched.analytes[pair[first] % n_analytes].tolist()
    lows = [_date_of(d) for d in (day[first] - back).tolist()]
    highs = [_date_of(d) for d in day[last].tolist()]
    skip = [str(v) for v in skip_samples]
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(f"r.{quote(c)}" for c in _CHANGE_READ)
    where = "r.is_current AND r.sample_role = 'sample'"
    if conn.dialect.name == "postgresql":
        if skip:
            # an anti-join (hashed, in batches when large), never a per-row list search
            where += (" AND NOT EXISTS (SELECT 1 FROM unnest(CAST(:skip AS text[])) AS s(sample_id)"
                      " WHERE s.sample_id = r.sample_id)")
        joined = ("FROM unnest(CAST(:sites AS text[]), CAST(:analytes AS text[]), "
                  "CAST(:lows AS date[]), CAST(:highs AS date[])) AS w(site, analyte, low, high) "
                  "JOIN results AS r ON r.site = w.site AND r.analyte = w.analyte "
                  "AND r.sample_date BETWEEN w.low AND w.high")
        params: dict[str, Any] = {"sites": sites, "analytes": analytes, "lows": lows,
                                  "highs": highs}
        if skip:
            params["skip"] = skip
    else:
        if skip:
            where += " AND r.sample_id NOT IN (SELECT value FROM json_each(:skip))"
        # CROSS JOIN: the windows are the outer loop, each one range of the index
        joined = ("FROM (SELECT json_extract(value, '$[0]') AS site, "
                  "json_extract(value, '$[1]') AS analyte, json_extract(value, '$[2]') AS low, "
                  "json_extract(value, '$[3]') AS high FROM json_each(:windows)) AS w "
                  "CROSS JOIN results AS r ON r.site = w.site "
                  "AND r.analyte = w.analyte AND r.sample_date BETWEEN w.low AND w.high")
        params = {"windows": json.dumps([[s, a, lo.isoformat(), hi.isoformat()] for s, a, lo, hi
                                         in zip(sites, analytes, lows, highs, strict=True)])}
        if skip:
            params["skip"] = json.dumps(skip)
    if skipped_inside is not None and conn.dialect.name == "sqlite":
        every = {k: v for k, v in params.items() if k != "skip"}
        if conn.execute(sa.text(f"SELECT count(*) {joined}"), every).scalar_one() == skipped_inside:
            return _frame_of(conn, [], _CHANGE_READ)
    result = conn.execute(sa.text(f"SELECT {columns} {joined} WHERE {where}"), params)
    try:
        rows = list(result.cursor.fetchall())
    finally:
        result.close()
    return _frame_of(conn, rows, _CHANGE_READ)


def refresh_for_results(conn: Connection, change: ResultsChange, *,
                        now: dt.datetime | None = None) -> int:
    """Bring the store up to date with a results upload whose rows were just written (call
    inside its transaction): the touched days are rebuilt from the rows kept
    (``change.existing``) and the rows inserted (``change.new_rows``, already in memory), the
    flows and populations of the touched sites; those days of the touched series' blocks are
    replaced (:func:`_replace_days`: one read, a merge without the database, one bulk write)
    and the versions of the touched series incremented. Gives the rows a from-scratch build
    gives for those days (tests/test_series_store.py). Returns the number of series whose
    version was incremented.
    """
    from wastewater.storage.repository import FLOW_COLUMNS, POPULATION_COLUMNS

    touched = change.touched
    if not len(touched.keys):
        return 0
    f, p = t.flows.c, t.site_populations.c
    back = MAX_COMPOSITE_DAYS - 1
    sites = [str(x) for x in touched.sites]
    day_of = touched.day_of()
    flow_rows: list[tuple[Any, ...]] = []
    for s, a, b in touched.site_spans():
        lo, hi = int(day_of[a:b].min()), int(day_of[a:b].max())
        flow_rows.extend(_fetch_rows(conn, sa.select(f.site, f.date, f.flow_m3_per_day).where(
            f.site == sites[s], f.is_current.is_(True),
            f.date >= _date_of(lo - back), f.date <= _date_of(hi + back)).order_by(f.date)))
    pop_rows: list[tuple[Any, ...]] = []
    for part in _chunks(sites, 500):
        pop_rows.extend(_fetch_rows(conn, sa.select(p.site, p.year, p.population, p.method)
                                    .where(p.site.in_(part)).order_by(p.site, p.year, p.method)))
    flows = _frame_of(conn, flow_rows, FLOW_COLUMNS)
    pops = _frame_of(conn, pop_rows, POPULATION_COLUMNS)
    ranges = _pair_ranges(touched)
    _replace_days(conn, ranges, _build_touched(change, flows, pops))
    return _bump_versions(conn, sorted(ranges), now=now)


@dataclasses.dataclass
class _BlockWrites:
    """``series_blocks`` rows to insert, update and delete (:func:`_write_blocks`)."""

    inserts: list[dict[str, Any]]
    updates: list[dict[str, Any]]
    deletes: list[dict[str, Any]]


def _pair_ranges(touched: _TouchedDays) -> dict[tuple[str, str], np.ndarray]:
    """The touched days of each (site, analyte) as sorted closed ranges of consecutive days
    (days since 1970-01-01), a (k, 2) int64 array per pair.
    """
    pair, day = touched.pair_of(), touched.day_of()  # sorted by pair, then day
    if not len(pair):
        return {}
    new_pair = np.ones(len(day), dtype=bool)
    new_pair[1:] = pair[1:] != pair[:-1]
    new_run = new_pair.copy()
    new_run[1:] |= np.diff(day) > 1
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], len(day)) - 1
    bounds = np.column_stack([day[starts], day[ends]])
    first_run = np.flatnonzero(new_pair[starts])  # each pair's first run
    last_run = np.append(first_run[1:], len(starts))
    n_analytes = len(touched.analytes)
    out = {}
    for a, b in zip(first_run.tolist(), last_run.tolist(), strict=True):
        code = int(pair[starts[a]])
        out[(str(touched.sites[code // n_analytes]), str(touched.analytes[code % n_analytes]))] = bounds[a:b]
    return out


#: Result rows per build of :func:`_build_touched` (whole sites; a site with more is built alone).
BUILD_ROWS = 100_000


_INPUT_COLUMNS = ("censor", "value_ng_per_l", "loq_ng_per_l", "lod_ng_per_l", "composite_hours",
                  "flow_m3_per_day")
"""Result columns a day's values are computed from (:func:`wastewater.timeseries.series_days`)."""

BuiltSeries = tuple[tuple[str, str], dict[str, np.ndarray]]
"""One series' rebuilt days: (site, analyte) and its block columns (:data:`BLOCK_LAYOUT`)."""


def _input_arrays(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """The :data:`_INPUT_COLUMNS` of result rows as arrays (text as objects, numbers as floats
    with NaN where missing or absent), the sample day as days since 1970-01-01, the sample id
    and the replicate; taken once per upload, each build gathers its rows from them.
    """
    from wastewater.timeseries import _days_ns

    n = len(rows)
    out: dict[str, np.ndarray] = {}
    for c in _INPUT_COLUMNS:
        if c not in rows.columns:
            out[c] = np.full(n, None if c == "censor" else np.nan, dtype=object if c == "censor"
                             else float)
        elif c == "censor":
            out[c] = rows[c].to_numpy(dtype=object)
        else:
            out[c] = rows[c].astype(float).to_numpy()
    out["day"] = (_days_ns(rows["sample_date"]).astype("datetime64[D]").astype(np.int64) if n
                  else np.empty(0, dtype=np.int64))
    out["sample_id"] = rows["sample_id"].to_numpy(dtype=object)
    out["replicate"] = rows["replicate"].to_numpy(dtype=np.int64)
    return out


def _build_touched(change: ResultsChange, flows: pd.DataFrame, pops: pd.DataFrame
                   ) -> Iterator[BuiltSeries]:
    """Rebuilt days of the touched series of ``change`` (:data:`BuiltSeries`, sorted by site
    and analyte): the touched (site, analyte, day) that have data.

    The rows are built a few whole sites at a time (about :data:`BUILD_ROWS` result rows),
    so that a million-row upload never holds the intermediate arrays of a build over all its
    rows, from the kept rows and the inserted sample rows of those sites only, on codes: the
    series of a row is its site and analyte position in ``change.touched`` (the names' order),
    its inputs are gathered from arrays taken once (:func:`_input_arrays`) and the days are
    computed by :func:`wastewater.timeseries.series_days`, the core of :func:`build_pairs`,
    so they equal those of a build over everything (every series on its own rows). Only the
    days with several rows need the build order (site, analyte, date, sample, replicate,
    result id): those rows alone are ranked. When nothing is kept (``change.existing`` empty)
    every built day is a touched one (the days the inserted samples cover); otherwise the
    built days outside the touched ones are dropped.
    """
    from wastewater.timeseries import series_days

    touched = change.touched
    n_sites, n_analytes = len(touched.sites), len(touched.analytes)
    existing = change.existing
    new_site, new_analyte = change.new_site, change.new_analyte
    old_site = pd.Index(touched.sites).get_indexer(existing["site"].to_numpy(dtype=object))
    old_analyte = pd.Index(touched.analytes).get_indexer(existing["analyte"].to_numpy(dtype=object))
    old, new = _input_arrays(existing), _input_arrays(change.new_rows)
    old["result_id"] = existing["result_id"].to_numpy(dtype=np.int64)
    new["result_id"] = np.full(len(change.new_rows), -1, dtype=np.int64)  # no id yet: first
    if "method" in pops.columns:
        pops = pops[pops["method"].fillna("de_jure") == STORE_POPULATION_METHOD]
    pops = pops[["site", "year", "population"]]
    rows_before = np.concatenate([[0], np.cumsum(
        np.bincount(new_site[new_site >= 0], minlength=n_sites)
        + np.bincount(old_site[old_site >= 0], minlength=n_sites))])
    lo = 0
    while lo < n_sites:  # sites lo..hi-1: about BUILD_ROWS rows, at least one site
        hi = max(lo + 1, int(np.searchsorted(rows_before, rows_before[lo] + BUILD_ROWS,
                                             side="right")) - 1)
        old_pick = np.flatnonzero((old_site >= lo) & (old_site < hi))
        new_pick = np.flatnonzero((new_site >= lo) & (new_site < hi))
        first_site = lo
        lo = hi
        if not len(old_pick) + len(new_pick):
            continue
        rows = {c: np.concatenate([old[c][old_pick], new[c][new_pick]])
                for c in (*_INPUT_COLUMNS, "day")}
        pair = ((np.concatenate([old_site[old_pick], new_site[new_pick]]) - first_site) * n_analytes
                + np.concatenate([old_analyte[old_pick], new_analyte[new_pick]]))

        def rank(positions: np.ndarray, old_pick: np.ndarray = old_pick,
                 new_pick: np.ndarray = new_pick) -> np.ndarray:
            # build order among the rows of days with several: date, sample, replicate, id
            # (the series is the same inside a day), ties in row order (kept rows first)
            distinct, back = np.unique(positions, return_inverse=True)
            kept = distinct < len(old_pick)

            def at(name: str) -> np.ndarray:
                out = np.empty(len(distinct), dtype=old[name].dtype)
                out[kept] = old[name][old_pick[distinct[kept]]]
                out[~kept] = new[name][new_pick[distinct[~kept] - len(old_pick)]]
                return out

            keys = [at("day"), pd.factorize(at("sample_id"), sort=True)[0], at("replicate"),
                    at("result_id")]
            ranks = np.empty(len(distinct), dtype=np.int64)
            ranks[np.lexsort(keys[::-1])] = np.arange(len(distinct))
            ranked: np.ndarray = ranks[back]
            return ranked

        days = series_days(pd.DataFrame({c: rows[c] for c in _INPUT_COLUMNS}, copy=False), pair,
                           np.arange((hi - first_site) * n_analytes) // n_analytes,
                           np.asarray(touched.sites[first_site:hi], dtype=object), rows["day"],
                           flows, pops, loq_method=STORE_LOQ_METHOD,
                           population_method=STORE_POPULATION_METHOD, rank=rank)
        del rows
        code = days.pop("pair") + first_site * n_analytes
        if len(existing):
            offset = days["date"] - touched.first_day
            keys = code * touched.n_days + offset
            pos = np.searchsorted(touched.keys, keys)
            inside = ((offset >= 0) & (offset < touched.n_days) & (pos < len(touched.keys))
                      & (touched.keys[np.minimum(pos, len(touched.keys) - 1)] == keys))
            code = code[inside]
            days = {c: v[inside] for c, v in days.items()}
        cut = np.flatnonzero(code[1:] != code[:-1]) + 1
        for a, b in zip(np.concatenate([[0], cut]).tolist(),
                        np.concatenate([cut, [len(code)]]).tolist(), strict=True):
            if a == b:
                continue
            series = int(code[a])
            yield ((str(touched.sites[series // n_analytes]), str(touched.analytes[series % n_analytes])),
                   {c: v[a:b] for c, v in days.items()})


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
    epoch_ranges = {(site, analyte): np.array(rs, dtype=np.int64).reshape(-1, 2) - _EPOCH_ORDINAL
                    for site, per_analyte in by_site.items() for analyte, rs in per_analyte.items()}
    _replace_days(conn, epoch_ranges, (built for frame in _rebuilt_days(conn, by_site)
                                       for built in _split_pairs(frame)))
    return _bump_versions(conn, sorted(pairs), now=now)


def _rebuilt_days(conn: Connection, by_site: dict[str, dict[str, list[tuple[int, int]]]]
                  ) -> Iterator[pd.DataFrame]:
    """Store rows of the touched ranges (ordinals) of each site's analytes, rebuilt from the
    current raw rows, one site at a time (sorted by site, analyte and date).
    """
    from wastewater.storage.repository import FLOW_COLUMNS, POPULATION_COLUMNS, _frame

    r, f, p = t.results.c, t.flows.c, t.site_populations.c
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
            yield built[inside]


def _day(ordinal: int) -> dt.date:
    return dt.date.fromordinal(max(_FIRST_DAY.toordinal(), min(_LAST_DAY.toordinal(), ordinal)))


def _read_blocks(conn: Connection, pairs: Sequence[tuple[str, str]], *, lock: bool = False
                 ) -> dict[tuple[str, str], bytes]:
    """The stored blocks of ``pairs`` (absent: no stored day), in one query per 5 000 pairs;
    ``lock``: ``FOR UPDATE`` on PostgreSQL, in key order, so that concurrent writers of a
    series replace its days one after the other (SQLite's writers hold the database lock).
    """
    b = t.series_blocks.c
    out: dict[tuple[str, str], bytes] = {}
    for part in _chunks(list(pairs), 5000):
        query = (sa.select(b.site, b.analyte, b.data)
                 .where(sa.tuple_(b.site, b.analyte).in_(part)).order_by(b.site, b.analyte))
        if lock:
            query = query.with_for_update()
        for site, analyte, data in _fetch_rows(conn, query):
            out[(site, analyte)] = bytes(data)
    return out


def _split_pairs(frame: pd.DataFrame) -> Iterator[tuple[tuple[str, str], dict[str, np.ndarray]]]:
    """Block columns of each (site, analyte) of store rows sorted by site, analyte and date."""
    if not len(frame):
        return
    columns = _frame_columns(frame)
    site = frame["site"].to_numpy(dtype=object)
    analyte = frame["analyte"].to_numpy(dtype=object)
    cut = np.flatnonzero((site[1:] != site[:-1]) | (analyte[1:] != analyte[:-1])) + 1
    starts = np.concatenate([[0], cut])
    ends = np.concatenate([cut, [len(frame)]])
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        yield (str(site[a]), str(analyte[a])), {k: v[a:b] for k, v in columns.items()}


def _block_row(pair: tuple[str, str], columns: Mapping[str, np.ndarray]) -> dict[str, Any]:
    days = columns["date"]
    return {"site": pair[0], "analyte": pair[1], "n_days": len(days),
            "first_date": dt.date.fromordinal(int(days[0]) + _EPOCH_ORDINAL),
            "last_date": dt.date.fromordinal(int(days[-1]) + _EPOCH_ORDINAL),
            "data": encode_block(columns)}


def _replace_days(conn: Connection, ranges: Mapping[tuple[str, str], np.ndarray],
                  built: Iterable[BuiltSeries]) -> None:
    """Replace the days inside ``ranges`` (per series, closed ranges of days since 1970-01-01)
    by the rebuilt days ``built`` (:data:`BuiltSeries`, inside the ranges): the current blocks
    of every touched series in one read, each merged in memory (:func:`_merged_blocks`), then
    one bulk write (:func:`_write_blocks`).
    """
    writes = _merged_blocks(ranges, _read_blocks(conn, sorted(ranges), lock=True), built)
    _write_blocks(conn, inserts=writes.inserts, updates=writes.updates, deletes=writes.deletes)


def _merged_blocks(ranges: Mapping[tuple[str, str], np.ndarray],
                   current: Mapping[tuple[str, str], bytes],
                   built: Iterable[BuiltSeries]) -> _BlockWrites:
    """The block writes that replace the days inside ``ranges`` of the ``current`` blocks by
    the rebuilt days ``built`` (:func:`merge_days`; pure). A series left without a day loses
    its row; an unchanged block is not written.
    """
    pairs = sorted(ranges)
    pending: dict[tuple[str, str], list[dict[str, np.ndarray]]] = defaultdict(list)
    for pair, columns in built:
        pending[pair].append(columns)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    deletes: list[dict[str, Any]] = []
    for pair in pairs:
        parts = pending.pop(pair, [])
        new = (_empty_columns() if not parts else parts[0] if len(parts) == 1 else
               {k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
        old_data = current.get(pair)
        old = _empty_columns() if old_data is None else decode_block(old_data)
        merged = merge_days(old, ranges[pair], new)
        if not len(merged["date"]):
            if old_data is not None:
                deletes.append({"s": pair[0], "a": pair[1]})
            continue
        row = _block_row(pair, merged)
        if old_data is None:
            inserts.append(row)
        elif row["data"] != old_data:
            updates.append({"s": pair[0], "a": pair[1], "n": row["n_days"],
                            "f": row["first_date"], "l": row["last_date"], "d": row["data"]})
    if pending:
        raise ValueError(f"rebuilt rows of series outside the touched ones: {sorted(pending)[:3]}")
    return _BlockWrites(inserts, updates, deletes)


def _write_blocks(conn: Connection, *, inserts: Sequence[dict[str, Any]] = (),
                  updates: Sequence[dict[str, Any]] = (),
                  deletes: Sequence[dict[str, Any]] = ()) -> None:
    """Write blocks: one ``executemany`` each for the removed series (``s``, ``a``), the
    changed ones (``s``, ``a``, ``n``, ``f``, ``l``, ``d``: key, days, first and last date,
    block) and the new ones (``series_blocks`` rows).
    """
    b = t.series_blocks.c
    key = (b.site == sa.bindparam("s"), b.analyte == sa.bindparam("a"))
    if deletes:
        conn.execute(t.series_blocks.delete().where(*key), list(deletes))
    if updates:
        conn.execute(t.series_blocks.update().where(*key).values(
            n_days=sa.bindparam("n"), first_date=sa.bindparam("f"), last_date=sa.bindparam("l"),
            data=sa.bindparam("d")), list(updates))
    if inserts:
        conn.execute(t.series_blocks.insert(), list(inserts))


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

    Runs on ``conn`` (inside the caller's transaction). Returns the number of stored days.
    """
    frame = scratch_build(conn)
    conn.execute(t.series_blocks.delete())
    _write_blocks(conn, inserts=[_block_row(pair, columns) for pair, columns in _split_pairs(frame)])
    v = t.series_versions.c
    pairs = {(a, b) for a, b in conn.execute(sa.select(v.site, v.analyte))}
    pairs.update(zip(frame["site"], frame["analyte"], strict=True))
    _bump_versions(conn, sorted(pairs), now=now)
    return len(frame)


def rebuild_series(engine: Engine) -> int:
    """``wastewater db rebuild-series``: rebuild the store in one write transaction."""
    from wastewater.storage.database import write_transaction

    with write_transaction(engine, data_lock=True) as conn:
        return rebuild_series_conn(conn)


# --------------------------------------------------------------------------- reads


def read_store(conn_or_engine: Connection | Engine, site: str | None = None,
               analyte: str | None = None, start: Any = None, end: Any = None) -> pd.DataFrame:
    """Stored rows (:data:`STORE_COLUMNS`), sorted by site, analyte, date; one indexed query
    (one block per series, the days in ``[start, end]`` cut from it by binary search).
    """
    from wastewater.storage.database import connect

    b = t.series_blocks.c
    where = []
    if site is not None:
        where.append(b.site == site)
    if analyte is not None:
        where.append(b.analyte == analyte)
    if isinstance(conn_or_engine, Engine):
        with connect(conn_or_engine) as conn:
            return _read_days(conn, where, start, end)
    return _read_days(conn_or_engine, where, start, end)


def _read_days(conn: Connection, where: list[Any], start: Any, end: Any) -> pd.DataFrame:
    """Store rows of the blocks matching ``where`` in ``[start, end]`` (one query)."""
    b = t.series_blocks.c
    lo = None if start is None else _epoch_day(start)
    hi = None if end is None else _epoch_day(end)
    if lo is not None:
        where = [*where, b.last_date >= _date_of(lo)]
    if hi is not None:
        where = [*where, b.first_date <= _date_of(hi)]
    rows = _fetch_rows(conn, sa.select(b.site, b.analyte, b.data).where(*where)
                       .order_by(b.site, b.analyte))
    sites, analytes, blocks = [], [], []
    for site, analyte, data in rows:
        block = decode_block(data)
        if lo is not None or hi is not None:
            days = block["date"]
            a = 0 if lo is None else int(np.searchsorted(days, lo, side="left"))
            z = len(days) if hi is None else int(np.searchsorted(days, hi, side="right"))
            if a >= z:
                continue
            if a > 0 or z < len(days):
                block = {k: v[a:z] for k, v in block.items()}
        sites.append(site)
        analytes.append(analyte)
        blocks.append(block)
    return _store_frame(sites, analytes, blocks)


def _epoch_day(value: Any) -> int:
    return int(pd.Timestamp(value).date().toordinal()) - _EPOCH_ORDINAL


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
    """Stored rows of several sites (and analytes), sorted by site, analyte, date; the blocks
    of all of them in one query.
    """
    from wastewater.storage.database import connect

    wanted = sorted(set(sites))
    if not wanted:
        return _empty_store_frame()
    b = t.series_blocks.c
    where = [b.site.in_(wanted)]
    if analytes is not None:
        where.append(b.analyte.in_(sorted(set(analytes))))
    with connect(engine) as conn:
        return _read_days(conn, where, start, end)


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

    b = t.series_blocks.c  # a series without a stored day has no block row
    with connect(engine) as conn:
        return sorted(conn.execute(sa.select(b.analyte).where(b.site == site)).scalars())
