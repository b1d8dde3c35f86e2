"""Data access for the dashboard: the same core calls as ``/api/v1`` (never the API package).

Nothing here computes a new quantity. Loads, concentrations, consumption and their
uncertainty come from :mod:`wastewater.timeseries`, :mod:`wastewater.backcalculation` and
:mod:`wastewater.uncertainty` through :mod:`wastewater.analysis`; site visibility, weekly means
and the public rules from :mod:`wastewater.readers` and :mod:`wastewater.access`; operation
effects and dumping flags from :mod:`wastewater.stats`;
the risk-weekend calendar from :mod:`wastewater.riskweekends`; EUDA reference means from
:mod:`wastewater.interop`. This module only selects and reshapes their outputs into the
tidy frames that :mod:`dashboards.figures` draws.

Access rules are the API's (one policy, :mod:`wastewater.access`): anonymous users see only catchments
with at least ``min_public_population`` (10 000) inhabitants and only *weekly* means;
confidential events are shown to analyst/admin only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
import xarray as xr

# the dumping check's series and days live in the core: the API's published trend leaves out the
# same days as the report
from wastewater.analysis import MEASURES as _MEASURE_MAP
from wastewater.analysis import PARENT_METABOLITE, analytes_for_dumping, dumping_days  # noqa: F401
from wastewater.analysis import dumping_series as _dumping_series
from wastewater.analysis import ratio_series as _ratio_series

#: the dashboard's measures (keys of the one measure map, :data:`wastewater.analysis.MEASURES`)
#: → their Dataset variable
MEASURE_VARIABLES: dict[str, str] = {m: _MEASURE_MAP[m][0] for m in ("load_per_1000", "concentration",
                                                                      "consumption")}
MEASURES = tuple(MEASURE_VARIABLES)

#: Days shown before/after an operation; the same defaults as
#: :func:`wastewater.stats.effects.operation_effect` (8 weeks each side).
OPERATION_WINDOW_DAYS = 56

SERIES_COLUMNS = ["date", "value", "censored", "change_lower", "change_upper", "level_lower", "level_upper"]
BAND_COLUMNS = ("change_lower", "change_upper", "level_lower", "level_upper")
_BOUND_OF = {"change_lower": "change_lo95", "change_upper": "change_hi95",
             "level_lower": "level_lo95", "level_upper": "level_hi95"}


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the API principal plus the app's settings and engine."""

    engine: sa.Engine
    settings: Any
    principal: Any

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def is_public(self) -> bool:
        return self.principal.is_public

    @property
    def sees_confidential(self) -> bool:
        return bool(self.principal.sees_confidential)


def principal_for_token(engine: sa.Engine, settings: Any, token: str | None):
    """Resolve an API key as the API does (:func:`wastewater.storage.keys.resolve_token`);
    ``None`` if unknown or revoked. No key → the public principal.
    """
    from wastewater.storage.keys import resolve_token

    admin = settings.admin_key.get_secret_value() if getattr(settings, "admin_key", None) else None
    return resolve_token(engine, token, admin)


# -- sites and analytes ----------------------------------------------------------------------


def visible_sites(viewer: Viewer) -> pd.DataFrame:
    """Sites the viewer may see (:func:`wastewater.readers.visible_sites`: public ≥ 10 000 inhabitants)."""
    from wastewater.readers import visible_sites

    return visible_sites(viewer.engine, viewer.principal, public_rule(viewer))


def analytes_for_site(engine: sa.Engine, site: str) -> list[str]:
    """Canonical analyte ids with a stored daily series at ``site`` (sorted)."""
    from wastewater.analysis import site_analytes

    return site_analytes(engine, site)


# -- series ----------------------------------------------------------------------------------


