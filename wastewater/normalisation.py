"""Daily mass loads, population-normalised loads and population equivalents.

Pure functions on scalars, numpy arrays, pandas Series and xarray DataArrays (the container
type of the input is returned). NaN propagates (missing stays missing); negative inputs raise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from wastewater.parameters import per_capita_load_g_per_day
from wastewater.units import Numeric

NG_PER_L_TIMES_M3_TO_MG = 1.0e-3
"""1 ng L⁻¹ × 1 m³ = 1 µg = 10⁻³ mg (unit arithmetic, not a literature value)."""


def _check_nonnegative(name: str, value: ArrayLike) -> None:
    arr = np.asarray(value, dtype=float)
    if np.any(arr < 0):
        bad = arr[arr < 0].ravel()[:3].tolist() if arr.ndim else [float(arr)]
        raise ValueError(f"{name} must be >= 0, got negative value(s) {bad}; "
                         "check the sign and the unit of the input")


def _check_positive(name: str, value: ArrayLike) -> None:
    arr = np.asarray(value, dtype=float)
    if np.any(arr <= 0):
        bad = arr[arr <= 0].ravel()[:3].tolist() if arr.ndim else [float(arr)]
        raise ValueError(f"{name} must be > 0, got {bad}")


def load_mg_per_day(concentration_ng_per_l: Any, flow_m3_per_day: Any) -> Any:
    """Daily mass load of a residue entering the treatment plant.

    Parameters
    ----------
    concentration_ng_per_l : numeric
        Concentration in the 24 h composite influent sample. [ng L⁻¹]
    flow_m3_per_day : numeric
        Influent volume over the same 24 h. [m³ day⁻¹]

    Returns
    -------
    load_mg_per_day : numeric
        Same container type as the inputs. [mg day⁻¹]

    Raises
    ------
    ValueError
        If any concentration or flow is negative.

    Notes
    -----
    ``L = C · Q · 10⁻³`` because 1 ng L⁻¹ × 1 m³ = 1 µg = 10⁻³ mg [C]; the chain of [Zuccato2008]_
    (the standard chain of [Zuccato2008]_).

    Examples
    --------
    >>> load_mg_per_day(1000.0, 150_000.0)
    150000.0
    """
    _check_nonnegative("concentration_ng_per_l", concentration_ng_per_l)
    _check_nonnegative("flow_m3_per_day", flow_m3_per_day)
    return concentration_ng_per_l * flow_m3_per_day * NG_PER_L_TIMES_M3_TO_MG


def load_mg_per_day_per_1000(load_mg_per_day: Any, population: Any) -> Any:
    """Population-normalised load (PNL).

    Parameters
    ----------
    load_mg_per_day : numeric
        Daily mass load. [mg day⁻¹]
    population : numeric
        Population served (de jure, PE or other method). [persons]

    Returns
    -------
    load_mg_per_day_per_1000 : numeric
        [mg day⁻¹ (1000 inhabitants)⁻¹]

    Raises
    ------
    ValueError
        Negative load or non-positive population.

    Notes
    -----
    ``PNL = L / P × 1000`` [Zuccato2008]_; the unit EUDA/SCORE publish [EUDA2025]_.

    Examples
    --------
    >>> load_mg_per_day_per_1000(150_000.0, 500_000)
    300.0
    """
    _check_nonnegative("load_mg_per_day", load_mg_per_day)
    arr = np.asarray(population, dtype=float)
    if np.any(arr <= 0):
        raise ValueError(f"population must be > 0 persons, got {arr[arr <= 0].ravel()[:3].tolist()}")
    return load_mg_per_day / population * 1000.0


def load_from_pnl_mg_per_day(load_mg_per_day_per_1000: Numeric, population: float | Numeric) -> Numeric:
    """Invert :func:`load_mg_per_day_per_1000`: ``L = PNL × P / 1000`` [mg day⁻¹]."""
    _check_nonnegative("load_mg_per_day_per_1000", load_mg_per_day_per_1000)
    _check_positive("population", population)
    return load_mg_per_day_per_1000 * population / 1000.0


def population_equivalents(load_g_per_day: Numeric, measure: str, *,
                           per_capita_g_per_day: float | None = None) -> Numeric:
    """Population equivalents from a hydrochemical daily load.

    Parameters
    ----------
    load_g_per_day : numeric
        Daily influent load of the hydrochemical parameter. [g day⁻¹]
    measure : str
        ``bod5``, ``cod``, ``total-n``, ``total-p`` or ``nh4-n``.
    per_capita_g_per_day : float, optional
        Site-specific per-capita load; required for ``nh4-n``. [g day⁻¹ person⁻¹]

    Returns
    -------
    population_equivalents : numeric
        [persons]

    Notes
    -----
    ``PE = load / per-capita load``; 1 PE = 60 g BOD5/day [EEC1991]_, COD 120, TKN 11,
    total P 1.8 g/day [Gujer2007]_ (values from :data:`wastewater.parameters.PER_CAPITA_LOADS`).
    Hydrochemical PE can differ strongly from other population estimates (domain reference §2.2).

    Examples
    --------
    >>> population_equivalents(30_000_000.0, "bod5")
    500000.0
    """
    _check_nonnegative("load_g_per_day", load_g_per_day)
    per_capita = per_capita_load_g_per_day(measure, site_value_g_per_day=per_capita_g_per_day)
    return load_g_per_day / per_capita


def population_equivalents_from_concentration(concentration_ng_per_l: Any, flow_m3_per_day: Any, measure: str,
                                              *, per_capita_g_per_day: float | None = None) -> Any:
    """Population equivalents from a canonical concentration and flow [persons].

    ``load_g_per_day = C [ng L⁻¹] × Q [m³ day⁻¹] × 10⁻⁶`` then :func:`population_equivalents`.
    """
    load_mg = load_mg_per_day(concentration_ng_per_l, flow_m3_per_day)
    return population_equivalents(load_mg / 1000.0, measure, per_capita_g_per_day=per_capita_g_per_day)
