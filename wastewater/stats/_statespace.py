"""GLS with "AR(1) plus measurement noise" errors on a daily grid, batched over series.

Error model
-----------
``e_t = u_t + ε_t`` on the daily grid (``t`` = integer day): ``u_t = φ·u_{t−1} + w_t`` is the
day-to-day variation in use (stationary AR(1), variance ``σ²(1 − λ)``) and ``ε_t`` the
independent analytical/sampling error of each sample (variance ``σ²λ``). Observed on every day
this is an ARMA(1,1) process [BrockwellDavis2002]_ (§3.1); with missing days it is a scalar linear-Gaussian
state-space model whose exact Gaussian likelihood comes from the Kalman filter [DurbinKoopman2012]_ (§2.2,
missing observations §2.7): the filter's standardised innovations ``v_t/√F_t`` of ``y`` and of
every design column are the exactly whitened rows (a Cholesky factor of the inverse covariance),
so GLS is OLS on them and ``log|Σ| = Σ log F_t`` [Harvey1989]_ (§3.4).

Why this model (compared by simulation in benchmarks/reports/bench_stats.md):

* A pure AR(1) fitted to AR(1) + noise sees only the lag-1 correlation ``φ(1 − λ)`` and
  underestimates the long-run variance ``σ²[(1 − λ)(1 + φ)/(1 − φ) + λ]`` that governs the
  standard error of a level change: with φ = 0.7 and a 10–20 % analytical CV the false-positive
  rate at α = 0.05 rose to ~0.11. The two-component model estimates both parts.
* Candidates compared: pure AR(1) GLS (the old default; FP up to 0.11), ARMA(1,1) fitted to
  the observed sequence (ignores the day gaps), and AR(1) with the measurement variance fixed
  from the catalogued RSD (miscalibrated whenever the lab's real error differs). The
  state-space model with both variances estimated is the one that held the band in every cell.
* The measurement variance is *estimated* rather than taken from the lab's RSD: catalogued
  method RSDs describe between-lab spread [Castiglioni2013]_ and are not the within-series
  sampling + analysis error, and a wrong fixed value would miscalibrate the test.

Estimation: ``(φ, λ)`` by restricted maximum likelihood [Harville1977]_ (scale ``σ²`` profiled
out) of the OLS residuals of the full design, on a fixed 5×5 grid refined by four 3×3 rounds
(deterministic, so one series and a batch of thousands give the same numbers); then GLS at
``(φ̂, λ̂)``. Small-sample calibration: the variance of each coefficient gets the
Kackar–Harville term for the estimated ``(φ, λ)`` [KackarHarville1984]_ (``G·I⁻¹·G'`` with
``G = ∂β̂/∂(φ, λ)`` exact, from the differentiated filter, and ``I`` the observed information) and
its t reference distribution Satterthwaite degrees of freedom from the delta-method variance of
the estimated variance [Satterthwaite1946]_ (the Kenward–Roger recipe [KenwardRoger1997]_ without its
second-order bias term). Without them the false-positive rate reached 0.09 at φ = 0.7 with a
20 % CV.

Censored values (below the LOQ, reported at a substitute): the GLS refits each at its
conditional mean below the LOQ [Tobin1958]_ (an EM; the variance of the coefficients uses the
observed information, complete minus missing information [Louis1982]_, so that the imputed
values do not count as data). The conditional distribution is that of the value *given the
other values of the series* under the AR(1) + noise model (mean and variance from the smoothing
error, [DurbinKoopman2012]_ §4.5, [deJong1989]_), not its marginal distribution, which at
φ = 0.7 is far from it. ``(φ, λ)`` are first estimated without the censored rows (substituted
values are log-scale outliers that mimic measurement noise) and then, for every problem with a
censored value, once more with the censored rows back in at those conditional means (the
refinement rounds started from the first estimate), as in the imputation approach for censored
ARMA series of [ParkGentonGhosh2007]_. Why: leaving the lowest values out is not missingness
at random — it selects the series' high stretches and biases φ̂ low (mean 0.61 instead of 0.65
without censoring at φ = 0.7, σ = 0.2, CV 20 %; 0.53 with 30 % censored), and the standard error
with it: that cell had 0.078 false positives (0.105 with 30 % censored values). With the second
estimate φ̂ is 0.65 (0.61 with 30 % censored) and the false-positive rates 0.045 (0.050); over
the whole grid 0.030–0.049 in 27 of 27 cells, coverage ≥ 0.95 (benchmarks/reports/
bench_stats.md). Compared by simulation and not kept: imputing from the marginal distribution
(the previous default; the misses above), no refits at all (censored values at LOQ/2 in the GLS:
calibrated under the null, but biased once an effect changes the censoring, CI coverage of a
true −25 % down to 0.44), and Gaussian "site" pseudo-observations with an extra variance per
censored row in the likelihood (an expectation-propagation-type approximation; unstable, the
standard error blew up in a few series).

Computation: the filter passes are compiled kernels (:mod:`wastewater.stats._kalman`) over
problems stored one after another, so one call and a batch of a whole country run the same code
and give the same numbers.

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wastewater.stats._kalman import (
    censored_em,
    crossproduct_derivatives,
    gram,
    masked_gram,
    missing_information,
    profile_loglik,
    residuals,
    solve,
    whiten,
)

__all__ = ["BatchFit", "Problem", "Ragged", "RaggedFit", "Workspace", "fit_batch", "fit_ragged"]

#: Bounds of the AR(1) coefficient φ and of the measurement-noise share λ.
PHI_BOUNDS = (0.0, 0.97)
LAM_BOUNDS = (0.0, 0.95)
#: Coarse grid (φ × λ) and the refinement rounds (each a 3×3 grid at half the previous step).
PHI_COARSE = np.array([0.0, 0.2, 0.4, 0.6, 0.8])
LAM_COARSE = np.array([0.0, 0.2, 0.4, 0.6, 0.8])
COARSE_STEP = 0.2
REFINE_ROUNDS = 4
#: Finite-difference step of the information matrix.
INFO_STEP = 0.05
#: Smallest information per parameter (= largest standard error 1/√10 ≈ 0.32 of φ or λ).
INFO_FLOOR = 10.0
#: Refits that replace censored values by their conditional mean below the LOQ (given the others).
CENSORED_ITERATIONS = 6


@dataclass
class Problem:
    """One regression: ``y = Xβ + e`` observed on days ``t`` (integers, strictly increasing).

    ``est`` marks observations used for the noise parameters (uncensored ones); ``extra_y``
    holds further responses fitted with the same design and noise parameters (sensitivity
    refits); ``fixed`` = ``(φ, λ)`` skips the estimation; ``upper`` (log LOQ on censored rows,
    NaN elsewhere) replaces each censored ``y`` by its conditional mean below the LOQ under
    the fitted model, ``E[y | y < L] = μ − s·ϕ(α)/Φ(α)`` with ``α = (L − μ)/s`` [Tobin1958]_
    (:data:`CENSORED_ITERATIONS` refits, an EM for censored data whose scale adds the
    conditional variances ``s²(1 − αm − m²)``, ``m = ϕ(α)/Φ(α)``), instead of the substituted
    value.
    """

    y: np.ndarray
    X: np.ndarray
    t: np.ndarray
    est: np.ndarray | None = None
    extra_y: np.ndarray | None = None
    fixed: tuple[float, float] | None = None
    upper: np.ndarray | None = None   # log LOQ of censored rows (NaN elsewhere)


@dataclass
class BatchFit:
    """Results of :func:`fit_batch`, one entry per problem."""

    phi: np.ndarray
    lam: np.ndarray
    sigma2: list[np.ndarray]   # per problem: (1 + r,) scale of y and each extra response
    beta: list[np.ndarray]     # per problem: (1 + r, k)
    cov_unscaled: list[np.ndarray]  # per problem: (k, k) = (X'Σ⁻¹X)⁻¹ at σ² = 1
    n: np.ndarray
    k: np.ndarray
    df: list[np.ndarray] | None = None  # per problem: (k,) Satterthwaite df of each coefficient


#: Upper bound on the rows of one chunk of the batch (memory ~ 8·rows·columns bytes per array).
CHUNK_ROWS = 50_000


@dataclass
class Ragged:
    """The problems of one chunk stored one after another (see :mod:`wastewater.stats._kalman`)."""

    off: np.ndarray      # (B + 1,) row offsets
    pid: np.ndarray      # (N,) problem of each row
    pos: np.ndarray      # (N,) day of each row
    est: np.ndarray      # (N,) row used for the noise parameters
    allrows: np.ndarray  # (N,) all True
    Z: np.ndarray        # (N, r + k_max): responses (y, extra_y…) then the design
    upper: np.ndarray    # (N,) log LOQ of censored rows (NaN elsewhere)
    r: int


class Workspace:
    """Row buffers reused by the chunks of one batch (:func:`fit_ragged`, the fast layout).

    Each chunk needs a few arrays of ``rows × columns`` floats; fresh ones per chunk cost the
    operating system's zeroing of new memory pages, which took a fifth of the batch's time.
    One workspace belongs to one batch call (nothing global, nothing shared between threads).
    """

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def take(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A C-contiguous ``(rows, cols)`` float array (contents undefined), reused by name."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape[0] < rows or buf.shape[1] != cols:
            buf = np.empty((max(rows, 1), cols))
            self._buffers[name] = buf
        return buf[:rows]


def _ragged(problems: list[Problem], idx: np.ndarray) -> Ragged:
    ps = [problems[i] for i in idx]
    lens = np.array([len(p.y) for p in ps], dtype=np.int64)
    off = np.zeros(len(ps) + 1, dtype=np.int64)
    np.cumsum(lens, out=off[1:])
    n = int(off[-1])
    r = max(1 + (p.extra_y.shape[1] if p.extra_y is not None else 0) for p in ps)
    k_max = max(p.X.shape[1] for p in ps)
    Z = np.zeros((n, r + k_max))
    est = np.ones(n, dtype=bool)
    upper = np.full(n, np.nan)
    pos = np.concatenate([p.t for p in ps]).astype(np.int64)
    for b, p in enumerate(ps):
        s, e = off[b], off[b + 1]
        Z[s:e, 0] = p.y
        if p.extra_y is not None:
            Z[s:e, 1:1 + p.extra_y.shape[1]] = p.extra_y
        Z[s:e, r:r + p.X.shape[1]] = p.X
        if p.est is not None:
            est[s:e] = p.est
        if p.upper is not None:
            upper[s:e] = p.upper
    pid = np.repeat(np.arange(len(ps)), lens)
    return Ragged(off, pid, pos, est, np.ones(n, dtype=bool), Z, upper, r)


def _residuals(rg: Ragged) -> np.ndarray:
    """OLS residuals of ``y`` on the full design, fitted on the estimation rows.

    The noise parameters are estimated from these residuals: the restricted likelihood of these
    error contrasts [Harville1977]_ with the Σ-projection replaced by the OLS one, keeping the
    n − k degrees of freedom.
    """
    yx = np.r_[0, np.arange(rg.r, rg.Z.shape[1])]
    # at φ = λ = 0 the whitened rows are the rows themselves (no filter needed)
    S = masked_gram(rg.Z, yx, rg.est, rg.off)
    _, b, _ = _solve(S, 1)
    return residuals(rg.Z, rg.off, b, rg.r)


def _estimate(R: np.ndarray, rg: Ragged, df: np.ndarray,
              start: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Grid-refined REML estimates of ``(φ, λ)`` of every problem (residuals ``R`` on ``rg.est``);
    ``start`` = ``(φ, λ)`` replaces the coarse grid by that point (the refinement rounds only).
    """
    B = len(df)
    offs = np.array([-1.0, 0.0, 1.0])
    dp, dl = np.meshgrid(offs, offs, indexing="ij")
    keep = ~((dp == 0) & (dl == 0))
    dp, dl = dp[keep], dl[keep]
    rows = np.arange(B)
    if start is None:
        gp, gl = np.meshgrid(PHI_COARSE, LAM_COARSE, indexing="ij")
        gp, gl = gp.ravel(), gl.ravel()
        ll = profile_loglik(R, rg.est, rg.pos, rg.off, np.broadcast_to(gp, (B, len(gp))),
                            np.broadcast_to(gl, (B, len(gl))), df)
        best = np.argmax(ll, axis=1)
        phi, lam, cur = gp[best], gl[best], ll[rows, best]
    else:
        phi, lam = start[0].astype(float), start[1].astype(float)
        cur = profile_loglik(R, rg.est, rg.pos, rg.off, phi[:, None], lam[:, None], df)[:, 0]
    step = COARSE_STEP
    for _ in range(REFINE_ROUNDS):
        step /= 2.0
        cp = np.clip(phi[:, None] + step * dp[None, :], *PHI_BOUNDS)
        cl = np.clip(lam[:, None] + step * dl[None, :], *LAM_BOUNDS)
        llc = profile_loglik(R, rg.est, rg.pos, rg.off, cp, cl, df)
        j = np.argmax(llc, axis=1)
        better = llc[rows, j] > cur
        phi = np.where(better, cp[rows, j], phi)
        lam = np.where(better, cl[rows, j], lam)
        cur = np.where(better, llc[rows, j], cur)
    return phi, lam


