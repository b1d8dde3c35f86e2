"""THE access policy of the service: who may see what, and the public aggregation rule.

Every path that shows data — each API route, dashboard page, CSV/netCDF download, the
follow-up report, the exports and the risk-weekend calendar — asks this module; nothing else
decides access. The policy has two parts:

1. :data:`POLICY`, one table *role × resource → level* (:class:`Level`):

   ``none``    refused (401 without a key, 403 with one);
   ``public``  the public rule (below);
   ``full``    every detail, within the key's site scope;
   ``own``     only what this key itself uploaded (ownership by key id, never by name),
               within its site scope.

2. The **public rule** (:class:`PublicRule`), applied wherever ``level == public``:

   * only catchments whose latest population is at least ``min_population``
     (default :data:`MIN_PUBLIC_POPULATION` = 10 000, the ethics rule of thumb of
     [Hall2012]_; sub-catchments such as pumping stations stay with authorised roles,
     [Prichard2014]_);
   * never a single-day value: daily data are aggregated by **whole ISO weeks**
     (:func:`public_weeks`), each week computed over all its seven days whatever date window
     was asked (the window only selects which whole weeks come back), and a week with fewer
     than ``min_days_per_week`` measured days is suppressed;
   * a published figure never moves with a late day: a week with a missing day is public once
     closed (:func:`week_is_closed`), and a result or flow that reaches the database after that
     never enters a public figure (:func:`late_for_public`; the loaders' ``public`` argument,
     :func:`wastewater.analysis.load_dataset`), since the week's mean before and after it would
     give the day; a lab's correction of a day that was there in time does go in;
   * the 95 % bounds of a public weekly mean are those of its measured days each at the mean
     (:func:`wastewater.analysis.weekly_means` with ``public``): over the days' own values the
     random part of the interval gives their second moment, and for a week of two days both
     days' values;
   * no weekday profile (resource ``weekday_profile``, keys only): its medians and quartiles
     are order statistics, i.e. single days' values, and weekday means over a window the caller
     picks can be differenced (the means over weeks 1–5 and 1–4 give the fifth Monday);
   * the published analyses only: a public caller may not change the parameters that choose
     which days enter an operation effect or a risk-weekend ratio
     (:data:`PUBLIC_FIXED_PARAMETERS`, :func:`check_public_parameters`), because two answers
     over windows one day apart give that day;
   * no EUDA campaign-week export (``exports``, keys only): its Wednesday-to-Tuesday weeks
     straddle two ISO weeks, and with the public weekly means (and a few missing days) the
     overlaps can be solved for single days;
   * risk-weekend ratios only when the weekend has at least ``min_days_per_weekend``
     measured days (:func:`public_risk_weekend_ratios`);
   * one trend, the published one (resource ``published_trend``, :func:`trend_request`,
     :data:`PUBLIC_TREND_MONTHS`): over exactly 12 calendar months ending at a month's last day,
     computed from the public ISO-week means alone, with the published test and level; any
     other window, test, substitution or level needs a key (resource ``other_analyses``);
   * period means (the report's tertial means and changes) over the days of the public ISO
     weeks whose Thursday lies in the period only, a week with a suspected dumping day left out whole
     (:func:`public_period_values`): a running tertial's mean over the days so far would give
     each new day's value between two readings;
   * confidential events (police operations under OSL 18 kap. 1 §) never; an event shows only
     the public sites it names, and an event naming only non-public sites is not shown at all
     (also not in the risk-weekend calendar, :func:`visible_events`);
   * operation effects and risk-weekend ratios *are* public for non-confidential events at
     public catchments: the kommun's medborgarlöfte publishes its follow-up on public web
     pages, so the same figures (estimate, 95 % CI, p-value, numbers of days, method, the
     quotable sentence; :data:`PUBLIC_EFFECT_FIELDS`) are served to anonymous API callers
     exactly as the dashboard shows them — the risk-weekend figures on the series up to a
     closed month end (:func:`public_data_end`), an operation's effect only once its follow-up
     period has closed (:func:`operation_effect_release`): while it runs, each new day moves the
     estimate, and two readings a day apart would give that day;

A revoked (or unknown) key gets ``none`` everywhere except the service metadata: the API
answers 401; the dashboard, which must stay usable, shows the public view with a notice.

Pure Python/pandas; no web framework here (the API maps :class:`AccessDenied` to 401/403).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "KEY_ROLES", "MIN_PUBLIC_POPULATION", "POLICY", "PUBLIC", "PUBLIC_EFFECT_FIELDS", "PUBLIC_FIXED_PARAMETERS",
    "PUBLIC_TREND_FIELDS", "PUBLIC_TREND_MIN_DAYS", "PUBLIC_TREND_MIN_SPAN_DAYS", "PUBLIC_TREND_MONTHS",
    "REVOKED", "RESOURCES", "ROLES", "AccessDenied", "Level", "Principal", "PublicParameterRefused", "PublicRule",
    "PublicTrendRefused", "TrendRequest", "check", "check_public_parameters", "event_visible", "level", "may",
    "late_for_public", "latest_published_end", "month_end", "operation_effect_release", "public_campaign_week",
    "public_data_end", "public_operation_effect",
    "public_risk_weekend_ratios", "public_week_filter", "public_weeks", "published_trend_window",
    "site_is_public", "trend_request",
    "upload_visible", "visible_events", "visible_sites_frame", "week_is_closed", "whole_week_bounds",
]

#: Every principal the policy knows; ``public`` = no key, ``revoked`` = a revoked/unknown key.
ROLES = ("public", "viewer", "lab", "analyst", "admin", "revoked")
#: Roles a key can be created with.
KEY_ROLES = ("viewer", "lab", "analyst", "admin")

#: Smallest catchment [persons] shown to the public: "ballpark >= 10 000 people" [Hall2012]_.
#: Overridden by the deployment setting ``WASTEWATER_MIN_PUBLIC_POPULATION``.
MIN_PUBLIC_POPULATION = 10_000
#: Fewest measured days of an ISO week for its public mean: with two or more days no published
#: figure equals one day's value, and twice-weekly sampling programmes stay publishable.
MIN_DAYS_PER_PUBLIC_WEEK = 2
#: Fewest measured days of a risk weekend behind a public ratio.
MIN_DAYS_PER_PUBLIC_WEEKEND = 2
#: Days after its Sunday before a week with a missing day is public. Until then its mean would
#: change as each late day arrives, and two readings one upload apart give that day; a week with
#: all seven days is public at once. Two weeks covers the usual lab turnaround.
PUBLIC_WEEK_CLOSED_AFTER_DAYS = 14
#: How long after an upload's time (``uploads.uploaded_at``, taken when its transaction starts)
#: :func:`late_for_public` takes its rows to be visible. Readers see them only at the commit, so
#: an upload that started just before a week's release and committed after it counts as after;
#: generous against the largest accepted upload (a million rows in about ten seconds).
UPLOAD_VISIBLE_AFTER = dt.timedelta(hours=1)


class Level(str, enum.Enum):
    """What a principal gets of a resource (see the module docstring)."""

    NONE = "none"
    PUBLIC = "public"
    FULL = "full"
    OWN = "own"

    def __str__(self) -> str:  # "public", not "Level.PUBLIC", in tables and messages
        return self.value


N, P, F, OWN = Level.NONE, Level.PUBLIC, Level.FULL, Level.OWN

#: resource → (description in Swedish, description in English)
RESOURCES: dict[str, tuple[str, str]] = {
    "meta": ("hälsa, version, ämneskatalog, API-dokumentation", "health, version, analyte catalogue, API docs"),
    "sites": ("upptagningsområden", "catchments"),
    "daily_values": ("dygnsvärden, enskilda resultat och prover, PHES-ODM-export",
                     "daily values, single results and samples, PHES-ODM export"),
    "weekly_means": ("veckomedelvärden", "weekly means"),
    "weekday_profile": ("veckodagsprofil – medianer och kvartiler är enskilda dygns värden",
                        "weekday profile – medians and quartiles are single days' values"),
    "operation_effects": ("effekt av insatser", "operation effects"),
    "risk_weekend_ratios": ("riskhelger mot vanliga helger", "risk-weekend ratios"),
    "published_trend": ("trend över 12 kalendermånader som slutar vid ett månadsskifte, på veckomedelvärden",
                        "trend over 12 calendar months ending at a month's end, on weekly means"),
    "other_analyses": ("trend över valfri period, nivåskiften, larm, planering av provtagning – visar eller "
                       "bygger på enskilda dygn",
                       "trend over any window, change points, alerts, sampling plans – they show or rest on "
                       "single days"),
    "events": ("händelser: insatser, kampanjer", "events: operations, campaigns"),
    "confidential_events": ("sekretessbelagda insatser, OSL 18 kap. 1 §",
                            "confidential operations, OSL 18:1"),
    "calendar": ("riskhelgskalender", "risk-weekend calendar"),
    "reference": ("EUDA:s publicerade jämförelsedata", "EUDA published reference data"),
    "exports": ("export i EUDA:s format (kampanjvecka)", "export in EUDA layout (campaign week)"),
    "report_public": ("uppföljningsrapport, publik vy", "follow-up report, public view"),
    "report_analyst": ("uppföljningsrapport, analytikervy – sekretess",
                       "follow-up report, analyst view – confidential"),
    "upload_metadata": ("uppladdningar: lista och valideringsrapport", "uploads: list and validation report"),
    "raw_uploads": ("uppladdade filer i original", "uploaded files, verbatim"),
    "upload_results": ("ladda upp resultat och flöden", "upload results and flows"),
    "upload_events": ("ladda upp händelser", "upload events"),
    "upload_sites": ("ladda upp platser och befolkning", "upload sites and populations"),
    "import_odm": ("importera PHES-ODM", "import PHES-ODM"),
    "import_euda": ("importera EUDA-data", "import EUDA data"),
    "alerts": ("larm: lista, kvittering och egna prenumerationer – visar enskilda dygn",
               "alerts: list, acknowledgement and own subscriptions – they show single days"),
    "alert_admin": ("larmleveranser och prenumerationer för adresser utan nyckel",
                    "alert deliveries and subscriptions for addresses without a key"),
    "keys": ("API-nycklar", "API keys"),
    "audit": ("granskningslogg", "audit log"),
}

#: THE table. Columns in the order of :data:`ROLES`: public, viewer, lab, analyst, admin, revoked.
_TABLE: dict[str, tuple[Level, Level, Level, Level, Level, Level]] = {
    "meta":                (F, F, F, F, F, F),
    "sites":               (P, F, F, F, F, N),
    "daily_values":        (N, F, F, F, F, N),
    "weekly_means":        (P, F, F, F, F, N),
    "weekday_profile":     (N, F, F, F, F, N),
    "operation_effects":   (P, F, F, F, F, N),
    "risk_weekend_ratios": (P, F, F, F, F, N),
    "published_trend":     (P, F, F, F, F, N),
    "other_analyses":      (N, F, F, F, F, N),
    "events":              (P, F, F, F, F, N),
    "confidential_events": (N, N, N, F, F, N),
    "calendar":            (P, F, F, F, F, N),
    "reference":           (F, F, F, F, F, N),
    "exports":             (N, F, F, F, F, N),
    "report_public":       (P, P, P, P, P, N),
    "report_analyst":      (N, N, N, F, F, N),
    "upload_metadata":     (N, N, OWN, F, F, N),
    "raw_uploads":         (N, N, OWN, N, F, N),
    "upload_results":      (N, N, F, N, F, N),
    "upload_events":       (N, N, N, F, F, N),
    "upload_sites":        (N, N, N, N, F, N),
    "import_odm":          (N, N, N, F, F, N),
    "import_euda":         (N, N, N, N, F, N),
    "alerts":              (N, F, F, F, F, N),
    "alert_admin":         (N, N, N, N, F, N),
    "keys":                (N, N, N, N, F, N),
    "audit":               (N, N, N, N, F, N),
}
assert set(_TABLE) == set(RESOURCES)

#: ``POLICY[resource][role] -> Level``.
POLICY: dict[str, dict[str, Level]] = {
    res: dict(zip(ROLES, levels, strict=True)) for res, levels in _TABLE.items()
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: key name, role, optional site scope (``None`` = all sites) and key id."""

    name: str
    role: str
    sites: frozenset[str] | None = None
    key_id: str | None = None

    @property
    def rank(self) -> int:
        """Read rank (kept for callers that sort roles): public 0, viewer/lab 1, analyst 2, admin 3."""
        return {"public": 0, "revoked": 0, "viewer": 1, "lab": 1, "analyst": 2, "admin": 3}[self.role]

    @property
    def is_public(self) -> bool:
        """True when the public rule applies to data (no key, or a revoked key)."""
        return self.role in ("public", "revoked")

    @property
    def sees_confidential(self) -> bool:
        return may(self, "confidential_events")

    def in_scope(self, site: str) -> bool:
        return self.sites is None or site in self.sites


