from __future__ import annotations

import asyncio
import gc
import gzip
import hashlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitor.collector import YOUNG_COLLECTION_OBJECTS
from monitor.config import Settings
from monitor.ingest import add_default_feeds_if_empty, document_digest, open_ingestor
from monitor.loopback import FeedServer, Reply, item, rss
from monitor.storage.articles import count_articles
from monitor.storage.feeds import add_feeds, get_feed, list_feeds, list_fetch_log
from monitor.values import CycleSummary, FeedRecord, FeedSpec
from tests.conftest import SettingsFactory
from tests.test_fetch import gzip_bomb

RUSSIAN = "Лавров провёл переговоры с министром иностранных дел Венесуэлы"
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + n)} "{("&" + chr(97 + n) + ";") * 10}">' for n in range(8))
    + ']><rss version="2.0"><channel><title>lol</title><item><title>&i;</title><guid isPermaLink="false">1</guid>'
    "<description>laughs</description></item></channel></rss>"
).encode()
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<rss version="2.0"><channel><title>xxe</title><item><title>x &xxe; y</title><guid isPermaLink="false">1</guid>'
    b"</item></channel></rss>"
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def run_cycle(
    settings: Settings, sessions: sessionmaker[Session], clock: Clock, only_url: str | None = None
) -> CycleSummary:
    async def run() -> CycleSummary:
        async with open_ingestor(settings, sessions) as ingestor:
            ingestor.clock = clock
            return await ingestor.run_cycle(only_url)

    return asyncio.run(run())


def store_feeds(sessions: sessionmaker[Session], urls: list[str], clock: Clock) -> None:
    with sessions.begin() as session:
        add_feeds(session, [FeedSpec(url) for url in urls], 600, clock())


def feed_state(sessions: sessionmaker[Session], url: str) -> FeedRecord:
    with sessions.begin() as session:
        record = get_feed(session, url)
    assert record is not None
    return record


def serve_bad_inputs(server: FeedServer) -> dict[str, str]:
    good = rss(
        [
            item(
                "Putin receives Lula in the Kremlin to discuss BRICS trade", "https://e.org/1", "1"
            ),
            item(
                "Putin receives Lula in the Kremlin to discuss BRICS trade", "https://e.org/1", "1"
            ),
            item("Click me", "javascript:alert(1)", "2"),
            item(
                "Undated story about Cuba and Rosneft oil supplies",
                "https://e.org/3",
                "3",
                date=None,
            ),
        ]
    )
    koi8 = (
        '<?xml version="1.0" encoding="koi8-r"?><rss version="2.0"><channel><title>ru</title>'
        f"<item><title>{RUSSIAN}</title><guid isPermaLink='false'>ru1</guid></item></channel></rss>"
    ).encode("koi8-r")
    routes = {
        "good": Reply(200, {"ETag": '"g1"', "Content-Type": "application/rss+xml"}, good),
        "koi8": Reply(200, {"Content-Type": "text/xml; charset=windows-1251"}, koi8),
        "laughs": Reply(200, {"Content-Type": "application/xml"}, BILLION_LAUGHS),
        "xxe": Reply(200, {"Content-Type": "application/xml"}, XXE),
        "404": Reply(404, body=b"gone"),
        "410": Reply(410, body=b"gone for good"),
        "500": Reply(500, body=b"oops"),
        "429": Reply(429, {"Retry-After": "3600"}, b"slow down"),
        "html": Reply(
            200, {"Content-Type": "text/html"}, b"<!doctype html><html><body>Hi</body></html>"
        ),
        "empty": Reply(200, {"Content-Type": "application/rss+xml"}, b""),
        "bomb": Reply(200, {"Content-Encoding": "gzip"}, gzip_bomb(64 << 20)),
        "drip": Reply(200, {}, rss([item("slow", "https://e.org/s", "s")]), chunk_delay_s=0.2),
    }
    return {name: server.add(f"/{name}", reply) for name, reply in routes.items()}


@pytest.fixture
def cycle_settings(make_settings: SettingsFactory, database_url: str) -> Settings:
    return make_settings(
        database={"url": database_url},
        network={"total_deadline_s": 1.5, "max_body_bytes": 2_000_000},
        fetch={"disable_after_permanent_failures": 2},
    )


