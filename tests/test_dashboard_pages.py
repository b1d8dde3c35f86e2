"""Dashboard pages over the real app and a demo database: access rules, CSV, i18n, labels."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser

import pytest


@pytest.fixture(scope="module")
def client_and_keys(tmp_path_factory):
    from fastapi.testclient import TestClient

    from api.config import Settings
    from api.security import create_key
    from dashboards.demo import load_demo
    from service.app import create_app
    from wastewater.storage.database import get_engine, upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('pages') / 'demo.db'}"
    engine = get_engine(url)
    upgrade(engine)
    load_demo(engine)
    keys = {"analyst": create_key(engine, "analyst-pages", "analyst")}
    app = create_app(Settings(database_url=url), engine=engine)
    yield TestClient(app), keys
    engine.dispose()


def test_the_host_name_alone_leads_to_the_swedish_dashboard(client_and_keys):
    client, _ = client_and_keys
    first = client.get("/", follow_redirects=False)
    assert (first.status_code, first.headers["location"]) == (307, "/dashboard/")
    page = client.get("/")
    assert page.status_code == 200 and page.url.path == "/dashboard/trend"
    assert '<html lang="sv">' in page.text


class _Controls(HTMLParser):
    """Collect form controls and label targets to check that every control is labelled."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict] = []
        self.label_for: set[str] = set()
        self.html_lang: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.html_lang = a.get("lang")
        if tag == "label" and a.get("for"):
            self.label_for.add(a["for"])
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.controls.append(a)


def _unlabelled(html: str) -> list[dict]:
    p = _Controls()
    p.feed(html)
    return [c for c in p.controls if c.get("id") not in p.label_for and not c.get("aria-label")]


@pytest.mark.parametrize("path", ["/dashboard/trend", "/dashboard/operations",
                                  "/dashboard/riskweekends", "/dashboard/compare",
                                  "/dashboard/upload", "/dashboard/login", "/dashboard/report"])
def test_every_control_is_labelled_and_language_set(client_and_keys, path):
    client, _ = client_and_keys
    html = client.get(path).text
    assert _unlabelled(html) == []
    assert '<html lang="sv">' in html
    assert '<a class="skip-link" href="#main">' in html and '<main id="main"' in html
    assert html.count("<h1>") == 1
    en = client.get(path, params={"lang": "en"}).text
    assert '<html lang="en">' in en and 'lang="sv" hreflang="sv">Svenska</a>' in en


def test_public_gets_weekly_csv_and_no_small_catchment(client_and_keys):
    client, _ = client_and_keys
    client.cookies.clear()
    page = client.get("/dashboard/trend").text
    assert "SE-KAT-PS1" not in page
    resp = client.get("/dashboard/data/trend.csv", params={"site": "SE-KAT-ROS",
                                                           "analyte": "benzoylecgonine"})
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert "iso_week" in rows[0] and rows[0]["iso_week"] == "2025-W01"
    # ISO week 1 of 2025 starts Monday 2024-12-30 and holds 5 sampled days (1–5 January)
    assert rows[0]["date"] == "2024-12-30" and rows[0]["n_days"] == "5"
    assert len(rows) == 53
    # each week's own bounds, named with their kind and unit; the change band (random part of
    # 7 days) sits inside the level band (which keeps population and flow-meter bias)
    week = rows[10]
    assert float(week["level_lo95_mg_per_day_per_1000"]) < float(week["change_lo95_mg_per_day_per_1000"]) \
        < float(week["load_mg_per_day_per_1000"]) < float(week["change_hi95_mg_per_day_per_1000"]) \
        < float(week["level_hi95_mg_per_day_per_1000"])
    assert "lo95" not in rows[0] and "lower" not in rows[0]
    assert 'id="band-note"' in page
    # a hidden site answers with no data rather than leaking it
    hidden = client.get("/dashboard/data/trend.csv", params={"site": "SE-KAT-PS1"})
    assert "SE-KAT-PS1" not in hidden.text


