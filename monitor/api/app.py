"""The API app: routers for reads, feeds, search and operations, the offline docs, and the
middleware every request passes (body cap, response headers, public redirects). The app
holds no state beyond the `ApiContext` it is built with."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session, sessionmaker

from monitor.api.context import ApiContext
from monitor.api.docs import mount_docs
from monitor.api.middleware import NOSNIFF, BodyLimit, PublicRedirects, ResponseHeaders
from monitor.api.routers import feedback, feeds, ops, reads, search
from monitor.clock import Clock, utc_now
from monitor.config import Settings
from monitor.embed import Embedder
from monitor.health import ServiceState
from monitor.pages import mount_pages

DESCRIPTION = """Russia–Latin America news monitor.

Reads are open unless `[api] require_token_for_reads` is set; writes need
`Authorization: Bearer <token>` with the token from the environment variable named by
`[api] token_env`. Bodies over `[api] max_body_bytes` are refused with 413."""


def create_app(
    settings: Settings,
    sessions: sessionmaker[Session],
    token: str | None,
    state: ServiceState | None = None,
    search_embedder: Callable[[], Embedder] | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    """The app over `sessions`. `state` is the service's in this process (None: an API
    alone); `token` None disables writes."""
    app = FastAPI(
        title="monitor",
        version="1",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.context = ApiContext(
        settings=settings,
        sessions=sessions,
        token=token.encode("utf-8") if token else None,
        state=state,
        search_embedder=search_embedder,
        clock=clock,
    )
    mount_pages(app)  # first: on a path both serve, a browser's request gets the page
    for router in (
        reads.router,
        search.router,
        feeds.reads,
        feeds.writes,
        ops.router,
        feedback.reads,
        feedback.writes,
    ):
        app.include_router(router)
    mount_docs(app)
    app.add_exception_handler(Exception, internal_error)
    # Added innermost first. The body cap comes before anything that reads the body; the
    # headers go outermost so they reach its 413 too.
    app.add_middleware(PublicRedirects, public_base_url=settings.api.public_base_url)
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_bytes)
    app.add_middleware(ResponseHeaders)
    return app


async def internal_error(request: Request, exc: Exception) -> Response:
    """The 500 answer. Starlette sends it from outside every middleware, so it carries the
    nosniff header itself; the error still reaches the server's log."""
    return PlainTextResponse("Internal Server Error", 500, headers=dict([NOSNIFF]))
