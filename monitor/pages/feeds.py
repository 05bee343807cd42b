"""The feeds page: the health table with articles in the last 7 days; add, remove, enable,
disable, poll now; OPML import (pasted) and export."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response

from monitor.errors import ConfigError
from monitor.feedlist import read_opml, write_opml
from monitor.limits import MAX_FEED_NAME_CHARS, MAX_URL_CHARS
from monitor.pages.context import PageContext, Pages
from monitor.pages.web import Author, BrowserRoute, CheckedForm, Form, Reader, back, field, render
from monitor.storage.feeds import (
    add_feeds,
    enable_feed,
    get_feed_by_id,
    list_feeds,
    poll_feed_now,
    remove_feed,
)
from monitor.storage.pages import disable_feed, feeds_health
from monitor.values import FeedRecord, FeedSpec

router = APIRouter(include_in_schema=False, route_class=BrowserRoute)
actions = APIRouter(include_in_schema=False)
FEED_URL = re.compile(r"^https?://[^\x00-\x20]+$")
LANGUAGE = re.compile(r"^[a-z]{2,3}$")
FeedId = Annotated[int, Path(ge=1, le=2**63 - 1)]
DISABLED_BY_HAND = "disabled from the feeds page"


@router.get("/feeds")
def feeds_page(request: Request, pages: Pages, reader: Reader) -> Response:
    with pages.sessions() as session:
        rows = feeds_health(session, pages.app.clock())
    return render(request, pages, "feeds.html", rows=rows)


@actions.get("/feeds.opml")
def export_opml(pages: Pages, reader: Reader) -> Response:
    with pages.sessions() as session:
        opml = write_opml(list_feeds(session))
    headers = {"Content-Disposition": 'attachment; filename="monitor-feeds.opml"'}
    return Response(opml, media_type="text/x-opml", headers=headers)


def spec_of(form: Form) -> FeedSpec:
    """The feed the add form names, checked as `POST /feeds` checks it (422 otherwise)."""
    url, name, language = (
        field(form, "url").strip(),
        field(form, "name").strip(),
        field(form, "language").strip(),
    )
    if not FEED_URL.match(url) or len(url) > MAX_URL_CHARS:
        raise HTTPException(422, "url: an http(s) address without spaces")
    if len(name) > MAX_FEED_NAME_CHARS or any(ord(c) < 32 for c in name):
        raise HTTPException(
            422, f"name: at most {MAX_FEED_NAME_CHARS} characters, no control characters"
        )
    if language and not LANGUAGE.match(language):
        raise HTTPException(422, "language: a code like es or pt")
    return FeedSpec(url, name or None, language or None)


@actions.post("/ui/feeds/add")
def add(pages: Pages, form: CheckedForm, author: Author) -> Response:
    with pages.sessions.begin() as session:
        interval = pages.settings.fetch.default_poll_interval_s
        added = add_feeds(session, [spec_of(form)], interval, pages.app.clock())
    return back(form, "/feeds", "feed-added" if added else "feed-known")


@actions.post("/ui/feeds/import")
def import_opml(pages: Pages, form: CheckedForm, author: Author) -> Response:
    """Every feed of a pasted OPML document that is not stored yet."""
    try:
        specs = read_opml(field(form, "opml").encode("utf-8"), "the pasted OPML")
    except ConfigError as error:
        raise HTTPException(422, str(error)) from None
    with pages.sessions.begin() as session:
        interval = pages.settings.fetch.default_poll_interval_s
        add_feeds(session, specs, interval, pages.app.clock())
    return back(form, "/feeds", "imported")


def stored(pages: PageContext, session: object, feed_id: int) -> FeedRecord:
    record = get_feed_by_id(session, feed_id)  # type: ignore[arg-type]
    if record is None:
        raise HTTPException(404, "no such feed")
    return record


@actions.post("/ui/feeds/{feed_id}/{action}")
def change(
    pages: Pages, form: CheckedForm, author: Author, action: str, feed_id: FeedId
) -> Response:
    """remove, enable, disable or poll (make due now; a disabled feed is enabled first)."""
    if action not in ("remove", "enable", "disable", "poll"):
        raise HTTPException(404, "no such action")
    now = pages.app.clock()
    with pages.sessions.begin() as session:
        record = stored(pages, session, feed_id)
        if action == "remove":
            remove_feed(session, record.url)
        elif action == "disable":
            disable_feed(session, feed_id, DISABLED_BY_HAND)
        elif action == "enable" or not record.enabled:
            enable_feed(session, record.url, now)
        else:
            poll_feed_now(session, record.url, now)
    notices = {"remove": "feed-removed", "enable": "feed-enabled", "disable": "feed-disabled"}
    return back(form, "/feeds", notices.get(action, "feed-polled"))
