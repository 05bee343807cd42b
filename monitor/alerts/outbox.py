"""Raising alerts inside the processing transaction, and building digests. The queries are in
`monitor.storage.alerts`; this module plans and renders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from monitor.alerts.payloads import alert_body, digest_body
from monitor.alerts.planning import MatchForAlerts, plan_alerts
from monitor.config import AlertSettings
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
from monitor.values import AlertType

__all__ = ["build_due_digests", "feed_urls", "raise_alerts"]


def raise_alerts(
    session: Session, matches: Sequence[MatchForAlerts], settings: AlertSettings, now: datetime
) -> int:
    """Plan and store this batch's alerts with their deliveries; returns how many were raised."""
    if not settings.rules or not matches:
        return 0
    story_ids = sorted({m.story_id for m in matches})
    prior = prior_alerts(session, story_ids, [m.article_id for m in matches], now)
    channels = {rule.name: rule.channels for rule in settings.rules}
    raised = 0
    for planned in plan_alerts(matches, settings.rules, prior, settings.story_update_outlets):
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
