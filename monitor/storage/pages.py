"""Read queries behind the web pages (and the one write the API lacks, disabling a feed).

Every function runs a fixed number of statements whatever the number of rows it returns, so a
page's statement count does not grow with what it shows (a test counts them)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Date, cast, func, select, update
from sqlalchemy.orm import Session

from monitor.feedback_values import FeedbackKind
from monitor.filters import MatchFilter
from monitor.storage.feedback import latest_relevance
from monitor.storage.feeds import list_feeds
from monitor.storage.queries import filtered, match_record, matches_query, story_record
from monitor.storage.schema import Article, DeliveryAttempt, Feed, Feedback, Match, Story
from monitor.storage.states import states_for
from monitor.values import AttemptRecord

NEAREST_SCAN = 5_000  # newest matches scanned for each seed's nearest articles


def inbox_rows(
    session: Session, f: MatchFilter, limit: int, offset: int = 0
) -> list[dict[str, Any]]:
    """Match records for the inbox, newest first (with every match shown, the tagger's
    relevant ones first), each with its story's outlet and article counts, the seed it
    duplicates and its read/starred state. Two statements, whatever `limit`."""
    # Sorting by the tagger's flag, not the judgement, keeps the sort on an index; a judged
    # row still shows its judgement.
    order = (
        (Match.id.desc(),) if f.relevant is not None else (Match.relevant.desc(), Match.id.desc())
    )
    query = (
        filtered(
            matches_query()
            .add_columns(Story.outlets_count, Story.article_count)
            .outerjoin(Story, Story.id == Match.story_id),
            f,
        )
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )
    rows = []
    for match, article, url, name, judged, outlets, members in session.execute(query):
        record = match_record(match, article, url, name, judged)
        record.update(
            outlets_count=outlets or 1,
            story_articles=members or 1,
            seed_duplicate=article.seed_duplicate,
        )
        rows.append(record)
    states = states_for(session, [r["article_id"] for r in rows])
    for record in rows:
        state = states[record["article_id"]]
        record.update(read=state.read, starred=state.starred)
    return rows


def story_timeline(session: Session, story_id: int) -> dict[str, Any] | None:
    """A story with its members oldest first: only what the story page shows of each
    (time, outlet, language, title, link, countries, topics). Two statements."""
    story = session.get(Story, story_id)
    if story is None:
        return None
    query = (
        select(
            Article.id,
            Article.title,
            Article.url,
            Article.language,
            Article.first_seen_at,
            Feed.url,
            Feed.name,
            Match.countries,
            Match.topics,
        )
        .join(Feed, Feed.id == Article.feed_id)
        .outerjoin(Match, Match.article_id == Article.id)
        .where(Article.story_id == story_id)
        .order_by(Article.first_seen_at, Article.id)
    )
    members = [
        {
            "article_id": article_id,
            "title": title,
            "url": url,
            "language": language,
            "first_seen_at": seen,
            "feed": feed_url,
            "feed_name": feed_name,
            "countries": json.loads(countries) if countries else [],
            "topics": json.loads(topics) if topics else [],
        }
        for article_id, title, url, language, seen, feed_url, feed_name, countries, topics in (
            session.execute(query)
        )
    ]
    return {**story_record(story), "articles": members}


def day_of(session: Session, column: Any) -> Any:
    """The UTC calendar day of a stored time, on either backend."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def relevant_per_day(
    session: Session, since: datetime
) -> list[tuple[str, list[str], list[str], int]]:
    """Relevant matches (by effective relevance) first seen from `since`, counted per UTC day
    and per combination of countries and topics: (day ISO, countries, topics, count).

    Two statements: the tagger's relevant matches grouped (no per-row judgement lookup),
    then the few judged articles of the window, whose judgement corrects the counts."""
    day = day_of(session, Article.first_seen_at)
    grouped = (
        select(day, Match.countries, Match.topics, func.count())
        .select_from(Match)
        .join(Article, Article.id == Match.article_id)
        .where(Match.relevant.is_(True), Article.first_seen_at >= since)
        .group_by(day, Match.countries, Match.topics)
    )
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for d, countries, topics, n in session.execute(grouped):
        counts[(str(d)[:10], countries, topics)] += int(n)
    judged_ids = select(Feedback.article_id).where(Feedback.kind == FeedbackKind.RELEVANT)
    judged = (
        select(
            day, Match.countries, Match.topics, Match.relevant, latest_relevance(Match.article_id)
        )
        .select_from(Match)
        .join(Article, Article.id == Match.article_id)
        .where(Article.first_seen_at >= since, Match.article_id.in_(judged_ids))
    )
    for d, countries, topics, tagger, verdict in session.execute(judged):
        if verdict is not None and bool(verdict) != bool(tagger):
            counts[(str(d)[:10], countries, topics)] += 1 if verdict else -1
    return [
        (d, json.loads(countries), json.loads(topics), n)
        for (d, countries, topics), n in sorted(counts.items())
        if n > 0
    ]


