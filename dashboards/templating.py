"""The dashboard's Jinja2 templates: one :class:`jinja2.Environment`, compiled once per process.

Templates live in ``dashboards/templates`` (installed with the package): ``base.html`` is the page
layout (skip link, header with role and language switch, labelled navigation, one ``<h1>``,
footer), ``_macros.html`` the shared pieces (labelled controls, accessible tables, ``<figure>``
blocks) and one template per page type extends the layout. The tertial report is its own
document, ``report.html`` (CSS and scripts inlined so it opens offline), with its sections as the
macros of ``_report.html``. Autoescaping is on for every template,
so any text from users or the database is escaped unless the code marks it as HTML
(:class:`markupsafe.Markup`: the plotly figure ``<div>`` and pieces rendered by the macros
themselves); a variable the code forgot raises (``StrictUndefined``) instead of rendering empty.

The catalogue (:func:`dashboards.i18n.t`) and the number and date formatters are template
globals, so a template says ``{{ t("nav_trend", lang) }}`` exactly as Python does (and
``tests/test_i18n_catalogue.py`` reads those calls in the templates as in the code).

Every template is loaded and compiled when this module is imported (``auto_reload`` off, no
size limit on the cache): a request renders already-compiled templates and never touches the
file system for them.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup

from dashboards.i18n import (
    analyte_name,
    format_date,
    format_number,
    format_percent,
    measure_label,
    role_name,
    t,
)

__all__ = ["ENV", "Markup", "macros", "render"]


def _url(path: str, params: dict[str, Any] | None = None) -> str:
    from dashboards.html import url

    return url(path, params)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("dashboards", "templates"),
        autoescape=True,  # every template is HTML
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # compiled once; templates ship with the package
        cache_size=-1,  # keep every compiled template
    )
    env.globals.update(t=t, format_number=format_number, format_date=format_date,
                       format_percent=format_percent, analyte_name=analyte_name,
                       measure_label=measure_label, role_name=role_name, url=_url)
    return env


ENV = _environment()
TEMPLATES: dict[str, Template] = {name: ENV.get_template(name) for name in ENV.list_templates()
                                  if name.endswith(".html")}
"""Every template, compiled at import."""


def render(name: str, /, **context: Any) -> str:
    """Render the template ``name`` (e.g. ``"trend.html"``) with ``context``."""
    return TEMPLATES[name].render(context)


def macros() -> Any:
    """The macros of ``_macros.html`` as callables returning :class:`~markupsafe.Markup`
    (``macros().table(spec)``), for Python code that assembles HTML from pieces (the report)."""
    return _MACROS


_MACROS = TEMPLATES["_macros.html"].module
