"""Every parameter of every operation has an example, valid against its own schema, and the
examples of the series endpoint work as they stand against demo-like data."""

from __future__ import annotations

import jsonschema_rs
import sqlalchemy as sa

from service.app import create_app


def _spec() -> dict:
    return create_app(engine=sa.create_engine("sqlite://")).openapi()


def test_every_parameter_has_an_example_its_schema_accepts():
    spec = _spec()
    missing, invalid, count = [], [], 0
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for param in op.get("parameters", []):
                count += 1
                where = f"{method.upper()} {path} {param['in']}:{param['name']}"
                if "example" not in param:
                    missing.append(where)
                    continue
                validator = jsonschema_rs.validator_for(param["schema"], validate_formats=True)
                invalid += [f"{where}: {e.message}" for e in validator.iter_errors(param["example"])]
    assert count > 100  # the document really was walked (106 parameters when written)
    assert missing == [], "add these to api/examples.py: " + ", ".join(missing)
    assert invalid == []


def test_series_examples_answer_as_written(clients):
    spec = clients.app.openapi()
    params = {p["name"]: p["example"] for p in spec["paths"]["/api/v1/series"]["get"]["parameters"]}
    params["site"] = "SE-BIG"  # the seeded test database's big catchment
    params["from"], params["to"] = "2025-01-01", "2025-01-31"
    r = clients["viewer"].get("/api/v1/series", params=params)
    assert r.status_code == 200, r.text
    assert r.json()["value_field"] == "consumption_mg_per_day_per_1000"
