"""Several `monitor run --no-api` workers sharing one PostgreSQL database."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from monitor.config import load_settings
from monitor.loopback import FeedServer, Reply, WebhookSink, item, rss
from monitor.storage import migrate
from monitor.storage.engine import open_engine
from monitor.storage.feeds import add_feeds
from monitor.storage.schema import Article, Delivery, Feed
from monitor.values import FeedSpec
from tests.alert_support import new_secret
from tests.conftest import PROJECT_ROOT

FEEDS = 300
COUNTRIES = ["Venezuela", "Cuba", "Nicaragua", "Brazil", "Bolivia", "Argentina", "Mexico", "Peru"]
TOPICS = [
    "an oil supply deal",
    "military cooperation",
    "a grain contract",
    "a vaccine plant",
    "a rail loan",
]


def headline(n: int) -> str:
    return f"Russia and {COUNTRIES[n % 8]} sign {TOPICS[n % 5]} worth {n + 10} million dollars in round {n}"


def write_config(tmp_path: Path, database_url: str, hook_url: str, lease_s: int) -> Path:
    config = tmp_path / "monitor.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n[network]\nallow_cidrs = ["127.0.0.0/8"]\nper_host_concurrency = 8\n'
        f"[fetch]\nmin_poll_interval_s = 3600\nmax_poll_interval_s = 3600\nlease_s = {lease_s}\n"
        "[service]\npoll_every_s = 1\nprocess_every_s = 1\ndispatch_every_s = 1\nshutdown_grace_s = 10\n"
        f"[stories]\nprocessing_lease_s = {lease_s}\n"
        f"[alerts]\nlease_s = {lease_s}\nretry_schedule_s = [1]\n"
        f'[[alerts.webhooks]]\nname = "ops"\nurl = "{hook_url}"\nsecret_env = "MONITOR_TEST_HOOK_SECRET"\n'
        '[[alerts.rules]]\nname = "relevant"\nmin_score = 0.5\nchannels = ["ops"]\nmax_per_hour = 10000\n'
    )
    return config


def prepare(config: Path, urls: list[str]) -> sessionmaker:  # type: ignore[type-arg]
    engine = open_engine(load_settings(config).database)
    migrate.upgrade(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions.begin() as session:
        add_feeds(
            session, [FeedSpec(url, poll_interval_s=3600) for url in urls], 3600, datetime.now(UTC)
        )
    return sessions


def start_workers(config: Path, secret: str, count: int) -> list[subprocess.Popen[bytes]]:
    environ = {**os.environ, "MONITOR_TEST_HOOK_SECRET": secret}
    return [
        subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run", "--no-api"],
            cwd=PROJECT_ROOT,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def all_done(sessions: sessionmaker) -> bool:  # type: ignore[type-arg]
    with sessions() as session:
        unfetched = session.scalar(select(func.count()).where(Feed.last_status.is_(None)))
        unprocessed = session.scalar(select(func.count()).where(Article.processed_at.is_(None)))
        articles = session.scalar(select(func.count()).select_from(Article))
        undelivered = session.scalar(select(func.count()).where(Delivery.status != "delivered"))
        deliveries = session.scalar(select(func.count()).select_from(Delivery))
    return (
        unfetched == 0
        and articles == FEEDS
        and unprocessed == 0
        and deliveries > 0
        and undelivered == 0
    )


def run_until_done(
    sessions: sessionmaker,
    workers: list[subprocess.Popen[bytes]],
    timeout_s: float = 240,  # type: ignore[type-arg]
    kill_after_s: float | None = None,
) -> None:
    started = time.monotonic()
    killed = False
    try:
        while time.monotonic() - started < timeout_s:
            if (
                kill_after_s is not None
                and not killed
                and time.monotonic() - started > kill_after_s
            ):
                workers[0].send_signal(signal.SIGKILL)
                killed = True
            if all_done(sessions):
                return
            time.sleep(0.5)
        pytest.fail("the workers did not finish in time")
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(timeout=30) for worker in workers]
        assert all(code == 0 for code in codes[1 if killed else 0 :]), codes


@pytest.mark.slow
@pytest.mark.postgres
def test_three_workers_fetch_each_feed_once_and_send_each_delivery_once(
    tmp_path: Path, postgres_url: str
) -> None:
    """300 feeds, 3 workers: every feed fetched exactly once in its interval, every delivery
    sent exactly once."""
    secret = new_secret()
    with FeedServer() as feeds, WebhookSink() as sink:
        urls = [
            feeds.add(
                f"/f{n}",
                Reply(200, {}, rss([item(headline(n), f"https://n.example/{n}", f"g{n}")])),
            )
            for n in range(FEEDS)
        ]
        config = write_config(tmp_path, postgres_url, sink.url(), lease_s=300)
        sessions = prepare(config, urls)
        run_until_done(sessions, start_workers(config, secret, 3))
        hits = collections.Counter(path for path, _headers in feeds.requests)
        received = collections.Counter(r.headers["webhook-id"] for r in sink.received)
        with sessions() as session:
            expected = set(session.scalars(select(Delivery.webhook_id)))
    assert len(hits) == FEEDS and set(hits.values()) == {1}
    assert set(received) == expected and set(received.values()) == {1}


@pytest.mark.slow
@pytest.mark.postgres
def test_a_killed_worker_loses_nothing(tmp_path: Path, postgres_url: str) -> None:
    """SIGKILL one of three workers mid-run: its leases expire, the others finish everything."""
    secret = new_secret()
    with FeedServer() as feeds, WebhookSink(lambda r: Reply(204, chunk_delay_s=0.05)) as sink:
        urls = [
            feeds.add(
                f"/f{n}",
                Reply(
                    200,
                    {},
                    rss([item(headline(n), f"https://n.example/{n}", f"g{n}")]),
                    chunk_delay_s=0.0,
                ),
            )
            for n in range(FEEDS)
        ]
        config = write_config(tmp_path, postgres_url, sink.url(), lease_s=3)
        sessions = prepare(config, urls)
        run_until_done(sessions, start_workers(config, secret, 3), kill_after_s=4.0)
        hits = collections.Counter(path for path, _headers in feeds.requests)
        received = {r.headers["webhook-id"] for r in sink.received}
        with sessions() as session:
            expected = set(session.scalars(select(Delivery.webhook_id)))
    assert len(hits) == FEEDS
    assert expected and received == expected
