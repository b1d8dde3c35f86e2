"""The access matrix, built from the policy table itself (wastewater.access.POLICY).

Every operation of the OpenAPI document and every dashboard route is mapped to the policy
resource it serves; a new route without a mapping fails ``test_every_route_is_mapped``. For each
route × the six principals (public, viewer, lab scoped to SE-BIG, analyst, admin, a revoked key)
the expected answer comes from ``POLICY[resource][role]``: ``none`` → 401 (no or revoked key) or
403, anything else → the route answers, and what it shows obeys the level (public: no small
catchment, no confidential event, whole-ISO-week means with enough days; full: daily values
within the key's scope). Runs on SQLite and PostgreSQL (``seeded_engine``).

Regression tests for items 1–6 of issue 11 are at the end.
"""

from __future__ import annotations

import csv
import io
import uuid

import pandas as pd
import pytest
from api_fixtures import FLOW, POP_BIG, START, conc

from wastewater import access
from wastewater.access import POLICY, PUBLIC_EFFECT_FIELDS, Level

B = "/api/v1"
BE = "analyte=benzoylecgonine"
PRINCIPALS = ("public", "viewer", "lab", "analyst", "admin", "revoked")
DENIED = {"public": 401, "revoked": 401}  # others: 403


@pytest.fixture(scope="module")
def principals(clients, seeded_engine):
    """TestClients per principal; ``revoked`` holds a key that was revoked."""
    from fastapi.testclient import TestClient

    from api.security import create_key_record, revoke_key

    token, meta = create_key_record(seeded_engine, f"revoked-{uuid.uuid4().hex[:6]}", "viewer")
    assert revoke_key(seeded_engine, meta["id"])
    out = {r: clients[r] for r in PRINCIPALS if r != "revoked"}
    c = TestClient(clients.app, raise_server_exceptions=False)
    c.headers["X-API-Key"] = token
    out["revoked"] = c
    out["_tokens"] = {**clients.tokens, "revoked": token}
    return out


def _csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


# -- what each level may and may not show (checked on allowed answers) --------------------------


def chk_sites(role, lv, r):
    sites = {s["site"] for s in r.json()["items"]}
    if lv is Level.PUBLIC:
        assert sites == {"SE-BIG", "SE-MID"}
    elif role == "lab":
        assert sites == {"SE-BIG"}
    else:
        assert sites == {"SE-BIG", "SE-MID", "SE-SMALL"}


def chk_series(role, lv, r):
    body = r.json()
    if lv is Level.PUBLIC:
        assert body["aggregation"] == "weekly_mean"
        assert body["points"] and all(p["n_days"] >= access.MIN_DAYS_PER_PUBLIC_WEEK for p in body["points"])
    else:
        assert body["aggregation"] == "daily" and len(body["points"]) == 28


def chk_results(role, lv, r):
    items = r.json()["items"]
    assert items and ({x["site"] for x in items} == {"SE-BIG"} if role == "lab"
                      else {x["site"] for x in items} == {"SE-BIG", "SE-SMALL"})


def chk_events(role, lv, r):
    ids = {e["event_id"] for e in r.json()["items"]}
    assert "EV-PUB" in ids
    assert ("EV-SECRET" in ids) == (access.POLICY["confidential_events"][role] is not Level.NONE)
    assert ("EV-SMALL" in ids) == (lv is not Level.PUBLIC and role != "lab")


def chk_effect(role, lv, r):
    res = r.json()["results"]
    assert res and res[0]["relative_change_after"] is not None
    if lv is Level.PUBLIC:
        assert set(res[0]) <= set(PUBLIC_EFFECT_FIELDS) and res[0]["published"] is True
    else:
        assert "excluded_dates" in res[0]


def chk_small_site_404(role, lv, r):
    assert r.status_code == (404 if lv is Level.PUBLIC or role == "lab" else 200)


def chk_secret_event(role, lv, r):
    conf = access.POLICY["confidential_events"][role] is not Level.NONE
    assert r.status_code == (200 if conf else 404)


def chk_upload_meta(role, lv, r):
    # the seed's uploads were not made with the lab key: "own" sees none of them
    assert r.status_code == (404 if lv is Level.OWN else 200)


def chk_upload_list(role, lv, r):
    items = r.json()["items"]
    if lv is Level.OWN:  # none of the seed's uploads (made without this key)
        assert all(i.get("uploader_key_id") and i["uploader"] != "seed" for i in items)
    else:
        assert r.json()["total"] >= 5


