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
import functools
import io
import warnings
from typing import Any

import numpy as np
import pandas as pd

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
    """Cells of an upload as text, before any interpretation, held column by column.

    Each header column is stored as ``codes`` (one small integer per data row) into ``texts``
    (its distinct cell texts, stripped): a million-row file holds a few thousand distinct
    dates, sites or units, so the table needs a few bytes per cell and no Python object per
    cell. :meth:`column_codes` gives them to the validators; :attr:`rows` builds the rows of
    Python strings on demand (tests, small files).

    Parameters
    ----------
    header : list of str
        Header cells, stripped (trailing empty cells dropped).
    codes : list of numpy.ndarray
        Per header column, the code of each data row's cell (blank lines skipped; a row
        shorter than the header has empty cells) into ``texts``.
    texts : list of list of str
        Per header column, its distinct cell texts (it may hold a text no data row has, such
        as the header's own).
    lines : numpy.ndarray
        1-based physical line (CSV) or sheet row (xlsx) where each data row starts.
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
    extra_cells : dict, optional
        Data row index → its cells beyond the header, for rows where one of them is not empty
        (the validators reject such rows: ``column_count``).
    """

    def __init__(self, header: list[str], codes: list[np.ndarray], texts: list[list[str]],
                 lines: np.ndarray, header_line: int = 1, delimiter: str | None = ",",
                 decimal_comma: bool = False, encoding: str = "utf-8", format: str = "csv",
                 extra_cells: dict[int, list[str]] | None = None):
        self.header = header
        self.codes = codes
        self.texts = texts
        self.lines = np.asarray(lines, dtype=np.int64)
        self.header_line = header_line
        self.delimiter = delimiter
        self.decimal_comma = decimal_comma
        self.encoding = encoding
        self.format = format
        self.extra_cells = extra_cells or {}

    @classmethod
    def from_rows(cls, header: list[str], rows: list[list[str]], lines: list[int],
                  **options: object) -> RawTable:
        """A table of rows of cell texts (cells beyond the header go to ``extra_cells``)."""
        width = len(header)
        codes, texts = [], []
        for j in range(width):
            column_codes, uniques = pd.factorize(
                np.array([row[j] if j < len(row) else "" for row in rows] or [""], dtype=object))
            codes.append(column_codes[: len(rows)].astype(np.int32))
            texts.append(list(uniques))
        extra = {i: row[width:] for i, row in enumerate(rows) if any(row[width:])}
        return cls(header, codes, texts, np.asarray(lines, dtype=np.int64),
                   extra_cells=extra, **options)  # type: ignore[arg-type]

    @property
    def n_rows(self) -> int:
        """Number of data rows."""
        return len(self.lines)

    def column_codes(self, index: int) -> tuple[np.ndarray, list[str]]:
        """Codes (per data row) and distinct texts of header column ``index``."""
        return self.codes[index], self.texts[index]

    def column(self, index: int) -> np.ndarray:
        """Cells of header column ``index`` of every data row, as an object array of texts
        (each distinct text is one shared object).
        """
        texts = np.empty(len(self.texts[index]), dtype=object)
        texts[:] = self.texts[index]
        out: np.ndarray = texts[self.codes[index]]
        return out

    def row(self, index: int) -> list[str]:
        """Cells of data row ``index``, header-wide."""
        return [texts[codes[index]] for codes, texts in zip(self.codes, self.texts, strict=True)]

    @property
    def rows(self) -> list[list[str]]:
        """Data rows as lists of header-wide cells (built on each use)."""
        if not self.codes:
            return [[] for _ in range(self.n_rows)]
        return [list(cells) for cells in zip(*(self.column(i).tolist()
                                               for i in range(len(self.codes))), strict=True)]

    def select(self, keep: np.ndarray) -> RawTable:
        """The table of the data rows where ``keep`` (a boolean mask) is true."""
        index = np.flatnonzero(keep)
        position = {int(old): new for new, old in enumerate(index.tolist())
                    if int(old) in self.extra_cells}
        return RawTable(self.header, [c[index] for c in self.codes], self.texts,
                        self.lines[index], self.header_line, self.delimiter, self.decimal_comma,
                        self.encoding, self.format,
                        {new: self.extra_cells[old] for old, new in position.items()})

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


