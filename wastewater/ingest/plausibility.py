"""Plausibility warnings on valid results: values above a cited per-analyte maximum, sample dates
far outside a site's history or before wastewater drug monitoring existed.

The rules run once on the finished results frame as vectorised masks (whatever the layout), and
each flagged row becomes a *warning* (the row is kept) naming its line, column and what to check,
in English and Swedish. The limits come from the parameter catalogue
(:func:`wastewater.parameters.plausible_ranges`, ``data/plausibility.csv``, cited).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from wastewater.parameters import EARLIEST_PLAUSIBLE_SAMPLE_DATE, plausible_ranges

__all__ = ["MAX_WARNINGS_PER_RULE", "SITE_HISTORY_MARGIN_DAYS", "plausibility_warnings"]

SITE_HISTORY_MARGIN_DAYS = 365
"""A sample date more than this many days before the first or after the last day of a site's
stored daily series is "far outside the site's history" [days]."""

MAX_WARNINGS_PER_RULE = 200
"""At most this many row warnings per rule; one more warning then counts the rest."""

#: ``add(line, column, code, message, value, message_sv=...)`` as :meth:`FileContext.add`.
AddIssue = Callable[..., None]


def _sv_number(value: float) -> str:
    return f"{value:,.0f}".replace(",", "\u00a0")


def plausibility_warnings(
    frame: pd.DataFrame,
    add: AddIssue,
    *,
    value_column: Callable[[str], str],
    date_column: str,
    analytes: tuple[np.ndarray, Sequence[str]],
    sites: tuple[np.ndarray, Sequence[str]],
    site_history: Mapping[str, tuple[dt.date, dt.date]] | None = None,
) -> None:
    """Add a warning for every implausible row of a valid results frame.

    The limits and stored date spans are looked up once per distinct analyte and site (the
    ``analytes`` and ``sites`` codes), not per row.

    Parameters
    ----------
    frame : pandas.DataFrame
        Results frame (``analyte``, ``value_ng_per_l``, ``site``, ``sample_date``,
        ``original_value``, ``original_unit``, ``source_line``).
    add : callable
        Records one issue (:meth:`wastewater.ingest.context.FileContext.add`).
    value_column : callable
        Header of the column holding an analyte's value (long files: the value column).
    date_column : str
        Header of the sample-date column.
    analytes, sites : (numpy.ndarray, sequence of str)
        Per row of ``frame`` a code into the names: ``frame["analyte"]`` and ``frame["site"]``
        (a name may stand at more than one code).
    site_history : mapping, optional
        Site → (first, last) day of the site's stored daily series
        (:func:`wastewater.storage.service.upload_context`).
    """
    if frame.empty:
        return
    lines = frame["source_line"].to_numpy()
    ranges = plausible_ranges()
    analyte_codes, analyte_names = analytes
    limit = np.array([ranges[a].max_ng_per_l if a in ranges else np.nan for a in analyte_names],
                     dtype=float)[analyte_codes]
    values = frame["value_ng_per_l"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        high = np.flatnonzero(values > limit)
    originals = frame["original_value"].to_numpy(dtype=object)
    units = frame["original_unit"].to_numpy(dtype=object)
    names = frame["analyte"].to_numpy(dtype=object)
    for n, i in enumerate(high[np.argsort(lines[high], kind="stable")].tolist()):
        if n == MAX_WARNINGS_PER_RULE:
            _more(add, len(high) - n, "implausible_value")
            break
        rng = ranges[names[i]]
        add(
            int(lines[i]),
            value_column(names[i]),
            "implausible_value",
            f"{originals[i]} {units[i]} ({values[i]:,.0f} ng/L) of {names[i]} is above the "
            f"highest plausible concentration, {rng.max_ng_per_l:,.0f} ng/L (highest daily "
            f"load in Europe 2011–2024 at a low flow of {rng.min_flow_l_per_person_day:g} L per "
            "person and day); check the value and the unit (µg/L written as ng/L?). The row was "
            "kept.",
            str(originals[i]),
            message_sv=(
                f"{originals[i]} {units[i]} ({_sv_number(values[i])} ng/L) {names[i]} är mer "
                f"än den högsta rimliga halten, {_sv_number(rng.max_ng_per_l)} ng/L (högsta "
                "dygnsbelastningen i Europa 2011–2024 vid ett lågt flöde på "
                f"{rng.min_flow_l_per_person_day:g} liter per person och dygn); kontrollera "
                "värdet och enheten (µg/L skrivet som ng/L?). Raden sparades."
            ),
        )
    _date_warnings(frame, add, lines, date_column, sites, site_history or {})


def _date_warnings(frame: pd.DataFrame, add: AddIssue, lines: np.ndarray, column: str,
                   sites: tuple[np.ndarray, Sequence[str]],
                   history: Mapping[str, tuple[dt.date, dt.date]]) -> None:
    # compared in the frame's datetime64[ns] (no conversion per row); days only for messages
    dates = frame["sample_date"].to_numpy(dtype="datetime64[ns]")
    site_codes, site_names = sites
    earliest = np.datetime64(f"{int(EARLIEST_PLAUSIBLE_SAMPLE_DATE.value)}-01-01", "D")
    margin = np.timedelta64(SITE_HISTORY_MARGIN_DAYS, "D")
    too_early = dates < earliest
    # each distinct site's stored span looked up once, NaT for a site without one
    known = [history.get(s, (None, None)) for s in site_names]
    first_day = np.array([f for f, _ in known], dtype="datetime64[D]")
    last_day = np.array([x for _, x in known], dtype="datetime64[D]")
    flagged_mask = too_early
    if history:
        with np.errstate(invalid="ignore"):
            flagged_mask = too_early | (dates < (first_day - margin)[site_codes])
            flagged_mask |= dates > (last_day + margin)[site_codes]
    flagged = np.flatnonzero(flagged_mask)
    for n, i in enumerate(flagged[np.argsort(lines[flagged], kind="stable")].tolist()):
        if n == MAX_WARNINGS_PER_RULE:
            _more(add, len(flagged) - n, "implausible_date")
            break
        day = str(dates[i].astype("datetime64[D]"))
        if too_early[i]:
            en = (f"the sample date {day} is before {int(EARLIEST_PLAUSIBLE_SAMPLE_DATE.value)}, "
                  "when drug residues in wastewater were first measured; check the year. The row "
                  "was kept.")
            sv = (f"provdatumet {day} är före {int(EARLIEST_PLAUSIBLE_SAMPLE_DATE.value)}, då "
                  "narkotikarester i avloppsvatten mättes första gången; kontrollera året. Raden "
                  "sparades.")
        else:
            site = site_names[site_codes[i]]
            span = f"{first_day[site_codes[i]]} – {last_day[site_codes[i]]}"
            en = (f"the sample date {day} is more than {SITE_HISTORY_MARGIN_DAYS} days outside "
                  f"the dates already stored for site {site} ({span}); check the year and the "
                  "site. The row was kept.")
            sv = (f"provdatumet {day} ligger mer än {SITE_HISTORY_MARGIN_DAYS} dagar utanför de "
                  f"datum som redan finns för provplatsen {site} ({span}); kontrollera året "
                  "och provplatsen. Raden sparades.")
        add(int(lines[i]), column, "implausible_date", en, day, message_sv=sv)


def _more(add: AddIssue, n: int, code: str) -> None:
    add(None, None, code,
        f"{n:,} more rows have the same warning ({code}); they were kept.",
        message_sv=f"{_sv_number(n)} rader till har samma varning ({code}); de sparades.")
