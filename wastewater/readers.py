"""What a principal may read from the database: visible sites and the risk-weekend calendar.

The stored side of the access rules of :mod:`wastewater.access` (which decides; this module only
reads the rows it decides on). The API (``api.services``), the dashboard and the tertial report
call these functions, so a site or an event is visible to the same callers everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa

from wastewater.access import PUBLIC, Principal, PublicRule


def visible_sites(engine: sa.Engine, principal: Principal, rule: PublicRule | None = None) -> pd.DataFrame:
    """Sites visible to ``principal`` with a ``public`` column
    (:func:`wastewater.access.visible_sites_frame`: the public sees only catchments of at least
    ``rule.min_population`` inhabitants, [Hall2012]_; keys with a site scope only their sites).
    """
    from wastewater.access import visible_sites_frame
    from wastewater.storage.repository import load_sites

    return visible_sites_frame(principal, load_sites(engine), rule or PublicRule())


def risk_calendar(engine: sa.Engine, years: int | Iterable[int], principal: Principal | None = None,
                  rule: PublicRule | None = None, *, site: str | None = None) -> pd.DataFrame:
    """Risk, payday and long weekends of ``years`` with the kommun's own dates applied.

    :func:`wastewater.riskweekends.risk_weekends`, overridden/extended by the stored events of
    kind ``risk_weekend`` (:func:`wastewater.riskweekends.overrides_from_events`) that
    ``principal`` may see (:func:`wastewater.access.visible_events`: never confidential ones, and
    for the public none that names only small catchments). With ``site``, only events naming
    that site or every site (empty list) count. ``principal`` defaults to the public.
    """
    from wastewater.access import visible_events
    from wastewater.riskweekends import overrides_from_events, risk_weekends
    from wastewater.storage.repository import load_events

    p = principal or PUBLIC
    events = load_events(engine, include_confidential=False)
    if len(events):
        events = events[~events["confidential"].astype(bool)] if "confidential" in events else events
        events = events[events["kind"] == "risk_weekend"] if "kind" in events else events
    if len(events):
        visible = visible_sites(engine, p, rule)["site"].tolist()
        events = visible_events(p, events, visible)
        if site is not None and len(events):
            events = events[events["sites"].apply(lambda s: not s or site in s)]
    return risk_weekends(years, overrides=overrides_from_events(events))


def method_changes(engine: sa.Engine, principal: Principal | None = None, rule: PublicRule | None = None,
                   *, site: str, analytes: Iterable[str]) -> dict[str, list[pd.Timestamp]]:
    """Analyte → first days of the marked laboratory method changes at ``site`` that
    ``principal`` may see: events of kind ``method_change`` (:func:`wastewater.access.visible_events`)
    and every change of the results' ``method`` column (:func:`method_label_changes`).

    An event applies to ``site`` when it names it or no site, and to an analyte when it names
    no substance, the analyte itself, or a drug the analyte measures
    (:func:`wastewater.catalogue.measured_analytes_for`: cocaine → benzoylecgonine). Analytes
    without a change are left out. ``principal`` defaults to the public. The operation, trend,
    risk-weekend and changepoint analyses of the API, the dashboard and the report take their
    marked changes from here; the upload-time alerts apply the same two sources
    (:func:`method_change_dates`, :func:`method_labels`).
    """
    from wastewater.access import visible_events
    from wastewater.storage.repository import load_events, load_results

    p = principal or PUBLIC
    wanted = [str(a) for a in analytes]
    if not wanted:
        return {}
    results = load_results(engine, sites=[site], analytes=wanted, columns=["sample_date", "analyte", "method"])
    events = load_events(engine, include_confidential=p.sees_confidential)
    if not events.empty and "kind" in events:
        events = events[events["kind"] == "method_change"]
        if len(events):
            events = visible_events(p, events, visible_sites(engine, p, rule)["site"].tolist())
    return marked_method_changes(results, events, site=site, analytes=wanted)


def marked_method_changes(results: pd.DataFrame, events: pd.DataFrame, *, site: str, analytes: Iterable[str]
                          ) -> dict[str, list[pd.Timestamp]]:
    """Analyte → first days of the marked method changes at ``site`` in frames already loaded:
    every change of the ``method`` column of ``results`` (rows of ``site``;
    :func:`method_label_changes`) and the ``method_change`` events of ``events`` that apply
    (:func:`method_change_dates`). The rule of :func:`method_changes` without the I/O and the
    access check: ``wastewater analyse operations --all`` uses it on the frames it has read.
    """
    wanted = [str(a) for a in analytes]
    if "site" in results:
        results = results[(results["site"] == site).to_numpy()]
    if "analyte" in results:
        results = results[results["analyte"].isin(wanted).to_numpy()]
    out = method_label_changes(results)
    for a, days in method_change_dates(events, site=site, analytes=wanted).items():
        out[a] = [*out.get(a, []), *days]
    return {a: sorted(set(d)) for a, d in out.items()}


def method_labels(results: pd.DataFrame) -> dict[str, pd.Series]:
    """Analyte → the results' ``method`` by sample date (the first label of a day in code-point
    order; empty and missing labels left out), for
    :func:`wastewater.stats.effects.method_change_days`: a change of label is a marked change.
    One sort of ``results`` (``analyte, sample_date, method`` columns) for every analyte.
    """
    if "method" not in results or results.empty:
        return {}
    rows = results.loc[results["method"].notna().to_numpy(), ["analyte", "sample_date", "method"]]
    rows = rows[(rows["method"].astype(str).str.strip() != "").to_numpy()]
    if rows.empty:
        return {}
    rows = rows.sort_values(["analyte", "sample_date", "method"], kind="stable")
    rows = rows.drop_duplicates(["analyte", "sample_date"])
    return {str(a): pd.Series(g["method"].to_numpy(dtype=object),
                              index=pd.DatetimeIndex(g["sample_date"]).normalize())
            for a, g in rows.groupby("analyte", sort=False)}


def method_label_changes(results: pd.DataFrame) -> dict[str, list[pd.Timestamp]]:
    """Analyte → days on which the sample results' ``method`` changes (the first sample with the
    new label; :func:`method_labels`). Analytes without a change are left out.
    """
    import numpy as np

    from wastewater.stats.effects import method_change_days

    out: dict[str, list[pd.Timestamp]] = {}
    for a, labels in method_labels(results).items():
        days = method_change_days(None, labels)
        if days:
            out[a] = [pd.Timestamp(np.datetime64(d, "D")) for d in days]
    return out


def method_change_dates(events: pd.DataFrame, *, site: str, analytes: Iterable[str]
                        ) -> dict[str, list[pd.Timestamp]]:
    """Analyte → first days of the events of kind ``method_change`` in ``events`` that apply to
    ``site`` (the rule of :func:`method_changes`, without the access check: the upload-time
    alerts of :mod:`wastewater.storage.alerts` use it on the transaction's own events).
    """
    from wastewater.catalogue import measured_analytes_for

    if events.empty or "kind" not in events:
        return {}
    events = events[events["kind"] == "method_change"]
    out: dict[str, list[pd.Timestamp]] = {}
    for ev in events.itertuples(index=False):
        sites = list(ev.sites) if ev.sites is not None and len(ev.sites) else []
        if sites and site not in sites:
            continue
        subs = list(ev.substances) if ev.substances is not None and len(ev.substances) else []
        for a in analytes:
            if not subs or any(a == x or a in measured_analytes_for(x) for x in subs):
                out.setdefault(str(a), []).append(pd.Timestamp(ev.start))
    return {a: sorted(d) for a, d in out.items()}
