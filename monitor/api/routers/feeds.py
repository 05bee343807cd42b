"""The feed list: read it, add, remove, re-enable a feed or make one due now. Writes need the
token, checked before the body is read; each commits before it answers."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from monitor.api.auth import WriteRoute, bearer_scheme, require_read_access
from monitor.api.context import Context, ReadSession
from monitor.api.params import ObjectId, found
from monitor.limits import MAX_FEED_NAME_CHARS, MAX_URL_CHARS
from monitor.storage.feeds import (
    add_feeds,
    enable_feed,
    get_feed,
    get_feed_by_id,
    list_feeds,
    poll_feed_now,
    remove_feed,
)
from monitor.values import FeedRecord, FeedSpec

reads = APIRouter(
    dependencies=[Depends(bearer_scheme), Depends(require_read_access)], tags=["feeds"]
)
writes = APIRouter(route_class=WriteRoute, dependencies=[Depends(bearer_scheme)], tags=["feeds"])


class FeedIn(BaseModel):
    url: str = Field(
        pattern=r"^https?://[^\x00-\x20]+$", max_length=MAX_URL_CHARS, description="the feed's URL"
    )
    name: str | None = Field(
        default=None,
        max_length=MAX_FEED_NAME_CHARS,
        pattern=r"^[^\x00-\x1f]*$",
        description="a name (default: the feed's own title)",
    )
    language: str | None = Field(
        default=None, pattern=r"^[a-z]{2,3}$", description="ISO 639 code of its articles"
    )
    poll_interval_s: int | None = Field(
        default=None, ge=30, le=86_400, description="seconds between polls"
    )


@reads.get("/feeds", summary="List feeds")
def feeds(session: ReadSession) -> list[dict[str, Any]]:
    """Every feed with its schedule and last fetch outcome."""
    return [asdict(f) for f in list_feeds(session)]


@writes.post("/feeds", status_code=201, summary="Add a feed")
def add_feed(context: Context, body: FeedIn) -> dict[str, Any]:
    """Add a feed, due at once; 409 when its URL is already stored."""
    spec = FeedSpec(body.url, body.name, body.language, body.poll_interval_s)
    default_interval_s = context.settings.fetch.default_poll_interval_s
    with context.sessions.begin() as session:
        if not add_feeds(session, [spec], default_interval_s, context.clock()):
            raise HTTPException(409, f"feed already present: {body.url}")
        return asdict(found(get_feed(session, body.url), "feed"))


@writes.delete("/feeds/{feed_id}", status_code=204, summary="Remove a feed")
def delete_feed(context: Context, feed_id: ObjectId) -> Response:
    """Remove a feed with its articles and fetch log."""
    with context.sessions.begin() as session:
        remove_feed(session, stored_feed(session, feed_id).url)
    return Response(status_code=204)


@writes.post("/feeds/{feed_id}/enable", summary="Re-enable a feed")
def enable(context: Context, feed_id: ObjectId) -> dict[str, Any]:
    """Re-enable a feed that was disabled (after permanent failures or a 410) with a fresh
    failure count, due now; its articles and fetch log stay."""
    with context.sessions.begin() as session:
        enable_feed(session, stored_feed(session, feed_id).url, context.clock())
        return asdict(found(get_feed_by_id(session, feed_id), "feed"))


@writes.post("/feeds/{feed_id}/poll", summary="Poll a feed now")
def poll(context: Context, feed_id: ObjectId) -> dict[str, Any]:
    """Make a feed due now: the service fetches it on its next poll. 409 for a disabled feed
    (enable it first)."""
    with context.sessions.begin() as session:
        record = stored_feed(session, feed_id)
        if not record.enabled:
            raise HTTPException(409, "the feed is disabled: POST /feeds/{id}/enable first")
        poll_feed_now(session, record.url, context.clock())
        return asdict(found(get_feed_by_id(session, feed_id), "feed"))


def stored_feed(session: Session, feed_id: int) -> FeedRecord:
    return found(get_feed_by_id(session, feed_id), "feed")
