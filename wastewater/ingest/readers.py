"""Turn uploaded bytes into a table of text cells with physical line numbers.

This is the only module that looks at raw bytes. It decides the encoding (UTF-8 with or
without BOM, UTF-16 with BOM, else Windows-1252 with a warning), rejects binary content,
reads ``.xlsx`` workbooks (first sheet), sniffs the CSV delimiter (comma, semicolon, tab;
an Excel ``sep=;`` first line is honoured) and decides whether decimal commas are allowed
(semicolon- or tab-separated files and workbooks: yes; comma-separated files: no, since
the comma already separates columns; [ESVFilformat]_).

CSV text is tokenised once by pandas' C parser (:func:`pandas.read_csv`, ``dtype="category"``):
each column comes back as small integer codes into its distinct texts, which are all that is
stripped; records, quotes and line breaks are read as Python's :mod:`csv` module reads them
(RFC 4180 [RFC4180]_; tests/reference_reader.py is that reading, the reference of the tests).
What the parser does not report comes from numpy over the bytes: the physical line where a
record starts when a record had to be read in part, the cells of a record wider than the
header, where a quote is never closed.

Nothing here interprets cell contents; see :mod:`wastewater.ingest.validation`.

Limits (module constants, read at call time so they can be changed):
:data:`MAX_COLUMNS`, :data:`MAX_LINE_BYTES`, :data:`MAX_ROWS`.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import re
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from wastewater.ingest.report import Issue

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

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
#: Bytes of a file that holds no text (spaces, line breaks, BOM bytes).
_BLANK_BYTES = _SPACE.encode() + b"\xef\xbb\xbf\xa0"


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


def read_table(data: bytes, filename: str | None = None) -> tuple[RawTable | None, list[Issue]]:
    """Read an upload into a :class:`RawTable`.

    Parameters
    ----------
    data : bytes
        The uploaded file.
    filename : str, optional
        Original file name; ``.xlsx`` enables the workbook reader.

    Returns
    -------
    table : RawTable or None
        ``None`` when the file cannot be read at all (the issues say why).
    issues : list of Issue
        File-level problems (encoding warning, binary content, limits, empty file, broken CSV
        structure).
    """
    prepared = _checked_text(data, filename)
    if not isinstance(prepared, _Text):
        return prepared
    issues = prepared.issues
    table = _read_csv(prepared.body, prepared.delimiter, prepared.skip_lines, issues,
                      prepared.options)
    if table is None or any(i.severity == "error" for i in issues):
        return None, issues
    return table, issues


class _Text(NamedTuple):
    """A CSV upload that passed the file-level checks, ready to be tokenised."""

    #: The text as UTF-8 without a BOM (the upload itself when it is UTF-8).
    body: bytes
    delimiter: str
    #: Physical lines before the header that are skipped (blank lines, a ``sep=`` line).
    skip_lines: int
    #: Issues so far (an encoding warning).
    issues: list[Issue]
    #: :class:`RawTable` keywords: delimiter, decimal_comma, encoding, format.
    options: dict[str, Any]


def _checked_text(data: bytes, filename: str | None) -> _Text | tuple[RawTable | None, list[Issue]]:
    """The file-level checks of :func:`read_table`: the text to tokenise, or the final answer
    (a workbook's table, or ``None`` and the issue for an empty, binary or unreadable file).
    """
    if not data or not (data[:_SNIFF_CHARS].strip(_BLANK_BYTES) or data.strip(_BLANK_BYTES)):
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
    text: str | bytes
    if data.isascii():  # UTF-8 already: no decoded copy of the whole text is needed
        text, encoding = data, "utf-8"
    else:
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
    return _Text(_utf8_body(data, text, encoding), delimiter, skip_lines, issues, options)


def _utf8_body(data: bytes, text: str | bytes, encoding: str) -> bytes:
    """The text as UTF-8 bytes without a BOM (the upload itself when it is UTF-8)."""
    if encoding == "utf-8":
        return data
    if encoding == "utf-8-sig":
        return data[len(codecs.BOM_UTF8):]
    assert isinstance(text, str)
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


def _sniff(text: str | bytes) -> tuple[str | None, str, int]:
    """Find the header line and the delimiter.

    ``text`` is the decoded text, or the upload itself when it is ASCII (then only the part
    that is searched is decoded).

    Returns
    -------
    header_text : str or None
        The first non-blank line after an optional ``sep=`` line (None: only blank lines).
    delimiter : str
    skip_lines : int
        Physical lines before the header to skip (blank lines and a ``sep=`` line).
    """
    if len(text) > _SNIFF_CHARS:
        # the header is almost always near the top: look there first, without copying the
        # whole text; the answer holds if the header line ended inside the prefix
        found, end = _sniff_lines(_as_text(text[:_SNIFF_CHARS]))
        if found[0] is not None and end < _SNIFF_CHARS:
            return found
    return _sniff_lines(_as_text(text))[0]


def _as_text(text: str | bytes) -> str:
    return text if isinstance(text, str) else text.decode("ascii")


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


# --------------------------------------------------------------------------- CSV text
#
# One reader: pandas' C parser tokenises the whole text once (``dtype="category"``: per column
# the code of each record's cell into the column's distinct texts, no Python string per cell).
# It reads records, quotes and line breaks as Python's csv module does (not strict: a quote
# inside an unquoted cell is a character, text after a closing quote is kept). A record's
# physical line is one plus the line breaks before it, those inside quoted cells too (counted
# in the distinct texts). Only when a record is wider than the header, or a quote is never
# closed, does numpy find the records in the bytes (:func:`_scan`): the parser then reads the
# header's columns of every record, and the wide records are read one cell per row.

#: Bytes that may stand in for a character the C parser cannot take as it is (a delimiter
#: that is not one ASCII byte, a NUL character) or separate cells when records are read one
#: cell per row: control characters other than tab and line breaks, when the text has none.
_STAND_INS = bytes([*range(1, 9), 11, 12, *range(14, 32), 127])
#: Bytes searched for the header record before more are (doubled each time).
_HEAD_BYTES = 1 << 16
#: Bytes compared at a time when positions of bytes are collected (bounds the temporary masks).
_BLOCK_BYTES = 1 << 24
#: The parser's errors that :func:`_read_csv` answers: a record wider than the parsed columns,
#: the text ending inside a quoted cell.
_RECORD_ERRORS = re.compile(r"Expected \d+ fields in line \d+, saw \d+|EOF inside string")
_QUOTE = 34
_LF = 10
_CR = 13


class _Unreadable(Exception):
    """The text cannot be read; ``args[0]`` is the issue that says why."""


class _Layout(NamedTuple):
    """Where the records of a text are (from :func:`_scan`)."""

    #: Byte offset where each record starts.
    starts: np.ndarray
    #: Byte offset where each record's cells end (its line break, or the end of the text).
    ends: np.ndarray
    #: Physical line (1-based) where each record starts.
    lines: np.ndarray
    #: Number of cells of each record (None when not counted).
    fields: np.ndarray | None
    #: Physical lines of the text.
    n_lines: int
    #: True when the text ends inside a quoted cell (a quote never closed).
    open_end: bool


class _Head(NamedTuple):
    """The header record, found in the first bytes (:func:`_head`)."""

    #: Record index of the header.
    record: int
    #: Its physical line.
    line: int
    #: Header cells, stripped, trailing empty cells dropped.
    cells: list[str]
    #: Most cells of any record up to the header: the columns the parser reads.
    width: int


def _read_csv(body: bytes, delimiter: str, skip_lines: int, issues: list[Issue],
              options: dict[str, Any]) -> RawTable | None:
    """Tokenise UTF-8 CSV text into a :class:`RawTable`; ``None`` after an error issue.

    Records end at ``\\r\\n``, ``\\r`` or ``\\n`` outside quotes; the header is the first
    record after ``skip_lines`` physical lines whose cells are not all blank; later blank
    records are skipped; cells are stripped. The issues for a broken structure are those of
    Python's csv module reading the same text (tests/reference_reader.py): a cell longer than
    its field size limit, ``MAX_LINE_BYTES + 1`` characters (only a quoted cell over many
    lines can be: the line where its record starts); a last data record that starts before
    the last line, from where an odd number of quotes follow (a quote never closed).
    """
    try:
        return _tokenise(body, delimiter, skip_lines, options)
    except _Unreadable as exc:
        issues.append(exc.args[0])
        return None


def _tokenise(body: bytes, delimiter: str, skip_lines: int, options: dict[str, Any]
              ) -> RawTable:
    """:func:`_read_csv`; raises :class:`_Unreadable` for an error."""
    sep = delimiter.encode("utf-8", "surrogatepass")
    restore: dict[str, str] = {}
    if len(sep) != 1 or sep in b'"\r\n':  # the parser takes a one-byte delimiter
        (stand_in,) = _stand_ins(body, 1)
        body = body.replace(sep, stand_in)
        restore[stand_in.decode()] = delimiter
        sep = stand_in
    if options["encoding"] == "utf-16" and b"\x00" in body:  # the parser ends a cell at a NUL
        (stand_in,) = _stand_ins(body, 1, also_absent=sep)
        body = body.replace(b"\x00", stand_in)
        restore[stand_in.decode()] = "\x00"
    buf = np.frombuffer(body, dtype=np.uint8)
    quoted = b'"' in body
    long_cells = quoted and len(body) > _field_limit()  # a cell over the limit spans lines

    head = _head(body, buf, sep, skip_lines, restore, long_cells)
    if head is None:  # no record with a non-blank cell after the skipped lines
        return RawTable([], [], [], np.zeros(0, dtype=np.int64), **options)
    if len(head.cells) > MAX_COLUMNS:
        raise _Unreadable(_too_many_columns(head.line, len(head.cells)))

    layout: _Layout | None = None
    marker = _marker(body)
    try:
        frame = _read_columns(body, sep, head.width, marker, every_record=False)
    except pd.errors.ParserError as exc:
        if not _RECORD_ERRORS.search(str(exc)):
            raise
        # a record wider than the header, or an unclosed quote: where the records are comes
        # from the bytes, and the parser reads the first head.width cells of every record
        layout = _scan(body, buf, sep, count_fields=True)
        frame = _read_columns(body, sep, head.width, marker, every_record=True,
                              close_quote=layout.open_end)
    n_records = len(frame) - 1
    if layout is not None and len(layout.starts) != n_records:
        raise RuntimeError(f"the CSV parser read {n_records} records, the byte scan found "
                           f"{len(layout.starts)}")
    raw_codes: list[np.ndarray] = []
    raw_texts: list[list[str]] = []
    for j in range(head.width):
        column = frame[j].array
        codes, texts = np.asarray(column.codes), column.categories.tolist()
        if codes[0] == len(texts) - 1:  # the marker record's text sorts last: drop it
            texts.pop()
        else:  # (the text holds characters as high as the marker)
            keep = np.ones(len(texts), dtype=bool)
            keep[codes[0]] = False
            codes = (np.cumsum(keep) - 1).astype(np.int32)[codes]
            texts = [t for t, k in zip(texts, keep.tolist(), strict=True) if k]
        raw_codes.append(codes[1:])
        raw_texts.append([_restored(t, restore) for t in texts] if restore else texts)
    del frame

    if layout is not None:
        lines, n_lines = layout.lines, layout.n_lines
    elif not quoted:
        lines, n_lines = np.arange(1, n_records + 1, dtype=np.int64), n_records
    else:  # a record covers one more line for each line break inside its quoted cells
        spans = np.ones(n_records, dtype=np.int64)
        for codes, texts in zip(raw_codes, raw_texts, strict=True):
            breaks = _line_breaks(texts)
            if breaks is not None:
                spans += breaks[codes]
        lines = np.ones(n_records, dtype=np.int64)
        np.cumsum(spans[:-1], out=lines[1:])
        lines[1:] += 1
        n_lines = int(lines[-1] + spans[-1] - 1)

    # the records wider than the parsed columns: all their cells, read one cell per row
    wide: dict[int, list[str]] = {}
    if layout is not None and layout.fields is not None:
        wide_records = np.flatnonzero(layout.fields > head.width)
        if len(wide_records):
            cells = _record_cells(body, layout.starts[wide_records], layout.ends[wide_records],
                                  sep, close_last=layout.open_end
                                  and int(wide_records[-1]) == n_records - 1)
            for r, row in zip(wide_records.tolist(), cells, strict=True):
                wide[r] = [_restored(c, restore) for c in row] if restore else row
    too_long = _first_long_cell(raw_codes, raw_texts, wide, lines) if long_cells else None

    # stripped distinct texts per column, and which of them is blank
    codes_of: list[np.ndarray] = []
    texts_of: list[list[str]] = []
    blank_of: list[np.ndarray] = []
    for codes, texts in zip(raw_codes, raw_texts, strict=True):
        stripped = [t.strip(_SPACE) for t in texts]
        blank = np.zeros(max(len(texts), 1), dtype=bool)
        if stripped == texts:  # nothing to strip: each text keeps its code
            codes_of.append(codes.astype(np.int32, copy=False))
            texts_of.append(texts)
            if "" in texts:
                blank[texts.index("")] = True
        else:
            clean: dict[str, int] = {}
            remap = np.fromiter((clean.setdefault(t, len(clean)) for t in stripped),
                                dtype=np.int32, count=len(stripped))
            codes_of.append(remap[codes])
            texts_of.append(list(clean))
            if "" in clean:
                blank[clean[""]] = True
        blank_of.append(blank)
    del raw_codes, raw_texts

    width = len(head.cells)
    if [texts_of[j][int(codes_of[j][head.record])] for j in range(width)] != head.cells:
        raise RuntimeError("the CSV parser and the byte scan disagree on the header record")

    # data records: those after the header with a non-blank cell
    first = head.record + 1
    data: np.ndarray | slice = slice(first, n_records)
    data_records = np.arange(first, n_records)
    if all(blank.any() for blank in blank_of):  # else no record is blank
        blank_rows = np.ones(n_records, dtype=bool)
        for codes, blank in zip(codes_of, blank_of, strict=True):
            blank_rows &= blank[codes]
        for r, row in wide.items():
            blank_rows[r] = not any(c.strip(_SPACE) for c in row)
        if blank_rows[first:].any():
            data = data_records = first + np.flatnonzero(~blank_rows[first:])
        del blank_rows

    too_many = int(data_records[MAX_ROWS]) if len(data_records) > MAX_ROWS else None
    if too_long is not None and (too_many is None or too_long[0] <= too_many):
        raise _Unreadable(too_long[1])  # the csv module stops at the first of the two
    if too_many is not None:
        raise _Unreadable(_too_many_rows(int(lines[too_many])))

    # rows with a non-empty cell beyond the header keep their extra cells aside
    extra_cells: dict[int, list[str]] = {}
    extra = np.zeros(n_records, dtype=bool)
    for codes, blank in zip(codes_of[width:], blank_of[width:], strict=True):
        extra |= ~blank[codes]
    for r in wide:
        extra[r] = True
    extra[:first] = False
    if extra.any():
        if layout is None or layout.fields is None:
            layout = _scan(body, buf, sep, count_fields=True)
        assert layout.fields is not None
        for r in np.flatnonzero(extra).tolist():
            if r in wide:
                beyond = [c.strip(_SPACE) for c in wide[r][width:]]
            else:
                beyond = [texts_of[j][int(codes_of[j][r])]
                          for j in range(width, int(layout.fields[r]))]
            if any(beyond):
                extra_cells[int(np.searchsorted(data_records, r))] = beyond

    # the csv module's check for a quote never closed: the last data row starts before the
    # last line, and an odd number of quotes follows its start
    if len(data_records) and quoted:
        start_line = int(lines[data_records[-1]])
        if (n_lines > start_line
                and body.count(b'"', _line_start(buf, start_line, n_lines)) % 2):
            line = start_line
            raise _Unreadable(
                _error(
                    "malformed_csv",
                    f'Line {line}: a quote (") opened on this line is never closed, so the rest '
                    "of the file was read as one cell. Close the quote or remove it.",
                    line=line,
                )
            )

    return RawTable(head.cells, [codes_of[j][data] for j in range(width)], texts_of[:width],
                    lines[data], header_line=head.line, extra_cells=extra_cells,
                    **options)


def _read_columns(body: bytes, sep: bytes, width: int, marker: str, *, every_record: bool,
                  close_quote: bool = False) -> pd.DataFrame:
    """The C parser's reading of the text: ``width`` columns of categories, one row per record
    (blank lines too) after a first row of ``marker`` cells. Unless ``every_record``, a record
    with more cells is an error; with it, its first ``width`` cells are read. ``close_quote``
    closes the quoted cell the text ends in.

    The marker row (a text the upload does not hold, sorting after all its texts) keeps pandas
    from reading a column's categories as numbers or booleans (``"1"``, ``"1.0"`` and ``"01"``
    would become one category ``1.0``), and a BOM at the start of the text from being dropped.
    """
    first_row = sep.decode().join([marker] * width).encode() + b"\n"
    return pd.read_csv(
        _Chain(first_row, body, b'"' if close_quote else b""), sep=sep.decode(), header=None,
        names=range(width), usecols=range(width) if every_record else None, index_col=False,
        dtype="category", keep_default_na=False, na_filter=False, skip_blank_lines=False,
        quotechar='"', doublequote=True, escapechar=None, comment=None, skipinitialspace=False,
        encoding="utf-8", engine="c", on_bad_lines="error")


def _marker(body: bytes) -> str:
    """A cell text the upload does not hold, as high a character as there is."""
    if b"\xf4" not in body:  # no character from U+100000 on
        return "\U0010ffff"
    for code in range(0x10FFFF, 0x10F000, -1):
        if chr(code).encode() not in body:
            return chr(code)
    raise _Unreadable(_error("binary_file", "The file holds private-use characters of every "
                             "kind; it is not a CSV text file."))


class _Chain(io.RawIOBase):
    """A binary stream reading byte strings one after the other (no joined copy)."""

    def __init__(self, *parts: bytes) -> None:
        super().__init__()
        self._parts = [memoryview(p) for p in parts if p]
        self._at = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        while self._parts:
            part = self._parts[0]
            if self._at < len(part):
                view = memoryview(buffer).cast("B")
                n = min(len(view), len(part) - self._at)
                view[:n] = part[self._at: self._at + n]
                self._at += n
                return n
            self._parts.pop(0)
            self._at = 0
        return 0


def _head(body: bytes, buf: np.ndarray, sep: bytes, skip_lines: int, restore: dict[str, str],
          long_cells: bool) -> _Head | None:
    """Find the header record in the first bytes (more of them until it is complete).

    The records up to the header are read one cell per row (:func:`_record_cells`), so their
    widths are exact: the parser then reads as many columns as the widest of them has.
    ``None`` when no record after ``skip_lines`` physical lines has a non-blank cell. Raises
    :class:`_Unreadable` for a cell over the field limit up to the header (``long_cells``: the
    text may hold one).
    """
    size = _HEAD_BYTES
    while True:
        whole = size >= len(buf)
        layout = _scan(body if whole else body[:size], buf[:size], sep, count_fields=False)
        complete = len(layout.starts) if whole else int(np.count_nonzero(layout.ends < size))
        after = np.flatnonzero(layout.lines[:complete] > skip_lines)
        if len(after) or whole:
            cells = _record_cells(body, layout.starts[:complete], layout.ends[:complete], sep,
                                  close_last=whole and layout.open_end)
            if restore:
                cells = [[_restored(c, restore) for c in row] for row in cells]
            header = next((r for r in after.tolist() if any(c.strip(_SPACE) for c in cells[r])),
                          None)
            if header is not None or whole:
                for r in range(complete if header is None else header + 1):
                    if long_cells and any(len(c) > _field_limit() for c in cells[r]):
                        raise _Unreadable(_cell_too_long(int(layout.lines[r])))
                if header is None:
                    return None
                stripped = [c.strip(_SPACE) for c in cells[header]]
                while not stripped[-1]:
                    stripped.pop()
                return _Head(header, int(layout.lines[header]), stripped,
                             max(len(row) for row in cells[: header + 1]))
        size *= 2


def _scan(body: bytes, buf: np.ndarray, sep: bytes, *, count_fields: bool) -> _Layout:
    """Where the records of the text are: numpy over its bytes, the csv module's rules.

    A quote opens a quoted cell only at the start of a cell (after a delimiter or a line
    break); inside one, ``""`` is a quote and a single quote closes it (what follows, up to the
    next delimiter, is read as it stands, quotes included). So in each run of consecutive
    quotes, the state after it follows from the state before it: a run of odd length at the
    start of a cell toggles it (outside → inside, inside → outside), one of odd length elsewhere
    leaves it outside, one of even length keeps it; a line break or delimiter is inside a quoted
    cell when the state after the last run before it is inside. Records end at the line breaks
    outside quoted cells (``\\r\\n`` is one break).
    """
    n = len(buf)
    runs, inside = _quote_runs(body, buf, sep[0])
    breaks = _positions(body, buf, (_LF, _CR))
    crlf_tail = (buf[breaks] == _LF) & (breaks > 0) & (buf[np.maximum(breaks - 1, 0)] == _CR)
    breaks = breaks[~crlf_tail]
    after = breaks + 1  # where the line after each break starts
    is_crlf = (buf[breaks] == _CR) & (after < n)
    is_crlf[is_crlf] = buf[after[is_crlf]] == _LF
    after += is_crlf
    line_starts = after[after < n]
    ending = ~_inside(runs, inside, breaks)  # breaks that end a record
    starts = np.concatenate((np.zeros(1, dtype=np.int64), after[ending]))
    ends = np.concatenate((breaks[ending], np.array([n], dtype=np.int64)))
    if starts[-1] >= n:  # nothing after the last line break
        starts, ends = starts[:-1], ends[:-1]
    lines = 1 + np.searchsorted(line_starts, starts, side="right")
    fields = None
    if count_fields:
        fields = np.ones(len(starts), dtype=np.int64)
        for delimiters in _blocks_of_positions(body, buf, sep[0]):
            delimiters = delimiters[~_inside(runs, inside, delimiters)]
            fields += np.bincount(np.searchsorted(starts, delimiters, side="right") - 1,
                                  minlength=len(starts))
    return _Layout(starts, ends, lines, fields, len(line_starts) + 1,
                   bool(len(inside) and inside[-1]))


def _quote_runs(body: bytes, buf: np.ndarray, sep: int) -> tuple[np.ndarray, np.ndarray]:
    """Start of each run of consecutive quotes, and whether a quoted cell is open after it
    (see :func:`_scan`).
    """
    quotes = _positions(body, buf, (_QUOTE,))
    if not len(quotes):
        return quotes, np.zeros(0, dtype=bool)
    first = np.flatnonzero(np.diff(quotes, prepend=-2) != 1)
    runs = quotes[first]
    odd = np.diff(first, append=len(quotes)) % 2 == 1
    before = buf[np.maximum(runs - 1, 0)]
    at_cell_start = (runs == 0) | (before == sep) | (before == _LF) | (before == _CR)
    toggles = np.cumsum(at_cell_start & odd)
    last_reset = np.where(~at_cell_start & odd, np.arange(len(runs)), -1)
    np.maximum.accumulate(last_reset, out=last_reset)
    base = np.where(last_reset >= 0, toggles[np.maximum(last_reset, 0)], 0)
    return runs, (toggles - base) % 2 == 1


def _inside(runs: np.ndarray, inside: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Whether each position (not a quote) lies inside a quoted cell."""
    if not len(runs):
        return np.zeros(len(positions), dtype=bool)
    before = np.searchsorted(runs, positions) - 1
    out: np.ndarray = (before >= 0) & inside[np.maximum(before, 0)]
    return out


