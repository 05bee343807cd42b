"""alerts, the delivery outbox, attempts and channel state

Revision ID: 20261122_1500
Revises: 20261122_1300
Create Date: 2026-11-22 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.storage.schema import BigId, UTCDateTime

revision = "20261122_1500"
down_revision = "20261122_1300"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("uid", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("story_id", BigId, sa.ForeignKey("stories.id", ondelete="SET NULL", name="fk_alerts_story_id_stories")),
        sa.Column("article_id", BigId, sa.ForeignKey("articles.id", ondelete="SET NULL", name="fk_alerts_article_id_articles")),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("outlets_count", sa.Integer(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("digest_id", BigId, sa.ForeignKey("alerts.id", ondelete="SET NULL", name="fk_alerts_digest_id_alerts")),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("uid", name="uq_alerts_uid"),
        sa.UniqueConstraint("rule", "story_id", "type", name="uq_alerts_rule_story_type"),
    )
    op.create_index("ix_alerts_held", "alerts", ["held"])
    op.create_index("ix_alerts_created_at", "alerts", ["created_at"])
    op.create_table(
        "deliveries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("alert_id", BigId, sa.ForeignKey("alerts.id", ondelete="CASCADE", name="fk_deliveries_alert_id_alerts"), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("webhook_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(128)),
        sa.Column("lease_expires_at", UTCDateTime()),
        sa.Column("last_error", sa.Text()),
        sa.Column("delivered_at", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("webhook_id", name="uq_deliveries_webhook_id"),
        sa.UniqueConstraint("alert_id", "channel", name="uq_deliveries_alert_channel"),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", BigId, sa.ForeignKey("deliveries.id", ondelete="CASCADE", name="fk_delivery_attempts_delivery_id_deliveries"), nullable=False),
        sa.Column("attempted_at", UTCDateTime(), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("response", sa.Text()),
    )
    op.create_index("ix_delivery_attempts_delivery_id", "delivery_attempts", ["delivery_id"])
    op.create_table(
        "channel_state",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("disabled_reason", sa.Text()),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("channel_state")
    op.drop_table("delivery_attempts")
    op.drop_table("deliveries")
    op.drop_table("alerts")
