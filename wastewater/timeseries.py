"""Assemble the analysis Dataset (site × analyte × date) from results, flows and populations.

Conventions (documented choices; see :func:`build_dataset`):

* Censored results get a concentration by the substitution ``loq_method`` and keep
  ``censored=True``.
* Replicates of the same site, analyte and day are averaged (``n_replicates``,
  ``replicate_sd_ng_per_l``).
* A composite spanning more than 24 h (e.g. the 72 h Fri–Sun composites of some Swedish
  campaigns, domain reference §3.1) is assigned to *each* covered day with its
  ``composite_hours``; its flow is the mean daily flow over the covered days, so loads stay
  per day and sum correctly over the period.
* Blanks, spikes and reference samples are excluded from the series; see :func:`qc_summary`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from wastewater.censoring import SUBSTITUTION_METHODS, substitute_interval
from wastewater.normalisation import (
    load_mg_per_day,
    load_mg_per_day_per_1000,
    population_equivalents,
)
from wastewater.parameters import CATALOGUE_VERSION, HYDROCHEMICAL_ANALYTES

PE_METHODS: dict[str, str] = {
    "pe_bod": "bod5", "pe_bod5": "bod5", "pe_cod": "cod", "pe_total_n": "total-n",
    "pe_tn": "total-n", "pe_total_p": "total-p", "pe_tp": "total-p", "nh4n": "nh4-n",
    "pe_nh4n": "nh4-n",
}
"""Population methods computed from hydrochemical analytes in the results (domain §2.2, §2.4)."""

RESULT_COLUMNS = ("site", "sample_date", "analyte", "value_ng_per_l", "censor")

UNITS = {
    "concentration_ng_per_l": "ng/L", "loq_ng_per_l": "ng/L", "flow_m3_per_day": "m3/day",
    "population": "persons", "load_mg_per_day": "mg/day",
    "load_mg_per_day_per_1000": "mg/day/1000 inhabitants", "replicate_sd_ng_per_l": "ng/L",
    "composite_hours": "h",
}


def _require(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} frame lacks column(s) {missing}; expected the contract columns "
                         f"of docs/architecture.md (got {list(frame.columns)})")


def _censor_kinds(results: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row: censored (censor not ``none``), ``<LOQ``/``D``, ``<LOD``/``ND`` and ``D``.

    The censor text of a row is ``fillna("none").astype(str)`` of its value, converted and
    compared once per distinct value.
    """
    codes, uniques = pd.factorize(results["censor"], use_na_sentinel=False)
    texts = pd.Series(uniques, dtype=object).fillna("none").astype(str).to_numpy(dtype=object)
    cens = (texts != "none")[codes]
    is_loq = ((texts == "<LOQ") | (texts == "D"))[codes]
    is_lod = ((texts == "<LOD") | (texts == "ND"))[codes]
    is_d = (texts == "D")[codes]
    return cens, is_loq, is_lod, is_d


