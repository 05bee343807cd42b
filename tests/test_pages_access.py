"""Access to the pages: open on loopback, the login form and its signed cookie otherwise,
who may write and under which author; and the feeds, alerts, seeds, saved views and quality
pages with their forms."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage.alerts import insert_alert
from monitor.storage.feeds import list_feeds
from monitor.storage.schema import DeliveryAttempt
from monitor.tagging import Tagger
from monitor.values import AlertType
from tests.feedback_support import HEADLINES, NOW, alert_settings, match_by_title, process_headlines
from tests.pages_support import TOKEN, Clock, csrf_of, form_post, page_client


@pytest.fixture
def stored(sqlite_sessions: sessionmaker[Session], tagger: Tagger) -> sessionmaker[Session]:
    process_headlines(sqlite_sessions, tagger)
    return sqlite_sessions


@pytest.fixture
def client(stored: sessionmaker[Session], tagger: Tagger) -> Iterator[TestClient]:
    with page_client(stored, tagger) as c:
        yield c


def log_in(client: TestClient, token: str = TOKEN, next_path: str = "/") -> object:
    page = client.get(f"/login?next={next_path}")
    return client.post(
        "/login", data={"csrf": csrf_of(page.text), "token": token, "next": next_path}
    )


class TestAccess:
    def test_open_on_loopback(self, client: TestClient) -> None:
        """On 127.0.0.1 with reads open, the inbox opens without a login."""
        assert client.get("/").status_code == 200

    @pytest.mark.parametrize(
        "api",
        [{"require_token_for_reads": True}, {"host": "0.0.0.0"}],
    )
    def test_login_needed_otherwise(
        self, stored: sessionmaker[Session], tagger: Tagger, api: dict[str, object]
    ) -> None:
        """With reads behind the token, or on an address beyond loopback, a page sends the
        visitor to the login form, and writes are refused."""
        with page_client(stored, tagger, api=api) as client:
            response = client.get("/trends?days=90")
            assert response.status_code == 303
            assert response.headers["location"] == "/login?next=%2Ftrends%3Fdays%3D90"
            match = match_by_title(stored, HEADLINES[0])
            refused = form_post(
                client, "/login", f"/ui/matches/{match['id']}/relevance", value="false"
            )
            assert refused.status_code == 401

    def test_login_sets_a_strict_cookie(
        self, stored: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """The right token sets a signed, HttpOnly, SameSite=Strict cookie with an expiry and
        goes on to `next`; writes are then recorded under [api] token_name."""
        api = {"require_token_for_reads": True, "token_name": "analyst"}
        with page_client(stored, tagger, api=api) as client:
            response = log_in(client, next_path="/quality")
            assert response.status_code == 303 and response.headers["location"] == "/quality"
            cookie = response.headers["set-cookie"]
            assert "monitor_session=" in cookie and "HttpOnly" in cookie
            assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
            assert "Max-Age=43200" in cookie
            assert client.get("/").status_code == 200
            match = match_by_title(stored, HEADLINES[0])
            form_post(client, "/", f"/ui/matches/{match['id']}/relevance", value="false")
            items = client.get("/feedback", headers={"Authorization": f"Bearer {TOKEN}"}).json()
            assert items["items"][0]["author"] == "analyst"

    def test_wrong_token(self, stored: sessionmaker[Session], tagger: Tagger) -> None:
        """A wrong token is a 401 with the form again, and sets no session."""
        with page_client(stored, tagger, api={"require_token_for_reads": True}) as client:
            response = log_in(client, token="guess")
            assert response.status_code == 401 and "not the API token" in response.text
            assert client.get("/").status_code == 303

    def test_session_expires(self, stored: sessionmaker[Session], tagger: Tagger) -> None:
        """After [pages] session_max_age_s the cookie no longer opens the pages."""
        clock = Clock()
        api = {"require_token_for_reads": True}
        with page_client(
            stored, tagger, clock=clock, api=api, pages={"session_max_age_s": 600}
        ) as client:
            log_in(client)
            assert client.get("/").status_code == 200
            clock.now = NOW + timedelta(seconds=601)
            assert client.get("/").status_code == 303

    def test_forged_or_foreign_session_is_refused(
        self, stored: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """A cookie not signed for this token (made up, or from a server with another token)
        opens nothing."""
        api = {"require_token_for_reads": True}
        with page_client(stored, tagger, token="other-token", api=api) as other:
            log_in(other, token="other-token")
            foreign = other.cookies.get("monitor_session")
        with page_client(stored, tagger, api=api) as client:
            for value in (foreign, "9999999999.deadbeef", "garbage"):
                client.cookies.set("monitor_session", value or "")
                assert client.get("/").status_code == 303

    def test_secret_from_the_environment(
        self, stored: sessionmaker[Session], tagger: Tagger, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With [pages] session_secret_env set, a session survives a restart with that secret
        and is refused by a server with another."""
        api = {"require_token_for_reads": True}
        monkeypatch.setenv("MONITOR_SESSION_SECRET", "one")
        with page_client(stored, tagger, api=api) as first:
            log_in(first)
            cookie = first.cookies.get("monitor_session") or ""
        with page_client(stored, tagger, api=api) as again:
            again.cookies.set("monitor_session", cookie)
            assert again.get("/").status_code == 200
        monkeypatch.setenv("MONITOR_SESSION_SECRET", "two")
        with page_client(stored, tagger, api=api) as changed:
            changed.cookies.set("monitor_session", cookie)
            assert changed.get("/").status_code == 303

    def test_logout(self, stored: sessionmaker[Session], tagger: Tagger) -> None:
        """Logging out drops the session."""
        with page_client(stored, tagger, api={"require_token_for_reads": True}) as client:
            log_in(client)
            response = form_post(client, "/", "/logout")
            assert response.status_code == 303
            assert client.get("/").status_code == 303

    def test_no_token_no_login(self, stored: sessionmaker[Session], tagger: Tagger) -> None:
        """Without a configured token the login form explains it cannot log anyone in."""
        with page_client(
            stored, tagger, token=None, api={"require_token_for_reads": True}
        ) as client:
            response = log_in(client, token="anything")
            assert response.status_code == 403 and "MONITOR_API_TOKEN" in response.text

    def test_next_never_leaves_the_site(self, client: TestClient) -> None:
        """A form's `next` pointing elsewhere is replaced by a local page."""
        response = form_post(client, "/", "/ui/views", name="v1", next="//evil.example/")
        assert response.headers["location"].startswith("/saved")


