"""Turn uploaded bytes into a table of text cells with physical line numbers.

This is the only module that looks at raw bytes. It decides the encoding (UTF-8 with or
without BOM, UTF-16 with BOM, else Windows-1252 with a warning), rejects binary content,
reads ``.xlsx`` workbooks (first sheet), sniffs the CSV delimiter (comma, semicolon, tab;
an Excel ``sep=;`` first line is honoured) and decides whether decimal commas are allowed
(semicolon- or tab-separated files and workbooks: yes; comma-separated files: no, since
the comma already separates columns; [ESVFilformat]_).

Nothing here interprets cell contents; see :mod:`wastewater.ingest.validation`.

Limits (module constants, read at call time so they can be changed):
:data:`MAX_COLUMNS`, :data:`MAX_LINE_BYTES`, :data:`MAX_ROWS`.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import operator
import warnings

import numpy as np

from wastewater.ingest.report import Issue

__all__ = ["MAX_COLUMNS", "MAX_LINE_BYTES", "MAX_ROWS", "RawTable", "read_table"]

#: Most columns a header may have.
MAX_COLUMNS = 1000
#: Longest line accepted, in bytes (1 MB).
MAX_LINE_BYTES = 1_000_000
#: Most data rows (records) a file may have.
MAX_ROWS = 2_000_000

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls / .doc
_BINARY_SIGNATURES: list[tuple[bytes, str]] = [
    (_ZIP_MAGIC, "an Excel workbook or a zip archive"),
    (b"PK\x05\x06", "an empty zip archive"),
    (_OLE_MAGIC, "an old Excel .xls (or Word) file"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
]
_SPACE = " \t\r\n\u00a0\u202f\ufeff"


class RawTable:
    """Cells of an upload as text, before any interpretation.

    Parameters
    ----------
    header : list of str
        Header cells, stripped.
    rows : list of list of str
        Data rows (blank lines skipped), cells stripped; padded to ``len(header)``.
    lines : list of int
        1-based physical line (CSV) or sheet row (xlsx) where each row starts.
    header_line : int
        Physical line of the header.
    delimiter : str or None
        ``','``, ``';'`` or ``'\\t'``; ``None`` for xlsx.
    decimal_comma : bool
        True when ``12,5`` may be read as 12.5.
    encoding : str
        ``utf-8``, ``utf-8-sig``, ``utf-16``, ``cp1252`` or ``xlsx``.
    format : str
        ``csv`` or ``xlsx``.
    """

    def __init__(self, header: list[str], rows: list[list[str]] | None = None,
                 lines: list[int] | None = None, header_line: int = 1,
                 delimiter: str | None = ",", decimal_comma: bool = False,
                 encoding: str = "utf-8", format: str = "csv",
                 columns: list[list[str]] | None = None):
        self.header = header
        self._rows = rows if rows is not None or columns is not None else []
        self.lines = lines if lines is not None else []
        self.header_line = header_line
        self.delimiter = delimiter
        self.decimal_comma = decimal_comma
        self.encoding = encoding
        self.format = format
        #: Column-wise cells (one list per header column, every row exactly header-wide), set
        #: by the reader for quote-free rectangular text; ``rows`` is built from them on use.
        self.columns = columns

    @property
    def rows(self) -> list[list[str]]:
        """Data rows; built from ``columns`` on first use when those are set."""
        if self._rows is None:
            self._rows = [list(cells) for cells in zip(*(self.columns or []), strict=True)]
        return self._rows

    @rows.setter
    def rows(self, rows: list[list[str]] | None) -> None:
        self._rows = rows

    @property
    def n_rows(self) -> int:
        """Number of data rows (without building ``rows`` from ``columns``)."""
        return len(self.lines)

    def column(self, index: int) -> list[str]:
        """Cells of header column ``index`` of every data row (empty where a row is shorter)."""
        if self.columns is not None:
            return self.columns[index]
        return [row[index] if index < len(row) else "" for row in self.rows]

    def row(self, index: int) -> list[str]:
        """Cells of data row ``index`` (without building every row from ``columns``)."""
        if self._rows is None and self.columns is not None:
            return [column[index] for column in self.columns]
        return self.rows[index]

    @property
    def details(self) -> dict[str, object]:
        """How the file was read, for the report."""
        names = {",": "comma", ";": "semicolon", "\t": "tab", None: None}
        return {
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": names.get(self.delimiter, self.delimiter),
            "decimal": "comma or point" if self.decimal_comma else "point",
        }


def _error(code: str, message: str, line: int | None = None, value: str | None = None) -> Issue:
    return Issue(line=line, column=None, code=code, message=message, severity="error", value=value)


def read_table(data: bytes, filename: str | None = None, *, split_unquoted: bool = True
               ) -> tuple[RawTable | None, list[Issue]]:
    """Read an upload into a :class:`RawTable`.

    Parameters
    ----------
    data : bytes
        The uploaded file.
    filename : str, optional
        Original file name; ``.xlsx`` enables the workbook reader.
    split_unquoted : bool, default True
        Split text without quotes with ``str.split`` (exactly the :mod:`csv` module's cells
        and lines, faster); False reads every text with :mod:`csv` (for comparisons).

    Returns
    -------
    table : RawTable or None
        ``None`` when the file cannot be read at all (the issues say why).
    issues : list of Issue
        File-level problems (encoding warning, binary content, limits, empty file).
    """
    if not data or not data.strip(_SPACE.encode() + b"\xef\xbb\xbf\xa0"):
        return None, [
            _error(
                "empty_file",
                "The file is empty. Upload a CSV file with a header line and data rows.",
            )
        ]

    is_xlsx_name = bool(filename) and str(filename).casefold().endswith((".xlsx", ".xlsm"))
    if data.startswith(_ZIP_MAGIC) and is_xlsx_name:
        return _read_xlsx(data)

    if not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        for magic, what in _BINARY_SIGNATURES:
            if data.startswith(magic):
                hint = (
                    " If it is an Excel workbook, give it a name ending in .xlsx, or save it "
                    "as 'CSV UTF-8' and upload that."
                    if magic in (_ZIP_MAGIC, _OLE_MAGIC)
                    else " Upload a CSV file (text with one record per line)."
                )
                return None, [
                    _error("binary_file", f"The file looks like {what}, not a CSV text file.{hint}")
                ]
        if b"\x00" in data:
            line = data[: data.index(b"\x00")].count(b"\n") + 1
            return None, [
                _error(
                    "binary_file",
                    f"The file contains binary data (a NUL byte on line {line}); it is not a CSV "
                    "text file. Save it from your spreadsheet as 'CSV UTF-8' and upload that.",
                    line=line,
                )
            ]

    issues: list[Issue] = []
    text, encoding = _decode(data, issues)

    too_long = _first_long_line(data)
    if too_long is not None:
        line, n_bytes = too_long
        return None, issues + [
            _error(
                "line_too_long",
                f"Line {line} is {n_bytes:,} bytes long; the limit is {MAX_LINE_BYTES:,} bytes. "
                "Check the file's line endings and quotes (an unclosed quote makes one huge line).",
                line=line,
            )
        ]

    first_line, delimiter, skip_lines = _sniff(text)
    if first_line is None:
        return None, issues + [
            _error(
                "empty_file",
                "The file holds only blank lines. Upload a CSV file with a header line and data "
                "rows.",
            )
        ]

    table = RawTable(
        header=[],
        delimiter=delimiter,
        decimal_comma=delimiter in (";", "\t"),
        encoding=encoding,
        format="csv",
    )
    _parse_csv(text, table, delimiter, skip_lines, issues, split_unquoted=split_unquoted)
    if any(i.severity == "error" for i in issues):
        return None, issues
    return table, issues


def _decode(data: bytes, issues: list[Issue]) -> tuple[str, str]:
    """Decode bytes: UTF-16 (BOM), UTF-8 (with or without BOM), else cp1252 with a warning."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    try:
        if data.startswith(codecs.BOM_UTF8):
            return data.decode("utf-8-sig"), "utf-8-sig"
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        issues.append(
            Issue(
                line=line,
                column=None,
                code="encoding_fallback",
                message=(
                    f"The file is not valid UTF-8 (first unreadable byte on line {line}); it was "
                    "read as Windows-1252 (cp1252), the older Excel encoding. Check that å, ä and "
                    "ö look right, or save the file as 'CSV UTF-8' next time."
                ),
                severity="warning",
            )
        )
        return data.decode("cp1252", errors="replace"), "cp1252"


