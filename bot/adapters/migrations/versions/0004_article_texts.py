"""Article texts: the main text of an article page read for an alert's sourcing assessment.

A feed often carries only a summary; with WIREWATCH_FULL_TEXT on, the page of an alerted article is fetched
once and its main text assessed instead. The text is kept, keyed by the article's canonical URL, so the
assessment can be reproduced and the page is never fetched a second time (a failure is kept too).

Revision ID: 0004_article_texts
Revises: 0002_digests (the head when this was written; revision ids are names, not an order)
Create Date: 2025-01-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_article_texts"
down_revision = "0002_digests"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "article_texts",
        sa.Column("url", sa.Text, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("links", sa.Text, nullable=False, server_default="[]"),
        sa.Column("fetched_at", TS, nullable=False),
    )
    op.create_index("ix_article_texts_fetched_at", "article_texts", ["fetched_at"])


def downgrade() -> None:
    op.drop_index("ix_article_texts_fetched_at", table_name="article_texts")
    op.drop_table("article_texts")
