"""Raising alerts inside the processing transaction, and building digests. The queries are in
`monitor.storage.alerts`; this module plans and renders."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from monitor.alerts.payloads import alert_body, digest_body
from monitor.alerts.planning import MatchForAlerts, plan_alerts, rule_filters_match
from monitor.config import AlertRule, AlertSettings
from monitor.feedback_values import SentAlerts
from monitor.filters import FilterError
from monitor.storage.alerts import (
    add_deliveries,
    feed_urls,
    held_alerts,
    insert_alert,
    last_digest_at,
    mark_digested,
    new_uid,
    prior_alerts,
    story_view,
)
from monitor.storage.feedback import stories_judged_not_relevant
from monitor.storage.queries import filtered_article_ids, get_match
from monitor.storage.views import get_views
from monitor.values import AlertType
from monitor.views import view_match_filter

__all__ = ["build_due_digests", "feed_urls", "raise_alerts", "send_alert_for_match"]
log = logging.getLogger(__name__)


def raise_alerts(
    session: Session, matches: Sequence[MatchForAlerts], settings: AlertSettings, now: datetime
) -> int:
    """Plan and store this batch's alerts with their deliveries; returns how many were raised."""
    if not settings.rules or not matches:
        return 0
    suppressed = stories_judged_not_relevant(session, sorted({m.story_id for m in matches}))
    matches = [m for m in matches if m.story_id not in suppressed]
    if not matches:
        return 0
    story_ids = sorted({m.story_id for m in matches})
    prior = prior_alerts(session, story_ids, [m.article_id for m in matches], now)
    channels = {rule.name: rule.channels for rule in settings.rules}
    members = view_members(session, settings.rules, [m.article_id for m in matches], now)
    raised = 0
    plans = plan_alerts(matches, settings.rules, prior, settings.story_update_outlets, members)
    for planned in plans:
        uid = new_uid()
        view = story_view(session, planned.story_id, planned.article_id)
        payload = alert_body(uid, planned.type, planned.rule, now, view)
        stored = insert_alert(
            session,
            uid,
            planned.rule,
            planned.type,
            planned.story_id,
            planned.article_id,
            planned.score,
            planned.outlets_count,
            planned.held,
            payload,
            channels[planned.rule],
            now,
        )
        raised += stored is not None
    return raised


def view_members(
    session: Session,
    rules: Sequence[AlertRule],
    article_ids: Sequence[int],
    now: datetime,
    ignore_score: bool = False,
) -> dict[str, frozenset[int]]:
    """Per rule naming a saved view, which of `article_ids` the view's filter admits (without
    its minimum score when `ignore_score`). A rule whose view is missing or unusable is left
    out (it raises nothing) and logged."""
    named = [rule for rule in rules if rule.view]
    if not named:
        return {}
    views = get_views(session, sorted({rule.view for rule in named}))
    members: dict[str, frozenset[int]] = {}
    for rule in named:
        view = views.get(rule.view)
        if view is None:
            log.warning(
                "alert rule %s names no saved view %r: it raises nothing", rule.name, rule.view
            )
            continue
        try:
            f = view_match_filter(view.filter, now)
        except FilterError as error:
            log.warning("alert rule %s: saved view %r is unusable: %s", rule.name, rule.view, error)
            continue
        f = replace(
            f, article_ids=list(article_ids), min_score=None if ignore_score else f.min_score
        )
        admitted = filtered_article_ids(session, f)
        members[rule.name] = frozenset(admitted)
    return members


def build_due_digests(session: Session, settings: AlertSettings, now: datetime) -> int:
    """For each rule whose digest period has passed, one digest of its held alerts' stories,
    most relevant first."""
    built = 0
    for rule in settings.rules:
        held = held_alerts(session, rule.name)
        if not held:
            continue
        since = last_digest_at(session, rule.name) or min(a.created_at for a in held)
        if now - since < timedelta(seconds=rule.digest_every_s):
            continue
        by_story: dict[int, int | None] = {}
        for alert in held:
            if alert.story_id is not None:
                by_story.setdefault(alert.story_id, alert.article_id)
        for story_id in stories_judged_not_relevant(session, sorted(by_story)):
            del by_story[story_id]  # judged not relevant since it was held: left out
        if not by_story:
            continue
        views = [
            story_view(session, story_id, article_id) for story_id, article_id in by_story.items()
        ]
        uid = new_uid()
        digest_id = insert_alert(
            session,
            uid,
            rule.name,
            AlertType.DIGEST,
            None,
            None,
            max((v.score for v in views), default=0.0),
            0,
            False,
            digest_body(uid, rule.name, now, views),
            (),
            now,
        )
        if digest_id is None:
            continue
        add_deliveries(session, digest_id, rule.channels, now)
        mark_digested(session, [a.id for a in held], digest_id)
        built += 1
    return built


def send_alert_for_match(
    session: Session, match_id: int, settings: AlertSettings, now: datetime
) -> SentAlerts | None:
    """Raise a `match.created` for the match's story, queued at once (never held), under every
    rule whose filters other than the score admit it — the analyst's "send as alert" on an
    item the tagger scored low. A rule that already alerted the story is reported, not
    repeated. None for an unknown match."""
    record = get_match(session, match_id)
    if record is None:
        return None
    story_id = record["story_id"]
    if story_id is None:
        return SentAlerts()
    match = MatchForAlerts(
        record["article_id"],
        story_id,
        0,
        record["feed"],
        record["score"],
        tuple(record["countries"]),
        tuple(record["topics"]),
    )
    members = view_members(session, settings.rules, [match.article_id], now, ignore_score=True)
    rules = [r for r in settings.rules if rule_filters_match(r, match, members.get(r.name))]
    if not rules:
        return SentAlerts()
    view = story_view(session, story_id, match.article_id)
    raised: list[str] = []
    already: list[str] = []
    for rule in rules:
        uid = new_uid()
        stored = insert_alert(
            session,
            uid,
            rule.name,
            AlertType.MATCH_CREATED,
            story_id,
            match.article_id,
            match.score,
            view.story.outlets_count,
            False,
            alert_body(uid, AlertType.MATCH_CREATED, rule.name, now, view),
            rule.channels,
            now,
        )
        (raised if stored is not None else already).append(rule.name)
    return SentAlerts(tuple(raised), tuple(already))
