"""GET /analyses/*: change tests as JSON (wastewater.stats, issue 4).

Every analysis works on the daily ``load_mg_per_day_per_1000`` series of a site × analyte
(canonical units, censored days substituted by ``loq_method``). Endpoints that run several
tests at once (several analytes, several weekends, several alerts) report Benjamini–Hochberg
q-values next to the p-values (Benjamini & Hochberg 1995, JRSS B 57:289).
Analyses need a key (viewer and above): they are computed from single-day values.
"""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Annotated, Any, Callable, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Query

from api.deps import EngineDep, Principal, SettingsDep, require_rank
from api.errors import ApiError, item, responses
from api.routers.common import FromQ, ToQ, check_range
from api.routers.events import visible_events
from api.schemas import AnalysisOut
from api.services import daily_series, jsonable, require_site, resolve_analyte

router = APIRouter(prefix="/analyses", tags=["analyses"])
Viewer = Depends(require_rank(1, "run analyses (they use single-day values)"))
ERRS = responses(401, 403, 404, 422, 503)
LoqQ = Annotated[Literal["loq_half", "loq_sqrt2", "zero", "loq"],
                 Query(description="Substitution of censored values.")]
SiteReq = Annotated[str, Query(min_length=1, max_length=64, description="Site id.")]


def stats_fn(*candidates: str) -> Callable[..., Any]:
    """First existing ``module:function`` among ``candidates`` (module under wastewater.stats)."""
    for c in candidates:
        mod, _, name = c.partition(":")
        try:
            m = importlib.import_module(f"wastewater.stats.{mod}" if mod else "wastewater.stats")
        except ImportError:
            continue
        fn = getattr(m, name, None)
        if callable(fn):
            return fn
    raise ApiError(503, "analysis not available",
                   [item("not_installed", f"this server has none of {list(candidates)}")])


def bh_q_values(p_values: list[float | None]) -> list[float | None]:
    """Benjamini–Hochberg adjusted p-values (q-values); ``None`` stays ``None``.

    Uses ``wastewater.stats`` when it provides the adjustment, else the step-up formula
    ``q_(i) = min_{j >= i} p_(j) m / j`` [Benjamini & Hochberg 1995, JRSS B 57:289].
    """
    idx = [i for i, p in enumerate(p_values) if p is not None]
    if not idx:
        return [None] * len(p_values)
    ps = [float(p_values[i]) for i in idx]
    try:
        fn = stats_fn("fdr:bh_fdr", "fdr:benjamini_hochberg", "fdr:bh_adjust", ":bh_fdr", ":benjamini_hochberg")
        out = fn(ps)
        qs = list(getattr(out, "q_values", out))
    except ApiError:
        m = len(ps)
        order = sorted(range(m), key=lambda k: ps[k])
        qs = [0.0] * m
        running = 1.0
        for rank in range(m, 0, -1):
            k = order[rank - 1]
            running = min(running, ps[k] * m / rank)
            qs[k] = running
    res: list[float | None] = [None] * len(p_values)
    for i, q in zip(idx, qs):
        res[i] = float(q)
    return res


def _series(engine, site, analyte, loq_method, start=None, end=None) -> tuple[pd.Series, pd.Series]:  # noqa: ANN001
    daily, _ = daily_series(engine, site, analyte, "load_per_1000", start=start, end=end, loq_method=loq_method)
    if daily.empty:
        raise ApiError(422, "not enough data", [item("no_data", f"no results for {site} / {analyte}",
                                                      column="analyte")])
    idx = pd.DatetimeIndex(daily["date"])
    return (pd.Series(daily["value"].to_numpy(float), index=idx, name="load_mg_per_day_per_1000"),
            pd.Series(daily["censored"].to_numpy(bool), index=idx, name="censored"))


def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict:
    try:
        res = fn(*args, **kwargs)
    except (ValueError, LookupError) as exc:  # InsufficientDataError etc.
        raise ApiError(422, "analysis not possible", [item(type(exc).__name__, str(exc))]) from exc
    return jsonable(res.to_dict() if hasattr(res, "to_dict") else res)


def _p(d: dict) -> float | None:
    for k in ("p_value_after", "p_value", "p"):
        if d.get(k) is not None:
            return d[k]
    return None


@router.get("/operation-effect", response_model=AnalysisOut, summary="Effect of an operation/event on loads",
            responses=ERRS)
def operation_effect(
    engine: EngineDep, settings: SettingsDep, site: SiteReq,
    event_id: Annotated[str, Query(min_length=1, max_length=128)],
    analyte: Annotated[str | None, Query(max_length=64, description="Default: the event's substances.")] = None,
    method: Annotated[Literal["ar1", "hac", "ols"], Query()] = "ar1",
    before_days: Annotated[int, Query(ge=7, le=365, description="[days]")] = 56,
    after_days: Annotated[int, Query(ge=7, le=365, description="[days]")] = 56,
    loq_method: LoqQ = "loq_half",
    p: Principal = Viewer,
):
    """Relative change after (and during) the event with 95 % CI and p-value
    (`wastewater.stats.effects.operation_effect`); several analytes → BH q-values.
    Confidential events are found only with analyst/admin keys."""
    require_site(engine, p, settings, site)
    ev = next((e for e in visible_events(engine, settings, p) if e["event_id"] == event_id), None)
    if ev is None:
        raise ApiError(404, "not found", [item("unknown_event", f"no event {event_id!r} visible to this key",
                                               column="event_id")])
    analytes = [resolve_analyte(analyte)] if analyte else (ev["substances"] or [])
    if not analytes:
        raise ApiError(422, "invalid request parameters",
                       [item("analyte_required", "the event names no substances; give ?analyte=", column="analyte")])
    fn = stats_fn("effects:operation_effect")
    out = []
    for a in analytes:
        s, c = _series(engine, site, a, loq_method)
        d = _run(fn, s, censored=c, event_start=ev["start"], event_end=ev["end"], before_days=before_days,
                 after_days=after_days, method=method)
        out.append({"analyte": a, **d})
    qs = bh_q_values([_p(d) for d in out])
    for d, q in zip(out, qs):
        d["q_value"] = q
    return {"analysis": "operation_effect", "site": site, "analyte": ",".join(analytes), "event_id": event_id,
            "results": out, "q_values": qs}
