"""Small HTML building blocks (no template engine): page shell, figure block, data tables.

Every piece of user or database text goes through :func:`esc`. The markup follows WCAG 2.1
AA: ``lang`` on ``<html>``, a skip link to ``<main id="main">``, one ``<h1>``, a labelled
``<nav>``, ``aria-current`` on the active link, each figure as ``<figure>`` with a caption,
a text summary and its data as a real ``<table>`` with ``<caption>`` and ``scope`` headers.
"""

from __future__ import annotations

import html as _html
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

import pandas as pd

from dashboards.i18n import format_date, format_number, normalise_language, role_name, t

esc = _html.escape

NAV = (
    ("trend", "nav_trend"),
    ("operations", "nav_operation"),
    ("riskweekends", "nav_riskweekends"),
    ("compare", "nav_compare"),
    ("upload", "nav_upload"),
    ("alerts", "nav_alerts"),
    ("report", "nav_report"),
    ("login", "nav_login"),
)


def url(path: str, params: dict[str, Any] | None = None) -> str:
    """``path?query`` with ``None``/empty values dropped."""
    clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
    return path + ("?" + urlencode(clean) if clean else "")


def page(*, title: str, body: str, lang: str, active: str, base: str = "/dashboard",
         query: dict[str, Any] | None = None, role: str = "public",
         head_extra: str = "") -> str:
    """Full HTML document for a dashboard page (plotly.js from ``{base}/static``)."""
    lang = normalise_language(lang)
    other = "en" if lang == "sv" else "sv"
    query = dict(query or {})
    role_label = role_name(role, lang)
    switch = url(f"{base}/{active}", {**query, "lang": other})
    links = []
    for key, label in NAV:
        current = ' aria-current="page"' if key == active else ""
        links.append(f'<li><a href="{esc(url(f"{base}/{key}", {"lang": lang}))}"{current}>'
                     f"{esc(t(label, lang))}</a></li>")
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} – {esc(t("app_title", lang))}</title>
<link rel="stylesheet" href="{base}/static/dashboard.css">
<script src="{base}/static/plotly.min.js"></script>
<script src="{base}/static/dashboard-narrow.js" defer></script>
<script src="{base}/static/figures.js" defer></script>
{head_extra}
</head>
<body>
<a class="skip-link" href="#main">{esc(t("skip_link", lang))}</a>
<header class="site-header">
<div class="header-row">
<div>
<p class="app-title"><a href="{esc(url(f"{base}/trend", {"lang": lang}))}">{esc(t("app_title", lang))}</a></p>
<p class="app-subtitle">{esc(t("app_subtitle", lang))}</p>
</div>
<div class="meta-links">
<span>{esc(t("role", lang))}: <strong data-testid="role" data-role="{esc(role)}">{esc(role_label)}</strong></span>
<a href="{esc(switch)}" lang="{other}" hreflang="{other}">{esc(t("language_switch", lang))}</a>
</div>
</div>
<nav aria-label="{esc(t("nav_label", lang))}"><ul>{"".join(links)}</ul></nav>
</header>
<main id="main" tabindex="-1">
<h1>{esc(title)}</h1>
{body}
</main>
<footer><p>{esc(t("footer", lang))}</p></footer>
</body>
</html>"""


def select(name: str, label: str, options: Sequence[tuple[str, str]], selected: str | None) -> str:
    """Labelled ``<select>``; ``options`` are ``(value, text)``."""
    opts = "".join(
        f'<option value="{esc(v)}"{" selected" if v == selected else ""}>{esc(text)}</option>'
        for v, text in options
    )
    return (f'<div><label for="ctl-{name}">{esc(label)}</label>'
            f'<select id="ctl-{name}" name="{name}">{opts}</select></div>')


def date_input(name: str, label: str, value: Any, lang: str = "sv") -> str:
    """Labelled text input for an ISO date ``YYYY-MM-DD``.

    Not ``type="date"``: its widget follows the browser's locale (``mm/dd/yyyy`` in an
    English-configured browser), while Swedish practice is ISO dates ([ISO8601]_, [Unicode2001]_).
    """
    v = "" if value in (None, "") else format_date(value)
    placeholder = "ÅÅÅÅ-MM-DD" if normalise_language(lang) == "sv" else "YYYY-MM-DD"
    return (f'<div><label for="ctl-{name}">{esc(label)}</label>'
            f'<input type="text" id="ctl-{name}" name="{name}" value="{esc(v)}" size="11" '
            f'inputmode="numeric" pattern="\\d{{4}}-\\d{{2}}-\\d{{2}}" placeholder="{placeholder}" '
            f'aria-describedby="date-hint"></div>')


def _cell(value: Any, lang: str, decimals: int) -> tuple[str, bool]:
    if isinstance(value, bool):
        return t("yes" if value else "no", lang), False
    if isinstance(value, pd.Timestamp) or (hasattr(value, "isoformat") and not isinstance(value, str)):
        return format_date(value), False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, int) or float(value).is_integer() and decimals == 0:
            return format_number(value, lang, 0), True
        return format_number(value, lang, decimals), True
    try:
        import numpy as np

        if isinstance(value, np.bool_):
            return t("yes" if bool(value) else "no", lang), False
        if isinstance(value, np.integer):
            return format_number(int(value), lang, 0), True
        if isinstance(value, np.floating):
            return format_number(float(value), lang, decimals), True
    except ImportError:  # pragma: no cover
        pass
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–", False
    return str(value), False


def table(frame: pd.DataFrame, *, caption: str, lang: str, headers: dict[str, str] | None = None,
          decimals: int | dict[str, int] = 2, table_id: str | None = None,
          row_header: str | None = None, scroll: bool = True) -> str:
    """Accessible data table: ``<caption>``, ``<th scope="col">``, numbers right-aligned and
    formatted for the language (decimal comma in Swedish)."""
    headers = headers or {}
    cols = list(frame.columns)
    head = "".join(
        f'<th scope="col" class="{"num" if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) else ""}">'  # noqa: E501
        f"{esc(headers.get(c, c))}</th>" for c in cols
    )
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for c, value in zip(cols, record):
            d = decimals.get(c, 2) if isinstance(decimals, dict) else decimals
            text, numeric = _cell(value, lang, d)
            cls = ' class="num"' if numeric else ""
            if c == row_header:
                cells.append(f'<th scope="row"{cls}>{esc(text)}</th>')
            else:
                cells.append(f"<td{cls}>{esc(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    tid = f' id="{esc(table_id)}"' if table_id else ""
    wrap = "table-wrap" if scroll else "table-wrap no-scroll"
    return (f'<div class="{wrap}" tabindex="0" role="region" aria-label="{esc(caption)}">'
            f"<table{tid}><caption>{esc(caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def figure_block(*, fig_id: str, title: str, plot_html: str, summary: str, lang: str,
                 data_table: str = "", csv_links: Iterable[tuple[str, str]] = (),
                 extra: str = "", level: int = 2) -> str:
    """``<figure>`` with heading, the plot (``role="img"`` described by the summary), the
    summary as text, CSV download links and the data table in a ``<details>``."""
    links = "".join(f'<a href="{esc(href)}" download>{esc(text)}</a>' for href, text in csv_links)
    links_html = f'<p class="downloads">{links}</p>' if links else ""
    details = ""
    if data_table:
        details = (f"<details><summary>{esc(t('table_toggle', lang))}</summary>"
                   f"{data_table}</details>")
    hidden = f'<span class="visually-hidden">{esc(t("figure_summary", lang))}: </span>'
    return f"""<figure class="chart" id="{fig_id}-figure" aria-labelledby="{fig_id}-title">
<h{level} id="{fig_id}-title">{esc(title)}</h{level}>
<div class="plot" role="img" aria-labelledby="{fig_id}-title" aria-describedby="{fig_id}-summary">{plot_html}</div>
<figcaption><p id="{fig_id}-summary">{hidden}{esc(summary)}</p>
{links_html}</figcaption>
{extra}
{details}
</figure>"""
