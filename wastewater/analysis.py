"""The analysis layer: stored daily series → measures, intervals, weekly means.

The one place that turns the derived daily-series store (:mod:`wastewater.storage.series`)
into what readers are shown; the API (``/series``), the dashboard, the tertial report, the CLI
and the exports all call it, so a figure is computed the same way everywhere.

- :data:`MEASURES` — the measure map (measure key → Dataset variable, unit);
- :func:`read_series` — one site × analyte × measure as ``date, value, level_lo95, level_hi95,
  change_lo95, change_hi95, censored`` (the named intervals of :mod:`wastewater.uncertainty`);
- :func:`weekly_means` — ISO-week means of a daily series (the public aggregation), each week
  with its own level and change intervals computed on the shared draws of its days;
- :func:`store_dataset` — the stored rows of several series as the analysis ``xr.Dataset`` of
  :func:`wastewater.timeseries.build_dataset` (dims ``site, analyte, date``).

Figures: the store holds what :func:`wastewater.timeseries.build_dataset` computes with the
default choices (``loq_half``, ``de_jure``); consumption comes from
:func:`wastewater.backcalculation.add_consumption`, intervals from :mod:`wastewater.uncertainty`.
Another ``loq_method`` is built from the raw results by the same ``build_dataset``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
import xarray as xr

if TYPE_CHECKING:
    from wastewater.access import PublicRule

MEASURES: dict[str, tuple[str, str]] = {
    # measure -> (Dataset variable / JSON field, unit)
    "concentration": ("concentration_ng_per_l", "ng/L"),
    "load": ("load_mg_per_day", "mg/day"),
    "load_per_1000": ("load_mg_per_day_per_1000", "mg/day/1000 inhabitants"),
    "consumption": ("consumption_mg_per_day_per_1000", "mg parent drug/day/1000 inhabitants"),
    "doses": ("doses_per_day_per_1000", "doses/day/1000 inhabitants"),
}
"""Measure key → (variable of the analysis Dataset, unit). The API, dashboard and exports use
these keys and field names."""

STORED_VARIABLES = ("concentration_ng_per_l", "load_mg_per_day", "load_mg_per_day_per_1000")
"""Measures read straight from the store (no Dataset needed without an interval)."""

BOUNDS = ("level_lo95", "level_hi95", "change_lo95", "change_hi95")
"""Interval columns of the series frames: *level* (every error component) and *change* (only
what does not cancel within a site); unit-suffixed in outputs by
:func:`wastewater.uncertainty.interval_fields`."""

SERIES_COLUMNS = ("date", "value", *BOUNDS, "censored")

MC_DRAWS = 1000
"""Monte Carlo draws per day for ``ci="montecarlo"`` (seeded: the library's default seed)."""


@dataclasses.dataclass(frozen=True)
class SeriesVersion:
    """Data version of one stored series (the cache and ETag key) and when it last changed."""

    version: int
    changed_at: dt.datetime | None


def series_version(engine: sa.Engine, site: str, analyte: str) -> SeriesVersion:
    """Version of one (site, analyte) series; ``version`` 0 when it never had data."""
    from wastewater.storage.database import connect
    from wastewater.storage.series import series_version as _version

    with connect(engine) as conn:
        hit = _version(conn, site, analyte)
    return SeriesVersion(0, None) if hit is None else SeriesVersion(*hit)


def data_version(engine: sa.Engine) -> tuple[Any, ...]:
    """Version of everything the dashboard pages and the report show (cache key of rendered pages).

    Every change of sites, populations, flows, results and events comes in as an upload (the
    uploads table only grows; a restore replaces it), every change of a stored series bumps
    its version (:mod:`wastewater.storage.series`), and an alert's status change sets its
    ``status_at``: one query, ``(uploads, last upload id, last upload time, series, sum of
    series versions, last series change, alerts, last alert status change)``.
    """
    from wastewater.storage import tables as t
    from wastewater.storage.database import connect

    u, v, a = t.uploads, t.series_versions, t.alerts
    q = sa.select(
        sa.select(sa.func.count()).select_from(u).scalar_subquery(),
        sa.select(sa.func.max(u.c.upload_id)).scalar_subquery(),
        sa.select(sa.func.max(u.c.uploaded_at)).scalar_subquery(),
        sa.select(sa.func.count()).select_from(v).scalar_subquery(),
        sa.select(sa.func.coalesce(sa.func.sum(v.c.version), 0)).scalar_subquery(),
        sa.select(sa.func.max(v.c.changed_at)).scalar_subquery(),
        sa.select(sa.func.count()).select_from(a).scalar_subquery(),
        sa.select(sa.func.max(a.c.status_at)).scalar_subquery(),
    )
    with connect(engine) as conn:
        row = conn.execute(q).one()
    return tuple(str(x) if isinstance(x, dt.datetime) else x for x in row)


def site_analytes(engine: sa.Engine, site: str) -> list[str]:
    """Analytes with a stored daily series at ``site``, sorted."""
    from wastewater.storage.series import stored_analytes

    return stored_analytes(engine, site)


def empty_series() -> pd.DataFrame:
    """An empty series frame with the columns and dtypes of :func:`read_series`."""
    return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "value": pd.Series(dtype=float),
                         **{b: pd.Series(dtype=float) for b in BOUNDS},
                         "censored": pd.Series(dtype=bool)})


