from __future__ import annotations

import numpy as np

from monitor.embed import normalise_rows
from monitor.relevance import NearestSeed
from monitor.stories import BruteForceIndex, assign_stories


def unit(*values: float) -> np.ndarray:
    return normalise_rows(np.array([values], dtype=np.float32))[0]


EMPTY = BruteForceIndex((), (), np.zeros((0, 3), dtype=np.float32))


class TestAssignStories:
    def test_joins_nearest_article_story_above_threshold(self) -> None:
        """An article close to a stored one joins that article's story."""
        index = BruteForceIndex((10, 11), (100, 101), np.vstack([unit(1, 0, 0), unit(0, 1, 0)]))
        [decision] = assign_stories([20], np.vstack([unit(0.1, 1, 0)]), index, [None], 0.8, 0.9)
        assert (decision.story_id, decision.nearest_article_id) == (101, 11)
        assert not decision.starts_story

    def test_starts_story_below_threshold(self) -> None:
        """Nothing similar enough: a new story with a provisional negative id."""
        index = BruteForceIndex((10,), (100,), np.vstack([unit(1, 0, 0)]))
        [decision] = assign_stories([20], np.vstack([unit(0, 0, 1)]), index, [None], 0.8, 0.9)
        assert decision.starts_story and decision.story_id == -1

    def test_same_batch_copies_share_a_story(self) -> None:
        """Two outlets' copies in one batch end up in one (new) story; a third item does not."""
        vectors = np.vstack([unit(1, 0, 0), unit(0.98, 0.05, 0), unit(0, 0, 1)])
        decisions = assign_stories([1, 2, 3], vectors, EMPTY, [None] * 3, 0.8, 0.9)
        assert [d.story_id for d in decisions] == [-1, -1, -3]
        assert [d.starts_story for d in decisions] == [True, False, True]
        assert decisions[1].nearest_article_id == 1

    def test_batch_item_prefers_the_more_similar_candidate(self) -> None:
        """The nearest of window and batch wins."""
        index = BruteForceIndex((10,), (100,), np.vstack([unit(1, 0.3, 0)]))
        vectors = np.vstack([unit(0, 1, 0), unit(0, 1, 0.01)])
        decisions = assign_stories([1, 2], vectors, index, [None, None], 0.8, 0.9)
        assert decisions[1].story_id == decisions[0].story_id == -1

    def test_seed_duplicate_flagged(self) -> None:
        """A near-copy of a seed passage carries the seed's name; a distant one does not."""
        seeds = [NearestSeed("001_treaty", 0.93), NearestSeed("001_treaty", 0.5)]
        decisions = assign_stories(
            [1, 2], np.vstack([unit(1, 0, 0), unit(0, 1, 0)]), EMPTY, seeds, 0.8, 0.9
        )
        assert [d.seed_duplicate for d in decisions] == ["001_treaty", None]
