"""The feedback and saved-view routes through the real app (httpx via Starlette's TestClient),
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from monitor.api.app import create_app
from monitor.config import Settings
from monitor.tagging import Tagger
from tests.feedback_support import HEADLINES, process_headlines

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ATOM = "{http://www.w3.org/2005/Atom}"
ALERTS = {
    "webhooks": [{"name": "ops", "url": "https://hooks.example/x", "secret_env": "NO_SECRET"}],
    "rules": [
        {"name": "high", "min_score": 0.99, "channels": ["ops"]},
        {"name": "cuba", "min_score": 0.99, "countries": ["CU"], "channels": ["ops"]},
    ],
}


def client_for(sessions: sessionmaker[Session], token: str | None = TOKEN) -> TestClient:
    settings = Settings(api={"page_size": 2, "token_name": "desk-ana"}, alerts=ALERTS)
    return TestClient(create_app(settings, sessions, token))


@pytest.fixture
def api(sessions: sessionmaker[Session], tagger: Tagger) -> Iterator[TestClient]:
    process_headlines(sessions, tagger)
    with client_for(sessions) as client:
        yield client


def every_match(api: TestClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get("/matches", params={"limit": 100, **params}).json()[
        "items"
    ]
    return items


def match_titled(api: TestClient, title: str) -> dict[str, Any]:
    return next(m for m in every_match(api, all=True) if m["title"] == title)


def titles(api: TestClient, **params: Any) -> list[str]:
    return [m["title"] for m in every_match(api, **params)]


class TestRelevanceFeedback:
    def test_not_relevant_leaves_the_default_list(self, api: TestClient) -> None:
        """POST {"relevant": false} answers 201 with the judgement; the match leaves
        GET /matches and reads as overridden."""
        match = match_titled(api, HEADLINES[2])
        answer = api.post(
            f"/matches/{match['id']}/feedback", json={"relevant": False}, headers=AUTH
        )
        assert answer.status_code == 201
        body = answer.json()
        assert body["feedback"]["relevant"] is False and body["feedback"]["author"] == "desk-ana"
        assert body["feedback"]["article_id"] == match["article_id"]
        assert body["match"]["relevant"] is False and body["match"]["override"] == "feedback"
        assert HEADLINES[2] not in titles(api)
        assert HEADLINES[2] in titles(api, relevant=False)
        assert api.get(f"/matches/{match['id']}").json()["tagger_relevant"] is True

    def test_missed_match_judged_relevant_is_shown(self, api: TestClient) -> None:
        """A match the tagger rejected, judged relevant, is listed as relevant with its override."""
        match = match_titled(api, HEADLINES[3])
        assert HEADLINES[3] not in titles(api)
        api.post(f"/matches/{match['id']}/feedback", json={"relevant": True}, headers=AUTH)
        shown = next(m for m in every_match(api) if m["title"] == HEADLINES[3])
        assert shown["relevant"] is True and shown["override"] == "feedback"

    @pytest.mark.parametrize(
        "body", [{"relevant": "yes"}, {"relevant": 1}, {}, {"relevant": True, "x": 1}]
    )
    def test_bad_body_is_422(self, api: TestClient, body: dict[str, Any]) -> None:
        """Only a JSON boolean `relevant` is a judgement."""
        match = match_titled(api, HEADLINES[0])
        assert (
            api.post(f"/matches/{match['id']}/feedback", json=body, headers=AUTH).status_code == 422
        )

    def test_writes_need_the_token(self, api: TestClient, sessions: sessionmaker[Session]) -> None:
        """Without the token a judgement is 401; with writes disabled 403; nothing is stored."""
        match = match_titled(api, HEADLINES[0])
        path = f"/matches/{match['id']}/feedback"
        assert api.post(path, json={"relevant": False}).status_code == 401
        with client_for(sessions, token=None) as closed:
            assert closed.post(path, json={"relevant": False}, headers=AUTH).status_code == 403
        assert api.get("/feedback").json()["items"] == []

    def test_unknown_match_is_404(self, api: TestClient) -> None:
        """A judgement of a match that does not exist is a 404."""
        assert (
            api.post("/matches/999999/feedback", json={"relevant": True}, headers=AUTH).status_code
            == 404
        )
        assert (
            api.post("/matches/0/feedback", json={"relevant": True}, headers=AUTH).status_code
            == 422
        )


class TestSameStoryFeedback:
    def test_not_the_same_story_splits_the_member_off(self, api: TestClient) -> None:
        """{"same_story": false} moves the article into a new story; both are recounted."""
        first = match_titled(api, HEADLINES[0])
        story_id = first["story_id"]
        assert api.get(f"/stories/{story_id}").json()["article_count"] == 2
        answer = api.post(
            f"/stories/{story_id}/articles/{first['article_id']}/feedback",
            json={"same_story": False},
            headers=AUTH,
        )
        assert answer.status_code == 201
        new_id = answer.json()["story_id"]
        assert new_id != story_id and answer.json()["feedback"]["same_story"] is False
        old, new = api.get(f"/stories/{story_id}").json(), api.get(f"/stories/{new_id}").json()
        assert [a["title"] for a in old["articles"]] == [HEADLINES[1]] and old["article_count"] == 1
        assert [a["title"] for a in new["articles"]] == [HEADLINES[0]] and new["outlets_count"] == 1

    def test_same_story_keeps_the_member(self, api: TestClient) -> None:
        """{"same_story": true} is stored and moves nothing."""
        first = match_titled(api, HEADLINES[0])
        answer = api.post(
            f"/stories/{first['story_id']}/articles/{first['article_id']}/feedback",
            json={"same_story": True},
            headers=AUTH,
        )
        assert answer.status_code == 201 and answer.json()["story_id"] == first["story_id"]
        assert api.get(f"/stories/{first['story_id']}").json()["article_count"] == 2

    def test_article_outside_the_story_is_404(self, api: TestClient) -> None:
        """An article that is not a member of the story, or an unknown story, is a 404."""
        first, cuba = match_titled(api, HEADLINES[0]), match_titled(api, HEADLINES[2])
        path = f"/stories/{first['story_id']}/articles/{cuba['article_id']}/feedback"
        assert api.post(path, json={"same_story": False}, headers=AUTH).status_code == 404
        unknown = f"/stories/999999/articles/{cuba['article_id']}/feedback"
        assert api.post(unknown, json={"same_story": False}, headers=AUTH).status_code == 404


class TestFeedbackList:
    def test_newest_first_with_cursor_and_filters(self, api: TestClient) -> None:
        """GET /feedback lists judgements newest first with `relevant`/`same_story`, ids, time
        and author; next_cursor pages; kind and value filter."""
        first, cuba = match_titled(api, HEADLINES[0]), match_titled(api, HEADLINES[2])
        api.post(f"/matches/{first['id']}/feedback", json={"relevant": True}, headers=AUTH)
        api.post(f"/matches/{cuba['id']}/feedback", json={"relevant": False}, headers=AUTH)
        api.post(
            f"/stories/{first['story_id']}/articles/{first['article_id']}/feedback",
            json={"same_story": True},
            headers=AUTH,
        )
        page = api.get("/feedback").json()
        assert page["items"][0]["same_story"] is True and "relevant" not in page["items"][0]
        assert page["items"][1]["relevant"] is False and page["next_cursor"]
        rest = api.get("/feedback", params={"cursor": page["next_cursor"]}).json()
        assert [i["article_id"] for i in rest["items"]] == [first["article_id"]]
        assert rest["next_cursor"] is None
        item = rest["items"][0]
        assert item["author"] == "desk-ana" and item["created_at"] and item["story_id"]
        rejected = api.get("/feedback", params={"kind": "relevant", "value": False}).json()
        assert [i["article_id"] for i in rejected["items"]] == [cuba["article_id"]]
        assert api.get("/feedback", params={"kind": "other"}).status_code == 422
        assert api.get("/feedback", params={"since": "soon"}).status_code == 422


class TestExports:
    def test_relevance_jsonl_latest_judgement_per_article(self, api: TestClient) -> None:
        """The relevance export has one labelled line per article, the latest judgement winning."""
        cuba = match_titled(api, HEADLINES[2])
        for value in (False, True):
            api.post(f"/matches/{cuba['id']}/feedback", json={"relevant": value}, headers=AUTH)
        answer = api.get("/feedback/relevance.jsonl")
        assert answer.headers["content-type"].startswith("application/x-ndjson")
        [line] = [json.loads(text) for text in answer.text.splitlines()]
        assert line["label"] == 1 and line["title"] == HEADLINES[2] and line["lang"] == "en"
        assert set(line) >= {"id", "title", "summary", "lang", "label"}

    def test_same_story_jsonl_pairs(self, api: TestClient) -> None:
        """The same-story export has `a`, `b` and a boolean `same_story` per judged member."""
        first = match_titled(api, HEADLINES[0])
        api.post(
            f"/stories/{first['story_id']}/articles/{first['article_id']}/feedback",
            json={"same_story": False},
            headers=AUTH,
        )
        [pair] = [json.loads(t) for t in api.get("/feedback/same-story.jsonl").text.splitlines()]
        assert pair["same_story"] is False
        assert (pair["a"]["title"], pair["b"]["title"]) == (HEADLINES[0], HEADLINES[1])

    def test_quality_figures(self, api: TestClient) -> None:
        """GET /feedback/quality gives precision overall, per language and feed, and counts."""
        first, cuba = match_titled(api, HEADLINES[0]), match_titled(api, HEADLINES[2])
        api.post(f"/matches/{first['id']}/feedback", json={"relevant": True}, headers=AUTH)
        api.post(f"/matches/{cuba['id']}/feedback", json={"relevant": False}, headers=AUTH)
        quality = api.get("/feedback/quality").json()
        assert quality["judgements"] == 2 and quality["overall"]["precision"] == 0.5
        assert quality["by_language"]["en"]["flagged"] == 2 and len(quality["by_feed"]) == 2


class TestSendAlert:
    def test_low_scored_match_sent_by_hand(self, api: TestClient) -> None:
        """POST /matches/{id}/alert queues a match.created for the rules whose filters other
        than the score admit it; again, it reports them as already alerted."""
        ontario = match_titled(api, HEADLINES[3])
        answer = api.post(f"/matches/{ontario['id']}/alert", headers=AUTH)
        assert answer.status_code == 200
        assert answer.json() == {"raised": ["high"], "already_alerted": []}
        again = api.post(f"/matches/{ontario['id']}/alert", headers=AUTH).json()
        assert again == {"raised": [], "already_alerted": ["high"]}
        assert api.post("/matches/999999/alert", headers=AUTH).status_code == 404
        assert api.post(f"/matches/{ontario['id']}/alert").status_code == 401

    def test_no_rule_admits_it_is_409(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """A match no rule's filters admit is refused with 409."""
        process_headlines(sessions, tagger, [HEADLINES[3]])
        settings = Settings(alerts={**ALERTS, "rules": [ALERTS["rules"][1]]})  # type: ignore[dict-item]
        with TestClient(create_app(settings, sessions, TOKEN)) as client:
            [match] = client.get("/matches", params={"all": True}).json()["items"]
            assert client.post(f"/matches/{match['id']}/alert", headers=AUTH).status_code == 409


