"""Units accepted in lab files and their factors to the canonical units (ng/L, m³/day).

Conversion happens once, at ingest (code-style-anchors.md §3.3): every concentration is
stored as ng L⁻¹ and every flow as m³ day⁻¹. The enums carry their factor to the canonical
unit, so ``value_canonical = value * unit.factor_to_canonical``.

Concentration factors follow from the SI prefixes and 1 m³ = 1000 L:

=========================  ==========  ===============================================
unit                       factor      why
=========================  ==========  ===============================================
ng/L                       1           canonical
µg/L (ug/L, μg/L, mcg/L)   1 000       1 µg = 1 000 ng
ng/mL                      1 000       1 ng/mL = 1 000 ng / 1 000 mL = 1 µg/L
mg/m³                      1 000       1 mg / 1 000 L = 1 µg/L
µg/m³                      1           1 µg / 1 000 L = 1 ng/L (RISE reports µg/m³,
                                       VallentunaNya2024)
mg/L                       1 000 000   1 mg = 10⁶ ng (hydrochemical BOD5, COD, N, P)
g/m³                       1 000 000   1 g / 1 000 L = 1 mg/L
=========================  ==========  ===============================================

Flow factors: 1 L/s = 86 400 L/day = 86.4 m³/day; 1 ML/day = 1 000 m³/day; 1 m³/h = 24 m³/day.
"""

from __future__ import annotations

import enum
import re
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import pandas as pd

from wastewater.exceptions import UnitError

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "ConcentrationUnit",
    "FlowUnit",
    "Numeric",
    "parse_flow_unit",
    "parse_unit",
    "to_m3_per_day",
    "to_ng_per_l",
]

Numeric = TypeVar("Numeric", float, np.ndarray, pd.Series, "xr.DataArray")
"""A number or a container of numbers; the unit conversions and the formulas of the core
(normalisation, censoring, back-calculation) return the container type they are given."""


class ConcentrationUnit(enum.Enum):
    """Mass-concentration units with their factor to ng L⁻¹.

    The enum value is the display symbol. ``factor_to_canonical`` multiplies a value in
    this unit to give ng L⁻¹.

    Examples
    --------
    >>> ConcentrationUnit.UG_PER_L.factor_to_canonical
    1000.0
    >>> ConcentrationUnit.UG_PER_M3.symbol
    'µg/m³'
    """

    NG_PER_L = "ng/L"
    UG_PER_L = "µg/L"
    NG_PER_ML = "ng/mL"
    MG_PER_M3 = "mg/m³"
    UG_PER_M3 = "µg/m³"
    MG_PER_L = "mg/L"
    G_PER_M3 = "g/m³"

    @property
    def symbol(self) -> str:
        """Display symbol, e.g. ``'µg/L'``."""
        return self.value

    @property
    def factor_to_canonical(self) -> float:
        """Factor from this unit to ng L⁻¹ [ng L⁻¹ per unit]: multiply a value by it."""
        return _CONCENTRATION_FACTORS[self]


_CONCENTRATION_FACTORS: dict[ConcentrationUnit, float] = {
    ConcentrationUnit.NG_PER_L: 1.0,
    ConcentrationUnit.UG_PER_L: 1_000.0,
    ConcentrationUnit.NG_PER_ML: 1_000.0,
    ConcentrationUnit.MG_PER_M3: 1_000.0,
    ConcentrationUnit.UG_PER_M3: 1.0,
    ConcentrationUnit.MG_PER_L: 1_000_000.0,
    ConcentrationUnit.G_PER_M3: 1_000_000.0,
}


class FlowUnit(enum.Enum):
    """Volumetric flow units with their factor to m³ day⁻¹.

    Examples
    --------
    >>> FlowUnit.L_PER_S.factor_to_canonical
    86.4
    """

    M3_PER_DAY = "m³/d"
    L_PER_S = "L/s"
    ML_PER_DAY = "ML/d"
    M3_PER_H = "m³/h"

    @property
    def symbol(self) -> str:
        """Display symbol, e.g. ``'L/s'``."""
        return self.value

    @property
    def factor_to_canonical(self) -> float:
        """Multiply a flow in this unit by this factor to get m³ day⁻¹."""
        return _FLOW_FACTORS[self]


_FLOW_FACTORS: dict[FlowUnit, float] = {
    FlowUnit.M3_PER_DAY: 1.0,
    FlowUnit.L_PER_S: 86.4,  # 86 400 s/day × 1 L = 86 400 L = 86.4 m³
    FlowUnit.ML_PER_DAY: 1_000.0,  # 1 megalitre = 10⁶ L = 1 000 m³
    FlowUnit.M3_PER_H: 24.0,
}

# Normalised spelling -> unit. Keys are produced by ``_normalise_unit_text``.
_CONCENTRATION_SPELLINGS: dict[str, ConcentrationUnit] = {
    "ng/l": ConcentrationUnit.NG_PER_L,
    "ug/l": ConcentrationUnit.UG_PER_L,
    "ng/ml": ConcentrationUnit.NG_PER_ML,
    "mg/m3": ConcentrationUnit.MG_PER_M3,
    "ug/m3": ConcentrationUnit.UG_PER_M3,
    "mg/l": ConcentrationUnit.MG_PER_L,
    "g/m3": ConcentrationUnit.G_PER_M3,
}

