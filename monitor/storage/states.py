"""Queries of the inbox's per-article state: read or unread, starred or not."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.feedback_values import ArticleState
from monitor.storage.articles import dialect_insert
from monitor.storage.schema import Article, ArticleStateRow


def existing_articles(session: Session, article_ids: Sequence[int]) -> list[int]:
    if not article_ids:
        return []
    return list(session.scalars(select(Article.id).where(Article.id.in_(list(set(article_ids))))))


def upsert_states(
    session: Session, article_ids: Sequence[int], field: str, value: bool, now: datetime
) -> int:
    """Set one flag (`read` or `starred`) on the given articles that exist; returns how many."""
    ids = existing_articles(session, article_ids)
    if not ids:
        return 0
    rows = [
        {"article_id": i, "read": False, "starred": False, field: value, "updated_at": now}
        for i in ids
    ]
    statement = dialect_insert(session)(ArticleStateRow).values(rows)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[ArticleStateRow.article_id],
            set_={field: statement.excluded[field], "updated_at": now},
        )
    )
    return len(ids)


def set_read(session: Session, article_ids: Sequence[int], read: bool, now: datetime) -> int:
    """Mark articles read (or unread again); unknown ids are ignored. Returns how many."""
    return upsert_states(session, article_ids, "read", read, now)


def set_starred(session: Session, article_id: int, starred: bool, now: datetime) -> bool:
    """Star or unstar an article; False when there is no such article."""
    return upsert_states(session, [article_id], "starred", starred, now) == 1


def states_for(session: Session, article_ids: Sequence[int]) -> dict[int, ArticleState]:
    """The state of each given id (an untouched article: unread, not starred), in one query."""
    states = {i: ArticleState(i) for i in article_ids}
    if not article_ids:
        return states
    for row in session.scalars(
        select(ArticleStateRow).where(ArticleStateRow.article_id.in_(list(set(article_ids))))
    ):
        states[row.article_id] = ArticleState(row.article_id, row.read, row.starred, row.updated_at)
    return states


def starred_article_ids(session: Session, limit: int) -> list[int]:
    """Starred articles, most recently starred first."""
    return list(
        session.scalars(
            select(ArticleStateRow.article_id)
            .where(ArticleStateRow.starred.is_(True))
            .order_by(ArticleStateRow.updated_at.desc(), ArticleStateRow.article_id.desc())
            .limit(limit)
        )
    )
