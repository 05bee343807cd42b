"""Queries of analyst feedback: storing a judgement with a copy of the text judged, listing
judgements, each article's latest relevance judgement (the override the inbox and the alert
rules honour), the labelled exports `monitor eval` reads and the Quality page's figures."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, select
from sqlalchemy.orm import Session

from monitor.feedback import export_lines, latest_judgements
from monitor.feedback_values import (
    FeedbackFilter,
    FeedbackKind,
    FeedbackRecord,
    JudgedText,
    Precision,
    QualityFigures,
)
from monitor.storage.schema import Article, Feed, Feedback, Match, Story

AUTHOR_CHARS = 128


def latest_relevance(article_id: ColumnElement[int] | Any) -> ScalarSelect[bool]:
    """The newest relevance judgement of the article `article_id` names (NULL when none), as a
    correlated subquery (served by ix_feedback_article_kind)."""
    return (
        select(Feedback.value)
        .where(Feedback.article_id == article_id, Feedback.kind == FeedbackKind.RELEVANT)
        .order_by(Feedback.id.desc())
        .limit(1)
        .correlate_except(Feedback)
        .scalar_subquery()
    )


def has_relevance_judgement(article_id: ColumnElement[int] | Any) -> ColumnElement[bool]:
    """Whether the article `article_id` names has any relevance judgement (an index probe)."""
    return (
        select(Feedback.id)
        .where(Feedback.article_id == article_id, Feedback.kind == FeedbackKind.RELEVANT)
        .correlate_except(Feedback)
        .exists()
    )


def feedback_record(row: Feedback) -> FeedbackRecord:
    other = None
    if row.kind == FeedbackKind.SAME_STORY:
        other = JudgedText(
            row.other_article_id,
            row.other_title or "",
            row.other_summary or "",
            row.other_language,
        )
    return FeedbackRecord(
        id=row.id,
        kind=FeedbackKind(row.kind),
        value=row.value,
        article_id=row.article_id,
        story_id=row.story_id,
        created_at=row.created_at,
        author=row.author,
        scorer_version=row.scorer_version,
        predicted=row.predicted,
        score=row.score,
        feed_url=row.feed_url,
        judged=JudgedText(row.article_id, row.title, row.summary, row.language),
        other=other,
    )


def story_side(session: Session, story_id: int, article_id: int) -> JudgedText:
    """The story's side of a pair: its first member other than `article_id`, or its title."""
    other = session.scalars(
        select(Article)
        .where(Article.story_id == story_id, Article.id != article_id)
        .order_by(Article.first_seen_at, Article.id)
        .limit(1)
    ).first()
    if other is not None:
        return JudgedText(other.id, other.title, other.summary, other.language)
    title = session.scalar(select(Story.title).where(Story.id == story_id)) or ""
    return JudgedText(None, title, "", None)


def record_feedback(
    session: Session,
    kind: FeedbackKind,
    article_id: int,
    value: bool,
    author: str,
    now: datetime,
    story_id: int | None = None,
) -> FeedbackRecord | None:
    """Store a judgement of `article_id` (for `same_story`, of its membership in `story_id`).
    None when the article is unknown, or is not a member of `story_id`."""
    row = session.execute(
        select(Article, Feed.url, Match)
        .join(Feed, Feed.id == Article.feed_id)
        .outerjoin(Match, Match.article_id == Article.id)
        .where(Article.id == article_id)
    ).first()
    if row is None:
        return None
    article, feed_url, match = row
    pair = kind is FeedbackKind.SAME_STORY
    if pair and (story_id is None or article.story_id != story_id):
        return None
    other = story_side(session, story_id, article.id) if pair and story_id else None
    feedback = Feedback(
        kind=kind,
        value=value,
        article_id=article.id,
        story_id=article.story_id,
        created_at=now,
        author=author[:AUTHOR_CHARS],
        scorer_version=match.scorer_version if match else None,
        predicted=True if pair else (match.relevant if match else None),
        score=match.score if match else None,
        feed_url=feed_url,
        title=article.title,
        summary=article.summary,
        language=article.language,
        other_article_id=other.article_id if other else None,
        other_title=other.title if other else None,
        other_summary=other.summary if other else None,
        other_language=other.language if other else None,
    )
    session.add(feedback)
    session.flush()
    return feedback_record(feedback)


