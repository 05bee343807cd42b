"""The per-feed boundary of an ingestion cycle: whatever one feed's fetch, parse, store or
schedule raises is recorded against that feed, and the other feeds are stored. Real loopback
servers, real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings
from monitor.ingest import open_ingestor
from monitor.loopback import FeedServer, Reply, item, rss
from monitor.storage.articles import count_articles
from monitor.storage.feeds import list_fetch_log
from monitor.storage.schema import Feed
from tests.conftest import SettingsFactory
from tests.test_ingest import Clock, feed_state, run_cycle, store_feeds

GOOD_FEEDS = 3


def good_feed(n: int) -> bytes:
    return rss([item(f"Good story {n} on Russia and Brazil", f"https://good.org/{n}", f"g{n}")])


def serve_good_feeds(server: FeedServer) -> list[str]:
    return [server.add(f"/good{n}", Reply(200, {}, good_feed(n))) for n in range(GOOD_FEEDS)]


def refuse_poisoned_titles(sessions: sessionmaker[Session]) -> None:
    """A trigger that makes the database itself refuse an article: a storage failure no
    bounding of values can prevent, standing for any exception while storing one feed."""
    with sessions.begin() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text(
                    "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    "BEGIN IF NEW.title LIKE '%poison%' THEN "
                    "RAISE EXCEPTION 'poisoned title refused'; END IF; RETURN NEW; END $$"
                )
            )
            session.execute(
                text(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON articles "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
                )
            )
        else:
            session.execute(
                text(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON articles "
                    "WHEN NEW.title LIKE '%poison%' "
                    "BEGIN SELECT RAISE(ABORT, 'poisoned title refused'); END"
                )
            )


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.exc_info]


@pytest.fixture
def settings(make_settings: SettingsFactory, database_url: str) -> Settings:
    return make_settings(database={"url": database_url})


class TestStoreFailure:
    def test_feed_the_database_refuses_is_recorded_and_the_others_stored(
        self,
        feed_server: FeedServer,
        sessions: sessionmaker[Session],
        settings: Settings,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """An exception while storing one feed rolls back that feed only: it is recorded as an
        internal error (transient, backed off, lease released), the good feeds are stored."""
        clock = Clock()
        refuse_poisoned_titles(sessions)
        good = serve_good_feeds(feed_server)
        poisoned = feed_server.add(
            "/poisoned",
            Reply(
                200,
                {},
                rss(
                    [
                        item("A fine story before it", "https://p.org/1", "p1"),
                        item("A poison story", "https://p.org/2", "p2"),
                    ]
                ),
            ),
        )
        store_feeds(sessions, [*good, poisoned], clock)

        summary = run_cycle(settings, sessions, clock)

        assert (summary.feeds_ok, summary.feeds_failed) == (GOOD_FEEDS, 1)
        assert summary.new_articles == GOOD_FEEDS
        state = feed_state(sessions, poisoned)
        assert state.last_error_class == "transient" and state.enabled
        assert (state.last_error or "").startswith("internal error in store: ")
        assert "poisoned title refused" in (state.last_error or "")
        assert state.next_poll_at is not None and state.next_poll_at > clock.now
        with sessions() as session:
            assert count_articles(session) == GOOD_FEEDS  # nothing of the poisoned feed
            log = list_fetch_log(session, state.id)
            leases = set(session.scalars(select(Feed.lease_owner)))
        assert [(e.outcome, e.error_class) for e in log] == [("error", "transient")]
        assert leases == {None}
        assert len(tracebacks(caplog)) == 1  # the bug is logged once, with its traceback

    def test_failing_feed_does_not_fail_the_next_cycle(
        self, feed_server: FeedServer, sessions: sessionmaker[Session], settings: Settings
    ) -> None:
        """The feed that failed to store is backed off; the next cycle stores the others'
        new articles and polls it again once it is due."""
        clock = Clock()
        refuse_poisoned_titles(sessions)
        poisoned = feed_server.add(
            "/poisoned", Reply(200, {}, rss([item("poison", "https://p.org/2", "p2")]))
        )
        fresh = feed_server.add("/fresh", Reply(200, {}, good_feed(9)))
        store_feeds(sessions, [poisoned, fresh], clock)
        run_cycle(settings, sessions, clock)
        clock.now += timedelta(days=2)

        again = run_cycle(settings, sessions, clock)

        assert (again.feeds_due, again.feeds_failed) == (2, 1)
        assert feed_state(sessions, poisoned).consecutive_failures == 2
        assert len(feed_server.hits("/poisoned")) == 2


class TestHostileHeaders:
    def test_numeric_and_validator_headers_never_break_a_feed(
        self, feed_server: FeedServer, sessions: sessionmaker[Session], settings: Settings
    ) -> None:
        """A 5,000-digit max-age, an ETag over 1,024 characters, a Last-Modified over 128 and a
        non-ASCII ETag are ignored or dropped: each feed is stored, without that validator."""
        clock = Clock()
        hostile = {
            "maxage": {"Cache-Control": "max-age=" + "9" * 5000},
            "etag": {"ETag": '"' + "e" * 1100 + '"'},
            "lastmod": {"Last-Modified": "Mon, 02 Nov 2026 10:00:00 GMT" + " " * 100 + "x"},
            "latin1": {"ETag": '"caf\xe9"'},
        }
        urls = {
            name: feed_server.add(f"/{name}", Reply(200, headers, good_feed(n)))
            for n, (name, headers) in enumerate(hostile.items())
        }
        store_feeds(sessions, list(urls.values()), clock)

        summary = run_cycle(settings, sessions, clock)

        assert (summary.feeds_ok, summary.feeds_failed) == (len(hostile), 0)
        for url in urls.values():
            state = feed_state(sessions, url)
            assert (state.etag, state.last_modified, state.last_error) == (None, None, None)

    def test_sane_validators_are_still_kept(
        self, feed_server: FeedServer, sessions: sessionmaker[Session], settings: Settings
    ) -> None:
        """An ETag of exactly 1,024 characters and an ordinary Last-Modified are stored and
        sent back."""
        clock = Clock()
        etag = '"' + "e" * 1022 + '"'
        lastmod = "Mon, 02 Nov 2026 10:00:00 GMT"
        url = feed_server.add(
            "/ok", Reply(200, {"ETag": etag, "Last-Modified": lastmod}, good_feed(1))
        )
        store_feeds(sessions, [url], clock)
        run_cycle(settings, sessions, clock)
        clock.now += timedelta(days=1)
        run_cycle(settings, sessions, clock)
        assert (feed_state(sessions, url).etag, feed_state(sessions, url).last_modified) == (
            etag,
            lastmod,
        )
        assert feed_server.hits("/ok")[1]["if-none-match"] == etag

    def test_garbage_retry_after_is_ignored(
        self,
        feed_server: FeedServer,
        sessions: sessionmaker[Session],
        settings: Settings,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A 503 with `Retry-After: ²` is an ordinary transient failure, not an internal error."""
        clock = Clock()
        url = feed_server.add("/busy", Reply(503, {"Retry-After": "²"}, b"busy"))
        store_feeds(sessions, [url], clock)
        run_cycle(settings, sessions, clock)
        state = feed_state(sessions, url)
        assert (state.last_error_class, state.last_error) == ("transient", "HTTP 503")
        assert tracebacks(caplog) == []


