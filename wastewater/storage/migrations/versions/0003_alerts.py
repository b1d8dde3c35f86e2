"""Alerts raised on upload, their subscriptions and the delivery outbox (issue 19).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert_subscriptions',
    sa.Column('subscription_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('secret', sa.Text(), nullable=True),
    sa.Column('key_id', sa.String(length=64), nullable=True),
    sa.Column('role', sa.String(length=32), server_default='public', nullable=False),
    sa.Column('sites_json', sa.Text(), server_default='[]', nullable=False),
    sa.Column('kinds_json', sa.Text(), server_default='[]', nullable=False),
    sa.Column('lang', sa.String(length=2), server_default='sv', nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['key_id'], ['api_keys.key_id'], name=op.f('fk_alert_subscriptions_key_id_api_keys')),
    sa.PrimaryKeyConstraint('subscription_id', name=op.f('pk_alert_subscriptions'))
    )
    op.create_table('alerts',
    sa.Column('alert_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('site', sa.Text(), nullable=False),
    sa.Column('analyte', sa.Text(), nullable=False),
    sa.Column('sample_date', sa.Date(), nullable=False),
    sa.Column('variable', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('upload_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Text(), nullable=True),
    sa.Column('confidential', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('reason_sv', sa.Text(), nullable=False),
    sa.Column('reason_en', sa.Text(), nullable=False),
    sa.Column('statistics_json', sa.Text(), server_default='{}', nullable=False),
    sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
    sa.Column('status_by', sa.Text(), nullable=True),
    sa.Column('status_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status_note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['site'], ['sites.site'], name=op.f('fk_alerts_site_sites')),
    sa.ForeignKeyConstraint(['upload_id'], ['uploads.upload_id'], name=op.f('fk_alerts_upload_id_uploads')),
    sa.PrimaryKeyConstraint('alert_id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_alerts_fingerprint'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index('ix_alerts_site_sample_date', ['site', 'sample_date'], unique=False)
        batch_op.create_index('ix_alerts_upload_id', ['upload_id'], unique=False)

    op.create_table('alert_outbox',
    sa.Column('delivery_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('body_json', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='pending', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.alert_id'], name=op.f('fk_alert_outbox_alert_id_alerts')),
    sa.ForeignKeyConstraint(['subscription_id'], ['alert_subscriptions.subscription_id'], name=op.f('fk_alert_outbox_subscription_id_alert_subscriptions')),
    sa.PrimaryKeyConstraint('delivery_id', name=op.f('pk_alert_outbox')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_alert_outbox_idempotency_key'))
    )
    with op.batch_alter_table('alert_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_alert_outbox_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('alert_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_outbox_status_next_attempt_at')

    op.drop_table('alert_outbox')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_upload_id')
        batch_op.drop_index('ix_alerts_site_sample_date')

    op.drop_table('alerts')
    op.drop_table('alert_subscriptions')