def chk_euda_export(role, lv, r):
    rows = _csv(r.text)
    assert rows and any(row["Wednesday"] != "" for row in rows)


def chk_calendar(role, lv, r):
    assert any(x["kind"] == "risk_weekend" for x in r.json())


def chk_published_trend(role, lv, r):
    body = r.json()
    assert body["published"] is True and body["window"] == {"from": "2024-03-01", "to": "2025-02-28"}
    assert set(body["results"][0]) <= {*access.PUBLIC_TREND_FIELDS, "error", "error_sv", "q_value"}


def ok(role, lv, r):
    return None


# (method, openapi path, request path, request kwargs, resource, allowed statuses, check)
API_ROUTES = [
    ("get", "/health", "/health", {}, "meta", {200}, ok),
    ("get", "/version", "/version", {}, "meta", {200}, ok),
    ("get", "/analytes", "/analytes", {}, "meta", {200}, ok),
    ("get", "/sites", "/sites", {}, "sites", {200}, chk_sites),
    ("get", "/sites/{site}", "/sites/SE-BIG", {}, "sites", {200}, ok),
    ("get", "/sites/{site}", "/sites/SE-SMALL", {}, "sites", {200, 404}, chk_small_site_404),
    ("get", "/results", "/results?limit=1000", {}, "daily_values", {200}, chk_results),
    ("get", "/results/history", f"/results/history?sample_id=SE-BIG-20250106&{BE}", {}, "daily_values", {200}, ok),
    ("get", "/samples", "/samples", {}, "daily_values", {200}, ok),
    ("get", "/series", f"/series?site=SE-BIG&{BE}", {}, "weekly_means", {200}, chk_series),
    ("get", "/series", f"/series?site=SE-SMALL&{BE}", {}, "weekly_means", {200, 404}, chk_small_site_404),
    ("get", "/events", "/events", {}, "events", {200}, chk_events),
    ("get", "/calendar/risk-weekends", "/calendar/risk-weekends?year=2025", {}, "calendar", {200}, chk_calendar),
    ("get", "/analyses/operation-effect", f"/analyses/operation-effect?site=SE-BIG&event_id=EV-PUB&{BE}", {},
     "operation_effects", {200}, chk_effect),
    ("get", "/analyses/operation-effect", f"/analyses/operation-effect?site=SE-BIG&event_id=EV-SECRET&{BE}", {},
     "operation_effects", {200, 404}, chk_secret_event),
    ("get", "/analyses/trend", f"/analyses/trend?site=SE-BIG&{BE}&published=true", {}, "published_trend", {200},
     chk_published_trend),
    ("get", "/analyses/trend", f"/analyses/trend?site=SE-BIG&{BE}&from=2025-01-06&to=2025-01-26", {},
     "other_analyses", {200, 422}, ok),
    ("get", "/analyses/changepoints", f"/analyses/changepoints?site=SE-BIG&{BE}", {}, "other_analyses", {200, 422}, ok),
    ("get", "/analyses/operation-plan", f"/analyses/operation-plan?site=SE-BIG&{BE}", {}, "other_analyses",
     {200, 422}, ok),
    ("get", "/analyses/risk-weekend-effect", f"/analyses/risk-weekend-effect?site=SE-BIG&{BE}&kind=payday_weekend",
     {}, "risk_weekend_ratios", {200, 422}, ok),
    ("get", "/analyses/alerts", f"/analyses/alerts?site=SE-BIG&{BE}", {}, "other_analyses", {200, 422}, ok),
    ("post", "/uploads/{kind}", "/uploads/results?dry_run=true",
     {"files": {"file": ("r.csv", b"sample_id,site,sample_date,analyte,value,unit\n"
                                  b"X1,SE-BIG,2025-01-06,benzoylecgonine,1,ng/L\n")}},
     "upload_results", {200, 422}, ok),
    ("post", "/uploads/{kind}", "/uploads/events?dry_run=true",
     {"files": {"file": ("e.csv", b"event_id,kind,start,end,sites,substances,description\n"
                                  b"EV-X,campaign,2025-01-06,2025-01-07,SE-BIG,,x\n")}},
     "upload_events", {200, 422}, ok),
    ("post", "/uploads/{kind}", "/uploads/sites?dry_run=true",
     {"files": {"file": ("s.csv", b"site,name,municipality,population\nSE-BIG,Big plant,Bigby,25300\n")}},
     "upload_sites", {200, 422}, ok),
    ("get", "/uploads", "/uploads", {}, "upload_metadata", {200}, chk_upload_list),
    ("get", "/uploads/{upload_id}", "/uploads/1", {}, "upload_metadata", {200, 404}, chk_upload_meta),
    ("get", "/uploads/{upload_id}/raw", "/uploads/1/raw", {}, "raw_uploads", {200, 404}, chk_upload_meta),
    ("get", "/reference/euda", "/reference/euda", {}, "reference", {200}, ok),
    ("get", "/reference/euda/means", "/reference/euda/means", {}, "reference", {200, 404}, ok),
    ("get", "/reference/euda/changes", "/reference/euda/changes", {}, "reference", {200, 404}, ok),
    ("get", "/reference/euda/trend", "/reference/euda/trend", {}, "reference", {200, 404}, ok),
    ("get", "/reference/series", "/reference/series", {}, "reference", {200, 404}, ok),
    ("post", "/reference/series/import", "/reference/series/import?format=statcan-13100871",
     {"files": {"file": ("s.csv", b"x\n")}}, "import_euda", {422}, ok),
    ("post", "/reference/euda/import", "/reference/euda/import",
     {"files": {"all_data": ("a.csv", b"x\n"), "site_info": ("s.csv", b"y\n")}}, "import_euda", {422}, ok),
    ("get", "/export/odm", "/export/odm?site=SE-BIG", {}, "daily_values", {200}, ok),
    ("post", "/import/odm", "/import/odm", {"files": {"files": ("measures.csv", b"x\n")}}, "import_odm", {422}, ok),
    ("get", "/export/euda", "/export/euda?site=SE-BIG&year=2025&week_start=2025-01-08", {}, "exports", {200},
     chk_euda_export),
    ("post", "/keys", "/keys", {"json": {"name": "matrix-{uuid}", "role": "viewer"}}, "keys", {201}, ok),
    ("get", "/keys", "/keys", {}, "keys", {200}, ok),
    ("delete", "/keys/{key_id}", "/keys/{throwaway}", {}, "keys", {200}, ok),
    ("get", "/audit", "/audit", {}, "audit", {200}, ok),
    ("get", "/alerts", "/alerts", {}, "alerts", {200}, ok),
    ("post", "/alerts/{alert_id}/acknowledge", "/alerts/999999/acknowledge", {}, "alerts", {404}, ok),
    ("post", "/alerts/{alert_id}/dismiss", "/alerts/999999/dismiss", {}, "alerts", {404}, ok),
    ("post", "/alerts/{alert_id}/reopen", "/alerts/999999/reopen", {}, "alerts", {404}, ok),
    ("get", "/alerts/deliveries", "/alerts/deliveries", {}, "alert_admin", {200}, ok),
    ("get", "/alerts/subscriptions", "/alerts/subscriptions", {}, "alerts", {200}, ok),
    ("post", "/alerts/subscriptions", "/alerts/subscriptions",
     {"json": {"channel": "email", "target": "matrix-{uuid}@example.org"}}, "alerts", {201}, ok),
    ("delete", "/alerts/subscriptions/{subscription_id}", "/alerts/subscriptions/999999", {}, "alerts", {404}, ok),
]


