"""Every dashboard page in Swedish and English, public and with an API key, on a laptop
(1366×768) and a phone (390×844):

- no horizontal scrolling of the page (``scrollWidth`` ≤ the viewport's width); wide tables
  scroll inside their own box;
- no chart text is cut off: every legend entry and axis or chart title lies inside its chart's
  box (plotly does not wrap long legend names; ``static/figures.js`` wraps them to the width);
- the Swedish view shows no English message: no text of the English catalogue
  (dashboards/i18n.py ``STRINGS["en"]``, the core's sentences in wastewater/wording.py and the
  upload issue texts of ``ISSUE_CODES``) that is not also Swedish appears in the page's text,
  charts, labels or tooltips; the lab upload with errors is checked too.

Screenshots go to test-artifacts/screenshots/layout-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]

PAGES = {
    "trend": "/dashboard/trend?site=SE-KAT-ROS&analyte=benzoylecgonine",
    "operations": "/dashboard/operations?site=SE-KAT-ROS&analyte=benzoylecgonine&event=EV-2025-02",
    "riskweekends": "/dashboard/riskweekends?site=SE-KAT-ROS&analyte=benzoylecgonine",
    "compare": "/dashboard/compare?analyte=benzoylecgonine",
    "upload": "/dashboard/upload",
    "alerts": "/dashboard/alerts",
    "report-form": "/dashboard/report",
    "report": "/dashboard/report?year=2025&tertial=3",
    "login": "/dashboard/login",
}
#: with the analyst key: daily values, confidential events, alerts, the analyst report
KEY_PAGES = {
    "trend-key": PAGES["trend"],
    "operations-key": "/dashboard/operations?site=SE-KAT-ROS&analyte=benzoylecgonine&event=EV-2025-05",
    "alerts-key": "/dashboard/alerts?site=SE-KAT-ROS",
    "report-analyst": "/dashboard/report?year=2025&tertial=3&view=analyst",
}
VIEWPORTS = {"laptop": (1366, 768), "phone": (390, 844)}

#: all text a reader sees or hears: text nodes (charts' SVG text included), labels, tooltips
VISIBLE_TEXT_JS = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const tag = n.parentElement && n.parentElement.tagName.toLowerCase();
    if (tag !== 'script' && tag !== 'style' && n.textContent.trim()) out.push(n.textContent.trim());
  }
  for (const el of document.querySelectorAll('[aria-label],[title],[placeholder],[alt],[data-title]')) {
    for (const a of ['aria-label', 'title', 'placeholder', 'alt', 'data-title']) {
      const v = el.getAttribute(a); if (v) out.push(v);
    }
  }
  out.push(document.title);
  return out.join('\\n');
}"""


#: chart texts (legend entries, axis and chart titles) that stick out of their chart's box [px]
CLIPPED_CHART_TEXT_JS = """() => {
  const out = [];
  for (const chart of document.querySelectorAll('.plotly-graph-div')) {
    const box = chart.getBoundingClientRect();
    for (const el of chart.querySelectorAll('.legendtext, .xtitle, .ytitle, .gtitle')) {
      const r = el.getBoundingClientRect();
      if (!el.textContent.trim() || r.width === 0) continue;
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)
        out.push(el.textContent.trim());
    }
  }
  return out;
}"""


def english_only_fragments() -> list[str]:
    """Pieces of English messages (split at ``{placeholders}``) that no Swedish message has."""
    from dashboards.i18n import ANALYTE_NAMES, ISSUE_TEXT_SV, STRINGS
    from wastewater.ingest.report import ISSUE_CODES
    from wastewater.wording import METHOD_NAMES, NOT_ESTIMABLE, SENTENCES

    def flat(table: dict) -> list[str]:
        return [v for v in table.values() if isinstance(v, str)]

    sv = flat(STRINGS["sv"]) + flat(ANALYTE_NAMES["sv"]) + flat(SENTENCES["sv"]) \
        + flat(METHOD_NAMES["sv"]) + flat(NOT_ESTIMABLE["sv"]) + list(ISSUE_TEXT_SV.values())
    en = flat(STRINGS["en"]) + flat(ANALYTE_NAMES["en"]) + flat(SENTENCES["en"]) \
        + flat(METHOD_NAMES["en"]) + flat(NOT_ESTIMABLE["en"]) + [text for _s, text in ISSUE_CODES.values()]
    swedish = "\n".join(sv)
    out = set()
    for message in en:
        for piece in re.split(r"\{[^}]*\}", message):
            piece = piece.strip(" .,:;()–-/")
            if len(piece) >= 4 and piece not in swedish and re.search(r"[A-Za-z]{3}", piece):
                out.add(piece)
    return sorted(out, key=len, reverse=True)