def _blocks_of_positions(body: bytes, buf: np.ndarray, value: int) -> Iterator[np.ndarray]:
    """Offsets of the bytes equal to ``value``, a block of the text at a time."""
    if bytes([value]) not in body:
        return
    for start in range(0, len(buf), _BLOCK_BYTES):
        yield np.flatnonzero(buf[start: start + _BLOCK_BYTES] == value) + start


def _positions(body: bytes, buf: np.ndarray, values: tuple[int, ...]) -> np.ndarray:
    """Sorted offsets of the bytes equal to any of ``values``."""
    found = [p for v in values for p in _blocks_of_positions(body, buf, v)]
    if not found:
        return np.zeros(0, dtype=np.int64)
    out = np.concatenate(found).astype(np.int64, copy=False)
    if len(values) > 1:
        out.sort()
    return out


def _line_start(buf: np.ndarray, line: int, n_lines: int) -> int:
    """Byte offset where physical ``line`` (of ``n_lines``) starts, searched from the end of the
    text (the lines asked for are near it).
    """
    if line == 1:
        return 0
    n = len(buf)
    size = 1 << 16
    while True:
        low = max(n - size, 0)
        tail = buf[low:]
        breaks = np.flatnonzero((tail == _LF) | (tail == _CR)) + low
        ends_line = (buf[breaks] == _LF) | (buf[np.minimum(breaks + 1, n - 1)] != _LF)
        starts = breaks[ends_line] + 1
        starts = starts[starts < n]  # the last len(starts) of the n_lines - 1 line starts
        index = line - 1 - (n_lines - len(starts))
        if index >= 0:
            return int(starts[index])
        if low == 0:
            raise RuntimeError(f"the text has {len(starts) + 1} lines, not {n_lines}")
        size *= 4

