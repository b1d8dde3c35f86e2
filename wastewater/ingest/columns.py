"""Header handling: column-name aliases, kind detection and wide-format analyte headers.

Header cells are matched case-, space- and hyphen-insensitively; a few Swedish names are
accepted (``datum`` → ``date``, ``provdatum`` → ``sample_date``, ``flöde`` →
``flow_m3_per_day``, ``enhet`` → ``unit`` …). Unknown headers in a results file are tried as
analyte columns of a *wide* table (``amphetamine (ng/L)``, ``amphetamine_ng_per_l``,
``BE``, ``loq_amphetamine``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wastewater.catalogue import try_resolve_analyte
from wastewater.exceptions import UnitError
from wastewater.units import parse_unit

__all__ = [
    "KINDS",
    "REQUIRED",
    "AnalyteHeader",
    "canonical_column",
    "detect_kind",
    "parse_analyte_header",
]

KINDS = ("sites", "flows", "results", "events")

#: Required columns per kind (results: long layout; wide needs site + sample_date).
REQUIRED: dict[str, tuple[str, ...]] = {
    "sites": ("site", "name", "municipality", "population"),
    "flows": ("site", "date", "flow_m3_per_day"),
    "results": ("site", "sample_date", "analyte", "value", "unit"),
    "events": ("event_id", "kind", "start"),
}

#: Optional columns per kind (anything else is reported as ignored).
OPTIONAL: dict[str, tuple[str, ...]] = {
    "sites": ("population_year", "population_method", "lat", "lon", "treatment_plant"),
    "flows": ("unit",),
    "results": (
        "sample_id",
        "replicate",
        "qualifier",
        "loq",
        "lod",
        "flow_m3_per_day",
        "composite_hours",
        "sample_role",
        "lab",
        "method",
        "comment",
    ),
    "events": ("end", "sites", "substances", "description", "confidential"),
}

_ALIASES: dict[str, tuple[str, ...]] = {
    "site": ("site", "site_id", "siteid", "plats", "provplats", "provtagningsplats", "station"),
    "name": ("name", "namn", "site_name"),
    "municipality": ("municipality", "kommun", "kommunnamn"),
    "population": (
        "population",
        "befolkning",
        "invånare",
        "invanare",
        "antal_invånare",
        "population_served",
        "pop",
        "anslutna",
        "anslutna_personer",
    ),
    "population_year": ("population_year", "befolkningsår", "år", "year"),
    "population_method": ("population_method",),
    "lat": ("lat", "latitude", "latitud"),
    "lon": ("lon", "lng", "long", "longitude", "longitud"),
    "treatment_plant": ("treatment_plant", "wwtp", "stp", "reningsverk", "avloppsreningsverk"),
    "date": ("date", "datum", "dag", "day"),
    "sample_date": (
        "sample_date",
        "provdatum",
        "provtagningsdatum",
        "sampling_date",
        "collection_date",
    ),
    "sample_id": ("sample_id", "sampleid", "prov_id", "provid", "provnummer", "provnr", "sample"),
    "analyte": (
        "analyte",
        "analyt",
        "substance",
        "substans",
        "ämne",
        "compound",
        "measure",
        "metabolite",
        "parameter",
    ),
    "value": (
        "value",
        "värde",
        "varde",
        "concentration",
        "koncentration",
        "halt",
        "result",
        "resultat",
    ),
    "unit": ("unit", "units", "enhet"),
    "qualifier": ("qualifier", "censor", "flag", "flagga", "kvalifikator"),
    "loq": ("loq", "loq_value", "kvantifieringsgräns", "rapporteringsgräns"),
    "lod": ("lod", "lod_value", "detektionsgräns"),
    "replicate": ("replicate", "replikat", "rep"),
    "composite_hours": (
        "composite_hours",
        "composite_h",
        "duration_h",
        "sampling_hours",
        "provtagningstid_h",
    ),
    "sample_role": ("sample_role", "role", "provtyp", "roll"),
    "lab": ("lab", "laboratory", "laboratorium"),
    "method": ("method", "metod", "analysis_method"),
    "comment": ("comment", "kommentar", "anmärkning", "note", "notes"),
    "flow_m3_per_day": (
        "flow_m3_per_day",
        "flow",
        "flöde",
        "flode",
        "flow_m3_d",
        "flow_m3_day",
        "flow_m3_per_d",
        "flöde_m3_d",
        "flöde_m3_dygn",
        "inflow",
        "influent_flow",
    ),
    "event_id": ("event_id", "eventid", "händelse_id", "handelse_id"),
    "kind": ("kind", "type", "typ", "event_kind", "event_type", "händelsetyp"),
    "start": ("start", "start_date", "startdatum", "från", "from"),
    "end": ("end", "end_date", "slut", "slutdatum", "till", "to"),
    "sites": ("sites", "platser"),
    "substances": ("substances", "substanser", "ämnen", "analytes"),
    "description": ("description", "beskrivning", "text"),
    "confidential": ("confidential", "konfidentiell", "sekretess", "secret"),
}


def normalise_header(text: str) -> str:
    """Fold a header cell: casefold, drop brackets, spaces/hyphens/slashes → ``_``.

    Examples
    --------
    >>> normalise_header(" Flow (m3/d) ")
    'flow_m3_d'
    """
    key = text.strip().casefold().replace("³", "3")
    key = re.sub(r"[()\[\]]", " ", key)
    key = re.sub(r"[\s\-/.]+", "_", key)
    return key.strip("_")


def _build_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for canonical, aliases in _ALIASES.items():
        for alias in aliases:
            previous = lookup.setdefault(normalise_header(alias), canonical)
            if previous != canonical:
                raise ValueError(
                    f"column alias {alias!r} claimed by {previous!r} and {canonical!r}"
                )
    return lookup


_LOOKUP = _build_lookup()


def canonical_column(header: str, kind: str | None = None) -> str | None:
    """Canonical column name for a header cell, or ``None`` if it is not a known column.

    Kind-specific renames: in events ``site`` → ``sites`` and ``analyte`` → ``substances``;
    in sites ``method`` → ``population_method``; in flows ``sample_date`` → ``date``; in
    results ``date`` → ``sample_date``.

    Examples
    --------
    >>> canonical_column("Provdatum"), canonical_column("Datum", "results")
    ('sample_date', 'sample_date')
    """
    name = _LOOKUP.get(normalise_header(header))
    renames = {
        "events": {"site": "sites", "analyte": "substances"},
        "sites": {"method": "population_method"},
        "flows": {"sample_date": "date"},
        "results": {"date": "sample_date"},
    }.get(kind or "", {})
    return renames.get(name, name) if name else None


@dataclass(frozen=True)
class AnalyteHeader:
    """A wide-format analyte column: ``role`` is ``value``, ``loq`` or ``lod``."""

    analyte: str
    unit_text: str | None
    role: str


_BRACKETED_UNIT = re.compile(r"(.*?)\s*[(\[]\s*([^()\[\]]*?)\s*[)\]]\s*")
_ROLE_AFFIX = re.compile(r"^(loq|lod)[\s_\-]+(.+)$|^(.+?)[\s_\-]+(loq|lod)$", re.IGNORECASE)


def _split_unit(name: str) -> tuple[str, str | None] | None:
    """Split ``'amphetamine_ng_per_l'`` / ``'BE ug/L'`` / ``'BE (µg/m³)'`` into name and unit."""
    match = _BRACKETED_UNIT.fullmatch(name)
    if match:
        try:
            parse_unit(match.group(2))
            return match.group(1), match.group(2)
        except UnitError:
            pass
    tokens = re.split(r"([_\s]+)", name.strip())
    # tokens alternate word, separator, word ...; try the longest analyte prefix first
    for cut in range(len(tokens) - 2, 0, -2):
        prefix, suffix = "".join(tokens[:cut]), "".join(tokens[cut + 1 :])
        try:
            parse_unit(suffix)
        except UnitError:
            continue
        return prefix, suffix
    return None


def parse_analyte_header(header: str) -> AnalyteHeader | None:
    """Read a wide-format analyte column header, or return ``None``.

    Examples
    --------
    >>> parse_analyte_header("Amphetamine (ng/L)")
    AnalyteHeader(analyte='amphetamine', unit_text='ng/L', role='value')
    >>> parse_analyte_header("thc_cooh_ug_per_l")
    AnalyteHeader(analyte='thc-cooh', unit_text='ug_per_l', role='value')
    >>> parse_analyte_header("loq_BE")
    AnalyteHeader(analyte='benzoylecgonine', unit_text=None, role='loq')
    """
    text = header.strip()
    if not text:
        return None
    analyte = try_resolve_analyte(text)
    if analyte:
        return AnalyteHeader(analyte, None, "value")
    split = _split_unit(text)
    name, unit_text = split if split else (text, None)
    analyte = try_resolve_analyte(name)
    if analyte:
        return AnalyteHeader(analyte, unit_text, "value")
    match = _ROLE_AFFIX.match(name)
    if match:
        role = (match.group(1) or match.group(4)).casefold()
        inner = match.group(2) or match.group(3)
        analyte = try_resolve_analyte(inner)
        if analyte:
            return AnalyteHeader(analyte, unit_text, role)
    return None


def header_has_unit(header: str) -> bool:
    """True when a header carries a recognisable unit (``'amfetamine (ng/L)'``)."""
    return _split_unit(header.strip()) is not None


def detect_kind(headers: list[str]) -> tuple[str | None, str | None]:
    """Guess the file kind (and results layout) from the header cells.

    Returns
    -------
    kind : str or None
        ``sites``, ``flows``, ``results`` or ``events``; ``None`` if undecidable.
    layout : str or None
        ``long`` or ``wide`` for results, else ``None``.

    Notes
    -----
    Rules, in order: ``event_id`` + ``kind`` → events; ``analyte`` + ``value`` → results
    (long); ``population`` → sites; site + date + at least one analyte column → results
    (wide); ``flow_m3_per_day`` + a date → flows.
    """
    names = {canonical_column(h) for h in headers} - {None}
    if "event_id" in names and ("kind" in names or "start" in names):
        return "events", None
    if "analyte" in names and "value" in names:
        return "results", "long"
    if "population" in names:
        return "sites", None
    has_date = bool(names & {"date", "sample_date"})
    analyte_columns = [
        h for h in headers if canonical_column(h) is None and parse_analyte_header(h) is not None
    ]
    if has_date and "site" in names and analyte_columns:
        return "results", "wide"
    if has_date and "flow_m3_per_day" in names:
        return "flows", None
    return None, None
