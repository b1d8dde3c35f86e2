"""Command line of the core: ``wastewater ingest | db | uploads | worker | alerts | euda | reference |
odm | backup | keys | analyse``.

The commands call the same functions as the HTTP API (:func:`wastewater.storage.service.ingest_bytes`,
:mod:`wastewater.storage.repository`, :mod:`wastewater.interop.exchange`, :mod:`wastewater.storage.keys`).
This module imports neither ``api`` nor ``dashboards``: the commands that need them (``serve``,
``demo``, ``report``) are added to the same :data:`app` by :mod:`service.cli`, the installed
``wastewater`` console script (docs/architecture.md, "Layers").
Exit codes: 0 success (stored, duplicate or dry run), 1 at least one file rejected (also: an
import or backup refused, nothing to export, unknown key), 2 wrong usage, 3 database
unavailable or not migrated.
"""

from __future__ import annotations

import datetime as dt
import enum
import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, JustifyMethod
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from wastewater.exceptions import StorageUnavailable

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from wastewater.ingest.report import ValidationReport
    from wastewater.storage.service import IngestOutcome

EXIT_REJECTED = 1
EXIT_STORAGE = 3
DEMO_FILES = ("sites.csv", "flows.csv", "results.csv", "events.csv")
"""Files ``wastewater demo`` loads from the samples directory, in this order."""
EUDA_ALL_DATA = "ww2025-all-data.csv"
EUDA_SITE_INFO = "ww2025-site-info-table.csv"
EUDA_DEMO_SOURCE = "EUDA-2025"
"""The EUDA release vendored in ``samples/euda/`` and the source label ``demo`` imports it as."""

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
db_app = typer.Typer(help="Database schema (Alembic migrations) and the derived series store.",
                      no_args_is_help=True)
uploads_app = typer.Typer(help="Uploads stored in the database.", no_args_is_help=True)
euda_app = typer.Typer(help="EUDA/SCORE multi-city data: import a release as reference data, "
                       "export our campaign week in EUDA's all-data layout.",
                       no_args_is_help=True)
odm_app = typer.Typer(help="PHES-ODM v2.2.3 tables (measures, samples, sites, qualityReports, "
                      "extPopulations).",
                      no_args_is_help=True)
backup_app = typer.Typer(help="Whole-database backup archive (zip) and restore.",
                         no_args_is_help=True)
