"""stories, matches, and embeddings stored with articles

Revision ID: 20261122_1300
Revises: 20261122_1100
Create Date: 2026-11-22 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.storage.schema import BigId, UTCDateTime

revision = "20261122_1300"
down_revision = "20261122_1100"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("article_count", sa.Integer(), nullable=False),
        sa.Column("outlets_count", sa.Integer(), nullable=False),
        sa.Column("languages", sa.String(128), nullable=False),
        sa.Column("seed", sa.String(256)),
    )
    op.create_index("ix_stories_last_seen_at", "stories", ["last_seen_at"])
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("embedding", sa.LargeBinary()))
        batch.add_column(sa.Column("embedding_model", sa.String(128)))
        batch.add_column(sa.Column("story_id", BigId))
        batch.add_column(sa.Column("seed_duplicate", sa.String(256)))
        batch.add_column(sa.Column("processed_at", UTCDateTime()))
        batch.create_foreign_key(
            "fk_articles_story_id_stories", "stories", ["story_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index("ix_articles_story_id", ["story_id"])
        batch.create_index("ix_articles_unprocessed", ["processed_at", "id"])
    op.create_table(
        "matches",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "article_id",
            BigId,
            sa.ForeignKey("articles.id", ondelete="CASCADE", name="fk_matches_article_id_articles"),
            nullable=False,
        ),
        sa.Column(
            "story_id",
            BigId,
            sa.ForeignKey("stories.id", ondelete="SET NULL", name="fk_matches_story_id_stories"),
        ),
        sa.Column("relevant", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("countries", sa.Text(), nullable=False),
        sa.Column("topics", sa.Text(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("scorer_version", sa.String(256), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("article_id", name="uq_matches_article_id"),
    )
    op.create_index("ix_matches_relevant", "matches", ["relevant"])
    op.create_index("ix_matches_created_at", "matches", ["created_at"])


def downgrade() -> None:
    op.drop_table("matches")
    with op.batch_alter_table("articles") as batch:
        batch.drop_index("ix_articles_unprocessed")
        batch.drop_index("ix_articles_story_id")
        batch.drop_constraint("fk_articles_story_id_stories", type_="foreignkey")
        batch.drop_column("processed_at")
        batch.drop_column("seed_duplicate")
        batch.drop_column("story_id")
        batch.drop_column("embedding_model")
        batch.drop_column("embedding")
    op.drop_index("ix_stories_last_seen_at", table_name="stories")
    op.drop_table("stories")
