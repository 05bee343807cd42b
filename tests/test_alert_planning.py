"""Alert planning and retry decisions: the pure core of the outbox."""

from __future__ import annotations

from monitor.alerts.planning import MatchForAlerts, PriorAlerts, plan_alerts, rule_matches
from monitor.alerts.retry import decide_next_step
from monitor.config import AlertRule
from monitor.values import AlertType, AttemptOutcome, AttemptResult, DeliveryStatus, NextStep
from tests.alert_support import NOW

MATCH_CREATED, STORY_UPDATED = AlertType.MATCH_CREATED, AlertType.STORY_UPDATED
OK, FAILED, GONE = AttemptResult.OK, AttemptResult.FAILED, AttemptResult.GONE

RULE = AlertRule(name="relevant", min_score=0.5, channels=("ops",))


def match(
    article: int,
    story: int = 7,
    feed: int | None = None,
    score: float = 0.9,
    countries: tuple[str, ...] = ("VE",),
    topics: tuple[str, ...] = ("energy",),
) -> MatchForAlerts:
    return MatchForAlerts(
        article,
        story,
        feed if feed is not None else article,
        f"https://f{feed}.example/rss",
        score,
        countries,
        topics,
    )


class TestRules:
    def test_filters(self) -> None:
        """Score, countries, topics and feeds each narrow a rule."""
        rule = AlertRule(
            name="ve-energy",
            min_score=0.6,
            countries=("VE", "CU"),
            topics=("energy",),
            feeds=("https://f1.example/rss",),
            channels=("ops",),
        )
        assert rule_matches(rule, match(1, feed=1))
        assert not rule_matches(rule, match(1, feed=1, score=0.59))
        assert not rule_matches(rule, match(1, feed=1, countries=("BR",)))
        assert not rule_matches(rule, match(1, feed=1, topics=("health",)))
        assert not rule_matches(rule, match(1, feed=2))


class TestPerStory:
    def test_twenty_outlets_one_story(self) -> None:
        """Twenty copies from twenty feeds: one match.created, one story.updated at 1+3 outlets."""
        planned = plan_alerts([match(n, feed=n) for n in range(20)], [RULE], PriorAlerts(), 3)
        assert [(p.type, p.outlets_count) for p in planned] == [
            (MATCH_CREATED, 1),
            (STORY_UPDATED, 4),
        ]

    def test_same_outlet_again_raises_nothing(self) -> None:
        """More articles from the same feed do not count as new outlets."""
        planned = plan_alerts([match(n, feed=1) for n in range(10)], [RULE], PriorAlerts(), 3)
        assert [p.type for p in planned] == [MATCH_CREATED]

    def test_earlier_batches_are_remembered(self) -> None:
        """A story alerted before raises only the update, once, when enough outlets join."""
        prior = PriorAlerts(
            created_outlets={("relevant", 7): 2}, story_feeds={7: frozenset({1, 2})}
        )
        planned = plan_alerts([match(n, feed=n) for n in range(3, 8)], [RULE], prior, 3)
        assert [(p.type, p.outlets_count) for p in planned] == [(STORY_UPDATED, 5)]

    def test_irrelevant_matches_raise_nothing(self) -> None:
        """Below the rule's min_score nothing is raised."""
        assert plan_alerts([match(1, score=0.2)], [RULE], PriorAlerts(), 3) == []


class TestThrottleAndDigest:
    def test_over_max_per_hour_is_held_for_the_digest(self) -> None:
        """The 3rd story in an hour for a max_per_hour=2 rule is held, not dropped."""
        rule = AlertRule(name="r", channels=("ops",), max_per_hour=2)
        planned = plan_alerts([match(n, story=n) for n in range(3)], [rule], PriorAlerts(), 3)
        assert [p.held for p in planned] == [False, False, True]

    def test_digest_mode_holds_everything(self) -> None:
        """A digest rule holds every alert for its next digest."""
        rule = AlertRule(name="d", channels=("ops",), mode="digest", digest_every="6h")
        assert all(p.held for p in plan_alerts([match(1)], [rule], PriorAlerts(), 3))


class TestRetrySteps:
    SCHEDULE = (5.0, 300.0, 1800.0)

    def step(self, outcome: AttemptOutcome, attempts: int = 1) -> NextStep:
        return decide_next_step(outcome, attempts, NOW, 4, self.SCHEDULE, 3600, 0.5)

    def test_outcomes(self) -> None:
        """Delivered, retried on schedule, dead after max attempts, disabled on 410."""
        assert self.step(AttemptOutcome(OK)).status == DeliveryStatus.DELIVERED
        retry = self.step(AttemptOutcome(FAILED, error="HTTP 500"), attempts=2)
        assert retry.status == DeliveryStatus.PENDING and retry.next_attempt_at is not None
        assert (retry.next_attempt_at - NOW).total_seconds() == 300
        assert self.step(AttemptOutcome(FAILED), attempts=4).status == DeliveryStatus.DEAD
        assert self.step(AttemptOutcome(GONE)).status == DeliveryStatus.DISABLED

    def test_retry_after_honoured_and_capped(self) -> None:
        """Retry-After beats a shorter schedule step and is capped."""
        honoured = self.step(AttemptOutcome(FAILED, retry_after_s=120)).next_attempt_at
        capped = self.step(AttemptOutcome(FAILED, retry_after_s=99999)).next_attempt_at
        assert honoured is not None and (honoured - NOW).total_seconds() == 120
        assert capped is not None and (capped - NOW).total_seconds() == 3600
