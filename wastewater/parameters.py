"""Versioned, cited catalogue of literature parameters (correction factors, per-capita loads, RSDs).

Every number used by :mod:`wastewater.backcalculation`, :mod:`wastewater.normalisation` and
:mod:`wastewater.uncertainty` comes from here, never from a literal in code. Correction
factors live in ``wastewater/data/parameters.csv`` (one row per ``cf_id``, column
``catalogue_version``); per-capita loads and default relative standard deviations are the
documented dictionaries below. Every entry names a key of ``wastewater/data/references.md``.

Evidence tags follow the project domain reference: ``V`` verified, ``R`` recalled (verify
before relying on it), ``C`` computed, ``D`` derived from EUDA data.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import pandas as pd

from wastewater.exceptions import UnknownParameterError

CATALOGUE_VERSION = "2026.1"
"""Version of the parameter catalogue; stored with every derived consumption figure."""

_CSV_NAME = "parameters.csv"


@dataclass(frozen=True)
class CorrectionFactor:
    """One back-calculation correction factor entry.

    Attributes
    ----------
    cf_id : str
        Stable identifier, e.g. ``"cocaine-be-zuccato2008"``.
    parent_drug : str
        Consumed substance the CF converts to.
    analyte : str
        Canonical id of the drug target residue (DTR) measured in wastewater.
    parent_molar_mass_g_per_mol, analyte_molar_mass_g_per_mol : float
        Molar masses computed from the molecular formulas [IUPAC]_. [g mol⁻¹]
    excretion_fraction : float
        Mean molar fraction of a dose excreted as the DTR; NaN when unverified. [fraction, 0–1]
    correction_factor : float
        ``(M_parent / M_DTR) / excretion_fraction`` as published; NaN when not available. [unitless]
    typical_dose_mg : float
        Conventional dose used to convert to doses; NaN when none. [mg]
    evidence : str
        ``V``, ``R``, ``C`` or ``D``.
    source : str
        Key in ``wastewater/data/references.md``.
    is_default : bool
        Whether this is the default CF for its analyte.
    note : str
        Caveats.
    catalogue_version : str
        Version of the catalogue the entry belongs to.
    """

    cf_id: str
    parent_drug: str
    analyte: str
    parent_molar_mass_g_per_mol: float
    analyte_molar_mass_g_per_mol: float
    excretion_fraction: float
    correction_factor: float
    typical_dose_mg: float
    evidence: str
    source: str
    is_default: bool
    note: str
    catalogue_version: str

    @property
    def molar_mass_ratio(self) -> float:
        """Parent/DTR molar-mass ratio [unitless]."""
        return self.parent_molar_mass_g_per_mol / self.analyte_molar_mass_g_per_mol

    @property
    def has_correction_factor(self) -> bool:
        """True when a usable (finite) correction factor is catalogued."""
        return math.isfinite(self.correction_factor)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (NaN → None)."""
        out = asdict(self)
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


@dataclass(frozen=True)
class CitedValue:
    """A literature value with its unit, evidence tag, source key and note."""

    value: float
    unit: str
    evidence: str
    source: str
    note: str = ""


PER_CAPITA_LOADS: dict[str, CitedValue] = {
    "bod5": CitedValue(60.0, "g/day/person", "V", "EEC1991",
                       "1 population equivalent = 60 g BOD5/day (91/271/EEC); also Gujer 2007"),
    "cod": CitedValue(120.0, "g/day/person", "V", "Gujer2007", "DACH design value"),
    "total-n": CitedValue(11.0, "g/day/person", "V", "Gujer2007",
                          "Kjeldahl N design value; used for total N because nitrate/nitrite are "
                          "negligible in raw influent (approximation [C])"),
    "total-p": CitedValue(1.8, "g/day/person", "V", "Gujer2007", "DACH design value"),
}
"""Per-capita daily loads of hydrochemical parameters for population equivalents [g day⁻¹].

``nh4-n`` is deliberately absent: no generic per-capita NH4-N load was verified (Been et al.
2014 found site-specific values are needed); pass a site-specific value instead."""

HYDROCHEMICAL_ANALYTES = ("bod5", "cod", "total-n", "total-p", "nh4-n")

