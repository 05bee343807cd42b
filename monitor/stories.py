"""Story assignment in two levels: pure decisions over vectors, times and texts (no I/O, no
clock).

An **event** groups the articles that report one news event; a **thread** links the events of
one developing story. A new article joins the event of the candidate it most probably shares an
event with (`monitor.events`: cosine, time gap, names and numbers; never further apart than the
event window); failing that it starts an event, inside the thread of the candidate it most
probably shares a thread with, or in a thread of its own. Candidates are the stored window's
articles *and* the batch's earlier articles, so two outlets' copies of one event that arrive in
the same cycle still end up together. A new event or thread gets a provisional negative id
(-1 - its first article's position) that storage replaces with the real one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np

from monitor.events import SameEventModel, StoryModels, gap_hours, same_event_probability
from monitor.relevance import NearestSeed
from monitor.story_evidence import Evidence, gather_evidence
from monitor.vectors import Vectors

# Only the most similar candidates are weighed by the full decision. Below the floor only a pair
# sharing nearly all its words could still reach a cut, and such a pair has a higher cosine.
CANDIDATES = 8
CANDIDATE_FLOOR = 0.3


@dataclass(frozen=True, slots=True)
class StoryDecision:
    story_id: int  # the event; negative: an event started in this batch (provisional id)
    starts_story: bool
    nearest_article_id: int | None
    similarity: float
    seed_duplicate: str | None
    thread_id: int = 0  # negative: a thread started in this batch (provisional id)
    starts_thread: bool = True


@dataclass(frozen=True, slots=True)
class BatchArticle:
    """What assignment reads of a new article besides its vector."""

    id: int
    title: str
    summary: str
    published_at: datetime | None


class VectorIndex(Protocol):
    """Recent articles' vectors, searchable by similarity, with their events and threads."""

    @property
    def article_ids(self) -> Sequence[int]: ...

    @property
    def story_ids(self) -> Sequence[int]: ...

    @property
    def thread_ids(self) -> Sequence[int]: ...

    def similarities(self, vectors: Vectors) -> Vectors:
        """Cosine of each query row with each indexed article: shape (queries, articles)."""
        ...

    def time_of(self, position: int) -> datetime | None: ...

    def evidence_of(self, position: int) -> Evidence: ...


@dataclass(frozen=True, slots=True)
class BruteForceIndex:
    """Exact search: one matrix product over the window (fine for tens of thousands).
    `story_ids` are the articles' events; `thread_ids`, `times` and `texts` (title, summary)
    may be left empty (each event its own thread, times and evidence unknown). `evidence`, if
    given, is each article's `gather_evidence(title, summary)` kept from an earlier batch (a
    long-lived window need not read every candidate's text again); else it is gathered from
    `texts` on first use."""

    article_ids: tuple[int, ...]
    story_ids: tuple[int, ...]
    vectors: Vectors
    thread_ids: tuple[int, ...] = ()
    times: tuple[datetime | None, ...] = ()
    texts: tuple[tuple[str, str], ...] = ()
    evidence: tuple[Evidence, ...] = ()
    _evidence: dict[int, Evidence] = field(default_factory=dict, compare=False, repr=False)

    def similarities(self, vectors: Vectors) -> Vectors:
        if not self.article_ids:
            return np.zeros((len(vectors), 0), dtype=np.float32)
        return vectors @ self.vectors.T

    def thread_of(self, position: int) -> int:
        return self.thread_ids[position] if self.thread_ids else self.story_ids[position]

    def time_of(self, position: int) -> datetime | None:
        return self.times[position] if self.times else None

    def evidence_of(self, position: int) -> Evidence:
        if self.evidence:
            return self.evidence[position]
        if position not in self._evidence:
            title, summary = self.texts[position] if self.texts else ("", "")
            self._evidence[position] = gather_evidence(title, summary)
        return self._evidence[position]