def _record_cells(body: bytes, starts: np.ndarray, ends: np.ndarray, sep: bytes, *,
                  close_last: bool) -> list[list[str]]:
    """The cells (as the parser reads them, not stripped) of the records ``body[start:end]``.

    The records are read by the C parser with their delimiter as its line terminator, so each
    cell is one row: however wide a record is, it is one column. A control byte the text does
    not hold marks where each record begins. ``close_last`` closes the quote the last record
    leaves open (as the csv module reads a text that ends inside a quoted cell).
    """
    if not len(starts):
        return []
    texts = [body[start:end] for start, end in zip(starts.tolist(), ends.tolist(), strict=True)]
    cell_sep, mark = _stand_ins(b"".join(texts), 2, also_absent=sep)
    parts: list[bytes] = []
    for text in texts:
        parts += (mark, sep, text, sep)
    if close_last:
        parts[-1] = b'"' + sep
    column = pd.read_csv(
        io.BytesIO(b"".join(parts)), sep=cell_sep.decode(), lineterminator=sep.decode(),
        header=None, names=[0], index_col=False, dtype=object, keep_default_na=False,
        na_filter=False, skip_blank_lines=False, quotechar='"', doublequote=True,
        escapechar=None, comment=None, skipinitialspace=False, encoding="utf-8",
        engine="c")[0].tolist()
    marker = mark.decode()
    records: list[list[str]] = []
    for cell in column:
        if cell == marker:
            records.append([])
        else:
            records[-1].append(cell)
    return records