UNCERTAINTY_DEFAULTS: dict[str, CitedValue] = {
    "analysis": CitedValue(0.15, "RSD", "V", "Castiglioni2013",
                           "between-lab RSD 6-26 %; 15 % mid value as in the domain example"),
    "sampling": CitedValue(0.10, "RSD", "V", "Ort2010",
                           "artefacts insignificant to >=100 % depending on mode; 10 % assumes "
                           "flow-proportional 24 h composites"),
    "flow_reading": CitedValue(0.05, "RSD", "R", "Mathieu2011",
                               "random part of the commonly assumed 5-10 % flow uncertainty: "
                               "independent from one daily reading to the next; the split of "
                               "the 10 % total into reading and meter bias is an assumption [C]"),
    "flow_bias": CitedValue(math.sqrt(0.10**2 - 0.05**2), "RSD", "C", "Mathieu2011",
                            "systematic part (calibration of the site's flow meter), "
                            "sqrt(10 %^2 - 5 %^2) = 8.66 %, so that reading and bias together "
                            "keep the commonly assumed 10 % [C]"),
    "population": CitedValue(0.20, "RSD", "V", "Castiglioni2013",
                             "7-55 % spread between population methods (also Thomas2017)"),
    "correction_factor": CitedValue(0.26, "RSD", "V", "Castiglioni2013",
                                    "back-calculation RSD for cocaine"),
}
"""Default relative standard deviations of the WBE chain components [fraction].

The values reproduce the domain reference example (§4.2): flow 10 % (here split into a 5 %
per-day reading error and an 8.66 % per-site meter bias, together 10 %), analysis 15 %,
sampling 10 %, population 20 % (29 % on PNL), plus correction factor 26 % (39 %).
What each component is shared across (its *scope*: sample, day, site, site-year, analyte and
factor) is :data:`wastewater.uncertainty.SCOPES`; a site or lab overrides these defaults with
:class:`wastewater.uncertainty.ErrorModel` (e.g. the lab's RSD from its replicates)."""


def _parse_bool(text: str) -> bool:
    return str(text).strip().lower() in {"true", "1", "yes"}


@lru_cache(maxsize=1)
def _load_catalogue() -> tuple[CorrectionFactor, ...]:
    path = resources.files("wastewater") / "data" / _CSV_NAME
    with path.open("r", encoding="utf-8") as fh:
        frame = pd.read_csv(fh, dtype={"catalogue_version": str})
    entries = []
    for i, row in enumerate(frame.to_dict("records"), start=2):
        version = str(row["catalogue_version"])
        if version != CATALOGUE_VERSION:
            raise UnknownParameterError(
                f"{_CSV_NAME} line {i}: catalogue_version {version!r} differs from "
                f"CATALOGUE_VERSION {CATALOGUE_VERSION!r}; bump both together")
        entries.append(CorrectionFactor(
            cf_id=str(row["cf_id"]),
            parent_drug=str(row["parent_drug"]),
            analyte=str(row["analyte"]),
            parent_molar_mass_g_per_mol=float(row["parent_molar_mass_g_per_mol"]),
            analyte_molar_mass_g_per_mol=float(row["analyte_molar_mass_g_per_mol"]),
            excretion_fraction=float(row["excretion_fraction"]),
            correction_factor=float(row["correction_factor"]),
            typical_dose_mg=float(row["typical_dose_mg"]),
            evidence=str(row["evidence"]),
            source=str(row["source"]),
            is_default=_parse_bool(row["is_default"]),
            note="" if pd.isna(row["note"]) else str(row["note"]),
            catalogue_version=version,
        ))
    return tuple(entries)


def correction_factors() -> pd.DataFrame:
    """Return the whole correction-factor catalogue as a DataFrame indexed by ``cf_id``."""
    return pd.DataFrame([asdict(e) for e in _load_catalogue()]).set_index("cf_id")


def get_correction_factor(cf_id: str) -> CorrectionFactor:
    """Look up one correction factor entry.

    Parameters
    ----------
    cf_id : str
        Identifier, e.g. ``"cocaine-be-castiglioni2013"``.

    Returns
    -------
    CorrectionFactor

    Raises
    ------
    UnknownParameterError
        If ``cf_id`` is not catalogued; the message lists every valid id.
    """
    for entry in _load_catalogue():
        if entry.cf_id == cf_id:
            return entry
    valid = ", ".join(sorted(e.cf_id for e in _load_catalogue()))
    raise UnknownParameterError(
        f"unknown cf_id {cf_id!r}; valid ids (catalogue {CATALOGUE_VERSION}): {valid}")


def correction_factors_for(analyte: str) -> list[CorrectionFactor]:
    """All catalogued correction factors whose DTR is ``analyte`` (may be empty)."""
    return [e for e in _load_catalogue() if e.analyte == analyte]


def default_cf_id(analyte: str) -> str:
    """Default ``cf_id`` for a DTR analyte.

    Raises
    ------
    UnknownParameterError
        If the analyte has no default CF; the message lists analytes that have one.
    """
    for entry in _load_catalogue():
        if entry.analyte == analyte and entry.is_default:
            return entry.cf_id
    valid = ", ".join(sorted({e.analyte for e in _load_catalogue() if e.is_default}))
    others = [e.cf_id for e in correction_factors_for(analyte)]
    hint = f" (non-default entries for it: {', '.join(others)})" if others else ""
    raise UnknownParameterError(
        f"analyte {analyte!r} has no default correction factor{hint}; "
        f"analytes with a default: {valid}")


