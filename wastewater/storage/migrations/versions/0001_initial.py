"""Initial schema: uploads, sites, populations, flows, results, events, EUDA reference data,
API keys and audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('key_hash', sa.String(length=256), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('sites_json', sa.Text(), server_default='[]', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.Text(), nullable=True),
    sa.Column('detail_json', sa.Text(), server_default='{}', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'], unique=False)
    op.create_table('reference_sites',
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('site_id', sa.Text(), nullable=False),
    sa.Column('country', sa.Text(), nullable=True),
    sa.Column('city', sa.Text(), nullable=True),
    sa.Column('location', sa.Text(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('population', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('source', 'site_id', name=op.f('pk_reference_sites'))
    )
    op.create_table('reference_values',
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('site_id', sa.Text(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('analyte', sa.Text(), nullable=False),
    sa.Column('weekday', sa.String(length=3), nullable=False),
    sa.Column('value_mg_per_day_per_1000', sa.Float(), nullable=True),
    sa.Column('censored', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.PrimaryKeyConstraint('source', 'site_id', 'year', 'analyte', 'weekday', name=op.f('pk_reference_values'))
    )
    op.create_table('uploads',
    sa.Column('upload_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('filename', sa.Text(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('uploader', sa.Text(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('rows_accepted', sa.Integer(), nullable=False),
    sa.Column('report_json', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('upload_id', name=op.f('pk_uploads')),
    sa.UniqueConstraint('sha256', name=op.f('uq_uploads_sha256'))
    )
    op.create_table('events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('sites_json', sa.Text(), server_default='[]', nullable=False),
    sa.Column('substances_json', sa.Text(), server_default='[]', nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('confidential', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('upload_id', sa.Integer(), nullable=False),
    sa.Column('source_line', sa.Integer(), nullable=True),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.Column('superseded_by', sa.Integer(), nullable=True),
    sa.Column('stored_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['upload_id'], ['uploads.upload_id'], name=op.f('fk_events_upload_id_uploads')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    op.create_index('uq_events_current', 'events', ['event_id'], unique=True, sqlite_where=sa.text('is_current'), postgresql_where=sa.text('is_current'))
    op.create_table('sites',
    sa.Column('site', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('municipality', sa.Text(), nullable=True),
    sa.Column('treatment_plant', sa.Text(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('upload_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['upload_id'], ['uploads.upload_id'], name=op.f('fk_sites_upload_id_uploads')),
    sa.PrimaryKeyConstraint('site', name=op.f('pk_sites'))
    )
    op.create_table('flows',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site', sa.Text(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('flow_m3_per_day', sa.Float(), nullable=False),
    sa.Column('upload_id', sa.Integer(), nullable=False),
    sa.Column('source_line', sa.Integer(), nullable=True),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.Column('superseded_by', sa.Integer(), nullable=True),
    sa.Column('stored_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['site'], ['sites.site'], name=op.f('fk_flows_site_sites')),
    sa.ForeignKeyConstraint(['upload_id'], ['uploads.upload_id'], name=op.f('fk_flows_upload_id_uploads')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flows'))
    )
    op.create_index('ix_flows_site_date', 'flows', ['site', 'date'], unique=False)
    op.create_index('uq_flows_current', 'flows', ['site', 'date'], unique=True, sqlite_where=sa.text('is_current'), postgresql_where=sa.text('is_current'))
    op.create_table('results',
    sa.Column('result_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sample_id', sa.Text(), nullable=False),
    sa.Column('site', sa.Text(), nullable=False),
    sa.Column('sample_date', sa.Date(), nullable=False),
    sa.Column('analyte', sa.Text(), nullable=False),
    sa.Column('replicate', sa.Integer(), server_default='1', nullable=False),
    sa.Column('sample_role', sa.String(length=16), server_default='sample', nullable=False),
    sa.Column('value_ng_per_l', sa.Float(), nullable=True),
    sa.Column('censor', sa.String(length=8), server_default='none', nullable=False),
    sa.Column('loq_ng_per_l', sa.Float(), nullable=True),
    sa.Column('lod_ng_per_l', sa.Float(), nullable=True),
    sa.Column('flow_m3_per_day', sa.Float(), nullable=True),
    sa.Column('composite_hours', sa.Integer(), nullable=True),
    sa.Column('lab', sa.Text(), nullable=True),
    sa.Column('method', sa.Text(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('original_value', sa.Text(), nullable=True),
    sa.Column('original_unit', sa.Text(), nullable=True),
    sa.Column('upload_id', sa.Integer(), nullable=False),
    sa.Column('source_line', sa.Integer(), nullable=True),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.Column('superseded_by', sa.Integer(), nullable=True),
    sa.Column('stored_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['site'], ['sites.site'], name=op.f('fk_results_site_sites')),
    sa.ForeignKeyConstraint(['upload_id'], ['uploads.upload_id'], name=op.f('fk_results_upload_id_uploads')),
    sa.PrimaryKeyConstraint('result_id', name=op.f('pk_results'))
    )
    op.create_index('ix_results_sample_id_analyte', 'results', ['sample_id', 'analyte'], unique=False)
    op.create_index('ix_results_site_analyte_sample_date', 'results', ['site', 'analyte', 'sample_date'], unique=False)
    op.create_index('ix_results_upload_id', 'results', ['upload_id'], unique=False)
    op.create_index('uq_results_current', 'results', ['sample_id', 'analyte', 'replicate', 'sample_role'], unique=True, sqlite_where=sa.text('is_current'), postgresql_where=sa.text('is_current'))
    op.create_table('site_populations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site', sa.Text(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('population', sa.Integer(), nullable=False),
    sa.Column('method', sa.Text(), server_default='de_jure', nullable=False),
    sa.Column('upload_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['site'], ['sites.site'], name=op.f('fk_site_populations_site_sites')),
    sa.ForeignKeyConstraint(['upload_id'], ['uploads.upload_id'], name=op.f('fk_site_populations_upload_id_uploads')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_site_populations')),
    sa.UniqueConstraint('site', 'year', 'method', name=op.f('uq_site_populations_site_year_method'))
    )


def downgrade() -> None:
    op.drop_table('site_populations')
    op.drop_index('uq_results_current', table_name='results', sqlite_where=sa.text('is_current'), postgresql_where=sa.text('is_current'))
    op.drop_index('ix_results_upload_id', table_name='results')
    op.drop_index('ix_results_site_analyte_sample_date', table_name='results')
    op.drop_index('ix_results_sample_id_analyte', table_name='results')
    op.drop_table('results')
    op.drop_index('uq_flows_current', table_name='flows', sqlite_where=sa.text('is_current'), postgresql_where=sa.text('is_current'))
    op.drop_index('ix_flows_site_date', table_name='flows')
    op.drop_table('flows')
    op.drop_table('sites')
    op.drop_index('uq_events_current', table_name='events', sqlite_where=sa.text('is_current'), postgresql_where=sa.text('is_current'))
    op.drop_table('events')
    op.drop_table('uploads')
    op.drop_table('reference_values')
    op.drop_table('reference_sites')
    op.drop_index('ix_audit_log_at', table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_table('api_keys')
