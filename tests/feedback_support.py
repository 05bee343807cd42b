"""Helpers for feedback tests: a database holding processed headlines, and lookups."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import AlertSettings, StorySettings
from monitor.filters import MatchFilter
from monitor.process import Processor
from monitor.storage.queries import list_matches_page
from monitor.tagging import Tagger
from tests.factories import store_headlines

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HEADLINES = [
    "Russia and Venezuela sign a military cooperation agreement in Caracas",
    "Russia and Venezuela sign military cooperation agreement Caracas today",
    "Lavrov meets Cuban foreign minister in Havana to discuss oil supplies",
    "Heavy snow closes schools across Ontario",
    "Putin receives Lula in Moscow to talk about grain and fertiliser trade",
]
EVERY = MatchFilter()


def process_headlines(
    sessions: sessionmaker[Session],
    tagger: Tagger,
    headlines: list[str] = HEADLINES,
    alerts: AlertSettings | None = None,
    now: datetime = NOW,
) -> None:
    store_headlines(sessions, headlines, now)
    Processor(
        sessions,
        tagger,
        StorySettings(same_story_threshold=0.7),
        lambda: now,
        alerts or AlertSettings(),
    ).process_pending()


def match_by_title(sessions: sessionmaker[Session], title: str) -> dict[str, object]:
    with sessions() as session:
        items = list_matches_page(session, EVERY, 1000)
    return next(m for m in items if m["title"] == title)