class TestBadInputsInOneCycle:
    def test_cycle_survives_every_bad_input(
        self, feed_server: FeedServer, sessions: sessionmaker[Session], cycle_settings: Settings
    ) -> None:
        """Every bad feed is recorded against itself; the good ones are stored; nothing escapes."""
        clock = Clock()
        urls = serve_bad_inputs(feed_server)
        store_feeds(sessions, list(urls.values()), clock)

        summary = run_cycle(cycle_settings, sessions, clock)

        assert summary.feeds_due == len(urls)
        assert (summary.feeds_ok, summary.feeds_failed) == (4, 8)
        assert summary.entries_dropped == 1  # the javascript: link
        failed = {f.url.rsplit("/", 1)[1] for f in summary.failures}
        assert failed == {"404", "410", "500", "429", "html", "empty", "bomb", "drip"}
        classes = {name: feed_state(sessions, url).last_error_class for name, url in urls.items()}
        assert classes == {
            "good": None,
            "koi8": None,
            "laughs": None,
            "xxe": None,
            "404": "permanent",
            "410": "permanent",
            "html": "permanent",
            "empty": "permanent",
            "bomb": "permanent",
            "500": "transient",
            "drip": "transient",
            "429": "rate_limited",
        }
        assert "HTML page" in (feed_state(sessions, urls["html"]).last_error or "")
        retry_at = feed_state(sessions, urls["429"]).next_poll_at
        assert retry_at is not None and abs((retry_at - clock.now).total_seconds() - 3600) < 5

    def test_stored_articles_are_clean(
        self, feed_server: FeedServer, sessions: sessionmaker[Session], cycle_settings: Settings
    ) -> None:
        """Duplicate guids stored once, KOI8-R decoded, entities neither expanded nor resolved."""
        clock = Clock()
        urls = serve_bad_inputs(feed_server)
        store_feeds(sessions, [urls["good"], urls["koi8"], urls["laughs"], urls["xxe"]], clock)
        summary = run_cycle(cycle_settings, sessions, clock)
        assert (summary.new_articles, summary.duplicates) == (5, 1)
        from monitor.storage.schema import Article  # reading rows back is test-only here

        with sessions() as session:
            titles = {a.title for a in session.query(Article)}
            undated = session.query(Article).filter(Article.guid == "3").one()
        assert RUSSIAN in titles
        assert not any("root:" in t for t in titles)
        assert all(len(t) < 200 for t in titles)
        assert undated.published_at == undated.first_seen_at

    def test_a_cycle_runs_with_fewer_young_collections_and_restores_them(
        self, feed_server: FeedServer, sessions: sessionmaker[Session], cycle_settings: Settings
    ) -> None:
        """While a cycle runs the collector's young threshold is monitor.collector's, after
        it the one before."""
        clock = Clock()
        urls = serve_bad_inputs(feed_server)
        store_feeds(sessions, [urls["good"], urls["koi8"]], clock)
        before = gc.get_threshold()
        seen: list[int] = []

        async def run() -> CycleSummary:
            async with open_ingestor(cycle_settings, sessions) as ingestor:
                ingestor.clock = clock
                return await ingestor.run_cycle(
                    on_progress=lambda *_: seen.append(gc.get_threshold()[0])
                )

        assert asyncio.run(run()).feeds_due == 2
        assert seen == [YOUNG_COLLECTION_OBJECTS] * 2
        assert gc.get_threshold() == before