class TestFeeds:
    def test_health_table(self, client: TestClient) -> None:
        """Each feed with its status and its articles of the last 7 days."""
        html = client.get("/feeds").text
        assert html.count('id="feed-') == len(HEADLINES)
        assert re.search(r"<td>1</td>\s*<td>", html)

    def test_add_disable_enable_poll_remove(
        self, client: TestClient, stored: sessionmaker[Session]
    ) -> None:
        """Feeds are added, disabled, enabled, polled and removed from the page."""
        url = "https://new.example/rss"
        assert form_post(client, "/feeds", "/ui/feeds/add", url=url, name="New").status_code == 303
        with stored() as session:
            feed = next(f for f in list_feeds(session) if f.url == url)
        form_post(client, "/feeds", f"/ui/feeds/{feed.id}/disable")
        assert "disabled from the feeds page" in client.get("/feeds").text
        form_post(client, "/feeds", f"/ui/feeds/{feed.id}/enable")
        response = form_post(client, "/feeds", f"/ui/feeds/{feed.id}/poll")
        assert "notice=feed-polled" in response.headers["location"]
        with stored() as session:
            assert next(f for f in list_feeds(session) if f.url == url).enabled
        form_post(client, "/feeds", f"/ui/feeds/{feed.id}/remove")
        assert url not in client.get("/feeds").text

    @pytest.mark.parametrize("url", ["ftp://x.example/", "javascript:alert(1)", "https://a b/"])
    def test_bad_url_is_422(self, client: TestClient, url: str) -> None:
        """Only an http(s) address without spaces can be added."""
        assert form_post(client, "/feeds", "/ui/feeds/add", url=url).status_code == 422

    def test_opml_round_trip(self, client: TestClient) -> None:
        """The OPML export lists every feed; a pasted OPML document adds its feeds."""
        exported = client.get("/feeds.opml")
        assert exported.status_code == 200 and exported.text.count("<outline") == len(HEADLINES)
        opml = '<opml version="2.0"><body><outline text="Imported" xmlUrl="https://imported.example/rss"/></body></opml>'
        assert form_post(client, "/feeds", "/ui/feeds/import", opml=opml).status_code == 303
        assert "https://imported.example/rss" in client.get("/feeds").text
        bad = form_post(client, "/feeds", "/ui/feeds/import", opml="<!DOCTYPE x><opml/>")
        assert bad.status_code == 422


