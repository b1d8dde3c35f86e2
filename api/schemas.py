"""Response models of the API. Dimensioned fields carry their unit in the name
(architecture.md: ``flow_m3_per_day``, ``load_mg_per_day_per_1000`` ...)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class PageOut(BaseModel, Generic[T]):
    """One page of a list; follow ``next`` for the following page."""

    total: int = Field(..., description="Items matching the query, over all pages.")
    limit: int
    offset: int
    next: str | None = Field(None, description="URL of the next page, null on the last page.")
    items: list[T]


class Health(BaseModel):
    ok: bool
    database: Literal["ok", "unavailable"]


class Version(BaseModel):
    api_version: str = Field("v1", description="Version of the URL namespace (/api/v1).")
    package_version: str
    database_revision: str | None = Field(None, description="Alembic revision, when known.")


class SiteOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    site: str = Field(..., description="Site (catchment / treatment plant) id.")
    name: str | None = None
    municipality: str | None = None
    population: int | None = Field(None, description="Latest connected population [persons].")
    population_year: int | None = None
    population_method: str | None = None
    lat: float | None = Field(None, description="Latitude [degrees, WGS84].")
    lon: float | None = Field(None, description="Longitude [degrees, WGS84].")
    treatment_plant: str | None = None
    public: bool = Field(..., description="Shown to anonymous users (population >= min_public_population).")


class AnalyteOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    analyte: str = Field(..., description="Canonical lowercase analyte id.")


class ParameterOut(BaseModel):
    model_config = ConfigDict(extra="allow")


class AnalytesOut(BaseModel):
    analytes: list[AnalyteOut]
    parameters: list[ParameterOut] = Field(
        default_factory=list, description="Literature parameter catalogue (correction factors, doses); `source` is a key of `references`."  # noqa: E501
    )
    references: dict[str, str] = Field(default_factory=dict, description="Bibliography: AuthorYear key → reference.")


class ResultOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    result_id: int | None = None
    sample_id: str
    site: str
    sample_date: dt.date
    analyte: str
    replicate: int | None = None
    value_ng_per_l: float | None = Field(None, description="Concentration [ng/L]; null when censored without a number.")
    censor: str | None = Field(None, description='"none", "<LOQ", "<LOD" or "ND".')
    loq_ng_per_l: float | None = Field(None, description="Limit of quantification [ng/L].")
    lod_ng_per_l: float | None = Field(None, description="Limit of detection [ng/L].")
    flow_m3_per_day: float | None = Field(None, description="Influent flow of the sampled day [m³/day].")
    upload_id: int | None = None
    is_current: bool | None = None
    superseded_by: int | None = None


class SampleOut(BaseModel):
    sample_id: str
    site: str
    sample_date: dt.date
    n_results: int
    analytes: list[str]


class SeriesPoint(BaseModel):
    """One day (or one ISO week for anonymous users) of a series.

    Exactly one of the value fields is present, named with its unit; the interval fields name
    their kind and unit: ``level_lo95_<unit>``/``level_hi95_<unit>`` (every error component)
    and ``change_lo95_<unit>``/``change_hi95_<unit>`` (only what does not cancel within a
    site), e.g. ``change_lo95_mg_per_day_per_1000`` (see ``SeriesOut.intervals``).
    """

    date: dt.date = Field(..., description="Day of the 24 h composite (or Monday of the ISO week).")
    iso_week: str | None = Field(None, description='ISO week, e.g. "2024-W05" (weekly aggregation only).')
    concentration_ng_per_l: float | None = None
    load_mg_per_day: float | None = None
    load_mg_per_day_per_1000: float | None = None
    consumption_mg_per_day_per_1000: float | None = None
    doses_per_day_per_1000: float | None = None
    level_lo95_ng_per_l: float | None = Field(
        None, description="Lower 95 % level bound [ng/L], all error components.")
    level_hi95_ng_per_l: float | None = Field(
        None, description="Upper 95 % level bound [ng/L], all error components.")
    change_lo95_ng_per_l: float | None = Field(
        None, description="Lower 95 % change bound [ng/L], only what does not cancel within a site.")
    change_hi95_ng_per_l: float | None = Field(
        None, description="Upper 95 % change bound [ng/L], only what does not cancel within a site.")
    level_lo95_mg_per_day: float | None = Field(
        None, description="Lower 95 % level bound [mg/day], all error components.")
    level_hi95_mg_per_day: float | None = Field(
        None, description="Upper 95 % level bound [mg/day], all error components.")
    change_lo95_mg_per_day: float | None = Field(
        None, description="Lower 95 % change bound [mg/day], only what does not cancel within a site.")
    change_hi95_mg_per_day: float | None = Field(
        None, description="Upper 95 % change bound [mg/day], only what does not cancel within a site.")
    level_lo95_mg_per_day_per_1000: float | None = Field(
        None, description="Lower 95 % level bound [mg/day/1000 inhabitants], all error components.")
    level_hi95_mg_per_day_per_1000: float | None = Field(
        None, description="Upper 95 % level bound [mg/day/1000 inhabitants], all error components.")
    change_lo95_mg_per_day_per_1000: float | None = Field(
        None, description="Lower 95 % change bound [mg/day/1000 inhabitants], only what does not cancel within a site.")
    change_hi95_mg_per_day_per_1000: float | None = Field(
        None, description="Upper 95 % change bound [mg/day/1000 inhabitants], only what does not cancel within a site.")
    level_lo95_doses_per_day_per_1000: float | None = Field(
        None, description="Lower 95 % level bound [doses/day/1000 inhabitants], all error components.")
    level_hi95_doses_per_day_per_1000: float | None = Field(
        None, description="Upper 95 % level bound [doses/day/1000 inhabitants], all error components.")
    change_lo95_doses_per_day_per_1000: float | None = Field(
        None, description="Lower 95 % change bound [doses/day/1000 inhabitants], not cancelling within a site.")
    change_hi95_doses_per_day_per_1000: float | None = Field(
        None, description="Upper 95 % change bound [doses/day/1000 inhabitants], not cancelling within a site.")
    censored: bool | None = Field(None, description="Value below LOQ/LOD and substituted (daily).")
    n_days: int | None = Field(None, description="Days with a value in the week (weekly).")
    n_censored: int | None = Field(None, description="Censored days in the week (weekly).")


class IntervalInfo(BaseModel):
    """One named 95 % interval of a series (see README, "Uncertainty")."""

    lo95_field: str = Field(..., description="Name of the lower bound in each point.")
    hi95_field: str = Field(..., description="Name of the upper bound in each point.")
    unit: str
    coverage: float = 0.95
    method: str = Field(..., description="analytic (first order) or montecarlo (shared draws).")
    components: list[str] = Field(..., description="Error components included.")
    meaning: str
    of: str = Field(..., description="daily value, or weekly mean computed on the draws of its days, "
                                   "each at the week's mean.")


class SeriesOut(BaseModel):
    site: str
    analyte: str
    measure: str
    value_field: str = Field(..., description="Name of the value field in each point, with its unit.")
    unit: str
    aggregation: Literal["daily", "weekly_mean"]
    loq_method: str
    ci: str
    intervals: dict[str, IntervalInfo] = Field(
        default_factory=dict,
        description="Per interval kind (level, change): its field names, unit, components and meaning; "
                    "empty when ci=none.")
    n_censored: int = Field(..., description="Censored days in the returned period.")
    points: list[SeriesPoint]


class EventOut(BaseModel):
    event_id: str
    kind: str
    start: dt.date
    end: dt.date
    sites: list[str]
    substances: list[str]
    description: str | None = None
    confidential: bool = False


class RiskWeekendOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None


class AnalysisOut(BaseModel):
    """Result of a statistical analysis; multi-test analyses carry Benjamini–Hochberg q-values."""

    model_config = ConfigDict(extra="allow")
    analysis: str
    site: str | None = None
    analyte: str | None = None
    measure: str = "load_mg_per_day_per_1000"
    results: list[dict[str, Any]] = Field(default_factory=list)
    q_values: list[float | None] | None = Field(None, description="BH-adjusted p-values, one per result.")


class IssueOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    line: int | None = None
    column: str | None = None
    code: str
    message: str
    severity: str = "error"
    value: str | None = None
    message_sv: str | None = Field(None, description="The same message in Swedish, where written.")


class ReportOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    kind: str | None = None
    rows_total: int = 0
    rows_accepted: int = 0
    ok: bool = True
    issues: list[IssueOut] = Field(default_factory=list)


class UploadOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    ok: bool = True
    upload_id: int | None = Field(None, description="Id of the stored upload; null on dry runs.")
    kind: str | None = None
    filename: str | None = None
    duplicate: bool = False
    stored: bool = False
    dry_run: bool = False
    rows_inserted: int = 0
    rows_superseded: int = 0
    rows_unchanged: int = 0
    message: str | None = Field(None, description="Human-readable note (e.g. which upload a duplicate repeats).")
    alerts: list[dict[str, Any]] = Field(
        default_factory=list, description="Alerts this upload raised (GET /alerts has them too); "
        "only those the key may see.")
    alerts_message: dict[str, str] | None = Field(
        None, description="The alerts in one sentence, `sv` and `en`, with a dashboard link.")
    alert_notes: list[dict[str, Any]] = Field(
        default_factory=list, description="Checks not made because a marked method change left too "
        "little history measured by the new method (`method_change`, `days`, `checks` with "
        "`n_since_change` and `n_needed`, `sentence_sv`, `sentence_en`); no alert compares across "
        "a marked change.")
    report: ReportOut


class UploadMeta(BaseModel):
    model_config = ConfigDict(extra="allow")
    upload_id: int
    kind: str | None = None
    filename: str | None = None
    uploader: str | None = None
    uploader_key_id: str | None = Field(None, description="Id of the API key that uploaded (ownership).")
    sha256: str | None = None
    size_bytes: int | None = None


class KeyIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=100)
    role: Literal["viewer", "lab", "analyst", "admin"]
    sites: list[str] | None = Field(None, description="Site scope; null = all sites.")


class KeyOut(BaseModel):
    id: str
    name: str
    role: str
    sites: list[str] | None = None
    created_at: dt.datetime | None = None
    revoked: bool = False


class KeyCreated(KeyOut):
    token: str = Field(..., description="The token; shown only once, store it now.")


class AuditOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    at: dt.datetime = Field(..., description="When (UTC).")
    actor: str = Field(..., description="API key name (or storage uploader) that wrote.")
    action: str
    target: str | None = None
    detail_json: str | None = Field(None, description="JSON details of the change.")


class ReferenceOut(BaseModel):
    """One day of an EUDA/SCORE campaign (published, no excretion correction)."""

    model_config = ConfigDict(extra="allow")
    source: str
    site_id: str
    country: str | None = None
    city: str | None = None
    year: int
    analyte: str
    weekday: str = Field(..., description="Mon … Sun.")
    value_mg_per_day_per_1000: float | None = Field(None, description="Residue load [mg/day/1000 inhabitants]; null = no sample.")  # noqa: E501
    censored: bool = Field(False, description="Below LOQ (published as 0).")
    population: int | None = Field(None, description="Population served [persons].")