PUBLIC = Principal(name="public", role="public")
REVOKED = Principal(name="revoked", role="revoked")


class AccessDenied(Exception):
    """A principal asked for a resource its role does not get (``level == none``).

    ``authenticate`` is True when presenting a (valid) key could help: the API answers 401,
    otherwise 403. ``message_sv`` / ``message_en`` say what is refused and what to do.
    """

    def __init__(self, principal: Principal, resource: str, what: str | None = None) -> None:
        sv, en = RESOURCES.get(resource, (resource, resource))
        self.principal = principal
        self.resource = resource
        self.authenticate = principal.role in ("public", "revoked")
        allowed = [r for r in ROLES if POLICY[resource][r] is not Level.NONE and r != "public"]
        if principal.role == "revoked":
            self.message_sv = "API-nyckeln är okänd eller återkallad; be en administratör om en ny nyckel"
            self.message_en = "the API key is unknown or revoked; ask an admin for a new key"
        elif self.authenticate:
            self.message_sv = f"{what or sv} kräver en API-nyckel (rubriken X-API-Key eller Bearer-token)"
            self.message_en = f"{what or en} needs an API key (X-API-Key header or Bearer token)"
        else:
            self.message_sv = (f"rollen {principal.role!r} får inte se {what or sv}; "
                               f"tillåtet för: {', '.join(allowed) or 'ingen'}")
            self.message_en = (f"role {principal.role!r} may not see {what or en}; "
                               f"allowed for: {', '.join(allowed) or 'nobody'}")
        super().__init__(self.message_en)


