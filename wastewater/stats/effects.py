"""Change in load around a police operation or other event (interrupted time series on log load).

Model (segmented regression / interrupted time series [Gilmour2006]_ on the log scale):

``log L_t = b0 + Σ_d b_d·weekday_d [+ b_T·t] + Σ_m c_m·[t ≥ method change m] + b_D·during_t
+ b_A·after_t + u_t + ε_t``

with AR(1) day-to-day variation ``u_t`` plus independent measurement error ``ε_t`` (an
ARMA(1,1) on the daily grid; :mod:`wastewater.stats._statespace`), fitted by GLS through the
Kalman filter. The relative change is ``exp(b) − 1`` (multiplicative, adjusted for weekday).

Defaults and why: the baseline (level, weekday profile, noise) comes from up to ~2 years of
history before the event (``before_days=730``), 8 weeks after; no linear trend unless asked (a
trend fitted on the same window takes most of the power of a step). The error model holds the
5 % false-positive rate with 5–20 % analytical CV where a pure AR(1) model did not (simulation:
benchmarks/reports/bench_stats.md, tests/test_stats_simulation.py). Marked method changes
(events of kind ``method_change`` or a change in the results' ``method`` column) get their own
level shift. When nothing can be estimated, :class:`NotEstimableError` carries a reason code.

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from scipy import special

from wastewater.stats._kalman import layout
from wastewater.stats._regression import ENGINES, InsufficientDataError
from wastewater.stats._series import DateLike, json_safe, prepare_arrays, prepare_many
from wastewater.stats._statespace import BatchFit, Problem, Ragged, Workspace, fit_batch, fit_ragged
from wastewater.wording import (
    METHOD_NAMES,
    effect_sentence,
    excluded_sentence,
    method_change_sentence,
    not_estimable_sentence,
)

__all__ = ["CENSORED_SENSITIVITY_FACTORS", "EffectResult", "NotEstimableError", "SeriesObs",
           "operation_effect", "operation_effects_batch"]

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
    noise_share: float = float("nan")
    sd_log_total: float = float("nan")
    df_resid: float = float("nan")
    n_history_days: int = 0
    minimum_detectable_drop_after: float = float("nan")
    method_changes: tuple[str, ...] = ()

    @property
    def significant_after(self) -> bool:
        return bool(self.p_value_after < self.alpha)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN → None, dates as ISO strings)."""
        out: dict[str, Any] = json_safe(asdict(self))
        return out




