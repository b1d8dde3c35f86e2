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
    # a database that already holds results gets its store now (the ingest's from-scratch
    # build, written as rows of this revision's table; 0008 turns them into blocks); an offline
    # SQL script cannot compute it: run `wastewater db rebuild-series` after it
    if not context.is_offline_mode():
        _fill(op.get_bind())


def _fill(conn) -> None:
    import datetime as dt
    import math

    from wastewater.storage.series import STORE_COLUMNS, scratch_build

    frame = scratch_build(conn)
    if not len(frame):
        return
    types = {"site": sa.Text(), "analyte": sa.Text(), "date": sa.Date(), "censored": sa.Boolean(),
             "n_replicates": sa.Integer(), "composite_hours": sa.Integer()}
    daily = sa.table("series_daily", *[sa.column(c, types.get(c, sa.Float())) for c in STORE_COLUMNS])
    rows = []
    for record in frame.to_dict("records"):
        row = {}
        for c in STORE_COLUMNS:
            v = record[c]
            if c == "date":
                v = v.date()
            elif c == "censored":
                v = bool(v)
            elif c in ("n_replicates", "composite_hours"):
                v = int(v)
            elif c not in ("site", "analyte"):
                v = None if math.isnan(v) else float(v)
            row[c] = v
        rows.append(row)
    conn.execute(sa.insert(daily), rows)
    versions = sa.table("series_versions", sa.column("site", sa.Text()),
                        sa.column("analyte", sa.Text()), sa.column("version", sa.BigInteger()),
                        sa.column("changed_at", sa.DateTime(timezone=True)))
    now = dt.datetime.now(dt.UTC)
    pairs = sorted(set(zip(frame["site"], frame["analyte"], strict=True)))
    conn.execute(sa.insert(versions), [{"site": a, "analyte": b, "version": 1, "changed_at": now}
                                       for a, b in pairs])


def downgrade() -> None:
    op.drop_table("series_versions")
    op.drop_table("series_daily")
