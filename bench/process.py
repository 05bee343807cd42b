"""Processing-stage benchmark on N generated articles in a fresh SQLite database: the raw
encoder's texts/s beside the whole stage's articles/s (embed + story + relevance + store), the
share of the stage spent in the encoder, and peak memory.

    .venv/bin/python bench/process.py [--articles 2000] [--model use-multilingual-v3]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from monitor.config import Settings
from monitor.normalize import content_fingerprint
from monitor.runtime import build_processor
from monitor.storage import migrate
from monitor.storage.articles import insert_articles
from monitor.storage.engine import open_engine
from monitor.storage.feeds import add_feeds, list_feeds
from monitor.tagging import embedding_text
from monitor.values import FeedSpec, ParsedEntry

SUBJECTS = [
    "Russia",
    "Putin",
    "Lavrov",
    "Brazil",
    "Lula",
    "Venezuela",
    "Maduro",
    "Cuba",
    "Mexico",
    "Argentina",
    "Chile",
    "Germany",
    "Japan",
    "the central bank",
    "the union",
    "scientists",
]
VERBS = ["signs", "discusses", "rejects", "announces", "welcomes", "criticises", "plans", "expands"]
OBJECTS = [
    "an energy agreement",
    "new oil supplies",
    "military cooperation",
    "a trade deal",
    "grain exports",
    "a vaccine plant",
    "the BRICS summit agenda",
    "railway investment",
    "a football friendly",
    "interest rates",
    "a climate report",
    "school reforms",
]


class TimedEmbedder:
    """Wraps the real encoder to measure the time the stage spends inside it."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.seconds = 0.0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def embed(self, texts):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return self.inner.embed(texts)  # type: ignore[attr-defined]
        finally:
            self.seconds += time.perf_counter() - started


def generate(count: int, seed: int = 7) -> list[ParsedEntry]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    entries = []
    for n in range(count):
        subject, verb, thing, partner = (
            rng.choice(x) for x in (SUBJECTS, VERBS, OBJECTS, SUBJECTS)
        )
        title = f"{subject} {verb} {thing} with {partner}"
        summary = " ".join(
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}." for _ in range(3)
        )
        title = f"{title} ({n})"
        entries.append(
            ParsedEntry(
                f"g{n}",
                f"https://bench.example/{n}",
                title,
                summary,
                "en",
                now,
                (),
                content_fingerprint(title, summary),
            )
        )
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--model", default="use-multilingual-v3")
    args = parser.parse_args()
    entries = generate(args.articles)

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database={"url": f"sqlite:///{Path(tmp) / 'bench.db'}"},
            embedding={"model": args.model, "cache_dir": str(Path(tmp) / "cache")},
        )
        engine = open_engine(settings.database)
        migrate.upgrade(engine)
        sessions = sessionmaker(engine, expire_on_commit=False)
        processor = build_processor(settings, sessions)
        texts = [embedding_text(e.title, e.summary) for e in entries]

        processor.tagger.embedder.embed(texts[:64])  # warm-up
        started = time.perf_counter()
        processor.tagger.embedder.embed(texts)
        encoder_s = time.perf_counter() - started

        with sessions.begin() as session:
            add_feeds(session, [FeedSpec("https://bench.example/rss")], 900, datetime.now(UTC))
            feed_id = list_feeds(session)[0].id
            insert_articles(session, feed_id, entries, datetime.now(UTC))
        timed = TimedEmbedder(processor.tagger.embedder)
        processor.tagger = replace(processor.tagger, embedder=timed)  # type: ignore[arg-type]
        started = time.perf_counter()
        summary = processor.process_pending()
        stage_s = time.perf_counter() - started
        engine.dispose()

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"model: {args.model}; {args.articles} generated articles (title + 3-sentence summary)")
    print(f"raw encoder     : {args.articles / encoder_s:8.1f} texts/s    ({encoder_s:.2f} s)")
    print(
        f"processing stage: {summary.articles / stage_s:8.1f} articles/s ({stage_s:.2f} s: "
        f"embed + event/thread + relevance + store; {summary.new_stories} events, "
        f"{summary.relevant} relevant)"
    )
    print(f"time in encoder : {timed.seconds / stage_s:.0%} of the stage ({timed.seconds:.2f} s)")
    ratio = (summary.articles / stage_s) / (args.articles / encoder_s)
    print(f"stage / encoder : {ratio:.0%} of the raw encoder's throughput (keep >= 75 %)")
    print(f"peak RSS        : {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
