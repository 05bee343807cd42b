"""The pages in a real browser (Debian's Chromium through Playwright) against a real `monitor
run` over loopback feeds in en/es/pt/ru: filters, keyboard triage, splitting a story, a
hostile title, a developing story (with and without JavaScript), and the screenshots the
README shows."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.loopback import FeedServer
from tests.browser_support import (
    FEEDS,
    HOSTILE_TITLE,
    VIEWPORT,
    RunningMonitor,
    Story,
    Watched,
    chromium_or_skip,
    launched_browser,
    running_monitor,
    save_screenshot,
    watched_page,
)
from tests.browser_support import LoopbackFeeds as Outlets

pytestmark = pytest.mark.slow
DOCKED = "Russian warships dock in Havana for joint naval exercises with Cuba"
LEFT = "Russian warships leave Havana after joint naval exercises with Cuba"
# One developing story: the warships dock, and three days later (another event) they leave;
# the follow-up is published once the first is processed, as news arrives.
THREAD_FEEDS: dict[str, list[Story]] = {
    "en": [
        Story("en-dock", DOCKED, "A Russian frigate and a tanker arrived in Cuba for a visit.", 80),
    ],
    "es": [
        Story(
            "es-bogota",
            "Rusia ofrece a Colombia cooperación nuclear civil",
            "El embajador ruso en Bogotá propuso un acuerdo sobre energía nuclear con Colombia.",
            9,
        ),
    ],
}
FOLLOW_UP = Story("en-leave", LEFT, "The Russian frigate and the tanker left Cuba today.", 1)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_browser() as launched:
        yield launched


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMonitor]:
    chromium_or_skip()  # before paying for the service
    with FeedServer() as server:
        workdir = tmp_path_factory.mktemp("monitor")
        with running_monitor(workdir, Outlets(server, FEEDS)) as running:
            yield running


@pytest.fixture(scope="module")
def developing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMonitor]:
    """A second service whose warships story developed: two events of one thread."""
    chromium_or_skip()
    with FeedServer() as server:
        workdir = tmp_path_factory.mktemp("developing")
        outlets = Outlets(server, THREAD_FEEDS)
        with running_monitor(workdir, outlets) as running:
            outlets.publish("en", FOLLOW_UP)
            running.wait_for_matches(outlets.article_count)
            yield running


@dataclass(frozen=True, slots=True)
class Developing:
    """The two events' ids and their thread's."""

    docked: int
    left: int
    thread: int


def developing_ids(service: RunningMonitor) -> Developing:
    by_title = {m["title"]: m["story_id"] for m in service.matches()}
    with service.client() as api:
        thread = api.get(f"/stories/{by_title[LEFT]}").json()["thread"]
    assert [e["title"] for e in thread["events"]] == [DOCKED, LEFT], thread
    return Developing(by_title[DOCKED], by_title[LEFT], thread["id"])


@pytest.fixture
def page(browser: Any) -> Iterator[Watched]:
    with watched_page(browser) as watched:
        yield watched


def item_ids(watched: Watched) -> list[int]:
    ids = watched.page.locator("article.item").evaluate_all("items => items.map(i => i.id)")
    return [int(i.removeprefix("item-")) for i in ids]


def selected_id(watched: Watched) -> int | None:
    found = watched.page.locator("article.item.selected")
    return int(found.get_attribute("id").removeprefix("item-")) if found.count() == 1 else None


def assert_inert(watched: Watched) -> None:
    """Nothing the hostile title carries ran or was parsed as markup."""
    page = watched.page
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img[src='x'], main script").count() == 0
    assert watched.dialogs == []
    assert watched.errors == []
    assert [line for line in watched.console if "Content Security Policy" in line] == []


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return int(width), int(height)


class TestInbox:
    def test_lists_every_relevant_match_with_its_outlet_and_language(
        self, service: RunningMonitor, page: Watched
    ) -> None:
        """The inbox shows each relevant match once, with the outlet and language it came in."""
        page.page.goto(service.base_url + "/")
        expected = {m["id"]: m for m in service.matches(relevant="true")}
        assert sorted(item_ids(page)) == sorted(expected)
        some = next(iter(expected.values()))
        row = page.page.locator(f"#item-{some['id']}")
        assert row.locator(".outlet").inner_text() == some["feed_name"]
        assert row.locator(".lang").inner_text() == some["language"]
        assert page.errors == []

    def test_country_filter_keeps_only_that_country(
        self, service: RunningMonitor, page: Watched
    ) -> None:
        """Typing a country into the filter form and submitting it leaves that country's items."""
        page.page.goto(service.base_url + "/")
        page.page.fill("form.filters input[name=country]", "CU")
        page.page.click("form.filters button[type=submit]")
        page.page.wait_for_url("**country=CU**")
        cuban = [m["id"] for m in service.matches(relevant="true", country="CU")]
        assert cuban and sorted(item_ids(page)) == sorted(cuban)
        for tags in page.page.locator("article.item").all():
            assert "CU" in tags.locator(".tag.country").all_inner_texts()

    def test_j_k_move_and_x_rejects_the_selected_item(
        self, service: RunningMonitor, page: Watched
    ) -> None:
        """j/k move the selection; x on it records "not relevant" (seen in GET /feedback) and
        the item leaves the default inbox, at once and after a reload."""
        page.page.goto(service.base_url + "/?country=VE")
        shown = item_ids(page)
        assert len(shown) >= 3
        for key in "jjkj":
            page.page.keyboard.press(key)
        assert selected_id(page) == shown[1]
        article_id = int(page.page.locator(f"#item-{shown[1]}").get_attribute("data-article"))
        page.page.keyboard.press("x")
        page.page.locator(f"#item-{shown[1]}").wait_for(state="detached")
        assert item_ids(page) == [shown[0], *shown[2:]]
        page.page.wait_for_selector("article.item.selected")
        assert selected_id(page) == shown[2]  # the selection moves on to the next item
        with service.client() as api:
            judged = api.get("/feedback").json()["items"]
        assert [
            (j["article_id"], j["relevant"], j["author"])
            for j in judged
            if j.get("article_id") == article_id
        ] == [(article_id, False, "local")]
        page.page.reload()
        assert shown[1] not in item_ids(page)
        assert page.errors == []

    def test_question_mark_opens_the_help(self, service: RunningMonitor, page: Watched) -> None:
        """? opens the keyboard help and / moves the focus to the text search."""
        page.page.goto(service.base_url + "/")
        page.page.keyboard.press("?")
        assert page.page.locator("dialog#help").is_visible()
        page.page.keyboard.press("Escape")
        page.page.keyboard.press("/")
        assert page.page.evaluate("document.activeElement.id") == "search"


