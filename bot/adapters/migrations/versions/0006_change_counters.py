"""Change counters: a number per kind of shared state that grows in the same transaction as every change to it.

The first is ``watches``: every poll batch reloaded all watches (10,000 rows turned into objects, measured as a
large part of a 304 poll cycle) only to find them unchanged. A poller now reads this one row
(``Store.watch_generation``) and reloads the watches only when it moved; a chat process that adds, removes or
mutes a watch bumps it in the same transaction, so every poller sees the change at its next batch.

Revision ID: 0006_change_counters
Revises: 0005_digest_outbox_index (the head when this was written; revision ids are names, not an order)
Create Date: 2025-01-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_change_counters"
down_revision = "0005_digest_outbox_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    counters = op.create_table(
        "change_counters",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )
    op.bulk_insert(counters, [{"name": "watches", "value": 0}])


def downgrade() -> None:
    op.drop_table("change_counters")
