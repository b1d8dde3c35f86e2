"""EUDA (ex-EMCDDA) / SCORE multi-city wastewater files: parse, recompute, match sites, export.

The EUDA release [EUDA2025]_ ships ``ww2025-all-data.csv`` (one row per site × year × metabolite
with the loads of one sampling week, Wednesday…Tuesday, in mg/day/1000 inhabitants, plus EUDA's
weekday, weekend and daily means) and ``ww2025-site-info-table.csv``. Conventions (source-data notes of
[EUDA2025]_): a value below LOQ is written ``0``; a blank cell is a missing day; the
metabolite label ``cocaine`` means benzoylecgonine and ``cannabis`` means THC-COOH; no excretion
correction is applied. Site IDs can be reassigned between releases, so sites are matched on city
and location as well (:func:`match_reference_sites`).

Everything here is pure (bytes/text in, DataFrames out, or DataFrames in, text out); the database
side is :mod:`wastewater.interop.store`.

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import math
import unicodedata
from collections.abc import Iterable
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wastewater.summaries import EUDA_DAY_CONVENTIONS, change_class, change_percent, euda_means

EUDA_DAY_COLUMNS = ("Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday")
"""Daily columns of ``ww2025-all-data.csv``, in file order (campaigns start on a Wednesday)."""

WEEKDAY_CODES = {"Monday": "Mon", "Tuesday": "Tue", "Wednesday": "Wed", "Thursday": "Thu",
                 "Friday": "Fri", "Saturday": "Sat", "Sunday": "Sun"}
"""EUDA day column → three-letter code stored in ``reference_values.weekday``."""

WEEKDAY_NUMBER = {"Mon": 0, "Tue": 1, "Wed": 2, "Thu": 3, "Fri": 4, "Sat": 5, "Sun": 6}

METABOLITE_TO_ANALYTE = {
    "cocaine": "benzoylecgonine",
    "cannabis": "thc-cooh",
    "mdma": "mdma",
    "amphetamine": "amphetamine",
    "methamphetamine": "methamphetamine",
    "ketamine": "ketamine",
}
"""EUDA ``Metabolite`` label (lower-cased) → canonical analyte id (EUDA2025 source-data notes)."""

ANALYTE_TO_METABOLITE = {"benzoylecgonine": "cocaine", "thc-cooh": "cannabis", "mdma": "MDMA",
                         "amphetamine": "amphetamine", "methamphetamine": "methamphetamine",
                         "ketamine": "ketamine"}
"""Canonical analyte id → EUDA ``Metabolite`` label as spelled in the 2025 file."""

ALL_DATA_COLUMNS = ["Year", "Metabolite", "Site ID", "Country", "City", *EUDA_DAY_COLUMNS,
                    "Weekday mean", "Weekend mean", "Daily mean"]
"""Header of ``ww2025-all-data.csv``."""

LONG_COLUMNS = ["source", "site_id", "country", "city", "year", "analyte", "weekday",
                "value_mg_per_day_per_1000", "censored"]
"""Columns of the long frame returned by :func:`parse_euda_all_data`."""

MEANS_COLUMNS = ["source", "site_id", "country", "city", "year", "analyte", "weekday_mean",
                 "weekend_mean", "daily_mean"]
"""Columns of the published-means frame returned by :func:`parse_euda_published_means`."""

SITE_COLUMNS = ["source", "site_id", "country", "city", "location", "lat", "lon", "population",
                "institution", "website"]
"""Columns of the sites frame returned by :func:`parse_euda_site_info`."""

_MISSING_TEXT = {"", "n/a", "na", "nan", "null", "none", "-"}

Source = str | bytes | PathLike[str] | io.IOBase


def _read_text(data: Source) -> str:
    """Text of ``data`` (bytes, a path, a file object or the CSV text itself); BOM removed."""
    if isinstance(data, (bytes, bytearray)):
        text = bytes(data).decode("utf-8-sig")
    elif isinstance(data, PathLike) or (isinstance(data, str) and "\n" not in data
                                         and Path(data).exists()):
        text = Path(data).read_bytes().decode("utf-8-sig")
    elif hasattr(data, "read"):
        raw = data.read()
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    else:
        text = str(data)
    return text.lstrip("\ufeff")


def _clean(value: str | None) -> str | None:
    """Strip ordinary and no-break spaces; map EUDA's "N/A" and friends to ``None``."""
    if value is None:
        return None
    v = value.replace("\xa0", " ").strip()
    return None if v.lower() in _MISSING_TEXT else v