def level(principal: Principal, resource: str) -> Level:
    """The level ``principal`` gets of ``resource`` (KeyError on an unknown resource)."""
    return POLICY[resource].get(principal.role, Level.NONE)


def may(principal: Principal, resource: str) -> bool:
    """True when the level is not ``none``."""
    return level(principal, resource) is not Level.NONE


def check(principal: Principal, resource: str, what: str | None = None) -> Level:
    """The level, or :class:`AccessDenied` when it is ``none``."""
    lv = level(principal, resource)
    if lv is Level.NONE:
        raise AccessDenied(principal, resource, what)
    return lv


# -- the public rule ------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicRule:
    """Thresholds of the public rule (deployment settings may change them)."""

    min_population: int = MIN_PUBLIC_POPULATION
    min_days_per_week: int = MIN_DAYS_PER_PUBLIC_WEEK
    min_days_per_weekend: int = MIN_DAYS_PER_PUBLIC_WEEKEND
    closed_after_days: int = PUBLIC_WEEK_CLOSED_AFTER_DAYS

    @classmethod
    def from_settings(cls, settings: Any) -> PublicRule:
        """From any object with the ``min_public_*`` attributes (missing ones: defaults)."""
        d = cls()
        return cls(
            min_population=int(getattr(settings, "min_public_population", d.min_population)),
            min_days_per_week=int(getattr(settings, "min_public_days_per_week", d.min_days_per_week)),
            min_days_per_weekend=int(getattr(settings, "min_public_days_per_weekend",
                                             d.min_days_per_weekend)),
        )


def site_is_public(population: Any, rule: PublicRule | None = None) -> bool:
    """A catchment is public when its latest population is known and >= ``rule.min_population``."""
    rule = rule or PublicRule()
    try:
        pop = float(population)
    except (TypeError, ValueError):
        return False
    return bool(np.isfinite(pop) and pop >= rule.min_population)


def visible_sites_frame(principal: Principal, sites: pd.DataFrame, rule: PublicRule | None = None
                        ) -> pd.DataFrame:
    """The rows of ``sites`` (``site, population, ...``) the principal may see, plus a ``public``
    column (True when the public rule would show the site). Sorted by ``site``.
    """
    rule = rule or PublicRule()
    if sites.empty:
        return sites.assign(public=pd.Series(dtype=bool))
    pop = pd.to_numeric(sites["population"], errors="coerce")
    df = sites.assign(public=(pop >= rule.min_population).fillna(False).astype(bool))
    lv = level(principal, "sites")
    if lv is Level.NONE:
        return df.iloc[0:0]
    if lv is Level.PUBLIC:
        df = df[df["public"]]
    if principal.sites is not None:
        df = df[df["site"].isin(sorted(principal.sites))]
    return df.sort_values("site").reset_index(drop=True)


def event_visible(principal: Principal, event: Mapping[str, Any], visible_sites: Iterable[str]
                  ) -> dict[str, Any] | None:
    """The event as ``principal`` may see it (its ``sites`` cut to the visible ones), or ``None``.

    Confidential events need ``confidential_events``; an event naming sites is shown only when
    it names at least one visible site (so an event about a pumping station alone never reaches
    the public); an empty ``sites`` list means "every site" and stays empty.
    """
    if not may(principal, "events"):
        return None
    if bool(event.get("confidential")) and not may(principal, "confidential_events"):
        return None
    out = dict(event)
    sites = list(out.get("sites") or [])
    if sites:
        visible = set(visible_sites)
        keep = [s for s in sites if s in visible]
        if not keep:
            return None
        out["sites"] = keep
    else:
        out["sites"] = []
    return out


def visible_events(principal: Principal, events: pd.DataFrame, visible_sites: Iterable[str]
                   ) -> pd.DataFrame:
    """:func:`event_visible` over an events frame (docs/architecture.md); same columns."""
    if events is None or events.empty:
        return events if events is not None else pd.DataFrame()
    visible = list(visible_sites)
    rows = [e for e in (event_visible(principal, r, visible) for r in events.to_dict("records"))
            if e is not None]
    return pd.DataFrame(rows, columns=events.columns).reset_index(drop=True)


def upload_visible(principal: Principal, meta: Mapping[str, Any], resource: str = "upload_metadata") -> bool:
    """May ``principal`` see this upload (``resource``: ``upload_metadata`` or ``raw_uploads``)?
    ``full``: yes; ``own``: only when the upload's ``uploader_key_id`` is the principal's key id
    (two keys with the same display name never see each other's uploads).
    """
    lv = level(principal, resource)
    if lv is Level.FULL:
        return True
    if lv is Level.OWN:
        return principal.key_id is not None and meta.get("uploader_key_id") == principal.key_id
    return False


def alert_visible(principal: Principal, alert: Mapping[str, Any]) -> bool:
    """Whether ``principal`` may read this stored alert (API list, dashboard page, upload answer).

    Alerts rest on single-day values, so they need ``alerts`` (no public level); the alert's
    site must be in the key's scope, and an alert about a confidential operation needs
    ``confidential_events``.
    """
    if not may(principal, "alerts") or not principal.in_scope(str(alert["site"])):
        return False
    return not alert.get("confidential") or may(principal, "confidential_events")


def alert_receivable(principal: Principal, alert: Mapping[str, Any], *, site_population: Any,
                     rule: PublicRule | None = None) -> bool:
    """Whether a subscriber receiving as ``principal`` may be *sent* this alert (any channel).

    Keys receive what :func:`alert_visible` lets them read. An address without a key receives as
    ``public``, under the public rule: only catchments that are public (:func:`site_is_public`),
    worded by ISO week without day or value (``wastewater.alerts.render_alert``), and no dumping
    alert (it names a police operation before anything about it is published). Confidential
    operations need ``confidential_events`` in either case.
    """
    if principal.role == "revoked" or not principal.in_scope(str(alert["site"])):
        return False
    if alert.get("confidential") and not may(principal, "confidential_events"):
        return False
    if principal.is_public:
        return alert.get("kind") != "possible_dumping" and site_is_public(site_population, rule)
    return alert_visible(principal, alert)


def whole_week_bounds(start: dt.date | pd.Timestamp | None, end: dt.date | pd.Timestamp | None
                      ) -> tuple[dt.date | None, dt.date | None]:
    """Widen a date window to whole ISO weeks: Monday on or before ``start``, Sunday on or after
    ``end`` (``None`` stays ``None``). Load the daily data for these bounds before
    :func:`public_weeks`, so every week is computed over all its days.

    >>> whole_week_bounds(dt.date(2025, 3, 5), dt.date(2025, 3, 5))
    (datetime.date(2025, 3, 3), datetime.date(2025, 3, 9))
    """
    def day(v: Any) -> dt.date | None:
        return None if v is None else pd.Timestamp(v).date()

    s, e = day(start), day(end)
    if s is not None:
        s = s - dt.timedelta(days=s.weekday())
    if e is not None:
        e = e + dt.timedelta(days=6 - e.weekday())
    return s, e


