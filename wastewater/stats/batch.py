"""Every (site, analyte, event) operation test in one vectorised pass, as a table with q-values.

The series are prepared once each, the noise parameters of all tests are estimated together
(:func:`wastewater.stats._statespace.fit_batch`) and the table gets Benjamini–Hochberg q-values
over all estimable tests [BenjaminiHochberg1995]_. The numbers equal those of
:func:`wastewater.stats.effects.operation_effect` called on each series (same code path).

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import numpy as np
import pandas as pd

from wastewater.catalogue import measured_analytes_for
from wastewater.stats.effects import (
    DEFAULT_AFTER_DAYS,
    DEFAULT_BEFORE_DAYS,
    NotEstimableError,
    SeriesObs,
    operation_effects_batch,
    operation_effects_fast,
)
from wastewater.stats.multiple import bh_qvalues

__all__ = ["EFFECT_EVENT_KINDS", "TABLE_COLUMNS", "PlannedTest", "operation_table", "plan_tests"]

#: Event kinds whose effect is tested (risk weekends have their own model; method changes are
#: level shifts, not effects).
EFFECT_EVENT_KINDS = ("operation", "school_search", "campaign", "safety_walk", "other")

TABLE_COLUMNS = ["site", "analyte", "event_id", "event_kind", "event_start", "event_end",
                 "relative_change_after", "ci_low_after", "ci_high_after", "p_value_after",
                 "q_value", "relative_change_during", "p_value_during", "n_before", "n_during",
                 "n_after", "n_censored", "phi", "noise_share", "df_resid",
                 "minimum_detectable_drop_after", "censoring_sensitive", "method_changes",
                 "not_estimable", "reason_en", "reason_sv"]


class PlannedTest(TypedDict):
    """One (site, analyte, event) test of :func:`plan_tests`; ``key`` is ``(site, analyte)``."""

    key: tuple[str, str]
    site: str
    analyte: str
    event_id: str
    event_kind: str
    event_start: pd.Timestamp
    event_end: pd.Timestamp


#: ``(site, analyte) -> (daily load series, censored flags or None)``.
SeriesByKey = Mapping[tuple[str, str], tuple[pd.Series, pd.Series | None]]


#: Text columns of the table; count columns (nullable integers).
_TEXT_COLUMNS = ("method_changes", "not_estimable", "reason_en", "reason_sv")
_COUNT_COLUMNS = ("n_before", "n_during", "n_after", "n_censored")


def plan_tests(events: pd.DataFrame, available: dict[str, list[str]]) -> list[PlannedTest]:
    """The (site, analyte, event) tests implied by the events.

    An event applies to its ``sites`` (all sites when empty) and to the analytes measuring its
    ``substances`` (:func:`wastewater.catalogue.measured_analytes_for`: cocaine →
    benzoylecgonine; all analytes of the site when empty). ``available`` maps each site to the
    analytes it has.
    """
    tests: list[PlannedTest] = []
    for ev in events.itertuples(index=False):
        if ev.kind not in EFFECT_EVENT_KINDS:
            continue
        sites = list(ev.sites) or sorted(available)
        for site in sites:
            have = available.get(site, [])
            if list(ev.substances):
                analytes: list[str] = []
                for sub in ev.substances:
                    for a in measured_analytes_for(sub, have):
                        if a not in analytes:
                            analytes.append(a)
            else:
                analytes = list(have)
            for a in analytes:
                tests.append({"key": (site, a), "site": site, "analyte": a,
                              "event_id": ev.event_id, "event_kind": ev.kind,
                              "event_start": pd.Timestamp(ev.start), "event_end": pd.Timestamp(ev.end)})
    return tests


def operation_table(tests: list[PlannedTest], series: SeriesByKey, *,
                    method_changes: Mapping[tuple[str, str], list[pd.Timestamp]] | None = None,
                    alpha: float = 0.05, before_days: int = DEFAULT_BEFORE_DAYS,
                    after_days: int = DEFAULT_AFTER_DAYS) -> pd.DataFrame:
    """Run ``tests`` (from :func:`plan_tests`) on ``series`` (``key -> (load, censored)``).

    Returns
    -------
    pandas.DataFrame
        :data:`TABLE_COLUMNS`; ``q_value`` is the BH q-value of ``p_value_after`` over the
        estimable tests; a test that cannot be estimated has ``not_estimable`` (reason code),
        sentences and no numbers.
    """
    keep = [t for t in tests if t["key"] in series]
    changes = method_changes or {}
    # daily series without marked method changes: the fast path (no per-test Python work)
    fast_keys = [key for key in dict.fromkeys(t["key"] for t in keep) if not changes.get(key)]
    sos = dict(zip(fast_keys, SeriesObs.many([series[key] for key in fast_keys]), strict=True))
    fast_tests = np.array([j for j, t in enumerate(keep) if t["key"] in sos], dtype=np.int64)
    cols, handled = operation_effects_fast([keep[j] for j in fast_tests], sos, alpha=alpha,
                                           before_days=before_days, after_days=after_days)
    fast_pos = fast_tests[handled]
    done = np.zeros(len(keep), dtype=bool)
    done[fast_pos] = True
    # the rest (composites, method changes, reason codes) test by test
    slow = [j for j in range(len(keep)) if not done[j]]
    results = operation_effects_batch([keep[j] for j in slow], series, alpha=alpha,
                                      before_days=before_days, after_days=after_days,
                                      method_changes=method_changes)
    iso: dict[object, str] = {}  # few distinct event dates: convert each once

    def day_text(v: object) -> str:
        if v not in iso:
            iso[v] = pd.Timestamp(v).date().isoformat()
        return iso[v]

    columns: dict[str, object] = {
        "site": [t.get("site") for t in keep], "analyte": [t.get("analyte") for t in keep],
        "event_id": [t.get("event_id") for t in keep],
        "event_kind": [t.get("event_kind") for t in keep],
        "event_start": [day_text(t["event_start"]) for t in keep],
        "event_end": [day_text(t["event_end"]) for t in keep]}
    numeric = {c: np.full(len(keep), np.nan) for c in TABLE_COLUMNS[6:]
               if c not in _TEXT_COLUMNS and c != "censoring_sensitive"}
    for c, arr in numeric.items():
        if c in cols:
            arr[fast_pos] = cols[c][handled]
    sensitive = np.full(len(keep), None, dtype=object)
    sensitive[fast_pos] = cols["censoring_sensitive"][handled]
    text = {c: np.full(len(keep), "", dtype=object) for c in _TEXT_COLUMNS}
    for c in ("reason_en", "reason_sv"):
        text[c][:] = None
    for j, r in zip(slow, results, strict=True):
        if isinstance(r, NotEstimableError):
            text["not_estimable"][j] = r.code
            text["reason_en"][j], text["reason_sv"][j] = r.sentence_en, r.sentence_sv
        else:
            for c, arr in numeric.items():
                if hasattr(r, c):
                    arr[j] = getattr(r, c)
            sensitive[j] = r.censoring_sensitive
            text["method_changes"][j] = ";".join(r.method_changes)
    for c in TABLE_COLUMNS[6:]:
        if c == "censoring_sensitive":
            columns[c] = sensitive.astype(bool) if all(v is not None for v in sensitive) else sensitive
        elif c in text:
            columns[c] = text[c]
        elif c in _COUNT_COLUMNS:
            missing = np.isnan(numeric[c])
            columns[c] = pd.arrays.IntegerArray(np.where(missing, 0, numeric[c]).astype(np.int64),
                                                missing)
        elif c == "q_value":
            p = numeric["p_value_after"]
            columns[c] = bh_qvalues(p) if len(p) else np.zeros(0)
        else:
            columns[c] = numeric[c]
    return pd.DataFrame(columns)
