"""site load management (tree, pins, policy), charging profiles held, reservations

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import evcsms.storage.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_TIME = evcsms.storage.types.UTCDateTime(timezone=True)
_DEC = evcsms.storage.types.DecimalText()


def upgrade() -> None:
    op.create_table('site_load',
    sa.Column('site_id', sa.String(length=48), nullable=False),
    sa.Column('tree', sa.Text(), nullable=False),
    sa.Column('policy', sa.String(length=16), nullable=False),
    sa.Column('pins', sa.Text(), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_by', sa.String(length=100), nullable=False),
    sa.Column('updated_at', _TIME, nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_site_load_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('site_id', name=op.f('pk_site_load'))
    )
    op.create_table('charging_profiles',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('site_id', sa.String(length=48), nullable=True),
    sa.Column('profile_id', sa.Integer(), nullable=False),
    sa.Column('stack_level', sa.Integer(), nullable=False),
    sa.Column('limit', _DEC, nullable=False),
    sa.Column('unit', sa.String(length=1), nullable=False),
    sa.Column('number_phases', sa.Integer(), nullable=True),
    sa.Column('transaction_ref', sa.String(length=64), nullable=True),
    sa.Column('valid_to', _TIME, nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('command_id', sa.String(length=36), nullable=True),
    sa.Column('sent_at', _TIME, nullable=False),
    sa.Column('answered_at', _TIME, nullable=True),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_charging_profiles_station_id_stations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_charging_profiles')),
    sa.UniqueConstraint('station_id', 'evse_id', 'purpose', name=op.f('uq_charging_profiles_station_id'))
    )
    op.create_table('reservations',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=False),
    sa.Column('id_token', sa.String(length=36), nullable=False),
    sa.Column('expires_at', _TIME, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('command_id', sa.String(length=36), nullable=True),
    sa.Column('session_id', sa.BigInteger(), nullable=True),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.Column('ended_at', _TIME, nullable=True),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_reservations_station_id_stations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reservations'))
    )
    op.create_index('ix_reservations_station_status', 'reservations', ['station_id', 'status'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_reservations_station_status', table_name='reservations')
    op.drop_table('reservations')
    op.drop_table('charging_profiles')
    op.drop_table('site_load')
