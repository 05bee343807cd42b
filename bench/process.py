"""Processing-stage benchmark on N generated articles in a fresh SQLite database: the raw
encoder's texts/s beside the whole stage's articles/s (embed + story + relevance + store), in
the same run, the share of the stage spent in the encoder, and peak memory.

    .venv/bin/python bench/process.py [--articles 2000] [--model use-multilingual-v3]
        [--window 100000] [--profile 25] [--pipeline]

`--window N` first stores N window articles as the stage leaves them (vector, event, thread,
match), spread over the last 7 days: clustered synthetic unit vectors, events of geometric
size (mean 5) around a centre; a quarter of the centres are the encoder's vectors of other
generated articles, so the new articles find candidates among them. The window index is loaded
before the clock starts (a service does it while warming up); its load time is printed apart.
`--pipeline` claims and encodes the next batch on a thread while one is assigned and stored.
`--profile K` runs the stage under cProfile and prints the K functions with the most own time.
The CPU floor printed is the stage's CPU time (this process and the encoder processes) over the
cores: no schedule of this work is shorter, so a stage far above it idles somewhere.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import random
import resource
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import EmbeddingSettings, Settings
from monitor.embed import Embedder
from monitor.encoder_process import ProcessEncoder
from monitor.normalize import content_fingerprint
from monitor.runtime import build_processor
from monitor.storage import migrate
from monitor.storage.articles import insert_articles
from monitor.storage.engine import open_engine
from monitor.storage.feeds import add_feeds, list_feeds
from monitor.storage.schema import Article, EventThread, Match, Story, Thread
from monitor.tagging import embedding_text
from monitor.values import FeedSpec, ParsedEntry
from monitor.vectors import Vectors

WINDOW_DAYS = 7
INSERT_ROWS = 10_000
REAL_CENTRES = 0.25  # share of the window's events centred on an encoder vector
T = TypeVar("T")

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


class TimedCalls:
    """Stands in for an encoder's `embed` and `submit` to measure the time the stage spends
    waiting on it: the wall time during which at least one call was outstanding (queued calls
    overlap, so their durations are merged, not added)."""

    def __init__(self, encoder: Embedder) -> None:
        self.embed_call = encoder.embed
        self.submit_call = getattr(encoder, "submit", None)
        self.intervals: list[tuple[float, float]] = []
        self.lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vectors:
        started = time.perf_counter()
        try:
            return self.embed_call(texts)
        finally:
            self.record(started)

    def submit(self, texts: Sequence[str]) -> Future[Vectors]:
        assert self.submit_call is not None
        started = time.perf_counter()
        future: Future[Vectors] = self.submit_call(texts)
        future.add_done_callback(lambda _: self.record(started))
        return future

    def record(self, started: float) -> None:
        with self.lock:
            self.intervals.append((started, time.perf_counter()))

    @property
    def seconds(self) -> float:
        busy, reach = 0.0, float("-inf")
        for start, end in sorted(self.intervals):
            if end > reach:
                busy += end - max(start, reach)
                reach = end
        return busy


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


def window_events(
    count: int, real_centres: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Each window article's event (0-based) and its vector as stored (float16): members are
    the event's centre plus noise (0.6–1.3 of its norm), so they meet at cosine 0.37–0.74 and
    strangers near 0. Made INSERT_ROWS at a time (a 100k window stays 100 MB)."""
    dim = real_centres.shape[1]
    sizes = rng.geometric(0.2, size=count)
    events = np.repeat(np.arange(count), sizes)[:count]
    centres = rng.standard_normal((int(events[-1]) + 1, dim)).astype(np.float32)
    real = rng.random(len(centres)) < REAL_CENTRES
    centres[real] = real_centres[rng.integers(0, len(real_centres), int(real.sum()))]
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    spread = rng.uniform(0.6, 1.3, len(centres)).astype(np.float32)
    blobs = np.empty((count, dim), dtype="<f2")
    for start in range(0, count, INSERT_ROWS):
        members = events[start : start + INSERT_ROWS]
        noise = rng.standard_normal((len(members), dim)).astype(np.float32) / np.sqrt(dim)
        vectors = centres[members] + spread[members, None] * noise
        blobs[start : start + len(members)] = vectors / np.linalg.norm(
            vectors, axis=1, keepdims=True
        )
    return events, blobs


