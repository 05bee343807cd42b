"""The pages through the ASGI app, no browser: content, filters, forms, htmx fragments,
404/422 for bad ids and parameters, escaping and the statement count."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage.feeds import list_feeds
from monitor.tagging import Tagger
from tests.conftest import PROJECT_ROOT
from tests.feedback_support import HEADLINES, match_by_title, process_headlines
from tests.pages_support import HTMX, counted_statements, csrf_of, form_post, page_client

HOSTILE = "Russia and Venezuela <script>alert(1)</script><img src=x onerror=alert(2)> oil deal"
STATIC = PROJECT_ROOT / "monitor" / "pages" / "static"
PAGES = ["/", "/?relevant=all", "/trends", "/feeds", "/alerts", "/seeds", "/saved", "/quality"]


@pytest.fixture
def stored(sqlite_sessions: sessionmaker[Session], tagger: Tagger) -> sessionmaker[Session]:
    process_headlines(sqlite_sessions, tagger)
    return sqlite_sessions


@pytest.fixture
def client(stored: sessionmaker[Session], tagger: Tagger) -> Iterator[TestClient]:
    with page_client(stored, tagger) as c:
        yield c


def titles(html: str) -> list[str]:
    return re.findall(r'class="title"[^>]*>([^<]*)<', html)


class TestInbox:
    def test_relevant_first_by_default(self, client: TestClient) -> None:
        """The inbox lists the relevant matches and leaves the rejected one out."""
        shown = titles(client.get("/").text)
        assert HEADLINES[3] not in shown
        assert set(shown) == {HEADLINES[i] for i in (0, 1, 2, 4)}

    def test_all_puts_relevant_first(self, client: TestClient) -> None:
        """relevant=all shows every match, the relevant ones before the rejected one."""
        shown = titles(client.get("/?relevant=all").text)
        assert shown[-1] == HEADLINES[3] and len(shown) == 5

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("country=CU", {2}),
            ("country=Cuba", {2}),
            ("topic=defense", {0, 1}),
            ("q=Lula", {4}),
            ("relevant=not", {3}),
            ("min_score=0.9999&relevant=all", set()),
            ("language=xx", set()),
            ("since=2027-01-01", set()),
        ],
    )
    def test_filters(self, client: TestClient, query: str, expected: set[int]) -> None:
        """Each filter narrows the list as the API's filter of the same name does."""
        assert set(titles(client.get(f"/?{query}").text)) == {HEADLINES[i] for i in expected}

    def test_feed_filter(self, client: TestClient, stored: sessionmaker[Session]) -> None:
        """feed= keeps the matches of that feed."""
        with stored() as session:
            url = next(f.url for f in list_feeds(session) if f.url.endswith("outlet2.example/rss"))
        assert titles(client.get("/", params={"feed": url}).text) == [HEADLINES[2]]

    @pytest.mark.parametrize(
        "query",
        ["country=Atlantis", "topic=cooking", "min_score=2", "min_score=abc", "relevant=maybe",
         "since=yesterday-ish", "language=toolong", "limit=0", "page=-1", "q=%00"],
    )  # fmt: skip
    def test_bad_parameter_is_422(self, client: TestClient, query: str) -> None:
        """An unusable filter value is a 422 page naming the parameter."""
        response = client.get(f"/?{query}")
        assert response.status_code == 422
        name = query.split("=")[0]
        assert f"{name}:" in response.text

    def test_row_shows_story_outlets_and_reasons(self, client: TestClient) -> None:
        """A row carries its outlet, language, score, countries, "+N outlets" and the
        matched terms highlighted per side."""
        html = client.get("/?country=VE").text
        assert "+1 outlet<" in html
        assert '<span class="tag country">VE</span>' in html
        assert re.search(r'<mark class="russia">Russia</mark>', html)
        assert re.search(r'<mark class="latam">Venezuela</mark>', html)

    def test_htmx_gets_the_rows_only(self, client: TestClient) -> None:
        """With HX-Request the inbox answers the list fragment, not the page."""
        response = client.get("/?country=CU", headers=HTMX)
        assert response.status_code == 200
        assert "<html" not in response.text and HEADLINES[2] in response.text

    def test_semantic_search(self, client: TestClient) -> None:
        """ask= ranks matches by meaning with the search engine, each with its similarity."""
        html = client.get(
            "/", params={"ask": "Lula Putin grain fertiliser", "relevant": "all"}
        ).text
        assert titles(html)[0] == HEADLINES[4]
        assert 'class="similarity"' in html

    def test_pages_beyond_the_first(self, client: TestClient) -> None:
        """limit and page walk the list without repeating a row."""
        first = titles(client.get("/?limit=2").text)
        second = titles(client.get("/?limit=2&page=2").text)
        assert len(first) == 2 and len(second) == 2 and not set(first) & set(second)