def read_table(data: bytes, filename: str | None = None, *, fast: bool = True
               ) -> tuple[RawTable | None, list[Issue]]:
    """Read an upload into a :class:`RawTable`.

    Parameters
    ----------
    data : bytes
        The uploaded file.
    filename : str, optional
        Original file name; ``.xlsx`` enables the workbook reader.
    fast : bool, default True
        Read the text with the vectorised tokenizer (:func:`_tokenize`: exactly the cells,
        lines and issues of the :mod:`csv` module, without a Python object per cell) wherever
        it applies; False reads every text with :mod:`csv` (the reference, for comparisons).

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

    options = {"delimiter": delimiter, "decimal_comma": delimiter in (";", "\t"),
               "encoding": encoding, "format": "csv"}
    table = None
    if fast:
        body = _utf8_body(data, text, encoding)
        if encoding in ("utf-8", "utf-8-sig"):
            del text  # the bytes are the text: a decoded copy is made again only if needed
        table = _tokenize(body, delimiter, skip_lines, issues, options)
        del body
    if table is None and not any(i.severity == "error" for i in issues):
        if encoding in ("utf-8", "utf-8-sig") and fast:
            text = data.decode(encoding)
        parsed = _parse_csv(text, delimiter, skip_lines, issues)
        if parsed is not None:
            header, header_line, rows, lines = parsed
            table = RawTable.from_rows(header, rows, lines, header_line=header_line, **options)
    if table is None or any(i.severity == "error" for i in issues):
        return None, issues
    return table, issues


def _utf8_body(data: bytes, text: str, encoding: str) -> bytes:
    """The text as UTF-8 bytes without a BOM (the upload itself when it is UTF-8)."""
    if encoding == "utf-8":
        return data
    if encoding == "utf-8-sig":
        return data[len(codecs.BOM_UTF8):]
    return text.encode("utf-8", "surrogatepass")


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

    Lines end at ``\\n``, ``\\r\\n`` or ``\\r`` (as in the CSV reader). A line longer than
    ``MAX_LINE_BYTES`` covers a whole aligned block of ``MAX_LINE_BYTES // 2`` bytes, so when
    every such block holds a line break (a byte search each) no line is too long.
    """
    if len(data) <= MAX_LINE_BYTES:
        return None
    block = max(MAX_LINE_BYTES // 2, 1)
    if all(data.find(b"\n", start, start + block) >= 0 or data.find(b"\r", start, start + block) >= 0
           for start in range(0, len(data) - block + 1, block)):
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


def _parse_csv(text: str, delimiter: str, skip_lines: int, issues: list[Issue]
               ) -> tuple[list[str], int, list[list[str]], list[int]] | None:
    """Read CSV text with :mod:`csv`: header, header line, rows (cells stripped, padded to the
    header) and the physical start line of each row; ``None`` after an error issue.

    The reference reader: :func:`_tokenize` gives the same for every text it reads
    (tests/test_ingest_readers.py), and this one reads the others (quotes inside unquoted
    cells, unclosed quotes, NUL characters, a non-ASCII delimiter).
    """
    rows: list[list[str]] = []
    lines: list[int] = []
    header_line = 1
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
                    issues.append(_too_many_columns(start_line, len(stripped)))
                    return None
                header = stripped
                n_columns = len(header)
                header_line = start_line
                continue
            if len(rows) >= MAX_ROWS:
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


#: Widths [bytes] of the byte matrices in which :func:`_cells` compares cells; longer cells
#: (rare: comments) are compared one by one.
_MATRIX_WIDTHS = (8, 16, 32, 64)
#: Odd 64-bit multiplier combining the 8-byte words of a cell into one hash key.
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


def _tokenize(data: bytes, delimiter: str, skip_lines: int, issues: list[Issue],
              options: dict[str, Any]) -> RawTable | None:
    """Read UTF-8 CSV bytes into a :class:`RawTable` with numpy, without a Python object per cell.

    The cells, lines and issues are those of :func:`_parse_csv` (tests/test_ingest_readers.py):
    records end at ``\\r\\n``, ``\\r`` or ``\\n`` outside quotes; a cell that starts with a
    quote ends with one, ``""`` inside it being one quote (RFC 4180, [RFC4180]_). Separators are
    found with array operations on the bytes, quotes by their parity; every cell is
    then a byte range, and the ranges of one column are compared as rows of a byte matrix
    (:func:`_cells`), so only its distinct texts become Python strings. The physical line of a
    record is one plus the line breaks before it, also those inside quoted cells.

    Returns ``None`` without an issue for text it does not read exactly (a quote inside an
    unquoted cell, an unclosed quote, a NUL character, a non-ASCII delimiter, a cell longer than
    :data:`MAX_LINE_BYTES`, a record of more than :data:`MAX_COLUMNS` cells);
    :func:`_parse_csv` reads those.
    """
    if len(delimiter) != 1 or not delimiter.isascii() or delimiter in '"\r\n' or b"\x00" in data:
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    n = len(buf)
    if not n:
        return None
    sep = ord(delimiter)
    quotes = np.flatnonzero(buf == 34) if b'"' in data else np.zeros(0, dtype=np.intp)
    if len(quotes) % 2 or not _well_quoted(buf, quotes, sep):
        return None
    has_cr = b"\r" in data
    is_sep = buf == sep
    is_sep |= buf == 10
    if has_cr:
        is_sep |= buf == 13
    seps = np.flatnonzero(is_sep)
    del is_sep
    if len(quotes):
        seps = seps[np.searchsorted(quotes, seps) % 2 == 0]  # outside quoted cells
    kinds = buf[seps]
    if has_cr:
        crlf = (kinds == 10) & (buf[np.maximum(seps - 1, 0)] == 13) & (seps > 0)
        if crlf.any():  # "\r\n" ends one record: its "\r" is the separator
            seps, kinds = seps[~crlf], kinds[~crlf]
    if buf[-1] not in (10, 13):  # the last record has no line break
        seps = np.append(seps, n)
        kinds = np.append(kinds, np.uint8(10))
    last = np.flatnonzero(kinds != sep)  # each record's last separator
    del kinds
    n_records = len(last)
    first = np.empty(n_records, dtype=np.int64)  # each record's first separator
    first[0] = 0
    first[1:] = last[:-1] + 1
    n_fields = last - first + 1
    if int(n_fields.max()) > MAX_COLUMNS:
        return None  # a record wider than any header may be: the csv module reports it
    # where each record starts: after the line break that ends the one before
    record_start = np.zeros(n_records, dtype=np.int64)
    record_start[1:] = seps[last[:-1]] + 1
    if has_cr:
        crlf_end = buf[np.minimum(record_start, n - 1)] == 10
        crlf_end[0] = False
        crlf_end &= buf[record_start - 1] == 13
        record_start += crlf_end
    if len(quotes):
        breaks = np.flatnonzero((buf == 10) | (buf == 13))
        breaks = breaks[~((buf[breaks] == 10) & (buf[np.maximum(breaks - 1, 0)] == 13)
                          & (breaks > 0))]
        lines = 1 + np.searchsorted(breaks, record_start)
    else:
        lines = np.arange(1, n_records + 1, dtype=np.int64)
    # every field position: the records that have it, codes into distinct texts
    fields: list[tuple[np.ndarray | None, np.ndarray, list[str]]] = []
    filled = np.zeros(n_records, dtype=bool)
    fewest = int(n_fields.min())
    for j in range(int(n_fields.max())):
        having = None if j < fewest else np.flatnonzero(n_fields > j)
        at = first + j if having is None else first[having] + j
        ends = seps[at]
        starts = record_start if having is None else record_start[having]
        if j:
            starts = seps[at - 1] + 1
        cells = _cells(data, buf, starts, ends, quoted=len(quotes) > 0)
        if cells is None:
            return None  # a cell over the csv module's field size limit
        codes, texts = cells
        full = np.array([bool(t) for t in texts], dtype=bool)[codes]
        if having is None:
            filled |= full
        else:
            filled[having] |= full
        fields.append((having, codes, texts))
    del seps, first, record_start

    def cell(j: int, record: int) -> str:
        having, codes, texts = fields[j]
        if having is None:
            return texts[int(codes[record])]
        position = int(np.searchsorted(having, record))
        if position < len(having) and having[position] == record:
            return texts[int(codes[position])]
        return ""

    candidates = np.flatnonzero(filled & (lines > skip_lines))
    if not len(candidates):
        return RawTable([], [], [], np.zeros(0, dtype=np.int64), **options)
    head = int(candidates[0])
    header = [cell(j, head) for j in range(int(n_fields[head]))]
    while header and not header[-1]:
        header.pop()
    header_line = int(lines[head])
    if len(header) > MAX_COLUMNS:
        issues.append(_too_many_columns(header_line, len(header)))
        return None
    data_records = candidates[1:]
    if len(data_records) > MAX_ROWS:
        issues.append(_too_many_rows(int(lines[data_records[MAX_ROWS]])))
        return None
    width = len(header)
    column_codes: list[np.ndarray] = []
    column_texts: list[list[str]] = []
    for j in range(width):
        having, codes, texts = fields[j] if j < len(fields) else (
            np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32), [])
        if having is not None:
            if "" not in texts:
                texts = [*texts, ""]
            full_codes = np.full(n_records, texts.index(""), dtype=np.int32)
            full_codes[having] = codes
            codes = full_codes
        column_codes.append(codes[data_records])
        column_texts.append(texts)
    extra_cells: dict[int, list[str]] = {}
    wider = np.flatnonzero(n_fields[data_records] > width)
    if len(wider):
        has_extra = np.zeros(n_records, dtype=bool)
        for having, codes, texts in fields[width:]:
            full = np.array([bool(t) for t in texts], dtype=bool)[codes]
            if having is None:
                has_extra |= full
            else:
                has_extra[having] |= full
        for i in wider[has_extra[data_records[wider]]].tolist():
            record = int(data_records[i])
            extra_cells[i] = [cell(j, record) for j in range(width, int(n_fields[record]))]
    return RawTable(header, column_codes, column_texts, lines[data_records],
                    header_line=header_line, extra_cells=extra_cells, **options)


