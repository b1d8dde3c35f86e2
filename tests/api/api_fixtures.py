"""Helpers of the API tests (seed data, clients per role); fixtures are in conftest.py.

The seed is small and hand-checkable (built as contract frames and stored with
``wastewater.storage.service.store_parsed``, so read tests do not depend on the parser):

- sites: ``SE-BIG`` (25 300 inhabitants), ``SE-MID`` (11 000), ``SE-SMALL`` (3 500, below the
  10 000 public threshold).
- results: 28 days from Monday 2025-01-06 of ``benzoylecgonine`` at SE-BIG and SE-SMALL,
  concentration 100 + d ng/L (d = day index), flow 10 000 m³/day, so
  load_per_1000 = (100 + d) · 10 000 · 1e-3 / 25.3 mg/day/1000 for SE-BIG; day 3 is <LOQ (LOQ 10).
- events: EV-PUB (operation at SE-BIG), EV-SECRET (confidential, SE-BIG), EV-SMALL (SE-SMALL only).
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: storage_factories
from storage_factories import parsed

from api.config import Settings
from api.security import create_key
from service.app import create_app

START = pd.Timestamp("2025-01-06")  # a Monday (ISO week 2025-W02)
N_DAYS = 28
FLOW = 10_000.0
POP_BIG = 25_300
CENSORED_DAY = 3
ADMIN_BOOTSTRAP = "bootstrap-secret-token-for-tests"


def conc(d: int) -> float:
    return 100.0 + d


def sites_df() -> pd.DataFrame:
    df = pd.DataFrame(
        [("SE-BIG", "Big plant", "Bigby", POP_BIG, 2025, 59.0, 16.2, "Big WWTP"),
         ("SE-MID", "Mid plant", "Midby", 11_000, 2025, 59.1, 16.5, "Mid WWTP"),
         ("SE-SMALL", "Pumping station", "Bigby", 3_500, 2025, 59.0, 16.1, "Big WWTP")],
        columns=["site", "name", "municipality", "population", "population_year", "lat", "lon",
                 "treatment_plant"])
    df["population"] = df["population"].astype("int64")
    df["population_year"] = df["population_year"].astype("Int64")
    df["population_method"] = "de_jure"
    return df


def results_df(site: str) -> pd.DataFrame:
    rows = []
    for d in range(N_DAYS):
        day = START + pd.Timedelta(days=d)
        cens = d == CENSORED_DAY
        rows.append({
            "sample_id": f"{site}-{day:%Y%m%d}", "site": site, "sample_date": day,
            "analyte": "benzoylecgonine", "replicate": 1,
            "value_ng_per_l": np.nan if cens else conc(d), "censor": "<LOQ" if cens else "none",
            "loq_ng_per_l": 10.0, "lod_ng_per_l": 1.0, "flow_m3_per_day": np.nan, "composite_hours": 24,
            "sample_role": "sample", "lab": "Lab A", "method": "LC-MS/MS",
            "comment": "=HYPERLINK(\"http://evil\")" if d == 0 else None,
            "original_value": "<10" if cens else f"{conc(d):g}", "original_unit": "ng/L",
        })
    df = pd.DataFrame(rows)
    df["sample_date"] = df["sample_date"].astype("datetime64[ns]")
    return df


def flows_df(site: str) -> pd.DataFrame:
    dates = pd.date_range(START, periods=N_DAYS, freq="D")
    return pd.DataFrame({"site": site, "date": dates.astype("datetime64[ns]"), "flow_m3_per_day": FLOW})


def events_df() -> pd.DataFrame:
    return pd.DataFrame({
        "event_id": ["EV-PUB", "EV-SECRET", "EV-SMALL"],
        "kind": ["operation", "operation", "operation"],
        "start": pd.to_datetime(["2025-01-20", "2025-01-22", "2025-01-21"]).astype("datetime64[ns]"),
        "end": pd.to_datetime(["2025-01-21", "2025-01-23", "2025-01-21"]).astype("datetime64[ns]"),
        "sites": [["SE-BIG"], ["SE-BIG"], ["SE-SMALL"]],
        "substances": [["benzoylecgonine"], ["benzoylecgonine"], []],
        "description": ["Public operation", "Secret operation", "Small-area operation"],
        "confidential": [False, True, False],
    })


def put(engine: sa.Engine, kind: str, frame: pd.DataFrame, tag: str, uploader: str = "test") -> None:
    """Store ``frame`` (a contract frame of ``kind``) as one upload named ``tag``; it must be stored."""
    from wastewater.storage.service import store_parsed

    out = store_parsed(engine, f"{kind}-{tag}".encode(), parsed(kind, frame), filename=f"{tag}.csv",
                       uploader=uploader)
    assert out.stored, out.report.to_dict()


def seed(engine: sa.Engine) -> None:
    put(engine, "sites", sites_df(), "sites", "seed")
    for s in ("SE-BIG", "SE-SMALL"):
        put(engine, "flows", flows_df(s), f"flows-{s}", "seed")
        put(engine, "results", results_df(s), f"results-{s}", "seed")
    put(engine, "events", events_df(), "events", "seed")


class Clients:
    """TestClients keyed by role name; ``public`` sends no key."""

    def __init__(self, app, tokens: dict[str, str]) -> None:
        self.app = app
        self.tokens = tokens
        self._c = TestClient(app, raise_server_exceptions=False)

    def __getitem__(self, role: str) -> TestClient:
        c = TestClient(self.app, raise_server_exceptions=False)
        if role != "public":
            c.headers["X-API-Key"] = self.tokens[role]
        return c


def _key(engine: sa.Engine, name: str, role: str, sites=None) -> str:
    """A new key named ``name`` (``name-2``, ``-3`` … when an active key already has it: active key
    names are unique)."""
    from api.security import KeyNameTaken

    for n in itertools.count(1):
        try:
            return create_key(engine, name if n == 1 else f"{name}-{n}", role, sites=sites)
        except KeyNameTaken:
            continue
    raise AssertionError("unreachable")


def make_clients(engine: sa.Engine, **settings) -> Clients:
    """An app on ``engine`` and one fresh key per role."""
    app = create_app(Settings(database_url=str(engine.url), admin_key=ADMIN_BOOTSTRAP, **settings), engine=engine)
    tokens = {
        "viewer": _key(engine, "viewer-key", "viewer"),
        "analyst": _key(engine, "analyst-key", "analyst"),
        "admin": _key(engine, "admin-key", "admin"),
        "lab": _key(engine, "lab-key", "lab", sites=["SE-BIG"]),
        "lab_small": _key(engine, "lab-small-key", "lab", sites=["SE-SMALL"]),
        "viewer_small": _key(engine, "viewer-small-key", "viewer", sites=["SE-SMALL"]),
    }
    return Clients(app, tokens)


