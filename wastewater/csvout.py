"""CSV responses: formula-injection safe, machine (``,`` + dot) or Swedish Excel dialect.

Swedish dialect (``?dialect=sv``): ``;`` separator, decimal comma, UTF-8 with BOM, as
Swedish public bodies publish CSV ([ESVFilformat]_).

Formula injection (OWASP "CSV Injection"): a cell beginning with ``=``, ``+``, ``-``, ``@``,
TAB or CR is run as a formula by spreadsheet programs; such *text* cells get a leading ``'``.
Numeric cells are written by the number formatter and are not touched (a negative number is
data, not a formula).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from typing import Any, Literal

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

Dialect = Literal["machine", "sv"]


def neutralise(text: str) -> str:
    """Prefix ``'`` to a text cell a spreadsheet would evaluate as a formula."""
    if text and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _cell(value: Any, dialect: Dialect) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        text = repr(value) if abs(value) >= 1e-4 or value == 0 else f"{value:.6g}"
        text = text.removesuffix(".0")
        return text.replace(".", ",") if dialect == "sv" else text
    try:
        import numpy as np

        if isinstance(value, np.bool_):
            return "true" if bool(value) else "false"
        if isinstance(value, np.integer):
            return str(int(value))
        if isinstance(value, np.floating):
            return _cell(float(value), dialect)
    except ImportError:  # pragma: no cover
        pass
    if value is pd.NaT:
        return ""
    if isinstance(value, pd.Timestamp):
        return str(value.date().isoformat() if value == value.normalize() else value.isoformat())
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    if isinstance(value, (list, tuple)):
        value = "|".join(str(v) for v in value)
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return neutralise(str(value))


def rows_to_csv(columns: list[str], rows: Iterable[Iterable[Any]], dialect: Dialect = "machine") -> bytes:
    """Encode rows as CSV bytes in ``dialect``."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";" if dialect == "sv" else ",", lineterminator="\r\n")
    w.writerow([neutralise(c) for c in columns])
    for r in rows:
        w.writerow([_cell(v, dialect) for v in r])
    text = buf.getvalue()
    return ("\ufeff" + text).encode("utf-8") if dialect == "sv" else text.encode("utf-8")


def frame_to_csv(df: pd.DataFrame, dialect: Dialect = "machine") -> bytes:
    """Encode a DataFrame (index dropped) as CSV bytes."""
    return rows_to_csv(list(map(str, df.columns)), df.itertuples(index=False, name=None), dialect)


def records_to_csv(records: list[dict[str, Any]], dialect: Dialect = "machine") -> bytes:
    """Encode records as CSV bytes; the columns are every key, in order of first appearance."""
    cols: list[str] = []
    for r in records:
        for k in r:
            if k not in cols:
                cols.append(k)
    return rows_to_csv(cols, ([r.get(c) for c in cols] for r in records), dialect)
