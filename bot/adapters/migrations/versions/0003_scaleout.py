"""Scale-out: tombstones for pruned entries, and the indexes the backlog figures and retention read.

Retention deletes old entries, but a feed may serve an old item again (a "top stories" list, a feed that
re-publishes its archive). A tombstone keeps the (feed, identity) pair after its entry is gone, so the
item is still "known" and alerts nobody a second time; it is a few dozen bytes instead of a whole entry.

Revision ID: 0003_scaleout
Revises: 0001
Create Date: 2025-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_scaleout"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "entry_tombstones",
        sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("identity", sa.Text, primary_key=True),
        sa.Column("pruned_at", TS, nullable=False),
    )
    op.create_index("ix_entry_tombstones_pruned_at", "entry_tombstones", ["pruned_at"])
    op.create_index("ix_deliveries_created_at", "deliveries", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_created_at", table_name="deliveries")
    op.drop_index("ix_entry_tombstones_pruned_at", table_name="entry_tombstones")
    op.drop_table("entry_tombstones")