keys_app = typer.Typer(help="API keys (roles viewer, lab, analyst, admin).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(uploads_app, name="uploads")
app.add_typer(euda_app, name="euda")
app.add_typer(odm_app, name="odm")
reference_app = typer.Typer(help="National reference series of published, already "
                            "population-normalised loads (Statistics Canada Table 13-10-0871-01).",
                            no_args_is_help=True)
app.add_typer(reference_app, name="reference")
app.add_typer(backup_app, name="backup")
app.add_typer(keys_app, name="keys")
analyse_app = typer.Typer(help="Change tests over the whole database, written as one table.",
                          no_args_is_help=True)
app.add_typer(analyse_app, name="analyse")
alerts_app = typer.Typer(help="Alerts raised on upload: subscriptions and deliveries.",
                         no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")

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


def _engine(ctx: typer.Context, *, require_schema: bool = True) -> Engine:
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


@contextmanager
def open_database(ctx: typer.Context, *, require_schema: bool = True) -> Iterator[Engine]:
    """The database of the command: opened (schema checked), refused in one line when it is
    unavailable, and disposed of when the command ends."""
    engine = _engine(ctx, require_schema=require_schema)
    try:
        yield engine
    except StorageUnavailable as exc:
        raise _fail_storage(exc) from exc
    finally:
        engine.dispose()


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


@db_app.command("rebuild-series")
def db_rebuild_series(ctx: typer.Context) -> None:
    """Rebuild the derived daily-series store from the stored raw rows (one transaction).

    The ingest keeps the store up to date by itself; use this after restoring tables by hand
    or to check that the store equals a from-scratch build.
    """
    from wastewater.storage.series import rebuild_series

    with open_database(ctx) as engine:
        n = rebuild_series(engine)
    console.print(f"Daily-series store rebuilt: {n} rows (site × analyte × day).")


def _safe(url: str) -> str:
    import sqlalchemy as sa

    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return url


# --------------------------------------------------------------------------- ingest


def _report_table(report: ValidationReport, filename: str) -> Table:
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


def _summary(outcome: IngestOutcome, name: str) -> str:
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


class _RowsPerSecond(ProgressColumn):
    """Rows per second of the running phase (rich's own speed estimate)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "", style="progress.data.speed")


def _ingest_files(engine: Engine, files: list[Path], *, kind: str | None, dry_run: bool,
                  on_error: str, uploader: str, lang: str = "en") -> list[IngestOutcome]:
    from wastewater.ingest.progress import PHASES, IngestProgress, ingest_summary
    from wastewater.storage.service import ingest_bytes

    outcomes: list[IngestOutcome] = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("rows"), _RowsPerSecond(), TimeRemainingColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        for path in files:
            tasks: dict[str, TaskID] = {}

            def show(phase: str, done: int, total: int | None, name: str = path.name,
                     tasks: dict[str, TaskID] = tasks) -> None:
                label = f"{name}: {PHASES[phase] if lang == 'sv' else phase}"
                if phase not in tasks:
                    for task_id in tasks.values():
                        progress.update(task_id, visible=False)
                    tasks[phase] = progress.add_task(label, total=total)
                progress.update(tasks[phase], completed=done, total=total)

            phases = IngestProgress(listener=show)
            try:
                outcome = ingest_bytes(engine, path.read_bytes(), kind=kind,
                                       filename=path.name, uploader=uploader, dry_run=dry_run,
                                       on_error=on_error, progress=phases)
            except StorageUnavailable as exc:
                progress.stop()
                raise _fail_storage(exc) from exc
            for task_id in tasks.values():
                progress.remove_task(task_id)
            if outcome.report.issues and not outcome.duplicate:
                console.print(_report_table(outcome.report, path.name))
            console.print(_summary(outcome, path.name))
            if not outcome.duplicate:
                console.print(f"  {ingest_summary(outcome, phases, lang=lang)}", highlight=False)
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
    lang: Annotated[str, typer.Option(
        "--lang", help="Language of the progress phases and the final summary: en or sv.")
    ] = "en",
) -> None:
    """Validate files and store them; prints each validation report (line, column, message).

    Shows the phases reading, validating and storing with rows, rows/s and time left, and
    ends each file with a summary of its counts and the seconds of every phase.
    Identical files already stored are skipped. Corrected rows supersede earlier versions,
    which stay in the history. Exit code 1 when any file is rejected.
    """
    if lang not in ("en", "sv"):
        raise typer.BadParameter("write en or sv", param_hint="--lang")
    with open_database(ctx) as engine:
        outcomes = _ingest_files(engine, files, kind=kind.value if kind else None,
                                 dry_run=dry_run, on_error=on_error.value,
                                 uploader=uploader or _default_uploader(), lang=lang)
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

    with open_database(ctx) as engine:
        frame = list_uploads(engine).head(limit)
    if frame.empty:
        console.print("No uploads stored yet. Load files with `wastewater ingest FILE...`.")
        return
    table = Table(title="Uploads (newest first)", title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("id", "right"), ("kind", "left"), ("file", "left"), ("uploader", "left"),
        ("uploaded (UTC)", "left"), ("rows stored/total", "right"), ("bytes", "right"))
    for col, justify in columns:
        table.add_column(col, justify=justify)
    for rec in frame.itertuples(index=False):
        table.add_row(str(rec.upload_id), rec.kind, rec.filename or "", rec.uploader,
                      rec.uploaded_at.strftime("%Y-%m-%d %H:%M"),
                      f"{rec.rows_accepted}/{rec.rows_total}", str(rec.size_bytes))
    console.print(table)


@app.command()
def worker(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="One round over the due deliveries, then exit.")] = False,
) -> None:
    """Deliver queued alerts (e-mail over SMTP, signed webhooks) until stopped.

    Settings come from WASTEWATER_SMTP_HOST, _SMTP_PORT, _SMTP_TLS (none|starttls|tls),
    _SMTP_USER, _SMTP_PASSWORD, _MAIL_FROM, _PUBLIC_BASE_URL, _DELIVERY_MAX_ATTEMPTS,
    _DELIVERY_BACKOFF_SECONDS, _WORKER_POLL_SECONDS (docs/operations.md). Stops on SIGTERM or
    Ctrl-C after the delivery in progress.
    """
    import logging
    import signal
    import threading

    from wastewater.delivery import DeliverySettings, run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    cfg = DeliverySettings()
    err_console.print(f"delivering alerts via SMTP {cfg.smtp_host}:{cfg.smtp_port} "
                      f"({cfg.smtp_tls}) and webhooks; polling every {cfg.worker_poll_seconds:g} s")
    with open_database(ctx) as engine:
        total = run_worker(engine, cfg, stop=stop, once=once)
    err_console.print(f"sent {total['sent']}, retried {total['retry']}, failed {total['failed']}")


class Channel(str, enum.Enum):
    email = "email"
    webhook = "webhook"
    email_digest = "email_digest"


@alerts_app.command("subscribe")
def alerts_subscribe(
    ctx: typer.Context,
    channel: Annotated[Channel, typer.Argument(
        help="email (one message per alert), webhook, or email_digest (one e-mail a day).")],
    target: Annotated[str, typer.Argument(help="E-mail address or webhook URL.")],
    role: Annotated[str, typer.Option(
        "--role", help="What the subscriber may see: public, viewer, analyst, admin.")] = "public",
    key_id: Annotated[str | None, typer.Option(
        "--key-id", help="Receive as this API key (its role and sites).")] = None,
    secret: Annotated[str | None, typer.Option(
        "--secret", help="Webhook signing secret (required for webhooks).")] = None,
    site: Annotated[list[str] | None, typer.Option("--site", help="Only these sites (repeatable).")] = None,
    kind: Annotated[list[str] | None, typer.Option("--kind", help="Only these alert kinds (repeatable).")] = None,
    lang: Annotated[str, typer.Option("--lang", help="sv or en.")] = "sv",
) -> None:
    """Subscribe an e-mail address, a webhook or a daily e-mail digest to alerts (audited)."""
    from wastewater.storage.alerts import add_subscription

    with open_database(ctx) as engine:
        try:
            sid = add_subscription(engine, channel=channel.value, target=target, role=role,
                                   key_id=key_id, secret=secret, sites=site, kinds=kind, lang=lang,
                                   created_by="cli")
        except ValueError as exc:
            raise _refuse(str(exc)) from exc
    console.print(f"subscription {sid}: {channel.value} {target} as {role}")


@alerts_app.command("deliveries")
def alerts_deliveries(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="pending, sent or failed.")] = None,
) -> None:
    """Queued, sent and failed deliveries with their attempts and last error."""
    from wastewater.storage.alerts import load_deliveries

    with open_database(ctx) as engine:
        deliveries = load_deliveries(engine, status=status)
    table = Table("id", "alert", "channel", "target", "status", "attempts", "last error")
    for r in deliveries:
        table.add_row(str(r["delivery_id"]), str(r["alert_id"]), r["channel"], r["target"],
                      r["status"], str(r["attempts"]), r["last_error"] or "")
    console.print(table)


def _demo_euda(engine: Engine, folder: Path) -> None:
    """Import the vendored EUDA release (samples/euda/) as reference data ``EUDA-2025``."""
    from wastewater.interop.store import import_euda

    all_data, site_info = folder / EUDA_ALL_DATA, folder / EUDA_SITE_INFO
    if not (all_data.is_file() and site_info.is_file()):
        console.print(f"[yellow]{folder} has no {EUDA_ALL_DATA} and {EUDA_SITE_INFO}; EUDA "
                      "reference data not imported.[/]")
        return
    try:
        counts = import_euda(engine, all_data, site_info, source=EUDA_DEMO_SOURCE, actor="cli:demo")
    except StorageUnavailable as exc:
        raise _fail_storage(exc) from exc
    console.print(f"[green]EUDA reference data {EUDA_DEMO_SOURCE}: {counts['sites']} sites, "
                  f"{counts['values']} daily values (replaces any earlier import).[/]")


def _default_samples_dir() -> Path:
    here = Path.cwd() / "samples"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parent.parent / "samples"


def load_demo(ctx: typer.Context, samples_dir: Path | None = None) -> None:
    """Migrate the database, load the sample files and the EUDA reference data (the loading half
    of ``wastewater demo``; the command itself, which then serves, is ``service.cli.demo``).

    Sample files that are missing or already stored are skipped, and the EUDA release in
    ``samples_dir/euda/`` replaces its earlier import, so it can be run again safely. Exits with
    :data:`EXIT_REJECTED` when a sample file is rejected.
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
    with open_database(ctx) as engine:
        outcomes = _ingest_files(engine, files, kind=None, dry_run=False, on_error="reject",
                                 uploader="demo")
        if not any(o.rejected for o in outcomes):
            _demo_euda(engine, folder / "euda")
    if any(o.rejected for o in outcomes):
        err_console.print("[bold red]A sample file was rejected; see the report above.[/]")
        raise typer.Exit(EXIT_REJECTED)


# --------------------------------------------------------------------------- helpers (interop)


def _analytes(values: list[str] | None) -> list[str] | None:
    """Canonical ids of ``--analyte`` options (ids, names, aliases); exit 2 when unknown."""
    if not values:
        return None
    from wastewater.catalogue import resolve_analyte
    from wastewater.exceptions import UnknownAnalyteError

    out = []
    for v in values:
        try:
            out.append(resolve_analyte(v))
        except UnknownAnalyteError as exc:
            raise typer.BadParameter(str(exc).strip("'\""), param_hint="--analyte") from exc
    return out


def _iso_date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date; write YYYY-MM-DD",
                                 param_hint=option) from exc


def _refuse(message: str) -> typer.Exit:
    err_console.print(f"[bold red]{message}[/]")
    return typer.Exit(EXIT_REJECTED)


# --------------------------------------------------------------------------- euda


@euda_app.command("import")
def euda_import(
    ctx: typer.Context,
    all_data: Annotated[Path, typer.Argument(
        help="ww2025-all-data.csv of the release (daily loads, mg/day/1000 inhabitants).",
        exists=True, dir_okay=False, readable=True)],
    site_info: Annotated[Path, typer.Argument(
        help="ww2025-site-info-table.csv of the same release.",
        exists=True, dir_okay=False, readable=True)],
    source: Annotated[str, typer.Option(
        "--source", help="Release label; an earlier import with the same label is replaced "
        "in one transaction.")] = "EUDA-2025",
) -> None:
    """Import an EUDA/SCORE release as reference data (dashboard comparison, /reference/euda).

    Both files are checked before the database is touched; a malformed file stores nothing
    (exit code 1).
    """
    from wastewater.interop.store import import_euda

    with open_database(ctx) as engine:
        try:
            counts = import_euda(engine, all_data, site_info, source=source,
                                 actor=f"cli:{_default_uploader()}")
        except (ValueError, KeyError) as exc:
            raise _refuse(f"EUDA import rejected, nothing stored: {exc}") from exc
    console.print(f"[green]{source}: {counts['sites']} sites, {counts['values']} daily values "
                  f"({counts['censored']} below LOQ, {counts['missing']} missing days).[/]")


def _euda_frame_out(frame: Any, output: Path | None) -> None:
    text = frame.to_csv(index=False, lineterminator="\n")
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"{output}: {len(frame)} row(s)")