class TestJudgements:
    def test_not_relevant_leaves_the_inbox_and_is_listed(
        self, client: TestClient, stored: sessionmaker[Session]
    ) -> None:
        """ "Not relevant" posted as a plain form: a 303 back, the item gone from the default
        inbox, the judgement in GET /feedback with the author `local`."""
        match = match_by_title(stored, HEADLINES[2])
        response = form_post(
            client, "/", f"/ui/matches/{match['id']}/relevance", value="false", next="/"
        )
        assert response.status_code == 303 and response.headers["location"].startswith("/?")
        assert HEADLINES[2] not in titles(client.get("/").text)
        items = client.get("/feedback", headers={"Accept": "application/json"}).json()["items"]
        assert items[0]["relevant"] is False and items[0]["author"] == "local"

    def test_htmx_judgement_removes_the_row(
        self, client: TestClient, stored: sessionmaker[Session]
    ) -> None:
        """Through htmx, "not relevant" on the default inbox answers nothing (the row goes)."""
        match = match_by_title(stored, HEADLINES[2])
        response = form_post(
            client, "/", f"/ui/matches/{match['id']}/relevance", HTMX, value="false", hide="1"
        )
        assert response.status_code == 200 and response.text == ""

    def test_relevant_override_is_marked_and_can_be_alerted(
        self, client: TestClient, stored: sessionmaker[Session]
    ) -> None:
        """A rejected match judged relevant shows as relevant, marked as an override, with
        "Send as alert"; through htmx the row comes back re-rendered."""
        match = match_by_title(stored, HEADLINES[3])
        response = form_post(
            client, "/?relevant=all", f"/ui/matches/{match['id']}/relevance", HTMX, value="true"
        )
        assert 'class="badge override"' in response.text and "Send as alert" in response.text
        assert HEADLINES[3] in titles(client.get("/").text)

    def test_send_as_alert_without_rules(
        self, client: TestClient, stored: sessionmaker[Session]
    ) -> None:
        """Send as alert with no rule admitting it says so after the redirect."""
        match = match_by_title(stored, HEADLINES[0])
        response = form_post(client, "/", f"/ui/matches/{match['id']}/alert", next="/")
        assert response.status_code == 303 and "notice=alert-none" in response.headers["location"]
        assert "No alert rule admits" in client.get(response.headers["location"]).text

    def test_star_and_read(self, client: TestClient, stored: sessionmaker[Session]) -> None:
        """Star and read are stored and shown on the row."""
        article = match_by_title(stored, HEADLINES[0])["article_id"]
        form_post(client, "/", f"/ui/articles/{article}/star", value="true")
        form_post(client, "/", f"/ui/articles/{article}/read", value="true")
        html = client.get("/").text
        row = html[html.index(f'data-article="{article}"') :].split("</article>")[0]
        assert 'title="starred"' in row and "Unstar" in row and "Mark unread" in row

    def test_starred_filter(self, client: TestClient, stored: sessionmaker[Session]) -> None:
        """starred=1 lists only the starred items."""
        article = match_by_title(stored, HEADLINES[4])["article_id"]
        form_post(client, "/", f"/ui/articles/{article}/star", value="true")
        assert titles(client.get("/?starred=1").text) == [HEADLINES[4]]

    def test_mark_visible_as_read(self, client: TestClient, stored: sessionmaker[Session]) -> None:
        """ "Mark visible as read" marks every listed article read."""
        ids = [match_by_title(stored, HEADLINES[i])["article_id"] for i in (0, 2)]
        response = form_post(client, "/", "/ui/inbox/read", article=ids, next="/")
        assert response.status_code == 303
        assert client.get("/").text.count('class="item read') == 2

    @pytest.mark.parametrize(
        ("action", "status"),
        [
            ("/ui/matches/999999/relevance", 404),
            ("/ui/matches/abc/relevance", 422),
            ("/ui/matches/0/relevance", 404),
            ("/ui/articles/999999/star", 404),
            ("/ui/matches/999999/alert", 404),
            ("/ui/stories/999999/articles/1/split", 404),
            ("/ui/feeds/999999/poll", 404),
            ("/ui/deliveries/999999/retry", 404),
            ("/ui/views/nothing/delete", 404),
        ],
    )
    def test_bad_ids(self, client: TestClient, action: str, status: int) -> None:
        """An unknown id is a 404, one that is not a number a 422."""
        assert form_post(client, "/", action, value="true").status_code == status

    def test_bad_verdict_is_422(self, client: TestClient, stored: sessionmaker[Session]) -> None:
        """A relevance verdict other than true or false is refused."""
        match = match_by_title(stored, HEADLINES[0])
        assert (
            form_post(
                client, "/", f"/ui/matches/{match['id']}/relevance", value="perhaps"
            ).status_code
            == 422
        )


