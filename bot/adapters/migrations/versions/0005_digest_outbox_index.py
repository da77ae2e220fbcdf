"""Digests: an index for the outbox rows one destination created since a time.

``Store.destination_deliveries(destination, since=...)`` (the grades and corroboration a digest reads) filtered
``ix_deliveries_destination`` by time row by row: on a store holding 1M entries and ~240k outbox rows, one
destination's 24k rows were read to keep ~800 (SQLite: 75 ms of a 345 ms digest, measured by ``wirewatch
bench``'s digest_query). ``(destination, created_at)`` reads only the rows in the window.

Revision ID: 0005_digest_outbox_index
Revises: 0004_article_texts (the head when this was written; revision ids are names, not an order)
Create Date: 2025-01-05
"""

from __future__ import annotations

from alembic import op

revision = "0005_digest_outbox_index"
down_revision = "0004_article_texts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deliveries_destination_created_at", "deliveries", ["destination", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_destination_created_at", table_name="deliveries")
