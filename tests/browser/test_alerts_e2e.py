"""The alerts list and its acknowledgement in a real browser, in Swedish and English: upload an
unusual week on the upload page, follow the message to the alerts page, acknowledge (sv) or
dismiss (en); the change is in the audit log."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from tests.alert_fixtures import SPIKE_DAY, history_csv, new_week_csv, sites_csv
from tests.browser.conftest import serve, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PORT = 8194


@pytest.fixture(scope="module")
def alert_server(tmp_path_factory):
    from api.security import create_key
    from wastewater.storage.database import get_engine, upgrade
    from wastewater.storage.service import ingest_bytes

    folder = tmp_path_factory.mktemp("alerts-e2e")
    url = f"sqlite:///{folder / 'alerts.db'}"
    engine = get_engine(url)
    upgrade(engine)
    for name, data in (("sites.csv", sites_csv()), ("history.csv", history_csv())):
        assert ingest_bytes(engine, data, filename=name, uploader="seed").stored
    keys = {"lab": create_key(engine, "labbet", "lab", sites=["SE-KAT-ROS"]),
            "viewer": create_key(engine, "coordinator", "viewer")}
    (folder / "week-1.csv").write_bytes(new_week_csv())
    friday = SPIKE_DAY + dt.timedelta(days=2)
    (folder / "week-1-corrected.csv").write_bytes(new_week_csv(spike_day=friday, seed=21))
    # a loaded CI machine imports slowly
    with serve(url, folder, port=PORT, start_timeout_s=180) as base:
        yield {"url": base, "keys": keys, "folder": folder, "engine": engine, "friday": friday}
    engine.dispose()


def _login(page, base, key, lang):
    page.goto(f"{base}/dashboard/login?lang={lang}")
    page.get_by_label("API-nyckel" if lang == "sv" else "API key").fill(key)
    page.get_by_role("button", name="Spara nyckel" if lang == "sv" else "Save key").click()
    page.wait_for_url(re.compile(r"/dashboard/login"))


def _audit(engine, alert_id):
    from wastewater.storage import tables as t

    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(t.audit_log.c.action, t.audit_log.c.actor)
            .where(t.audit_log.c.target == f"alert/{alert_id}").order_by(t.audit_log.c.id))]


def test_upload_names_the_alert_and_the_list_acknowledges_it_sv(alert_server, page):
    base = alert_server["url"]
    page.goto(base + "/dashboard/alerts")
    assert "visas bara med en API-nyckel" in page.locator("main").inner_text()
    _login(page, base, alert_server["keys"]["lab"], "sv")
    page.goto(base + "/dashboard/upload")
    page.get_by_label("Fil (CSV eller XLSX)").set_input_files(str(alert_server["folder"] / "week-1.csv"))
    page.get_by_role("button", name="Kontrollera och spara").click()
    page.wait_for_selector("#upload-result")
    note = page.get_by_test_id("upload-alerts").inner_text()
    assert note.startswith("1 dag ovanligt höga för amphetamine vid SE-KAT-ROS")
    shot(page, "alerts-01-upload-sv")
    page.get_by_test_id("upload-alerts").get_by_role("link", name="Larm").click()
    page.wait_for_url(re.compile(r"/dashboard/alerts\?.*site=SE-KAT-ROS"))
    row = page.locator(f'#alerts-table tr:has(th:text-is("{SPIKE_DAY.isoformat()}"))')
    assert row.count() == 1
    assert row.locator("td").nth(1).inner_text() == "Ovanligt högt"
    assert "gånger medianen för samma veckodag" in row.locator("td").nth(2).inner_text()
    assert row.locator(".alert-status").inner_text() == "Öppet"
    alert_id = int(row.get_attribute("data-alert-id"))
    row.get_by_role("button", name=f"Kvittera {alert_id}").click()
    page.wait_for_selector(f'tr[data-alert-id="{alert_id}"][data-status="acknowledged"]')
    assert page.locator(f'tr[data-alert-id="{alert_id}"] .alert-status').inner_text() == \
        "Kvitterat (labbet)"
    assert f"Larm {alert_id}: kvitterat." in page.get_by_role("status").first.inner_text()
    shot(page, "alerts-02-acknowledged-sv")
    assert _audit(alert_server["engine"], alert_id) == [("alert_acknowledged", "labbet")]


def test_alerts_list_in_english_and_dismiss(alert_server, page):
    base = alert_server["url"]
    friday = alert_server["friday"].isoformat()
    _login(page, base, alert_server["keys"]["lab"], "en")
    page.goto(base + "/dashboard/upload?lang=en")
    page.get_by_label("File (CSV or XLSX)").set_input_files(
        str(alert_server["folder"] / "week-1-corrected.csv"))
    page.get_by_role("button", name="Check and save").click()
    page.wait_for_selector("#upload-result")
    assert page.get_by_test_id("upload-alerts").inner_text().startswith(
        "1 day unusually high for amphetamine at SE-KAT-ROS")
    _login(page, base, alert_server["keys"]["viewer"], "en")
    page.goto(base + "/dashboard/alerts?lang=en&site=SE-KAT-ROS")
    assert page.locator("h1").inner_text() == "Alerts from uploads"
    headers = page.locator("#alerts-table thead th").all_inner_texts()
    assert headers == ["Date", "Substance", "Kind", "Why", "Upload", "Status", "Action"]
    row = page.locator(f'#alerts-table tr:has(th:text-is("{friday}"))')
    assert row.locator(".alert-status").inner_text() == "Open"
    assert "times the median of the same weekday" in row.locator("td").nth(2).inner_text()
    alert_id = int(row.get_attribute("data-alert-id"))
    row.get_by_role("button", name=f"Dismiss {alert_id}").click()
    page.wait_for_selector(f'tr[data-alert-id="{alert_id}"][data-status="dismissed"]')
    assert page.locator(f'tr[data-alert-id="{alert_id}"] .alert-status').inner_text() == \
        "Dismissed (coordinator)"
    # the Swedish one acknowledged in the other test is still shown as acknowledged
    assert page.locator('#alerts-table tr[data-status="acknowledged"]').count() == 1
    shot(page, "alerts-03-dismissed-en")
    assert _audit(alert_server["engine"], alert_id) == [("alert_dismissed", "coordinator")]
