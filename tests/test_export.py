"""Tests of wastewater.export (CSV, JSON, netCDF round trips)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from wastewater import export as E
from wastewater.backcalculation import add_consumption
from wastewater.timeseries import build_dataset


@pytest.fixture
def ds():
    res = pd.DataFrame({
        "sample_id": ["a", "a", "b", "c"], "site": ["S1", "S1", "S2", "S1"],
        "sample_date": pd.to_datetime(["2024-03-20", "2024-03-20", "2024-03-21", "2024-03-22"]),
        "analyte": ["benzoylecgonine", "benzoylecgonine", "mdma", "mdma"], "replicate": [1, 2, 1, 1],
        "value_ng_per_l": [800.0, 820.0, np.nan, 12.0], "censor": ["none", "none", "<LOQ", "none"],
        "loq_ng_per_l": [10.0, 10.0, 2.5, 2.5], "lod_ng_per_l": np.nan, "flow_m3_per_day": np.nan,
        "composite_hours": 24, "sample_role": "sample"})
    flows = pd.DataFrame({"site": np.repeat(["S1", "S2"], 3),
                          "date": np.tile(pd.date_range("2024-03-20", periods=3).values, 2),
                          "flow_m3_per_day": [1e5, 1.1e5, 1.2e5, 5e4, 5e4, 5e4]})
    pops = pd.DataFrame({"site": ["S1", "S2"], "year": [2024, 2024], "population": [400_000, 90_000]})
    return build_dataset(res, flows, pops)


def test_netcdf_round_trip(ds):
    data = E.dataset_to_netcdf(ds)
    assert isinstance(data, bytes) and data[:3] == b"CDF"
    back = E.netcdf_to_dataset(data)
    xr.testing.assert_equal(back, ds)
    assert back.attrs["Conventions"] == "CF-1.10" and back["censored"].dtype == bool


def test_csv_long_format_and_round_trip(ds):
    text = E.dataset_to_csv(ds)
    header = text.splitlines()[0].split(",")
    assert header[:3] == ["site", "analyte", "date"]
    assert {"load_mg_per_day_per_1000", "flow_m3_per_day", "concentration_ng_per_l"} <= set(header)
    frame = pd.read_csv(pd.io.common.StringIO(text))
    assert len(frame) == 3  # only days with a sample
    row = frame[(frame.site == "S1") & (frame.analyte == "benzoylecgonine")].iloc[0]
    assert row["date"] == "2024-03-20" and row["concentration_ng_per_l"] == 810.0
    assert row["load_mg_per_day_per_1000"] == pytest.approx(810 * 1e5 / 1000 / 400_000 * 1000)
    back = E.csv_to_dataset(E.dataset_to_csv(ds, as_bytes=True), ds.attrs)
    for var in ("load_mg_per_day_per_1000", "censored", "n_replicates"):
        xr.testing.assert_equal(back[var].reindex_like(ds[var]).fillna(0), ds[var].where(
            ds["concentration_ng_per_l"].notnull()).fillna(0).astype(back[var].dtype))


def test_json_records_round_trip(ds):
    text = E.dataset_to_json(add_consumption(ds))
    obj = json.loads(text)
    assert obj["attrs"]["loq_method"] == "loq_half" and len(obj["records"]) == 3
    rec = next(r for r in obj["records"] if r["analyte"] == "mdma" and r["site"] == "S2")
    assert rec["censored"] is True and rec["replicate_sd_ng_per_l"] is None
    assert rec["cf_id"] == "mdma-zuccato2008"
    back = E.json_to_dataset(text)
    assert back.attrs["population_method"] == "de_jure"
    assert float(back["concentration_ng_per_l"].sel(site="S2", analyte="mdma", date="2024-03-21")) == 1.25
    assert back["cf_id"].sel(analyte="benzoylecgonine").item() == "cocaine-be-zuccato2008"
