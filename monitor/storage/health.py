"""What /healthz reads from the database: that it answers, and when a feed last succeeded."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, literal, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from monitor.schedule import OUTCOME_NOT_MODIFIED, OUTCOME_OK
from monitor.storage.schema import Feed


def is_database_reachable(session: Session) -> bool:
    """One round trip; False (never an exception) when the database does not answer."""
    try:
        session.execute(select(literal(1)))
    except SQLAlchemyError:
        session.rollback()
        return False
    return True


def last_feed_success_at(session: Session) -> datetime | None:
    """When any feed was last fetched successfully (200 or 304), by any worker."""
    return session.scalar(
        select(func.max(Feed.last_fetched_at)).where(
            Feed.last_status.in_([OUTCOME_OK, OUTCOME_NOT_MODIFIED])
        )
    )
