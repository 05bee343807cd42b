"""Queries of the alert outbox: prior alerts, alert and delivery rows, claiming with a lease,
attempts, channel state and digests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from monitor.limits import MAX_ERROR_CHARS
from monitor.storage.articles import dialect_insert
from monitor.storage.claims import claim_ids
from monitor.storage.events import thread_events, threads_of
from monitor.storage.schema import (
    Alert,
    Article,
    ChannelState,
    Delivery,
    DeliveryAttempt,
    Feed,
    Match,
    Story,
)
from monitor.values import (
    AlertStatus,
    AlertType,
    ArticleInfo,
    AttemptOutcome,
    AttemptRecord,
    ClaimedDelivery,
    DeliveryRow,
    DeliveryStatus,
    NextStep,
    PriorAlerts,
    StoredAlert,
    StoryAlertView,
    StoryInfo,
)

ARTICLES_PER_STORY = 20
RESPONSE_KEEP_CHARS = 500


def prior_alerts(
    session: Session, story_ids: Sequence[int], batch_article_ids: Sequence[int], now: datetime
) -> PriorAlerts:
    created: dict[tuple[str, int], int] = {
        (rule, story or 0): outlets
        for rule, story, outlets in session.execute(
            select(Alert.rule, Alert.story_id, Alert.outlets_count).where(
                Alert.type.in_(FIRST_ALERTS), Alert.story_id.in_(story_ids)
            )
        )
    }
    updated = frozenset(
        (rule, story or 0)
        for rule, story in session.execute(
            select(Alert.rule, Alert.story_id).where(
                Alert.type == AlertType.STORY_UPDATED, Alert.story_id.in_(story_ids)
            )
        )
    )
    sent = dict(
        session.execute(
            select(Alert.rule, func.count())
            .where(
                Alert.held.is_(False),
                Alert.type != AlertType.DIGEST,
                Alert.created_at >= now - timedelta(hours=1),
            )
            .group_by(Alert.rule)
        ).all()
    )
    feeds: dict[int, set[int]] = {}
    for story, feed in session.execute(
        select(Article.story_id, Article.feed_id)
        .where(Article.story_id.in_(story_ids), Article.id.not_in(batch_article_ids))
        .distinct()
    ):
        feeds.setdefault(story or 0, set()).add(feed)
    return PriorAlerts(
        created,
        updated,
        sent,
        {k: frozenset(v) for k, v in feeds.items()},
        alerted_threads(session, story_ids),
    )


FIRST_ALERTS = (AlertType.MATCH_CREATED, AlertType.STORY_DEVELOPING)


def alerted_threads(session: Session, story_ids: Sequence[int]) -> frozenset[tuple[str, int]]:
    """(rule, thread) for the threads of `story_ids` that some event of theirs alerted."""
    thread_of = threads_of(session, story_ids)
    if not thread_of:
        return frozenset()
    members = threads_of_members(session, sorted(set(thread_of.values())))
    rows = session.execute(
        select(Alert.rule, Alert.story_id).where(
            Alert.type.in_(FIRST_ALERTS), Alert.story_id.in_(sorted(members))
        )
    )
    return frozenset((rule, members[story or 0]) for rule, story in rows)


def threads_of_members(session: Session, thread_ids: Sequence[int]) -> dict[int, int]:
    """Every event of the given threads → its thread."""
    return {int(e["id"]): thread for thread in thread_ids for e in thread_events(session, thread)}


def story_view(session: Session, story_id: int, article_id: int | None) -> StoryAlertView:
    """A story with its first articles and the triggering article's relevance."""
    story = session.get_one(Story, story_id)
    rows = session.execute(
        select(Article, Match, Feed.url, Feed.name)
        .join(Match, Match.article_id == Article.id)
        .join(Feed, Feed.id == Article.feed_id)
        .where(Article.story_id == story_id)
        .order_by(Article.first_seen_at, Article.id)
        .limit(ARTICLES_PER_STORY)
    ).all()
    articles = tuple(
        ArticleInfo(
            a.id,
            a.title,
            a.url,
            feed_url,
            a.language,
            a.published_at.isoformat(),
            m.score,
            tuple(json.loads(m.countries)),
            tuple(json.loads(m.topics)),
            feed_name,
        )
        for a, m, feed_url, feed_name in rows
    )
    trigger = (
        session.scalar(select(Match).where(Match.article_id == article_id)) if article_id else None
    )
    best = trigger or max((m for _a, m, _u, _n in rows), key=lambda m: m.score, default=None)
    return StoryAlertView(
        story=StoryInfo(
            story.id,
            story.title,
            story.outlets_count,
            tuple(story.languages.split(",")) if story.languages else (),
            story.first_seen_at.isoformat(),
            story.last_seen_at.isoformat(),
        ),
        score=best.score if best else 0.0,
        countries=tuple(json.loads(best.countries)) if best else (),
        topics=tuple(json.loads(best.topics)) if best else (),
        reasons=json.loads(best.reasons) if best else {},
        articles=articles,
        thread=thread_context(session, story_id),
    )


