"""Every limit of monitor.limits, just over it, through parse and storage on SQLite and
PostgreSQL: what is stored is bounded as documented, and never a DataError."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor import limits
from monitor.errors import StorageError
from monitor.limits import (
    ELLIPSIS,
    GUID_DIGEST_PREFIX,
    LIMITS,
    MAX_FEED_NAME_CHARS,
    MAX_URL_CHARS,
    Limit,
    bound_guid,
    clean_text,
    fit_or_none,
    truncate_text,
)
from monitor.loopback import item, rss
from monitor.parse import ParseOptions, parse_document
from monitor.storage.articles import insert_articles
from monitor.storage.feeds import add_feeds, get_feed, list_fetch_log, record_fetch
from monitor.storage.schema import Article
from monitor.values import FeedRecord, FeedSpec, FeedStateUpdate, FetchLogEntry, ParsedEntry
from tests.factories import make_entry

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
OPTIONS = ParseOptions(now=NOW, max_entries=500, future_tolerance_s=86_400)
FEED_URL = "https://limits.example/rss"
Sessions = sessionmaker[Session]


def over(limit: Limit, fill: str = "x") -> str:
    """A value one character over the limit, with a NUL inside for good measure."""
    return "\x00" + fill * (limit.max_chars + 1)


def store_document(sessions: Sessions, body: bytes) -> tuple[FeedRecord, list[Article]]:
    """Parse `body` and store it as one successful fetch; return the feed and its articles."""
    parsed = parse_document(body, {}, FEED_URL, OPTIONS)
    return store_entries(sessions, parsed.entries, title=parsed.title)


def store_entries(
    sessions: Sessions,
    entries: tuple[ParsedEntry, ...] = (),
    title: str | None = None,
    state: FeedStateUpdate | None = None,
    error: str | None = None,
    feed_url: str = FEED_URL,
) -> tuple[FeedRecord, list[Article]]:
    with sessions.begin() as session:
        add_feeds(session, [FeedSpec(feed_url)], 900, NOW)
        feed = get_feed(session, feed_url)
        assert feed is not None
        insert_articles(session, feed.id, entries, NOW)
        log = FetchLogEntry(NOW, "ok", 200, 10, 5, None, error)
        record_fetch(session, feed.id, state or make_state(), log, title=title)
    with sessions.begin() as session:
        feed = get_feed(session, feed_url)
        assert feed is not None
        articles = list(session.scalars(select(Article).order_by(Article.id)))
        session.expunge_all()
    return feed, articles


def make_state(**fields: object) -> FeedStateUpdate:
    state = FeedStateUpdate(
        outcome="ok",
        next_poll_at=NOW,
        consecutive_failures=0,
        permanent_failures=0,
        etag=None,
        last_modified=None,
        enabled=True,
        disabled_reason=None,
        last_http_status=200,
        last_error=None,
        last_error_class=None,
    )
    return dataclasses.replace(state, **fields)  # type: ignore[arg-type]


def check_article_url(sessions: Sessions, limit: Limit) -> None:
    link = "https://e.org/" + "a" * (limit.max_chars + 1 - len("https://e.org/"))
    parsed = parse_document(rss([item("Long link", link, "1")]), {}, FEED_URL, OPTIONS)
    assert parsed.entries == ()
    assert "over the limit of 2,048" in parsed.dropped[0].reason
    with pytest.raises(StorageError, match="an article link is 2,049 characters"):
        store_entries(sessions, (make_entry(url=link),))
    _, articles = store_entries(sessions, (make_entry(url="https://e.org/\x00a"),))
    assert [a.url for a in articles] == ["https://e.org/a"]


def check_article_guid(sessions: Sessions, limit: Limit) -> None:
    _, articles = store_document(sessions, rss([item("T", "https://e.org/1", over(limit))]))
    bypass = make_entry(guid=over(limit, "y"), url="https://e.org/2", title="Another")
    _, articles = store_entries(sessions, (bypass,))
    guids = [a.guid for a in articles]
    assert all(g.startswith(GUID_DIGEST_PREFIX) and len(g) <= limit.max_chars for g in guids)
    assert len(set(guids)) == 2


def check_text(field: str) -> Callable[[Sessions, Limit], None]:
    """A title, summary or authors value over its limit, from a document and from a bypass."""

    def check(sessions: Sessions, limit: Limit) -> None:
        value = over(limit, "w ")
        raw = {"title": item(value, "https://e.org/1", "1")}
        raw["summary"] = item("T", "https://e.org/1", "1", summary=value)
        raw["authors"] = raw["summary"].replace("</item>", f"<author>a@e.org ({value})</author>")
        store_document(sessions, rss([raw[field]]))
        bypass = dataclasses.replace(
            make_entry(guid="2", url="https://e.org/2", title="Bypass"),
            **{field: (value,) if field == "authors" else value},
        )
        _, articles = store_entries(sessions, (bypass,))
        for article in articles:
            stored = getattr(article, field)
            assert len(stored) == limit.max_chars and stored.endswith(ELLIPSIS)
            assert "\x00" not in stored

    return check


def check_article_language(sessions: Sessions, limit: Limit) -> None:
    body = rss([item("T", "https://e.org/1", "1")], extra=f"<language>{over(limit)}</language>")
    parsed = parse_document(
        body, {}, FEED_URL, dataclasses.replace(OPTIONS, feed_language="l" * 17)
    )
    assert parsed.entries[0].language is None
    bypass = make_entry(guid="2", url="https://e.org/2")
    _, articles = store_entries(sessions, (dataclasses.replace(bypass, language=over(limit)),))
    assert [a.language for a in articles] == [None]


def check_feed_name(sessions: Sessions, limit: Limit) -> None:
    feed, _ = store_document(sessions, rss([], title=over(limit)))
    assert feed.name is not None and len(feed.name) == MAX_FEED_NAME_CHARS
    assert feed.name.endswith(ELLIPSIS) and "\x00" not in feed.name
    bypass, _ = store_entries(sessions, title=over(limit), feed_url="https://other.example/")
    assert bypass.name == feed.name


def check_validator(field: str) -> Callable[[Sessions, Limit], None]:
    """An ETag or Last-Modified over its limit is not stored; a NUL in one is removed."""

    def check(sessions: Sessions, limit: Limit) -> None:
        feed, _ = store_entries(sessions, state=make_state(**{field: over(limit)}))
        assert getattr(feed, field) is None
        feed, _ = store_entries(sessions, state=make_state(**{field: '"a\x00b"'}))
        assert getattr(feed, field) == '"ab"'

    return check


def check_feed_message(field: str) -> Callable[[Sessions, Limit], None]:
    """An error or disabling reason over its limit is cut, its NUL removed."""

    def check(sessions: Sessions, limit: Limit) -> None:
        feed, _ = store_entries(sessions, state=make_state(**{field: over(limit, "e ")}))
        stored = getattr(feed, field)
        assert stored is not None and len(stored) == limit.max_chars
        assert "\x00" not in stored and stored.endswith(ELLIPSIS)

    return check


def check_fetch_log_error(sessions: Sessions, limit: Limit) -> None:
    store_entries(sessions, error=over(limit, "e "))
    with sessions.begin() as session:
        feed = get_feed(session, FEED_URL)
        assert feed is not None
        (entry,) = list_fetch_log(session, feed.id)
    assert entry.error is not None and len(entry.error) == limit.max_chars


CHECKS: dict[str, Callable[[Sessions, Limit], None]] = {
    "articles.url": check_article_url,
    "articles.guid": check_article_guid,
    "articles.title": check_text("title"),
    "articles.summary": check_text("summary"),
    "articles.authors": check_text("authors"),
    "articles.language": check_article_language,
    "feeds.name": check_feed_name,
    "feeds.etag": check_validator("etag"),
    "feeds.last_modified": check_validator("last_modified"),
    "feeds.last_error": check_feed_message("last_error"),
    "feeds.disabled_reason": check_feed_message("disabled_reason"),
    "fetch_log.error": check_fetch_log_error,
}


class TestEveryLimit:
    def test_every_limit_has_a_check(self) -> None:
        """A limit added to the table without a check here fails this test."""
        assert sorted(CHECKS) == sorted(limit.field for limit in LIMITS)

    @pytest.mark.parametrize("limit", LIMITS, ids=lambda limit: limit.field)
    def test_every_limit_is_documented(self, limit: Limit) -> None:
        """The table in monitor.limits' docstring (quoted by the README) names every limit."""
        assert limit.field in limits.__doc__  # type: ignore[operator]
        assert f"{limit.max_chars:,}" in limits.__doc__  # type: ignore[operator]

    @pytest.mark.parametrize("limit", LIMITS, ids=lambda limit: limit.field)
    def test_value_just_over_the_limit_is_bounded(self, sessions: Sessions, limit: Limit) -> None:
        """A value one character over the limit is stored bounded as the table says."""
        CHECKS[limit.field](sessions, limit)