def public_weeks(daily: pd.DataFrame, start: Any = None, end: Any = None,
                 rule: PublicRule | None = None, *, value: str = "value",
                 mean_columns: Iterable[str] = ("lo95", "hi95"), suppress: bool = True,
                 today: dt.date | None = None) -> pd.DataFrame:
    """THE public aggregation: ISO-week means over whole weeks (Monday first).

    Parameters
    ----------
    daily : DataFrame
        ``date`` plus ``value`` (NaN = not measured), optionally ``censored`` and the columns in
        ``mean_columns``; it must hold every day of the weeks touching the window (load with
        :func:`whole_week_bounds`); days outside the window are *used*, not dropped.
    start, end : date, optional
        The asked window. It only selects which weeks come back: every ISO week with at least
        one day in ``[start, end]``.
    rule : PublicRule
    suppress : bool
        Drop weeks with fewer than ``rule.min_days_per_week`` measured days and weeks not yet
        closed on ``today`` (:func:`week_is_closed`; default; the public path). ``False`` keeps
        them (for authorised callers asking for weekly means).

    Returns
    -------
    DataFrame
        ``date`` (the Monday), ``iso_week`` (``2025-W10``), ``value`` (mean of the measured
        days), the means of ``mean_columns``, ``n_days`` (measured days), ``n_censored``.
        The bounds' means are exact when the errors are fully correlated within a week
        (systematic correction-factor, flow and population errors dominate, [Castiglioni2013]_),
        conservative otherwise.
    """
    rule = rule or PublicRule()
    mean_columns = [c for c in mean_columns if c in daily]
    cols = ["date", "iso_week", value, *mean_columns, "n_days", "n_censored"]
    if daily is None or daily.empty:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "date" else
                                          (object if c == "iso_week" else float)) for c in cols})
    d = daily.copy()
    d["date"] = pd.to_datetime(d["date"])
    d = d[d[value].notna()]
    if "censored" not in d:
        d["censored"] = False
    d["monday"] = d["date"] - pd.to_timedelta(d["date"].dt.day_of_week, unit="D")
    g = d.groupby("monday", sort=True)
    out = pd.DataFrame({value: g[value].mean(),
                        **{c: g[c].mean() for c in mean_columns},
                        "n_days": g[value].count().astype(int),
                        "n_censored": g["censored"].sum().astype(int)})
    out = out.reset_index().rename(columns={"monday": "date"})
    out = public_week_filter(out, start, end, rule, suppress=suppress, today=today)
    from wastewater.uncertainty import iso_week_labels

    out["iso_week"] = iso_week_labels(out["date"])
    return out[cols]


def week_is_closed(monday: Any, n_days: int, today: dt.date | None = None,
                   rule: PublicRule | None = None) -> bool:
    """True when the ISO week starting ``monday`` can no longer grow: all seven days measured, or
    its Sunday at least ``rule.closed_after_days`` days before ``today``.

    >>> week_is_closed("2025-03-03", 5, today=dt.date(2025, 3, 20))
    False
    >>> week_is_closed("2025-03-03", 5, today=dt.date(2025, 3, 23))
    True
    >>> week_is_closed("2025-03-03", 7, today=dt.date(2025, 3, 9))
    True
    """
    rule = rule or PublicRule()
    today = today or dt.date.today()
    sunday = pd.Timestamp(monday).date() + dt.timedelta(days=6)
    return n_days >= 7 or (today - sunday).days >= rule.closed_after_days


def late_for_public(dates: Any, stored_at: Any, rule: PublicRule | None = None, *,
                    series: Any = None) -> np.ndarray:
    """True for each day that reached the database after its ISO week was first public; such a
    day never enters a public figure.

    A week is first public at the earliest moment it is closed (:func:`week_is_closed`: all
    seven days there, or local midnight of its Sunday + ``rule.closed_after_days``) with at least
    ``rule.min_days_per_week`` days there; a day is there :data:`UPLOAD_VISIBLE_AFTER` after its
    first-stored time (readers see an upload at its commit). From the days' first-stored times alone: *P* = the
    earlier of max(release, the ``min_days_per_week``-th arrival) and the seventh arrival; a day
    stored after *P* is late. A week uploaded whole long after its release (a backfill) is
    first public when it arrives, with all its days.

    Why: the week's published mean before and after a late day would give that day's value
    (``7·m₇ − 6·m₆``). Leaving it out keeps every published figure as it was first shown; a
    lab's correction of a day that was there in time still goes in (the first version's time
    counts, :func:`wastewater.storage.repository.first_stored`). ``stored_at``: UTC
    timestamps, ``NaT`` = no figure (never late); ``series``: labels of the series the days
    belong to (default: one series).

    >>> at = pd.to_datetime(["2025-03-04 10:00", "2025-03-05 10:00", "2025-03-25 08:00",
    ...                      "2026-01-10 08:00", "2026-01-10 08:00", "2026-02-01 08:00"], utc=True)
    >>> late_for_public(["2025-03-03", "2025-03-04", "2025-03-09", "2025-03-10", "2025-03-11", "2025-03-12"],
    ...                 at).tolist()
    [False, False, True, False, False, True]
    """
    rule = rule or PublicRule()
    day = pd.DatetimeIndex(pd.to_datetime(dates)).as_unit("ns").asi8 // 86_400_000_000_000  # days since 1970
    at = pd.DatetimeIndex(pd.to_datetime(stored_at, utc=True)).as_unit("ns")
    late = np.zeros(len(day), dtype=bool)
    known = np.flatnonzero(~at.isna())
    if not len(known):
        return late
    monday = (day - (day + 3) % 7)[known]  # 1970-01-01 was a Thursday
    labels = np.zeros(len(known), dtype=np.int64) if series is None else \
        pd.factorize(np.asarray(series, dtype=object)[known])[0]
    at_ns = at.asi8[known] + int(UPLOAD_VISIBLE_AFTER.total_seconds()) * 1_000_000_000
    week_key = labels * 2**32 + monday
    order = np.lexsort((at_ns, week_key))
    week_key, at_ns, monday = week_key[order], at_ns[order], monday[order]
    starts = np.flatnonzero(np.r_[True, week_key[1:] != week_key[:-1]])
    size = np.diff(np.r_[starts, len(week_key)])
    m = rule.min_days_per_week
    never = np.iinfo(np.int64).max
    # the m-th arrival (enough days) and the 7th (all days there): never when the week lacks them
    enough = np.where(size >= m, at_ns[np.minimum(starts + m - 1, len(at_ns) - 1)], never)
    whole = np.where(size >= 7, at_ns[np.minimum(starts + 6, len(at_ns) - 1)], never)
    release = _local_midnights_ns(monday[starts] + 6 + rule.closed_after_days)
    first_public = np.minimum(np.where(enough == never, never, np.maximum(enough, release)), whole)
    late[known[order]] = at_ns > np.repeat(first_public, size)
    return late


_EPOCH = dt.date(1970, 1, 1)


