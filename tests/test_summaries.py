"""Tests of wastewater.summaries (period summaries, EUDA means, change classes)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from wastewater import summaries as S

# Stockholm (2) SE005 2024 benzoylecgonine, Wednesday..Tuesday (ww2025-all-data.csv line 538)
SE005_BE_2024 = [327.13, 318.44, 355.39, 461.75, 502.44, 378.74, 275.75]


def week(values, start="2024-03-20"):  # 2024-03-20 is a Wednesday
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D"))


def test_euda_means_stockholm_2024():
    m = S.euda_means(week(SE005_BE_2024))
    # EUDA averaged unrounded daily values; published daily values are rounded → ±0.02 (§8.3)
    assert m["daily_mean"] == pytest.approx(374.23, abs=0.02)
    assert m["weekday_mean"] == pytest.approx(307.1, abs=0.02)
    assert m["weekend_mean"] == pytest.approx(424.58, abs=0.02)
    assert (m["n_days"], m["n_censored"]) == (7, 0)


def test_euda_means_missing_days_and_zeros():
    vals = SE005_BE_2024.copy()
    vals[1] = np.nan  # Thursday missing
    vals[3] = 0.0     # Saturday < LOQ
    m = S.euda_means(week(vals))
    assert m["n_days"] == 6 and m["n_censored"] == 1
    assert m["weekday_mean"] == pytest.approx((327.13 + 275.75) / 2)
    assert m["daily_mean"] == pytest.approx(np.nansum(vals) / 6)
    cens = week([False] * 7).astype(bool)
    assert S.euda_means(week(vals), censored=cens)["n_censored"] == 0


def test_euda_2021_convention():
    assert S.EUDA_DAY_CONVENTIONS[2021] == {"weekday": (1, 2, 3, 4), "weekend": (5, 6, 0)}
    # Stockholm (2) 2021 BE (line 2105): weekday 121.44 (Tue–Fri), weekend 209.53 (Sat–Mon)
    vals = [97.87, 101.76, 147.28, 227.98, 216.79, 183.83, 138.85]
    m = S.euda_means(week(vals, "2021-03-24"))
    assert m["weekday_mean"] == pytest.approx(121.44, abs=0.02)
    assert m["weekend_mean"] == pytest.approx(209.53, abs=0.02)
    assert m["daily_mean"] == pytest.approx(159.19, abs=0.02)
    other = S.euda_means(week(vals, "2021-03-24"), year=2020)
    assert abs(other["weekday_mean"] - 121.44) > 1


@pytest.mark.parametrize("current, previous, expected", [
    (77.08, 111.08, "decrease"),   # Gävle BE 2024, −30.6 %
    (518.28, 557.12, "stable"),    # Gävle amphetamine 2024, −7.0 %
    (6.29, 3.88, "increase"),      # Gävle methamphetamine, +62.1 %
    (110.0, 100.0, "increase"), (90.0, 100.0, "decrease"), (109.99, 100.0, "stable"),
    (5.0, 0.0, "increase"), (0.0, 0.0, "stable"), (5.0, None, "no previous data"),
    (5.0, float("nan"), "no previous data"),
])
def test_change_class(current, previous, expected):
    assert S.change_class(current, previous) == expected


def test_change_percent_and_missing_current():
    assert S.change_percent(77.08, 111.08) == pytest.approx(-30.6, abs=0.05)
    assert math.isnan(S.change_percent(1.0, 0.0))
    with pytest.raises(ValueError, match="current"):
        S.change_class(None, 1.0)


def test_weekly_and_monthly_summaries():
    idx = pd.date_range("2024-01-29", "2024-02-11", freq="D")  # ISO weeks 5 and 6
    s = pd.Series(np.arange(len(idx), dtype=float), index=idx)
    s.iloc[3] = np.nan
    cens = pd.Series(False, index=idx)
    cens.iloc[0] = True
    w = S.period_summary(s, cens, freq="weekly")
    assert list(w.index) == ["2024-W05", "2024-W06"]
    assert w.loc["2024-W05", "n"] == 6 and w.loc["2024-W05", "n_censored"] == 1
    assert w.loc["2024-W05", "mean"] == pytest.approx((0 + 1 + 2 + 4 + 5 + 6) / 6)
    assert w.loc["2024-W06", "mean"] == pytest.approx(10.0)
    m = S.period_summary(s, freq="monthly")
    assert list(m.index) == ["2024-01", "2024-02"] and m.loc["2024-01", "n"] == 3
    d = S.period_summary(s, freq="daily")
    assert len(d) == 13 and (d["method"] == "mean").all()


def test_iso_week_at_year_boundary_and_censored_method():
    idx = pd.date_range("2020-12-28", periods=7, freq="D")  # ISO week 2020-W53
    s = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 1.0], index=idx)
    cens = pd.Series([False] * 5 + [True, True], index=idx)
    w = S.period_summary(s, cens, freq="weekly", method="km")
    assert list(w.index) == ["2020-W53"]
    assert w.iloc[0]["n_censored"] == 2 and w.iloc[0]["method"] == "km"
    assert w.iloc[0]["mean"] == pytest.approx((1 + 2 + 3 + 4 + 5 + 1 + 1) / 7)
    with pytest.raises(ValueError, match="freq"):
        S.period_summary(s, freq="yearly")


def test_summarise_dataset_long_frame():
    import xarray as xr

    dates = pd.date_range("2024-03-18", periods=14, freq="D")  # ISO weeks 12 and 13
    vals = np.full((1, 2, 14), np.nan)
    vals[0, 0, :7] = 10.0
    vals[0, 0, 7:9] = [20.0, 40.0]
    cens = np.zeros((1, 2, 14), bool)
    cens[0, 0, 8] = True
    ds = xr.Dataset({"load_mg_per_day_per_1000": (("site", "analyte", "date"), vals),
                     "censored": (("site", "analyte", "date"), cens)},
                    coords={"site": ["S1"], "analyte": ["benzoylecgonine", "mdma"], "date": dates})
    out = S.summarise_dataset(ds, freq="weekly")
    assert list(out["period"]) == ["2024-W12", "2024-W13"] and set(out["analyte"]) == {"benzoylecgonine"}
    assert out.iloc[1][["mean", "n", "n_censored"]].tolist() == [30.0, 2, 1]