def english_in(text: str, fragments: list[str]) -> list[str]:
    """The fragments that occur in ``text`` as whole words."""
    return [f for f in fragments if re.search(r"(?<![\w-])" + re.escape(f) + r"(?![\w-])", text)]


def test_english_fragments_catch_an_english_message():
    """The check itself: an English upload error and an English label are found, Swedish is not."""
    fragments = english_only_fragments()
    assert english_in("Rad 3: The unit is not one of the accepted units.", fragments) == [
        "The unit is not one of the accepted units"]
    assert "Weekly mean" in english_in("Veckomedelvärde\nWeekly mean", fragments)
    assert english_in("Rad 7, kolumn 'unit': Enheten är inte en av de godkända enheterna.\n"
                      "Veckomedelvärde 95 % konfidensintervall för förändring", fragments) == []


def _visit(page, url: str | None, name: str, lang: str, viewport: str, width: int, fragments: list[str],
           too_wide: dict, english: dict, clipped: dict) -> None:
    if url:  # None: check the page the browser shows now (a form's answer)
        page.goto(url)
    page.wait_for_load_state("networkidle")
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    if scroll_width > width:
        too_wide[name] = scroll_width
    cut = page.evaluate(CLIPPED_CHART_TEXT_JS)
    if cut:
        clipped[name] = cut
    found = english_in(page.evaluate(VISIBLE_TEXT_JS), fragments)
    if found:  # the English view must show them (proves the text is read), the Swedish none
        english[name] = found
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"layout-{name}-{lang}-{viewport}.png"), full_page=True)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("lang", ["sv", "en"])
def test_every_page_fits_and_swedish_has_no_english(demo_server, browser, viewport, lang):
    width, height = VIEWPORTS[viewport]
    fragments = english_only_fragments()
    base = demo_server["url"]
    too_wide: dict[str, int] = {}
    english: dict[str, list[str]] = {}
    clipped: dict[str, list[str]] = {}
    context = browser.new_context(viewport={"width": width, "height": height},
                                  locale="sv-SE" if lang == "sv" else "en-GB")
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        for name, path in PAGES.items():
            sep = "&" if "?" in path else "?"
            _visit(page, f"{base}{path}{sep}lang={lang}", name, lang, viewport, width, fragments,
                   too_wide, english, clipped)
        host = base.split("//", 1)[1].split(":")[0]
        context.add_cookies([{"name": "ww_api_key", "value": demo_server["analyst_key"], "domain": host,
                              "path": "/dashboard"}])
        for name, path in KEY_PAGES.items():
            sep = "&" if "?" in path else "?"
            _visit(page, f"{base}{path}{sep}lang={lang}", name, lang, viewport, width, fragments,
                   too_wide, english, clipped)
        # the lab upload flow with a file full of mistakes: every message in the page's language
        context.add_cookies([{"name": "ww_api_key", "value": demo_server["lab_key"], "domain": host,
                              "path": "/dashboard"}])
        page.goto(f"{base}/dashboard/upload?lang={lang}")
        page.locator("#ctl-file").set_input_files(str(REPO / "samples" / "bad_results.csv"))
        page.locator("button[value=dry_run]").click()
        page.wait_for_selector("#upload-issues")
        assert page.locator("#upload-issues tbody tr").count() >= 11
        _visit(page, None, "upload-errors", lang, viewport, width, fragments, too_wide, english, clipped)
    finally:
        context.close()
    assert too_wide == {}, f"pages wider than {width} px: {too_wide}"
    assert clipped == {}, f"chart texts cut off at {width} px: {clipped}"
    if lang == "sv":
        assert english == {}, f"English messages in the Swedish view: {english}"
    else:
        assert sorted(english) == sorted([*PAGES, *KEY_PAGES, "upload-errors"])
