"""Interrupts release what they hold: Ctrl-C during `monitor fetch --once` gives back the feed
leases (exit status 130), and the service's SIGTERM shutdown gives back the processor's claims."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import load_settings
from monitor.embed import Vectors
from monitor.loopback import FeedServer, Reply, item, rss
from monitor.process import BATCH_ARTICLES
from monitor.runtime import LazyEmbedder, open_runtime
from monitor.service import Service
from monitor.storage import migrate
from monitor.storage.articles import insert_articles
from monitor.storage.engine import open_engine
from monitor.storage.feeds import add_feeds, list_feeds
from monitor.storage.schema import Article, Feed
from monitor.storage.stories import count_pending_articles
from monitor.values import FeedSpec
from tests.conftest import PROJECT_RELEVANCE, PROJECT_ROOT, SettingsFactory
from tests.factories import make_entry
from tests.fakes import BagOfWordsEmbedder

WAIT_S = 60
ARTICLES = BATCH_ARTICLES + 44
MONITOR = (sys.executable, "-m", "monitor")


def wait_until(event: threading.Event, what: str) -> None:
    if not event.wait(WAIT_S):
        raise AssertionError(f"timed out waiting for {what}")


def feed_leases(sessions: sessionmaker[Session]) -> list[str | None]:
    with sessions() as session:
        return list(session.scalars(select(Feed.lease_owner)))


def article_claims(sessions: sessionmaker[Session]) -> list[str | None]:
    with sessions() as session:
        return list(session.scalars(select(Article.claimed_by)))


class TestFetchInterrupted:
    def test_ctrl_c_mid_cycle_releases_feed_leases_and_exits_130(self, tmp_path: Path) -> None:
        """SIGINT while a feed's reply stalls: exit status 130 and no feed lease left held."""
        stalled, replied = threading.Event(), threading.Event()

        def stall(_headers: dict[str, str]) -> Reply:
            stalled.set()
            replied.wait(WAIT_S)
            return Reply(200, {}, rss([item("Late news", "https://late.example/1", "1")]))

        with FeedServer() as feeds:
            url = feeds.add("/stalls", stall)
            config = tmp_path / "monitor.toml"
            config.write_text(
                f'[database]\nurl = "sqlite:///{tmp_path / "monitor.db"}"\n'
                '[network]\nallow_cidrs = ["127.0.0.0/8"]\n'
            )
            engine = open_engine(load_settings(config).database)
            migrate.upgrade(engine)
            sessions = sessionmaker(engine, expire_on_commit=False)
            with sessions.begin() as session:
                add_feeds(session, [FeedSpec(url)], 900, datetime.now(UTC))
            fetch = subprocess.Popen(
                [*MONITOR, "--config", str(config), "fetch", "--once", "--no-process"],
                cwd=PROJECT_ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                wait_until(stalled, "the fetch to reach the feed")
                assert feed_leases(sessions) != [None], "the feed should be leased mid-cycle"
                fetch.send_signal(signal.SIGINT)
                code = fetch.wait(timeout=WAIT_S)
            finally:
                replied.set()
                if fetch.poll() is None:
                    fetch.kill()
            stderr = fetch.stderr.read().decode() if fetch.stderr else ""
            leases = feed_leases(sessions)
            engine.dispose()
        assert code == 130, stderr[-2000:]
        assert leases == [None]


class GatedEmbedder(BagOfWordsEmbedder):
    """The fake embedder that, once armed, blocks inside `embed` until the gate opens."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.entered, self.gate = threading.Event(), threading.Event()

    def embed(self, texts: Sequence[str]) -> Vectors:
        if self.armed:
            self.entered.set()
            self.gate.wait(WAIT_S)
        return super().embed(texts)


class TestServiceShutdown:
    def test_sigterm_releases_the_processors_article_claims(
        self, sessions: sessionmaker[Session], make_settings: SettingsFactory, tmp_path: Path
    ) -> None:
        """SIGTERM while a batch is being embedded (and held there past the shutdown grace): no
        further batch is claimed, after shutdown no article is still claimed, and the batch in
        hand, whose claims were given back, is not stored when its thread ends after all (it
        waits unclaimed for the next run: another worker may already have taken it)."""
        url = str(sessions.kw["bind"].url.render_as_string(hide_password=False))
        settings = make_settings(
            database={"url": url},
            relevance=PROJECT_RELEVANCE,
            embedding={"cache_dir": str(tmp_path / "cache")},
            service={"poll_every_s": 3600, "shutdown_grace_s": 0.5},
        )
        now = datetime.now(UTC)
        with FeedServer() as feeds, sessions.begin() as session:
            add_feeds(session, [FeedSpec(feeds.url("/quiet"))], 900, now)
            [feed] = list_feeds(session)
            entries = [
                make_entry(f"g{n}", f"https://x.example/{n}", f"News {n}") for n in range(ARTICLES)
            ]
            insert_articles(session, feed.id, entries, now)
        embedder = GatedEmbedder()
        claims_during: list[str | None] = []

        async def run_and_stop() -> list[str | None]:
            try:
                async with open_runtime(
                    settings, sessions, embedder=LazyEmbedder(settings, embedder)
                ) as runtime:
                    await runtime.processor_ready()  # the warm-up embeds before the gate is armed
                    embedder.armed = True
                    service = Service(runtime)
                    runner = asyncio.create_task(service.run())
                    await asyncio.to_thread(wait_until, embedder.entered, "processing to start")
                    claims_during.extend(await asyncio.to_thread(article_claims, sessions))
                    os.kill(os.getpid(), signal.SIGTERM)
                    await runner
                return await asyncio.to_thread(article_claims, sessions)
            finally:
                embedder.gate.set()  # the batch's thread must end before the loop can close

        claims_after = asyncio.run(asyncio.wait_for(run_and_stop(), WAIT_S))
        with sessions() as session:
            unprocessed = count_pending_articles(session)
        claimed = [c for c in claims_during if c is not None]
        assert len(claimed) == BATCH_ARTICLES and all(c.startswith("processor-") for c in claimed)
        assert claims_after == [None] * ARTICLES
        assert unprocessed == ARTICLES
