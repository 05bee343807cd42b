"""stories become events inside threads; exact copies from other feeds count as outlets

Every existing story becomes an event in a thread of its own (thread id = story id).

Revision ID: 20261202_0500
Revises: 20261202_0400
Create Date: 2026-12-02 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.storage.schema import BigId, UTCDateTime

revision = "20261202_0500"
down_revision = "20261202_0400"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "threads",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("article_count", sa.Integer(), nullable=False),
        sa.Column("outlets_count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_threads_last_seen_at", "threads", ["last_seen_at"])
    op.create_table(
        "event_threads",
        sa.Column(
            "story_id",
            BigId,
            sa.ForeignKey(
                "stories.id", ondelete="CASCADE", name="fk_event_threads_story_id_stories"
            ),
            primary_key=True,
        ),
        sa.Column(
            "thread_id",
            BigId,
            sa.ForeignKey(
                "threads.id", ondelete="CASCADE", name="fk_event_threads_thread_id_threads"
            ),
            nullable=False,
        ),
    )
    op.create_index("ix_event_threads_thread_id", "event_threads", ["thread_id"])
    op.create_table(
        "article_outlets",
        sa.Column(
            "article_id",
            BigId,
            sa.ForeignKey(
                "articles.id", ondelete="CASCADE", name="fk_article_outlets_article_id_articles"
            ),
            primary_key=True,
        ),
        sa.Column(
            "feed_id",
            BigId,
            sa.ForeignKey("feeds.id", ondelete="CASCADE", name="fk_article_outlets_feed_id_feeds"),
            primary_key=True,
        ),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    )
    op.execute(
        "INSERT INTO threads (id, title, first_seen_at, last_seen_at, event_count, article_count,"
        " outlets_count) SELECT id, title, first_seen_at, last_seen_at, 1, article_count,"
        " outlets_count FROM stories"
    )
    op.execute("INSERT INTO event_threads (story_id, thread_id) SELECT id, id FROM stories")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('threads', 'id'),"
            " COALESCE((SELECT MAX(id) FROM threads), 0) + 1, false)"
        )


def downgrade() -> None:
    op.drop_table("article_outlets")
    op.drop_index("ix_event_threads_thread_id", table_name="event_threads")
    op.drop_table("event_threads")
    op.drop_index("ix_threads_last_seen_at", table_name="threads")
    op.drop_table("threads")
