"""`monitor feeds add / enable / poll` through the real entry point, against a loopback server."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.limits import MAX_FEED_NAME_CHARS, MAX_LANGUAGE_CHARS, MAX_URL_CHARS
from monitor.loopback import FeedServer, Reply, item, rss

RSS = Reply(200, {"Content-Type": "application/rss+xml"}, rss([item("a", "https://e.org/1", "1")]))


def html_page(head: str) -> Reply:
    body = f"<!DOCTYPE html><html><head>{head}</head><body>news</body></html>"
    return Reply(200, {"Content-Type": "text/html; charset=utf-8"}, body.encode())


def write_config(tmp_path: Path, allow_loopback: bool) -> Path:
    path = tmp_path / "monitor.toml"
    network = '[network]\nallow_cidrs = ["127.0.0.0/8"]\n' if allow_loopback else ""
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "feeds.db"}"\n{network}'
        "[fetch]\ndisable_after_permanent_failures = 2\n"
    )
    return path


class Monitor:
    """Runs `monitor …` in-process through `main()`, as the console script does."""

    def __init__(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.config = config
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        old_argv = sys.argv
        sys.argv = ["monitor", "--config", str(self.config), *args]
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        finally:
            sys.argv = old_argv
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    def feed_urls(self) -> list[str]:
        code, out, _ = self("feeds", "list", "--format", "json")
        assert code == 0
        return [feed["url"] for feed in json.loads(out)]

    def feed(self, url: str) -> dict[str, object]:
        code, out, _ = self("feeds", "show", url)
        assert code == 0
        state: dict[str, object] = json.loads(out)
        return state


@pytest.fixture
def monitor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Monitor:
    run = Monitor(write_config(tmp_path, allow_loopback=True), capsys)
    assert run("db", "upgrade")[0] == 0
    return run


@pytest.fixture
def guarded_monitor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Monitor:
    run = Monitor(write_config(tmp_path, allow_loopback=False), capsys)
    assert run("db", "upgrade")[0] == 0
    return run


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/rss"


class TestAddChecksTheGuard:
    def test_loopback_refused_with_default_settings(
        self, guarded_monitor: Monitor, feed_server: FeedServer
    ) -> None:
        """With default settings, 127.0.0.1 is refused at add time: one line naming the address
        and the [network] allow_cidrs hint, exit 2, nothing added, no request sent."""
        url = feed_server.add("/rss", RSS)
        code, _, err = guarded_monitor("feeds", "add", url)
        assert code == 2
        assert err.count("\n") == 1 and "127.0.0.1" in err and "[network] allow_cidrs" in err
        assert guarded_monitor.feed_urls() == []
        assert feed_server.requests == []

    def test_feed_added_when_allowed(self, monitor: Monitor, feed_server: FeedServer) -> None:
        """A reachable feed on an allowed address is added without a warning."""
        url = feed_server.add("/rss", RSS)
        code, out, err = monitor("feeds", "add", url)
        assert (code, out, err) == (0, f"added {url}\n", "")
        assert monitor.feed_urls() == [url]

    def test_unreachable_url_added_with_warning(self, monitor: Monitor) -> None:
        """A URL that cannot be reached now (connection refused) is added, with a warning."""
        url = closed_port_url()
        code, out, err = monitor("feeds", "add", url)
        assert code == 0 and f"added {url}" in out
        assert err.startswith(f"warning: cannot check {url} now") and "added anyway" in err
        assert monitor.feed_urls() == [url]

    def test_unparseable_host_refused(self, monitor: Monitor) -> None:
        """A URL whose host cannot be parsed (`0177.0.0.1`) is refused in one line, exit 1."""
        code, _, err = monitor("feeds", "add", "http://0177.0.0.1/rss")
        assert code == 1 and err.startswith("monitor: not added: invalid") and err.count("\n") == 1
        assert monitor.feed_urls() == []

    def test_known_url_is_not_fetched_again(
        self, monitor: Monitor, feed_server: FeedServer
    ) -> None:
        """Adding a URL that is stored already says so without fetching it."""
        url = feed_server.add("/rss", RSS)
        monitor("feeds", "add", url)
        hits = len(feed_server.hits("/rss"))
        code, out, _ = monitor("feeds", "add", url)
        assert (code, out) == (0, f"already present: {url}\n")
        assert len(feed_server.hits("/rss")) == hits


class TestAddDiscovers:
    def test_html_page_offers_its_feeds(self, monitor: Monitor, feed_server: FeedServer) -> None:
        """An HTML page lists the feeds its alternate links name, resolved against it, and
        nothing is added."""
        page = feed_server.add(
            "/news/index.html",
            html_page(
                '<link rel="alternate" type="application/rss+xml" title="All" href="feed.xml">'
                '<link rel="alternate" type="application/atom+xml" href="/atom">'
            ),
        )
        code, out, err = monitor("feeds", "add", page)
        assert code == 1
        assert f"  {feed_server.url('/news/feed.xml')}  (All)" in out
        assert f"  {feed_server.url('/atom')}\n" in out
        assert "nothing added" in err and "--discover" in err
        assert monitor.feed_urls() == []

    def test_discover_adds_the_first_feed(self, monitor: Monitor, feed_server: FeedServer) -> None:
        """With --discover, the first feed the page names is added, with the given name."""
        feed_server.add("/news/feed.xml", RSS)
        page = feed_server.add(
            "/news/",
            html_page(
                '<link rel="alternate" type="application/rss+xml" href="feed.xml">'
                '<link rel="alternate" type="application/rss+xml" href="/other.xml">'
            ),
        )
        code, out, _ = monitor("feeds", "add", page, "--discover", "--name", "News")
        feed_url = feed_server.url("/news/feed.xml")
        assert code == 0 and f"added {feed_url}" in out
        assert monitor.feed_urls() == [feed_url]
        assert monitor.feed(feed_url)["name"] == "News"

    def test_discovered_feed_passes_the_guard(
        self, monitor: Monitor, feed_server: FeedServer
    ) -> None:
        """A page naming a feed on a refused address: exit 2 with the hint, nothing added."""
        page = feed_server.add(
            "/",
            html_page('<link rel="alternate" type="application/rss+xml" href="http://10.1.2.3/f">'),
        )
        code, _, err = monitor("feeds", "add", page, "--discover")
        assert code == 2 and "10.1.2.3" in err and "allow_cidrs" in err
        assert monitor.feed_urls() == []

    def test_page_without_feeds(self, monitor: Monitor, feed_server: FeedServer) -> None:
        """An HTML page naming no feed is an error and adds nothing."""
        page = feed_server.add("/plain", html_page("<title>no feeds</title>"))
        code, _, err = monitor("feeds", "add", page, "--discover")
        assert code == 1 and "names no feed" in err
        assert monitor.feed_urls() == []


class TestEnableAndPoll:
    def test_enable_a_disabled_feed(self, monitor: Monitor, feed_server: FeedServer) -> None:
        """A feed disabled by permanent failures is enabled again by `feeds enable`, keeping its
        fetch log, and fetched on the next cycle."""
        url = feed_server.add("/gone", Reply(410))
        monitor("feeds", "add", url)
        for _ in range(2):  # disable_after_permanent_failures = 2 in this config
            monitor("fetch", "--once", "--no-process", "--feed", url)
        assert monitor.feed(url)["enabled"] is False
        feed_server.add("/gone", RSS)
        code, out, _ = monitor("feeds", "enable", url)
        assert code == 0 and f"enabled {url}" in out
        state = monitor.feed(url)
        assert state["enabled"] is True and state["disabled_reason"] is None
        assert state["permanent_failures"] == 0
        monitor("fetch", "--once", "--no-process")
        assert monitor.feed(url)["last_status"] == "ok"

    def test_poll_makes_a_feed_due(self, monitor: Monitor, feed_server: FeedServer) -> None:
        """`feeds poll` makes a feed polled a moment ago due again."""
        url = feed_server.add("/rss", RSS)
        monitor("feeds", "add", url)
        monitor("fetch", "--once", "--no-process")
        hits = len(feed_server.hits("/rss"))
        monitor("fetch", "--once", "--no-process")
        assert len(feed_server.hits("/rss")) == hits
        code, out, _ = monitor("feeds", "poll", url)
        assert (code, out) == (0, f"{url} is due now\n")
        monitor("fetch", "--once", "--no-process")
        assert len(feed_server.hits("/rss")) == hits + 1

    def test_unknown_feed(self, monitor: Monitor) -> None:
        """Enabling or polling a URL that is not stored is one line and exit 1."""
        for command in ("enable", "poll"):
            code, _, err = monitor("feeds", command, "https://nowhere.example/rss")
            assert (code, err) == (1, "monitor: no such feed: https://nowhere.example/rss\n")


class TestLimits:
    def test_add_refuses_values_over_the_column_limits(self, monitor: Monitor) -> None:
        """A URL, name or language longer than its column is a usage error naming the limit,
        and nothing is added."""
        long_url = "https://outlet.example/" + "a" * MAX_URL_CHARS
        for args in (
            [long_url],
            ["https://outlet.example/rss", "--name", "n" * (MAX_FEED_NAME_CHARS + 1)],
            ["https://outlet.example/rss", "--language", "x" * (MAX_LANGUAGE_CHARS + 1)],
        ):
            code, _, err = monitor("feeds", "add", *args)
            assert code == 2 and "over the limit of" in err
        assert monitor.feed_urls() == []

    def test_opml_values_bounded(self, monitor: Monitor, tmp_path: Path) -> None:
        """OPML import skips an outline whose URL is over the limit and cuts an over-long name."""
        opml = tmp_path / "feeds.opml"
        long_url = "https://outlet.example/" + "a" * MAX_URL_CHARS
        opml.write_text(
            '<?xml version="1.0"?><opml version="2.0"><head/><body>'
            f'<outline type="rss" text="long" xmlUrl="{long_url}"/>'
            f'<outline type="rss" text="{"n" * 600}" xmlUrl="https://ok.example/rss" '
            f'language="{"x" * 40}"/>'
            "</body></opml>"
        )
        code, out, _ = monitor("feeds", "import-opml", str(opml))
        assert code == 0 and "1 feeds in" in out and "1 added" in out
        state = monitor.feed("https://ok.example/rss")
        assert len(str(state["name"])) == MAX_FEED_NAME_CHARS and state["language"] is None
