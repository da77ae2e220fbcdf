"""Digests: when a destination's digest time was set, and an index for the digest's match query.

``destinations.digest_set_at``: a ``/digest at 08:00`` given at 10:00 must not fire a "late" digest for
08:00 the same day (``core.digests.due_digest`` reads it). ``ix_matches_watch_id``: the digest reads the
matches of one destination's watches over a time window.

Revision ID: 0002_digests
Revises: 0003_scaleout (the head when this was written; revision ids are names, not an order)
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_digests"
down_revision = "0003_scaleout"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("destinations") as batch:
        batch.add_column(sa.Column("digest_set_at", sa.DateTime(timezone=True)))
    op.create_index("ix_matches_watch_id", "matches", ["watch_id"])


def downgrade() -> None:
    op.drop_index("ix_matches_watch_id", table_name="matches")
    with op.batch_alter_table("destinations") as batch:
        batch.drop_column("digest_set_at")
