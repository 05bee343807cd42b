"""Stream evaluation of story assignment: replay a time-ordered stream of items through the real
incremental assignment (`monitor.stories.assign_events`) and score the events and threads it
builds against gold clusters with B-cubed precision, recall and F1. Pure: vectors in, figures
out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from monitor.events import StoryModels
from monitor.stories import BatchArticle, BruteForceIndex, assign_events
from monitor.vectors import Vectors

STREAM_BATCH = 32


@dataclass(frozen=True, slots=True)
class StreamItem:
    id: str
    title: str
    text: str
    published: datetime | None


@dataclass(frozen=True, slots=True)
class BCubed:
    precision: float
    recall: float
    f1: float
    items: int
    clusters: int
    gold_clusters: int


def replay_stream(
    items: Sequence[StreamItem],
    vectors: Vectors,
    models: StoryModels,
    window: timedelta,
    batch_size: int = STREAM_BATCH,
) -> tuple[list[int], list[int]]:
    """Each item's event and thread, assigned batch by batch in the given order; the window
    holds the earlier items published within `window` of the batch's latest (items without a
    time never leave it)."""
    events: list[int] = []
    threads: list[int] = []
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        times = [i.published for i in batch if i.published is not None]
        since = max(times) - window if times else None
        keep = [k for k in range(start) if is_in_window(items[k].published, since)]
        index = BruteForceIndex(
            tuple(keep),
            tuple(events[k] for k in keep),
            vectors[keep] if keep else np.zeros((0, vectors.shape[1]), dtype=vectors.dtype),
            tuple(threads[k] for k in keep),
            tuple(items[k].published for k in keep),
            tuple((items[k].title, items[k].text) for k in keep),
        )
        decisions = assign_events(
            [BatchArticle(start + n, i.title, i.text, i.published) for n, i in enumerate(batch)],
            vectors[start : start + len(batch)],
            index,
            [None] * len(batch),
            models,
            1.0,
        )
        # a provisional id (-1 - n) names the batch item n that started it
        events.extend(resolve(d.story_id, start) for d in decisions)
        threads.extend(resolve(d.thread_id, start) for d in decisions)
    return events, threads


def is_in_window(published: datetime | None, since: datetime | None) -> bool:
    return since is None or published is None or published >= since


def resolve(label: int, start: int) -> int:
    return start + (-1 - label) if label < 0 else label


def bcubed(predicted: Sequence[object], gold: Sequence[object]) -> BCubed:
    """B-cubed precision and recall averaged over items (Bagga & Baldwin)."""
    pairs = Counter(zip(predicted, gold, strict=True))
    in_predicted = Counter(predicted)
    in_gold = Counter(gold)
    precision = recall = 0.0
    for (p, g), both in pairs.items():
        precision += both * both / in_predicted[p]
        recall += both * both / in_gold[g]
    n = len(gold)
    precision, recall = (precision / n, recall / n) if n else (0.0, 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return BCubed(
        round(precision, 4), round(recall, 4), round(f1, 4), n, len(in_predicted), len(in_gold)
    )
