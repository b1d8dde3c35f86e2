"""Flag suspected direct disposal ("dumping") of drugs during a police operation window.

A spike during an operation may be disposal rather than use: large amounts were flushed during
announced raids in Malmö (Operation Rimfrost 2020), and racemic MDMA spikes in Utrecht 2011 and
Bilbao 2020 were linked to police action [Emke2014]_ [EstevezDanta2022]_. Parent/metabolite ratios (cocaine/
benzoylecgonine) test whether loads match human excretion [vanNuijs2011b]_: dumped parent drug raises the
ratio, consumption does not.

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from wastewater.stats._series import DateLike, json_safe, prepare_daily, require

__all__ = ["DUMPING_BASELINES_DAYS", "MAD_TO_SD", "DumpingResult", "flag_dumping", "suspected_dumping_days"]

#: Consistency factor of the MAD for a normal distribution, 1/Φ⁻¹(0.75) [RousseeuwCroux1993]_.
MAD_TO_SD = float(1.0 / stats.norm.ppf(0.75))


@dataclass(frozen=True)
class DumpingResult:
    """Per-day dumping flags in an operation window."""

    days: pd.DataFrame
    excluded_dates: tuple[str, ...]
    n_flagged: int
    z_threshold: float
    false_alarm_rate_per_day: float
    method: str

    @property
    def any_flagged(self) -> bool:
        return self.n_flagged > 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["days"] = json_safe(self.days.reset_index().to_dict("records"))
        out: dict[str, Any] = json_safe(d)
        return out


def _robust_scale(x: np.ndarray) -> float:
    med = np.median(x)
    return float(MAD_TO_SD * np.median(np.abs(x - med)))


def flag_dumping(series: pd.Series, *, event_start: DateLike, event_end: DateLike, before_days: int = 56,
                 censored: pd.Series | None = None, parent: pd.Series | None = None,
                 metabolite: pd.Series | None = None, parent_name: str = "parent",
                 metabolite_name: str = "metabolite", extra_days_after: int = 0,
                 false_alarm_rate_per_day: float = 0.001) -> DumpingResult:
    """Flag days in an operation window whose load or parent/metabolite ratio is abnormally high.

    Parameters
    ----------
    series : pandas.Series
        Daily ``load_mg_per_day_per_1000`` of the analyte tested (e.g. ``mdma``, ``cocaine``)
        [mg day⁻¹ (1000 inh.)⁻¹].
    event_start, event_end : date-like
        Operation window (inclusive).
    before_days : int
        Baseline period before ``event_start`` [days].
    censored : pandas.Series of bool, optional
        Censored days of ``series`` are never flagged (a value below LOQ is not a spike).
    parent, metabolite : pandas.Series, optional
        Daily loads of the parent drug and its human metabolite (e.g. ``cocaine`` and
        ``benzoylecgonine``) [mg day⁻¹ (1000 inh.)⁻¹]; both needed for the ratio check.
    parent_name, metabolite_name : str
        Names used in the reason text.
    extra_days_after : int
        Also check this many days after ``event_end`` (flushing right after a raid) [days].
    false_alarm_rate_per_day : float
        One-sided probability that an ordinary day is flagged by one check, under a normal
        model of the weekday-adjusted log load [fraction]; threshold z = Φ⁻¹(1 − rate).

    Returns
    -------
    DumpingResult
        ``days``: DataFrame indexed by date with ``load, expected_load, z_load, ratio,
        z_ratio, flagged, reason``; ``excluded_dates``: flagged dates as ISO strings, to pass
        to :func:`wastewater.stats.effects.operation_effect` (``exclude_dates``).

    Notes
    -----
    Load check: baseline = median log load of the same weekday in the before period (overall
    median for weekdays with fewer than 2 baseline days); scale = MAD × 1.4826 of the
    weekday-adjusted baseline residuals [RousseeuwCroux1993]_; ``z_load = (log load − baseline)/scale``.
    Ratio check: ``z_ratio`` of ``log(parent/metabolite)`` against the before-period median and
    MAD. A day is flagged when either z exceeds the threshold. Robust statistics keep an earlier
    spike in the baseline from hiding a new one. The per-day false-alarm rate is nominal: the
    scale is estimated from ~50 days and the noise is autocorrelated, so treat flags as
    "check with the lab" (enantiomeric profiling for MDMA [Emke2014]_ [EstevezDanta2022]_), not proof.
    """
    start = pd.Timestamp(event_start).normalize()
    end = pd.Timestamp(event_end).normalize()
    check_end = end + pd.Timedelta(days=extra_days_after)
    base_start = start - pd.Timedelta(days=before_days)
    z_thr = float(stats.norm.isf(false_alarm_rate_per_day))

    if isinstance(series, pd.Series) and isinstance(series.index, pd.DatetimeIndex) \
            and series.index.tz is None:
        series = series[(series.index >= base_start) & (series.index <= check_end)]
    obs = prepare_daily(series, censored, composite_days=False)
    base = obs[(obs.index >= base_start) & (obs.index < start) & ~obs["censored"]]
    require(len(base), 14, f"dumping baseline {base_start.date()}–{start.date()}")
    overall = float(base["log_load"].median())
    by_dow = base.groupby(base.index.day_of_week)["log_load"].agg(["median", "count"])
    dow_med = {d: (r["median"] if r["count"] >= 2 else overall) for d, r in by_dow.iterrows()}
    resid = base["log_load"].to_numpy() - np.array([dow_med.get(d, overall)
                                                    for d in base.index.day_of_week])
    scale = _robust_scale(resid)
    win = obs[(obs.index >= start) & (obs.index <= check_end)]
    expected = np.array([dow_med.get(d, overall) for d in win.index.day_of_week])
    z_load = np.where(win["censored"], np.nan,
                      (win["log_load"].to_numpy() - expected) / scale if scale > 0 else np.nan)
    days = pd.DataFrame({"load": win["load"], "expected_load": np.exp(expected), "z_load": z_load},
                        index=win.index.rename("date"))
    days["ratio"] = np.nan
    days["z_ratio"] = np.nan
    method = (f"load: same-weekday median of {before_days} days before, MAD scale; "
              f"flag if z > {z_thr:.2f} (one-sided {false_alarm_rate_per_day:g} per day per check)")
    if parent is not None and metabolite is not None:
        parent = parent[(parent.index >= base_start) & (parent.index <= check_end)]
        metabolite = metabolite[(metabolite.index >= base_start) & (metabolite.index <= check_end)]
        p = prepare_daily(parent, composite_days=False, name="parent")
        m = prepare_daily(metabolite, composite_days=False,
                          name="metabolite")
        log_ratio = (p["log_load"] - m["log_load"]).dropna()
        rb = log_ratio[(log_ratio.index >= base_start) & (log_ratio.index < start)]
        require(len(rb), 14, f"{parent_name}/{metabolite_name} baseline")
        r_scale = _robust_scale(rb.to_numpy())
        r_med = float(rb.median())
        rw = log_ratio.reindex(days.index)
        days["ratio"] = np.exp(rw)
        days["z_ratio"] = (rw - r_med) / r_scale if r_scale > 0 else np.nan
        method += f"; {parent_name}/{metabolite_name} ratio vs baseline median and MAD"
    reasons = []
    for rec in days.itertuples():
        why = []
        if np.isfinite(rec.z_load) and rec.z_load > z_thr:
            why.append(f"load {rec.load / rec.expected_load:.1f}× the same-weekday baseline "
                       f"(z = {rec.z_load:.1f})")
        if np.isfinite(rec.z_ratio) and rec.z_ratio > z_thr:
            why.append(f"{parent_name}/{metabolite_name} ratio {rec.ratio:.2f} abnormally high "
                       f"(z = {rec.z_ratio:.1f})")
        reasons.append("; ".join(why))
    days["reason"] = reasons
    days["flagged"] = days["reason"] != ""
    flagged = tuple(d.date().isoformat() for d in days.index[days["flagged"]])
    return DumpingResult(days=days, excluded_dates=flagged, n_flagged=len(flagged),
                         z_threshold=z_thr, false_alarm_rate_per_day=false_alarm_rate_per_day,
                         method=method)


#: Baseline lengths tried in turn by :func:`suspected_dumping_days` [days]: the 8 weeks of
#: :func:`flag_dumping`, then half a year for a site sampled too sparsely for 14 baseline days
#: in 8 weeks (e.g. once a week, with a week of daily sampling around an operation).
DUMPING_BASELINES_DAYS = (56, 182)


def suspected_dumping_days(series: pd.Series, operations: Any, *, days_after: int,
                           censored: pd.Series | None = None, parent: pd.Series | None = None,
                           metabolite: pd.Series | None = None, parent_name: str = "parent",
                           metabolite_name: str = "metabolite",
                           false_alarm_rate_per_day: float = 0.001) -> pd.DataFrame:
    """Days to keep out of headline figures (tertial changes, summaries) as suspected dumping.

    The rule: a day during a police operation at the site, or up to ``days_after`` days after
    it, that :func:`flag_dumping` flags — its load far above the site's same-weekday level before
    the operation, or the parent/metabolite ratio far above its usual value (one-sided
    ``false_alarm_rate_per_day`` per check, weekday-adjusted median and MAD scale
    [RousseeuwCroux1993]_; ratio [vanNuijs2011b]_). Drugs flushed during a raid give exactly
    such days [Emke2014]_ [EstevezDanta2022]_; a mean or a change over them reports the raid,
    not use. The baseline is the 8 weeks before the operation, or half a year when 8 weeks hold
    fewer than 14 sample days (:data:`DUMPING_BASELINES_DAYS`); the ratio check is dropped when
    the pair has too short a baseline, and an operation with neither baseline flags nothing.

    Parameters
    ----------
    series : pandas.Series
        Daily load of the analyte tested (the parent drug for a metabolite) [mg day⁻¹ (1000 inh.)⁻¹].
    operations : iterable of mapping
        ``event_id, start, end`` of the police operations at the site (inclusive dates).
    days_after : int
        Days after an operation's end still checked [days] (the alerts' window,
        :data:`wastewater.alerts.DUMPING_DAYS_AFTER`).
    censored, parent, metabolite, parent_name, metabolite_name, false_alarm_rate_per_day
        As for :func:`flag_dumping`.

    Returns
    -------
    pandas.DataFrame
        ``date`` (datetime64), ``event_id``, ``reason``; one row per flagged day (the first
        operation that flags it), sorted by date.

    Examples
    --------
    >>> days = pd.date_range("2025-01-01", "2025-03-31")
    >>> load = pd.Series(30.0 * (1 + 0.05 * np.sin(np.arange(len(days)))), days)
    >>> load["2025-03-11"] *= 6
    >>> out = suspected_dumping_days(load, [{"event_id": "EV-1", "start": "2025-03-10",
    ...                                      "end": "2025-03-10"}], days_after=3)
    >>> out["date"].dt.strftime("%Y-%m-%d").tolist(), out["event_id"].tolist()
    (['2025-03-11'], ['EV-1'])
    """
    from wastewater.stats._series import InsufficientDataError

    ratio = ({"parent": parent, "metabolite": metabolite, "parent_name": parent_name,
              "metabolite_name": metabolite_name} if parent is not None and metabolite is not None else None)
    rows: dict[pd.Timestamp, tuple[str, str]] = {}
    for op in operations:
        result = None
        for before in DUMPING_BASELINES_DAYS:
            for kwargs in ([ratio] if ratio else []) + [{}]:
                try:
                    result = flag_dumping(series, event_start=op["start"], event_end=op["end"],
                                          before_days=before, censored=censored,
                                          extra_days_after=days_after,
                                          false_alarm_rate_per_day=false_alarm_rate_per_day, **kwargs)
                    break
                except (InsufficientDataError, ValueError):
                    continue
            if result is not None:
                break
        if result is None:
            continue
        flagged = result.days[result.days["flagged"]]
        for day, reason in zip(flagged.index, flagged["reason"], strict=True):
            rows.setdefault(pd.Timestamp(day), (str(op["event_id"]), str(reason)))
    out = pd.DataFrame({"date": pd.DatetimeIndex(sorted(rows)),
                        "event_id": [rows[d][0] for d in sorted(rows)],
                        "reason": [rows[d][1] for d in sorted(rows)]})
    return out
