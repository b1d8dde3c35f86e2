"""The alerts page's confirmation comes from the catalogue, never from query text."""

from dashboards.app import _alert_done_text


def test_the_redirects_own_shape_is_worded_in_each_language():
    assert _alert_done_text("17:acknowledged", "sv") == "Larm 17: kvitterat."
    assert _alert_done_text("17:dismissed", "en") == "Alert 17: dismissed."


def test_other_text_is_not_echoed():
    for spoof in ("Polisen meddelar: ring 010-123", "17:hacked", "x:acknowledged", "", None,
                  "<script>alert(1)</script>", "17:acknowledged:extra"):
        assert _alert_done_text(spoof, "sv") == ""
