"""HTML building blocks around the Jinja2 templates (:mod:`dashboards.templating`): the layout's
context, specs for the shared macros (controls, tables, figures) and the same pieces rendered as
HTML for Python code that needs a piece on its own.

Templates escape every value (autoescape); :func:`esc` remains for the rare HTML assembled in Python.
The markup follows WCAG 2.1 AA: ``lang`` on ``<html>``, a skip link to ``<main id="main">``, one
``<h1>``, a labelled ``<nav>``, ``aria-current`` on the active link, each figure as ``<figure>`` with a caption,
a text summary and its data as a real ``<table>`` with ``<caption>`` and ``scope`` headers.
"""

from __future__ import annotations

import html as _html
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from markupsafe import Markup

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


def layout(*, title: str, lang: str, active: str, base: str = "/dashboard",
           query: dict[str, Any] | None = None, role: str = "public") -> dict[str, Any]:
    """Context of ``base.html`` (the layout every page template extends)."""
    lang = normalise_language(lang)
    other = "en" if lang == "sv" else "sv"
    query = dict(query or {})
    nav = [{"href": url(f"{base}/{key}", {"lang": lang}), "label": t(label, lang), "current": key == active}
           for key, label in NAV]
    return {"lang": lang, "other": other, "title": title, "base": base, "role": role,
            "role_label": role_name(role, lang), "nav": nav,
            "switch": url(f"{base}/{active}", {**query, "lang": other}),
            "home": url(f"{base}/trend", {"lang": lang})}


def render_page(template: str, *, title: str, lang: str, active: str, base: str = "/dashboard",
                query: dict[str, Any] | None = None, role: str = "public", **context: Any) -> str:
    """A full page: ``template`` (which extends ``base.html``) with the layout's context."""
    from dashboards.templating import render

    return render(template, **layout(title=title, lang=lang, active=active, base=base, query=query,
                                     role=role), **context)


def page(*, title: str, body: str, lang: str, active: str, base: str = "/dashboard",
         query: dict[str, Any] | None = None, role: str = "public") -> str:
    """Full HTML document around ``body`` (HTML assembled by the caller, e.g. a refusal notice)."""
    return render_page("page.html", title=title, lang=lang, active=active, base=base, query=query,
                       role=role, body=Markup(body))


def _macros() -> Any:
    from dashboards.templating import macros

    return macros()


def select_spec(name: str, label: str, options: Sequence[tuple[str, str]], selected: str | None
                ) -> dict[str, Any]:
    """A labelled ``<select>`` for the ``control`` macro; ``options`` are ``(value, text)``."""
    return {"kind": "select", "name": name, "label": label, "options": list(options), "selected": selected}


def date_spec(name: str, label: str, value: Any, lang: str = "sv") -> dict[str, Any]:
    """A labelled text input for an ISO date ``YYYY-MM-DD`` (not ``type="date"``: its widget
    follows the browser's locale, ``mm/dd/yyyy`` in an English-configured browser, while Swedish
    practice is ISO dates, [ISO8601]_, [Unicode2001]_)."""
    return {"kind": "date", "name": name, "label": label,
            "value": "" if value in (None, "") else format_date(value),
            "placeholder": "ÅÅÅÅ-MM-DD" if normalise_language(lang) == "sv" else "YYYY-MM-DD"}


def hint_spec(text: str, hint_id: str = "date-hint") -> dict[str, Any]:
    """A hint paragraph inside a controls form."""
    return {"kind": "hint", "id": hint_id, "text": text}


def controls_spec(action: str, lang: str, fields: list[dict[str, Any]],
                  extra_hidden: dict[str, Any] | None = None) -> dict[str, Any]:
    """A GET form of controls (``controls`` macro): hidden ``lang`` and extras, the fields, a button."""
    hidden = [(k, str(v)) for k, v in {"lang": lang, **(extra_hidden or {})}.items()]
    return {"action": action, "lang": lang, "hidden": hidden, "fields": fields}


