"""GET /analytes: substance catalogue plus the cited correction-factor catalogue."""

from __future__ import annotations

from fastapi import APIRouter

from api.errors import responses
from api.schemas import AnalytesOut
from api.services import records

router = APIRouter(tags=["catalogue"])


@router.get("/analytes", response_model=AnalytesOut, summary="Analytes and literature parameters",
            responses=responses(422))
def analytes() -> dict:
    """Every canonical analyte id (with aliases, CAS, molar mass [g/mol]) and every
    correction factor / typical dose with its reference key (wastewater/data/references.md)."""
    from wastewater.catalogue import list_analytes
    from wastewater.parameters import correction_factors

    a = list_analytes().rename(columns={"id": "analyte"})
    params = correction_factors().reset_index()
    return {"analytes": records(a), "parameters": records(params), "references": references()}


def references() -> dict[str, str]:
    """Bibliography ``{AuthorYear key: full reference}`` from wastewater/data/references.md."""
    import re
    from importlib import resources

    try:
        text = resources.files("wastewater").joinpath("data/references.md").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return {}
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^- \*\*([^*]+)\*\*: (.+)$", text, re.MULTILINE)}