_FLOW_SPELLINGS: dict[str, FlowUnit] = {
    "m3/d": FlowUnit.M3_PER_DAY,
    "m3/day": FlowUnit.M3_PER_DAY,
    "m3/dygn": FlowUnit.M3_PER_DAY,
    "l/s": FlowUnit.L_PER_S,
    "ml/d": FlowUnit.ML_PER_DAY,
    "ml/day": FlowUnit.ML_PER_DAY,
    "m3/h": FlowUnit.M3_PER_H,
}

_INVERSE_EXPONENT = re.compile(r"^([a-z0-9]+?)(l|m3|ml|d|day|s|h)-1$")


def _normalise_unit_text(text: str) -> str:
    """Fold a unit spelling to a lookup key: ``'µg / m³'`` → ``'ug/m3'``.

    Handles the micro sign (U+00B5) and Greek mu (U+03BC), ``mcg``, superscript ³ and ⁻¹,
    spaces, ``per`` and underscores (``ng_per_l``, ``ng_l``) and ``ng L-1`` notation.
    """
    key = text.strip().casefold()
    key = key.replace("\u00b5", "u").replace("\u03bc", "u").replace("mcg", "ug")
    key = key.replace("³", "3").replace("⁻¹", "-1").replace("−", "-")
    key = re.sub(r"\s+", "", key)
    key = key.replace("_per_", "/").replace("per", "/").replace("_", "/")
    key = re.sub(r"/+", "/", key).strip("/")
    match = _INVERSE_EXPONENT.match(key)
    if match and "/" not in key:
        key = f"{match.group(1)}/{match.group(2)}"
    return key


def parse_unit(text: str | ConcentrationUnit) -> ConcentrationUnit:
    """Parse a concentration unit written in a lab file.

    Parameters
    ----------
    text : str or ConcentrationUnit
        Unit as written, e.g. ``'ng/L'``, ``'µg/L'``, ``'ug/l'``, ``'mcg/L'``,
        ``'µg/m³'``, ``'ng_per_l'``.

    Returns
    -------
    ConcentrationUnit

    Raises
    ------
    UnitError
        If the text is not a known concentration unit; the message lists accepted units.

    Examples
    --------
    >>> parse_unit("μg/m3")
    <ConcentrationUnit.UG_PER_M3: 'µg/m³'>
    """
    if isinstance(text, ConcentrationUnit):
        return text
    unit = _CONCENTRATION_SPELLINGS.get(_normalise_unit_text(str(text)))
    if unit is None:
        raise UnitError(
            f"unknown concentration unit {str(text)!r}; accepted units: "
            f"{accepted_concentration_units()}"
        )
    return unit


def parse_flow_unit(text: str | FlowUnit) -> FlowUnit:
    """Parse a flow unit (``'m3/d'``, ``'m³/dygn'``, ``'L/s'``, ``'ML/d'``, ``'m3/h'``).

    Raises
    ------
    UnitError
        If the text is not a known flow unit; the message lists accepted units.

    Examples
    --------
    >>> parse_flow_unit("l/s")
    <FlowUnit.L_PER_S: 'L/s'>
    """
    if isinstance(text, FlowUnit):
        return text
    unit = _FLOW_SPELLINGS.get(_normalise_unit_text(str(text)))
    if unit is None:
        raise UnitError(f"unknown flow unit {str(text)!r}; accepted units: {accepted_flow_units()}")
    return unit


def accepted_concentration_units() -> str:
    """Comma-separated list of accepted concentration units, for messages."""
    return ", ".join(u.symbol for u in ConcentrationUnit) + " (also ug/L, mcg/L, mg/m3, µg/m3)"


def accepted_flow_units() -> str:
    """Comma-separated list of accepted flow units, for messages."""
    return ", ".join(u.symbol for u in FlowUnit) + " (also m3/d, m3/day)"


def to_ng_per_l(value: Numeric, unit: str | ConcentrationUnit) -> Numeric:
    """Convert a concentration to ng L⁻¹.

    Parameters
    ----------
    value : float, numpy.ndarray or pandas.Series
        Concentration in ``unit``. [unit]
    unit : str or ConcentrationUnit
        Unit of ``value``; strings go through :func:`parse_unit`.

    Returns
    -------
    concentration_ng_per_l : same type as ``value``
        [ng L⁻¹]

    Raises
    ------
    UnitError
        If ``unit`` is unknown.

    Notes
    -----
    ``c_ng_per_l = c · f`` with ``f`` from :class:`ConcentrationUnit` (SI prefixes,
    1 m³ = 1 000 L; see the module docstring).

    Examples
    --------
    >>> to_ng_per_l(2.5, "µg/L")
    2500.0
    >>> to_ng_per_l(66.0, "µg/m³")
    66.0
    """
    return value * parse_unit(unit).factor_to_canonical


def to_m3_per_day(value: Numeric, unit: str | FlowUnit) -> Numeric:
    """Convert a volumetric flow to m³ day⁻¹.

    Parameters
    ----------
    value : float, numpy.ndarray or pandas.Series
        Flow in ``unit``. [unit]
    unit : str or FlowUnit
        Unit of ``value``; strings go through :func:`parse_flow_unit`.

    Returns
    -------
    flow_m3_per_day : same type as ``value``
        [m³ day⁻¹]

    Notes
    -----
    1 L s⁻¹ = 86 400 L day⁻¹ = 86.4 m³ day⁻¹; 1 ML day⁻¹ = 1 000 m³ day⁻¹.

    Examples
    --------
    >>> to_m3_per_day(100.0, "L/s")
    8640.0
    """
    return value * parse_flow_unit(unit).factor_to_canonical
