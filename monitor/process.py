"""The processing stage: new articles → batch embed → event and thread → relevance → stored
matches and alerts.
Also re-scoring stored articles from their stored vectors after seeds, gazetteer or weights
change."""

from __future__ import annotations

import json
import logging
import sys
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import astuple, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.outbox import feed_urls, raise_alerts
from monitor.alerts.planning import MatchForAlerts
from monitor.collector import YOUNG_COLLECTION_OBJECTS, young_collections_every
from monitor.config import AlertSettings, StorySettings
from monitor.embed import Embedder
from monitor.encoder_process import EncoderProcessError, ProcessEncoder
from monitor.events import Evidence, StoryModels, cosine_only_models
from monitor.relevance import NearestSeed, Relevance
from monitor.storage.claims import held_articles, release_articles
from monitor.storage.events import threads_of
from monitor.storage.stories import (
    claim_pending_articles,
    count_stored_vectors,
    lock_story_assignment,
    save_processed,
    select_stored_vectors,
    upsert_matches,
)
from monitor.stories import BatchArticle, assign_events
from monitor.story_window import StoryWindow
from monitor.tagging import Tagger, embedding_text
from monitor.values import MatchRecord, PendingArticle, ProcessedArticle, ProcessSummary
from monitor.vectors import Vectors, decode_vector
from monitor.window_index import one_blas_thread

log = logging.getLogger(__name__)

BATCH_ARTICLES = 256
# Pipelined, two batches are queued for the encoder while one is finished here: the encoder
# processes start the next the moment they end one, instead of waiting for this thread to claim
# it. And this process lets its threads take turns every half millisecond instead of five, so
# that the thread handing the encoder processes their work gets the interpreter soon after
# they answer. With the encoder's parts handed out as its processes answer
# (monitor.encoder_process), 2,000 articles into a 100k window on 2 cores: stage 2.49 → 2.36 s
# (medians of 9 and 6 interleaved runs of bench/process.py --window 100000), 2.56 → 2.52 s
# (means of 4 interleaved pairs an hour later); then with the queued batches' parts going out
# behind the current one's, 1.12x → 1.09x the CPU floor (2.68 → 2.62 s, four pairs): small
# gains, the machine's drift is larger.
BATCHES_AHEAD = 2
SWITCH_INTERVAL_S = 0.0005
Progress = Callable[[int, int], None]  # done, total


