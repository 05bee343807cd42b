"""Developing stories on the pages, through the ASGI app and no browser (so without
JavaScript): the story page's thread panel, the thread page, the inbox's "developing" badge and
the outbox's `story.developing` deliveries, over two events of one thread made by the real
processing stage."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage.events import get_story_thread
from monitor.storage.schema import EventThread, Story
from monitor.storage.schema import Thread as ThreadRow
from monitor.storage.thread_pages import (
    PAGE_EVENTS,
    alert_threads,
    developing_threads,
    marked_thread,
)
from monitor.tagging import Tagger
from tests.feedback_support import match_by_title, process_headlines
from tests.pages_support import HTMX, Clock, counted_statements, form_post, page_client
from tests.test_events_storage import NOW, WARSHIPS, WARSHIPS_LATER, feeds, processor, publish
from tests.test_pages import HOSTILE

WARSHIPS_TODAY = WARSHIPS + " today"
LULA = "Putin receives Lula in Moscow to talk about grain and fertiliser trade"
LATER = NOW + timedelta(hours=72)


@dataclass(frozen=True, slots=True)
class Thread:
    """The ids of the stored developing story: its first event (two outlets), its follow-up
    72 h later, and an unrelated event with a thread of its own."""

    sessions: sessionmaker[Session]
    thread_id: int
    first: int
    follow_up: int
    unrelated: int


def store_thread(sessions: sessionmaker[Session], tagger: Tagger) -> Thread:
    """Warships dock (two outlets) and Lula in Moscow, processed; the warships leaving three
    days later, processed then: two events of one thread, each alerted (`ALERTS`)."""
    ids = feeds(sessions, 4)
    publish(sessions, ids[0], "a", WARSHIPS, NOW)
    publish(sessions, ids[1], "b", WARSHIPS_TODAY, NOW + timedelta(hours=2))
    publish(sessions, ids[3], "l", LULA, NOW + timedelta(hours=1))
    processor(sessions, tagger, NOW + timedelta(hours=2)).process_pending()
    publish(sessions, ids[2], "c", WARSHIPS_LATER, LATER)
    processor(sessions, tagger, LATER).process_pending()
    first, follow_up, unrelated = (
        int(str(match_by_title(sessions, title)["story_id"]))
        for title in (WARSHIPS, WARSHIPS_LATER, LULA)
    )
    with sessions() as session:
        thread = get_story_thread(session, follow_up)
    assert thread is not None and [e["id"] for e in thread["events"]] == [first, follow_up]
    return Thread(sessions, int(thread["id"]), first, follow_up, unrelated)


@pytest.fixture
def stored(sqlite_sessions: sessionmaker[Session], tagger: Tagger) -> Thread:
    return store_thread(sqlite_sessions, tagger)


@pytest.fixture
def client(stored: Thread, tagger: Tagger) -> Iterator[TestClient]:
    with page_client(stored.sessions, tagger, clock=Clock(LATER)) as c:
        yield c


def section(html: str, start: str, end: str) -> str:
    assert start in html, f"no {start!r} on the page"
    return html[html.index(start) :].split(end)[0]


def event_rows(panel: str) -> list[str]:
    return re.findall(r'<tr class="event[^"]*" id="event-\d+">.*?</tr>', panel, re.S)


class TestStoryPanel:
    def test_follow_up_shows_its_thread_in_time_order(
        self, client: TestClient, stored: Thread
    ) -> None:
        """The follow-up's page has a "Developing story" panel listing both events oldest
        first, each linking to its story page with its outlets and languages, and the
        follow-up highlighted as this event."""
        panel = section(
            client.get(f"/stories/{stored.follow_up}").text, 'id="thread"', "</section>"
        )
        assert "Developing story" in panel and "2 events" in panel
        rows = event_rows(panel)
        assert [re.search(r'id="event-(\d+)"', r).group(1) for r in rows] == [  # type: ignore[union-attr]
            str(stored.first),
            str(stored.follow_up),
        ]
        first, follow_up = rows
        assert WARSHIPS in first and f'href="/stories/{stored.first}"' in first
        assert "<td>2</td>" in first and "<td>en</td>" in first
        assert 'class="event current"' in follow_up and 'aria-current="page"' in follow_up
        assert "this event" in follow_up and "this event" not in first
        assert WARSHIPS_LATER in follow_up and "<td>1</td>" in follow_up
        assert "published <time" in first and "2026-11-22 12:00</time>" in first
        assert "published <time" in follow_up and "2026-11-25 12:00</time>" in follow_up
        assert f'href="/threads/{stored.thread_id}"' in panel

    def test_events_are_marked_relevant_and_alerted(
        self, client: TestClient, stored: Thread
    ) -> None:
        """Each event says it is relevant and how it was alerted: the first as a new story,
        the follow-up as a developing one."""
        panel = section(client.get(f"/stories/{stored.first}").text, 'id="thread"', "</section>")
        first, follow_up = event_rows(panel)
        assert 'class="badge relevant"' in first and 'class="badge relevant"' in follow_up
        assert 'title="match.created">alerted<' in first
        assert 'title="story.developing">alerted as developing<' in follow_up
        assert "story.developing" not in first

    def test_earlier_and_later_event_links(self, client: TestClient, stored: Thread) -> None:
        """The first event links to the later one (rel=next) and the follow-up back to the
        first (rel=prev): plain links, the keys n and p only follow them."""
        first = section(client.get(f"/stories/{stored.first}").text, "thread-nav", "</nav>")
        later = section(client.get(f"/stories/{stored.follow_up}").text, "thread-nav", "</nav>")
        assert f'href="/stories/{stored.follow_up}" rel="next" data-key="n"' in first
        assert 'rel="prev"' not in first
        assert f'href="/stories/{stored.first}" rel="prev" data-key="p"' in later
        assert 'rel="next"' not in later

    def test_lone_event_says_so(self, client: TestClient, stored: Thread) -> None:
        """An event alone in its thread says no other event followed, and lists no rows."""
        panel = section(
            client.get(f"/stories/{stored.unrelated}").text, 'id="thread"', "</section>"
        )
        assert "No other event in this thread yet." in panel and not event_rows(panel)

    def test_story_statements_do_not_grow_with_the_thread(
        self, client: TestClient, stored: Thread
    ) -> None:
        """A story page whose thread has two events runs as many statements as one alone."""
        engine = stored.sessions.kw["bind"]
        counts = []
        for story in (stored.unrelated, stored.follow_up):
            client.get(f"/stories/{story}")
            with counted_statements(engine) as statements:
                client.get(f"/stories/{story}")
            counts.append(len(statements))
        assert counts[0] == counts[1]


class TestThreadPage:
    def test_lists_the_events_with_none_highlighted(
        self, client: TestClient, stored: Thread
    ) -> None:
        """GET /threads/{id} from a browser renders the same events, none marked current."""
        response = client.get(f"/threads/{stored.thread_id}")
        assert response.status_code == 200 and "<h1>" + WARSHIPS in response.text
        rows = event_rows(section(response.text, 'id="thread"', "</section>"))
        assert len(rows) == 2 and not any("current" in r for r in rows)
        assert WARSHIPS_LATER in rows[1]

    def test_api_clients_keep_the_json(self, client: TestClient, stored: Thread) -> None:
        """Without Accept: text/html the path stays the API's JSON thread."""
        plain = {"Accept": "application/json"}
        thread = client.get(f"/threads/{stored.thread_id}", headers=plain).json()
        assert [e["title"] for e in thread["events"]] == [WARSHIPS, WARSHIPS_LATER]

    def test_login_needed_when_reads_need_the_token(self, stored: Thread, tagger: Tagger) -> None:
        """With reads behind the token, the thread page sends a browser to the login form."""
        with page_client(stored.sessions, tagger, api={"require_token_for_reads": True}) as c:
            response = c.get(f"/threads/{stored.thread_id}")
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next=%2Fthreads%2F{stored.thread_id}"

    @pytest.mark.parametrize(
        ("path", "status"), [("/threads/999999", 404), ("/threads/abc", 422), ("/threads/0", 422)]
    )
    def test_bad_thread(self, client: TestClient, path: str, status: int) -> None:
        """An unknown thread is a 404; an id that is not a positive number a 422."""
        assert client.get(path).status_code == status