def list_feedback(
    session: Session, filters: FeedbackFilter, limit: int, cursor: int | None = None
) -> list[FeedbackRecord]:
    """Judgements newest first; `cursor` is the last id of the previous page."""
    query = select(Feedback).order_by(Feedback.id.desc()).limit(limit)
    conditions = [
        *([Feedback.kind == filters.kind] if filters.kind else []),
        *([Feedback.value.is_(filters.value)] if filters.value is not None else []),
        *([Feedback.article_id == filters.article_id] if filters.article_id else []),
        *([Feedback.story_id == filters.story_id] if filters.story_id else []),
        *([Feedback.author == filters.author] if filters.author else []),
        *([Feedback.created_at >= filters.since] if filters.since else []),
        *([Feedback.id < cursor] if cursor else []),
    ]
    return [feedback_record(row) for row in session.scalars(query.where(*conditions))]


def relevance_overrides(session: Session, article_ids: Sequence[int]) -> dict[int, bool]:
    """Each given article's latest relevance judgement (articles never judged are absent)."""
    if not article_ids:
        return {}
    rows = session.execute(
        select(Feedback.article_id, Feedback.value)
        .where(Feedback.article_id.in_(list(article_ids)), Feedback.kind == FeedbackKind.RELEVANT)
        .order_by(Feedback.id)
    )
    return {article_id: value for article_id, value in rows if article_id is not None}


def all_feedback(session: Session, kind: FeedbackKind) -> list[FeedbackRecord]:
    rows = session.scalars(select(Feedback).where(Feedback.kind == kind).order_by(Feedback.id))
    return [feedback_record(row) for row in rows]


def relevance_feedback_items(session: Session) -> list[dict[str, Any]]:
    """The latest relevance judgement of each article, as `monitor eval relevance` reads them
    (the lines of `GET /feedback/relevance.jsonl`)."""
    return export_lines(all_feedback(session, FeedbackKind.RELEVANT), FeedbackKind.RELEVANT)


def same_story_feedback_items(session: Session) -> list[dict[str, Any]]:
    """The latest same-story judgement of each (article, story), as `monitor eval same-story`
    reads them (the lines of `GET /feedback/same-story.jsonl`)."""
    return export_lines(all_feedback(session, FeedbackKind.SAME_STORY), FeedbackKind.SAME_STORY)


def stories_judged_not_relevant(session: Session, story_ids: Sequence[int]) -> set[int]:
    """The stories among `story_ids` with a member whose latest judgement is "not relevant"."""
    if not story_ids:
        return set()
    rows = session.scalars(
        select(Article.story_id)
        .where(Article.story_id.in_(list(story_ids)), latest_relevance(Article.id).is_(False))
        .distinct()
    )
    return {story_id for story_id in rows if story_id is not None}


def precision_of(pairs: Iterable[tuple[bool | None, bool]]) -> Precision:
    """(tagger's flag, judgement) pairs counted; a flag unknown (pruned, unscored) is skipped
    for precision but counts as judged."""
    items = list(pairs)
    flagged = [judged for predicted, judged in items if predicted]
    return Precision(
        judged=len(items),
        flagged=len(flagged),
        confirmed=sum(flagged),
        missed=sum(1 for predicted, judged in items if predicted is False and judged),
    )


def feedback_quality(session: Session) -> QualityFigures:
    """Precision of the relevant flag according to feedback, overall, per language and per
    feed, with the number of judgements. The flag is the stored match's (the current scorer's)
    and, for an article pruned since, the one it had when judged."""
    rows = session.execute(
        select(Feedback, Match.relevant)
        .outerjoin(Match, Match.article_id == Feedback.article_id)
        .order_by(Feedback.id)
    ).all()
    records = [(feedback_record(f), current) for f, current in rows]
    flag = {r.id: (r.predicted if current is None else current) for r, current in records}
    latest = latest_judgements(r for r, _ in records)
    relevance = [r for r in latest if r.kind is FeedbackKind.RELEVANT]
    by_language: dict[str, list[tuple[bool | None, bool]]] = defaultdict(list)
    by_feed: dict[str, list[tuple[bool | None, bool]]] = defaultdict(list)
    for r in relevance:
        by_language[r.judged.language or "-"].append((flag[r.id], r.value))
        by_feed[r.feed_url or "-"].append((flag[r.id], r.value))
    kinds = [r.kind for r, _ in records]
    return QualityFigures(
        judgements=len(records),
        relevance_judgements=kinds.count(FeedbackKind.RELEVANT),
        same_story_judgements=kinds.count(FeedbackKind.SAME_STORY),
        split_off=sum(1 for r in latest if r.kind is FeedbackKind.SAME_STORY and not r.value),
        overall=precision_of((flag[r.id], r.value) for r in relevance),
        by_language={k: precision_of(v) for k, v in sorted(by_language.items())},
        by_feed={k: precision_of(v) for k, v in sorted(by_feed.items())},
    )