@euda_app.command("means")
def euda_means_cmd(
    ctx: typer.Context,
    site_id: Annotated[str | None, typer.Option("--site-id", help="EUDA site id, e.g. SE002.")] = None,
    year: Annotated[int | None, typer.Option("--year", help="Campaign year.")] = None,
    analyte: Annotated[str | None, typer.Option("--analyte", help="Analyte id or alias.")] = None,
    source: Annotated[str, typer.Option("--source", help="Release label.")] = "EUDA-2025",
    output: Annotated[Path | None, typer.Option("--output", "-o", dir_okay=False,
                                                help="CSV file (default: standard output).")] = None,
) -> None:
    """Site-year means: EUDA's published Daily/Weekday/Weekend means (as published), the means
    recomputed from the published days, and the days each mean covers that year (CSV)."""
    from wastewater.interop.euda import site_year_means
    from wastewater.interop.store import load_published_means, load_reference

    names = _analytes([analyte]) if analyte else None
    a = names[0] if names else None
    with open_database(ctx) as engine:
        pub = load_published_means(engine, source=source, site_id=site_id, year=year, analyte=a)
        long = load_reference(engine, source=source, site_id=site_id, year=year, analyte=a)
    if pub.empty:
        raise _refuse(f"No EUDA means of {source} match; import the release with 'wastewater euda import'.")
    _euda_frame_out(site_year_means(pub, long), output)


