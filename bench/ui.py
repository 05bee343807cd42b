"""Pages benchmark: the analyst's pages over real HTTP with 100,000 stored matches in 20,000
stories (one of them 500 articles long). Prints p50/p99 per page, the SQL statements each page
runs for 10 and for 100 rows shown, and the machine.

    .venv/bin/python bench/ui.py [--matches 100000] [--stories 20000] [--requests 300]
                                 [--database-url postgresql+psycopg://...]

Targets (issue 11): inbox with mixed filters p50 < 50 ms and p99 < 150 ms, a 500-article
story page < 100 ms, the trends page < 200 ms; statements per page constant in the rows shown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import Engine, event, insert, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.api.app import create_app
from monitor.config import Settings
from monitor.gazetteer import load_gazetteer
from monitor.relevance import assess
from monitor.relevance_files import load_relevance_model
from monitor.storage import migrate
from monitor.storage.engine import open_engine
from monitor.storage.feeds import add_feeds
from monitor.storage.schema import Article, Match, Story
from monitor.values import FeedSpec

ROOT = Path(__file__).resolve().parents[1]
BIG_STORY_ARTICLES = 500
FEEDS = 40
LANGUAGES = ["en", "es", "pt", "ru"]
SPAN = timedelta(days=90)
BATCH = 5000
ACTORS = ["Russia", "Moscow", "Putin", "Lavrov", "Rosneft", "Gazprom", "the Kremlin", "Rosatom"]
PLACES = [
    "Venezuela",
    "Cuba",
    "Nicaragua",
    "Brazil",
    "Argentina",
    "Mexico",
    "Bolivia",
    "Peru",
    "Colombia",
    "Chile",
]
DEALS = [
    "sign an oil agreement with",
    "send warships to",
    "discuss wheat exports to",
    "open a nuclear plant project in",
    "expand military cooperation with",
    "hold talks on sanctions with",
    "offer vaccines to",
    "sign a fertiliser deal with",
]


@dataclass(frozen=True, slots=True)
class Template:
    """A title and its real tagging (countries, topics, reasons), reused by many rows."""

    title: str
    summary: str
    relevant: bool
    score: float
    countries: str
    topics: str
    reasons: str


def build_templates() -> list[Template]:
    """Titles from actors, deals and places, tagged by the real gazetteer and weights (no
    seed similarity), so expanded rows show real reasons."""
    gazetteer = load_gazetteer(ROOT / "config" / "gazetteer")
    model = load_relevance_model(ROOT / "config" / "relevance.toml")
    templates = []
    for n in range(len(ACTORS) * len(DEALS)):
        actor, deal = ACTORS[n % len(ACTORS)], DEALS[n % len(DEALS)]
        place = PLACES[n % len(PLACES)]
        title = f"{actor} to {deal} {place}" if n % 5 else f"Markets in {place} close higher"
        summary = f"Officials in {place} and {actor} met this week; more talks are planned."
        tagged = assess(gazetteer, model, title, summary)
        templates.append(
            Template(
                title,
                summary,
                tagged.relevant,
                tagged.score,
                json.dumps(list(tagged.countries)),
                json.dumps(list(tagged.topics)),
                json.dumps(tagged.reasons, ensure_ascii=False, sort_keys=True),
            )
        )
    return templates


# Stories of a known size: 1 has 500 articles, 2 has 10 and 3 has 100 (for the statement
# counts); the other articles are dealt round the other stories.
SIZED_STORIES = {1: BIG_STORY_ARTICLES, 2: 10, 3: 100}


def story_of(article: int, stories: int) -> int:
    bound = 0
    for story, size in SIZED_STORIES.items():
        bound += size
        if article <= bound:
            return story
    first_free = len(SIZED_STORIES) + 1
    return first_free + article % (stories - first_free + 1)


def load(sessions: sessionmaker[Session], matches: int, stories: int, now: datetime) -> None:
    """Feeds through storage, then articles, stories and matches in bulk through the ORM
    models (a bench-local loader: the pipeline would take hours to store this much)."""
    with sessions.begin() as session:
        add_feeds(
            session,
            [
                FeedSpec(f"https://outlet{n}.example/rss", f"Outlet {n}", LANGUAGES[n % 4])
                for n in range(FEEDS)
            ],
            900,
            now,
        )
    templates = build_templates()
    step = SPAN / matches
    seen: dict[int, list[Any]] = {}  # story -> [first, last, count, feeds, languages, title]
    for start in range(1, matches + 1, BATCH):
        ids = range(start, min(start + BATCH, matches + 1))
        articles, rows = [], []
        for i in ids:
            template = templates[i % len(templates)]
            feed = 1 + i % FEEDS
            language = LANGUAGES[(feed - 1) % 4]
            at = now - SPAN + step * i
            story = story_of(i, stories)
            articles.append(
                {
                    "id": i,
                    "feed_id": feed,
                    "guid": f"g{i}",
                    "url": f"https://outlet{feed - 1}.example/a/{i}",
                    "title": f"{template.title} ({i})",
                    "summary": template.summary,
                    "language": language,
                    "authors": "",
                    "published_at": at,
                    "first_seen_at": at,
                    "processed_at": at,
                    "story_id": story,
                }
            )
            rows.append(
                {
                    "article_id": i,
                    "story_id": story,
                    "relevant": template.relevant,
                    "score": template.score,
                    "countries": template.countries,
                    "topics": template.topics,
                    "reasons": template.reasons,
                    "scorer_version": "bench",
                    "created_at": at,
                    "updated_at": at,
                }
            )
            entry = seen.setdefault(story, [at, at, 0, set(), set(), f"{template.title} ({i})"])
            entry[1] = at
            entry[2] += 1
            entry[3].add(feed)
            entry[4].add(language)
        if start == 1:
            insert_stories(sessions, stories, now)
        with sessions.begin() as session:
            session.execute(insert(Article), articles)
            session.execute(insert(Match), rows)
    with sessions.begin() as session:
        session.execute(
            update(Story),
            [
                {
                    "id": story,
                    "title": title,
                    "first_seen_at": first,
                    "last_seen_at": last,
                    "article_count": count,
                    "outlets_count": len(feeds),
                    "languages": ",".join(sorted(languages)),
                }
                for story, (first, last, count, feeds, languages, title) in seen.items()
            ],
        )


def insert_stories(sessions: sessionmaker[Session], stories: int, now: datetime) -> None:
    with sessions.begin() as session:
        for start in range(1, stories + 1, BATCH):
            session.execute(
                insert(Story),
                [
                    {
                        "id": s,
                        "title": "",
                        "first_seen_at": now,
                        "last_seen_at": now,
                        "article_count": 0,
                        "outlets_count": 0,
                        "languages": "",
                    }
                    for s in range(start, min(start + BATCH, stories + 1))
                ],
            )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[str]:
    """The real app (API and pages) under uvicorn on 127.0.0.1, in a thread."""
    app = create_app(settings, sessions, "bench-token")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass(frozen=True, slots=True)
class Timing:
    p50_ms: float
    p99_ms: float
    slowest_path: str
    slowest_p50_ms: float


def timed(client: httpx.Client, paths: list[str], requests: int) -> Timing:
    """p50 and p99 in milliseconds over `requests` GETs cycling through `paths`, and the
    path with the highest median."""
    for path in paths:  # warm-up: templates compiled, caches filled
        client.get(path).raise_for_status()
    by_path: dict[str, list[float]] = {path: [] for path in paths}
    for n in range(requests):
        path = paths[n % len(paths)]
        started = time.perf_counter()
        response = client.get(path)
        by_path[path].append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    latencies = sorted(ms for times in by_path.values() for ms in times)
    medians = {path: statistics.median(times) for path, times in by_path.items() if times}
    slowest = max(medians, key=medians.__getitem__)
    return Timing(
        statistics.median(latencies),
        latencies[max(0, int(len(latencies) * 0.99) - 1)],
        slowest,
        medians[slowest],
    )


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def statements_for(client: httpx.Client, engine: Engine, path: str) -> int:
    client.get(path).raise_for_status()
    with counting(engine) as statements:
        client.get(path).raise_for_status()
    return len(statements)


def page_paths() -> dict[str, list[str]]:
    return {
        "inbox (mixed filters)": [
            "/",
            "/?country=VE",
            "/?language=es&min_score=0.6",
            "/?topic=energy&relevant=all",
            "/?since=7d&country=CU",
            "/?q=Rosneft",
            "/?feed=https://outlet3.example/rss&relevant=all",
            "/?relevant=not&since=30d",
            "/?page=3",
        ],
        f"story page ({BIG_STORY_ARTICLES} articles)": ["/stories/1"],
        "trends (30 and 90 days)": ["/trends", "/trends?days=90"],
    }


# Pages that grow with their rows: the statements each runs for 10 rows and for 100.
COUNTED = {
    "inbox rows": ("/?relevant=all&limit=10", "/?relevant=all&limit=100"),
    "story members": ("/stories/2", "/stories/3"),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--matches", type=int, default=100_000)
    parser.add_argument("--stories", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = Settings(
            database={"url": url},
            embedding={"cache_dir": str(Path(tmp) / "cache")},
            relevance={
                "gazetteer_dir": str(ROOT / "config" / "gazetteer"),
                "model_file": str(ROOT / "config" / "relevance.toml"),
                "seeds_dir": str(ROOT / "config" / "seeds" / "russia-latam"),
            },
        )
        engine = open_engine(settings.database)
        migrate.upgrade(engine)
        sessions = sessionmaker(engine, expire_on_commit=False)
        started = time.perf_counter()
        load(sessions, args.matches, args.stories, now)
        load_s = time.perf_counter() - started
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.1f} (figures are only comparable on an idle machine)"
        )
        print(
            f"{engine.dialect.name}: {args.matches:,} matches in {args.stories:,} stories "
            f"(one of {BIG_STORY_ARTICLES} articles), loaded in {load_s:.1f} s; "
            f"{args.requests} requests per page over HTTP"
        )
        browser = {"Accept": "text/html"}  # without it /stories/{id} is the API's JSON
        with (
            served(settings, sessions) as base,
            httpx.Client(base_url=base, headers=browser, timeout=60) as client,
        ):
            for name, paths in page_paths().items():
                timing = timed(client, paths, args.requests)
                slowest = (
                    f"   (slowest {timing.slowest_path}: p50 {timing.slowest_p50_ms:.1f} ms)"
                    if len(paths) > 1
                    else ""
                )
                print(
                    f"{name:32} p50 {timing.p50_ms:7.1f} ms   p99 {timing.p99_ms:7.1f} ms{slowest}"
                )
            for name, (ten, hundred) in COUNTED.items():
                counts = [statements_for(client, engine, path) for path in (ten, hundred)]
                print(f"SQL statements, {name}: {counts[0]} for 10, {counts[1]} for 100")
        engine.dispose()


if __name__ == "__main__":
    main()
