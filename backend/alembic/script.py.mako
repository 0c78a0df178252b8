"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers
revision: str = ${repr(up_revision)}
down_revision: Union[str, None] = ${repr(down_revision)}
branch_labels: Union[str, Sequence[str], None] = ${repr(branch_labels)}
depends_on: Union[str, Sequence[str], None] = ${repr(depends_on)}


def upgrade() -> None:
    # One op.execute("""...""") per statement. Alembic runs this revision in one
    # transaction. TimescaleDB steps that cannot run inside one (a continuous
    # aggregate WITH DATA, refresh_continuous_aggregate, an index built per chunk)
    # go in an autocommit_block(), which commits what ran before it:
    #
    #     with op.get_context().autocommit_block():
    #         op.execute("""
    #             CREATE MATERIALIZED VIEW candles_5m
    #             WITH (timescaledb.continuous) AS
    #             SELECT symbol, time_bucket('5 minutes', timestamp) AS bucket,
    #                    max(price) AS high, min(price) AS low
    #               FROM tick_data GROUP BY symbol, bucket
    #             WITH DATA
    #         """)
    #         # or create it WITH NO DATA in the transaction, then only:
    #         # op.execute("CALL refresh_continuous_aggregate('candles_5m', NULL, NULL)")
    #
    # An index on a hypertable: CREATE INDEX ... WITH
    # (timescaledb.transaction_per_chunk) in the block (CONCURRENTLY is not
    # supported on hypertables). ALTER TABLE on a hypertable: first
    # op.execute("SET LOCAL lock_timeout = '5s'"). `invoke db.lint` checks all this.
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    # Undo exactly what upgrade() created, in reverse order, each step in the same
    # kind of block it was created in (DROP MATERIALIZED VIEW candles_5m for the
    # example above; DROP INDEX for a per-chunk index).
    ${downgrades if downgrades else "pass"}