@euda_app.command("changes")
def euda_changes_cmd(
    ctx: typer.Context,
    year: Annotated[int, typer.Option("--year", help="Current campaign year.")] = 2024,
    previous_year: Annotated[int | None, typer.Option("--previous-year", help="Default: YEAR - 1.")] = None,
    analyte: Annotated[str | None, typer.Option("--analyte", help="Analyte id or alias.")] = None,
    source: Annotated[str, typer.Option("--source", help="Release label.")] = "EUDA-2025",
    output: Annotated[Path | None, typer.Option("--output", "-o", dir_okay=False,
                                                help="CSV file (default: standard output).")] = None,
) -> None:
    """Year-on-year change per site from the published daily means: change_percent and EUDA's
    class (increase >= +10 %, decrease <= -10 %, stable, no previous data)."""
    from wastewater.interop.euda import euda_changes
    from wastewater.interop.store import load_published_means

    names = _analytes([analyte]) if analyte else None
    a = names[0] if names else None
    with open_database(ctx) as engine:
        pub = load_published_means(engine, source=source, analyte=a)
    _euda_frame_out(euda_changes(pub, year=year, previous_year=previous_year), output)


@euda_app.command("trend")
def euda_trend_cmd(
    ctx: typer.Context,
    analyte: Annotated[str, typer.Option("--analyte", help="Analyte id or alias.")] = "benzoylecgonine",
    first_year: Annotated[int, typer.Option("--from-year")] = 2011,
    last_year: Annotated[int, typer.Option("--to-year")] = 2024,
    source: Annotated[str, typer.Option("--source", help="Release label.")] = "EUDA-2025",
) -> None:
    """EUDA's fixed-cohort trend: the yearly mean of the published daily means of the sites with
    a value in every year of the range (benzoylecgonine 2011-2024: 7 sites)."""
    from wastewater.interop.euda import cohort_trend
    from wastewater.interop.store import load_published_means

    a = (_analytes([analyte]) or [analyte])[0]
    with open_database(ctx) as engine:
        pub = load_published_means(engine, source=source, analyte=a)
    try:
        trend, cohort = cohort_trend(pub, analyte=a, first_year=first_year, last_year=last_year)
    except ValueError as exc:
        raise _refuse(str(exc)) from exc
    console.print(f"cohort ({len(cohort)} sites): {' '.join(cohort)}")
    _euda_frame_out(trend, None)


