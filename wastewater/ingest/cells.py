"""Pure parsers for single cells: numbers, dates, censored concentrations, yes/no, lists.

Each parser takes the cell text and returns a value or raises :class:`CellError` whose
``code`` is a key of :data:`wastewater.ingest.report.ISSUE_CODES` and whose ``hint`` says
how to fix the cell. The validators (cell specs of :mod:`wastewater.ingest.columnar`) turn
these into report issues.
"""

from __future__ import annotations

import datetime as dt
import math
import re

__all__ = [
    "CellError",
    "looks_like_formula",
    "parse_boolean",
    "parse_censored",
    "parse_date",
    "parse_number",
    "parse_qualifier",
    "split_list",
]


class CellError(ValueError):
    """A cell cannot be read; ``code`` is an issue code and ``hint`` the fix."""

    def __init__(self, code: str, hint: str):
        super().__init__(hint)
        self.code = code
        self.hint = hint


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d+)?")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")


def parse_number(text: str, decimal_comma: bool) -> float:
    """Read a decimal number written by a lab or a spreadsheet.

    Parameters
    ----------
    text : str
        Cell text, e.g. ``'12.5'``, ``'12,5'`` (decimal comma), ``'34 324'`` (thousands
        separated by a space or no-break space, [Unicode2001]_), ``'1e3'``.
    decimal_comma : bool
        Whether a comma may be the decimal sign (semicolon-separated files and workbooks).

    Returns
    -------
    float
        Finite number.

    Raises
    ------
    CellError
        ``non_numeric`` if the text is not a finite number.

    Examples
    --------
    >>> parse_number("34 324", decimal_comma=True)
    34324.0
    >>> parse_number("2,5", decimal_comma=True)
    2.5
    """
    t = text.strip().replace("\u2212", "-")
    if _GROUPED.fullmatch(t):
        t = re.sub(r"[ \u00a0\u202f]", "", t)
    if "," in t:
        if not decimal_comma:
            raise CellError(
                "non_numeric",
                "use a decimal point (12.5) in a comma-separated file, or save the file "
                "semicolon-separated to use decimal commas",
            )
        if "." in t or t.count(",") > 1:
            raise CellError(
                "non_numeric", "write one decimal sign and no thousands separators, e.g. 1234,5"
            )
        t = t.replace(",", ".")
    if not _NUMBER.fullmatch(t):
        raise CellError(
            "non_numeric", "write a number such as 12.5" + (" or 12,5" if decimal_comma else "")
        )
    value = float(t)
    if not math.isfinite(value):
        raise CellError("non_numeric", "the number is too large")
    return value


MIN_YEAR = 1900
MAX_YEAR = 2200
"""Plausible years for any date in an upload (also keeps dates inside pandas' datetime64[ns]
range, 1677–2262, so an absurd year is a ``bad_date`` issue, not an internal error)."""


def parse_date(text: str) -> dt.date:
    """Read a date written ISO style.

    Accepts ``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM[:SS]`` (the time is dropped: the service
    works with the collection day, docs/architecture.md) and ``YYYYMMDD``.

    Raises
    ------
    CellError
        ``bad_date`` for any other form (``03/04/2025`` is ambiguous) or an impossible date.

    Examples
    --------
    >>> parse_date("2025-03-04 08:00")
    datetime.date(2025, 3, 4)
    """
    t = text.strip()
    match = _DATE.fullmatch(t) or _COMPACT_DATE.fullmatch(t)
    if match is None:
        raise CellError("bad_date", "write dates as YYYY-MM-DD, e.g. 2025-03-04")
    year, month, day = (int(g) for g in match.groups()[:3])
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise CellError(
            "bad_date", f"the year {year} is outside {MIN_YEAR}–{MAX_YEAR}; check the year"
        )
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise CellError(
            "bad_date", f"this is not a real date ({exc}); write dates as YYYY-MM-DD"
        ) from None


_TRUE = {"true", "yes", "y", "ja", "j", "1", "sant", "x"}
_FALSE = {"false", "no", "n", "nej", "0", "falskt", ""}


def parse_boolean(text: str) -> bool:
    """Read yes/no: true/false, ja/nej, yes/no, 1/0 (empty = false).

    Raises
    ------
    CellError
        ``bad_boolean`` otherwise.

    Examples
    --------
    >>> parse_boolean("Ja"), parse_boolean("nej")
    (True, False)
    """
    t = text.strip().casefold()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise CellError("bad_boolean", "write true or false (ja/nej, 1/0 also work)")


# Censoring ---------------------------------------------------------------------------------

_NOT_DETECTED = {
    "nd",
    "n.d.",
    "n.d",
    "n/d",
    "not detected",
    "ej detekterad",
    "ej påvisad",
    "ej påvisbar",
}
_LOQ_TAGS = {"loq", "lor", "rl", "mrl", "loq.", "kvantifieringsgräns", "rapporteringsgräns"}
_LOD_TAGS = {"lod", "dl", "mdl", "detektionsgräns"}
_NOT_DETECTED_KEYS = {re.sub(r"\s+", "", w) for w in _NOT_DETECTED}
_CENSORED_CELL = re.compile(r"(?:<|&lt;)\s*([a-zåäö.]+)?\s*[:=]?\s*(.*)", re.DOTALL | re.IGNORECASE)