def test_analyst_cookie_gives_daily_values_and_confidential_events(client_and_keys):
    client, keys = client_and_keys
    client.cookies.clear()
    public_ops = client.get("/dashboard/operations", params={"site": "SE-KAT-ROS",
                                                             "analyte": "amphetamine"}).text
    assert "EV-2025-07" not in public_ops
    resp = client.post("/dashboard/login", data={"key": keys["analyst"]}, follow_redirects=False)
    assert resp.status_code == 303 and "httponly" in resp.headers["set-cookie"].lower()
    assert "samesite=strict" in resp.headers["set-cookie"].lower()
    client.cookies.set("ww_api_key", keys["analyst"])
    ops = client.get("/dashboard/operations", params={"site": "SE-KAT-ROS", "analyte": "amphetamine",
                                                      "event": "EV-2025-07"}).text
    assert 'data-role="analyst">analytiker<' in ops
    assert '<option value="EV-2025-07" selected>' in ops
    assert "sekretessbelagd (OSL 18:1)" in ops
    # samples/README.md: amphetamine × 0.80 after EV-2025-07 → the estimate is a decrease
    sentence = re.search(r'data-testid="effect-sentence"><p>(.*?)</p>', ops).group(1)
    assert "lägre" in sentence
    daily = client.get("/dashboard/data/trend.csv", params={"site": "SE-KAT-PS1",
                                                            "analyte": "mdma"}).text
    rows = list(csv.DictReader(io.StringIO(daily)))
    assert "iso_week" not in rows[0] and rows[0]["site"] == "SE-KAT-PS1"
    client.cookies.clear()


def test_swedish_excel_csv_dialect(client_and_keys):
    client, keys = client_and_keys
    client.cookies.set("ww_api_key", keys["analyst"])  # the weekday profile needs a key
    resp = client.get("/dashboard/data/weekday.csv", params={"site": "SE-KAT-ROS",
                                                             "analyte": "mdma", "dialect": "sv"})
    client.cookies.clear()
    assert resp.content.startswith("\ufeff".encode())
    header, first = resp.content.decode("utf-8-sig").splitlines()[:2]
    assert header.split(";")[:4] == ["site", "analyte", "weekday", "median_load_mg_per_day_per_1000"]
    assert re.fullmatch(r"SE-KAT-ROS;mdma;0;\d+,\d+;.*", first)


def test_unknown_key_falls_back_to_public_with_notice(client_and_keys):
    client, _ = client_and_keys
    client.cookies.set("ww_api_key", "ww_not-a-key")
    html = client.get("/dashboard/login").text
    assert "Okänd eller återkallad nyckel." in html and 'data-role="public">publik<' in html
    client.cookies.clear()


def test_riskweekend_page_has_a_quotable_sentence_and_payday_weekends(client_and_keys):
    """Rosenholm (public view): the sentence answers "did risk weekends raise loads" with the
    one-model test (all years of a weekend in one term, wastewater.analysis.risk_weekend_models)
    for the weekend with the largest ratio, its 95 % interval as in the model table and the
    public API; payday weekends are listed as their own kind, with the 2025 paydays
    ([UnionenPayday]_: the 25th, or the last weekday before: 24 Jan, 23 May)."""
    from dashboards.i18n import format_number

    client, _ = client_and_keys
    client.cookies.clear()
    html = client.get("/dashboard/riskweekends", params={"site": "SE-KAT-ROS", "analyte": "benzoylecgonine"}).text
    sentence = re.search(r'data-testid="riskweekend-sentence"><p>(.*?)</p>', html).group(1)
    m = re.fullmatch(r"Under ([\w/ ]+) \((\d) år, (\d+) provdygn\) var belastningen av Bensoylekgonin \(kokain\) "
                     r"vid Rosenholms reningsverk i genomsnitt (\d,\d\d) gånger så hög som övriga dagar, med hänsyn "
                     r"till veckodag och årstid \(95 % KI (\d,\d\d)–(\d,\d\d)\)\. (.*)", sentence)
    assert m, sentence
    ratio, lo, hi = (float(x.replace(",", ".")) for x in m.group(4, 5, 6))
    assert lo < ratio < hi
    assert m.group(7) == ("Skillnaden är statistiskt säkerställd." if lo > 1 or hi < 1
                          else "Skillnaden kan vara slump (intervallet innehåller 1).")
    api = client.get("/api/v1/analyses/risk-weekend-effect",
                     params={"site": "SE-KAT-ROS", "analyte": "benzoylecgonine"}).json()
    best = max(api["results"], key=lambda r: r["relative_change"])
    assert best["name"] == m.group(1) and (best["n_events"], best["n_event_days"]) == (int(m.group(2)), int(m.group(3)))
    assert format_number(1 + best["relative_change"], "sv", 2) == m.group(4)
    assert format_number(1 + best["ci_low"], "sv", 2) == m.group(5)
    model = re.search(r'<table id="riskweekend-model">.*?</table>', html, re.S).group(0)
    assert sorted(re.findall(r'<th scope="row">([^<]*)</th>', model)) == sorted(r["name"] for r in api["results"])
    pay = re.search(r'<table id="payday-weekends">.*?</table>', html, re.S).group(0)
    days = re.findall(r'<th scope="row"(?: class="date")?>(\d{4}-\d\d-\d\d)</th><td>Lönehelg</td>', pay)
    assert {"2025-01-24", "2025-05-23", "2025-06-25", "2025-10-24"} <= set(days)