def _welch_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Welch t-test p-value [Welch1947]_."""
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se2 = va + vb
    if se2 <= 0:
        return float("nan")
    df = se2**2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return float(2 * special.stdtr(df, -abs(a.mean() - b.mean()) / np.sqrt(se2)))




#: Default length of the history before the event used for the baseline [days] (~2 years).
DEFAULT_BEFORE_DAYS = 730
#: Default length of the period after the event [days] (8 weeks).
DEFAULT_AFTER_DAYS = 56
#: Minimum number of observations before and after the event.
MIN_OBS_PER_PERIOD = 7
#: Share of censored values in the before or after period above which no effect is estimated.
MAX_CENSORED_SHARE = 0.75
#: Power used for the minimum detectable change [fraction].
MDE_POWER = 0.8


class NotEstimableError(InsufficientDataError):
    """No effect can be estimated; ``code`` is a stable reason code, sentences say why."""

    def __init__(self, code: str, sentence_en: str, sentence_sv: str):
        super().__init__(f"{code}: {sentence_en}")
        self.code = code
        self.sentence_en = sentence_en
        self.sentence_sv = sentence_sv

    @classmethod
    def of(cls, code: str, *, period: str | None = None, **fields: object) -> NotEstimableError:
        """The error for reason ``code`` with its sentences from :data:`wastewater.wording.NOT_ESTIMABLE`."""
        return cls(code, not_estimable_sentence("en", code, period=period, **fields),
                   not_estimable_sentence("sv", code, period=period, **fields))


@dataclass(frozen=True)
class SeriesObs:
    """One prepared series (output of :func:`prepare_daily`) as plain arrays, for slicing."""

    t: np.ndarray        # first day of each observation [days since 1970-01-01]
    y: np.ndarray        # log load
    load: np.ndarray
    cens: np.ndarray
    days: np.ndarray
    shares: np.ndarray   # (n, 7) weekday shares
    dow: np.ndarray      # weekday of the first day
    n_excluded_by_day: np.ndarray  # excluded day numbers (sorted)

    @classmethod
    def from_series(cls, series: pd.Series, censored: pd.Series | None = None, *,
                    exclude_dates: Iterable[DateLike] | None = None,
                    composite_days: pd.Series | bool | None = None) -> SeriesObs:
        arr = prepare_arrays(series, censored, exclude_dates=exclude_dates,
                             composite_days=composite_days)
        ex = np.zeros(0, dtype=np.int64)
        if exclude_dates is not None:
            exd = pd.DatetimeIndex(pd.to_datetime(list(exclude_dates))).normalize()
            ex = np.unique((exd - pd.Timestamp("1970-01-01")).days.to_numpy())
        return cls(arr["t"], arr["log_load"], arr["load"], arr["censored"], arr["days"],
                   arr["shares"], arr["dow"], ex)

    @classmethod
    def many(cls, pairs: list[tuple[pd.Series, pd.Series | None]]) -> list[SeriesObs]:
        """:meth:`from_series` with its defaults for many ``(series, censored)`` pairs, prepared in
        one vectorised pass (:func:`wastewater.stats._series.prepare_many`); same arrays.
        """
        none = np.zeros(0, dtype=np.int64)
        return [cls.from_series(*pair) if arr is None else
                cls(arr["t"], arr["log_load"], arr["load"], arr["censored"], arr["days"],
                    arr["shares"], arr["dow"], none)
                for pair, arr in zip(pairs, prepare_many(pairs), strict=True)]


def _day(d: DateLike | int) -> int:
    if isinstance(d, (int, np.integer)):
        return int(d)
    return int((pd.Timestamp(d).normalize() - pd.Timestamp("1970-01-01")).days)


def _days(values: list[Any]) -> np.ndarray:
    """Day numbers (since 1970-01-01) of many date-likes at once (as :func:`_day`)."""
    if not values:
        return np.zeros(0, dtype=np.int64)
    if all(isinstance(v, (int, np.integer)) for v in values):
        return np.array(values, dtype=np.int64)
    idx = pd.DatetimeIndex(pd.to_datetime(values)).normalize()
    return np.asarray(idx.to_numpy().astype("datetime64[D]").astype(np.int64))


def _iso(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


def method_change_days(method_changes: Iterable[DateLike] | None = None,
                       method_labels: pd.Series | None = None) -> list[int]:
    """Day numbers of marked method changes: given dates plus every change of ``method_labels``.

    ``method_labels`` is the results' ``method`` column on sample dates (NaN = unknown, ignored);
    a change is dated at the first sample with the new label.
    """
    days: set[int] = set()
    for d in method_changes or ():
        days.add(_day(d))
    if method_labels is not None and len(method_labels):
        lab = method_labels.dropna()
        lab = lab[lab.astype(str).str.strip() != ""].sort_index()
        if len(lab) > 1:
            vals = lab.astype(str).to_numpy()
            idx = pd.DatetimeIndex(lab.index)
            for i in np.flatnonzero(vals[1:] != vals[:-1]) + 1:
                days.add(_day(idx[i]))
    return sorted(days)


def design_columns(t: np.ndarray, shares: np.ndarray, days: np.ndarray, start: int, end: int,
                   trend: bool, steps: list[int]) -> tuple[np.ndarray, list[str]]:
    """Design ``[const, weekday shares (first present weekday = reference), trend?,
    method-change steps, during, after]``; weekday columns that cannot be told apart from the
    constant (e.g. weekly Fri–Sun composites) and steps without observations on both sides are
    left out. Returns ``X, names``.
    """
    n = len(t)
    cols = [np.ones(n)]
    names = ["const"]
    present = np.flatnonzero(shares.sum(axis=0) > 0)
    wd = [(f"weekday_{j}", shares[:, j]) for j in present[1:]]
    during = ((t >= start) & (t <= end)).astype(float)
    after = (t > end).astype(float)
    step_cols = []
    for d in steps:
        col = (t >= d).astype(float)
        if 0 < col.sum() < n:
            step_cols.append((f"method_change_{_iso(d)}", col))
    tail = []
    if trend:
        tail.append(("trend_per_year", (t - t.mean()) / 365.25))
    tail += step_cols
    if during.sum() > 0:
        tail.append(("during", during))
    tail.append(("after", after))
    X = np.column_stack(cols + [c for _, c in wd] + [c for _, c in tail])
    names += [nm for nm, _ in wd] + [nm for nm, _ in tail]
    if (days > 1).any() or step_cols:  # only then can columns be collinear
        keep = _independent_columns(X)
        if not keep[-1]:
            raise NotEstimableError.of("design_degenerate")
        X = X[:, keep]
        names = [nm for nm, k in zip(names, keep) if k]
    return X, names


def _independent_columns(X: np.ndarray) -> np.ndarray:
    """Greedy left-to-right selection of linearly independent columns (QR, tolerance 1e-9)."""
    keep = np.zeros(X.shape[1], dtype=bool)
    basis = np.zeros((X.shape[0], 0))
    for j in range(X.shape[1]):
        c = X[:, j]
        if basis.shape[1]:
            c = c - basis @ (basis.T @ c)
        nrm = np.linalg.norm(c)
        if nrm > 1e-9 * max(float(np.linalg.norm(X[:, j])), 1.0):
            keep[j] = True
            basis = np.column_stack([basis, c / nrm])
    return keep


@dataclass
class _Prepared:
    problem: Problem
    names: list[str]
    y: np.ndarray
    load: np.ndarray
    before: np.ndarray
    after_mask: np.ndarray
    n_before: int
    n_during: int
    n_after: int
    n_cens: int
    n_missing: int
    n_comp: int
    excluded: tuple[str, ...]
    start: int
    end: int
    lo: int
    hi: int
    steps: tuple[str, ...]


def _prepare(so: SeriesObs, start: int, end: int, before_days: int, after_days: int,
             trend: bool, steps: list[int], substitution_factor: float | None = 0.5) -> _Prepared:
    """Window, checks (reason codes) and design of one test (shared by single call and batch)."""
    if end < start:
        raise ValueError(f"event_end {_iso(end)} is before event_start {_iso(start)}")
    lo, hi = start - before_days, end + after_days
    i0, i1 = np.searchsorted(so.t, [lo, hi + 1])
    t = so.t[i0:i1]
    y = so.y[i0:i1]
    cens = so.cens[i0:i1]
    days = so.days[i0:i1]
    before = t < start
    after = t > end
    n_before, n_after = int(before.sum()), int(after.sum())
    n_during = len(t) - n_before - n_after
    # a constant stretch of days is read as one multi-day composite (equal values on
    # consecutive days), so it would be reported as "too few days": say that it does not vary
    unc = ~cens
    if (int(days[unc].sum()) >= 2 * MIN_OBS_PER_PERIOD
            and np.ptp(y[unc]) <= 1e-12 * max(1.0, float(np.abs(y[unc]).max()))):
        raise NotEstimableError.of("constant")
    for n, period, a, b in ((n_before, "before", lo, start - 1), (n_after, "after", end + 1, hi)):
        if n < MIN_OBS_PER_PERIOD:
            raise NotEstimableError.of("too_few_days", period=period, first=_iso(a), last=_iso(b), n=n,
                                       min_obs=MIN_OBS_PER_PERIOD)
    if cens.all():
        raise NotEstimableError.of("all_censored")
    for mask, period in ((before, "before"), (after, "after")):
        share = float(cens[mask].mean())
        if share > MAX_CENSORED_SHARE:
            raise NotEstimableError.of("mostly_censored", period=period, share=share)
    yu = y[~cens]
    if len(yu) < 2 or np.ptp(yu) <= 1e-12 * max(1.0, float(np.abs(yu).max())):
        raise NotEstimableError.of("constant")
    X, names = design_columns(t, so.shares[i0:i1], days, start, end, trend,
                              [d for d in steps if lo < d <= hi])
    pos = t + (days - 1) // 2  # a multi-day composite sits at its middle day
    est = ~cens if cens.any() else None
    if est is not None and (est.sum() <= X.shape[1] + 3
                            or np.any(np.abs(X[est]).sum(axis=0) == 0)):
        est = None
    extra = upper = None
    if cens.any():
        extra = np.column_stack([y + np.log(f) * cens for f in CENSORED_SENSITIVITY_FACTORS])
        if substitution_factor and substitution_factor > 0:
            upper = np.where(cens, y - np.log(substitution_factor), np.nan)
    lo, hi = max(lo, int(t[0])), min(hi, int(t[-1] + days[-1] - 1))  # the window that has data
    window_days = hi - lo + 1
    covered = int(days.sum())
    ex = so.n_excluded_by_day
    exw = ex[(ex >= lo) & (ex <= hi)]
    n_missing = window_days - covered - len(exw)
    st = tuple(nm.removeprefix("method_change_") for nm in names if nm.startswith("method_change_"))
    return _Prepared(Problem(y, X, pos, est, extra, upper=upper), names, y, so.load[i0:i1], before, after,
                     n_before, n_during, n_after, int(cens.sum()), int(n_missing),
                     int((days > 1).sum()), tuple(_iso(d) for d in exw), start, end, lo, hi, st)


def _t_ci(b: np.ndarray, se: np.ndarray, df: np.ndarray,
          alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Student-t interval ``b ± t_{1−α/2, df}·se`` and two-sided p-value (NaN where se = 0)."""
    q = special.stdtrit(df, 1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(se > 0, 2 * special.stdtr(df, -np.abs(b / np.where(se > 0, se, 1.0))), np.nan)
    return b - q * se, b + q * se, p


@dataclass(frozen=True)
class _Numbers:
    """The numbers of one or many tests (arrays over tests); see :func:`_effect_numbers`."""

    change_after: np.ndarray
    low_after: np.ndarray
    high_after: np.ndarray
    p_after: np.ndarray
    change_during: np.ndarray
    low_during: np.ndarray
    high_during: np.ndarray
    p_during: np.ndarray
    df_after: np.ndarray
    se_after: np.ndarray
    mde: np.ndarray
    sens_low: np.ndarray
    sens_high: np.ndarray
    sensitive: np.ndarray


def _effect_numbers(b_after: np.ndarray, var_after: np.ndarray, df_after: np.ndarray,
                    b_during: np.ndarray, var_during: np.ndarray, df_during: np.ndarray,
                    s2: np.ndarray, n_resp: np.ndarray, n_cens: np.ndarray, n: np.ndarray,
                    alpha: float) -> _Numbers:
    """Changes, intervals, p-values, minimum detectable drop and censoring sensitivity of tests.

    ``b_after (B, r)``: the after coefficient of the response and of the sensitivity refits
    (``n_resp`` of them used per test); ``var_*`` unscaled variances, ``s2 (B, r)`` scales;
    ``b_during`` NaN where the event has no observation. Relative change ``exp(b) − 1`` with
    the t interval; the drop detected with 80 % power ``1 − exp(−(t₁₋α/₂ + t₀.₈)·se)``
    [Bloom1995]_. One place for the single call and the batch.
    """
    se_a = np.sqrt(s2[:, 0] * var_after)
    lo_a, hi_a, p_a = _t_ci(b_after[:, 0], se_a, df_after, alpha)
    has_d = ~np.isnan(b_during)
    lo_d, hi_d, p_d = _t_ci(b_during, np.sqrt(s2[:, 0] * var_during), df_during, alpha)
    p_d = np.where(has_d, p_d, np.nan)
    with np.errstate(over="ignore"):
        ch = np.expm1(b_after)
        ch_a = ch[:, 0]
        mde = -np.expm1(-(special.stdtrit(df_after, 1 - alpha / 2)
                          + special.stdtrit(df_after, MDE_POWER)) * se_a)
        numbers = dict(change_after=ch_a, low_after=np.expm1(lo_a), high_after=np.expm1(hi_a),
                       change_during=np.expm1(b_during), low_during=np.expm1(lo_d),
                       high_during=np.expm1(hi_d))
    r = b_after.shape[1]
    used = (np.arange(r)[None, :] < n_resp[:, None]) & (n_cens[:, None] > 0)
    used[:, 0] = True
    sig = _t_ci(b_after, np.sqrt(s2 * var_after[:, None]), df_after[:, None], alpha)[2] < alpha
    sens_low = np.where(used, ch, np.inf).min(axis=1)
    sens_high = np.where(used, ch, -np.inf).max(axis=1)
    sign = np.sign(ch)
    differ = (np.where(used, sig, sig[:, :1]) != sig[:, :1]).any(axis=1) | (
        np.where(used, sign, sign[:, :1]) != sign[:, :1]).any(axis=1)
    sensitive = (n_cens > 0) & (differ | (n_cens / n > CENSORED_SHARE_WARNING))
    return _Numbers(p_after=p_a, p_during=p_d, df_after=df_after, se_after=se_a, mde=mde,
                    sens_low=sens_low, sens_high=sens_high, sensitive=sensitive, **numbers)


def _finish(pr: _Prepared, fit: BatchFit, i: int, alpha: float, exclusion_reason: str | None,
            trend: bool) -> EffectResult:
    names = pr.names
    k = len(names)
    n = len(pr.y)
    beta = fit.beta[i]
    dfc = fit.df[i] if fit.df is not None and fit.df[i] is not None else np.full(k, n - k - 2.0)
    s2 = fit.sigma2[i]
    cov = fit.cov_unscaled[i]
    ja = names.index("after")
    jd = names.index("during") if "during" in names else ja
    nan = np.array([np.nan])
    num = _effect_numbers(beta[None, :, ja], np.array([cov[ja, ja]]), np.array([float(dfc[ja])]),
                          np.array([float(beta[0, jd])]) if "during" in names else nan,
                          np.array([cov[jd, jd]]), np.array([float(dfc[jd])]),
                          np.asarray(s2, dtype=float)[None, :beta.shape[0]],
                          np.array([beta.shape[0]]), np.array([pr.n_cens]), np.array([n]), alpha)
    b_a = float(beta[0, ja])
    df = float(num.df_after[0])
    p_a = float(num.p_after[0])
    rc_d, lo_d, hi_d, p_d = (float(num.change_during[0]), float(num.low_during[0]),
                             float(num.high_during[0]), float(num.p_during[0]))
    sens_range = (float(num.sens_low[0]), float(num.sens_high[0]))
    sensitive = bool(num.sensitive[0])
    lo_c, hi_c = float(num.low_after[0]), float(num.high_after[0])
    before_loads = pr.load[pr.before]
    after_loads = pr.load[pr.after_mask]
    naive = float(after_loads.mean() / before_loads.mean() - 1)
    naive_p = _welch_p(after_loads, before_loads)
    mde = float(num.mde[0])
    sv, en = (effect_sentence(lang, float(np.expm1(b_a)), lo_c, hi_c, p_a, alpha, pr.n_before,
                              pr.n_after, METHOD_NAMES[lang]["ar1_noise"], sensitive=bool(sensitive),
                              trend=trend)
              for lang in ("sv", "en"))
    notes = []
    n_excluded = len(pr.excluded)
    if n_excluded:
        why = exclusion_reason or "user-excluded"
        notes.append(f"{n_excluded} day(s) excluded from the estimate ({why}): "
                     + ", ".join(pr.excluded))
        sv += excluded_sentence("sv", n_excluded, why)
        en += excluded_sentence("en", n_excluded, why)
    if pr.steps:
        notes.append("level shift at each marked method change: " + ", ".join(pr.steps))
        sv += method_change_sentence("sv", list(pr.steps))
        en += method_change_sentence("en", list(pr.steps))
    if pr.n_comp:
        notes.append(f"{pr.n_comp} multi-day composite(s) counted once each")
    if pr.n_cens:
        notes.append(f"{pr.n_cens} censored value(s) refitted at their conditional mean below the LOQ "
                     f"given the other days; after-effect "
                     f"ranges {sens_range[0]:+.1%} to {sens_range[1]:+.1%} under the sensitivity "
                     "refits (×0.2 and ×2 on substituted values)")
    terms = "intercept + weekday + linear trend" if trend else "intercept + weekday (no trend)"
    if pr.steps:
        terms += " + method-change steps"
    phi, lam = float(fit.phi[i]), float(fit.lam[i])
    method_text = (f"GLS with AR(1) + measurement-noise errors on the daily grid (Kalman filter, "
                   f"REML for phi and the noise share, missing days exact), Kackar–Harville "
                   f"variance and Satterthwaite df (here {df:.1f}); log(load) ~ {terms} + during "
                   f"+ after; relative change = "
                   f"exp(beta) − 1; history {pr.n_before} observations; lag-1 coefficient of the "
                   f"use variation {phi:.2f}, measurement share of the variance {lam:.2f}")
    return EffectResult(
        relative_change_after=float(np.expm1(b_a)), ci_low_after=lo_c,
        ci_high_after=hi_c, p_value_after=p_a,
        relative_change_during=float(rc_d), ci_low_during=float(lo_d), ci_high_during=float(hi_d),
        p_value_during=float(p_d), naive_relative_change_after=naive, naive_p_value_after=naive_p,
        n_before=pr.n_before, n_during=pr.n_during, n_after=pr.n_after, n_censored=pr.n_cens,
        n_missing_days=pr.n_missing, n_composites_collapsed=pr.n_comp,
        n_excluded=n_excluded, excluded_dates=pr.excluded, exclusion_reason=exclusion_reason,
        censoring_sensitive=bool(sensitive), relative_change_after_censoring_range=sens_range,
        phi=phi, alpha=alpha, method=method_text, event_start=_iso(pr.start),
        event_end=_iso(pr.end), sentence_sv=sv, sentence_en=en, notes=tuple(notes),
        noise_share=lam, sd_log_total=float(np.sqrt(s2[0])), df_resid=float(df),
        n_history_days=int(pr.start - pr.lo), minimum_detectable_drop_after=mde,
        method_changes=pr.steps)


def _finish_engine(pr: _Prepared, method: str, alpha: float, exclusion_reason: str | None,
                   trend: bool) -> EffectResult:
    """Comparison engines (pure AR(1) REML, HAC, OLS) on the same design."""
    engine = ENGINES[method]
    p = pr.problem
    t_obs = p.t.astype(float)
    uncensored = p.est
    fit = engine(pr.y, p.X, t_obs, uncensored)
    k = p.X.shape[1]
    beta = [fit.params]
    s2 = [fit.sigma**2]
    if p.extra_y is not None:
        for r in range(p.extra_y.shape[1]):
            f2 = engine(p.extra_y[:, r], p.X, t_obs, uncensored)
            beta.append(f2.params)
            s2.append(f2.sigma**2)
    # express as a BatchFit with cov so that _finish can be reused (df: engine's own)
    cov = np.diag(fit.bse**2) / s2[0]
    bf = BatchFit(np.array([fit.phi]), np.array([0.0]), [np.array(s2)],
                  [np.array(beta)], [cov], np.array([len(pr.y)]), np.array([k]),
                  [np.full(k, float(fit.df_resid))])
    res = _finish(pr, bf, 0, alpha, exclusion_reason, trend)
    return _replace_method(res, fit.method, method)


def _replace_method(res: EffectResult, method_text: str, method: str) -> EffectResult:
    from dataclasses import replace

    sv, en = METHOD_NAMES["sv"], METHOD_NAMES["en"]
    return replace(res, method=method_text + "; " + res.method.split("; ", 1)[1],
                   sentence_sv=res.sentence_sv.replace(sv["ar1_noise"], sv[method]),
                   sentence_en=res.sentence_en.replace(en["ar1_noise"], en[method]))


METHODS = ("ar1_noise", "ar1", "hac", "ols")

#: Key of one series in a batch, e.g. ``(site, analyte)``.
SeriesKey = TypeVar("SeriesKey", bound=Hashable)


def operation_effect(series: pd.Series, *, censored: pd.Series | None = None,
                     event_start: DateLike, event_end: DateLike, before_days: int = DEFAULT_BEFORE_DAYS,
                     after_days: int = DEFAULT_AFTER_DAYS, method: str = "ar1_noise",
                     alpha: float = 0.05, exclude_dates: Iterable[DateLike] | None = None,
                     exclusion_reason: str | None = None,
                     composite_days: pd.Series | None = None, trend: bool = False,
                     method_changes: Iterable[DateLike] | None = None,
                     method_labels: pd.Series | None = None) -> EffectResult:
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
    before_days : int
        History before ``event_start`` used for the baseline (weekday profile, level, noise)
        [days]; default ~2 years, and whatever exists of it is used. A short history costs
        power: see the power-vs-history table in the README.
    after_days : int
        Length of the period after ``event_end`` [days].
    method : {"ar1_noise", "ar1", "hac", "ols"}
        ``ar1_noise`` (default): GLS with AR(1) use variation plus independent measurement
        error on the daily grid (see :mod:`wastewater.stats._statespace`), Kackar–Harville
        variance and Satterthwaite df; false-positive rate 0.030–0.049 in all 27 simulated
        cells with 5–20 % analytical CV and ~10 % censored values, CI coverage ≥ 0.95
        (benchmarks/reports/bench_stats.md). ``ar1``: pure AR(1) GLS (REML, Kackar–Harville); anti-conservative when
        the lab's measurement error is not negligible. ``hac``, ``ols``: for comparison.
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
        Add a linear trend (default off: with a long, weekday-adjusted history the level before
        the event is the baseline; a trend fitted on the same window takes power from a step).
    method_changes : iterable of date-like, optional
        First days of a new laboratory method (events of kind ``method_change``); each gets a
        level shift in the model.
    method_labels : pandas.Series, optional
        The results' ``method`` column on sample dates; every change of label is a marked
        method change too.

    Returns
    -------
    EffectResult
        ``relative_change_after = exp(b_A) − 1`` with CI ``exp(b_A ± t·se) − 1`` and two-sided
        p-value; the same for ``during`` (NaN if no observation falls in the event); the naive
        ``mean(after)/mean(before) − 1`` with Welch's t-test p-value [Welch1947]_; counts, censoring
        sensitivity, ``minimum_detectable_drop_after`` (the drop this design detects with 80 %
        power at ``alpha``: ``1 − exp(−(t₁₋α/₂ + t₀.₈)·se)``), method text and sentences.

    Raises
    ------
    NotEstimableError
        With ``code`` ``too_few_days`` (fewer than 7 observations before or after),
        ``all_censored``, ``mostly_censored`` (more than half of the before or after values
        censored), ``constant`` (the measured values do not vary) or ``design_degenerate``.

    Notes
    -----
    Censored values are left out of the first noise-parameter estimate, then refitted at their
    conditional mean below the LOQ given the other days and put back in for a second estimate
    (:mod:`wastewater.stats._statespace`); two refits multiply the substituted values by
    :data:`CENSORED_SENSITIVITY_FACTORS`; ``censoring_sensitive`` is True when the significance
    or the sign of the after-effect differs between them, or when more than
    :data:`CENSORED_SHARE_WARNING` of the observations are censored. A spike during the event
    may be dumping rather than use [Emke2014]_ [EstevezDanta2022]_; check with ``flag_dumping`` first.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}; choose one of {list(METHODS)}")
    so = SeriesObs.from_series(series, censored, exclude_dates=exclude_dates,
                               composite_days=composite_days)
    steps = method_change_days(method_changes, method_labels)
    pr = _prepare(so, _day(event_start), _day(event_end), before_days, after_days, trend, steps)
    if method != "ar1_noise":
        return _finish_engine(pr, method, alpha, exclusion_reason, trend)
    fit = fit_batch([pr.problem])
    return _finish(pr, fit, 0, alpha, exclusion_reason, trend)


