"""Unknown query parameters are an error, not silently ignored.

A caller who writes ``?start=2025-01-01`` where the API expects ``from`` would otherwise get the
whole period back and never notice.  :func:`reject_unknown_query` runs before every ``/api/v1``
route: it compares the query string's names with the parameters that route declares (its own and
those of its dependencies, by their public alias) and answers 422 naming each unknown parameter
and the closest valid one.
"""

from __future__ import annotations

import difflib

from fastapi import Request
from fastapi.routing import APIRoute

from api.errors import ApiError, item


def allowed_query_names(route: APIRoute) -> frozenset[str]:
    """The query parameter names (aliases) ``route`` accepts, dependencies included.

    Computed once per route and kept on it (routes are not hashable, so no lru_cache).
    """
    cached = getattr(route, "_allowed_query_names", None)
    if cached is not None:
        return cached
    names: set[str] = set()
    stack = [route.dependant]
    while stack:  # the route's own parameters and those of every (nested) dependency
        dependant = stack.pop()
        names.update(field.alias for field in dependant.query_params)
        stack.extend(dependant.dependencies)
    route._allowed_query_names = frozenset(names)  # type: ignore[attr-defined]
    return route._allowed_query_names  # type: ignore[attr-defined]


def unknown_query_errors(given: list[str], allowed: frozenset[str]) -> list[dict]:
    """One envelope entry per name in ``given`` that ``allowed`` lacks (pure, for tests)."""
    errors = []
    for name in dict.fromkeys(given):  # each name once, in request order
        if name in allowed:
            continue
        close = difflib.get_close_matches(name, sorted(allowed), n=1, cutoff=0.0)
        hint_en = f"; did you mean '{close[0]}'?" if close else ""
        hint_sv = f" Menade du '{close[0]}'?" if close else ""
        valid = ", ".join(sorted(allowed)) or "(none)"
        errors.append(
            item(
                "unknown_query_parameter",
                f"unknown query parameter '{name}'{hint_en} Valid parameters: {valid}.",
                column=name,
                location="query",
                message_sv=f"Okänd parameter '{name}' i adressen.{hint_sv} "
                f"Giltiga parametrar: {valid}.",
                suggestion=close[0] if close else None,
            )
        )
    return errors


async def reject_unknown_query(request: Request) -> None:
    """Router-level dependency: 422 for query names the matched route does not declare."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    errors = unknown_query_errors(list(request.query_params.keys()), allowed_query_names(route))
    if errors:
        raise ApiError(422, "unknown query parameter", errors)