def test_trend_events_are_named_not_ids(client_and_keys):
    client, _ = client_and_keys
    client.cookies.clear()
    html = client.get("/dashboard/trend", params={"site": "SE-KAT-ROS", "analyte": "benzoylecgonine"}).text
    table = re.search(r"<caption>Händelser under perioden</caption>.*?</table>", html, re.S).group(0)
    rows = re.findall(r'<th scope="row">([^<]*)</th><td>([^<]*)</td>', table)
    assert ("Riktad insats mot kokainförsäljning i centrum (Fabriksgatan, Lövatunneln)", "Polisinsats") in rows
    assert ("Valborg", "Riskhelg") in rows
    assert not any(name.startswith(("EV-", "rw-")) for name, _kind in rows)


def test_trend_page_states_the_gls_trend_for_keys_and_the_published_trend_for_the_public(client_and_keys):
    """Is there a trend: with a key the trend page gives the service's default test (the GLS
    trend, wastewater.analysis.trend) on the daily load of the period, the same figures as
    /analyses/trend with that key; the public gets the published 12-month trend, the same
    figures as /analyses/trend without a key (wastewater.access.trend_request)."""
    from dashboards.i18n import format_percent

    client, keys = client_and_keys
    client.cookies.clear()
    params = {"site": "SE-KAT-ROS", "analyte": "amphetamine", "start": "2025-03-10", "end": "2025-12-31"}
    public = client.get("/dashboard/trend", params=params).text
    pub_api = client.get("/api/v1/analyses/trend", params={"site": "SE-KAT-ROS", "analyte": "amphetamine",
                                                           "to": "2025-12-31"}).json()
    assert pub_api["published"] is True and pub_api["window"] == {"from": "2025-01-01", "to": "2025-12-31"}
    p0 = pub_api["results"][0]
    pub_sentence = re.search(r'data-testid="trend-sentence"><p>(.*?)</p>', public).group(1)
    assert pub_sentence == (
        "Under de tolv månaderna 2025-01-01 – 2025-12-31 ändrades belastningen av Amfetamin vid Rosenholms "
        f"reningsverk med {format_percent(p0['percent_change_per_year'], 'sv')} per år (95 % KI "
        f"{format_percent(p0['ci_low_percent_per_year'], 'sv')} till "
        f"{format_percent(p0['ci_high_percent_per_year'], 'sv')}; p = 0,146): ingen säker trend."), pub_sentence
    assert "samma som i tertialrapporten" in public
    # a period end inside a month: the published window is the 12 months ending with that month
    mid = client.get("/dashboard/trend", params={**params, "end": "2025-11-15"}).text
    assert "Under de tolv månaderna 2024-12-01 – 2025-11-30" in mid
    client.cookies.set("ww_api_key", keys["analyst"])
    try:
        html = client.get("/dashboard/trend", params={**params, "lang": "en"}).text
        api = client.get("/api/v1/analyses/trend", params={"site": "SE-KAT-ROS", "analyte": "amphetamine",
                                                           "from": "2025-03-10", "to": "2025-12-31"},
                         headers={"X-API-Key": keys["analyst"]}).json()
    finally:
        client.cookies.clear()
    sentence = re.search(r'data-testid="trend-sentence"><p>(.*?)</p>', html).group(1)
    r0 = api["results"][0]
    assert api["test"] == "gls" and r0["method"].startswith("GLS")
    pct, (lo, hi) = r0["percent_change_per_year"], r0["percent_change_per_year_ci"]
    want = (f"changed by {format_percent(pct, 'en')} per year (95 % CI {format_percent(lo, 'en')} to "
            f"{format_percent(hi, 'en')}; ")
    assert sentence.startswith("From 2025-03-10 to 2025-12-31 the load of ") and want in sentence, sentence
    assert api["published"] is False
    verdict = {"increasing": "an increasing trend", "decreasing": "a decreasing trend",
               "no trend": "no clear trend"}[r0["trend"]]
    assert sentence.endswith(f"): {verdict}.")


