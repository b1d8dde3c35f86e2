"""On the demo data the change band shows the drop after EV-2025-02 that the level band hides."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from wastewater import uncertainty as U
from wastewater.ingest import parse_upload
from wastewater.timeseries import build_dataset, site_series

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SITE, ANALYTE = "SE-KAT-ROS", "benzoylecgonine"
EVENT = pd.Timestamp("2025-03-10")  # EV-2025-02 starts (samples/events.csv)


@pytest.fixture(scope="module")
def be_series() -> pd.Series:
    sites = parse_upload((SAMPLES / "sites.csv").read_bytes(), filename="sites.csv").frame
    flows = parse_upload((SAMPLES / "flows.csv").read_bytes(), filename="flows.csv").frame
    results = parse_upload((SAMPLES / "results.csv").read_bytes(), filename="results.csv",
                           known_sites=set(sites["site"])).frame
    results = results[(results["site"] == SITE) & (results["analyte"] == ANALYTE)]
    pops = sites.rename(columns={"population_year": "year", "population_method": "method"})
    ds = build_dataset(results, flows, pops[["site", "year", "population", "method"]])
    values, _censored = site_series(ds, SITE, ANALYTE)
    return values


def test_weekly_change_band_narrow_enough_to_see_the_drop(be_series):
    weeks = U.period_means(be_series, site=SITE, analyte=ANALYTE, freq="week")
    around = weeks[(weeks["start"] >= EVENT - pd.Timedelta(weeks=8))
                   & (weeks["start"] < EVENT + pd.Timedelta(weeks=8))]
    assert len(around) == 16 and (around["n_days"] == 7).all()
    change = (around["change_hi95"] - around["change_lo95"]) / 2 / around["value"]
    level = (around["level_hi95"] - around["level_lo95"]) / 2 / around["value"]
    # change band of a weekly mean: about ±14 % (< 20 %); level band beside it: about ±45 %
    assert change.max() < 0.20 and change.median() == pytest.approx(0.14, abs=0.02)
    assert level.min() > 0.40 and level.median() == pytest.approx(0.45, abs=0.03)
    before = around[around["start"] < EVENT]
    after = around[around["start"] >= EVENT]
    baseline = before["value"].mean()
    # weeks after the operation whose change band lies wholly below the mean of the 8 weeks
    # before; the level band of every one of them still reaches above it
    below = after[after["change_hi95"] < baseline]
    assert len(below) >= 3
    assert (after["level_hi95"] > baseline).all()


def test_before_after_ratio_from_the_draws(be_series):
    draws = U.series_draws(be_series, site=SITE, analyte=ANALYTE)
    after = (EVENT, EVENT + pd.Timedelta(days=55))
    before = (EVENT - pd.Timedelta(days=56), EVENT - pd.Timedelta(days=1))
    ratio = U.ratio_interval(draws, after, draws, before)
    # 8 weeks after vs 8 weeks before (the embedded × 0.75 lasts to 18 April, so the 8-week
    # ratio is about 0.90); population and flow-meter bias cancel, so the interval excludes 1
    assert ratio.estimate == pytest.approx(0.897, abs=0.005)
    assert ratio.hi95 < 1.0 and ratio.lo95 > 0.80