#: Qualifiers meaning "detected, below the LOQ, value reported" (LOD ≤ x < LOQ): the ODM/Eawag
#: flag ``D`` (PHES-ODM: ``belowLOQ`` [PHESODM]_), "DNQ" (detected, not quantified) and plain-language forms.
_DETECTED_BELOW_LOQ = {"d", "dnq", "detectedbelowloq", "detekteradunderloq",
                       "påvisadunderloq", "detekteradejkvantifierad"}


def parse_qualifier(text: str) -> str:
    """Read a qualifier/censor column: empty, ``=``, none → ``'none'``; <LOQ, <LOD, ND; ``D``.

    ``D`` (also ``DNQ``, "detected below LOQ") means the analyte was detected below the LOQ and
    a value is reported (LOD ≤ x < LOQ); the result is stored with censor ``'D'`` and its value.

    Raises
    ------
    CellError
        ``bad_qualifier`` otherwise.

    Examples
    --------
    >>> parse_qualifier("< loq"), parse_qualifier("n.d."), parse_qualifier(""), parse_qualifier("D")
    ('<LOQ', 'ND', 'none', 'D')
    """
    key = re.sub(r"[\s_]+", "", text.strip().casefold())
    if key in ("", "=", "none", "detected", "ok"):
        return "none"
    if key in _NOT_DETECTED_KEYS:
        return "ND"
    if key in _DETECTED_BELOW_LOQ:
        return "D"
    bare = key.removeprefix("<").removeprefix("below").removeprefix("be")
    if bare in _LOQ_TAGS:
        return "<LOQ"
    if bare in _LOD_TAGS:
        return "<LOD"
    raise CellError(
        "bad_qualifier",
        "write <LOQ, <LOD or ND, D for a value detected below the LOQ, or leave the qualifier "
        "empty for a measured value",
    )


def parse_censored(text: str, decimal_comma: bool) -> tuple[str, float | None]:
    """Read a concentration cell that may be censored.

    Parameters
    ----------
    text : str
        ``'12.5'``, ``'<2.5'``, ``'< LOQ'``, ``'<LOD'``, ``'<LOQ 2.5'``, ``'ND'`` …
    decimal_comma : bool
        See :func:`parse_number`.

    Returns
    -------
    censor : str
        ``'none'`` (a measured value), ``'<LOQ'``, ``'<LOD'`` or ``'ND'``; ``'empty'`` for an
        empty cell.
    number : float or None
        The measured value (censor ``'none'``) or the limit given after ``<``
        (``'<2.5'`` → 2.5), in the cell's unit; ``None`` if no number is given.

    Raises
    ------
    CellError
        ``non_numeric`` if the cell is neither a number nor a censoring mark.

    Notes
    -----
    A bare ``<number`` is read as below the limit of *quantification*, the usual meaning
    in lab reports; [BantaGreen2016]_ recommends storing value, censor and limit per result.

    Examples
    --------
    >>> parse_censored("<2,5", decimal_comma=True)
    ('<LOQ', 2.5)
    >>> parse_censored("< LOQ", decimal_comma=False)
    ('<LOQ', None)
    """
    t = text.strip()
    if not t:
        return "empty", None
    if _NUMBER.fullmatch(t):  # a plain number: what parse_number gives, without its other forms
        value = float(t)
        if math.isfinite(value):
            return "none", value
    folded = re.sub(r"\s+", " ", t.casefold())
    if folded in _NOT_DETECTED:
        return "ND", None
    match = _CENSORED_CELL.fullmatch(t)
    if match is None:
        try:
            return "none", parse_number(t, decimal_comma)
        except CellError as exc:
            if exc.hint.startswith("write a number"):
                raise CellError(
                    "non_numeric", exc.hint + ", or <LOQ, <2.5 or ND for a censored result"
                ) from None
            raise
    tag = (match.group(1) or "").casefold()
    rest = match.group(2).strip()
    if tag in ("", *_LOQ_TAGS):
        censor = "<LOQ"
    elif tag in _LOD_TAGS:
        censor = "<LOD"
    else:
        raise CellError("non_numeric", "write a number, <LOQ, <LOD, ND or <number such as <2.5")
    if not rest:
        if not tag:
            raise CellError("non_numeric", "write the limit after '<' (e.g. <2.5) or write <LOQ")
        return censor, None
    try:
        return censor, parse_number(rest, decimal_comma)
    except CellError:
        raise CellError("non_numeric", "write the limit as a number after '<', e.g. <2.5") from None


def split_list(text: str) -> list[str]:
    """Split a list cell on ``|``, ``,`` or ``;``; drop empties; ``all``/``alla``/``*`` → [].

    Examples
    --------
    >>> split_list("SE005 | SE017;KTH")
    ['SE005', 'SE017', 'KTH']
    """
    parts = [p.strip() for p in re.split(r"[|,;]", text)]
    parts = [p for p in parts if p]
    if len(parts) == 1 and parts[0].casefold() in ("all", "alla", "*"):
        return []
    return parts


def looks_like_formula(text: str) -> bool:
    """True when a spreadsheet would run the text as a formula (starts with = + - @).

    A lone ``-`` (a common "nothing" mark) and plain numbers are not flagged.
    """
    if len(text) < 2 or text[0] not in "=+-@":
        return False
    return not _NUMBER.fullmatch(text.replace(",", "."))