def biggest_stories(session: Session, since: datetime, limit: int) -> list[dict[str, Any]]:
    """Stories seen since `since`, most outlets first, then most articles."""
    query = (
        select(Story)
        .where(Story.last_seen_at >= since)
        .order_by(Story.outlets_count.desc(), Story.article_count.desc(), Story.id.desc())
        .limit(limit)
    )
    return [story_record(s) for s in session.scalars(query)]


def feeds_health(session: Session, now: datetime, days: int = 7) -> list[dict[str, Any]]:
    """Every feed with its health and the number of articles first seen in the last `days`."""
    counts = dict(
        session.execute(
            select(Article.feed_id, func.count())
            .where(Article.first_seen_at >= now - timedelta(days=days))
            .group_by(Article.feed_id)
        ).all()
    )
    return [{"feed": f, "recent_articles": int(counts.get(f.id, 0))} for f in list_feeds(session)]


def disable_feed(session: Session, feed_id: int, reason: str) -> bool:
    """Stop polling a feed, recording why; False when there is no such feed."""
    result = session.execute(
        update(Feed).where(Feed.id == feed_id).values(enabled=False, disabled_reason=reason)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def attempts_for(session: Session, delivery_ids: Sequence[int]) -> dict[int, list[AttemptRecord]]:
    """The logged attempts of each delivery, oldest first, in one query."""
    found: dict[int, list[AttemptRecord]] = {i: [] for i in delivery_ids}
    if not delivery_ids:
        return found
    query = (
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id.in_(list(delivery_ids)))
        .order_by(DeliveryAttempt.id)
    )
    for a in session.scalars(query):
        found[a.delivery_id].append(
            AttemptRecord(
                a.id,
                a.delivery_id,
                a.attempted_at,
                a.status_code,
                a.latency_ms,
                a.error,
                a.response,
            )
        )
    return found


def nearest_to_seeds(
    session: Session, per_seed: int, scan: int = NEAREST_SCAN
) -> dict[str, list[dict[str, Any]]]:
    """For each seed named in the newest `scan` matches' reasons, its `per_seed` most similar
    stored articles (match records with the `similarity`), and its duplicates' count."""
    query = (
        matches_query()
        .where(Match.reasons.like('%"nearest_seed"%'))
        .order_by(Match.id.desc())
        .limit(scan)
    )
    nearest: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in session.execute(query):
        record = match_record(*row)
        seed = record["reasons"].get("nearest_seed") or {}
        if isinstance(seed.get("name"), str):
            nearest[seed["name"]].append({**record, "similarity": seed.get("similarity", 0.0)})
    return {
        name: sorted(records, key=lambda r: -float(r["similarity"] or 0))[:per_seed]
        for name, records in nearest.items()
    }


def seed_duplicate_counts(session: Session) -> dict[str, int]:
    """How many stored articles were recognised as copies of each seed."""
    query = (
        select(Article.seed_duplicate, func.count())
        .where(Article.seed_duplicate.is_not(None))
        .group_by(Article.seed_duplicate)
    )
    return {str(name): int(n) for name, n in session.execute(query)}
