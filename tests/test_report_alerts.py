"""The tertial report counts the period's alerts and says how many were acted on."""

from __future__ import annotations

import pytest

from tests.alert_fixtures import SPIKE_DAY, history_csv, new_week_csv, sites_csv
from wastewater.storage.alerts import set_alert_status
from wastewater.storage.service import ingest_bytes


@pytest.mark.parametrize("lang, expected", [
    ("sv", "1 larm, varav 1 kvitterade (åtgärdade), 0 avfärdade och 0 fortfarande öppna."),
    ("en", "1 alerts: 1 acknowledged (acted on), 0 dismissed and 0 still open."),
])
def test_report_counts_alerts_and_acted_on(sqlite_engine, lang, expected):
    from dashboards.report import build_report, current_tertial

    for name, data in (("s.csv", sites_csv()), ("h.csv", history_csv()), ("w.csv", new_week_csv())):
        out = ingest_bytes(sqlite_engine, data, filename=name, uploader="lab")
    set_alert_status(sqlite_engine, out.alerts[0]["alert_id"], "acknowledged", actor="samordnare")
    year, tertial = current_tertial(SPIKE_DAY)
    html = build_report(sqlite_engine, year, tertial, lang=lang)
    assert expected in html
    assert 'id="report-alerts-table"' in html
    assert ("Ovanligt högt" if lang == "sv" else "Unusually high") in html