def fill_window(
    sessions: sessionmaker[Session], feed_id: int, count: int, model_id: str, centres: np.ndarray
) -> None:
    """`count` window articles stored as the processing stage stores them, with their events,
    threads (one per event) and matches, first seen over the last WINDOW_DAYS days."""
    rng = np.random.default_rng(count)
    events, blobs = window_events(count, centres, rng)
    now = datetime.now(UTC).timestamp()
    span_s = WINDOW_DAYS * 86_400 - 3600
    seen = np.sort(now - span_s + rng.uniform(0, span_s, count))
    first_of = {  # each event's earliest article (reversed: the first time wins)
        int(e): datetime.fromtimestamp(float(t), UTC)
        for e, t in zip(events[::-1], seen[::-1], strict=True)
    }
    event_ids = sorted(first_of)
    with sessions.begin() as session:
        for start in range(0, len(event_ids), INSERT_ROWS):
            chunk = event_ids[start : start + INSERT_ROWS]
            groups = [
                {"id": e + 1, "title": f"event {e + 1}", "first_seen_at": first_of[e]}
                | {"last_seen_at": first_of[e], "article_count": 0, "outlets_count": 0}
                for e in chunk
            ]
            session.execute(insert(Story), [g | {"languages": "en"} for g in groups])
            session.execute(insert(Thread), [g | {"event_count": 1} for g in groups])
            session.execute(
                insert(EventThread), [{"story_id": e + 1, "thread_id": e + 1} for e in chunk]
            )
    for start in range(0, count, INSERT_ROWS):
        rows = range(start, min(count, start + INSERT_ROWS))
        when = [datetime.fromtimestamp(float(seen[n]), UTC) for n in rows]
        with sessions.begin() as session:
            session.execute(
                insert(Article),
                [
                    {
                        "id": n + 1,
                        "feed_id": feed_id,
                        "guid": f"w{n}",
                        "url": f"https://window.example/{n}",
                        "title": f"Window article {n} about event {int(events[n]) + 1}",
                        "summary": "",
                        "language": "en",
                        "authors": "",
                        "published_at": t,
                        "first_seen_at": t,
                        "processed_at": t,
                        "story_id": int(events[n]) + 1,
                        "embedding": blobs[n].tobytes(),
                        "embedding_model": model_id,
                    }
                    for n, t in zip(rows, when, strict=True)
                ],
            )
            session.execute(
                insert(Match),
                [
                    {
                        "article_id": n + 1,
                        "story_id": int(events[n]) + 1,
                        "relevant": False,
                        "score": 0.1,
                        "countries": "[]",
                        "topics": "[]",
                        "reasons": "{}",
                        "scorer_version": "bench",
                        "created_at": t,
                        "updated_at": t,
                    }
                    for n, t in zip(rows, when, strict=True)
                ],
            )


def rates(count: int, runs: list[float]) -> str:
    return " and ".join(f"{count / r:.1f}" for r in runs)


def children_peak_mb(encoder: ProcessEncoder) -> list[float]:
    """Each encoder process's peak resident memory (Linux: VmHWM)."""
    peaks = []
    for child in encoder.children:
        if child is not None:
            status = Path(f"/proc/{child.process.pid}/status").read_text()
            line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
            peaks.append(int(line.split()[1]) / 1024)
    return peaks