def _expected_denied(role: str) -> int:
    return DENIED.get(role, 403)


def test_every_route_is_mapped(clients):
    """Every OpenAPI operation and every dashboard route is in the matrix."""
    spec = clients.app.openapi()["paths"]
    ops = {(m, p.removeprefix(B)) for p, d in spec.items() for m in d}
    mapped = {(m, p) for m, p, *_ in API_ROUTES}
    assert ops == mapped, (ops - mapped, mapped - ops)
    from dashboards.app import router

    dash = {(m.lower(), r.path) for r in router.routes for m in r.methods if m != "HEAD"}
    assert dash == {(m, p) for m, p, *_ in DASH_ROUTES}, dash ^ {(m, p) for m, p, *_ in DASH_ROUTES}
    for _m, _p, _req, _kw, res, *_ in API_ROUTES + DASH_ROUTES:
        assert res in POLICY


def test_policy_dependencies_match_the_table(clients):
    """Routes guarded by ``api.deps.require(resource)`` name the resource the matrix expects."""
    from fastapi.routing import APIRoute

    def walk(dependant):
        for d in dependant.dependencies:
            yield d.call
            yield from walk(d)

    expected = {}
    for m, p, _req, _kw, res, *_ in API_ROUTES:
        expected.setdefault((m, p), set()).add(res)

    import importlib
    import pkgutil

    import api.routers

    # every router module of the package, not a list kept beside api/main.py: a new one can't escape
    modules = [importlib.import_module(f"api.routers.{m.name}")
               for m in pkgutil.iter_modules(api.routers.__path__)]
    n = 0
    seen = set()
    for router in (m.router for m in modules if hasattr(m, "router")):
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            for method in route.methods:
                key = (method.lower(), route.path)
                seen.add(key)
                guards = {getattr(c, "resource", None) for c in walk(route.dependant)} - {None}
                for g in guards:
                    n += 1
                    assert g in expected[key], (route.path, g)
    assert seen == set(expected), seen ^ set(expected)
    assert n >= 20