def _local_midnights_ns(epoch_days: np.ndarray) -> np.ndarray:
    """UTC nanoseconds of local midnight starting each day (days since 1970-01-01), as
    ``dt.date.today()`` turns: the zone's own offset on each date (daylight saving).
    """
    uniq, inverse = np.unique(epoch_days, return_inverse=True)
    stamps = [int(dt.datetime.combine(_EPOCH + dt.timedelta(days=int(d)), dt.time()).astimezone().timestamp())
              for d in uniq]
    return (np.asarray(stamps, dtype=np.int64) * 1_000_000_000)[inverse]


def public_week_filter(weekly: pd.DataFrame, start: Any = None, end: Any = None,
                       rule: PublicRule | None = None, *, suppress: bool = True,
                       today: dt.date | None = None) -> pd.DataFrame:
    """The public rule applied to weekly means already computed over all their days (``date`` =
    the Monday, ``n_days``): keep the ISO weeks touching ``[start, end]`` and, with ``suppress``,
    drop weeks with fewer than ``rule.min_days_per_week`` measured days and weeks that are not
    closed yet (:func:`week_is_closed`: a growing week's successive means give each new day).
    Used by :func:`public_weeks` and on :func:`wastewater.analysis.weekly_means` (whose bounds
    come from shared draws), so the window and minimum-days rule live here only.

    >>> w = pd.DataFrame({"date": pd.to_datetime(["2025-03-03", "2025-03-10"]), "n_days": [1, 7]})
    >>> public_week_filter(w, "2025-03-05", "2025-03-12")["n_days"].tolist()
    [7]
    """
    rule = rule or PublicRule()
    today = today or dt.date.today()
    out = weekly
    s, e = whole_week_bounds(start, end)
    if s is not None:
        out = out[pd.to_datetime(out["date"]) >= pd.Timestamp(s)]
    if e is not None:
        out = out[pd.to_datetime(out["date"]) <= pd.Timestamp(e)]
    if suppress:
        out = out[out["n_days"] >= rule.min_days_per_week]
        closed = [week_is_closed(m, int(n), today, rule)
                  for m, n in zip(out["date"], out["n_days"], strict=True)]
        out = out[np.array(closed, dtype=bool)] if len(out) else out
    return out.reset_index(drop=True)


def public_period_values(values: pd.Series, start: Any, end: Any, rule: PublicRule | None = None, *,
                         leave_out: Iterable[Any] = (), today: dt.date | None = None) -> pd.Series:
    """The daily values a public mean over ``[start, end]`` (a tertial's, a period change's) may
    rest on: every measured day of the public ISO weeks whose Thursday lies in the window (the
    ISO rule that gives each week to one year; so each week to one tertial, and consecutive
    periods share no day) that pass :func:`public_week_filter` (enough measured days, closed),
    and no day of a week that holds a ``leave_out`` day (a suspected dumping day). Every other
    day becomes NaN.

    Why: a mean over the days so far of a period that is still running changes with each new
    day, so two readings one upload apart give that day's value; and a mean without one day of a
    week whose public mean has it gives that day. Over whole public weeks, every public mean is
    a function of the public weekly means and their day counts, which are published anyway. The
    published trend leaves out the same weeks (:func:`wastewater.analysis.published_trend`).

    ``values``: daily values indexed by date, holding every day of the weeks touching the window
    (load with :func:`whole_week_bounds`); NaN = not measured.

    >>> days = pd.date_range("2025-03-03", "2025-03-16")
    >>> v = pd.Series([10.0] * 7 + [20.0, 20.0] + [float("nan")] * 5, index=days)
    >>> public_period_values(v, "2025-03-05", "2025-03-12", today=dt.date(2025, 3, 20)).dropna().size
    7
    >>> public_period_values(v, "2025-03-05", "2025-03-12", today=dt.date(2025, 3, 20),
    ...                      leave_out=["2025-03-04"]).dropna().size
    0
    """
    rule = rule or PublicRule()
    dates = pd.DatetimeIndex(values.index)
    monday = dates - pd.to_timedelta(dates.day_of_week, unit="D")
    measured = pd.Series(values.notna().to_numpy(), index=monday)
    weeks = measured.groupby(level=0).sum().astype(int)
    weekly = pd.DataFrame({"date": weeks.index, "n_days": weeks.to_numpy()})
    kept = pd.DatetimeIndex(public_week_filter(weekly, None, None, rule, today=today)["date"])
    thursday = kept + pd.Timedelta(days=3)
    keep = set(kept[(thursday >= pd.Timestamp(start)) & (thursday <= pd.Timestamp(end))])
    for day in leave_out:
        d = pd.Timestamp(day).normalize()
        keep.discard(d - pd.Timedelta(days=d.day_of_week))
    return values.where(np.isin(monday, pd.DatetimeIndex(sorted(keep))))


def public_campaign_week(measured: Iterable[Any], week_start: Any, rule: PublicRule | None = None,
                         today: dt.date | None = None) -> bool:
    """True when the mean of the Wednesday–Tuesday campaign week starting ``week_start`` (EUDA's
    week, [EUDA2025]_) may be shown beside the public ISO-week means: the week is closed (all
    seven days measured, or ended at least ``rule.closed_after_days`` ago), and every non-empty
    part it cuts from the two ISO weeks it straddles — Mon–Tue before it, its Wed–Sun, its
    Mon–Tue, the Wed–Sun after — has at least ``rule.min_days_per_week`` measured days. The
    campaign mean and the two weekly means are then three sums over those four parts, and no
    combination of them is a single day.

    ``measured`` are the dates with a value (any around the week).

    >>> days = pd.date_range("2025-03-03", "2025-03-16")  # Mon 3 March … Sun 16 March, all measured
    >>> public_campaign_week(days, "2025-03-05", today=dt.date(2025, 4, 1))
    True
    >>> one_monday = days.drop(pd.Timestamp("2025-03-03"))  # Tue 4 March alone before the week
    >>> public_campaign_week(one_monday, "2025-03-05", today=dt.date(2025, 4, 1))
    False
    """
    rule = rule or PublicRule()
    today = today or dt.date.today()
    wed = pd.Timestamp(week_start).normalize()
    have = {pd.Timestamp(d).normalize() for d in measured}
    parts = [(-2, -1), (0, 4), (5, 6), (7, 11)]
    counts = [sum(1 for k in range(a, b + 1) if wed + pd.Timedelta(days=k) in have) for a, b in parts]
    in_week = sum(1 for k in range(7) if wed + pd.Timedelta(days=k) in have)
    ended = (today - (wed + pd.Timedelta(days=6)).date()).days >= rule.closed_after_days
    return (in_week >= 7 or ended) and all(n == 0 or n >= rule.min_days_per_week for n in counts)


