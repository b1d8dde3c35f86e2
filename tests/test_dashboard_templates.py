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
            "compare.html", "upload.html", "alerts.html", "login.html", "report_form.html"} <= set(names)
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
