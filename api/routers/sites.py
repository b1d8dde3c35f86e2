"""GET /sites, GET /sites/{site}."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request

from api.deps import EngineDep, PageDep, PrincipalDep, SettingsDep, paginate
from api.errors import responses
from api.schemas import PageOut, SiteOut
from api.services import records, require_site, sites_frame

router = APIRouter(tags=["sites"])


@router.get(
    "/sites",
    response_model=PageOut[SiteOut],
    summary="Catchments visible to the caller",
    responses=responses(401, 422, 503),
)
def list_sites(request: Request, engine: EngineDep, settings: SettingsDep, p: PrincipalDep,
               page: PageDep) -> dict:
    """Anonymous callers see only catchments with latest population >= `min_public_population`
    (default 10 000, [Hall2012]_); keys with a site scope see only their sites."""
    return paginate(request, records(sites_frame(engine, p, settings)), page)


@router.get(
    "/sites/{site}",
    response_model=SiteOut,
    summary="One catchment",
    responses=responses(401, 404, 422, 503),
)
def get_site(engine: EngineDep, settings: SettingsDep, p: PrincipalDep,
             site: str = Path(..., max_length=64, description="Site id, e.g. SE-KAT-ROS.")) -> dict:
    """404 also when the site exists but is not visible to the caller."""
    return require_site(engine, p, settings, site)
