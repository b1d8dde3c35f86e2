"""Regression engines shared by the change tests: AR(1)-error GLS (REML) with gaps, OLS + HAC.

References
----------
.. [PW54] Prais, S.J. & Winsten, C.B. (1954). Trend estimators and serial correlation. Cowles
   Commission Discussion Paper 383 (full-sample AR(1) transform incl. the first observation).
.. [H77] Harville, D.A. (1977). Maximum likelihood approaches
   to variance component estimation. JASA 72:320 (REML: profile likelihood of the error-structure
   parameters with the −½·log|X'Σ⁻¹X| term that removes the small-sample bias of ML).
.. [NW87] Newey, W.K. & West, K.D. (1987). A simple, positive semi-definite, heteroskedasticity and
   autocorrelation consistent covariance matrix. Econometrica 55:703.
.. [NW94] Newey, W.K. & West, K.D. (1994). Automatic lag selection in covariance matrix
   estimation. Rev. Econ. Stud. 61:631 (rule of thumb maxlags = floor(4·(n/100)^(2/9))).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from wastewater.exceptions import WastewaterError

#: Search interval of the AR(1) coefficient (stationary, away from the unit root).
PHI_BOUNDS = (-0.95, 0.95)


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


def _ar1_transform(y: np.ndarray, X: np.ndarray, t: np.ndarray, phi: float):
    """Exact AR(1) whitening for observation times ``t`` (integer days, gaps allowed).

    With stationary AR(1) errors the observation ``d`` days after the previous one has conditional
    mean ``phi^d·e_prev`` and variance ``σ²(1 − phi^{2d})/(1 − phi²)``; scaling by
    ``sqrt((1 − phi²)/(1 − phi^{2d}))`` gives iid N(0, σ²) residuals (Prais–Winsten [PW54]_
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


def _reml_objective(phi: float, y, X, t) -> float:
    ys, Xs, logjac = _ar1_transform(y, X, t, phi)
    n, k = Xs.shape
    beta, *_ = np.linalg.lstsq(Xs, ys, rcond=None)
    ssr = float(np.sum((ys - Xs @ beta) ** 2))
    sign, logdet = np.linalg.slogdet(Xs.T @ Xs)
    if ssr <= 0 or sign <= 0:
        return np.inf
    return -(-(n - k) / 2 * np.log(ssr / (n - k)) - 0.5 * logdet + logjac)


def fit_ar1(y: np.ndarray, X: np.ndarray, t: np.ndarray) -> Fit:
    """GLS with AR(1) errors; ``phi`` by restricted maximum likelihood [H77]_.

    Parameters
    ----------
    y : ndarray (n,)
        Response (log load).
    X : ndarray (n, k)
        Full-rank design matrix.
    t : ndarray (n,)
        Strictly increasing observation times [days].

    Returns
    -------
    Fit
        ``df_resid = n − k − 1`` (one more degree of freedom spent on ``phi``).
    """
    n, k = X.shape
    res = optimize.minimize_scalar(_reml_objective, bounds=PHI_BOUNDS, args=(y, X, t),
                                   method="bounded", options={"xatol": 1e-4})
    phi = float(res.x)
    ys, Xs, _ = _ar1_transform(y, X, t, phi)
    beta, *_ = np.linalg.lstsq(Xs, ys, rcond=None)
    resid = ys - Xs @ beta
    sigma2 = float(resid @ resid) / (n - k)
    cov = sigma2 * np.linalg.inv(Xs.T @ Xs)
    return Fit(beta, np.sqrt(np.diag(cov)), n - k - 1, phi, float(np.sqrt(sigma2)),
               "GLS with AR(1) errors (REML phi, gaps handled exactly), Student-t df = n − k − 1")


def newey_west_maxlags(n: int) -> int:
    """Newey–West rule-of-thumb bandwidth ``floor(4·(n/100)^(2/9))`` [NW94]_."""
    return int(np.floor(4 * (n / 100.0) ** (2.0 / 9.0)))


def fit_hac(y: np.ndarray, X: np.ndarray, t: np.ndarray) -> Fit:
    """OLS with Newey–West HAC standard errors [NW87]_ and Student-t(n − k) reference.

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


def fit_ols(y: np.ndarray, X: np.ndarray, t: np.ndarray) -> Fit:
    """Plain OLS with iid standard errors (ignores autocorrelation; for comparison only)."""
    n, k = X.shape
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    sigma2 = float(resid @ resid) / (n - k)
    cov = sigma2 * np.linalg.inv(X.T @ X)
    return Fit(beta, np.sqrt(np.diag(cov)), n - k, 0.0, float(np.sqrt(sigma2)),
               "OLS with iid standard errors (ignores autocorrelation)")


ENGINES = {"ar1": fit_ar1, "hac": fit_hac, "ols": fit_ols}