def _stand_ins(body: bytes, count: int, also_absent: bytes = b"") -> list[bytes]:
    """``count`` bytes of :data:`_STAND_INS` that the text does not hold."""
    found: list[bytes] = []
    for value in _STAND_INS:
        byte = bytes([value])
        if byte not in body and byte != also_absent:
            found.append(byte)
            if len(found) == count:
                return found
    raise _Unreadable(
        _error(
            "binary_file",
            "The file holds control characters of every kind; it is not a CSV text file. Save "
            "it from your spreadsheet as 'CSV UTF-8' and upload that.",
        )
    )


def _restored(text: str, restore: dict[str, str]) -> str:
    """A cell text with the characters its stand-ins replaced put back."""
    for stand_in, original in restore.items():
        text = text.replace(stand_in, original)
    return text


def _breaks_in(text: str) -> int:
    """Line breaks in a text (``\\r\\n`` is one)."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _line_breaks(texts: list[str]) -> np.ndarray | None:
    """Line breaks in each text; ``None`` when none holds one."""
    if not any("\n" in t or "\r" in t for t in texts):
        return None
    return np.fromiter(map(_breaks_in, texts), dtype=np.int64, count=len(texts))


def _field_limit() -> int:
    """Most characters in a cell (the csv module's field size limit, as the reader set it)."""
    return MAX_LINE_BYTES + 1


def _cell_too_long(line: int) -> Issue:
    """The error for a record (starting on ``line``) with a cell over :func:`_field_limit`."""
    return _error(
        "malformed_csv",
        f"Line {line}: a cell of the record that starts on this line is longer than "
        f"{_field_limit():,} characters; most likely a quote (\") opened there is never closed. "
        "Close the quote or remove it.",
        line=line,
    )


def _first_long_cell(codes_of: list[np.ndarray], texts_of: list[list[str]],
                     wide: dict[int, list[str]], lines: np.ndarray) -> tuple[int, Issue] | None:
    """The first record with a cell over :func:`_field_limit` and its error, or ``None``
    (``lines``: where each record starts).
    """
    limit = _field_limit()
    first: int | None = None
    for codes, texts in zip(codes_of, texts_of, strict=True):
        long = [k for k, t in enumerate(texts) if len(t) > limit]
        if long:
            record = int(np.flatnonzero(np.isin(codes, long))[0])
            first = record if first is None else min(first, record)
    for record, row in wide.items():
        if any(len(c) > limit for c in row):
            first = record if first is None else min(first, record)
    if first is None:
        return None
    return first, _cell_too_long(int(lines[first]))


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
