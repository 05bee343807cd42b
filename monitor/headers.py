"""Numbers read from HTTP headers, parsed with bounds: pure, no clock (`now` is a parameter).

A header value is untrusted text. Digits are ASCII only (`"²".isdigit()` is true but `int("²")`
raises; `int("٣")` is 3), a number longer than `MAX_HEADER_NUMBER_DIGITS` is garbage (5,000
digits would overflow `int()`), and anything unparseable is None, never an exception.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from monitor.limits import MAX_HEADER_NUMBER_DIGITS

# An IMF-fixdate is 29 characters; the obsolete forms are shorter. Longer text is not a date.
MAX_HTTP_DATE_CHARS = 64


def parse_delta_seconds(text: str) -> int | None:
    """`1*DIGIT` (RFC 9111 delta-seconds) in ASCII and within the digit bound, else None."""
    text = text.strip()
    if not text or len(text) > MAX_HEADER_NUMBER_DIGITS:
        return None
    if not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def parse_http_date(text: str) -> datetime | None:
    """An HTTP date as an aware datetime (UTC when the zone is missing), else None."""
    text = text.strip()
    if not text or len(text) > MAX_HTTP_DATE_CHARS or not text.isascii():
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or an HTTP date); a date in the
    past is 0; garbage is None."""
    if value is None:
        return None
    seconds = parse_delta_seconds(value)
    if seconds is not None:
        return float(seconds)
    when = parse_http_date(value)
    if when is None:
        return None
    return max(0.0, (when - now).total_seconds())


def parse_cache_max_age(cache_control: str | None) -> int | None:
    """The first `max-age` directive of a Cache-Control value, in seconds, else None.

    Directives are split on commas; the value may be quoted. `s-maxage` and other directives
    are not `max-age`."""
    for directive in (cache_control or "").split(","):
        name, _, value = directive.partition("=")
        if name.strip().lower() == "max-age":
            return parse_delta_seconds(value.strip().strip('"'))
    return None
