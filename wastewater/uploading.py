"""Receiving one uploaded file for a principal: the access checks, the guarded parse, the store.

The one upload flow of the service: ``POST /api/v1/uploads/{kind}`` and the dashboard's upload
page both call :func:`receive_upload` (the dashboard no longer goes through the API over HTTP),
so a file is checked, refused or stored the same way whichever door it came in by.

Order of the checks: the policy (:func:`wastewater.access.check` of the kind's resource; raises
:class:`wastewater.access.AccessDenied`), the size limit, the parse in a separate process under
the limits of :mod:`wastewater.upload_guard`, a header without rows, the detected kind's
resource, the key's site scope (labs write only their own sites), then
:func:`wastewater.storage.service.store_parsed` in one transaction. Refusals before the store
raise :class:`UploadRefusal` (status, summary and error items, the API's envelope); the answer
after the store is an :class:`UploadAnswer` (the JSON body of the API, with its status).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from wastewater import access
from wastewater.access import Principal
from wastewater.jsonsafe import json_safe

KIND_RESOURCE: dict[str, str] = {
    "sites": "upload_sites",
    "events": "upload_events",
    "flows": "upload_results",
    "results": "upload_results",
}
"""The policy resource (:mod:`wastewater.access`) that decides who may upload which kind."""

KINDS = ("auto", *KIND_RESOURCE)
"""Kinds a caller may name; ``auto`` detects the kind from the header."""

ALERTS_PAGE = "/dashboard/alerts"
"""Where the sentence about an upload's alerts points to."""


def item(code: str, message: str, *, line: int | None = None, column: str | None = None,
         **extra: Any) -> dict[str, Any]:
    """One entry of the ``errors`` list of the error envelope (``line, column, code, message``)."""
    return {"line": line, "column": column, "code": code, "message": message, **extra}


def issue_items(report: Any) -> list[dict[str, Any]]:
    """The issues of a ``ValidationReport`` (or its dict) as ``errors`` entries with severity and value."""
    d = report.to_dict() if hasattr(report, "to_dict") else dict(report)
    return [{"line": i.get("line"), "column": i.get("column"), "code": i.get("code", "invalid"),
             "message": i.get("message", ""), "severity": i.get("severity", "error"),
             "value": i.get("value")} for i in d.get("issues", [])]


