"""Run every ``benchmarks/bench_*.py`` and write one combined report, ``reports/summary.md``.

Each benchmark runs in its own process (so memory figures stay per-benchmark) and writes its own
report under ``benchmarks/reports/``; this script then puts an overview table (status, wall time,
report and the time of its run) and every report's content one after the other in
``benchmarks/reports/summary.md``. A failing benchmark does not stop the others: its status and
the tail of its error output go into the summary, and the exit code is 1.

Usage::

    .venv/bin/python benchmarks/run_all.py                     # run all, full size
    .venv/bin/python benchmarks/run_all.py --only bench_ingest --args "bench_ingest=--rows 100000"
    .venv/bin/python benchmarks/run_all.py --collect-only      # summary of existing reports
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPORTS = HERE / "reports"
SUMMARY = REPORTS / "summary.md"


@dataclass
class Outcome:
    name: str
    status: str  # "ok", "failed (exit N)", "not run"
    seconds: float | None
    report: Path | None
    error_tail: str = ""


def benchmarks() -> list[Path]:
    return sorted(HERE.glob("bench_*.py"))


def report_of(script: Path) -> Path | None:
    """The report a benchmark writes: ``reports/<script stem>.md`` when it exists."""
    path = REPORTS / f"{script.stem}.md"
    return path if path.exists() else None


def run_one(script: Path, extra: list[str], timeout_s: float) -> Outcome:
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(script), *extra], check=False, cwd=HERE.parent,
                              capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return Outcome(script.stem, f"timed out after {timeout_s:.0f} s", None, report_of(script))
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        return Outcome(script.stem, f"failed (exit {proc.returncode})", seconds,
                       report_of(script), tail)
    return Outcome(script.stem, "ok", seconds, report_of(script))


def _run_stamp(report: Path) -> str:
    """When the report's run was made: the first ``YYYY-MM-DD HH:MM`` (UTC) its text states,
    else its date, else the file's modification time (which a fresh checkout sets to the
    checkout's time, so it is the last resort).
    """
    text = report.read_text(encoding="utf-8")[:2000]
    found = re.search(r"(\d{4}-\d{2}-\d{2})(?: \(?(\d{2}:\d{2}))?", text)
    if found:
        return f"{found[1]} {found[2]}" if found[2] else found[1]
    return (dt.datetime.fromtimestamp(report.stat().st_mtime, dt.UTC).strftime("%Y-%m-%d %H:%M")
            + " (file time)")

def _demote(markdown: str) -> str:
    """Shift every heading two levels down so reports nest under the summary's headings."""
    return re.sub(r"^(#{1,4}) ", lambda m: "#" * (len(m.group(1)) + 2) + " ", markdown,
                  flags=re.MULTILINE)


def write_summary(outcomes: list[Outcome]) -> str:
    now = dt.datetime.now(dt.UTC)
    lines = [
        "# Benchmark summary",
        "",
        (f"Written {now:%Y-%m-%d %H:%M} UTC by `benchmarks/run_all.py` on {platform.platform()}, "
        f"Python {platform.python_version()}. Times come from a shared 2-core machine and are "
        "indicative only; each section below is the benchmark's own report, unchanged."),
        "",
        "| benchmark | status | wall [s] | report | run of the report (UTC) |",
        "|---|---|---:|---|---|",
    ]
    for o in outcomes:
        written = _run_stamp(o.report) if o.report else "—"
        wall = f"{o.seconds:.0f}" if o.seconds is not None else "—"
        link = f"[{o.report.name}]({o.report.name})" if o.report else "—"
        lines.append(f"| {o.name} | {o.status} | {wall} | {link} | {written} |")
    for o in outcomes:
        lines += ["", f"## {o.name}", ""]
        if o.error_tail:
            lines += ["Error output (last lines):", "", "```", o.error_tail, "```", ""]
        if o.report:
            lines.append(_demote(o.report.read_text(encoding="utf-8").strip()))
        else:
            lines.append("_No report written._")
    text = "\n".join(lines) + "\n"
    REPORTS.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(text, encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", default=[],
                    help="Run only this benchmark (stem, e.g. bench_ingest); repeatable.")
    ap.add_argument("--args", action="append", default=[], metavar="STEM=ARGS",
                    help='Extra arguments for one benchmark, e.g. "bench_ingest=--rows 100000".')
    ap.add_argument("--collect-only", action="store_true",
                    help="Run nothing; summarise the reports already in benchmarks/reports/.")
    ap.add_argument("--timeout", type=float, default=3 * 3600,
                    help="Per-benchmark time limit [s] (default 3 h).")
    args = ap.parse_args(argv)
    extra: dict[str, list[str]] = {}
    for item in args.args:
        stem, _, rest = item.partition("=")
        extra[stem] = shlex.split(rest)
    outcomes = []
    for script in benchmarks():
        selected = not args.only or script.stem in args.only
        if args.collect_only or not selected:
            outcomes.append(Outcome(script.stem, "not run (existing report)" if report_of(script)
                                    else "not run", None, report_of(script)))
            continue
        print(f"running {script.name} {' '.join(extra.get(script.stem, []))}", flush=True)
        outcome = run_one(script, extra.get(script.stem, []), args.timeout)
        print(f"  {outcome.status}"
              + (f" in {outcome.seconds:.0f} s" if outcome.seconds is not None else ""),
              flush=True)
        outcomes.append(outcome)
    write_summary(outcomes)
    print(f"wrote {SUMMARY}")
    return 0 if all(not o.status.startswith(("failed", "timed")) for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