class TestInvalidAddresses:
    @pytest.mark.parametrize("host", ["0177.0.0.1", "127.000.000.001", "a..b", "xn--a"])
    def test_unparseable_host_is_a_permanent_error_without_traceback(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        host: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Hosts httpx or idna refuse are invalid URLs: a permanent error with a clear message,
        logged as one line, never as an internal error with a traceback."""
        clock = Clock()
        url = f"http://{host}:8080/feed"
        store_feeds(sessions, [url], clock)
        summary = run_cycle(settings, sessions, clock)
        assert summary.feeds_failed == 1
        state = feed_state(sessions, url)
        assert state.last_error_class == "permanent"
        assert (state.last_error or "").startswith("invalid ")
        assert "internal error" not in (state.last_error or "")
        assert tracebacks(caplog) == []


class TestCancel:
    def test_cancelled_cycle_leaves_no_half_recorded_feed(
        self,
        feed_server: FeedServer,
        sessions: sessionmaker[Session],
        settings: Settings,
    ) -> None:
        """Cancelling a cycle mid-way: finished feeds are stored whole, feeds in flight are not
        recorded as failed and keep the ingestor's lease (for the runtime to release)."""
        clock = Clock()
        fast = serve_good_feeds(feed_server)
        slow_body = good_feed(7)
        slow = [
            feed_server.add(f"/slow{n}", Reply(200, {}, slow_body, chunk_delay_s=0.01))
            for n in range(2)
        ]
        store_feeds(sessions, fast + slow, clock)

        async def cancel_after_fast_feeds() -> str:
            async with open_ingestor(settings, sessions) as ingestor:
                ingestor.clock = clock

                def on_progress(_result: object, done: int, _total: int) -> None:
                    if done == len(fast):
                        cycle.cancel()

                cycle = asyncio.create_task(ingestor.run_cycle(on_progress=on_progress))
                with pytest.raises(asyncio.CancelledError):
                    await cycle
                return ingestor.owner

        owner = asyncio.run(cancel_after_fast_feeds())

        for url in fast:
            assert feed_state(sessions, url).last_status == "ok"
        in_flight = [feed_state(sessions, url) for url in slow]
        assert [state.last_status for state in in_flight] == [None, None]
        with sessions() as session:
            assert [list_fetch_log(session, state.id) for state in in_flight] == [[], []]
            held = set(session.scalars(select(Feed.lease_owner).where(Feed.url.in_(slow))))
            assert count_articles(session) == len(fast)
        assert held == {owner}
