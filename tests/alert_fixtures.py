"""Real upload bytes for the alert tests: a site, a seeded daily history, and new days.

The history is lognormal day-to-day noise around a weekday profile (no change); ``spike``
multiplies one day's concentration, so the only unusual day is the one the test puts there.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

SITE = "SE-KAT-ROS"
ANALYTE = "amphetamine"
#: weekday profile of the concentration (Mon..Sun), ng/L
PROFILE = (60.0, 55.0, 55.0, 58.0, 65.0, 80.0, 85.0)


def sites_csv(population: int = 34000, site: str = SITE) -> bytes:
    return (
        "site,name,municipality,population,population_year\n"
        f"{site},Katrineholm Rosenholm,Katrineholm,{population},2025\n"
    ).encode()


def results_csv(start: str, days: int, *, seed: int = 7, spike: dict[str, float] | None = None,
                site: str = SITE, analyte: str = ANALYTE, sd_log: float = 0.1,
                method: str | None = None, prefix: str = "S") -> bytes:
    """Long results CSV (with flow) for ``days`` days from ``start``; ``spike``: date → factor."""
    rng = np.random.default_rng(seed)
    d0 = dt.date.fromisoformat(start)
    lines = ["sample_id,site,sample_date,analyte,value,unit,flow_m3_per_day"
             + (",method" if method else "")]
    for i in range(days):
        d = d0 + dt.timedelta(days=i)
        conc = PROFILE[d.weekday()] * float(np.exp(rng.normal(0, sd_log)))
        conc *= (spike or {}).get(d.isoformat(), 1.0)
        row = f"{prefix}{d:%Y%m%d},{site},{d.isoformat()},{analyte},{conc:.3f},ng/L,9000"
        lines.append(row + (f",{method}" if method else ""))
    return ("\n".join(lines) + "\n").encode()


def monday(offset_from_today: int) -> dt.date:
    """The Monday on or before ``today + offset``: tests keep the same weekday alignment (and so
    the same statistics) whatever day they run, while staying recent (alerts are raised only
    for the last 120 days)."""
    d = dt.date.today() + dt.timedelta(days=offset_from_today)
    return d - dt.timedelta(days=d.weekday())


HISTORY_START = monday(-100)                              # 12 weeks of history
NEW_START = HISTORY_START + dt.timedelta(days=84)          # the "new" week (a Monday)
SPIKE_DAY = NEW_START + dt.timedelta(days=2)               # its Wednesday


def history_csv(seed: int = 2, sd_log: float = 0.05) -> bytes:
    return results_csv(HISTORY_START.isoformat(), 84, seed=seed, sd_log=sd_log)


def new_week_csv(spike_day: dt.date | None = SPIKE_DAY, factor: float = 1.6, seed: int = 9,
                 sd_log: float = 0.05, days: int = 7, **kw) -> bytes:
    spike = {spike_day.isoformat(): factor} if spike_day is not None else None
    return results_csv(NEW_START.isoformat(), days, seed=seed, spike=spike, sd_log=sd_log, **kw)
