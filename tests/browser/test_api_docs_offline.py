"""/api/v1/docs and /api/v1/redoc render with every non-local request blocked (no CDN)."""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import shot

pytestmark = [pytest.mark.browser]


def _block_non_local(page, blocked: list[tuple[str, str]]) -> None:
    def handle(route):
        host = urlsplit(route.request.url).hostname
        if host in {"127.0.0.1", "localhost"}:
            route.continue_()
        else:
            blocked.append((route.request.resource_type, route.request.url))
            route.abort()

    page.route("**/*", handle)


def test_swagger_ui_lists_operations_offline(demo_server, page):
    blocked: list[tuple[str, str]] = []
    _block_non_local(page, blocked)
    page.goto(demo_server["url"] + "/api/v1/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/series" in [p.replace("\u200b", "").strip() for p in paths]
    with urllib.request.urlopen(demo_server["url"] + "/api/v1/openapi.json") as r:
        spec = json.load(r)
    n_operations = sum(len(ops) for ops in spec["paths"].values())
    assert page.locator(".opblock").count() == n_operations  # every operation is listed
    assert blocked == []  # nothing was even asked of another host
    shot(page, "api-docs-offline")


def test_redoc_renders_offline(demo_server, page):
    blocked: list[tuple[str, str]] = []
    _block_non_local(page, blocked)
    page.goto(demo_server["url"] + "/api/v1/redoc")
    page.wait_for_selector("text=\"/api/v1/series\"", timeout=30_000)
    # ReDoc's bundle asks cdn.redoc.ly for its footer logo (an image); the page needs nothing
    # else from another host: no script, stylesheet, font or API call.
    assert [b for b in blocked if b[0] != "image"] == []
