"""Frames read by wastewater.storage.repository: contract dtypes, NULL handling, ``columns=``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.storage_factories import as_bytes, flows_frame, parsed, results_frame, sites_frame
from wastewater.storage import repository as repo
from wastewater.storage.service import store_parsed

RESULT_DTYPES = {
    "sample_date": "datetime64[ns]", "replicate": "int64", "value_ng_per_l": "float64",
    "loq_ng_per_l": "float64", "lod_ng_per_l": "float64", "flow_m3_per_day": "float64",
    "composite_hours": "Int64", "source_line": "Int64", "result_id": "int64", "upload_id": "int64",
    "is_current": "bool", "superseded_by": "Int64", "stored_at": "datetime64[ns, UTC]",
}


@pytest.fixture
def stored(migrated_engine):
    def put(kind, frame):
        up = parsed(kind, frame)
        out = store_parsed(migrated_engine, as_bytes(up), up, filename=f"{kind}.csv", uploader="t")
        assert out.stored
    put("sites", sites_frame())
    put("flows", flows_frame(days=3))
    res = results_frame(n_days=3)
    res.loc[1, ["value_ng_per_l", "censor", "loq_ng_per_l", "lod_ng_per_l"]] = [np.nan, "<LOQ", 10.0, np.nan]
    res.loc[2, "flow_m3_per_day"] = 8500.0
    put("results", res)
    return migrated_engine


def test_result_frame_dtypes_and_values(stored):
    df = repo.load_results(stored)
    for col, dtype in RESULT_DTYPES.items():
        assert str(df[col].dtype) == dtype, col
    assert list(df.columns) == list(repo.RESULT_COLUMNS)
    # sorted by site, analyte, sample_date: amphetamine (index 1) first, value = 100 + 10·day + 1
    amph = df[df["analyte"] == "amphetamine"]
    assert np.isnan(amph["value_ng_per_l"].iloc[0]) and amph["censor"].iloc[0] == "<LOQ"
    assert amph["value_ng_per_l"].iloc[1:].tolist() == [111.0, 121.0]
    assert amph["sample_date"].dt.strftime("%Y-%m-%d").tolist() == ["2025-01-01", "2025-01-02", "2025-01-03"]
    assert np.isnan(amph["lod_ng_per_l"].iloc[0]) and amph["lod_ng_per_l"].iloc[1] == 1.0
    be = df[df["analyte"] == "benzoylecgonine"]
    assert be["flow_m3_per_day"].iloc[1] == 8500.0 and np.isnan(be["flow_m3_per_day"].iloc[0])
    assert df["superseded_by"].isna().all() and df["is_current"].all()
    assert df["comment"].isna().all()


def test_columns_subset_equals_full_frame_columns(stored):
    full = repo.load_results(stored, sites=["SE-A"], analytes=["benzoylecgonine"])
    cols = ["stored_at", "site", "value_ng_per_l", "composite_hours", "sample_date"]
    sub = repo.load_results(stored, sites=["SE-A"], analytes=["benzoylecgonine"], columns=cols)
    # columns come back in RESULT_COLUMNS order
    expected = full[[c for c in repo.RESULT_COLUMNS if c in cols]]
    pd.testing.assert_frame_equal(sub, expected)
    with pytest.raises(ValueError, match="unknown column.*'value'"):
        repo.load_results(stored, columns=["value"])


def test_flows_sites_and_empty_frames(stored):
    fl = repo.load_flows(stored, start="2025-01-02")
    assert fl["flow_m3_per_day"].tolist() == [9010.0, 9020.0]
    assert str(fl["date"].dtype) == "datetime64[ns]"
    sites = repo.load_sites(stored)
    assert sites.set_index("site").loc["SE-A", ["population", "population_year"]].tolist() == [25300, 2025]
    assert str(sites["population"].dtype) == "Int64"
    empty = repo.load_results(stored, sites=["nowhere"])
    assert empty.empty and list(empty.columns) == list(repo.RESULT_COLUMNS)
    for col, dtype in RESULT_DTYPES.items():
        assert str(empty[col].dtype) == dtype, col
