"""Helpers for alert tests: secrets, settings, alerts stored straight into the outbox."""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.payloads import ArticleInfo, StoryAlertView, StoryInfo, alert_body
from monitor.config import AlertSettings
from monitor.storage.alerts import insert_alert, new_uid

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def sample_view(title: str = "Russia and Cuba sign an oil supply deal") -> StoryAlertView:
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
    )
    return StoryAlertView(
        StoryInfo(1, title, 1, ("en",), NOW.isoformat(), NOW.isoformat()),
        0.97,
        ("CU",),
        ("energy",),
        {"russia": {"state": ["russia"]}},
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
) -> list[int]:
    ids = []
    with sessions.begin() as session:
        for n in range(count):
            uid = new_uid()
            body = alert_body(
                uid, "match.created", "relevant", NOW, sample_view(title or f"Story {n}")
            )
            alert_id = insert_alert(
                session,
                uid,
                "relevant",
                "match.created",
                None,
                None,
                0.97,
                1,
                False,
                body,
                channels,
                datetime.now(UTC),
            )
            assert alert_id is not None
            ids.append(alert_id)
    return ids