def store_dataset(rows: pd.DataFrame) -> xr.Dataset:
    """Stored rows (``wastewater.storage.series.read_store``) as the analysis Dataset.

    Same variables, dims and attributes as :func:`wastewater.timeseries.build_dataset` with a
    continuous daily ``date`` axis from the first to the last stored day; days without a
    sample are NaN (``censored`` False, ``n_replicates``/``composite_hours`` 0), and so are
    their flow and population (the store keeps sample days only).
    """
    from wastewater.parameters import CATALOGUE_VERSION
    from wastewater.storage.series import STORE_LOQ_METHOD, STORE_POPULATION_METHOD
    from wastewater.timeseries import UNITS

    sites = np.array(sorted(rows["site"].unique()), dtype=object)
    analytes = np.array(sorted(rows["analyte"].unique()), dtype=object)
    day = rows["date"].to_numpy().astype("datetime64[D]")
    first, last = day.min(), day.max()
    dates = np.arange(first, last + np.timedelta64(1, "D")).astype("datetime64[ns]")
    si = pd.Index(sites).get_indexer(rows["site"])
    ai = pd.Index(analytes).get_indexer(rows["analyte"])
    di = (day - first).astype(np.int64)
    shape = (len(sites), len(analytes), len(dates))

    def cube(col: str, fill: Any, dtype: Any) -> np.ndarray:
        arr = np.full(shape, fill, dtype=dtype)
        arr[si, ai, di] = rows[col].to_numpy().astype(dtype)
        return arr

    def plane(col: str) -> np.ndarray:
        arr = np.full(shape[0::2], np.nan)
        vals = rows[col].to_numpy(dtype=float)
        ok = ~np.isnan(vals)
        arr[si[ok], di[ok]] = vals[ok]
        return arr

    dims3, dims2 = ("site", "analyte", "date"), ("site", "date")
    ds = xr.Dataset(
        {
            "concentration_ng_per_l": (dims3, cube("concentration_ng_per_l", np.nan, float)),
            "censored": (dims3, cube("censored", False, bool)),
            "loq_ng_per_l": (dims3, cube("loq_ng_per_l", np.nan, float)),
            "flow_m3_per_day": (dims2, plane("flow_m3_per_day")),
            "population": (dims2, plane("population")),
            "load_mg_per_day": (dims3, cube("load_mg_per_day", np.nan, float)),
            "load_mg_per_day_per_1000": (dims3, cube("load_mg_per_day_per_1000", np.nan, float)),
            "n_replicates": (dims3, cube("n_replicates", 0, np.int16)),
            "replicate_sd_ng_per_l": (dims3, cube("replicate_sd_ng_per_l", np.nan, float)),
            "composite_hours": (dims3, cube("composite_hours", 0, np.int16)),
        },
        coords={"site": sites.astype(str), "analyte": analytes.astype(str), "date": dates},
        attrs={"loq_method": STORE_LOQ_METHOD, "population_method": STORE_POPULATION_METHOD,
               "include_roles": "sample", "catalogue_version": CATALOGUE_VERSION},
    )
    for name, unit in UNITS.items():
        ds[name].attrs["units"] = unit
    return ds


def load_dataset(engine: sa.Engine, sites: Sequence[str], *, analytes: Sequence[str] | None = None,
                 start: Any = None, end: Any = None, loq_method: str = "loq_half",
                 public: PublicRule | None = None) -> xr.Dataset | None:
    """The analysis Dataset of ``sites`` (× ``analytes``; default every stored one) in
    ``[start, end]``; ``None`` if there is nothing.

    The one reader of several series for the API analyses, the dashboard, the report and the
    exports: the derived store for the stored ``loq_method`` (``loq_half``), else built from the
    raw results by :func:`wastewater.timeseries.build_dataset` with that substitution.
    ``public``: a :class:`wastewater.access.PublicRule` for a figure that will be published;
    days that arrived after their week became public are left out (:func:`without_late_days`).
    """
    from wastewater.storage.series import STORE_LOQ_METHOD, read_store_many

    if loq_method != STORE_LOQ_METHOD:
        ds = _raw_dataset(engine, sites, analytes, start, end, loq_method)
    else:
        rows = read_store_many(engine, sites, analytes=analytes, start=start, end=end)
        ds = None if rows.empty else store_dataset(rows)
    if ds is None or public is None:
        return ds
    return _public_days(engine, ds, public)


#: Variables of a day a late concentration takes out of the public figures (a late flow takes
#: the loads only); counts become 0, as on a day without a sample.
_SAMPLE_VARIABLES = ("concentration_ng_per_l", "loq_ng_per_l", "replicate_sd_ng_per_l")
_LOAD_VARIABLES = ("load_mg_per_day", "load_mg_per_day_per_1000")


