"""Operating characteristics of the operation test on realistic simulated series (seeded, ~50 s).

Grid of the calibration study (benchmarks/bench_stats.py runs it at 1 000 replicates per cell
and checks the 0.03–0.07 band per cell): φ ∈ {0, 0.5, 0.7} × σ ∈ {0.12, 0.2, 0.3} × analytical
CV ∈ {5, 10, 20 %}, Fri–Sun ×1.3, 5 % missing days, ~10 % of values below LOQ (LOQ/2
substituted), 26 weeks of history, a 7-day operation, 8 weeks after; defaults of
``operation_effect``. Here each cell has 120 replicates (binomial SE 0.02 at 0.05), so the
per-cell check is a wide sanity band and the pooled rate over 3 240 tests (SE 0.004) must lie in
0.035–0.065.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wastewater.stats.changepoints import detect_changepoints
from wastewater.stats.effects import NotEstimableError, operation_effects_batch
from wastewater.stats.simulate import simulate_series
from wastewater.stats.trends import mann_kendall

START = pd.Timestamp("2024-01-01")
HISTORY_WEEKS = 26
EVENT_START = START + pd.Timedelta(weeks=HISTORY_WEEKS)
EVENT_END = EVENT_START + pd.Timedelta(days=6)
N_DAYS = 7 * HISTORY_WEEKS + 7 + 56
GRID = [(phi, sd, cv) for phi in (0.0, 0.5, 0.7) for sd in (0.12, 0.2, 0.3)
        for cv in (0.05, 0.10, 0.20)]
#: the simulation settings of the earlier (pure AR(1)) study, kept for the MK/CUSUM checks
OLD_SIM = {"trend_per_year": 0.0, "measurement_cv": 0.0, "censored_fraction": None,
           "loq_fraction_of_baseline": 0.7, "missing_fraction": 0.1}


def run_cell(n_rep: int, seed: int, *, step: float = 0.0, method_change: float | None = None,
             **sim) -> dict:
    """Rejection rate and CI coverage of ``operation_effect`` defaults over ``n_rep`` series."""
    rng = np.random.default_rng(seed)
    series, tests, changes = {}, [], {}
    mc_date = START + pd.Timedelta(weeks=12)
    for r in range(n_rep):
        df = simulate_series(N_DAYS, START, seed=rng, step_date=EVENT_START,
                             step_relative_change=step,
                             method_change_date=mc_date if method_change else None,
                             method_change_factor=method_change or 1.0, **sim)
        series[r] = (df["load_mg_per_day_per_1000"], df["censored"])
        tests.append({"key": r, "event_start": EVENT_START, "event_end": EVENT_END})
        if method_change:
            changes[r] = [mc_date]
    res = operation_effects_batch(tests, series, method_changes=changes or None)
    ok = [e for e in res if not isinstance(e, NotEstimableError)]
    truth = np.log1p(step)
    return {"reject": float(np.mean([e.p_value_after < 0.05 for e in ok])),
            "cover": float(np.mean([e.ci_low_after <= np.expm1(truth) <= e.ci_high_after
                                    for e in ok])),
            "n": len(ok)}


@pytest.fixture(scope="module")
def grid_runs():
    return {cell: run_cell(120, 1000 + i, phi=cell[0], sd_log=cell[1], measurement_cv=cell[2])
            for i, cell in enumerate(GRID)}


def test_false_positive_rate_holds_over_the_grid(grid_runs):
    rates = np.array([r["reject"] for r in grid_runs.values()])
    n = np.array([r["n"] for r in grid_runs.values()])
    pooled = float(np.sum(rates * n) / n.sum())
    assert 0.035 <= pooled <= 0.065, pooled
    # per cell: 120 replicates, so ±3.5 binomial SE around 0.05
    assert rates.max() <= 0.125, dict(zip(grid_runs, rates))


def test_ci_coverage_over_the_grid(grid_runs):
    cover = np.array([r["cover"] for r in grid_runs.values()])
    assert cover.mean() >= 0.935
    assert cover.min() >= 0.875


def test_power_25_percent_drop_with_half_a_year_of_history():
    # the "Done when" cell: φ 0.5, σ 0.2, CV 10 %, 26 weeks before, 8 weeks after
    res = run_cell(150, 7, step=-0.25, phi=0.5, sd_log=0.2, measurement_cv=0.10)
    assert res["reject"] >= 0.80
    assert res["cover"] >= 0.90


def test_marked_method_change_keeps_the_level():
    # a ×2 method step 14 weeks before the operation, marked: no false effect
    res = run_cell(300, 8, method_change=2.0, phi=0.5, sd_log=0.2, measurement_cv=0.10)
    assert 0.02 <= res["reject"] <= 0.09
    assert res["cover"] >= 0.91


def test_mann_kendall_yue_wang_controls_autocorrelation():
    rng = np.random.default_rng(11)
    rej_yw, rej_hr, rej_plain = [], [], []
    for _ in range(150):
        df = simulate_series(120, START, seed=rng, phi=0.6, weekend_factor=1.0, trend_per_year=0.0,
                             loq_fraction_of_baseline=None, censored_fraction=None,
                             measurement_cv=0.0, missing_fraction=0.0)
        y = np.log(df["load_mg_per_day_per_1000"].to_numpy())
        rej_yw.append(mann_kendall(y, correction="yue_wang")["p_value"] < 0.05)
        rej_hr.append(mann_kendall(y, correction="hamed_rao")["p_value"] < 0.05)
        rej_plain.append(mann_kendall(y, correction="none")["p_value"] < 0.05)
    assert np.mean(rej_plain) > 0.2  # uncorrected MK is badly inflated at phi = 0.6
    assert np.mean(rej_yw) <= 0.09  # default correction roughly holds the level
    assert np.mean(rej_hr) > np.mean(rej_yw)  # why Hamed–Rao is not the default


def test_changepoint_false_alarms_and_detection():
    rng = np.random.default_rng(12)
    false_alarm = []
    for _ in range(60):
        df = simulate_series(180, START, seed=rng, **OLD_SIM)
        false_alarm.append(len(detect_changepoints(df["load_mg_per_day_per_1000"]).changepoints) > 0)
    assert np.mean(false_alarm) <= 0.07
    hits = []
    for _ in range(30):
        df = simulate_series(180, START, seed=rng, **OLD_SIM, step_date="2024-03-31",
                             step_relative_change=-0.4)
        cp = detect_changepoints(df["load_mg_per_day_per_1000"]).changepoints
        hits.append(bool(((cp["date"] - pd.Timestamp("2024-03-31")).abs()
                          <= pd.Timedelta(days=7)).any()))
    assert np.mean(hits) >= 0.8
