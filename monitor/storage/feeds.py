"""Queries on feeds and the fetch log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from monitor.limits import (
    MAX_ERROR_CHARS,
    MAX_ETAG_CHARS,
    MAX_FEED_NAME_CHARS,
    MAX_LAST_MODIFIED_CHARS,
    fit_or_none,
    truncate_or_none,
)
from monitor.storage.claims import claim_ids
from monitor.storage.schema import Feed, FetchLog
from monitor.values import FeedRecord, FeedSpec, FeedStateUpdate, FetchLogEntry


def to_feed_record(row: Feed | Row[Any]) -> FeedRecord:
    return FeedRecord(
        id=row.id,
        url=row.url,
        name=row.name,
        language=row.language,
        enabled=row.enabled,
        poll_interval_s=row.poll_interval_s,
        etag=row.etag,
        last_modified=row.last_modified,
        next_poll_at=row.next_poll_at,
        consecutive_failures=row.consecutive_failures,
        permanent_failures=row.permanent_failures,
        last_status=row.last_status,
        last_http_status=row.last_http_status,
        last_error=row.last_error,
        last_error_class=row.last_error_class,
        disabled_reason=row.disabled_reason,
        last_fetched_at=row.last_fetched_at,
        current_interval_s=row.current_interval_s,
    )


def add_feeds(
    session: Session, specs: Sequence[FeedSpec], default_interval_s: int, now: datetime
) -> list[str]:
    """Store the feeds whose URL is not known yet, due at once; return the URLs added."""
    known = set(session.scalars(select(Feed.url).where(Feed.url.in_([s.url for s in specs]))))
    rows: list[dict[str, object]] = []
    for spec in specs:
        if spec.url in known:
            continue
        known.add(spec.url)
        rows.append(
            {
                "url": spec.url,
                "name": spec.name,
                "language": spec.language,
                "enabled": True,
                "poll_interval_s": spec.poll_interval_s or default_interval_s,
                "next_poll_at": now,
                "consecutive_failures": 0,
                "permanent_failures": 0,
                "created_at": now,
            }
        )
    if rows:  # one Core INSERT with the rows as parameters (the ORM's unit of work cost 5x)
        session.flush()
        session.connection().execute(INSERT_FEED, rows)
    return [str(row["url"]) for row in rows]


def remove_feed(session: Session, url: str) -> bool:
    """Delete a feed with its articles and log; False when it was not stored."""
    result = session.execute(delete(Feed).where(Feed.url == url))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def count_feeds(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Feed)) or 0


def list_feeds(session: Session) -> list[FeedRecord]:
    return [to_feed_record(row) for row in session.scalars(select(Feed).order_by(Feed.id))]


def get_feed(session: Session, url: str) -> FeedRecord | None:
    row = session.scalar(select(Feed).where(Feed.url == url))
    return to_feed_record(row) if row else None


def get_feed_by_id(session: Session, feed_id: int) -> FeedRecord | None:
    row = session.get(Feed, feed_id)
    return to_feed_record(row) if row else None


def enable_feed(session: Session, url: str, now: datetime) -> bool:
    """Re-enable the feed at `url` with a fresh failure count, due at `now`; its articles and
    fetch log stay. False when it is not stored."""
    result = session.execute(
        update(Feed)
        .where(Feed.url == url)
        .values(
            enabled=True,
            disabled_reason=None,
            permanent_failures=0,
            consecutive_failures=0,
            next_poll_at=now,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def poll_feed_now(session: Session, url: str, now: datetime) -> bool:
    """Make the feed at `url` due at `now` (a disabled feed stays disabled). False when it is
    not stored."""
    result = session.execute(update(Feed).where(Feed.url == url).values(next_poll_at=now))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def claim_due_feeds(
    session: Session,
    now: datetime,
    owner: str,
    lease_s: float,
    only_url: str | None = None,
    limit: int = 10_000,
) -> list[FeedRecord]:
    """Lease the due feeds (or `only_url`) to `owner`. PostgreSQL skips rows other workers hold
    locked; SQLite's IMMEDIATE transaction makes the conditional update atomic. A lease that
    expires (its worker died) makes the feed claimable again."""
    due = (
        Feed.url == only_url
        if only_url is not None
        else or_(Feed.next_poll_at.is_(None), Feed.next_poll_at <= now)
    )
    ids = claim_ids(
        session,
        Feed,
        [Feed.enabled.is_(True), due],
        [Feed.next_poll_at, Feed.id],
        limit,
        Feed.lease_owner,
        Feed.lease_expires_at,
        owner,
        now,
        lease_s,
    )
    if not ids:
        return []
    # Plain rows, not ORM objects: loading 400 feeds as objects cost three times as much.
    query = select(FEED_TABLE).where(FEED_TABLE.c.id.in_(ids)).order_by(FEED_TABLE.c.id)
    return [to_feed_record(row) for row in session.connection().execute(query)]


# Built once: constructing these statements (coercing every value) cost more than running them.
FEED_COLUMNS_AFTER_FETCH = (
    "next_poll_at",
    "consecutive_failures",
    "permanent_failures",
    "etag",
    "last_modified",
    "enabled",
    "disabled_reason",
    "last_status",
    "last_http_status",
    "last_error",
    "last_error_class",
    "last_fetched_at",
    "current_interval_s",
    "lease_owner",
    "lease_expires_at",
)
FEED_TABLE = cast(Table, Feed.__table__)
UPDATE_FEED_AFTER_FETCH = (
    update(FEED_TABLE)
    .where(FEED_TABLE.c.id == bindparam("the_feed_id"))
    .values(
        {name: bindparam(name) for name in FEED_COLUMNS_AFTER_FETCH}
        | {"name": func.coalesce(FEED_TABLE.c.name, bindparam("title"))}
    )
)
INSERT_FETCH_LOG = insert(cast(Table, FetchLog.__table__))
INSERT_FEED = insert(FEED_TABLE)


def record_fetch(
    session: Session,
    feed_id: int,
    state: FeedStateUpdate,
    log: FetchLogEntry,
    title: str | None = None,
) -> None:
    """Write one attempt: the feed's new state and its fetch-log row; a feed without a name
    takes the title its document gives. Values are bounded by monitor.limits: the title and
    errors cut, an over-long validator not stored. Run on the session's connection: the
    ORM's execute path around these two Core statements cost more than running them."""
    connection = session.connection()
    connection.execute(
        UPDATE_FEED_AFTER_FETCH,
        {
            "the_feed_id": feed_id,
            "next_poll_at": state.next_poll_at,
            "consecutive_failures": state.consecutive_failures,
            "permanent_failures": state.permanent_failures,
            "etag": fit_or_none(state.etag, MAX_ETAG_CHARS),
            "last_modified": fit_or_none(state.last_modified, MAX_LAST_MODIFIED_CHARS),
            "enabled": state.enabled,
            "disabled_reason": truncate_or_none(state.disabled_reason, MAX_ERROR_CHARS),
            "last_status": state.outcome,
            "last_http_status": state.last_http_status,
            "last_error": truncate_or_none(state.last_error, MAX_ERROR_CHARS),
            "last_error_class": state.last_error_class,
            "last_fetched_at": log.started_at,
            "title": truncate_or_none(title, MAX_FEED_NAME_CHARS),
            "current_interval_s": state.current_interval_s,
            "lease_owner": None,
            "lease_expires_at": None,
        },
    )
    connection.execute(
        INSERT_FETCH_LOG,
        {
            "feed_id": feed_id,
            "started_at": log.started_at,
            "outcome": log.outcome,
            "http_status": log.http_status,
            "bytes": log.bytes,
            "duration_ms": log.duration_ms,
            "error_class": log.error_class,
            "error": truncate_or_none(log.error, MAX_ERROR_CHARS),
            "entries_seen": log.entries_seen,
            "new_articles": log.new_articles,
        },
    )


def list_fetch_log(session: Session, feed_id: int) -> list[FetchLogEntry]:
    rows = session.scalars(
        select(FetchLog).where(FetchLog.feed_id == feed_id).order_by(FetchLog.id)
    )
    return [
        FetchLogEntry(
            started_at=row.started_at,
            outcome=row.outcome,
            http_status=row.http_status,
            bytes=row.bytes,
            duration_ms=row.duration_ms,
            error_class=row.error_class,
            error=row.error,
            entries_seen=row.entries_seen,
            new_articles=row.new_articles,
        )
        for row in rows
    ]