def weekday_profile(daily: pd.DataFrame, *, value: str = "value", min_n: int = 1) -> pd.DataFrame:
    """Median and quartiles of ``value`` per weekday of the sample's start day (descriptive;
    the pattern EUDA summarises as weekday/weekend means, [EUDA2025]_); weekdays with fewer than
    ``min_n`` values are left out. Columns ``weekday`` (0 = Monday), ``median, q25, q75, n``.
    """
    cols = ["weekday", "median", "q25", "q75", "n"]
    if daily.empty:
        return pd.DataFrame(columns=cols)
    frame = daily.assign(weekday=pd.to_datetime(daily["date"]).dt.day_of_week)
    frame = frame[frame[value].notna()]
    grouped = frame.groupby("weekday")[value]
    out = pd.DataFrame({"median": grouped.median(), "q25": grouped.quantile(0.25),
                        "q75": grouped.quantile(0.75), "n": grouped.count().astype(int)}).reset_index()
    return out[out["n"] >= min_n].reset_index(drop=True)[cols]


def public_data_end(today: dt.date | None = None, rule: PublicRule | None = None) -> dt.date:
    """The last day the public risk-weekend figures rest on: the end of the latest month that
    ended at least ``rule.closed_after_days`` days before ``today``.

    The one-model test fits every day of the series and a weekend's ratio its control weeks
    after it, so on the series so far each new day would move them, and two readings a day
    apart would together give that day. Cut at a closed month end, they change once a month, by
    a month of days, and late lab results have arrived by then (as :func:`week_is_closed`).

    >>> public_data_end(dt.date(2026, 12, 13)), public_data_end(dt.date(2026, 12, 14))
    (datetime.date(2026, 10, 31), datetime.date(2026, 11, 30))
    """
    rule = rule or PublicRule()
    today = today or dt.date.today()
    return latest_published_end(today=today - dt.timedelta(days=rule.closed_after_days - 1))


def public_risk_weekend_ratios(effects: pd.DataFrame, rule: PublicRule | None = None, *,
                               data_end: Any = None) -> pd.DataFrame:
    """Per-weekend ratios (or the one-model results per weekend name,
    :func:`wastewater.analysis.risk_weekend_models`) under the public rule: rows whose
    ``n_event_days`` is at least ``rule.min_days_per_weekend`` (a ratio never rests on one day),
    computed on the series up to :func:`public_data_end` (the caller cuts it). With
    ``data_end``, a weekend's row (it has an ``end``) also needs its last control week
    (``window_weeks`` of :data:`PUBLIC_FIXED_PARAMETERS` after it) to lie before ``data_end``:
    until then, the next month would bring it a few control days, possibly one.
    """
    rule = rule or PublicRule()
    if effects is None or effects.empty:
        return pd.DataFrame() if effects is None else effects
    if "n_event_days" not in effects:
        raise ValueError("risk-weekend effects need an n_event_days column for the public rule")
    n = pd.to_numeric(effects["n_event_days"], errors="coerce").fillna(0)
    keep = (n >= rule.min_days_per_weekend).to_numpy().copy()
    if data_end is not None and "end" in effects:
        weeks = int(PUBLIC_FIXED_PARAMETERS["risk_weekend_ratios"]["window_weeks"])
        last_control = pd.to_datetime(effects["end"]) + pd.Timedelta(days=7 * weeks)
        keep &= (last_control <= pd.Timestamp(data_end)).to_numpy()
    return effects[keep].reset_index(drop=True)


#: Parameters a public caller may not change, per resource (name → the published value): each
#: chooses which days enter the estimate, and two answers whose windows differ by one day
#: give that day (e.g. ``after_days`` 7 and 8, or a risk-weekend ``to`` that drops one control).
#: The risk-weekend ``method`` is fixed at the published one-model test
#: (:data:`wastewater.analysis.RISK_WEEKEND_METHODS`): the matched-weekend test needs a key.
#: The published trend's window is decided by :func:`trend_request`, its test and level here.
PUBLIC_FIXED_PARAMETERS: dict[str, dict[str, Any]] = {
    "operation_effects": {"method": "ar1_noise", "before_days": 730, "after_days": 56,
                          "loq_method": "loq_half"},
    "risk_weekend_ratios": {"from": None, "to": None, "window_weeks": 6, "loq_method": "loq_half",
                            "method": "model"},
    "published_trend": {"method": "gls", "loq_method": "loq_half", "alpha": 0.05},
}

#: Why a fixed parameter is fixed, per kind of parameter (Swedish, English): a window parameter
#: moves days in or out, ``loq_method`` changes only the censored days, ``method`` and ``alpha``
#: choose among published and unpublished answers.
_FIXED_REASONS: dict[str, tuple[str, str]] = {
    "window": ("{names} går inte att ändra, eftersom två svar vars fönster skiljer sig med ett dygn "
               "tillsammans skulle visa det dygnets värde",
               "{names} cannot be changed, because two answers whose windows differ by one day would "
               "together show that day's value"),
    "method": ("'method' går inte att ändra: den publicerade analysen använder metoden '{value}', och "
               "de andra metoderna (för jämförelse) visas bara med nyckel",
               "'method' cannot be changed: the published analysis uses the method '{value}', and the "
               "other methods (for comparison) are shown with a key only"),
    "loq_method": ("'loq_method' går inte att ändra, eftersom två svar som bara skiljer sig i hur värden "
                   "under kvantifieringsgränsen ersätts tillsammans skulle visa de dygnen",
                   "'loq_method' cannot be changed, because two answers that differ only in how values "
                   "below the limit of quantification are substituted would together show those days"),
    "alpha": ("'alpha' går inte att ändra: den publicerade analysen redovisar 95 % konfidensintervall "
              "och prövar på nivån 0,05",
              "'alpha' cannot be changed: the published analysis gives 95 % confidence intervals and "
              "tests at the 0.05 level"),
}


class PublicParameterRefused(AccessDenied):
    """A public caller changed a parameter of :data:`PUBLIC_FIXED_PARAMETERS` (answered 401:
    a key lifts it). The message gives each kind of parameter its own reason
    (:data:`_FIXED_REASONS`): only a window parameter is refused because of single days.
    """

    def __init__(self, principal: Principal, resource: str, names: list[str]) -> None:
        super().__init__(principal, resource)
        self.names = names
        fixed = PUBLIC_FIXED_PARAMETERS.get(resource, {})
        window = [n for n in names if n not in _FIXED_REASONS]
        sv, en = [], []
        if window:
            listed = ", ".join(f"'{n}'" for n in window)
            sv.append(_FIXED_REASONS["window"][0].format(names=listed))
            en.append(_FIXED_REASONS["window"][1].format(names=listed))
        for n in names:
            if n in _FIXED_REASONS:
                sv.append(_FIXED_REASONS[n][0].format(value=fixed.get(n)))
                en.append(_FIXED_REASONS[n][1].format(value=fixed.get(n)))
        self.message_sv = ("utan API-nyckel visas bara den publicerade analysen; " + "; ".join(sv)
                           + " – ta bort parametern eller använd en API-nyckel")
        self.message_en = ("without an API key only the published analysis is served; " + "; ".join(en)
                           + " – drop the parameter or use an API key")
        Exception.__init__(self, self.message_en)