@reference_app.command("import")
def reference_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The national table, e.g. StatCan 13100871.csv.",
                                         exists=True, dir_okay=False, readable=True)],
    table_format: Annotated[str, typer.Option("--format", help="Table format: statcan-13100871.")
                            ] = "statcan-13100871",
    source: Annotated[str | None, typer.Option("--source", help="Label stored with the rows.")] = None,
) -> None:
    """Import published monthly/weekly normalised loads (with 95 % interval, SE and STATUS) as
    reference series. New and changed rows only: re-importing stores nothing new."""
    from wastewater.interop.reference_series import parse_reference_series
    from wastewater.interop.store import import_reference_series

    try:
        frame = parse_reference_series(file.read_bytes(), format=table_format, source=source)
    except ValueError as exc:
        raise _refuse(f"Import rejected, nothing stored: {exc}") from exc
    with open_database(ctx) as engine:
        counts = import_reference_series(engine, frame)
    console.print(f"[green]{counts['rows']} series rows: {counts['inserted']} new, "
                  f"{counts['updated']} changed, {counts['unchanged']} unchanged.[/]")


@euda_app.command("export")
def euda_export(
    ctx: typer.Context,
    site: Annotated[list[str], typer.Option(
        "--site", help="Site id; repeat for several sites.")],
    year: Annotated[int, typer.Option("--year", min=2000, max=2100,
                                      help="Campaign year (EUDA's Year column).")],
    week_start: Annotated[str | None, typer.Option(
        "--week-start", help="The campaign Wednesday, YYYY-MM-DD, in YEAR (default: the first "
        "Wednesday on or after 1 March).")] = None,
    analyte: Annotated[list[str] | None, typer.Option(
        "--analyte", help="Analyte id or alias; repeat. Default: every analyte EUDA reports "
        "(benzoylecgonine as 'cocaine', amphetamine, methamphetamine, mdma, thc-cooh as "
        "'cannabis', ketamine).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="CSV file to write (default: standard output).",
        dir_okay=False)] = None,
) -> None:
    """Write our own campaign week (Wednesday…Tuesday) in EUDA's ww2025-all-data.csv layout.

    Daily values are population-normalised loads in mg/day/1000 inhabitants from the stored
    results, flows and de jure populations, rounded to two decimals; below-LOQ days are 0 and
    missing days blank, as in EUDA's files; the three means follow EUDA's definitions.
    Exit code 1 when there is no result in that week.
    """
    from wastewater.interop.euda import format_euda_all_data
    from wastewater.interop.exchange import default_week_start, euda_campaign_rows

    start = _iso_date(week_start, "--week-start") or default_week_start(year)
    if start.year != year:
        raise typer.BadParameter(f"{start} is not in {year}", param_hint="--week-start")
    if start.weekday() != 2:
        raise typer.BadParameter(f"{start} is a {start:%A}; EUDA campaign weeks start on a "
                                 "Wednesday", param_hint="--week-start")
    analytes = _analytes(analyte)
    with open_database(ctx) as engine:
        try:
            rows = euda_campaign_rows(engine, sites=site, week_start=start, analytes=analytes)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--analyte") from exc
    if not rows:
        raise _refuse(f"No results for site(s) {', '.join(site)} in the week {start} … "
                      f"{start + dt.timedelta(days=6)}; nothing written.")
    text = format_euda_all_data(rows)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8", newline="")
        console.print(f"[green]{len(rows)} row(s) written to {output}.[/]")


