"""Hand-computed checks: Mann–Kendall/Sen, changepoints, same-weekday alerts, BH q-values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from wastewater.stats import (
    Q_VALUE_LABEL,
    add_q_values,
    alert_for_new_value,
    alert_threshold,
    bh_qvalues,
    detect_changepoints,
    mann_kendall,
    same_weekday_alerts,
    same_weekday_threshold,
    sen_slope,
    trend_test,
)
from wastewater.stats.changepoints import cusum_test


def test_mann_kendall_linear_series_by_hand():
    x = 2.0 * np.arange(10) + 1.0
    r = mann_kendall(x, correction="none")
    # S = n(n-1)/2 = 45, Var(S) = n(n-1)(2n+5)/18 = 10*9*25/18 = 125, Z = (S-1)/sqrt(Var)
    assert r["s"] == 45 and r["var_s"] == 125 and r["tau"] == 1.0
    assert r["z"] == pytest.approx(44 / np.sqrt(125))
    assert r["p_value"] == pytest.approx(2 * stats.norm.sf(44 / np.sqrt(125)))
    assert r["slope"] == 2.0


def test_mann_kendall_ties_variance_by_hand():
    r = mann_kendall(np.array([1.0, 1.0, 2.0, 3.0]), correction="none")
    # S = 5 (one tied pair); Var = (4*3*13 - 2*1*9)/18 = 138/18
    assert r["s"] == 5 and r["var_s"] == pytest.approx(138 / 18)


def test_sen_slope_with_gaps_and_ci():
    t = np.array([0.0, 1.0, 3.0, 4.0, 10.0])
    x = 0.5 * t
    slope, lo, hi = sen_slope(x, t)
    assert slope == 0.5 and lo == 0.5 and hi == 0.5
    # pairwise slopes of [1, 2, 4, 3]: 1, 3/2, 2/3, 2, 1/2, -1 -> median (2/3 + 1)/2 = 5/6
    assert sen_slope(np.array([1.0, 2.0, 4.0, 3.0]))[0] == pytest.approx(5 / 6)


def test_hamed_rao_never_below_iid_variance():
    rng = np.random.default_rng(3)
    e = np.zeros(200)
    for i in range(1, 200):
        e[i] = 0.7 * e[i - 1] + rng.normal()
    r = mann_kendall(e, correction="hamed_rao")
    assert r["var_s_corrected"] > r["var_s"]
    assert mann_kendall(e, correction="yue_wang")["var_s_corrected"] > r["var_s"]


def test_trend_test_percent_per_year_on_exact_exponential_growth():
    idx = pd.date_range("2022-01-01", periods=730, freq="D")
    growth = 0.10  # +10 % per year
    s = pd.Series(50 * (1 + growth) ** (np.arange(730) / 365.25), index=idx)
    r = trend_test(s, adjust_weekday=False)
    assert r.percent_change_per_year == pytest.approx(10.0, rel=1e-9)
    assert r.trend == "increasing" and r.n == 730
    json.dumps(r.to_dict(), allow_nan=False)


def test_cusum_finds_the_split_of_a_clean_step():
    rng = np.random.default_rng(1)
    x = np.r_[np.zeros(60), np.ones(60)] + rng.normal(0, 0.1, 120)
    k, _stat, p = cusum_test(x)
    assert k == 60 and p < 1e-6


def test_detect_changepoints_dates_and_levels():
    idx = pd.date_range("2024-01-01", periods=200, freq="D")
    rng = np.random.default_rng(2)
    level = np.where(idx < "2024-04-10", 100.0, 60.0)
    s = pd.Series(level * np.exp(rng.normal(0, 0.05, 200)), index=idx)
    res = detect_changepoints(s)
    cp = res.changepoints
    assert list(cp["date"]) == [pd.Timestamp("2024-04-10")]
    assert cp["relative_change"].iloc[0] == pytest.approx(-0.4, abs=0.02)
    assert cp["level_before_mg_per_day_per_1000"].iloc[0] == pytest.approx(100, rel=0.02)
    json.dumps(res.to_dict(), allow_nan=False)


def test_alert_threshold_large_and_small_history():
    # few history values: median/MAD noisy -> threshold far above the normal quantile 2.326
    assert alert_threshold(8, 0.01) > 4.0
    assert 2.33 < alert_threshold(40, 0.01) < 2.75


def test_same_weekday_threshold_is_predictive_and_corrects_for_censoring():
    thr = [same_weekday_threshold(n, 0.01) for n in range(4, 9)]
    # the baseline's median and MAD are estimated from 4-8 values: far above the plug-in
    # normal quantile 2.326 that treats them as known, falling as the history grows
    assert all(t > 4.5 > 1.9 * stats.norm.ppf(0.99) for t in thr)
    assert thr == sorted(thr, reverse=True)
    # censored baseline values (at LOQ/2) inflate the MAD, so the threshold sits a little
    # below the iid-normal one (which gives 0.0092 instead of 0.01 on realistic series)
    for n, t in zip(range(4, 9), thr):
        assert 0.9 * alert_threshold(n, 0.01) < t < alert_threshold(n, 0.01)
    assert same_weekday_threshold(8, 0.001) > same_weekday_threshold(8, 0.01)
    with pytest.raises(ValueError):
        same_weekday_threshold(2, 0.01)


def test_alert_for_new_value_hand_computed():
    h = pd.Series([100, 110, 90, 105, 95, 100, 102, 98],
                  index=pd.date_range("2025-01-06", periods=8, freq="7D"))
    logs = np.log(h.to_numpy(dtype=float))
    med = np.median(logs)  # log(100)
    mad = np.median(np.abs(logs - med)) * 1.482602218505602
    z = (np.log(300) - med) / mad
    out = alert_for_new_value(h, "2025-03-03", 300.0)
    assert out["baseline_median_mg_per_day_per_1000"] == pytest.approx(100.0)
    assert out["robust_z"] == pytest.approx(z)
    assert out["alert"] and out["message_sv"].startswith("Ovanligt högt värde: 3.0 gånger")
    assert not alert_for_new_value(h, "2025-03-03", 112.0)["alert"]
    assert not alert_for_new_value(h, "2025-03-03", 300.0, censored=True)["alert"]
    json.dumps(out, allow_nan=False)


def test_same_weekday_alert_rate_matches_stated_rate():
    rng = np.random.default_rng(4)
    idx = pd.date_range("2022-01-03", periods=7 * 150, freq="D")
    s = pd.Series(np.exp(rng.normal(np.log(100), 0.2, len(idx))), index=idx)
    a = same_weekday_alerts(s, history_weeks=8, min_history=8, false_alarm_rate=0.01)
    tested = a["robust_z"].notna()
    rate = a.loc[tested, "alert"].mean()
    assert tested.sum() == len(idx) - 8 * 7
    assert 0.003 <= rate <= 0.02


def test_bh_textbook_example():
    # Benjamini & Hochberg (1995), 15 p-values; at FDR 0.05 the first four are rejected
    p = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
         0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.000]
    q = bh_qvalues(p)
    expected = [0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.063857, 0.063857, 0.0645, 0.0765,
                0.486, 0.581182, 0.714875, 0.753231, 0.813214, 1.0]
    np.testing.assert_allclose(q, expected, atol=1e-6)
    frame = add_q_values(pd.DataFrame({"site": list("abcdefghijklmno"), "p_value": p}))
    assert frame["significant_fdr"].sum() == 4
    assert frame.attrs["q_value_label"] == Q_VALUE_LABEL == "q-value (FDR, Benjamini–Hochberg)"


def test_bh_keeps_nan_out_of_the_count():
    q = bh_qvalues([0.01, np.nan, 0.02])
    assert np.isnan(q[1]) and q[0] == pytest.approx(0.02) and q[2] == pytest.approx(0.02)


def test_changepoint_marks_unexplained_steps_and_skips_marked_method_changes():
    from wastewater.stats import detect_changepoints, simulate_series

    df = simulate_series(300, "2024-01-01", seed=1, method_change_date="2024-05-01",
                         method_change_factor=2.0)
    s = df["load_mg_per_day_per_1000"]
    cp = detect_changepoints(s).changepoints
    hit = cp[(cp["date"] - pd.Timestamp("2024-05-01")).abs() <= pd.Timedelta(days=7)]
    assert len(hit) == 1 and hit["relative_change"].iloc[0] > 0.6
    assert hit["note_en"].iloc[0] == "possible method change — mark it or explain it"
    assert detect_changepoints(s, method_changes=["2024-05-01"]).changepoints.empty


def test_trend_with_a_marked_method_change_is_stratified_there():
    """A x2 method change makes Mann-Kendall call a trend; marked, only within-segment pairs
    count (stratified test) and the trend goes away, with a slope near zero."""
    import numpy as np

    from wastewater.stats.simulate import simulate_series
    from wastewater.stats.trends import trend_test

    df = simulate_series(245, "2024-01-01", seed=4, method_change_date="2024-04-01",
                         method_change_factor=2.0)
    s, c = df["load_mg_per_day_per_1000"], df["censored"]
    plain = trend_test(s, censored=c)
    marked = trend_test(s, censored=c, method_changes=["2024-04-01"])
    assert plain.p_value < 1e-6 and plain.percent_change_per_year > 50
    assert marked.p_value > 0.05 and abs(marked.percent_change_per_year) < 40
    assert "stratified at the marked method changes" in marked.method and "2024-04-01" in marked.method
    # with no change marked the stratified code is not used: same numbers as before
    assert trend_test(s, censored=c, method_changes=[]).p_value == plain.p_value
    assert np.isfinite(marked.sen_slope_ci_low_per_day) and marked.n == plain.n


def test_gls_trend_holds_its_level_with_a_marked_method_change_and_finds_a_real_trend():
    """trend_gls (the operation test's error model): seeded null series with a marked x2
    method change reject near 5 %; a -40 %/year trend is found with the right size."""
    import numpy as np

    from wastewater.stats.simulate import simulate_series
    from wastewater.stats.trends import trend_gls

    rng = np.random.default_rng(21)
    n, rej = 120, 0
    for _ in range(n):
        df = simulate_series(245, "2024-01-01", seed=rng, method_change_date="2024-04-01",
                             method_change_factor=2.0)
        r = trend_gls(df["load_mg_per_day_per_1000"], censored=df["censored"],
                      method_changes=["2024-04-01"])
        rej += r.p_value < 0.05
    assert rej / n <= 0.10 and r.method_changes == ("2024-04-01",)
    df = simulate_series(365, "2024-01-01", seed=5, trend_per_year=np.log(0.6))
    r = trend_gls(df["load_mg_per_day_per_1000"], censored=df["censored"])
    assert r.trend == "decreasing" and r.percent_change_per_year_ci[0] < -40 < r.percent_change_per_year_ci[1]
