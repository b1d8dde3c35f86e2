"""Regression engines shared by the change tests: AR(1)-error GLS (REML) with gaps, OLS + HAC.

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from wastewater.exceptions import WastewaterError

#: Search interval of the AR(1) coefficient (stationary, away from the unit root).
PHI_BOUNDS = (-0.95, 0.95)
#: Finite-difference step in phi for the Kackar–Harville term.
KH_STEP = 0.02


class InsufficientDataError(WastewaterError, ValueError):
    """Too few observations in a period to estimate a change."""


@dataclass(frozen=True)
class Fit:
    """Coefficients, standard errors and degrees of freedom of one fitted model."""

    params: np.ndarray
    bse: np.ndarray
    df_resid: float
    phi: float
    sigma: float
    method: str

    def t_interval(self, j: int, alpha: float) -> tuple[float, float, float]:
        """Return ``(low, high, p_value)`` of coefficient ``j`` with Student-t(df_resid)."""
        b, se = self.params[j], self.bse[j]
        q = stats.t.ppf(1 - alpha / 2, self.df_resid)
        p = 2 * stats.t.sf(abs(b / se), self.df_resid) if se > 0 else np.nan
        return b - q * se, b + q * se, p


def _ar1_transform(y: np.ndarray, X: np.ndarray, t: np.ndarray,
                   phi: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Exact AR(1) whitening for observation times ``t`` (integer days, gaps allowed).

    With stationary AR(1) errors the observation ``d`` days after the previous one has conditional
    mean ``phi^d·e_prev`` and variance ``σ²(1 − phi^{2d})/(1 − phi²)``; scaling by
    ``sqrt((1 − phi²)/(1 − phi^{2d}))`` gives iid N(0, σ²) residuals (Prais–Winsten [PraisWinsten1954]_
    generalised to gaps). Returns ``y*, X*, log|Jacobian|``.
    """
    d = np.diff(t)
    r = phi ** d
    scale = np.empty(len(y))
    scale[0] = np.sqrt(1 - phi**2)
    scale[1:] = np.sqrt((1 - phi**2) / (1 - r**2))
    ys = y.copy()
    ys[1:] = y[1:] - r * y[:-1]
    Xs = X.copy()
    Xs[1:] = X[1:] - r[:, None] * X[:-1]
    ys *= scale
    Xs *= scale[:, None]
    return ys, Xs, float(np.sum(np.log(scale)))


def _reml_objective(phi: float, y: np.ndarray, X: np.ndarray, t: np.ndarray) -> float:
    ys, Xs, logjac = _ar1_transform(y, X, t, phi)
    n, k = Xs.shape
    xtx = Xs.T @ Xs
    try:
        chol = np.linalg.cholesky(xtx)
    except np.linalg.LinAlgError:
        return np.inf
    z = np.linalg.solve(chol, Xs.T @ ys)  # ssr = y'y − z'z with z = L⁻¹X'y
    ssr = float(ys @ ys - z @ z)
    logdet = 2.0 * float(np.sum(np.log(np.diag(chol))))
    if ssr <= 1e-12 * float(ys @ ys):
        return np.inf
    return float(-(-(n - k) / 2 * np.log(ssr / (n - k)) - 0.5 * logdet + logjac))


