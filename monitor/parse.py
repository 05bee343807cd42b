"""feedparser → ParsedFeed: bytes and response headers in, values out.

`parse_document` is a pure function of its arguments (language detection comes in as a
`LanguageDetector`). Every text it returns is bounded by `monitor.limits`. The worker processes
that run it within a time budget live in `monitor.parsers`, the language model in
`monitor.langid`.
"""

from __future__ import annotations

import calendar
import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import feedparser

from monitor.charset import repair_charset
from monitor.entrycap import cap_entries
from monitor.errors import ParseError
from monitor.fastparse import BudgetCheck, fast_parse, no_budget
from monitor.limits import (
    MAX_AUTHORS_CHARS,
    MAX_FEED_NAME_CHARS,
    MAX_HEADER_NUMBER_DIGITS,
    MAX_SUMMARY_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    bound_guid,
    clean_text,
    describe_overflow,
    truncate_text,
)
from monitor.normalize import (
    UnsafeLinkError,
    canonical_url,
    content_fingerprint,
    plain_text,
    primary_language,
)
from monitor.values import DroppedEntry, ParsedEntry, ParsedFeed

HINT_CHARS = 80
# The detector is as sure after a couple of thousand characters as after more.
LANGUAGE_SAMPLE_CHARS = 2_000
WARNING_CHARS = 300
AUTHOR_SEPARATOR = ", "


