"""The floor of the /series load test: a minimal FastAPI app answering from precomputed arrays.

``GET /api/v1/series?measure=…`` returns ``orjson.dumps`` of a body loaded once at start-up
from the JSON file named by ``$FLOOR_BODIES`` (measure → the body ``/series`` returned), so its
bytes are identical to the real endpoint's. No database, no key check, no caching: only FastAPI
routing, one query parameter, the encoder and uvicorn. Run by ``bench_load_series.py``.
"""

from __future__ import annotations

import json
import os

import orjson
from fastapi import FastAPI
from fastapi.responses import Response


def app_from_env() -> FastAPI:
    with open(os.environ["FLOOR_BODIES"], encoding="utf-8") as fh:
        bodies = json.load(fh)
    app = FastAPI()

    @app.get("/api/v1/series")
    def series(measure: str = "load_per_1000") -> Response:
        return Response(orjson.dumps(bodies[measure]), media_type="application/json")

    @app.get("/api/v1/health")
    def health() -> dict:
        return {"status": "ok"}

    return app