def _number(value: str | None, *, line: int, column: str) -> float:
    v = _clean(value)
    if v is None:
        return math.nan
    try:
        return float(v)
    except ValueError:
        raise ValueError(f"line {line}, column {column!r}: {value!r} is not a number; "
                         "EUDA files use '.' as decimal mark and blank for missing") from None


def _rows(text: str, required: list[str]) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise ValueError(f"line 1: missing column(s) {missing}; expected the EUDA header "
                         f"{required}")
    reader.fieldnames = header
    return [(i + 2, row) for i, row in enumerate(reader)]


def _analyte(label: str, line: int) -> str:
    try:
        return METABOLITE_TO_ANALYTE[label.strip().lower()]
    except KeyError:
        raise ValueError(f"line {line}, column 'Metabolite': unknown EUDA metabolite {label!r}; "
                         f"known: {sorted(METABOLITE_TO_ANALYTE)}") from None


def parse_euda_all_data(data: Source, *, source: str = "EUDA-2025") -> pd.DataFrame:
    """
    Parse ``ww2025-all-data.csv`` into a long frame, one row per site × year × analyte × day.

    Parameters
    ----------
    data : bytes, str, path or file object
        The file (bytes, path, open file or its text).
    source : str, default "EUDA-2025"
        Label stored in the ``source`` column.

    Returns
    -------
    pd.DataFrame
        :data:`LONG_COLUMNS`: ``weekday`` is ``Mon``…``Sun``; ``value_mg_per_day_per_1000``
        [mg day⁻¹ (1000 inh)⁻¹] is NaN for a blank (missing) day and 0.0 for a value below LOQ,
        which also has ``censored=True`` [EUDA2025]_. ``analyte`` is the canonical id
        (``cocaine`` → ``benzoylecgonine``, ``cannabis`` → ``thc-cooh``). Rows keep file order,
        days in file order (Wed…Tue).

    Raises
    ------
    ValueError
        Naming line and column, for a missing column, unknown metabolite or non-number.
    """
    rows = _rows(_read_text(data), ALL_DATA_COLUMNS)
    out: dict[str, list[Any]] = {c: [] for c in LONG_COLUMNS}
    for line, row in rows:
        analyte = _analyte(row["Metabolite"], line)
        year = int(_number(row["Year"], line=line, column="Year"))
        for day in EUDA_DAY_COLUMNS:
            v = _number(row[day], line=line, column=day)
            out["source"].append(source)
            out["site_id"].append(_clean(row["Site ID"]))
            out["country"].append(_clean(row["Country"]))
            out["city"].append(_clean(row["City"]))
            out["year"].append(year)
            out["analyte"].append(analyte)
            out["weekday"].append(WEEKDAY_CODES[day])
            out["value_mg_per_day_per_1000"].append(v)
            out["censored"].append(bool(v == 0.0))
    frame = pd.DataFrame(out, columns=LONG_COLUMNS)
    return frame.astype({"year": "int64", "value_mg_per_day_per_1000": "float64",
                         "censored": "bool"})


def parse_euda_published_means(data: Source, *, source: str = "EUDA-2025") -> pd.DataFrame:
    """
    EUDA's own weekday, weekend and daily means from ``ww2025-all-data.csv``.

    Returns
    -------
    pd.DataFrame
        :data:`MEANS_COLUMNS`, one row per file row [mg day⁻¹ (1000 inh)⁻¹]; NaN where blank.
    """
    rows = _rows(_read_text(data), ALL_DATA_COLUMNS)
    recs = []
    for line, row in rows:
        recs.append({
            "source": source, "site_id": _clean(row["Site ID"]), "country": _clean(row["Country"]),
            "city": _clean(row["City"]),
            "year": int(_number(row["Year"], line=line, column="Year")),
            "analyte": _analyte(row["Metabolite"], line),
            "weekday_mean": _number(row["Weekday mean"], line=line, column="Weekday mean"),
            "weekend_mean": _number(row["Weekend mean"], line=line, column="Weekend mean"),
            "daily_mean": _number(row["Daily mean"], line=line, column="Daily mean"),
        })
    return pd.DataFrame(recs, columns=MEANS_COLUMNS)