class TestNul:
    def test_nul_removed_from_every_stored_field(self, sessions: Sessions) -> None:
        """NUL in a guid, link, title, summary and author of a document is stored as nothing."""
        body = rss(
            [item("Ti\x00tle", "https://e.org/\x00x", "gu\x00id", summary="sum\x00mary")],
            title="Chan\x00nel",
        ).replace(b"</item>", b"<author>a@e.org (Wri\x00ter)</author></item>")
        feed, (article,) = store_document(sessions, body)
        stored = (article.guid, article.url, article.title, article.summary, article.authors)
        assert stored == ("guid", "https://e.org/x", "Title", "summary", "Writer")
        assert feed.name == "Channel"


class TestHelpers:
    def test_truncate_text_keeps_short_text(self) -> None:
        """Text within its limit comes back unchanged (control characters aside)."""
        assert truncate_text("a\tb\x07c", 10) == "a\tbc"

    def test_truncate_text_cuts_with_an_ellipsis(self) -> None:
        """Cut text is exactly the limit long and ends in an ellipsis."""
        assert truncate_text("abcdef", 4) == "abc…"

    def test_fit_or_none(self) -> None:
        """A drop-limit value over its limit, or empty, is None."""
        assert (fit_or_none("abc", 3), fit_or_none("abcd", 3), fit_or_none("\x00", 3)) == (
            "abc",
            None,
            None,
        )

    def test_bound_guid_is_idempotent(self) -> None:
        """Bounding a digested guid again leaves it alone, so parse and storage agree."""
        once = bound_guid("g" * (MAX_URL_CHARS + 5))
        assert bound_guid(once) == once

    def test_clean_text_removes_lone_surrogates(self) -> None:
        """A lone surrogate (which PostgreSQL cannot encode) is removed like a control char."""
        assert clean_text("a\ud800b\x1fc\x7f\x9fd") == "abcd"