def _first_long_line(data: bytes) -> tuple[int, int] | None:
    """Return (line, length in bytes) of the first line longer than MAX_LINE_BYTES, or None.

    Lines end at ``\\n``, ``\\r\\n`` or ``\\r`` (as in the CSV reader).
    """
    if len(data) <= MAX_LINE_BYTES:
        return None
    raw = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero((raw == 10) | (raw == 13))  # \n, \r
    gaps = np.diff(breaks, prepend=-1, append=len(raw)) - 1  # bytes between line breaks
    if int(gaps.max()) <= MAX_LINE_BYTES:
        return None
    lengths = list(map(len, data.splitlines()))
    if max(lengths) <= MAX_LINE_BYTES:
        return None
    line = next(i for i, n in enumerate(lengths) if n > MAX_LINE_BYTES)
    return line + 1, lengths[line]


def _count_outside_quotes(line: str, char: str) -> int:
    """Count ``char`` in a line, ignoring characters inside double quotes."""
    count = 0
    quoted = False
    for c in line:
        if c == '"':
            quoted = not quoted
        elif c == char and not quoted:
            count += 1
    return count


def _sniff(text: str) -> tuple[str | None, str, int]:
    """Find the header line and the delimiter.

    Returns
    -------
    header_text : str or None
        The first non-blank line (``None`` if there is none).
    delimiter : str
        The most frequent of ``;``, ``,`` and tab outside quotes in the header
        (comma on a tie or when none occurs), or the one named by an Excel ``sep=`` line.
    skip_lines : int
        Physical lines before the header to skip (blank lines and a ``sep=`` line).
    """
    if len(text) > _SNIFF_CHARS:
        # the header is almost always near the top: look there first, without copying the
        # whole text; the answer holds if the header line ended inside the prefix
        found, end = _sniff_lines(text[:_SNIFF_CHARS])
        if found[0] is not None and end < _SNIFF_CHARS:
            return found
    return _sniff_lines(text)[0]