class TestCsrf:
    @pytest.mark.parametrize("token", [None, "", "0" * 64])
    def test_forged_post_is_refused(
        self, client: TestClient, stored: sessionmaker[Session], token: str | None
    ) -> None:
        """A post without this browser's CSRF token is a 403 and changes nothing."""
        client.get("/")  # the browser has its CSRF cookie
        match = match_by_title(stored, HEADLINES[2])
        data = {"value": "false", **({"csrf": token} if token is not None else {})}
        response = client.post(f"/ui/matches/{match['id']}/relevance", data=data)
        assert response.status_code == 403
        assert HEADLINES[2] in titles(client.get("/").text)

    def test_token_of_another_browser_is_refused(
        self, stored: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """A token read by one browser does not work with another browser's cookie."""
        with page_client(stored, tagger) as one, page_client(stored, tagger) as other:
            token = csrf_of(one.get("/").text)
            other.get("/")
            response = other.post("/ui/views", data={"csrf": token, "name": "x"})
        assert response.status_code == 403


class TestEscaping:
    @pytest.fixture
    def hostile(self, stored: sessionmaker[Session], tagger: Tagger) -> sessionmaker[Session]:
        process_headlines(stored, tagger, [HOSTILE], outlet="hostile")
        return stored

    def test_hostile_title_is_inert(
        self, hostile: sessionmaker[Session], client: TestClient
    ) -> None:
        """A title carrying <script> and onerror= is escaped on the inbox and story pages."""
        story = match_by_title(hostile, HOSTILE)["story_id"]
        for path in ("/?relevant=all", f"/stories/{story}", "/trends"):
            html = client.get(path).text
            assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get("/?relevant=all").text

    def test_no_inline_script_or_handler(
        self, hostile: sessionmaker[Session], client: TestClient
    ) -> None:
        """No page carries an inline script or an inline event handler, and every page is
        sent with a CSP that forbids them."""
        story = match_by_title(hostile, HOSTILE)["story_id"]
        for path in [*PAGES, f"/stories/{story}", "/login"]:
            response = client.get(path)
            assert response.status_code == 200, path
            assert "script-src 'self'" in response.headers["content-security-policy"]
            assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), path
            assert not re.search(r"<[^>]+\son[a-z]+\s*=", response.text), path


class TestStory:
    def test_timeline_and_chart(self, client: TestClient, stored: sessionmaker[Session]) -> None:
        """The story page lists its members with time, outlet and language, and a chart."""
        story = match_by_title(stored, HEADLINES[0])["story_id"]
        html = client.get(f"/stories/{story}").text
        assert HEADLINES[0] in html and HEADLINES[1] in html
        assert html.count('class="member"') == 2 and "<svg" in html and "<rect" in html

    def test_api_clients_keep_the_json(
        self, client: TestClient, stored: sessionmaker[Session]
    ) -> None:
        """GET /stories/{id} and /feeds without Accept: text/html stay the API's JSON."""
        story = match_by_title(stored, HEADLINES[0])["story_id"]
        plain = {"Accept": "application/json"}
        assert client.get(f"/stories/{story}", headers=plain).json()["id"] == story
        assert isinstance(client.get("/feeds", headers=plain).json(), list)

    def test_not_the_same_story(self, client: TestClient, stored: sessionmaker[Session]) -> None:
        """ "Not the same story" moves the member into a story of its own and records it."""
        match = match_by_title(stored, HEADLINES[1])
        story = match["story_id"]
        action = f"/ui/stories/{story}/articles/{match['article_id']}/split"
        response = form_post(client, f"/stories/{story}", action, next=f"/stories/{story}")
        assert response.status_code == 303
        timeline = client.get(f"/stories/{story}").text.split('class="timeline"')[1]
        assert timeline.count('class="member"') == 1 and HEADLINES[1] not in timeline
        assert match_by_title(stored, HEADLINES[1])["story_id"] != story
        items = client.get("/feedback", headers={"Accept": "application/json"}).json()["items"]
        assert items[0]["same_story"] is False

    @pytest.mark.parametrize(
        ("path", "status"), [("/stories/999999", 404), ("/stories/abc", 422), ("/stories/0", 422)]
    )
    def test_bad_story(self, client: TestClient, path: str, status: int) -> None:
        """An unknown story is a 404; an id that is not a positive number a 422."""
        assert client.get(path).status_code == status


