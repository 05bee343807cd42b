"""Feed actions over the API: re-enable a disabled feed without losing its history, make one
due now; both need the write token and are 404 for an unknown feed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from monitor.api.app import create_app
from monitor.config import Settings
from monitor.schedule import OUTCOME_ERROR
from monitor.storage.feeds import add_feeds, get_feed, list_fetch_log, record_fetch
from monitor.values import FeedSpec, FeedStateUpdate, FetchLogEntry

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
AUTH = {"Authorization": "Bearer t"}
URL = "https://gone.example/rss"


def store_feed(sessions: sessionmaker[Session], *, enabled: bool) -> int:
    """A feed polled an hour ago (one fetch-log row), due tomorrow; disabled after a 410 when
    `enabled` is false."""
    then = NOW - timedelta(hours=1)
    with sessions.begin() as session:
        add_feeds(session, [FeedSpec(URL)], 900, then)
        feed = get_feed(session, URL)
        assert feed is not None
        state = FeedStateUpdate(
            outcome=OUTCOME_ERROR,
            next_poll_at=NOW + timedelta(days=1),
            consecutive_failures=4,
            permanent_failures=2,
            etag=None,
            last_modified=None,
            enabled=enabled,
            disabled_reason=None if enabled else "410 Gone",
            last_http_status=410,
            last_error="gone",
            last_error_class="permanent",
        )
        log = FetchLogEntry(then, OUTCOME_ERROR, 410, 0, 12, "permanent", "gone")
        record_fetch(session, feed.id, state, log)
        return feed.id


@pytest.fixture
def api(sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    app = create_app(Settings(), sessions, "t", None, None, lambda: NOW)
    with TestClient(app) as client:
        yield client


class TestEnable:
    def test_enable_keeps_the_history(
        self, api: TestClient, sessions: sessionmaker[Session]
    ) -> None:
        """A feed disabled after a 410 is enabled with a fresh failure count, due now, and
        keeps its fetch log."""
        feed_id = store_feed(sessions, enabled=False)
        response = api.post(f"/feeds/{feed_id}/enable", headers=AUTH)
        assert response.status_code == 200
        body = response.json()
        assert body["enabled"] is True and body["disabled_reason"] is None
        assert body["consecutive_failures"] == 0 and body["permanent_failures"] == 0
        assert datetime.fromisoformat(body["next_poll_at"]) == NOW
        with sessions() as session:
            assert [entry.http_status for entry in list_fetch_log(session, feed_id)] == [410]

    def test_poll_makes_a_feed_due_now(
        self, api: TestClient, sessions: sessionmaker[Session]
    ) -> None:
        """An enabled feed due tomorrow is due now, its failure count untouched."""
        feed_id = store_feed(sessions, enabled=True)
        body = api.post(f"/feeds/{feed_id}/poll", headers=AUTH).json()
        assert datetime.fromisoformat(body["next_poll_at"]) == NOW
        assert body["consecutive_failures"] == 4

    def test_poll_of_a_disabled_feed_is_409(
        self, api: TestClient, sessions: sessionmaker[Session]
    ) -> None:
        """A disabled feed is not polled behind the operator's back: enable it first."""
        feed_id = store_feed(sessions, enabled=False)
        response = api.post(f"/feeds/{feed_id}/poll", headers=AUTH)
        assert response.status_code == 409 and "enable" in response.json()["detail"]

    @pytest.mark.parametrize("action", ["enable", "poll"])
    def test_unknown_feed_is_404(self, api: TestClient, action: str) -> None:
        """An id no feed has is a 404."""
        response = api.post(f"/feeds/999/{action}", headers=AUTH)
        assert response.status_code == 404 and response.json()["detail"] == "no such feed"

    @pytest.mark.parametrize("action", ["enable", "poll"])
    def test_actions_need_the_token(
        self, api: TestClient, sessions: sessionmaker[Session], action: str
    ) -> None:
        """Without the token the action is a 401 and changes nothing."""
        feed_id = store_feed(sessions, enabled=False)
        assert api.post(f"/feeds/{feed_id}/{action}").status_code == 401
        with sessions() as session:
            feed = get_feed(session, URL)
        assert feed is not None and not feed.enabled and feed.next_poll_at != NOW


class TestCommit:
    def test_a_write_whose_commit_fails_is_not_reported_done(
        self, sessions: sessionmaker[Session]
    ) -> None:
        """The transaction commits before the answer: a failing commit is a 500, never a 201
        for a feed that was not stored."""

        def refuse(session: Session) -> None:
            raise RuntimeError("commit refused")

        event.listen(sessions, "before_commit", refuse)
        app = create_app(Settings(), sessions, "t", None, None, lambda: NOW)
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.post("/feeds", json={"url": URL}, headers=AUTH)
        assert response.status_code == 500
        event.remove(sessions, "before_commit", refuse)
        with sessions() as session:
            assert get_feed(session, URL) is None
