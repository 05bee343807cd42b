"""Leased claims, the one mechanism behind work shared by several workers (feeds to poll,
articles to process, deliveries to send)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session


def claim_ids(
    session: Session,
    model: Any,
    conditions: Sequence[ColumnElement[bool]],
    order_by: Sequence[Any],
    limit: int,
    owner_column: InstrumentedAttribute[Any],
    expires_column: InstrumentedAttribute[Any],
    owner: str,
    now: datetime,
    lease_s: float,
) -> list[int]:
    """Lease up to `limit` rows matching `conditions` whose lease is free or expired.

    PostgreSQL skips rows other workers hold locked (`FOR UPDATE SKIP LOCKED`); on SQLite the
    caller's write transaction (BEGIN IMMEDIATE) makes select-then-update atomic. A lease that
    expires (its worker died) makes the row claimable again.
    """
    query = (
        select(model.id)
        .where(*conditions, or_(expires_column.is_(None), expires_column < now))
        .order_by(*order_by)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query))
    if ids:
        session.execute(
            update(model)
            .where(model.id.in_(ids))
            .values({owner_column.key: owner, expires_column.key: now + timedelta(seconds=lease_s)})
        )
    return ids
