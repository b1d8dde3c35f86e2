"""Swedish risk-weekend, payday-weekend and long-weekend calendar (event windows, inclusive dates).

A risk weekend is an *event window* of sample dates (ISO date of the day a 24 h composite
started, see docs/architecture.md), not a single day. Dates of fixed holidays come from the
pinned ``holidays`` package (0.109, Sweden); the occasions it lacks (skolavslutning,
studenten, Halloween weekend, lönehelg) follow the date rules of [Holidays0109]_,
[Grundskoleforordning1994]_, [FHI2008]_ and
[UnionenPayday]_; which occasions count as risk weekends: [IQStoppaLangningen]_; payday weekends
are a confounder [SVTHalland2017]_. The window rules (which days around an occasion) are this
project's reasoned defaults [R], editable per kommun through overrides.

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import holidays
import pandas as pd

if TYPE_CHECKING:
    from wastewater.stats._series import DateLike

SchoolEnd: TypeAlias = "DateLike | Iterable[DateLike] | Mapping[int, DateLike] | None"
"""Last school day: one date, several dates (one per year) or ``{year: date}``."""

Overrides: TypeAlias = ("pd.DataFrame | Mapping[tuple[str, int], tuple[DateLike, DateLike] "
                        "| Mapping[str, Any] | None] | None")
"""Users' own windows: ``{(name, year): (start, end) | {start, end?, kind?, rule?} | None}`` or a
DataFrame (see :func:`risk_weekends`)."""

__all__ = [
    "CALENDAR_COLUMNS",
    "event_days",
    "payday",
    "overrides_from_events",
    "risk_weekends",
    "swedish_holidays",
]

CALENDAR_COLUMNS = ["event_id", "kind", "name", "start", "end", "anchor_date", "rule"]

_HOLIDAY_SOURCE = f"holidays {holidays.__version__} Sweden (Holidays0109)"

#: Names used in the ``name`` column (Swedish) and their slug in ``event_id``.
_SLUGS = {
    "Påsk": "pask",
    "Valborg": "valborg",
    "Kristi himmelsfärd": "kristi-himmelsfard",
    "Studenten": "studenten",
    "Skolavslutning": "skolavslutning",
    "Midsommar": "midsommar",
    "Halloween/Alla helgons dag": "alla-helgons",
    "Jul": "jul",
    "Nyår": "nyar",
    "Lönehelg": "lonehelg",
}
_KIND_PREFIX = {"risk_weekend": "rw", "payday_weekend": "pay", "long_weekend": "lw"}


def swedish_holidays(years: Iterable[int],
                     categories: Iterable[str] = ("public", "de_facto")) -> dict[dt.date, str]:
    """Swedish holidays from the pinned ``holidays`` package, names in Swedish.

    Parameters
    ----------
    years : iterable of int
    categories : tuple of str
        ``holidays`` 0.109 categories: ``public`` (red days), ``de_facto`` (Midsommarafton,
        Julafton, Nyårsafton), ``optional`` (half days such as Valborgsmässoafton från kl. 14.00,
        Klämdag), ``bank``.

    Returns
    -------
    dict of datetime.date -> str

    Notes
    -----
    The category split changed between releases (≤0.85 had one category; ``de_facto``
    appeared in 0.88; ``include_sundays`` default flipped in 0.107) [Holidays0109]_, hence the pin.
    """
    h = holidays.Sweden(years=sorted({int(y) for y in years}), categories=tuple(categories),
                        language="sv")
    return {d: name for d, name in h.items()}


def _find(hol: Mapping[dt.date, str], year: int, name: str) -> dt.date:
    # the package joins names of coinciding days with "; " (e.g. 2008-05-01 "Första maj;
    # Kristi himmelsfärdsdag") and suffixes half days with " (från kl. 14.00)"
    hits = [d for d, n in hol.items()
            if d.year == year and name in (part.split(" (")[0] for part in n.split("; "))]
    if len(hits) != 1:
        raise LookupError(f"holidays {holidays.__version__}: {name!r} not found once in {year}")
    return hits[0]


def _weekday_on_or_after(d: dt.date, weekday: int) -> dt.date:
    return d + dt.timedelta(days=(weekday - d.weekday()) % 7)


def _weekday_on_or_before(d: dt.date, weekday: int) -> dt.date:
    return d - dt.timedelta(days=(d.weekday() - weekday) % 7)


def payday(year: int, month: int, *, day: int = 25,
           holiday_dates: Mapping[dt.date, str] | None = None) -> dt.date:
    """Swedish payday of a month: the 25th, or the last working day before it.

    Parameters
    ----------
    year, month : int
    day : int
        Nominal payday (default 25, the most common Swedish rule "senast den 25:e" [Holidays0109]_).
    holiday_dates : mapping, optional
        Non-working days besides Saturday/Sunday; default: ``holidays`` categories
        ``public`` + ``de_facto`` (so Midsommarafton, Julafton and Nyårsafton are not paydays).

    Returns
    -------
    datetime.date

    Notes
    -----
    December follows from the same rule: the 25th (Juldagen) and the 24th (Julafton) are
    holidays, so payday is the 23rd or the last weekday before it [Holidays0109]_. Half days
    (``optional`` category, e.g. Valborgsmässoafton från kl. 14.00, Klämdag) are working days.

    Examples
    --------
    >>> payday(2025, 5)   # 25 May 2025 is a Sunday
    datetime.date(2025, 5, 23)
    >>> payday(2021, 6)   # 25 June 2021 is Midsommarafton
    datetime.date(2021, 6, 24)
    """
    hol = holiday_dates if holiday_dates is not None else swedish_holidays([year])
    d = dt.date(year, month, day)
    while d.weekday() >= 5 or d in hol:
        d -= dt.timedelta(days=1)
    return d


def _row(kind: str, name: str, start: dt.date, end: dt.date, anchor: dt.date, rule: str,
         suffix: str = "") -> dict[str, Any]:
    slug = _SLUGS.get(name) or "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    event_id = f"{_KIND_PREFIX.get(kind, 'ev')}-{anchor.year}-{slug}{suffix}"
    return {"event_id": event_id, "kind": kind, "name": name, "start": start, "end": end,
            "anchor_date": anchor, "rule": rule}


def _school_end_for(year: int, school_end: SchoolEnd) -> tuple[dt.date, str]:
    if school_end is not None:
        if isinstance(school_end, Mapping):
            if year in school_end:
                return pd.Timestamp(school_end[year]).date(), "kommun-configured last school day"
        else:
            for d in (school_end if isinstance(school_end, (list, tuple, set)) else [school_end]):
                ts = pd.Timestamp(d)
                if ts.year == year:
                    return ts.date(), "kommun-configured last school day"
    thursday = dt.date.fromisocalendar(year, 24, 4)
    return thursday, "default: Thursday of ISO week 24"


def _computed_rows(year: int, school_end: SchoolEnd) -> list[dict[str, Any]]:
    hol = swedish_holidays([year, year + 1], categories=("public", "de_facto", "optional"))
    red = swedish_holidays([year, year + 1], categories=("public", "de_facto"))
    rows: list[dict[str, Any]] = []
    one = dt.timedelta(days=1)

    # Påsk: Långfredagen ... Annandag påsk (long weekend, not a named riskhelg [IQStoppaLangningen]).
    good_friday = _find(hol, year, "Långfredagen")
    easter_monday = _find(hol, year, "Annandag påsk")
    rows.append(_row("long_weekend", "Påsk", good_friday, easter_monday,
                     _find(hol, year, "Påskdagen"),
                     f"Långfredagen–Annandag påsk (Western computus); {_HOLIDAY_SOURCE}"))

    # Valborg: evening of 30 Apr + 1 May; when 30 Apr is Thu–Mon, add the adjacent Fri–Sun [R].
    valborg = dt.date(year, 4, 30)
    start, end = valborg, valborg + one
    if valborg.weekday() in (3, 4, 5, 6, 0):  # Thu, Fri, Sat, Sun, Mon
        if valborg.weekday() == 3:  # Thu: 1 May is Friday -> Thu..Sun
            end = valborg + dt.timedelta(days=3)
        elif valborg.weekday() == 0:  # Mon: previous Fri..Tue 1 May
            start = valborg - dt.timedelta(days=3)
        else:  # Fri, Sat, Sun: the Fri..Sun weekend containing 30 Apr (Sun: up to Mon 1 May)
            start = _weekday_on_or_before(valborg, 4)
            end = max(valborg + one, _weekday_on_or_after(valborg, 6))
    rows.append(_row("risk_weekend", "Valborg", start, end, valborg,
                     "Valborgsmässoafton 30 Apr + Första maj; when 30 Apr is Thu–Mon the adjacent "
                     "Fri–Sun is included [R: window rule]"))

    # Kristi himmelsfärd: Thursday (Easter + 39 d) + klämdag Friday + weekend (long weekend).
    ascension = _find(hol, year, "Kristi himmelsfärdsdag")
    rows.append(_row("long_weekend", "Kristi himmelsfärd", ascension,
                     ascension + dt.timedelta(days=3), ascension,
                     f"Kristi himmelsfärdsdag (Thu) + klämdag + weekend, Thu–Sun; {_HOLIDAY_SOURCE}"
                     " [R: long-weekend covariate]"))

    # Studenten: per school; default Friday of ISO week 23 and that weekend [R].
    stud = dt.date.fromisocalendar(year, 23, 5)
    rows.append(_row("risk_weekend", "Studenten", stud, stud + dt.timedelta(days=2), stud,
                     "default [R]: Friday of ISO week 23 (Uppsala examples 5 June 2018/2019 fall in "
                     "week 23, FHI2008) through Sunday; set per school via overrides"))

    # Skolavslutning: last school day + following Fri–Sun [R].
    last_day, how = _school_end_for(year, school_end)
    sunday = _weekday_on_or_after(last_day + one, 6)
    rows.append(_row("risk_weekend", "Skolavslutning", last_day, sunday, last_day,
                     f"last school day ({how}) through the following Sunday (Fri–Sun after it), "
                     "grundskoleförordningen 4 kap. 1 § (Grundskoleforordning1994) [R: window rule]"))

    # Midsommar: Thursday evening – Sunday around Midsommarafton (Friday 19–25 June).
    eve = _find(hol, year, "Midsommarafton")
    rows.append(_row("risk_weekend", "Midsommar", eve - one, eve + dt.timedelta(days=2), eve,
                     "Midsommarafton = Friday 19–25 June; window Thu–Sun "
                     f"[R: window rule]; {_HOLIDAY_SOURCE}"))

    # Halloween / Alla helgons dag: Allhelgonaafton (Fri) – Sunday.
    all_saints = _find(hol, year, "Alla helgons dag")
    rows.append(_row("risk_weekend", "Halloween/Alla helgons dag", all_saints - one,
                     all_saints + one, all_saints,
                     "Alla helgons dag = Saturday 31 Oct–6 Nov; window Fri–Sun; Halloween (31 Oct) "
                     f"celebrations assumed to cluster on this weekend [R]; {_HOLIDAY_SOURCE}"))

    # Jul: 24–26 Dec; Nyår: 31 Dec – 1 Jan (event year = year of Nyårsafton).
    julafton = _find(hol, year, "Julafton")
    rows.append(_row("risk_weekend", "Jul", julafton, julafton + dt.timedelta(days=2), julafton,
                     f"Julafton–Annandag jul, 24–26 Dec; {_HOLIDAY_SOURCE}"))
    nyarsafton = _find(hol, year, "Nyårsafton")
    rows.append(_row("risk_weekend", "Nyår", nyarsafton, nyarsafton + one, nyarsafton,
                     f"Nyårsafton 31 Dec + Nyårsdagen 1 Jan; {_HOLIDAY_SOURCE}"))

    # Lönehelg: first Fri–Sun on or after payday (25th rule, UnionenPayday).
    for month in range(1, 13):
        pay = payday(year, month, holiday_dates=red)
        friday = _weekday_on_or_after(pay, 4)
        rows.append(_row("payday_weekend", "Lönehelg", friday, friday + dt.timedelta(days=2), pay,
                         "payday = 25th, or the last weekday before it that is not a public/de facto "
                         "holiday (December: before Julafton); window = first Fri–Sun on or after "
                         "payday (UnionenPayday) [R working definition]",
                         suffix=f"-{month:02d}"))
    return rows


def _normalise_overrides(overrides: Overrides) -> list[dict[str, Any]]:
    """Overrides as rows ``{name, year, start, end, kind?, rule?, anchor_date?}``; ``start=None`` drops."""
    if overrides is None:
        return []
    out: list[dict[str, Any]] = []
    if isinstance(overrides, pd.DataFrame):
        missing = {"name", "start", "end"} - set(overrides.columns)
        if missing:
            raise ValueError(f"overrides DataFrame lacks column(s) {sorted(missing)}; "
                             "fix: give columns name, start, end (optional year, kind, rule)")
        for i, rec in enumerate(overrides.to_dict("records")):
            start = None if pd.isna(rec["start"]) else pd.Timestamp(rec["start"]).date()
            end = None if pd.isna(rec["end"]) else pd.Timestamp(rec["end"]).date()
            year = rec.get("year")
            if year is None or pd.isna(year):
                if start is None:
                    raise ValueError(f"overrides row {i}: give year when start is empty")
                year = start.year
            out.append({"name": rec["name"], "year": int(year), "start": start, "end": end,
                        "kind": rec.get("kind"), "rule": rec.get("rule")})
        return out
    if isinstance(overrides, Mapping):
        for key, val in overrides.items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise ValueError(f"overrides key {key!r}: use (name, year), e.g. ('Studenten', 2025)")
            name, year = key
            if val is None:
                out.append({"name": name, "year": int(year), "start": None, "end": None})
                continue
            if isinstance(val, Mapping):
                start, end = val["start"], val.get("end", val["start"])
                extra = {k: val.get(k) for k in ("kind", "rule")}
            else:
                start, end = val
                extra = {}
            out.append({"name": name, "year": int(year), "start": pd.Timestamp(start).date(),
                        "end": pd.Timestamp(end).date(), **extra})
        return out
    raise TypeError("overrides must be a DataFrame or a dict {(name, year): (start, end) | None}")


def risk_weekends(years: int | Iterable[int], *, school_end: SchoolEnd = None,
                  overrides: Overrides = None) -> pd.DataFrame:
    """Calendar of Swedish risk weekends, payday weekends and long weekends.

    Parameters
    ----------
    years : int or iterable of int
        Calendar years. Nyår belongs to the year of Nyårsafton (31 Dec), so its window ends on
        1 Jan of the next year.
    school_end : date-like, sequence of date-like, or mapping year -> date-like, optional
        Last school day (grundskola) per year for the kommun. Years without a value use the
        default Thursday of ISO week 24 [Holidays0109]_.
    overrides : DataFrame or dict, optional
        Users' own dates. Dict ``{(name, year): (start, end)}`` replaces (or adds) a window,
        ``{(name, year): None}`` removes it; a DataFrame needs columns ``name, start, end`` and
        optionally ``year, kind, rule`` (empty ``start`` with a ``year`` removes). New names
        (e.g. a local market) are added with ``kind="risk_weekend"`` unless ``kind`` is given.

    Returns
    -------
    pandas.DataFrame
        Columns ``event_id, kind, name, start, end, anchor_date, rule``; ``start``/``end``
        are inclusive sample dates (datetime64[ns]); ``kind`` is ``risk_weekend``,
        ``payday_weekend`` or ``long_weekend``; sorted by ``start``.

    Notes
    -----
    Window rules (dates from [Holidays0109]_; windows are reasoned defaults [R]):

    - Påsk (long_weekend): Långfredagen–Annandag påsk.
    - Valborg: 30 Apr + 1 May; when 30 Apr is Thu–Mon the adjacent Fri–Sun is included.
    - Kristi himmelsfärd (long_weekend): Thu–Sun (klämdag Friday) [R].
    - Studenten: Friday of ISO week 23 – Sunday [R]; schools differ, use ``overrides``.
    - Skolavslutning: last school day – following Sunday.
    - Midsommar: Thursday before Midsommarafton – Sunday.
    - Halloween/Alla helgons dag: Friday–Sunday around Alla helgons dag (Saturday).
    - Jul: 24–26 Dec. Nyår: 31 Dec – 1 Jan.
    - Lönehelg (payday_weekend, a confounder, not a youth risk weekend): first Fri–Sun on or
      after payday (see :func:`payday`).

    Examples
    --------
    >>> cal = risk_weekends(2025)
    >>> cal.loc[cal.name == "Midsommar", ["start", "end"]].iloc[0].dt.strftime("%Y-%m-%d").tolist()
    ['2025-06-19', '2025-06-22']
    """
    year_list = [int(years)] if isinstance(years, (int,)) else sorted({int(y) for y in years})
    rows: list[dict[str, Any]] = []
    for year in year_list:
        rows.extend(_computed_rows(year, school_end))
    for ov in _normalise_overrides(overrides):
        if ov["year"] not in year_list:
            continue
        match = [i for i, r in enumerate(rows)
                 if r["name"] == ov["name"] and r["anchor_date"].year == ov["year"]]
        if ov["start"] is None:
            rows = [r for i, r in enumerate(rows) if i not in match]
            continue
        if ov["end"] < ov["start"]:
            raise ValueError(f"override {ov['name']!r} {ov['year']}: end {ov['end']} before start "
                             f"{ov['start']}; fix the dates")
        if len(match) > 1:
            raise ValueError(f"override {ov['name']!r} {ov['year']} matches {len(match)} windows "
                             "(e.g. Lönehelg has one per month); remove them and add new names")
        kind = ov.get("kind") or (rows[match[0]]["kind"] if match else "risk_weekend")
        if kind not in _KIND_PREFIX:
            raise ValueError(f"override {ov['name']!r}: kind {kind!r} not in {sorted(_KIND_PREFIX)}")
        new = _row(kind, ov["name"], ov["start"], ov["end"], ov["start"],
                   ov.get("rule") or "user override")
        if match:
            new["event_id"] = rows[match[0]]["event_id"]
            rows[match[0]] = new
        else:
            rows.append(new)
    frame = pd.DataFrame(rows, columns=CALENDAR_COLUMNS)
    for col in ("start", "end", "anchor_date"):
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
    return frame.sort_values(["start", "event_id"], kind="stable").reset_index(drop=True)


def event_days(calendar: pd.DataFrame) -> pd.DataFrame:
    """Expand event windows to one row per sample date: ``[date, event_id, kind, name]``.

    Parameters
    ----------
    calendar : pandas.DataFrame
        Output of :func:`risk_weekends` (or any frame with ``event_id, kind, name, start, end``).
    """
    parts = []
    for rec in calendar.itertuples(index=False):
        days = pd.date_range(rec.start, rec.end, freq="D")
        parts.append(pd.DataFrame({"date": days, "event_id": rec.event_id, "kind": rec.kind,
                                   "name": rec.name}))
    if not parts:
        return pd.DataFrame(columns=["date", "event_id", "kind", "name"])
    return pd.concat(parts, ignore_index=True)


@functools.lru_cache(maxsize=1)
def _computed_names() -> dict[str, str]:
    """Case-folded name -> name of every window the rules compute (the same set each year)."""
    return {str(n).casefold(): str(n) for n in risk_weekends(2025)["name"].unique()}


def overrides_from_events(events: pd.DataFrame | None) -> pd.DataFrame:
    """Users' own risk-weekend dates, from uploaded events of kind ``risk_weekend``.

    A kommun records its local dates as ordinary events (``kind = risk_weekend``): the event's
    ``description`` (else its ``event_id``) names the weekend. A name equal to a computed one
    (case-insensitive, e.g. ``Skolavslutning`` or ``studenten``) replaces that year's computed
    window; any other name (e.g. a local market) is added as a new risk weekend.

    Parameters
    ----------
    events : pandas.DataFrame or None
        Events frame of docs/architecture.md (``event_id, kind, start, end, description``).

    Returns
    -------
    pandas.DataFrame
        Columns ``name, year, start, end, kind, rule`` for the ``overrides`` argument of
        :func:`risk_weekends`; ``rule`` names the event it came from.

    Examples
    --------
    >>> ev = pd.DataFrame({"event_id": ["SK-26"], "kind": ["risk_weekend"],
    ...                    "start": [pd.Timestamp("2026-06-10")], "end": [pd.Timestamp("2026-06-14")],
    ...                    "description": ["skolavslutning"]})
    >>> cal = risk_weekends(2026, overrides=overrides_from_events(ev))
    >>> cal.loc[cal.name == "Skolavslutning", "start"].dt.strftime("%Y-%m-%d").tolist()
    ['2026-06-10']
    """
    columns = ["name", "year", "start", "end", "kind", "rule"]
    if events is None or len(events) == 0:
        return pd.DataFrame(columns=columns)
    own = events[events["kind"] == "risk_weekend"]
    if own.empty:
        return pd.DataFrame(columns=columns)
    known = _computed_names()
    rows = []
    for rec in own.to_dict("records"):
        label = str(rec.get("description") or rec["event_id"]).strip()
        start = pd.Timestamp(rec["start"])
        end = pd.Timestamp(rec["end"]) if pd.notna(rec.get("end")) else start
        rows.append({"name": known.get(label.casefold(), label), "year": start.year,
                     "start": start, "end": end, "kind": "risk_weekend",
                     "rule": f"kommunens eget datum (uppladdad händelse {rec['event_id']})"})
    return pd.DataFrame(rows, columns=columns)
