"""One example value for every parameter of the API, added to the OpenAPI document.

The examples live here, in one table, rather than in each router's ``Query(...)``: a parameter
name means the same thing on every endpoint (``site`` is always a site id, ``from`` always a
first day), so it gets one example, with a per-path override where the same name takes other
values. ``tests/api/test_openapi_examples.py`` fails when an operation has a parameter without an
example here, or an example its schema rejects, so a new parameter cannot ship undocumented.
The values are the demo data's (``make demo``), so every example can be tried as it stands.
"""

from __future__ import annotations

from typing import Any

#: Example per parameter name (path, query and header parameters alike).
EXAMPLES: dict[str, Any] = {
    "site": "SE-KAT-ROS",
    "analyte": "benzoylecgonine",
    "from": "2025-01-01",
    "to": "2025-06-30",
    "measure": "load_per_1000",
    "loq_method": "loq_half",
    "ci": "analytic",
    "cf_id": "cocaine-be-zuccato2008",
    "format": "json",
    "dialect": "sv",
    "limit": 100,
    "offset": 0,
    "event_id": "EV-2025-02",
    "before_days": 56,
    "after_days": 56,
    "duration_days": 7,
    "method": "ar1",
    "alpha": 0.05,
    "false_alarm_rate": 0.01,
    "only_alerts": True,
    "min_segment_days": 14,
    "window_weeks": 6,
    "kind": "risk_weekend",
    "year": 2025,
    "week_start": "2025-03-12",
    "country": "SE",
    "site_id": "SE005",
    "source": "EUDA-2025",
    "table": "measures",
    "include_history": False,
    "sample_id": "ROS-20250101",
    "dry_run": True,
    "on_error": "reject",
    "upload_id": 1,
    "key_id": "k_3f9a2c",
    "smooth": "median7",
    "previous_year": 2023,
    "first_year": 2011,
    "last_year": 2024,
    "series_id": "toronto-ontario",
    "alert_id": 1,
    "subscription_id": 1,
    "status": "open",
}

#: Where a name takes other values on one path: ``{path: {name: example}}``.
OVERRIDES: dict[str, dict[str, Any]] = {
    "/api/v1/uploads/{kind}": {"kind": "results"},
    "/api/v1/series": {"measure": "consumption"},  # so that its cf_id example applies
    "/api/v1/import/odm": {"source": "odm-demo"},
    "/api/v1/export/odm": {"format": "csv"},
    "/api/v1/export/euda": {"year": 2025, "analyte": ["benzoylecgonine", "amphetamine"]},
    "/api/v1/analyses/changepoints": {"alpha": 0.01},
    "/api/v1/analyses/trend": {"method": "gls", "published": True, "from": "2024-09-01", "to": "2025-08-31"},
    "/api/v1/analyses/risk-weekend-effect": {"method": "model", "analyte": "mdma"},
    "/api/v1/reference/euda/means": {"year": 2024, "site_id": "SE002"},
    "/api/v1/reference/euda/changes": {"year": 2024},
    "/api/v1/reference/series": {"country": "CA", "analyte": "norfentanyl", "source": "StatCan-13100871",
                                 "from": "2022-01-01", "to": "2023-11-30"},
    "/api/v1/reference/series/import": {"format": "statcan-13100871", "source": "StatCan-13100871"},
    "/api/v1/alerts/deliveries": {"status": "failed"},
}


def example_for(path: str, name: str) -> Any:
    """The example of parameter ``name`` on ``path``; KeyError when there is none."""
    override = OVERRIDES.get(path, {})
    return override[name] if name in override else EXAMPLES[name]


def add_parameter_examples(schema: dict[str, Any]) -> dict[str, Any]:
    """Set ``example`` on every parameter of ``schema`` (an OpenAPI document) that has one here.

    Parameters that already carry an example keep it; unknown names are left without one (the
    test lists them).
    """
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if "example" in param or "examples" in param:
                    continue
                try:
                    param["example"] = example_for(path, param["name"])
                except KeyError:
                    continue
    return schema
