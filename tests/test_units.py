"""Tests for wastewater.units: factors to ng/L and m³/day, spellings, errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wastewater.exceptions import UnitError
from wastewater.units import (
    ConcentrationUnit,
    FlowUnit,
    parse_flow_unit,
    parse_unit,
    to_m3_per_day,
    to_ng_per_l,
)


@pytest.mark.parametrize(
    ("text", "unit", "factor"),
    [
        # factors calculated manually from SI prefixes and 1 m³ = 1000 L
        ("ng/L", ConcentrationUnit.NG_PER_L, 1.0),
        ("ng/l", ConcentrationUnit.NG_PER_L, 1.0),
        ("ng L-1", ConcentrationUnit.NG_PER_L, 1.0),
        ("ng_per_l", ConcentrationUnit.NG_PER_L, 1.0),
        ("µg/L", ConcentrationUnit.UG_PER_L, 1000.0),  # U+00B5 micro sign
        ("μg/L", ConcentrationUnit.UG_PER_L, 1000.0),  # U+03BC Greek mu
        ("ug/L", ConcentrationUnit.UG_PER_L, 1000.0),
        ("mcg/L", ConcentrationUnit.UG_PER_L, 1000.0),
        ("ng/mL", ConcentrationUnit.NG_PER_ML, 1000.0),
        ("mg/m³", ConcentrationUnit.MG_PER_M3, 1000.0),
        ("mg/m3", ConcentrationUnit.MG_PER_M3, 1000.0),
        ("µg/m³", ConcentrationUnit.UG_PER_M3, 1.0),
        ("ug/m3", ConcentrationUnit.UG_PER_M3, 1.0),
        ("mg/L", ConcentrationUnit.MG_PER_L, 1e6),
        ("g/m³", ConcentrationUnit.G_PER_M3, 1e6),
        (" µg / m³ ", ConcentrationUnit.UG_PER_M3, 1.0),
    ],
)
def test_parse_unit_and_factor(text, unit, factor):
    assert parse_unit(text) is unit
    assert unit.factor_to_canonical == factor


def test_unknown_unit_lists_accepted_units():
    with pytest.raises(UnitError) as info:
        parse_unit("ppm")
    message = str(info.value)
    assert "'ppm'" in message
    for symbol in ("ng/L", "µg/L", "ng/mL", "mg/m³", "µg/m³", "mg/L", "g/m³"):
        assert symbol in message
    assert isinstance(info.value, ValueError)


def test_to_ng_per_l_examples():
    # Lidköping 2020: THC-COOH 66 µg/m³ (VallentunaNya2024) = 66 ng/L
    assert to_ng_per_l(66.0, "µg/m³") == 66.0
    assert to_ng_per_l(2.5, "ug/L") == 2500.0  # docs/architecture.md: <2.5 ug/L -> 2500 ng/L
    assert to_ng_per_l(250.0, "mg/L") == 2.5e8  # a BOD5 of 250 mg/L
    series = pd.Series([1.0, 2.0])
    pd.testing.assert_series_equal(to_ng_per_l(series, ConcentrationUnit.NG_PER_ML), series * 1000)
    np.testing.assert_allclose(to_ng_per_l(np.array([0.5]), "mg/m3"), [500.0])


@pytest.mark.parametrize(
    ("text", "unit", "factor"),
    [
        ("m3/d", FlowUnit.M3_PER_DAY, 1.0),
        ("m³/dygn", FlowUnit.M3_PER_DAY, 1.0),
        ("L/s", FlowUnit.L_PER_S, 86.4),  # 86 400 s × 1 L = 86.4 m³
        ("l/s", FlowUnit.L_PER_S, 86.4),
        ("ML/d", FlowUnit.ML_PER_DAY, 1000.0),
        ("m3/h", FlowUnit.M3_PER_H, 24.0),
    ],
)
def test_flow_units(text, unit, factor):
    assert parse_flow_unit(text) is unit
    assert unit.factor_to_canonical == factor


def test_to_m3_per_day_and_unknown_flow_unit():
    assert to_m3_per_day(100.0, "L/s") == pytest.approx(8640.0)
    assert to_m3_per_day(9.0725, "ML/d") == pytest.approx(9072.5)
    with pytest.raises(UnitError, match="accepted units: m³/d, L/s, ML/d"):
        parse_flow_unit("gallons/min")


@settings(max_examples=100, derandomize=True)
@given(st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_unit_invariance(value_ng_per_l):
    """The same concentration written in any unit converts back to the same ng/L."""
    for unit in ConcentrationUnit:
        written = value_ng_per_l / unit.factor_to_canonical
        assert math.isclose(
            to_ng_per_l(written, unit), value_ng_per_l, rel_tol=1e-12, abs_tol=1e-300
        )
