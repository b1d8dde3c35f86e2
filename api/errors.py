"""One JSON error envelope for every error the API returns.

Shape (datasette style, code-style-anchors.md §3.1)::

    {"ok": false, "status": 422, "error": "upload rejected",
     "errors": [{"line": 4, "column": "value", "code": "not_a_number", "message": "..."}]}

FastAPI's own 404/405/422 answers, our domain exceptions (``wastewater.exceptions``), the
413 size limit, 401/403 access refusals and 503 (database unavailable) all use it.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from wastewater import exceptions as wx

log = logging.getLogger("api")

_REASONS = {
    400: "bad request",
    401: "authentication required",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    406: "not acceptable",
    409: "conflict",
    413: "upload too large",
    415: "unsupported media type",
    422: "invalid request",
    500: "internal server error",
    503: "database unavailable",
}


class ErrorItem(BaseModel):
    """One problem: where it is (line/column of an upload, or the request parameter) and why."""

    model_config = ConfigDict(extra="allow")

    line: int | None = Field(None, description="1-based physical line in the uploaded file (header = 1).")
    column: str | None = Field(None, description="Column of the file, or name of the request parameter.")
    code: str = Field(..., description="Machine-readable problem code.")
    message: str = Field(..., description="What is wrong and how to fix it.")


class ErrorResponse(BaseModel):
    """Envelope of every error response."""

    ok: Literal[False] = False
    status: int = Field(..., description="HTTP status code, repeated in the body.")
    error: str = Field(..., description="Short summary of the error.")
    errors: list[ErrorItem] = Field(default_factory=list, description="Individual problems.")


class ApiError(Exception):
    """Raise from a route to answer with the error envelope."""

    def __init__(
        self,
        status: int,
        error: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.errors = errors or []
        self.headers = headers


def item(code: str, message: str, *, line: int | None = None, column: str | None = None, **extra: Any) -> dict:
    """Build one ``errors`` entry."""
    return {"line": line, "column": column, "code": code, "message": message, **extra}


def envelope(status: int, error: str, errors: list[dict] | None = None, headers: dict | None = None) -> JSONResponse:
    """The JSON error response."""
    body = {"ok": False, "status": status, "error": error, "errors": errors or []}
    return JSONResponse(body, status_code=status, headers=headers)


def issues_to_errors(report: Any) -> list[dict]:
    """Convert a ``ValidationReport`` (or its dict) to envelope ``errors`` entries."""
    d = report.to_dict() if hasattr(report, "to_dict") else dict(report)
    out = []
    for i in d.get("issues", []):
        out.append(
            {
                "line": i.get("line"),
                "column": i.get("column"),
                "code": i.get("code", "invalid"),
                "message": i.get("message", ""),
                "severity": i.get("severity", "error"),
                "value": i.get("value"),
            }
        )
    return out


def access_denied(exc: Any) -> ApiError:
    """The answer to a refusal of the policy (:class:`wastewater.access.AccessDenied`): 401 with
    ``WWW-Authenticate`` when a key could help, else 403; message in English and Swedish."""
    msg = f"{exc.message_en} / {exc.message_sv}"
    if exc.authenticate:
        return ApiError(401, "authentication required", [item("key_required", msg, resource=exc.resource)],
                        {"WWW-Authenticate": 'Bearer realm="wastewater"'})
    return ApiError(403, "forbidden", [item("role", msg, resource=exc.resource)])


def _validation_errors(exc: RequestValidationError) -> list[dict]:
    out = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ())]
        where = loc[0] if loc else None
        name = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else None)
        out.append(
            item(
                str(e.get("type", "invalid")),
                f"{name}: {e.get('msg', 'invalid value')}",
                column=name,
                location=where,
            )
        )
    return out


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the envelope."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return envelope(exc.status, exc.error, exc.errors, exc.headers)

    from wastewater.access import AccessDenied

    @app.exception_handler(AccessDenied)
    async def _access_denied(request: Request, exc: AccessDenied) -> JSONResponse:
        e = access_denied(exc)
        return envelope(e.status, e.error, e.errors, e.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = _REASONS.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else reason
        errors = [item(reason.replace(" ", "_"), f"{detail}: {request.method} {request.url.path}")]
        return envelope(exc.status_code, reason, errors, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return envelope(422, "invalid request parameters", _validation_errors(exc))

    @app.exception_handler(wx.ValidationFailed)
    async def _validation_failed(request: Request, exc: wx.ValidationFailed) -> JSONResponse:
        return envelope(422, "upload rejected", issues_to_errors(exc.report))

    @app.exception_handler(wx.NotFound)
    async def _not_found(request: Request, exc: wx.NotFound) -> JSONResponse:
        return envelope(404, "not found", [item("not_found", str(exc))])

    @app.exception_handler(wx.StorageUnavailable)
    async def _storage(request: Request, exc: wx.StorageUnavailable) -> JSONResponse:
        # the exception names the database (URL, host, user): logged, never sent to the caller
        log.warning("storage unavailable on %s %s: %s", request.method, request.url.path, exc)
        return envelope(
            503,
            "database unavailable",
            [item("storage_unavailable", "the database is unavailable or not migrated; nothing was written, "
                  "retry later / databasen går inte att nå eller saknar schema; inget sparades, försök "
                  "igen senare")],
            {"Retry-After": "30"},
        )

    @app.exception_handler(wx.UnknownAnalyteError)
    async def _unknown_analyte(request: Request, exc: wx.UnknownAnalyteError) -> JSONResponse:
        msg = exc.args[0] if exc.args else str(exc)
        return envelope(
            422,
            "unknown analyte",
            [item("unknown_analyte", f"{msg}; see GET /api/v1/analytes for the ids", column="analyte")],
        )

    @app.exception_handler(wx.WastewaterError)
    async def _domain(request: Request, exc: wx.WastewaterError) -> JSONResponse:
        return envelope(422, "invalid request", [item(type(exc).__name__, str(exc))])

    from sqlalchemy.exc import OperationalError as _OperationalError

    @app.exception_handler(_OperationalError)
    async def _db_down(request: Request, exc: Exception) -> JSONResponse:
        return envelope(
            503,
            "database unavailable",
            [item("storage_unavailable", "the database cannot be reached; retry later")],
            {"Retry-After": "30"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        from sqlalchemy.exc import DBAPIError, OperationalError

        if isinstance(exc, (OperationalError,)) or (
            isinstance(exc, DBAPIError) and getattr(exc, "connection_invalidated", False)
        ):
            return envelope(
                503,
                "database unavailable",
                [item("storage_unavailable", "the database cannot be reached; retry later")],
                {"Retry-After": "30"},
            )
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return envelope(500, "internal server error", [item("internal", "unexpected error; it was logged")])


def unknown_key() -> ApiError:
    """401 for an unknown or revoked API key (with ``WWW-Authenticate: Bearer``)."""
    return ApiError(
        401,
        "authentication required",
        [item("unknown_key", "the API key is unknown or revoked; ask an admin for a key / "
              "API-nyckeln är okänd eller återkallad; be en administratör om en nyckel")],
        {"WWW-Authenticate": 'Bearer realm="wastewater"'},
    )


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting the error envelope for ``codes``."""
    docs = {
        400: "Malformed request.",
        401: "No or unknown API key (send `X-API-Key: <token>` or `Authorization: Bearer <token>`).",
        403: "The key's role or site scope does not allow this.",
        404: "The resource does not exist (or is not visible to this key).",
        409: "Conflict with the current state.",
        413: "Upload larger than the configured limit (`max_upload_bytes`).",
        422: "Invalid parameters, or an upload rejected by validation (see `errors`).",
        503: "The database is unavailable; nothing was written.",
    }
    return {c: {"model": ErrorResponse, "description": docs.get(c, _REASONS.get(c, "error"))} for c in codes}
