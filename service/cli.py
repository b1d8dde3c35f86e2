"""The ``wastewater`` console script: the core command line plus ``serve``, ``demo`` and ``report``.

:data:`app` is :data:`wastewater.cli.app` (every core command) with the three commands that need
the edges: the server (API and dashboard, :mod:`service.app`) and the tertial report
(:func:`dashboards.report.build_report`).
"""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Annotated

import typer

from wastewater.cli import _url as url_of
from wastewater.cli import app, console, load_demo, open_database

__all__ = ["app"]

APP_FACTORY = "service.app:app_from_env"
"""What uvicorn imports in each worker process (the composed API + dashboard app)."""


def _serve(ctx: typer.Context, host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    url = url_of(ctx)
    if url:  # the app reads its database from the environment (wastewater.settings.Settings)
        os.environ["WASTEWATER_DATABASE_URL"] = url
    uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, workers=workers)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, max=64,
        help="Worker processes (uvicorn). Each keeps its own response cache keyed by the data "
             "version stored in the database, so all workers see a new upload at once.")] = 1,
) -> None:
    """Serve the HTTP API (/api/v1) and the dashboard with uvicorn."""
    _serve(ctx, host, port, workers)


@app.command()
def demo(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="TCP port to serve on.")] = 8000,
    samples_dir: Annotated[Path | None, typer.Option(
        "--samples-dir", help="Folder with sites.csv, flows.csv, results.csv, events.csv and "
        "euda/ (the EUDA release; default: ./samples, else the repository's samples/).",
        file_okay=False)] = None,
    no_serve: Annotated[bool, typer.Option(
        "--no-serve", help="Only migrate and load the samples; do not start the server.")
    ] = False,
) -> None:
    """Migrate the database, load the sample files and the EUDA reference data, then serve.

    Serves on http://127.0.0.1:PORT (dashboard under /dashboard) unless --no-serve. Sample files
    that are missing or already stored are skipped, and the EUDA release in
    SAMPLES_DIR/euda/ replaces its earlier import, so the command can be run again safely.
    """
    load_demo(ctx, samples_dir)
    console.print(f"Dashboard: http://127.0.0.1:{port}/dashboard")
    if not no_serve:
        _serve(ctx, "127.0.0.1", port)


class Tertial(str, enum.Enum):
    t1 = "1"
    t2 = "2"
    t3 = "3"


class Lang(str, enum.Enum):
    sv = "sv"
    en = "en"


class View(str, enum.Enum):
    public = "public"
    analyst = "analyst"


@app.command()
def report(
    ctx: typer.Context,
    year: Annotated[int, typer.Option("--year", min=2000, max=2100, help="Report year.")],
    tertial: Annotated[Tertial, typer.Option(
        "--tertial", help="1 January–April, 2 May–August, 3 September–December.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.",
                                         dir_okay=False)],
    lang: Annotated[Lang, typer.Option("--lang", help="Report language.")] = Lang.sv,
    site: Annotated[list[str] | None, typer.Option(
        "--site", help="Restrict to this site; repeat. Default: every site of the view.")
    ] = None,
    view: Annotated[View, typer.Option(
        "--view", help="public: what anyone may see (small catchments suppressed, weekly "
        "means, no confidential events); analyst: every site and confidential events.")
    ] = View.public,
) -> None:
    """Write the tertial follow-up report as one self-contained HTML file (works offline)."""
    from dashboards.report import build_report
    from wastewater.access import PUBLIC, Principal

    principal = PUBLIC if view is View.public else Principal(name="cli", role="analyst")
    with open_database(ctx) as engine:
        html = build_report(engine, year, int(tertial.value), lang=lang.value, sites=site or None,
                            principal=principal)
    output.write_text(html, encoding="utf-8")
    console.print(f"[green]Report T{tertial.value} {year} ({lang.value}, {view.value} view) "
                  f"written to {output} ({len(html.encode()) // 1024} KiB).[/]")


if __name__ == "__main__":  # pragma: no cover
    app()