def site_dataset(engine: sa.Engine, sites: list[str], *, analytes: list[str] | None = None,
                 start: dt.date | None = None, end: dt.date | None = None,
                 measures: tuple[str, ...] = MEASURES, public: Any = None) -> xr.Dataset | None:
    """The analysis Dataset for ``sites`` with consumption and 95 % intervals added.

    :func:`wastewater.analysis.load_dataset` (the derived store: LOQ/2 substitution, de jure
    population, as the API) with :func:`wastewater.analysis.add_measure` for every dashboard
    measure in ``measures`` (default all: consumption, daily level and change intervals,
    analytic). ``None`` when there is no result. ``public``: :func:`published_days`.
    """
    from wastewater.analysis import add_measure, load_dataset

    ds = load_dataset(engine, sites, analytes=analytes, start=start, end=end, public=public)
    if ds is None:
        return None
    for measure in measures:
        ds = add_measure(ds, measure, ci="analytic")
    return ds


def read_frame(engine: sa.Engine, site: str, analyte: str, measure: str, *, public: Any = None) -> pd.DataFrame:
    """One series as :func:`series_frame` gives it, read by THE series reader
    :func:`wastewater.analysis.read_series` (the store, analytic daily intervals): days without a
    value dropped, the bounds named as the figures name them. ``public``: :func:`published_days`."""
    from wastewater.analysis import read_series

    daily = read_series(engine, site, analyte, measure, ci="analytic", public=public)
    meta = dict(daily.attrs)
    out = daily[daily["value"].notna()].rename(columns={b: c for c, b in _BOUND_OF.items()})
    out = out[["date", "value", "censored", *BAND_COLUMNS]].reset_index(drop=True)
    out["censored"] = out["censored"].astype(bool)
    out.attrs = {"site": site, "analyte": analyte, "variable": MEASURE_VARIABLES[measure],
                 "cf_id": meta.get("cf_id")}
    return out


def series_frame(ds: xr.Dataset | None, site: str, analyte: str, measure: str) -> pd.DataFrame:
    """``date, value, censored`` and the daily 95 % bounds ``change_lower, change_upper,
    level_lower, level_upper`` of one site × analyte × measure.

    Days without a sample are dropped (the figure leaves gaps between them). ``attrs`` name
    the site, analyte, variable and ``cf_id`` so :func:`weekly_frame` can draw the week's
    errors at their scopes.
    """
    empty = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "value": pd.Series(dtype=float),
                          "censored": pd.Series(dtype=bool),
                          **{c: pd.Series(dtype=float) for c in BAND_COLUMNS}})
    if ds is None or site not in ds["site"].values or analyte not in ds["analyte"].values:
        return empty
    var = MEASURE_VARIABLES[measure]
    sel = ds.sel(site=site, analyte=analyte)
    frame = pd.DataFrame({
        "date": pd.to_datetime(sel["date"].values),
        "value": sel[var].values.astype(float),
        "censored": sel["censored"].values.astype(bool),
        **{c: sel[f"{var}_{b}"].values.astype(float) for c, b in _BOUND_OF.items()},
    })
    out = frame[frame["value"].notna()].reset_index(drop=True)
    cf = str(sel.coords["cf_id"].item()) if "cf_id" in sel.coords else ""
    out.attrs.update({"site": site, "analyte": analyte, "variable": var, "cf_id": cf or None})
    return out


def public_rule(viewer: Viewer):
    """The deployment's thresholds of the public rule (:class:`wastewater.access.PublicRule`)."""
    from wastewater.access import PublicRule

    return PublicRule.from_settings(viewer.settings)


def published_days(viewer: Viewer):
    """The public rule for a viewer who sees the published figures only (no daily values): the
    loaders then leave out each day that arrived after its week was public
    (:func:`wastewater.access.late_for_public`), as the API does for the public; ``None`` for a
    key with daily values."""
    from wastewater import access

    return None if access.may(viewer.principal, "daily_values") else public_rule(viewer)


