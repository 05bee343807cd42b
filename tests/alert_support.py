"""Helpers for alert tests: secrets, settings, a clock the test moves, alerts stored straight
into the outbox."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.payloads import ArticleInfo, StoryAlertView, StoryInfo, alert_body
from monitor.clock import utc_now
from monitor.config import AlertSettings
from monitor.storage.alerts import insert_alert, new_uid
from monitor.values import AlertType

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
REASONS: Mapping[str, Any] = {
    "russia": {"officials": ["lavrov"], "state": ["russia"]},
    "latam": {"CU": ["cuba", "havana"]},
    "nearest_seed": {"name": "Russian oil for Cuba", "similarity": 0.812},
}


class FakeClock:
    """A clock that moves only when the test says so. It starts at the real time, because
    receivers check webhook timestamps against theirs."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def sample_view(
    title: str = "Russia and Cuba sign an oil supply deal",
    outlets: int = 1,
    feed_name: str | None = "Prensa Latina",
    reasons: Mapping[str, Any] = REASONS,
) -> StoryAlertView:
    article = ArticleInfo(
        1,
        title,
        "https://e.org/1",
        "https://feed.example/rss",
        "en",
        NOW.isoformat(),
        0.97,
        ("CU",),
        ("energy",),
        feed_name,
    )
    return StoryAlertView(
        StoryInfo(1, title, outlets, ("en",), NOW.isoformat(), NOW.isoformat()),
        0.97,
        ("CU",),
        ("energy",),
        reasons,
        (article,),
    )


def webhook_settings(
    url: str, secret_env: str = "MONITOR_TEST_HOOK_SECRET", **overrides: object
) -> AlertSettings:
    values: dict[str, object] = {
        "webhooks": [{"name": "ops", "url": url, "secret_env": secret_env}],
        "rules": [{"name": "relevant", "min_score": 0.5, "channels": ["ops"]}],
        "retry_schedule_s": [0.2, 0.5, 1.0],
        "max_attempts": 4,
        "lease_s": 2.0,
        "webhook_timeout_s": 1.0,
    }
    values.update(overrides)
    return AlertSettings(**values)  # type: ignore[arg-type]


def store_alerts(
    sessions: sessionmaker[Session],
    count: int,
    channels: Sequence[str] = ("ops",),
    title: str | None = None,
    now: datetime | None = None,
    view: StoryAlertView | None = None,
    kind: AlertType = AlertType.MATCH_CREATED,
) -> list[int]:
    """`count` alerts with one due delivery per channel (due at `now`, by default the real
    time)."""
    ids = []
    with sessions.begin() as session:
        for n in range(count):
            uid = new_uid()
            body = alert_body(
                uid, kind, "relevant", NOW, view or sample_view(title or f"Story {n}")
            )
            alert_id = insert_alert(
                session,
                uid,
                "relevant",
                kind,
                None,
                None,
                0.97,
                1,
                False,
                body,
                channels,
                now or utc_now(),
            )
            assert alert_id is not None
            ids.append(alert_id)
    return ids