class TestStory:
    def test_not_the_same_story_splits_a_member_off(
        self, service: RunningMonitor, page: Watched
    ) -> None:
        """ "Not the same story" on a member removes it from the story's timeline and puts the
        article into a story of its own, with the judgement in GET /feedback."""
        with service.client() as api:
            stories = api.get("/stories").json()["items"]
            story = max(stories, key=lambda s: s["article_count"])
            assert story["article_count"] >= 3, "the treaty is reported in four languages"
            members = api.get(f"/stories/{story['id']}").json()["articles"]
        leaving = members[-1]["article_id"]
        page.page.goto(f"{service.base_url}/stories/{story['id']}")
        assert page.page.locator("tr.member").count() == len(members)
        page.page.click(f"#member-{leaving} button")
        page.page.locator(f"#member-{leaving}").wait_for(state="detached")
        with service.client() as api:
            left = [a["article_id"] for a in api.get(f"/stories/{story['id']}").json()["articles"]]
            moved = api.get(f"/articles/{leaving}").json()
            judged = api.get("/feedback").json()["items"]
        assert leaving not in left and len(left) == len(members) - 1
        assert moved["story_id"] not in (None, story["id"])
        assert any(j.get("article_id") == leaving and j.get("same_story") is False for j in judged)
        page.page.reload()
        assert page.page.locator("tr.member").count() == len(members) - 1


