"""The processing stage: new articles → batch embed → event and thread → relevance → stored
matches and alerts.
Also re-scoring stored articles from their stored vectors after seeds, gazetteer or weights
change."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.outbox import feed_urls, raise_alerts
from monitor.alerts.planning import MatchForAlerts
from monitor.config import AlertSettings, StorySettings
from monitor.events import StoryModels, cosine_only_models
from monitor.relevance import Relevance
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
from monitor.tagging import Tagger
from monitor.values import MatchRecord, PendingArticle, ProcessedArticle, ProcessSummary
from monitor.vectors import Vectors, decode_vector, encode_vector

BATCH_ARTICLES = 256
Progress = Callable[[int, int], None]  # done, total


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


def stored_form(vectors: Vectors) -> tuple[list[bytes], Vectors]:
    """The bytes to store and the vectors as they will read back (float16 round trip)."""
    blobs = [encode_vector(row) for row in vectors]
    return blobs, np.vstack([decode_vector(b) for b in blobs]) if blobs else vectors


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
        """Load the window index now (else the first batch does)."""
        self.window.open(self.sessions, self.clock())

    def save_window(self) -> bool:
        """Save the window index for the next start (when a folder is configured)."""
        return self.window.save()

    def story_models(self) -> StoryModels:
        settings = self.settings
        return self.models or cosine_only_models(
            settings.same_story_threshold, settings.event_window_h, settings.window_days * 24.0
        )

    def process_pending(self) -> ProcessSummary:
        """Claim and process unprocessed articles, batch by batch, until none is left (or
        `stopping` is set)."""
        total = ProcessSummary()
        while not self.stopping.is_set():
            with self.sessions.begin() as session:
                pending = claim_pending_articles(
                    session,
                    self.clock(),
                    self.owner,
                    self.settings.processing_lease_s,
                    BATCH_ARTICLES,
                )
            if not pending:
                return total
            batch = self.process_batch(pending)
            total = ProcessSummary(
                *(a + b for a, b in zip(vars_of(total), vars_of(batch), strict=True))
            )
        return total

    def process_batch(self, pending: Sequence[PendingArticle]) -> ProcessSummary:
        """Encode and tag outside any transaction; then, in one transaction holding the story
        lock, bring the window index up to date, read the window articles nearest the batch,
        assign events and threads, store everything and raise the alerts."""
        items = [(a.title, a.summary) for a in pending]
        blobs, vectors = stored_form(self.tagger.embed_items(items))
        nearest = self.tagger.seeds.nearest(vectors)
        relevances = self.tagger.assess_all(items, nearest)
        version = self.tagger.version
        now = self.clock()
        self.window.open(self.sessions, now)
        with self.sessions.begin() as session:
            lock_story_assignment(session)
            decisions = assign_events(
                [batch_article(a) for a in pending],
                vectors,
                self.window.candidates(session, vectors, now),
                nearest,
                self.story_models(),
                self.settings.seed_duplicate_threshold,
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
                    pending, blobs, decisions, relevances, strict=True
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


def vars_of(summary: ProcessSummary) -> tuple[int, ...]:
    return tuple(astuple(summary))
