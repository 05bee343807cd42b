"""What a user may narrow matches by, parsed once for both faces (the CLI and the API).

A face hands over the raw text the user typed (`FilterRequest`); `parse_match_filter` returns
the `MatchFilter` storage runs, or raises `FilterError` naming the parameter, which the API
answers with a 422 and the CLI with exit 2. The same filter therefore means the same thing in
both faces:

- relevant matches only by default; `include_all` (`--all`, `all=true`) shows every match and
  `relevant=False` only the ones judged not relevant;
- `since` / `until` take a duration back from now (`90m`, `24h`, `7d`) or an ISO date or time
  (naive means UTC); `until` is exclusive;
- a country is an ISO code (`VE`) or a name the gazetteer knows in English, Spanish,
  Portuguese or Russian (`Venezuela`, `Brasil`, `Куба`); a topic is a gazetteer topic
  (`energy`) or one of its terms (`petróleo`); anything else is refused, never an empty list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from monitor.config import parse_duration_s
from monitor.errors import MonitorError
from monitor.gazetteer import Gazetteer, TermMatcher
from monitor.normalize import fold_text

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


class FilterError(MonitorError):
    """A filter value that cannot be used; `parameter` names it as the user wrote it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


@dataclass(frozen=True, slots=True)
class MatchFilter:
    """A resolved filter, as storage runs it (`relevant=None` means every match)."""

    since: datetime | None = None
    until: datetime | None = None
    min_score: float | None = None
    relevant: bool | None = None
    country: str | None = None
    topic: str | None = None
    feed: str | None = None
    story: int | None = None
    text: str | None = None
    article_ids: Sequence[int] | None = field(default=None)
    language: str | None = None


@dataclass(frozen=True, slots=True)
class FilterRequest:
    """The filter as the user typed it, before any parsing."""

    since: str | None = None
    until: str | None = None
    min_score: float | None = None
    relevant: bool | None = None
    include_all: bool = False
    country: str | None = None
    topic: str | None = None
    language: str | None = None
    feed: str | None = None
    story: int | None = None
    text: str | None = None


def parse_match_filter(request: FilterRequest, gazetteer: Gazetteer, now: datetime) -> MatchFilter:
    """The storage filter for `request`, or FilterError on the first unusable value."""
    return MatchFilter(
        since=parse_moment(request.since, now, "since"),
        until=parse_moment(request.until, now, "until"),
        min_score=request.min_score,
        relevant=parse_relevance(request.include_all, request.relevant),
        country=resolve_country(request.country, gazetteer),
        topic=resolve_topic(request.topic, gazetteer),
        feed=clean_text(request.feed, "feed"),
        story=request.story,
        text=clean_text(request.text, "q") or None,
        language=parse_language(request.language),
    )


def parse_relevance(include_all: bool, relevant: bool | None) -> bool | None:
    """Relevant only unless `include_all`; an explicit `relevant` picks one side."""
    if include_all and relevant is not None:
        raise FilterError("all", "all=true cannot be combined with relevant; choose one")
    if include_all:
        return None
    return True if relevant is None else relevant


def parse_moment(value: str | None, now: datetime, parameter: str) -> datetime | None:
    """A duration back from `now` (`24h`, `7d`) or an ISO date/time, in UTC."""
    if value is None or not value.strip():
        return None
    try:
        moment = now - timedelta(seconds=parse_duration_s(value))
    except ValueError:
        moment = parse_iso_moment(value.strip(), parameter)
    except OverflowError:
        moment = EARLIEST - timedelta(days=1)
    if not EARLIEST <= moment <= LATEST:
        raise FilterError(parameter, f"{value!r} is out of range (years 1900–9999)")
    return moment


def parse_iso_moment(value: str, parameter: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FilterError(
            parameter, f"{value!r}: use a duration like 24h or 7d, or a date like 2026-11-01"
        ) from None
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        return EARLIEST - timedelta(days=1)


def resolve_country(value: str | None, gazetteer: Gazetteer) -> str | None:
    """The ISO code of a Latin American country given by code or by name."""
    if value is None or not value.strip():
        return None
    clean_text(value, "country")
    code = value.strip().upper()
    if code in gazetteer.countries:
        return code
    return resolve_name(
        value, gazetteer.countries, "country", "an ISO code like VE or a name like Venezuela"
    )


def resolve_topic(value: str | None, gazetteer: Gazetteer) -> str | None:
    """A gazetteer topic given by its name (`trade-finance`) or by one of its terms."""
    if value is None or not value.strip():
        return None
    clean_text(value, "topic")
    name = "-".join(fold_text(value).split())
    if name in gazetteer.topics:
        return name
    return resolve_name(value, gazetteer.topics, "topic", ", ".join(sorted(gazetteer.topics)))


def resolve_name(
    value: str, matchers: Mapping[str, TermMatcher], parameter: str, expected: str
) -> str:
    """The one key whose terms cover the whole of `value`; FilterError when none or several."""
    folded = fold_text(value)
    found = sorted(key for key, matcher in matchers.items() if matcher.pattern.fullmatch(folded))
    if not found:
        raise FilterError(parameter, f"unknown {parameter} {value!r} (use {expected})")
    if len(found) > 1:
        raise FilterError(parameter, f"{value!r} is ambiguous: {', '.join(found)}")
    return found[0]


def parse_language(value: str | None) -> str | None:
    """A two- or three-letter language code (`es`, `pt`), lower-cased."""
    if value is None or not value.strip():
        return None
    code = value.strip().lower()
    if not LANGUAGE_CODE.match(code):
        raise FilterError("lang", f"{value!r} is not a language code like es or pt")
    return code


def clean_text(value: str | None, parameter: str) -> str | None:
    """Free text without control characters (PostgreSQL refuses NUL)."""
    if value is not None and CONTROL_CHARACTER.search(value):
        raise FilterError(parameter, "control characters are not allowed")
    return value