class TestRepeatedCycles:
    def test_304_and_refetch_store_nothing_new(
        self, feed_server: FeedServer, sessions: sessionmaker[Session], cycle_settings: Settings
    ) -> None:
        """Second cycle: 304 parses nothing and keeps the ETag; a plain re-fetch counts duplicates."""
        clock = Clock()
        body = rss(
            [
                item(f"Story {n} about Russia and Nicaragua", f"https://e.org/{n}", str(n))
                for n in range(3)
            ]
        )

        def conditional(headers: dict[str, str]) -> Reply:
            if headers.get("if-none-match") == '"v1"':
                return Reply(304)
            return Reply(200, {"ETag": '"v1"'}, body)

        conditional_url = feed_server.add("/conditional", conditional)
        plain_url = feed_server.add(
            "/plain",
            Reply(
                200, {}, rss([item("Plain news item on Peru and Moscow", "https://p.org/1", "p1")])
            ),
        )
        store_feeds(sessions, [conditional_url, plain_url], clock)

        first = run_cycle(cycle_settings, sessions, clock)
        clock.now += timedelta(hours=1)
        second = run_cycle(cycle_settings, sessions, clock)

        assert (first.feeds_ok, first.new_articles) == (2, 4)
        assert (
            second.feeds_ok,
            second.feeds_not_modified,
            second.new_articles,
            second.duplicates,
        ) == (1, 1, 0, 1)
        state = feed_state(sessions, conditional_url)
        assert state.etag == '"v1"'
        with sessions() as session:
            assert count_articles(session) == 4
            log = list_fetch_log(session, state.id)
        assert [(e.outcome, e.http_status, e.entries_seen) for e in log] == [
            ("ok", 200, 3),
            ("not_modified", 304, 0),
        ]

    def test_feed_disabled_after_permanent_failures(
        self, feed_server: FeedServer, sessions: sessionmaker[Session], cycle_settings: Settings
    ) -> None:
        """Two 410s in a row disable the feed with its reason; it is no longer polled."""
        clock = Clock()
        url = feed_server.add("/gone", Reply(410))
        store_feeds(sessions, [url], clock)
        for _ in range(3):
            run_cycle(cycle_settings, sessions, clock)
            clock.now += timedelta(days=2)
        state = feed_state(sessions, url)
        assert not state.enabled
        assert state.disabled_reason == "2 consecutive permanent failures; last: HTTP 410"
        assert len(feed_server.hits("/gone")) == 2

    def test_only_due_feeds_are_fetched(
        self, feed_server: FeedServer, sessions: sessionmaker[Session], cycle_settings: Settings
    ) -> None:
        """A feed polled a moment ago is not due; `only_url` fetches it anyway."""
        clock = Clock()
        url = feed_server.add("/f", Reply(200, {}, rss([item("One", "https://e.org/o", "o")])))
        store_feeds(sessions, [url], clock)
        run_cycle(cycle_settings, sessions, clock)
        assert run_cycle(cycle_settings, sessions, clock).feeds_due == 0
        assert run_cycle(cycle_settings, sessions, clock, only_url=url).feeds_due == 1


class TestGuardInCycle:
    def test_loopback_feed_blocked_without_allow_cidrs(
        self,
        feed_server: FeedServer,
        sqlite_sessions: sessionmaker[Session],
        make_settings: SettingsFactory,
    ) -> None:
        """With the default (empty) allow list a loopback feed fails as blocked: a configuration
        problem with the hint to allow_cidrs, not a permanent failure of the feed."""
        clock = Clock()
        url = feed_server.add("/feed", Reply(200, {}, rss([item("x", "https://e.org/x", "x")])))
        store_feeds(sqlite_sessions, [url], clock)
        summary = run_cycle(make_settings(network={"allow_cidrs": []}), sqlite_sessions, clock)
        assert summary.feeds_failed == 1
        state = feed_state(sqlite_sessions, url)
        assert state.last_error_class == "config" and state.permanent_failures == 0
        assert "allow it with [network] allow_cidrs" in (state.last_error or "")
        assert feed_server.hits("/feed") == []


class TestEntryCap:
    def test_feed_over_the_entry_cap_is_stored_in_part_and_says_so(
        self,
        feed_server: FeedServer,
        sessions: sessionmaker[Session],
        make_settings: SettingsFactory,
        database_url: str,
    ) -> None:
        """A feed with more entries than max_entries_per_feed keeps the first ones; the rest
        count as dropped in the cycle and the feed's status (and fetch log) says how many."""
        clock = Clock()
        settings = make_settings(database={"url": database_url}, parse={"max_entries_per_feed": 5})
        body = rss(
            [
                item(f"Story {n} on Russia and Chile", f"https://e.org/{n}", str(n))
                for n in range(20)
            ]
        )
        url = feed_server.add("/big", Reply(200, {}, body))
        store_feeds(sessions, [url], clock)
        summary = run_cycle(settings, sessions, clock)
        assert (summary.feeds_ok, summary.new_articles, summary.entries_dropped) == (1, 5, 15)
        state = feed_state(sessions, url)
        note = "read the first 5 of 20 entries (the rest are over [parse] max_entries_per_feed)"
        assert (state.last_status, state.last_error_class, state.last_error) == ("ok", None, note)
        with sessions() as session:
            assert [e.error for e in list_fetch_log(session, state.id)] == [note]


class ConcurrencyProbe:
    """Routes that hold each request a moment and record how many were in flight at once,
    per host and overall."""

    def __init__(self, hold_s: float = 0.15) -> None:
        self.hold_s = hold_s
        self.lock = threading.Lock()
        self.in_flight: dict[str, int] = {}
        self.peaks: dict[str, int] = {}

    def route(self, host: str) -> Callable[[dict[str, str]], Reply]:
        def hold(_headers: dict[str, str]) -> Reply:
            self.count(host, +1)
            time.sleep(self.hold_s)  # the server's pace, not the test's clock
            self.count(host, -1)
            return Reply(200, {}, rss([item("Held story", "https://e.org/h", "h")]))

        return hold

    def count(self, host: str, step: int) -> None:
        with self.lock:
            for key in (host, "all"):
                self.in_flight[key] = self.in_flight.get(key, 0) + step
                self.peaks[key] = max(self.peaks.get(key, 0), self.in_flight[key])


