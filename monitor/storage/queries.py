"""Read queries behind the API and the CLI: matches with filters and cursor pagination, stories,
articles, and the figures /metrics reports."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, false, func, or_, select, true
from sqlalchemy.orm import Session

from monitor.feedback import effective_relevance, override_of
from monitor.filters import MatchFilter
from monitor.storage.feedback import (
    has_relevance_judgement,
    latest_relevance,
    relevance_overrides,
)
from monitor.storage.schema import Article, Delivery, Feed, FetchLog, Match, Story
from monitor.storage.text import unicode_lower

__all__ = ["MatchFilter"]  # the filter value lives in monitor.filters; storage runs it
LIKE_ESCAPE = "\\"


def like_literal(text: str) -> str:
    """`text` with LIKE's wildcards escaped, so `%` and `_` match only themselves."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def match_record(
    match: Match,
    article: Article,
    feed_url: str,
    feed_name: str | None,
    judged: bool | None = None,
) -> dict[str, Any]:
    """A match as the faces show it. `relevant` is the effective relevance (the analyst's
    latest judgement, else the tagger's); `override` says "feedback" when a judgement overrode
    the tagger, whose own decision stays in `tagger_relevant`."""
    return {
        "id": match.id,
        "article_id": article.id,
        "story_id": match.story_id,
        "title": article.title,
        "summary": article.summary,
        "url": article.url,
        "language": article.language,
        "feed": feed_url,
        "feed_name": feed_name,
        "published_at": article.published_at,
        "first_seen_at": article.first_seen_at,
        "relevant": effective_relevance(match.relevant, judged),
        "tagger_relevant": match.relevant,
        "feedback": judged,
        "override": override_of(match.relevant, judged),
        "score": match.score,
        "countries": json.loads(match.countries),
        "topics": json.loads(match.topics),
        "reasons": json.loads(match.reasons),
        "scorer_version": match.scorer_version,
    }


def filtered(query: Any, f: MatchFilter) -> Any:
    conditions = []
    if f.since is not None:
        conditions.append(Article.first_seen_at >= f.since)
    if f.until is not None:
        conditions.append(Article.first_seen_at < f.until)
    if f.min_score is not None:
        conditions.append(Match.score >= f.min_score)
    if f.country:
        code = like_literal(f.country.upper())
        conditions.append(Match.countries.like(f'%"{code}"%', escape=LIKE_ESCAPE))
    if f.topic:
        conditions.append(Match.topics.like(f'%"{like_literal(f.topic)}"%', escape=LIKE_ESCAPE))
    if f.language:
        conditions.append(Article.language == f.language)
    if f.feed:
        conditions.append(Feed.url == f.feed)
    if f.story is not None:
        conditions.append(Match.story_id == f.story)
    if f.text:
        pattern = f"%{like_literal(f.text.lower())}%"
        conditions.append(
            or_(
                unicode_lower(Article.title).like(pattern, escape=LIKE_ESCAPE),
                unicode_lower(Article.summary).like(pattern, escape=LIKE_ESCAPE),
            )
        )
    if f.article_ids is not None:
        conditions.append(Article.id.in_(list(f.article_ids)))
    if f.relevant is not None:
        # Last, after the cheap column tests, and behind one: only a row whose tagger flag
        # disagrees with the wanted value and that has a judgement needs the judgement lookup.
        effective = func.coalesce(latest_relevance(Match.article_id), Match.relevant)
        wanted = effective.is_(true()) if f.relevant else effective.is_(false())
        agrees = Match.relevant.is_(true()) if f.relevant else Match.relevant.is_(false())
        conditions.append(or_(agrees, has_relevance_judgement(Match.article_id)))
        conditions.append(wanted)
    return query.where(*conditions)


def matches_query() -> Any:
    """Rows for `match_record`: the match, its article, feed URL and name, latest judgement."""
    return (
        select(Match, Article, Feed.url, Feed.name, latest_relevance(Match.article_id))
        .join(Article, Article.id == Match.article_id)
        .join(Feed, Feed.id == Article.feed_id)
    )


