"""Service benchmark: N loopback feeds polled for a few cycles (fetch, parse, store, embed,
stories, relevance), then /matches latency over real HTTP with M stored matches, and peak memory.

    .venv/bin/python bench/service.py [--feeds 1000] [--entries 5] [--cycles 3] [--matches 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import resource
import socket
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import insert, select
from sqlalchemy.orm import sessionmaker

from monitor.api.app import create_app
from monitor.config import Settings
from monitor.ingest import open_ingestor
from monitor.loopback import FeedServer, Reply, item, rss
from monitor.runtime import build_processor
from monitor.storage import migrate
from monitor.storage.engine import open_engine
from monitor.storage.feeds import add_feeds
from monitor.storage.schema import Article, Feed, Match
from monitor.values import FeedSpec

COUNTRIES = ["VE", "CU", "NI", "BR", "AR", "MX", "BO", "PE"]
TOPICS = ["energy", "defense", "diplomacy", "trade-finance", "health", "sanctions"]
SUBJECTS = ["Russia", "Venezuela", "Cuba", "Brazil", "Germany", "Japan", "Canada", "Kenya"]


def feed_route(feed: int, entries: int) -> object:
    etag = f'"f{feed}"'
    body = rss(
        [
            item(
                f"{SUBJECTS[(feed + e) % 8]} and {SUBJECTS[(feed * 3 + e) % 8]} discuss item {feed}-{e}",
                f"https://b{feed}.example/{e}",
                f"{feed}-{e}",
                summary=f"Report number {feed}-{e}.",
            )
            for e in range(entries)
        ]
    )

    def route(headers: dict[str, str]) -> Reply:
        return (
            Reply(304) if headers.get("if-none-match") == etag else Reply(200, {"ETag": etag}, body)
        )

    return route


def serve(feeds: int, entries: int, ports: multiprocessing.Queue[int]) -> None:
    with FeedServer() as server:
        for n in range(feeds):
            server.add(f"/f/{n}", feed_route(n, entries))  # type: ignore[arg-type]
        ports.put(server.port)
        threading.Event().wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def store_matches(sessions: sessionmaker, count: int) -> None:  # type: ignore[type-arg]
    rng = random.Random(7)
    now = datetime.now(UTC)
    with sessions.begin() as session:
        feed_id = session.scalar(select(Feed.id).limit(1))
        first = (session.scalar(select(Article.id).order_by(Article.id.desc()).limit(1)) or 0) + 1
    for start in range(0, count, 5000):
        ids = range(first + start, first + min(start + 5000, count))
        articles = [
            {
                "id": i,
                "feed_id": feed_id,
                "guid": f"bulk-{i}",
                "url": f"https://bulk.example/{i}",
                "title": f"Bulk article {i} about {rng.choice(SUBJECTS)}",
                "summary": "",
                "language": "en",
                "authors": "",
                "published_at": now - timedelta(minutes=i % 50000),
                "first_seen_at": now - timedelta(minutes=i % 50000),
                "processed_at": now,
            }
            for i in ids
        ]
        matches = [
            {
                "article_id": i,
                "relevant": rng.random() < 0.3,
                "score": rng.random(),
                "countries": json.dumps([rng.choice(COUNTRIES)]),
                "topics": json.dumps([rng.choice(TOPICS)]),
                "reasons": "{}",
                "scorer_version": "bench",
                "created_at": now,
                "updated_at": now,
            }
            for i in ids
        ]
        with sessions.begin() as session:
            session.execute(insert(Article), articles)
            session.execute(insert(Match), matches)


def measure_api(settings: Settings, sessions: sessionmaker, requests: int) -> tuple[float, float]:  # type: ignore[type-arg]
    app = create_app(settings, sessions, None)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    queries = [
        {},
        {"relevant": "true"},
        {"country": "VE"},
        {"topic": "energy", "min_score": "0.5"},
        {"q": "Venezuela"},
        {"since": (datetime.now(UTC) - timedelta(days=3)).isoformat()},
    ]
    latencies = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        cursor = None
        for n in range(requests):
            params = dict(queries[n % len(queries)])
            if n % 7 == 0 and cursor:
                params["cursor"] = str(cursor)
            started = time.perf_counter()
            response = client.get("/matches", params=params)
            latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            cursor = response.json()["next_cursor"]
    server.should_exit = True
    thread.join(5)
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]


async def poll_cycles(
    settings: Settings, sessions: sessionmaker, cycles: int
) -> list[tuple[float, int, int]]:  # type: ignore[type-arg]
    processor = build_processor(settings, sessions)
    results = []
    clock = datetime.now(UTC)
    async with open_ingestor(settings, sessions) as ingestor:
        for cycle in range(cycles):
            now = clock + timedelta(hours=2 * cycle)
            ingestor.clock = lambda now=now: now
            started = time.perf_counter()
            summary = await ingestor.run_cycle()
            processed = await asyncio.to_thread(processor.process_pending)
            results.append(
                (time.perf_counter() - started, summary.new_articles, processed.articles)
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=5)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--matches", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=600)
    args = parser.parse_args()
    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    feed_server = multiprocessing.Process(
        target=serve, args=(args.feeds, args.entries, ports), daemon=True
    )
    feed_server.start()
    port = ports.get(timeout=60)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database={"url": f"sqlite:///{Path(tmp) / 'bench.db'}"},
            network={
                "allow_cidrs": ["127.0.0.0/8"],
                "per_host_concurrency": 16,
                "max_concurrency": 16,
            },
            embedding={"cache_dir": str(Path(tmp) / "cache")},
        )
        engine = open_engine(settings.database)
        migrate.upgrade(engine)
        sessions = sessionmaker(engine, expire_on_commit=False)
        with sessions.begin() as session:
            add_feeds(
                session,
                [FeedSpec(f"http://127.0.0.1:{port}/f/{n}") for n in range(args.feeds)],
                900,
                datetime.now(UTC),
            )
        cycles = asyncio.run(poll_cycles(settings, sessions, args.cycles))
        store_matches(sessions, args.matches)
        p50, p99 = measure_api(settings, sessions, args.requests)
        engine.dispose()
    feed_server.terminate()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"{args.feeds} loopback feeds x {args.entries} entries, SQLite, model {settings.embedding.model}"
    )
    for number, (seconds, new, processed) in enumerate(cycles, 1):
        rate = processed / seconds if processed else 0.0
        print(
            f"cycle {number}: {seconds:6.2f} s  ({new} new articles, {processed} processed: {rate:7.1f} articles/s)"
        )
    print(
        f"/matches over HTTP with {args.matches:,} extra stored matches, {args.requests} requests: "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    print(f"peak RSS: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
