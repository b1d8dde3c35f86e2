"""The store's batched build of many series equals building each series on its own.

:func:`wastewater.storage.series.build_pairs` (one call for every site × analyte, through
:func:`wastewater.timeseries.daily_by_series`) must give, float for float, the rows
:func:`wastewater.storage.series.build_pair` gives for each series alone (which goes through
:func:`wastewater.timeseries.build_dataset`): replicates, censored values with LOQ/LOD, 24–72 h
composites overlapping shorter ones, own flows, duplicate flow days and population years.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wastewater.storage.series import build_pair, build_pairs

SITES = ("SE-A", "SE-B", "SE-C")
ANALYTES = ("amphetamine", "benzoylecgonine")
DAY0 = dt.date(2024, 12, 20)

_row = st.tuples(
    st.sampled_from(SITES), st.sampled_from(ANALYTES), st.integers(0, 15),
    st.sampled_from(["none", "none", "<LOQ", "D", "ND"]), st.floats(1, 500),
    st.sampled_from([24, 24, 48, 72]), st.one_of(st.none(), st.floats(1000, 20000)),
)
_flow = st.tuples(st.sampled_from(SITES), st.integers(-3, 22), st.floats(1000, 20000))


def _frames(rows, flow_rows, pops):
    results = pd.DataFrame({
        "site": [r[0] for r in rows],
        "analyte": [r[1] for r in rows],
        "sample_date": pd.to_datetime([DAY0 + dt.timedelta(days=r[2]) for r in rows]),
        "value_ng_per_l": [np.nan if r[3] in ("<LOQ", "ND") else
                           (r[4] / 2 if r[3] == "D" else r[4]) for r in rows],
        "censor": [r[3] for r in rows],
        "loq_ng_per_l": [r[4] for r in rows],
        "lod_ng_per_l": [r[4] / 10 for r in rows],
        "flow_m3_per_day": [np.nan if r[6] is None else r[6] for r in rows],
        "composite_hours": [r[5] for r in rows],
        "sample_role": "sample",
    })
    flows = pd.DataFrame({
        "site": [f[0] for f in flow_rows],
        "date": pd.to_datetime([DAY0 + dt.timedelta(days=f[1]) for f in flow_rows]),
        "flow_m3_per_day": [f[2] for f in flow_rows],
    }, columns=["site", "date", "flow_m3_per_day"])
    populations = pd.DataFrame(
        [(s, year, pop, "de_jure") for s, year, pop in pops],
        columns=["site", "year", "population", "method"]).astype({"year": "int64"})
    return results, flows, populations


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_row, min_size=1, max_size=40), flow_rows=st.lists(_flow, max_size=30),
       pops=st.lists(st.tuples(st.sampled_from(SITES[:2]), st.sampled_from([2024, 2025]),
                               st.integers(1000, 90000)), max_size=4,
                     unique_by=lambda p: (p[0], p[1])))
def test_batched_build_equals_each_series_alone(rows, flow_rows, pops):
    results, flows, populations = _frames(rows, flow_rows, pops)
    batched = build_pairs(results, flows, populations)
    alone = pd.concat(
        [build_pair(group, flows[flows["site"] == site], populations[populations["site"] == site])
         for (site, _), group in results.groupby(["site", "analyte"], sort=True)],
        ignore_index=True)
    pd.testing.assert_frame_equal(batched, alone, check_exact=True)


def test_two_sites_same_day_keep_their_own_flow_and_population():
    """Hand-computed: 100 ng/L × 9 000 m³/day = 900 mg/day, / 30 000 × 1000 = 30 mg/day/1000;
    the other site's 50 ng/L × 4 000 m³/day = 200 mg/day, without population → NaN per 1000."""
    rows = [("SE-A", "amphetamine", 0, "none", 100.0, 24, None),
            ("SE-B", "amphetamine", 0, "none", 50.0, 24, None)]
    results, flows, populations = _frames(
        rows, [("SE-A", 0, 9000.0), ("SE-B", 0, 4000.0)], [("SE-A", 2024, 30000)])
    out = build_pairs(results, flows, populations)
    assert out["site"].tolist() == ["SE-A", "SE-B"]
    assert out["load_mg_per_day"].tolist() == [900.0, 200.0]
    assert out["load_mg_per_day_per_1000"].iloc[0] == 30.0
    assert np.isnan(out["load_mg_per_day_per_1000"].iloc[1])
