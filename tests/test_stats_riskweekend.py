"""Risk-weekend effect: matched controls counted by hand, known uplift recovered, pooling."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from wastewater.riskweekends import risk_weekends
from wastewater.stats import pool_log_ratios, riskweekend_effect

IDX = pd.date_range("2023-01-01", "2025-12-31", freq="D")


def _flat(seed=0, sd=0.02):
    rng = np.random.default_rng(seed)
    week = np.log([1.0, 1.0, 1.0, 1.0, 1.3, 1.3, 1.3])[IDX.day_of_week]
    return pd.Series(100 * np.exp(week + rng.normal(0, sd, len(IDX))), index=IDX)


def test_valborg_2025_controls_by_hand():
    # Valborg 2025 = Wed 30 Apr + Thu 1 May. Shifts ±1..6 weeks; +4 weeks (28–29 May) touches
    # Kristi himmelsfärd (29 May) and +6 weeks (11–12 June) touches Skolavslutning (12 June):
    # 12 − 2 = 10 control windows.
    cal = risk_weekends([2023, 2024, 2025])
    res = riskweekend_effect(_flat(), cal, names=["Valborg"])
    row = res.events.set_index("event_id").loc["rw-2025-valborg"]
    assert row["n_controls"] == 10 and row["n_event_days"] == 2


def test_known_uplift_recovered_per_event_and_pooled():
    cal = risk_weekends([2023, 2024, 2025])
    s = _flat(seed=1)
    mids = cal[cal["name"] == "Midsommar"]
    for ev in mids.itertuples():
        s[ev.start:ev.end] *= 1.35
    res = riskweekend_effect(s, cal, names=["Midsommar"])
    np.testing.assert_allclose(res.events["relative_change"], 0.35, atol=0.05)
    assert ((res.events["ci_low"] < 0.35) & (0.35 < res.events["ci_high"])).all()
    pooled = res.pooled.set_index("group").loc["Midsommar"]
    assert pooled["n_events"] == 3
    assert pooled["relative_change"] == pytest.approx(0.35, abs=0.02)
    assert pooled["ci_low"] > 0.25 and pooled["p_value"] < 0.01
    assert pooled["relative_change_re"] == pytest.approx(0.35, abs=0.02)
    json.dumps(res.to_dict(), allow_nan=False)


def test_payday_weekends_are_their_own_kind():
    cal = risk_weekends([2023, 2024, 2025])
    res = riskweekend_effect(_flat(seed=2), cal, kinds=("payday_weekend",))
    assert set(res.events["kind"]) == {"payday_weekend"}
    assert list(res.pooled["group"]) == ["Lönehelg", "all payday_weekend"]
    assert res.pooled.set_index("group").loc["Lönehelg", "n_events"] == 36
    # no uplift in the data: pooled change near zero
    assert abs(res.pooled["relative_change"].iloc[0]) < 0.02


def test_pool_log_ratios_by_hand():
    x = np.log([1.2, 1.4, 1.3])
    r = pool_log_ratios(x, alpha=0.05)
    m, s = x.mean(), x.std(ddof=1)
    half = 4.302652729749464 * s / np.sqrt(3)  # t(0.975, 2)
    assert r["relative_change"] == pytest.approx(np.expm1(m))
    assert r["ci_low"] == pytest.approx(np.expm1(m - half))
    assert r["ci_high"] == pytest.approx(np.expm1(m + half))
    # equal SEs and no heterogeneity beyond them -> RE mean = plain mean
    r2 = pool_log_ratios(x, np.full(3, 0.5))
    assert r2["tau2"] == 0.0 and r2["relative_change_re"] == pytest.approx(np.expm1(m))


def _valborg_series(seed, uplift):
    from wastewater.riskweekends import event_days, risk_weekends
    from wastewater.stats.simulate import simulate_series

    cal = risk_weekends([2023, 2024, 2025])
    days = set(event_days(cal).query("name == 'Valborg'")["date"])
    df = simulate_series(3 * 365, "2023-01-01", seed=seed)
    s = df["load_mg_per_day_per_1000"].copy()
    s[s.index.isin(list(days))] *= 1 + uplift
    return s, df["censored"], cal


def test_riskweekend_model_holds_its_level_and_detects_a_40_percent_valborg():
    """One model over 3 years of daily data (AR(1) + 10 % measurement noise, Fri-Sun cycle,
    5 % missing, 10 % censored): null rate near 0.05, power for +40 % on Valborg >= 0.8."""
    from wastewater.stats.riskweekend_effect import riskweekend_model

    rng = np.random.default_rng(12)
    n = 150
    rej = cov = 0
    for _ in range(n):
        s, c, cal = _valborg_series(rng, 0.0)
        r = riskweekend_model(s, cal, "Valborg", censored=c)
        rej += r.p_value < 0.05
        cov += r.ci_low <= 0.0 <= r.ci_high
    assert 0.01 <= rej / n <= 0.10 and cov / n >= 0.90
    hits = 0
    for _ in range(n):
        s, c, cal = _valborg_series(rng, 0.4)
        r = riskweekend_model(s, cal, "Valborg", censored=c)
        hits += r.p_value < 0.05
    assert hits / n >= 0.8
    assert r.n_event_days >= 7 and "Lönehelg" not in r.other_terms and "payday_weekend" in r.other_terms