def fit_ar1(y: np.ndarray, X: np.ndarray, t: np.ndarray, phi_mask: np.ndarray | None = None) -> Fit:
    """GLS with AR(1) errors; ``phi`` by restricted maximum likelihood [Harville1977]_.

    Parameters
    ----------
    y : ndarray (n,)
        Response (log load).
    X : ndarray (n, k)
        Full-rank design matrix.
    t : ndarray (n,)
        Strictly increasing observation times [days].
    phi_mask : ndarray of bool (n,), optional
        Observations used to estimate ``phi`` (the others count as missing there). Used to keep
        censored values (LOQ/2 substitutes, outliers on the log scale that pull ``phi`` towards 0
        and make the test anti-conservative) out of the autocorrelation estimate; the
        coefficients are then estimated from all observations.

    Returns
    -------
    Fit
        ``df_resid = n − k − 1`` (one more degree of freedom spent on ``phi``).
    """
    n, k = X.shape
    yp, Xp, tp = y, X, t
    if phi_mask is not None and phi_mask.sum() > k + 3:
        Xp = X[phi_mask]
        if np.linalg.matrix_rank(Xp) == k:
            yp, tp = y[phi_mask], t[phi_mask]
        else:
            Xp = X
    res = optimize.minimize_scalar(_reml_objective, bounds=PHI_BOUNDS, args=(yp, Xp, tp),
                                   method="bounded", options={"xatol": 1e-4})
    phi = float(res.x)
    beta, cov, sigma2 = _gls_at(y, X, t, phi)
    # Kackar–Harville: add the variance that comes from estimating phi [KackarHarville1984]_.
    h = KH_STEP
    lo, hi = max(phi - h, PHI_BOUNDS[0]), min(phi + h, PHI_BOUNDS[1])
    if hi - lo > h:
        f0 = _reml_objective(phi, yp, Xp, tp)
        f_lo, f_hi = _reml_objective(lo, yp, Xp, tp), _reml_objective(hi, yp, Xp, tp)
        curvature = ((f_hi - f0) / (hi - phi) - (f0 - f_lo) / (phi - lo)) / ((hi - lo) / 2)
        if np.isfinite(curvature) and curvature > 0:
            dbeta = (_gls_at(y, X, t, hi)[0] - _gls_at(y, X, t, lo)[0]) / (hi - lo)
            cov = cov + np.outer(dbeta, dbeta) / curvature
    return Fit(beta, np.sqrt(np.diag(cov)), n - k - 1, phi, float(np.sqrt(sigma2)),
               "GLS with AR(1) errors (REML phi, gaps handled exactly, Kackar–Harville "
               "correction for the estimated phi), Student-t df = n − k − 1")


def _gls_at(y: np.ndarray, X: np.ndarray, t: np.ndarray,
            phi: float) -> tuple[np.ndarray, np.ndarray, float]:
    n, k = X.shape
    ys, Xs, _ = _ar1_transform(y, X, t, phi)
    xtx_inv = np.linalg.inv(Xs.T @ Xs)
    beta = xtx_inv @ (Xs.T @ ys)
    resid = ys - Xs @ beta
    sigma2 = float(resid @ resid) / (n - k)
    return beta, sigma2 * xtx_inv, sigma2


def newey_west_maxlags(n: int) -> int:
    """Newey–West rule-of-thumb bandwidth ``floor(4·(n/100)^(2/9))`` [NeweyWest1994]_."""
    return int(np.floor(4 * (n / 100.0) ** (2.0 / 9.0)))


def fit_hac(y: np.ndarray, X: np.ndarray, t: np.ndarray, phi_mask: np.ndarray | None = None) -> Fit:
    """OLS with Newey–West HAC standard errors [NeweyWest1987]_ and Student-t(n − k) reference.

    Bartlett kernel, ``maxlags`` by :func:`newey_west_maxlags`, small-sample factor n/(n − k).
    Gaps are ignored (lags count observations, not days).
    """
    import statsmodels.api as sm

    n, k = X.shape
    lags = newey_west_maxlags(n)
    res = sm.OLS(y, X).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": True},
                           use_t=True)
    resid = res.resid
    phi = float(np.corrcoef(resid[:-1], resid[1:])[0, 1]) if n > 2 else np.nan
    return Fit(np.asarray(res.params), np.asarray(res.bse), n - k, phi,
               float(np.sqrt(res.scale)),
               f"OLS with Newey–West HAC standard errors (Bartlett, maxlags={lags}), Student-t df = n − k")


def fit_ols(y: np.ndarray, X: np.ndarray, t: np.ndarray, phi_mask: np.ndarray | None = None) -> Fit:
    """Plain OLS with iid standard errors (ignores autocorrelation; for comparison only)."""
    n, k = X.shape
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    sigma2 = float(resid @ resid) / (n - k)
    cov = sigma2 * np.linalg.inv(X.T @ X)
    return Fit(beta, np.sqrt(np.diag(cov)), n - k, 0.0, float(np.sqrt(sigma2)),
               "OLS with iid standard errors (ignores autocorrelation)")


ENGINES = {"ar1": fit_ar1, "hac": fit_hac, "ols": fit_ols}
