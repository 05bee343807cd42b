"""Factories for values used across tests."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.normalize import content_fingerprint
from monitor.values import ParsedEntry

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
