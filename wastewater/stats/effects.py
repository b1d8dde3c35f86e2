"""Change in load around a police operation or other event (interrupted time series on log load).

Model (segmented regression / interrupted time series [Gilmour2006]_ on the log scale):

``log L_t = b0 + Σ_d b_d·weekday_d + b_T·t + b_D·during_t + b_A·after_t + e_t``

with AR(1) errors ``e_t = phi·e_{t−1} + u_t`` fitted by GLS (``method="ar1"``, default) or OLS
with Newey–West HAC errors (``method="hac"``). The relative change is ``exp(b) − 1``
(multiplicative, adjusted for weekday and linear trend).

Why AR(1)-GLS by default: daily wastewater loads are autocorrelated (day-to-day carry-over of
sewer and population); the plain t-test and, in samples of ~100 days, HAC standard errors are
anti-conservative. The simulation benchmark (benchmarks/reports/bench_stats.md) and
tests/test_stats_simulation.py check the false-positive rate of each method at α = 0.05.

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from wastewater.stats._regression import ENGINES
from wastewater.stats._series import json_safe, prepare_daily, require
from wastewater.wording import effect_sentence, excluded_sentence

__all__ = ["CENSORED_SENSITIVITY_FACTORS", "EffectResult", "operation_effect"]

#: Multipliers applied to the substituted value of censored days in the sensitivity refits:
#: ×2 turns LOQ/2 into LOQ (upper bound), ×0.2 turns LOQ/2 into LOQ/10 (near-zero lower bound).
CENSORED_SENSITIVITY_FACTORS = (0.2, 2.0)

#: Share of censored observations above which the result is flagged as censoring-sensitive
#: regardless of the refits (a rule of thumb: beyond ~15 % substitution bias becomes material,
#: [Helsel2012]_).
CENSORED_SHARE_WARNING = 0.15


@dataclass(frozen=True)
class EffectResult:
    """Result of :func:`operation_effect`; relative changes are fractions (−0.18 = 18 % lower)."""

    relative_change_after: float
    ci_low_after: float
    ci_high_after: float
    p_value_after: float
    relative_change_during: float
    ci_low_during: float
    ci_high_during: float
    p_value_during: float
    naive_relative_change_after: float
    naive_p_value_after: float
    n_before: int
    n_during: int
    n_after: int
    n_censored: int
    n_missing_days: int
    n_composites_collapsed: int
    n_excluded: int
    excluded_dates: tuple[str, ...]
    exclusion_reason: str | None
    censoring_sensitive: bool
    relative_change_after_censoring_range: tuple[float, float]
    phi: float
    alpha: float
    method: str
    event_start: str
    event_end: str
    sentence_sv: str
    sentence_en: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def significant_after(self) -> bool:
        return bool(self.p_value_after < self.alpha)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN → None, dates as ISO strings)."""
        return json_safe(asdict(self))


def _design(index: pd.DatetimeIndex, t: np.ndarray, shares: np.ndarray,
            event_start: pd.Timestamp, event_end: pd.Timestamp, trend: bool = True):
    """Design matrix ``[const, weekday shares (first present weekday = reference), trend,
    during, after]`` and its column names.
    """
    during = ((index >= event_start) & (index <= event_end)).astype(float)
    after = (index > event_end).astype(float)
    cols = [np.ones(len(index))]
    names = ["const"]
    present = [j for j in range(7) if shares[:, j].sum() > 0]
    for j in present[1:]:
        cols.append(shares[:, j])
        names.append(f"weekday_{j}")
    if trend:
        cols.append((t - t.mean()) / 365.25)
        names.append("trend_per_year")
    if during.sum() > 0:
        cols.append(during)
        names.append("during")
    cols.append(after)
    names.append("after")
    X = np.column_stack(cols)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ValueError("design matrix is rank-deficient (too few distinct weekdays/days); "
                         "fix: widen before_days/after_days")
    return X, names


