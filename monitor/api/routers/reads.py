"""Matches, stories and articles: the reads an analyst or a feed reader makes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from monitor.api.atom import matches_atom
from monitor.api.auth import bearer_scheme, require_read_access
from monitor.api.context import Context, ReadSession
from monitor.api.filters import MatchQuery
from monitor.api.params import ObjectId, PageCursor, PageLimit, found, page_of
from monitor.storage.events import get_story_thread, get_thread
from monitor.storage.queries import (
    get_article,
    get_match,
    get_story,
    list_matches_page,
    list_stories_page,
)

router = APIRouter(
    dependencies=[Depends(bearer_scheme), Depends(require_read_access)], tags=["reads"]
)


@router.get("/matches", summary="List matches")
def matches(
    session: ReadSession,
    context: Context,
    f: MatchQuery,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> dict[str, Any]:
    """Articles as scored for relevance, newest first, narrowed by the filters; follow
    `next_cursor` for the next page."""
    size = limit or context.settings.api.page_size
    return page_of(list_matches_page(session, f, size, cursor), size)


@router.get(
    "/matches.atom",
    summary="Relevant matches as an Atom feed",
    response_class=Response,
    responses={200: {"content": {"application/atom+xml": {}}}},
)
def matches_feed(
    request: Request,
    session: ReadSession,
    context: Context,
    f: MatchQuery,
    limit: PageLimit = None,
) -> Response:
    """The relevant matches under the same filters, as Atom 1.0 for a feed reader. The self
    link uses `[api] public_base_url` when set."""
    size = limit or context.settings.api.page_size
    items = list_matches_page(session, replace(f, relevant=True), size)
    query = f"?{request.url.query}" if request.url.query else ""
    self_url = context.public_url(f"{request.url.path}{query}")
    return Response(
        matches_atom(items, self_url, context.clock()), media_type="application/atom+xml"
    )


@router.get("/matches/{match_id}", summary="One match")
def match(session: ReadSession, match_id: ObjectId) -> dict[str, Any]:
    """A match with its article's title, link, countries, topics and score."""
    return found(get_match(session, match_id), "match")


@router.get("/stories", summary="List stories")
def stories(
    session: ReadSession, context: Context, limit: PageLimit = None, cursor: PageCursor = None
) -> dict[str, Any]:
    """Stories (articles grouped as the same news), newest first."""
    size = limit or context.settings.api.page_size
    return page_of(list_stories_page(session, size, cursor), size)


@router.get("/stories/{story_id}", summary="One story")
def story(session: ReadSession, story_id: ObjectId) -> dict[str, Any]:
    """A story (one news event) with its articles and outlets, and its thread: the developing
    story's events, oldest first."""
    event = found(get_story(session, story_id), "story")
    return {**event, "thread": get_story_thread(session, story_id)}


@router.get("/threads/{thread_id}", summary="One thread")
def thread(session: ReadSession, thread_id: ObjectId) -> dict[str, Any]:
    """A developing story: its events (stories), oldest first, with their outlets."""
    return found(get_thread(session, thread_id), "thread")


@router.get("/articles/{article_id}", summary="One article")
def article(session: ReadSession, article_id: ObjectId) -> dict[str, Any]:
    """An article with its match."""
    return found(get_article(session, article_id), "article")
