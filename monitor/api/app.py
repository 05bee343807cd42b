"""The API's routes. Reads and writes go through `monitor.storage`; the app holds no state of
its own beyond what it is given at start-up."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from monitor.api.atom import matches_atom
from monitor.api.metrics import render_metrics
from monitor.config import Settings
from monitor.embed import Embedder, decode_vector
from monitor.ingest import utc_now
from monitor.storage.feeds import add_feeds, get_feed, list_feeds, remove_feed
from monitor.storage.queries import (
    MatchFilter,
    get_article,
    get_match,
    get_story,
    list_matches_page,
    list_stories_page,
    read_figures,
    vectors_for_search,
)
from monitor.values import FeedSpec

SEARCH_CANDIDATES = 20_000
MAX_ID = 2**63 - 1  # database ids are signed 64-bit
bearer = HTTPBearer(auto_error=False)


class FeedIn(BaseModel):
    url: str = Field(pattern=r"^https?://[^\x00-\x20]+$", max_length=2048)
    name: str | None = Field(default=None, max_length=512, pattern=r"^[^\x00-\x1f]*$")
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$")
    poll_interval_s: int | None = Field(default=None, ge=30, le=86_400)


EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def clean_text(value: str | None, name: str) -> str | None:
    """Free text without NUL or other control characters (PostgreSQL refuses NUL), else 422."""
    if value is not None and any(ord(ch) < 32 for ch in value):
        raise HTTPException(
            422,
            [
                {
                    "loc": ["query", name],
                    "msg": "control characters are not allowed",
                    "type": "value_error",
                }
            ],
        )
    return value


def utc_time(value: datetime | None, name: str) -> datetime | None:
    """Query times in UTC (naive means UTC), within years 1900–9999, else 422."""
    if value is None:
        return None
    try:
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        moment = EARLIEST - timedelta(days=1)
    if not EARLIEST <= moment <= LATEST:
        raise HTTPException(
            422,
            [
                {
                    "loc": ["query", name],
                    "msg": "date out of range (1900–9999)",
                    "type": "value_error",
                }
            ],
        )
    return moment


def match_filter(
    since: datetime | None = None,
    until: datetime | None = None,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    relevant: bool | None = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
    topic: Annotated[str | None, Query(max_length=64)] = None,
    feed: Annotated[str | None, Query(max_length=2048)] = None,
    story: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> MatchFilter:
    return MatchFilter(
        utc_time(since, "since"),
        utc_time(until, "until"),
        min_score,
        relevant,
        country,
        clean_text(topic, "topic"),
        clean_text(feed, "feed"),
        story,
        clean_text(q, "q"),
    )


MatchQuery = Annotated[MatchFilter, Depends(match_filter)]
PageLimit = Annotated[int, Query(ge=1, le=1000)]
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
PageCursor = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="the `next_cursor` of the previous page")
]


def create_app(
    settings: Settings,
    sessions: sessionmaker[Session],
    token: str | None,
    health: Callable[[], dict[str, Any]],
    search_embedder: Callable[[], Embedder] | None = None,
) -> FastAPI:
    app = FastAPI(title="monitor", version="1", description="Russia–Latin America news monitor")
    page_size = settings.api.page_size

    def authorised(credentials: HTTPAuthorizationCredentials | None) -> bool:
        return bool(token and credentials and hmac.compare_digest(credentials.credentials, token))

    def read_access(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if settings.api.require_token_for_reads and not authorised(credentials):
            raise HTTPException(
                401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}
            )

    def write_access(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if not token:
            raise HTTPException(
                403, f"writes are disabled: set {settings.api.token_env} to enable them"
            )
        if not authorised(credentials):
            raise HTTPException(
                401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}
            )

    reads = [Depends(read_access)]

    @app.get("/matches", dependencies=reads)
    def matches(
        f: MatchQuery, limit: PageLimit = page_size, cursor: PageCursor = None
    ) -> dict[str, Any]:
        with sessions() as session:
            items = list_matches_page(session, f, limit, cursor)
        return {"items": items, "next_cursor": items[-1]["id"] if len(items) == limit else None}

    @app.get("/matches.atom", dependencies=reads, response_class=Response)
    def matches_feed(request: Request, f: MatchQuery, limit: PageLimit = page_size) -> Response:
        relevant = replace(f, relevant=True)
        with sessions() as session:
            items = list_matches_page(session, relevant, limit)
        return Response(
            matches_atom(items, str(request.url), utc_now()), media_type="application/atom+xml"
        )

    @app.get("/matches/{match_id}", dependencies=reads)
    def match(match_id: ObjectId) -> dict[str, Any]:
        with sessions() as session:
            return found(get_match(session, match_id), "match")

    @app.get("/stories", dependencies=reads)
    def stories(limit: PageLimit = page_size, cursor: PageCursor = None) -> dict[str, Any]:
        with sessions() as session:
            items = list_stories_page(session, limit, cursor)
        return {"items": items, "next_cursor": items[-1]["id"] if len(items) == limit else None}

    @app.get("/stories/{story_id}", dependencies=reads)
    def story(story_id: ObjectId) -> dict[str, Any]:
        with sessions() as session:
            return found(get_story(session, story_id), "story")

    @app.get("/articles/{article_id}", dependencies=reads)
    def article(article_id: ObjectId) -> dict[str, Any]:
        with sessions() as session:
            return found(get_article(session, article_id), "article")

    @app.get("/search", dependencies=reads)
    def search(
        f: MatchQuery,
        q: Annotated[str, Query(min_length=1, max_length=500)],
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        """Semantic search: the question embedded with the articles' model, nearest first."""
        if search_embedder is None:
            raise HTTPException(503, "semantic search needs the embedding model (not loaded here)")
        clean_text(q, "q")
        embedder = search_embedder()
        scoped = replace(f, text=None)
        with sessions() as session:
            rows = vectors_for_search(session, scoped, embedder.model_id, SEARCH_CANDIDATES)
            if not rows:
                return {"items": []}
            query = embedder.embed([q])[0]
            similarity = np.vstack([decode_vector(v) for _, v in rows]) @ query
            best = np.argsort(-similarity)[:limit]
            items = [
                {
                    **(get_match(session, rows[i][0]) or {}),
                    "similarity": round(float(similarity[i]), 4),
                }
                for i in best
            ]
        return {"items": items}

    @app.get("/feeds", dependencies=reads)
    def feeds() -> list[dict[str, Any]]:
        with sessions() as session:
            return [asdict(f) for f in list_feeds(session)]

    @app.post("/feeds", status_code=201, dependencies=[Depends(write_access)])
    def add_feed(body: FeedIn) -> dict[str, Any]:
        with sessions.begin() as session:
            added = add_feeds(
                session,
                [FeedSpec(body.url, body.name, body.language, body.poll_interval_s)],
                settings.fetch.default_poll_interval_s,
                utc_now(),
            )
            record = get_feed(session, body.url)
        if not added or record is None:
            raise HTTPException(409, f"feed already present: {body.url}")
        return asdict(record)

    @app.delete("/feeds/{feed_id}", status_code=204, dependencies=[Depends(write_access)])
    def delete_feed(feed_id: ObjectId) -> Response:
        with sessions.begin() as session:
            record = next((f for f in list_feeds(session) if f.id == feed_id), None)
            if record is None:
                raise HTTPException(404, "no such feed")
            remove_feed(session, record.url)
        return Response(status_code=204)

    @app.get("/healthz")
    def healthz(response: Response) -> dict[str, Any]:
        try:
            with sessions() as session:
                session.execute(text("SELECT 1"))
            database = True
        except Exception:
            database = False
        status = {"database": database, **health()}
        healthy = database and status.get("scheduler_running", True)
        response.status_code = 200 if healthy else 503
        return {"status": "ok" if healthy else "unhealthy", **status}

    @app.get("/metrics", response_class=Response)
    def metrics() -> Response:
        with sessions() as session:
            figures = read_figures(session, utc_now())
        return Response(render_metrics(figures, health()), media_type="text/plain; version=0.0.4")

    return app


def found(value: dict[str, Any] | None, what: str) -> dict[str, Any]:
    if value is None:
        raise HTTPException(404, f"no such {what}")
    return value
