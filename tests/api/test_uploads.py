"""POST /uploads/{kind}: validation report, dry run, duplicates, rejection, size limit, lab scope,
audit trail; GET /uploads[/id[/raw]]."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

B = "/api/v1"

FLOWS_BIG = b"site,date,flow_m3_per_day\nSE-BIG,2025-03-01,9000\nSE-BIG,2025-03-02,9100\n"
FLOWS_SMALL = b"site,date,flow_m3_per_day\nSE-SMALL,2025-03-01,900\n"
RESULTS_BAD = (
    b"sample_id,site,sample_date,analyte,value,unit\n"
    b"S1,SE-BIG,2025-03-01,benzoylecgonine,120,ng/L\n"
    b"S1,SE-BIG,2025-03-01,kokainmetabolit,5,ng/L\n"
    b"S2,SE-BIG,2025-03-02,cocaine,-4,ng/L\n"
)


def _up(client, kind, data, name="f.csv", **params):
    return client.post(f"{B}/uploads/{kind}", params=params, files={"file": (name, io.BytesIO(data), "text/csv")})


def _audit(engine):
    from wastewater.storage.tables import audit_log

    with engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.select(audit_log).order_by(audit_log.c.id))]


def test_upload_dry_run_duplicate_and_audit(fresh_clients, engine):
    lab = fresh_clients["lab"]
    dry = _up(lab, "flows", FLOWS_BIG, dry_run="true")
    assert dry.status_code == 200, dry.text
    d = dry.json()
    assert d["dry_run"] is True and d["stored"] is False and d["upload_id"] is None
    assert d["report"]["rows_accepted"] == 2 and d["rows_inserted"] == 2
    n_audit = len(_audit(engine))
    assert fresh_clients["admin"].get(f"{B}/uploads").json()["total"] == 6  # only the seed uploads

    first = _up(lab, "flows", FLOWS_BIG)
    assert first.status_code == 201 and first.json()["stored"] is True
    uid = first.json()["upload_id"]
    again = _up(lab, "flows", FLOWS_BIG, name="other-name.csv")
    assert again.status_code == 200
    assert again.json()["duplicate"] is True and again.json()["upload_id"] == uid
    assert again.json()["report"]["details"]["duplicate_of_upload_id"] == uid
    assert f"upload {uid}" in again.json()["message"]

    rows = _audit(engine)[n_audit:]
    assert [(r["actor"], r["action"], r["target"]) for r in rows] == [("lab-key", "upload_stored", f"upload/{uid}")]

    # metadata + report, raw bytes verbatim; lab sees only its own uploads
    meta = lab.get(f"{B}/uploads/{uid}").json()
    assert meta["uploader"] == "lab-key" and meta["report"]["rows_accepted"] == 2
    assert [u["upload_id"] for u in lab.get(f"{B}/uploads").json()["items"]] == [uid]
    raw = lab.get(f"{B}/uploads/{uid}/raw")
    assert raw.status_code == 200 and raw.content == FLOWS_BIG
    assert fresh_clients["admin"].get(f"{B}/uploads/{uid}/raw").content == FLOWS_BIG
    assert fresh_clients["analyst"].get(f"{B}/uploads/{uid}/raw").status_code == 403
    assert fresh_clients["lab_small"].get(f"{B}/uploads/{uid}").status_code == 404


def test_rejected_upload_reports_line_and_column(fresh_clients):
    r = _up(fresh_clients["lab"], "results", RESULTS_BAD)
    assert r.status_code == 422
    body = r.json()
    assert body["ok"] is False and body["status"] == 422 and body["error"] == "upload rejected"
    where = {(e["line"], e["column"], e["code"]) for e in body["errors"]}
    assert (3, "analyte", "unknown_analyte") in where
    assert any(e["line"] == 4 and e["column"] == "value" for e in body["errors"])
    assert body["report"]["rows_total"] == 3 and body["report"]["rows_accepted"] == 1
    assert body["upload_id"] is None and body["stored"] is False
    # on_error=skip stores the valid row and still reports the others
    s = _up(fresh_clients["lab"], "results", RESULTS_BAD, on_error="skip")
    assert s.status_code == 201 and s.json()["rows_inserted"] == 1
    assert s.json()["report"]["rows_accepted"] == 1 and len(s.json()["report"]["issues"]) >= 2


def test_upload_roles_and_lab_scope(fresh_clients):
    c = fresh_clients
    assert _up(c["public"], "flows", FLOWS_BIG).status_code == 401
    assert _up(c["viewer"], "flows", FLOWS_BIG).status_code == 403
    assert _up(c["analyst"], "flows", FLOWS_BIG).status_code == 403
    r = _up(c["lab"], "flows", FLOWS_SMALL)                     # lab key scoped to SE-BIG
    assert r.status_code == 403
    e = r.json()["errors"][0]
    assert e["code"] == "site_out_of_scope" and e["line"] == 2 and e["column"] == "site"
    assert _up(c["lab_small"], "flows", FLOWS_SMALL).status_code == 201
    sites = b"site,name,municipality,population,population_year\nSE-NEW,New,Newby,12000,2025\n"
    assert _up(c["lab"], "sites", sites).status_code == 403
    assert _up(c["lab"], "auto", sites).status_code == 403      # detected kind is checked too
    assert _up(c["admin"], "sites", sites).status_code == 201
    events = b"event_id,kind,start,end,sites,substances,description,confidential\nEV-X,operation,2025-03-01,2025-03-02,SE-BIG,,x,true\n"  # noqa: E501
    assert _up(c["analyst"], "events", events).status_code == 201
    assert _up(c["lab"], "events", events + b"\n").status_code == 403


@pytest.mark.parametrize("backend", ["sqlite"])
def test_size_limit_413(sqlite_engine, backend):
    from api_fixtures import make_clients, seed

    seed(sqlite_engine)
    c = make_clients(sqlite_engine, max_upload_bytes=1000)["lab"]
    body = FLOWS_BIG + b"SE-BIG,2025-04-01,9000\n" * 100              # ~2.4 kB > 1000 B
    r = _up(c, "flows", body)
    assert r.status_code == 413 and r.json()["errors"][0]["code"] == "too_large"
    assert r.json()["errors"][0]["limit_bytes"] == 1000
    # Content-Length far above the limit: refused before the body is read
    big = b"x" * 200_000
    r2 = c.post(f"{B}/uploads/flows", content=big, headers={"Content-Type": "text/csv"})
    assert r2.status_code == 413 and r2.json()["status"] == 413

    # chunked body (no Content-Length): counted while received
    def gen():
        for _ in range(50):
            yield b"y" * 10_000

    r3 = c.post(f"{B}/uploads/flows", content=gen(),
               headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert r3.status_code == 413 and r3.json()["ok"] is False


def test_xlsx_upload(sqlite_engine):
    """Parser path only (storage is covered on both databases above): SQLite suffices."""
    import openpyxl
    from api_fixtures import make_clients, seed

    seed(sqlite_engine)
    fresh_clients = make_clients(sqlite_engine)

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["site", "date", "flow_m3_per_day"])
    ws.append(["SE-BIG", "2025-05-01", 9500])
    buf = io.BytesIO()
    wb.save(buf)
    r = fresh_clients["lab"].post(f"{B}/uploads/flows", files={"file": ("f.xlsx", buf.getvalue(),
                                  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
    assert r.status_code == 201, r.text
    assert r.json()["rows_inserted"] == 1


def test_superseded_result_history(fresh_clients):
    lab = fresh_clients["lab"]
    corrected = (b"sample_id,site,sample_date,analyte,value,unit,loq,lod\n"
                 b"SE-BIG-20250107,SE-BIG,2025-01-07,benzoylecgonine,150,ng/L,10,1\n")
    r = _up(lab, "results", corrected, name="rättelse_€.csv")
    assert r.status_code == 201 and r.json()["rows_superseded"] == 1
    raw = lab.get(f"{B}/uploads/{r.json()['upload_id']}/raw")   # non-Latin-1 file name
    assert raw.content == corrected and "filename*=UTF-8''r%C3%A4ttelse_%E2%82%AC.csv" in raw.headers["content-disposition"]  # noqa: E501
    hist = lab.get(f"{B}/results/history?sample_id=SE-BIG-20250107&analyte=BE").json()["items"]
    assert [(h["value_ng_per_l"], h["is_current"]) for h in hist] == [(101.0, False), (150.0, True)]
    assert hist[0]["superseded_by"] == hist[1]["result_id"]
    cur = lab.get(f"{B}/results?from=2025-01-07&to=2025-01-07").json()["items"]
    assert [x["value_ng_per_l"] for x in cur] == [150.0]
    both = lab.get(f"{B}/results?from=2025-01-07&to=2025-01-07&include_history=true").json()["items"]
    assert sorted(x["value_ng_per_l"] for x in both) == [101.0, 150.0]
    # the series uses the current value: 150 ng/L x 10 000 m3/day / 25.3 thousand
    s = lab.get(f"{B}/series?site=SE-BIG&analyte=benzoylecgonine&from=2025-01-07&to=2025-01-07").json()
    assert s["points"][0]["load_mg_per_day_per_1000"] == pytest.approx(1500 / 25.3)


def test_api_upload_warns_of_dates_far_outside_the_sites_history(clients):
    """The guarded parse gets the stored history too (wastewater.storage.service.upload_context):
    SE-BIG holds 2025-01-06 … 2025-02-02, so a sample of 2023-06-01 (585 days before) is an
    ``implausible_date`` warning, in English and Swedish, and the row is kept."""
    data = (b"sample_id,site,sample_date,analyte,value,unit\n"
            b"W1,SE-BIG,2023-06-01,benzoylecgonine,120,ng/L\n"
            b"W2,SE-BIG,2025-02-03,benzoylecgonine,120,ng/L\n")
    r = _up(clients["admin"], "results", data, dry_run="true")
    assert r.status_code == 200, r.text
    report = r.json()["report"]
    found = [i for i in report["issues"] if i["code"] == "implausible_date"]
    assert [(i["line"], i["column"]) for i in found] == [(2, "sample_date")]
    assert "SE-BIG (2025-01-06 – 2025-02-02)" in found[0]["message"]
    assert report["rows_accepted"] == 2
