"""Results: the index of every version on (sample_id, analyte) becomes a partial index of the
superseded versions only.

Current versions are already indexed on (sample_id, analyte, replicate, sample_role) by the
partial unique index ``uq_results_current``; the full index ``ix_results_sample_id_analyte``
duplicated it for every current row and cost a fifth of a bulk insert
(benchmarks/reports/bench_ingest.md). ``ix_results_history`` holds only rows with
``NOT is_current`` (a row enters it when a newer version supersedes it), so a version history
reads the current versions through ``uq_results_current`` and the older ones through it
(:func:`wastewater.storage.repository.result_history`).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_results_sample_id_analyte", table_name="results")
    op.create_index("ix_results_history", "results", ["sample_id", "analyte"],
                    sqlite_where=sa.text("NOT is_current"),
                    postgresql_where=sa.text("NOT is_current"))


def downgrade() -> None:
    op.drop_index("ix_results_history", table_name="results")
    op.create_index("ix_results_sample_id_analyte", "results", ["sample_id", "analyte"])
