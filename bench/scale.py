"""Scale of the window index: start-up, assignment, agreement, search latency, peak memory.

    .venv/bin/python bench/scale.py --sizes 10000 100000            # SQLite in a temp dir
    .venv/bin/python bench/scale.py --sizes 10000 100000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres   # a fresh DB

For each size a child process fills a fresh database in bulk with that many window articles
(clustered synthetic 512-dimension vectors like USE's: stories of 1–20+ articles around a
centre, stored as the pipeline stores them, float16 blobs with their matches) spread over the
last 7 days. Another child then acts as the service and prints:

- start-up: the index read from the database, then again from a persisted copy (+ refresh);
- assignment: per article of 256-article batches, the index refresh (which reads the previous
  batch, stored in between as the processor does) plus the nearest article in the window;
- agreement: the same-story decisions (threshold 0.54) of the batches' articles and of
  `--agreement-queries` more, against an exact scan of the database written independently of
  the index (one chunk at a time);
- mode: whether the index answered exactly or approximately (`--approximate-above`);
- search: `monitor.search.search_matches` p50/p99 (index refresh, ranking, records query)
  over its own index, as in the service (beside the window index: codes only when
  approximate), whose first fill is timed apart;
- peak RSS of the service process (before the reference scan);
- the load average (1 min) before and after each size: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, insert, text
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.config import DatabaseSettings
from monitor.filters import MatchFilter
from monitor.search import search_matches
from monitor.storage import migrate
from monitor.storage.engine import open_engine
from monitor.storage.feeds import add_feeds
from monitor.storage.schema import Article, Match, Story
from monitor.storage.stories import lock_story_assignment
from monitor.storage.vectors import stream_vectors
from monitor.values import FeedSpec
from monitor.window_index import DEFAULT_APPROXIMATE_ABOVE, WindowIndex, load_index

DIM = 512
MODEL = "bench-512"
WINDOW_DAYS = 7
THRESHOLD = 0.54
BATCH = 256
BATCHES = 6
SEARCHES = 200
SEARCH_CHECKED = 50  # searches whose results are checked against an exact scan
INSERT_ROWS = 10_000
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Synthetic:
    """Clustered unit vectors: a story is a random centre, its articles the centre plus noise
    (0.6–1.3 of its norm), so members meet at cosine 0.37–0.74 and strangers near 0."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.centres: list[np.ndarray] = []
        self.noise: list[float] = []

    def new_story(self) -> int:
        centre = self.rng.standard_normal(DIM).astype(np.float32)
        self.centres.append(centre / np.linalg.norm(centre))
        self.noise.append(float(self.rng.uniform(0.6, 1.3)))
        return len(self.centres)  # story ids start at 1

    def member(self, story: int) -> np.ndarray:
        noise = self.rng.standard_normal(DIM).astype(np.float32) / np.sqrt(DIM)
        vector = self.centres[story - 1] + self.noise[story - 1] * noise
        return vector / np.linalg.norm(vector)

    def window(self, count: int, members: bool = True) -> tuple[list[int], np.ndarray]:
        """Stories and vectors of `count` articles, stories of geometric size (mean 5); with
        `members` false only the stories (the same ones: their draws come first)."""
        stories: list[int] = []
        while len(stories) < count:
            story = self.new_story()
            stories += [story] * int(self.rng.geometric(0.2))
        stories = stories[:count]
        if not members:
            return stories, np.zeros((0, DIM), dtype=np.float32)
        vectors = np.empty((count, DIM), dtype=np.float32)
        for row, story in enumerate(stories):
            vectors[row] = self.member(story)
        return stories, vectors

    def batch(self, count: int, known: int) -> np.ndarray:
        """New articles: 70 % join a known story, the rest start their own."""
        rows = []
        for _ in range(count):
            story = (
                int(self.rng.integers(1, known + 1))
                if self.rng.random() < 0.7
                else self.new_story()
            )
            rows.append(self.member(story))
        return np.vstack(rows).astype(np.float32)