class TestViews:
    def test_save_list_get_delete(self, api: TestClient) -> None:
        """PUT saves a view under its name in canonical form; GET lists and shows it; DELETE
        removes it."""
        answer = api.put(
            "/views/cuba-oil",
            json={"country": "Cuba", "topic": "energy", "since": "7d"},
            headers=AUTH,
        )
        assert answer.status_code == 200
        assert answer.json()["filter"] == {"country": "CU", "topic": "energy", "since": "7d"}
        assert answer.json()["atom"] == "/views/cuba-oil.atom"
        assert [v["name"] for v in api.get("/views").json()] == ["cuba-oil"]
        assert api.get("/views/cuba-oil").json()["filter"]["country"] == "CU"
        assert api.delete("/views/cuba-oil", headers=AUTH).status_code == 204
        assert api.get("/views/cuba-oil").status_code == 404
        assert api.delete("/views/cuba-oil", headers=AUTH).status_code == 404

    @pytest.mark.parametrize(
        ("name", "body", "parameter"),
        [
            ("x", {"country": "Atlantis"}, "country"),
            ("x", {"since": "soon"}, "since"),
            ("x", {"all": True, "relevant": False}, "all"),
            ("bad name!", {}, "name"),
        ],
    )
    def test_unusable_view_is_422(
        self, api: TestClient, name: str, body: dict[str, Any], parameter: str
    ) -> None:
        """A view whose filter or name cannot be used is a 422 naming it."""
        answer = api.put(f"/views/{name}", json=body, headers=AUTH)
        assert answer.status_code == 422 and parameter in answer.text

    def test_view_atom_feed_applies_the_filter(self, api: TestClient) -> None:
        """GET /views/{name}.atom is the Atom feed of the matches the view admits."""
        api.put("/views/cuba", json={"country": "CU"}, headers=AUTH)
        answer = api.get("/views/cuba.atom")
        assert answer.headers["content-type"].startswith("application/atom+xml")
        entries = ET.fromstring(answer.content).findall(f"{ATOM}entry")
        assert [e.findtext(f"{ATOM}title") for e in entries] == [HEADLINES[2]]
        assert api.get("/views/nowhere.atom").status_code == 404

    def test_view_writes_need_the_token(self, api: TestClient) -> None:
        """Saving or deleting a view without the token is 401."""
        assert api.put("/views/x", json={}).status_code == 401
        assert api.delete("/views/x").status_code == 401
