"""The public tertial reports T1–T3 2025 of the demo data, printed to A4 PDF by headless chromium
(Playwright ``page.pdf``) and read back page by page with pypdf:

- page 1 carries the plain-Swedish summary: the period, what changed with a 95 % interval (or
  why nothing can be compared), the events, and what wastewater cannot show;
- every tertial change in the table has an interval, "för lite data" or "ingen jämförelse";
- no chart is split across pages: each figure's heading and its caption (the summary under the
  plot) are printed on the same page (``break-inside: avoid`` on figure blocks);
- the public report names no confidential operation (EV-2025-07 in the demo) and no
  small catchment (SE-KAT-PS1, 3 500 inhabitants);
- no per-year trend is stated from less than 12 months of data (T1, T2);
- dates in table cells are never broken across lines (``white-space: nowrap``; the events
  table's narrow start and end columns broke ``2025-09-03`` as ``2025-09-`` / ``03``);
- suspected dumping days (EV-2025-05, 3–4 September at Rosenholm) are left out of the T3
  changes with a note, which in the public report counts the days without naming them.

PDFs go to test-artifacts/reports/.
"""

from __future__ import annotations

import io
import re
import unicodedata
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PDF_DIR = REPO / "test-artifacts" / "reports"
A4_PX = (794, 1123)  # 210 × 297 mm at 96 px/inch


def _norm(text: str) -> str:
    """Compare PDF and HTML text: ligatures undone (NFKC), one space, minus as hyphen, and no
    break after a hyphen (the PDF wraps ``EV-2025-02`` as ``EV-2025-`` / ``02``)."""
    text = unicodedata.normalize("NFKC", text).replace("\u2212", "-")
    return re.sub(r"-\s+(?=\w)", "-", re.sub(r"\s+", " ", text)).strip()


@pytest.fixture(scope="module")
def printed(demo_server, browser):
    """``{tertial: (html_texts, pdf_pages)}`` for the public Swedish reports of 2025."""
    from pypdf import PdfReader

    PDF_DIR.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": A4_PX[0], "height": A4_PX[1]}, locale="sv-SE")
    page = context.new_page()
    page.set_default_timeout(120_000)
    out = {}
    try:
        for tertial in (1, 2, 3):
            page.goto(f"{demo_server['url']}/dashboard/report?year=2025&tertial={tertial}&lang=sv")
            page.wait_for_load_state("networkidle")
            page.wait_for_function("document.querySelectorAll('.plot .main-svg').length > 0")
            figures = page.evaluate("""() => [...document.querySelectorAll('figure.chart')].map(f => ({
                title: f.querySelector('h2,h3,h4').innerText,
                caption: f.querySelector('figcaption p').innerText}))""")
            summary = page.get_by_test_id("report-summary").inner_text()
            rows = page.evaluate("""() => [...document.querySelectorAll(
                'section[aria-labelledby=h-changed] table tbody tr')].map(r => [...r.children].map(
                c => c.textContent))""")
            pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
            (PDF_DIR / f"uppfoljning_2025_T{tertial}_sv_public.pdf").write_bytes(pdf)
            pages = [_norm(p.extract_text() or "") for p in PdfReader(io.BytesIO(pdf)).pages]
            # after printing (print media relays the charts out): the date cells as printed
            page.emulate_media(media="print")
            # every visible table cell holding a date: its text, how many line boxes it takes, white-space
            date_cells = page.evaluate("""() => [...document.querySelectorAll('main table td, main table th')]
                .filter(c => /^\\d{4}-\\d{2}-\\d{2}$/.test(c.textContent.trim()) && c.offsetParent !== null)
                .map(c => { const r = document.createRange(); r.selectNodeContents(c);
                            return [c.textContent, r.getClientRects().length, getComputedStyle(c).whiteSpace]; })""")
            page.emulate_media(media="null")  # not "screen": page.pdf would then print with screen CSS
            out[tertial] = {"figures": figures, "summary": summary, "rows": rows, "pages": pages,
                            "date_cells": date_cells, "html": page.content()}
    finally:
        context.close()
    return out


