"""Tests of wastewater.timeseries.build_dataset and qc_summary (hand-computed values)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wastewater import units
from wastewater.exceptions import UnknownParameterError
from wastewater.timeseries import build_dataset, qc_summary, site_series

BE = "benzoylecgonine"


def results_frame(rows) -> pd.DataFrame:
    base = {"sample_id": "x", "site": "S1", "replicate": 1, "censor": "none", "loq_ng_per_l": 10.0,
            "lod_ng_per_l": np.nan, "flow_m3_per_day": np.nan, "composite_hours": 24,
            "sample_role": "sample", "lab": "L", "method": "m", "comment": None,
            "original_value": "", "original_unit": "ng/L"}
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["sample_date"] = pd.to_datetime(frame["sample_date"])
    frame["source_line"] = np.arange(2, len(frame) + 2)
    return frame


@pytest.fixture
def example():
    res = results_frame([
        {"sample_id": "a", "sample_date": "2024-03-01", "analyte": BE, "replicate": 1, "value_ng_per_l": 1000.0},
        {"sample_id": "a", "sample_date": "2024-03-01", "analyte": BE, "replicate": 2, "value_ng_per_l": 1100.0},
        {"sample_id": "b", "sample_date": "2024-03-02", "analyte": BE, "value_ng_per_l": np.nan, "censor": "<LOQ"},
        {"sample_id": "c", "sample_date": "2024-03-03", "analyte": BE, "value_ng_per_l": 900.0, "composite_hours": 72},
        {"sample_id": "a", "sample_date": "2024-03-01", "analyte": "mdma", "value_ng_per_l": 5.0, "loq_ng_per_l": 2.5},
        {"sample_id": "bl", "sample_date": "2024-03-01", "analyte": BE, "value_ng_per_l": 2.0, "sample_role": "blank"},
        {"sample_id": "sp", "sample_date": "2024-03-01", "analyte": BE, "value_ng_per_l": 480.0, "sample_role": "spike"},  # noqa: E501
    ])
    flows = pd.DataFrame({"site": "S1", "date": pd.date_range("2024-03-01", periods=6),
                          "flow_m3_per_day": [150_000.0, 150_000.0, 100_000.0, 120_000.0, 130_000.0, 140_000.0]})
    pops = pd.DataFrame({"site": ["S1"], "year": [2023], "population": [500_000], "method": ["de_jure"]})
    return res, flows, pops


def test_build_dataset_hand_example(example):
    ds = build_dataset(*example)
    assert ds["concentration_ng_per_l"].dims == ("site", "analyte", "date")
    assert ds["flow_m3_per_day"].dims == ("site", "date")
    assert ds["date"].dtype == "datetime64[ns]" and len(ds["date"]) == 5
    be = ds.sel(site="S1", analyte=BE)
    # replicates 1000/1100 → mean 1050, SD 70.71; 1050 × 150 000 / 1000 / 500 000 × 1000 = 315
    assert float(be["concentration_ng_per_l"][0]) == 1050.0
    assert int(be["n_replicates"][0]) == 2
    assert float(be["replicate_sd_ng_per_l"][0]) == pytest.approx(70.7107, abs=1e-4)
    assert float(be["load_mg_per_day_per_1000"][0]) == pytest.approx(315.0)
    # <LOQ 10 with loq_half → 5 ng/L × 150 000 → 750 mg/d → 1.5
    assert bool(be["censored"][1]) and float(be["concentration_ng_per_l"][1]) == 5.0
    assert float(be["load_mg_per_day_per_1000"][1]) == pytest.approx(1.5)
    # 72 h composite on 03-03..03-05: mean flow (100 000+120 000+130 000)/3 → 900 × 116 666.7 / 500 → 210
    np.testing.assert_allclose(be["load_mg_per_day_per_1000"].values[2:], [210.0] * 3)
    assert list(be["composite_hours"].values) == [24, 24, 72, 72, 72]
    assert float(ds["flow_m3_per_day"].sel(site="S1")[3]) == pytest.approx(350_000 / 3)
    # blanks and spikes are not in the series
    assert int(ds["n_replicates"].sum()) == 2 + 1 + 3 + 1
    assert ds.attrs["loq_method"] == "loq_half" and ds.attrs["population_method"] == "de_jure"
    assert ds["load_mg_per_day_per_1000"].attrs["units"] == "mg/day/1000 inhabitants"


def test_qc_summary(example):
    qc = qc_summary(example[0]).set_index("sample_role")
    assert set(qc.index) == {"blank", "spike"}
    assert qc.loc["blank", "n_quantified"] == 1 and qc.loc["blank", "max_value_ng_per_l"] == 2.0
    assert qc.loc["spike", "mean_value_ng_per_l"] == 480.0


@pytest.mark.parametrize("method, expected", [("zero", 0.0), ("loq", 10.0), ("loq_sqrt2", 10 / np.sqrt(2))])
def test_loq_methods(example, method, expected):
    ds = build_dataset(*example, loq_method=method)
    assert float(ds["concentration_ng_per_l"].sel(site="S1", analyte=BE)[1]) == pytest.approx(expected)
    assert ds.attrs["loq_method"] == method
    with pytest.raises(ValueError, match="loq_half"):
        build_dataset(*example, loq_method="half")


def test_lod_censoring_uses_lod():
    res = results_frame([{"sample_date": "2024-03-01", "analyte": BE, "value_ng_per_l": np.nan,
                          "censor": "<LOD", "lod_ng_per_l": 4.0}])
    flows = pd.DataFrame({"site": ["S1"], "date": pd.to_datetime(["2024-03-01"]), "flow_m3_per_day": [1000.0]})
    pops = pd.DataFrame({"site": ["S1"], "year": [2024], "population": [1000]})
    ds = build_dataset(res, flows, pops)
    assert float(ds["concentration_ng_per_l"].squeeze()) == 2.0


def test_per_sample_flow_overrides_flows_frame(example):
    res, flows, pops = example
    res = res.copy()
    res.loc[res["sample_id"] == "a", "flow_m3_per_day"] = 200_000.0
    ds = build_dataset(res, flows, pops)
    assert float(ds["flow_m3_per_day"].sel(site="S1")[0]) == 200_000.0
    assert float(ds["load_mg_per_day"].sel(site="S1", analyte=BE)[0]) == pytest.approx(1050 * 200.0)


def test_population_history_lookup():
    res = results_frame([{"sample_date": d, "analyte": BE, "value_ng_per_l": 100.0}
                         for d in ("2019-06-01", "2022-06-01", "2024-06-01")])
    flows = pd.DataFrame({"site": "S1", "date": pd.to_datetime(["2019-06-01", "2022-06-01", "2024-06-01"]),
                          "flow_m3_per_day": 1000.0})
    pops = pd.DataFrame({"site": "S1", "year": [2020, 2023], "population": [100_000, 200_000],
                         "method": "de_jure"})
    ds = build_dataset(res, flows, pops, fill_dates=False)
    # 2019 → earliest (2020); 2022 → 2020; 2024 → 2023
    np.testing.assert_array_equal(ds["population"].sel(site="S1").values, [100_000, 100_000, 200_000])
    with pytest.raises(ValueError, match="available methods"):
        build_dataset(res, flows, pops, population_method="mobile")


def test_population_equivalents_from_bod5(example):
    res, flows, pops = example
    # 300 mg/L BOD5 = 3e8 ng/L; × 150 000 m³/d = 4.5e7 g/d / 60 g → 750 000 PE (91/271/EEC)
    bod = results_frame([{"sample_id": "a", "sample_date": "2024-03-01", "analyte": "bod5",
                          "value_ng_per_l": 3e8, "loq_ng_per_l": np.nan}])
    ds = build_dataset(pd.concat([res, bod], ignore_index=True), flows, pops, population_method="pe_bod5")
    assert float(ds["population"].sel(site="S1")[0]) == pytest.approx(750_000)
    assert float(ds["load_mg_per_day_per_1000"].sel(site="S1", analyte=BE)[0]) == pytest.approx(210.0)
    assert np.isnan(float(ds["population"].sel(site="S1")[1]))
    nh4 = bod.assign(analyte="nh4-n")
    with pytest.raises(UnknownParameterError, match="site-specific"):
        build_dataset(pd.concat([res, nh4]), flows, pops, population_method="nh4n")
    ds2 = build_dataset(pd.concat([res, nh4]), flows, pops, population_method="nh4n",
                        nh4n_g_per_person_per_day=9.0)
    assert float(ds2["population"].sel(site="S1")[0]) == pytest.approx(4.5e7 / 9.0)
    with pytest.raises(ValueError, match="needs 'cod'"):
        build_dataset(res, flows, pops, population_method="pe_cod")


def test_shorter_composite_wins_and_missing_columns(example):
    res, flows, pops = example
    extra = results_frame([{"sample_id": "d", "sample_date": "2024-03-04", "analyte": BE, "value_ng_per_l": 50.0}])
    ds = build_dataset(pd.concat([res, extra], ignore_index=True), flows, pops)
    be = ds.sel(site="S1", analyte=BE)
    assert float(be["concentration_ng_per_l"][3]) == 50.0 and int(be["composite_hours"][3]) == 24
    assert float(be["concentration_ng_per_l"][4]) == 900.0
    with pytest.raises(ValueError, match="censor"):
        build_dataset(res.drop(columns="censor"), flows, pops)


def test_site_series_for_stats(example):
    values, cens = site_series(build_dataset(*example), "S1", BE)
    assert isinstance(values.index, pd.DatetimeIndex) and values.name == "load_mg_per_day_per_1000"
    assert list(cens) == [False, True, False, False, False]


day = st.integers(min_value=0, max_value=9)


@settings(max_examples=30, derandomize=True, deadline=None)
@given(cells=st.sets(st.tuples(st.sampled_from(["S1", "S2"]), st.sampled_from([BE, "mdma"]), day),
                     min_size=1, max_size=12),
       conc_ug=st.floats(min_value=0.01, max_value=50), flow_ml=st.floats(min_value=1, max_value=500))
def test_properties_no_invented_samples_and_unit_invariance(cells, conc_ug, flow_ml):
    start = pd.Timestamp("2024-03-04")
    rows = [{"site": s, "analyte": a, "sample_date": start + pd.Timedelta(days=d),
             "value_ng_per_l": units.to_ng_per_l(conc_ug, "µg/L")} for s, a, d in sorted(cells)]
    res = results_frame(rows)
    flows = pd.DataFrame({"site": np.repeat(["S1", "S2"], 10),
                          "date": np.tile(pd.date_range(start, periods=10).values, 2),
                          "flow_m3_per_day": units.to_m3_per_day(flow_ml, "ML/d")})
    pops = pd.DataFrame({"site": ["S1", "S2"], "year": [2024, 2024], "population": [50_000, 80_000]})
    ds = build_dataset(res, flows, pops)
    # never invents samples: one non-NaN cell per distinct (site, analyte, day)
    assert int(ds["concentration_ng_per_l"].notnull().sum()) == len(cells)
    # µg/L + ML/d → identical to ng/L × m³/d by hand (C·Q/1000)
    loads = ds["load_mg_per_day"].values
    expected = conc_ug * 1000.0 * flow_ml * 1000.0 / 1000.0
    np.testing.assert_allclose(loads[np.isfinite(loads)], expected, rtol=1e-12)
    pnl = ds["load_mg_per_day_per_1000"]
    back = pnl * ds["population"] / 1000.0
    np.testing.assert_allclose(back.values[np.isfinite(loads)], loads[np.isfinite(loads)], rtol=1e-12)