def check_public_parameters(principal: Principal, resource: str, given: Mapping[str, Any]) -> None:
    """Refuse (:class:`PublicParameterRefused`) when ``principal`` gets ``resource`` at the public
    level and a parameter of :data:`PUBLIC_FIXED_PARAMETERS` in ``given`` differs from its
    published value; other levels and unlisted parameters pass.

    >>> check_public_parameters(PUBLIC, "operation_effects", {"after_days": 56})
    >>> try:
    ...     check_public_parameters(PUBLIC, "operation_effects", {"after_days": 7, "before_days": 730})
    ... except PublicParameterRefused as exc:
    ...     print(exc.names, exc.authenticate)
    ['after_days'] True
    """
    if level(principal, resource) is not Level.PUBLIC:
        return
    fixed = PUBLIC_FIXED_PARAMETERS.get(resource, {})
    changed = [n for n, v in given.items() if n in fixed and v != fixed[n]]
    if changed:
        raise PublicParameterRefused(principal, resource, changed)


# -- the published trend -------------------------------------------------------------------------

#: Length of the published trend window [calendar months]: the tertial report's "trend over the
#: last 12 months", ending at a month's last day.
PUBLIC_TREND_MONTHS = 12
#: Fewest measured days in the public weeks of a published trend, and the fewest days from the
#: first public week's Monday to the last one's Sunday: a per-year trend from a few months is
#: not published.
PUBLIC_TREND_MIN_DAYS = 40
PUBLIC_TREND_MIN_SPAN_DAYS = 330


def month_end(day: Any) -> dt.date:
    """The last day of ``day``'s month.

    >>> month_end(dt.date(2024, 2, 10))
    datetime.date(2024, 2, 29)
    """
    d = pd.Timestamp(day).date()
    if d.month == 12:
        return dt.date(d.year, 12, 31)
    return dt.date(d.year, d.month + 1, 1) - dt.timedelta(days=1)