def late_days(stored: pd.DataFrame, rule: PublicRule | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``stored`` (:func:`wastewater.storage.repository.first_stored`): is the day's
    concentration late for the public, and (its concentration in time) is its load
    (:func:`wastewater.access.late_for_public`, each series' weeks on their own). A day's load
    is there once its concentration and its flow are.
    """
    from wastewater.access import late_for_public

    series = (stored["site"] + "\x1f" + stored["analyte"]).to_numpy(dtype=object)
    conc_at = stored["concentration_stored_at"]
    conc_late = late_for_public(stored["date"], conc_at, rule, series=series)
    load_at = stored["flow_stored_at"].where(stored["flow_stored_at"] > conc_at, conc_at) \
        .where(stored["flow_stored_at"].notna() & ~conc_late)
    return conc_late, late_for_public(stored["date"], load_at, rule, series=series)


def without_late_days(ds: xr.Dataset, stored: pd.DataFrame, rule: PublicRule | None = None) -> xr.Dataset:
    """``ds`` with the days that are late for the public left out (:func:`wastewater.access.late_for_public`).

    ``stored``: :func:`wastewater.storage.repository.first_stored` of the Dataset's series. A
    day whose concentration arrived late is a day without a sample (every per-analyte variable
    NaN, ``censored`` False, counts 0); a day whose flow arrived late (its concentration in
    time) keeps its concentration and loses its loads, so neither the concentration's nor the
    load's published weekly means move when the late figure comes in.
    """
    if stored.empty:
        return ds
    sites = pd.Index(ds["site"].values.astype(str))
    analytes = pd.Index(ds["analyte"].values.astype(str))
    dates = pd.DatetimeIndex(ds["date"].values)
    si, ai = sites.get_indexer(stored["site"]), analytes.get_indexer(stored["analyte"])
    di = dates.get_indexer(pd.DatetimeIndex(stored["date"]))
    inside = (si >= 0) & (ai >= 0) & (di >= 0)
    conc_late, load_late = late_days(stored, rule)
    conc_late, load_late = conc_late & inside, load_late & inside
    if not (conc_late.any() or load_late.any()):
        return ds
    out = ds.copy()

    def clear(mask: np.ndarray, fills: dict[str, Any]) -> None:
        where = (si[mask], ai[mask], di[mask])
        for name, fill in fills.items():
            arr = out[name].values.copy()
            arr[where] = fill
            out[name] = (out[name].dims, arr, out[name].attrs)

    clear(conc_late, {**dict.fromkeys((*_SAMPLE_VARIABLES, *_LOAD_VARIABLES), np.nan),
                      "censored": False, "n_replicates": 0, "composite_hours": 0})
    clear(load_late, dict.fromkeys(_LOAD_VARIABLES, np.nan))
    return out


def _public_days(engine: sa.Engine, ds: xr.Dataset, rule: PublicRule) -> xr.Dataset:
    """:func:`without_late_days` with the first-stored times read for ``ds``'s series and days."""
    from wastewater.access import whole_week_bounds
    from wastewater.storage.repository import first_stored

    dates = pd.DatetimeIndex(ds["date"].values)
    # whole weeks: when a week was first public depends on all its days
    lo, hi = whole_week_bounds(dates.min().date(), dates.max().date())
    stored = first_stored(engine, [str(s) for s in ds["site"].values], [str(a) for a in ds["analyte"].values],
                          lo, hi)
    return without_late_days(ds, stored, rule)


def _raw_dataset(engine: sa.Engine, sites: Sequence[str], analytes: Sequence[str] | None, start: Any,
                 end: Any, loq_method: str) -> xr.Dataset | None:
    """Dataset built from the raw results (for a non-default ``loq_method``)."""
    from wastewater.storage import repository as r
    from wastewater.timeseries import build_dataset

    results = r.load_results(engine, sites=list(sites), analytes=None if analytes is None else list(analytes),
                             start=start, end=end,
                             columns=("site", "sample_date", "analyte", "value_ng_per_l",
                                      "censor", "loq_ng_per_l", "lod_ng_per_l",
                                      "flow_m3_per_day", "composite_hours", "sample_role"))
    if results.empty:
        return None
    flows = r.load_flows(engine, sites=list(sites), start=start, end=end)
    pops = r.load_populations(engine, sites=list(sites))
    return build_dataset(results, flows, pops, loq_method=loq_method)


def add_measure(ds: xr.Dataset, measure: str, *, cf_id: str | None = None, ci: str = "none"
                ) -> xr.Dataset:
    """``ds`` with the measure's variable (consumption/doses added when asked) and, for
    ``ci`` ``analytic`` or ``montecarlo``, its daily ``_level_lo95``/``_level_hi95`` and
    ``_change_lo95``/``_change_hi95`` bounds (:func:`wastewater.uncertainty.add_scoped_intervals`).
    """
    var, _unit = MEASURES[measure]
    if measure in ("consumption", "doses") and var not in ds:
        from wastewater.backcalculation import add_consumption

        ds = add_consumption(ds, {str(a): cf_id for a in ds["analyte"].values} if cf_id else None)
    if ci in ("analytic", "montecarlo"):
        from wastewater.uncertainty import add_scoped_intervals

        ds = add_scoped_intervals(ds, var, method=ci, n_draws=MC_DRAWS)  # seeded by default
    elif ci != "none":
        raise ValueError(f"ci={ci!r}; expected none, analytic or montecarlo")
    return ds


def read_series(engine: sa.Engine, site: str, analyte: str, measure: str = "load_per_1000", *,
                start: dt.date | None = None, end: dt.date | None = None,
                loq_method: str = "loq_half", cf_id: str | None = None, ci: str = "none",
                rows: pd.DataFrame | None = None, public: PublicRule | None = None) -> pd.DataFrame:
    """Daily series of one site × analyte as ``date, value, level_lo95, level_hi95,
    change_lo95, change_hi95, censored``.

    One indexed read of the store (``rows`` may pass rows read already); a continuous daily
    axis from the first to the last sample day in ``[start, end]`` (NaN = no sample). Bounds
    are NaN for ``ci="none"``. ``loq_method`` other than the stored ``loq_half`` builds the
    series from the raw results with the same :func:`wastewater.timeseries.build_dataset`.
    ``public``: as in :func:`load_dataset` (the days of a published figure).
    """
    from wastewater.storage.series import STORE_LOQ_METHOD, read_store

    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; valid: {', '.join(MEASURES)}")
    var, _unit = MEASURES[measure]
    if loq_method != STORE_LOQ_METHOD:
        ds = _raw_dataset(engine, [site], [analyte], start, end, loq_method)
        if ds is None:
            return empty_series()
        if public is not None:
            ds = _public_days(engine, ds, public)
        return _trim(_frame_of(add_measure(ds, measure, cf_id=cf_id, ci=ci), var, ci), start, end)
    if rows is None:
        rows = read_store(engine, site, analyte, start=start, end=end)
    if rows.empty:
        return empty_series()
    if public is None and ci == "none" and var in STORED_VARIABLES:
        day = rows["date"].to_numpy().astype("datetime64[D]")
        first = day[0]
        n = int((day[-1] - first).astype(np.int64)) + 1
        idx = (day - first).astype(np.int64)
        value = np.full(n, np.nan)
        value[idx] = rows[var].to_numpy(dtype=float)
        cens = np.zeros(n, dtype=bool)
        cens[idx] = rows["censored"].to_numpy(dtype=bool)
        return pd.DataFrame({
            "date": np.arange(first, first + np.timedelta64(n, "D")).astype("datetime64[ns]"),
            "value": value, **{b: np.full(n, np.nan) for b in BOUNDS},
            "censored": cens})
    ds = store_dataset(rows)
    if public is not None:
        ds = _public_days(engine, ds, public)
    return _frame_of(add_measure(ds, measure, cf_id=cf_id, ci=ci), var, ci)


def _frame_of(ds: xr.Dataset, var: str, ci: str) -> pd.DataFrame:
    sel = ds.isel(site=0, analyte=0)
    n = sel.sizes["date"]
    out = pd.DataFrame({
        "date": np.asarray(sel["date"].values).astype("datetime64[ns]"),
        "value": np.asarray(sel[var].values, dtype=float),
        **{b: (np.asarray(sel[f"{var}_{b}"].values, dtype=float) if ci != "none"
               else np.full(n, np.nan)) for b in BOUNDS},
        "censored": np.asarray(sel["censored"].values).astype(bool),
    })
    cf = str(sel.coords["cf_id"].item()) if "cf_id" in sel.coords else ""
    out.attrs.update({"site": str(sel["site"].item()), "analyte": str(sel["analyte"].item()),
                      "variable": var, "ci": ci, "cf_id": cf or None})
    return out


def _trim(frame: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
    dates = frame["date"].to_numpy()
    keep = np.ones(len(frame), dtype=bool)
    if start is not None:
        keep &= dates >= pd.Timestamp(start).to_datetime64()
    if end is not None:
        keep &= dates <= pd.Timestamp(end).to_datetime64()
    return frame[keep].reset_index(drop=True) if not keep.all() else frame


WEEKLY_COLUMNS = ["date", "iso_week", "value", *BOUNDS, "n_days", "n_censored"]


def weekly_means(daily: pd.DataFrame, *, site: str | None = None, analyte: str | None = None,
                 variable: str | None = None, ci: str | None = None,
                 cf_id: str | None = None, public: bool = False) -> pd.DataFrame:
    """ISO-week (Monday-first) means of a daily series (:data:`SERIES_COLUMNS`).

    ``n_days`` = days with a value, ``n_censored`` = censored days among them. The bounds are
    the weekly mean's own level and change 95 % intervals, computed on the shared draws of its
    days (:func:`wastewater.uncertainty.period_means`; ``ci="analytic"``: first-order
    propagation over the same scopes): random errors average over the week, shared ones
    (population, flow-meter bias, correction factor) do not. ``site``, ``analyte``,
    ``variable``, ``ci`` and ``cf_id`` default to ``daily.attrs`` (set by :func:`read_series`);
    with ``ci`` ``none`` the bounds are NaN.

    ``public``: the bounds of the published weekly means, those of the week's measured days each
    at the week's mean. The random part of the interval over the days' own values grows with
    the spread of the days (the first-order variance carries Σ vᵢ², the draws likewise), so
    with the mean it gives the days' second moment, and for a week of two days each day's
    value; at the mean the bounds depend on the published mean and the measured days only.
    """
    meta = dict(getattr(daily, "attrs", {}) or {})
    site = site or meta.get("site")
    analyte = analyte or meta.get("analyte")
    variable = variable or meta.get("variable") or "load_mg_per_day_per_1000"
    ci = ci or meta.get("ci") or "none"
    cf_id = cf_id or meta.get("cf_id")
    if daily.empty:
        return pd.DataFrame(columns=WEEKLY_COLUMNS)
    from wastewater.access import public_weeks  # the one weekly aggregation (no suppression here)

    d = daily.copy()
    d["date"] = pd.to_datetime(d["date"])
    d = d[d["value"].notna()]
    out = public_weeks(d, suppress=False, mean_columns=())
    for b in BOUNDS:
        out[b] = np.nan
    if ci in ("analytic", "montecarlo") and len(d) and site and analyte:
        from wastewater.uncertainty import period_means

        values = pd.Series(d["value"].to_numpy(dtype=float), index=pd.DatetimeIndex(d["date"]))
        if public:
            monday = values.index - pd.to_timedelta(values.index.day_of_week, unit="D")
            values = values.groupby(monday).transform("mean")
        weekly = period_means(values, site=site, analyte=analyte, freq="week", variable=variable,
                              method=ci, n_draws=MC_DRAWS, cf_id=cf_id)
        by_start = weekly.set_index("start")
        for b in BOUNDS:
            out[b] = by_start[b].reindex(pd.DatetimeIndex(out["date"])).to_numpy()
    return out[WEEKLY_COLUMNS]


# -- the service's answers: "is there a trend", "did risk weekends raise loads" ------------------

TREND_METHODS = ("gls", "mann_kendall")
"""Trend tests the service offers; the first is the default everywhere (API, dashboard, report).

``gls``: :func:`wastewater.stats.trend_gls`, a log-linear trend with the operation test's error
model (AR(1) use variation plus measurement noise) and a level shift at each marked method
change: false positives 0.049 with a marked ×2 change (1 000 replicates,
``benchmarks/reports/bench_stats.md``). ``mann_kendall``:
:func:`wastewater.stats.trend_test` (Mann–Kendall with the Yue–Wang correction, stratified at
marked method changes), the earlier default: 0.083 on the same noise model without any change
and 0.093 with the marked ×2 change, above the 0.03–0.07 band.
"""

RISK_WEEKEND_METHODS = ("model", "matched_weekends")
"""Risk-weekend tests; the first is the default everywhere (API, dashboard).

``model``: :func:`wastewater.stats.riskweekend_model`, every day of one named weekend over all
years as one term of a GLS over the whole daily series (the operation test's error model): +40 %
on Valborg found in 0.95 of series with 3 years of daily data, false positives 0.050–0.067
(``benchmarks/reports/bench_stats.md`` §5). ``matched_weekends``:
:func:`wastewater.stats.riskweekend_effect` pooled over years (a t-test with years − 1 df), the
earlier default: 0.33 power in the same setting. Per-year ratios against matched ordinary
weekends are still shown beside the model as a description of each weekend.
"""

RISK_WEEKEND_MODEL_COLUMNS = [
    "name", "kind", "relative_change", "ci_low", "ci_high", "p_value", "df", "n_event_days",
    "n_events", "n_days", "n_censored", "phi", "noise_share", "method_changes", "alpha", "method",
    "error"]


def trend(values: pd.Series, censored: pd.Series | None = None, *, method: str = "gls",
          method_changes: Sequence[Any] | None = None, alpha: float = 0.05) -> Any:
    """Is there a trend in one daily load series: the test of :data:`TREND_METHODS`.

    ``method="gls"`` (default) is :func:`wastewater.stats.trend_gls`, ``"mann_kendall"``
    :func:`wastewater.stats.trend_test`; both take the marked ``method_changes`` (a level
    shift, or the stratified test). Returns the library's result object (``trend``,
    ``p_value``, ``percent_change_per_year`` and its CI, ``method``, ``to_dict()``).
    """
    from wastewater.stats import trend_gls, trend_test

    changes = list(method_changes) if method_changes else None
    if method == "gls":
        return trend_gls(values, censored=censored, method_changes=changes, alpha=alpha)
    if method == "mann_kendall":
        return trend_test(values, censored=censored, method_changes=changes, alpha=alpha)
    raise ValueError(f"method={method!r}; expected one of {', '.join(TREND_METHODS)}")


# -- suspected dumping days (kept out of headline figures) -------------------------------------

#: Parent drug and human metabolite pairs for the ratio check of
#: :func:`wastewater.stats.flag_dumping` ([vanNuijs2011b]_: COC/BE, methadone/EDDP).
PARENT_METABOLITE: dict[str, tuple[str, str]] = {
    "benzoylecgonine": ("cocaine", "benzoylecgonine"),
    "cocaine": ("cocaine", "benzoylecgonine"),
    "methadone": ("methadone", "eddp"),
    "eddp": ("methadone", "eddp"),
}


def analytes_for_dumping(analyte: str) -> list[str]:
    """Analytes to load so the dumping check can run for ``analyte``."""
    pair = PARENT_METABOLITE.get(analyte)
    return sorted({analyte, *pair}) if pair else [analyte]


def stats_series(ds: xr.Dataset | None, site: str, analyte: str) -> tuple[pd.Series, pd.Series]:
    """Daily ``load_mg_per_day_per_1000`` and censored flags, the input of :mod:`wastewater.stats`
    (:func:`wastewater.timeseries.site_series`); empty when ``ds`` lacks the series.
    """
    from wastewater.timeseries import site_series

    if ds is None or site not in ds["site"].values or analyte not in ds["analyte"].values:
        empty = pd.Series(dtype=float, index=pd.DatetimeIndex([], name="date"))
        return empty, empty.astype(bool)
    return site_series(ds, site, analyte)


def dumping_series(ds: xr.Dataset | None, site: str, analyte: str
                   ) -> tuple[str, pd.Series, pd.Series] | None:
    """``(checked, values, censored)``: the series a dumping check tests for ``analyte`` — its
    parent drug's when measured (:data:`PARENT_METABOLITE`), else its own; ``None`` when neither
    has data.
    """
    pair = PARENT_METABOLITE.get(analyte)
    checked = pair[0] if pair else analyte
    values, cens = stats_series(ds, site, checked)
    if values.dropna().empty:
        checked = analyte
        values, cens = stats_series(ds, site, analyte)
    if values.dropna().empty:
        return None
    return checked, values, cens


def ratio_series(ds: xr.Dataset | None, site: str, analyte: str) -> dict[str, Any]:
    """The parent/metabolite ratio check's arguments when both of ``analyte``'s pair were
    measured ([vanNuijs2011b]_), else none.
    """
    pair = PARENT_METABOLITE.get(analyte)
    if not pair:
        return {}
    parent, _ = stats_series(ds, site, pair[0])
    metabolite, _ = stats_series(ds, site, pair[1])
    if not (parent.notna().any() and metabolite.notna().any()):
        return {}
    return {"parent": parent, "metabolite": metabolite, "parent_name": pair[0], "metabolite_name": pair[1]}


def dumping_days(ds: xr.Dataset | None, site: str, analyte: str, operations: pd.DataFrame | None
                 ) -> pd.DataFrame:
    """Suspected dumping days of ``analyte`` at ``site`` to keep out of headline figures:
    :func:`wastewater.stats.dumping.suspected_dumping_days` over the police operations in
    ``operations`` (``event_id, kind, start, end, sites, substances``) that concern the site and
    the analyte, with the alerts' window after each (:data:`wastewater.alerts.DUMPING_DAYS_AFTER`).
    A metabolite's days are those of its parent drug (with the ratio check when both were
    measured). Returns ``date, event_id, reason``.
    """
    from wastewater.alerts import DUMPING_DAYS_AFTER
    from wastewater.stats.dumping import suspected_dumping_days

    empty = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "event_id": pd.Series(dtype=object),
                          "reason": pd.Series(dtype=object)})
    if operations is None or operations.empty:
        return empty
    tested = dumping_series(ds, site, analyte)
    if tested is None:
        return empty
    checked, values, cens = tested
    ops = operations[(operations["kind"] == "operation")
                     & operations["sites"].apply(lambda s: not s or site in s)
                     & operations["substances"].apply(lambda s: not s or analyte in s or checked in s)]
    if ops.empty:
        return empty
    out: pd.DataFrame = suspected_dumping_days(values, ops[["event_id", "start", "end"]].to_dict("records"),
                                               days_after=DUMPING_DAYS_AFTER, censored=cens,
                                               **ratio_series(ds, site, analyte))
    return out


# -- the published trend (wastewater.access.trend_request decides who gets which) ----------------

PUBLISHED_TREND_METHOD = ("GLS of the log ISO-week mean (the public weekly means) on a linear trend, a level "
                          "shift per marked method change, AR(1) + measurement-noise errors (Kalman filter, "
                          "REML, Kackar–Harville, Satterthwaite df)")
"""What the published trend is (:func:`published_trend`), as its ``method`` field says."""


def published_trend(daily: pd.DataFrame, window: tuple[Any, Any], *, rule: Any = None,
                    method_changes: Sequence[Any] | None = None, leave_out: Any = (),
                    today: dt.date | None = None) -> dict[str, Any]:
    """THE published trend (:func:`wastewater.access.trend_request`): the service's trend test
    (:func:`trend`, ``gls``: :func:`wastewater.stats.trend_gls`) on the public ISO-week means of
    the 12-month ``window``, so it rests on nothing but what ``/series`` shows the public.

    Parameters
    ----------
    daily : DataFrame
        ``date, value, censored`` of the daily ``load_mg_per_day_per_1000``, holding every day of
        the ISO weeks that touch ``window`` (load with :func:`wastewater.access.whole_week_bounds`).
    window : (date, date)
        :func:`wastewater.access.published_trend_window`.
    rule : wastewater.access.PublicRule
        The weeks are :func:`wastewater.access.public_weeks` under it (weeks with too few days or
        not yet closed on ``today`` left out), whoever asks, so a key sees the public figure.
    method_changes : dates, optional
        Marked method changes (a level shift).
    leave_out : dates
        Suspected dumping days (:func:`dumping_days`): their whole ISO week is left out, so the
        input stays a subset of the public weeks.

    Returns
    -------
    dict
        :data:`wastewater.access.PUBLIC_TREND_FIELDS` (without ``analyte``): ``trend``
        (``increasing``, ``decreasing``, ``no trend``; ``None`` with ``reason`` when too short:
        fewer than :data:`wastewater.access.PUBLIC_TREND_MIN_DAYS` measured days in the weeks, a
        span under :data:`wastewater.access.PUBLIC_TREND_MIN_SPAN_DAYS`, or not estimable),
        ``percent_change_per_year`` and its CI, ``p_value``, ``n_weeks``, ``n_days``,
        ``n_censored``, ``weeks_left_out_dumping``, ``window_start``, ``window_end``.
    """
    from wastewater import access

    rule = rule or access.PublicRule()
    start, end = (pd.Timestamp(window[0]).date(), pd.Timestamp(window[1]).date())
    frame = daily[["date", "value", "censored"]].copy() if len(daily) else \
        pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "value": pd.Series(dtype=float),
                      "censored": pd.Series(dtype=bool)})
    weeks = access.public_weeks(frame, start, end, rule, mean_columns=(), suppress=True, today=today)
    dumped = {pd.Timestamp(d).normalize() - pd.Timedelta(days=pd.Timestamp(d).day_of_week) for d in leave_out}
    drop = pd.to_datetime(weeks["date"]).isin(sorted(dumped)) if dumped else np.zeros(len(weeks), dtype=bool)
    weeks = weeks[~np.asarray(drop, dtype=bool)].reset_index(drop=True)
    fixed = access.PUBLIC_FIXED_PARAMETERS["published_trend"]
    n_days = int(weeks["n_days"].sum()) if len(weeks) else 0
    out: dict[str, Any] = {
        "trend": None, "p_value": None, "percent_change_per_year": None, "ci_low_percent_per_year": None,
        "ci_high_percent_per_year": None, "alpha": fixed["alpha"], "window_start": start.isoformat(),
        "window_end": end.isoformat(), "n_weeks": len(weeks), "n_days": n_days,
        "n_censored": int(weeks["n_censored"].sum()) if len(weeks) else 0,
        "weeks_left_out_dumping": int(np.asarray(drop, dtype=bool).sum()), "method_changes": [],
        "method": PUBLISHED_TREND_METHOD, "published": True, "reason": None}
    span = ((pd.Timestamp(weeks["date"].max()) - pd.Timestamp(weeks["date"].min())).days + 7) if len(weeks) else 0
    if n_days < access.PUBLIC_TREND_MIN_DAYS or span < access.PUBLIC_TREND_MIN_SPAN_DAYS:
        out["reason"] = "too_short"
        return out
    idx = pd.DatetimeIndex(weeks["date"])
    values = pd.Series(weeks["value"].to_numpy(float), index=idx)
    censored = pd.Series((weeks["n_censored"] >= weeks["n_days"]).to_numpy(bool), index=idx)
    try:
        res = trend(values, censored, method=fixed["method"], method_changes=method_changes,
                    alpha=fixed["alpha"])
    except ValueError:  # InsufficientDataError / NotEstimableError: no test, no number
        out["reason"] = "not_estimable"
        return out
    low, high = res.percent_change_per_year_ci
    out.update(trend=res.trend, p_value=float(res.p_value),
               percent_change_per_year=float(res.percent_change_per_year),
               ci_low_percent_per_year=float(low), ci_high_percent_per_year=float(high),
               method_changes=list(res.method_changes))
    return out


