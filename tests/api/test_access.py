"""Every read endpoint × every role, allowed and refused, on SQLite and PostgreSQL.

Expected status codes follow the access rules of api/security.py: anonymous callers see
only catchments >= 10 000 inhabitants and aggregated figures; single results need a key;
confidential events only for analyst/admin; uploads for lab (own) / analyst / admin;
keys and the audit log for admin only.
"""

from __future__ import annotations

import pytest

ROLES = ("public", "viewer", "lab", "analyst", "admin")
B = "/api/v1"
BE = "analyte=benzoylecgonine"

# (path, {role: expected status}); roles missing from the dict expect 200
MATRIX = [
    ("/health", {}),
    ("/version", {}),
    ("/sites", {}),
    ("/sites/SE-BIG", {}),
    ("/sites/SE-SMALL", {"public": 404, "lab": 404}),  # lab key is scoped to SE-BIG
    ("/analytes", {}),
    ("/results", {"public": 401}),
    (f"/results/history?sample_id=SE-BIG-20250106&{BE}", {"public": 401}),
    ("/samples", {"public": 401}),
    (f"/series?site=SE-BIG&{BE}", {}),
    (f"/series?site=SE-SMALL&{BE}", {"public": 404, "lab": 404}),
    ("/events", {}),
    ("/calendar/risk-weekends?year=2025", {}),
    (f"/analyses/operation-effect?site=SE-BIG&event_id=EV-PUB&{BE}", {}),
    (f"/analyses/operation-effect?site=SE-BIG&event_id=EV-SECRET&{BE}",
     {"public": 404, "viewer": 404, "lab": 404}),
    ("/uploads", {"public": 401, "viewer": 403}),
    ("/uploads/1", {"public": 401, "viewer": 403, "lab": 404}),
    ("/uploads/1/raw", {"public": 401, "viewer": 403, "analyst": 403, "lab": 404}),
    ("/keys", {"public": 401, "viewer": 403, "lab": 403, "analyst": 403}),
    ("/audit", {"public": 401, "viewer": 403, "lab": 403, "analyst": 403}),
    ("/reference/euda", {}),
]


@pytest.mark.parametrize("path,expected", MATRIX, ids=[m[0].split("?")[0] + "?" * ("?" in m[0]) for m in MATRIX])
def test_read_endpoint_by_role(clients, path, expected):
    for role in ROLES:
        r = clients[role].get(B + path)
        want = expected.get(role, 200)
        assert r.status_code == want, (role, path, r.status_code, r.text[:300])
        if want >= 400:
            body = r.json()
            assert body["ok"] is False and body["status"] == want and body["errors"], body
        if want == 401:
            assert "Bearer" in r.headers.get("www-authenticate", "")


def test_public_sees_only_large_catchments(clients):
    sites = {s["site"]: s for s in clients["public"].get(f"{B}/sites").json()["items"]}
    assert set(sites) == {"SE-BIG", "SE-MID"}          # SE-SMALL has 3 500 < 10 000
    assert sites["SE-BIG"]["population"] == 25_300 and sites["SE-BIG"]["public"] is True
    allsites = {s["site"]: s for s in clients["viewer"].get(f"{B}/sites").json()["items"]}
    assert set(allsites) == {"SE-BIG", "SE-MID", "SE-SMALL"} and allsites["SE-SMALL"]["public"] is False


def test_threshold_is_a_setting(seeded_engine):
    from api_fixtures import make_clients

    cl = make_clients(seeded_engine, min_public_population=12_000)
    assert {s["site"] for s in cl["public"].get(f"{B}/sites").json()["items"]} == {"SE-BIG"}


def test_site_scope_limits_reads(clients):
    r = clients["viewer_small"].get(f"{B}/sites").json()
    assert [s["site"] for s in r["items"]] == ["SE-SMALL"]
    assert clients["viewer_small"].get(f"{B}/series?site=SE-BIG&{BE}").status_code == 404
    res = clients["viewer_small"].get(f"{B}/results?limit=1000").json()
    assert res["total"] == 28 and {x["site"] for x in res["items"]} == {"SE-SMALL"}


