"""Reproduce published figures: EUDA 2025 release (ww2025-*.csv) and the worked
examples of the back-calculation chain (Zuccato2008, Castiglioni2013).

The EUDA files are the unchanged public release vendored in samples/euda (README and NOTICE
there), so they are always present in a checkout.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wastewater.backcalculation import consumption_mg_per_day_per_1000, doses_per_day_per_1000
from wastewater.normalisation import load_mg_per_day, load_mg_per_day_per_1000
from wastewater.summaries import change_class, change_percent, euda_means

EUDA_DIR = Path(__file__).resolve().parents[1] / "samples" / "euda"
DAYS = ["Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday"]


@pytest.fixture(scope="module")
def all_data() -> pd.DataFrame:
    return pd.read_csv(EUDA_DIR / "ww2025-all-data.csv")


def first_wednesday_of_march(year: int) -> pd.Timestamp:
    d = pd.Timestamp(year=year, month=3, day=1)
    return d + pd.Timedelta(days=(2 - d.day_of_week) % 7)


def daily_series(row) -> pd.Series:
    idx = pd.date_range(first_wednesday_of_march(int(row["Year"])), periods=7, freq="D")
    return pd.Series([row[d] for d in DAYS], index=idx, dtype=float)


def row_of(frame, site, year, metabolite):
    sel = frame[(frame["Site ID"] == site) & (frame["Year"] == year) & (frame["Metabolite"] == metabolite)]
    assert len(sel) == 1
    return sel.iloc[0]


@pytest.mark.parametrize("site, year, metabolite, daily, weekday, weekend", [
    ("SE005", 2024, "cocaine", 374.23, 307.1, 424.58),        # EUDA2025
    ("SE005", 2024, "amphetamine", 362.4, 353.59, 369.01),
    ("SE005", 2024, "MDMA", 23.35, 12.73, 31.32),
    ("SE005", 2024, "cannabis", 57.61, 57.9, 57.4),
    ("SE002", 2024, "cocaine", 77.08, 59.73, 90.09),          # Gävle
    ("SE002", 2021, "cocaine", 170.7, 103.74, 259.99),        # 2021: Tue–Fri / Sat–Mon
    ("SE011", 2021, "MDMA", 9.83, 6.34, 14.48),               # Uppsala 2021
    ("SE003", 2024, "ketamine", 4.0, 2.93, 4.8),              # Karlstad
    ("AT001", 2024, "MDMA", 15.53, 10.27, 19.47),             # Graz (§8.3 item 2)
])
def test_euda_means_reproduce_published_rows(all_data, site, year, metabolite, daily, weekday, weekend):
    row = row_of(all_data, site, year, metabolite)
    assert (row["Daily mean"], row["Weekday mean"], row["Weekend mean"]) == (daily, weekday, weekend)
    m = euda_means(daily_series(row), year=year)
    assert m["daily_mean"] == pytest.approx(daily, abs=0.02)
    assert m["weekday_mean"] == pytest.approx(weekday, abs=0.02)
    assert m["weekend_mean"] == pytest.approx(weekend, abs=0.02)


def test_euda_means_whole_file_section_8_3(all_data):
    # §8.3 items 1–2: weekday/weekend match within 0.02 for >= 90 % of rows, with the 2021 rule
    ok_days = ok_daily = n = 0
    for _, row in all_data.iterrows():
        s = daily_series(row)
        if s.notna().sum() == 0 or any(pd.isna(row[c]) for c in ("Weekday mean", "Weekend mean", "Daily mean")):
            continue
        m = euda_means(s, year=int(row["Year"]))
        n += 1
        ok_days += (abs(m["weekday_mean"] - row["Weekday mean"]) <= 0.02
                    and abs(m["weekend_mean"] - row["Weekend mean"]) <= 0.02)
        ok_daily += abs(m["daily_mean"] - row["Daily mean"]) <= 0.02
    assert n > 3500
    assert ok_days / n >= 0.90
    assert ok_daily / n >= 0.95


def test_change_classes_reproduce_euda_change_file():
    ch = pd.read_csv(EUDA_DIR / "ww2025-changes-all-substances.csv")
    gavle = ch[(ch["SiteID"] == "SE002") & (ch["metabolite"] == "cocaine")].iloc[0]
    assert change_percent(gavle["value_current"], gavle["value_previous"]) == pytest.approx(-30.6, abs=0.05)
    assert change_class(gavle["value_current"], gavle["value_previous"]) == "decrease"
    classes = [change_class(c, None if pd.isna(p) else p)
               for c, p in zip(ch["value_current"], ch["value_previous"])]
    agree = np.mean(np.array(classes) == ch["change_percent2"].values)
    assert agree >= 0.99
    with_prev = ch[ch["value_previous"].notna() & (ch["value_previous"] != 0)]
    pct = [change_percent(c, p) for c, p in zip(with_prev["value_current"], with_prev["value_previous"])]
    np.testing.assert_allclose(pct, with_prev["change_percent"].values, atol=1e-6)


def test_worked_example_chain_section_1_2_and_8_3():
    # §8.3 item 4: 1000 ng/L × 150 000 m³/d / 500 000 inh → 300 mg/day/1000
    pnl = load_mg_per_day_per_1000(load_mg_per_day(1000.0, 150_000.0), 500_000)
    assert pnl == pytest.approx(300.0)
    cons = [consumption_mg_per_day_per_1000(pnl, cf) for cf in ("cocaine-be-zuccato2008", "cocaine-be-castiglioni2013")]
    assert cons == [pytest.approx(699.0), pytest.approx(1077.0)]
    doses = [doses_per_day_per_1000(c, cf) for c, cf in zip(cons, ("cocaine-be-zuccato2008", "cocaine-be-castiglioni2013"))]  # noqa: E501
    assert [round(d, 1) for d in doses] == [7.0, 10.8]
    # real data: Stockholm 2024 BE 374.23 → 872 / 1 343 mg cocaine/day/1000 (§1.2)
    assert round(consumption_mg_per_day_per_1000(374.23, "cocaine-be-zuccato2008")) == 872
    assert round(consumption_mg_per_day_per_1000(374.23, "cocaine-be-castiglioni2013")) == 1343
    assert not math.isnan(pnl)