def last_sample_day(engine: sa.Engine, site: str) -> dt.date | None:
    """The latest current sample date at ``site`` (the published trend's default window ends with
    its month, :func:`wastewater.access.latest_published_end`); ``None`` without results.
    """
    from wastewater.storage import tables as tb

    r = tb.results.c
    with engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(r.sample_date))
                            .where(r.is_current.is_(True), r.site == site)).scalar()
    if last is None:
        return None
    return last if isinstance(last, dt.date) else dt.date.fromisoformat(str(last)[:10])


def published_trends(engine: sa.Engine, principal: Any, rule: Any, site: str, analytes: Sequence[str],
                     window: tuple[Any, Any], *, today: dt.date | None = None) -> dict[str, dict[str, Any]]:
    """:func:`published_trend` of each of ``analytes`` at ``site``, with what ``principal`` may
    see: the marked method changes (:func:`wastewater.readers.method_changes`) and the police
    operations whose suspected dumping days are left out (:func:`dumping_days`; the public: no
    confidential operation). The one loader of the API, the dashboard trend page and the report,
    so they give the same number; a published figure, so for every caller without the days that
    arrived after their week was public (``load_dataset(public=...)``). ``LookupError`` when
    ``principal`` may not see ``site``.
    """
    from wastewater import access, readers
    from wastewater.alerts import DUMPING_DAYS_AFTER
    from wastewater.stats.dumping import DUMPING_BASELINES_DAYS
    from wastewater.storage.repository import load_events

    visible = readers.visible_sites(engine, principal, rule)["site"].tolist()
    if site not in visible:
        raise LookupError(f"site {site!r} is not visible to this caller")
    start, end = (pd.Timestamp(window[0]).date(), pd.Timestamp(window[1]).date())
    back = dt.timedelta(days=max(DUMPING_BASELINES_DAYS) + 7)  # the dumping check's baseline before the window
    lo, hi = access.whole_week_bounds(max(start, dt.date(1, 1, 1) + back) - back, min(end, dt.date(9999, 12, 24)))
    need = sorted({x for a in analytes for x in analytes_for_dumping(a)})
    ds = load_dataset(engine, [site], analytes=need, start=lo, end=hi, public=rule or access.PublicRule())
    events = load_events(engine, include_confidential=access.may(principal, "confidential_events"))
    ops = access.visible_events(principal, events, visible) if len(events) else events
    if len(ops):
        ops = ops.assign(start=pd.to_datetime(ops["start"]), end=pd.to_datetime(ops["end"]))
        ops = ops[(ops["kind"] == "operation") & (ops["end"] >= pd.Timestamp(start) - pd.Timedelta(
            days=DUMPING_DAYS_AFTER)) & (ops["start"] <= pd.Timestamp(end))].reset_index(drop=True)
    changes = readers.method_changes(engine, principal, rule, site=site, analytes=list(analytes))
    out: dict[str, dict[str, Any]] = {}
    for a in analytes:
        values, cens = stats_series(ds, site, a)
        daily = pd.DataFrame({"date": values.index, "value": values.to_numpy(float),
                              "censored": cens.reindex(values.index).fillna(False).to_numpy(bool)})
        dumped = dumping_days(ds, site, a, ops)
        out[a] = {"analyte": a, **published_trend(daily, (start, end), rule=rule, method_changes=changes.get(a),
                                                  leave_out=dumped["date"].tolist(), today=today)}
    return out