def per_capita_load_g_per_day(measure: str, *, site_value_g_per_day: float | None = None) -> float:
    """Per-capita daily load of a hydrochemical parameter [g day⁻¹ person⁻¹].

    Parameters
    ----------
    measure : str
        One of ``bod5``, ``cod``, ``total-n``, ``total-p``, ``nh4-n``.
    site_value_g_per_day : float, optional
        Site-specific per-capita value. Required for ``nh4-n``; overrides the catalogue
        value for the others. [g day⁻¹]

    Raises
    ------
    UnknownParameterError
        Unknown measure, or ``nh4-n`` without a site-specific value.
    """
    if site_value_g_per_day is not None:
        if not site_value_g_per_day > 0:
            raise ValueError(
                f"site_value_g_per_day must be > 0 g/day per person, got {site_value_g_per_day}")
        if measure not in HYDROCHEMICAL_ANALYTES:
            raise UnknownParameterError(
                f"unknown measure {measure!r}; valid: {', '.join(HYDROCHEMICAL_ANALYTES)}")
        return float(site_value_g_per_day)
    if measure == "nh4-n":
        raise UnknownParameterError(
            "no verified generic per-capita NH4-N load exists (domain reference §2.2); supply a "
            "site-specific value in g NH4-N/day/person (site_value_g_per_day= / "
            "nh4n_g_per_person_per_day=) calibrated against the connected population")
    try:
        return PER_CAPITA_LOADS[measure].value
    except KeyError:
        raise UnknownParameterError(
            f"unknown measure {measure!r}; valid: {', '.join(HYDROCHEMICAL_ANALYTES)}") from None


def default_rsd(component: str) -> float:
    """Default relative standard deviation of one uncertainty component [fraction].

    Raises
    ------
    UnknownParameterError
        Unknown component; the message lists the valid ones.
    """
    try:
        return UNCERTAINTY_DEFAULTS[component].value
    except KeyError:
        raise UnknownParameterError(
            f"unknown uncertainty component {component!r}; valid: "
            f"{', '.join(UNCERTAINTY_DEFAULTS)}") from None


def cited_sources() -> set[str]:
    """Every source key used anywhere in the catalogue (for the bibliography test)."""
    keys = {e.source for e in _load_catalogue()}
    keys |= {v.source for v in PER_CAPITA_LOADS.values()}
    keys |= {v.source for v in UNCERTAINTY_DEFAULTS.values()}
    keys |= {r.source for r in plausible_ranges().values()} | {"NoPrimarySource"}
    keys.add(EARLIEST_PLAUSIBLE_SAMPLE_DATE.source)
    return keys


# --------------------------------------------------------------------------- plausibility

_PLAUSIBILITY_CSV = "plausibility.csv"

EARLIEST_PLAUSIBLE_SAMPLE_DATE = CitedValue(
    2005.0, "year", "R", "Zuccato2008",
    "drug residues in wastewater were first measured for use estimates in 2005 (Zuccato et al.); "
    "an earlier sample date is almost certainly a typing error")
"""Sample dates before this year get a plausibility warning at ingest [year]."""


@dataclass(frozen=True)
class PlausibleRange:
    """Highest plausible influent concentration of one analyte, with how it was derived."""

    analyte: str
    max_load_mg_per_day_per_1000: float
    min_flow_l_per_person_day: float
    evidence: str
    source: str
    note: str

    @property
    def max_ng_per_l(self) -> float:
        """Highest plausible concentration [ng L⁻¹]: the highest published daily load divided by
        a low per-capita flow.

        ``C = L / q × 1000`` with ``L`` [mg day⁻¹ per 1000 inhabitants] and
        ``q`` [m³ day⁻¹ per 1000 inhabitants] = flow [L person⁻¹ day⁻¹] (1000 persons × L = m³),
        mg m⁻³ = µg L⁻¹ = 1000 ng L⁻¹; the loads are those of [EUDA2025]_.

        Examples
        --------
        >>> plausible_range("benzoylecgonine").max_ng_per_l
        47515.0
        """
        return self.max_load_mg_per_day_per_1000 / self.min_flow_l_per_person_day * 1000.0


@lru_cache(maxsize=1)
def plausible_ranges() -> dict[str, PlausibleRange]:
    """Per-analyte plausibility limits of the catalogue (``data/plausibility.csv``)."""
    path = resources.files("wastewater") / "data" / _PLAUSIBILITY_CSV
    with path.open("r", encoding="utf-8") as fh:
        frame = pd.read_csv(fh)
    return {
        str(row["analyte"]): PlausibleRange(
            analyte=str(row["analyte"]),
            max_load_mg_per_day_per_1000=float(row["max_load_mg_per_day_per_1000"]),
            min_flow_l_per_person_day=float(row["min_flow_l_per_person_day"]),
            evidence=str(row["evidence"]),
            source=str(row["source"]),
            note=str(row["note"]),
        )
        for row in frame.to_dict("records")
    }


def plausible_range(analyte: str) -> PlausibleRange | None:
    """The plausibility limit of ``analyte`` (canonical id), or ``None`` when none is cited."""
    return plausible_ranges().get(analyte)
