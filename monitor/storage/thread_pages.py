"""Read queries behind the pages' developing stories: a thread with each event marked relevant
and alerted, the inbox's "developing" badges, and the thread an outbox alert was sent with.

Like `monitor.storage.pages`, each function runs a fixed number of statements whatever the
number of events or rows it returns (a test counts them)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.feedback import effective_relevance
from monitor.storage.events import get_thread, threads_of
from monitor.storage.feedback import latest_relevance
from monitor.storage.schema import Alert, Article, EventThread, Match, Thread
from monitor.values import AlertType

EVENT_ALERTS = (AlertType.MATCH_CREATED, AlertType.STORY_DEVELOPING, AlertType.STORY_UPDATED)
# At most this many events of one thread on a page: the story panel shows those around its
# event, the thread page one page of them (a thread chained over a busy week can hold hundreds).
PAGE_EVENTS = 50


def marked_thread(
    session: Session, thread_id: int, around: int | None = None, page: int = 1
) -> dict[str, Any] | None:
    """The thread with at most PAGE_EVENTS of its events, oldest first: those around the event
    `around` when given, else page `page` (1 = the oldest). Each event carries `relevant` (a
    member is relevant, by the analyst's judgement where there is one), `best_score`, `alerts`
    (the alert types raised for it) and `published_at` (its earliest member's publication
    time, which differs from first seen when a feed is read late). The thread also carries
    `hidden_before` and `hidden_after` (how many events are not shown on either side),
    `pages`, and `earlier_page` / `later_page` (the page holding the nearest hidden one).
    Five statements; None for an unknown thread."""
    thread = get_thread(session, thread_id)
    if thread is None:
        return None
    events = thread["events"]
    pages = max(1, -(-len(events) // PAGE_EVENTS))
    ids = [int(e["id"]) for e in events]
    if around is not None and around in ids:
        start = max(0, min(ids.index(around) - PAGE_EVENTS // 2, len(ids) - PAGE_EVENTS))
    else:
        start = (min(max(page, 1), pages) - 1) * PAGE_EVENTS
    shown = events[start : start + PAGE_EVENTS]
    end = start + len(shown)
    thread.update(
        events=shown,
        hidden_before=start,
        hidden_after=len(events) - end,
        pages=pages,
        # The thread page's pages holding the nearest hidden event on either side (or None).
        earlier_page=(start - 1) // PAGE_EVENTS + 1 if start > 0 else None,
        later_page=end // PAGE_EVENTS + 1 if end < len(events) else None,
    )
    ids = [int(e["id"]) for e in shown]
    relevance = event_relevance(session, ids)
    alerts = event_alerts(session, ids)
    published = event_published(session, ids)
    for event in shown:
        relevant, score = relevance.get(event["id"], (False, None))
        event.update(
            relevant=relevant,
            best_score=score,
            alerts=alerts.get(event["id"], []),
            published_at=published.get(event["id"]),
        )
    return thread


def story_thread_panel(session: Session, story_id: int) -> dict[str, Any] | None:
    """The marked thread the event `story_id` belongs to; None when it has none."""
    thread_id = threads_of(session, [story_id]).get(story_id)
    return marked_thread(session, thread_id, around=story_id) if thread_id is not None else None


def event_relevance(session: Session, story_ids: Sequence[int]) -> dict[int, tuple[bool, float]]:
    """Per event: whether any member is relevant, and its members' best score."""
    found: dict[int, tuple[bool, float]] = {}
    if not story_ids:
        return found
    query = select(
        Match.story_id, Match.relevant, Match.score, latest_relevance(Match.article_id)
    ).where(Match.story_id.in_(list(story_ids)))
    for story_id, tagger, score, judged in session.execute(query):
        story = int(story_id or 0)  # never NULL: the query asks for these events
        relevant, best = found.get(story, (False, float(score)))
        found[story] = (
            relevant or effective_relevance(bool(tagger), judged),
            max(best, float(score)),
        )
    return found


def event_published(session: Session, story_ids: Sequence[int]) -> dict[int, datetime]:
    """Per event, its earliest member's publication time."""
    if not story_ids:
        return {}
    query = (
        select(Article.story_id, func.min(Article.published_at))
        .where(Article.story_id.in_(list(story_ids)))
        .group_by(Article.story_id)
    )
    return {int(s or 0): t for s, t in session.execute(query)}  # never NULL: these events


def event_alerts(session: Session, story_ids: Sequence[int]) -> dict[int, list[str]]:
    """Per event, the types of the alerts raised for it (under any rule), in a fixed order."""
    found: dict[int, set[str]] = defaultdict(set)
    if not story_ids:
        return {}
    query = (
        select(Alert.story_id, Alert.type)
        .where(Alert.story_id.in_(list(story_ids)), Alert.type.in_(list(EVENT_ALERTS)))
        .distinct()
    )
    for story_id, kind in session.execute(query):
        found[int(story_id or 0)].add(str(kind))  # never NULL, as asked
    return {s: [k for k in EVENT_ALERTS if k in kinds] for s, kinds in found.items()}


def developing_threads(session: Session, story_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """For each of these events whose thread holds more than one event: the thread's id and
    event count. One statement."""
    ids = sorted({int(s) for s in story_ids})
    if not ids:
        return {}
    query = (
        select(EventThread.story_id, Thread.id, Thread.event_count)
        .join(Thread, Thread.id == EventThread.thread_id)
        .where(EventThread.story_id.in_(ids), Thread.event_count > 1)
    )
    return {
        int(story): {"thread_id": int(thread), "event_count": int(count)}
        for story, thread, count in session.execute(query)
    }


def alert_threads(session: Session, alert_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """For each alert about one event: the event's id, its thread now (id and event count)
    and the thread's earlier events as the alert carried them. One statement."""
    if not alert_ids:
        return {}
    query = (
        select(Alert.id, Alert.story_id, Thread.id, Thread.event_count, Alert.payload)
        .outerjoin(EventThread, EventThread.story_id == Alert.story_id)
        .outerjoin(Thread, Thread.id == EventThread.thread_id)
        .where(Alert.id.in_(sorted(set(alert_ids))), Alert.story_id.is_not(None))
    )
    return {
        int(alert): {
            "story_id": int(story or 0),  # never NULL, as asked
            "thread_id": int(thread) if thread is not None else None,
            "event_count": int(count or 1),
            "earlier": carried_events(payload),
        }
        for alert, story, thread, count, payload in session.execute(query)
    }


def carried_events(payload: str) -> list[dict[str, Any]]:
    """The thread's earlier events in an alert body (`thread.events`), oldest first."""
    try:
        body = json.loads(payload)
    except ValueError:
        return []
    thread = body.get("thread") if isinstance(body, Mapping) else None
    events = thread.get("events") if isinstance(thread, Mapping) else None
    if not isinstance(events, list):
        return []
    return [carried_event(e) for e in events if isinstance(e, Mapping) and "id" in e]


def carried_event(event: Mapping[str, Any]) -> dict[str, Any]:
    seen = event.get("first_seen_at")
    try:
        first_seen = datetime.fromisoformat(seen) if isinstance(seen, str) else None
    except ValueError:
        first_seen = None
    return {
        "id": int(event["id"]),
        "title": str(event.get("title", "")),
        "outlets_count": int(event.get("outlets_count") or 1),
        "first_seen_at": first_seen,
    }