class LanguageDetector(Protocol):
    """Names the language of a text (an ISO 639-1 code), or None when unsure."""

    def __call__(self, text: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """What the pure parser needs besides the document."""

    now: datetime
    max_entries: int
    future_tolerance_s: int
    feed_language: str | None = None


def parse_document(
    body: bytes,
    headers: Mapping[str, str],
    base_url: str | None,
    options: ParseOptions,
    detect_language: LanguageDetector | None = None,
) -> ParsedFeed:
    """Parse one feed document with feedparser; raise ParseError when it holds no feed at all.

    Only the first `options.max_entries` entries are read: the document is cut before the
    next one, so a huge feed costs no more than a feed at the cap. The language of entries that
    declare none, in a feed that declares none, is detected once for the feed.
    """
    body, response_headers, entries_cut = prepare_document(body, headers, base_url, options)
    # Content HTML is reduced to text, so resolving the links inside it (a third of the time
    # feedparser spends on a feed of long articles) would be wasted, and so would sanitising it
    # (a sixth): `plain_text` keeps no markup at all and skips what the sanitiser drops whole.
    parsed = feedparser.parse(
        body, response_headers=response_headers, sanitize_html=False, resolve_relative_uris=False
    )
    if not parsed.entries and not parsed.get("version"):
        raise ParseError(describe_non_feed(body, parsed))
    return build_feed(parsed, response_headers, base_url, options, detect_language, entries_cut)


def parse_document_fast(
    body: bytes,
    headers: Mapping[str, str],
    base_url: str | None,
    options: ParseOptions,
    detect_language: LanguageDetector | None = None,
    check_budget: BudgetCheck = no_budget,
) -> ParsedFeed:
    """`parse_document` for a plain, well-formed RSS 2.0 or Atom 1.0 document, read with lxml
    (`monitor.fastparse`) instead of feedparser, to the same result; raise UnusualDocumentError
    for any other document (the caller then runs `parse_document`). `check_budget` is called
    every few hundred elements and between entries; it raises (TimeoutError) to stop a parse
    that runs past its time budget."""
    body, response_headers, entries_cut = prepare_document(body, headers, base_url, options)
    document = fast_parse(body, response_headers, check_budget)
    return build_feed(
        document.as_feedparser(),
        response_headers,
        base_url,
        options,
        detect_language,
        entries_cut,
        check_budget,
    )


def prepare_document(
    body: bytes, headers: Mapping[str, str], base_url: str | None, options: ParseOptions
) -> tuple[bytes, dict[str, str], int]:
    """The body with its charset repaired and cut at the entry cap, the headers feedparser
    gets, and how many entries the cut removed."""
    body, response_headers = repair_charset(body, {k.lower(): v for k, v in headers.items()})
    if base_url and "content-location" not in response_headers:
        response_headers["content-location"] = base_url
    body, entries_cut = cap_entries(body, options.max_entries)
    return body, response_headers, entries_cut


def build_feed(
    parsed: Mapping[str, Any],
    response_headers: Mapping[str, str],
    base_url: str | None,
    options: ParseOptions,
    detect_language: LanguageDetector | None,
    entries_cut: int,
    check_budget: BudgetCheck = no_budget,
) -> ParsedFeed:
    """The values of a feedparser result (or the fast reader's, in the same shape);
    `check_budget` is called before each entry."""
    feed_info = parsed.get("feed", {})
    feed_language = primary_language(options.feed_language) or primary_language(
        feed_info.get("language") or response_headers.get("content-language")
    )
    all_entries = parsed["entries"]
    raw_entries = all_entries[: options.max_entries]
    entries_cut += len(all_entries) - len(raw_entries)
    kept: list[ParsedEntry] = []
    dropped: list[DroppedEntry] = []
    for index, raw in enumerate(raw_entries):
        check_budget()
        try:
            kept.append(normalise_entry(raw, base_url, feed_language, options))
        except DroppedEntryError as exc:
            dropped.append(DroppedEntry(index, str(exc), entry_hint(raw)))
    if detect_language and any(entry.language is None for entry in kept):
        kept = detect_feed_language(kept, detect_language)
    return ParsedFeed(
        title=truncate_text(plain_text(feed_info.get("title")), MAX_FEED_NAME_CHARS) or None,
        language=feed_language,
        version=parsed.get("version") or None,
        ttl_minutes=parse_ttl(feed_info.get("ttl")),
        entries=tuple(kept),
        dropped=tuple(dropped),
        warning=bozo_warning(parsed),
        entries_cut=entries_cut,
    )


class DroppedEntryError(Exception):
    """An entry cannot be kept; the message is the reason shown to the user."""


def normalise_entry(
    raw: Mapping[str, Any],
    base_url: str | None,
    feed_language: str | None,
    options: ParseOptions,
) -> ParsedEntry:
    title = cut_plain_text(plain_text(raw.get("title")), MAX_TITLE_CHARS)
    summary = cut_plain_text(plain_text(entry_summary(raw)), MAX_SUMMARY_CHARS)
    url = entry_url(raw, base_url)
    if not (title or summary or url):
        raise DroppedEntryError("empty entry: no title, summary or link")
    date_text = raw.get("published") or raw.get("updated") or ""
    guid = bound_guid(raw.get("id") or "") or url or fallback_guid(title, summary, date_text)
    return ParsedEntry(
        guid=guid,
        url=url,
        title=title,
        summary=summary,
        language=entry_language(raw, feed_language),
        published_at=entry_published(raw, options.now, options.future_tolerance_s),
        authors=entry_authors(raw),
        content_hash=content_fingerprint(title, summary),
    )


def cut_plain_text(text: str, max_chars: int) -> str:
    """`truncate_text` for what `plain_text` returned: it holds no control character, so only
    an over-long text needs the full treatment."""
    return text if len(text) <= max_chars else truncate_text(text, max_chars)


def detect_feed_language(
    entries: list[ParsedEntry], detect_language: LanguageDetector
) -> list[ParsedEntry]:
    """Entries without a language get the one detected once in the text of the first of them:
    one call per feed instead of one per entry (a quarter of the parse time went there)."""
    sample: list[str] = []
    length = 0
    for entry in entries:
        if entry.language is None and length < LANGUAGE_SAMPLE_CHARS:
            sample.append(f"{entry.title} {entry.summary}")
            length += len(sample[-1]) + 1
    language = detect_language(" ".join(sample)[:LANGUAGE_SAMPLE_CHARS])
    if language is None:
        return entries
    return [e if e.language else dataclasses.replace(e, language=language) for e in entries]


def entry_url(raw: Mapping[str, Any], base_url: str | None) -> str | None:
    """The canonical link; an unsafe or over-long one drops the entry, because a cut link
    would point somewhere else."""
    try:
        url = canonical_url(raw.get("link"), base_url)
    except UnsafeLinkError as exc:
        raise DroppedEntryError(str(exc)) from None
    if url is not None and len(url) > MAX_URL_CHARS:
        raise DroppedEntryError(describe_overflow("the link", len(url), MAX_URL_CHARS))
    return url


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


def entry_language(raw: Mapping[str, Any], feed_language: str | None) -> str | None:
    """The entry's declared language, else the feed's (detection is the caller's fallback)."""
    for detail in ("title_detail", "summary_detail"):
        language = primary_language((raw.get(detail) or {}).get("language"))
        if language:
            return language
    return feed_language


def entry_authors(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """Distinct author names, as many whole names as fit the stored authors field."""
    names = [plain_text(author.get("name")) for author in raw.get("authors") or ()]
    if not any(names) and raw.get("author"):
        names = [plain_text(raw.get("author"))]
    kept: list[str] = []
    length = 0
    for name in dict.fromkeys(name for name in names if name):
        length += len(name) + (len(AUTHOR_SEPARATOR) if kept else 0)
        if length > MAX_AUTHORS_CHARS:
            return tuple(kept) or (truncate_text(name, MAX_AUTHORS_CHARS),)
        kept.append(name)
    return tuple(kept)


def entry_hint(raw: Mapping[str, Any]) -> str:
    text = plain_text(raw.get("title")) or clean_text(str(raw.get("id") or raw.get("link") or ""))
    return text[:HINT_CHARS]


def parse_ttl(value: Any) -> int | None:
    text = str(value).strip()
    if len(text) > MAX_HEADER_NUMBER_DIGITS:
        return None
    try:
        minutes = int(text)
    except ValueError:
        return None
    return minutes if minutes > 0 else None


def bozo_warning(parsed: Mapping[str, Any]) -> str | None:
    if not parsed.get("bozo"):
        return None
    exc = parsed.get("bozo_exception")
    if not exc:
        return "malformed document"
    return clean_text(f"{type(exc).__name__}: {exc}")[:WARNING_CHARS]


def describe_non_feed(body: bytes, parsed: Mapping[str, Any]) -> str:
    if not body.strip():
        return "empty document"
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "an HTML page, not a feed"
    return f"not a feed ({bozo_warning(parsed) or 'no feed elements found'})"
