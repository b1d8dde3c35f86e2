"""wastewater.jsonsafe.json_column equals json_safe() applied value by value (the /series JSON body)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from wastewater.jsonsafe import json_column, json_safe


def _reference(s: pd.Series) -> list:
    return [json_safe(v) for v in s.tolist()]


@settings(max_examples=80, deadline=None, derandomize=True)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=30))
def test_float_columns(xs):
    s = pd.Series(xs, dtype=float)
    out = json_column(s)
    assert out == _reference(s)
    assert all(v is None or type(v) is float for v in out)
    assert [v is None for v in out] == [not np.isfinite(x) for x in xs]


def test_int_bool_and_date_columns():
    ints = pd.Series([0, -3, 2**40], dtype="int64")
    assert json_column(ints) == [0, -3, 2**40] == _reference(ints)
    flags = pd.Series([True, False, True])
    assert json_column(flags) == [True, False, True] == _reference(flags)
    days = pd.Series(pd.to_datetime(["2025-01-06", "2024-02-29"]))
    assert json_column(days) == ["2025-01-06", "2024-02-29"] == _reference(days)
    # not whole days, or NaT: falls back to json_safe value by value
    mixed = pd.Series(pd.to_datetime(["2025-01-06 12:30", None]))
    assert json_column(mixed) == ["2025-01-06T12:30:00", None] == _reference(mixed)
    text = pd.Series(["2025-W02", None], dtype=object)
    assert json_column(text) == ["2025-W02", None]
    assert json_column(pd.Series([], dtype=object)) == []