#: Characters searched for the header before the whole text is (see :func:`_sniff`).
_SNIFF_CHARS = 1 << 16


def _sniff_lines(text: str) -> tuple[tuple[str | None, str, int], int]:
    """:func:`_sniff` on ``text``, plus the offset just after the header line."""
    skip = 0
    forced: str | None = None
    end = 0
    for raw in io.StringIO(text, newline=""):
        end += len(raw)
        line = raw.rstrip("\r\n")
        if not line.strip(_SPACE):
            skip += 1
            continue
        stripped = line.strip(_SPACE).strip('"')
        if forced is None and stripped.casefold().startswith("sep=") and len(stripped) == 5:
            forced = stripped[4]
            skip += 1
            continue
        if forced is not None:
            return (line, forced, skip), end
        counts = {d: _count_outside_quotes(line, d) for d in (";", ",", "\t")}
        best = max(counts, key=lambda d: (counts[d], d == ","))
        return (line, best if counts[best] else ",", skip), end
    return (None, ",", skip), end


def _parse_csv(text: str, table: RawTable, delimiter: str, skip_lines: int, issues: list[Issue],
               *, split_unquoted: bool = True) -> None:
    """Fill ``table`` from CSV text (cells split at ``delimiter``, the table's), recording the
    physical start line of each row.

    Text without quote characters is split with ``str.split`` (:func:`_parse_unquoted`: the
    same cells, lines and issues, several times faster); ``split_unquoted=False`` sends it
    through :mod:`csv` as well (tests/test_ingest_readers.py compares the two).
    """
    if split_unquoted and '"' not in text and "\x00" not in text:
        _parse_unquoted(text, table, skip_lines, issues)
        return
    csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES + 1))
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
                if len(stripped) > MAX_COLUMNS:
                    issues.append(
                        _error(
                            "too_many_columns",
                            f"The header on line {start_line} has {len(stripped):,} columns; the "
                            f"limit is {MAX_COLUMNS:,}. Check the delimiter, or split the file.",
                            line=start_line,
                        )
                    )
                    return
                header = stripped
                n_columns = len(header)
                table.header = header
                table.header_line = start_line
                continue
            if len(table.rows) >= MAX_ROWS:
                issues.append(
                    _error(
                        "too_many_rows",
                        f"The file has more than {MAX_ROWS:,} data rows (limit reached on line "
                        f"{start_line}). Split it into several uploads.",
                        line=start_line,
                    )
                )
                return
            if len(stripped) < n_columns:
                stripped.extend([""] * (n_columns - len(stripped)))
            table.rows.append(stripped)
            table.lines.append(start_line)
        if (
            table.lines
            and previous_line > table.lines[-1]
            and _odd_quotes_from(text, table.lines[-1])
        ):
            line = table.lines[-1]
            issues.append(
                _error(
                    "malformed_csv",
                    f'Line {line}: a quote (") opened on this line is never closed, so the rest '
                    "of the file was read as one cell. Close the quote or remove it.",
                    line=line,
                )
            )
    except csv.Error as exc:
        line = reader.line_num or previous_line + 1
        issues.append(
            _error(
                "malformed_csv",
                f"Line {line}: the CSV structure is broken ({exc}). Check quotes around this line.",
                line=line,
            )
        )