def store_rows(
    session: Session, first_id: int, stories: Sequence[int], vectors: np.ndarray, times: np.ndarray
) -> None:
    """Articles with vectors and their matches, as the processing stage leaves them."""
    blobs = vectors.astype("<f2")
    articles, matches = [], []
    for n, (story, seen_s) in enumerate(zip(stories, times, strict=True)):
        article_id = first_id + n
        seen = datetime.fromtimestamp(float(seen_s), UTC)
        articles.append(
            {
                "id": article_id,
                "feed_id": 1,
                "guid": f"g{article_id}",
                "url": f"https://outlet.example/a/{article_id}",
                "title": f"article {article_id}",
                "summary": "",
                "language": "en",
                "authors": "",
                "published_at": seen,
                "first_seen_at": seen,
                "processed_at": seen,
                "story_id": story,
                "embedding": blobs[n].tobytes(),
                "embedding_model": MODEL,
            }
        )
        matches.append(
            {
                "article_id": article_id,
                "story_id": story,
                "relevant": article_id % 3 == 0,
                "score": 0.5,
                "countries": "[]",
                "topics": "[]",
                "reasons": "{}",
                "scorer_version": "bench",
                "created_at": seen,
                "updated_at": seen,
            }
        )
    session.execute(insert(Article), articles)
    session.execute(insert(Match), matches)


def insert_stories(session: Session, first: int, last: int) -> None:
    session.execute(
        insert(Story),
        [
            {
                "id": s,
                "title": "",
                "first_seen_at": NOW,
                "last_seen_at": NOW,
                "article_count": 0,
                "outlets_count": 0,
                "languages": "",
            }
            for s in range(first, last + 1)
        ],
    )


def build(url: str, size: int) -> None:
    """Child: a migrated database holding `size` window articles."""
    engine = open_engine(DatabaseSettings(url=url))
    migrate.upgrade(engine)
    sessions = sessionmaker(engine)
    synthetic = Synthetic(seed=size)
    stories, vectors = synthetic.window(size)
    span_s = WINDOW_DAYS * 86_400 - 3600
    times = np.sort(NOW.timestamp() - span_s + np.random.default_rng(1).uniform(0, span_s, size))
    with sessions.begin() as session:
        add_feeds(session, [FeedSpec("https://outlet.example/rss", "Outlet")], 900, NOW)
        for first in range(1, len(synthetic.centres) + 1, INSERT_ROWS):
            insert_stories(session, first, min(first + INSERT_ROWS - 1, len(synthetic.centres)))
    for start in range(0, size, INSERT_ROWS):
        stop = min(size, start + INSERT_ROWS)
        with sessions.begin() as session:
            store_rows(
                session, start + 1, stories[start:stop], vectors[start:stop], times[start:stop]
            )
    # Planner statistics, as a database in service has them (PostgreSQL's autovacuum): without
    # them a fresh PostgreSQL scans every match for a refresh that reads 256 (19 ms at 100k).
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    engine.dispose()


class FixedEmbedder:
    """Questions are synthetic vectors handed over ahead (the model is not what is measured)."""

    model_id = MODEL

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors
        self.asked = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        row = self.vectors[self.asked % len(self.vectors)]
        self.asked += 1
        return row[None, :]


def exact_decisions(
    sessions: sessionmaker[Session], queries: np.ndarray, since: datetime, before_id: int
) -> list[int]:
    """The reference: each query's best article of the window as it stood (ids below
    `before_id`), read and scored chunk by chunk straight from the database; its story, or 0
    (a new story) below the threshold."""
    best = np.full(len(queries), -np.inf, dtype=np.float32)
    story = np.zeros(len(queries), dtype=np.int64)
    with sessions() as session:
        for rows in stream_vectors(session, MODEL, since, 0):
            similarity = queries @ rows.vectors.astype(np.float32).T
            similarity[:, rows.article_ids >= before_id] = -np.inf  # stored after the batch
            column = similarity.argmax(axis=1)
            value = similarity[np.arange(len(queries)), column]
            better = value > best
            best[better], story[better] = value[better], rows.groups[column[better]]
    return [int(s) if b >= THRESHOLD else 0 for s, b in zip(story, best, strict=True)]


def exact_search(
    sessions: sessionmaker[Session], questions: np.ndarray, k: int, floor: float
) -> list[set[int]]:
    """The reference for search: each question's best `k` stored articles at or above the
    floor, scored chunk by chunk straight from the database."""
    best_ids = np.zeros((len(questions), 0), dtype=np.int64)
    best = np.zeros((len(questions), 0), dtype=np.float32)
    with sessions() as session:
        for rows in stream_vectors(session, MODEL, None, 0):
            similarity = questions @ rows.vectors.astype(np.float32).T
            ids = np.broadcast_to(rows.article_ids, similarity.shape)
            best = np.concatenate([best, similarity], axis=1)
            best_ids = np.concatenate([best_ids, ids], axis=1)
            order = np.argsort(-best, axis=1)[:, :k]
            best = np.take_along_axis(best, order, axis=1)
            best_ids = np.take_along_axis(best_ids, order, axis=1)
    return [
        {int(i) for i, s in zip(row_ids, row, strict=True) if s >= floor}
        for row_ids, row in zip(best_ids, best, strict=True)
    ]


