"""Limits for untrusted uploads, and parsing them away from the server's event loop.

An upload is refused *before* parsing when it is an archive (``.xlsx`` is a zip) whose
members would expand beyond :attr:`UploadLimits.max_uncompressed_bytes` or with a member
compressed more than :attr:`UploadLimits.max_compression_ratio` : 1 (a "zip bomb"; the sizes
are the archive's declared ones, which :mod:`zipfile` never exceeds when reading), or a text
file with more than :attr:`UploadLimits.max_rows` lines. It is then parsed in a separate
process (:func:`parse_guarded`, forked from a small preloaded server process) with a wall-time
limit and an address-space limit; a parse that takes too long or runs out of memory is
stopped and refused. The issue list of a file is capped by the ingest layer
(``wastewater.ingest.context.MAX_LISTED_ISSUES``: the first 1 000 plus counts per code).

Every refusal carries a Swedish and an English message naming the limit and what to do.
"""

from __future__ import annotations

import datetime as dt
import io
import multiprocessing
import threading
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["UploadLimits", "UploadRefused", "check_upload", "parse_guarded"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class UploadLimits:
    """Limits of one upload (deployment settings may change them)."""

    #: Sum of the declared uncompressed sizes of an archive's members [bytes].
    max_uncompressed_bytes: int = 200 * MiB
    #: Largest uncompressed/compressed size ratio of one member (checked for members > 1 MiB).
    max_compression_ratio: float = 200.0
    #: Most lines of a text (CSV) file.
    max_rows: int = 1_000_000
    #: Wall time of the parse [s].
    max_seconds: float = 120.0
    #: Memory the parsing process may add to its address space [bytes].
    max_parse_memory_bytes: int = 2048 * MiB


class UploadRefused(Exception):
    """An upload refused by a limit: ``status`` (413 too large, 422 not checkable in time),
    ``code``, and ``message_sv`` / ``message_en``.
    """

    def __init__(self, status: int, code: str, message_sv: str, message_en: str, **extra: Any) -> None:
        super().__init__(message_en)
        self.status = status
        self.code = code
        self.message_sv = message_sv
        self.message_en = message_en
        self.extra = extra


def _mib(n: float) -> str:
    return f"{n / MiB:.0f} MiB"


def check_upload(data: bytes, filename: str | None = None, limits: UploadLimits | None = None) -> None:
    """Refuse (:class:`UploadRefused`) an archive that would expand too much, or too many rows.

    >>> check_upload(b"site,date,flow_m3_per_day\\nA,2025-01-01,1\\n")
    """
    limits = limits or UploadLimits()
    if data[:4] == b"PK\x03\x04":
        try:
            members = zipfile.ZipFile(io.BytesIO(data)).infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as exc:
            raise UploadRefused(422, "bad_zip", f"filen går inte att öppna som .xlsx (zip): {exc}; spara om den "
                                "i Excel", f"the file cannot be opened as .xlsx (zip): {exc}; save it again in "
                                "Excel") from exc
        total = sum(m.file_size for m in members)
        if total > limits.max_uncompressed_bytes:
            raise UploadRefused(
                413, "too_large_uncompressed",
                f"arbetsboken packas upp till {_mib(total)}, mer än gränsen {_mib(limits.max_uncompressed_bytes)}; "
                "dela upp den eller spara den som CSV",
                f"the workbook expands to {_mib(total)}, over the limit of {_mib(limits.max_uncompressed_bytes)}; "
                "split it or save it as CSV", limit_bytes=limits.max_uncompressed_bytes)
        for m in members:
            ratio = m.file_size / max(m.compress_size, 1)
            if m.file_size > MiB and ratio > limits.max_compression_ratio:
                raise UploadRefused(
                    413, "compression_ratio",
                    f"delen {m.filename!r} av arbetsboken är packad {ratio:.0f}:1 (gräns "
                    f"{limits.max_compression_ratio:.0f}:1) – så hög packning har inga riktiga labbresultat; "
                    "spara om filen eller ladda upp den som CSV",
                    f"member {m.filename!r} of the workbook is compressed {ratio:.0f}:1 (limit "
                    f"{limits.max_compression_ratio:.0f}:1) – real lab results never compress that much; "
                    "save the file again or upload it as CSV", limit_ratio=limits.max_compression_ratio)
        return
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if lines > limits.max_rows:
        raise UploadRefused(
            413, "too_many_rows",
            f"filen har {lines} rader, fler än gränsen {limits.max_rows}; dela upp den",
            f"the file has {lines} lines, more than the limit of {limits.max_rows}; split it",
            limit_rows=limits.max_rows)


# -- parsing in a separate process -------------------------------------------------------------

_ctx_lock = threading.Lock()
_ctx: Any = None


def _context() -> Any:
    """A forkserver context whose server has the ingest layer (pandas …) imported once."""
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["wastewater.ingest"])
            _ctx = ctx
        return _ctx