def _information(R: np.ndarray, rg: Ragged, phi: np.ndarray, lam: np.ndarray,
                 df: np.ndarray) -> np.ndarray:
    """Observed information ``−∂²ℓ`` of the profile likelihood in ``(φ, λ)`` (finite
    differences, step :data:`INFO_STEP`, centre moved inside the bounds). Where it is not
    positive definite (a flat ridge) the diagonal floored at :data:`INFO_FLOOR` is used.
    """
    h = INFO_STEP
    pc = np.clip(phi, PHI_BOUNDS[0] + h, PHI_BOUNDS[1] - h)
    lc = np.clip(lam, LAM_BOUNDS[0] + h, LAM_BOUNDS[1] - h)
    offs = np.array([(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)],
                    dtype=float)
    ll = profile_loglik(R, rg.est, rg.pos, rg.off, pc[:, None] + h * offs[None, :, 0],
                        lc[:, None] + h * offs[None, :, 1], df)
    hpp = (ll[:, 1] - 2 * ll[:, 0] + ll[:, 2]) / h**2
    hll = (ll[:, 3] - 2 * ll[:, 0] + ll[:, 4]) / h**2
    hpl = (ll[:, 5] - ll[:, 6] - ll[:, 7] + ll[:, 8]) / (4 * h**2)
    info = -np.stack([np.stack([hpp, hpl], 1), np.stack([hpl, hll], 1)], 1)
    det = info[:, 0, 0] * info[:, 1, 1] - info[:, 0, 1] ** 2
    bad = ~((info[:, 0, 0] > INFO_FLOOR) & (info[:, 1, 1] > INFO_FLOOR) & (det > 0))
    if bad.any():
        d0 = np.maximum(info[bad, 0, 0], INFO_FLOOR)
        d1 = np.maximum(info[bad, 1, 1], INFO_FLOOR)
        info[bad] = 0.0
        info[bad, 0, 0], info[bad, 1, 1] = d0, d1
    return info