@pytest.mark.parametrize("tertial", [1, 2, 3])
def test_summary_paragraph_on_the_first_page(printed, tertial):
    r = printed[tertial]
    summary = _norm(r["summary"])
    first = {1: "2025-01-01 – 2025-04-30", 2: "2025-05-01 – 2025-08-31", 3: "2025-09-01 – 2025-12-31"}[tertial]
    assert summary.startswith(f"Rapporten gäller T{tertial} 2025 ({first}).")
    assert "inte hur många som använder det" in summary  # what wastewater cannot show
    assert re.search(r"registrerades \d+ händelser? ", summary)
    if tertial == 1:  # the demo data start in January 2025: nothing to compare with
        assert "Det finns inga mätningar från T3 2024 att jämföra med" in summary
    else:  # the largest change, with its 95 % interval
        largest = re.search(r"Störst förändring: .+, ([+-]\d+(,\d)?) % \(95 % KI [+-]\d+ % till [+-]\d+ %\)\.", summary)
        assert largest, summary
        if "Ingen av dem ändrades med 10 % eller mer" in summary:  # and the largest is shown below 10 %
            assert abs(float(largest.group(1).replace(",", "."))) < 10, summary
        assert re.search(r"\d+ serier \(ämne och reningsverk\) jämfördes med T\d 2025\.", summary)
    assert summary[:60] in r["pages"][0]


@pytest.mark.parametrize("tertial", [2, 3])
def test_every_tertial_change_has_an_interval(printed, tertial):
    rows = printed[tertial]["rows"]
    assert len(rows) >= 8
    change_cells = [_norm(row[4]) for row in rows]
    for cell in change_cells:
        assert re.fullmatch(r"[+-±]\d+(,\d)? % \(95 % KI [+-±]\d+ % till [+-±]\d+ %\)", cell) \
            or cell.startswith("för lite data") or cell.startswith("ingen jämförelse"), cell


@pytest.mark.parametrize("tertial", [1, 2, 3])
def test_no_chart_is_split_across_pages(printed, tertial):
    r = printed[tertial]
    assert len(r["figures"]) >= 8
    split = []
    for fig in r["figures"]:
        # the caption without its visually hidden lead-in (clipped, so not in the PDF's text)
        caption = _norm(fig["caption"]).removeprefix("Sammanfattning av figuren:").strip()[:50]
        title = _norm(fig["title"])[:50]
        on_title = [i for i, p in enumerate(r["pages"]) if title in p]
        on_both = [i for i in on_title if caption in r["pages"][i]]
        assert on_title, f"figure title not found in the PDF: {title}"
        if not on_both:
            split.append((title, on_title))
    assert split == []


@pytest.mark.parametrize("tertial", [1, 2, 3])
def test_public_report_has_nothing_confidential_or_small(printed, tertial):
    r = printed[tertial]
    text = " ".join(r["pages"])
    for secret in ("EV-2025-07", "amfetaminhantering", "SE-KAT-PS1", "Pumpstation PS1"):
        assert secret not in text and secret not in r["html"], secret
    assert "Publik rapport" in r["pages"][0]


@pytest.mark.parametrize("tertial", [1, 2])
def test_no_trend_from_less_than_12_months(printed, tertial):
    rows = printed[tertial]["rows"]
    trends = {_norm(row[6]) for row in rows}
    assert trends == {"– (kräver 12 månaders data)"}


@pytest.mark.parametrize("tertial", [1, 2, 3])
def test_dates_in_tables_are_not_broken(printed, tertial):
    r = printed[tertial]
    cells = r["date_cells"]
    assert len(cells) >= 4  # the events table's start and end dates at least
    assert [c for c in cells if c[1] != 1 or c[2] != "nowrap"] == []


def test_suspected_dumping_is_kept_out_of_the_headline(printed):
    r = printed[3]
    summary = _norm(r["summary"])
    assert re.search(r"\d+ dygn med misstänkt dumpning under eller strax efter polisinsatser räknades inte med",
                     summary)
    text = " ".join(r["pages"])
    assert "Misstänkt dumpning räknas inte med i jämförelserna." in text
    assert "Kokain vid Rosenholms reningsverk: 2 dygn (EV-2025-05)" in text
    note = r["html"][r["html"].index('data-testid="report-dumping-note"'):]
    note = note[:note.index("</div>")]
    assert "2025-09-03" not in note and "2025-09-04" not in note  # public: no daily facts
