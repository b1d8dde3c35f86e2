"""EUDA published means with their campaign rules; national reference series (StatCan).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reference_means",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("analyte", sa.Text(), nullable=False),
        sa.Column("weekday_mean", sa.Float(), nullable=True),
        sa.Column("weekend_mean", sa.Float(), nullable=True),
        sa.Column("daily_mean", sa.Float(), nullable=True),
        sa.Column("weekday_days", sa.String(length=32), nullable=False),
        sa.Column("weekend_days", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("source", "site_id", "year", "analyte",
                                name=op.f("pk_reference_means")),
    )
    op.create_table(
        "reference_series",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("series_id", sa.Text(), nullable=False),
        sa.Column("analyte", sa.Text(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("country", sa.String(length=8), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("frequency", sa.String(length=8), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("value_mg_per_day_per_1000", sa.Float(), nullable=True),
        sa.Column("lo95_mg_per_day_per_1000", sa.Float(), nullable=True),
        sa.Column("hi95_mg_per_day_per_1000", sa.Float(), nullable=True),
        sa.Column("se_mg_per_day_per_1000", sa.Float(), nullable=True),
        sa.Column("imputation_rate_percent", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint("source", "series_id", "analyte", "period",
                                name=op.f("pk_reference_series")),
    )


def downgrade() -> None:
    op.drop_table("reference_series")
    op.drop_table("reference_means")