def is_same_story(similarity: float, threshold: float) -> bool:
    return similarity >= threshold


@dataclass(frozen=True, slots=True)
class Candidate:
    article_id: int
    event_id: int
    thread_id: int
    cosine: float
    time: datetime | None
    evidence: Evidence


def candidates_for(
    row: int,
    window: Vectors,
    within: Vectors,
    index: BruteForceIndex,
    batch: Sequence[BatchArticle],
    evidence: Sequence[Evidence],
    decisions: Sequence[StoryDecision],
) -> list[Candidate]:
    """The most similar window and earlier-batch articles above the floor, best first."""
    found: list[Candidate] = []
    if window.shape[1]:
        scores = window[row]
        for position in top_positions(scores):
            found.append(
                Candidate(
                    index.article_ids[position],
                    index.story_ids[position],
                    index.thread_of(position),
                    float(scores[position]),
                    index.time_of(position),
                    index.evidence_of(position),
                )
            )
    for earlier in top_positions(within[row, :row]):
        cosine = float(within[row, earlier])
        if cosine >= CANDIDATE_FLOOR:
            d = decisions[earlier]
            found.append(
                Candidate(
                    batch[earlier].id,
                    d.story_id,
                    d.thread_id,
                    cosine,
                    batch[earlier].published_at,
                    evidence[earlier],
                )
            )
    return sorted(found, key=lambda c: -c.cosine)[: CANDIDATES * 2]


def top_positions(scores: Vectors) -> list[int]:
    """Positions of the CANDIDATES highest scores at or above the floor, best first."""
    if len(scores) > CANDIDATES:
        top = np.argpartition(-scores, CANDIDATES)[:CANDIDATES]
    else:
        top = np.arange(len(scores))
    top = top[scores[top] >= CANDIDATE_FLOOR]
    return [int(p) for p in top[np.argsort(-scores[top])]]


def best_by(
    model: SameEventModel, article: BatchArticle, evidence: Evidence, found: Sequence[Candidate]
) -> Candidate | None:
    """The candidate most probably at `model`'s level with the article, if it reaches the cut."""
    best, best_p = None, model.threshold
    for c in found:
        gap = gap_hours(article.published_at, c.time)
        p = same_event_probability(model, c.cosine, gap, evidence, c.evidence)
        if p >= best_p:
            best, best_p = c, p
    return best


def assign_events(
    batch: Sequence[BatchArticle],
    vectors: Vectors,
    index: BruteForceIndex,
    nearest_seeds: Sequence[NearestSeed | None],
    models: StoryModels,
    seed_duplicate_threshold: float,
    evidence: Sequence[Evidence] | None = None,
) -> list[StoryDecision]:
    """Decide each batch article's event and thread, in batch order. `evidence`, if given, is
    each batch article's `gather_evidence(title, summary)` (gathered here otherwise)."""
    window = index.similarities(vectors)
    within = vectors @ vectors.T
    if evidence is None:
        evidence = [gather_evidence(a.title, a.summary) for a in batch]
    decisions: list[StoryDecision] = []
    for row, article in enumerate(batch):
        found = candidates_for(row, window, within, index, batch, evidence, decisions)
        same_event = best_by(models.event, article, evidence[row], found)
        same_thread = same_event or best_by(models.thread, article, evidence[row], found)
        nearest = found[0] if found else None
        seed = nearest_seeds[row]
        decisions.append(
            StoryDecision(
                story_id=same_event.event_id if same_event else -1 - row,
                starts_story=same_event is None,
                nearest_article_id=nearest.article_id if nearest else None,
                similarity=max(nearest.cosine, 0.0) if nearest else 0.0,
                seed_duplicate=seed.name
                if seed and seed.similarity >= seed_duplicate_threshold
                else None,
                thread_id=same_thread.thread_id if same_thread else -1 - row,
                starts_thread=same_thread is None,
            )
        )
    return decisions
