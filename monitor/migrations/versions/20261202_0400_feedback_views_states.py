"""analyst feedback, saved views and per-article read/starred state

Revision ID: 20261202_0400
Revises: 20261122_1700
Create Date: 2026-12-02 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.storage.schema import BigId, UTCDateTime

revision = "20261202_0400"
down_revision = "20261122_1700"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Boolean(), nullable=False),
        sa.Column("article_id", BigId, sa.ForeignKey("articles.id", ondelete="SET NULL", name="fk_feedback_article_id_articles")),
        sa.Column("story_id", BigId, sa.ForeignKey("stories.id", ondelete="SET NULL", name="fk_feedback_story_id_stories")),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("scorer_version", sa.String(256)),
        sa.Column("predicted", sa.Boolean()),
        sa.Column("score", sa.Float()),
        sa.Column("feed_url", sa.String(2048)),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("other_article_id", BigId, sa.ForeignKey("articles.id", ondelete="SET NULL", name="fk_feedback_other_article_id_articles")),
        sa.Column("other_title", sa.Text()),
        sa.Column("other_summary", sa.Text()),
        sa.Column("other_language", sa.String(16)),
    )
    op.create_index("ix_feedback_created_at", "feedback", ["created_at"])
    op.create_index("ix_feedback_article_kind", "feedback", ["article_id", "kind", "id"])
    op.create_table(
        "saved_views",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("filter", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("name", name="uq_saved_views_name"),
    )
    op.create_table(
        "article_states",
        sa.Column("article_id", BigId, sa.ForeignKey("articles.id", ondelete="CASCADE", name="fk_article_states_article_id_articles"), primary_key=True),
        sa.Column("read", sa.Boolean(), nullable=False),
        sa.Column("starred", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_article_states_starred", "article_states", ["starred"])


def downgrade() -> None:
    op.drop_table("article_states")
    op.drop_table("saved_views")
    op.drop_table("feedback")
