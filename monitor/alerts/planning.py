"""Which alerts a batch of new matches raises. Pure: rules, matches and what was alerted before
go in; planned alerts come out.

Alerts are per event (a row of `stories`), not per article: the first matching article of an
event raises one `match.created` per rule, or `story.developing` when another event of its
thread already alerted that rule; later members raise nothing, except one `story.updated` when
the event has reached `story_update_outlets` outlets more than when it was first alerted. A
rule in digest mode, or an instant rule over its `max_per_hour`, holds its alerts for the next
digest instead of dropping them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitor.config import AlertRule
from monitor.values import AlertType, PriorAlerts

__all__ = [
    "MatchForAlerts",
    "PlannedAlert",
    "PriorAlerts",
    "plan_alerts",
    "rule_filters_match",
    "rule_matches",
]


@dataclass(frozen=True, slots=True)
class MatchForAlerts:
    """One new match as the alert rules see it."""

    article_id: int
    story_id: int
    feed_id: int
    feed_url: str
    score: float
    countries: tuple[str, ...]
    topics: tuple[str, ...]
    thread_id: int = 0  # the event's thread (0: unknown, the event stands alone)


@dataclass(frozen=True, slots=True)
class PlannedAlert:
    rule: str
    type: AlertType
    story_id: int
    article_id: int
    score: float
    outlets_count: int
    held: bool


def rule_matches(
    rule: AlertRule, match: MatchForAlerts, view_members: frozenset[int] | None = None
) -> bool:
    """The rule's score floor and its other filters both hold."""
    return match.score >= rule.min_score and rule_filters_match(rule, match, view_members)


def rule_filters_match(
    rule: AlertRule, match: MatchForAlerts, view_members: frozenset[int] | None = None
) -> bool:
    """Countries, topics, feeds and, for a rule naming a saved view, membership of the view:
    `view_members` holds the articles the view's filter admits (None: the view is unknown,
    so the rule admits nothing)."""
    return (
        (not rule.countries or bool(set(rule.countries) & set(match.countries)))
        and (not rule.topics or bool(set(rule.topics) & set(match.topics)))
        and (not rule.feeds or match.feed_url in rule.feeds)
        and (not rule.view or (view_members is not None and match.article_id in view_members))
    )


def plan_alerts(
    matches: Sequence[MatchForAlerts],
    rules: Sequence[AlertRule],
    prior: PriorAlerts,
    story_update_outlets: int,
    view_members: Mapping[str, frozenset[int]] | None = None,
) -> list[PlannedAlert]:
    """Alerts for a batch of matches, processed in order. `view_members` holds, per rule that
    names a saved view, the batch's articles the view admits."""
    members = view_members or {}
    created = dict(prior.created_outlets)
    updated = set(prior.updated)
    sent = dict(prior.instant_last_hour)
    feeds = {story: set(ids) for story, ids in prior.story_feeds.items()}
    alerted_threads = set(prior.alerted_threads)
    planned: list[PlannedAlert] = []
    for match in matches:
        story_feeds = feeds.setdefault(match.story_id, set())
        story_feeds.add(match.feed_id)
        outlets = len(story_feeds)
        for rule in rules:
            if not rule_matches(rule, match, members.get(rule.name)):
                continue
            key = (rule.name, match.story_id)
            thread = (rule.name, match.thread_id)
            if key not in created:
                developing = bool(match.thread_id) and thread in alerted_threads
                kind = AlertType.STORY_DEVELOPING if developing else AlertType.MATCH_CREATED
                created[key] = outlets
                alerted_threads.add(thread)
            elif key not in updated and outlets >= created[key] + story_update_outlets:
                kind = AlertType.STORY_UPDATED
                updated.add(key)
            else:
                continue
            held = rule.mode == "digest" or sent.get(rule.name, 0) >= rule.max_per_hour
            if not held:
                sent[rule.name] = sent.get(rule.name, 0) + 1
            planned.append(
                PlannedAlert(
                    rule.name, kind, match.story_id, match.article_id, match.score, outlets, held
                )
            )
    return planned
