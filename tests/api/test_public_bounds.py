"""The 95 % bounds of a public weekly mean say nothing about the days beyond the mean.

The random part of a mean's interval grows with the spread of its days: the first-order
variance of the mean of v₁ … vₙ with a relative random error carries Σ vᵢ² / (Σ vᵢ)², and the
shared draws do the same. With the published mean, that is the days' second moment, and for a
week of two measured days (twice-weekly sampling) it gives both days' values. The attacker here
reads the public week with its bounds and solves for the two days, as one can with the
published error model and seeds; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from api_fixtures import make_clients, put, sites_df

from wastewater.uncertainty import period_means

B = "/api/v1"
TODAY = dt.date.today()
MONDAY = TODAY - dt.timedelta(days=TODAY.weekday() + 35)
THURSDAY = MONDAY + dt.timedelta(days=3)
DAYS = pd.DatetimeIndex([MONDAY, THURSDAY])
BOUNDS = ("level_lo95_ng_per_l", "level_hi95_ng_per_l", "change_lo95_ng_per_l", "change_hi95_ng_per_l")


@pytest.fixture
def clients(engine):
    put(engine, "sites", sites_df(), "sites")
    values = [180.0, 60.0]
    put(engine, "results", pd.DataFrame({
        "sample_id": [f"S-{d:%Y%m%d}" for d in DAYS], "site": "SE-BIG", "sample_date": DAYS.astype("datetime64[ns]"),
        "analyte": "benzoylecgonine", "replicate": 1, "value_ng_per_l": values, "censor": "none",
        "loq_ng_per_l": 10.0, "lod_ng_per_l": 1.0, "flow_m3_per_day": 10_000.0, "composite_hours": 24,
        "sample_role": "sample", "lab": "Lab A", "method": "LC-MS/MS", "comment": None,
        "original_value": [f"{v:g}" for v in values], "original_unit": "ng/L"}), "results")
    return make_clients(engine)


def _bounds(values, method: str) -> tuple[float, ...]:
    got = period_means(pd.Series(values, index=DAYS), site="SE-BIG", analyte="benzoylecgonine",
                       variable="concentration_ng_per_l", method=method, n_draws=1000)
    return tuple(float(got[b.replace("_ng_per_l", "")].iloc[0]) for b in BOUNDS)


@pytest.mark.parametrize("ci", ["analytic", "montecarlo"])
def test_public_week_bounds_are_those_of_its_mean(clients, ci):
    query = f"site=SE-BIG&analyte=benzoylecgonine&measure=concentration&from={MONDAY}&to={THURSDAY}&ci={ci}"
    (week,) = clients["public"].get(f"{B}/series?{query}").json()["points"]
    assert week["n_days"] == 2 and week["concentration_ng_per_l"] == pytest.approx(120.0)
    published = tuple(week[b] for b in BOUNDS)
    # the bounds of two days at the mean, whatever the two days were
    assert published == pytest.approx(_bounds([120.0, 120.0], ci), rel=1e-9)
    if ci == "analytic":
        # over the days' own values the bounds differ, and solving them for the split gives the days
        own = _bounds([180.0, 60.0], ci)
        assert own[3] > published[3] * 1.01
        split = [d for d in np.linspace(0.0, 0.99, 400)
                 if _bounds([120.0 * (1 + d), 120.0 * (1 - d)], ci)[3] == pytest.approx(published[3], rel=1e-6)]
        assert split and max(split) < 0.01  # the attacker learns only "two days at about the mean"
    # a key holder's daily values carry their own daily bounds
    daily = clients["viewer"].get(f"{B}/series?{query}").json()["points"]
    assert [p["concentration_ng_per_l"] for p in daily if p["concentration_ng_per_l"] is not None] == [180.0, 60.0]


def test_dashboard_public_week_bounds_are_those_of_its_mean(clients):
    csv = clients["public"].get("/dashboard/data/trend.csv", params={
        "site": "SE-BIG", "analyte": "benzoylecgonine", "measure": "concentration",
        "start": MONDAY.isoformat(), "end": THURSDAY.isoformat()})
    assert csv.status_code == 200, csv.text
    row = pd.read_csv(pd.io.common.StringIO(csv.text)).iloc[0]
    assert row["n_days"] == 2 and row["concentration_ng_per_l"] == pytest.approx(120.0)
    assert tuple(row[b] for b in BOUNDS) == pytest.approx(_bounds([120.0, 120.0], "montecarlo"), rel=1e-6)
