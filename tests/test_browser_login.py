"""Logging in, in a real browser, on a `monitor run` whose reads need the API token."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from monitor.loopback import FeedServer
from tests.browser_support import (
    TOKEN,
    LoopbackFeeds,
    RunningMonitor,
    Story,
    chromium_or_skip,
    launched_browser,
    running_monitor,
    watched_page,
)

pytestmark = pytest.mark.slow
ONE_STORY = {
    "en": [
        Story(
            "en-treaty",
            "Putin and Maduro sign a strategic partnership treaty in Moscow",
            "Russia and Venezuela deepen cooperation in energy, oil and defense.",
            1,
        )
    ]
}


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMonitor]:
    """A service with `[api] require_token_for_reads = true`."""
    chromium_or_skip()
    with FeedServer() as server:
        workdir = tmp_path_factory.mktemp("locked")
        with running_monitor(workdir, LoopbackFeeds(server, ONE_STORY), reads_need_token=True) as s:
            yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_browser() as launched:
        yield launched


def test_reads_behind_the_token_need_a_login(locked: RunningMonitor, browser: Any) -> None:
    """The inbox sends a visitor to the login form; a wrong token is refused there, the right
    one sets an HttpOnly, SameSite=Strict session cookie with an expiry and opens the inbox."""
    with watched_page(browser) as watched:
        page = watched.page
        page.goto(locked.base_url + "/?country=VE")
        assert "/login" in page.url
        assert page.locator("article.item").count() == 0
        page.fill("input[name=token]", "not-the-token")
        page.click("form.login button[type=submit]")
        assert page.locator("p.error").inner_text() == "That is not the API token."
        assert not [c for c in page.context.cookies() if c["name"] == "monitor_session"]

        page.fill("input[name=token]", TOKEN)
        page.click("form.login button[type=submit]")
        page.wait_for_url("**/?country=VE")
        assert page.locator("article.item a.title").all_inner_texts() == [ONE_STORY["en"][0].title]
        (session,) = [c for c in page.context.cookies() if c["name"] == "monitor_session"]
        assert session["httpOnly"] and session["sameSite"] == "Strict"
        assert time.time() < session["expires"] <= time.time() + 12 * 3600 + 60
        assert page.locator("article.item button[data-key=x]").count() == 1  # may write too

        page.click("header form[action='/logout'] button")
        page.goto(locked.base_url + "/")
        assert "/login" in page.url
        assert watched.errors == []
