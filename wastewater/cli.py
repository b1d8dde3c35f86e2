"""Command line: ``wastewater ingest | db upgrade | uploads list | serve | demo``.

The commands call the same functions as the HTTP API (:func:`wastewater.storage.service.ingest_bytes`,
:mod:`wastewater.storage.repository`). Exit codes: 0 success (stored, duplicate or dry run),
1 at least one file rejected, 2 wrong usage, 3 database unavailable or not migrated.
"""

from __future__ import annotations

import enum
import getpass
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from wastewater.exceptions import StorageUnavailable

EXIT_REJECTED = 1
EXIT_STORAGE = 3
DEMO_FILES = ("sites.csv", "flows.csv", "results.csv", "events.csv")
"""Files ``wastewater demo`` loads from the samples directory, in this order."""

app = typer.Typer(
    name="wastewater",
    help=(
        "Wastewater drug-monitoring service: load lab results, flows, sites and events into "
        "the database, and serve the API and dashboard. The database is "
        "--database-url, else $WASTEWATER_DATABASE_URL, else sqlite:///wastewater.db."
    ),
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
uploads_app = typer.Typer(help="Uploads stored in the database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(uploads_app, name="uploads")

console = Console()
err_console = Console(stderr=True)


class Kind(str, enum.Enum):
    sites = "sites"
    flows = "flows"
    results = "results"
    events = "events"


class OnError(str, enum.Enum):
    reject = "reject"
    skip = "skip"


def _default_uploader() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "cli"


@app.callback()
def main(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="WASTEWATER_DATABASE_URL",
            help="SQLAlchemy database URL (default: sqlite:///wastewater.db in the current "
            "directory).",
            show_envvar=True,
        ),
    ] = None,
) -> None:
    """Wastewater drug-monitoring service."""
    ctx.obj = {"database_url": database_url}


def _url(ctx: typer.Context) -> str | None:
    return (ctx.obj or {}).get("database_url")


def _fail_storage(exc: Exception) -> typer.Exit:
    err_console.print(f"[bold red]Database unavailable:[/] {exc}")
    return typer.Exit(EXIT_STORAGE)


def _engine(ctx: typer.Context, *, require_schema: bool = True):
    from wastewater.storage.database import current_revision, get_engine, head_revision

    try:
        engine = get_engine(_url(ctx))
        if require_schema:
            rev = current_revision(engine)
            if rev != head_revision():
                engine.dispose()
                raise StorageUnavailable(
                    f"the database schema is at revision {rev or '(empty)'}, the program needs "
                    f"{head_revision()}; run `wastewater db upgrade` first"
                )
    except StorageUnavailable as exc:
        raise _fail_storage(exc) from exc
    return engine


# --------------------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create the database (SQLite file) if needed and migrate it to the newest schema."""
    from wastewater.storage.database import database_url, head_revision, upgrade

    try:
        upgrade(_url(ctx))
    except StorageUnavailable as exc:
        raise _fail_storage(exc) from exc
    console.print(f"Database {_safe(database_url(_url(ctx)))} is at revision {head_revision()}.")


def _safe(url: str) -> str:
    import sqlalchemy as sa

    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return url


# --------------------------------------------------------------------------- ingest


def _report_table(report, filename: str) -> Table:
    table = Table(title=f"Validation report: {filename}", title_justify="left", show_lines=False)
    table.add_column("line", justify="right")
    table.add_column("column")
    table.add_column("severity")
    table.add_column("code")
    table.add_column("message", overflow="fold")
    for issue in report.issues:
        style = "red" if issue.severity == "error" else "yellow"
        table.add_row("" if issue.line is None else str(issue.line), issue.column or "",
                      f"[{style}]{issue.severity}[/]", issue.code, issue.message)
    return table


def _summary(outcome, name: str) -> str:
    r = outcome.report
    counts = (f"{outcome.rows_inserted} inserted, {outcome.rows_superseded} superseded, "
              f"{outcome.rows_unchanged} unchanged")
    if outcome.duplicate:
        return (f"[cyan]{name}: identical file already stored as upload {outcome.upload_id}; "
                "nothing stored.[/]")
    if outcome.dry_run:
        return f"[cyan]{name}: dry run ({outcome.kind}), would store: {counts}; nothing stored.[/]"
    if outcome.stored:
        skipped = f"; {len(r.errors)} error(s) skipped" if r.errors else ""
        return (f"[green]{name}: stored as upload {outcome.upload_id} ({outcome.kind}): "
                f"{counts}{skipped}.[/]")
    return (f"[bold red]{name}: rejected, nothing stored: {len(r.errors)} error(s) in "
            f"{r.rows_total} row(s). Fix them, or use --on-error skip to store the valid rows.[/]")


def _ingest_files(engine, files: list[Path], *, kind: str | None, dry_run: bool,
                  on_error: str, uploader: str) -> list:
    from wastewater.storage.service import ingest_bytes

    outcomes = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        for path in files:
            task = progress.add_task(f"{path.name}: checking", total=None)

            def update(done: int, total: int, task=task, name=path.name) -> None:
                progress.update(task, description=f"{name}: storing", completed=done,
                                total=total)

            try:
                outcome = ingest_bytes(engine, path.read_bytes(), kind=kind,
                                       filename=path.name, uploader=uploader, dry_run=dry_run,
                                       on_error=on_error, progress=update)
            except StorageUnavailable as exc:
                progress.stop()
                raise _fail_storage(exc) from exc
            progress.update(task, completed=1, total=1)
            progress.remove_task(task)
            if outcome.report.issues and not outcome.duplicate:
                console.print(_report_table(outcome.report, path.name))
            console.print(_summary(outcome, path.name))
            outcomes.append(outcome)
    return outcomes


