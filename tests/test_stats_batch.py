"""Batch operation tests: same numbers as the per-series function; test plan; CLI table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wastewater.catalogue import measured_analytes_for
from wastewater.readers import method_change_dates
from wastewater.stats.batch import TABLE_COLUMNS, operation_table, plan_tests
from wastewater.stats.effects import NotEstimableError, operation_effect
from wastewater.stats.simulate import simulate_series


def _series(n=6):
    rng = np.random.default_rng(3)
    out = {}
    for i in range(n):
        df = simulate_series(300, "2024-01-01", seed=rng,
                             step_date="2024-08-01" if i == 0 else None, step_relative_change=-0.4)
        out[(f"SE-{i}", "benzoylecgonine")] = (df["load_mg_per_day_per_1000"], df["censored"])
    # one series entirely below LOQ: not estimable, with a reason code
    s, c = out[("SE-5", "benzoylecgonine")]
    out[("SE-5", "benzoylecgonine")] = (s * 0 + 5.0, c | True)
    return out


def _events():
    return pd.DataFrame([
        {"event_id": "EV-1", "kind": "operation", "start": pd.Timestamp("2024-07-25"),
         "end": pd.Timestamp("2024-07-31"), "sites": [], "substances": ["cocaine"]},
        {"event_id": "EV-2", "kind": "school_search", "start": pd.Timestamp("2024-06-01"),
         "end": pd.Timestamp("2024-06-02"), "sites": ["SE-1"], "substances": []},
        {"event_id": "MC-1", "kind": "method_change", "start": pd.Timestamp("2024-03-01"),
         "end": pd.Timestamp("2024-03-01"), "sites": ["SE-2"], "substances": ["benzoylecgonine"]},
        {"event_id": "RW", "kind": "risk_weekend", "start": pd.Timestamp("2024-04-30"),
         "end": pd.Timestamp("2024-05-01"), "sites": [], "substances": []},
    ])


def _marked(events, keys) -> dict:
    """``(site, analyte) -> dates`` by the one rule the API and the CLI use (wastewater.readers)."""
    return {(site, a): days for site, analyte in keys
            for a, days in method_change_dates(events, site=site, analytes=[analyte]).items()}


def test_cocaine_event_is_tested_on_benzoylecgonine():
    assert measured_analytes_for("cocaine") == ["benzoylecgonine", "cocaine"]
    assert measured_analytes_for("Kokain", ["benzoylecgonine"]) == ["benzoylecgonine"]
    available = {f"SE-{i}": ["benzoylecgonine"] for i in range(6)}
    tests = plan_tests(_events(), available)
    # EV-1 on all 6 sites (cocaine → BE), EV-2 on SE-1 (all analytes); no risk weekend, no method change
    assert sorted((t["event_id"], t["site"]) for t in tests) == sorted(
        [("EV-1", f"SE-{i}") for i in range(6)] + [("EV-2", "SE-1")])
    assert _marked(_events(), list(_series()))[("SE-2", "benzoylecgonine")] == [pd.Timestamp("2024-03-01")]


def test_batch_table_equals_per_series_function():
    series = _series()
    events = _events()
    tests = plan_tests(events, {k[0]: [k[1]] for k in series})
    mcs = _marked(events, series)
    table = operation_table(tests, series, method_changes=mcs)
    assert list(table.columns) == TABLE_COLUMNS and len(table) == 7
    for t, row in zip(tests, table.itertuples(index=False), strict=True):
        s, c = series[t["key"]]
        try:
            e = operation_effect(s, censored=c, event_start=t["event_start"],
                                 event_end=t["event_end"], method_changes=mcs.get(t["key"]))
        except NotEstimableError as exc:
            assert row.not_estimable == exc.code == "all_censored"
            assert np.isnan(row.p_value_after) and "kvantifieringsgränsen" in row.reason_sv
            continue
        for col in ("relative_change_after", "ci_low_after", "ci_high_after", "p_value_after",
                    "phi", "noise_share", "minimum_detectable_drop_after"):
            assert getattr(row, col) == pytest.approx(getattr(e, col), abs=1e-9, rel=1e-9)
    first = table[(table.site == "SE-0") & (table.event_id == "EV-1")].iloc[0]
    assert first.p_value_after < 1e-4 and -0.55 < first.relative_change_after < -0.25
    assert table.loc[table.site == "SE-2", "method_changes"].iloc[0] == "2024-03-01"
    # BH q-values over the estimable tests only
    p = table["p_value_after"].dropna().to_numpy()
    q = table["q_value"].dropna().to_numpy()
    order = np.argsort(p)
    assert np.all(q >= p - 1e-15) and np.all(np.diff(q[order]) >= -1e-15)


def test_not_estimable_reasons():
    idx = pd.date_range("2024-01-01", periods=120)
    const = pd.Series(50.0, index=idx)
    with pytest.raises(NotEstimableError) as exc:
        operation_effect(const, event_start="2024-03-01", event_end="2024-03-07",
                         composite_days=False)
    assert exc.value.code == "constant" and "varierar inte" in exc.value.sentence_sv
    # with the defaults equal values on consecutive days are read as one composite: still
    # "constant", not "1 observation, at least 7 needed"
    with pytest.raises(NotEstimableError) as exc:
        operation_effect(const, event_start="2024-03-01", event_end="2024-03-07")
    assert exc.value.code == "constant"
    short = pd.Series(np.exp(np.random.default_rng(0).normal(4, 0.2, 120)), index=idx)
    with pytest.raises(NotEstimableError) as exc:
        operation_effect(short, event_start="2024-04-25", event_end="2024-04-27")
    assert exc.value.code == "too_few_days" and "after period" in str(exc.value)


def test_fast_batch_path_equals_per_series_function_on_edge_cases():
    """The batch's vectorised path (daily series) reproduces operation_effect exactly, also
    with heavy censoring, a weekday that is always censored, an event without samples,
    a weekday missing from the window and windows that are not estimable."""
    rng = np.random.default_rng(11)
    series = {}
    for i in range(6):
        df = simulate_series(400, "2024-01-01", seed=rng, censored_fraction=0.3 if i == 1 else 0.1,
                             missing_fraction=0.05)
        s, c = df["load_mg_per_day_per_1000"].copy(), df["censored"].copy()
        if i == 2:  # every Monday censored: estimation rows fall back to all rows
            mon = s.index.day_of_week == 0
            c[mon] = True
        if i == 3:  # no sample during the event, none on Wednesdays after June
            s[(s.index >= "2024-09-01") & (s.index <= "2024-09-07")] = np.nan
            s[(s.index >= "2024-06-01") & (s.index.day_of_week == 2)] = np.nan
        series[(f"SE-{i}", "benzoylecgonine")] = (s, c)
    events = [("2024-09-01", "2024-09-07"), ("2024-01-03", "2024-01-05"),  # too little history
              ("2025-01-30", "2025-02-01"), ("2024-05-10", "2024-05-12")]  # too little after
    tests = [{"key": k, "site": k[0], "analyte": k[1], "event_id": f"EV{j}", "event_kind": "operation",
              "event_start": pd.Timestamp(a), "event_end": pd.Timestamp(b)}
             for k in series for j, (a, b) in enumerate(events)]
    table = operation_table(tests, series)
    n_checked = 0
    for t, row in zip(tests, table.itertuples(index=False), strict=True):
        s, c = series[t["key"]]
        try:
            e = operation_effect(s, censored=c, event_start=t["event_start"], event_end=t["event_end"])
        except NotEstimableError as exc:
            assert row.not_estimable == exc.code
            continue
        n_checked += 1
        assert row.not_estimable == ""
        for col in ("relative_change_after", "ci_low_after", "ci_high_after", "p_value_after",
                    "relative_change_during", "p_value_during", "phi", "noise_share", "df_resid",
                    "minimum_detectable_drop_after"):
            a, b = getattr(row, col), getattr(e, col)
            assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, abs=1e-9, rel=1e-9), col
        assert (row.n_before, row.n_during, row.n_after, row.n_censored) == (
            e.n_before, e.n_during, e.n_after, e.n_censored)
        assert bool(row.censoring_sensitive) == e.censoring_sensitive
    assert n_checked >= 12
    assert set(table["not_estimable"]) >= {"", "too_few_days"}
    assert np.isnan(table.loc[(table.site == "SE-3") & (table.event_id == "EV0"),
                              "relative_change_during"].iloc[0])
