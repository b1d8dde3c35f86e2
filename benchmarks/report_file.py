"""Writing a benchmark report without losing its hand-written reading.

A report is the script's generated sections followed, optionally, by a section whose heading
the script names (``NOTES``): a reading of the figures written by hand. :func:`write_report`
rewrites the generated part and keeps that section as it was, to be brought up to date by hand.
"""

from __future__ import annotations

from pathlib import Path

NOTES = "## Notes on this run (kept by hand; the script rewrites the sections above)"
"""The usual heading of the hand-kept section."""


def write_report(path: Path, lines: list[str], notes: str = NOTES) -> str:
    """Write ``lines`` to ``path``, followed by the section headed ``notes`` of the report
    already there (if any); returns the text written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = path.read_text(encoding="utf-8").split(notes, 1) if path.exists() else []
    out = list(lines)
    if len(kept) == 2:
        out += [notes + kept[1].rstrip("\n"), ""]
    text = "\n".join(out)
    path.write_text(text, encoding="utf-8")
    return text