# --------------------------------------------------------------------------- odm


@odm_app.command("export")
def odm_export(
    ctx: typer.Context,
    outdir: Annotated[Path, typer.Argument(
        help="Folder to write measures.csv, samples.csv, sites.csv, qualityReports.csv, "
        "extPopulations.csv into (created).", file_okay=False)],
    site: Annotated[list[str] | None, typer.Option(
        "--site", help="Site id; repeat. Default: all sites.")] = None,
    analyte: Annotated[list[str] | None, typer.Option(
        "--analyte", help="Analyte id or alias; repeat. Default: all.")] = None,
    date_from: Annotated[str | None, typer.Option(
        "--from", help="First sample/flow date, YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, typer.Option(
        "--to", help="Last sample/flow date, YYYY-MM-DD.")] = None,
) -> None:
    """Export current results (every sample role), sites and flows as PHES-ODM v2.2.3 tables.

    Valid against the ODM v2.2.3 dictionary: concentrations in ng/L (extension unit ngL),
    flows in m3/day (m3D); drug measures and fields ODM lacks are extension parts ('ext'
    columns, see docs/interop.md). Exit code 1 when there is nothing to export.
    """
    from wastewater.interop.exchange import load_odm_export
    from wastewater.interop.odm import write_odm_csv

    start, end = _iso_date(date_from, "--from"), _iso_date(date_to, "--to")
    if start and end and start > end:
        raise typer.BadParameter(f"--from {start} is after --to {end}", param_hint="--from")
    analytes = _analytes(analyte)
    with open_database(ctx) as engine:
        try:
            tables = load_odm_export(engine, sites=site or None, analytes=analytes, start=start,
                                     end=end)
        except ValueError as exc:
            raise _refuse(f"ODM export not possible: {exc}") from exc
    if tables["measures"].empty:
        raise _refuse("No results or flows match; nothing written.")
    paths = write_odm_csv(tables, outdir)
    for path in paths:
        console.print(f"{path}: {len(tables[path.stem])} row(s)")


@odm_app.command("import")
def odm_import(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(
        help="Folder with ODM CSV tables: measures.csv and samples.csv (required), sites.csv, "
        "qualityReports.csv and extPopulations.csv (optional).", exists=True, file_okay=False)],
    uploader: Annotated[str | None, typer.Option(
        "--uploader", help="Name recorded with each upload (default: odm-import:DIRECTORY).")
    ] = None,
) -> None:
    """Import PHES-ODM tables as ordinary uploads (sites, then flows, then results).

    The ODM tables are converted to the service's own sites/flows/results CSV files, which are
    validated and stored exactly like `wastewater ingest` files: the same validation report,
    supersession history for corrected rows, and the converted CSV kept verbatim as the upload
    (file names odm_<DIRECTORY>_<kind>.csv). All converted files are validated first; if one
    has an error nothing is stored (exit code 1). Re-importing the same tables stores nothing
    new (identical files are duplicates).
    """
    from wastewater.interop.exchange import import_odm_tables
    from wastewater.interop.odm import read_odm_csv

    tables = read_odm_csv(directory)
    missing = [n for n in ("measures", "samples") if n not in tables]
    if missing:
        raise typer.BadParameter(f"{directory} has no {', '.join(m + '.csv' for m in missing)}",
                                 param_hint="DIRECTORY")
    name = directory.resolve().name or "odm"
    with open_database(ctx) as engine:
        try:
            outs = import_odm_tables(engine, tables, source=name,
                                     uploader=uploader or f"odm-import:{name}")
        except (ValueError, KeyError) as exc:
            raise _refuse(f"ODM import rejected, nothing stored: {exc}") from exc
    for o in outs:
        if o.report.issues and not (o.outcome is not None and o.outcome.duplicate):
            console.print(_report_table(o.report, o.filename))
        if o.outcome is not None:
            console.print(_summary(o.outcome, o.filename))
        elif o.rejected:
            console.print(f"[bold red]{o.filename}: {len(o.report.errors)} error(s).[/]")
    if any(o.rejected for o in outs):
        raise _refuse("ODM import rejected: nothing stored. Fix the errors above in the ODM "
                      "tables and run the import again.")