def _well_quoted(buf: np.ndarray, quotes: np.ndarray, sep: int) -> bool:
    """True when every quote opens a cell, closes it, or is one of a ``""`` pair inside it.

    The ``k``-th quote (0-based) of a text read this way opens a cell when ``k`` is even and
    closes it when ``k`` is odd; an even one must stand at the start of a cell (after a
    separator or line break) or right after the odd one before it (``""``), an odd one at the
    end of a cell or right before the next one. Then a separator is inside a quoted cell exactly
    when an odd number of quotes precede it.
    """
    if not len(quotes):
        return True
    n = len(buf)
    opening, closing = quotes[0::2], quotes[1::2]
    before = buf[np.maximum(opening - 1, 0)]
    ok_open = (opening == 0) | (before == sep) | (before == 10) | (before == 13)
    ok_open[1:] |= closing[:-1] == opening[1:] - 1
    after = buf[np.minimum(closing + 1, n - 1)]
    ok_close = (closing == n - 1) | (after == sep) | (after == 10) | (after == 13)
    ok_close[:-1] |= opening[1:] == closing[:-1] + 1
    return bool(ok_open.all() and ok_close.all())


def _cells(data: bytes, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, *,
           quoted: bool) -> tuple[np.ndarray, list[str]] | None:
    """Codes and distinct texts of the cells ``data[starts[i]:ends[i]]``: unquoted, stripped.

    Cells of at most 64 bytes are compared as rows of a byte matrix (zero past each cell's
    end; the text holds no NUL byte) read as 8-byte words: one word is the key itself, longer
    cells get their words combined into one 64-bit key; :func:`pandas.factorize` hashes the
    keys, and every cell is then compared word by word with the first cell of its key, so
    that cells sharing a key by a hash collision are told apart exactly (by sorting the
    rows). Longer cells are compared as byte strings one by one. ``None`` when a cell is
    longer than :data:`MAX_LINE_BYTES` (the csv module's field size limit).
    """
    m = len(starts)
    lengths = ends - starts
    if m and int(lengths.max()) > MAX_LINE_BYTES:
        return None
    codes = np.empty(m, dtype=np.int64)
    distinct: dict[bytes, int] = {}
    n = len(buf)
    narrower = -1
    rest = np.ones(m, dtype=bool)
    shortest = int(lengths.min()) if m else 0
    longest = int(lengths.max()) if m else 0
    for width in _MATRIX_WIDTHS:
        if width > n or longest <= narrower:
            break
        if shortest > narrower and longest <= width and int(starts.max()) + width <= n:
            rows = None  # every cell: no selection
            at, size = starts, lengths
        else:
            rows = np.flatnonzero((lengths > narrower) & (lengths <= width)
                                  & (starts + width <= n))
            at, size = starts[rows], lengths[rows]
        narrower = width
        if not len(at):
            continue
        if rows is None:
            rest[:] = False
        else:
            rest[rows] = False
        words = np.lib.stride_tricks.sliding_window_view(buf, width)[at].view(np.uint64)
        words &= _tail_masks(width)[size]
        key = words[:, 0].copy()
        for c in range(1, words.shape[1]):
            key *= _HASH_MULTIPLIER
            key ^= words[:, c]
        local, _ = pd.factorize(key)
        firsts = np.empty(int(local.max()) + 1, dtype=np.int64)
        firsts[local[::-1]] = np.arange(len(local))[::-1]
        if words.shape[1] > 1 and not (words == words[firsts][local]).all():
            _, firsts, local = np.unique(words.view(f"V{width}")[:, 0], return_index=True,
                                         return_inverse=True)
        table = np.empty(len(firsts), dtype=np.int64)
        for u, (i, size_u) in enumerate(zip(at[firsts].tolist(), size[firsts].tolist(),
                                            strict=True)):
            table[u] = distinct.setdefault(data[i: i + size_u], len(distinct))
        if rows is None:
            codes = table[local]
        else:
            codes[rows] = table[local]
    for i in np.flatnonzero(rest).tolist():
        codes[i] = distinct.setdefault(data[int(starts[i]): int(ends[i])], len(distinct))
    clean: dict[str, int] = {}
    remap = np.empty(max(len(distinct), 1), dtype=np.int32)
    for raw, code in distinct.items():
        text = raw.decode("utf-8", "surrogatepass")
        if quoted and text.startswith('"'):
            text = text[1:-1].replace('""', '"')
        remap[code] = clean.setdefault(text.strip(_SPACE), len(clean))
    return remap[codes], list(clean)


