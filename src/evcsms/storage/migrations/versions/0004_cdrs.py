"""issued OCPI CDRs (immutable; credits for corrections)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 23:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import evcsms.storage.types

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cdrs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('cdr_id', sa.String(length=36), nullable=False),
    sa.Column('invoice_number', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.BigInteger(), nullable=False),
    sa.Column('credit', sa.Boolean(), nullable=False),
    sa.Column('credit_reference_id', sa.String(length=36), nullable=True),
    sa.Column('superseded', sa.Boolean(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('total_excl_vat', evcsms.storage.types.DecimalText(), nullable=False),
    sa.Column('total_incl_vat', evcsms.storage.types.DecimalText(), nullable=False),
    sa.Column('total_energy_kwh', evcsms.storage.types.DecimalText(), nullable=False),
    sa.Column('start_date_time', evcsms.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('end_date_time', evcsms.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('issued_at', evcsms.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ocpi', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cdrs')),
    sa.UniqueConstraint('cdr_id', name=op.f('uq_cdrs_cdr_id')),
    sa.UniqueConstraint('invoice_number', name=op.f('uq_cdrs_invoice_number'))
    )
    with op.batch_alter_table('cdrs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cdrs_issued_at'), ['issued_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cdrs_session_id'), ['session_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cdrs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cdrs_session_id'))
        batch_op.drop_index(batch_op.f('ix_cdrs_issued_at'))
    op.drop_table('cdrs')