def weekly_frame(daily: pd.DataFrame, start: Any = None, end: Any = None, viewer: Viewer | None = None,
                 *, suppress: bool = True) -> pd.DataFrame:
    """Whole-ISO-week means as the public API serves them (:func:`wastewater.access.public_weeks`):
    ``daily`` holds every day (not cut to the window), ``start``/``end`` only select the weeks,
    weeks with too few measured days are suppressed (``suppress=False`` keeps them, for
    readers allowed daily values).

    Returns ``date`` (the Monday), ``iso_week``, ``value``, the week's own 95 % bounds
    ``change_lower, change_upper, level_lower, level_upper`` (computed on the shared draws of
    its days), ``censored`` (True when every day of the week was censored), ``n_days``,
    ``n_censored``.
    """
    from wastewater.access import PublicRule, public_week_filter, whole_week_bounds
    from wastewater.analysis import weekly_means

    meta = dict(daily.attrs)
    days = daily.rename(columns=_BOUND_OF)
    if start is not None or end is not None:  # only the weeks asked for (a week's mean and
        lo, hi = whole_week_bounds(start, end)  # interval use its own days alone)
        keep = np.ones(len(days), dtype=bool)
        if lo is not None:
            keep &= (days["date"] >= pd.Timestamp(lo)).to_numpy()
        if hi is not None:
            keep &= (days["date"] <= pd.Timestamp(hi)).to_numpy()
        days = days[keep]
    weekly = weekly_means(days, site=meta.get("site"), analyte=meta.get("analyte"),
                          variable=meta.get("variable"), cf_id=meta.get("cf_id"), ci="montecarlo",
                          public=suppress)
    out = weekly.rename(columns={b: c for c, b in _BOUND_OF.items()})
    rule = public_rule(viewer) if viewer is not None else PublicRule()
    out = public_week_filter(out, start, end, rule, suppress=suppress)
    out["censored"] = (out["n_censored"] >= out["n_days"]) & (out["n_days"] > 0)
    return out[["date", "iso_week", "value", *BAND_COLUMNS, "censored", "n_days", "n_censored"]]


def stats_series(ds: xr.Dataset | None, site: str, analyte: str) -> tuple[pd.Series, pd.Series]:
    """Daily ``load_mg_per_day_per_1000`` and censored flags (:func:`wastewater.analysis.stats_series`)."""
    from wastewater.analysis import stats_series as series

    return series(ds, site, analyte)


def weekday_profile(daily: pd.DataFrame, start: Any = None, end: Any = None,
                    viewer: Viewer | None = None) -> pd.DataFrame:
    """Median and quartiles of the daily values per weekday of the composite's start day.

    Returns ``weekday`` (0 = Monday), ``median``, ``q25``, ``q75``, ``n``. Descriptive only
    (:func:`wastewater.access.weekday_profile`). Empty for a viewer the policy does not give
    ``weekday_profile`` (the public: medians and quartiles are single days' values).
    """
    from wastewater import access

    if viewer is not None and not access.may(viewer.principal, "weekday_profile"):
        return access.weekday_profile(daily.iloc[0:0])
    frame = daily
    if start is not None:
        frame = frame[pd.to_datetime(frame["date"]) >= pd.Timestamp(start)]
    if end is not None:
        frame = frame[pd.to_datetime(frame["date"]) <= pd.Timestamp(end)]
    return access.weekday_profile(frame)


# -- events and calendar -----------------------------------------------------------------------


def events_frame(viewer: Viewer, *, site: str | None = None, analyte: str | None = None,
                 start: Any = None, end: Any = None, kinds: tuple[str, ...] | None = None
                 ) -> pd.DataFrame:
    """Events visible to the viewer that concern ``site``/``analyte`` and overlap the period.

    An event with an empty ``sites``/``substances`` list applies to all (architecture.md).
    Confidential events only for analyst/admin (OSL 18:1, [OSL2009]_).
    """
    from wastewater.access import visible_events
    from wastewater.storage.repository import load_events

    events = load_events(viewer.engine, include_confidential=viewer.sees_confidential)
    if events.empty:
        return events
    events = visible_events(viewer.principal, events, visible_sites(viewer)["site"].tolist())
    if events.empty:
        return events
    events = events.copy()
    events["start"] = pd.to_datetime(events["start"])
    events["end"] = pd.to_datetime(events["end"])
    keep = pd.Series(True, index=events.index)
    if site is not None:
        keep &= events["sites"].apply(lambda s: not s or site in s)
    if analyte is not None:
        keep &= events["substances"].apply(lambda s: not s or analyte in s)
    if start is not None:
        keep &= events["end"] >= pd.Timestamp(start)
    if end is not None:
        keep &= events["start"] <= pd.Timestamp(end)
    if kinds is not None:
        keep &= events["kind"].isin(kinds)
    return events[keep].reset_index(drop=True)