@pytest.mark.parametrize("route", API_ROUTES, ids=[f"{r[0]} {r[2].split('?')[0]}" for r in API_ROUTES])
def test_api_matrix(principals, seeded_engine, route):
    method, _path, req, kwargs, resource, allowed, check = route
    from api.security import create_key_record

    for role in PRINCIPALS:
        lv = POLICY[resource][role]
        url = req
        kw = dict(kwargs)
        if "{throwaway}" in url:
            _t, meta = create_key_record(seeded_engine, f"throwaway-{uuid.uuid4().hex[:8]}", "viewer")
            url = url.replace("{throwaway}", meta["id"])
        if "json" in kw:
            kw["json"] = {k: (v.replace("{uuid}", uuid.uuid4().hex[:8]) if isinstance(v, str) else v)
                          for k, v in kw["json"].items()}
        r = getattr(principals[role], method)(B + url, **kw)
        if lv is Level.NONE:
            want = _expected_denied(role)
            assert r.status_code == want, (role, url, r.status_code, r.text[:300])
            body = r.json()
            assert body["ok"] is False and body["errors"], body
            if want == 401:
                assert "Bearer" in r.headers.get("www-authenticate", "")
        else:
            assert r.status_code in allowed, (role, url, lv, r.status_code, r.text[:300])
            if r.status_code < 300 or check in (chk_small_site_404, chk_secret_event, chk_upload_meta):
                check(role, lv, r)


def test_policy_table_shape():
    assert set(access.ROLES) == set(PRINCIPALS)
    for res, row in POLICY.items():
        assert set(row) == set(PRINCIPALS), res
        if res != "meta":
            assert row["revoked"] is Level.NONE, res
    # the decision of issue 11: public operation effects and risk-weekend ratios, never daily values
    assert POLICY["operation_effects"]["public"] is Level.PUBLIC
    assert POLICY["risk_weekend_ratios"]["public"] is Level.PUBLIC
    assert POLICY["daily_values"]["public"] is Level.NONE
    assert POLICY["confidential_events"]["viewer"] is Level.NONE


# -- dashboard ---------------------------------------------------------------------------------


def d_trend(role, lv, r):
    html = r.text
    assert "SE-SMALL" not in html if lv is Level.PUBLIC else True
    assert ("Publik vy" in html) == (lv is Level.PUBLIC)


def d_trend_csv(role, lv, r):
    rows = _csv(r.text)
    assert rows
    if lv is Level.PUBLIC:
        assert all(int(x["n_days"]) >= access.MIN_DAYS_PER_PUBLIC_WEEK for x in rows) and "iso_week" in rows[0]
    else:
        assert "iso_week" not in rows[0] and len(rows) == 28


def d_weekday_csv(role, lv, r):
    rows = _csv(r.text)
    assert len(rows) == (0 if lv is Level.NONE else 7)


def d_operations(role, lv, r):
    html = r.text
    assert "EV-PUB" in html
    assert ("EV-SECRET" in html) == (POLICY["confidential_events"][role] is not Level.NONE)


def d_report(role, lv, r):
    html = r.text
    assert "EV-SECRET" not in html and "SE-SMALL" not in html and "får inte publiceras" not in html


def d_report_analyst(role, lv, r):
    if lv is Level.NONE:
        assert r.status_code == 403
    else:
        assert r.status_code == 200 and "EV-SECRET" in r.text
        assert r.text.count("Innehåller sekretessbelagda uppgifter – får inte publiceras") == 2


UPLOAD_RESOURCES = ("upload_results", "upload_events", "upload_sites")


def d_upload_page(role, lv, r):
    """The form says a key is needed exactly when the role may upload nothing."""
    effective = "public" if role == "revoked" else role
    none = all(POLICY[res][effective] is Level.NONE for res in UPLOAD_RESOURCES)
    assert ("Uppladdning kräver en API-nyckel" in r.text) == none