def thread_context(session: Session, story_id: int) -> dict[str, object] | None:
    """The event's thread with its other events, oldest first (None: no thread recorded)."""
    thread = threads_of(session, [story_id]).get(story_id)
    if thread is None:
        return None
    events = [
        {
            "id": e["id"],
            "title": e["title"],
            "outlets_count": e["outlets_count"],
            "first_seen_at": e["first_seen_at"].isoformat(),
        }
        for e in thread_events(session, thread)
        if e["id"] != story_id
    ]
    return {"id": thread, "events": events}


def new_uid() -> str:
    return uuid.uuid4().hex


def insert_alert(
    session: Session,
    uid: str,
    rule: str,
    kind: AlertType,
    story_id: int | None,
    article_id: int | None,
    score: float,
    outlets_count: int,
    held: bool,
    payload: str,
    channels: Sequence[str],
    now: datetime,
) -> int | None:
    """Store an alert and, unless held for a digest, one pending delivery per channel.
    Returns None when the same (rule, story, type) alert exists already."""
    statement = (
        dialect_insert(session)(Alert)
        .values(
            uid=uid,
            rule=rule,
            type=kind,
            story_id=story_id,
            article_id=article_id,
            score=score,
            outlets_count=outlets_count,
            held=held,
            payload=payload,
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(Alert.id)
    )
    alert_id: int | None = session.scalar(statement)
    if alert_id is not None and not held:
        add_deliveries(session, alert_id, channels, now)
    return alert_id


def add_deliveries(session: Session, alert_id: int, channels: Sequence[str], now: datetime) -> None:
    for channel in channels:
        session.add(
            Delivery(
                alert_id=alert_id,
                channel=channel,
                webhook_id=f"msg_{new_uid()}",
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    session.flush()


def claim_deliveries(
    session: Session, now: datetime, owner: str, lease_s: float, limit: int
) -> list[ClaimedDelivery]:
    """Lease up to `limit` due deliveries to `owner`. PostgreSQL skips rows other workers hold
    locked; SQLite's write transaction (BEGIN IMMEDIATE) makes the conditional update atomic."""
    ids = claim_ids(
        session,
        Delivery,
        [Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= now],
        [Delivery.next_attempt_at, Delivery.id],
        limit,
        Delivery.lease_owner,
        Delivery.lease_expires_at,
        owner,
        now,
        lease_s,
    )
    if not ids:
        return []
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.channel,
            Delivery.webhook_id,
            Delivery.attempts,
            Alert.uid,
            Alert.type,
            Alert.payload,
        )
        .join(Alert, Alert.id == Delivery.alert_id)
        .where(Delivery.id.in_(ids))
        .order_by(Delivery.id)
    )
    return [
        ClaimedDelivery(id_, channel, webhook_id, attempts, uid, AlertType(kind), payload)
        for id_, channel, webhook_id, attempts, uid, kind, payload in rows
    ]


def record_attempt(
    session: Session,
    delivery: ClaimedDelivery,
    owner: str,
    outcome: AttemptOutcome,
    latency_ms: int,
    response: str | None,
    step: NextStep,
    now: datetime,
) -> bool:
    """Log the attempt and settle the delivery, if `owner` still holds its lease."""
    error = outcome.error[:MAX_ERROR_CHARS] if outcome.error else None
    session.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            attempted_at=now,
            status_code=outcome.status_code,
            latency_ms=latency_ms,
            error=error,
            response=(response or "")[:RESPONSE_KEEP_CHARS] or None,
        )
    )
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.lease_owner == owner)
        .values(
            status=step.status,
            attempts=delivery.attempts + 1,
            next_attempt_at=step.next_attempt_at or now,
            lease_owner=None,
            lease_expires_at=None,
            last_error=error,
            delivered_at=now if step.status is DeliveryStatus.DELIVERED else None,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def disable_channel(session: Session, name: str, reason: str, now: datetime) -> None:
    statement = dialect_insert(session)(ChannelState).values(
        name=name, disabled_reason=reason, updated_at=now
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[ChannelState.name], set_={"disabled_reason": reason, "updated_at": now}
        )
    )