def risk_weekend_calendar(viewer: Viewer, start: Any, end: Any, site: str | None = None) -> pd.DataFrame:
    """Risk weekends (kind ``risk_weekend``) overlapping ``start``–``end``, from
    :func:`wastewater.readers.risk_calendar` (computed dates plus the kommun's own that the viewer may
    see and that concern ``site``)."""
    if start is None or end is None:
        return pd.DataFrame(columns=["event_id", "kind", "name", "start", "end"])
    return risk_weekends_between(full_calendar(viewer, start, end, site), start, end)


def risk_weekends_between(calendar: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
    """The rows of kind ``risk_weekend`` of ``calendar`` that overlap ``start``–``end``."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    cal = calendar[calendar["kind"] == "risk_weekend"].copy()
    cal["start"] = pd.to_datetime(cal["start"])
    cal["end"] = pd.to_datetime(cal["end"])
    cal = cal[(cal["end"] >= start) & (cal["start"] <= end)]
    return cal.reset_index(drop=True)


# -- operation effect ----------------------------------------------------------------------------


def _stats():
    from wastewater import stats

    return stats


def dumping_check(ds: xr.Dataset | None, site: str, analyte: str, event: dict) -> dict | None:
    """:func:`wastewater.stats.flag_dumping` for the event window, as ``to_dict()`` plus
    ``flagged`` and ``checked`` (the analyte whose load was tested).

    Dumping concerns the parent drug (cocaine, MDMA, methadone): for a metabolite such as
    benzoylecgonine the parent's series is tested, with the parent/metabolite ratio check when
    both were measured ([vanNuijs2011b]_). ``None`` when no data.
    """
    stats = _stats()
    tested = _dumping_series(ds, site, analyte)
    if tested is None:
        return None
    checked, values, cens = tested
    kwargs = _ratio_series(ds, site, analyte)
    try:
        result = stats.flag_dumping(values, event_start=pd.Timestamp(event["start"]),
                                    event_end=pd.Timestamp(event["end"]), censored=cens, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a failed check must not hide the effect view
        return {"flagged": False, "checked": checked, "error": str(exc)}
    out = result.to_dict()
    out["flagged"] = bool(result.any_flagged)
    out["checked"] = checked
    return out


def operation_effect(ds: xr.Dataset | None, site: str, analyte: str, event: dict,
                     lang: str = "sv", method_changes: list[Any] | None = None) -> dict:
    """``wastewater.stats.operation_effect`` for one event as a JSON-safe dict.

    Suspected dumping days (if the library flags any) are excluded, as the API does, and
    ``dumping`` holds the flag; each of the analyte's marked ``method_changes`` (:func:`method_changes`)
    gets a level shift, as in the API, and the sentence says so. On too little data the dict
    has ``error`` instead.
    """
    stats = _stats()
    values, cens = stats_series(ds, site, analyte)
    dumping = dumping_check(ds, site, analyte, event)
    exclude = None
    if dumping and dumping.get("flagged") and dumping.get("excluded_dates"):
        exclude = dumping["excluded_dates"]
    try:
        result = stats.operation_effect(
            values, censored=cens, event_start=pd.Timestamp(event["start"]),
            event_end=pd.Timestamp(event["end"]), exclude_dates=exclude,
            exclusion_reason=(("misstänkt dumpning" if lang == "sv" else "suspected dumping")
                              if exclude else None),
            method_changes=method_changes or None,
        )
    except Exception as exc:  # noqa: BLE001 - e.g. InsufficientDataError
        # "not estimable" is an answer: its reason code and the sentence in the page's language
        sentence = getattr(exc, "sentence_sv" if lang == "sv" else "sentence_en", None)
        return {"error": sentence or str(exc), "not_estimable": getattr(exc, "code", None),
                "dumping": dumping}
    out = result.to_dict()
    out["dumping"] = dumping
    return out


def public_effect(viewer: Viewer, effect: dict, event: dict, lang: str) -> dict:
    """What the public sees of ``effect`` (:func:`wastewater.access.public_operation_effect`):
    the published fields, the error of an effect that cannot be estimated and the dumping flag;
    while the follow-up period runs, the sentence saying when the effect is published takes
    the place of the estimate (shown as the page's and the report's notice).
    """
    from wastewater import access

    out = {**access.public_operation_effect(effect, event["end"], rule=public_rule(viewer)),
           "error": effect.get("error"), "dumping": {"flagged": dumping_raised(effect)}}
    if not out["published"] and not out["error"]:
        out["error"] = out[f"sentence_{lang}"]
    return out


def effect_percentages(effect: dict) -> dict[str, float]:
    """The after-effect as percentages for the figure (fractions × 100)."""
    def pct(key: str) -> float:
        value = effect.get(key)
        return float("nan") if value is None else 100.0 * float(value)

    return {"change_percent": pct("relative_change_after"),
            "ci_low_percent": pct("ci_low_after"), "ci_high_percent": pct("ci_high_after")}


def dumping_raised(effect: dict) -> bool:
    """True when the dumping check flagged the window (any of its usual flag names)."""
    d = effect.get("dumping") or {}
    return bool(d.get("flagged"))


def operation_series(daily: pd.DataFrame, event: dict,
                     window_days: int = OPERATION_WINDOW_DAYS) -> pd.DataFrame:
    """Daily values in the before/during/after windows with a ``period`` column."""
    start, end = pd.Timestamp(event["start"]), pd.Timestamp(event["end"])
    lo = start - pd.Timedelta(days=window_days)
    hi = end + pd.Timedelta(days=window_days)
    frame = daily[(daily["date"] >= lo) & (daily["date"] <= hi)].copy()
    frame["period"] = np.where(frame["date"] < start, "before",
                               np.where(frame["date"] > end, "after", "during"))
    return frame.reset_index(drop=True)


# -- risk weekends ---------------------------------------------------------------------------------


def risk_weekend_effects(ds: xr.Dataset | None, site: str, analyte: str,
                         calendar: pd.DataFrame) -> pd.DataFrame:
    """Per-weekend effect from :func:`wastewater.stats.riskweekend_effect` as ``name, start,
    end, ratio, lower, upper, p_value, n_controls`` (ratio = 1 + relative change [unitless]).

    ``calendar`` is the *full* calendar of :func:`wastewater.riskweekends.risk_weekends` (all
    kinds, so payday and long weekends stay out of the controls, [SVTHalland2017]_).
    """
    columns = ["name", "start", "end", "ratio", "lower", "upper", "p_value", "n_event_days", "n_controls"]
    values, cens = stats_series(ds, site, analyte)
    if calendar.empty or values.dropna().empty:
        return pd.DataFrame(columns=columns)
    result = _stats().riskweekend_effect(values, calendar, censored=cens)
    ev = result.events
    out = pd.DataFrame({
        "name": ev["name"], "start": pd.to_datetime(ev["start"]), "end": pd.to_datetime(ev["end"]),
        "ratio": 1.0 + ev["relative_change"].astype(float),
        "lower": 1.0 + ev["ci_low"].astype(float), "upper": 1.0 + ev["ci_high"].astype(float),
        "p_value": ev["p_value"].astype(float), "n_event_days": ev["n_event_days"],
        "n_controls": ev["n_controls"],
    })
    return out.dropna(subset=["ratio"]).reset_index(drop=True)


RISK_WEEKEND_MODEL_FRAME = ["name", "ratio", "lower", "upper", "p_value", "n_events", "n_event_days"]


def risk_weekend_models(ds: xr.Dataset | None, site: str, analyte: str, calendar: pd.DataFrame,
                        method_changes: list[Any] | None = None) -> pd.DataFrame:
    """Did the risk weekends raise loads: :func:`wastewater.analysis.risk_weekend_models` (one
    model over the whole series per weekend name, all years in one term) as ``name, ratio,
    lower, upper, p_value, n_events, n_event_days`` (ratio = 1 + relative change [unitless]),
    names the model could not be fitted for left out.

    ``calendar`` is the *full* calendar (every other kind its own term, [SVTHalland2017]_).
    """
    from wastewater.analysis import risk_weekend_models as models

    values, cens = stats_series(ds, site, analyte)
    if calendar.empty or values.dropna().empty:
        return pd.DataFrame(columns=RISK_WEEKEND_MODEL_FRAME)
    res = models(values, calendar, censored=cens, method_changes=method_changes)
    res = res[res["error"].isna() & res["relative_change"].notna()]
    out = pd.DataFrame({
        "name": res["name"], "ratio": 1.0 + res["relative_change"].astype(float),
        "lower": 1.0 + res["ci_low"].astype(float), "upper": 1.0 + res["ci_high"].astype(float),
        "p_value": res["p_value"].astype(float), "n_events": res["n_events"].astype(int),
        "n_event_days": res["n_event_days"].astype(int)})
    return out.reset_index(drop=True)


def operation_plan(viewer: Viewer, site: str, analyte: str, *, duration_days: int = 7,
                   after_days: Any = None, ds: xr.Dataset | None = None,
                   marked: list[pd.Timestamp] | None = None) -> pd.DataFrame | None:
    """For planning an operation at ``site``: the smallest drop in ``analyte``'s load the current
    sampling detects with 80 % power, per length of the period after it (``after_days``, default
    :data:`wastewater.stats.effects.PLANNING_AFTER_DAYS`;
    :func:`wastewater.stats.effects.planned_detectable_drops`, with the analyte's marked method
    changes, as the API's ``/analyses/operation-plan``). ``ds`` and ``marked`` (the analyte's
    method changes) are loaded unless the caller has them. ``None`` for a viewer without
    ``other_analyses`` (the public: the drop follows the fitted day-to-day noise)."""
    from wastewater import access
    from wastewater.stats.effects import PLANNING_AFTER_DAYS, planned_detectable_drops

    if not access.may(viewer.principal, "other_analyses"):
        return None
    if ds is None:
        ds = site_dataset(viewer.engine, [site], analytes=[analyte], measures=("load_per_1000",))
    if marked is None:
        marked = method_changes(viewer, site, [analyte]).get(analyte, [])
    load, censored = stats_series(ds, site, analyte)
    return planned_detectable_drops(load, censored=censored, duration_days=duration_days,
                                    after_days=PLANNING_AFTER_DAYS if after_days is None else after_days,
                                    method_changes=marked)


def method_changes(viewer: Viewer, site: str, analytes: list[str]) -> dict[str, list[pd.Timestamp]]:
    """Marked method changes the viewer may see (:func:`wastewater.readers.method_changes`)."""
    from wastewater.readers import method_changes as changes

    return changes(viewer.engine, viewer.principal, public_rule(viewer), site=site, analytes=analytes)


def trend_answer(daily: pd.DataFrame, method_changes: list[Any] | None = None) -> Any:
    """Is there a trend in the daily ``load_per_1000`` frame (``date, value, censored``):
    :func:`wastewater.analysis.trend` with its default test (GLS, a level shift at each marked
    method change); ``None`` when the series is too short to test."""
    from wastewater.analysis import trend

    frame = daily.dropna(subset=["value"])
    if len(frame) < 10:
        return None
    idx = pd.DatetimeIndex(daily["date"])
    values = pd.Series(daily["value"].to_numpy(float), index=idx)
    cens = pd.Series(daily["censored"].to_numpy(bool), index=idx)
    try:
        return trend(values, cens, method_changes=method_changes)
    except ValueError:  # InsufficientDataError / NotEstimableError: no test, no number
        return None


def full_calendar(viewer: Viewer, start: Any, end: Any, site: str | None = None) -> pd.DataFrame:
    """All calendar windows (risk, payday and long weekends) of the years ``start``–``end``,
    with the kommun's own dates the viewer may see (:func:`wastewater.readers.risk_calendar`)."""
    from wastewater.readers import risk_calendar

    start, end = pd.Timestamp(start), pd.Timestamp(end)
    return risk_calendar(viewer.engine, range(start.year, end.year + 1), viewer.principal,
                         public_rule(viewer), site=site)


def _first(d: dict, *keys: str) -> Any:
    for k in keys:
        if d.get(k) is not None:
            return d[k]
    return None


# -- EUDA comparison -----------------------------------------------------------------------------


#: ISO country codes counted as Europe in the comparison (EUDA also lists e.g. BR, CA, CL, NZ).
EUROPE = frozenset(
    ["AT", "BE", "BG", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GR", "HR", "HU", "IE", "IS", "IT", "LT", "LU", "LV", "ME", "MK", "MT", "NL", "NO", "PL", "PT", "RO", "RS", "SE", "SI", "SK", "TR", "UA", "BA", "AL", "XK", "MD"])  # noqa: E501


def reference_years(engine: sa.Engine) -> list[int]:
    """Years with EUDA reference data imported (newest first)."""
    from wastewater.interop.store import load_reference

    try:
        ref = load_reference(engine)
    except Exception:  # noqa: BLE001 - table absent before the first import
        return []
    return sorted({int(y) for y in ref["year"].unique()}, reverse=True)


COUNTRY_CODES = {"H": "HU"}
"""EUDA's own country-code quirks mapped to ISO codes for display (Debrecen is coded ``H``)."""

COMPARISON_COLUMNS = ["city", "country", "value", "group", "population", "year", "label",
                      "all_below_loq", "source"]


def comparison_frame(viewer: Viewer, analyte: str, year: int | None,
                     site: str | None, site_label: str | None) -> tuple[pd.DataFrame, int | None]:
    """EUDA daily means per city for ``analyte``, national reference series and our site.

    - EUDA: the *published* daily means of every EUDA site, all countries (European and
      non-European; Hungary's ``H`` shown as ``HU``), from
      :func:`wastewater.interop.store.load_published_means`, for the chosen campaign year
      (default the newest). ``all_below_loq`` marks cities whose every published day is below
      LOQ (EUDA writes 0): their 0 is not a measured zero.
    - National reference series (e.g. Statistics Canada Table 13-10-0871-01): the mean of the
      published monthly loads in the same year, one bar per city/average (group ``national``).
    - Our site: :func:`wastewater.summaries.euda_means` over the EUDA campaign week of the *same*
      year when we have data in it, else of our latest year; the year is explicit in every
      bar's ``label`` and ``year``, so a 2025 week is never silently set against EUDA 2024.

    Returns ``(frame[COMPARISON_COLUMNS], reference year)``.
    """
    from wastewater.interop.euda import campaign_dates, euda_summary_from_daily
    from wastewater.interop.store import load_published_means, load_reference, load_reference_series
    from wastewater.summaries import euda_means

    try:
        pub = load_published_means(viewer.engine, analyte=analyte)
        ref = load_reference(viewer.engine, analyte=analyte)
    except Exception:  # noqa: BLE001 - table absent before the first import
        pub, ref = pd.DataFrame(), pd.DataFrame()
    if pub.empty:
        return pd.DataFrame(columns=COMPARISON_COLUMNS), None
    years = sorted(pub["year"].unique())
    year = int(year) if year is not None and year in years else int(years[-1])
    pub = pub[(pub["year"] == year) & pub["daily_mean"].notna()]
    ref = ref[ref["year"] == year]
    counts = euda_summary_from_daily(ref).set_index("site_id")[["n_days", "n_censored"]]
    pops = ref.drop_duplicates("site_id").set_index("site_id")["population"]
    country = pub["country"].map(lambda c: COUNTRY_CODES.get(c, c))
    n_days = pub["site_id"].map(counts["n_days"]).fillna(0).to_numpy()
    n_cens = pub["site_id"].map(counts["n_censored"]).fillna(0).to_numpy()
    below = (n_days > 0) & (n_cens == n_days)
    frame = pd.DataFrame({
        "city": pub["city"].to_numpy(), "country": country.to_numpy(),
        "value": pub["daily_mean"].astype(float).to_numpy(),
        "group": np.where(country == "SE", "sweden", "europe"),
        "population": pub["site_id"].map(pops).to_numpy(),
        "year": year, "all_below_loq": below, "source": pub["source"].to_numpy(),
    })
    try:
        nat = load_reference_series(viewer.engine, analyte=analyte)
    except Exception:  # noqa: BLE001
        nat = pd.DataFrame()
    if len(nat):
        nat = nat[pd.to_datetime(nat["period_start"]).dt.year == year]
        if len(nat):
            g = nat.groupby(["source", "series_id", "name", "country"], as_index=False).agg(
                value=("value_mg_per_day_per_1000", "mean"), n=("period", "size"))
            frame = pd.concat([frame, pd.DataFrame({
                "city": g["name"] + " (" + g["n"].astype(str) + " mån/mo)", "country": g["country"],
                "value": g["value"], "group": "national", "population": np.nan, "year": year,
                "all_below_loq": False, "source": g["source"]})], ignore_index=True)
    if site:
        ds = site_dataset(viewer.engine, [site], analytes=[analyte], public=published_days(viewer))
        values, cens = stats_series(ds, site, analyte)
        values = values.dropna()
        means = None
        if len(values):
            own_years = sorted({int(y) for y in values.index.year})
            own_year = year if year in own_years else own_years[-1]
            week = pd.DatetimeIndex(sorted(campaign_dates(own_year).values()))
            week_values = values.reindex(week)
            from wastewater import access

            if not access.may(viewer.principal, "daily_values"):
                # public: the campaign week only, and only when it cannot be combined with the
                # public ISO-week means into a single day (no whole-year fallback: it grows daily)
                if not access.public_campaign_week(values.index, week[0], public_rule(viewer)):
                    week_values = week_values.iloc[0:0]
            elif week_values.notna().sum() == 0:
                week_values = values[values.index.year == own_year]
            c = cens.reindex(week_values.index)
            means = euda_means(week_values, year=own_year, censored=c) if week_values.notna().any() else None
            valid = week_values.notna()
        if means is not None:
            row = {"city": site_label or site, "country": "SE",
                   "value": float(means["daily_mean"]), "group": "this_site",
                   "population": np.nan, "year": own_year,
                   "all_below_loq": bool(valid.any() and c[valid].fillna(False).astype(bool).all()),
                   "source": "wastewater"}
            frame = pd.concat([frame, pd.DataFrame([row])], ignore_index=True)
    frame["label"] = [f"{c} ({k}) {y}" + (" < LOQ" if b else "")
                      for c, k, y, b in zip(frame["city"], frame["country"], frame["year"],
                                            frame["all_below_loq"])]
    return frame[COMPARISON_COLUMNS].reset_index(drop=True), year


def last_sample_date(viewer: Viewer) -> dt.date | None:
    """The latest current sample date at a site the viewer may see (the report form's default)."""
    from wastewater.storage import tables as tb

    sites = visible_sites(viewer)
    if sites.empty:
        return None
    r = tb.results.c
    with viewer.engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(r.sample_date))
                            .where(r.is_current.is_(True), r.site.in_(list(sites["site"])))).scalar()
    if last is None:
        return None
    return last if isinstance(last, dt.date) else dt.date.fromisoformat(str(last)[:10])