def published_trend_window(end: Any = None, *, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The published trend window: the :data:`PUBLIC_TREND_MONTHS` calendar months ending with
    ``end``'s month (first day of the first month, last day of the last). ``end`` defaults to the
    last day of the month before ``today``'s (the latest month that has ended).

    >>> published_trend_window(dt.date(2025, 8, 31))
    (datetime.date(2024, 9, 1), datetime.date(2025, 8, 31))
    >>> published_trend_window(today=dt.date(2025, 3, 14))
    (datetime.date(2024, 3, 1), datetime.date(2025, 2, 28))
    """
    if end is None:
        first = (today or dt.date.today()).replace(day=1)
        last = first - dt.timedelta(days=1)
    else:
        last = month_end(end)
    months = last.year * 12 + last.month - PUBLIC_TREND_MONTHS  # months since year 0 of the first month
    return max(dt.date.min, dt.date(max(months // 12, 1), months % 12 + 1, 1)), last


def latest_published_end(last_day: Any = None, *, today: dt.date | None = None) -> dt.date:
    """The default end of the published window: the last day of the latest month that has ended
    by ``today`` and that holds or precedes ``last_day`` (the latest data; ``None``: any).

    >>> latest_published_end(dt.date(2025, 12, 30), today=dt.date(2026, 12, 2))
    datetime.date(2025, 12, 31)
    >>> latest_published_end(dt.date(2026, 11, 20), today=dt.date(2026, 11, 25))
    datetime.date(2026, 10, 31)
    """
    ended = (today or dt.date.today()).replace(day=1) - dt.timedelta(days=1)
    return ended if last_day is None else min(ended, month_end(last_day))


@dataclass(frozen=True)
class TrendRequest:
    """What :func:`trend_request` allows: the window (``None`` = open) and whether it is the
    published trend (:func:`wastewater.analysis.published_trend`) or a trend over daily values
    (:func:`wastewater.analysis.trend`, keys only).
    """

    start: dt.date | None
    end: dt.date | None
    published: bool


class PublicTrendRefused(AccessDenied):
    """A trend request outside the published form: without a key answered 401 with what a
    public caller can get (:func:`trend_request`); with a key the API answers 422 (``problems``
    name what to change).
    """

    def __init__(self, principal: Principal, problems_sv: list[str], problems_en: list[str],
                 example: tuple[dt.date, dt.date]) -> None:
        super().__init__(principal, "other_analyses")
        self.problems_sv, self.problems_en = problems_sv, problems_en
        s, e = example[0].isoformat(), example[1].isoformat()
        self.message_sv = (
            f"utan API-nyckel visas trenden för hela {PUBLIC_TREND_MONTHS}-månadersperioder som slutar vid "
            f"ett månadsskifte (till exempel to={e}, eller from={s}&to={e}), beräknad på veckomedelvärden "
            f"med den publicerade metoden; {'; '.join(problems_sv)} – en annan period eller metod kräver "
            "en API-nyckel")
        self.message_en = (
            f"without an API key the trend is shown for whole {PUBLIC_TREND_MONTHS}-month windows ending at "
            f"a month's end (for example to={e}, or from={s}&to={e}), computed on weekly means with the "
            f"published method; {'; '.join(problems_en)} – another window or method needs an API key")
        Exception.__init__(self, self.message_en)


def trend_request(principal: Principal, start: Any = None, end: Any = None, *, published: bool | None = None,
                  parameters: Mapping[str, Any] | None = None, last_day: Any = None,
                  today: dt.date | None = None) -> TrendRequest:
    """THE decision for every trend (API, dashboard trend page, tertial report, downloads).

    The rule: **one trend is public, the published one** — over exactly
    :data:`PUBLIC_TREND_MONTHS` calendar months ending at a month's last day
    (:func:`published_trend_window`), computed by :func:`wastewater.analysis.published_trend`
    from the public ISO-week means (:func:`public_weeks`, suppressed weeks left out) with the
    published test and level (:data:`PUBLIC_FIXED_PARAMETERS` ``["published_trend"]``), at a
    public catchment. Any other window, test, substitution or level is a trend over daily values
    and needs a key (resource ``other_analyses``).

    Why. The tertial report publishes this trend on the kommun's and the police's public web
    pages, so keeping the same figure behind a key elsewhere protected nothing. But a caller can
    pick every parameter, so what is served must be safe for *every* choice:

    * the trend is a function of the public weekly means only, which every public caller already
      gets from ``/series``; so no combination of published trends — two windows whose ends
      differ by a month, any number of them, with the weekly means beside them — tells more
      than those weekly means, which are themselves whole ISO weeks of at least
      ``min_days_per_week`` days (:func:`public_weeks`: a fixed partition, nothing to difference);
    * a trend on daily values would not be: two trends over windows one day apart, or a
      two-week trend, weigh single days, and with the public weekly means beside them sparse
      series could be solved for days. So the daily trend (which has more power: it keeps the
      weekday terms) needs a key over any window;
    * the window is fixed as well (not only safe): windows aligned to calendar months and exactly
      12 months long make consecutive public answers differ by whole months, and a public trend
      over a few weeks — statistically meaningless as a per-year figure — is never served;
    * suspected dumping days are left out by dropping their whole ISO week, so the input stays a
      subset of the public weeks.

    Parameters
    ----------
    principal : Principal
    start, end : date, optional
        The asked window. For the published trend ``end`` must be a month's last day (default:
        :func:`latest_published_end` of ``last_day`` and ``today``) and ``start`` omitted or the
        first day of the window's first month.
    published : bool, optional
        Ask for the published trend (``True``) or the daily-value trend (``False``); default:
        published without a key, the daily-value trend with one.
    parameters : mapping, optional
        ``method``, ``loq_method``, ``alpha`` as asked (published values:
        :data:`PUBLIC_FIXED_PARAMETERS`).

    Returns
    -------
    TrendRequest
        Raises :class:`PublicTrendRefused` (401 without a key, 422 with one) naming what to change.

    >>> trend_request(PUBLIC, end=dt.date(2025, 8, 31))
    TrendRequest(start=datetime.date(2024, 9, 1), end=datetime.date(2025, 8, 31), published=True)
    >>> try:
    ...     trend_request(PUBLIC, dt.date(2025, 8, 1), dt.date(2025, 8, 14))
    ... except PublicTrendRefused as exc:
    ...     print(exc.authenticate, exc.problems_en[0])
    ...     print(exc.problems_en[1])
    True to=2025-08-14 is not the last day of a month
    from=2025-08-01 is not the first day of the 12 months ending with to (2024-09-01)
    """
    full = may(principal, "other_analyses")
    if published is None:
        published = not full
    s = None if start is None else pd.Timestamp(start).date()
    e = None if end is None else pd.Timestamp(end).date()
    if not published and full:
        return TrendRequest(s, e, False)
    check(principal, "published_trend")
    psv: list[str] = []
    pen: list[str] = []
    if not published:
        psv.append("published=false (en trend på dygnsvärden) kräver en nyckel")
        pen.append("published=false (a trend on daily values) needs a key")
    fixed = PUBLIC_FIXED_PARAMETERS["published_trend"]
    for name, value in (parameters or {}).items():
        if name in fixed and value != fixed[name]:
            psv.append(f"{name}={value} (den publicerade trenden: {name}={fixed[name]})")
            pen.append(f"{name}={value} (the published trend: {name}={fixed[name]})")
    if e is not None and e != month_end(e):
        psv.append(f"to={e.isoformat()} är inte sista dagen i en månad")
        pen.append(f"to={e.isoformat()} is not the last day of a month")
    first, last = published_trend_window(e if e is not None else latest_published_end(last_day, today=today))
    if s is not None and s != first:
        psv.append(f"from={s.isoformat()} är inte första dagen av de {PUBLIC_TREND_MONTHS} månader som slutar "
                   f"med to ({first.isoformat()})")
        pen.append(f"from={s.isoformat()} is not the first day of the {PUBLIC_TREND_MONTHS} months ending "
                   f"with to ({first.isoformat()})")
    if psv:
        raise PublicTrendRefused(principal, psv, pen, (first, last))
    return TrendRequest(first, last, True)


#: Fields of the published trend (what the report's trend column and the dashboard sentence show).
PUBLIC_TREND_FIELDS = (
    "analyte", "trend", "p_value", "percent_change_per_year", "ci_low_percent_per_year",
    "ci_high_percent_per_year", "alpha", "window_start", "window_end", "n_weeks", "n_days",
    "n_censored", "weeks_left_out_dumping", "method_changes", "method", "published",
)


#: Fields of an operation effect that the public gets once it is published (what the dashboard
#: shows; ``published`` is True then, :func:`public_operation_effect`).
PUBLIC_EFFECT_FIELDS = (
    "analyte", "relative_change_after", "ci_low_after", "ci_high_after", "p_value_after",
    "relative_change_during", "ci_low_during", "ci_high_during", "p_value_during",
    "n_before", "n_during", "n_after", "n_censored", "censoring_sensitive", "method", "alpha",
    "event_start", "event_end", "sentence_sv", "sentence_en", "q_value", "dumping_flagged", "published",
)


def operation_effect_release(event_end: Any, rule: PublicRule | None = None) -> tuple[dt.date, dt.date]:
    """(last day of the published follow-up, first day the public gets the effect) of an
    operation ending on ``event_end``.

    The published test's after period (``after_days`` of :data:`PUBLIC_FIXED_PARAMETERS`) ends
    ``after_days`` days after the operation. Until then every new day sampled enters the
    estimate, and two readings a day apart would together show that day's value, so the effect
    is public only ``rule.closed_after_days`` days after that last day, as a week with a
    missing day (:func:`week_is_closed`: late lab results have arrived by then).

    >>> operation_effect_release("2026-01-10")
    (datetime.date(2026, 3, 7), datetime.date(2026, 3, 21))
    """
    rule = rule or PublicRule()
    after_days = int(PUBLIC_FIXED_PARAMETERS["operation_effects"]["after_days"])
    last_day = pd.Timestamp(event_end).date() + dt.timedelta(days=after_days)
    return last_day, last_day + dt.timedelta(days=rule.closed_after_days)


def public_operation_effect(effect: Mapping[str, Any], event_end: Any, *, rule: PublicRule | None = None,
                            today: dt.date | None = None) -> dict[str, Any]:
    """The public projection of an operation effect ending on ``event_end``.

    Once released (:func:`operation_effect_release`) the fields of :data:`PUBLIC_EFFECT_FIELDS`
    and ``published: True``: no daily dates or values (``excluded_dates``, model internals)
    leave the authorised view. Before that only ``analyte``, ``event_start``, ``event_end``,
    ``published: False``, ``published_from`` (ISO date) and the sentences saying when and why.

    >>> e = {"analyte": "mdma", "relative_change_after": -0.2, "excluded_dates": ["2026-01-02"]}
    >>> public_operation_effect(e, "2026-01-10", today=dt.date(2026, 3, 21))
    {'analyte': 'mdma', 'relative_change_after': -0.2, 'published': True}
    >>> public_operation_effect(e, "2026-01-10", today=dt.date(2026, 3, 20))["published_from"]
    '2026-03-21'
    """
    from wastewater.wording import effect_pending_sentence

    today = today or dt.date.today()
    last_day, release = operation_effect_release(event_end, rule)
    if today >= release:
        return {**{k: effect[k] for k in PUBLIC_EFFECT_FIELDS if k in effect}, "published": True}
    out = {k: effect[k] for k in ("analyte", "event_start", "event_end") if k in effect}
    out.update(published=False, published_from=release.isoformat(),
               **{f"sentence_{lang}": effect_pending_sentence(lang, last_day.isoformat(), release.isoformat())
                  for lang in ("sv", "en")})
    return out


def policy_rows(lang: str = "en") -> list[dict[str, str]]:
    """The table as rows ``{resource, description, public, viewer, ...}`` (for docs and tests)."""
    i = 0 if lang == "sv" else 1
    return [{"resource": res, "description": RESOURCES[res][i],
             **{role: str(POLICY[res][role]) for role in ROLES}} for res in _TABLE]


def policy_markdown(lang: str = "en") -> str:
    """The table in Markdown, as it stands in README.md and api/README.md (a test keeps them equal)."""
    head = "| resource | " + ("vad" if lang == "sv" else "what") + " | " + " | ".join(ROLES) + " |"
    sep = "|---|---|" + "---|" * len(ROLES)
    lines = [head, sep]
    for r in policy_rows(lang):
        lines.append(f"| `{r['resource']}` | {r['description']} | " + " | ".join(r[role] for role in ROLES) + " |")
    return "\n".join(lines)