class TestHostLimiter:
    def test_at_most_n_requests_per_host_and_hosts_in_parallel(
        self, sqlite_sessions: sessionmaker[Session], make_settings: SettingsFactory
    ) -> None:
        """With per_host_concurrency 2, no host ever sees more than 2 requests at once, while
        two hosts are fetched side by side (4 in flight overall)."""
        clock = Clock()
        settings = make_settings(network={"per_host_concurrency": 2, "max_concurrency": 16})
        probe = ConcurrencyProbe()
        with FeedServer("127.0.0.1") as one, FeedServer("127.0.0.2") as two:
            urls = [
                server.add(f"/f{n}", probe.route(server.host))
                for server in (one, two)
                for n in range(6)
            ]
            store_feeds(sqlite_sessions, urls, clock)
            summary = run_cycle(settings, sqlite_sessions, clock)
        assert summary.feeds_ok == 12
        assert probe.peaks == {"127.0.0.1": 2, "127.0.0.2": 2, "all": 4}


class TestDefaultFeeds:
    def test_empty_database_gets_the_default_list_once(
        self, sqlite_sessions: sessionmaker[Session], make_settings: SettingsFactory
    ) -> None:
        """config/feeds.toml fills an empty database; a second call adds nothing."""
        settings = make_settings()
        added = add_default_feeds_if_empty(sqlite_sessions, settings, datetime.now(UTC))
        assert added >= 20
        assert add_default_feeds_if_empty(sqlite_sessions, settings, datetime.now(UTC)) == 0
        with sqlite_sessions() as session:
            languages = {feed.language for feed in list_feeds(session)}
        assert {"en", "es", "pt", "ru"} <= languages


def test_gzip_module_used() -> None:
    """Sanity: the gzip bomb helper really produces gzip."""
    assert gzip.decompress(gzip_bomb(1 << 20)) == bytes(1 << 20)


class TestUnchangedDocument:
    def test_unchanged_document_without_validators_is_neither_parsed_nor_stored_again(
        self, feed_server: FeedServer, sessions: sessionmaker[Session], cycle_settings: Settings
    ) -> None:
        """A long-lived ingestor skips parse and store for a 200 whose body equals the one it
        stored last time (the feed is not modified, its status 200), and parses a changed one."""
        clock = Clock()
        bodies = [rss([item("Plain news item on Peru and Moscow", "https://p.org/1", "p1")])]
        url = feed_server.add("/plain", lambda _headers: Reply(200, {}, bodies[-1]))
        store_feeds(sessions, [url], clock)

        async def cycles() -> list[CycleSummary]:
            summaries = []
            async with open_ingestor(cycle_settings, sessions) as ingestor:
                ingestor.clock = clock
                for _ in range(2):
                    summaries.append(await ingestor.run_cycle())
                    clock.now += timedelta(hours=1)
                bodies.append(
                    rss([item("Second story on Lima and Moscow", "https://p.org/2", "p2")])
                )
                summaries.append(await ingestor.run_cycle())
            return summaries

        first, unchanged, changed = asyncio.run(cycles())

        assert (first.feeds_ok, first.new_articles) == (1, 1)
        assert (unchanged.feeds_ok, unchanged.feeds_not_modified, unchanged.duplicates) == (0, 1, 0)
        assert (changed.feeds_ok, changed.new_articles) == (1, 1)
        state = feed_state(sessions, url)
        assert state.last_http_status == 200
        with sessions() as session:
            log = list_fetch_log(session, state.id)
        assert [(e.outcome, e.http_status, e.entries_seen) for e in log] == [
            ("ok", 200, 1),
            ("not_modified", 200, 0),
            ("ok", 200, 1),
        ]


@pytest.mark.parametrize("size", [0, 2046, 2047, 2048, 10_000, 100_003])
def test_document_digest_is_the_whole_documents(size: int) -> None:
    """The digest hashed in slices is blake2b of the whole body and the configured language,
    so equal documents match and one changed byte anywhere does not."""
    body = bytes(range(256)) * (size // 256) + bytes(size % 256)
    whole = hashlib.blake2b(body, digest_size=16)
    whole.update(b"\0es")
    assert document_digest(body, "es") == whole.digest()
    if body:
        changed = body[:-1] + bytes([body[-1] ^ 1])
        assert document_digest(changed, "es") != document_digest(body, "es")
