"""The API under abuse: malformed credentials, oversized bodies, writes that must not read
their body before the token is checked, the headers every response carries, and URLs that
never echo the client's `Host`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from monitor.api.app import create_app
from monitor.api.middleware import BodyLimit, Message, Scope
from monitor.config import Settings

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FEED = {"url": "https://new.example/rss"}


def client_for(sessions: sessionmaker[Session], token: str = TOKEN, **api: Any) -> TestClient:
    app = create_app(Settings(api=api), sessions, token)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def api(sqlite_sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with client_for(sqlite_sessions) as client:
        yield client


class TestCredentials:
    @pytest.mark.parametrize(
        "value",
        [
            "Bearer tökén".encode(),  # non-ASCII: compare_digest on str raised TypeError
            b"Bearer \xff\xfe\x00",
            b"Bearer",
            b"Bearer ",
            b"Basic dXNlcjpwYXNz",
            b"s3cret-token",
            b"Bearer s3cret-token-and-more",
        ],
    )
    def test_malformed_credentials_are_401(self, api: TestClient, value: bytes) -> None:
        """Any malformed or wrong credential on a write is a 401, never a 500."""
        response = api.post("/feeds", json=FEED, headers={"Authorization": value})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

    def test_non_ascii_credentials_on_reads_are_401(
        self, sqlite_sessions: sessionmaker[Session]
    ) -> None:
        """With tokens required for reads, a non-ASCII bearer token is a 401."""
        with client_for(sqlite_sessions, require_token_for_reads=True) as client:
            response = client.get("/matches", headers={"Authorization": "Bearer ключ".encode()})
            assert response.status_code == 401

    def test_a_non_ascii_token_can_be_used(self, sqlite_sessions: sessionmaker[Session]) -> None:
        """A configured token outside ASCII matches the same token sent as UTF-8."""
        with client_for(sqlite_sessions, token="ключ-ñ") as client:
            headers = {"Authorization": "Bearer ключ-ñ".encode()}
            assert client.post("/feeds", json=FEED, headers=headers).status_code == 201

    def test_scheme_is_case_insensitive(self, api: TestClient) -> None:
        """`bearer` in lower case is the same scheme (RFC 9110)."""
        headers = {"Authorization": f"bearer {TOKEN}"}
        assert api.post("/feeds", json=FEED, headers=headers).status_code == 201


class TestBodies:
    def test_a_body_over_the_limit_is_413_by_its_length(
        self, sqlite_sessions: sessionmaker[Session]
    ) -> None:
        """A body declared larger than `[api] max_body_bytes` is refused with 413."""
        with client_for(sqlite_sessions, max_body_bytes=100) as client:
            body = json.dumps({**FEED, "name": "x" * 200})
            headers = {**AUTH, "Content-Type": "application/json"}
            response = client.post("/feeds", content=body, headers=headers)
            assert response.status_code == 413
            assert "max_body_bytes" in response.json()["detail"]
            assert client.post("/feeds", json=FEED, headers=AUTH).status_code == 201

    def test_unauthenticated_write_is_401_before_its_body_is_parsed(self, api: TestClient) -> None:
        """A write without the token is a 401 even when its body is not JSON at all."""
        response = api.post(
            "/feeds", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 401

    def test_unauthenticated_write_never_reads_its_body(
        self, sqlite_sessions: sessionmaker[Session]
    ) -> None:
        """The app answers 401 without asking the server for a single body chunk."""
        app = create_app(Settings(), sqlite_sessions, TOKEN)
        reads = 0

        async def receive() -> Message:
            nonlocal reads
            reads += 1
            return {"type": "http.request", "body": b"{}" * 1000, "more_body": True}

        sent = asyncio.run(call(app, post_scope(b"/feeds", []), receive))
        assert sent[0]["status"] == 401 and reads == 0

    def test_chunks_past_the_limit_are_refused_without_length(self) -> None:
        """Without Content-Length, the chunks are counted and the 413 goes out once the cap
        is passed; the rest of the body is never read."""
        chunks = 0

        async def receive() -> Message:
            nonlocal chunks
            chunks += 1
            return {"type": "http.request", "body": b"x" * 100_000, "more_body": True}

        async def reads_everything(scope: Scope, receive: Any, send: Any) -> None:
            while (await receive())["type"] == "http.request":
                pass
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"read it all"})

        sent = asyncio.run(
            call(BodyLimit(reads_everything, 1_000_000), post_scope(b"/", []), receive)
        )
        assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [413]
        assert chunks == 11  # ten chunks reach the cap, the eleventh passes it

    def test_content_length_that_is_no_number_is_400(self, api: TestClient) -> None:
        """A Content-Length that is not a number is refused before the app runs."""

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        scope = post_scope(b"/feeds", [(b"content-length", b"12abc")])
        sent = asyncio.run(call(api.app, scope, receive))
        assert sent[0]["status"] == 400


class TestHeaders:
    @pytest.mark.parametrize("path", ["/matches", "/healthz", "/metrics", "/nowhere", "/docs"])
    def test_every_response_says_nosniff(self, api: TestClient, path: str) -> None:
        """JSON, text, errors and pages all carry X-Content-Type-Options: nosniff."""
        assert api.get(path).headers["x-content-type-options"] == "nosniff"

    def test_a_500_says_nosniff(self, tmp_path: Path) -> None:
        """An unexpected error's 500, sent from outside the middleware, carries it too."""
        engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'no.db'}")
        with client_for(sessionmaker(engine)) as client:
            response = client.get("/matches")
        assert response.status_code == 500
        assert response.headers["x-content-type-options"] == "nosniff"

    def test_the_413_says_nosniff(self, sqlite_sessions: sessionmaker[Session]) -> None:
        """Even the middleware's own 413 carries the header."""
        with client_for(sqlite_sessions, max_body_bytes=10) as client:
            response = client.post("/feeds", json=FEED, headers=AUTH)
            assert response.status_code == 413
            assert response.headers["x-content-type-options"] == "nosniff"

    @pytest.mark.parametrize("path", ["/docs", "/redoc"])
    def test_pages_carry_a_policy_that_forbids_framing(self, api: TestClient, path: str) -> None:
        """HTML carries a Content-Security-Policy with scripts from this server only and
        frame-ancestors 'none'."""
        response = api.get(path)
        policy = dict(
            directive.strip().split(" ", 1)
            for directive in response.headers["content-security-policy"].split(";")
        )
        assert policy["script-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
        assert response.headers["x-frame-options"] == "DENY"

    def test_json_gets_no_page_policy(self, api: TestClient) -> None:
        """The policy is for pages; JSON answers do not need one."""
        assert "content-security-policy" not in api.get("/matches").headers


class TestPublicURLs:
    def test_redirects_do_not_echo_the_host(self, api: TestClient) -> None:
        """Without a public base URL a redirect is a path, not the client's `Host`."""
        response = api.get("/feeds/", headers={"Host": "evil.example"}, follow_redirects=False)
        assert response.status_code == 307 and response.headers["location"] == "/feeds"

    def test_redirects_use_the_public_base_url(
        self, sqlite_sessions: sessionmaker[Session]
    ) -> None:
        """With `[api] public_base_url`, redirects point there."""
        base = "https://monitor.example/news"
        with client_for(sqlite_sessions, public_base_url=base) as client:
            response = client.get(
                "/feeds/", headers={"Host": "evil.example"}, follow_redirects=False
            )
            assert response.headers["location"] == "https://monitor.example/news/feeds"

    @pytest.mark.parametrize(
        ("base", "expected"),
        [
            ("", "/matches.atom?limit=5"),
            ("https://monitor.example/news/", "https://monitor.example/news/matches.atom?limit=5"),
        ],
    )
    def test_atom_self_link(
        self, sqlite_sessions: sessionmaker[Session], base: str, expected: str
    ) -> None:
        """The Atom self link is built from the public base URL, never from `Host`."""
        with client_for(sqlite_sessions, public_base_url=base) as client:
            response = client.get(
                "/matches.atom", params={"limit": 5}, headers={"Host": "evil.example"}
            )
            parsed = feedparser.parse(response.content)
            self_links = [link.href for link in parsed.feed.links if link.rel == "self"]
            assert "evil.example" not in response.text
            assert response.text.count(f'href="{expected}"') == 1, self_links


def post_scope(path: bytes, headers: list[tuple[bytes, bytes]]) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path.decode(),
        "raw_path": path,
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


async def call(app: Any, scope: Scope, receive: Any) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent
