"""Progress of one ingest over named phases (reading, validating, storing) and its summary.

:class:`IngestProgress` is handed to :func:`wastewater.storage.service.ingest_bytes` (and
:func:`wastewater.ingest.parse_upload`); each phase records its rows and seconds, and an optional
``listener(phase, rows_done, rows_total)`` is told of every change, which is what the CLI's
progress bar shows (rows, rows/s, ETA). :func:`ingest_summary` is the final line with counts and
seconds, in English or Swedish.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PHASES", "IngestProgress", "Phase", "ingest_summary"]

#: The phases of an ingest, in order, with their Swedish names.
PHASES: dict[str, str] = {"reading": "läser", "validating": "kontrollerar", "storing": "lagrar"}

Listener = Callable[[str, int, "int | None"], None]


@dataclass
class Phase:
    """One finished (or running) phase: ``rows`` handled in ``seconds``."""

    name: str
    rows: int = 0
    total: int | None = None
    seconds: float = 0.0


@dataclass
class IngestProgress:
    """Named phases with row counts and wall times.

    Parameters
    ----------
    listener : callable, optional
        ``listener(phase, rows_done, rows_total)`` on every start and update (``rows_total``
        ``None`` while unknown).
    clock : callable
        Seconds; :func:`time.perf_counter` by default.

    Examples
    --------
    >>> ticks = iter([0.0, 2.0, 2.0, 6.0])
    >>> p = IngestProgress(clock=lambda: next(ticks))
    >>> p.start("reading"); p.update(100, 100); p.start("validating", 100); p.finish()
    >>> [(ph.name, ph.rows, ph.seconds) for ph in p.phases]
    [('reading', 100, 2.0), ('validating', 0, 4.0)]
    """

    listener: Listener | None = None
    clock: Callable[[], float] = time.perf_counter
    phases: list[Phase] = field(default_factory=list)
    _started: float | None = field(default=None, repr=False)

    def start(self, name: str, total: int | None = None) -> None:
        """Close the running phase and start ``name`` (one of :data:`PHASES`)."""
        if name not in PHASES:
            raise ValueError(f"unknown phase {name!r}; expected one of {', '.join(PHASES)}")
        self.finish()
        self.phases.append(Phase(name, 0, total))
        self._started = self.clock()
        self._tell()

    def update(self, done: int, total: int | None = None) -> None:
        """Rows done in the running phase (and its total, when it becomes known)."""
        if self._started is None:
            return
        phase = self.phases[-1]
        phase.rows = int(done)
        if total is not None:
            phase.total = int(total)
        self._tell()

    def finish(self) -> None:
        """Close the running phase (its seconds are fixed)."""
        if self._started is not None:
            self.phases[-1].seconds = self.clock() - self._started
            self._started = None

    def seconds(self, name: str) -> float:
        """Seconds spent in phase ``name`` (0 if it did not run)."""
        return sum(p.seconds for p in self.phases if p.name == name)

    @property
    def total_seconds(self) -> float:
        """Seconds of all phases."""
        return sum(p.seconds for p in self.phases)

    def _tell(self) -> None:
        if self.listener is not None and self.phases:
            phase = self.phases[-1]
            self.listener(phase.name, phase.rows, phase.total)


def ingest_summary(outcome: Any, progress: IngestProgress | None = None, *,
                   lang: str = "en") -> str:
    """One line with the counts and seconds of an ingest, in English (``en``) or Swedish (``sv``).

    Parameters
    ----------
    outcome : wastewater.storage.service.IngestOutcome
    progress : IngestProgress, optional
        The phases of the same ingest (seconds per phase and rows/s).
    lang : {"en", "sv"}

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> report = NS(rows_total=10, rows_accepted=9, errors=[1], warnings=[])
    >>> out = NS(report=report, rows_inserted=9, rows_superseded=0, rows_unchanged=0)
    >>> ticks = iter([0.0, 1.0, 1.0, 1.5, 1.5, 2.0])
    >>> p = IngestProgress(clock=lambda: next(ticks))
    >>> for name in ("reading", "validating", "storing"):
    ...     p.start(name, 10)
    >>> p.finish()
    >>> counts, times = ingest_summary(out, p).split("; ")
    >>> counts
    '10 rows, 9 accepted (9 new, 0 superseded, 0 unchanged), 1 error, 0 warnings'
    >>> times
    'reading 1.00 s, validating 0.50 s, storing 0.50 s, total 2.00 s (5 rows/s)'
    >>> ingest_summary(out, p, lang="sv").split("; ")[1]
    'läser 1,00 s, kontrollerar 0,50 s, lagrar 0,50 s, totalt 2,00 s (5 rader/s)'
    """
    if lang not in ("en", "sv"):
        raise ValueError(f"lang must be 'en' or 'sv', not {lang!r}")
    r = outcome.report
    n_err, n_warn = len(r.errors), len(r.warnings)
    counts = (outcome.rows_inserted, outcome.rows_superseded, outcome.rows_unchanged)
    n = [_count(v, lang) for v in (r.rows_total, r.rows_accepted, *counts, n_err, n_warn)]
    if lang == "sv":
        text = (f"{n[0]} rader, {n[1]} godkända ({n[2]} nya, {n[3]} ersatta, {n[4]} oförändrade), "
                f"{n[5]} fel, {n[6]} {'varning' if n_warn == 1 else 'varningar'}")
    else:
        text = (f"{n[0]} rows, {n[1]} accepted ({n[2]} new, {n[3]} superseded, {n[4]} unchanged), "
                f"{n[5]} {'error' if n_err == 1 else 'errors'}, "
                f"{n[6]} {'warning' if n_warn == 1 else 'warnings'}")
    if progress is None or not progress.phases:
        return text
    parts = []
    for phase in progress.phases:
        name = PHASES[phase.name] if lang == "sv" else phase.name
        parts.append(f"{name} {_seconds(phase.seconds, lang)}")
    total = progress.total_seconds
    rate = r.rows_total / total if total > 0 else float("nan")
    rate_text = _count(round(rate), lang) if rate == rate else "–"
    word_total, word_rows = ("totalt", "rader/s") if lang == "sv" else ("total", "rows/s")
    return (f"{text}; {', '.join(parts)}, {word_total} {_seconds(total, lang)} "
            f"({rate_text} {word_rows})")


def _seconds(value: float, lang: str) -> str:
    text = f"{value:.2f} s"
    return text.replace(".", ",") if lang == "sv" else text


def _count(value: int, lang: str) -> str:
    """Whole number with thousands grouped: ``12,345`` (en), ``12 345`` (sv, no-break space)."""
    text = f"{int(value):,}"
    return text.replace(",", "\u00a0") if lang == "sv" else text
