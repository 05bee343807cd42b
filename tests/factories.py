"""Factories for values used across tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from monitor.normalize import content_fingerprint
from monitor.storage.articles import insert_articles
from monitor.storage.feeds import add_feeds, list_feeds
from monitor.values import FeedSpec, ParsedEntry

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def make_entry(
    guid: str = "g1",
    url: str | None = "https://news.example.org/a/1",
    title: str = "Russia and Venezuela sign an energy agreement in Caracas",
    summary: str = "",
) -> ParsedEntry:
    return ParsedEntry(
        guid=guid,
        url=url,
        title=title,
        summary=summary,
        language="en",
        published_at=NOW,
        authors=("Desk",),
        content_hash=content_fingerprint(title, summary),
    )


def store_headlines(
    sessions: sessionmaker[Session], headlines: Sequence[str], now: datetime
) -> None:
    """One feed per headline, each with one article carrying it."""
    with sessions.begin() as session:
        add_feeds(
            session,
            [FeedSpec(f"https://outlet{n}.example/rss") for n in range(len(headlines))],
            900,
            now,
        )
        for feed, title in zip(list_feeds(session), headlines, strict=True):
            insert_articles(
                session,
                feed.id,
                [make_entry(f"g{feed.id}", f"https://o.example/{feed.id}", title)],
                now,
            )
