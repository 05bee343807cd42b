from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

from monitor.embed import normalise_rows
from monitor.events import SameEventModel, StoryModels, cosine_only_models, gather_evidence
from monitor.relevance import NearestSeed
from monitor.stories import BatchArticle, BruteForceIndex, assign_events

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
COSINE_08 = cosine_only_models(0.8, 48, 168)
# Same event needs cosine 0.8 and agreeing names; the same thread needs cosine 0.5.
WITH_NAMES = StoryModels(
    SameEventModel({"cosine": 40.0, "names_conflict": -20.0}, -32.0, 0.5, 48),
    SameEventModel({"cosine": 40.0}, -20.0, 0.5, 168),
)


def unit(*values: float) -> np.ndarray:
    return normalise_rows(np.array([values], dtype=np.float32))[0]


def article(
    article_id: int, hours: float = 0, title: str = "a report", summary: str = ""
) -> BatchArticle:
    return BatchArticle(article_id, title, summary, T0 + timedelta(hours=hours))


def window(*rows: tuple[int, int, int, np.ndarray, float, str]) -> BruteForceIndex:
    """(article, event, thread, vector, hours after T0, title) per stored article."""
    return BruteForceIndex(
        tuple(r[0] for r in rows),
        tuple(r[1] for r in rows),
        np.vstack([r[3] for r in rows]),
        tuple(r[2] for r in rows),
        tuple(T0 + timedelta(hours=r[4]) for r in rows),
        tuple((r[5], "") for r in rows),
    )


EMPTY = BruteForceIndex((), (), np.zeros((0, 3), dtype=np.float32))


