"""Every bound on a stored or parsed value, written once. Parse trims to these, storage checks
them again (SQLite enforces no length, and a value may bypass parse), the schema's column sizes
come from them, and tests/test_limits.py runs each one on SQLite and PostgreSQL.

Text limits are in characters (PostgreSQL `VARCHAR(n)` counts characters). What happens to a
value over its limit (`LIMITS` below is the table the README quotes):

    field                       limit  over the limit
    articles.url                2,048  parse drops the entry with a reason; storage refuses it
    articles.guid               2,048  replaced by `urn:monitor:sha256:<digest of the guid>`
    articles.title              1,000  cut, ending in "…"
    articles.summary           20,000  cut, ending in "…"
    articles.authors            1,000  whole names kept while they fit; storage cuts the rest
    articles.language              16  not stored (None)
    feeds.name (channel title)    512  cut, ending in "…"
    feeds.etag                  1,024  not stored (None): the next fetch is unconditional
    feeds.last_modified           128  not stored (None): the next fetch is unconditional
    feeds.last_error, feeds.disabled_reason, fetch_log.error
                                2,000  cut, ending in "…"

NUL, the other C0/C1 control characters (tab, newline and carriage return excepted) and lone
surrogates are removed from every stored text field, guids and URLs included: PostgreSQL
refuses NUL, and none of them is meaningful in a title, a guid or a link.

A feed's own URL, name and language (MAX_URL_CHARS, MAX_FEED_NAME_CHARS, MAX_LANGUAGE_CHARS)
are what a user types: the feed list, the CLI and the API refuse or cut them where they are read.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass

# Column sizes (VARCHAR). A cut URL would point somewhere else, so it is dropped, never cut.
MAX_URL_CHARS = 2048
MAX_GUID_CHARS = 2048
MAX_ETAG_CHARS = 1024
MAX_LAST_MODIFIED_CHARS = 128
MAX_LANGUAGE_CHARS = 16
MAX_FEED_NAME_CHARS = 512

# Free text (TEXT columns): cut at the limit.
MAX_TITLE_CHARS = 1_000
MAX_SUMMARY_CHARS = 20_000
MAX_AUTHORS_CHARS = 1_000
MAX_ERROR_CHARS = 2_000

# Numbers parsed from headers: anything longer than this many digits is garbage, not a number.
MAX_HEADER_NUMBER_DIGITS = 12

ELLIPSIS = "…"
GUID_DIGEST_PREFIX = "urn:monitor:sha256:"
CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class Overflow(enum.StrEnum):
    """What happens to a value over its limit."""

    DROP = "drop"
    DIGEST = "digest"
    TRUNCATE = "truncate"


@dataclass(frozen=True, slots=True)
class Limit:
    """One row of the table: the stored field, its bound in characters, the overflow rule."""

    field: str
    max_chars: int
    overflow: Overflow


LIMITS = (
    Limit("articles.url", MAX_URL_CHARS, Overflow.DROP),
    Limit("articles.guid", MAX_GUID_CHARS, Overflow.DIGEST),
    Limit("articles.title", MAX_TITLE_CHARS, Overflow.TRUNCATE),
    Limit("articles.summary", MAX_SUMMARY_CHARS, Overflow.TRUNCATE),
    Limit("articles.authors", MAX_AUTHORS_CHARS, Overflow.TRUNCATE),
    Limit("articles.language", MAX_LANGUAGE_CHARS, Overflow.DROP),
    Limit("feeds.name", MAX_FEED_NAME_CHARS, Overflow.TRUNCATE),
    Limit("feeds.etag", MAX_ETAG_CHARS, Overflow.DROP),
    Limit("feeds.last_modified", MAX_LAST_MODIFIED_CHARS, Overflow.DROP),
    Limit("feeds.last_error", MAX_ERROR_CHARS, Overflow.TRUNCATE),
    Limit("feeds.disabled_reason", MAX_ERROR_CHARS, Overflow.TRUNCATE),
    Limit("fetch_log.error", MAX_ERROR_CHARS, Overflow.TRUNCATE),
)


def clean_text(text: str) -> str:
    """`text` without NUL, other control characters (tab, newlines kept) or lone surrogates."""
    return CONTROL_CHARS.sub("", text)


def truncate_text(text: str, max_chars: int) -> str:
    """Control characters removed and cut to `max_chars`, ending in "…" when cut."""
    text = clean_text(text)
    if len(text) <= max_chars:
        return text
    return text[: max_chars - len(ELLIPSIS)].rstrip() + ELLIPSIS


def truncate_or_none(text: str | None, max_chars: int) -> str | None:
    """`truncate_text` for an optional value; None stays None, and so does an empty result."""
    return truncate_text(text, max_chars) or None if text is not None else None


def fit_or_none(text: str | None, max_chars: int) -> str | None:
    """Control characters removed; None when empty or still over `max_chars` (a drop limit)."""
    if text is None:
        return None
    text = clean_text(text)
    return text if text and len(text) <= max_chars else None


def bound_guid(guid: str) -> str:
    """The guid without control characters; an over-long one becomes a digest of itself, so
    distinct long guids stay distinct and the same guid maps to the same digest every time."""
    guid = clean_text(guid).strip()
    if len(guid) <= MAX_GUID_CHARS:
        return guid
    return GUID_DIGEST_PREFIX + hashlib.sha256(guid.encode()).hexdigest()


def describe_overflow(what: str, length: int, max_chars: int) -> str:
    """The reason a user sees for a value dropped or refused at its limit."""
    return f"{what} is {length:,} characters, over the limit of {max_chars:,}"
