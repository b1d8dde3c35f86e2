"""Issue 11, items 8 and 9: security headers, /health degraded, 503 bodies without connection
details, header-only uploads, download file names, the last admin key, the demo's EUDA audit."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.config import Settings
from service.app import create_app

B = "/api/v1"


def _headers_ok(r, *, docs: bool = False) -> None:
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    if not docs:
        assert "script-src 'self';" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_security_headers_on_api_and_dashboard(clients):
    c = clients["public"]
    for path in (f"{B}/health", f"{B}/sites", f"{B}/series?site=SE-BIG&analyte=benzoylecgonine",
                 f"{B}/no-such-route", f"{B}/results", "/dashboard/trend", "/dashboard/login",
                 "/dashboard/upload", "/dashboard/static/plotly.min.js", "/dashboard/static/figures.js",
                 "/dashboard/data/trend.csv?site=SE-BIG&analyte=benzoylecgonine"):
        r = c.get(path)
        assert r.status_code in (200, 401, 404), (path, r.status_code)
        _headers_ok(r)
    r = c.post(f"{B}/uploads/results", content=b"x" * 10, headers={"Content-Length": str(10**9)})
    assert r.status_code == 413
    _headers_ok(r)
    _headers_ok(c.get(f"{B}/docs"), docs=True)
    # the docs' bundles are served from here (fastapi-offline): scripts and styles from no other
    # host (only ReDoc's hard-wired logo image may be fetched from cdn.redoc.ly)
    docs_csp = dict(d.strip().split(" ", 1) for d in c.get(f"{B}/docs").headers["content-security-policy"].split(";"))
    assert docs_csp["script-src"] == "'self' 'unsafe-inline'" and "http" not in docs_csp["style-src"]
    # the dashboard pages have no inline script at all (the figures are drawn by figures.js)
    page = c.get("/dashboard/trend?site=SE-BIG&analyte=benzoylecgonine").text
    assert "<script>" not in page and 'data-plotly="' in page
    # the self-contained report allows exactly its two inline scripts, by hash
    rep = c.get("/dashboard/report?year=2025&tertial=1")
    csp = rep.headers["content-security-policy"]
    script_src = csp.split("script-src ")[1].split(";")[0].split()
    assert len(script_src) == 2 and all(s.startswith("'sha256-") for s in script_src)
    import base64
    import hashlib
    import re

    inline = re.findall(r"<script>(.*?)</script>", rep.text, flags=re.S)
    assert sorted("'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
                  for s in inline) == sorted(script_src)


def test_health_degraded_without_schema_or_not_at_head(tmp_path):
    from wastewater.storage.database import get_engine, head_revision, upgrade

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    app = create_app(Settings(database_url=url))
    r = TestClient(app, raise_server_exceptions=False).get(f"{B}/health")
    assert r.status_code == 503 and r.json()["errors"][0]["code"] == "schema_missing"
    assert "wastewater db upgrade" in r.json()["errors"][0]["message"]
    assert str(tmp_path) not in r.text
    upgrade(url, "0001")
    eng = get_engine(url)
    r = TestClient(create_app(Settings(database_url=url), engine=eng), raise_server_exceptions=False).get(
        f"{B}/health")
    assert r.status_code == 503 and r.json()["errors"][0]["code"] == "schema_outdated"
    assert r.json()["errors"][0]["revision"] == "0001" and r.json()["errors"][0]["head"] == head_revision()
    upgrade(url)
    r = TestClient(create_app(Settings(database_url=url), engine=eng)).get(f"{B}/health")
    assert r.status_code == 200 and r.json() == {"ok": True, "database": "ok"}
    eng.dispose()


def test_503_bodies_never_show_connection_details(tmp_path):
    url = "postgresql+psycopg://secretuser@127.0.0.1:1/secretdb"
    c = TestClient(create_app(Settings(database_url=url)), raise_server_exceptions=False)
    for path in (f"{B}/health", f"{B}/sites", f"{B}/series?site=X&analyte=benzoylecgonine", f"{B}/events"):
        r = c.get(path)
        assert r.status_code == 503, path
        assert "secretuser" not in r.text and "secretdb" not in r.text and "127.0.0.1" not in r.text, r.text
    # an empty SQLite file: the data endpoints answer 503 without the file's path
    url = f"sqlite:///{tmp_path / 'noschema.db'}"
    c = TestClient(create_app(Settings(database_url=url)), raise_server_exceptions=False)
    r = c.get(f"{B}/sites")
    assert r.status_code == 503 and str(tmp_path) not in r.text and "noschema" not in r.text


def test_header_only_upload_is_rejected(fresh_clients, engine):
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT COUNT(*) FROM uploads")).scalar_one()
    r = fresh_clients["lab"].post(f"{B}/uploads/results", files={
        "file": ("empty.csv", b"sample_id,site,sample_date,analyte,value,unit\n")})
    assert r.status_code == 422
    err = r.json()["errors"][0]
    assert err["code"] == "header_only" and err["line"] == 1
    assert "no data rows" in err["message"] and "inga datarader" in err["message"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM uploads")).scalar_one() == before


def test_download_filenames_are_sanitised(fresh_clients):
    body = b"sample_id,site,sample_date,analyte,value,unit\nP-1,SE-BIG,2025-02-11,benzoylecgonine,12,ng/L\n"
    up = fresh_clients["lab"].post(f"{B}/uploads/results", files={"file": ("../../../etc/passwd.csv", body)})
    assert up.status_code == 201, up.text
    r = fresh_clients["lab"].get(f"{B}/uploads/{up.json()['upload_id']}/raw")
    assert r.status_code == 200 and r.content == body
    cd = r.headers["content-disposition"]
    assert cd.startswith('attachment; filename="passwd.csv"') and ".." not in cd and "/" not in cd
    from wastewater.downloads import safe_filename

    assert safe_filename('..\\..\\evil";\r\nX-Injected: 1.csv') == "evil____X-Injected_ 1.csv"


def test_last_admin_key_cannot_be_revoked(fresh_clients, engine):
    from api.security import list_keys

    admins = [k for k in list_keys(engine) if k["role"] == "admin" and not k["revoked"]]
    assert len(admins) == 1
    only = admins[0]["id"]
    r = fresh_clients["admin"].delete(f"{B}/keys/{only}")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "last_admin_key"
    assert "sista aktiva admin-nyckeln" in r.json()["errors"][0]["message"]
    new = fresh_clients["admin"].post(f"{B}/keys", json={"name": "second-admin", "role": "admin"})
    assert new.status_code == 201
    assert fresh_clients["admin"].delete(f"{B}/keys/{only}").status_code == 200
    from typer.testing import CliRunner

    from service.cli import app as cli

    res = CliRunner().invoke(cli, ["--database-url", str(engine.url), "keys", "revoke", new.json()["id"]])
    assert res.exit_code == 1 and "last active admin key" in res.output


def test_demo_euda_import_is_audited(engine):
    from pathlib import Path

    from api.security import load_audit
    from wastewater.cli import _demo_euda

    _demo_euda(engine, Path(__file__).resolve().parents[2] / "samples" / "euda")
    rows = [r for r in load_audit(engine) if r["action"] == "euda_imported"]
    assert len(rows) == 1 and rows[0]["actor"] == "cli:demo" and rows[0]["target"] == "reference/EUDA-2025"
    import json

    assert json.loads(rows[0]["detail_json"])["values"] == 30_632
