"""meter samples stored per reading (one row per meterValue element), not per sample

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 22:40:00

Existing samples are moved: the samples of one (station, session, EVSE, timestamp) become
one `meter_readings` row whose `samples` is the JSON array `services.meter_store` reads.
See ADR 0004.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

import evcsms.storage.types

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_CHUNK = 5000
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('meter_readings',
    sa.Column('id', _BIG_ID, autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('session_id', sa.BigInteger(), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=False),
    sa.Column('timestamp', evcsms.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('digest', sa.String(length=16), nullable=False),
    sa.Column('samples', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meter_readings')),
    sa.UniqueConstraint('timestamp', 'station_id', 'session_id', 'evse_id', 'digest', name='uq_meter_readings_reading')
    )
    with op.batch_alter_table('meter_readings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meter_readings_session_id'), ['session_id'], unique=False)

    bind = op.get_bind()
    insert = sa.text(
        "INSERT INTO meter_readings (station_id, session_id, evse_id, timestamp, digest, samples) "
        "VALUES (:station_id, :session_id, :evse_id, :timestamp, :digest, :samples)"
    )
    batch: list[dict[str, Any]] = []
    for key, items in _old_readings(bind):
        text = orjson.dumps(items)
        batch.append({
            "station_id": key[0], "session_id": key[1], "evse_id": key[2], "timestamp": key[3],
            "digest": hashlib.blake2b(text, digest_size=8).hexdigest(), "samples": text.decode(),
        })
        if len(batch) >= _CHUNK:
            bind.execute(insert, batch)
            batch = []
    if batch:
        bind.execute(insert, batch)

    with op.batch_alter_table('meter_values', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meter_values_session_id'))
    op.drop_table('meter_values')


def _old_readings(bind: sa.Connection) -> Iterator[tuple[tuple[Any, ...], list[list[Any]]]]:
    """The old per-sample rows grouped into readings. Timestamps pass through in the
    backend's own form (text on SQLite, timestamptz on PostgreSQL), so nothing shifts."""
    result = bind.execute(sa.text(
        "SELECT station_id, session_id, evse_id, timestamp, measurand, phase, location, "
        "context, unit, value, signed_data FROM meter_values "
        "ORDER BY station_id, session_id, evse_id, timestamp, id"
    ))
    key: tuple[Any, ...] | None = None
    items: list[list[Any]] = []
    while rows := result.fetchmany(_CHUNK):
        for r in rows:
            row_key = (r[0], r[1], r[2], r[3])
            if row_key != key:
                if key is not None:
                    yield key, items
                key, items = row_key, []
            items.append([r[4], r[5], r[6], r[7], r[8], str(r[9]), r[10]])
    if key is not None:
        yield key, items


def downgrade() -> None:
    op.create_table('meter_values',
    sa.Column('id', _BIG_ID, autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('session_id', sa.BigInteger(), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=False),
    sa.Column('timestamp', evcsms.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('measurand', sa.String(length=50), nullable=False),
    sa.Column('phase', sa.String(length=8), nullable=False),
    sa.Column('location', sa.String(length=8), nullable=False),
    sa.Column('context', sa.String(length=24), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=True),
    sa.Column('value', evcsms.storage.types.DecimalText(length=48), nullable=False),
    sa.Column('signed_data', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meter_values')),
    sa.UniqueConstraint('station_id', 'session_id', 'evse_id', 'timestamp', 'measurand', 'phase', 'location', 'context', name='uq_meter_values_sample')
    )
    with op.batch_alter_table('meter_values', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meter_values_session_id'), ['session_id'], unique=False)

    bind = op.get_bind()
    insert = sa.text(
        "INSERT INTO meter_values (station_id, session_id, evse_id, timestamp, measurand, phase, "
        "location, context, unit, value, signed_data) VALUES (:station_id, :session_id, "
        ":evse_id, :timestamp, :measurand, :phase, :location, :context, :unit, :value, "
        ":signed_data) ON CONFLICT (station_id, session_id, evse_id, timestamp, measurand, phase, "
        "location, context) DO NOTHING"
    )
    result = bind.execute(sa.text(
        "SELECT station_id, session_id, evse_id, timestamp, samples FROM meter_readings ORDER BY id"
    ))
    while rows := result.fetchmany(_CHUNK):
        params = [
            {"station_id": r[0], "session_id": r[1], "evse_id": r[2], "timestamp": r[3],
             "measurand": m, "phase": phase, "location": location, "context": context,
             "unit": unit, "value": value, "signed_data": signed}
            for r in rows
            for m, phase, location, context, unit, value, signed in orjson.loads(r[4])
        ]
        if params:
            bind.execute(insert, params)

    with op.batch_alter_table('meter_readings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meter_readings_session_id'))
    op.drop_table('meter_readings')