def d_upload_post(role, lv, r):
    """A results dry run: refused (with the notice) exactly when ``upload_results`` is none."""
    assert ("Uppladdning kräver en API-nyckel" in r.text) == (lv is Level.NONE)
    if lv is not Level.NONE:
        assert "upload-issues" in r.text or "Inga fel" in r.text or "1" in r.text


def d_alerts(role, lv, r):
    """The alerts page asks for a key exactly when the role may not read alerts."""
    assert ("visas bara med en API-nyckel" in r.text) == (lv is Level.NONE)


def d_alert_post(role, lv, r):
    assert r.status_code == (403 if lv is Level.NONE else 404)


Q = "site=SE-BIG&analyte=benzoylecgonine"
DASH_ROUTES = [
    ("get", "/dashboard", "/dashboard", {}, "meta", {200}, ok),
    ("get", "/dashboard/", "/dashboard/", {}, "meta", {200}, ok),
    ("get", "/dashboard/static/plotly.min.js", "/dashboard/static/plotly.min.js", {}, "meta", {200}, ok),
    ("get", "/dashboard/trend", f"/dashboard/trend?{Q}", {}, "weekly_means", {200}, d_trend),
    ("get", "/dashboard/operations", f"/dashboard/operations?{Q}&event=EV-PUB", {}, "operation_effects", {200},
     d_operations),
    ("get", "/dashboard/riskweekends", f"/dashboard/riskweekends?{Q}", {}, "risk_weekend_ratios", {200}, ok),
    ("get", "/dashboard/compare", f"/dashboard/compare?{Q}", {}, "reference", {200}, ok),
    ("get", "/dashboard/data/{name}.csv", f"/dashboard/data/trend.csv?{Q}", {}, "weekly_means", {200}, d_trend_csv),
    ("get", "/dashboard/data/{name}.csv", f"/dashboard/data/weekday.csv?{Q}", {}, "weekday_profile", {200},
     d_weekday_csv),
    ("get", "/dashboard/data/{name}.csv", f"/dashboard/data/operation.csv?{Q}&event=EV-PUB", {},
     "operation_effects", {200}, ok),
    ("get", "/dashboard/data/{name}.csv", f"/dashboard/data/riskweekends.csv?{Q}", {}, "risk_weekend_ratios",
     {200}, ok),
    ("get", "/dashboard/data/{name}.csv", f"/dashboard/data/compare.csv?{Q}", {}, "reference", {200}, ok),
    ("get", "/dashboard/upload", "/dashboard/upload", {}, "upload_results", {200}, d_upload_page),
    ("post", "/dashboard/upload", "/dashboard/upload",
     {"files": {"file": ("r.csv", b"sample_id,site,sample_date,analyte,value,unit\n"
                                  b"X1,SE-BIG,2025-01-06,benzoylecgonine,1,ng/L\n")},
      "data": {"kind": "results", "action": "dry_run"}}, "upload_results", {200}, d_upload_post),
    ("get", "/dashboard/alerts", "/dashboard/alerts", {}, "alerts", {200}, d_alerts),
    ("post", "/dashboard/alerts/{alert_id}", "/dashboard/alerts/999999", {"data": {"action": "acknowledge"}},
     "alerts", {403, 404}, d_alert_post),
    ("get", "/dashboard/login", "/dashboard/login", {}, "meta", {200}, ok),
    ("post", "/dashboard/login", "/dashboard/login", {"data": {"key": ""}}, "meta", {200}, ok),
    ("get", "/dashboard/report", "/dashboard/report?year=2025&tertial=1&download=1", {}, "report_public", {200},
     d_report),
    ("get", "/dashboard/report", "/dashboard/report?year=2025&tertial=1&view=analyst", {}, "report_analyst",
     {200, 403}, d_report_analyst),
]


@pytest.mark.parametrize("route", DASH_ROUTES, ids=[f"{r[0]} {r[2].split('?')[0]}" for r in DASH_ROUTES])
def test_dashboard_matrix(principals, clients, route):
    """Dashboard: the key travels in the cookie; a revoked key falls back to the public view."""
    from fastapi.testclient import TestClient

    method, _path, req, kwargs, resource, allowed, check = route
    for role in PRINCIPALS:
        effective = "public" if role == "revoked" else role
        lv = POLICY[resource][effective]
        c = TestClient(clients.app, raise_server_exceptions=False)
        if role != "public":
            c.cookies.set("ww_api_key", principals["_tokens"][role])
        r = getattr(c, method)(req, **kwargs)
        assert r.status_code in allowed, (role, req, r.status_code, r.text[:300])
        check(role, lv, r)


