"""feedparser → ParsedFeed. feedparser always gets bytes and the response headers.

`parse_document` is a pure function of its arguments; `ParserPool` runs it in worker processes
so that a pathological document can be cut off at its time budget without blocking the loop.
"""

from __future__ import annotations

import asyncio
import calendar
import concurrent.futures
import hashlib
import multiprocessing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import feedparser
import pebble
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from monitor.charset import repair_charset
from monitor.config import ParseSettings
from monitor.errors import ParseError
from monitor.normalize import (
    UnsafeLinkError,
    canonical_url,
    content_fingerprint,
    plain_text,
    primary_language,
)
from monitor.values import DroppedEntry, ParsedEntry, ParsedFeed

DETECTION_MIN_PROBABILITY = 0.6
HINT_CHARS = 80


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """What the pure parser needs besides the document."""

    now: datetime
    max_entries: int
    future_tolerance_s: int
    feed_language: str | None = None
    detect_languages: tuple[str, ...] = ()


def parse_document(
    body: bytes, headers: Mapping[str, str], base_url: str | None, options: ParseOptions
) -> ParsedFeed:
    """Parse one feed document; raise ParseError when it holds no feed at all."""
    body, response_headers = repair_charset(body, {k.lower(): v for k, v in headers.items()})
    if base_url and "content-location" not in response_headers:
        response_headers["content-location"] = base_url
    parsed = feedparser.parse(body, response_headers=response_headers, sanitize_html=True)
    if not parsed.entries and not parsed.get("version"):
        raise ParseError(describe_non_feed(body, parsed))
    feed_info = parsed.get("feed", {})
    feed_language = primary_language(options.feed_language) or primary_language(
        feed_info.get("language") or response_headers.get("content-language")
    )
    kept: list[ParsedEntry] = []
    dropped: list[DroppedEntry] = []
    for index, raw in enumerate(parsed.entries):
        if index >= options.max_entries:
            dropped.append(
                DroppedEntry(index, f"over the cap of {options.max_entries} entries", "")
            )
            continue
        try:
            kept.append(normalise_entry(raw, base_url, feed_language, options))
        except DroppedEntryError as exc:
            dropped.append(DroppedEntry(index, str(exc), entry_hint(raw)))
    return ParsedFeed(
        title=plain_text(feed_info.get("title")) or None,
        language=feed_language,
        version=parsed.get("version") or None,
        ttl_minutes=parse_ttl(feed_info.get("ttl")),
        entries=tuple(kept),
        dropped=tuple(dropped),
        warning=bozo_warning(parsed),
    )


class DroppedEntryError(Exception):
    """An entry cannot be kept; the message is the reason shown to the user."""


def normalise_entry(
    raw: Mapping[str, Any], base_url: str | None, feed_language: str | None, options: ParseOptions
) -> ParsedEntry:
    title = plain_text(raw.get("title"))
    summary = plain_text(entry_summary(raw))
    try:
        url = canonical_url(raw.get("link"), base_url)
    except UnsafeLinkError as exc:
        raise DroppedEntryError(str(exc)) from None
    if not (title or summary or url):
        raise DroppedEntryError("empty entry: no title, summary or link")
    date_text = raw.get("published") or raw.get("updated") or ""
    guid = (raw.get("id") or "").strip() or url or fallback_guid(title, summary, date_text)
    return ParsedEntry(
        guid=guid[:2048],
        url=url,
        title=title,
        summary=summary,
        language=entry_language(raw, title, summary, feed_language, options.detect_languages),
        published_at=entry_published(raw, options.now, options.future_tolerance_s),
        authors=entry_authors(raw),
        content_hash=content_fingerprint(title, summary),
    )


def entry_summary(raw: Mapping[str, Any]) -> str:
    summary = raw.get("summary")
    if summary:
        return str(summary)
    for content in raw.get("content") or ():
        if content.get("value"):
            return str(content["value"])
    return ""


def fallback_guid(title: str, summary: str, date_text: str) -> str:
    digest = hashlib.sha256(f"{title}\n{date_text}\n{summary if not title else ''}".encode())
    return f"urn:monitor:{digest.hexdigest()[:32]}"


def entry_published(raw: Mapping[str, Any], now: datetime, future_tolerance_s: int) -> datetime:
    """Published (else updated) time in UTC; missing or far-future dates become `now`."""
    parsed = raw.get("published_parsed") or raw.get("updated_parsed")
    if not parsed:
        return now
    try:
        when = datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return now
    return now if when > now + timedelta(seconds=future_tolerance_s) else when