class TestAssignEvents:
    def test_joins_nearest_event_when_similar_and_close_in_time(self) -> None:
        """An article close to a stored one, published a day later, joins its event and thread."""
        index = window((10, 100, 7, unit(1, 0, 0), 0, "x"), (11, 101, 8, unit(0, 1, 0), 0, "y"))
        [d] = assign_events(
            [article(20, 24)], np.vstack([unit(1, 0.1, 0)]), index, [None], COSINE_08, 0.9
        )
        assert (d.story_id, d.thread_id, d.starts_story, d.starts_thread) == (100, 7, False, False)
        assert d.nearest_article_id == 10

    def test_same_text_days_later_starts_an_event_in_the_same_thread(self) -> None:
        """Beyond the event window a near-identical article is a new event of the same thread."""
        index = window((10, 100, 7, unit(1, 0, 0), 0, "x"))
        [d] = assign_events(
            [article(20, 72)], np.vstack([unit(1, 0, 0)]), index, [None], COSINE_08, 0.9
        )
        assert d.starts_story and d.story_id == -1
        assert (d.thread_id, d.starts_thread) == (7, False)

    def test_beyond_the_thread_window_nothing_is_joined(self) -> None:
        """Eight days apart, even a copy starts a thread of its own."""
        index = window((10, 100, 7, unit(1, 0, 0), 0, "x"))
        [d] = assign_events(
            [article(20, 24 * 8)], np.vstack([unit(1, 0, 0)]), index, [None], COSINE_08, 0.9
        )
        assert d.starts_story and d.starts_thread and d.thread_id == -1

    def test_dissimilar_article_starts_event_and_thread(self) -> None:
        """An article unlike every stored one starts an event in a new thread."""
        index = window((10, 100, 7, unit(1, 0, 0), 0, "x"))
        [d] = assign_events(
            [article(20)], np.vstack([unit(0, 0, 1)]), index, [None], COSINE_08, 0.9
        )
        assert (d.story_id, d.thread_id, d.starts_story, d.starts_thread) == (-1, -1, True, True)

    def test_batch_mates_share_the_first_ones_provisional_event(self) -> None:
        """Copies arriving in one batch share the provisional event and thread of the first."""
        vectors = np.vstack([unit(1, 0, 0), unit(1, 0.05, 0), unit(0, 1, 0)])
        batch = [article(1), article(2, 1), article(3, 2)]
        decisions = assign_events(batch, vectors, EMPTY, [None] * 3, COSINE_08, 0.9)
        assert [d.story_id for d in decisions] == [-1, -1, -3]
        assert [d.thread_id for d in decisions] == [-1, -1, -3]

    def test_conflicting_names_keep_similar_articles_apart_as_events(self) -> None:
        """Two similar articles naming different actors are two events of one thread."""
        index = window((10, 100, 7, unit(1, 0, 0), 0, "Putin hosts Venezuela's Maduro"))
        batch = [article(20, 2, "Chinese delegation meets Rodríguez in Caracas")]
        [d] = assign_events(batch, np.vstack([unit(1, 0.1, 0)]), index, [None], WITH_NAMES, 0.9)
        assert d.starts_story and (d.thread_id, d.starts_thread) == (7, False)

    def test_agreeing_names_join_the_event(self) -> None:
        """The same similarity with names in common joins the event."""
        index = window((10, 100, 7, unit(1, 0, 0), 0, "Putin hosts Venezuela's Maduro"))
        batch = [article(20, 2, "Maduro and Putin meet in Moscow")]
        [d] = assign_events(batch, np.vstack([unit(1, 0.1, 0)]), index, [None], WITH_NAMES, 0.9)
        assert d.story_id == 100

    def test_a_russian_report_meets_the_english_one_by_its_names(self) -> None:
        """Names match across scripts: a Russian report naming the same actors in Cyrillic
        does not conflict with the English one, and joins its event."""
        index = window((10, 100, 7, unit(1, 0, 0), 0, "Putin hosts Venezuela's Maduro"))
        batch = [article(20, 2, "Путин принял Мадуро в Кремле")]
        [d] = assign_events(batch, np.vstack([unit(1, 0.1, 0)]), index, [None], WITH_NAMES, 0.9)
        assert d.story_id == 100

    def test_event_joined_through_a_later_member(self) -> None:
        """An event is time-bounded by its latest article: a member 40 h in lets a 70 h article
        join through it."""
        index = window((10, 100, 7, unit(1, 0, 0), 0, "x"), (11, 100, 7, unit(1, 0.05, 0), 40, "x"))
        [d] = assign_events(
            [article(20, 70)], np.vstack([unit(1, 0.06, 0)]), index, [None], COSINE_08, 0.9
        )
        assert d.story_id == 100 and d.nearest_article_id == 11

    def test_evidence_kept_from_an_earlier_batch_is_used(self) -> None:
        """An index given its articles' evidence decides on it without their texts."""
        stored = gather_evidence("Putin hosts Venezuela's Maduro", "")
        base = window((10, 100, 7, unit(1, 0, 0), 0, ""))
        index = replace(base, texts=(), evidence=(stored,))
        batch = [article(20, 2, "Chinese delegation meets Rodríguez in Caracas")]
        vectors = np.vstack([unit(1, 0.1, 0)])
        [d] = assign_events(batch, vectors, index, [None], WITH_NAMES, 0.9)
        assert d.starts_story and d.thread_id == 7
        [joined] = assign_events(batch, vectors, base, [None], WITH_NAMES, 0.9)
        assert joined.story_id == 100  # no names on the stored side: no conflict

    def test_index_without_threads_takes_each_event_as_its_thread(self) -> None:
        """An index built without thread ids (older callers) treats an event as its own thread."""
        index = BruteForceIndex((10,), (100,), np.vstack([unit(1, 0, 0)]))
        [d] = assign_events(
            [article(20)], np.vstack([unit(1, 0, 0)]), index, [None], COSINE_08, 0.9
        )
        assert (d.story_id, d.thread_id) == (100, 100)

    def test_flags_seed_duplicate(self) -> None:
        """A near-copy of a seed passage carries the seed's name."""
        seeds = [NearestSeed("seed-a", 0.95, "Seed A"), NearestSeed("seed-b", 0.5, "Seed B")]
        batch = [article(1), article(2)]
        decisions = assign_events(
            batch, np.vstack([unit(1, 0, 0), unit(0, 1, 0)]), EMPTY, seeds, COSINE_08, 0.9
        )
        assert [d.seed_duplicate for d in decisions] == ["seed-a", None]
