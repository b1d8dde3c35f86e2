"""Who may read and who may be sent an alert: the rules live in wastewater.access (pure), and the
API, the dashboard, the upload answer and the outbox all ask them."""

from __future__ import annotations

import pytest

from wastewater import access
from wastewater.access import Principal

HIGH = {"kind": "unusually_high", "site": "SE-A", "confidential": False}
DUMP_OPEN = {"kind": "possible_dumping", "site": "SE-A", "confidential": False}
DUMP_SECRET = {"kind": "possible_dumping", "site": "SE-A", "confidential": True}


@pytest.mark.parametrize(("role", "sites", "alert", "readable"), [
    ("public", None, HIGH, False),         # single-day values: no public level
    ("revoked", None, HIGH, False),
    ("viewer", None, HIGH, True),
    ("lab", None, HIGH, True),
    ("viewer", frozenset({"SE-B"}), HIGH, False),  # outside the key's site scope
    ("viewer", frozenset({"SE-A"}), HIGH, True),
    ("viewer", None, DUMP_OPEN, True),
    ("viewer", None, DUMP_SECRET, False),  # confidential operation: analyst and admin only
    ("lab", None, DUMP_SECRET, False),
    ("analyst", None, DUMP_SECRET, True),
    ("admin", None, DUMP_SECRET, True),
])
def test_alert_visible(role, sites, alert, readable):
    assert access.alert_visible(Principal("k", role, sites), alert) is readable


@pytest.mark.parametrize(("role", "alert", "population", "receivable"), [
    ("public", HIGH, 34_000, True),        # an address without a key: public catchments only
    ("public", HIGH, 9_999, False),
    ("public", HIGH, None, False),         # unknown size is not public
    ("public", DUMP_OPEN, 34_000, False),  # no operation news to a public address
    ("viewer", HIGH, 500, True),           # keys receive what they may read, any catchment
    ("viewer", DUMP_SECRET, 34_000, False),
    ("analyst", DUMP_SECRET, 34_000, True),
    ("revoked", HIGH, 34_000, False),
])
def test_alert_receivable(role, alert, population, receivable):
    got = access.alert_receivable(Principal("s", role), alert, site_population=population)
    assert got is receivable


def test_receivable_follows_the_public_rule_and_the_scope():
    rule = access.PublicRule(min_population=50_000)
    public = Principal("s", "public")
    assert not access.alert_receivable(public, HIGH, site_population=34_000, rule=rule)
    assert access.alert_receivable(public, HIGH, site_population=50_000, rule=rule)
    scoped = Principal("s", "viewer", frozenset({"SE-B"}))
    assert not access.alert_receivable(scoped, HIGH, site_population=34_000)