class UploadRefusal(Exception):
    """An upload refused before anything was stored: HTTP-like ``status`` (403, 413, 422), a short
    ``error`` summary and the ``errors`` items (messages in English / Swedish).
    """

    def __init__(self, status: int, error: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.errors = errors


@dataclasses.dataclass(frozen=True)
class UploadAnswer:
    """What the store answered: the JSON ``body`` of the API and its ``status`` (200 dry run or
    duplicate, 201 stored, 422 rejected).
    """

    status: int
    body: dict[str, Any]


def upload_limits(settings: Any) -> Any:
    """The deployment's upload limits (:class:`wastewater.upload_guard.UploadLimits`) from
    :class:`wastewater.settings.Settings`.
    """
    from wastewater.upload_guard import UploadLimits

    return UploadLimits(max_uncompressed_bytes=settings.max_upload_uncompressed_bytes,
                        max_compression_ratio=settings.max_upload_compression_ratio,
                        max_rows=settings.max_upload_rows, max_seconds=settings.upload_time_limit_seconds,
                        max_parse_memory_bytes=settings.max_upload_parse_memory_bytes)


def may_upload_any(p: Principal) -> bool:
    """Whether ``p`` may upload at least one kind (which one is checked per file)."""
    return any(access.may(p, r) for r in set(KIND_RESOURCE.values()))


def check_any(p: Principal) -> None:
    """Raise :class:`wastewater.access.AccessDenied` unless ``p`` may upload some kind."""
    if not may_upload_any(p):
        raise access.AccessDenied(p, "upload_results", "uploads / uppladdningar")


def check_kind(p: Principal, kind: str) -> None:
    """Raise :class:`wastewater.access.AccessDenied` unless ``p`` may upload ``kind``."""
    access.check(p, KIND_RESOURCE[kind])


def scope_errors(p: Principal, kind: str, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows naming a site outside the key's scope (labs upload for their own sites only)."""
    if p.sites is None and p.role != "lab":
        return []
    scope = p.sites or frozenset()
    errs = []
    if kind == "events":
        for r in frame.to_dict("records"):
            sites = list(r.get("sites") or [])
            bad = [s for s in sites if s not in scope] if sites else ["(all sites)"]
            if bad:
                errs.append(item("site_out_of_scope",
                                 f"this key may write only sites {sorted(scope)}; row names {bad}",
                                 line=json_safe(r.get("source_line")), column="sites"))
        return errs
    if "site" not in frame:
        return []
    for r in frame[["site", "source_line"] if "source_line" in frame else ["site"]].to_dict("records"):
        if r["site"] not in scope:
            errs.append(item("site_out_of_scope",
                             f"site {r['site']!r} is outside this key's scope {sorted(scope)}; "
                             "upload only your own sites",
                             line=json_safe(r.get("source_line")), column="site", value=r["site"]))
    return errs


def too_large(max_bytes: int) -> UploadRefusal:
    """The refusal of a file over ``max_bytes`` (413)."""
    return UploadRefusal(413, "upload too large", [item(
        "too_large",
        f"the file exceeds the limit of {max_bytes} bytes ({max_bytes / 1048576:.1f} MiB); "
        "split it into smaller files / filen är större än gränsen på "
        f"{max_bytes / 1048576:.1f} MiB; dela upp den i mindre filer",
        limit_bytes=max_bytes)])


def alerts_for(p: Principal, raised: Sequence[Mapping[str, Any]]
               ) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
    """The upload's alerts ``p`` may see (:func:`wastewater.access.alert_visible`), and one
    sentence about them (sv, en).
    """
    from wastewater.alerts import summary_sentences

    visible = [json_safe(dict(a)) for a in raised if access.alert_visible(p, a)]
    if not visible:
        return [], None
    sites = sorted({a["site"] for a in visible})
    link = ALERTS_PAGE + (f"?site={sites[0]}" if len(sites) == 1 else "")
    return visible, summary_sentences(visible, link=link)


def receive_upload(engine: sa.Engine, p: Principal, data: bytes, kind: str = "auto", *,
                   filename: str | None, settings: Any, dry_run: bool = False,
                   on_error: str = "reject", known_sites: Iterable[str] | None = None) -> UploadAnswer:
    """Check, parse and (unless ``dry_run``) store one uploaded file for ``p``.

    Blocking (the parse runs in a child process): call it from a worker thread. ``settings``
    gives ``max_upload_bytes`` and the limits of :func:`upload_limits`. Raises
    :class:`wastewater.access.AccessDenied` when the policy refuses the kind and
    :class:`UploadRefusal` for a refusal before the store; returns the store's answer.
    """
    from wastewater.storage.service import store_parsed
    from wastewater.upload_guard import UploadRefused, parse_guarded

    if kind not in KINDS:
        raise UploadRefusal(422, "upload rejected", [item(
            "unknown_kind", f"unknown kind {kind!r}; use one of {', '.join(KINDS)} / okänd filtyp "
            f"{kind!r}; välj en av {', '.join(KINDS)}", column="kind")])
    check_any(p)
    if kind != "auto":
        check_kind(p, kind)
    if len(data) > settings.max_upload_bytes:
        raise too_large(settings.max_upload_bytes)
    if not data:
        raise UploadRefusal(422, "upload rejected", [item(
            "empty_file", "the file is empty; choose the file with your results / filen är tom; välj filen "
            "med era resultat", line=1)])
    from wastewater.storage.service import upload_context

    stored_sites, history = upload_context(engine)
    known = set(known_sites) if known_sites is not None else stored_sites
    try:
        parsed = parse_guarded(data, None if kind == "auto" else kind, known_sites=known, filename=filename,
                               limits=upload_limits(settings), site_history=history)
    except UploadRefused as exc:
        raise UploadRefusal(exc.status, "upload too large" if exc.status == 413 else "upload rejected",
                            [item(exc.code, f"{exc.message_en} / {exc.message_sv}", **exc.extra)]) from exc
    if parsed.kind in KIND_RESOURCE and parsed.report.rows_total == 0 and not parsed.report.errors:
        raise UploadRefusal(422, "upload rejected", [item(
            "header_only", "the file has a header but no data rows; nothing was stored – add the rows "
            "below the header / filen har en rubrikrad men inga datarader; inget sparades – lägg till "
            "raderna under rubrikraden", line=1)])
    if kind == "auto":
        if parsed.kind not in KIND_RESOURCE:
            raise UploadRefusal(422, "upload rejected", issue_items(parsed.report) or [item(
                "unknown_kind", "cannot tell what the file holds; use /uploads/{kind} / det går inte att "
                "se vad filen innehåller; välj filtyp", line=1)])
        check_kind(p, parsed.kind)
    scope_errs = scope_errors(p, parsed.kind, parsed.frame)
    if scope_errs:
        raise UploadRefusal(403, "forbidden", scope_errs)
    out = store_parsed(engine, data, parsed, filename=filename, uploader=p.name, uploader_key_id=p.key_id,
                       dry_run=dry_run, on_error=on_error)
    body: dict[str, Any] = json_safe(out.to_dict())
    body["ok"] = bool(out.stored or out.duplicate or (out.dry_run and out.report.ok)
                      or (out.dry_run and on_error == "skip" and out.report.rows_accepted > 0))
    body["filename"] = filename
    body["alerts"], body["alerts_message"] = alerts_for(p, out.alerts)
    if out.duplicate:
        details = getattr(out.report, "details", None) or {}
        body["message"] = details.get("duplicate_message") or (
            f"identical file already stored as upload {out.upload_id}; nothing was stored again")
    if out.rejected or (out.dry_run and not body["ok"]):
        errors = [e for e in issue_items(out.report) if e.get("severity") == "error"]
        details = getattr(out.report, "details", None) or {}
        if details.get("issues_total"):
            counts = ", ".join(f"{c}: {n}" for c, n in details["issue_counts"].items())
            errors.append(item(
                "issues_truncated",
                f"{details['issues_total']} problems in all, the first {details['issues_listed']} are listed; "
                f"per code: {counts} / {details['issues_total']} problem totalt, de första "
                f"{details['issues_listed']} visas; per kod: {counts}", counts=details["issue_counts"]))
        return UploadAnswer(422, {"ok": False, "status": 422, "error": "upload rejected", "errors": errors,
                                  **{k: v for k, v in body.items() if k != "ok"}})
    return UploadAnswer(201 if out.stored and not out.dry_run else 200, body)
