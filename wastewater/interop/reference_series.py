"""National reference series: already population-normalised loads published per month or week.

A second country's national programme publishes monthly loads per city with their interval and
a quality flag, not per-sample concentrations. Such series are not results (the results store
holds concentrations per sample), so they are kept as *reference series* beside the EUDA
reference data and compared with our sites' loads. The first supported format is Statistics
Canada's Table 13-10-0871-01 [StatCan2024]_: ``REF_DATE`` (YYYY-MM), ``GEO`` (city or
"Weighted average, cities measured"), ``Measure`` (drug, metabolite in brackets),
``Characteristics`` (load per capita; low and high 95 % interval; standard error; imputation
rate [%]), ``VALUE`` [mg day⁻¹ (1000 people)⁻¹] and ``STATUS`` (``E`` = use with caution).

Pure parsing here; storage in :mod:`wastewater.interop.store`.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import re
import unicodedata
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

Source = bytes | str | PathLike[str]
FORMATS = ("statcan-13100871",)
"""Supported national table formats."""

SERIES_COLUMNS = ["source", "series_id", "analyte", "period", "country", "name", "frequency",
                  "period_start", "period_end", "value_mg_per_day_per_1000",
                  "lo95_mg_per_day_per_1000", "hi95_mg_per_day_per_1000",
                  "se_mg_per_day_per_1000", "imputation_rate_percent", "status"]
"""Columns of a reference-series frame (one row per series × analyte × period)."""

STATCAN_MEASURES = {
    "amphetamine": "amphetamine", "cannabis (thc-cooh)": "thc-cooh",
    "cocaine (benzoylecgonine)": "benzoylecgonine", "codeine": "codeine",
    "ecstasy (mdma)": "mdma", "fentanyl (norfentanyl)": "norfentanyl", "methadone": "methadone",
    "methamphetamine": "methamphetamine", "morphine": "morphine", "oxycodone": "oxycodone",
}
"""StatCan ``Measure`` (lower case) → canonical analyte id (the residue measured)."""

_CHARACTERISTICS = {
    "load per capita": "value_mg_per_day_per_1000",
    "low 95% confidence interval": "lo95_mg_per_day_per_1000",
    "high 95% confidence interval": "hi95_mg_per_day_per_1000",
    "standard error": "se_mg_per_day_per_1000",
    "imputation rate": "imputation_rate_percent",
}
_REQUIRED = ("REF_DATE", "GEO", "Measure", "Characteristics", "VALUE", "STATUS")
_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


def _text(data: Source) -> str:
    if isinstance(data, (bytes, bytearray)):
        raw = bytes(data)
    elif isinstance(data, str) and "\n" in data:
        return data.lstrip("\ufeff")
    else:
        raw = Path(data).read_bytes()
    return raw.decode("utf-8-sig")


def _fail(line: int, column: str, sv: str, en: str) -> ValueError:
    return ValueError(f"rad {line}, kolumn {column}: {sv} / line {line}, column {column}: {en}")


def series_slug(name: str) -> str:
    """``"Vancouver, British Columbia"`` → ``"vancouver-british-columbia"`` (ASCII)."""
    t = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", t.lower()).strip("-")


def parse_statcan_13100871(data: Source, *, source: str = "StatCan-13100871") -> pd.DataFrame:
    """
    Statistics Canada Table 13-10-0871-01 as a reference-series frame.

    Parameters
    ----------
    data : bytes, str or path
        The table's CSV (``13100871.csv`` as downloaded).
    source : str
        Label stored with the rows.

    Returns
    -------
    pd.DataFrame
        :data:`SERIES_COLUMNS`, one row per GEO × drug × month: ``value`` and its 95 % interval
        and standard error [mg day⁻¹ (1000 people)⁻¹], ``imputation_rate_percent``, ``status``
        of the load value (``E`` = use with caution, else None), ``frequency = "monthly"``,
        ``period_start``/``period_end`` the first and last day of the month, ``country = CA``.

    Raises
    ------
    ValueError
        A missing column, an unknown drug or characteristic, a bad month or number, or a value
        given twice; the message names line and column, in Swedish and English.
    """
    rows = list(csv.DictReader(io.StringIO(_text(data))))
    if not rows:
        raise ValueError("filen är tom / the file is empty")
    missing = [c for c in _REQUIRED if c not in rows[0]]
    if missing:
        raise _fail(1, ",".join(missing), "kolumnen saknas; är det StatCan-tabell 13-10-0871-01?",
                    "column missing; is this StatCan table 13-10-0871-01?")
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for line, row in enumerate(rows, start=2):
        period = row["REF_DATE"].strip()
        m = _PERIOD.match(period)
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise _fail(line, "REF_DATE", f"{period!r} är ingen månad; skriv ÅÅÅÅ-MM",
                        f"{period!r} is not a month; write YYYY-MM")
        measure = row["Measure"].strip()
        analyte = STATCAN_MEASURES.get(measure.lower())
        if analyte is None:
            raise _fail(line, "Measure", f"okänd drog {measure!r}; kända: {sorted(STATCAN_MEASURES)}",
                        f"unknown drug {measure!r}; known: {sorted(STATCAN_MEASURES)}")
        char = row["Characteristics"].strip().lower()
        field = next((f for k, f in _CHARACTERISTICS.items() if char.startswith(k)), None)
        if field is None:
            raise _fail(line, "Characteristics", f"okänd egenskap {row['Characteristics']!r}",
                        f"unknown characteristic {row['Characteristics']!r}")
        raw = row["VALUE"].strip()
        try:
            value = float(raw) if raw else None
        except ValueError:
            raise _fail(line, "VALUE", f"{raw!r} är inget tal", f"{raw!r} is not a number") from None
        geo = row["GEO"].strip()
        key = (series_slug(geo), analyte, period)
        rec = out.setdefault(key, {"name": geo, "status": None})
        if field in rec:
            raise _fail(line, "Characteristics", f"{row['Characteristics']!r} för {geo}, "
                        f"{measure}, {period} finns två gånger",
                        f"{row['Characteristics']!r} for {geo}, {measure}, {period} appears twice")
        rec[field] = value
        if field == "value_mg_per_day_per_1000":
            rec["status"] = row["STATUS"].strip() or None
    recs = []
    for (sid, analyte, period), rec in out.items():
        y, mo = int(period[:4]), int(period[5:])
        recs.append({
            "source": source, "series_id": sid, "analyte": analyte, "period": period,
            "country": "CA", "name": rec["name"], "frequency": "monthly",
            "period_start": dt.date(y, mo, 1),
            "period_end": dt.date(y, mo, calendar.monthrange(y, mo)[1]),
            **{f: rec.get(f) for f in _CHARACTERISTICS.values()}, "status": rec["status"]})
    frame = pd.DataFrame(recs, columns=SERIES_COLUMNS)
    return frame.sort_values(["series_id", "analyte", "period"], kind="stable").reset_index(
        drop=True)


def parse_reference_series(data: Source, *, format: str = "statcan-13100871",
                           source: str | None = None) -> pd.DataFrame:
    """Dispatch to the parser of ``format`` (:data:`FORMATS`)."""
    if format == "statcan-13100871":
        return parse_statcan_13100871(data, source=source or "StatCan-13100871")
    raise ValueError(f"okänt format {format!r}; kända: {list(FORMATS)} / unknown format "
                     f"{format!r}; known: {list(FORMATS)}")
