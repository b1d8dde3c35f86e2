"""Substance catalogue: canonical analyte ids, names, aliases, CAS numbers and molar masses.

The catalogue lives in ``wastewater/data/substances.csv`` (one row per analyte; see
docs/architecture.md for the ids). Columns:

``id``
    Canonical lowercase id used everywhere in the service (``benzoylecgonine``, ``thc-cooh`` …).
``name``
    Display name.
``aliases``
    ``|``-separated spellings accepted in lab files (abbreviations, Swedish names,
    StatCan/EUDA labels such as ``cocaine (benzoylecgonine)``).
``cas``
    CAS registry number; empty where it could not be checked (see ``note``).
``formula``, ``molar_mass_g_per_mol``
    Molecular formula and molar mass [g mol⁻¹], computed from the formula with standard atomic weights [IUPAC]_ [C]
    (computed from the formula with IUPAC atomic weights). Empty for hydrochemical sum
    parameters, which are not single compounds.
``class``
    ``drug_residue`` (target residue used to back-calculate ``parent``), ``parent_drug``
    (unchanged parent measured as a dumping check), ``biomarker`` (population marker) or
    ``hydrochemical`` (BOD5, COD, N, P).
``parent``
    Drug whose use the analyte indicates (``cocaine``, ``heroin``, ``thc`` …), empty if none.
``source``, ``note``
    Where the molar mass comes from; remarks.

Look-ups ignore case, spaces, hyphens, underscores, dots, commas and apostrophes, so
``"THC COOH"``, ``"thc_cooh"`` and ``"11-nor-9-carboxy-THC"`` all resolve to ``thc-cooh``.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from importlib import resources

import pandas as pd

from wastewater.exceptions import UnknownAnalyteError

__all__ = [
    "ANALYTE_CLASSES",
    "closest_analytes",
    "list_analytes",
    "molar_mass_g_per_mol",
    "normalise_key",
    "resolve_analyte",
    "try_resolve_analyte",
]

ANALYTE_CLASSES = ("drug_residue", "parent_drug", "biomarker", "hydrochemical")

_IGNORED_CHARACTERS = re.compile(r"[\s\-_.,'’′`´\u2010-\u2015]+")


def normalise_key(text: str) -> str:
    """Fold a name for look-up: casefold and drop spaces, hyphens, underscores, punctuation.

    Examples
    --------
    >>> normalise_key(" THC-COOH ")
    'thccooh'
    >>> normalise_key("Δ9-THC")
    'delta9thc'
    """
    key = str(text).casefold().replace("δ", "delta")
    return _IGNORED_CHARACTERS.sub("", key)


@functools.cache
def _catalogue() -> pd.DataFrame:
    """Read ``substances.csv`` once (cached)."""
    with (
        resources.files("wastewater")
        .joinpath("data/substances.csv")
        .open("r", encoding="utf-8") as handle
    ):
        frame = pd.read_csv(handle, dtype=str, keep_default_na=False)
    frame["molar_mass_g_per_mol"] = pd.to_numeric(
        frame["molar_mass_g_per_mol"].replace("", None), errors="raise"
    ).astype(float)
    return frame


@functools.cache
def _lookup() -> dict[str, str]:
    """Map every normalised spelling (id, name, alias, CAS) to its canonical id.

    Raises
    ------
    ValueError
        If two analytes claim the same spelling (the catalogue is inconsistent).
    """
    table: dict[str, str] = {}
    for row in _catalogue().itertuples(index=False):
        spellings = [row.id, row.name, *[a for a in row.aliases.split("|") if a]]
        if row.cas:
            spellings.append(row.cas)
        for spelling in spellings:
            key = normalise_key(spelling)
            if not key:
                continue
            previous = table.setdefault(key, row.id)
            if previous != row.id:
                raise ValueError(
                    f"substances.csv: spelling {spelling!r} is claimed by both "
                    f"{previous!r} and {row.id!r}"
                )
    return table


@functools.lru_cache(maxsize=1)
def _display_names() -> dict[str, str]:
    """Spellings shown in suggestions (ids, names, aliases) keyed by normalised form (built
    once: an upload with many unknown analytes asked for it on every row).
    """
    names: dict[str, str] = {}
    for row in _catalogue().itertuples(index=False):
        for spelling in [row.id, row.name, *[a for a in row.aliases.split("|") if a]]:
            names.setdefault(normalise_key(spelling), spelling)
    return names


def closest_analytes(text: str, n: int = 3) -> list[str]:
    """Return up to ``n`` known names closest to ``text`` (difflib ratio), best first.

    Answers are cached per distinct spelling (:func:`_closest_cached`): a file repeating one
    misspelt analyte on 100 000 rows computes its suggestions once.

    Each suggestion is written ``'alias (id)'`` when the alias differs from the id.

    Examples
    --------
    >>> closest_analytes("amfetamine")[0]
    'amfetamin (amphetamine)'
    """
    return list(_closest_cached(normalise_key(text), n))


@functools.lru_cache(maxsize=4096)
def _closest_cached(key_text: str, n: int) -> tuple[str, ...]:
    names = _display_names()
    keys = difflib.get_close_matches(key_text, list(names), n=n * 3, cutoff=0.5)
    suggestions: list[str] = []
    for key in keys:
        analyte_id = _lookup()[key]
        label = names[key] if names[key] == analyte_id else f"{names[key]} ({analyte_id})"
        if label not in suggestions:
            suggestions.append(label)
        if len(suggestions) == n:
            break
    return tuple(suggestions)


def try_resolve_analyte(text: str) -> str | None:
    """Like :func:`resolve_analyte` but return ``None`` for unknown names."""
    if text is None:
        return None
    return _lookup().get(normalise_key(text))


def resolve_analyte(text: str) -> str:
    """Return the canonical analyte id for a name, alias or CAS number.

    Parameters
    ----------
    text : str
        As written in a lab file, e.g. ``'BE'``, ``'Benzoylecgonin'``,
        ``'11-nor-9-carboxy-THC'``, ``'519-09-5'``.

    Returns
    -------
    str
        Canonical id from ``substances.csv``.

    Raises
    ------
    UnknownAnalyteError
        If no id, name, alias or CAS number matches; the message lists the closest names.

    Examples
    --------
    >>> resolve_analyte("Benzoylecgonin")
    'benzoylecgonine'
    >>> resolve_analyte("6-monoacetylmorphine")
    '6-mam'
    """
    analyte_id = try_resolve_analyte(text)
    if analyte_id is None:
        suggestions = closest_analytes(str(text))
        hint = (
            f"closest known names: {', '.join(suggestions)}"
            if suggestions
            else "see list_analytes() or GET /api/v1/analytes for the known names"
        )
        raise UnknownAnalyteError(f"unknown analyte {str(text)!r}; {hint}")
    return analyte_id


def list_analytes() -> pd.DataFrame:
    """Return the catalogue as a DataFrame (one row per analyte, columns as in the CSV).

    ``aliases`` stays a ``|``-separated string; ``molar_mass_g_per_mol`` is float
    (NaN for hydrochemical sum parameters).

    Examples
    --------
    >>> float(list_analytes().set_index("id").loc["benzoylecgonine", "molar_mass_g_per_mol"])
    289.33
    """
    return _catalogue().copy()


def molar_mass_g_per_mol(analyte: str) -> float:
    """Molar mass of an analyte [g mol⁻¹] ([IUPAC]_ [C]).

    Parameters
    ----------
    analyte : str
        Id, name, alias or CAS number.

    Raises
    ------
    UnknownAnalyteError
        If the analyte is unknown.
    ValueError
        If the analyte is a hydrochemical sum parameter without a molar mass.

    Examples
    --------
    >>> molar_mass_g_per_mol("THC-COOH")
    344.45
    """
    analyte_id = resolve_analyte(analyte)
    row = _catalogue().set_index("id").loc[analyte_id]
    value = float(row["molar_mass_g_per_mol"])
    if math.isnan(value):
        raise ValueError(f"{analyte_id!r} is a {row['class']} sum parameter without a molar mass")
    return value


def measured_analytes_for(substance: str, available: list[str] | None = None) -> list[str]:
    """Analytes that measure ``substance``: its target residues first, then the parent itself.

    An event names a drug (``cocaine``); the lab measures its residue (``benzoylecgonine``).
    The catalogue's ``parent`` column links them: residues (class ``drug_residue``) whose
    parent is the drug come first, then the drug itself if it is an analyte. A name that is
    already a residue or biomarker maps to itself. With ``available`` (the analytes a site
    has), only those are returned, in the same order.

    Examples
    --------
    >>> measured_analytes_for("cocaine")
    ['benzoylecgonine', 'cocaine']
    >>> measured_analytes_for("kokain", available=["benzoylecgonine", "thc-cooh"])
    ['benzoylecgonine']
    """
    cat = _catalogue()
    analyte = try_resolve_analyte(substance)
    key = analyte or normalise_key(substance)
    row = cat[cat["id"] == analyte] if analyte else cat.iloc[0:0]
    out: list[str]
    if analyte and len(row) and str(row["class"].iloc[0]) != "parent_drug":
        out = [analyte]
    else:
        parent = str(row["parent"].iloc[0]) if len(row) and str(row["parent"].iloc[0]) else key
        residues = cat[(cat["parent"].astype(str) == parent)
                       & (cat["class"].astype(str) == "drug_residue")]["id"].tolist()
        out = residues + ([analyte] if analyte and analyte not in residues else [])
    if available is not None:
        have = set(available)
        out = [a for a in out if a in have]
    return out