def _inverse_2x2(A: np.ndarray) -> np.ndarray:
    """Inverses of the ``(B, 2, 2)`` information matrices (positive definite by construction of
    :func:`_information`): the closed form, the pseudo-inverse where the determinant is not
    positive and finite.
    """
    det = A[:, 0, 0] * A[:, 1, 1] - A[:, 0, 1] * A[:, 1, 0]
    good = np.isfinite(det) & (det > 0)
    d = np.where(good, det, 1.0)
    out = np.empty_like(A)
    out[:, 0, 0] = A[:, 1, 1] / d
    out[:, 1, 1] = A[:, 0, 0] / d
    out[:, 0, 1] = -A[:, 0, 1] / d
    out[:, 1, 0] = -A[:, 1, 0] / d
    if not good.all():
        out[~good] = np.linalg.pinv(A[~good])
    return out


def _solve(S: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GLS coefficients of the ``r`` responses from cross-products (zero padding → identity);
    Cholesky (:func:`wastewater.stats._kalman.solve`), pseudo-inverse where singular (a
    degenerate problem must not sink the whole batch).
    """
    inv, b, ssr, ok = solve(S, r)
    if not ok.all():
        for j in np.flatnonzero(~ok):
            Sxx = S[j, r:, r:].copy()
            d = np.einsum("ii->i", Sxx)
            d[d == 0.0] = 1.0
            inv[j] = np.linalg.pinv(Sxx)
            b[j] = inv[j] @ S[j, r:, :r]
            ssr[j] = np.diag(S[j, :r, :r]) - np.einsum("kr,kr->r", S[j, r:, :r], b[j])
    return inv, b, ssr


def fit_batch(problems: list[Problem]) -> BatchFit:
    """Fit every problem: REML ``(φ, λ)`` (unless fixed), then GLS of ``y`` and ``extra_y``.

    The problems are stored one after another (:mod:`wastewater.stats._kalman`) in chunks of at
    most :data:`CHUNK_ROWS` rows; each problem's numbers depend only on its own rows, so one
    problem alone and the same problem in a batch of thousands give the same result. Design
    widths are padded with zero columns (their block of ``X'Σ⁻¹X`` is set to the identity, so
    they change nothing).
    """
    B = len(problems)
    out = BatchFit(np.zeros(B), np.zeros(B), [np.zeros(0)] * B, [np.zeros((0, 0))] * B,
                   [np.zeros((0, 0))] * B, np.array([len(p.y) for p in problems], dtype=int),
                   np.array([p.X.shape[1] for p in problems], dtype=int), [np.zeros(0)] * B)
    if not B:
        return out
    lens = out.n
    start = 0
    while start < B:
        stop = start + 1
        rows = int(lens[start])
        while stop < B and rows + lens[stop] <= CHUNK_ROWS:
            rows += int(lens[stop])
            stop += 1
        _fit_chunk(problems, np.arange(start, stop), out)
        start = stop
    return out


def _fit_chunk(problems: list[Problem], idx: np.ndarray, out: BatchFit) -> None:
    """:func:`fit_batch` on the problems ``idx`` (one ragged chunk); results go into ``out``."""
    rg = _ragged(problems, idx)
    B = len(idx)
    free = np.array([problems[i].fixed is None for i in idx])
    phi = np.zeros(B)
    lam = np.zeros(B)
    for j, i in enumerate(idx):
        fx = problems[i].fixed
        if fx is not None:
            phi[j], lam[j] = fx
    f = fit_ragged(rg, out.k[idx], out.n[idx], free, phi, lam)
    out.phi[idx] = f.phi
    out.lam[idx] = f.lam
    assert out.df is not None
    for j, i in enumerate(idx):
        kk = out.k[i]
        rr = 1 + (problems[i].extra_y.shape[1] if problems[i].extra_y is not None else 0)
        out.beta[i] = f.beta[j, :kk, :rr].T
        out.cov_unscaled[i] = f.cov[j, :kk, :kk]
        out.df[i] = f.df[j, :kk]
        out.sigma2[i] = f.sigma2[j, :rr]


@dataclass
class RaggedFit:
    """Results of :func:`fit_ragged` as arrays over the problems of one chunk."""

    phi: np.ndarray     # (B,)
    lam: np.ndarray     # (B,)
    beta: np.ndarray    # (B, k_max, r): coefficients of each response (padding columns 0)
    cov: np.ndarray     # (B, k_max, k_max): (X'Σ⁻¹X)⁻¹ + Kackar–Harville term / σ²
    df: np.ndarray      # (B, k_max): Satterthwaite df of each coefficient
    sigma2: np.ndarray  # (B, r): scale of each response


def fit_ragged(rg: Ragged, k: np.ndarray, n_all: np.ndarray, free: np.ndarray,
               phi_fixed: np.ndarray, lam_fixed: np.ndarray,
               workspace: Workspace | None = None) -> RaggedFit:
    """The estimator of :func:`fit_batch` on one ragged chunk (``k``: design columns actually
    used, zero columns being padding; ``free`` False takes ``(φ, λ)`` from the fixed arrays;
    ``workspace`` lends the row buffers, same numbers).
    """
    ws = Workspace() if workspace is None else workspace
    B = len(k)
    r = rg.r
    n_est = np.bincount(rg.pid[rg.est], minlength=B)
    phi = phi_fixed.astype(float).copy()
    lam = lam_fixed.astype(float).copy()
    info = np.full((B, 2, 2), np.nan)
    if free.any():
        R = _residuals(rg)
        dfe = np.maximum(n_est - k, 1).astype(float)
        # fixed problems ride along (their estimates are discarded)
        pe, le = _estimate(R, rg, dfe)
        phi = np.where(free, pe, phi)
        lam = np.where(free, le, lam)
        again = free & (np.bincount(rg.pid[~np.isnan(rg.upper)], minlength=B) > 0)
        # the information at the first estimate only where no second estimate replaces it
        first = rg if not again.any() else Ragged(rg.off, rg.pid, rg.pos, rg.est & ~again[rg.pid],
                                                  rg.allrows, rg.Z, rg.upper, rg.r)
        info = _information(R, first, phi, lam, dfe)
        if again.any():
            # censored values back in, at their conditional means under the first estimate
            R, est = _imputed_residuals(rg, phi, lam, n_all, k, again, ws)
            rg_c = Ragged(rg.off, rg.pid, rg.pos, est, rg.allrows, rg.Z, rg.upper, rg.r)
            dfc = np.maximum(np.bincount(rg.pid[est], minlength=B) - k, 1).astype(float)
            pe, le = _estimate(R, rg_c, dfc, start=(phi, lam))
            phi = np.where(again, pe, phi)
            lam = np.where(again, le, lam)
            info = np.where(again[:, None, None], _information(R, rg_c, phi, lam, dfc), info)
    Z = rg.Z
    N, m = Z.shape
    W, gains = whiten(Z, rg.allrows, rg.pos, rg.off, phi, lam,
                      out=(ws.take("W", N, m), ws.take("gains", N, 3)))
    S = gram(W, rg.off)
    inv, b, ssr = _solve(S, r)
    dfr = (n_all - k).astype(float)
    extra_var: np.ndarray = np.zeros(B)
    has = np.bincount(rg.pid[~np.isnan(rg.upper)], minlength=B) > 0
    inv_obs = inv
    if has.any():
        Z = ws.take("Z", N, m)
        Z[:] = rg.Z
        extra_var, ok, vrow = censored_em(Z, r, rg.upper, rg.off, gains, W, S, inv, b, ssr, dfr,
                                          has, CENSORED_ITERATIONS)
        if not ok.all():  # a singular refit: the pseudo-inverse fallback of _solve
            inv, b, ssr = _solve(S, r)
        # the refits' imputed values are not data: observed information = complete − missing
        # (Louis' formula [Louis1982]_), Var(β) = σ²(X'R⁻¹X − Σ_c v_c g_c g_c'/σ²)⁻¹
        s2_em = np.maximum(ssr[:, 0] + extra_var, 1e-300) / dfr
        miss = missing_information(W, gains, rg.off, vrow, r, has)
        S_obs = S.copy()
        S_obs[:, r:, r:] -= miss / s2_em[:, None, None]
        i_obs, _, _, ok_obs = solve(S_obs, r)
        inv_obs = np.where(ok_obs[:, None, None], i_obs, inv)
    # Kackar–Harville: variance of beta from estimating (phi, lambda) [KackarHarville1984]_
    # and Satterthwaite degrees of freedom of each variance [Satterthwaite1946]_
    kh = np.zeros_like(inv)
    df_coef = np.repeat(dfr[:, None], inv.shape[1], axis=1)
    if free.any():
        # exact derivatives of the GLS fit of y in (φ, λ) from the differentiated filter:
        # db = A⁻¹(dc − dA·b), dSSR = dyy − 2dc'b + b'dA b, d(A⁻¹)_jj = −(A⁻¹ dA A⁻¹)_jj
        yx = np.r_[0, np.arange(r, Z.shape[1])]
        dS = crossproduct_derivatives(Z, rg.allrows, rg.pos, rg.off, phi, lam, active=free, cols=yx)
        bb = b[:, :, 0]
        ss0 = np.maximum(ssr[:, 0] + extra_var, 1e-300)
        inv_diag = np.einsum("bii->bi", inv)
        grads, vgrads = [], []
        for p in range(2):
            dA, dc, dyy = dS[:, p, 1:, 1:], dS[:, p, 1:, 0], dS[:, p, 0, 0]
            dAb = np.einsum("bij,bj->bi", dA, bb)
            grads.append(np.einsum("bij,bj->bi", inv, dc - dAb))
            dssr = dyy - 2 * np.einsum("bi,bi->b", dc, bb) + np.einsum("bi,bi->b", bb, dAb)
            dinv = -np.einsum("bij,bji->bi", np.matmul(inv, dA), inv)
            vgrads.append(dssr[:, None] / ss0[:, None] + dinv / inv_diag)
        G = np.stack(grads, axis=2)  # (b, k_max, 2)
        V = np.stack(vgrads, axis=2)  # (b, k_max, 2): d log Var(beta_j) / d theta
        Iinv = _inverse_2x2(np.where(free[:, None, None], info, np.eye(2)))
        kh = np.matmul(np.matmul(G, Iinv), G.transpose(0, 2, 1))
        var_logv = np.einsum("nkc,nkc->nk", np.matmul(V, Iinv), V)
        df_sat = 2.0 / (var_logv + 2.0 / dfr[:, None])
        df_coef = np.where(free[:, None], np.minimum(df_sat, dfr[:, None]), df_coef)
        kh[~free] = 0.0
    s2 = np.maximum(ssr[:, 0] + extra_var, 0.0) / dfr
    cov = inv_obs + kh / np.maximum(s2, 1e-300)[:, None, None]
    sig_all = np.maximum(ssr, 0.0) / dfr[:, None]
    sig_all[:, 0] = s2
    return RaggedFit(phi, lam, b, cov, df_coef, sig_all)


def _imputed_residuals(rg: Ragged, phi: np.ndarray, lam: np.ndarray, n_all: np.ndarray,
                       k: np.ndarray, active: np.ndarray, ws: Workspace) -> tuple[np.ndarray, np.ndarray]:
    """Residuals for re-estimating ``(φ, λ)`` of the ``active`` problems with their censored
    values included: the GLS + censored-value EM fit (:func:`~wastewater.stats._kalman.censored_em`)
    at ``(φ, λ)``, each censored value at its conditional mean given the others. Returns the
    residuals ``y − Xβ`` of every row and the estimation rows (all rows of the active problems,
    none of the others, whose numbers are not used).
    """
    N, m = rg.Z.shape
    Z = ws.take("Z", N, m)
    Z[:] = rg.Z
    W, gains = whiten(Z, rg.allrows, rg.pos, rg.off, phi, lam, active=active,
                      out=(ws.take("W", N, m), ws.take("gains", N, 3)))
    S = gram(W, rg.off, active=active)
    inv, b, ssr = _solve(S, rg.r)
    censored_em(Z, rg.r, rg.upper, rg.off, gains, W, S, inv, b, ssr, (n_all - k).astype(float),
                active, CENSORED_ITERATIONS)
    return residuals(Z, rg.off, b, rg.r), active[rg.pid]


@dataclass(frozen=True)
class LastTermTest:
    """The t-test of the last design column of one fitted problem (:func:`last_term_test`)."""

    estimate: float
    se: float
    df: float
    q: float  # two-sided t quantile at ``alpha`` with ``df``
    p_value: float
    fit: BatchFit


def last_term_test(problem: Problem, alpha: float) -> LastTermTest:
    """Fit one ``problem`` (:func:`fit_batch`) and test its design's last column: estimate, its
    Kackar–Harville standard error, Satterthwaite df [KackarHarville1984]_ [Satterthwaite1946]_,
    the two-sided ``t`` quantile at ``alpha`` and the p-value (NaN when the SE is 0).
    """
    from scipy import stats

    fit = fit_batch([problem])
    j = problem.X.shape[1] - 1
    b = float(fit.beta[0][0, j])
    se = float(np.sqrt(fit.sigma2[0][0] * fit.cov_unscaled[0][j, j]))
    assert fit.df is not None
    df = float(fit.df[0][j])
    q = float(stats.t.ppf(1 - alpha / 2, df))
    p = float(2 * stats.t.sf(abs(b / se), df)) if se > 0 else float("nan")
    return LastTermTest(b, se, df, q, p, fit)
