from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from monitor.api.app import create_app
from monitor.config import Settings, StorySettings
from monitor.process import Processor
from monitor.tagging import Tagger
from tests.factories import store_headlines

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HEADLINES = [
    "Russia and Venezuela sign a military cooperation agreement in Caracas",
    "Russia and Venezuela sign military cooperation agreement Caracas today",
    "Lavrov meets Cuban foreign minister in Havana to discuss oil supplies",
    "Heavy snow closes schools across Ontario",
    "Putin receives Lula in Moscow to talk about grain and fertiliser trade",
]


def client_for(sessions: sessionmaker[Session], tagger: Tagger, **api: Any) -> TestClient:
    settings = Settings(api={"page_size": 2, **api})
    app = create_app(settings, sessions, TOKEN, None, lambda: tagger.embedder)
    return TestClient(app)


@pytest.fixture
def stored(sessions: sessionmaker[Session], tagger: Tagger) -> sessionmaker[Session]:
    now = datetime.now(UTC)
    store_headlines(sessions, HEADLINES, now)
    Processor(
        sessions, tagger, StorySettings(same_story_threshold=0.7), lambda: now
    ).process_pending()
    return sessions


@pytest.fixture
def api(stored: sessionmaker[Session], tagger: Tagger) -> Iterator[TestClient]:
    with client_for(stored, tagger) as client:
        yield client


