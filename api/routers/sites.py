"""GET /sites, GET /sites/{site}."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request

from api.deps import EngineDep, PageDep, Principal, SettingsDep, paginate, require
from api.errors import responses
from api.schemas import PageOut, SiteOut
from api.services import records, require_site, sites_frame

router = APIRouter(tags=["sites"])
_SITES = Depends(require("sites"))


@router.get(
    "/sites",
    response_model=PageOut[SiteOut],
    summary="Catchments visible to the caller",
    responses=responses(401, 422, 503),
)
def list_sites(request: Request, engine: EngineDep, settings: SettingsDep, page: PageDep,
               p: Principal = _SITES) -> dict:
    """Anonymous callers see only catchments with latest population >= `min_public_population`
    (default 10 000, [Hall2012]_); keys with a site scope see only their sites."""
    return paginate(request, records(sites_frame(engine, p, settings)), page)


@router.get(
    "/sites/{site}",
    response_model=SiteOut,
    summary="One catchment",
    responses=responses(401, 404, 422, 503),
)
def get_site(engine: EngineDep, settings: SettingsDep,
             site: str = Path(..., max_length=64, description="Site id, e.g. SE-KAT-ROS."),
             p: Principal = _SITES) -> dict:
    """404 also when the site exists but is not visible to the caller."""
    return require_site(engine, p, settings, site)
