"""Every dashboard page in Swedish and English fits a laptop (1366×768) and a phone (390×844):
no horizontal scrolling of the page (``scrollWidth`` ≤ the viewport's width); wide tables scroll
inside their own box. Screenshots go to test-artifacts/screenshots/layout-*.png."""

from __future__ import annotations

import pytest

from tests.browser.conftest import CHROMIUM_ARGS, SCREENSHOTS  # noqa: F401 - same browser setup

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGES = {
    "trend": "/dashboard/trend?site=SE-KAT-ROS&analyte=benzoylecgonine",
    "operations": "/dashboard/operations?site=SE-KAT-ROS&analyte=benzoylecgonine&event=EV-2025-02",
    "riskweekends": "/dashboard/riskweekends?site=SE-KAT-ROS&analyte=benzoylecgonine",
    "compare": "/dashboard/compare?analyte=benzoylecgonine",
    "upload": "/dashboard/upload",
    "login": "/dashboard/login",
}
VIEWPORTS = {"laptop": (1366, 768), "phone": (390, 844)}


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("lang", ["sv", "en"])
def test_no_page_scrolls_sideways(demo_server, browser, viewport, lang):
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(viewport={"width": width, "height": height},
                                  locale="sv-SE" if lang == "sv" else "en-GB")
    page = context.new_page()
    page.set_default_timeout(60_000)
    too_wide = {}
    try:
        for name, path in PAGES.items():
            sep = "&" if "?" in path else "?"
            page.goto(f"{demo_server['url']}{path}{sep}lang={lang}")
            page.wait_for_load_state("networkidle")
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            if scroll_width > width:
                too_wide[name] = scroll_width
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"layout-{name}-{lang}-{viewport}.png"),
                            full_page=True)
    finally:
        context.close()
    assert too_wide == {}, f"pages wider than {width} px: {too_wide}"
