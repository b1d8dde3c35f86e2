"""Error envelope for FastAPI's own errors, 401/503; API keys, bootstrap admin, audit log."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.config import Settings
from api.security import create_key, hash_token, lookup_key
from service.app import create_app

B = "/api/v1"


def _envelope(r, status):
    body = r.json()
    assert r.status_code == status and body["ok"] is False and body["status"] == status
    assert isinstance(body["error"], str) and body["errors"]
    for e in body["errors"]:
        assert {"line", "column", "code", "message"} <= set(e)
    return body


def test_framework_errors_use_the_envelope(clients):
    c = clients["viewer"]
    _envelope(c.get(f"{B}/no-such-route"), 404)
    _envelope(c.delete(f"{B}/sites"), 405)
    body = _envelope(c.get(f"{B}/series?site=SE-BIG"), 422)                 # analyte missing
    assert body["errors"][0]["column"] == "analyte" and body["errors"][0]["location"] == "query"
    body = _envelope(c.get(f"{B}/series?site=SE-BIG&analyte=benzoylecgonine&measure=volume"), 422)
    assert body["errors"][0]["column"] == "measure"
    body = _envelope(c.get(f"{B}/series?site=SE-BIG&analyte=kokainmetabolitx"), 422)
    assert body["errors"][0]["code"] == "unknown_analyte"
    _envelope(c.get(f"{B}/series?site=SE-BIG&analyte=benzoylecgonine&from=2025-02-01&to=2025-01-01"), 422)
    _envelope(c.get(f"{B}/results?limit=0"), 422)
    _envelope(c.get(f"{B}/uploads/abc"), 403)          # viewer may not read uploads at all
    _envelope(clients["admin"].get(f"{B}/uploads/abc"), 422)


def test_unknown_key_is_401(clients):
    c = TestClient(clients.app)
    r = c.get(f"{B}/sites", headers={"X-API-Key": "ww_wrong"})
    assert _envelope(r, 401)["errors"][0]["code"] == "unknown_key"
    r = c.get(f"{B}/results", headers={"Authorization": f"Bearer {clients.tokens['viewer']}"})
    assert r.status_code == 200                        # Bearer works like X-API-Key


def test_database_unavailable_is_503():
    app = create_app(Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    c = TestClient(app, raise_server_exceptions=False)
    r = c.get(f"{B}/health")
    assert _envelope(r, 503)["errors"][0]["code"] == "storage_unavailable"
    assert r.headers["retry-after"] == "30"
    _envelope(c.get(f"{B}/sites"), 503)
    _envelope(c.get(f"{B}/sites", headers={"X-API-Key": "ww_x"}), 503)
    assert c.get(f"{B}/version").status_code == 200     # answers without the database


def test_health_and_version(clients):
    assert clients["public"].get(f"{B}/health").json() == {"ok": True, "database": "ok"}
    v = clients["public"].get(f"{B}/version").json()
    assert v["api_version"] == "v1" and v["database_revision"]


def test_keys_lifecycle_and_audit(fresh_clients, engine):
    admin = fresh_clients["admin"]
    r = admin.post(f"{B}/keys", json={"name": "kommun-viewer", "role": "viewer", "sites": ["SE-BIG"]})
    assert r.status_code == 201
    created = r.json()
    token, key_id = created["token"], created["id"]
    assert created["sites"] == ["SE-BIG"] and created["role"] == "viewer"
    # stored hashed only
    from wastewater.storage.tables import api_keys, audit_log

    with engine.connect() as conn:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).one()
    assert row.key_hash == hash_token(token) and token not in str(tuple(row))
    listed = admin.get(f"{B}/keys").json()
    assert key_id in [k["id"] for k in listed["items"]] and all("token" not in k for k in listed["items"])
    new = TestClient(fresh_clients.app, headers={"X-API-Key": token})
    assert [s["site"] for s in new.get(f"{B}/sites").json()["items"]] == ["SE-BIG"]
    assert admin.delete(f"{B}/keys/{key_id}").json()["revoked"] is True
    assert new.get(f"{B}/sites").status_code == 401
    assert admin.delete(f"{B}/keys/{key_id}").status_code == 404
    bad = admin.post(f"{B}/keys", json={"name": "lab-x", "role": "lab"})
    assert _envelope(bad, 422)["errors"][0]["code"] == "lab_without_sites"
    assert fresh_clients["analyst"].post(f"{B}/keys", json={"name": "x", "role": "admin"}).status_code == 403
    with engine.connect() as conn:
        acts = [(r.actor, r.action, r.target) for r in conn.execute(
            sa.select(audit_log).where(audit_log.c.target == key_id).order_by(audit_log.c.id))]
    assert acts == [("admin-key", "key_created", key_id), ("admin-key", "key_revoked", key_id)]
    log = admin.get(f"{B}/audit?limit=5").json()
    assert log["items"][0]["action"] == "key_revoked"


def test_bootstrap_admin_key(fresh_clients, engine):
    from api_fixtures import ADMIN_BOOTSTRAP

    boot = TestClient(fresh_clients.app, headers={"X-API-Key": ADMIN_BOOTSTRAP})
    r = boot.post(f"{B}/keys", json={"name": "first-admin", "role": "admin"})
    assert r.status_code == 201
    p = lookup_key(engine, r.json()["token"])
    assert p is not None and p.role == "admin" and p.name == "first-admin"
    # without the setting, the same token is just an unknown key
    app = create_app(Settings(database_url=str(engine.url)), engine=engine)
    assert TestClient(app).get(f"{B}/keys", headers={"X-API-Key": ADMIN_BOOTSTRAP}).status_code == 401
    tok = create_key(engine, "cli-made", "analyst")
    assert tok.startswith("ww_") and len(tok) > 40 and lookup_key(engine, tok).role == "analyst"


def test_cors_off_by_default_and_on_when_configured(seeded_engine):
    off = TestClient(create_app(Settings(), engine=seeded_engine))
    r = off.get(f"{B}/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    on = TestClient(create_app(Settings(cors_origins=["https://kommun.example"]), engine=seeded_engine))
    r = on.get(f"{B}/health", headers={"Origin": "https://kommun.example"})
    assert r.headers["access-control-allow-origin"] == "https://kommun.example"


def test_openapi_documents_errors_units_and_tags(clients):
    spec = clients["public"].get(f"{B}/openapi.json").json()
    for path, ops in spec["paths"].items():
        if not path.startswith(B):
            continue
        for method, op in ops.items():
            assert op.get("tags"), (path, method)
            errs = [c for c in op["responses"] if c.startswith(("4", "5"))]
            assert errs, (path, method)
            for c in errs:
                ref = op["responses"][c].get("content", {}).get("application/json", {}).get("schema", {})
                assert ref.get("$ref", "").endswith("ErrorResponse") or c == "422", (path, method, c)
    point = spec["components"]["schemas"]["SeriesPoint"]["properties"]
    assert {"load_mg_per_day_per_1000", "concentration_ng_per_l", "change_lo95_mg_per_day_per_1000",
            "level_hi95_ng_per_l", "n_censored"} <= set(point)
    assert "lo95" not in point  # every bound names its kind and unit
    assert "ApiKeyHeader" in str(spec["components"]["securitySchemes"]) or spec["components"]["securitySchemes"]
