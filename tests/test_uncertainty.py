"""Tests of wastewater.uncertainty (analytic propagation and Monte Carlo)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from wastewater import uncertainty as U


def test_domain_example_section_4_2():
    # flow 10 %, analysis 15 %, sampling 10 %, population 20 % → 29 %; + CF 26 % → 39 %
    assert round(U.combined_rsd(0.10, 0.15, 0.10, 0.20), 2) == 0.29
    assert round(U.combined_rsd(0.10, 0.15, 0.10, 0.20, 0.26), 2) == 0.39
    assert U.rsd_for("load_mg_per_day_per_1000") == pytest.approx(math.sqrt(0.0825))
    assert U.rsd_for("consumption_mg_per_day_per_1000") == pytest.approx(math.sqrt(0.1501))
    # within-site comparison leaves sampling + analysis + flow (§4.3)
    assert U.rsd_for("load_mg_per_day") == pytest.approx(math.sqrt(0.0425))
    assert U.rsd_for("load_mg_per_day_per_1000", {"population": 0.0}) == pytest.approx(math.sqrt(0.0425))
    with pytest.raises(ValueError, match="population"):
        U.rsd_for("load_mg_per_day_per_1000", {"pop": 0.1})


def test_analytic_interval_lognormal():
    lo, hi = U.analytic_interval(300.0, 0.29)
    s = math.sqrt(math.log(1 + 0.29**2))
    assert lo == pytest.approx(300 * math.exp(-U.Z_975 * s))
    assert hi == pytest.approx(300 * math.exp(U.Z_975 * s))
    assert lo * hi == pytest.approx(300.0**2)  # symmetric on the log scale around the median


@pytest.fixture
def small_ds():
    vals = np.array([[[300.0, np.nan, 150.0, 10.0]]])
    return xr.Dataset({"load_mg_per_day_per_1000": (("site", "analyte", "date"), vals)},
                      coords={"site": ["S1"], "analyte": ["benzoylecgonine"],
                              "date": pd.date_range("2024-03-20", periods=4)})


def test_monte_carlo_matches_analytic(small_ds):
    mc = U.monte_carlo_intervals(small_ds, n_draws=20_000, seed=1)
    an = U.add_analytic_intervals(small_ds)
    for suffix in ("lo95", "hi95"):
        a = an[f"load_mg_per_day_per_1000_{suffix}"].values
        m = mc[f"load_mg_per_day_per_1000_{suffix}"].values
        np.testing.assert_allclose(m[np.isfinite(a)], a[np.isfinite(a)], rtol=0.03)
        assert np.isnan(m[0, 0, 1])
    med = mc["load_mg_per_day_per_1000_mc_median"].values[0, 0]
    np.testing.assert_allclose(med[[0, 2, 3]], [300.0, 150.0, 10.0], rtol=0.01)
    assert mc["load_mg_per_day_per_1000_lo95"].attrs["n_draws"] == 20_000


def test_monte_carlo_seeded_and_chunked(small_ds):
    a = U.monte_carlo_intervals(small_ds, n_draws=500, seed=7)
    b = U.monte_carlo_intervals(small_ds, n_draws=500, seed=7)
    xr.testing.assert_identical(a, b)
    c1 = U.monte_carlo_intervals(small_ds, n_draws=4000, seed=7, chunks={"date": 2})
    assert c1["load_mg_per_day_per_1000_hi95"].chunks is not None
    c1 = c1.compute()
    c2 = U.monte_carlo_intervals(small_ds, n_draws=4000, seed=7, chunks={"date": 2}).compute()
    xr.testing.assert_identical(c1, c2)
    an = U.add_analytic_intervals(small_ds)["load_mg_per_day_per_1000_hi95"].values
    hi = c1["load_mg_per_day_per_1000_hi95"].values
    np.testing.assert_allclose(hi[np.isfinite(an)], an[np.isfinite(an)], rtol=0.06)


def test_consumption_includes_cf_component(small_ds):
    ds = small_ds.rename({"load_mg_per_day_per_1000": "consumption_mg_per_day_per_1000"})
    out = U.add_analytic_intervals(ds, "consumption_mg_per_day_per_1000")
    hi = float(out["consumption_mg_per_day_per_1000_hi95"][0, 0, 0])
    assert hi == pytest.approx(300 * math.exp(U.Z_975 * math.sqrt(math.log(1 + 0.1501))))
    with pytest.raises(ValueError, match="no uncertainty model"):
        U.add_analytic_intervals(ds, "population")


def test_sorted_percentiles_equal_numpy():
    x = np.random.default_rng(3).lognormal(size=(5, 1000))
    np.testing.assert_allclose(U._percentiles_sorted(x.copy()),
                               np.percentile(x, [2.5, 50, 97.5], axis=1), rtol=1e-12)


def test_combined_draw_equivalent_in_distribution(small_ds):
    a = U.monte_carlo_intervals(small_ds, n_draws=20_000, seed=5, per_component=False)
    b = U.monte_carlo_intervals(small_ds, n_draws=20_000, seed=5)
    for v in ("load_mg_per_day_per_1000_lo95", "load_mg_per_day_per_1000_hi95"):
        np.testing.assert_allclose(a[v].values, b[v].values, rtol=0.04)