# --------------------------------------------------------------------------- backup


@backup_app.command("export")
def backup_export(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Archive to write (zip; replaced if it exists).",
                                         dir_okay=False)],
) -> None:
    """Write the whole database (uploads verbatim, every table, audit log) into one archive."""
    from wastewater.backup import export_all

    with open_database(ctx) as engine:
        summary = export_all(engine, file)
    console.print(f"[green]{summary.path}: {summary.uploads} upload(s), "
                  f"{sum(summary.rows.values())} row(s) in {len(summary.rows)} table(s), schema "
                  f"{summary.schema_revision}.[/]")


@backup_app.command("import")
def backup_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Archive written by `wastewater backup export`.",
                                         exists=True, dir_okay=False, readable=True)],
) -> None:
    """Restore an archive into an empty database (migrated first if needed).

    Every upload is replayed through the ingest path and every table compared with the
    archive; on any failure the database is emptied again (exit code 1).
    """
    from wastewater.backup import BackupError, BackupMismatch, import_all
    from wastewater.storage.database import upgrade

    try:
        upgrade(_url(ctx))
    except StorageUnavailable as exc:
        raise _fail_storage(exc) from exc
    with open_database(ctx) as engine:
        try:
            summary = import_all(engine, file)
        except (BackupError, BackupMismatch) as exc:
            raise _refuse(f"Backup not restored: {exc}") from exc
    unverified = f"; not verified: {', '.join(summary.unverified)}" if summary.unverified else ""
    console.print(f"[green]{file}: {summary.uploads_replayed} upload(s) replayed, "
                  f"{len(summary.verified)} table(s) verified equal to the archive"
                  f"{unverified}.[/]")


# --------------------------------------------------------------------------- keys


class KeyRole(str, enum.Enum):
    viewer = "viewer"
    lab = "lab"
    analyst = "analyst"
    admin = "admin"


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Key name (1-100 characters); the actor in the "
                                        "audit log.")],
    role: Annotated[KeyRole, typer.Option(
        "--role", help="viewer: daily series; lab: upload results/flows for its sites; "
        "analyst: also confidential events and analyses; admin: everything.")],
    site: Annotated[list[str] | None, typer.Option(
        "--site", help="Limit the key to this site; repeat. Default: all sites.")] = None,
) -> None:
    """Create an API key and print its token once (only its SHA-256 digest is stored)."""
    from wastewater.storage.keys import create_key_record

    with open_database(ctx) as engine:
        try:
            token, meta = create_key_record(engine, name, role.value, site or None,
                                            actor=f"cli:{_default_uploader()}")
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="NAME") from exc
    scope = ", ".join(meta["sites"]) if meta["sites"] else "all sites"
    console.print(f"Key {meta['id']} ({meta['name']}, {meta['role']}, {scope}). Token, shown "
                  "only now; send it as X-API-Key:")
    typer.echo(token)


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """List API keys, oldest first (never their tokens)."""
    from wastewater.storage.keys import list_keys

    with open_database(ctx) as engine:
        keys = list_keys(engine)
    if not keys:
        console.print("No API keys yet. Create one with `wastewater keys create NAME --role ...`.")
        return
    table = Table(title="API keys (oldest first)", title_justify="left")
    for col in ("id", "name", "role", "sites", "created (UTC)", "status"):
        table.add_column(col)
    for k in keys:
        table.add_row(k["id"], k["name"], k["role"], ", ".join(k["sites"] or []) or "all",
                      k["created_at"].strftime("%Y-%m-%d %H:%M"),
                      "revoked" if k["revoked"] else "active")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="Key id from `wastewater keys list` (k_...).")],
) -> None:
    """Revoke a key at once; it stays listed for the audit trail. Exit code 1 when the id is
    unknown or already revoked.
    """
    from wastewater.storage.keys import LastAdminKey, revoke_key

    with open_database(ctx) as engine:
        try:
            done = revoke_key(engine, key_id, actor=f"cli:{_default_uploader()}")
        except LastAdminKey as exc:
            raise _refuse(f"{exc.message_en} / {exc.message_sv}") from exc
    if not done:
        raise _refuse(f"No active key {key_id!r}; see `wastewater keys list`.")
    console.print(f"[green]Key {key_id} revoked.[/]")