def _vm_size_bytes() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _child(conn: Any, data: bytes, kind: str | None, known_sites: list[str] | None, filename: str | None,
           max_memory: int, site_history: dict[str, tuple[dt.date, dt.date]] | None = None,
           ) -> None:  # pragma: no cover - runs in the child process
    try:
        import resource

        vm = _vm_size_bytes()
        if vm and max_memory:
            soft = vm + max_memory
            _s, hard = resource.getrlimit(resource.RLIMIT_AS)
            if hard == resource.RLIM_INFINITY or soft < hard:
                resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    except (ImportError, ValueError, OSError):
        pass
    try:
        from wastewater.ingest import parse_upload

        parsed = parse_upload(data, kind, known_sites=known_sites, filename=filename, site_history=site_history)
        if any(i.code == "internal_error" for i in parsed.report.issues) and \
                "MemoryError" in " ".join(i.message for i in parsed.report.issues):
            conn.send(("memory", None))
        else:
            conn.send(("ok", parsed))
    except MemoryError:
        conn.send(("memory", None))
    finally:
        conn.close()


def parse_guarded(data: bytes, kind: str | None = None, *, known_sites: Iterable[str] | None = None,
                  filename: str | None = None, limits: UploadLimits | None = None,
                  site_history: dict[str, tuple[dt.date, dt.date]] | None = None) -> Any:
    """:func:`wastewater.ingest.parse_upload` after :func:`check_upload`, in a separate process
    with ``limits.max_seconds`` of wall time and ``limits.max_parse_memory_bytes`` of extra memory.
    ``known_sites`` and ``site_history`` are passed on to the parse
    (:func:`wastewater.storage.service.upload_context`).

    Call it from a worker thread (it blocks while the child parses). Raises
    :class:`UploadRefused` (413 too large, 422 too slow) instead of parsing for ever.
    """
    limits = limits or UploadLimits()
    check_upload(data, filename, limits)
    ctx = _context()
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, data, kind, sorted(known_sites) if known_sites is not None
                                            else None, filename, limits.max_parse_memory_bytes, site_history),
                       daemon=True)
    started = time.monotonic()
    proc.start()
    child.close()
    try:
        remaining = limits.max_seconds - (time.monotonic() - started)
        if not parent.poll(max(remaining, 0.0)):
            raise UploadRefused(
                422, "too_slow",
                f"filen kunde inte kontrolleras på {limits.max_seconds:.0f} s; dela upp den i mindre filer",
                f"the file could not be checked within {limits.max_seconds:.0f} s; split it into smaller files",
                limit_seconds=limits.max_seconds)
        try:
            status, parsed = parent.recv()
        except EOFError:  # the child died (killed for memory, or crashed)
            status, parsed = "memory", None
        if status != "ok":
            raise UploadRefused(
                413, "too_large_to_check",
                "filen kräver för mycket minne för att kontrolleras; dela upp den i mindre filer",
                "checking the file needs too much memory; split it into smaller files")
        return parsed
    finally:
        parent.close()
        if proc.is_alive():
            proc.kill()
        proc.join(timeout=5)
