"""The analyst's pages, served by `monitor run` beside the API on its port.

Server-rendered Jinja2; htmx (vendored, `static/htmx.min.js`) only enhances plain forms that
post and get a 303 back. Routes (`GET` pages; `POST` forms under `/ui/`, each with a CSRF token):

    GET  /                      inbox: filters, semantic search (`ask`), reasons, judgements
    GET  /stories/{id}          a story's timeline and chart, and the developing story (thread)
                                it belongs to (HTML when the browser asks for it; `GET
                                /stories/{id}` stays JSON for API clients)
    GET  /threads/{id}          a developing story's events (HTML when asked for; JSON stays
                                the API's)
    GET  /trends                relevant matches per day by country/topic (`days=30|90`)
    GET  /feeds                 feed health (HTML when asked for; JSON stays the API's)
    GET  /feeds.opml            every feed as OPML
    GET  /alerts                the outbox with attempts, channels and rules
    GET  /seeds                 the seed corpus and each seed's nearest stored articles
    GET  /saved                 saved views with their Atom feeds
    GET  /quality               the tagger's precision according to feedback
    GET  /login, POST /login, POST /logout
    POST /ui/matches/{id}/relevance, /ui/matches/{id}/alert, /ui/articles/{id}/read,
         /ui/articles/{id}/star, /ui/inbox/read, /ui/stories/{id}/articles/{aid}/split,
         /ui/feeds/add, /ui/feeds/import, /ui/feeds/{id}/(remove|enable|disable|poll),
         /ui/deliveries/{id}/retry, /ui/channels/{name}/test, /ui/views,
         /ui/views/{name}/delete

Access rules are in `monitor.pages.security`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from monitor.pages.context import AppContext, PageContext
from monitor.pages.security import signing_key

STATIC = Path(__file__).parent / "static"


def mount_pages(app: FastAPI, environ: Mapping[str, str] | None = None) -> None:
    """Add the pages to `app`, whose `state.context` the API set. Call it before the API's
    routers are included: where a path is shared, a browser's request reaches the page."""
    from monitor.pages import alerts, auth, feeds, inbox, overview, seeds, story, views

    context: AppContext = app.state.context
    environ = os.environ if environ is None else environ
    app.state.pages = PageContext(
        context, signing_key(context.settings, context.token, environ), environ
    )
    for module in (auth, inbox, story, overview, feeds, alerts, seeds, views):
        app.include_router(module.router)
        if hasattr(module, "actions"):
            app.include_router(module.actions)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="pages-static")
