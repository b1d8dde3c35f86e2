"""netCDF exports follow CF-1.10: checked with cf-xarray on the file as written, and the
xarray round trip gives equal data."""

from __future__ import annotations

import io

import cf_xarray  # noqa: F401  (registers the .cf accessor)
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from wastewater import export as E
from wastewater.timeseries import build_dataset
from wastewater.uncertainty import add_analytic_intervals


def _raw(data: bytes) -> xr.Dataset:
    """The file as stored (no time decoding), to check the attributes actually written."""
    return xr.open_dataset(io.BytesIO(data), engine=E.NETCDF_ENGINE, decode_times=False,
                           mask_and_scale=False).load()


def _check_cf(data: bytes, measured: str) -> xr.Dataset:
    raw = _raw(data)
    assert raw.attrs["Conventions"] == "CF-1.10"
    for key in ("title", "source", "history"):
        assert raw.attrs[key].strip(), key
    for name, var in raw.variables.items():
        assert var.attrs.get("units"), f"{name} has no units"
        assert var.attrs.get("long_name"), f"{name} has no long_name"
    assert raw["date"].attrs["units"].startswith("days since")
    ds = E.netcdf_to_dataset(data)
    # cf-xarray finds the time axis by its CF attributes and the standard name
    assert ds.cf.axes["T"] == ["date"] and ds.cf.standard_names["time"] == ["date"]
    assert ds.cf["time"].name == "date"
    # censoring is a CF flag variable that cf-xarray decodes by its meanings
    flag = raw["censored"]
    assert list(flag.attrs["flag_values"]) == [0, 1]
    assert flag.attrs["flag_meanings"].split() == ["quantified", "below_limit_of_quantification"]
    assert flag.cf.is_flag_variable
    below = (flag.cf == "below_limit_of_quantification").to_numpy()
    np.testing.assert_array_equal(below, raw["censored"].to_numpy() == 1)
    assert "censored" in raw[measured].attrs["ancillary_variables"].split()
    return ds


def _dataset() -> xr.Dataset:
    res = pd.DataFrame({
        "sample_id": ["a", "b", "c", "d"], "site": ["S1", "S1", "S1", "S2"],
        "sample_date": pd.to_datetime(["2024-03-20", "2024-03-21", "2024-03-22", "2024-03-21"]),
        "analyte": ["benzoylecgonine", "benzoylecgonine", "mdma", "mdma"], "replicate": 1,
        "value_ng_per_l": [800.0, np.nan, 12.0, 30.0], "censor": ["none", "<LOQ", "none", "none"],
        "loq_ng_per_l": [10.0, 10.0, 2.5, 2.5], "lod_ng_per_l": np.nan, "flow_m3_per_day": np.nan,
        "composite_hours": 24, "sample_role": "sample"})
    flows = pd.DataFrame({"site": np.repeat(["S1", "S2"], 3),
                          "date": np.tile(pd.date_range("2024-03-20", periods=3).values, 2),
                          "flow_m3_per_day": [1e5, 1.1e5, 1.2e5, 5e4, 5e4, 5e4]})
    pops = pd.DataFrame({"site": ["S1", "S2"], "year": [2024, 2024],
                         "population": [400_000, 90_000]})
    return add_analytic_intervals(build_dataset(res, flows, pops), "load_mg_per_day_per_1000")


def test_analysis_dataset_netcdf_is_cf_and_round_trips():
    ds = _dataset()
    data = E.dataset_to_netcdf(ds, title="test", source="unit test", history="test")
    back = _check_cf(data, "load_mg_per_day_per_1000")
    xr.testing.assert_equal(back, ds)
    raw = _raw(data)
    assert raw["load_mg_per_day_per_1000"].attrs["units"] == "ug d-1"
    assert raw["concentration_ng_per_l"].attrs["units"] == "ng L-1"
    assert raw["flow_m3_per_day"].attrs["units"] == "m3 d-1"
    lo = raw["load_mg_per_day_per_1000_lo95"].attrs
    assert lo["units"] == "ug d-1" and "lower limit of the 95 % interval" in lo["long_name"]
    assert set(raw["load_mg_per_day_per_1000"].attrs["ancillary_variables"].split()) == {
        "censored", "load_mg_per_day_per_1000_lo95", "load_mg_per_day_per_1000_hi95"}


def test_every_name_has_attributes_from_one_place():
    # interval variables renamed later (level vs change) only need their suffix described
    a = E.cf_attrs("load_mg_per_day_per_1000_change_lo95")
    assert a["units"] == "ug d-1" and "change lo95" in a["long_name"]
    with pytest.raises(KeyError, match="mystery"):
        E.cf_attrs("mystery")
