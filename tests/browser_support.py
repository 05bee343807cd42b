"""A real `monitor run` over loopback feeds in four languages, and Debian's Chromium driven by
Playwright, for the browser tests and the feedback round trip.

The browser is the system package (`/usr/bin/chromium`, or `$MONITOR_TEST_CHROMIUM`):
Playwright's own browser download is never used. Without it the browser tests skip, except on
CI (`CI=true`), where they fail."""

from __future__ import annotations

import html
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.loopback import FeedServer, Reply, item, rss
from tests.conftest import PROJECT_ROOT

CHROMIUM = Path(os.environ.get("MONITOR_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
# Screenshots go to the test's own directory; set MONITOR_SCREENSHOTS_DIR=docs/screenshots to
# refresh the ones the README shows (a plain test run writes nothing inside the checkout).
SCREENSHOTS_ENV = "MONITOR_SCREENSHOTS_DIR"
TOKEN = "browser-test-token-0123456789"
GRACE_S = 10
READY_TIMEOUT_S = 240

HOSTILE_TITLE = (
    "<img src=x onerror=alert(1)><script>window.__pwned=1</script>"
    " Russia and Nicaragua widen military cooperation in Managua"
)


@dataclass(frozen=True, slots=True)
class Story:
    """One piece of news as an outlet published it."""

    guid: str
    title: str
    summary: str
    hours_ago: int


# The treaty story is told in all four languages (one multi-outlet story to split); the others
# name one country each, so a country filter has something to leave out.
FEEDS: dict[str, list[Story]] = {
    "en": [
        Story(
            "en-treaty",
            "Putin and Maduro sign a strategic partnership treaty in Moscow",
            "Russia and Venezuela deepen cooperation in energy, oil and defense.",
            2,
        ),
        Story(
            "en-havana",
            "Russian warships dock in Havana for joint naval exercises with Cuba",
            "A Russian frigate and a tanker arrived in Cuba for a visit of the Russian navy.",
            5,
        ),
        Story("en-hostile", HOSTILE_TITLE, "Moscow sends instructors to Nicaragua's army.", 7),
    ],
    "es": [
        Story(
            "es-treaty",
            "Putin y Maduro firman en Moscú un tratado de asociación estratégica",
            "Rusia y Venezuela profundizan su cooperación en energía, petróleo y defensa.",
            3,
        ),
        Story(
            "es-bogota",
            "Rusia ofrece a Colombia cooperación nuclear civil",
            "El embajador ruso en Bogotá propuso un acuerdo sobre energía nuclear con Colombia.",
            9,
        ),
    ],
    "pt": [
        Story(
            "pt-treaty",
            "Putin e Maduro assinam em Moscou um tratado de parceria estratégica",
            "Rússia e Venezuela aprofundam a cooperação em energia, petróleo e defesa.",
            4,
        ),
        Story(
            "pt-brics",
            "Lula e Putin discutem o comércio do Brasil com a Rússia no BRICS",
            "O Brasil quer ampliar as exportações para a Rússia e comprar fertilizantes russos.",
            11,
        ),
    ],
    "ru": [
        Story(
            "ru-treaty",
            "Путин и Мадуро подписали в Москве договор о стратегическом партнёрстве",
            "Россия и Венесуэла углубляют сотрудничество в энергетике, нефти и обороне.",
            6,
        ),
        Story(
            "ru-lima",
            "Россия поставит Перу вертолёты Ми-171",
            "Российские вертолёты для армии Перу будут доставлены в Лиму в следующем году.",
            13,
        ),
    ],
}
ARTICLE_COUNT = sum(len(stories) for stories in FEEDS.values())


def chromium_or_skip() -> Path:
    """The Chromium executable; without one (or without Playwright) the test skips with the
    reason, and on CI it fails instead."""
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "Playwright for Python is not installed (pip install '.[dev]')"
    if reason is None and not os.access(CHROMIUM, os.X_OK):
        reason = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    if reason is None:
        return CHROMIUM
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests must run on CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(
    check: Callable[[], Any], timeout_s: float, what: str, detail: Callable[[], str] = str
) -> Any:
    """Poll `check` until it returns something truthy (HTTP errors count as not yet); on
    timeout fail with `detail()`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}: {detail()}")


def feed_document(language: str, stories: list[Story], now: datetime) -> bytes:
    """One outlet's RSS. Titles are escaped twice, so the stored title holds the hostile
    markup as literal text (escaped once, feedparser would sanitise it away)."""
    entries = [
        item(
            html.escape(html.escape(story.title)),
            f"https://{language}.news.example/{story.guid}",
            story.guid,
            date=format_datetime(now - timedelta(hours=story.hours_ago), usegmt=True),
            summary=html.escape(story.summary),
        )
        for story in stories
    ]
    return rss(entries, title=f"Wire {language.upper()}")


class LoopbackFeeds:
    """One loopback outlet per language, each serving its current list of stories."""

    def __init__(self, server: FeedServer, stories: dict[str, list[Story]]) -> None:
        self.server, self.now = server, datetime.now(UTC)
        self.stories = {language: list(items) for language, items in stories.items()}
        for language in self.stories:
            server.add("/" + language, self.route(language))

    def route(self, language: str) -> Callable[[dict[str, str]], Reply]:
        return lambda _headers: Reply(
            200, {}, feed_document(language, self.stories[language], self.now)
        )

    def url(self, language: str) -> str:
        return self.server.url("/" + language)

    def publish(self, language: str, story: Story) -> None:
        self.stories[language].append(story)

    @property
    def article_count(self) -> int:
        return sum(len(items) for items in self.stories.values())


@dataclass
class RunningMonitor:
    """A `monitor run` subprocess over loopback feeds, with the CLI at hand."""

    base_url: str
    config: Path
    workdir: Path
    process: subprocess.Popen[bytes]
    feeds: LoopbackFeeds
    environ: dict[str, str] = field(default_factory=dict)

    def client(self, *, token: bool = True) -> httpx.Client:
        headers = {"Authorization": f"Bearer {TOKEN}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    def matches(self, **params: Any) -> list[dict[str, Any]]:
        with self.client() as client:
            every = {} if "relevant" in params else {"all": "true"}
            answer = client.get("/matches", params={"limit": 1000, **every, **params})
            answer.raise_for_status()
            items: list[dict[str, Any]] = answer.json()["items"]
            return items

    def wait_for_matches(self, count: int) -> list[dict[str, Any]]:
        """The matches once there are at least `count`; fails if the service exits."""
        wait_for(
            lambda: self.process.poll() is not None or len(self.matches()) >= count,
            READY_TIMEOUT_S,
            f"{count} matches",
            lambda: f"{len(self.matches())} so far; log: {service_log(self.workdir)}",
        )
        if self.process.poll() is not None:
            pytest.fail("monitor run exited: " + service_log(self.workdir))
        return self.matches()


def monitor_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`monitor --config CONFIG ARGS...` with the test token, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, "MONITOR_API_TOKEN": TOKEN},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def write_config(workdir: Path, port: int, feeds: LoopbackFeeds, extra: str) -> Path:
    """The service's settings, everything it writes kept in `workdir`; the relevance weights
    are a copy (made once, so a refit written there survives a restart)."""
    relevance = workdir / "relevance.toml"
    if not relevance.exists():
        relevance.write_bytes((PROJECT_ROOT / "config" / "relevance.toml").read_bytes())
    config = workdir / "monitor.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{workdir / "monitor.db"}"\n'
        '[network]\nallow_cidrs = ["127.0.0.0/8"]\n'
        "[fetch]\nmin_poll_interval_s = 1\nmax_poll_interval_s = 1\n"
        f'[feeds]\nfile = "{workdir / "feeds.toml"}"\n'
        f'[embedding]\ncache_dir = "{workdir / "cache"}"\n'
        f'[relevance]\nmodel_file = "{relevance}"\n'
        f"[api]\nport = {port}\n{extra}"
        "[service]\npoll_every_s = 1\nprocess_every_s = 1\ndispatch_every_s = 1\n"
        f"shutdown_grace_s = {GRACE_S}\n"
    )
    (workdir / "feeds.toml").write_text(
        "".join(
            f'[[feeds]]\nname = "Wire {language.upper()}"\nurl = "{feeds.url(language)}"\n'
            f'language = "{language}"\npoll_interval_s = 3600\n'
            for language in feeds.stories
        )
    )
    return config


@contextmanager
def running_monitor(
    workdir: Path,
    feeds: LoopbackFeeds,
    *,
    reads_need_token: bool = False,
) -> Iterator[RunningMonitor]:
    """`monitor run` on a free port over `feeds`, returned once every article served has its
        match; SIGTERM on the way out. `[fetch] max_poll_interval_s = 1` has every feed polled
    each second, so an article published later arrives in the next cycle. Started again on the same `workdir`, it reopens the same
        database and weights."""
    port = free_port()
    api_extra = "require_token_for_reads = true\n" if reads_need_token else ""
    config = write_config(workdir, port, feeds, api_extra)
    environ = {**os.environ, "MONITOR_API_TOKEN": TOKEN}
    with (workdir / "monitor.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            cwd=PROJECT_ROOT,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        service = RunningMonitor(
            f"http://127.0.0.1:{port}", config, workdir, process, feeds, environ
        )
        try:
            service.wait_for_matches(feeds.article_count)
            yield service
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=GRACE_S + 5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def service_log(workdir: Path) -> str:
    return (workdir / "monitor.log").read_text(errors="replace")[-3000:]


@dataclass
class Watched:
    """A browser page with everything it reported: console lines, dialogs, script errors."""

    page: Any
    console: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextmanager
def launched_browser() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright."""
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def watched_page(browser: Any) -> Iterator[Watched]:
    """A fresh context (no cookies) and page at 1280×800 whose console, dialogs and errors
    are recorded; dialogs are dismissed."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(15_000)
    page = context.new_page()
    watched = Watched(page)
    page.on("console", lambda message: watched.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: watched.errors.append(str(error)))

    def on_dialog(dialog: Any) -> None:
        watched.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        yield watched
    finally:
        context.close()


def save_screenshot(page: Any, directory: Path, name: str) -> Path:
    """A 1280×800 PNG of the viewport in `directory`, or in $MONITOR_SCREENSHOTS_DIR."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    target = Path(chosen) if chosen else directory
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{name}.png"
    page.screenshot(path=str(path))
    return path


CSRF_FIELD = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def judge_on_pages(pages: httpx.Client, match_id: int, *, relevant: bool) -> None:
    """Press "Relevant" or "Not relevant" on the inbox row as a browser without JavaScript
    does: the page sets the CSRF cookie and token, the form posts and gets a 303."""
    inbox = pages.get("/", params={"relevant": "all"}, headers={"Accept": "text/html"})
    inbox.raise_for_status()
    found = CSRF_FIELD.search(inbox.text)
    assert found, "the inbox carries no form for judging (pages read-only?)"
    answer = pages.post(
        f"/ui/matches/{match_id}/relevance",
        data={"csrf": found.group(1), "value": str(relevant).lower(), "next": "/", "hide": "1"},
    )
    assert answer.status_code == 303, answer.text[:500]
