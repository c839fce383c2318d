"""status history, outage exclusions, incidents and their timeline

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 23:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import evcsms.storage.types

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_TIME = evcsms.storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('status_history',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('error_code', sa.String(length=50), nullable=True),
    sa.Column('at', _TIME, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_history'))
    )
    op.create_index('ix_status_history_station_at', 'status_history', ['station_id', 'at'], unique=False)
    op.create_table('outage_exclusions',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=True),
    sa.Column('start', _TIME, nullable=False),
    sa.Column('end', _TIME, nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outage_exclusions'))
    )
    op.create_index('ix_outage_exclusions_station', 'outage_exclusions', ['station_id', 'start'], unique=False)
    op.create_table('incidents',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('evidence', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('opened_at', _TIME, nullable=False),
    sa.Column('last_seen_at', _TIME, nullable=False),
    sa.Column('acknowledged_at', _TIME, nullable=True),
    sa.Column('resolved_at', _TIME, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents'))
    )
    op.create_index('ix_incidents_key_status', 'incidents', ['key', 'status'], unique=False)
    op.create_index('ix_incidents_station', 'incidents', ['station_id', 'id'], unique=False)
    op.create_table('webhooks',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('events', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('last_status', sa.String(length=200), nullable=True),
    sa.Column('last_attempt_at', _TIME, nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhooks'))
    )
    op.create_table('incident_notes',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.BigInteger(), nullable=False),
    sa.Column('at', _TIME, nullable=False),
    sa.Column('what', sa.String(length=16), nullable=False),
    sa.Column('author', sa.String(length=100), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_notes'))
    )
    with op.batch_alter_table('incident_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_notes_incident_id'), ['incident_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('incident_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_notes_incident_id'))
    op.drop_table('incident_notes')
    op.drop_table('webhooks')
    op.drop_index('ix_incidents_station', table_name='incidents')
    op.drop_index('ix_incidents_key_status', table_name='incidents')
    op.drop_table('incidents')
    op.drop_index('ix_outage_exclusions_station', table_name='outage_exclusions')
    op.drop_table('outage_exclusions')
    op.drop_index('ix_status_history_station_at', table_name='status_history')
    op.drop_table('status_history')
