"""Query parameters and response helpers shared by several routers."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated, Literal

from fastapi import Query
from fastapi.responses import Response

from wastewater.csvout import records_to_csv

FromQ = Annotated[dt.date | None, Query(alias="from", description="First day (inclusive), YYYY-MM-DD.")]
ToQ = Annotated[dt.date | None, Query(alias="to", description="Last day (inclusive), YYYY-MM-DD.")]
SiteQ = Annotated[str | None, Query(max_length=64, description="Site id.")]
AnalyteQ = Annotated[str | None, Query(max_length=64, description="Analyte id or alias (see /analytes).")]
FormatQ = Annotated[Literal["json", "csv"], Query(description="Response format.")]
DialectQ = Annotated[
    Literal["machine", "sv"],
    Query(description="CSV dialect: `machine` (`,` and decimal point) or `sv` (`;`, decimal comma, UTF-8 BOM)."),
]

CSV_RESPONSE = {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV when `format=csv`."}


def content_disposition(filename: str) -> str:
    """``attachment`` header with a sanitised name (:func:`wastewater.downloads.content_disposition`)."""
    from wastewater.downloads import content_disposition as _cd

    return _cd(filename)


def csv_response(rows: list[dict], dialect: str, filename: str) -> Response:
    body = records_to_csv(rows, dialect)  # type: ignore[arg-type]
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": content_disposition(filename)},
    )


def check_range(start: dt.date | None, end: dt.date | None) -> None:
    from api.errors import ApiError, item

    if start and end and start > end:
        raise ApiError(422, "invalid request parameters",
                       [item("range", "`from` is after `to`; swap them", column="from")])


def etag_for(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