def index_decisions(index: WindowIndex, queries: np.ndarray, since: datetime) -> list[int]:
    found = index.nearest(queries, 1, since=since)
    return [
        int(g) if s >= THRESHOLD else 0
        for g, s in zip(found.groups[:, 0], found.similarities[:, 0], strict=True)
    ]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def serve(
    url: str, size: int, persist_dir: Path, approximate_above: int, extra_queries: int
) -> dict[str, float | str]:
    """Child: the service's side, measured."""
    engine = open_engine(DatabaseSettings(url=url))
    sessions = sessionmaker(engine)
    since = NOW - timedelta(days=WINDOW_DAYS)
    index = WindowIndex(MODEL, DIM, approximate_above=approximate_above)
    started = time.perf_counter()
    with sessions() as session:
        index.refresh_from(session, since)
    startup_s = time.perf_counter() - started
    synthetic = Synthetic(seed=size)
    synthetic.window(size, members=False)  # the same stories, so batches can join them
    known = len(synthetic.centres)
    per_article, agreements, next_id = [], [], size + 1
    for _ in range(BATCHES):
        queries = synthetic.batch(BATCH, known)
        started = time.perf_counter()
        with sessions.begin() as session:
            lock_story_assignment(session)
            index.refresh_from(session, since)
            decisions = index_decisions(index, queries, since)
            cost = time.perf_counter() - started
            # Stored as the processor would (each new story its own row), for the next refresh.
            fresh = [d or synthetic.new_story() for d in decisions]
            new = sorted({s for s in fresh if s > known})
            if new:
                insert_stories(session, new[0], new[-1])
                known = new[-1]
            stamp = np.full(BATCH, NOW.timestamp() - 60)
            store_rows(session, next_id, fresh, queries, stamp)
        next_id += BATCH
        per_article.append(cost / BATCH * 1000)
        agreements.append((queries, decisions, next_id - BATCH))
    extra = synthetic.batch(extra_queries, known)
    with sessions() as session:
        index.refresh_from(session, since)  # the last batch, so the index holds every id < next_id
    extra_decisions = [
        decision
        for start in range(0, len(extra), BATCH)
        for decision in index_decisions(index, extra[start : start + BATCH], since)
    ]
    questions = synthetic.batch(SEARCHES, known)
    embedder = FixedEmbedder(questions)
    started = time.perf_counter()  # the search index's first fill, beside the window index
    search_matches(sessions, embedder, "q", MatchFilter(), 20, 0.25, approximate_above)
    search_startup_s = time.perf_counter() - started
    latencies, answers = [], []
    for _ in range(SEARCHES):
        started = time.perf_counter()
        items = search_matches(sessions, embedder, "q", MatchFilter(), 20, 0.25, approximate_above)
        latencies.append((time.perf_counter() - started) * 1000)
        answers.append({int(item["article_id"]) for item in items})
    peak = peak_rss_mib()
    index.save(persist_dir)
    del index
    started = time.perf_counter()
    restored = load_index(persist_dir, MODEL, approximate_above=approximate_above)
    assert restored is not None
    with sessions() as session:
        restored.refresh_from(session, since)
    restart_s = time.perf_counter() - started
    agree = total = 0
    agreements.append((extra, extra_decisions, next_id))
    for queries, decisions, first_id in [*agreements[:2], agreements[-1]]:
        reference = exact_decisions(sessions, queries, since, first_id)
        agree += sum(a == b for a, b in zip(decisions, reference, strict=True))
        total += len(decisions)
    embedder.asked = 0  # the questions in the order they were asked (the warm-up was first)
    checked = [embedder.embed(["q"])[0] for _ in range(SEARCH_CHECKED + 1)][1:]
    expected = exact_search(sessions, np.vstack(checked), 20, 0.25)
    search_found = sum(len(a & e) for a, e in zip(answers, expected, strict=False))
    engine.dispose()
    return {
        "search_recall": search_found / max(1, sum(len(e) for e in expected)),
        "startup_s": startup_s,
        "restart_persisted_s": restart_s,
        "assign_ms_per_article_p50": float(np.median(per_article)),
        "assign_ms_per_article_max": float(np.max(per_article)),
        "agreement": agree / total,
        "agreement_articles": total,
        "search_p50_ms": float(np.percentile(latencies, 50)),
        "search_p99_ms": float(np.percentile(latencies, 99)),
        "peak_rss_mib": peak,
        "indexed": float(len(restored)),
        "search_startup_s": search_startup_s,
        "mode": restored.mode,
    }


