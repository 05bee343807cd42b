"""Moving an article out of its story into a story of its own ("not the same story")."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from monitor.feedback_values import SplitResult
from monitor.storage.events import refresh_threads
from monitor.storage.schema import Article, EventThread, Match, Story, Thread
from monitor.storage.stories import refresh_stories

STORY_TITLE_CHARS = 500  # as a story started by processing is titled


def split_article(session: Session, article_id: int, story_id: int) -> SplitResult | None:
    """Start a new story with `article_id`, a member of `story_id`, and recount both stories
    (members, outlets, languages, first and last seen; the old one is retitled after its first
    remaining member when it was titled after this article). None when the article is not in
    that story; an article alone in its story stays where it is."""
    article = session.get(Article, article_id)
    if article is None or article.story_id != story_id:
        return None
    old = session.get_one(Story, story_id)
    if old.article_count <= 1:
        return SplitResult(article_id, story_id, story_id)
    new_story = Story(
        title=article.title[:STORY_TITLE_CHARS],
        first_seen_at=article.first_seen_at,
        last_seen_at=article.first_seen_at,
        article_count=0,
        outlets_count=0,
        languages="",
        seed=None,
    )
    session.add(new_story)
    session.flush()
    session.execute(update(Article).where(Article.id == article_id).values(story_id=new_story.id))
    session.execute(
        update(Match).where(Match.article_id == article_id).values(story_id=new_story.id)
    )
    refresh_stories(session, sorted({story_id, new_story.id}))
    give_own_thread(session, story_id, new_story)
    first = session.scalars(
        select(Article)
        .where(Article.story_id == story_id)
        .order_by(Article.first_seen_at, Article.id)
        .limit(1)
    ).one()
    first_seen = session.scalar(
        select(func.min(Article.first_seen_at)).where(Article.story_id == story_id)
    )
    values: dict[str, object] = {"first_seen_at": first_seen}
    if old.title == article.title[:STORY_TITLE_CHARS]:
        values["title"] = first.title[:STORY_TITLE_CHARS]
    session.execute(update(Story).where(Story.id == story_id).values(**values))
    return SplitResult(article_id, story_id, new_story.id)


def give_own_thread(session: Session, old_story_id: int, new_story: Story) -> None:
    """The split-off event starts a thread of its own (judged another story, it should not
    develop the old one's thread); both threads are recounted."""
    old_thread = session.scalar(
        select(EventThread.thread_id).where(EventThread.story_id == old_story_id)
    )
    thread = Thread(
        title=new_story.title,
        first_seen_at=new_story.first_seen_at,
        last_seen_at=new_story.last_seen_at,
        event_count=0,
        article_count=0,
        outlets_count=0,
    )
    session.add(thread)
    session.flush()
    session.add(EventThread(story_id=new_story.id, thread_id=thread.id))
    session.flush()
    refresh_threads(session, [t for t in (old_thread, thread.id) if t is not None])