def _has_edge_space(text: str, delimiter: str) -> bool:
    """True when some cell of ``text`` (lines ended by ``\\n``) begins or ends with a character
    :data:`_SPACE` strips, i.e. when cells must be stripped.

    ASCII spaces next to an ASCII delimiter or line break are found with numpy on the UTF-8
    bytes (0x20 and 0x09 never occur inside a multi-byte character); others by substring search.
    """
    spaces = [
        c
        for c in _SPACE
        if c not in "\r\n" + delimiter and (c.isascii() or not text.isascii()) and c in text
    ]
    if not spaces:
        return False
    if text[0] in spaces or text[-1] in spaces:
        return True
    searched = [c for c in spaces if not (c.isascii() and delimiter.isascii())]
    if any(c + b in text or b + c in text for c in searched for b in ("\n", delimiter)):
        return True
    codes = [ord(c) for c in spaces if c not in searched]
    if not codes:
        return False
    raw = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    is_space = raw == codes[0]
    for code in codes[1:]:
        is_space |= raw == code
    at = np.flatnonzero(is_space)
    at = at[(at > 0) & (at < len(raw) - 1)]  # first and last characters were checked above
    edge = (10, ord(delimiter))
    return bool(np.isin(raw[at - 1], edge).any() or np.isin(raw[at + 1], edge).any())


def _parse_unquoted(text: str, table: RawTable, skip_lines: int, issues: list[Issue]) -> None:
    """:func:`_parse_csv` for text without quotes or NUL characters, where it is exact.

    Without a quote character every physical line (ended by ``\r\n``, ``\r`` or ``\n``, as
    ``io.StringIO(newline="")`` splits them) is one record and its cells are the pieces between
    delimiters, which is what :func:`csv.reader` returns. Cells are stripped only when some cell
    begins or ends with one of the stripped characters (found with substring searches).
    """
    delimiter = table.delimiter or ","
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # text ended with a line break: no further line
    needs_strip = _has_edge_space(text, delimiter)

    def cells_of(line: str) -> list[str] | None:
        """The cells of a line; None for a blank line (no non-empty cell)."""
        cells = line.split(delimiter)
        if needs_strip:
            cells = [c.strip(_SPACE) for c in cells]
            return cells if any(cells) else None
        return cells if line.strip(delimiter) else None

    number = skip_lines
    header = None
    while number < len(lines) and header is None:
        header = cells_of(lines[number])
        number += 1
    if header is None:
        return
    header_line = number
    while header and not header[-1]:
        header.pop()
    if len(header) > MAX_COLUMNS:
        issues.append(
            _error(
                "too_many_columns",
                f"The header on line {header_line} has {len(header):,} columns; the "
                f"limit is {MAX_COLUMNS:,}. Check the delimiter, or split the file.",
                line=header_line,
            )
        )
        return
    table.header = header
    table.header_line = header_line
    n_columns = len(header)
    body = lines[number:]
    del lines
    if needs_strip:
        stripped = [cells_of(line) for line in body]
        numbers = [number + 1 + i for i, cells in enumerate(stripped) if cells is not None]
        rows = [cells for cells in stripped if cells is not None]
        del stripped
    elif _read_columns(body, number, table, issues):
        return
    else:
        rows = [line.split(delimiter) for line in body]
        # a line is blank when it holds only delimiters: length = number of cells - 1
        blank = np.fromiter(map(len, body), np.int64, len(body)) == (
            np.fromiter(map(len, rows), np.int64, len(rows)) - 1
        )
        line_numbers = np.arange(number + 1, number + 1 + len(body))
        if blank.any():
            rows = [cells for cells, b in zip(rows, blank.tolist(), strict=True) if not b]
            line_numbers = line_numbers[~blank]
        numbers = line_numbers.tolist()
    del body
    if len(rows) > MAX_ROWS:
        issues.append(
            _error(
                "too_many_rows",
                f"The file has more than {MAX_ROWS:,} data rows (limit reached on line "
                f"{numbers[MAX_ROWS]}). Split it into several uploads.",
                line=numbers[MAX_ROWS],
            )
        )
        return
    if rows and min(map(len, rows)) < n_columns:
        for cells in rows:
            if len(cells) < n_columns:
                cells.extend([""] * (n_columns - len(cells)))
    table.rows = rows
    table.lines = numbers


