"""id tokens can belong to a driver (a user with the driver role); a station's meter key

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('meter_public_key', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('cost_updates', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('id_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner_user_id', sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f('ix_id_tokens_owner_user_id'), ['owner_user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('id_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_id_tokens_owner_user_id'))
        batch_op.drop_column('owner_user_id')
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.drop_column('cost_updates')
        batch_op.drop_column('meter_public_key')
