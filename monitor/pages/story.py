"""A story's page: the timeline of its articles, outlets and languages, a chart of articles
over time, "not the same story" on each member, and the developing story (thread) the event
belongs to; a thread's page lists its events."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response

from monitor.charts import bar_chart, hour_buckets
from monitor.feedback_values import FeedbackKind
from monitor.pages.context import Pages
from monitor.pages.web import Author, BrowserRoute, CheckedForm, Reader, fragment_or_back, render
from monitor.storage.feedback import record_feedback
from monitor.storage.pages import story_timeline
from monitor.storage.splits import split_article
from monitor.storage.thread_pages import marked_thread, story_thread_panel

router = APIRouter(include_in_schema=False, route_class=BrowserRoute)
actions = APIRouter(include_in_schema=False)
MAX_ID = 2**63 - 1
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/stories/{story_id}")
def story_page(request: Request, pages: Pages, reader: Reader, story_id: ObjectId) -> Response:
    with pages.sessions() as session:
        story = story_timeline(session, story_id)
        thread = story_thread_panel(session, story_id) if story is not None else None
    if story is None:
        raise HTTPException(404, "no such story")
    articles = story["articles"]
    labels, counts = hour_buckets([a["first_seen_at"] for a in articles])
    countries = Counter(c for a in articles for c in a["countries"])
    topics = Counter(t for a in articles for t in a["topics"])
    outlets = Counter(a["feed_name"] or a["feed"] for a in articles)
    return render(
        request,
        pages,
        "story.html",
        story=story,
        chart=bar_chart(labels, counts),
        countries=countries.most_common(),
        topics=topics.most_common(),
        outlets=outlets.most_common(),
        thread=thread,
        current=story_id,
        **neighbours(thread, story_id),
    )


def neighbours(thread: dict[str, Any] | None, story_id: int) -> dict[str, Any]:
    """The thread's events just before and after this one (`earlier`, `later`), or None."""
    events = thread["events"] if thread else []
    ids = [e["id"] for e in events]
    at = ids.index(story_id) if story_id in ids else None
    if at is None:
        return {"earlier": None, "later": None}
    return {
        "earlier": events[at - 1] if at > 0 else None,
        "later": events[at + 1] if at + 1 < len(events) else None,
    }


@router.get("/threads/{thread_id}")
def thread_page(
    request: Request,
    pages: Pages,
    reader: Reader,
    thread_id: ObjectId,
    page: Annotated[int, Query(ge=1, le=MAX_ID)] = 1,
) -> Response:
    """A developing story: its events oldest first, PAGE_EVENTS a page (HTML for a browser;
    `GET /threads/{id}` stays JSON for API clients)."""
    with pages.sessions() as session:
        thread = marked_thread(session, thread_id, page=page)
    if thread is None:
        raise HTTPException(404, "no such thread")
    return render(
        request, pages, "thread.html", thread=thread, current=None, earlier=None, later=None
    )


@actions.post("/ui/stories/{story_id}/articles/{article_id}/split")
def split(
    request: Request,
    pages: Pages,
    form: CheckedForm,
    author: Author,
    story_id: ObjectId,
    article_id: ObjectId,
) -> Response:
    """Record "not the same story" and move the article into a story of its own, as `POST
    /stories/{id}/articles/{article_id}/feedback` with `same_story: false` does."""
    with pages.sessions.begin() as session:
        now = pages.app.clock()
        kind = FeedbackKind.SAME_STORY
        if record_feedback(session, kind, article_id, False, author, now, story_id) is None:
            raise HTTPException(404, "no such article in this story")
        if split_article(session, article_id, story_id) is None:
            raise HTTPException(404, "no such article in this story")
    return fragment_or_back(request, pages, form, f"/stories/{story_id}", "split", None)