def _limits(results: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``loq_ng_per_l`` and ``lod_ng_per_l`` of each row as floats (NaN where a column is absent)."""
    nan = np.full(len(results), np.nan)
    loq = results["loq_ng_per_l"].astype(float).to_numpy() if "loq_ng_per_l" in results.columns else nan
    lod = results["lod_ng_per_l"].astype(float).to_numpy() if "lod_ng_per_l" in results.columns else nan
    return loq, lod


def _censoring_limit(cens: np.ndarray, is_loq: np.ndarray, is_lod: np.ndarray, loq: np.ndarray,
                     lod: np.ndarray, value: np.ndarray) -> np.ndarray:
    """The rule of :func:`censoring_limit_ng_per_l` on arrays (:func:`_censor_kinds`)."""
    limit = np.where(is_loq, np.where(np.isnan(loq), lod, loq), np.nan)
    limit = np.where(is_lod, np.where(np.isnan(lod), loq, lod), limit)
    out: np.ndarray = np.where(cens & np.isnan(limit), value, limit)
    return out


def censoring_limit_ng_per_l(results: pd.DataFrame) -> pd.Series:
    """Censoring limit of each result row [ng L⁻¹] (NaN for uncensored rows).

    ``<LOQ`` and ``D`` (detected below the LOQ, the upper end of its interval) use
    ``loq_ng_per_l`` (else LOD); ``<LOD``/``ND`` use ``lod_ng_per_l`` (else LOQ); a number in
    ``value_ng_per_l`` is the last fallback.
    """
    cens, is_loq, is_lod, _ = _censor_kinds(results)
    loq, lod = _limits(results)
    value = results["value_ng_per_l"].astype(float).to_numpy()
    return pd.Series(_censoring_limit(cens, is_loq, is_lod, loq, lod, value), index=results.index)


def censoring_lower_ng_per_l(results: pd.DataFrame) -> pd.Series:
    """Lower end of each result's censoring interval [ng L⁻¹]: the LOD of results detected below
    the LOQ (censor ``D``, LOD ≤ x < LOQ); NaN for every other row (left-censored or measured).
    """
    is_d = _censor_kinds(results)[3]
    return pd.Series(np.where(is_d, _limits(results)[1], np.nan), index=results.index)


def _days_ns(dates: pd.Series) -> np.ndarray:
    """Calendar day (midnight) of each date as ``datetime64[ns]``; numpy floor for naive ns dates."""
    days: np.ndarray
    if dates.dtype == np.dtype("datetime64[ns]"):
        days = dates.to_numpy().astype("datetime64[D]").astype("datetime64[ns]")
    else:
        days = pd.to_datetime(dates).dt.normalize().values.astype("datetime64[ns]")
    return days


def _population_lookup(populations: pd.DataFrame, method: str, sites: np.ndarray,
                       dates: pd.DatetimeIndex) -> np.ndarray:
    """Population per (site, date): most recent year ≤ the date's year, else the earliest."""
    _require(populations, ("site", "year", "population"), "populations")
    pops = populations
    if "method" in pops.columns:
        pops = pops[pops["method"].fillna("de_jure") == method]
        if pops.empty:
            available = sorted(populations["method"].fillna("de_jure").unique())
            raise ValueError(f"no populations with method {method!r}; "
                             f"available methods: {available} or computed ones {sorted(PE_METHODS)}")
    elif method != "de_jure":
        raise ValueError(f"populations frame has no 'method' column, so only 'de_jure' is available, "
                         f"got population_method={method!r}")
    out = np.full((len(sites), len(dates)), np.nan)
    years = dates.year.values
    missing = []
    p_site = pops["site"].to_numpy()
    plain_years = pops["year"].dtype == np.dtype("int64")
    for i, site in enumerate(sites):
        m = p_site == site
        if not m.any():
            missing.append(site)
            continue
        if plain_years:  # same quicksort permutation as sort_values("year") on int64
            yr = pops["year"].to_numpy()[m]
            order = np.argsort(yr, kind="quicksort")
            py = yr[order]
            pv = pops["population"].astype(float).to_numpy()[m][order]
        else:
            p = pops[m].sort_values("year")
            py = p["year"].astype(int).values
            pv = p["population"].astype(float).values
        idx = np.searchsorted(py, years, side="right") - 1
        out[i] = pv[np.clip(idx, 0, None)]
    if missing:
        warnings.warn(f"no population for site(s) {missing} (method {method!r}); "
                      "their population-normalised loads are NaN", stacklevel=3)
    return out


def composite_days(hours: Any) -> np.ndarray:
    """Days each sample covers: ``ceil(hours/24)``, at least one (a missing duration is 24 h);
    a composite covers that many days from its ``sample_date`` on (:func:`build_dataset`).

    >>> composite_days([24, 48, 72, 1, float("nan")]).tolist()
    [1, 2, 3, 1, 1]
    """
    h = np.asarray(hours, dtype=float)
    return np.maximum(1, np.ceil(np.where(np.isnan(h), 24.0, h) / 24.0)).astype(np.int64)


def _row_inputs(r: pd.DataFrame, loq_method: str) -> tuple[np.ndarray, ...]:
    """Per result row: substituted concentration, censored flag, LOQ, composite hours, days
    covered and own flow (the row rules of :func:`build_dataset`).
    """
    n = len(r)
    cens, is_loq, is_lod, is_d = _censor_kinds(r)
    loq_col, lod_col = _limits(r)
    value = r["value_ng_per_l"].astype(float).to_numpy()
    limit = _censoring_limit(cens, is_loq, is_lod, loq_col, lod_col, value)
    conc = np.where(cens, substitute_interval(limit, np.where(is_d, lod_col, np.nan), loq_method),
                    value)
    if np.any(cens & ~np.isfinite(limit)):
        warnings.warn(f"{int(np.sum(cens & ~np.isfinite(limit)))} censored result(s) have no LOQ/LOD; "
                      "their concentration is NaN", stacklevel=3)
    loq = loq_col
    hours = (r["composite_hours"].astype(float).fillna(24).values if "composite_hours" in r.columns
             else np.full(n, 24.0))
    ndays = composite_days(hours)
    own_flow = (r["flow_m3_per_day"].astype(float).values if "flow_m3_per_day" in r.columns
                else np.full(n, np.nan))
    if np.any(own_flow < 0):
        raise ValueError("results column flow_m3_per_day has negative values")
    return conc, cens, loq, hours, ndays, own_flow


def build_dataset(results: pd.DataFrame, flows: pd.DataFrame, populations: pd.DataFrame, *,
                  loq_method: str = "loq_half", population_method: str = "de_jure",
                  include_roles: Iterable[str] = ("sample",), fill_dates: bool = True,
                  nh4n_g_per_person_per_day: float | None = None,
                  fast_path: bool = True) -> xr.Dataset:
    """Build the daily analysis Dataset with dims ``(site, analyte, date)``.

    Parameters
    ----------
    results : pd.DataFrame
        Results frame of the contract (``docs/architecture.md``); concentrations in ng/L.
    flows : pd.DataFrame
        ``site, date, flow_m3_per_day``; used when a result row has no own flow.
    populations : pd.DataFrame
        ``site, year, population[, method]``; the population of a date is that of the most
        recent year ≤ the date's year, else the earliest year available.
    loq_method : {"loq_half", "loq_sqrt2", "zero", "loq"}
        Substitution for censored results (:func:`wastewater.censoring.substitute`).
    population_method : str
        ``"de_jure"`` (default, EUDA-comparable) or any method present in ``populations``, or a
        population-equivalent method computed from hydrochemical results: ``pe_bod``/``pe_bod5``,
        ``pe_cod``, ``pe_total_n``, ``pe_total_p``, ``nh4n`` (needs
        ``nh4n_g_per_person_per_day``).
    include_roles : tuple of str
        ``sample_role`` values forming the series (QC roles go to :func:`qc_summary`).
    fill_dates : bool
        True: a continuous daily ``date`` axis from the first to the last day (NaN = no sample);
        False: only dates with a sample.
    nh4n_g_per_person_per_day : float, optional
        Site-specific per-capita NH4-N load. [g day⁻¹ person⁻¹]
    fast_path : bool, default True
        Use the numpy path when the results hold one site and one analyte (the API's
        ``/series`` case); it gives a Dataset identical to the general grouped path
        (``False``; tested in ``tests/test_timeseries_fastpath.py``).

    Returns
    -------
    xr.Dataset
        Variables ``concentration_ng_per_l``, ``censored`` (bool), ``loq_ng_per_l``,
        ``load_mg_per_day``, ``load_mg_per_day_per_1000``, ``n_replicates``,
        ``replicate_sd_ng_per_l``, ``composite_hours`` (0 = no sample) on
        ``(site, analyte, date)``; ``flow_m3_per_day`` and ``population`` on ``(site, date)``.
        Attributes ``loq_method``, ``population_method``, ``include_roles``,
        ``catalogue_version``.

    Notes
    -----
    Load ``L = C·Q/1000`` and PNL ``L/P·1000`` (:mod:`wastewater.normalisation`). Choices:
    replicates are averaged (SD with ddof=1) and a day is ``censored`` if any replicate was;
    a composite longer than 24 h covers ``ceil(hours/24)`` days starting on ``sample_date``,
    each with the composite concentration and the mean daily flow over those days; if a
    24 h and a longer composite cover the same day, the shorter one wins. When several rows
    give a flow for the same site and day, their mean is used for every analyte.
    """
    if loq_method not in SUBSTITUTION_METHODS:
        raise ValueError(f"unknown loq_method {loq_method!r}; valid: {', '.join(SUBSTITUTION_METHODS)}")
    _require(results, RESULT_COLUMNS, "results")
    _require(flows, ("site", "date", "flow_m3_per_day"), "flows")
    r = results
    if "sample_role" in r.columns:
        r = r[r["sample_role"].fillna("sample").isin(include_roles)]
    if r.empty:
        raise ValueError(f"no result rows with sample_role in {tuple(include_roles)}")
    conc, cens, loq, hours, ndays, own_flow = _row_inputs(r, loq_method)
    base_dates = _days_ns(r["sample_date"])
    fl = flows[["site", "date", "flow_m3_per_day"]]
    if (fl["flow_m3_per_day"] < 0).any():
        raise ValueError("flows frame has negative flow_m3_per_day")
    site_vals = r["site"].astype(str).values
    analyte_vals = r["analyte"].astype(str).values
    single = (fast_path and population_method not in PE_METHODS
              and bool((site_vals == site_vals[0]).all()) and bool((analyte_vals == analyte_vals[0]).all()))
    build = _cubes_single if single else _cubes_general
    sites, analytes, dates, concentration, censored, loq_arr, sd, n_rep, comp, flow = build(
        site_vals, analyte_vals, base_dates, conc, cens, loq, hours, ndays, own_flow, fl, fill_dates)

    load = load_mg_per_day(concentration, flow[:, None, :])
    if population_method in PE_METHODS:
        measure = PE_METHODS[population_method]
        if measure not in analytes:
            raise ValueError(f"population_method {population_method!r} needs {measure!r} results, "
                             f"found analytes {list(analytes)}; hydrochemical ids: {HYDROCHEMICAL_ANALYTES}")
        hydro_load_g = load[:, list(analytes).index(measure), :] / 1000.0
        population = population_equivalents(hydro_load_g, measure,
                                            per_capita_g_per_day=nh4n_g_per_person_per_day
                                            if measure == "nh4-n" else None)
        population = np.where(population > 0, population, np.nan)
    else:
        population = _population_lookup(populations, population_method, sites, dates)
    pop_safe = np.where(population > 0, population, np.nan)
    pnl = load_mg_per_day_per_1000(load, pop_safe[:, None, :])

    dims3, dims2 = ("site", "analyte", "date"), ("site", "date")
    ds = xr.Dataset(
        {
            "concentration_ng_per_l": (dims3, concentration),
            "censored": (dims3, censored),
            "loq_ng_per_l": (dims3, loq_arr),
            "flow_m3_per_day": (dims2, flow),
            "population": (dims2, population),
            "load_mg_per_day": (dims3, load),
            "load_mg_per_day_per_1000": (dims3, pnl),
            "n_replicates": (dims3, n_rep),
            "replicate_sd_ng_per_l": (dims3, sd),
            "composite_hours": (dims3, comp),
        },
        coords={"site": sites.astype(str), "analyte": analytes.astype(str),
                "date": dates.values.astype("datetime64[ns]")},
        attrs={"loq_method": loq_method, "population_method": population_method,
               "include_roles": ",".join(include_roles), "catalogue_version": CATALOGUE_VERSION},
    )
    for name, unit in UNITS.items():
        ds[name].attrs["units"] = unit
    return ds


_Cubes = tuple[np.ndarray, np.ndarray, pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
               np.ndarray, np.ndarray, np.ndarray]
"""``sites, analytes, dates, concentration, censored, loq, sd, n_rep, composite_hours, flow``."""


def _cubes_general(site_vals: np.ndarray, analyte_vals: np.ndarray, base_dates: np.ndarray, conc: np.ndarray,
                   cens: np.ndarray, loq: np.ndarray, hours: np.ndarray, ndays: np.ndarray, own_flow: np.ndarray,
                   fl: pd.DataFrame, fill_dates: bool) -> _Cubes:
    """Grouped (pandas) assembly of the cubes for any number of sites and analytes."""
    n = len(conc)
    row = np.repeat(np.arange(n), ndays)
    offset = np.concatenate([np.arange(k) for k in ndays]) if n else np.array([], int)
    ex = pd.DataFrame({
        "row": row,
        "site": site_vals[row],
        "analyte": analyte_vals[row],
        "date": base_dates[row] + offset.astype("timedelta64[D]"),
        "conc": conc[row], "censored": cens[row], "loq": loq[row], "hours": hours[row],
    })
    # flow of each original row: its own, else the mean of the flows frame over covered days
    fl = fl.copy()
    fl["site"] = fl["site"].astype(str)
    fl["date"] = pd.to_datetime(fl["date"]).dt.normalize().astype("datetime64[ns]")
    fl = fl.groupby(["site", "date"], as_index=False)["flow_m3_per_day"].mean()
    ex = ex.merge(fl, on=["site", "date"], how="left")
    frame_flow = ex.groupby("row")["flow_m3_per_day"].mean().reindex(np.arange(n)).values
    row_flow = np.where(np.isfinite(own_flow), own_flow, frame_flow)
    ex["row_flow"] = row_flow[ex["row"].values]
    # shorter composites win over longer ones on the same day
    min_h = ex.groupby(["site", "analyte", "date"])["hours"].transform("min")
    ex = ex[ex["hours"] == min_h]

    g = ex.groupby(["site", "analyte", "date"], sort=True)
    agg = g.agg(conc=("conc", "mean"), sd=("conc", "std"), n_rep=("conc", "count"),
                censored=("censored", "any"), loq=("loq", "max"), hours=("hours", "min")).reset_index()
    site_day_flow = ex.groupby(["site", "date"])["row_flow"].mean()

    sites = np.array(sorted(ex["site"].unique()), dtype=object)
    analytes = np.array(sorted(ex["analyte"].unique()), dtype=object)
    if fill_dates:
        dates = pd.date_range(ex["date"].min(), ex["date"].max(), freq="D")
    else:
        dates = pd.DatetimeIndex(sorted(ex["date"].unique()))
    si = pd.Index(sites).get_indexer(agg["site"])
    ai = pd.Index(analytes).get_indexer(agg["analyte"])
    di = dates.get_indexer(agg["date"])
    shape = (len(sites), len(analytes), len(dates))

    def cube(vals: np.ndarray, fill: float, dtype: type) -> np.ndarray:
        arr: np.ndarray = np.full(shape, fill, dtype=dtype)
        arr[si, ai, di] = vals
        return arr

    concentration = cube(agg["conc"].values, np.nan, float)
    censored = cube(agg["censored"].values, False, bool)
    loq_arr = cube(agg["loq"].values, np.nan, float)
    sd = cube(agg["sd"].values, np.nan, float)
    n_rep = cube(agg["n_rep"].values, 0, np.int16)
    comp = cube(agg["hours"].values, 0, np.int16)

    flow = np.full((len(sites), len(dates)), np.nan)
    fl_in = fl[fl["site"].isin(sites)]
    fi, fd = pd.Index(sites).get_indexer(fl_in["site"]), dates.get_indexer(fl_in["date"])
    ok = fd >= 0
    flow[fi[ok], fd[ok]] = fl_in["flow_m3_per_day"].values[ok]
    sdf = site_day_flow.dropna().reset_index()
    flow[pd.Index(sites).get_indexer(sdf["site"]), dates.get_indexer(sdf["date"])] = sdf["row_flow"].values

    return sites, analytes, dates, concentration, censored, loq_arr, sd, n_rep, comp, flow


def _group_by_day(day: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted unique days, the group index of each element and the group sizes."""
    uniq, inverse, counts = np.unique(day, return_inverse=True, return_counts=True)
    return uniq, inverse, counts


def _day_groups(pair: np.ndarray, pair_site: np.ndarray, base_day: np.ndarray, conc: np.ndarray,
                cens: np.ndarray, loq: np.ndarray, hours: np.ndarray, ndays: np.ndarray,
                own_flow: np.ndarray, f_site: np.ndarray, f_day: np.ndarray, f_val: np.ndarray,
                rank: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[Any, ...]:
    """Per-(series, day) reductions of result rows of any number of site × analyte series.

    The rules of one series (:func:`_cubes_single`), applied to every series at once: row ``i``
    belongs to series ``pair[i]`` of site ``pair_site[pair[i]]``; flows ``f_val`` are given per
    (``f_site``, ``f_day``). Every group is reduced from its own rows in file order (or in the
    order of ``rank(rows)``, the sort keys of the rows of the days with several, ties in file
    order), so each series gets the same floats as when it is built alone. Days are integer
    day numbers.

    Returns ``(g_pair, g_day, g_conc, g_sd, g_nrep, g_cens, g_loq, g_hours, g_flow, f_keys,
    f_mean, key_of)``: sorted groups, the per-(site, day) mean flows with their keys, and
    ``key_of(site, day)`` giving the key of a (site, day).
    """
    n = len(conc)
    if np.all(ndays == 1):
        row = np.arange(n)
        day = base_day
    else:
        row = np.repeat(np.arange(n), ndays)
        starts = np.repeat(np.cumsum(ndays) - ndays, ndays)
        day = base_day[row] + (np.arange(len(row)) - starts)
    lo = int(min(day.min(initial=0), f_day.min(initial=0))) - 1
    span = int(max(day.max(initial=0), f_day.max(initial=0))) - lo + 2

    def key_of(site: Any, d: Any) -> np.ndarray:
        return np.asarray(site, dtype=np.int64) * span + (np.asarray(d, dtype=np.int64) - lo)

    # flows: mean per (site, day) (as in the general path)
    fkey = key_of(f_site, f_day)
    fkeys, finv, fcounts = _group_by_day(fkey)
    if np.all(fcounts == 1):
        fmean = np.empty(len(fkeys))
        fmean[finv] = f_val
    else:
        fmean = pd.Series(f_val).groupby(fkey, sort=True).mean().to_numpy()
    # flow of each original row: its own, else the mean of the flows over its covered days
    row_site_key = key_of(pair_site[pair[row]], day)
    pos = np.searchsorted(fkeys, row_site_key)
    pos_ok = pos < len(fkeys)
    hit = np.zeros(len(day), dtype=bool)
    hit[pos_ok] = fkeys[pos[pos_ok]] == row_site_key[pos_ok]
    ex_flow = np.full(len(day), np.nan)
    ex_flow[hit] = fmean[pos[hit]]
    if len(row) == n:
        frame_flow = ex_flow
    else:
        frame_flow = np.full(n, np.nan)
        first = np.cumsum(ndays) - ndays
        one = ndays == 1
        frame_flow[one] = ex_flow[first[one]]
        multi = np.repeat(~one, ndays)
        frame_flow[~one] = pd.Series(ex_flow[multi]).groupby(row[multi], sort=True).mean().to_numpy()
    row_flow = np.where(np.isfinite(own_flow), own_flow, frame_flow)
    # shorter composites win over longer ones on the same day of the same series
    ex_hours = hours[row]
    key = key_of(pair[row], day)
    if len(row) != n or len(np.unique(ex_hours)) > 1:
        _, kinv = np.unique(key, return_inverse=True)
        min_h = np.full(int(kinv.max(initial=-1)) + 1, np.inf)
        np.minimum.at(min_h, kinv, ex_hours)
        keep = ex_hours == min_h[kinv]
        row, key = row[keep], key[keep]
    keys, inv, counts = _group_by_day(key)
    k = len(keys)
    g_conc = np.empty(k)
    g_sd = np.full(k, np.nan)
    g_nrep = np.empty(k, dtype=np.int64)
    g_cens = np.empty(k, dtype=bool)
    g_loq = np.empty(k)
    g_hours = np.empty(k)
    g_flow = np.empty(k)
    one_g = counts[inv] == 1
    gi = inv[one_g]
    r1 = row[one_g]
    g_conc[gi] = conc[r1]
    g_nrep[gi] = np.isfinite(conc[r1])
    g_cens[gi] = cens[r1]
    g_loq[gi] = loq[r1]
    g_hours[gi] = hours[r1]
    g_flow[gi] = row_flow[r1]
    if not one_g.all():
        m = ~one_g
        order = (np.argsort(inv[m], kind="stable") if rank is None
                 else np.lexsort((rank(row[m]), inv[m])))
        rm, gsub = row[m][order], inv[m][order]
        gm, bounds = np.unique(gsub, return_index=True)
        # mean / SD / flow mean: pandas' own (compensated) group reductions, as the general path
        g_conc[gm] = pd.Series(conc[rm]).groupby(gsub, sort=True).mean().to_numpy()
        g_sd[gm] = pd.Series(conc[rm]).groupby(gsub, sort=True).std().to_numpy()
        g_flow[gm] = pd.Series(row_flow[rm]).groupby(gsub, sort=True).mean().to_numpy()
        g_nrep[gm] = np.add.reduceat(np.isfinite(conc[rm]).astype(np.int64), bounds)
        g_cens[gm] = np.logical_or.reduceat(cens[rm], bounds)
        g_loq[gm] = np.fmax.reduceat(loq[rm], bounds)
        g_hours[gm] = np.minimum.reduceat(hours[rm], bounds)
    g_pair, g_day = keys // span, keys % span + lo
    return (g_pair, g_day, g_conc, g_sd, g_nrep, g_cens, g_loq, g_hours, g_flow, fkeys, fmean,
            key_of)


def _cubes_single(site_vals: np.ndarray, analyte_vals: np.ndarray, base_dates: np.ndarray, conc: np.ndarray,
                  cens: np.ndarray, loq: np.ndarray, hours: np.ndarray, ndays: np.ndarray, own_flow: np.ndarray,
                  fl: pd.DataFrame, fill_dates: bool) -> _Cubes:
    """Numpy assembly of the cubes for results of one site and one analyte.

    Same rules and the same floating-point results as :func:`_cubes_general`: days with a
    single value take it as it is (its mean; count 1 or 0 when NaN; SD NaN), and the few
    days with several values (replicates, shared flow days, composites > 24 h) are reduced
    with the same pandas groupby reductions as the general path, so sums are formed in the
    same order (:func:`_day_groups`, which also builds many series at once for the store).
    """
    n = len(conc)
    site = str(site_vals[0])
    base_day = base_dates.astype("datetime64[D]").astype(np.int64)
    fsite = fl["site"].astype(str).values == site
    fday = _days_ns(fl["date"])[fsite].astype("datetime64[D]").astype(np.int64)
    fval = fl["flow_m3_per_day"].to_numpy(dtype=float)[fsite]
    zeros = np.zeros(n, dtype=np.int64)
    (_, days, g_conc, g_sd, g_nrep, g_cens, g_loq, g_hours, g_flow, fkeys, fmean,
     key_of) = _day_groups(zeros, np.zeros(1, dtype=np.int64), base_day, conc, cens, loq, hours,
                           ndays, own_flow, np.zeros(len(fday), dtype=np.int64), fday, fval)
    fdays = fkeys - key_of(0, 0)  # site 0: the key minus the key of day 0 is the day
    k = len(days)

    if fill_dates:
        d_first, d_last = days[0], days[-1]
        dates = pd.date_range(np.datetime64(int(d_first), "D"), np.datetime64(int(d_last), "D"), freq="D")
        di = days - d_first
        fdi = np.where((fdays >= d_first) & (fdays <= d_last), fdays - d_first, -1)
    else:
        dates = pd.DatetimeIndex(days.astype("datetime64[D]").astype("datetime64[ns]"))
        di = np.arange(k)
        fpos = np.searchsorted(days, fdays)
        fpos_ok = fpos < k
        fdi = np.full(len(fdays), -1)
        fdi[fpos_ok] = np.where(days[fpos[fpos_ok]] == fdays[fpos_ok], fpos[fpos_ok], -1)
    shape = (1, 1, len(dates))

    def cube(vals: np.ndarray, fill: float, dtype: type) -> np.ndarray:
        arr: np.ndarray = np.full(shape, fill, dtype=dtype)
        arr[0, 0, di] = vals
        return arr

    concentration = cube(g_conc, np.nan, float)
    censored = cube(g_cens, False, bool)
    loq_arr = cube(g_loq, np.nan, float)
    sd = cube(g_sd, np.nan, float)
    n_rep = cube(g_nrep, 0, np.int16)
    comp = cube(g_hours, 0, np.int16)
    flow = np.full((1, len(dates)), np.nan)
    ok = fdi >= 0
    flow[0, fdi[ok]] = fmean[ok]
    fin = ~np.isnan(g_flow)
    flow[0, di[fin]] = g_flow[fin]
    sites = np.array([site], dtype=object)
    analytes = np.array([str(analyte_vals[0])], dtype=object)
    return sites, analytes, dates, concentration, censored, loq_arr, sd, n_rep, comp, flow


def _text_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values.astype(str).to_numpy(), sort=True)``, converting each distinct
    value to text once (codes and the sorted distinct texts as an object array).
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    texts = pd.Series(uniques, dtype=object).astype(str).to_numpy(dtype=object)
    text_codes, text_uniques = pd.factorize(texts, sort=True)
    return text_codes[codes], np.asarray(text_uniques, dtype=object)


def daily_by_series(results: pd.DataFrame, flows: pd.DataFrame, populations: pd.DataFrame, *,
                    loq_method: str = "loq_half", population_method: str = "de_jure"
                    ) -> pd.DataFrame:
    """Daily values of every site × analyte series in ``results``, each built on its own.

    The rows :func:`build_dataset` gives for the results of **one** site and one analyte (the
    days a sample covers, ``composite_hours > 0``), for all series at once and float for float
    the same (:func:`_day_groups`; ``tests/test_timeseries_fastpath.py``). Only sample rows;
    ``population_method`` from ``populations`` (not a computed population equivalent).

    Returns
    -------
    pandas.DataFrame
        ``site, analyte, date`` and the variables of :func:`build_dataset`
        (``concentration_ng_per_l``, ``censored``, ``loq_ng_per_l``, ``flow_m3_per_day``,
        ``population``, ``load_mg_per_day``, ``load_mg_per_day_per_1000``, ``n_replicates``,
        ``replicate_sd_ng_per_l``, ``composite_hours``), sorted by site, analyte and date.
    """
    if loq_method not in SUBSTITUTION_METHODS:
        raise ValueError(f"unknown loq_method {loq_method!r}; valid: {', '.join(SUBSTITUTION_METHODS)}")
    if population_method in PE_METHODS:
        raise ValueError("daily_by_series takes stored populations, not population equivalents")
    _require(results, RESULT_COLUMNS, "results")
    _require(flows, ("site", "date", "flow_m3_per_day"), "flows")
    r = results
    if "sample_role" in r.columns:
        codes, roles = pd.factorize(r["sample_role"], use_na_sentinel=False)
        sample = (pd.Series(roles, dtype=object).fillna("sample").to_numpy() == "sample")[codes]
        if not sample.all():  # all samples (the store's builds): no copy
            r = r[sample]
    site_codes, site_uniques = _text_codes(r["site"])
    analyte_codes, analyte_uniques = _text_codes(r["analyte"])
    combined = site_codes.astype(np.int64) * max(len(analyte_uniques), 1) + analyte_codes
    pair_keys, pair_codes = np.unique(combined, return_inverse=True)  # sorted by site, analyte
    pair_sites = np.asarray(site_uniques, dtype=object)[pair_keys // max(len(analyte_uniques), 1)]
    pair_analytes = np.asarray(analyte_uniques, dtype=object)[
        pair_keys % max(len(analyte_uniques), 1)]
    sites = pd.Index(pd.unique(pair_sites))
    days = series_days(r, np.asarray(pair_codes, dtype=np.int64),
                       sites.get_indexer(pair_sites).astype(np.int64),
                       np.asarray(sites, dtype=object),
                       _days_ns(r["sample_date"]).astype("datetime64[D]").astype(np.int64),
                       flows, populations, loq_method=loq_method,
                       population_method=population_method)
    g_pair = days.pop("pair")
    out = pd.DataFrame({
        "site": pair_sites[g_pair],
        "analyte": pair_analytes[g_pair],
        "date": days.pop("date").astype("datetime64[D]").astype("datetime64[ns]"),
        **days,
    })
    return out


DAY_COLUMNS = ("concentration_ng_per_l", "censored", "loq_ng_per_l", "flow_m3_per_day",
               "population", "load_mg_per_day", "load_mg_per_day_per_1000", "n_replicates",
               "replicate_sd_ng_per_l", "composite_hours")
"""The variables of each day :func:`series_days` gives (those of :func:`build_dataset`)."""


def series_days(rows: pd.DataFrame, pair: np.ndarray, pair_site: np.ndarray, sites: np.ndarray,
                base_day: np.ndarray, flows: pd.DataFrame, populations: pd.DataFrame, *,
                loq_method: str = "loq_half", population_method: str = "de_jure",
                rank: Callable[[np.ndarray], np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The days of :func:`daily_by_series` from result rows already coded by series.

    ``rows`` are sample result rows with the columns :func:`_row_inputs` reads (``censor``,
    ``value_ng_per_l``, limits, ``composite_hours``, ``flow_m3_per_day``); row *i* belongs to
    series ``pair[i]``, whose site is ``sites[pair_site[pair[i]]]``; ``base_day`` is its
    sample date in days since 1970-01-01. Series codes must be ordered as the (site, analyte)
    names they stand for, ``sites`` sorted. The rows of a day with several of them are reduced
    in the order of ``rank(rows)`` (positions of those rows, ascending → their sort keys,
    ties in row order) or, without ``rank``, in row order: the order of :func:`build_dataset`
    is the rows sorted by site, analyte, date, sample, replicate.

    Returns ``pair`` and ``date`` (days since 1970-01-01) of every day a sample covers,
    sorted by series and day, and the arrays of :data:`DAY_COLUMNS`.
    """
    conc, cens, loq, hours, ndays, own_flow = _row_inputs(rows, loq_method)
    if (flows["flow_m3_per_day"] < 0).any():
        raise ValueError("flows frame has negative flow_m3_per_day")
    site_index = pd.Index(sites)
    fl = flows[flows["site"].astype(str).isin(site_index)]
    fday = _days_ns(fl["date"]).astype("datetime64[D]").astype(np.int64)
    (g_pair, g_day, g_conc, g_sd, g_nrep, g_cens, g_loq, g_hours, g_flow, fkeys, fmean,
     key_of) = _day_groups(pair, pair_site, base_day, conc, cens, loq, hours, ndays, own_flow,
                           site_index.get_indexer(fl["site"].astype(str)).astype(np.int64), fday,
                           fl["flow_m3_per_day"].to_numpy(dtype=float), rank=rank)
    comp = g_hours.astype(np.int16)
    keep = comp > 0
    g_site = pair_site[g_pair]
    # the day's flow: the samples' flow, else the flows' mean of that day
    flow = np.full(len(g_day), np.nan)
    site_key = key_of(g_site, g_day)
    pos = np.searchsorted(fkeys, site_key)
    pos_ok = pos < len(fkeys)
    hit = np.zeros(len(g_day), dtype=bool)
    hit[pos_ok] = fkeys[pos[pos_ok]] == site_key[pos_ok]
    flow[hit] = fmean[pos[hit]]
    fin = ~np.isnan(g_flow)
    flow[fin] = g_flow[fin]
    udays, day_index = np.unique(g_day, return_inverse=True)
    dates = pd.DatetimeIndex(udays.astype("datetime64[D]").astype("datetime64[ns]"))
    pops = populations[populations["site"].astype(str).isin(site_index)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a site without population: NaN loads per 1000
        population = _population_lookup(pops, population_method, np.asarray(sites, dtype=object),
                                         dates)[g_site, day_index]
    load = load_mg_per_day(g_conc, flow)
    pnl = load_mg_per_day_per_1000(load, np.where(population > 0, population, np.nan))
    return {
        "pair": g_pair[keep],
        "date": np.asarray(g_day[keep], dtype=np.int64),
        "concentration_ng_per_l": g_conc[keep].astype(float),
        "censored": g_cens[keep].astype(bool),
        "loq_ng_per_l": g_loq[keep].astype(float),
        "flow_m3_per_day": flow[keep],
        "population": population[keep].astype(float),
        "load_mg_per_day": np.asarray(load, dtype=float)[keep],
        "load_mg_per_day_per_1000": np.asarray(pnl, dtype=float)[keep],
        "n_replicates": g_nrep.astype(np.int16)[keep].astype(np.int64),
        "replicate_sd_ng_per_l": g_sd[keep].astype(float),
        "composite_hours": comp[keep].astype(np.int64),
    }


def qc_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Summary of QC rows (blank, spike, reference) per site, analyte and role.

    Returns
    -------
    pd.DataFrame
        Columns ``site, analyte, sample_role, n, n_censored, n_quantified, mean_value_ng_per_l,
        max_value_ng_per_l, first_date, last_date``. A blank with ``n_quantified > 0`` indicates
        contamination (cf. ODM ``flagB``, domain reference §3.5).
    """
    _require(results, RESULT_COLUMNS + ("sample_role",), "results")
    qc = results[results["sample_role"].fillna("sample") != "sample"].copy()
    cols = ["site", "analyte", "sample_role", "n", "n_censored", "n_quantified",
            "mean_value_ng_per_l", "max_value_ng_per_l", "first_date", "last_date"]
    if qc.empty:
        return pd.DataFrame(columns=cols)
    qc["_cens"] = qc["censor"].fillna("none").ne("none")
    qc["_quant"] = ~qc["_cens"] & qc["value_ng_per_l"].notna()
    qc["_v"] = qc["value_ng_per_l"].where(qc["_quant"])
    out = qc.groupby(["site", "analyte", "sample_role"]).agg(
        n=("_cens", "size"), n_censored=("_cens", "sum"), n_quantified=("_quant", "sum"),
        mean_value_ng_per_l=("_v", "mean"), max_value_ng_per_l=("_v", "max"),
        first_date=("sample_date", "min"), last_date=("sample_date", "max")).reset_index()
    out[["n", "n_censored", "n_quantified"]] = out[["n", "n_censored", "n_quantified"]].astype(int)
    return out[cols]


def site_series(ds: xr.Dataset, site: str, analyte: str,
                variable: str = "load_mg_per_day_per_1000") -> tuple[pd.Series, pd.Series]:
    """Daily series and censored flags of one site/analyte (input of ``wastewater.stats``)."""
    sub = ds.sel(site=site, analyte=analyte)
    values = sub[variable].to_series()
    values.index = pd.DatetimeIndex(values.index, name="date")
    cens = sub["censored"].to_series().reindex(values.index).astype(bool)
    values.name = variable
    return values, cens