# -- regression tests of issue 11, items 1–6 -----------------------------------------------------


def _load_per_1000(d: int) -> float:
    value = 5.0 if d == 3 else conc(d)  # day 3 is < LOQ 10 → LOQ/2
    return value * FLOW * 1e-3 / (POP_BIG / 1000)


@pytest.mark.parametrize("fmt", ["json", "csv", "netcdf"])
def test_item1_one_day_window_gives_the_whole_week(clients, fmt):
    """A one-day public window returns the mean of the whole ISO week, never the day."""
    day = "2025-01-08"  # Wednesday of 2025-W02 (days 0..6 of the seed)
    week_mean = sum(_load_per_1000(d) for d in range(7)) / 7
    url = f"{B}/series?site=SE-BIG&{BE}&from={day}&to={day}&format={fmt}"
    r = clients["public"].get(url)
    assert r.status_code == 200
    if fmt == "json":
        pts = r.json()["points"]
        assert len(pts) == 1 and pts[0]["iso_week"] == "2025-W02" and pts[0]["n_days"] == 7
        assert pts[0]["load_mg_per_day_per_1000"] == pytest.approx(week_mean)
        assert pts[0]["load_mg_per_day_per_1000"] != pytest.approx(_load_per_1000(2))
    elif fmt == "csv":
        rows = _csv(r.text)
        assert len(rows) == 1 and float(rows[0]["load_mg_per_day_per_1000"]) == pytest.approx(week_mean)
    else:
        import xarray as xr

        ds = xr.open_dataset(io.BytesIO(r.content), engine="scipy")
        assert ds.sizes["date"] == 1
        assert float(ds["load_mg_per_day_per_1000"].values[0]) == pytest.approx(week_mean)
    # the admin sees the day itself
    admin = clients["admin"].get(f"{B}/series?site=SE-BIG&{BE}&from={day}&to={day}").json()["points"]
    assert len(admin) == 1 and admin[0]["load_mg_per_day_per_1000"] == pytest.approx(_load_per_1000(2))


def test_item1_one_week_window_selects_whole_weeks(clients):
    """Wednesday to Tuesday touches two ISO weeks: both come back, each over its seven days."""
    pts = clients["public"].get(f"{B}/series?site=SE-BIG&{BE}&from=2025-01-08&to=2025-01-14").json()["points"]
    assert [p["iso_week"] for p in pts] == ["2025-W02", "2025-W03"]
    assert [p["n_days"] for p in pts] == [7, 7]
    assert pts[1]["load_mg_per_day_per_1000"] == pytest.approx(sum(_load_per_1000(d) for d in range(7, 14)) / 7)


def test_item2_weekday_profile_needs_a_key(clients):
    """Medians of a weekday are single days' values, and weekday means over a window the caller
    picks difference into days: the public gets no weekday profile for any window, on the page
    or as CSV; viewers keep the profile of the chosen week (n = 1 per weekday)."""
    for window in ("&start=2025-01-13&end=2025-01-19", "&start=2025-01-06&end=2025-02-02", ""):
        one = clients["public"].get(f"/dashboard/data/weekday.csv?{Q}{window}")
        assert one.status_code == 200 and _csv(one.text) == []
        page = clients["public"].get(f"/dashboard/trend?{Q}{window}").text
        assert 'id="fig-weekday"' not in page and "bara med API-nyckel" in page
    from fastapi.testclient import TestClient

    tv = TestClient(clients.app)
    tv.cookies.set("ww_api_key", clients.tokens["viewer"])
    v = tv.get(f"/dashboard/data/weekday.csv?{Q}&start=2025-01-13&end=2025-01-19")
    assert [int(x["n_days"]) for x in _csv(v.text)] == [1] * 7
    allw = _csv(tv.get(f"/dashboard/data/weekday.csv?{Q}").text)
    mondays = sorted(_load_per_1000(d) for d in (0, 7, 14, 21))  # Monday median over four Mondays
    assert float(allw[0]["median_load_mg_per_day_per_1000"]) == pytest.approx((mondays[1] + mondays[2]) / 2)


