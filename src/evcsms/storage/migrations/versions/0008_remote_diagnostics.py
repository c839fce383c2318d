"""remote diagnostics: log uploads (with their files), firmware updates and their timeline,
the device model

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import evcsms.storage.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_TIME = evcsms.storage.types.UTCDateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('log_uploads',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('command_id', sa.String(length=36), nullable=True),
    sa.Column('log_type', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('station_file_name', sa.String(length=255), nullable=True),
    sa.Column('start_time', _TIME, nullable=True),
    sa.Column('stop_time', _TIME, nullable=True),
    sa.Column('timeline', _JSON, nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=True),
    sa.Column('created_at', _TIME, nullable=False),
    sa.Column('updated_at', _TIME, nullable=False),
    sa.Column('expires_at', _TIME, nullable=False),
    sa.Column('uploaded_at', _TIME, nullable=True),
    sa.Column('file_name', sa.String(length=255), nullable=True),
    sa.Column('content_type', sa.String(length=100), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_uploads')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_log_uploads_token_hash'))
    )
    op.create_index('ix_log_uploads_station', 'log_uploads', ['station_id', 'id'], unique=False)
    op.create_table('firmware_updates',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('command_id', sa.String(length=36), nullable=True),
    sa.Column('location', sa.String(length=512), nullable=False),
    sa.Column('retrieve_at', _TIME, nullable=False),
    sa.Column('retries', sa.Integer(), nullable=True),
    sa.Column('retry_interval', sa.Integer(), nullable=True),
    sa.Column('signed', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('station_status', sa.String(length=32), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('previous_version', sa.String(length=50), nullable=True),
    sa.Column('installed_version', sa.String(length=50), nullable=True),
    sa.Column('created_by', sa.String(length=100), nullable=True),
    sa.Column('created_at', _TIME, nullable=False),
    sa.Column('updated_at', _TIME, nullable=False),
    sa.Column('completed_at', _TIME, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_firmware_updates'))
    )
    op.create_index('ix_firmware_updates_station', 'firmware_updates', ['station_id', 'id'], unique=False)
    op.create_table('firmware_update_events',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('update_id', sa.BigInteger(), nullable=False),
    sa.Column('at', _TIME, nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_firmware_update_events'))
    )
    with op.batch_alter_table('firmware_update_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_firmware_update_events_update_id'), ['update_id'], unique=False)
    op.create_table('device_variables',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('component', sa.String(length=50), nullable=False),
    sa.Column('component_instance', sa.String(length=50), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('variable', sa.String(length=50), nullable=False),
    sa.Column('variable_instance', sa.String(length=50), nullable=False),
    sa.Column('attribute_type', sa.String(length=8), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('mutability', sa.String(length=16), nullable=True),
    sa.Column('persistent', sa.Boolean(), nullable=True),
    sa.Column('constant', sa.Boolean(), nullable=True),
    sa.Column('characteristics', _JSON, nullable=True),
    sa.Column('source', sa.String(length=24), nullable=False),
    sa.Column('updated_at', _TIME, nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_device_variables_station_id_stations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_variables')),
    sa.UniqueConstraint('station_id', 'component', 'component_instance', 'evse_id', 'connector_id', 'variable', 'variable_instance', 'attribute_type', name='uq_device_variables_identity')
    )


def downgrade() -> None:
    op.drop_table('device_variables')
    with op.batch_alter_table('firmware_update_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_firmware_update_events_update_id'))
    op.drop_table('firmware_update_events')
    op.drop_index('ix_firmware_updates_station', table_name='firmware_updates')
    op.drop_table('firmware_updates')
    op.drop_index('ix_log_uploads_station', table_name='log_uploads')
    op.drop_table('log_uploads')