def children_cpu_s(encoder: ProcessEncoder | None) -> float:
    """The encoder processes' CPU seconds so far (Linux: utime + stime)."""
    ticks = 0
    for child in encoder.children if encoder is not None else ():
        if child is not None:
            fields = Path(f"/proc/{child.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def seconds_to_embed(embedder: Embedder, texts: list[str]) -> float:
    started = time.perf_counter()
    embedder.embed(texts)
    return time.perf_counter() - started


# The stage's parts, as (file name ending, function) for the profile's summary.
PHASES = [
    ("monitor/storage/stories.py", "claim_pending_articles"),
    ("monitor/tagging.py", "embed_items"),
    ("monitor/tagging.py", "nearest"),
    ("monitor/tagging.py", "assess_all"),
    ("monitor/story_window.py", "open"),
    ("monitor/story_window.py", "candidates"),
    ("monitor/stories.py", "assign_events"),
    ("monitor/storage/stories.py", "save_processed"),
    ("monitor/process.py", "alert_matches"),
    ("monitor/alerts/outbox.py", "raise_alerts"),
]


def profiled(run: Callable[[], T], top: int) -> tuple[T, str]:
    """Run under cProfile: the stage's parts by cumulative time, then the top functions by own
    time (the profiler slows Python code more than the encoder's numpy)."""
    profile = cProfile.Profile()
    result = profile.runcall(run)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    table: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = stats.stats  # type: ignore[attr-defined]
    total = max(ct for _, _, _, ct, _ in table.values())
    out.write("the stage's parts (cumulative seconds under the profiler):\n")
    for ending, name in PHASES:
        seconds = sum(v[3] for k, v in table.items() if k[0].endswith(ending) and k[2] == name)
        out.write(f"  {name:24} {seconds:7.2f} s  {seconds / total:6.1%}\n")
    stats.sort_stats("tottime").print_stats(top)
    return result, out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--model", default="use-multilingual-v3")
    parser.add_argument("--window", type=int, default=0, help="window articles stored first")
    parser.add_argument("--profile", type=int, default=0, metavar="K", help="cProfile top K")
    parser.add_argument(
        "--processes",
        type=int,
        default=EmbeddingSettings().processes,
        help="encoder child processes (0: encode in the stage's process; default: the setting's)",
    )
    parser.add_argument(
        "--pipeline",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="encode the next batch meanwhile (default: with encoder processes)",
    )
    args = parser.parse_args()
    entries = generate(args.articles)

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database={"url": f"sqlite:///{Path(tmp) / 'bench.db'}"},
            embedding={
                "model": args.model,
                "cache_dir": str(Path(tmp) / "cache"),
                "processes": args.processes,
            },
            stories={"index_dir": ""},
        )
        engine = open_engine(settings.database)
        migrate.upgrade(engine)
        sessions = sessionmaker(engine, expire_on_commit=False)
        processor = build_processor(settings, sessions)
        texts = [embedding_text(e.title, e.summary) for e in entries]

        embedder = processor.tagger.embedder
        embedder.embed(texts[:64])  # warm-up
        encoder_runs = [seconds_to_embed(embedder, texts)]
        children = processor.encoder
        if children is not None:  # started and warmed before the clock, as a service does
            children.embed(texts[:64])
            children_runs = [seconds_to_embed(children, texts)]

        with sessions.begin() as session:
            add_feeds(session, [FeedSpec("https://bench.example/rss")], 900, datetime.now(UTC))
            feed_id = list_feeds(session)[0].id
        load_s = 0.0
        if args.window:
            others = generate(min(2000, args.window), seed=99)
            centres = processor.tagger.embedder.embed(
                [embedding_text(e.title, e.summary) for e in others]
            )
            fill_window(sessions, feed_id, args.window, processor.tagger.embedder.model_id, centres)
            started = time.perf_counter()
            processor.open_window()
            load_s = time.perf_counter() - started
        with sessions.begin() as session:
            insert_articles(session, feed_id, entries, datetime.now(UTC))
        if args.pipeline is not None:
            processor.pipeline = args.pipeline
        stage_encoder: Embedder = children or embedder
        timed = TimedCalls(stage_encoder)
        stage_encoder.embed = timed.embed  # type: ignore[method-assign]
        if isinstance(children, ProcessEncoder):
            children.submit = timed.submit  # type: ignore[method-assign]
        cpu = time.process_time(), children_cpu_s(children)
        started = time.perf_counter()
        if args.profile:
            summary, profile_text = profiled(processor.process_pending, args.profile)
        else:
            summary, profile_text = processor.process_pending(), ""
        stage_s = time.perf_counter() - started
        cpu = time.process_time() - cpu[0], children_cpu_s(children) - cpu[1]
        del stage_encoder.embed  # the methods again
        if isinstance(children, ProcessEncoder):
            del children.submit
        encoder_runs.append(seconds_to_embed(embedder, texts))
        encoder_s = min(encoder_runs)
        if children is not None:
            children_runs.append(seconds_to_embed(children, texts))
            children_mb = children_peak_mb(children)
        processor.close()
        window = processor.window
        indexed = len(window.index) if window.index is not None else 0
        engine.dispose()

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = os.getloadavg()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        f", load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    encoding = (
        f"{args.processes} encoder processes of one BLAS thread"
        if children is not None
        else f"encoder in the stage's process, {settings.embedding.threads} BLAS threads"
    )
    print(
        f"model: {args.model}; {args.articles} generated articles (title + 3-sentence summary); "
        f"stage {'pipelined' if processor.pipeline else 'one batch at a time'}, {encoding}"
    )
    if args.window:
        print(
            f"window          : {args.window} stored articles; index loaded in {load_s:.2f} s, "
            f"{indexed} indexed after the run; {window.full_reads} batches read the whole window"
        )
    print(
        f"raw encoder     : {args.articles / encoder_s:8.1f} texts/s    ({encoder_s:.2f} s; in "
        f"this process, {settings.embedding.threads} BLAS threads, as configured; the faster of "
        f"a run before and one after the stage: {rates(args.articles, encoder_runs)})"
    )
    if children is not None:
        print(
            f"raw children    : {args.articles / min(children_runs):8.1f} texts/s    "
            f"({min(children_runs):.2f} s; the stage's encoder processes alone, the whole list in "
            f"one call, before and after: {rates(args.articles, children_runs)})"
        )
    print(
        f"processing stage: {summary.articles / stage_s:8.1f} articles/s ({stage_s:.2f} s: "
        f"embed + event/thread + relevance + store; {summary.new_stories} new events, "
        f"{summary.joined_stories} joined, {summary.relevant} relevant)"
    )
    print(
        f"time in encoder : {timed.seconds / stage_s:.0%} of the stage ({timed.seconds:.2f} s with "
        "an encoder call outstanding)"
    )
    print(
        f"stage CPU       : {cpu[0]:.2f} s in this process"
        + (f", {cpu[1]:.2f} s in the encoder processes" if children is not None else "")
    )
    cores = os.cpu_count() or 1
    floor_s = sum(cpu) / cores
    print(
        f"CPU floor       : {floor_s:.2f} s (the stage's CPU time over {cores} cores: no run of "
        f"this work can be shorter here); the stage took {stage_s / floor_s:.2f}x that"
    )
    ratio = (summary.articles / stage_s) / (args.articles / encoder_s)
    target = "0.85 at a 100k window" if args.window else "0.75 without a window"
    print(f"stage / encoder : {ratio:.2f} of the raw encoder's throughput (target >= {target})")
    if children is not None:
        own = min(children_runs) / stage_s
        print(f"stage / children: {own:.2f} of its encoder processes' throughput alone")
    print(
        f"stage / its own : {timed.seconds / stage_s:.2f} (the stage's throughput over that of the "
        "encoder calls inside it: the same ratio, less sensitive to a busy machine)"
    )
    print(
        f"peak RSS        : {peak_mb:.0f} MB"
        + (
            f" (this process; encoder processes {' + '.join(f'{m:.0f}' for m in children_mb)} MB)"
            if children is not None
            else ""
        )
    )
    if profile_text:
        print(profile_text)


if __name__ == "__main__":
    main()
