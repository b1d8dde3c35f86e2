"""Tests for wastewater.catalogue: ids, aliases, CAS numbers, molar masses, errors."""

from __future__ import annotations

import re

import pytest

from wastewater.catalogue import (
    ANALYTE_CLASSES,
    closest_analytes,
    list_analytes,
    molar_mass_g_per_mol,
    resolve_analyte,
)
from wastewater.exceptions import UnknownAnalyteError

# docs/architecture.md, "Analyte ids"
ARCHITECTURE_IDS = [
    "benzoylecgonine",
    "cocaine",
    "amphetamine",
    "methamphetamine",
    "mdma",
    "mda",
    "ketamine",
    "norketamine",
    "thc-cooh",
    "morphine",
    "codeine",
    "6-mam",
    "norfentanyl",
    "oxycodone",
    "methadone",
    "eddp",
    "tramadol",
    "o-desmethyltramadol",
    "cotinine",
    "hydroxycotinine",
    "ethyl-sulfate",
    "caffeine",
    "paraxanthine",
    "creatinine",
    "bod5",
    "cod",
    "total-n",
    "total-p",
    "nh4-n",
]


def test_ids_match_architecture():
    assert sorted(list_analytes()["id"]) == sorted(ARCHITECTURE_IDS)


def test_columns_and_classes():
    frame = list_analytes()
    assert list(frame.columns) == [
        "id",
        "name",
        "aliases",
        "cas",
        "formula",
        "molar_mass_g_per_mol",
        "class",
        "parent",
        "source",
        "note",
    ]
    assert set(frame["class"]) <= set(ANALYTE_CLASSES)
    assert (frame["source"] != "").all()
    assert frame.loc[frame["class"] != "hydrochemical", "molar_mass_g_per_mol"].notna().all()
    assert frame.loc[frame["class"] == "hydrochemical", "molar_mass_g_per_mol"].isna().all()


@pytest.mark.parametrize(
    ("analyte", "molar_mass"),
    # IUPAC table
    [
        ("benzoylecgonine", 289.33),
        ("cocaine", 303.36),
        ("thc-cooh", 344.45),
        ("6-mam", 327.38),
        ("ethyl-sulfate", 126.13),
        ("creatinine", 113.12),
        ("ketamine", 237.73),
    ],
)
def test_molar_masses_from_domain_table(analyte, molar_mass):
    assert molar_mass_g_per_mol(analyte) == molar_mass


def test_mass_ratio_cocaine_be_matches_domain_reference():
    # IUPAC: cocaine/BE mass ratio 1.048; ethanol/EtS 0.365 uses ethanol 46.07
    ratio = molar_mass_g_per_mol("cocaine") / molar_mass_g_per_mol("BE")
    assert round(ratio, 3) == 1.048


_ATOMIC_WEIGHTS = {"C": 12.011, "H": 1.008, "N": 14.007, "O": 15.999, "S": 32.06, "Cl": 35.45}


def _formula_mass(formula: str) -> float:
    return sum(
        _ATOMIC_WEIGHTS[element] * int(count or 1)
        for element, count in re.findall(r"([A-Z][a-z]?)(\d*)", formula)
    )


def test_molar_masses_agree_with_formulas():
    """Each tabulated molar mass equals the formula's mass (IUPAC conventional weights)."""
    frame = list_analytes()
    for row in frame[frame["formula"] != ""].itertuples():
        assert _formula_mass(row.formula) == pytest.approx(row.molar_mass_g_per_mol, abs=0.02), (
            row.id
        )


def test_cas_numbers_have_valid_check_digits():
    for cas in list_analytes()["cas"]:
        if not cas:
            continue
        assert re.fullmatch(r"\d{2,7}-\d{2}-\d", cas), cas
        digits = cas.replace("-", "")[:-1][::-1]
        assert sum((i + 1) * int(d) for i, d in enumerate(digits)) % 10 == int(cas[-1]), cas


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BE", "benzoylecgonine"),
        ("benzoylecgonin", "benzoylecgonine"),
        ("Cocaine (Benzoylecgonine)", "benzoylecgonine"),
        ("THC-COOH", "thc-cooh"),
        ("thc_cooh", "thc-cooh"),
        ("THC COOH", "thc-cooh"),
        ("11-nor-9-carboxy-THC", "thc-cooh"),
        ("MDMA", "mdma"),
        ("Ecstasy", "mdma"),
        ("6-MAM", "6-mam"),
        ("6-monoacetylmorphine", "6-mam"),
        ("EtS", "ethyl-sulfate"),
        ("ethyl sulphate", "ethyl-sulfate"),
        ("Amfetamin", "amphetamine"),
        ("519-09-5", "benzoylecgonine"),
        ("  o-DESMETHYLTRAMADOL ", "o-desmethyltramadol"),
        ("NH4-N", "nh4-n"),
        ("BOD5", "bod5"),
    ],
)
def test_resolve_analyte(text, expected):
    assert resolve_analyte(text) == expected


def test_every_id_name_alias_resolves_to_its_row():
    for row in list_analytes().itertuples():
        for spelling in [row.id, row.name, *filter(None, row.aliases.split("|")), row.cas]:
            if spelling:
                assert resolve_analyte(spelling) == row.id, spelling


def test_unknown_analyte_lists_closest_names():
    with pytest.raises(UnknownAnalyteError) as info:
        resolve_analyte("amfetamine")
    message = info.value.args[0]
    assert "'amfetamine'" in message
    assert "closest known names: amfetamin (amphetamine)" in message
    assert isinstance(info.value, KeyError)
    assert closest_analytes("benzoylecgonne")[0] == "benzoylecgonine"


def test_unknown_analyte_without_close_match():
    with pytest.raises(UnknownAnalyteError, match="list_analytes"):
        resolve_analyte("xyzzy-plugh-42")
