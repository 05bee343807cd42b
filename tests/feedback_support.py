"""Helpers for feedback tests: a database holding processed headlines, and lookups."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import AlertSettings, StorySettings
from monitor.filters import MatchFilter
from monitor.process import Processor
from monitor.storage.articles import insert_articles
from monitor.storage.feeds import add_feeds, list_feeds
from monitor.storage.queries import list_matches_page
from monitor.tagging import Tagger
from monitor.values import FeedSpec
from tests.factories import make_entry, store_headlines

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HEADLINES = [
    "Russia and Venezuela sign a military cooperation agreement in Caracas",
    "Russia and Venezuela sign military cooperation agreement Caracas today",
    "Lavrov meets Cuban foreign minister in Havana to discuss oil supplies",
    "Heavy snow closes schools across Ontario",
    "Putin receives Lula in Moscow to talk about grain and fertiliser trade",
]
EVERY = MatchFilter()


def store_more(
    sessions: sessionmaker[Session], headlines: Sequence[str], now: datetime, outlet: str
) -> None:
    """One new feed per headline (named after `outlet`), each with one article carrying it."""
    with sessions.begin() as session:
        specs = [FeedSpec(f"https://{outlet}{n}.example/rss") for n in range(len(headlines))]
        add_feeds(session, specs, 900, now)
        by_url = {f.url: f.id for f in list_feeds(session)}
        for spec, title in zip(specs, headlines, strict=True):
            feed_id = by_url[spec.url]
            entry = make_entry(f"{outlet}-{feed_id}", f"https://{outlet}.example/{feed_id}", title)
            insert_articles(session, feed_id, [entry], now)


def process_headlines(
    sessions: sessionmaker[Session],
    tagger: Tagger,
    headlines: Sequence[str] = HEADLINES,
    alerts: AlertSettings | None = None,
    now: datetime = NOW,
    outlet: str | None = None,
) -> None:
    """Store `headlines` (on the default outlets, or new ones named `outlet`) and process them."""
    if outlet is None:
        store_headlines(sessions, headlines, now)
    else:
        store_more(sessions, headlines, now, outlet)
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


def alert_settings(*rules: dict[str, object], story_update_outlets: int = 3) -> AlertSettings:
    """One webhook channel (never called here) and the given rules."""
    return AlertSettings(
        webhooks=[{"name": "ops", "url": "https://hooks.example/x", "secret_env": "NO_SECRET"}],
        rules=[{"channels": ["ops"], **rule} for rule in rules],
        story_update_outlets=story_update_outlets,
    )  # type: ignore[arg-type]
