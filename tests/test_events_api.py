"""The API shows a story (one event) with its thread, and a thread with its events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from monitor.tagging import Tagger
from tests.test_api import AUTH, client_for
from tests.test_events_storage import NOW, WARSHIPS, WARSHIPS_LATER, feeds, processor, publish


@pytest.fixture
def api(sessions: sessionmaker[Session], tagger: Tagger) -> Iterator[TestClient]:
    ids = feeds(sessions)
    publish(sessions, ids[0], "a", WARSHIPS, NOW)
    processor(sessions, tagger, NOW).process_pending()
    later = NOW + timedelta(hours=72)
    publish(sessions, ids[1], "b", WARSHIPS_LATER, later)
    processor(sessions, tagger, later).process_pending()
    with client_for(sessions, tagger) as client:
        client.headers.update(AUTH)
        yield client


class TestThreadsInTheApi:
    def test_story_carries_its_thread(self, api: TestClient) -> None:
        """GET /stories/{id} keeps its fields and adds the thread with both events in order."""
        stories = api.get("/stories", params={"limit": 10}).json()["items"]
        latest = next(s for s in stories if s["title"] == WARSHIPS_LATER)
        story = api.get(f"/stories/{latest['id']}").json()
        assert story["title"] == WARSHIPS_LATER and len(story["articles"]) == 1
        assert [e["title"] for e in story["thread"]["events"]] == [WARSHIPS, WARSHIPS_LATER]
        assert story["thread"]["event_count"] == 2

    def test_thread_by_id(self, api: TestClient) -> None:
        """GET /threads/{id} lists the events; an unknown thread is a 404."""
        stories = api.get("/stories", params={"limit": 10}).json()["items"]
        thread_id = api.get(f"/stories/{stories[0]['id']}").json()["thread"]["id"]
        thread = api.get(f"/threads/{thread_id}").json()
        assert thread["outlets_count"] == 2 and len(thread["events"]) == 2
        assert api.get("/threads/99999").status_code == 404