PLANNING_AFTER_DAYS = (14, 28, 56, 84)
"""Lengths of the period after a planned operation that :func:`planned_detectable_drops` shows [days]."""


def planned_detectable_drops(series: pd.Series, *, censored: pd.Series | None = None,
                             duration_days: int = 7, after_days: Iterable[int] = PLANNING_AFTER_DAYS,
                             before_days: int = DEFAULT_BEFORE_DAYS, alpha: float = 0.05,
                             composite_days: pd.Series | None = None,
                             method_changes: Iterable[DateLike] | None = None) -> pd.DataFrame:
    """For planning an operation: the smallest drop the site's current sampling would detect
    with 80 % power at level ``alpha``, for each length of the period after it.

    The same test as :func:`operation_effect` (defaults, so the same error model, weekday
    profile, history, censoring and composites) is run on the site's own latest days with a
    pseudo-operation of ``duration_days`` placed so that ``a`` days of the series follow it, for
    each ``a`` in ``after_days``. Its ``minimum_detectable_drop_after``, ``1 − exp(−(t₁₋α/₂ +
    t₀.₈)·se)`` [Bloom1995]_, depends on the sampling days (how many, which weekdays, how much
    history) and on the site's fitted noise (lag-1 coefficient, measurement share, variance),
    not on the size of any change: it is the drop this sampling detects in 80 % of operations.
    More days after, more sampling days a week or a longer history make it smaller.

    Parameters
    ----------
    series : pandas.Series
        Daily ``load_mg_per_day_per_1000`` up to now (DatetimeIndex; NaN = no sample).
    censored, composite_days, method_changes, before_days, alpha
        As for :func:`operation_effect`.
    duration_days : int
        Length of the planned operation [days].
    after_days : iterable of int
        Lengths of the period after it to show [days].

    Returns
    -------
    pandas.DataFrame
        One row per length: ``after_days``, ``n_after`` (samples in that period, as now
        sampled), ``n_before`` (history used), ``minimum_detectable_drop`` [fraction] and
        ``reason`` (a :class:`NotEstimableError` code where the history is too short; then the
        drop is NaN).
    """
    cols = ["after_days", "n_after", "n_before", "minimum_detectable_drop", "reason"]
    observed = series.dropna()
    rows: list[dict[str, Any]] = []
    if observed.empty:
        return pd.DataFrame(columns=cols)
    last = pd.Timestamp(observed.index.max())
    for a in after_days:
        end = last - pd.Timedelta(days=int(a))
        start = end - pd.Timedelta(days=int(duration_days) - 1)
        try:
            res = operation_effect(series[:last], censored=None if censored is None else censored[:last],
                                   event_start=start, event_end=end, before_days=before_days,
                                   after_days=int(a), alpha=alpha, composite_days=composite_days,
                                   method_changes=method_changes)
        except NotEstimableError as err:
            rows.append({"after_days": int(a), "n_after": 0, "n_before": 0,
                         "minimum_detectable_drop": float("nan"), "reason": err.code})
            continue
        rows.append({"after_days": int(a), "n_after": res.n_after, "n_before": res.n_before,
                     "minimum_detectable_drop": float(res.minimum_detectable_drop_after), "reason": None})
    return pd.DataFrame(rows, columns=cols)


