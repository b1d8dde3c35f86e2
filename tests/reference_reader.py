"""The reference CSV reader: Python's csv module, row by row, for the ingest reader's tests.

:func:`read_table_csv_module` is what :func:`wastewater.ingest.readers.read_table` gives, read
the obvious way: the same file-level checks (``readers._checked_text``), then
:func:`csv.reader` over the decoded text, one list of Python strings per record, the physical
line of each record from ``reader.line_num``. tests/test_ingest_readers.py checks that the
package's reader (pandas' C parser plus a scan of the bytes) gives the same header, cells,
lines, extra cells and issues.
"""

from __future__ import annotations

import csv
import io

from wastewater.ingest import readers
from wastewater.ingest.readers import (
    _SPACE,
    RawTable,
    _cell_too_long,
    _error,
    _too_many_columns,
    _too_many_rows,
)
from wastewater.ingest.report import Issue


def read_table_csv_module(data: bytes, filename: str | None = None
                          ) -> tuple[RawTable | None, list[Issue]]:
    """:func:`wastewater.ingest.readers.read_table`, with the text read by :mod:`csv`."""
    prepared = readers._checked_text(data, filename)
    if not isinstance(prepared, readers._Text):
        return prepared
    issues = prepared.issues
    text = prepared.body.decode("utf-8", "surrogatepass")
    limit = csv.field_size_limit(readers.MAX_LINE_BYTES + 1)  # a cell on one line fits
    try:
        parsed = _parse_csv(text, prepared.delimiter, prepared.skip_lines, issues)
    finally:
        csv.field_size_limit(limit)
    if parsed is None or any(i.severity == "error" for i in issues):
        return None, issues
    header, header_line, rows, lines = parsed
    return RawTable.from_rows(header, rows, lines, header_line=header_line,
                              **prepared.options), issues


def _parse_csv(text: str, delimiter: str, skip_lines: int, issues: list[Issue]
               ) -> tuple[list[str], int, list[list[str]], list[int]] | None:
    """Read CSV text with :mod:`csv`: header, header line, rows (cells stripped, padded to the
    header) and the physical start line of each row; ``None`` after an error issue.
    """
    rows: list[list[str]] = []
    lines: list[int] = []
    header_line = 1
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"')
    previous_line = 0
    header: list[str] | None = None
    n_columns = 0
    try:
        for cells in reader:
            start_line = previous_line + 1
            previous_line = reader.line_num
            if start_line <= skip_lines:
                continue
            stripped = [c.strip(_SPACE) for c in cells]
            if not any(stripped):
                continue
            if header is None:
                while stripped and not stripped[-1]:
                    stripped.pop()
                if len(stripped) > readers.MAX_COLUMNS:
                    issues.append(_too_many_columns(start_line, len(stripped)))
                    return None
                header = stripped
                n_columns = len(header)
                header_line = start_line
                continue
            if len(rows) >= readers.MAX_ROWS:
                issues.append(_too_many_rows(start_line))
                return None
            if len(stripped) < n_columns:
                stripped.extend([""] * (n_columns - len(stripped)))
            rows.append(stripped)
            lines.append(start_line)
        if lines and previous_line > lines[-1] and _odd_quotes_from(text, lines[-1]):
            line = lines[-1]
            issues.append(
                _error(
                    "malformed_csv",
                    f'Line {line}: a quote (") opened on this line is never closed, so the rest '
                    "of the file was read as one cell. Close the quote or remove it.",
                    line=line,
                )
            )
            return None
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):  # a quoted cell over many lines
            issues.append(_cell_too_long(previous_line + 1))
            return None
        line = reader.line_num or previous_line + 1
        issues.append(
            _error(
                "malformed_csv",
                f"Line {line}: the CSV structure is broken ({exc}). Check quotes around this line.",
                line=line,
            )
        )
        return None
    return header or [], header_line, rows, lines


def _odd_quotes_from(text: str, line: int) -> bool:
    """True when the text from physical ``line`` to the end holds an odd number of quotes.

    Physical lines end at ``\\n``, ``\\r\\n`` or ``\\r``, as the csv module's lines do (the
    package's reader before this reference was kept counted ``\\n`` only, and so missed an
    unclosed quote in a file with ``\\r`` line endings).
    """
    lines = io.StringIO(text, newline="").readlines()
    return "".join(lines[line - 1:]).count('"') % 2 == 1
