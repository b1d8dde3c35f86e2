"""Multiple testing over many sites × analytes × events: Benjamini–Hochberg false discovery rate.

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from statsmodels.stats.multitest import multipletests

__all__ = ["Q_VALUE_LABEL", "add_q_values", "bh_qvalues"]

#: Label to show next to q-values in tables, API and dashboards.
Q_VALUE_LABEL = "q-value (FDR, Benjamini–Hochberg)"


def bh_qvalues(p_values: ArrayLike) -> NDArray[np.float64]:
    """Benjamini–Hochberg adjusted p-values ("q-values") [BenjaminiHochberg1995]_.

    Parameters
    ----------
    p_values : array-like of float
        Raw p-values; NaN entries stay NaN and do not count in the number of tests.

    Returns
    -------
    numpy.ndarray
        ``q_(i) = min_{j ≥ i} min(1, m·p_(j)/j)`` over the sorted non-missing p-values.

    Examples
    --------
    >>> bh_qvalues([0.01, 0.04, 0.03, 0.005]).round(4).tolist()
    [0.02, 0.04, 0.04, 0.02]
    """
    p = np.asarray(p_values, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        if ((p[ok] < 0) | (p[ok] > 1)).any():
            raise ValueError("p-values must lie in [0, 1]")
        q[ok] = multipletests(p[ok], method="fdr_bh")[1]
    return q


def add_q_values(frame: pd.DataFrame, *, p_column: str = "p_value", q_column: str = "q_value",
                 alpha: float = 0.05) -> pd.DataFrame:
    """Return a copy of ``frame`` with BH q-values and a ``significant_fdr`` column.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per test (e.g. site × analyte × event) with a p-value column.
    p_column, q_column : str
    alpha : float
        FDR level: ``significant_fdr = q ≤ alpha`` [fraction].

    Returns
    -------
    pandas.DataFrame
        ``frame`` plus ``q_column`` and ``significant_fdr``; ``frame.attrs["q_value_label"]`` is
        :data:`Q_VALUE_LABEL`.
    """
    out = frame.copy()
    out[q_column] = bh_qvalues(out[p_column].to_numpy(dtype=float))
    out["significant_fdr"] = out[q_column] <= alpha
    out.attrs["q_value_label"] = Q_VALUE_LABEL
    out.attrs["fdr_alpha"] = alpha
    return out