def operation_effects_batch(tests: Iterable[Mapping[str, Any]],
                            series: Mapping[SeriesKey, tuple[pd.Series, pd.Series | None]], *,
                            alpha: float = 0.05, before_days: int = DEFAULT_BEFORE_DAYS,
                            after_days: int = DEFAULT_AFTER_DAYS, trend: bool = False,
                            method_changes: Mapping[SeriesKey, Iterable[DateLike]] | None = None,
                            ) -> list[EffectResult | NotEstimableError]:
    """All operation tests in one vectorised pass; same numbers as :func:`operation_effect`.

    Parameters
    ----------
    tests : iterable of dict
        Each with ``key`` (series key), ``event_start``, ``event_end`` (date-like) and any
        extra fields, which are passed through.
    series : dict
        ``key -> (load series, censored series)``; each series is prepared once.
    method_changes : dict, optional
        ``key -> list of method-change dates`` (see :func:`method_change_days`).

    Returns
    -------
    list
        Per test, an :class:`EffectResult` or a :class:`NotEstimableError`.
    """
    prepared_series: dict[SeriesKey, tuple[SeriesObs, list[int]]] = {}
    preps: list[_Prepared | None] = []
    out: list[EffectResult | NotEstimableError | None] = []
    for test in tests:
        key = test["key"]
        if key not in prepared_series:
            s, c = series[key]
            prepared_series[key] = (SeriesObs.from_series(s, c),
                                    method_change_days((method_changes or {}).get(key)))
        so, steps = prepared_series[key]
        try:
            preps.append(_prepare(so, _day(test["event_start"]), _day(test["event_end"]),
                                  before_days, after_days, trend, steps))
            out.append(None)
        except NotEstimableError as exc:
            preps.append(None)
            out.append(exc)
    ok = [(i, p) for i, p in enumerate(preps) if p is not None]
    fit = fit_batch([p.problem for _, p in ok])
    for j, (i, p) in enumerate(ok):
        out[i] = _finish(p, fit, j, alpha, None, trend)
    return [r for r in out if r is not None]