def _figure_json(html: str, div_id: str) -> dict:
    import html as h
    import json

    m = re.search(rf'<div id="{div_id}" class="plotly-graph-div"[^>]*data-plotly="([^"]*)"', html)
    return json.loads(h.unescape(m.group(1)))


def _values(array) -> list:
    """A trace's array as a list (plotly writes numeric arrays as base64 typed arrays)."""
    import base64

    import numpy as np

    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def test_trend_weekly_mean_with_labelled_band_and_daily_points_only_for_daily_roles(client_and_keys):
    """Public: the core's public weekly means (the figure's line equals the public CSV) with the
    labelled 95 % band and no single-day value; with a key allowed daily values: the same line
    (every week kept) plus the quantified days as small light points."""
    client, keys = client_and_keys
    params = {"site": "SE-KAT-ROS", "analyte": "benzoylecgonine"}
    client.cookies.clear()
    fig = _figure_json(client.get("/dashboard/trend", params=params).text, "plot-trend")
    roles = {tr["meta"]["role"]: tr for tr in fig["data"] if tr.get("meta")}
    assert "daily" not in roles and "weekly_mean" in roles
    assert roles["change_band"]["name"] == "95 % konfidensintervall för förändring (jämför över tid)"
    assert roles["level_band"]["visible"] == "legendonly"
    public_csv = list(csv.DictReader(io.StringIO(client.get("/dashboard/data/trend.csv", params=params).text)))
    weekly_y = _values(roles["weekly_mean"]["y"])
    assert len(weekly_y) == len(public_csv) == 53
    assert weekly_y == pytest.approx([float(r["load_mg_per_day_per_1000"]) for r in public_csv])
    en = _figure_json(client.get("/dashboard/trend", params={**params, "lang": "en"}).text, "plot-trend")
    assert "95 % confidence interval for change (compare over time)" in [tr["name"] for tr in en["data"]]

    client.cookies.set("ww_api_key", keys["analyst"])
    try:
        html = client.get("/dashboard/trend", params=params).text
        daily_csv = list(csv.DictReader(io.StringIO(client.get("/dashboard/data/trend.csv", params=params).text)))
    finally:
        client.cookies.clear()
    fig = _figure_json(html, "plot-trend")
    roles = {tr["meta"]["role"]: tr for tr in fig["data"] if tr.get("meta")}
    daily = roles["daily"]
    assert daily["mode"] == "markers" and daily["marker"]["size"] <= 4
    assert daily["marker"]["color"].startswith("rgba(") and daily["marker"]["color"].endswith("0.35)")
    quantified = [float(r["load_mg_per_day_per_1000"]) for r in daily_csv if r["censored"] in ("False", "false", "0")]
    assert len(_values(daily["y"])) == len(quantified) > 300 and _values(daily["y"]) == pytest.approx(quantified)
    assert len(_values(roles["weekly_mean"]["y"])) >= 53  # every week, none suppressed for a daily reader
    # the legend names the kinds of shaded events, never an id
    names = [tr["name"] for tr in fig["data"]]
    assert "Polisinsats" in names and "Riskhelg" in names and not any(n.startswith("EV-") for n in names)


