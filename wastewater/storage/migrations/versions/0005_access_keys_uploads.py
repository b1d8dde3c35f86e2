"""Access policy: uploads remember the uploading key's id; active key names are unique.

Upload ownership is decided by key id (``wastewater.access.upload_visible``), never by the
display name. Existing duplicate active key names are made unique first by appending the
key id to every duplicate but the oldest.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("uploader_key_id", sa.String(length=64), nullable=True))
    if not context.is_offline_mode():  # an offline SQL script has no rows to de-duplicate
        _dedupe_active_names(op.get_bind())
    op.create_index("uq_api_keys_active_name", "api_keys", ["name"], unique=True,
                    sqlite_where=sa.text("revoked_at IS NULL"),
                    postgresql_where=sa.text("revoked_at IS NULL"))


def _dedupe_active_names(conn) -> None:
    keys = sa.table("api_keys", sa.column("key_id"), sa.column("name"), sa.column("created_at"),
                    sa.column("revoked_at"))
    rows = conn.execute(sa.select(keys.c.key_id, keys.c.name).where(keys.c.revoked_at.is_(None))
                        .order_by(keys.c.created_at, keys.c.key_id)).all()
    seen: set[str] = set()
    for key_id, name in rows:
        if name in seen:
            conn.execute(sa.update(keys).where(keys.c.key_id == key_id)
                         .values(name=f"{name} ({key_id})"[:100]))
        seen.add(name)


def downgrade() -> None:
    op.drop_index("uq_api_keys_active_name", table_name="api_keys")
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("uploader_key_id")
