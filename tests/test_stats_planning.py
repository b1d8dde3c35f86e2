"""Planning an operation: the smallest drop the current sampling detects with 80 % power
(:func:`wastewater.stats.effects.planned_detectable_drops`), checked against the other side —
simulated operations with a true drop of exactly that size must be detected in about 80 % of
them — and its properties (more days after, more sampling days: a smaller drop)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wastewater.stats.effects import operation_effect, planned_detectable_drops
from wastewater.stats.simulate import simulate_series

NOISE = {"phi": 0.5, "sd_log": 0.2, "measurement_cv": 0.10}


def _site(seed: int, n_days: int = 420, **extra):
    return simulate_series(n_days=n_days, start="2024-01-01", seed=seed, **NOISE, **extra)


def test_a_drop_of_the_planned_size_is_found_in_about_four_of_five_operations():
    """Plans on ten sites' year of daily data (φ 0.5, σ 0.2, CV 10 %, 5 % missing, ~10 %
    censored) give the planned drop (their median); then 200 new operations at sites with the
    same noise and a true drop of that size, 8 weeks after, are tested with the defaults.
    The share found is 0.8 for an exact test; the default test is conservative in this cell
    (its interval is about 20 % wider than the estimates' spread; false-positive rate below
    0.05), so the share is lower: measured 0.765 here and 0.77 on seeds 300–499 (planned drop
    0.141), asserted in [0.65, 0.9] (binomial SE 0.03 at 200)."""
    plans = [planned_detectable_drops(_site(seed)["load_mg_per_day_per_1000"], censored=_site(seed)["censored"],
                                      after_days=[56]).loc[0, "minimum_detectable_drop"] for seed in range(1, 11)]
    mde = float(np.median(plans))
    assert 0.10 < mde < 0.20  # 8 weeks of daily samples
    assert np.ptp(plans) < 0.08  # one year of one site plans to within a few points (here 0.10-0.16)
    start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=420 - 56 - 7)
    end = start + pd.Timedelta(days=6)
    found = []
    for seed in range(100, 300):
        sim = _site(seed, step_date=end + pd.Timedelta(days=1), step_relative_change=-mde)
        res = operation_effect(sim["load_mg_per_day_per_1000"], censored=sim["censored"],
                               event_start=start, event_end=end, after_days=56)
        found.append(res.p_value_after < 0.05 and res.relative_change_after < 0)
    assert 0.65 <= np.mean(found) <= 0.90, np.mean(found)


def test_more_days_after_and_more_sampling_days_detect_smaller_drops():
    site = _site(7, n_days=730)
    load, cens = site["load_mg_per_day_per_1000"], site["censored"]
    daily = planned_detectable_drops(load, censored=cens)
    assert daily["after_days"].tolist() == [14, 28, 56, 84]
    assert daily["reason"].isna().all()
    assert np.all(np.diff(daily["minimum_detectable_drop"]) < 0)
    assert daily["n_after"].tolist() == sorted(daily["n_after"]) and daily["n_after"].iloc[-1] > 70
    twice_weekly = planned_detectable_drops(load.where(load.index.day_of_week.isin([1, 3])), censored=cens)
    # two days a week: two weeks after hold too few samples to test ...
    assert twice_weekly.loc[0, "reason"] == "too_few_days"
    assert np.isnan(twice_weekly.loc[0, "minimum_detectable_drop"])
    # ... and 8 and 12 weeks detect only a larger drop than daily sampling
    both = daily.set_index("after_days").join(twice_weekly.set_index("after_days"), rsuffix="_2")
    longer = both.loc[[56, 84]]
    assert (longer["minimum_detectable_drop_2"] > longer["minimum_detectable_drop"]).all()


def test_no_data_no_plan():
    empty = pd.Series([np.nan] * 10, index=pd.date_range("2025-01-01", periods=10))
    assert planned_detectable_drops(empty).empty
    # a month of data: too few days for the longer periods, and for two weeks after a fortnight
    # of history only a drop of at least half could be told from the noise
    short = _site(3, n_days=30)
    out = planned_detectable_drops(short["load_mg_per_day_per_1000"], censored=short["censored"])
    assert out.loc[0, "minimum_detectable_drop"] > 0.5
    assert out["minimum_detectable_drop"].iloc[1:].isna().all() and set(out["reason"].iloc[1:]) == {"too_few_days"}


@pytest.mark.parametrize("after", [28, 84])
def test_the_planned_drop_is_the_tests_own_number(after):
    """The plan is the operation test's ``minimum_detectable_drop_after`` for the same window
    (one rule for the number, the test's)."""
    site = _site(11)
    load, cens = site["load_mg_per_day_per_1000"], site["censored"]
    end = load.dropna().index.max() - pd.Timedelta(days=after)
    res = operation_effect(load, censored=cens, event_start=end - pd.Timedelta(days=6), event_end=end,
                           after_days=after)
    plan = planned_detectable_drops(load, censored=cens, after_days=[after])
    assert plan.loc[0, "minimum_detectable_drop"] == res.minimum_detectable_drop_after
    assert plan.loc[0, "n_after"] == res.n_after