def lengthen_thread(stored: Thread, extra: int) -> list[int]:
    """Add `extra` events to the stored thread, an hour apart after the follow-up, and return
    all of the thread's event ids oldest first."""
    with stored.sessions.begin() as session:
        added = []
        for n in range(extra):
            at = LATER + timedelta(hours=1 + n)
            story = Story(
                title=f"Follow-up number {n}",
                first_seen_at=at,
                last_seen_at=at,
                article_count=1,
                outlets_count=1,
                languages="en",
            )
            session.add(story)
            session.flush()
            session.add(EventThread(story_id=story.id, thread_id=stored.thread_id))
            added.append(story.id)
        row = session.get(ThreadRow, stored.thread_id)
        assert row is not None
        row.event_count += extra
    return [stored.first, stored.follow_up, *added]


def row_ids(html: str) -> list[int]:
    panel = section(html, 'id="thread"', "</section>")
    return [int(m) for m in re.findall(r'<tr class="event[^"]*" id="event-(\d+)">', panel)]


class TestLongThread:
    """A thread of more events than a page holds shows PAGE_EVENTS of them and says how many
    more there are on either side, linking to the thread page's page that holds them."""

    def test_story_panel_shows_the_events_around_its_own(
        self, client: TestClient, stored: Thread
    ) -> None:
        ids = lengthen_thread(stored, 2 * PAGE_EVENTS + 8)  # 110 events
        middle = ids[60]
        html = client.get(f"/stories/{middle}").text
        shown = row_ids(html)
        assert shown == ids[35:85] and len(shown) == PAGE_EVENTS
        panel = section(html, 'id="thread"', "</section>")
        assert (
            f'<a href="/threads/{stored.thread_id}?page=1" rel="prev">35 earlier events</a>'
            in panel
        )
        assert (
            f'<a href="/threads/{stored.thread_id}?page=2" rel="next">25 later events</a>' in panel
        )
        assert f"{len(ids)} events" in panel
        # The ends: the first event's window starts at it, the last one's ends at it.
        assert row_ids(client.get(f"/stories/{ids[0]}").text) == ids[:PAGE_EVENTS]
        assert row_ids(client.get(f"/stories/{ids[-1]}").text) == ids[-PAGE_EVENTS:]
        assert "later event" not in client.get(f"/stories/{ids[-1]}").text

    def test_thread_page_is_paged(self, client: TestClient, stored: Thread) -> None:
        ids = lengthen_thread(stored, 2 * PAGE_EVENTS + 8)
        base = f"/threads/{stored.thread_id}"
        assert row_ids(client.get(base).text) == ids[:PAGE_EVENTS]
        assert row_ids(client.get(f"{base}?page=2").text) == ids[PAGE_EVENTS : 2 * PAGE_EVENTS]
        last = client.get(f"{base}?page=3").text
        assert row_ids(last) == ids[2 * PAGE_EVENTS :]
        assert f'href="{base}?page=2" rel="prev">100 earlier events</a>' in last
        assert "later event" not in last
        assert row_ids(client.get(f"{base}?page=99").text) == ids[2 * PAGE_EVENTS :]
        assert client.get(f"{base}?page=0").status_code == 422

    def test_statements_do_not_grow_with_the_thread(
        self, client: TestClient, stored: Thread
    ) -> None:
        """A story page in a 110-event thread runs as many statements as in a 2-event one."""
        engine = stored.sessions.kw["bind"]
        client.get(f"/stories/{stored.follow_up}")
        with counted_statements(engine) as short:
            client.get(f"/stories/{stored.follow_up}")
        lengthen_thread(stored, 2 * PAGE_EVENTS + 8)
        with counted_statements(engine) as long:
            client.get(f"/stories/{stored.follow_up}")
        assert len(short) == len(long)