@pytest.mark.parametrize("url,names", [
    (f"/analyses/operation-effect?site=SE-BIG&event_id=EV-PUB&{BE}&after_days=7", ["after_days"]),
    (f"/analyses/operation-effect?site=SE-BIG&event_id=EV-PUB&{BE}&before_days=100&method=ols",
     ["method", "before_days"]),
    (f"/analyses/risk-weekend-effect?site=SE-BIG&{BE}&kind=payday_weekend&to=2025-01-20", ["to"]),
    (f"/analyses/risk-weekend-effect?site=SE-BIG&{BE}&kind=payday_weekend&window_weeks=2", ["window_weeks"]),
    (f"/analyses/risk-weekend-effect?site=SE-BIG&{BE}&kind=payday_weekend&method=matched_weekends", ["method"]),
])
def test_public_analyses_are_the_published_ones(clients, url, names):
    """An attacker who picks the window: two operation effects with after_days 7 and 8 (or a
    risk-weekend `to` that drops one control weekend) would give that day. Without a key the
    parameters that choose the days stay at the published values (401 naming them); the
    defaults written out are fine; a key lifts it."""
    r = clients["public"].get(B + url)
    assert r.status_code == 401, r.text
    msg = r.json()["errors"][0]["message"]
    assert all(f"'{n}'" in msg for n in names) and "publicerade analysen" in msg
    assert clients["viewer"].get(B + url).status_code in (200, 422)
    published = f"/analyses/operation-effect?site=SE-BIG&event_id=EV-PUB&{BE}&after_days=56&before_days=730"
    assert clients["public"].get(B + published).status_code == 200


def test_item3_api_and_dashboard_agree_on_public_effects(clients):
    api = clients["public"].get(f"{B}/analyses/operation-effect?site=SE-BIG&event_id=EV-PUB&{BE}")
    assert api.status_code == 200
    eff = api.json()["results"][0]
    assert set(eff) <= set(PUBLIC_EFFECT_FIELDS)
    from dashboards.i18n import format_percent

    page = clients["public"].get(f"/dashboard/operations?{Q}&event=EV-PUB&lang=en").text
    assert format_percent(100 * eff["relative_change_after"], "en") in page
    assert format_percent(100 * eff["ci_low_after"], "en") in page
    rw_api = clients["public"].get(f"{B}/analyses/risk-weekend-effect?site=SE-BIG&{BE}").json()["events"]
    rw_csv = _csv(clients["public"].get(f"/dashboard/data/riskweekends.csv?{Q}").text)
    assert len(rw_api) == len(rw_csv)
    for a, d in zip(sorted(rw_api, key=lambda x: x["start"]), sorted(rw_csv, key=lambda x: x["start"]),
                    strict=True):
        assert float(d["ratio_to_baseline"]) == pytest.approx(1 + a["relative_change"])
    # confidential and small-catchment operations stay out for the public on both paths
    assert clients["public"].get(f"{B}/analyses/operation-effect?site=SE-BIG&event_id=EV-SECRET&{BE}"
                                 ).status_code == 404
    assert "EV-SECRET" not in clients["public"].get(f"/dashboard/operations?{Q}&event=EV-SECRET").text


def test_item4_uploads_are_owned_by_key_id_not_name(fresh_clients, engine):
    """A key with the name of an earlier (revoked) key never sees that key's uploads; two active
    keys cannot share a name."""
    from fastapi.testclient import TestClient

    from api.security import KeyNameTaken, create_key, create_key_record, revoke_key

    tok_a, meta_a = create_key_record(engine, "labbet", "lab", sites=["SE-BIG"])
    ca = TestClient(fresh_clients.app, raise_server_exceptions=False)
    ca.headers["X-API-Key"] = tok_a
    body = (b"sample_id,site,sample_date,analyte,value,unit\n"
            b"OWN-1,SE-BIG,2025-02-10,benzoylecgonine,123,ng/L\n")
    up = ca.post(f"{B}/uploads/results", files={"file": ("own.csv", body)})
    assert up.status_code == 201, up.text
    uid = up.json()["upload_id"]
    assert ca.get(f"{B}/uploads/{uid}/raw").content == body
    with pytest.raises(KeyNameTaken):
        create_key(engine, "labbet", "lab", sites=["SE-SMALL"])
    r = fresh_clients["admin"].post(f"{B}/keys", json={"name": "labbet", "role": "lab", "sites": ["SE-SMALL"]})
    assert r.status_code == 409 and "labbet" in r.json()["errors"][0]["message"]
    assert revoke_key(engine, meta_a["id"])
    tok_b = create_key(engine, "labbet", "lab", sites=["SE-SMALL"])  # same name, A revoked
    cb = TestClient(fresh_clients.app, raise_server_exceptions=False)
    cb.headers["X-API-Key"] = tok_b
    assert cb.get(f"{B}/uploads/{uid}/raw").status_code == 404
    assert cb.get(f"{B}/uploads/{uid}").status_code == 404
    assert cb.get(f"{B}/uploads").json()["total"] == 0
    other = fresh_clients["lab"]  # another lab key for the same site
    assert other.get(f"{B}/uploads/{uid}/raw").status_code == 404
    assert fresh_clients["admin"].get(f"{B}/uploads/{uid}").json()["uploader_key_id"] == meta_a["id"]


