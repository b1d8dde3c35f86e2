"""The public rule against a reader who differences answers (pure functions of wastewater.access).

Two attacks that the window rule alone does not stop:
- **readings one upload apart**: a growing week's mean after 2 and after 3 measured days gives
  the third day (3·m3 − 2·m2); so a week with a missing day is public only once closed;
- **a second partition**: EUDA's Wednesday–Tuesday campaign week straddles two ISO weeks; with
  their public means and a few missing days the overlaps solve for one day.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from wastewater import access


def _daily(days: pd.DatetimeIndex, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"date": days, "value": rng.lognormal(5, 0.3, len(days)), "censored": False})


def test_growing_week_is_not_public_until_closed():
    """Mon–Wed of the current week measured: the week's mean would change with each upload."""
    days = pd.date_range("2026-11-23", "2026-12-02")  # Mon 23 Nov … Wed 2 Dec
    daily = _daily(days)
    today = dt.date(2026, 12, 2)
    weeks = access.public_weeks(daily, rule=access.PublicRule(), today=today)
    assert weeks["iso_week"].tolist() == ["2026-W48"]  # complete (7 days): public at once
    # after two weeks the incomplete week is closed and public
    later = access.public_weeks(daily, today=dt.date(2026, 12, 20))
    assert later["iso_week"].tolist() == ["2026-W48", "2026-W49"]
    assert later["n_days"].tolist() == [7, 3]
    # the attack it stops: the means after 2 and 3 days give the third day exactly
    m2 = daily["value"].iloc[7:9].mean()
    m3 = daily["value"].iloc[7:10].mean()
    assert 3 * m3 - 2 * m2 == pytest.approx(daily["value"].iloc[9])


def test_campaign_week_beside_public_weeks():
    """Solving the overlaps: ISO week A has only Tue 4 March before the campaign week C (Wed 5 –
    Tue 11), ISO week B only C's Mon–Tue: then B's sum is C∩B, A∩C = C − B and Tue 4 = A − A∩C."""
    days = pd.date_range("2025-03-04", "2025-03-11")  # Tue 4 … Tue 11 March
    daily = _daily(days).set_index("date")["value"]
    a = daily["2025-03-04":"2025-03-09"].sum()
    b = daily["2025-03-10":"2025-03-11"].sum()
    c = daily["2025-03-05":"2025-03-11"].sum()
    assert a - (c - b) == pytest.approx(daily["2025-03-04"])  # the single day the three sums give
    assert not access.public_campaign_week(days, "2025-03-05", today=dt.date(2025, 6, 1))
    # with both days before it measured (and the Wed–Sun after it) nothing isolates a day
    full = pd.date_range("2025-03-03", "2025-03-16")
    assert access.public_campaign_week(full, "2025-03-05", today=dt.date(2025, 6, 1))
    # an incomplete campaign week is public only once closed
    gap = full.drop(pd.Timestamp("2025-03-07"))
    assert not access.public_campaign_week(gap, "2025-03-05", today=dt.date(2025, 3, 20))
    assert access.public_campaign_week(gap, "2025-03-05", today=dt.date(2025, 3, 25))