class TestTrends:
    def test_charts_and_stories(self, client: TestClient) -> None:
        """Trends shows relevant matches per day, by country and topic, and this week's
        biggest stories."""
        html = client.get("/trends").text
        assert "All relevant matches (4)" in html
        assert 'href="/?country=VE&amp;since=30d">VE</a>' in html
        assert '<svg class="spark"' in html and "<polyline" in html
        assert HEADLINES[0] in html or HEADLINES[1] in html  # the two-outlet story

    def test_ninety_days(self, client: TestClient) -> None:
        """days=90 draws ninety days."""
        html = client.get("/trends?days=90").text
        assert re.search(r'<svg class="chart"[^>]*aria-label="relevant matches per day"', html)
        first_chart = html[html.index('<svg class="chart"') :]
        assert first_chart[: first_chart.index("</svg>")].count("<rect") == 90

    @pytest.mark.parametrize("days", ["7", "abc"])
    def test_bad_period(self, client: TestClient, days: str) -> None:
        """A period other than 30 or 90 days is a 422."""
        assert client.get(f"/trends?days={days}").status_code == 422


class TestStatic:
    def test_htmx_is_the_pinned_file(self, client: TestClient) -> None:
        """The vendored htmx is served from the package and matches the recorded SHA-256."""
        readme = (STATIC / "README.md").read_text(encoding="utf-8")
        digest = re.search(r"SHA-256 `([0-9a-f]{64})`", readme)
        assert digest and "2.0.4" in readme
        body = client.get("/ui/static/htmx.min.js").content
        assert hashlib.sha256(body).hexdigest() == digest.group(1)
        assert client.get("/ui/static/pages.js").status_code == 200


class TestStatementCount:
    def test_inbox_statements_do_not_grow_with_rows(
        self, client: TestClient, stored: sessionmaker[Session]
    ) -> None:
        """The inbox runs as many statements for one row as for five."""
        engine = stored.kw["bind"]
        counts = []
        for limit in (1, 5):
            client.get(f"/?relevant=all&limit={limit}")
            with counted_statements(engine) as statements:
                assert len(titles(client.get(f"/?relevant=all&limit={limit}").text)) == limit
            counts.append(len(statements))
        assert counts[0] == counts[1]

    def test_story_statements_do_not_grow_with_members(
        self, client: TestClient, stored: sessionmaker[Session]
    ) -> None:
        """A story of two members costs the same statements as a story of one."""
        engine = stored.kw["bind"]
        counts = []
        for title in (HEADLINES[0], HEADLINES[2]):
            story = match_by_title(stored, title)["story_id"]
            client.get(f"/stories/{story}")
            with counted_statements(engine) as statements:
                client.get(f"/stories/{story}")
            counts.append(len(statements))
        assert counts[0] == counts[1]

    @pytest.mark.parametrize(
        "path", ["/feeds", "/trends", "/alerts", "/seeds", "/saved", "/quality"]
    )
    def test_other_pages_stay_constant(
        self, client: TestClient, stored: sessionmaker[Session], tagger: Tagger, path: str
    ) -> None:
        """Feeds, trends, alerts, seeds, saved views and quality run the same number of
        statements when there is more to show."""
        engine = stored.kw["bind"]
        client.get(path)
        with counted_statements(engine) as before:
            client.get(path)
        process_headlines(stored, tagger, HEADLINES, outlet="more")
        with counted_statements(engine) as after:
            client.get(path)
        assert len(before) == len(after)
