"""work claims (feeds, articles to process) and the adaptive poll interval

Revision ID: 20261122_1700
Revises: 20261122_1500
Create Date: 2026-11-22 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.storage.schema import UTCDateTime

revision = "20261122_1700"
down_revision = "20261122_1500"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("current_interval_s", sa.Integer()))
        batch.add_column(sa.Column("lease_owner", sa.String(128)))
        batch.add_column(sa.Column("lease_expires_at", UTCDateTime()))
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(128)))
        batch.add_column(sa.Column("claim_expires_at", UTCDateTime()))


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("claim_expires_at")
        batch.drop_column("claimed_by")
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_owner")
        batch.drop_column("current_interval_s")