def parse_euda_site_info(data: Source, *, source: str = "EUDA-2025") -> pd.DataFrame:
    """
    Parse ``ww2025-site-info-table.csv``.

    Returns
    -------
    pd.DataFrame
        :data:`SITE_COLUMNS`; ``lat``/``lon`` [decimal degrees, WGS84] and ``population``
        [inhabitants, nullable Int64]. ``N/A`` and blank become missing; no-break spaces
        (e.g. the Bordeaux I latitude) are stripped. The file's quirks are kept as published
        (e.g. Debrecen with country code ``H`` in the site table of [EUDA2025]_).
    """
    required = ["SiteID", "Country", "City", "Location", "Latitude", "Longitude", "Population"]
    recs = []
    for line, row in _rows(_read_text(data), required):
        pop = _number(row["Population"], line=line, column="Population")
        recs.append({
            "source": source, "site_id": _clean(row["SiteID"]), "country": _clean(row["Country"]),
            "city": _clean(row["City"]), "location": _clean(row["Location"]),
            "lat": _number(row["Latitude"], line=line, column="Latitude"),
            "lon": _number(row["Longitude"], line=line, column="Longitude"),
            "population": None if math.isnan(pop) else int(round(pop)),
            "institution": _clean(row.get("Institution")), "website": _clean(row.get("Website")),
        })
    frame = pd.DataFrame(recs, columns=SITE_COLUMNS)
    frame["population"] = frame["population"].astype("Int64")
    return frame


