"""The dashboard's Jinja2 templates (dashboards/templating.py): one Environment with autoescape
and StrictUndefined, every template compiled at import, text escaped, the layout's landmarks."""

from __future__ import annotations

import pandas as pd
import pytest
from jinja2 import StrictUndefined, UndefinedError

from dashboards import html as H
from dashboards.templating import ENV, TEMPLATES, macros, render


def test_one_environment_autoescape_strict_and_compiled_once():
    assert ENV.autoescape is True
    assert ENV.undefined is StrictUndefined
    assert ENV.auto_reload is False
    # every template of the package is compiled at import, and get_template hands out that object
    names = sorted(n for n in ENV.list_templates() if n.endswith(".html"))
    assert sorted(TEMPLATES) == names
    assert {"base.html", "_macros.html", "trend.html", "operations.html", "riskweekends.html",
            "compare.html", "upload.html", "alerts.html", "login.html", "report_form.html", "report.html",
            "_report.html"} <= set(names)
    assert all(ENV.get_template(n) is TEMPLATES[n] for n in names)


def test_a_missing_variable_raises_instead_of_rendering_empty():
    with pytest.raises(UndefinedError):
        render("notice.html", **H.layout(title="x", lang="sv", active="trend"), text="hej")  # no cls


def test_text_is_escaped_in_layout_tables_controls_and_figures():
    evil = '<script>alert("x")</script>'
    doc = H.render_page("notice.html", title=evil, lang="sv", active="trend", text=evil, cls="notice")
    assert evil not in doc and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in doc
    assert doc.count("<h1>") == 1 and '<html lang="sv">' in doc and 'href="#main"' in doc
    tab = H.table(pd.DataFrame({"site": [evil], "value": [1234.5]}), caption=evil, lang="sv",
                  row_header="site")
    assert evil not in tab and '<th scope="row">&lt;script&gt;' in tab
    assert '<td class="num">1\u00a0234,50</td>' in tab  # Swedish: narrow space, decimal comma
    ctl = str(macros().controls(H.controls_spec("/dashboard/trend", "sv", [
        H.select_spec("site", "Plats", [(evil, evil)], evil)])))
    assert evil not in ctl and 'selected>&lt;script&gt;' in ctl and '<label for="ctl-site">Plats</label>' in ctl
    fig = H.figure_block(fig_id="f", title=evil, plot_html='<div id="plot-f"></div>', summary=evil,
                         lang="en", csv_links=[("/x.csv?a=1&b=2", "CSV")])
    assert evil not in fig
    assert '<div id="plot-f"></div>' in fig  # the figure's own HTML is trusted, not escaped
    assert 'href="/x.csv?a=1&amp;b=2"' in fig


def test_page_navigation_marks_the_current_page_and_switches_language():
    ctx = H.layout(title="T", lang="en", active="compare", query={"site": "SE-X"})
    assert [i["label"] for i in ctx["nav"] if i["current"]] == ["Compare with other cities"]
    assert ctx["switch"] == "/dashboard/compare?site=SE-X&lang=sv"
    doc = H.page(title="T", lang="en", active="compare", body="<p>b</p>")
    assert '<a href="/dashboard/compare?lang=en" aria-current="page">' in doc and "<p>b</p>" in doc


def test_report_document_escapes_section_text_and_inlines_scripts_verbatim():
    """The tertial report renders from report.html and the section macros of _report.html: text
    from the database (an event's description, an alert summary) is escaped, the inlined scripts
    are byte for byte those whose CSP hashes the served report sends, and the confidential marking
    appears at the top and in the footer of a non-public report only."""
    import datetime as dt

    from dashboards import report as R

    evil = '<script>alert("x")</script>'
    sections = {
        "summary": evil,
        "changed": {"empty": True, "prev": "T2 2025", "largest": [], "table": None, "figure": None,
                    "dumping": None},
        "events": {"table": None, "calendar": None,
                   "effects": [{"title": evil, "description": evil, "dumping": True, "error": evil,
                                "sentence": "", "figure": None}]},
        "alerts": {"text": None, "table": None},
        "certainty": {"rsd": "31", "rsd_change": "20", "rsd_week": "8", "threshold": "10",
                      "n_censored": 3, "n_days": 40},
        "sites": [{"site": "SE-X", "label": evil, "figures": []}],
    }
    args = {"title": "T3 2025", "lang": "sv", "period": (dt.date(2025, 9, 1), dt.date(2025, 12, 31)),
            "note": evil, "role": "analyst"}
    doc = R._document(**args, confidential=True, **sections)
    assert evil not in doc
    assert doc.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") == 6
    assert f"<script>{R._plotly_js()}</script>" in doc and f"<script>{R.figures_js()}</script>" in doc
    assert doc.count('data-testid="confidential-mark"') == 2 and ".confidential-mark{" in doc
    assert '<dd>2025-09-01 – 2025-12-31</dd>' in doc and '<h3 id="site-SE-X">' in doc
    assert "3 av 40 provdygn" in doc and "31\u00a0% (relativ standardavvikelse)" in doc
    public = R._document(**{**args, "role": "public"}, confidential=False, **sections)
    assert 'data-testid="confidential-mark"' not in public and ".confidential-mark{" not in public
    assert R._dumping_note(pd.DataFrame(columns=["dumping_dates"]), "sv", public=True) == ""