def _welch_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Welch t-test p-value [Welch1947]_."""
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se2 = va + vb
    if se2 <= 0:
        return float("nan")
    df = se2**2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return float(2 * stats.t.sf(abs(a.mean() - b.mean()) / np.sqrt(se2), df))


def operation_effect(series: pd.Series, *, censored: pd.Series | None = None,
                     event_start, event_end, before_days: int = 56, after_days: int = 56,
                     method: str = "ar1", alpha: float = 0.05,
                     exclude_dates: Iterable | None = None, exclusion_reason: str | None = None,
                     composite_days: pd.Series | None = None, trend: bool = True) -> EffectResult:
    """Relative change in load after (and during) an event, with a 95 % CI and p-value.

    Parameters
    ----------
    series : pandas.Series
        Daily ``load_mg_per_day_per_1000`` (DatetimeIndex; NaN = no sample)
        [mg day⁻¹ (1000 inh.)⁻¹]. Censored days hold their substituted value (e.g. LOQ/2).
    censored : pandas.Series of bool, optional
        True on days below LOQ/LOD.
    event_start, event_end : date-like
        First and last day of the operation (inclusive).
    before_days, after_days : int
        Length of the comparison periods before ``event_start`` and after ``event_end`` [days].
    method : {"ar1", "hac", "ols"}
        ``ar1``: GLS with AR(1) errors, phi by REML, gaps handled exactly, Student-t with
        n − k − 1 df (default; keeps the nominal false-positive rate in simulation).
        ``hac``: OLS + Newey–West HAC (anti-conservative for ~100 days; for comparison).
        ``ols``: iid OLS (ignores autocorrelation; for comparison).
    alpha : float
        Test level; CIs are ``1 − alpha`` [fraction].
    exclude_dates : iterable of date-like, optional
        Days left out of the model, e.g. suspected dumping days from
        :func:`wastewater.stats.dumping.flag_dumping` (``result.excluded_dates``).
    exclusion_reason : str, optional
        Said in the result when days were excluded (e.g. "suspected dumping").
    composite_days : pandas.Series of int, optional
        Days covered by each composite (3 for 72 h); see
        :func:`wastewater.stats._series.prepare_daily` for automatic detection.
    trend : bool
        Include the linear trend (default). Dropping it roughly halves the standard error of
        the after-effect with 8 + 8 weeks, but then any drift over the window is attributed to
        the event; only use it when a long, flat history supports that. In simulation
        (phi 0.5, 8 + 8 weeks) its 95 % CI covered ~90 % instead of 95 % (small-sample
        underestimate of phi), so treat borderline results with care.

    Returns
    -------
    EffectResult
        ``relative_change_after = exp(b_A) − 1`` with CI ``exp(b_A ± t·se) − 1`` and two-sided
        p-value; the same for ``during`` (NaN if no observation falls in the event); the naive
        ``mean(after)/mean(before) − 1`` with Welch's t-test p-value [Welch1947]_ (ignores weekday,
        trend and autocorrelation: shown so users see why it differs); counts, censoring
        sensitivity, method text and plain-language sentences in Swedish and English.

    Raises
    ------
    InsufficientDataError
        Fewer than 7 observations before or after the event.

    Notes
    -----
    Censored values: the substituted value enters the log model as if measured, but the AR(1)
    coefficient is estimated from the uncensored days only (substitutes are log-scale outliers
    that bias it towards 0 and shrink the standard errors). Two refits
    multiply the substituted values by :data:`CENSORED_SENSITIVITY_FACTORS` (LOQ/10 and LOQ
    when LOQ/2 was substituted); ``censoring_sensitive`` is True when the significance or the
    sign of the after-effect differs between them, or when more than
    :data:`CENSORED_SHARE_WARNING` of the observations are censored. A spike during the event
    may be dumping rather than use [Emke2014]_ [EstevezDanta2022]_; check with ``flag_dumping`` first.
    """
    if method not in ENGINES:
        raise ValueError(f"method={method!r}; choose one of {sorted(ENGINES)}")
    start = pd.Timestamp(event_start).normalize()
    end = pd.Timestamp(event_end).normalize()
    if end < start:
        raise ValueError(f"event_end {end.date()} is before event_start {start.date()}")
    lo_date = start - pd.Timedelta(days=before_days)
    hi_date = end + pd.Timedelta(days=after_days)
    if isinstance(series, pd.Series) and isinstance(series.index, pd.DatetimeIndex) \
            and series.index.tz is None:  # cheap pre-slice; prepare_daily validates the rest
        series = series[(series.index >= lo_date) & (series.index <= hi_date)]
    full = prepare_daily(series, censored, exclude_dates=exclude_dates,
                         composite_days=composite_days)
    n_excluded = 0
    excluded: tuple[str, ...] = ()
    if exclude_dates is not None:
        ex = pd.DatetimeIndex(pd.to_datetime(list(exclude_dates))).normalize()
        ex = ex[(ex >= lo_date) & (ex <= hi_date)]
        excluded = tuple(d.date().isoformat() for d in ex.sort_values())
        n_excluded = len(excluded)
    obs = full[(full.index >= lo_date) & (full.index <= hi_date)]
    n_before = int((obs.index < start).sum())
    n_during = int(((obs.index >= start) & (obs.index <= end)).sum())
    n_after = int((obs.index > end).sum())
    require(n_before, 7, f"before period {lo_date.date()}–{(start - pd.Timedelta(days=1)).date()}")
    require(n_after, 7, f"after period {(end + pd.Timedelta(days=1)).date()}–{hi_date.date()}")
    window_days = (hi_date - lo_date).days + 1
    covered = int(obs["days"].sum())
    n_missing = window_days - covered - n_excluded

    t_obs = obs["t"].to_numpy().astype(float)
    y = obs["log_load"].to_numpy()
    X, names = _design(obs.index, t_obs, obs[[f"weekday_share_{j}" for j in range(7)]].to_numpy(),
                       start, end, trend)
    engine = ENGINES[method]
    cens_mask = obs["censored"].to_numpy()
    uncensored = ~cens_mask if cens_mask.any() else None
    fit = engine(y, X, t_obs, uncensored)
    ja = names.index("after")
    b_a = fit.params[ja]
    lo_a, hi_a, p_a = fit.t_interval(ja, alpha)
    if "during" in names:
        jd = names.index("during")
        lo_d, hi_d, p_d = fit.t_interval(jd, alpha)
        rc_d, lo_d, hi_d = np.expm1(fit.params[jd]), np.expm1(lo_d), np.expm1(hi_d)
    else:
        rc_d = lo_d = hi_d = p_d = np.nan

    # censoring sensitivity
    n_cens = int(cens_mask.sum())
    sens_range = (float(np.expm1(b_a)), float(np.expm1(b_a)))
    sensitive = False
    if n_cens:
        changes, sigs = [float(np.expm1(b_a))], [p_a < alpha]
        for factor in CENSORED_SENSITIVITY_FACTORS:
            f2 = engine(y + np.log(factor) * cens_mask, X, t_obs, uncensored)
            changes.append(float(np.expm1(f2.params[ja])))
            sigs.append(f2.t_interval(ja, alpha)[2] < alpha)
        sens_range = (min(changes), max(changes))
        sensitive = (len(set(sigs)) > 1 or len({np.sign(c) for c in changes}) > 1
                     or n_cens / len(obs) > CENSORED_SHARE_WARNING)

    loads = obs["load"].to_numpy()
    before_loads = loads[obs.index < start]
    after_loads = loads[obs.index > end]
    naive = float(after_loads.mean() / before_loads.mean() - 1)
    naive_p = _welch_p(after_loads, before_loads)

    short = {"ar1": "AR(1)-regression", "hac": "HAC-regression", "ols": "OLS"}[method]
    sv, en = (effect_sentence(lang, float(np.expm1(b_a)), float(np.expm1(lo_a)), float(np.expm1(hi_a)),
                              float(p_a), alpha, n_before, n_after, short, sensitive=bool(sensitive),
                              trend=trend) for lang in ("sv", "en"))
    notes = []
    if n_excluded:
        why = exclusion_reason or "user-excluded"
        notes.append(f"{n_excluded} day(s) excluded from the estimate ({why}): "
                     + ", ".join(excluded))
        sv += excluded_sentence("sv", n_excluded, why)
        en += excluded_sentence("en", n_excluded, why)
    if (obs["days"] > 1).any():
        notes.append(f"{int((obs['days'] > 1).sum())} multi-day composite(s) counted once each")
    if n_cens:
        notes.append(f"{n_cens} censored value(s) used at their substituted value; after-effect "
                     f"ranges {sens_range[0]:+.1%} to {sens_range[1]:+.1%} under the sensitivity "
                     "refits (×0.2 and ×2 on substituted values)")
    terms = "intercept + weekday + linear trend" if trend else "intercept + weekday (no trend)"
    method_text = (f"{fit.method}; log(load) ~ {terms} + during + after; "
                   f"relative change = exp(beta) − 1; estimated lag-1 autocorrelation {fit.phi:.2f}")
    return EffectResult(
        relative_change_after=float(np.expm1(b_a)), ci_low_after=float(np.expm1(lo_a)),
        ci_high_after=float(np.expm1(hi_a)), p_value_after=float(p_a),
        relative_change_during=float(rc_d), ci_low_during=float(lo_d), ci_high_during=float(hi_d),
        p_value_during=float(p_d), naive_relative_change_after=naive, naive_p_value_after=naive_p,
        n_before=n_before, n_during=n_during, n_after=n_after, n_censored=n_cens,
        n_missing_days=int(n_missing), n_composites_collapsed=int((obs["days"] > 1).sum()),
        n_excluded=n_excluded, excluded_dates=excluded, exclusion_reason=exclusion_reason,
        censoring_sensitive=bool(sensitive),
        relative_change_after_censoring_range=sens_range, phi=float(fit.phi), alpha=alpha,
        method=method_text, event_start=start.date().isoformat(),
        event_end=end.date().isoformat(), sentence_sv=sv, sentence_en=en, notes=tuple(notes))