def select(name: str, label: str, options: Sequence[tuple[str, str]], selected: str | None) -> str:
    """Labelled ``<select>``; ``options`` are ``(value, text)``."""
    return str(_macros().select(select_spec(name, label, options, selected)))


def date_input(name: str, label: str, value: Any, lang: str = "sv") -> str:
    """Labelled text input for an ISO date ``YYYY-MM-DD`` (see :func:`date_spec`)."""
    return str(_macros().date_input(date_spec(name, label, value, lang)))


def _cell(value: Any, lang: str, decimals: int) -> tuple[str, bool | str]:
    """Cell text and its kind: ``True`` a number (right-aligned), ``"date"`` a date (never
    broken at its hyphens, also in a narrow printed column), ``False`` text."""
    if isinstance(value, bool):
        return t("yes" if value else "no", lang), False
    if isinstance(value, pd.Timestamp) or (hasattr(value, "isoformat") and not isinstance(value, str)):
        return format_date(value), "date"
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


def table_spec(frame: pd.DataFrame, *, caption: str, lang: str, headers: dict[str, str] | None = None,
               decimals: int | dict[str, int] = 2, table_id: str | None = None,
               row_header: str | None = None, scroll: bool = True) -> dict[str, Any]:
    """An accessible data table for the ``table`` macro: ``<caption>``, ``<th scope="col">``,
    numbers right-aligned and formatted for the language (decimal comma in Swedish)."""
    headers = headers or {}
    cols = list(frame.columns)
    head = [(headers.get(c, c),
             "num" if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) else "")
            for c in cols]
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for c, value in zip(cols, record):
            d = decimals.get(c, 2) if isinstance(decimals, dict) else decimals
            text, numeric = _cell(value, lang, d)
            cells.append(("th" if c == row_header else "td", numeric, text))
        rows.append(cells)
    return {"id": table_id, "caption": caption, "wrap": "table-wrap" if scroll else "table-wrap no-scroll",
            "head": head, "rows": rows}


def table(frame: pd.DataFrame, *, caption: str, lang: str, headers: dict[str, str] | None = None,
          decimals: int | dict[str, int] = 2, table_id: str | None = None,
          row_header: str | None = None, scroll: bool = True) -> Markup:
    """The table of :func:`table_spec` as HTML."""
    return Markup(_macros().table(table_spec(frame, caption=caption, lang=lang, headers=headers,
                                             decimals=decimals, table_id=table_id,
                                             row_header=row_header, scroll=scroll)))


def figure_spec(*, fig_id: str, title: str, plot_html: str, summary: str, lang: str,
                table: dict[str, Any] | str = "", csv_links: Iterable[tuple[str, str]] = (),
                extra: str = "", level: int = 2) -> dict[str, Any]:
    """A ``<figure>`` for the ``figure`` macro: heading, the plot (``role="img"`` described by the
    summary; ``plot_html`` from :func:`dashboards.figures.figure_html` is trusted HTML), the
    summary as text, CSV download links and the data table (a :func:`table_spec` or HTML) in a
    ``<details>``; ``extra`` is HTML placed after the caption."""
    return {"fig_id": fig_id, "title": title, "plot_html": Markup(plot_html), "summary": summary,
            "lang": lang, "csv_links": list(csv_links), "extra": Markup(extra),
            "table": table if isinstance(table, dict) else Markup(table), "level": level}


def figure_block(*, fig_id: str, title: str, plot_html: str, summary: str, lang: str,
                 data_table: str = "", csv_links: Iterable[tuple[str, str]] = (),
                 extra: str = "", level: int = 2) -> Markup:
    """The figure of :func:`figure_spec` as HTML (``data_table`` is HTML, e.g. from :func:`table`)."""
    return Markup(_macros().figure(figure_spec(fig_id=fig_id, title=title, plot_html=plot_html,
                                               summary=summary, lang=lang, table=data_table,
                                               csv_links=csv_links, extra=extra, level=level)))