class TestEscaping:
    def test_hostile_thread_title_is_inert(
        self, client: TestClient, stored: Thread, tagger: Tagger
    ) -> None:
        """A thread titled with <script> and onerror= shows them as text on the story and
        thread pages, which carry no inline script or handler and the CSP."""
        process_headlines(stored.sessions, tagger, [HOSTILE], now=LATER, outlet="hostile")
        story = int(str(match_by_title(stored.sessions, HOSTILE)["story_id"]))
        with stored.sessions() as session:
            thread = get_story_thread(session, story)
        assert thread is not None
        for path in (f"/stories/{story}", f"/threads/{thread['id']}"):
            response = client.get(path)
            panel = section(response.text, 'id="thread"', "</section>")
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in panel, path
            assert "<script>alert" not in response.text and "<img src=x" not in response.text
            assert "script-src 'self'" in response.headers["content-security-policy"]
            assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), path
            assert not re.search(r"<[^>]+\son[a-z]+\s*=", response.text), path


class TestInboxBadge:
    def row(self, html: str, title: str) -> str:
        return section(html, f">{title}</a>", "</article>")

    def test_rows_of_a_developing_story_carry_the_badge(
        self, client: TestClient, stored: Thread
    ) -> None:
        """Both warships rows say "developing · 2 events" and link to their story's thread
        panel; the Lula row, alone in its thread, has no badge."""
        html = client.get("/").text
        for title, story in ((WARSHIPS, stored.first), (WARSHIPS_LATER, stored.follow_up)):
            row = self.row(html, title)
            assert re.search(
                rf'<a class="badge developing" href="/stories/{story}#thread"[^>]*>'
                r"developing · 2 events</a>",
                row,
            ), title
        assert "badge developing" not in self.row(html, LULA)

    def test_htmx_row_keeps_the_badge(self, client: TestClient, stored: Thread) -> None:
        """A row re-rendered after an action (star, through htmx) still carries the badge."""
        article = match_by_title(stored.sessions, WARSHIPS_LATER)["article_id"]
        response = form_post(client, "/", f"/ui/articles/{article}/star", HTMX, value="true")
        assert "<html" not in response.text and "developing · 2 events" in response.text

    def test_inbox_statements_do_not_grow_with_rows(
        self, client: TestClient, stored: Thread
    ) -> None:
        """The badges cost the same statements for one row as for three."""
        engine = stored.sessions.kw["bind"]
        counts = []
        for limit in (1, 3):
            client.get(f"/?limit={limit}")
            with counted_statements(engine) as statements:
                client.get(f"/?limit={limit}")
            counts.append(len(statements))
        assert counts[0] == counts[1]


