"""Stream evaluation (B-cubed over a replayed stream) and alert planning over events and
threads: the pure parts of stories v2."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from monitor.alerts.planning import MatchForAlerts, PriorAlerts, plan_alerts
from monitor.config import AlertRule
from monitor.embed import normalise_rows
from monitor.events import cosine_only_models
from monitor.story_stream import StreamItem, bcubed, replay_stream
from monitor.values import AlertType

T0 = datetime(2026, 12, 1, tzinfo=UTC)
RULE = AlertRule(name="relevant", min_score=0.5, channels=("ops",))


def unit(*values: float) -> np.ndarray:
    return normalise_rows(np.array([values], dtype=np.float32))[0]


class TestBCubed:
    def test_perfect_clustering(self) -> None:
        """Identical partitions score 1 whatever the labels."""
        assert bcubed(["x", "x", "y"], [1, 1, 2]).f1 == 1.0

    def test_one_merge_costs_precision_only(self) -> None:
        """Everything in one cluster keeps recall at 1 and halves precision for two pairs."""
        scores = bcubed([0, 0, 0, 0], ["a", "a", "b", "b"])
        assert (scores.precision, scores.recall) == (0.5, 1.0)

    def test_singletons_cost_recall_only(self) -> None:
        """All singletons keep precision at 1."""
        scores = bcubed([0, 1, 2, 3], ["a", "a", "a", "a"])
        assert (scores.precision, scores.recall) == (1.0, 0.25)
        assert (scores.clusters, scores.gold_clusters) == (4, 1)


class TestReplay:
    def test_events_and_threads_over_batches(self) -> None:
        """Copies join an event across batches; a follow-up days later joins the thread only;
        unrelated news stays alone."""
        items = [
            StreamItem("a", "x", "", T0),
            StreamItem("b", "y", "", T0 + timedelta(hours=1)),
            StreamItem("c", "x", "", T0 + timedelta(hours=2)),
            StreamItem("d", "x", "", T0 + timedelta(hours=80)),
        ]
        vectors = np.vstack([unit(1, 0, 0), unit(0, 1, 0), unit(1, 0.05, 0), unit(1, 0.1, 0)])
        models = cosine_only_models(0.8, 48, 168)
        events, threads = replay_stream(items, vectors, models, timedelta(days=7), batch_size=2)
        assert events[0] == events[2] and len({events[0], events[1], events[3]}) == 3
        assert threads[0] == threads[2] == threads[3] != threads[1]

    def test_items_outside_the_window_are_forgotten(self) -> None:
        """An item published more than the window before a batch is no candidate."""
        items = [StreamItem("a", "x", "", T0), StreamItem("b", "x", "", T0 + timedelta(days=9))]
        vectors = np.vstack([unit(1, 0, 0), unit(1, 0, 0)])
        models = cosine_only_models(0.8, 48, 24 * 30)
        _events, threads = replay_stream(items, vectors, models, timedelta(days=7), batch_size=1)
        assert threads[0] != threads[1]


def match(article: int, event: int, thread: int, feed: int | None = None) -> MatchForAlerts:
    return MatchForAlerts(
        article, event, feed or article, "https://f.example/rss", 0.9, ("CU",), (), thread
    )


class TestPlanningOverThreads:
    def test_second_event_of_a_thread_is_developing(self) -> None:
        """In one batch: the thread's first event is match.created, its second story.developing,
        another thread's event match.created."""
        plans = plan_alerts(
            [match(1, 10, 5), match(2, 11, 5), match(3, 12, 6)], [RULE], PriorAlerts(), 3
        )
        assert [(p.story_id, p.type) for p in plans] == [
            (10, AlertType.MATCH_CREATED),
            (11, AlertType.STORY_DEVELOPING),
            (12, AlertType.MATCH_CREATED),
        ]

    def test_thread_alerted_in_an_earlier_batch(self) -> None:
        """A new event of a thread alerted before is story.developing; a member of an alerted
        event raises nothing."""
        prior = PriorAlerts(
            created_outlets={("relevant", 10): 1}, alerted_threads=frozenset({("relevant", 5)})
        )
        plans = plan_alerts([match(1, 10, 5), match(2, 11, 5)], [RULE], prior, 3)
        assert [(p.story_id, p.type) for p in plans] == [(11, AlertType.STORY_DEVELOPING)]

    def test_unknown_thread_is_never_developing(self) -> None:
        """Matches without a thread (0) are each match.created, as before threads existed."""
        plans = plan_alerts([match(1, 10, 0), match(2, 11, 0)], [RULE], PriorAlerts(), 3)
        assert [p.type for p in plans] == [AlertType.MATCH_CREATED] * 2