def test_operations_page_and_report_put_a_level_shift_at_a_marked_method_change(tmp_path):
    """The operations page (and the report's operation effects, through the same helper) fit
    the effect with a level shift at each marked method change, as /analyses/operation-effect
    does, and the sentence says so: the same numbers on the page and in the API."""
    from fastapi.testclient import TestClient

    from api.config import Settings
    from api.security import create_key
    from dashboards.demo import load_demo
    from service.app import create_app
    from wastewater.storage.database import get_engine, upgrade
    from wastewater.storage.service import ingest_bytes
    from wastewater.wording import method_change_sentence

    url = f"sqlite:///{tmp_path / 'mc.db'}"
    engine = get_engine(url)
    upgrade(engine)
    load_demo(engine)
    events = (b"event_id,kind,start,end,sites,substances,description,confidential\n"
              b"MC-1,method_change,2025-02-03,2025-02-03,SE-KAT-ROS,cocaine,ny metod,false\n")
    assert ingest_bytes(engine, events, filename="mc.csv", uploader="lab").stored
    key = create_key(engine, "analyst-mc", "analyst")
    client = TestClient(create_app(Settings(database_url=url), engine=engine))
    params = {"site": "SE-KAT-ROS", "analyte": "benzoylecgonine", "event_id": "EV-2025-02"}
    client.cookies.set("ww_api_key", key)
    html = client.get("/dashboard/operations", params={**params, "lang": "sv"}).text
    api = client.get("/api/v1/analyses/operation-effect", params=params,
                     headers={"X-API-Key": key}).json()["results"][0]
    report = client.get("/dashboard/report", params={"year": "2025", "tertial": "1", "view": "analyst",
                                                     "site": "SE-KAT-ROS", "lang": "sv"}).text
    engine.dispose()
    sentence = re.search(r'data-testid="effect-sentence"><p>(.*?)</p>', html, re.S).group(1)
    # a drug named by the event counts for its residue (cocaine → benzoylecgonine)
    assert api["method_changes"] == ["2025-02-03"]
    assert method_change_sentence("sv", ["2025-02-03"]).strip() in sentence
    assert api["sentence_sv"] == sentence.replace("&#39;", "'").replace("&amp;", "&")
    # the report's effect of EV-2025-02 on benzoylecgonine is the same sentence
    assert sentence in report


def test_not_estimable_effect_is_its_reason_in_the_page_language():
    """The operations page and the report show why no effect can be estimated, in the page's
    language, with the reason code, never a number (a constant series here)."""
    import numpy as np
    import pandas as pd
    import xarray as xr

    from dashboards import data as D
    from wastewater.wording import not_estimable_sentence

    idx = pd.date_range("2024-01-01", periods=120, name="date")
    ds = xr.Dataset({"load_mg_per_day_per_1000": (("site", "analyte", "date"), np.full((1, 1, 120), 50.0)),
                     "censored": (("site", "analyte", "date"), np.zeros((1, 1, 120), bool))},
                    coords={"site": ["S"], "analyte": ["amphetamine"], "date": idx})
    event = {"event_id": "E", "kind": "operation", "start": pd.Timestamp("2024-03-01"),
             "end": pd.Timestamp("2024-03-07"), "sites": [], "substances": []}
    for lang in ("sv", "en"):
        effect = D.operation_effect(ds, "S", "amphetamine", event, lang=lang)
        assert effect["not_estimable"] == "constant"
        assert effect["error"] == not_estimable_sentence(lang, "constant")
        assert "relative_change_after" not in effect


def test_operations_page_plans_the_next_operation_with_a_key(client_and_keys):
    """The planning table: the API's /analyses/operation-plan numbers (2, 4, 8, 12 weeks after),
    in Swedish, shrinking with more weeks; the public sees a notice that it needs a key."""
    import re

    client, keys = client_and_keys
    path = "/dashboard/operations?site=SE-KAT-ROS&analyte=benzoylecgonine&lang=sv"
    client.cookies.clear()
    public = client.get(path).text
    assert 'data-testid="operation-plan"' not in public
    assert "Planeringen av provtagning kräver en API-nyckel." in public
    client.cookies.set("ww_api_key", keys["analyst"])
    try:
        page = client.get(path).text
        api = client.get("/api/v1/analyses/operation-plan",
                         params={"site": "SE-KAT-ROS", "analyte": "benzoylecgonine"},
                         headers={"X-API-Key": keys["analyst"]}).json()["results"]
    finally:
        client.cookies.clear()
    section = page.split('data-testid="operation-plan"', 1)[1].split("</section>", 1)[0]
    assert "Planera nästa insats" in section and "80 % styrka" in section
    cells = re.findall(r'<tr><th scope="row">([^<]+)</th><td>([^<]+)</td><td>(\d+)</td></tr>', section)
    assert [c[0] for c in cells] == ["2 veckor", "4 veckor", "8 veckor", "12 veckor"]
    shown = [c[1] for c in cells]
    want = [f"{round(100 * r['minimum_detectable_drop'])} %" if r["minimum_detectable_drop"] is not None
            else "för få provdygn" for r in api]
    assert shown == want
    drops = [r["minimum_detectable_drop"] for r in api if r["minimum_detectable_drop"] is not None]
    assert len(drops) >= 3 and drops == sorted(drops, reverse=True)
    assert [int(c[2]) for c in cells] == [r["n_after"] for r in api]
