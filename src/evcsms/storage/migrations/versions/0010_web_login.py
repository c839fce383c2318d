"""web dashboard: operators' passwords, the session cookie's key

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import evcsms.storage.types

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_TIME = evcsms.storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.add_column('users', sa.Column('password_hash', sa.String(length=200), nullable=True))
    op.create_table('web_secrets',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('value', sa.String(length=128), nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_web_secrets'))
    )


def downgrade() -> None:
    op.drop_table('web_secrets')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('password_hash')
