"""Story assignment: pure decisions over vectors and candidates (no I/O, no clock).

An article joins the story of its most similar recent article when the similarity reaches the
same-story threshold; otherwise it starts a story. Articles of one batch are compared with the
stored window *and* with the batch's earlier articles, so two outlets' copies of one story that
arrive in the same cycle still end up together. A new story gets a provisional negative id
(-1 - its first article's position) that storage replaces with the real one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from monitor.relevance import NearestSeed
from monitor.vectors import Vectors


@dataclass(frozen=True, slots=True)
class StoryDecision:
    story_id: int  # negative: a story started in this batch (provisional id)
    starts_story: bool
    nearest_article_id: int | None
    similarity: float
    seed_duplicate: str | None


class VectorIndex(Protocol):
    """Recent articles' vectors, searchable by similarity."""

    @property
    def article_ids(self) -> Sequence[int]: ...

    @property
    def story_ids(self) -> Sequence[int]: ...

    def similarities(self, vectors: Vectors) -> Vectors:
        """Cosine of each query row with each indexed article: shape (queries, articles)."""
        ...


@dataclass(frozen=True, slots=True)
class BruteForceIndex:
    """Exact search: one matrix product over the window (fine for tens of thousands)."""

    article_ids: tuple[int, ...]
    story_ids: tuple[int, ...]
    vectors: Vectors

    def similarities(self, vectors: Vectors) -> Vectors:
        if not self.article_ids:
            return np.zeros((len(vectors), 0), dtype=np.float32)
        return vectors @ self.vectors.T


def is_same_story(similarity: float, threshold: float) -> bool:
    return similarity >= threshold


def assign_stories(
    batch_article_ids: Sequence[int],
    vectors: Vectors,
    index: VectorIndex,
    nearest_seeds: Sequence[NearestSeed | None],
    same_story_threshold: float,
    seed_duplicate_threshold: float,
) -> list[StoryDecision]:
    """Decide each batch article's story, in batch order."""
    window = index.similarities(vectors)
    within = vectors @ vectors.T
    decisions: list[StoryDecision] = []
    for row in range(len(batch_article_ids)):
        best_id, best_story, best_similarity = None, None, -1.0
        if window.shape[1]:
            column = int(window[row].argmax())
            best_id, best_story = index.article_ids[column], index.story_ids[column]
            best_similarity = float(window[row, column])
        if row:
            earlier = int(within[row, :row].argmax())
            if float(within[row, earlier]) > best_similarity:
                best_id, best_story = batch_article_ids[earlier], decisions[earlier].story_id
                best_similarity = float(within[row, earlier])
        joins = best_story is not None and is_same_story(best_similarity, same_story_threshold)
        seed = nearest_seeds[row]
        decisions.append(
            StoryDecision(
                story_id=best_story if joins and best_story is not None else -1 - row,
                starts_story=not joins,
                nearest_article_id=best_id,
                similarity=max(best_similarity, 0.0),
                seed_duplicate=seed.name
                if seed and seed.similarity >= seed_duplicate_threshold
                else None,
            )
        )
    return decisions