def entry_language(
    raw: Mapping[str, Any],
    title: str,
    summary: str,
    feed_language: str | None,
    detect_languages: Sequence[str],
) -> str | None:
    for detail in ("title_detail", "summary_detail"):
        language = primary_language((raw.get(detail) or {}).get("language"))
        if language:
            return language
    return feed_language or detect_language(f"{title} {summary}", tuple(detect_languages))


def detect_language(text: str, candidates: tuple[str, ...]) -> str | None:
    if not text.strip():
        return None
    language, probability = language_identifier(candidates).classify(text)
    return str(language) if probability >= DETECTION_MIN_PROBABILITY else None


@cache
def language_identifier(candidates: tuple[str, ...]) -> LanguageIdentifier:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if candidates:
        identifier.set_languages(list(candidates))
    return identifier


def entry_authors(raw: Mapping[str, Any]) -> tuple[str, ...]:
    names = [plain_text(author.get("name")) for author in raw.get("authors") or ()]
    if not any(names) and raw.get("author"):
        names = [plain_text(raw.get("author"))]
    return tuple(dict.fromkeys(name for name in names if name))


def entry_hint(raw: Mapping[str, Any]) -> str:
    text = plain_text(raw.get("title")) or str(raw.get("id") or raw.get("link") or "")
    return text[:HINT_CHARS]


def parse_ttl(value: Any) -> int | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes if minutes > 0 else None


def bozo_warning(parsed: Mapping[str, Any]) -> str | None:
    if not parsed.get("bozo"):
        return None
    exc = parsed.get("bozo_exception")
    return f"{type(exc).__name__}: {exc}"[:300] if exc else "malformed document"


def describe_non_feed(body: bytes, parsed: Mapping[str, Any]) -> str:
    if not body.strip():
        return "empty document"
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "an HTML page, not a feed"
    return f"not a feed ({bozo_warning(parsed) or 'no feed elements found'})"


def warm_up_worker(detect_languages: tuple[str, ...]) -> None:
    """Load the language model before the first task, so no task's budget pays for it."""
    language_identifier(detect_languages)


class ParserPool:
    """Worker processes that parse documents within a time budget each.

    A document that runs past the budget has its worker killed (pebble replaces it) and the
    feed gets a ParseError; other feeds are not held up.
    """

    def __init__(self, settings: ParseSettings) -> None:
        self.settings = settings
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["monitor.parse"])
        self.pool = pebble.ProcessPool(
            max_workers=settings.workers,
            context=context,
            initializer=warm_up_worker,
            initargs=(tuple(settings.detect_languages),),
        )

    def options(self, now: datetime, feed_language: str | None) -> ParseOptions:
        return ParseOptions(
            now=now,
            max_entries=self.settings.max_entries_per_feed,
            future_tolerance_s=self.settings.future_tolerance_s,
            feed_language=feed_language,
            detect_languages=tuple(self.settings.detect_languages),
        )

    def submit(
        self, body: bytes, headers: Mapping[str, str], base_url: str | None, options: ParseOptions
    ) -> concurrent.futures.Future[ParsedFeed]:
        future: concurrent.futures.Future[ParsedFeed] = self.pool.schedule(
            parse_document,
            args=(body, dict(headers), base_url, options),
            timeout=self.settings.time_budget_s,
        )
        return future

    async def parse(
        self, body: bytes, headers: Mapping[str, str], base_url: str | None, options: ParseOptions
    ) -> ParsedFeed:
        return await asyncio.wrap_future(self.submit(body, headers, base_url, options))

    def close(self) -> None:
        self.pool.close()  # type: ignore[no-untyped-call]
        self.pool.join()

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def explain_parse_failure(exc: BaseException, budget_s: float) -> ParseError:
    """Turn what a worker raised into the ParseError recorded against the feed."""
    if isinstance(exc, ParseError):
        return exc
    if isinstance(exc, concurrent.futures.TimeoutError | TimeoutError):
        return ParseError(f"parsing took longer than the budget of {budget_s:g} s")
    if isinstance(exc, pebble.ProcessExpired):
        return ParseError(f"the parser process died (exit code {exc.exitcode})")
    return ParseError(f"parser failed: {type(exc).__name__}: {exc}")
