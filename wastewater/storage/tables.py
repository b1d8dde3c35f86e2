"""SQLAlchemy Core table definitions (one ``MetaData``); every quantity carries its unit in its name.

The Alembic migrations in ``wastewater/storage/migrations/versions`` must produce exactly this
schema; ``tests/test_migrations.py`` compares the two.

Identifiers and free text given by users (site ids, sample ids, names, lab, comments ...) are
``TEXT`` so that PostgreSQL never refuses an upload for length; controlled vocabularies (kinds,
censor flags, roles) and hashes keep bounded ``VARCHAR`` lengths.

History model
-------------
``results``, ``flows`` and ``events`` keep every version of a row. A newer upload with the same
natural key marks the previous row ``is_current = false`` and points ``superseded_by`` at the row
that replaced it. A partial unique index guarantees at most one current row per natural key:

- results: ``(sample_id, analyte, replicate, sample_role)``
- flows: ``(site, date)``
- events: ``(event_id)``

``sites`` and ``site_populations`` are updated in place; each change is recorded in ``audit_log``
(action ``site_updated`` / ``population_updated``, with old and new values) and the verbatim bytes of
every upload stay in ``uploads.content``, so earlier values remain recoverable.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

POSTGRESQL_TRIGGER_CHECKED_FKS = frozenset({"fk_results_site_sites", "fk_results_upload_id_uploads"})
"""Foreign keys of ``results`` that PostgreSQL checks by triggers, once per statement, instead
of a foreign-key trigger per row (migration 0007: same names, same SQLSTATE 23503, parent rows
locked ``FOR KEY SHARE`` once per distinct key); SQLite keeps them as foreign keys. Declared
here for both databases, so the table order (children before parents) and SQLite's schema
stay as they were."""


def compared_in_schema(dialect_name: str) -> Any:
    """Alembic ``include_object`` hook: on PostgreSQL the schema comparison skips
    :data:`POSTGRESQL_TRIGGER_CHECKED_FKS` (checked by triggers there, not foreign keys).
    """
    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return not (dialect_name == "postgresql" and type_ == "foreign_key_constraint"
                    and name in POSTGRESQL_TRIGGER_CHECKED_FKS)

    return include


UPLOAD_KINDS = ("sites", "flows", "results", "events")
"""Kinds of upload the ingest layer recognises (``wastewater.ingest.parse_upload``)."""

uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("upload_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("filename", sa.Text(), nullable=True),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("uploader", sa.Text(), nullable=False),
    # the API key that uploaded (ownership is by key id, wastewater.access.upload_visible)
    sa.Column("uploader_key_id", sa.String(64), nullable=True),
    sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("rows_total", sa.Integer, nullable=False),
    sa.Column("rows_accepted", sa.Integer, nullable=False),
    sa.Column("report_json", sa.Text, nullable=False),
)

sites = sa.Table(
    "sites",
    metadata,
    sa.Column("site", sa.Text(), primary_key=True),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("municipality", sa.Text(), nullable=True),
    sa.Column("treatment_plant", sa.Text(), nullable=True),
    sa.Column("lat", sa.Float, nullable=True),
    sa.Column("lon", sa.Float, nullable=True),
    sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.upload_id"), nullable=True),
)

site_populations = sa.Table(
    "site_populations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("site", sa.Text(), sa.ForeignKey("sites.site"), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("population", sa.Integer, nullable=False),
    sa.Column("method", sa.Text(), nullable=False, server_default="de_jure"),
    sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.upload_id"), nullable=True),
    sa.UniqueConstraint("site", "year", "method"),
)

flows = sa.Table(
    "flows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("site", sa.Text(), sa.ForeignKey("sites.site"), nullable=False),
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("flow_m3_per_day", sa.Float, nullable=False),
    sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.upload_id"), nullable=False),
    sa.Column("source_line", sa.Integer, nullable=True),
    sa.Column("is_current", sa.Boolean, nullable=False),
    sa.Column("superseded_by", sa.Integer, nullable=True),
    sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_flows_site_date", "site", "date"),
    sa.Index(
        "uq_flows_current",
        "site",
        "date",
        unique=True,
        sqlite_where=sa.text("is_current"),
        postgresql_where=sa.text("is_current"),
    ),
)

results = sa.Table(
    "results",
    metadata,
    sa.Column("result_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sample_id", sa.Text(), nullable=False),
    sa.Column("site", sa.Text(), sa.ForeignKey("sites.site"), nullable=False),
    sa.Column("sample_date", sa.Date, nullable=False),
    sa.Column("analyte", sa.Text(), nullable=False),
    sa.Column("replicate", sa.Integer, nullable=False, server_default="1"),
    sa.Column("sample_role", sa.String(16), nullable=False, server_default="sample"),
    sa.Column("value_ng_per_l", sa.Float, nullable=True),
    sa.Column("censor", sa.String(8), nullable=False, server_default="none"),
    sa.Column("loq_ng_per_l", sa.Float, nullable=True),
    sa.Column("lod_ng_per_l", sa.Float, nullable=True),
    sa.Column("flow_m3_per_day", sa.Float, nullable=True),
    sa.Column("composite_hours", sa.Integer, nullable=True),
    sa.Column("lab", sa.Text(), nullable=True),
    sa.Column("method", sa.Text(), nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("original_value", sa.Text(), nullable=True),
    sa.Column("original_unit", sa.Text(), nullable=True),
    sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.upload_id"), nullable=False),
    sa.Column("source_line", sa.Integer, nullable=True),
    sa.Column("is_current", sa.Boolean, nullable=False),
    sa.Column("superseded_by", sa.Integer, nullable=True),
    sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_results_site_analyte_sample_date", "site", "analyte", "sample_date"),
    # superseded versions only (current ones are in uq_results_current): version histories
    sa.Index("ix_results_history", "sample_id", "analyte",
             sqlite_where=sa.text("NOT is_current"), postgresql_where=sa.text("NOT is_current")),
    sa.Index("ix_results_upload_id", "upload_id"),
    sa.Index(
        "uq_results_current",
        "sample_id",
        "analyte",
        "replicate",
        "sample_role",
        unique=True,
        sqlite_where=sa.text("is_current"),
        postgresql_where=sa.text("is_current"),
    ),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Text(), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date, nullable=False),
    sa.Column("sites_json", sa.Text, nullable=False, server_default="[]"),
    sa.Column("substances_json", sa.Text, nullable=False, server_default="[]"),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("confidential", sa.Boolean, nullable=False, server_default=sa.text("false")),
    sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.upload_id"), nullable=False),
    sa.Column("source_line", sa.Integer, nullable=True),
    sa.Column("is_current", sa.Boolean, nullable=False),
    sa.Column("superseded_by", sa.Integer, nullable=True),
    sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index(
        "uq_events_current",
        "event_id",
        unique=True,
        sqlite_where=sa.text("is_current"),
        postgresql_where=sa.text("is_current"),
    ),
)

reference_sites = sa.Table(
    "reference_sites",
    metadata,
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("site_id", sa.Text(), primary_key=True),
    sa.Column("country", sa.Text(), nullable=True),
    sa.Column("city", sa.Text(), nullable=True),
    sa.Column("location", sa.Text(), nullable=True),
    sa.Column("lat", sa.Float, nullable=True),
    sa.Column("lon", sa.Float, nullable=True),
    sa.Column("population", sa.Integer, nullable=True),
)

reference_values = sa.Table(
    "reference_values",
    metadata,
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("site_id", sa.Text(), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("analyte", sa.Text(), primary_key=True),
    sa.Column("weekday", sa.String(3), primary_key=True),
    sa.Column("value_mg_per_day_per_1000", sa.Float, nullable=True),
    sa.Column("censored", sa.Boolean, nullable=False, server_default=sa.text("false")),
)

reference_means = sa.Table(
    "reference_means",
    metadata,
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("site_id", sa.Text(), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("analyte", sa.Text(), primary_key=True),
    sa.Column("weekday_mean", sa.Float, nullable=True),
    sa.Column("weekend_mean", sa.Float, nullable=True),
    sa.Column("daily_mean", sa.Float, nullable=True),
    sa.Column("weekday_days", sa.String(32), nullable=False),
    sa.Column("weekend_days", sa.String(32), nullable=False),
)
"""EUDA's published Daily/Weekday/Weekend means [mg/day/1000] as published (two decimals),
with the campaign rules of their year (the days each mean covers, e.g. ``Tue Wed Thu``)."""

reference_series = sa.Table(
    "reference_series",
    metadata,
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("series_id", sa.Text(), primary_key=True),
    sa.Column("analyte", sa.Text(), primary_key=True),
    sa.Column("period", sa.String(10), primary_key=True),
    sa.Column("country", sa.String(8), nullable=True),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("frequency", sa.String(8), nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("period_end", sa.Date, nullable=False),
    sa.Column("value_mg_per_day_per_1000", sa.Float, nullable=True),
    sa.Column("lo95_mg_per_day_per_1000", sa.Float, nullable=True),
    sa.Column("hi95_mg_per_day_per_1000", sa.Float, nullable=True),
    sa.Column("se_mg_per_day_per_1000", sa.Float, nullable=True),
    sa.Column("imputation_rate_percent", sa.Float, nullable=True),
    sa.Column("status", sa.String(8), nullable=True),
)
"""National reference series of already population-normalised loads (monthly or weekly) with
their 95 % interval, standard error, imputation rate and quality STATUS (StatCan first)."""

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("key_hash", sa.String(256), nullable=False, unique=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("sites_json", sa.Text, nullable=False, server_default="[]"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    # active key names are unique (a name must identify one key in lists and the audit log)
    sa.Index("uq_api_keys_active_name", "name", unique=True,
             sqlite_where=sa.text("revoked_at IS NULL"), postgresql_where=sa.text("revoked_at IS NULL")),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.Text(), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.Text(), nullable=True),
    sa.Column("detail_json", sa.Text, nullable=False, server_default="{}"),
    sa.Index("ix_audit_log_at", "at"),
)

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
"""Allowed ``reference_values.weekday`` names (EUDA daily profile)."""

# --------------------------------------------------------------------------- derived daily series

series_blocks = sa.Table(
    "series_blocks",
    metadata,
    sa.Column("site", sa.Text(), primary_key=True),
    sa.Column("analyte", sa.Text(), primary_key=True),
    sa.Column("n_days", sa.Integer, nullable=False),
    sa.Column("first_date", sa.Date, nullable=False),
    sa.Column("last_date", sa.Date, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
"""Derived store: one row per (site, analyte) series with at least one day covered by a
current sample result; ``data`` holds the series' days as one columnar block
(:data:`wastewater.storage.series.BLOCK_LAYOUT`: per day the joined daily inputs in canonical
units as :func:`wastewater.timeseries.build_dataset` computes them for that site × analyte,
``loq_half`` substitution, ``de_jure`` population), ``n_days``, ``first_date`` and
``last_date`` describe it. Maintained by :mod:`wastewater.storage.series` inside every ingest
transaction; never written elsewhere."""

series_versions = sa.Table(
    "series_versions",
    metadata,
    sa.Column("site", sa.Text(), primary_key=True),
    sa.Column("analyte", sa.Text(), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
)
"""Data version of each (site, analyte) series: incremented in the transaction that changes
its block in ``series_blocks`` (or could have); rows are never deleted, so a version number
is never reused for other data (response caches key on it)."""

# --------------------------------------------------------------------------- alerts (issue 19)

ALERT_STATUSES = ("open", "acknowledged", "dismissed")
DELIVERY_STATUSES = ("pending", "sent", "failed")
CHANNELS = ("email", "webhook", "email_digest")
"""``email_digest``: one e-mail a day listing the day's alerts (:func:`wastewater.storage.alerts.queue_digests`)."""

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("alert_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("site", sa.Text(), sa.ForeignKey("sites.site"), nullable=False),
    sa.Column("analyte", sa.Text(), nullable=False),
    sa.Column("sample_date", sa.Date, nullable=False),
    sa.Column("variable", sa.String(64), nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.upload_id"), nullable=False),
    sa.Column("event_id", sa.Text(), nullable=True),
    sa.Column("confidential", sa.Boolean, nullable=False, server_default=sa.text("false")),
    sa.Column("reason_sv", sa.Text, nullable=False),
    sa.Column("reason_en", sa.Text, nullable=False),
    sa.Column("statistics_json", sa.Text, nullable=False, server_default="{}"),
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),
    sa.Column("status_by", sa.Text(), nullable=True),
    sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("status_note", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_alerts_site_sample_date", "site", "sample_date"),
    sa.Index("ix_alerts_upload_id", "upload_id"),
)

alert_subscriptions = sa.Table(
    "alert_subscriptions",
    metadata,
    sa.Column("subscription_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("target", sa.Text(), nullable=False),
    sa.Column("secret", sa.Text(), nullable=True),
    sa.Column("key_id", sa.String(64), sa.ForeignKey("api_keys.key_id"), nullable=True),
    sa.Column("role", sa.String(32), nullable=False, server_default="public"),
    sa.Column("sites_json", sa.Text, nullable=False, server_default="[]"),
    sa.Column("kinds_json", sa.Text, nullable=False, server_default="[]"),
    sa.Column("lang", sa.String(2), nullable=False, server_default="sv"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.Text(), nullable=False),
)

alert_outbox = sa.Table(
    "alert_outbox",
    metadata,
    sa.Column("delivery_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.alert_id"), nullable=False),
    sa.Column("subscription_id", sa.Integer,
              sa.ForeignKey("alert_subscriptions.subscription_id"), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("target", sa.Text(), nullable=False),
    sa.Column("idempotency_key", sa.String(64), nullable=False, unique=True),
    sa.Column("subject", sa.Text(), nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("body_json", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_alert_outbox_status_next_attempt_at", "status", "next_attempt_at"),
)