def enable_channel(session: Session, name: str) -> bool:
    """Clear a channel's disabled state; False when it was not disabled."""
    result = session.execute(delete(ChannelState).where(ChannelState.name == name))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def disabled_channels(session: Session) -> dict[str, str]:
    return {
        name: reason or ""
        for name, reason in session.execute(
            select(ChannelState.name, ChannelState.disabled_reason).where(
                ChannelState.disabled_reason.is_not(None)
            )
        )
    }


def list_deliveries(
    session: Session, status: str | None = None, limit: int = 200
) -> list[DeliveryRow]:
    query = (
        select(Delivery, Alert.type, Alert.rule, Alert.payload)
        .join(Alert, Alert.id == Delivery.alert_id)
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(Delivery.status == status)
    return [
        DeliveryRow(
            d.id,
            d.alert_id,
            AlertType(kind),
            rule,
            d.channel,
            d.webhook_id,
            DeliveryStatus(d.status),
            d.attempts,
            d.next_attempt_at,
            d.last_error,
            d.delivered_at,
            json.loads(payload).get("message", ""),
            d.lease_owner,
        )
        for d, kind, rule, payload in session.execute(query)
    ]


def list_attempts(session: Session, delivery_id: int) -> list[AttemptRecord]:
    return [
        AttemptRecord(
            a.id, a.delivery_id, a.attempted_at, a.status_code, a.latency_ms, a.error, a.response
        )
        for a in session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.id)
        )
    ]


def count_attempts(session: Session, delivery_ids: Sequence[int]) -> dict[int, int]:
    """How many attempts each delivery has logged (0 when none)."""
    counts = dict(
        session.execute(
            select(DeliveryAttempt.delivery_id, func.count())
            .where(DeliveryAttempt.delivery_id.in_(delivery_ids))
            .group_by(DeliveryAttempt.delivery_id)
        ).all()
    )
    return {delivery_id: counts.get(delivery_id, 0) for delivery_id in delivery_ids}


def retry_delivery(session: Session, delivery_id: int, now: datetime) -> bool:
    """Make a dead, disabled or pending delivery due now, with a fresh attempt budget."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status != DeliveryStatus.DELIVERED)
        .values(
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            lease_owner=None,
            lease_expires_at=None,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def stored_alert(alert: Alert) -> StoredAlert:
    if alert.digest_id is not None:
        status = AlertStatus.DIGESTED
    else:
        status = AlertStatus.HELD if alert.held else AlertStatus.QUEUED
    return StoredAlert(
        alert.id,
        alert.uid,
        alert.rule,
        AlertType(alert.type),
        alert.story_id,
        alert.article_id,
        alert.score,
        alert.outlets_count,
        status,
        alert.created_at,
    )


def held_alerts(session: Session, rule: str) -> list[StoredAlert]:
    """The rule's alerts waiting for its next digest, oldest first."""
    return [
        stored_alert(alert)
        for alert in session.scalars(
            select(Alert)
            .where(Alert.rule == rule, Alert.held.is_(True), Alert.digest_id.is_(None))
            .order_by(Alert.id)
        )
    ]


def list_alerts(session: Session, limit: int = 200) -> list[StoredAlert]:
    """The latest stored alerts, newest first."""
    return [
        stored_alert(alert)
        for alert in session.scalars(select(Alert).order_by(Alert.id.desc()).limit(limit))
    ]


def alert_payload(session: Session, alert_id: int) -> str | None:
    """The body an alert's deliveries send, or None for an unknown alert."""
    return session.scalar(select(Alert.payload).where(Alert.id == alert_id))


def last_digest_at(session: Session, rule: str) -> datetime | None:
    return session.scalar(
        select(func.max(Alert.created_at)).where(Alert.rule == rule, Alert.type == AlertType.DIGEST)
    )


def mark_digested(session: Session, alert_ids: Sequence[int], digest_id: int) -> None:
    session.execute(update(Alert).where(Alert.id.in_(alert_ids)).values(digest_id=digest_id))


def count_deliveries_by_status(session: Session) -> Mapping[str, int]:
    return dict(
        session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    )


def count_pending_deliveries(session: Session) -> int:
    """Deliveries not yet settled (due now or waiting for a retry)."""
    return (
        session.scalar(select(func.count()).where(Delivery.status == DeliveryStatus.PENDING)) or 0
    )


def feed_urls(session: Session, feed_ids: Sequence[int]) -> dict[int, str]:
    """Each feed's URL by id, for the alert rules' `feeds` filter."""
    return dict(session.execute(select(Feed.id, Feed.url).where(Feed.id.in_(feed_ids))).all())
