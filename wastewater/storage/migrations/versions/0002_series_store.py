"""Derived daily-series store: series_daily (site × analyte × day, canonical units) and
series_versions (data version per site × analyte), filled from the stored results.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "series_daily",
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("analyte", sa.Text(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("concentration_ng_per_l", sa.Float(), nullable=True),
        sa.Column("censored", sa.Boolean(), nullable=False),
        sa.Column("loq_ng_per_l", sa.Float(), nullable=True),
        sa.Column("flow_m3_per_day", sa.Float(), nullable=True),
        sa.Column("population", sa.Float(), nullable=True),
        sa.Column("load_mg_per_day", sa.Float(), nullable=True),
        sa.Column("load_mg_per_day_per_1000", sa.Float(), nullable=True),
        sa.Column("n_replicates", sa.Integer(), nullable=False),
        sa.Column("replicate_sd_ng_per_l", sa.Float(), nullable=True),
        sa.Column("composite_hours", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site", "analyte", "date", name=op.f("pk_series_daily")),
    )
    op.create_table(
        "series_versions",
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("analyte", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site", "analyte", name=op.f("pk_series_versions")),
    )
    # a database that already holds results gets its store now (same code as the ingest hook);
    # an offline SQL script cannot compute it: run `wastewater db rebuild-series` after it
    if not context.is_offline_mode():
        from wastewater.storage.series import rebuild_series_conn

        rebuild_series_conn(op.get_bind())


def downgrade() -> None:
    op.drop_table("series_versions")
    op.drop_table("series_daily")