@contextmanager
def switch_interval(seconds: float) -> Iterator[None]:
    """Threads of this process take turns every `seconds` (sys.setswitchinterval) meanwhile."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def match_record(article_id: int, relevance: Relevance, scorer_version: str) -> MatchRecord:
    return MatchRecord(
        article_id=article_id,
        relevant=relevance.relevant,
        score=relevance.score,
        countries=relevance.countries,
        topics=relevance.topics,
        reasons=json.dumps(relevance.reasons, ensure_ascii=False, sort_keys=True),
        scorer_version=scorer_version,
    )


def batch_texts(pending: Sequence[PendingArticle]) -> list[str]:
    """What is encoded for each article of a batch."""
    return [embedding_text(a.title, a.summary) for a in pending]


def stored_form(vectors: Vectors) -> tuple[list[bytes], Vectors]:
    """The bytes to store (encode_vector's form) and the vectors as they will read back
    (decode_vector's float16 round trip), converted once for the whole batch."""
    halves = np.asarray(vectors, dtype="<f2")
    return [row.tobytes() for row in halves], halves.astype(np.float32)


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """A claimed batch with what was computed for it before the story lock."""

    pending: tuple[PendingArticle, ...]
    blobs: list[bytes]
    vectors: Vectors
    nearest: list[NearestSeed | None]
    evidence: list[Evidence]

    def subset(self, keep: Sequence[int]) -> EncodedBatch:
        """Only the articles at these positions."""
        return EncodedBatch(
            tuple(self.pending[n] for n in keep),
            [self.blobs[n] for n in keep],
            self.vectors[list(keep)],
            [self.nearest[n] for n in keep],
            [self.evidence[n] for n in keep],
        )


@dataclass
class Processor:
    sessions: sessionmaker[Session]
    tagger: Tagger
    settings: StorySettings
    clock: Callable[[], datetime]
    alerts: AlertSettings = field(default_factory=AlertSettings)
    owner: str = field(default_factory=lambda: f"processor-{uuid.uuid4().hex[:12]}")
    # Set when the process stops: the batch in hand is finished, no further one is claimed.
    stopping: threading.Event = field(default_factory=threading.Event)
    # The same-event and same-thread weights (None: the cosine at same_story_threshold).
    models: StoryModels | None = None
    # Where the window index is saved between runs (None: rebuilt from the database each start).
    index_dir: Path | None = None
    # Claim and encode the next batch on a thread while one is assigned and stored. Off by
    # default: on 2 shared cores the encoder's two BLAS threads and this thread's Python
    # slowed each other as much as they overlapped (bench/process.py --pipeline).
    pipeline: bool = False
    # Where batches are encoded (None: the tagger's embedder, in this process). A
    # ProcessEncoder runs in child processes, beside this process's Python: with `pipeline`,
    # batch k is tagged, assigned and stored while the children encode batch k + 1.
    encoder: Embedder | None = None
    # With `pipeline`: batches claimed and queued for the encoder ahead of the one in hand.
    batches_ahead: int = BATCHES_AHEAD
    window: StoryWindow = field(init=False)

    def __post_init__(self) -> None:
        settings, model_id = self.settings, self.tagger.embedder.model_id
        self.window = StoryWindow(
            model_id,
            settings.window_days,
            self.index_dir,
            approximate_above=settings.approximate_above,
        )

    def open_window(self) -> None:
        """Load the window index now, with the evidence of its newest articles, as a service
        warming up does (else the first batch loads the index alone)."""
        self.window.open(self.sessions, self.clock(), warm=True)

    def save_window(self) -> bool:
        """Save the window index for the next start (when a folder is configured)."""
        return self.window.save()

    def start_encoder(self) -> None:
        """Start the encoder's child processes now, if it has any (else the first batch does)."""
        if isinstance(self.encoder, ProcessEncoder):
            self.encoder.start()

    def close(self) -> None:
        """Stop the encoder's child processes, if it has any."""
        if isinstance(self.encoder, ProcessEncoder):
            self.encoder.close()

    def story_models(self) -> StoryModels:
        settings = self.settings
        return self.models or cosine_only_models(
            settings.same_story_threshold, settings.event_window_h, settings.window_days * 24.0
        )

    def process_pending(self) -> ProcessSummary:
        """Claim and process unprocessed articles, batch by batch, until none is left (or
        `stopping` is set).

        With `pipeline`: while one batch is tagged, assigned and stored on this thread, the next
        `batches_ahead` are already claimed and queued for the encoder on another (the
        encoder's matrix products release the GIL). Batches claimed ahead but not started when
        the run ends (stopping, an error) are released at once (one being encoded once its
        encoding ends); if the process dies instead, their lease runs out. A batch whose
        encoder process failed (EncoderProcessError, raised) is released at once too. Only the
        encoding is on the other thread; the rest of a batch's work is done on this one.
        Nothing is stored for an
        article whose claim another worker has taken over meanwhile.

        With an encoder in child processes, this process's BLAS runs on one thread meanwhile
        (OpenBLAS's idle threads spin: beside the children they took 1.3 CPU-s of 3.6 per 2000
        articles, bench/process.py). The garbage collector looks at young objects less often
        meanwhile (monitor.collector)."""
        with young_collections_every(YOUNG_COLLECTION_OBJECTS):
            if isinstance(self.encoder, ProcessEncoder):
                with one_blas_thread(), switch_interval(SWITCH_INTERVAL_S):
                    return self.run_batches()
            return self.run_batches()

    def run_batches(self) -> ProcessSummary:
        total = ProcessSummary()
        if not self.pipeline:
            while not self.stopping.is_set() and (pending := self.claim_batch()):
                total = add_summaries(total, self.process_batch(pending))
            return total
        with ThreadPoolExecutor(1, thread_name_prefix="encoder") as encoder:
            ahead: deque[tuple[list[PendingArticle], Future[Vectors]]] = deque()
            try:
                self.claim_ahead(encoder, ahead)
                while ahead:
                    if self.stopping.is_set():  # claimed ahead, not started: give them back
                        break
                    pending, encoding = ahead[0]
                    vectors = encoding.result()  # a failure: given back below with the rest
                    ahead.popleft()
                    self.claim_ahead(encoder, ahead)  # the encoder kept busy meanwhile
                    encoded = self.with_vectors(pending, vectors)
                    total = add_summaries(total, self.finish_batch(encoded))
            finally:
                for pending, encoding in ahead:
                    encoding.cancel()
                    wait([encoding])
                    self.release(pending)
        return total

    def claim_ahead(
        self,
        encoder: ThreadPoolExecutor,
        ahead: deque[tuple[list[PendingArticle], Future[Vectors]]],
    ) -> None:
        """Claim batches and queue them for the encoder until `batches_ahead` are claimed
        ahead, or nothing is pending (or `stopping` is set). Encoder processes take the queued
        batches' texts themselves; an encoder in this process encodes them on `encoder`."""
        while len(ahead) < self.batches_ahead and not self.stopping.is_set():
            if not (pending := self.claim_batch()):
                return
            texts = batch_texts(pending)
            if isinstance(self.encoder, ProcessEncoder):
                try:
                    encoding = self.encoder.submit(texts)
                except EncoderProcessError:  # the children could not start
                    self.release(pending)
                    raise
            else:
                encoding = encoder.submit(self.batch_encoder.embed, texts)
            ahead.append((pending, encoding))

    def claim_batch(self) -> list[PendingArticle]:
        """Claim up to BATCH_ARTICLES unprocessed articles for this processor (empty: none)."""
        with self.sessions.begin() as session:
            return claim_pending_articles(
                session,
                self.clock(),
                self.owner,
                self.settings.processing_lease_s,
                BATCH_ARTICLES,
            )

    def release(self, pending: Sequence[PendingArticle]) -> None:
        """Give back the claims of a batch that will not be processed (best effort: if that
        fails, the lease runs out)."""
        try:
            with self.sessions.begin() as session:
                release_articles(session, [a.id for a in pending], self.owner)
        except Exception:  # the error in hand, if any, matters more
            log.warning("claims not released; they expire", extra={"articles": len(pending)})

    def process_batch(self, pending: Sequence[PendingArticle]) -> ProcessSummary:
        """Process one claimed batch (encode, then finish_batch)."""
        return self.finish_batch(self.encode_batch(pending))

    def encode_batch(self, pending: Sequence[PendingArticle]) -> EncodedBatch:
        """What needs no lock and no database (embed_batch, then with_vectors)."""
        return self.with_vectors(pending, self.embed_batch(pending))

    @property
    def batch_encoder(self) -> Embedder:
        """What encodes the batches: the encoder processes if any, else the tagger's own."""
        return self.encoder or self.tagger.embedder

    def embed_batch(self, pending: Sequence[PendingArticle]) -> Vectors:
        """The batch's vectors from the encoder. If the encoder's process fails, the batch is
        given back first (not the articles' fault: the next run takes them again at once)."""
        try:
            return self.batch_encoder.embed(batch_texts(pending))
        except EncoderProcessError:
            self.release(pending)
            raise

    def with_vectors(self, pending: Sequence[PendingArticle], vectors: Vectors) -> EncodedBatch:
        """The vectors as they will be stored, the nearest seeds and the articles' evidence
        (kept in the window's cache, where later batches find these articles as candidates)."""
        items = [(a.title, a.summary) for a in pending]
        blobs, vectors = stored_form(vectors)
        nearest = self.tagger.seeds.nearest(vectors)
        evidence = self.window.evidence.of([a.id for a in pending], items)
        return EncodedBatch(tuple(pending), blobs, vectors, nearest, evidence)

    def finish_batch(self, encoded: EncodedBatch) -> ProcessSummary:
        """Tag outside any transaction; then, in one transaction holding the story lock, keep
        the articles still claimed by this processor, bring the window index up to date, read
        the window articles nearest the batch, assign events and threads, store everything
        and raise the alerts."""
        relevances = self.tagger.assess_all(
            [(a.title, a.summary) for a in encoded.pending], encoded.nearest
        )
        version = self.tagger.version
        now = self.clock()
        self.window.open(self.sessions, now)
        with self.sessions.begin() as session:
            lock_story_assignment(session)
            held = held_articles(session, [a.id for a in encoded.pending], self.owner)
            keep = [n for n, a in enumerate(encoded.pending) if a.id in held]
            if len(keep) < len(encoded.pending):
                log.warning(
                    "articles taken over by another worker; skipped",
                    extra={"articles": len(encoded.pending) - len(keep)},
                )
                encoded, relevances = encoded.subset(keep), [relevances[n] for n in keep]
            if not encoded.pending:
                return ProcessSummary()
            pending, vectors = encoded.pending, encoded.vectors
            decisions = assign_events(
                [batch_article(a) for a in pending],
                vectors,
                self.window.candidates(session, vectors, now),
                encoded.nearest,
                self.story_models(),
                self.settings.seed_duplicate_threshold,
                encoded.evidence,
            )
            processed = [
                ProcessedArticle(
                    article,
                    blob,
                    self.tagger.embedder.model_id,
                    decision.story_id,
                    decision.seed_duplicate,
                    match_record(article.id, relevance, version),
                    decision.thread_id,
                )
                for article, blob, decision, relevance in zip(
                    pending, encoded.blobs, decisions, relevances, strict=True
                )
            ]
            real_ids = save_processed(session, processed, now)
            alerts = raise_alerts(
                session, self.alert_matches(session, processed, real_ids), self.alerts, now
            )
        return ProcessSummary(
            articles=len(pending),
            new_stories=sum(d.starts_story for d in decisions),
            joined_stories=sum(not d.starts_story for d in decisions),
            seed_duplicates=sum(d.seed_duplicate is not None for d in decisions),
            relevant=sum(r.relevant for r in relevances),
            alerts=alerts,
        )

    def alert_matches(
        self, session: Session, processed: Sequence[ProcessedArticle], real_ids: dict[int, int]
    ) -> list[MatchForAlerts]:
        """The batch's matches as alert rules see them (real event and thread ids, feed URLs)."""
        urls = feed_urls(session, sorted({p.article.feed_id for p in processed}))
        threads = threads_of(
            session, sorted({real_ids.get(p.story_id, p.story_id) for p in processed})
        )
        return [
            MatchForAlerts(
                p.article.id,
                real_ids.get(p.story_id, p.story_id),
                p.article.feed_id,
                urls.get(p.article.feed_id, ""),
                p.match.score,
                p.match.countries,
                p.match.topics,
                threads.get(real_ids.get(p.story_id, p.story_id), 0),
            )
            for p in processed
        ]

    def rescore(self, since: datetime | None, on_progress: Progress | None = None) -> int:
        """Recompute every stored match (since `since`) from stored vectors; returns the count."""
        model_id = self.tagger.embedder.model_id
        with self.sessions.begin() as session:
            total = count_stored_vectors(session, model_id, since)
        done, after_id, version = 0, 0, self.tagger.version
        while True:
            with self.sessions.begin() as session:
                rows = select_stored_vectors(session, model_id, since, after_id, BATCH_ARTICLES)
            if not rows:
                return done
            vectors = np.vstack([decode_vector(r.vector) for r in rows])
            items = [(r.title, r.summary) for r in rows]
            relevances = self.tagger.assess_all(items, self.tagger.seeds.nearest(vectors))
            now = self.clock()
            with self.sessions.begin() as session:
                upsert_matches(
                    session,
                    [
                        (match_record(r.article_id, rel, version), r.story_id)
                        for r, rel in zip(rows, relevances, strict=True)
                    ],
                    now,
                )
            done += len(rows)
            after_id = rows[-1].article_id
            if on_progress:
                on_progress(done, total)


def batch_article(article: PendingArticle) -> BatchArticle:
    """The article as assignment reads it; its time is when it was published (never later
    than first seen)."""
    published = article.published_at
    when = min(published, article.first_seen_at) if published else article.first_seen_at
    return BatchArticle(article.id, article.title, article.summary, when)


def add_summaries(a: ProcessSummary, b: ProcessSummary) -> ProcessSummary:
    return ProcessSummary(*(x + y for x, y in zip(astuple(a), astuple(b), strict=True)))
