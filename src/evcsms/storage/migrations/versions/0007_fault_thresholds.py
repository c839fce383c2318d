"""fault-rule thresholds per scope (default, site, model, station)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import evcsms.storage.types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_TIME = evcsms.storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('fault_thresholds',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('scope_id', sa.String(length=100), nullable=False),
    sa.Column('values', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_by', sa.String(length=100), nullable=False),
    sa.Column('updated_at', _TIME, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fault_thresholds')),
    sa.UniqueConstraint('scope', 'scope_id', name=op.f('uq_fault_thresholds_scope'))
    )


def downgrade() -> None:
    op.drop_table('fault_thresholds')