@functools.cache
def _tail_masks(width: int) -> np.ndarray:
    """Row ``k``: the 8-byte words of a ``width``-byte row that keep its first ``k`` bytes."""
    keep = np.arange(width)[None, :] < np.arange(width + 1)[:, None]
    out: np.ndarray = np.where(keep, 0xFF, 0).astype(np.uint8).view(np.uint64)
    return out


def _too_many_columns(line: int, n_columns: int) -> Issue:
    return _error(
        "too_many_columns",
        f"The header on line {line} has {n_columns:,} columns; the "
        f"limit is {MAX_COLUMNS:,}. Check the delimiter, or split the file.",
        line=line,
    )


def _too_many_rows(line: int) -> Issue:
    return _error(
        "too_many_rows",
        f"The file has more than {MAX_ROWS:,} data rows (limit reached on line "
        f"{line}). Split it into several uploads.",
        line=line,
    )


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
            header: list[str] = []
            header_line = 1
            rows: list[list[str]] = []
            lines: list[int] = []
            issues: list[Issue] = []
            n_columns = 0
            for row_number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                cells = [_xlsx_cell_text(v) for v in values]
                while cells and not cells[-1]:
                    cells.pop()
                if not any(cells):
                    continue
                if not header:
                    if len(cells) > MAX_COLUMNS:
                        return None, [
                            _error(
                                "too_many_columns",
                                f"The header on row {row_number} has {len(cells):,} columns; the "
                                f"limit is {MAX_COLUMNS:,}.",
                                line=row_number,
                            )
                        ]
                    header = cells
                    header_line = row_number
                    n_columns = len(cells)
                    continue
                if len(rows) >= MAX_ROWS:
                    return None, [
                        _error(
                            "too_many_rows",
                            f"The sheet has more than {MAX_ROWS:,} data rows. Split it into "
                            "several uploads.",
                            line=row_number,
                        )
                    ]
                cells.extend([""] * (n_columns - len(cells)))
                rows.append(cells)
                lines.append(row_number)
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
    if not header:
        return None, [_error("empty_file", "The first sheet of the workbook is empty.")]
    return RawTable.from_rows(header, rows, lines, header_line=header_line, delimiter=None,
                              decimal_comma=True, encoding="xlsx", format="xlsx"), issues
