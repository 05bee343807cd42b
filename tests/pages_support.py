"""Helpers for the pages' tests: an app over processed headlines, a browser-like client, the
CSRF token of a page, and a counter of SQL statements."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from monitor.api.app import create_app
from monitor.config import Settings
from monitor.tagging import Tagger
from tests.conftest import PROJECT_ROOT
from tests.feedback_support import NOW

TOKEN = "pages-token"
HTML = {"Accept": "text/html,application/xhtml+xml"}
HTMX = {**HTML, "HX-Request": "true"}
SEEDS_DIR = PROJECT_ROOT / "config" / "seeds" / "russia-latam"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def page_client(
    sessions: sessionmaker[Session],
    tagger: Tagger,
    token: str | None = TOKEN,
    clock: Clock | None = None,
    **sections: dict[str, Any],
) -> TestClient:
    """A client that asks for HTML, as a browser does, over an app on `sessions`."""
    settings = Settings(relevance={"seeds_dir": SEEDS_DIR}, **sections)
    app = create_app(settings, sessions, token, None, lambda: tagger.embedder, clock or Clock())
    return TestClient(app, headers=HTML, follow_redirects=False)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def form_post(
    client: TestClient, page: str, action: str, headers: dict[str, str] | None = None, **fields: Any
) -> Any:
    """Post a form the way a browser would after loading `page` (cookie and CSRF token)."""
    token = csrf_of(client.get(page).text)
    return client.post(action, data={"csrf": token, **fields}, headers=headers or HTML)


@contextmanager
def counted_statements(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)