class TestDevelopingStory:
    def test_badge_panel_and_thread_without_javascript(
        self, developing: RunningMonitor, browser: Any
    ) -> None:
        """With JavaScript off, the inbox badge leads to the follow-up's thread panel (both
        events, the follow-up highlighted), whose links reach the earlier event and the
        thread's page."""
        ids = developing_ids(developing)
        context = browser.new_context(viewport=VIEWPORT, java_script_enabled=False)
        try:
            page = context.new_page()
            page.goto(developing.base_url + "/")
            badge = page.locator(f"article.item:has(a.title:text-is('{LEFT}')) a.badge.developing")
            assert badge.inner_text() == "developing · 2 events"
            badge.click()
            page.wait_for_url(f"**/stories/{ids.left}#thread")
            events = page.locator("section#thread tr.event")
            assert events.all_inner_texts()[0].count(DOCKED) == 1 and events.count() == 2
            assert page.locator("section#thread tr.event.current a").inner_text() == LEFT
            docked_at = developing.feeds.now - timedelta(hours=THREAD_FEEDS["en"][0].hours_ago)
            published = page.locator("section#thread tr.event .published").all_inner_texts()
            assert published[0] == "published " + docked_at.strftime("%Y-%m-%d %H:%M")
            page.locator(f"section#thread tr.event a:text-is('{DOCKED}')").click()
            page.wait_for_url(f"**/stories/{ids.docked}")
            assert page.locator("h1").inner_text() == DOCKED
            assert page.locator("tr.event.current a").inner_text() == DOCKED
            page.locator("section#thread a.thread-link").click()
            page.wait_for_url(f"**/threads/{ids.thread}")
            assert page.locator("tr.event").count() == 2
            assert page.locator("tr.event.current").count() == 0
        finally:
            context.close()

    def test_t_opens_the_thread_and_n_p_walk_its_events(
        self, developing: RunningMonitor, page: Watched, tmp_path: Path
    ) -> None:
        """t on the selected inbox row opens its story's thread panel; p and n go to the
        earlier and later event; nothing reports an error. Leaves a 1280×800 PNG of the
        follow-up's page (the README's, with MONITOR_SCREENSHOTS_DIR)."""
        ids = developing_ids(developing)
        page.page.goto(developing.base_url + "/")
        page.page.locator(f"article.item:has(a.title:text-is('{LEFT}')) .outlet").click()
        page.page.keyboard.press("t")
        page.page.wait_for_url(f"**/stories/{ids.left}#thread")
        page.page.keyboard.press("p")
        page.page.wait_for_url(f"**/stories/{ids.docked}")
        page.page.keyboard.press("n")
        page.page.wait_for_url(f"**/stories/{ids.left}")
        assert page.page.locator("h1").inner_text() == LEFT
        shot = save_screenshot(page.page, tmp_path, "developing-story")
        assert png_size(shot) == (1280, 800)
        assert page.errors == []


class TestHostileTitle:
    def test_renders_as_text_in_the_inbox(self, service: RunningMonitor, page: Watched) -> None:
        """A title carrying <img onerror> and <script> shows as its literal text; nothing runs."""
        page.page.goto(service.base_url + "/?country=NI&relevant=all")
        title = page.page.locator("article.item a.title")
        assert title.all_inner_texts() == [HOSTILE_TITLE]
        page.page.locator("article.item details.reasons summary").click()
        assert "onerror" in page.page.locator("article.item p.marked").first.inner_text()
        assert_inert(page)

    def test_renders_as_text_on_its_story_page_and_the_trends(
        self, service: RunningMonitor, page: Watched
    ) -> None:
        """The story page (heading, timeline) and the trends page show the title inert too."""
        hostile = next(m for m in service.matches() if m["title"] == HOSTILE_TITLE)
        page.page.goto(f"{service.base_url}/stories/{hostile['story_id']}")
        assert page.page.locator("h1").inner_text() == HOSTILE_TITLE
        assert HOSTILE_TITLE in page.page.locator("table.timeline").inner_text()
        page.page.goto(service.base_url + "/trends")
        assert_inert(page)


class TestScreenshots:
    def test_inbox_with_a_row_expanded_and_a_story(
        self, service: RunningMonitor, page: Watched, tmp_path: Path
    ) -> None:
        """1280×800 PNGs of the inbox with one row's reasons open and of a story page."""
        page.page.goto(service.base_url + "/?relevant=all")
        page.page.keyboard.press("j")
        page.page.locator("article.item details.reasons summary").first.click()
        assert page.page.locator("article.item details.reasons[open] mark").count() > 0
        inbox = save_screenshot(page.page, tmp_path, "inbox")
        with service.client() as api:
            stories = api.get("/stories").json()["items"]
        biggest = max(stories, key=lambda s: s["article_count"])
        page.page.goto(f"{service.base_url}/stories/{biggest['id']}")
        assert page.page.locator("svg").count() >= 1  # the articles-over-time chart
        story = save_screenshot(page.page, tmp_path, "story")
        assert png_size(inbox) == png_size(story) == (1280, 800)
        assert page.errors == []