def list_matches_page(
    session: Session, f: MatchFilter, limit: int, before_id: int | None = None
) -> list[dict[str, Any]]:
    """Newest first; `before_id` is the cursor (the last id of the previous page)."""
    query = filtered(matches_query(), f).order_by(Match.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(Match.id < before_id)
    return [match_record(*row) for row in session.execute(query)]


def get_match(session: Session, match_id: int) -> dict[str, Any] | None:
    row = session.execute(matches_query().where(Match.id == match_id)).first()
    return match_record(*row) if row else None


def get_matches(session: Session, match_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The records of `match_ids`, by id, in one query (absent ids are left out)."""
    if not match_ids:
        return {}
    rows = session.execute(matches_query().where(Match.id.in_(list(match_ids))))
    return {row[0].id: match_record(*row) for row in rows}


def story_record(story: Story) -> dict[str, Any]:
    return {
        "id": story.id,
        "title": story.title,
        "article_count": story.article_count,
        "outlets_count": story.outlets_count,
        "languages": story.languages.split(",") if story.languages else [],
        "first_seen_at": story.first_seen_at,
        "last_seen_at": story.last_seen_at,
        "seed": story.seed,
    }


def list_stories_page(
    session: Session, limit: int, before_id: int | None = None
) -> list[dict[str, Any]]:
    query = select(Story).order_by(Story.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(Story.id < before_id)
    return [story_record(s) for s in session.scalars(query)]


def get_story(session: Session, story_id: int) -> dict[str, Any] | None:
    story = session.get(Story, story_id)
    if story is None:
        return None
    rows = session.execute(
        matches_query()
        .where(Article.story_id == story_id)
        .order_by(Article.first_seen_at, Article.id)
    )
    return {**story_record(story), "articles": [match_record(*row) for row in rows]}


def get_article(session: Session, article_id: int) -> dict[str, Any] | None:
    row = session.execute(
        select(Article, Feed.url, Feed.name)
        .join(Feed, Feed.id == Article.feed_id)
        .where(Article.id == article_id)
    ).first()
    if row is None:
        return None
    article, feed_url, feed_name = row
    match = session.scalar(select(Match).where(Match.article_id == article_id))
    return {
        "id": article.id,
        "feed": feed_url,
        "feed_name": feed_name,
        "guid": article.guid,
        "url": article.url,
        "title": article.title,
        "summary": article.summary,
        "language": article.language,
        "authors": article.authors,
        "published_at": article.published_at,
        "first_seen_at": article.first_seen_at,
        "story_id": article.story_id,
        "seed_duplicate": article.seed_duplicate,
        "match": (
            match_record(
                match,
                article,
                feed_url,
                feed_name,
                relevance_overrides(session, [article_id]).get(article_id),
            )
            if match
            else None
        ),
    }


def vectors_for_search(
    session: Session, f: MatchFilter, model_id: str, limit: int
) -> list[tuple[int, bytes]]:
    """Match ids and their articles' vectors for the newest `limit` filtered matches."""
    query = (
        filtered(
            select(Match.id, Article.embedding)
            .join(Article, Article.id == Match.article_id)
            .join(Feed, Feed.id == Article.feed_id)
            .where(Article.embedding_model == model_id, Article.embedding.is_not(None)),
            f,
        )
        .order_by(Match.id.desc())
        .limit(limit)
    )
    return [(row[0], bytes(row[1])) for row in session.execute(query)]


@dataclass(frozen=True, slots=True)
class Figures:
    """What /metrics exposes, read at scrape time."""

    feeds_by_status: dict[str, int]
    fetches_last_hour: int
    fetch_seconds_last_hour: float
    articles: int
    duplicates: int
    stories: int
    matches_by_relevance: dict[str, int]
    deliveries_by_status: dict[str, int]
    outbox_backlog: int


def read_figures(session: Session, now: datetime) -> Figures:
    status = case(
        (Feed.enabled.is_(False), "disabled"), else_=func.coalesce(Feed.last_status, "new")
    )
    by_status: dict[Any, Any] = dict(
        session.execute(select(status, func.count()).group_by(status)).all()
    )
    count, seconds = session.execute(
        select(func.count(), func.coalesce(func.sum(FetchLog.duration_ms), 0)).where(
            FetchLog.started_at >= now - timedelta(hours=1)
        )
    ).one()
    duplicates = session.scalar(
        select(func.coalesce(func.sum(FetchLog.entries_seen - FetchLog.new_articles), 0))
    )
    relevance = dict(
        session.execute(select(Match.relevant, func.count()).group_by(Match.relevant)).all()
    )
    return Figures(
        feeds_by_status={str(k): int(v) for k, v in by_status.items()},
        fetches_last_hour=int(count),
        fetch_seconds_last_hour=float(seconds) / 1000,
        articles=session.scalar(select(func.count()).select_from(Article)) or 0,
        duplicates=int(duplicates or 0),
        stories=session.scalar(select(func.count()).select_from(Story)) or 0,
        matches_by_relevance={
            "relevant": int(relevance.get(True, 0)),
            "not_relevant": int(relevance.get(False, 0)),
        },
        deliveries_by_status={
            str(k): int(v)
            for k, v in session.execute(
                select(Delivery.status, func.count()).group_by(Delivery.status)
            ).all()
        },
        outbox_backlog=session.scalar(
            select(func.count()).where(
                Delivery.status == "pending", Delivery.next_attempt_at <= now
            )
        )
        or 0,
    )


def filtered_article_ids(session: Session, f: MatchFilter) -> set[int]:
    """The ids of the articles whose matches pass `f` (narrow it with `article_ids`)."""
    query = filtered(
        select(Article.id)
        .select_from(Match)
        .join(Article, Article.id == Match.article_id)
        .join(Feed, Feed.id == Article.feed_id),
        f,
    )
    return set(session.scalars(query))
