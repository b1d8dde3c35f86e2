"""Tests of wastewater.censoring (substitution, Kaplan–Meier, ROS, censored MLE)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wastewater import censoring as C


def test_substitution_factors():
    assert C.substitute(10.0, "loq_half") == 5.0
    assert C.substitute(10.0, "loq_sqrt2") == pytest.approx(10 / math.sqrt(2))
    assert C.substitute(10.0, "zero") == 0.0
    assert C.substitute(10.0, "loq") == 10.0
    with pytest.raises(ValueError, match="loq_half"):
        C.substitute(1.0, "half")


def test_kaplan_meier_hand_example():
    # detects 1, 2, 3 and one "<2" (calculated manually): the <2 is redistributed to 1 →
    # masses 0.25@3, 0.25@2, 0.5@1, mean 1.75
    s = C.kaplan_meier_summary([1, 2, 3, 2], [False, False, False, True])
    assert s.mean == pytest.approx(1.75)
    assert s.median == 1.0
    assert (s.n, s.n_censored, s.method) == (4, 1, "km")


def test_kaplan_meier_without_censoring_is_the_sample_mean():
    x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0]
    s = C.kaplan_meier_summary(x, None)
    assert s.mean == pytest.approx(np.mean(x)) and s.median == pytest.approx(3.0)
    assert s.sd == pytest.approx(np.std(x, ddof=1))


def test_kaplan_meier_median_below_lowest_detect_is_nan():
    s = C.kaplan_meier_summary([5, 5, 5, 6], [True, True, True, False])
    assert math.isnan(s.median) and "below" in s.note
    assert s.mean == pytest.approx(5.25)  # Efron: remaining mass at the lowest limit


def test_ros_plotting_positions_hand_example():
    # one limit (1), detects 2..5, two "<1" (Hirsch–Stedinger, calculated manually):
    # pe = 4/6; detects (1-pe) + pe·r/5; censored (1-pe)·r/3
    x = [2, 3, 4, 5, 1, 1]
    c = [False] * 4 + [True, True]
    pp = C.ros_plotting_positions(x, c)
    np.testing.assert_allclose(pp, [1/3 + 2/3 * r / 5 for r in (1, 2, 3, 4)] + [1/9, 2/9])


def test_ros_without_censoring_equals_sample_statistics():
    x = [2.0, 3.0, 4.0, 8.0]
    s = C.ros_summary(x, [False] * 4)
    assert s.mean == pytest.approx(4.25) and s.median == pytest.approx(3.5)


def test_too_few_detects_gives_nan_with_note():
    s = C.ros_summary([1, 1, 5], [True, True, False])
    assert math.isnan(s.mean) and "at least 3" in s.note
    assert math.isnan(C.mle_summary([1, 5], [True, False]).mean)


@pytest.fixture(scope="module")
def censored_lognormal():
    # seeded lognormal, mu = ln 100, sigma = 0.6; censored at LOQ 70 (≈28 % censored)
    rng = np.random.default_rng(20240601)
    x = rng.lognormal(math.log(100.0), 0.6, 500)
    loq = 70.0
    c = x < loq
    observed = np.where(c, loq, x)
    true_mean = 100.0 * math.exp(0.6**2 / 2)
    return x, observed, c, true_mean


def test_censored_estimators_recover_known_distribution(censored_lognormal):
    x, obs, c, true_mean = censored_lognormal
    assert 0.2 < c.mean() < 0.35
    for method in ("ros", "mle"):
        s = C.censored_summary(obs, c, method)
        assert s.mean == pytest.approx(true_mean, rel=0.06), method
        assert s.mean == pytest.approx(x.mean(), rel=0.03), method
        assert s.median == pytest.approx(100.0, rel=0.08), method
        assert (s.n, s.n_censored) == (500, int(c.sum()))
    mu, sigma = C.mle_lognormal(obs, c)
    assert mu == pytest.approx(math.log(100), abs=0.07) and sigma == pytest.approx(0.6, abs=0.05)


def test_substitution_bias_direction(censored_lognormal):
    x, obs, c, _ = censored_lognormal
    zero = C.substitution_summary(obs, c, "zero").mean
    half = C.substitution_summary(obs, c, "loq_half").mean
    full = C.substitution_summary(obs, c, "loq").mean
    km = C.kaplan_meier_summary(obs, c).mean
    # truth (uncensored sample mean) lies between the zero and LOQ substitutions
    assert zero < half < x.mean() < full
    # KM with one limit below every detect puts the censored mass at the limit (= LOQ substitution)
    assert km == pytest.approx(full)


def test_summary_to_dict_and_unknown_method():
    d = C.censored_summary([1.0, 2.0], [False, False], "loq").to_dict()
    assert d["mean"] == 1.5 and d["method"] == "loq"
    with pytest.raises(ValueError, match="km"):
        C.censored_summary([1.0], None, "tobit")


# -- detected below the LOQ: interval [LOD, LOQ] --------------------------------------------


def test_substitution_of_an_interval_stays_inside_it():
    # LOQ 10, LOD 6: LOQ/2 = 5 < LOD -> 6; LOD 2: LOQ/2 = 5 stays; zero -> the LOD
    out = C.substitute_interval([10.0, 10.0, 10.0], [6.0, 2.0, np.nan], "loq_half")
    assert out.tolist() == [6.0, 5.0, 5.0]
    assert C.substitute_interval([10.0], [4.0], "zero").tolist() == [4.0]
    s = C.substitution_summary([10.0, 20.0], [True, False], "loq_half", lower=[6.0, np.nan])
    assert s.mean == pytest.approx(13.0)  # (6 + 20) / 2


def test_mle_narrow_interval_acts_like_the_detected_value(censored_lognormal):
    """An interval [0.999 v, v] carries (almost) the information of a detect at v."""
    x, _, _, _ = censored_lognormal
    detect = C.mle_lognormal(x, np.zeros(x.size, bool))
    c = np.zeros(x.size, bool)
    c[::5] = True
    upper = x.copy()
    lower = np.where(c, 0.999 * x, np.nan)
    interval = C.mle_lognormal(upper, c, lower)
    assert interval[0] == pytest.approx(detect[0], abs=2e-3)
    assert interval[1] == pytest.approx(detect[1], abs=2e-3)


def test_mle_interval_lies_between_left_censored_and_detected(censored_lognormal):
    """Knowing LOD <= x < LOQ (censor D) moves the fit up from plain '< LOQ' treatment."""
    x, obs, c, _ = censored_lognormal
    left = C.mle_summary(obs, c)
    lower = np.where(c, 40.0, np.nan)  # every censored value was detected above 40 ng/L
    interval = C.mle_summary(obs, c, lower=lower)
    assert interval.median > left.median
    assert C.censored_summary(obs, c, "mle", lower=lower) == interval
    # a lower bound of (almost) zero is no information: same fit as left-censoring
    same = C.mle_summary(obs, c, lower=np.where(c, 1e-9, np.nan))
    assert same.median == pytest.approx(left.median, rel=1e-4)
