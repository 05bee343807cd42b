"""Leased claims, the one mechanism behind work shared by several workers (feeds to poll,
articles to process, deliveries to send)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from monitor.storage.schema import Article


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


def held_ids(
    session: Session,
    model: Any,
    ids: Sequence[int],
    conditions: Sequence[ColumnElement[bool]],
    owner_column: InstrumentedAttribute[Any],
    owner: str,
) -> set[int]:
    """Which of `ids` are still leased to `owner` and match `conditions` (the work is still to
    do). A lease that ran out counts while no other worker took the row over. On PostgreSQL the
    rows are locked until the transaction ends, so a worker claiming meanwhile skips them; on
    SQLite the caller's write transaction already excludes it. Check this in the transaction
    that stores the work: then nothing is done twice, however long the work took."""
    query = select(model.id).where(model.id.in_(ids), owner_column == owner, *conditions)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return set(session.scalars(query))


def release_ids(
    session: Session,
    model: Any,
    ids: Sequence[int],
    owner_column: InstrumentedAttribute[Any],
    expires_column: InstrumentedAttribute[Any],
    owner: str,
) -> int:
    """Give up `owner`'s leases on `ids` (work claimed but not started): the rows are claimable
    again at once. Returns how many leases were released."""
    if not ids:
        return 0
    result = session.execute(
        update(model)
        .where(model.id.in_(ids), owner_column == owner)
        .values({owner_column.key: None, expires_column.key: None})
    )
    return int(getattr(result, "rowcount", 0) or 0)


def held_articles(session: Session, ids: Sequence[int], owner: str) -> set[int]:
    """Which of these articles are still unprocessed and leased to `owner` (see held_ids)."""
    return held_ids(
        session, Article, ids, [Article.processed_at.is_(None)], Article.claimed_by, owner
    )


def release_articles(session: Session, ids: Sequence[int], owner: str) -> int:
    """Give up `owner`'s claims on these articles (claimed ahead, never processed)."""
    return release_ids(session, Article, ids, Article.claimed_by, Article.claim_expires_at, owner)