class TestAlerts:
    def test_outbox_with_attempts_and_retry(
        self, stored: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """The outbox shows a delivery with each attempt's status, latency and response, and
        a dead one is made due again."""
        settings = alert_settings({"name": "watch"})
        with stored.begin() as session:
            insert_alert(
                session,
                "uid-1",
                "watch",
                AlertType.MATCH_CREATED,
                None,
                None,
                0.9,
                1,
                False,
                '{"message": "Venezuela deal"}',
                ["ops"],
                NOW,
            )
            session.flush()
            session.add(
                DeliveryAttempt(
                    delivery_id=1,
                    attempted_at=NOW,
                    status_code=503,
                    latency_ms=42,
                    error="busy",
                    response="<b>try later</b>",
                )
            )
        sections = {"alerts": settings.model_dump()}
        with page_client(stored, tagger, **sections) as client:
            html = client.get("/alerts").text
            assert "Venezuela deal" in html and "503" in html and "42 ms" in html
            assert "&lt;b&gt;try later&lt;/b&gt;" in html
            assert "watch" in html and "https://hooks.example/x" in html
            response = form_post(client, "/alerts", "/ui/deliveries/1/retry")
            assert response.status_code == 303 and "notice=retried" in response.headers["location"]
            assert client.get("/alerts?status=bogus").status_code == 422
            assert form_post(client, "/alerts", "/ui/channels/nowhere/test").status_code == 404
            no_secret = form_post(client, "/alerts", "/ui/channels/ops/test")
            assert no_secret.status_code == 409 and "NO_SECRET" in no_secret.text


class TestSeedsViewsQuality:
    def test_seeds(self, client: TestClient) -> None:
        """The seed corpus is listed, each seed with its nearest stored articles."""
        html = client.get("/seeds").text
        assert html.count('class="seed"') >= 1
        assert "Nearest stored articles" in html

    def test_save_use_and_delete_a_view(self, client: TestClient) -> None:
        """An inbox filter saved from the inbox is listed with its Atom feed and inbox link,
        the feed serves it, and it can be deleted."""
        response = form_post(
            client,
            "/?country=Cuba",
            "/ui/views",
            name="cuba",
            country="Cuba",
            next="/?country=Cuba",
        )
        assert response.status_code == 303
        html = client.get("/saved").text
        assert 'href="/?country=CU">cuba</a>' in html and "/views/cuba.atom" in html
        assert HEADLINES[2] in client.get("/views/cuba.atom").text
        form_post(client, "/saved", "/ui/views/cuba/delete")
        assert "No saved views yet" in client.get("/saved").text

    @pytest.mark.parametrize(
        ("fields", "status"),
        [({"name": "bad name"}, 422), ({"name": "v", "country": "Atlantis"}, 422)],
    )
    def test_bad_view(self, client: TestClient, fields: dict[str, str], status: int) -> None:
        """A bad view name or filter is a 422."""
        assert form_post(client, "/", "/ui/views", **fields).status_code == status

    def test_quality_counts_judgements(
        self, client: TestClient, stored: sessionmaker[Session]
    ) -> None:
        """The quality page shows the judgements and the precision they give."""
        match = match_by_title(stored, HEADLINES[0])
        form_post(client, "/", f"/ui/matches/{match['id']}/relevance", value="false")
        html = client.get("/quality").text
        assert "Judgements: <strong>1</strong>" in html
        assert "Overall precision: <strong>0 %</strong>" in html
