"""The match-filter query parameters shared by `/matches`, `/matches.atom` and `/search`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Query

from monitor.storage.queries import MatchFilter

MAX_ID = 2**63 - 1  # database ids are signed 64-bit
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def clean_text(value: str | None, name: str) -> str | None:
    """Free text without NUL or other control characters (PostgreSQL refuses NUL), else 422."""
    if value is not None and any(ord(ch) < 32 for ch in value):
        raise HTTPException(
            422,
            [
                {
                    "loc": ["query", name],
                    "msg": "control characters are not allowed",
                    "type": "value_error",
                }
            ],
        )
    return value


def utc_time(value: datetime | None, name: str) -> datetime | None:
    """Query times in UTC (naive means UTC), within years 1900–9999, else 422."""
    if value is None:
        return None
    try:
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        moment = EARLIEST - timedelta(days=1)
    if not EARLIEST <= moment <= LATEST:
        raise HTTPException(
            422,
            [
                {
                    "loc": ["query", name],
                    "msg": "date out of range (1900–9999)",
                    "type": "value_error",
                }
            ],
        )
    return moment


def match_filter(
    since: datetime | None = None,
    until: datetime | None = None,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    relevant: bool | None = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
    topic: Annotated[str | None, Query(max_length=64)] = None,
    feed: Annotated[str | None, Query(max_length=2048)] = None,
    story: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> MatchFilter:
    return MatchFilter(
        utc_time(since, "since"),
        utc_time(until, "until"),
        min_score,
        relevant,
        country,
        clean_text(topic, "topic"),
        clean_text(feed, "feed"),
        story,
        clean_text(q, "q"),
    )


MatchQuery = Annotated[MatchFilter, Depends(match_filter)]
