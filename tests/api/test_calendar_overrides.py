"""The kommun's own risk-weekend dates (uploaded events of kind ``risk_weekend``) replace or
extend the computed calendar in the API (issue 4: "Users can add or override dates")."""

from __future__ import annotations


def _calendar(client, year):
    r = client.get(f"/api/v1/calendar/risk-weekends?year={year}")
    assert r.status_code == 200, r.text
    return {row["name"]: row for row in r.json()}


def test_uploaded_risk_weekend_events_override_and_extend_calendar(fresh_clients):
    before = _calendar(fresh_clients["public"], 2026)
    # computed default: Thursday of ISO week 24 (2026-06-11) to the following Sunday
    assert before["Skolavslutning"]["start"].startswith("2026-06-11")
    assert "Katrineholmsmarknaden" not in before

    csv = (
        b"event_id,kind,start,end,sites,substances,description\n"
        b"KOM-SK-2026,risk_weekend,2026-06-10,2026-06-14,,,skolavslutning\n"
        b"KOM-MK-2026,risk_weekend,2026-08-21,2026-08-23,,,Katrineholmsmarknaden\n"
    )
    r = fresh_clients["analyst"].post("/api/v1/uploads/events",
                                      files={"file": ("kommun.csv", csv, "text/csv")})
    assert r.status_code == 201, r.text

    after = _calendar(fresh_clients["public"], 2026)
    assert after["Skolavslutning"]["start"].startswith("2026-06-10")
    assert after["Skolavslutning"]["end"].startswith("2026-06-14")
    assert after["Katrineholmsmarknaden"]["kind"] == "risk_weekend"
    assert after["Katrineholmsmarknaden"]["start"].startswith("2026-08-21")
    # other years and other weekends are untouched
    assert after["Midsommar"] == before["Midsommar"]
    assert _calendar(fresh_clients["public"], 2025)["Skolavslutning"]["start"].startswith("2025-06-12")