if __name__ == "__main__":  # pragma: no cover
    app()


@analyse_app.command("operations")
def analyse_operations(
    ctx: typer.Context,
    all_tests: Annotated[bool, typer.Option(
        "--all", help="Every (site, analyte, event) test the events imply: each event's sites "
        "(all when it names none) × the analytes measuring its substances (cocaine → "
        "benzoylecgonine; all when none).")] = False,
    site: Annotated[list[str] | None, typer.Option(
        "--site", help="Only these sites; repeat.")] = None,
    event_id: Annotated[list[str] | None, typer.Option(
        "--event", help="Only these event ids; repeat.")] = None,
    loq_method: Annotated[str, typer.Option(
        "--loq-method", help="Substitution of censored values: loq_half, loq_sqrt2, loq.")] = "loq_half",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="CSV file to write (default: standard output).",
        dir_okay=False)] = None,
) -> None:
    """Operation effects for every test in one vectorised pass, with BH q-values (CSV).

    Same numbers as GET /api/v1/analyses/operation-effect for each test (AR(1) + measurement
    noise regression, up to 2 years of history, 8 weeks after; marked method changes as level
    shifts). Tests that cannot be estimated are rows with a reason code (``not_estimable``) and
    a sentence instead of numbers. Confidential events are included: the table is for analysts.
    """
    from wastewater.readers import marked_method_changes
    from wastewater.stats.batch import operation_table, plan_tests
    from wastewater.storage import repository as r
    from wastewater.timeseries import build_dataset, site_series

    if not (all_tests or site or event_id):
        raise typer.BadParameter("give --all, or narrow with --site / --event", param_hint="--all")
    factors = {"loq_half": 0.5, "loq_sqrt2": 2 ** -0.5, "loq": 1.0}
    if loq_method not in factors:
        raise typer.BadParameter(f"{loq_method!r}: choose one of {', '.join(factors)} (log-scale "
                                 "tests need a positive value for censored days)",
                                 param_hint="--loq-method")
    with open_database(ctx) as engine:
        events = r.load_events(engine, include_confidential=True)
        results = r.load_results(engine, sites=site or None)
        flows = r.load_flows(engine, sites=site or None)
        pops = r.load_populations(engine, sites=site or None)
    if event_id:
        events = events[events["event_id"].isin(event_id) | (events["kind"] == "method_change")]
    if results.empty or events.empty:
        raise _refuse("no results or no events in the database; nothing to test")
    ds = build_dataset(results, flows, pops, loq_method=loq_method)
    available = {str(s_): sorted(results.loc[results["site"] == s_, "analyte"].unique().tolist())
                 for s_ in results["site"].unique() if str(s_) in set(ds["site"].values.tolist())}
    tests = plan_tests(events, available)
    if site:
        tests = [t for t in tests if t["site"] in set(site)]
    series = {}
    for key in {t["key"] for t in tests}:
        s_, c_ = site_series(ds, *key)
        series[key] = (s_, c_)
    # marked method changes by the API's rule (wastewater.readers.method_changes) on the frames
    # read above: method_change events (confidential ones included) and every change of the
    # results' method column
    marked = {(site_id, analyte): days for site_id in sorted({key[0] for key in series})
              for analyte, days in marked_method_changes(results, events, site=site_id, analytes=sorted(
                  key[1] for key in series if key[0] == site_id)).items()}
    table = operation_table(tests, series, method_changes=marked)
    text = table.to_csv(index=False, lineterminator="\n")
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        n_ok = int((table["not_estimable"] == "").sum())
        console.print(f"[green]{len(table)} tests ({n_ok} estimated, {len(table) - n_ok} not "
                      f"estimable) written to {output}.[/]")
