"""Tests of wastewater.backcalculation (consumption and doses with named CFs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from wastewater import backcalculation as B
from wastewater.exceptions import UnknownParameterError
from wastewater.parameters import CATALOGUE_VERSION


def test_worked_example_section_1_2():
    # Zuccato2008, Castiglioni2013: PNL 300 → 699 (CF 2.33) / 1077 (CF 3.59); 100 mg doses → 7.0 / 10.8
    low = B.consumption_mg_per_day_per_1000(300.0, "cocaine-be-zuccato2008")
    high = B.consumption_mg_per_day_per_1000(300.0, "cocaine-be-castiglioni2013")
    assert low == pytest.approx(699.0) and high == pytest.approx(1077.0)
    assert high / low - 1 == pytest.approx(0.54, abs=0.005)
    assert B.doses_per_day_per_1000(low, "cocaine-be-zuccato2008") == pytest.approx(6.99)
    assert round(B.doses_per_day_per_1000(high, "cocaine-be-castiglioni2013"), 1) == 10.8


def test_section_8_3_check_5_stockholm():
    # 374.23 × 2.33 = 871.96; × 3.59 = 1343.49 (EUDA2025)
    assert B.consumption_mg_per_day_per_1000(374.23, analyte="benzoylecgonine") == pytest.approx(871.96, abs=0.005)
    assert B.consumption_mg_per_day_per_1000(374.23, "cocaine-be-castiglioni2013") == pytest.approx(1343.49, abs=0.005)


def test_outputs_name_the_cf_used():
    s = pd.Series([100.0, 200.0], index=pd.date_range("2024-03-20", periods=2))
    out = B.consumption_mg_per_day_per_1000(s, "cocaine-be-3.0")
    assert out.name == "consumption_mg_per_day_per_1000"
    assert out.attrs["cf_id"] == "cocaine-be-3.0" and out.attrs["catalogue_version"] == CATALOGUE_VERSION
    np.testing.assert_allclose(out.values, [300.0, 600.0])
    da = B.doses_per_day_per_1000(xr.DataArray([300.0], dims="date"), "cocaine-be-3.0")
    assert da.attrs["cf_id"] == "cocaine-be-3.0" and da.attrs["dose_mg"] == 100.0
    assert float(da[0]) == pytest.approx(3.0)


def test_errors():
    with pytest.raises(UnknownParameterError, match="applies to analyte 'benzoylecgonine'"):
        B.consumption_mg_per_day_per_1000(1.0, "cocaine-be-3.0", analyte="mdma")
    with pytest.raises(UnknownParameterError, match="no verified correction factor"):
        B.consumption_mg_per_day_per_1000(1.0, "methadone-eddp")
    with pytest.raises(UnknownParameterError, match="no typical dose"):
        B.doses_per_day_per_1000(1.0, "tramadol-tramadol")
    assert B.doses_per_day_per_1000(33.0, "tramadol-tramadol", dose_mg=50.0) == pytest.approx(0.66)
    with pytest.raises(ValueError, match="cf_id"):
        B.consumption_mg_per_day_per_1000(1.0)
    with pytest.raises(ValueError):
        B.consumption_mg_per_day_per_1000(-1.0, "cocaine-be-3.0")


def test_add_consumption_to_dataset():
    ds = xr.Dataset(
        {"load_mg_per_day_per_1000": (("site", "analyte", "date"), np.array([[[300.0], [10.0], [5.0]]]))},
        coords={"site": ["S1"], "analyte": ["benzoylecgonine", "eddp", "mdma"],
                "date": pd.to_datetime(["2024-03-20"])})
    out = B.add_consumption(ds, {"mdma": "mdma-gracialor2016"})
    assert list(out["cf_id"].values) == ["cocaine-be-zuccato2008", "", "mdma-gracialor2016"]
    cons = out["consumption_mg_per_day_per_1000"].values[0, :, 0]
    assert cons[0] == pytest.approx(699.0) and np.isnan(cons[1]) and cons[2] == pytest.approx(22.0)
    assert out["doses_per_day_per_1000"].values[0, 0, 0] == pytest.approx(6.99)
    assert B.euda_comparable(ds)["load_mg_per_day_per_1000"].equals(ds["load_mg_per_day_per_1000"])