def test_item5_small_catchment_risk_weekend_stays_private(fresh_clients, engine):
    from storage_factories import parsed

    from wastewater.storage.service import store_parsed

    ev = pd.DataFrame({
        "event_id": ["RW-SMALL"], "kind": ["risk_weekend"],
        "start": pd.to_datetime(["2025-01-17"]).astype("datetime64[ns]"),
        "end": pd.to_datetime(["2025-01-19"]).astype("datetime64[ns]"),
        "sites": [["SE-SMALL"]], "substances": [[]], "description": ["Pumpstationsfesten"],
        "confidential": [False]})
    out = store_parsed(engine, b"rw-small", parsed("events", ev), filename="rw.csv", uploader="test")
    assert out.stored
    c = fresh_clients
    names = {x["name"] for x in c["public"].get(f"{B}/calendar/risk-weekends?year=2025").json()}
    assert "Pumpstationsfesten" not in names
    assert "Pumpstationsfesten" in {x["name"] for x in c["viewer"].get(f"{B}/calendar/risk-weekends?year=2025").json()}
    assert "RW-SMALL" not in {e["event_id"] for e in c["public"].get(f"{B}/events").json()["items"]}
    assert "Pumpstationsfesten" not in c["public"].get(f"/dashboard/trend?{Q}").text
    # on the big plant's page it is not shown even with a key: it concerns the pumping station only
    from fastapi.testclient import TestClient

    t = TestClient(c.app)
    t.cookies.set("ww_api_key", c.tokens["admin"])
    assert "Pumpstationsfesten" not in t.get(f"/dashboard/trend?{Q}").text


def test_item6_report_download_defaults_to_public(clients):
    from fastapi.testclient import TestClient

    t = TestClient(clients.app)
    t.cookies.set("ww_api_key", clients.tokens["analyst"])
    r = t.get("/dashboard/report?year=2025&tertial=1&download=1&lang=en")
    assert r.status_code == 200 and "EV-SECRET" not in r.text and "SE-SMALL" not in r.text
    assert "_public.html" in r.headers["content-disposition"]
    r = t.get("/dashboard/report?year=2025&tertial=1&download=1&lang=en&view=analyst")
    assert r.status_code == 200 and "EV-SECRET" in r.text and "SE-SMALL" in r.text
    assert r.text.count("Contains confidential information – must not be published") == 2
    form = t.get("/dashboard/report?lang=sv").text
    assert '<option value="public" selected' in form or 'value="public" selected' in form


def test_public_rule_unit_whole_weeks_and_minimum_days():
    """public_weeks by hand: a week with one measured day is suppressed; the window only selects."""
    days = pd.to_datetime(["2025-03-03", "2025-03-04", "2025-03-05",   # W10: 3 days
                           "2025-03-12",                               # W11: 1 day
                           "2025-03-17", "2025-03-23"])                # W12: 2 days
    daily = pd.DataFrame({"date": days, "value": [1.0, 2.0, 6.0, 50.0, 4.0, 8.0],
                          "censored": [False, True, False, False, False, False]})
    out = access.public_weeks(daily, "2025-03-05", "2025-03-05")
    assert out["iso_week"].tolist() == ["2025-W10"] and out["value"].tolist() == [3.0]
    assert out["n_days"].tolist() == [3] and out["n_censored"].tolist() == [1]
    allw = access.public_weeks(daily)
    assert allw["iso_week"].tolist() == ["2025-W10", "2025-W12"]     # W11 (one day) suppressed
    assert allw["value"].tolist() == [3.0, 6.0]
    kept = access.public_weeks(daily, suppress=False)
    assert kept["n_days"].tolist() == [3, 1, 2]
    rule = access.PublicRule(min_days_per_week=3)
    assert access.public_weeks(daily, rule=rule)["iso_week"].tolist() == ["2025-W10"]


def test_policy_tables_in_readmes_match():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    table = access.policy_markdown("en")
    for doc in ("README.md", "api/README.md"):
        assert table in (root / doc).read_text(encoding="utf-8"), f"{doc}: regenerate with policy_markdown()"


def test_start_is_a_monday():
    assert START.day_of_week == 0
