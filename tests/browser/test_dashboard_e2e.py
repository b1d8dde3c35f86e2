"""End-to-end: the dashboard in headless chromium against a real server with demo data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.conftest import REPO, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # ~60 s together


def _plot_ready(page, selector: str) -> None:
    page.wait_for_selector(f"{selector} .main-svg", state="attached")


def test_trend_page_switch_site_analyte_measure(demo_server, page):
    page.goto(demo_server["url"] + "/dashboard/trend")
    assert page.get_attribute("html", "lang") == "sv"
    assert page.locator("h1").inner_text() == "Trend"
    _plot_ready(page, "#plot-trend")
    # public role: the 3 480-inhabitant pumping-station catchment is suppressed
    options = page.locator("#ctl-site option").all_inner_texts()
    assert len(options) == 2 and not any("SE-KAT-PS1" in o for o in options)
    assert page.get_by_test_id("role").inner_text() == "publik"
    # plotly.js, the figure script and the narrow-screen chart tweaks come from our server,
    # never a CDN; no inline script
    srcs = page.eval_on_selector_all("script[src]", "els => els.map(e => e.src)")
    assert sorted(srcs) == sorted(demo_server["url"] + f"/dashboard/static/{name}"
                                  for name in ("plotly.min.js", "figures.js", "dashboard-narrow.js"))
    assert page.eval_on_selector_all("script:not([src])", "els => els.length") == 0
    csp = page.evaluate("fetch(location.href).then(r => r.headers.get('content-security-policy'))")
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    # Swedish y-axis title with unit; the weekday profile (single days' medians) needs a key
    assert "mg/dygn/1000 inv." in page.locator("#plot-trend .g-ytitle").text_content()
    assert page.locator("#plot-weekday").count() == 0
    assert "bara med API-nyckel" in page.locator("#weekday-needs-key + *").inner_text()
    # the one public trend: the published 12 calendar months ending at a month's end (the report's)
    sentence = page.get_by_test_id("trend-sentence").inner_text()
    assert sentence.startswith("Under de tolv månaderna 2025-01-01 – 2025-12-31 ändrades belastningen av "), sentence
    note = page.locator("blockquote[data-testid=trend-sentence] + p.hint").inner_text()
    assert "samma som i tertialrapporten" in note
    shot(page, "01-trend-default")

    # keyboard: the first Tab reaches the skip link, Enter moves focus to <main>
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    page.select_option("#ctl-site", "SE-FLN-ARV")
    page.get_by_role("button", name="Visa").click()
    page.wait_for_url(re.compile(r"site=SE-FLN-ARV"))
    page.select_option("#ctl-analyte", "mdma")
    page.select_option("#ctl-measure", "concentration")
    page.get_by_role("button", name="Visa").click()
    page.wait_for_url(re.compile(r"measure=concentration"))
    _plot_ready(page, "#plot-trend")
    assert "Koncentration (ng/L)" in page.locator("#plot-trend .g-ytitle").text_content()
    assert "MDMA" in page.locator("#fig-trend-title").inner_text()
    # the data table uses decimal comma
    page.locator("#fig-trend-figure details summary").click()
    cell = page.locator("#table-trend tbody tr").first.locator("td").nth(2).inner_text()  # date, ISO week, value
    assert re.fullmatch(r"\d+,\d{2}", cell), cell
    shot(page, "02-trend-flen-mdma-concentration")

    # period filter with ISO dates (public view: weekly means, weeks labelled by their Monday)
    page.get_by_label("Från och med").fill("2025-03-01")
    page.get_by_label("Till och med").fill("2025-04-30")
    page.get_by_role("button", name="Visa").click()
    page.wait_for_url(re.compile(r"start=2025-03-01"))
    summary = page.locator("#fig-trend-summary").inner_text()
    assert "från 2025-02-24 till 2025-04-28" in summary, summary

    # consumption, then English
    page.select_option("#ctl-measure", "consumption")
    page.get_by_role("button", name="Visa").click()
    page.wait_for_url(re.compile(r"measure=consumption"))
    page.get_by_role("link", name="English").click()
    page.wait_for_url(re.compile(r"lang=en"))
    assert page.get_attribute("html", "lang") == "en"
    _plot_ready(page, "#plot-trend")
    assert "Consumption" in page.locator("#plot-trend .g-ytitle").text_content()
    shot(page, "03-trend-english-consumption")


def test_operation_view_shows_estimate_sentence_and_dumping_warning(demo_server, page):
    base = demo_server["url"]
    page.goto(base + "/dashboard/operations?site=SE-KAT-ROS&analyte=benzoylecgonine")
    page.select_option("#ctl-event", "EV-2025-02")
    page.get_by_role("button", name="Visa").click()
    page.wait_for_url(re.compile(r"event=EV-2025-02"))
    _plot_ready(page, "#plot-operation")
    sentence = page.get_by_test_id("effect-sentence").inner_text()
    assert "lägre" in sentence and "95 %" in sentence
    assert page.get_by_test_id("dumping-warning").count() == 0
    shot(page, "04-operation-centrum")

    page.select_option("#ctl-event", "EV-2025-05")
    page.get_by_role("button", name="Visa").click()
    page.wait_for_url(re.compile(r"event=EV-2025-05"))
    _plot_ready(page, "#plot-operation")
    assert "dumpning" in page.get_by_test_id("dumping-warning").inner_text()
    shot(page, "05-operation-navertorp-dumping")
    # CSV of the figure
    with page.expect_download() as dl:
        page.get_by_role("link", name="Ladda ner figurens data (CSV)").click()
    text = Path(dl.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0] == "site,analyte,date,period,load_mg_per_day_per_1000,censored"


def test_upload_bad_results_shows_errors_row_by_row(demo_server, page):
    base = demo_server["url"]
    page.goto(base + "/dashboard/upload")
    assert "API-nyckel" in page.locator("main").inner_text()
    page.goto(base + "/dashboard/login")
    page.get_by_label("API-nyckel").fill(demo_server["lab_key"])
    page.get_by_role("button", name="Spara nyckel").click()
    page.wait_for_url(re.compile(r"/dashboard/login"))
    assert page.get_by_test_id("role").inner_text() == "labb"

    page.goto(base + "/dashboard/upload")
    page.get_by_label("Fil (CSV eller XLSX)").set_input_files(str(REPO / "samples" / "bad_results.csv"))
    page.get_by_role("button", name="Kontrollera (sparar inget)").click()
    page.wait_for_selector("#upload-issues")
    rows = page.locator("#upload-issues tbody tr")
    lines = {rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())}
    # samples/README.md: mistakes on these physical lines
    for line in ("3", "6", "9", "12", "15", "16", "17", "18", "19", "20", "21"):
        assert line in lines, (line, lines)
    headers = page.locator("#upload-issues thead th").all_inner_texts()
    assert headers[:3] == ["Rad", "Kolumn", "Allvarlighet"]
    assert "Inget har sparats" in page.locator("main").inner_text()
    shot(page, "06-upload-bad-results")

    # a valid file, saved: the demo's own results file was stored at start-up → duplicate
    page.get_by_label("Fil (CSV eller XLSX)").set_input_files(str(REPO / "samples" / "results_wide_sv.csv"))
    page.get_by_role("button", name="Kontrollera och spara").click()
    page.wait_for_selector("#upload-result")
    assert "redan uppladdad" in page.locator("main").inner_text()

    # with the lab key the trend shows daily values; methamphetamine is mostly below LOQ
    page.goto(base + "/dashboard/trend?site=SE-KAT-ROS&analyte=methamphetamine"
                     "&start=2025-05-01&end=2025-06-30")
    _plot_ready(page, "#plot-trend")
    legend = page.locator("#plot-trend .legend").text_content()
    assert "Under kvantifieringsgränsen (<LOQ)" in legend
    # the weekly mean with its named change band leads; the level band waits in the legend
    assert "Veckomedelvärde" in legend and "95 % konfidensintervall för förändring" in legend
    assert "95 % konfidensintervall för nivå" in legend  # (every day here is <LOQ: no light daily points)
    assert "Publik vy" not in page.locator("main").inner_text()
    assert "61 provdygn" in page.locator("#fig-trend-summary").inner_text()
    shot(page, "10-trend-lab-daily-loq")


def test_riskweekends_compare_and_report(demo_server, page):
    base = demo_server["url"]
    page.goto(base + "/dashboard/riskweekends?site=SE-KAT-ROS&analyte=mdma")
    _plot_ready(page, "#plot-rw")
    assert "Valborg" in page.locator("#fig-riskweekends-figure").inner_text()
    shot(page, "07-riskweekends-mdma")

    page.goto(base + "/dashboard/compare?site=SE-KAT-ROS&analyte=benzoylecgonine")
    _plot_ready(page, "#plot-compare")
    text = page.locator("#fig-compare-figure").inner_text()
    assert "Stockholm" in text or "Göteborg" in text
    shot(page, "08-compare-euda")

    page.goto(base + "/dashboard/report")
    page.get_by_label("År").fill("2025")
    page.select_option("#ctl-tertial", "3")
    page.get_by_role("button", name="Visa rapport").click()
    page.wait_for_url(re.compile(r"tertial=3"))
    assert page.locator("h1").inner_text() == "Uppföljningsrapport 2025 T3"
    page.wait_for_selector(".plotly-graph-div .main-svg", state="attached")
    assert page.locator("script[src]").count() == 0  # plotly.js inlined
    assert "Rosenholm" in page.locator("main").inner_text()
    assert "SE-KAT-PS1" not in page.content()  # small catchment suppressed
    shot(page, "09-report-2025-T3")