def risk_weekend_models(values: pd.Series, calendar: pd.DataFrame, *, censored: pd.Series | None = None,
                        kind: str = "risk_weekend", method_changes: Sequence[Any] | None = None,
                        alpha: float = 0.05) -> pd.DataFrame:
    """Did the weekends of ``kind`` raise loads: :func:`wastewater.stats.riskweekend_model` once
    per weekend name of ``kind`` that has a sample on one of its days (all years in one term).

    ``calendar`` is the *full* calendar of the series' years (all kinds: every other event gets
    its own term). One row per name (:data:`RISK_WEEKEND_MODEL_COLUMNS`, in calendar order;
    ``relative_change`` a fraction), ``error`` set and the estimate NaN when the model cannot be
    fitted for that name.
    """
    from wastewater.riskweekends import event_days
    from wastewater.stats import riskweekend_model

    measured = values.dropna()
    if calendar.empty or measured.empty:
        return pd.DataFrame(columns=RISK_WEEKEND_MODEL_COLUMNS)
    days = event_days(calendar[calendar["kind"] == kind])
    have = pd.DatetimeIndex(measured.index).normalize()
    days = days[pd.DatetimeIndex(days["date"]).isin(have)]
    changes = list(method_changes) if method_changes else None
    rows: list[dict[str, Any]] = []
    for name in dict.fromkeys(days["name"].tolist()):
        try:
            res = riskweekend_model(values, calendar, str(name), censored=censored,
                                    method_changes=changes, alpha=alpha)
        except (ValueError, LookupError) as exc:
            rows.append({"name": name, "kind": kind, "alpha": alpha, "error": str(exc)})
            continue
        d = res.to_dict()
        rows.append({**{k: d.get(k) for k in RISK_WEEKEND_MODEL_COLUMNS}, "kind": kind, "error": None,
                     "method_changes": [str(pd.Timestamp(x).date()) for x in changes or []]})
    return pd.DataFrame(rows, columns=RISK_WEEKEND_MODEL_COLUMNS)