class TestMatches:
    def test_filters(self, api: TestClient) -> None:
        """relevant, country, topic, min_score and text narrow the list."""
        relevant = api.get("/matches", params={"relevant": True, "limit": 100}).json()["items"]
        assert len(relevant) == 4 and all(m["relevant"] for m in relevant)
        cuba = api.get("/matches", params={"country": "cu"}).json()["items"]
        assert [m["title"] for m in cuba] == [HEADLINES[2]]
        assert all(
            "defense" in m["topics"]
            for m in api.get("/matches", params={"topic": "defense"}).json()["items"]
        )
        assert (
            api.get("/matches", params={"q": "ontario", "relevant": False}).json()["items"][0][
                "title"
            ]
            == HEADLINES[3]
        )
        assert (
            api.get("/matches", params={"min_score": 0.999, "relevant": False}).json()["items"]
            == []
        )
        future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        assert api.get("/matches", params={"since": future}).json()["items"] == []

    def test_cursor_pagination_walks_everything_once(self, api: TestClient) -> None:
        """Following next_cursor pages through every match exactly once, newest first."""
        seen, cursor = [], None
        while True:
            params = {"all": True, **({"cursor": cursor} if cursor else {})}
            page = api.get("/matches", params=params).json()
            seen += [m["id"] for m in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 5

    def test_one_match_story_and_article(self, api: TestClient) -> None:
        """Items link to their story (with its articles) and article."""
        first = api.get("/matches", params={"country": "VE", "limit": 1}).json()["items"][0]
        assert api.get(f"/matches/{first['id']}").json()["title"] == first["title"]
        story = api.get(f"/stories/{first['story_id']}").json()
        assert (
            story["article_count"] == 2
            and story["outlets_count"] == 2
            and len(story["articles"]) == 2
        )
        assert api.get(f"/articles/{first['article_id']}").json()["match"]["id"] == first["id"]
        assert api.get("/stories").json()["items"][0]["id"] >= first["story_id"]

    @pytest.mark.parametrize("path", ["/matches/999", "/stories/999", "/articles/999"])
    def test_missing_is_404(self, api: TestClient, path: str) -> None:
        """Unknown ids are 404 with a message."""
        response = api.get(path)
        assert response.status_code == 404 and response.json()["detail"].startswith("no such")

    @pytest.mark.parametrize(
        "params", [{"min_score": "2"}, {"limit": "0"}, {"country": "VEN"}, {"since": "yesterday"}]
    )
    def test_invalid_parameters_are_422(self, api: TestClient, params: dict[str, str]) -> None:
        """Invalid parameters get 422 naming the parameter."""
        response = api.get("/matches", params=params)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"][-1] == next(iter(params))

    def test_times_naive_are_utc_and_extremes_are_422(self, api: TestClient) -> None:
        """A naive `since` is read as UTC; a time outside 1900–9999 is a 422, not a 500."""
        assert api.get("/matches", params={"since": "2000-01-01T00:00:00"}).status_code == 200
        response = api.get("/matches", params={"since": "0001-01-01T00:00:00+00:01"})
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == [
            "query",
            "since",
        ]

    @pytest.mark.parametrize("params", [{"q": "a\x00b"}, {"feed": "x\x01"}, {"topic": "\x00"}])
    def test_control_characters_are_422(self, api: TestClient, params: dict[str, str]) -> None:
        """Text with NUL or control characters is refused before it reaches the database."""
        assert api.get("/matches", params=params).status_code == 422


class TestAtomAndSearch:
    def test_atom_feed_parses_back(self, api: TestClient) -> None:
        """/matches.atom is an Atom feed of relevant matches a reader can parse."""
        parsed = feedparser.parse(api.get("/matches.atom", params={"limit": 100}).content)
        assert parsed.version == "atom10" and not parsed.bozo
        assert len(parsed.entries) == 4 and parsed.entries[0].link.startswith("https://o.example/")
        assert {t.term for e in parsed.entries for t in e.tags} >= {"VE", "CU"}

    def test_semantic_search_ranks_the_closest_first(self, api: TestClient) -> None:
        """The question is embedded like the articles; the nearest comes first and matches
        under `[search] min_similarity` are left out."""
        params = {"q": "snow schools Ontario", "all": True}
        items = api.get("/search", params=params).json()["items"]
        assert [m["title"] for m in items] == [HEADLINES[3]] and items[0]["similarity"] > 0.25


class TestFeedsAndAuth:
    def test_writes_need_the_token(self, api: TestClient) -> None:
        """POST and DELETE /feeds need the bearer token; reads do not by default."""
        body = {"url": "https://new.example/rss", "language": "es"}
        assert api.post("/feeds", json=body).status_code == 401
        created = api.post("/feeds", json=body, headers=AUTH)
        assert created.status_code == 201 and created.json()["url"] == body["url"]
        assert api.post("/feeds", json=body, headers=AUTH).status_code == 409
        feed_id = created.json()["id"]
        assert api.delete(f"/feeds/{feed_id}").status_code == 401
        assert api.delete(f"/feeds/{feed_id}", headers=AUTH).status_code == 204
        assert body["url"] not in [f["url"] for f in api.get("/feeds").json()]

    def test_bad_feed_body_is_422(self, api: TestClient) -> None:
        """A non-http URL is refused with 422."""
        assert api.post("/feeds", json={"url": "ftp://x"}, headers=AUTH).status_code == 422

    def test_reads_can_require_the_token(
        self, stored: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """With require_token_for_reads, reads without the token are 401; health stays open."""
        with client_for(stored, tagger, require_token_for_reads=True) as client:
            assert client.get("/matches").status_code == 401
            assert client.get("/matches", headers=AUTH).status_code == 200
            assert client.get("/healthz").status_code == 200


class TestOperations:
    def test_healthz_and_metrics(self, api: TestClient) -> None:
        """Health reports the database and scheduler; metrics are Prometheus text."""
        assert api.get("/healthz").json()["database"] is True
        text = api.get("/metrics").text
        assert 'monitor_matches{relevance="relevant"} 4.0' in text
        assert 'monitor_feeds{status="new"} 5.0' in text and "monitor_outbox_backlog 0.0" in text

    def test_openapi_served(self, api: TestClient) -> None:
        """The OpenAPI schema lists the routes."""
        paths = api.get("/openapi.json").json()["paths"]
        assert {
            "/matches",
            "/matches.atom",
            "/stories/{story_id}",
            "/search",
            "/feeds",
            "/healthz",
        } <= set(paths)