class TestAlertsPage:
    def test_developing_delivery_is_labelled_with_its_thread(
        self, client: TestClient, stored: Thread
    ) -> None:
        """The follow-up's delivery is labelled "developing" (story.developing), links to the
        thread and lists the earlier event it follows; the first event's is a "new story"."""
        html = client.get("/alerts").text
        rows = re.findall(r'<tr id="delivery-\d+" class="delivery [^"]+">.*?</tr>', html, re.S)
        developing = [r for r in rows if "type-story-developing" in r]
        created = [r for r in rows if "type-match-created" in r and f"): {WARSHIPS}<" in r]
        assert len(developing) == 1 and len(created) == 1
        [row] = developing
        assert re.search(r'class="badge type type-story-developing"[^>]*>developing<', row)
        assert WARSHIPS_LATER in row  # the alert's own title, in its message
        assert f'href="/threads/{stored.thread_id}">developing story, 2 events now' in row
        assert "follows 1 earlier event" in row and "<details open>" in row
        earlier = section(row, '<ol class="earlier">', "</ol>")
        assert f'href="/stories/{stored.first}">{WARSHIPS}</a>' in earlier
        assert WARSHIPS_LATER not in earlier
        assert ">new story<" in created[0] and "earlier event" not in created[0]


class TestQueries:
    def test_on_both_databases(self, sessions: sessionmaker[Session], tagger: Tagger) -> None:
        """The page queries give the same answers on SQLite and PostgreSQL: marks per event,
        badges only for threads of several events, and the context each alert carried."""
        stored = store_thread(sessions, tagger)
        with sessions() as session:
            thread = marked_thread(session, stored.thread_id)
            badges = developing_threads(session, [stored.first, stored.follow_up, stored.unrelated])
            alerts = alert_threads(session, list(range(1, 10)))
        assert thread is not None
        assert [(e["relevant"], e["alerts"]) for e in thread["events"]] == [
            (True, ["match.created"]),
            (True, ["story.developing"]),
        ]
        expected = {"thread_id": stored.thread_id, "event_count": 2}
        assert badges == {stored.first: expected, stored.follow_up: expected}
        carried = {a["story_id"]: [e["id"] for e in a["earlier"]] for a in alerts.values()}
        assert carried == {stored.first: [], stored.follow_up: [stored.first], stored.unrelated: []}
