"""sites, versioned tariffs and their assignments; the tariff version a session started with

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 23:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import evcsms.storage.types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_TIME = evcsms.storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('sites',
    sa.Column('id', sa.String(length=48), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.Column('updated_at', _TIME, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sites'))
    )
    op.create_table('tariff_versions',
    sa.Column('id', _BIG_ID, autoincrement=True, nullable=False),
    sa.Column('tariff_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('ocpi', sa.Text(), nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tariff_versions')),
    sa.UniqueConstraint('tariff_id', 'version', name=op.f('uq_tariff_versions_tariff_id'))
    )
    op.create_table('tariff_assignments',
    sa.Column('id', _BIG_ID, autoincrement=True, nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('scope_id', sa.String(length=48), nullable=False),
    sa.Column('tariff_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.Column('updated_at', _TIME, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tariff_assignments')),
    sa.UniqueConstraint('scope', 'scope_id', name=op.f('uq_tariff_assignments_scope'))
    )
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('site_id', sa.String(length=48), nullable=True))
        batch_op.create_index(batch_op.f('ix_stations_site_id'), ['site_id'], unique=False)
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tariff_version_id', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('tariff_version_id')
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stations_site_id'))
        batch_op.drop_column('site_id')
    op.drop_table('tariff_assignments')
    op.drop_table('tariff_versions')
    op.drop_table('sites')
