"""create feeds, fetch_log and articles

Revision ID: 20261122_1100
Revises:
Create Date: 2026-11-22 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.storage.schema import BigId, UTCDateTime

revision = "20261122_1100"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("name", sa.String(512)),
        sa.Column("language", sa.String(16)),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("poll_interval_s", sa.Integer(), nullable=False),
        sa.Column("etag", sa.String(1024)),
        sa.Column("last_modified", sa.String(128)),
        sa.Column("next_poll_at", UTCDateTime()),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("permanent_failures", sa.Integer(), nullable=False),
        sa.Column("last_status", sa.String(32)),
        sa.Column("last_http_status", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.Column("last_error_class", sa.String(32)),
        sa.Column("disabled_reason", sa.Text()),
        sa.Column("last_fetched_at", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("url", name="uq_feeds_url"),
    )
    op.create_index("ix_feeds_due", "feeds", ["enabled", "next_poll_at"])
    op.create_table(
        "fetch_log",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "feed_id", BigId, sa.ForeignKey("feeds.id", ondelete="CASCADE", name="fk_fetch_log_feed_id_feeds"), nullable=False
        ),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("http_status", sa.Integer()),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error_class", sa.String(32)),
        sa.Column("error", sa.Text()),
        sa.Column("entries_seen", sa.Integer(), nullable=False),
        sa.Column("new_articles", sa.Integer(), nullable=False),
    )
    op.create_index("ix_fetch_log_feed_id", "fetch_log", ["feed_id"])
    op.create_table(
        "articles",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "feed_id", BigId, sa.ForeignKey("feeds.id", ondelete="CASCADE", name="fk_articles_feed_id_feeds"), nullable=False
        ),
        sa.Column("guid", sa.String(2048), nullable=False),
        sa.Column("url", sa.String(2048)),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("authors", sa.Text(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("content_hash", sa.String(64)),
        sa.UniqueConstraint("feed_id", "guid", name="uq_articles_feed_guid"),
        sa.UniqueConstraint("url", name="uq_articles_url"),
        sa.UniqueConstraint("content_hash", name="uq_articles_content_hash"),
    )
    op.create_index("ix_articles_published_at", "articles", ["published_at"])
    op.create_index("ix_articles_first_seen_at", "articles", ["first_seen_at"])


def downgrade() -> None:
    op.drop_table("articles")
    op.drop_table("fetch_log")
    op.drop_index("ix_feeds_due", table_name="feeds")
    op.drop_table("feeds")
