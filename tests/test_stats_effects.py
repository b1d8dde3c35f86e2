"""operation_effect and flag_dumping: hand-checked values on constructed series."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from wastewater.stats import InsufficientDataError, flag_dumping, operation_effect
from wastewater.stats._regression import _ar1_transform, _gls_at, fit_ar1
from wastewater.stats._series import prepare_arrays, prepare_daily

DATES = pd.date_range("2025-01-06", periods=56 + 7 + 56, freq="D")  # starts on a Monday
EVENT_START, EVENT_END = DATES[56], DATES[62]
WEEKDAY_LOG = np.log([1.0, 1.0, 1.0, 1.0, 1.3, 1.3, 1.3])


def _series(step=-0.2, noise_sd=0.001, seed=0):
    rng = np.random.default_rng(seed)
    log = (np.log(100.0) + WEEKDAY_LOG[DATES.day_of_week] + np.log1p(step) * (DATES >= EVENT_START)
           + rng.normal(0, noise_sd, len(DATES)))
    return pd.Series(np.exp(log), index=DATES)


def test_recovers_known_step_and_sentences():
    e = operation_effect(_series(-0.2), event_start=EVENT_START, event_end=EVENT_END)
    assert e.relative_change_after == pytest.approx(-0.2, abs=0.002)
    assert e.relative_change_during == pytest.approx(-0.2, abs=0.002)
    assert e.ci_low_after < -0.2 < e.ci_high_after and e.ci_high_after - e.ci_low_after < 0.01
    assert e.p_value_after < 1e-10
    assert (e.n_before, e.n_during, e.n_after, e.n_censored, e.n_missing_days) == (56, 7, 56, 0, 0)
    assert e.sentence_sv.startswith("Efter insatsen var belastningen 20 % lägre (95 % KI: 20–20 % lägre")
    assert e.sentence_en.startswith("After the operation the load was 20 % lower")
    # the naive ratio of means is also -20 % here (same weekday mix before and after)
    assert e.naive_relative_change_after == pytest.approx(-0.2, abs=0.003)
    d = e.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["event_start"] == "2025-03-03" and e.significant_after


def test_naive_comparison_is_plain_welch():
    s = _series(-0.1, noise_sd=0.2, seed=3)
    e = operation_effect(s, event_start=EVENT_START, event_end=EVENT_END)
    before = s[s.index < EVENT_START].to_numpy()
    after = s[s.index > EVENT_END].to_numpy()
    assert e.naive_relative_change_after == pytest.approx(after.mean() / before.mean() - 1, rel=1e-12)
    assert e.naive_p_value_after == pytest.approx(
        stats.ttest_ind(after, before, equal_var=False).pvalue, rel=1e-9)


def test_ar1_gls_equals_statsmodels_gls_at_the_same_phi():
    """Exact gap-aware whitening = GLS with the AR(1) correlation matrix phi^|t_i - t_j|."""
    rng = np.random.default_rng(5)
    t = np.sort(rng.choice(200, 120, replace=False)).astype(float)  # gaps
    X = np.column_stack([np.ones(120), t / 100, (t % 7 >= 4).astype(float)])
    y = X @ [1.0, 0.5, 0.3] + rng.normal(0, 0.2, 120)
    fit = fit_ar1(y, X, t)
    sigma = fit.phi ** np.abs(t[:, None] - t[None, :])
    ref = sm.GLS(y, X, sigma=sigma).fit()
    np.testing.assert_allclose(fit.params, ref.params, rtol=1e-8)
    _, cov, _ = _gls_at(y, X, t, fit.phi)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), ref.bse, rtol=1e-6)
    # Kackar–Harville adds the phi-estimation variance: never smaller than plain GLS
    assert np.all(fit.bse >= ref.bse * (1 - 1e-12))
    assert fit.df_resid == 120 - 3 - 1
    # whitened residuals have unit-variance scaling: first row multiplied by sqrt(1 - phi^2)
    ys, _, _ = _ar1_transform(y, X, t, 0.5)
    assert ys[0] == pytest.approx(y[0] * np.sqrt(0.75))


def test_censoring_counts_and_sensitivity_flag():
    s = _series(-0.2, noise_sd=0.1, seed=1)
    cens = pd.Series(False, index=s.index)
    low = s < s.quantile(0.3)
    s[low] = 30.0  # LOQ/2 substituted, LOQ = 60
    cens[low] = True
    e = operation_effect(s, censored=cens, event_start=EVENT_START, event_end=EVENT_END)
    window = (s.index < EVENT_START) | (s.index > EVENT_END) | True
    assert e.n_censored == int(cens[window].sum())
    assert e.censoring_sensitive  # > 15 % censored
    lo, hi = e.relative_change_after_censoring_range
    assert lo <= e.relative_change_after <= hi and lo < hi
    assert "beror på hur värden under kvantifieringsgränsen" in e.sentence_sv


def test_missing_days_and_72h_composites():
    s = _series(-0.2, noise_sd=0.05, seed=2)
    # weekend composites: Fri value repeated on Sat and Sun in the before period
    for i in range(4, 56, 7):
        s.iloc[i + 1] = s.iloc[i + 2] = s.iloc[i]
    s.iloc[[3, 9, 80]] = np.nan
    e = operation_effect(s, event_start=EVENT_START, event_end=EVENT_END)
    assert e.n_composites_collapsed == 8
    assert e.n_before == 56 - 2 - 16  # two missing days, 8 composites count once each
    assert e.n_missing_days == 3
    assert e.relative_change_after == pytest.approx(-0.2, abs=0.05)
    obs = prepare_daily(s)
    fri = obs.loc["2025-01-10"]
    assert fri["days"] == 3 and fri["weekday_share_4"] == pytest.approx(1 / 3)


def test_exclusion_is_reported():
    s = _series(-0.2, noise_sd=0.05)
    e = operation_effect(s, event_start=EVENT_START, event_end=EVENT_END,
                         exclude_dates=["2025-03-04", "2025-03-05"],
                         exclusion_reason="suspected dumping")
    assert e.n_excluded == 2 and e.n_during == 5
    assert e.excluded_dates == ("2025-03-04", "2025-03-05")
    assert "2 dag(ar) uteslöts ur skattningen (suspected dumping)" in e.sentence_sv


def test_errors_name_the_fix():
    s = _series()
    with pytest.raises(InsufficientDataError, match="after period"):
        operation_effect(s[s.index <= EVENT_END], event_start=EVENT_START, event_end=EVENT_END)
    with pytest.raises(ValueError, match="method"):
        operation_effect(s, event_start=EVENT_START, event_end=EVENT_END, method="magic")
    bad = s.copy()
    bad.iloc[5] = 0.0
    with pytest.raises(ValueError, match="non-positive load on 2025-01-11"):
        operation_effect(bad, event_start=EVENT_START, event_end=EVENT_END)


def test_hac_and_ols_methods_run_and_agree_on_point_estimate():
    s = _series(-0.2, noise_sd=0.1, seed=4)
    e_hac = operation_effect(s, event_start=EVENT_START, event_end=EVENT_END, method="hac")
    e_ols = operation_effect(s, event_start=EVENT_START, event_end=EVENT_END, method="ols")
    assert e_hac.relative_change_after == pytest.approx(e_ols.relative_change_after, rel=1e-10)
    assert "maxlags=4" in e_hac.method  # floor(4 (112/100)^(2/9)) = 4


def test_flag_dumping_load_spike_and_ratio():
    s = _series(0.0, noise_sd=0.05, seed=6)
    s["2025-03-05"] *= 5.0
    res = flag_dumping(s, event_start=EVENT_START, event_end=EVENT_END)
    assert res.excluded_dates == ("2025-03-05",)
    assert res.z_threshold == pytest.approx(3.0902, abs=1e-4)  # Φ⁻¹(0.999)
    day = res.days.loc["2025-03-05"]
    assert "× the same-weekday baseline" in day["reason"]
    assert day["load"] / day["expected_load"] == pytest.approx(5.0, rel=0.1)
    assert res.n_flagged == 1

    rng = np.random.default_rng(7)
    be = _series(0.0, noise_sd=0.05, seed=8)
    coc = be * 0.3 * np.exp(rng.normal(0, 0.05, len(be)))
    coc["2025-03-07"] = be["2025-03-07"] * 1.5  # parent/metabolite 1.5 vs ~0.3
    res2 = flag_dumping(coc, event_start=EVENT_START, event_end=EVENT_END, parent=coc,
                        metabolite=be, parent_name="cocaine", metabolite_name="benzoylecgonine")
    assert "2025-03-07" in res2.excluded_dates
    assert "cocaine/benzoylecgonine ratio 1.50 abnormally high" in res2.days.loc["2025-03-07", "reason"]
    json.dumps(res2.to_dict(), allow_nan=False)


def test_flag_dumping_ignores_censored_days():
    s = _series(0.0, noise_sd=0.05, seed=6)
    s["2025-03-05"] *= 5.0
    cens = pd.Series(False, index=s.index)
    cens["2025-03-05"] = True
    assert flag_dumping(s, censored=cens, event_start=EVENT_START, event_end=EVENT_END).n_flagged == 0


def test_prepare_arrays_same_for_sorted_float_and_shuffled_nullable_input():
    """The plain float64/bool fast path and the general path (unsorted index, nullable
    dtypes) prepare the same observations and leave the caller's series untouched."""
    idx = pd.date_range("2024-01-01", periods=40)
    vals = np.exp(np.random.default_rng(5).normal(3, 0.3, 40))
    vals[[4, 5]] = vals[3]  # a 3-day composite reported on each day
    vals[10] = np.nan
    s = pd.Series(vals, index=idx)
    c = pd.Series(np.arange(40) % 9 == 0, index=idx)
    fast = prepare_arrays(s, c)
    order = np.random.default_rng(6).permutation(40)
    slow = prepare_arrays(s.iloc[order].astype("Float64"), c.iloc[order].astype("boolean"))
    for k in ("t", "load", "log_load", "censored", "days", "shares", "dow"):
        np.testing.assert_array_equal(fast[k], slow[k], err_msg=k)
    assert len(fast["t"]) == 37 and fast["days"][3] == 3 and fast["censored"].sum() == 5
    assert np.isnan(s.iloc[10]) and s.iloc[5] == vals[3]