#: Columns of the fast batch design: const, an indicator for each of the six weekdays other
#: than the reference (the first weekday present in the window), during, after.
_FAST_K = 9
_FAST_DURING, _FAST_AFTER = 7, 8


#: Day offset between series in the concatenated store of the fast batch (> any series span).
_STORE_GAP = 1 << 40


@dataclass(frozen=True)
class _Store:
    """All series of a fast batch one after another.

    ``t`` is shifted by ``_STORE_GAP`` per series so that one sorted array holds them all.
    """

    t: np.ndarray
    day: np.ndarray
    y: np.ndarray
    cens: np.ndarray
    dow: np.ndarray


def _store(sos: list[SeriesObs]) -> _Store:
    shift = np.repeat(np.arange(len(sos), dtype=np.int64) * _STORE_GAP, [len(so.t) for so in sos])
    day = np.concatenate([so.t for so in sos]) if sos else np.zeros(0, dtype=np.int64)
    return _Store(day + shift, day,
                  *(np.concatenate([getattr(so, a) for so in sos]) if sos else np.zeros(0)
                    for a in ("y", "cens", "dow")))


def _fast_plan(st: _Store, sidx: np.ndarray, starts: np.ndarray, ends: np.ndarray,
               before_days: int, after_days: int) -> dict[str, np.ndarray]:
    """Window bounds and counts of many tests from prefix sums over the store (no design yet).

    ``ok`` is False where a test needs :func:`_prepare` (too few days, censoring limits, a
    constant series: it raises the reason; or an empty window). Same rules as :func:`_prepare`.
    """
    t, cens = st.t, st.cens.astype(bool)
    g = sidx.astype(np.int64) * _STORE_GAP
    lo, hi = starts - before_days + g, ends + after_days + g
    i0 = np.searchsorted(t, lo)
    i1 = np.searchsorted(t, hi + 1)
    ib = np.searchsorted(t, starts + g)
    ia = np.searchsorted(t, ends + g + 1)
    cc = np.r_[0, np.cumsum(cens)]
    n_before, n_after = ib - i0, i1 - ia
    n_during = ia - ib
    c_before, c_after, c_during = cc[ib] - cc[i0], cc[i1] - cc[ia], cc[ia] - cc[ib]
    n = i1 - i0
    n_cens = cc[i1] - cc[i0]
    # rows of each weekday (all, uncensored) before each row: cumulative counts per weekday
    codes = st.dow.astype(np.int64) + 7 * cens
    counts = np.zeros((len(t) + 1, 14), dtype=np.int32)
    counts[np.arange(1, len(t) + 1), codes] = 1
    np.cumsum(counts, axis=0, out=counts)
    inwin = counts[i1] - counts[i0]
    present_unc = inwin[:, :7] > 0
    present = present_unc | (inwin[:, 7:] > 0)
    ref = np.argmax(present, axis=1)
    n_present = present.sum(axis=1)
    k = n_present + 1 + (n_during > 0)
    ok = ((ends >= starts) & (n_before >= MIN_OBS_PER_PERIOD) & (n_after >= MIN_OBS_PER_PERIOD)
          & (n_cens < n) & (c_before <= MAX_CENSORED_SHARE * n_before)
          & (c_after <= MAX_CENSORED_SHARE * n_after))
    # constant check on the uncensored values (as in _prepare): max and min over each window
    bounds = np.column_stack([np.minimum(i0, len(t)), np.maximum(i1, i0 + 1)]).ravel()
    top = np.maximum.reduceat(np.r_[np.where(cens, -np.inf, st.y), -np.inf], bounds)[::2]
    bot = np.minimum.reduceat(np.r_[np.where(cens, np.inf, st.y), np.inf], bounds)[::2]
    with np.errstate(invalid="ignore"):
        scale = np.maximum(1.0, np.maximum(np.abs(top), np.abs(bot)))
        ok &= (n - n_cens >= 2) & (top - bot > 1e-12 * scale)
    # estimation rows: the uncensored ones, unless too few or a design column would be empty
    n_unc = n - n_cens
    in_design = present.copy()
    in_design[np.arange(len(ref)), ref] = False
    cols_empty = ((in_design & ~present_unc).sum(axis=1) > 0) | (n_unc == 0) | (
        (n_during > 0) & (n_during - c_during == 0)) | (n_after - c_after == 0)
    est_all = (n_cens == 0) | (n_unc <= k + 3) | cols_empty
    return {"i0": i0, "i1": i1, "n": n, "n_before": n_before, "n_during": n_during,
            "n_after": n_after, "n_cens": n_cens, "ref": ref, "k": k, "ok": ok,
            "est_all": est_all}


