"""Risk-weekend calendar against a table computed with holidays 0.109 (2020–2027).

Date rules: Holidays0109 and UnionenPayday in wastewater/data/references.md.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from dateutil.easter import easter

from wastewater.riskweekends import (
    CALENDAR_COLUMNS,
    event_days,
    payday,
    risk_weekends,
    swedish_holidays,
)

D = dt.date

# Holidays0109, UnionenPayday (computed with holidays 0.109): year -> (Påsk Fri, Påsk Mon, Valborg weekday,
# Kristi himmelsfärd, skolavslutning default Thu wk 24, Midsommarafton, Alla helgons dag)
TABLE = {
    2020: (D(2020, 4, 10), D(2020, 4, 13), "Thu", D(2020, 5, 21), D(2020, 6, 11), D(2020, 6, 19), D(2020, 10, 31)),
    2021: (D(2021, 4, 2), D(2021, 4, 5), "Fri", D(2021, 5, 13), D(2021, 6, 17), D(2021, 6, 25), D(2021, 11, 6)),
    2022: (D(2022, 4, 15), D(2022, 4, 18), "Sat", D(2022, 5, 26), D(2022, 6, 16), D(2022, 6, 24), D(2022, 11, 5)),
    2023: (D(2023, 4, 7), D(2023, 4, 10), "Sun", D(2023, 5, 18), D(2023, 6, 15), D(2023, 6, 23), D(2023, 11, 4)),
    2024: (D(2024, 3, 29), D(2024, 4, 1), "Tue", D(2024, 5, 9), D(2024, 6, 13), D(2024, 6, 21), D(2024, 11, 2)),
    2025: (D(2025, 4, 18), D(2025, 4, 21), "Wed", D(2025, 5, 29), D(2025, 6, 12), D(2025, 6, 20), D(2025, 11, 1)),
    2026: (D(2026, 4, 3), D(2026, 4, 6), "Thu", D(2026, 5, 14), D(2026, 6, 11), D(2026, 6, 19), D(2026, 10, 31)),
    2027: (D(2027, 3, 26), D(2027, 3, 29), "Fri", D(2027, 5, 6), D(2027, 6, 17), D(2027, 6, 25), D(2027, 11, 6)),
}


@pytest.fixture(scope="module")
def cal():
    return risk_weekends(range(2020, 2028))


def _one(cal, name, year):
    sel = cal[(cal["name"] == name) & (cal["anchor_date"].dt.year == year)]
    assert len(sel) == 1, (name, year, sel)
    return sel.iloc[0]


def test_columns_and_kinds(cal):
    assert list(cal.columns) == CALENDAR_COLUMNS
    assert set(cal["kind"]) == {"risk_weekend", "payday_weekend", "long_weekend"}
    assert cal["event_id"].is_unique
    assert (cal["end"] >= cal["start"]).all()
    assert str(cal["start"].dtype) == "datetime64[ns]"
    # 8 years x (7 risk + 2 long + 12 payday)
    assert len(cal) == 8 * 21


@pytest.mark.parametrize("year", sorted(TABLE))
def test_table_sweden_context(cal, year):
    pf, pm, valborg_wd, ascension, school, midsommarafton, all_saints = TABLE[year]
    p = _one(cal, "Påsk", year)
    assert (p.start.date(), p.end.date(), p.kind) == (pf, pm, "long_weekend")
    assert D(year, 4, 30).strftime("%a") == valborg_wd
    k = _one(cal, "Kristi himmelsfärd", year)
    assert k.start.date() == ascension and k.end.date() == ascension + dt.timedelta(days=3)
    s = _one(cal, "Skolavslutning", year)
    assert s.start.date() == school and s.end.date() == school + dt.timedelta(days=3)  # Thu..Sun
    m = _one(cal, "Midsommar", year)
    assert m.anchor_date.date() == midsommarafton
    assert (m.start.date(), m.end.date()) == (midsommarafton - dt.timedelta(days=1),
                                              midsommarafton + dt.timedelta(days=2))
    h = _one(cal, "Halloween/Alla helgons dag", year)
    assert h.anchor_date.date() == all_saints and all_saints.weekday() == 5
    assert (h.start.date(), h.end.date()) == (all_saints - dt.timedelta(days=1),
                                              all_saints + dt.timedelta(days=1))
    j = _one(cal, "Jul", year)
    assert (j.start.date(), j.end.date()) == (D(year, 12, 24), D(year, 12, 26))
    n = _one(cal, "Nyår", year)
    assert (n.start.date(), n.end.date()) == (D(year, 12, 31), D(year + 1, 1, 1))


@pytest.mark.parametrize("year,start,end", [
    (2020, D(2020, 4, 30), D(2020, 5, 3)),   # Thu: Thu..Sun (1 May Fri)
    (2021, D(2021, 4, 30), D(2021, 5, 2)),   # Fri: Fri..Sun
    (2022, D(2022, 4, 29), D(2022, 5, 1)),   # Sat: Fri..Sun (1 May Sun)
    (2023, D(2023, 4, 28), D(2023, 5, 1)),   # Sun: Fri..Mon 1 May
    (2024, D(2024, 4, 30), D(2024, 5, 1)),   # Tue: only 30 Apr + 1 May
    (2025, D(2025, 4, 30), D(2025, 5, 1)),   # Wed
    (2018, D(2018, 4, 27), D(2018, 5, 1)),   # Mon: Fri 27 Apr .. Tue 1 May
])
def test_valborg_window(year, start, end):
    v = _one(risk_weekends(year), "Valborg", year)
    assert (v.start.date(), v.end.date()) == (start, end)


def test_payday_2025_list():
    # Holidays0109, UnionenPayday "Payday examples 2025 [C]"
    expected = [D(2025, 1, 24), D(2025, 2, 25), D(2025, 3, 25), D(2025, 4, 25), D(2025, 5, 23),
                D(2025, 6, 25), D(2025, 7, 25), D(2025, 8, 25), D(2025, 9, 25), D(2025, 10, 24),
                D(2025, 11, 25), D(2025, 12, 23)]
    assert [payday(2025, m) for m in range(1, 13)] == expected
    cal = risk_weekends(2025)
    pay = cal[cal.kind == "payday_weekend"]
    assert pay["anchor_date"].dt.date.tolist() == expected
    # windows are the first Fri..Sun on or after payday
    assert (pay["start"].dt.day_of_week == 4).all() and (pay["end"].dt.day_of_week == 6).all()
    assert pay.loc[pay.anchor_date == "2025-02-25", "start"].iloc[0] == pd.Timestamp("2025-02-28")
    assert pay.loc[pay.anchor_date == "2025-12-23", "start"].iloc[0] == pd.Timestamp("2025-12-26")


def test_payday_midsommar_2021():
    assert payday(2021, 6) == D(2021, 6, 24)  # 25 June 2021 = Midsommarafton (Holidays0109, UnionenPayday)


def test_holidays_package_cross_check():
    """Own rules (Western computus, Friday 19–25 June, Saturday 31 Oct–6 Nov) agree with holidays."""
    for year in range(2000, 2041):
        hol = swedish_holidays([year])
        by_name = {part: d for d, n in hol.items() for part in n.split("; ")}
        e = easter(year)
        assert by_name["Långfredagen"] == e - dt.timedelta(days=2)
        assert by_name["Annandag påsk"] == e + dt.timedelta(days=1)
        assert by_name["Kristi himmelsfärdsdag"] == e + dt.timedelta(days=39)
        mid = [D(year, 6, d) for d in range(19, 26) if D(year, 6, d).weekday() == 4]
        assert by_name["Midsommarafton"] == mid[0]
        saints = [d for d in (D(year, 10, 31) + dt.timedelta(days=i) for i in range(7))
                  if d.weekday() == 5]
        assert by_name["Alla helgons dag"] == saints[0]
        assert by_name["Julafton"] == D(year, 12, 24) and by_name["Nyårsafton"] == D(year, 12, 31)


def test_school_end_per_kommun_and_overrides():
    cal = risk_weekends([2025, 2026], school_end={2026: "2026-06-10"},
                        overrides={("Studenten", 2025): ("2025-06-05", "2025-06-07"),
                                   ("Jul", 2025): None,
                                   ("Katrineholmsveckan", 2025): ("2025-08-15", "2025-08-17")})
    s26 = _one(cal, "Skolavslutning", 2026)
    assert (s26.start.date(), s26.end.date()) == (D(2026, 6, 10), D(2026, 6, 14))  # Wed..Sun
    assert _one(cal, "Skolavslutning", 2025).start.date() == D(2025, 6, 12)  # default
    st = _one(cal, "Studenten", 2025)
    assert (st.start.date(), st.end.date(), st.rule) == (D(2025, 6, 5), D(2025, 6, 7), "user override")
    assert st.event_id == "rw-2025-studenten"
    assert not ((cal.name == "Jul") & (cal.anchor_date.dt.year == 2025)).any()
    local = _one(cal, "Katrineholmsveckan", 2025)
    assert local.kind == "risk_weekend" and local.event_id == "rw-2025-katrineholmsveckan"
    frame_ov = pd.DataFrame({"name": ["Studenten"], "year": [2026], "start": ["2026-06-04"],
                             "end": ["2026-06-06"]})
    st26 = _one(risk_weekends(2026, overrides=frame_ov), "Studenten", 2026)
    assert st26.start.date() == D(2026, 6, 4)
    with pytest.raises(ValueError, match="end .* before start"):
        risk_weekends(2025, overrides={("Jul", 2025): ("2025-12-26", "2025-12-24")})


def test_coinciding_holidays_2008():
    # 1 May 2008 was both Första maj and Kristi himmelsfärdsdag (holidays joins the names)
    k = _one(risk_weekends(2008), "Kristi himmelsfärd", 2008)
    assert k.start.date() == D(2008, 5, 1)


def test_studenten_default_is_friday_week_23():
    st = _one(risk_weekends(2025), "Studenten", 2025)
    assert st.start.date() == D(2025, 6, 6) and st.start.isocalendar().week == 23


def test_event_days_expands_inclusive():
    cal = risk_weekends(2025)
    days = event_days(cal[cal.name == "Jul"])
    assert days["date"].dt.day.tolist() == [24, 25, 26]
