"""Tests of the cited parameter catalogue (wastewater.parameters)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from wastewater import parameters as P
from wastewater.exceptions import UnknownParameterError

REFERENCES = Path(P.__file__).parent / "data" / "references.md"


def reference_keys() -> set[str]:
    return set(re.findall(r"^- \*\*([A-Za-z0-9]+)\*\*:", REFERENCES.read_text("utf-8"), re.MULTILINE))


def test_every_entry_cites_a_key_in_references_md():
    keys = reference_keys()
    assert "Zuccato2008" in keys and "Castiglioni2013" in keys
    missing = P.cited_sources() - keys
    assert not missing, f"sources without a bibliography entry: {missing}"


def test_catalogue_version_column_matches_constant():
    table = P.correction_factors()
    assert set(table["catalogue_version"]) == {P.CATALOGUE_VERSION}
    assert table.index.is_unique


def test_cocaine_cf_entries_from_domain_reference():
    # Zuccato2008, Castiglioni2013: CF 2.33 (Zuccato 2008), 3.0, 3.59 (Castiglioni 2013)
    assert P.get_correction_factor("cocaine-be-zuccato2008").correction_factor == 2.33
    assert P.get_correction_factor("cocaine-be-3.0").correction_factor == 3.0
    assert P.get_correction_factor("cocaine-be-castiglioni2013").correction_factor == 3.59
    ids = {e.cf_id for e in P.correction_factors_for("benzoylecgonine")}
    assert ids == {"cocaine-be-zuccato2008", "cocaine-be-3.0", "cocaine-be-castiglioni2013"}


def test_cf_equals_molar_ratio_over_excretion_fraction():
    # CF = (M_parent/M_DTR)/f_excr (Zuccato2008, step 4 of the chain); published CFs are rounded
    for _, row in P.correction_factors().iterrows():
        if math.isnan(row.correction_factor):
            continue
        ratio = row.parent_molar_mass_g_per_mol / row.analyte_molar_mass_g_per_mol
        assert ratio / row.excretion_fraction == pytest.approx(row.correction_factor, rel=0.035), row.name


@pytest.mark.parametrize("cf_id, ratio", [
    ("cocaine-be-zuccato2008", 1.048), ("thc-thccooh-zuccato2008", 0.913),
    ("heroin-morphine-zuccato2008", 1.295), ("heroin-6mam", 1.128), ("methadone-eddp", 1.116),
])
def test_molar_mass_ratios_from_section_1_3(cf_id, ratio):
    assert P.get_correction_factor(cf_id).molar_mass_ratio == pytest.approx(ratio, abs=0.0006)


def test_mdma_refined_entry_flagged_low_confidence():
    old, new = P.get_correction_factor("mdma-zuccato2008"), P.get_correction_factor("mdma-gracialor2016")
    assert (old.correction_factor, new.correction_factor) == (1.5, 4.4)
    assert "LOW CONFIDENCE" in new.note and not new.is_default
    assert P.get_correction_factor("thc-thccooh-0.5pct").correction_factor == 183


def test_unknown_cf_id_lists_valid_ids():
    with pytest.raises(UnknownParameterError) as err:
        P.get_correction_factor("cocaine-be-9")
    assert "cocaine-be-zuccato2008" in str(err.value) and "tramadol-tramadol" in str(err.value)
    assert isinstance(err.value, KeyError)


def test_defaults_one_per_analyte():
    table = P.correction_factors()
    counts = table[table.is_default].groupby("analyte").size()
    assert (counts == 1).all()
    assert P.default_cf_id("benzoylecgonine") == "cocaine-be-zuccato2008"
    with pytest.raises(UnknownParameterError, match="eddp.*methadone-eddp"):
        P.default_cf_id("eddp")


def test_per_capita_loads_and_nh4n_needs_site_value():
    assert P.per_capita_load_g_per_day("bod5") == 60.0
    assert P.per_capita_load_g_per_day("cod") == 120.0
    assert P.per_capita_load_g_per_day("total-n") == 11.0
    assert P.per_capita_load_g_per_day("total-p") == 1.8
    with pytest.raises(UnknownParameterError, match="site-specific"):
        P.per_capita_load_g_per_day("nh4-n")
    assert P.per_capita_load_g_per_day("nh4-n", site_value_g_per_day=8.0) == 8.0
    with pytest.raises(UnknownParameterError, match="bod5"):
        P.per_capita_load_g_per_day("tss")


def test_uncertainty_defaults_match_domain_example():
    assert {k: P.default_rsd(k) for k in P.UNCERTAINTY_DEFAULTS} == pytest.approx({
        "analysis": 0.15, "sampling": 0.10, "flow_reading": 0.05, "flow_bias": 0.0866,
        "population": 0.20, "correction_factor": 0.26}, abs=1e-4)
    # reading and meter bias together keep the commonly assumed 10 % flow RSD
    assert math.hypot(P.default_rsd("flow_reading"), P.default_rsd("flow_bias")) == pytest.approx(0.10)
    with pytest.raises(UnknownParameterError, match="analysis"):
        P.default_rsd("weather")


def test_to_dict_is_json_safe():
    d = P.get_correction_factor("methadone-eddp").to_dict()
    assert d["correction_factor"] is None and d["source"] == "vanNuijs2011"


def test_docstring_citations_resolve():
    # every [AuthorYear]_ cited in an issue-3 module docstring is in the bibliography
    import inspect

    from wastewater import (
        backcalculation,
        censoring,
        export,
        normalisation,
        summaries,
        timeseries,
        uncertainty,
    )

    keys = reference_keys()
    cited = set()
    for mod in (backcalculation, censoring, export, normalisation, summaries, timeseries,
                uncertainty, P):
        cited |= set(re.findall(r"\[([A-Za-z]+[0-9]{4})\]_", inspect.getsource(mod)))
    assert cited, "no citations found"
    assert cited <= keys, f"unresolved citations: {cited - keys}"