def test_confidential_events_hidden(clients):
    ids = {role: [e["event_id"] for e in clients[role].get(f"{B}/events").json()["items"]] for role in ROLES}
    assert ids["public"] == ["EV-PUB"]                  # EV-SMALL names only a small catchment
    assert ids["viewer"] == ["EV-PUB", "EV-SMALL"]
    assert ids["lab"] == ["EV-PUB"]                      # lab key scoped to SE-BIG
    assert ids["analyst"] == ids["admin"] == ["EV-PUB", "EV-SMALL", "EV-SECRET"]  # by start date
    csv = clients["viewer"].get(f"{B}/events?format=csv").text
    assert "EV-SECRET" not in csv and "Secret operation" not in csv


def test_public_series_is_weekly_means_only(clients):
    pub = clients["public"].get(f"{B}/series?site=SE-BIG&{BE}").json()
    assert pub["aggregation"] == "weekly_mean"
    assert [p["iso_week"] for p in pub["points"]] == ["2025-W02", "2025-W03", "2025-W04", "2025-W05"]
    assert all("censored" not in p for p in pub["points"]) and pub["points"][0]["n_days"] == 7
    # week 1: 100,101,102,<LOQ 10 -> 5,104,105,106 ng/L x 10 000 m3/day x 1e-3 / 25.3 (thousands)
    assert pub["points"][0]["load_mg_per_day_per_1000"] == pytest.approx((623 / 7) * 10 / 25.3)
    assert pub["points"][0]["n_censored"] == 1 and pub["n_censored"] == 1
    daily = clients["viewer"].get(f"{B}/series?site=SE-BIG&{BE}").json()
    assert daily["aggregation"] == "daily" and len(daily["points"]) == 28
    # no raw results for the public, in any format
    assert clients["public"].get(f"{B}/results?format=csv").status_code == 401


def test_pagination_total_and_next(clients):
    r = clients["viewer"].get(f"{B}/results?limit=10&offset=0").json()
    assert r["total"] == 56 and len(r["items"]) == 10
    assert "offset=10" in r["next"] and "limit=10" in r["next"]
    last = clients["viewer"].get(f"{B}/results?limit=10&offset=50").json()
    assert len(last["items"]) == 6 and last["next"] is None


# write endpoints: every refused role (refusals write nothing, so the shared database is safe)
WRITE_REFUSALS = [
    ("post", "/keys", {"json": {"name": "x", "role": "viewer"}}, {"public": 401, "viewer": 403, "lab": 403, "analyst": 403}),  # noqa: E501
    ("delete", "/keys/k_nonexistent", {}, {"public": 401, "viewer": 403, "lab": 403, "analyst": 403}),
    ("post", "/reference/euda/import", {"files": {"all_data": ("a.csv", b"x"), "site_info": ("s.csv", b"y")}},
     {"public": 401, "viewer": 403, "lab": 403, "analyst": 403}),
    ("post", "/uploads/sites", {"files": {"file": ("s.csv", b"site,name\n")}},
     {"public": 401, "viewer": 403, "lab": 403, "analyst": 403}),
    ("post", "/uploads/events", {"files": {"file": ("e.csv", b"event_id\n")}},
     {"public": 401, "viewer": 403, "lab": 403}),
    ("post", "/uploads/results", {"files": {"file": ("r.csv", b"sample_id\n")}},
     {"public": 401, "viewer": 403, "analyst": 403}),
    ("post", "/uploads/flows", {"files": {"file": ("f.csv", b"site\n")}},
     {"public": 401, "viewer": 403, "analyst": 403}),
]


@pytest.mark.parametrize("method,path,kwargs,refused", WRITE_REFUSALS, ids=[f"{m} {p}" for m, p, *_ in WRITE_REFUSALS])
def test_write_endpoint_refusals(clients, method, path, kwargs, refused):
    for role, status in refused.items():
        r = getattr(clients[role], method)(B + path, **kwargs)
        assert r.status_code == status, (role, path, r.text[:200])
        assert r.json()["ok"] is False and r.json()["errors"][0]["code"] in ("key_required", "role")
