"""`wastewater serve --workers 2`: a correction stored by anyone is seen by every worker at once.

Each worker keeps its own cache of /series response bytes keyed by the series' data version,
which lives in the database; so after a commit no worker serves the old body or answers 304 to
the old ETag. Real processes (uvicorn with two workers) on a real SQLite file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, stop, wait_until_up
from wastewater.storage.database import get_engine, upgrade
from wastewater.storage.service import ingest_bytes

HEADER = ("sample_id,site,sample_date,analyte,value,unit,qualifier,loq,lod,flow_m3_per_day,"
          "composite_hours,replicate,sample_role\n")


def _results(value_day_1: float) -> bytes:
    rows = [f"S{d},SE-W,2025-03-{d:02d},mdma,{value_day_1 if d == 1 else 10.0 * d},ng/L,,1,0.5,"
            f"10000,24,1,sample\n" for d in range(1, 11)]
    return (HEADER + "".join(rows)).encode()


@pytest.mark.slow
def test_two_workers_serve_the_new_version_after_a_correction(tmp_path):
    from api.security import create_key

    url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(url)
    engine = get_engine(url)
    ingest_bytes(engine, b"site,name,municipality,population,population_year\n"
                         b"SE-W,W-verket,Wstad,20000,2025\n", filename="s.csv", uploader="t")
    assert ingest_bytes(engine, _results(10.0), filename="r1.csv", uploader="t").stored
    token = create_key(engine, "viewer", "viewer")
    port = free_port()
    exe = shutil.which("wastewater", path=str(Path(sys.executable).parent))
    assert exe, "the wastewater console script is installed next to the interpreter"
    env = {**os.environ, "WASTEWATER_DATABASE_URL": url}
    proc = subprocess.Popen([exe, "serve", "--port", str(port), "--workers", "2"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/api/v1"
    query = {"site": "SE-W", "analyte": "mdma", "measure": "concentration"}
    try:
        wait_until_up(f"{base}/health", proc, timeout_s=30, log=lambda: proc.stderr.read().decode()[-2000:])

        def get(**headers: str) -> httpx.Response:
            # a new connection each time, so both workers answer over the loop
            return httpx.get(f"{base}/series", params=query,
                             headers={"X-API-Key": token, **headers}, timeout=30)

        first = [get() for _ in range(12)]
        assert {r.status_code for r in first} == {200}
        assert {r.json()["points"][0]["concentration_ng_per_l"] for r in first} == {10.0}
        etag = first[0].headers["etag"]
        assert len({r.headers["etag"] for r in first}) == 1  # same representation everywhere
        assert {get(**{"If-None-Match": etag}).status_code for _ in range(6)} == {304}

        # a correction committed by another process (here: the test itself)
        assert ingest_bytes(engine, _results(99.0), filename="r2.csv", uploader="t").stored
        after = [get(**{"If-None-Match": etag}) for _ in range(12)]
        assert {r.status_code for r in after} == {200}
        assert {r.json()["points"][0]["concentration_ng_per_l"] for r in after} == {99.0}
        assert etag not in {r.headers["etag"] for r in after}
    finally:
        stop(proc, timeout_s=20)
        engine.dispose()
