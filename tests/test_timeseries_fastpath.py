"""The one-site × one-analyte fast path of build_dataset equals the general grouped path.

``build_dataset(..., fast_path=False)`` forces the pandas groupby path; the default takes the
numpy path whenever the results hold a single site and analyte (GET /api/v1/series). Both
must give *identical* Datasets (values bit for bit, dtypes, coordinates, attributes), since
the API's ETags hash the serialised numbers.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wastewater.timeseries import build_dataset

POPS = pd.DataFrame({"site": ["S1", "S1", "S2"], "year": [2024, 2025, 2025],
                     "population": [10_000, 12_000, 5_000], "method": ["de_jure"] * 3})


def _both(results, flows, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        general = build_dataset(results, flows, POPS, fast_path=False, **kw)
        fast = build_dataset(results, flows, POPS, **kw)
    return general, fast


def _assert_same(general: xr.Dataset, fast: xr.Dataset) -> None:
    xr.testing.assert_identical(general, fast)
    for name in general.variables:
        assert general[name].dtype == fast[name].dtype, name
        a, b = np.asarray(general[name].values), np.asarray(fast[name].values)
        if a.dtype.kind == "f":  # bit-identical, NaN in the same places
            assert np.array_equal(a.view(np.int64), b.view(np.int64)), name


def test_hand_case_replicates_composite_censored_and_own_flow():
    """Replicates, a 72 h composite under a 24 h sample, <LOQ, own flow and a duplicated flow day."""
    d = pd.Timestamp
    results = pd.DataFrame({
        "site": ["S1"] * 7, "analyte": ["mdma"] * 7,
        "sample_date": [d("2025-03-01"), d("2025-03-01"), d("2025-03-02"), d("2025-03-07"),
                        d("2025-03-08"), d("2025-03-10"), d("2025-03-11")],
        "value_ng_per_l": [10.0, 12.5, np.nan, 30.0, 7.0, 1.1, 2.2],
        "censor": ["none", "none", "<LOQ", "none", "none", "none", "none"],
        "loq_ng_per_l": [1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0],
        "lod_ng_per_l": [np.nan] * 7,
        "composite_hours": pd.array([24, 24, 24, 72, 24, 24, 24], dtype="Int64"),
        "flow_m3_per_day": [np.nan, np.nan, np.nan, np.nan, np.nan, 5000.0, np.nan],
        "sample_role": ["sample"] * 6 + ["blank"],
    })
    flows = pd.DataFrame({"site": ["S1", "S1", "S1", "S1", "S1", "S2"],
                          "date": pd.to_datetime(["2025-03-01", "2025-03-07", "2025-03-08", "2025-03-09",
                                                  "2025-03-09", "2025-03-01"]),
                          "flow_m3_per_day": [4000.0, 4100.0, 4200.0, 4300.0, 4400.0, 999.0]})
    general, fast = _both(results, flows)
    _assert_same(general, fast)
    sel = fast.sel(site="S1", analyte="mdma")
    # 2025-03-01: two replicates 10 and 12.5 → mean 11.25, SD |12.5-10|/√2
    day1 = sel.sel(date="2025-03-01")
    assert float(day1["concentration_ng_per_l"]) == 11.25
    assert float(day1["replicate_sd_ng_per_l"]) == pytest.approx(2.5 / np.sqrt(2), rel=1e-15)
    assert int(day1["n_replicates"]) == 2
    # load = 11.25 ng/L × 4000 m³/d / 1000 = 45 mg/day
    assert float(day1["load_mg_per_day"]) == pytest.approx(45.0, rel=1e-15)
    # <LOQ with LOQ 2 ng/L → LOQ/2 = 1 ng/L, censored
    assert float(sel.sel(date="2025-03-02")["concentration_ng_per_l"]) == 1.0
    assert bool(sel.sel(date="2025-03-02")["censored"])
    # the 24 h sample of 03-08 wins over the 72 h composite (03-07..03-09) on that day
    assert float(sel.sel(date="2025-03-08")["concentration_ng_per_l"]) == 7.0
    assert int(sel.sel(date="2025-03-09")["composite_hours"]) == 72
    # the composite's flow is the mean daily flow over its days: (4100 + 4200 + (4300+4400)/2) / 3 = 12650/3
    assert float(sel.sel(date="2025-03-07")["flow_m3_per_day"]) == pytest.approx(12650.0 / 3, rel=1e-15)
    # own flow of a row overrides the flows frame; the blank is not in the series
    assert float(sel.sel(date="2025-03-10")["flow_m3_per_day"]) == 5000.0
    assert fast["date"].values[-1] == np.datetime64("2025-03-10")


@st.composite
def one_series(draw):
    n = draw(st.integers(1, 25))
    start = pd.Timestamp("2024-12-20")
    day = draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))
    censor = draw(st.lists(st.sampled_from(["none", "none", "none", "<LOQ", "<LOD", "ND"]),
                           min_size=n, max_size=n))
    values = draw(st.lists(st.one_of(st.none(), st.floats(0, 1e4, allow_nan=False)), min_size=n, max_size=n))
    loq = draw(st.lists(st.one_of(st.none(), st.floats(0.1, 50)), min_size=n, max_size=n))
    lod = draw(st.lists(st.one_of(st.none(), st.floats(0.01, 5)), min_size=n, max_size=n))
    hours = draw(st.lists(st.sampled_from([24, 24, 24, 48, 72]), min_size=n, max_size=n))
    own = draw(st.lists(st.one_of(st.none(), st.floats(100, 1e5)), min_size=n, max_size=n))
    results = pd.DataFrame({
        "site": ["S1"] * n, "analyte": ["cocaine"] * n,
        "sample_date": [start + pd.Timedelta(days=k) for k in day],
        "value_ng_per_l": [np.nan if v is None else v for v in values],
        "censor": censor,
        "loq_ng_per_l": [np.nan if v is None else v for v in loq],
        "lod_ng_per_l": [np.nan if v is None else v for v in lod],
        "composite_hours": pd.array(hours, dtype="Int64"),
        "flow_m3_per_day": [np.nan if v is None else v for v in own],
        "sample_role": draw(st.lists(st.sampled_from(["sample", "sample", "sample", "blank"]),
                                     min_size=n, max_size=n)),
    })
    if (results["sample_role"] != "sample").all():
        results.loc[results.index[0], "sample_role"] = "sample"
    m = draw(st.integers(0, 40))
    flows = pd.DataFrame({
        "site": draw(st.lists(st.sampled_from(["S1", "S1", "S2"]), min_size=m, max_size=m)),
        "date": [start + pd.Timedelta(days=k) for k in draw(st.lists(st.integers(-3, 35), min_size=m, max_size=m))],
        "flow_m3_per_day": draw(st.lists(st.floats(100, 1e5), min_size=m, max_size=m)),
    })
    perm = draw(st.permutations(list(range(n))))
    return results.iloc[list(perm)].reset_index(drop=True), flows


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(one_series(), st.sampled_from(["loq_half", "loq_sqrt2", "zero", "loq"]), st.booleans())
def test_fast_path_identical_to_general_path(case, loq_method, fill_dates):
    results, flows = case
    general, fast = _both(results, flows, loq_method=loq_method, fill_dates=fill_dates)
    _assert_same(general, fast)


def test_several_sites_or_analytes_take_the_general_path():
    results = pd.DataFrame({"site": ["S1", "S2"], "analyte": ["mdma", "mdma"],
                            "sample_date": pd.to_datetime(["2025-01-01", "2025-01-02"]),
                            "value_ng_per_l": [1.0, 2.0], "censor": ["none", "none"]})
    flows = pd.DataFrame({"site": ["S1", "S2"], "date": pd.to_datetime(["2025-01-01", "2025-01-02"]),
                          "flow_m3_per_day": [1000.0, 2000.0]})
    general, fast = _both(results, flows)
    _assert_same(general, fast)
    assert list(fast["site"].values) == ["S1", "S2"]
    # 2 ng/L × 2000 m³/d / 1000 = 4 mg/day; / 5000 persons × 1000 = 0.8 mg/day/1000
    assert float(fast["load_mg_per_day_per_1000"].sel(site="S2", analyte="mdma", date="2025-01-02")) == \
        pytest.approx(0.8, rel=1e-15)