# --------------------------------------------------------------------------- site matching
def _norm(text: object) -> str:
    """Case-, accent- and punctuation-insensitive key ("Umeå" == "Umea", "Gävle" == "Gavle")."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    t = unicodedata.normalize("NFKD", str(text))
    t = "".join(ch for ch in t if not unicodedata.combining(ch))
    return "".join(ch for ch in t.lower() if ch.isalnum())


def match_reference_sites(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """
    Match the sites of two reference releases whose site IDs may have been reassigned.

    Parameters
    ----------
    old, new : pd.DataFrame
        Sites frames with ``site_id``, ``country``, ``city`` and optionally ``location``
        (e.g. from :func:`parse_euda_site_info` of two releases).

    Returns
    -------
    pd.DataFrame
        ``site_id_old, site_id_new, match`` for every ``old`` site, where ``match`` is
        ``"city+location"`` (same country, city and location), ``"city"`` (same country and
        city, unique in ``new``), ``"site_id"`` (only the ID agrees, city differs — suspicious)
        or ``"none"``. City/location comparison ignores case, accents and punctuation. The
        city match wins over an identical site ID that now belongs to another city.
    """
    def keyed(df: pd.DataFrame) -> pd.DataFrame:
        d = df.copy()
        if "location" not in d:
            d["location"] = None
        d["k_c"] = d["country"].map(_norm)
        d["k_city"] = d["city"].map(_norm)
        d["k_loc"] = d["location"].map(_norm)
        return d

    o, n = keyed(old), keyed(new)
    by_full = {(r.k_c, r.k_city, r.k_loc): r.site_id for r in n.itertuples() if r.k_loc}
    by_city: dict[tuple[str, str], list[str]] = {}
    for r in n.itertuples():
        by_city.setdefault((r.k_c, r.k_city), []).append(r.site_id)
    ids = set(n["site_id"])
    recs = []
    for r in o.itertuples():
        if r.k_loc and (r.k_c, r.k_city, r.k_loc) in by_full:
            recs.append((r.site_id, by_full[(r.k_c, r.k_city, r.k_loc)], "city+location"))
        elif len(by_city.get((r.k_c, r.k_city), [])) == 1:
            recs.append((r.site_id, by_city[(r.k_c, r.k_city)][0], "city"))
        elif r.site_id in ids:
            recs.append((r.site_id, r.site_id, "site_id"))
        else:
            recs.append((r.site_id, None, "none"))
    return pd.DataFrame(recs, columns=["site_id_old", "site_id_new", "match"])


def find_reference_site(sites: pd.DataFrame, *, city: str, country: str | None = None,
                        location: str | None = None) -> pd.DataFrame:
    """Rows of a reference sites frame whose city (and country, location if given) match,
    ignoring case, accents and punctuation; e.g. ``city="Umeå"`` finds EUDA's ``Umea``.
    """
    mask = sites["city"].map(_norm) == _norm(city)
    if country is not None:
        mask &= sites["country"].map(_norm) == _norm(country)
    if location is not None and "location" in sites:
        mask &= sites["location"].map(_norm) == _norm(location)
    return sites[mask]


# --------------------------------------------------------------------------- recompute / export
@functools.cache
def campaign_dates(year: int) -> dict[str, pd.Timestamp]:
    """
    Representative dates for the weekday codes of a campaign ``year``.

    EUDA publishes day names only; the summaries need a DatetimeIndex. This returns the week
    starting on the first Wednesday on or after 1 March of ``year`` (campaigns run March–May,
    [EUDA2025]_). Only the day of week matters for the means.
    """
    d0 = dt.date(year, 3, 1)
    wed = d0 + dt.timedelta(days=(2 - d0.weekday()) % 7)
    return {WEEKDAY_CODES[day]: pd.Timestamp(wed + dt.timedelta(days=k))
            for k, day in enumerate(EUDA_DAY_COLUMNS)}


@functools.lru_cache(maxsize=4096)
def _campaign_index(year: int, weekdays: tuple[str, ...]) -> pd.DatetimeIndex:
    dates = campaign_dates(year)
    return pd.DatetimeIndex([dates[w] for w in weekdays])


def euda_summary_from_daily(long: pd.DataFrame) -> pd.DataFrame:
    """
    Recompute EUDA's daily, weekday and weekend means from daily values.

    Parameters
    ----------
    long : pd.DataFrame
        :data:`LONG_COLUMNS` (e.g. :func:`parse_euda_all_data` or
        :func:`wastewater.interop.store.load_reference`), values in
        [mg day⁻¹ (1000 inh)⁻¹].

    Returns
    -------
    pd.DataFrame
        One row per ``source, site_id, country, city, year, analyte`` with ``daily_mean,
        weekday_mean, weekend_mean`` [mg day⁻¹ (1000 inh)⁻¹], ``n_days``, ``n_censored``.

    Notes
    -----
    Uses :func:`wastewater.summaries.euda_means`: weekday = Tue–Thu, weekend = Fri–Mon,
    2021 rows Tue–Fri / Sat–Mon; missing days are averaged over the available days and values
    below LOQ enter as 0, as EUDA does [EUDA2025]_.
    """
    keys = ["source", "site_id", "country", "city", "year", "analyte"]
    out_cols = [*keys, "daily_mean", "weekday_mean", "weekend_mean", "n_days", "n_censored"]
    if long.empty:
        return pd.DataFrame(columns=out_cols)
    values = long["value_mg_per_day_per_1000"].to_numpy(float)
    valid = ~np.isnan(values)
    dow = long["weekday"].map(WEEKDAY_NUMBER).to_numpy()
    years = long["year"].to_numpy(int)
    masks = {}
    for part in ("weekday", "weekend"):
        m = np.zeros(len(long), bool)
        for year in np.unique(years):
            conv = EUDA_DAY_CONVENTIONS.get(int(year), EUDA_DAY_CONVENTIONS["default"])
            m |= (years == year) & np.isin(dow, conv[part])
        masks[part] = m & valid
    work = long[keys].copy()
    work["_v"] = np.where(valid, values, 0.0)
    work["_n"] = valid.astype(int)
    for part, m in masks.items():
        work[f"_{part}_v"] = np.where(m, values, 0.0)
        work[f"_{part}_n"] = m.astype(int)
    work["_c"] = (long["censored"].to_numpy(bool) & valid).astype(int)
    g = work.groupby(keys, sort=False, dropna=False).sum()

    def mean(v: str, n: str) -> np.ndarray:
        num, den = g[v].to_numpy(float), g[n].to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)

    out = g.index.to_frame(index=False)
    out["daily_mean"] = mean("_v", "_n")
    out["weekday_mean"] = mean("_weekday_v", "_weekday_n")
    out["weekend_mean"] = mean("_weekend_v", "_weekend_n")
    out["n_days"] = g["_n"].to_numpy(int)
    out["n_censored"] = g["_c"].to_numpy(int)
    return out[out_cols]


def compare_with_published(recomputed: pd.DataFrame, published: pd.DataFrame, *,
                           tolerance: float = 0.02) -> pd.DataFrame:
    """
    Join recomputed and published means and flag rows that agree within ``tolerance``.

    Returns
    -------
    pd.DataFrame
        The join on ``source, site_id, year, analyte`` with ``*_recomputed`` and ``*_published``
        columns and a boolean ``match`` (all three means within ``tolerance``
        [mg day⁻¹ (1000 inh)⁻¹], both-NaN counting as agreement). EUDA publishes two decimals,
        hence the default 0.02 ([EUDA2025]_, recomputed [D]).
    """
    keys = ["source", "site_id", "year", "analyte"]
    j = recomputed.merge(published.drop(columns=["country", "city"], errors="ignore"), on=keys,
                         suffixes=("_recomputed", "_published"))
    ok = pd.Series(True, index=j.index)
    for m in ("daily_mean", "weekday_mean", "weekend_mean"):
        a, b = j[f"{m}_recomputed"], j[f"{m}_published"]
        ok &= ((a - b).abs() <= tolerance + 1e-9) | (a.isna() & b.isna())
    j["match"] = ok
    return j


def euda_change_classes(summary: pd.DataFrame, *, year: int, previous_year: int | None = None
                        ) -> pd.DataFrame:
    """
    EUDA change of each site's daily mean between two campaign years.

    Parameters
    ----------
    summary : pd.DataFrame
        ``site_id, analyte, year, daily_mean`` [mg day⁻¹ (1000 inh)⁻¹] (published means from
        :func:`parse_euda_published_means` reproduce EUDA's changes table; recomputed ones from
        :func:`euda_summary_from_daily` work too).
    year, previous_year : int
        Current and previous campaign year (default ``year - 1``).

    Returns
    -------
    pd.DataFrame
        ``site_id, analyte, value_current, value_previous, change_percent, change_class`` with
        ``change_percent`` = (current − previous)/previous × 100 [%] (NaN without a previous
        value or from 0) and the class of :func:`wastewater.summaries.change_class` (±10 %
        thresholds [EUDA2025]_). One row per site × analyte with a current daily mean.
    """
    prev = year - 1 if previous_year is None else previous_year
    cur = (summary[summary["year"] == year].dropna(subset=["daily_mean"])
           .set_index(["site_id", "analyte"])["daily_mean"])
    old = summary[summary["year"] == prev].set_index(["site_id", "analyte"])["daily_mean"]
    recs = []
    for (site, analyte), v in cur.items():
        p = old.get((site, analyte), None)
        p = None if p is None or (isinstance(p, float) and math.isnan(p)) else float(p)
        recs.append({"site_id": site, "analyte": analyte, "value_current": float(v),
                     "value_previous": p, "change_percent": change_percent(float(v), p),
                     "change_class": change_class(float(v), p)})
    return pd.DataFrame(recs, columns=["site_id", "analyte", "value_current", "value_previous",
                                       "change_percent", "change_class"])


def euda_changes(means: pd.DataFrame, *, year: int, previous_year: int | None = None
                 ) -> pd.DataFrame:
    """:func:`euda_change_classes` of published means with ``source, country, city, year,
    previous_year`` beside each row (``means`` from
    :func:`wastewater.interop.store.load_published_means`).
    """
    ch = euda_change_classes(means, year=year, previous_year=previous_year)
    info = means.drop_duplicates(["site_id"])[["site_id", "source", "country", "city"]]
    ch = ch.merge(info, on="site_id", how="left")
    ch["year"] = int(year)
    ch["previous_year"] = int(year - 1 if previous_year is None else previous_year)
    cols = ["source", "site_id", "country", "city", "analyte", "year", "previous_year",
            "value_current", "value_previous", "change_percent", "change_class"]
    return ch[cols].sort_values(["site_id", "analyte"], kind="stable").reset_index(drop=True)


_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def campaign_rules(year: int) -> dict[str, str]:
    """
    The days EUDA's weekday and weekend means cover in ``year`` (``weekday_days``,
    ``weekend_days``, e.g. ``"Tue Wed Thu"`` and ``"Fri Sat Sun Mon"``; 2021: Tue–Fri and
    Sat–Mon), from :data:`wastewater.summaries.EUDA_DAY_CONVENTIONS` [EUDA2025]_.
    """
    conv = EUDA_DAY_CONVENTIONS.get(int(year), EUDA_DAY_CONVENTIONS["default"])
    return {f"{k}_days": " ".join(_DAY_NAMES[d] for d in conv[k]) for k in ("weekday", "weekend")}


SITE_YEAR_COLUMNS = ["source", "site_id", "country", "city", "year", "analyte",
                     "daily_mean", "weekday_mean", "weekend_mean",
                     "daily_mean_recomputed", "weekday_mean_recomputed",
                     "weekend_mean_recomputed", "n_days", "n_censored", "all_days_present",
                     "weekday_days", "weekend_days"]
"""Columns of :func:`site_year_means`."""


def site_year_means(published: pd.DataFrame, long: pd.DataFrame) -> pd.DataFrame:
    """
    EUDA's published means beside the means recomputed from the published days.

    Parameters
    ----------
    published : pd.DataFrame
        :data:`MEANS_COLUMNS` plus ``weekday_days``/``weekend_days`` (e.g.
        :func:`wastewater.interop.store.load_published_means`); the means as published.
    long : pd.DataFrame
        The daily values (:data:`LONG_COLUMNS`) of the same rows.

    Returns
    -------
    pd.DataFrame
        :data:`SITE_YEAR_COLUMNS`: ``daily_mean``, ``weekday_mean``, ``weekend_mean`` exactly as
        published, the ``*_recomputed`` means of :func:`euda_summary_from_daily` (they differ in
        weeks with a missing day, where EUDA's own figure is kept), ``n_days``,
        ``n_censored``, ``all_days_present`` (7 days) and the rules of the year.
    """
    keys = ["source", "site_id", "year", "analyte"]
    rec = euda_summary_from_daily(long).rename(columns={
        "daily_mean": "daily_mean_recomputed", "weekday_mean": "weekday_mean_recomputed",
        "weekend_mean": "weekend_mean_recomputed"})
    out = published.merge(rec.drop(columns=["country", "city"]), on=keys, how="left")
    if "weekday_days" not in out:
        rules = pd.DataFrame([{"year": y, **campaign_rules(y)} for y in out["year"].unique()])
        out = out.merge(rules, on="year", how="left") if len(rules) else out.assign(
            weekday_days="", weekend_days="")
    out["n_days"] = out["n_days"].fillna(0).astype("int64")
    out["n_censored"] = out["n_censored"].fillna(0).astype("int64")
    out["all_days_present"] = out["n_days"] == 7
    return out[SITE_YEAR_COLUMNS].sort_values(keys, kind="stable").reset_index(drop=True)


def cohort_trend(means: pd.DataFrame, *, analyte: str = "benzoylecgonine",
                 first_year: int = 2011, last_year: int = 2024) -> tuple[pd.DataFrame, list[str]]:
    """
    EUDA's fixed-cohort trend: the yearly mean of the daily means of the sites that have a
    daily mean for ``analyte`` in *every* year from ``first_year`` to ``last_year``.

    Parameters
    ----------
    means : pd.DataFrame
        ``site_id, year, analyte, daily_mean`` [mg day⁻¹ (1000 inh)⁻¹], the published means.

    Returns
    -------
    (pd.DataFrame, list of str)
        ``year, mean_mg_per_day_per_1000, n_sites`` for each year of the range, and the cohort's
        site ids. With the 2025 release and benzoylecgonine 2011–2024 the cohort is 7 sites and
        the means reproduce EUDA's aggregated trend file within 0.003 [EUDA2025]_ (recomputed
        [D]).

    Raises
    ------
    ValueError
        ``first_year > last_year`` or no site has a value in every year (the message names the
        range and analyte).
    """
    if first_year > last_year:
        raise ValueError(f"first_year {first_year} is after last_year {last_year}")
    years = set(range(int(first_year), int(last_year) + 1))
    m = means[(means["analyte"] == analyte) & means["year"].isin(years)].dropna(
        subset=["daily_mean"])
    have = m.groupby("site_id")["year"].agg(lambda y: set(y) >= years)
    cohort = sorted(have.index[have])
    if not cohort:
        raise ValueError(f"no site has a {analyte} daily mean in every year "
                         f"{first_year}–{last_year}; choose a shorter range")
    c = m[m["site_id"].isin(cohort)].groupby("year")["daily_mean"].agg(["mean", "size"])
    out = pd.DataFrame({"year": c.index.astype("int64"), "mean_mg_per_day_per_1000": c["mean"],
                        "n_sites": c["size"].astype("int64")}).reset_index(drop=True)
    return out, cohort


def campaign_week_start(week_start: dt.date | str) -> pd.Timestamp:
    """``week_start`` as a Timestamp, checked to be a Wednesday (EUDA weeks run Wed…Tue).

    Raises
    ------
    ValueError
        It is another day of the week.
    """
    start = pd.Timestamp(week_start).normalize()
    if start.day_of_week != 2:
        raise ValueError(f"week_start {start.date()} is a {start.day_name()}; EUDA campaign "
                         "weeks run Wednesday…Tuesday, pass the Wednesday")
    return start


def check_euda_analytes(analytes: Iterable[str]) -> None:
    """Raise ValueError naming the analytes EUDA has no metabolite label for."""
    bad = sorted(set(analytes) - set(ANALYTE_TO_METABOLITE))
    if bad:
        raise ValueError(f"analyte(s) {bad} have no EUDA metabolite label; EUDA reports "
                         f"{sorted(ANALYTE_TO_METABOLITE)}")


def campaign_row(daily: pd.Series, *, week_start: dt.date | str, analyte: str, site_id: str,
                 country: str, city: str, censored: pd.Series | None = None,
                 decimals: int = 2) -> dict[str, Any]:
    """
    One EUDA all-data row from the service's own daily series for a chosen campaign week.

    Parameters
    ----------
    daily : pd.Series
        ``load_mg_per_day_per_1000`` [mg day⁻¹ (1000 inh)⁻¹] with a DatetimeIndex (collection
        start day); NaN = missing day.
    week_start : date or ISO str
        First day of the campaign week; must be a Wednesday (EUDA column order Wed…Tue).
    analyte : str
        Canonical id (``benzoylecgonine`` is written as EUDA's ``cocaine``).
    censored : pd.Series of bool, optional
        Days below LOQ; written as ``0`` like EUDA does, whatever their imputed value.
    decimals : int, default 2
        Rounding of daily values and means (EUDA publishes two decimals).

    Returns
    -------
    dict
        Keys :data:`ALL_DATA_COLUMNS`; missing days are NaN. Means from
        :func:`wastewater.summaries.euda_means` over the rounded daily values.

    Raises
    ------
    ValueError
        ``week_start`` is not a Wednesday, or the analyte has no EUDA label.
    """
    start = campaign_week_start(week_start)
    check_euda_analytes([analyte])
    idx = pd.date_range(start, periods=7, freq="D")
    s = daily.copy()
    s.index = pd.DatetimeIndex(s.index).normalize()
    week = s.reindex(idx).astype(float).round(decimals)
    cens = (pd.Series(False, index=idx) if censored is None else
            censored.copy().set_axis(pd.DatetimeIndex(censored.index).normalize())
            .reindex(idx).fillna(False).astype(bool))
    week[cens & week.notna()] = 0.0
    week[cens & week.isna()] = 0.0
    m = euda_means(week, year=start.year, censored=cens)
    row: dict[str, Any] = {"Year": start.year, "Metabolite": ANALYTE_TO_METABOLITE[analyte],
                           "Site ID": site_id, "Country": country, "City": city}
    for day, v in zip(EUDA_DAY_COLUMNS, week.to_numpy()):
        row[day] = float(v)
    row["Weekday mean"] = round(m["weekday_mean"], decimals)
    row["Weekend mean"] = round(m["weekend_mean"], decimals)
    row["Daily mean"] = round(m["daily_mean"], decimals)
    return row


def format_euda_all_data(rows: list[dict[str, Any]] | pd.DataFrame) -> str:
    """
    Write rows in the ``ww2025-all-data.csv`` layout: header and text fields quoted, numbers
    bare, missing days blank, ``\\n`` line ends (as in the 2025 release).
    """
    frame = pd.DataFrame(rows, columns=ALL_DATA_COLUMNS)
    buf = io.StringIO()
    buf.write(",".join(f'"{c}"' for c in ALL_DATA_COLUMNS) + "\n")
    for rec in frame.itertuples(index=False):
        cells = []
        for col, v in zip(ALL_DATA_COLUMNS, rec):
            if col in ("Metabolite", "Site ID", "Country", "City"):
                cells.append('"' + str(v).replace('"', '""') + '"')
            elif col == "Year":
                cells.append(str(int(v)))
            elif v is None or (isinstance(v, float) and math.isnan(v)):
                cells.append("")
            else:
                cells.append(_short(float(v)))
        buf.write(",".join(cells) + "\n")
    return buf.getvalue()


def _short(x: float) -> str:
    """Shortest decimal text that reads back as ``x`` (``12.5`` not ``12.500``; ``0`` as EUDA)."""
    if x == 0:
        return "0"
    r = repr(float(x))
    return r[:-2] if r.endswith(".0") else r


def export_campaign(series: dict[tuple[str, str], pd.Series], *, week_start: dt.date | str,
                    sites: pd.DataFrame, censored: dict[tuple[str, str], pd.Series] | None = None
                    ) -> str:
    """
    The service's yearly campaign summary as an EUDA all-data CSV.

    Parameters
    ----------
    series : dict
        ``{(site, analyte): daily load_mg_per_day_per_1000 Series}``.
    week_start : date or ISO str
        The campaign Wednesday.
    sites : pd.DataFrame
        Our sites frame (``site``, ``municipality``); ``City`` = municipality, ``Country`` = the
        first two letters of the site id (``SE-KAT-ROS`` → ``SE``).
    censored : dict, optional
        Censoring flags per key, as in :func:`campaign_row`.

    Returns
    -------
    str
        CSV text (see :func:`format_euda_all_data`); analytes EUDA does not report are skipped.
    """
    city = dict(zip(sites["site"], sites["municipality"]))
    rows = []
    for (site, analyte), s in sorted(series.items()):
        if analyte not in ANALYTE_TO_METABOLITE:
            continue
        rows.append(campaign_row(s, week_start=week_start, analyte=analyte, site_id=site,
                                 country=site[:2], city=city.get(site, site),
                                 censored=None if censored is None else censored.get(
                                     (site, analyte))))
    return format_euda_all_data(rows)


def long_to_all_data(long: pd.DataFrame) -> pd.DataFrame:
    """Pivot a long frame back to the all-data layout (means recomputed; censored → 0)."""
    summ = euda_summary_from_daily(long).set_index(["source", "site_id", "year", "analyte"])
    rows = []
    keys = ["source", "site_id", "country", "city", "year", "analyte"]
    for key, grp in long.groupby(keys, sort=False, dropna=False):
        vals = dict(zip(grp["weekday"], np.where(grp["censored"], 0.0,
                                                 grp["value_mg_per_day_per_1000"])))
        m = summ.loc[(key[0], key[1], key[4], key[5])]
        row = {"Year": key[4], "Metabolite": ANALYTE_TO_METABOLITE[key[5]], "Site ID": key[1],
               "Country": key[2], "City": key[3]}
        for day in EUDA_DAY_COLUMNS:
            row[day] = vals.get(WEEKDAY_CODES[day], math.nan)
        row["Weekday mean"] = round(float(m["weekday_mean"]), 2)
        row["Weekend mean"] = round(float(m["weekend_mean"]), 2)
        row["Daily mean"] = round(float(m["daily_mean"]), 2)
        rows.append(row)
    return pd.DataFrame(rows, columns=ALL_DATA_COLUMNS)