@app.command()
def ingest(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(
        help="CSV or .xlsx files to load; each file is stored in its own transaction.",
        exists=True, dir_okay=False, readable=True)],
    kind: Annotated[Kind | None, typer.Option(
        "--kind", help="What the files hold; detected from each header when omitted.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Validate and count what would be inserted/superseded/unchanged; "
        "store nothing.")] = False,
    on_error: Annotated[OnError, typer.Option(
        "--on-error", help="reject: a file with any error stores nothing; skip: store the "
        "valid rows and report the others.")] = OnError.reject,
    uploader: Annotated[str | None, typer.Option(
        "--uploader", help="Name recorded with each upload (default: your login name).")] = None,
) -> None:
    """Validate files and store them; prints each validation report (line, column, message).

    Identical files already stored are skipped. Corrected rows supersede earlier versions,
    which stay in the history. Exit code 1 when any file is rejected.
    """
    engine = _engine(ctx)
    try:
        outcomes = _ingest_files(engine, files, kind=kind.value if kind else None,
                                 dry_run=dry_run, on_error=on_error.value,
                                 uploader=uploader or _default_uploader())
    finally:
        engine.dispose()
    if any(o.rejected for o in outcomes):
        raise typer.Exit(EXIT_REJECTED)


# --------------------------------------------------------------------------- uploads


@uploads_app.command("list")
def uploads_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many.")] = 50,
) -> None:
    """List stored uploads, newest first."""
    from wastewater.storage.repository import list_uploads

    engine = _engine(ctx)
    try:
        frame = list_uploads(engine).head(limit)
    except StorageUnavailable as exc:
        raise _fail_storage(exc) from exc
    finally:
        engine.dispose()
    if frame.empty:
        console.print("No uploads stored yet. Load files with `wastewater ingest FILE...`.")
        return
    table = Table(title="Uploads (newest first)", title_justify="left")
    for col, justify in (("id", "right"), ("kind", "left"), ("file", "left"),
                         ("uploader", "left"), ("uploaded (UTC)", "left"),
                         ("rows stored/total", "right"), ("bytes", "right")):
        table.add_column(col, justify=justify)
    for rec in frame.itertuples(index=False):
        table.add_row(str(rec.upload_id), rec.kind, rec.filename or "", rec.uploader,
                      rec.uploaded_at.strftime("%Y-%m-%d %H:%M"),
                      f"{rec.rows_accepted}/{rec.rows_total}", str(rec.size_bytes))
    console.print(table)


# --------------------------------------------------------------------------- serve / demo


def _serve(ctx: typer.Context, host: str, port: int) -> None:
    import uvicorn

    if _url(ctx):  # the API reads its database from the environment (api.config.Settings)
        os.environ["WASTEWATER_DATABASE_URL"] = _url(ctx)
    uvicorn.run("api.main:create_app", factory=True, host=host, port=port)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
) -> None:
    """Serve the HTTP API (/api/v1) and the dashboard with uvicorn."""
    _serve(ctx, host, port)


def _default_samples_dir() -> Path:
    here = Path.cwd() / "samples"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parent.parent / "samples"


@app.command()
def demo(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="TCP port to serve on.")] = 8000,
    samples_dir: Annotated[Path | None, typer.Option(
        "--samples-dir", help="Folder with sites.csv, flows.csv, results.csv, events.csv "
        "(default: ./samples, else the repository's samples/).", file_okay=False)] = None,
    no_serve: Annotated[bool, typer.Option(
        "--no-serve", help="Only migrate and load the samples; do not start the server.")
    ] = False,
) -> None:
    """Migrate the database, load the sample files, then serve on http://127.0.0.1:PORT.

    Sample files that are missing or already stored are skipped, so the command can be run
    again safely.
    """
    from wastewater.storage.database import upgrade

    try:
        upgrade(_url(ctx))
    except StorageUnavailable as exc:
        raise _fail_storage(exc) from exc
    folder = samples_dir or _default_samples_dir()
    files = [folder / name for name in DEMO_FILES if (folder / name).is_file()]
    for name in DEMO_FILES:
        if not (folder / name).is_file():
            console.print(f"[yellow]{folder / name} not found; skipped.[/]")
    engine = _engine(ctx)
    try:
        outcomes = _ingest_files(engine, files, kind=None, dry_run=False, on_error="reject",
                                 uploader="demo")
    finally:
        engine.dispose()
    if any(o.rejected for o in outcomes):
        err_console.print("[bold red]A sample file was rejected; see the report above.[/]")
        raise typer.Exit(EXIT_REJECTED)
    console.print(f"Dashboard: http://127.0.0.1:{port}/dashboard")
    if not no_serve:
        _serve(ctx, "127.0.0.1", port)


if __name__ == "__main__":  # pragma: no cover
    app()