def _fast_rows(st: _Store, plans: dict[str, np.ndarray], starts: np.ndarray,
               ends: np.ndarray, ws: Workspace) -> Ragged:
    """The ragged layout (:class:`wastewater.stats._statespace.Ragged`) of fast tests (one
    compiled pass, :func:`wastewater.stats._kalman.layout`; ``Z`` in a buffer of ``ws``).
    """
    r = 1 + len(CENSORED_SENSITIVITY_FACTORS)
    off, pid, pos, est, Z, upper = layout(
        st.day, st.y, st.cens, st.dow, plans["i0"], plans["n"], plans["ref"], plans["est_all"],
        starts, ends, np.array([np.log(f) for f in CENSORED_SENSITIVITY_FACTORS]),
        float(np.log(0.5)), _FAST_K, _FAST_DURING, _FAST_AFTER,
        out=ws.take("layout", int(plans["n"].sum()), r + _FAST_K))
    return Ragged(off, pid, pos, est, np.ones(len(pid), dtype=bool), Z, upper, r)


def operation_effects_fast(tests: list[Mapping[str, Any]], sos: Mapping[Any, SeriesObs], *, alpha: float = 0.05,
                           before_days: int = DEFAULT_BEFORE_DAYS,
                           after_days: int = DEFAULT_AFTER_DAYS,
                           chunk_rows: int = 50_000) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The numbers of many operation tests without per-test Python work (daily series only).

    Tests on series with daily samples (no multi-day composites), without marked method
    changes and without a trend are prepared from prefix sums, laid out one after another and
    fitted by :func:`wastewater.stats._statespace.fit_ragged` in chunks; the numbers come from
    the same :func:`_effect_numbers` as :func:`operation_effect`, whose design (weekday
    indicators with the first present weekday as reference, during, after) this reproduces
    with zero columns for absent terms (which change nothing). Returns the table columns for
    every test (NaN where not handled) and a mask of the tests handled here; the others
    (composites, steps, reason codes) go through :func:`operation_effects_batch`.
    """
    keys = list(dict.fromkeys(t["key"] for t in tests))
    kidx = {k: i for i, k in enumerate(keys)}
    so_list = [sos[k] for k in keys]
    T = len(tests)
    sidx = np.array([kidx[t["key"]] for t in tests], dtype=np.int64)
    starts, ends = (_days([t[c] for t in tests]) for c in ("event_start", "event_end"))
    st = _store(so_list)
    plan = _fast_plan(st, sidx, starts, ends, before_days, after_days)
    daily = np.array([not (so.days > 1).any() for so in so_list], dtype=bool)
    plan["ok"] &= daily[sidx] if T else plan["ok"]
    handled = plan["ok"]
    cols = {c: np.full(T, np.nan) for c in (
        "relative_change_after", "ci_low_after", "ci_high_after", "p_value_after",
        "relative_change_during", "p_value_during", "phi", "noise_share", "df_resid",
        "minimum_detectable_drop_after")}
    cols["censoring_sensitive"] = np.zeros(T, dtype=bool)
    for nm in ("n_before", "n_during", "n_after", "n_cens"):
        cols[nm] = plan[nm]
    todo = np.flatnonzero(handled)
    chunks = []
    start = 0
    while start < len(todo):
        stop = start + 1
        rows = int(plan["n"][todo[start]])
        while stop < len(todo) and rows + plan["n"][todo[stop]] <= chunk_rows:
            rows += int(plan["n"][todo[stop]])
            stop += 1
        chunks.append(todo[start:stop])
        start = stop

    def run(sel: np.ndarray) -> None:
        sub = {nm: v[sel] for nm, v in plan.items()}
        rg = _fast_rows(st, sub, starts[sel], ends[sel], ws)
        zeros = np.zeros(len(sel))
        f = fit_ragged(rg, sub["k"], sub["n"], np.ones(len(sel), dtype=bool), zeros, zeros, ws)
        has_d = sub["n_during"] > 0
        num = _effect_numbers(f.beta[:, _FAST_AFTER, :], f.cov[:, _FAST_AFTER, _FAST_AFTER],
                              f.df[:, _FAST_AFTER],
                              np.where(has_d, f.beta[:, _FAST_DURING, 0], np.nan),
                              f.cov[:, _FAST_DURING, _FAST_DURING], f.df[:, _FAST_DURING],
                              f.sigma2, np.where(sub["n_cens"] > 0, rg.r, 1), sub["n_cens"],
                              sub["n"], alpha)
        cols["relative_change_after"][sel] = num.change_after
        cols["ci_low_after"][sel] = num.low_after
        cols["ci_high_after"][sel] = num.high_after
        cols["p_value_after"][sel] = num.p_after
        cols["relative_change_during"][sel] = num.change_during
        cols["p_value_during"][sel] = num.p_during
        cols["phi"][sel] = f.phi
        cols["noise_share"][sel] = f.lam
        cols["df_resid"][sel] = num.df_after
        cols["minimum_detectable_drop_after"][sel] = num.mde
        cols["censoring_sensitive"][sel] = num.sensitive

    ws = Workspace()
    for sel in chunks:
        run(sel)
    cols["n_censored"] = cols.pop("n_cens")
    return cols, handled