def _read_columns(body: list[str], number: int, table: RawTable, issues: list[Issue]) -> bool:
    """Fill ``table.columns`` when every line after the header is exactly header-wide.

    ``body`` holds the unstripped lines after the header (line ``number``). Applies when each
    line has ``len(header) - 1`` delimiters and none is blank (only delimiters); then the
    cells are one ``split`` of the joined lines, every ``len(header)``-th piece a column.
    Returns False (nothing changed) otherwise.
    """
    delimiter = table.delimiter or ","
    n_columns = len(table.header)
    if not body:
        return False
    counts = np.fromiter(map(operator.methodcaller("count", delimiter), body), np.int64, len(body))
    if not (counts == n_columns - 1).all():
        return False
    if (np.fromiter(map(len, body), np.int64, len(body)) == n_columns - 1).any():
        return False  # a blank line
    if len(body) > MAX_ROWS:
        line = number + 1 + MAX_ROWS
        issues.append(
            _error(
                "too_many_rows",
                f"The file has more than {MAX_ROWS:,} data rows (limit reached on line "
                f"{line}). Split it into several uploads.",
                line=line,
            )
        )
        return True
    cells = delimiter.join(body).split(delimiter)
    table.columns = [cells[i::n_columns] for i in range(n_columns)]
    del cells
    table.rows = None  # built from the columns on first use
    table.lines = list(range(number + 1, number + 1 + len(body)))
    return True


def _odd_quotes_from(text: str, line: int) -> bool:
    """True when the text from physical ``line`` to the end holds an odd number of quotes."""
    position = 0
    for _ in range(line - 1):
        position = text.find("\n", position) + 1
        if position == 0:
            return False
    return text.count('"', position) % 2 == 1


def _xlsx_cell_text(value: object) -> str:
    """Render a workbook cell as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value).strip(_SPACE)


def _read_xlsx(data: bytes) -> tuple[RawTable | None, list[Issue]]:
    """Read the first sheet of an .xlsx workbook (cached values, not formulas)."""
    try:
        import openpyxl

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            table = RawTable(
                header=[], delimiter=None, decimal_comma=True, encoding="xlsx", format="xlsx"
            )
            issues: list[Issue] = []
            n_columns = 0
            for row_number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                cells = [_xlsx_cell_text(v) for v in values]
                while cells and not cells[-1]:
                    cells.pop()
                if not any(cells):
                    continue
                if not table.header:
                    if len(cells) > MAX_COLUMNS:
                        return None, [
                            _error(
                                "too_many_columns",
                                f"The header on row {row_number} has {len(cells):,} columns; the "
                                f"limit is {MAX_COLUMNS:,}.",
                                line=row_number,
                            )
                        ]
                    table.header = cells
                    table.header_line = row_number
                    n_columns = len(cells)
                    continue
                if len(table.rows) >= MAX_ROWS:
                    return None, [
                        _error(
                            "too_many_rows",
                            f"The sheet has more than {MAX_ROWS:,} data rows. Split it into "
                            "several uploads.",
                            line=row_number,
                        )
                    ]
                cells.extend([""] * (n_columns - len(cells)))
                table.rows.append(cells)
                table.lines.append(row_number)
        finally:
            workbook.close()
    except Exception as exc:  # noqa: BLE001 - any failure of a corrupt workbook is reported
        return None, [
            _error(
                "xlsx_unreadable",
                f"The .xlsx workbook could not be read ({type(exc).__name__}: {exc}). Open it in "
                "Excel and save it again, or save the first sheet as 'CSV UTF-8'.",
            )
        ]
    if not table.header:
        return None, [_error("empty_file", "The first sheet of the workbook is empty.")]
    return table, issues
