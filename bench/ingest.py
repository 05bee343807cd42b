"""Ingestion benchmark: one full cycle (fetch, parse, store) over N generated feeds served from
127.0.0.1 into a fresh SQLite database, then a second cycle on the 304 path.

    .venv/bin/python bench/ingest.py [--feeds 200] [--entries 25]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import resource
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from monitor.config import Settings
from monitor.ingest import open_ingestor
from monitor.loopback import FeedServer, Reply, Route, item, rss
from monitor.storage import migrate
from monitor.storage.engine import open_engine
from monitor.storage.feeds import add_feeds
from monitor.values import CycleSummary, FeedSpec

WORDS = (
    "Russia",
    "Venezuela",
    "Brazil",
    "Cuba",
    "Lula",
    "Putin",
    "Maduro",
    "energy",
    "treaty",
    "summit",
    "BRICS",
    "oil",
    "minister",
    "talks",
    "Havana",
    "Caracas",
    "Moscow",
    "trade",
    "bank",
    "loan",
    "navy",
    "visit",
    "agreement",
)


def headline(feed: int, entry: int) -> str:
    picks = [WORDS[(feed * 7 + entry * 13 + k * 5) % len(WORDS)] for k in range(9)]
    return f"{' '.join(picks)} {feed}-{entry}"


def conditional_feed(feed: int, entries: int) -> Route:
    etag = f'"feed-{feed}"'
    body = rss(
        [
            item(
                headline(feed, e),
                f"https://bench{feed}.example/{e}",
                f"{feed}-{e}",
                summary="Summary text of the article with a few more words " * 3,
            )
            for e in range(entries)
        ],
        title=f"Bench feed {feed}",
    )

    def route(headers: dict[str, str]) -> Reply:
        if headers.get("if-none-match") == etag:
            return Reply(304, {"ETag": etag})
        return Reply(200, {"ETag": etag, "Content-Type": "application/rss+xml"}, body)

    return route


def serve_feeds(feeds: int, entries: int, ports: multiprocessing.Queue[int]) -> None:
    """Runs in its own process, so serving does not compete with the fetcher for the GIL."""
    with FeedServer() as server:
        for n in range(feeds):
            server.add(f"/feed/{n}", conditional_feed(n, entries))
        ports.put(server.port)
        threading.Event().wait()


async def run_cycle(
    settings: Settings, sessions: sessionmaker, now: datetime
) -> tuple[CycleSummary, float]:  # type: ignore[type-arg]
    async with open_ingestor(settings, sessions) as ingestor:
        ingestor.clock = lambda: now
        started = time.perf_counter()
        summary = await ingestor.run_cycle()
        return summary, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--entries", type=int, default=25)
    parser.add_argument(
        "--concurrency", type=int, default=16, help="in flight, in all and per host"
    )
    args = parser.parse_args()

    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(
        target=serve_feeds, args=(args.feeds, args.entries, ports), daemon=True
    )
    server.start()
    port = ports.get(timeout=30)
    urls = [f"http://127.0.0.1:{port}/feed/{n}" for n in range(args.feeds)]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database={"url": f"sqlite:///{Path(tmp) / 'bench.db'}"},
            network={
                "allow_cidrs": ["127.0.0.0/8"],
                "per_host_concurrency": args.concurrency,
                "max_concurrency": args.concurrency,
            },
        )
        engine = open_engine(settings.database)
        migrate.upgrade(engine)
        sessions = sessionmaker(engine, expire_on_commit=False)
        now = datetime.now(UTC)
        with sessions.begin() as session:
            add_feeds(session, [FeedSpec(url) for url in urls], 900, now)
        first, first_s = asyncio.run(run_cycle(settings, sessions, now))
        second, second_s = asyncio.run(run_cycle(settings, sessions, now + timedelta(hours=1)))
        engine.dispose()
    server.terminate()

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"feeds: {args.feeds} x {args.entries} entries, loopback HTTP, SQLite (WAL)")
    print(
        f"full cycle : {first_s:6.2f} s  {args.feeds / first_s:7.1f} feeds/s  "
        f"{first.new_articles / first_s:8.1f} entries/s  "
        f"(new {first.new_articles}, failed {first.feeds_failed})"
    )
    print(
        f"304 cycle  : {second_s:6.2f} s  {args.feeds / second_s:7.1f} feeds/s  "
        f"(not modified {second.feeds_not_modified}, failed {second.feeds_failed})"
    )
    print(f"peak RSS   : {peak_mb:.0f} MB (main process; parser workers are separate processes)")


if __name__ == "__main__":
    main()