def fresh_database(admin_url: str | None, workdir: Path, size: int) -> tuple[str, str | None]:
    """A new database URL for one size (SQLite file, or a new PostgreSQL database)."""
    if admin_url is None:
        return f"sqlite:///{workdir / f'scale-{size}.db'}", None
    name = f"monitor_scale_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name, name


def drop_database(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def child(*args: str) -> str:
    return subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    ).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--database-url", help="PostgreSQL admin URL (default: SQLite)")
    parser.add_argument("--build", nargs=2, metavar=("URL", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--serve", nargs=3, metavar=("URL", "SIZE", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--approximate-above",
        type=int,
        default=DEFAULT_APPROXIMATE_ABOVE,
        help="rows above which the index is approximate (the [stories] setting)",
    )
    parser.add_argument(
        "--agreement-queries",
        type=int,
        default=4096,
        help="articles checked against the exact scan besides two batches' (512)",
    )
    parser.add_argument(
        "--keep-dir",
        help="SQLite only: keep each size's database here and reuse it on the next run "
        "(the serving child still adds its batches to it)",
    )
    parser.add_argument("--build-only", action="store_true", help="fill the databases, no more")
    args = parser.parse_args()
    if args.build:
        build(args.build[0], int(args.build[1]))
        return
    if args.serve:
        url, size, folder = args.serve[0], int(args.serve[1]), Path(args.serve[2])
        figures = serve(url, size, folder, args.approximate_above, args.agreement_queries)
        print(json.dumps(figures))
        return
    backend = "postgresql" if args.database_url else "sqlite"
    print(
        f"# {platform.platform()}, {os.cpu_count()} CPUs, python {platform.python_version()}, "
        f"numpy {np.__version__}, {backend}, {DIM} dims, batches of {BATCH}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            kept = args.keep_dir and not args.database_url
            workdir = Path(args.keep_dir) if kept else Path(tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            url, name = fresh_database(args.database_url, workdir, size)
            built_marker = workdir / f"scale-{size}.built"
            try:
                started = time.perf_counter()
                if not (kept and built_marker.exists()):
                    if kept:
                        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
                    child("--build", url, str(size))
                    if kept:
                        built_marker.touch()
                built_s = time.perf_counter() - started
                if args.build_only:
                    print(f"{backend} {size:,} built in {built_s:.0f} s", flush=True)
                    continue
                if kept:  # the service adds its batches: to a copy, so the kept one is reused
                    copy = Path(tmp) / f"scale-{size}.db"
                    shutil.copyfile(url.removeprefix("sqlite:///"), copy)
                    url = f"sqlite:///{copy}"
                load_before = os.getloadavg()[0]
                figures = json.loads(
                    child(
                        "--serve",
                        url,
                        str(size),
                        str(Path(tmp) / f"ix{size}"),
                        "--approximate-above",
                        str(args.approximate_above),
                        "--agreement-queries",
                        str(args.agreement_queries),
                    )
                )
                load_after = os.getloadavg()[0]
            finally:
                if name and args.database_url:
                    drop_database(args.database_url, name)
            print(
                f"{backend} {size:>9,} window articles (built in {built_s:.0f} s): "
                f"start-up {figures['startup_s']:.2f} s, from persisted "
                f"{figures['restart_persisted_s']:.2f} s; assignment "
                f"{figures['assign_ms_per_article_p50']:.3f} ms/article (worst batch "
                f"{figures['assign_ms_per_article_max']:.3f}); agreement "
                f"{figures['agreement']:.4f} of {figures['agreement_articles']:.0f}; search p50 "
                f"{figures['search_p50_ms']:.1f} ms p99 {figures['search_p99_ms']:.1f} ms, recall@20 "
                f"{figures['search_recall']:.4f} (its index "
                f"filled in {figures['search_startup_s']:.1f} s); "
                f"peak RSS {figures['peak_rss_mib']:.0f} MiB; {figures['mode']} index; "
                f"load average {load_before:.1f} → {load_after:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
