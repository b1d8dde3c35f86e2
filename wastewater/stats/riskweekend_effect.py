"""Risk-weekend effect: event windows vs matched ordinary weekends of the same season.

Each event window (e.g. Valborg 2024, Fri–Sun) is compared with the same weekdays shifted by
±1…±``window_weeks`` weeks at the same site, leaving out shifted windows that touch any other
calendar event (risk, payday or long weekend) [Ort2014]_. Same-site, same-weekday comparisons
cancel the correction factor, most population error and the weekly cycle [Castiglioni2013]_.
Payday weekends are a confounder and are analysed as their own kind [SVTHalland2017]_.

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from wastewater.riskweekends import event_days
from wastewater.stats._series import json_safe, prepare_daily
from wastewater.stats._statespace import Problem, last_term_test
from wastewater.stats.effects import SeriesObs, method_change_days

__all__ = ["RiskWeekendEffect", "RiskWeekendModelResult", "pool_log_ratios", "riskweekend_effect",
           "riskweekend_model"]


@dataclass(frozen=True)
class RiskWeekendEffect:
    """Per-event and pooled results; relative changes are fractions (0.3 = 30 % higher)."""

    events: pd.DataFrame
    pooled: pd.DataFrame
    alpha: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        ev = self.events.copy()
        for col in ("start", "end"):
            ev[col] = ev[col].dt.strftime("%Y-%m-%d")
        out: dict[str, Any] = json_safe({"events": ev.to_dict("records"),
                                         "pooled": self.pooled.to_dict("records"),
                                         "alpha": self.alpha, "method": self.method})
        return out


def pool_log_ratios(log_ratio: np.ndarray, se_log: np.ndarray | None = None, *,
                    alpha: float = 0.05) -> dict[str, float]:
    """Pool per-event log ratios: mean with a Student-t CI, plus DerSimonian–Laird [DerSimonianLaird1986]_.

    Parameters
    ----------
    log_ratio : array of float
        Per-event natural-log ratios event/control [unitless].
    se_log : array of float, optional
        Per-event standard errors of ``log_ratio`` (for the random-effects estimate).
    alpha : float

    Returns
    -------
    dict
        ``n_events, relative_change, ci_low, ci_high, p_value`` (t-based, df = n − 1; the events
        are the replicates, so autocorrelation within a window does not matter), and
        ``relative_change_re, ci_low_re, ci_high_re, p_value_re, tau2`` (DerSimonian–Laird random
        effects with the Hartung–Knapp–Sidik–Jonkman CI; NaN without ``se_log``).

    Examples
    --------
    >>> r = pool_log_ratios(np.log([1.2, 1.4, 1.3]))
    >>> round(r["relative_change"], 4)   # geometric mean of 1.2, 1.4, 1.3 minus 1
    0.2974
    """
    x = np.asarray(log_ratio, dtype=float)
    ok = np.isfinite(x)
    x = x[ok]
    n = len(x)
    out: dict[str, float] = {"n_events": n}
    nan = float("nan")
    if n >= 2:
        m, s = x.mean(), x.std(ddof=1)
        se = s / np.sqrt(n)
        q = stats.t.ppf(1 - alpha / 2, n - 1)
        p = 2 * stats.t.sf(abs(m / se), n - 1) if se > 0 else nan
        out.update(relative_change=float(np.expm1(m)), ci_low=float(np.expm1(m - q * se)),
                   ci_high=float(np.expm1(m + q * se)), p_value=float(p))
    else:
        out.update(relative_change=float(np.expm1(x[0])) if n else nan, ci_low=nan,
                   ci_high=nan, p_value=nan)
    out.update(relative_change_re=nan, ci_low_re=nan, ci_high_re=nan, p_value_re=nan, tau2=nan)
    if se_log is not None and n >= 1:
        v = np.asarray(se_log, dtype=float)[ok] ** 2
        good = np.isfinite(v) & (v > 0)
        if good.sum() >= 1:
            xg, vg = x[good], v[good]
            w = 1 / vg
            fixed = np.sum(w * xg) / np.sum(w)
            qstat = np.sum(w * (xg - fixed) ** 2)
            c = np.sum(w) - np.sum(w**2) / np.sum(w)
            tau2 = max(0.0, (qstat - (len(xg) - 1)) / c) if len(xg) > 1 and c > 0 else 0.0
            wr = 1 / (vg + tau2)
            mu = np.sum(wr * xg) / np.sum(wr)
            k = len(xg)
            if k >= 2:
                # Hartung–Knapp–Sidik–Jonkman variance and t(k − 1) reference [HartungKnapp2001]_
                se_mu = np.sqrt(np.sum(wr * (xg - mu) ** 2) / ((k - 1) * np.sum(wr)))
                q = stats.t.ppf(1 - alpha / 2, k - 1)
                p_re = 2 * stats.t.sf(abs(mu / se_mu), k - 1) if se_mu > 0 else nan
            else:
                se_mu, q, p_re = np.sqrt(1 / np.sum(wr)), stats.norm.ppf(1 - alpha / 2), nan
            out.update(relative_change_re=float(np.expm1(mu)),
                       ci_low_re=float(np.expm1(mu - q * se_mu)),
                       ci_high_re=float(np.expm1(mu + q * se_mu)),
                       p_value_re=float(p_re), tau2=float(tau2))
    return out


def riskweekend_effect(series: pd.Series, calendar: pd.DataFrame, *,
                       censored: pd.Series | None = None,
                       kinds: Iterable[str] = ("risk_weekend",),
                       names: Iterable[str] | None = None, window_weeks: int = 6,
                       min_controls: int = 2, alpha: float = 0.05) -> RiskWeekendEffect:
    """Load in risk-weekend windows relative to matched ordinary weekends, per event and pooled.

    Parameters
    ----------
    series : pandas.Series
        Daily ``load_mg_per_day_per_1000`` of one site and analyte [mg day⁻¹ (1000 inh.)⁻¹].
    calendar : pandas.DataFrame
        Full calendar from :func:`wastewater.riskweekends.risk_weekends` (all kinds: days of
        every event are kept out of the controls).
    censored : pandas.Series of bool, optional
    kinds : iterable of str
        Kinds analysed (``"risk_weekend"``; run again with ``("payday_weekend",)`` for payday
        weekends, which are pooled separately).
    names : iterable of str, optional
        Restrict to these event names (e.g. ``["Valborg", "Midsommar"]``).
    window_weeks : int
        Controls are the same weekdays shifted by ±1…±``window_weeks`` weeks [weeks].
    min_controls : int
        Events with fewer valid control windows are reported with NaN ratio.
    alpha : float

    Returns
    -------
    RiskWeekendEffect
        ``events``: one row per event: ``event_id, name, kind, start, end, n_event_days,
        n_censored, n_controls, log_ratio, relative_change, se_log, ci_low, ci_high, p_value``.
        ``pooled``: one row per event name and one per kind (``group = "all <kind>"``) with the
        columns of :func:`pool_log_ratios`.

    Notes
    -----
    For event days ``D`` with a sample and each valid shift ``k`` (no day of ``D + 7k`` inside
    any calendar event), ``diff_k = mean_{d}(log y_d) − mean_{d}(log y_{d+7k})`` over the days
    ``d`` where both exist. The event's log ratio is ``mean_k diff_k``; its standard error
    ``sd_k(diff_k)·sqrt(1 + 1/m)`` treats the event window as one more draw from the control
    windows' distribution (prediction interval, t with m − 1 df). Pooled across years: the mean of
    per-event log ratios with a t CI (primary) and a DerSimonian–Laird random-effects estimate
    [DerSimonianLaird1986]_ with the Hartung–Knapp CI [HartungKnapp2001]_. Censored days enter at
    their substituted value (counted in ``n_censored``).
    """
    obs = prepare_daily(series, censored, composite_days=False)
    logy = obs["log_load"]
    cens = obs["censored"]
    all_days = set(event_days(calendar)["date"]) if len(calendar) else set()
    sel = calendar[calendar["kind"].isin(list(kinds))]
    if names is not None:
        sel = sel[sel["name"].isin(list(names))]
    shifts = [k for k in range(-window_weeks, window_weeks + 1) if k != 0]
    rows = []
    epoch = pd.Timestamp("1970-01-01")
    by_day = dict(zip(obs["t"].to_numpy().tolist(), logy.to_numpy().tolist()))
    busy = {(pd.Timestamp(d) - epoch).days for d in all_days}
    cens_days = set(obs["t"].to_numpy()[cens.to_numpy()].tolist())
    for ev in sel.itertuples(index=False):
        first = (pd.Timestamp(ev.start) - epoch).days
        days = list(range(first, (pd.Timestamp(ev.end) - epoch).days + 1))
        d_obs = [d for d in days if d in by_day]
        diffs, controls = [], []
        for k in shifts:
            if any(d + 7 * k in busy for d in days):
                continue
            common = [d for d in d_obs if d + 7 * k in by_day]
            if not common:
                continue
            ctl = np.mean([by_day[d + 7 * k] for d in common])
            evv = np.mean([by_day[d] for d in common])
            diffs.append(evv - ctl)
            controls.append(k)
        m = len(diffs)
        rec = {"event_id": ev.event_id, "name": ev.name, "kind": ev.kind,
               "start": pd.Timestamp(ev.start), "end": pd.Timestamp(ev.end),
               "n_event_days": len(d_obs), "n_censored": sum(d in cens_days for d in d_obs),
               "n_controls": m, "log_ratio": np.nan, "relative_change": np.nan, "se_log": np.nan,
               "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan}
        if m >= max(min_controls, 2):
            r = float(np.mean(diffs))
            se = float(np.std(diffs, ddof=1) * np.sqrt(1 + 1 / m))
            q = stats.t.ppf(1 - alpha / 2, m - 1)
            rec.update(log_ratio=r, relative_change=float(np.expm1(r)), se_log=se,
                       ci_low=float(np.expm1(r - q * se)), ci_high=float(np.expm1(r + q * se)),
                       p_value=float(2 * stats.t.sf(abs(r / se), m - 1)) if se > 0 else np.nan)
        rows.append(rec)
    cols = ["event_id", "name", "kind", "start", "end", "n_event_days", "n_censored", "n_controls",
            "log_ratio", "relative_change", "se_log", "ci_low", "ci_high", "p_value"]
    events = pd.DataFrame(rows, columns=cols)
    pooled_rows = []
    groups = [(n, g) for n, g in events.groupby("name", sort=False)]
    groups += [(f"all {k}", g) for k, g in events.groupby("kind", sort=False)]
    for label, g in groups:
        res = pool_log_ratios(g["log_ratio"].to_numpy(), g["se_log"].to_numpy(), alpha=alpha)
        pooled_rows.append({"group": label, "kind": g["kind"].iloc[0], **res})
    pooled = pd.DataFrame(pooled_rows)
    method = (f"event windows vs the same weekdays ±1–{window_weeks} weeks at the same site, "
              "excluding shifted windows touching any calendar event; per-event log ratio with a "
              "prediction-type t CI; pooled: mean of per-event log ratios, t CI (df = events − 1), "
              "and DerSimonian–Laird random effects with HKSJ CI")
    return RiskWeekendEffect(events=events, pooled=pooled, alpha=alpha, method=method)


#: Harmonics of the annual cycle in :func:`riskweekend_model` (sin and cos of 2πkt/365.25).
SEASON_HARMONICS = 2


@dataclass(frozen=True)
class RiskWeekendModelResult:
    """Result of :func:`riskweekend_model`; ``relative_change`` is a fraction (0.3 = 30 % higher)."""

    name: str
    relative_change: float
    ci_low: float
    ci_high: float
    p_value: float
    df: float
    n_event_days: int
    n_events: int
    n_days: int
    n_censored: int
    phi: float
    noise_share: float
    alpha: float
    other_terms: tuple[str, ...]
    method: str

    @property
    def significant(self) -> bool:
        return bool(self.p_value < self.alpha)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = json_safe(asdict(self))
        return out


def riskweekend_model(series: pd.Series, calendar: pd.DataFrame, name: str, *,
                      censored: pd.Series | None = None,
                      method_changes: Iterable[Any] | None = None,
                      alpha: float = 0.05) -> RiskWeekendModelResult:
    """Change in load on every day of one named risk weekend (all years) in one model.

    One regression over the whole daily series, with the operation test's error model (AR(1)
    use variation plus measurement noise, Kalman-filter GLS, REML, Kackar–Harville variance and
    Satterthwaite df; :mod:`wastewater.stats._statespace`) [Harvey1989]_ [KackarHarville1984]_:

    ``log L_t = b0 + Σ_d b_d·weekday_d + Σ_k (s_k sin + c_k cos)(2πkt/365.25)
    + Σ_e g_e·[t in other event e] + Σ_m c_m·[t ≥ method change m] + β·[t in a <name> window]
    + u_t + ε_t``.

    Every other calendar event gets its own indicator (other risk weekends by name; payday
    weekends and long weekends each as their own kind [SVTHalland2017]_), so they neither
    inflate the baseline nor count as the named weekend; days of the named weekend that are
    also in another event count for the named weekend. All years' windows share ``β``, so
    three years of Valborg are 8 event days against ~1 000 baseline days rather than three
    pooled ratios with 2 df.

    Parameters
    ----------
    series : pandas.Series
        Daily ``load_mg_per_day_per_1000`` of one site and analyte [mg day⁻¹ (1000 inh.)⁻¹].
    calendar : pandas.DataFrame
        From :func:`wastewater.riskweekends.risk_weekends` covering the series' years.
    name : str
        The event name (e.g. ``"Valborg"``).
    censored : pandas.Series of bool, optional
        Censored days (substituted values): refitted at their conditional mean below the LOQ
        given the other days, the noise parameters estimated without and then with them, as in
        :func:`wastewater.stats.effects.operation_effect`.
    method_changes : iterable of date-like, optional
        First days of a new laboratory method: a level shift each.
    alpha : float

    Returns
    -------
    RiskWeekendModelResult
        ``relative_change = exp(β) − 1`` with the t CI and two-sided p-value.
    """
    so = SeriesObs.from_series(series, censored, composite_days=False)
    t = so.t
    epoch = pd.Timestamp("1970-01-01")
    days = event_days(calendar) if len(calendar) else pd.DataFrame(columns=["date", "kind", "name"])
    day_no = (pd.DatetimeIndex(days["date"]) - epoch).days.to_numpy()
    target = np.isin(t, day_no[(days["name"] == name).to_numpy()])
    if not target.any():
        raise ValueError(f"no sample on a {name!r} day of the calendar (names: "
                         f"{sorted(set(days['name']))})")
    cols = [np.ones(len(t))] + [so.shares[:, j] for j in range(1, 7)]
    terms = []
    yr = 2 * np.pi * t / 365.25
    for k in range(1, SEASON_HARMONICS + 1):
        cols += [np.sin(k * yr), np.cos(k * yr)]
    groups = days.assign(group=np.where(days["kind"] == "risk_weekend", days["name"], days["kind"]))
    for label, g in groups.groupby("group", sort=True):
        if label == name:
            continue
        col = np.isin(t, (pd.DatetimeIndex(g["date"]) - epoch).days.to_numpy()) & ~target
        if col.any():
            cols.append(col.astype(float))
            terms.append(str(label))
    for d in method_change_days(method_changes):
        col = t >= d
        if 0 < col.sum() < len(t):
            cols.append(col.astype(float))
            terms.append(f"method change {np.datetime64(int(d), 'D')}")
    cols.append(target.astype(float))
    X = np.column_stack(cols)
    cens = so.cens
    est = ~cens if cens.any() else None
    upper = np.where(cens, so.y + np.log(2.0), np.nan) if cens.any() else None
    tested = last_term_test(Problem(so.y, X, t, est, None, upper=upper), alpha)
    b, se, df, q, p, fit = tested.estimate, tested.se, tested.df, tested.q, tested.p_value, tested.fit
    named = (days["name"] == name).to_numpy()  # events of the name with a sample on one of their days
    n_events = len(set(days["event_id"].to_numpy()[named][np.isin(day_no[named], t)].tolist()))
    method = ("one GLS regression over the whole daily series with AR(1) + measurement-noise "
              "errors (Kalman filter, REML, Kackar–Harville, Satterthwaite df): weekday, "
              f"{SEASON_HARMONICS} annual harmonics, an indicator per other calendar event "
              "(risk weekends by name, payday and long weekends by kind), marked method changes, "
              f"and one indicator for every {name} day; relative change = exp(beta) − 1")
    with np.errstate(over="ignore"):  # a CI on a few df can reach +inf
        rel, lo, hi = float(np.expm1(b)), float(np.expm1(b - q * se)), float(np.expm1(b + q * se))
    return RiskWeekendModelResult(
        name=name, relative_change=rel, ci_low=lo, ci_high=hi, p_value=p, df=df, n_event_days=int(target.sum()),
        n_events=n_events, n_days=len(t), n_censored=int(cens.sum()), phi=float(fit.phi[0]),
        noise_share=float(fit.lam[0]), alpha=alpha, other_terms=tuple(terms), method=method)
