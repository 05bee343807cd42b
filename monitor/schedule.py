"""Pure decisions about a feed's next poll after an attempt: no clock, no I/O, no randomness
of its own (`now` and `jitter` are parameters)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from monitor.config import FetchSettings
from monitor.errors import ErrorClass
from monitor.headers import parse_cache_max_age
from monitor.values import FeedRecord, FeedStateUpdate, FetchFailure

OUTCOME_OK = "ok"
OUTCOME_NOT_MODIFIED = "not_modified"
OUTCOME_ERROR = "error"


def plan_after_success(
    feed: FeedRecord,
    headers: Mapping[str, str],
    not_modified: bool,
    now: datetime,
    settings: FetchSettings,
    new_articles: int = 0,
    ttl_minutes: int | None = None,
    note: str | None = None,
) -> FeedStateUpdate:
    """A 200 stores the validators it carries; a 304 keeps the old ones unless it sends new.
    The next poll follows the adaptive interval. `note` is what the feed's status says about
    an attempt that succeeded in part (entries over the cap): no error class, nothing to retry."""
    etag = headers.get("etag")
    last_modified = headers.get("last-modified")
    if not_modified:
        etag = etag or feed.etag
        last_modified = last_modified or feed.last_modified
    hint_s = ttl_minutes * 60 if ttl_minutes else parse_cache_max_age(headers.get("cache-control"))
    interval = adapt_interval_s(feed, new_articles, hint_s, settings)
    return FeedStateUpdate(
        outcome=OUTCOME_NOT_MODIFIED if not_modified else OUTCOME_OK,
        next_poll_at=now + timedelta(seconds=interval),
        current_interval_s=interval,
        consecutive_failures=0,
        permanent_failures=0,
        etag=etag,
        last_modified=last_modified,
        enabled=True,
        disabled_reason=None,
        last_http_status=304 if not_modified else 200,
        last_error=note,
        last_error_class=None,
    )


QUIET_GROWTH = 1.5


def adapt_interval_s(
    feed: FeedRecord, new_articles: int, hint_s: int | None, settings: FetchSettings
) -> int:
    """New articles: back to the feed's own interval. Nothing new: 1.5× longer. A publisher's
    ttl or max-age within bounds is a floor. Always within [min, max] poll interval."""
    current = feed.current_interval_s or feed.poll_interval_s
    interval = feed.poll_interval_s if new_articles else current * QUIET_GROWTH
    if hint_s and settings.min_poll_interval_s <= hint_s <= settings.max_poll_interval_s:
        interval = max(interval, hint_s)
    return int(min(settings.max_poll_interval_s, max(settings.min_poll_interval_s, interval)))


def plan_after_failure(
    feed: FeedRecord,
    failure: FetchFailure,
    now: datetime,
    settings: FetchSettings,
    jitter: float,
) -> FeedStateUpdate:
    """Back off exponentially (with `jitter` in [0, 1)), honour Retry-After, and disable a feed
    after too many consecutive permanent failures. A configuration problem (the SSRF guard)
    says nothing about the feed: it neither counts towards disabling nor breaks the streak,
    and is retried on the longest back-off."""
    failures = feed.consecutive_failures + 1
    permanent = count_permanent(feed.permanent_failures, failure.error_class)
    disabled = (
        failure.error_class is ErrorClass.PERMANENT
        and permanent >= settings.disable_after_permanent_failures
    )
    return FeedStateUpdate(
        outcome=OUTCOME_ERROR,
        next_poll_at=now
        + timedelta(seconds=retry_delay_s(feed, failure, failures, settings, jitter)),
        consecutive_failures=failures,
        permanent_failures=permanent,
        etag=feed.etag,
        last_modified=feed.last_modified,
        enabled=not disabled,
        disabled_reason=(
            f"{permanent} consecutive permanent failures; last: {failure.message}"
            if disabled
            else None
        ),
        last_http_status=failure.http_status,
        last_error=failure.message,
        last_error_class=failure.error_class.value,
        current_interval_s=feed.current_interval_s,
    )


def count_permanent(streak: int, error_class: ErrorClass) -> int:
    if error_class is ErrorClass.PERMANENT:
        return streak + 1
    return streak if error_class is ErrorClass.CONFIG else 0


def retry_delay_s(
    feed: FeedRecord, failure: FetchFailure, failures: int, settings: FetchSettings, jitter: float
) -> float:
    if failure.error_class is ErrorClass.CONFIG:
        return float(settings.backoff_max_s)
    if failure.error_class is ErrorClass.RATE_LIMITED and failure.retry_after_s is not None:
        return max(
            float(feed.poll_interval_s), min(failure.retry_after_s, settings.retry_after_cap_s)
        )
    exponential = float(
        min(settings.backoff_max_s, settings.backoff_base_s * 2 ** min(failures - 1, 30))
    )
    # "Equal jitter": at least half the delay, so retries spread out but never bunch up early.
    return exponential / 2 + exponential / 2 * jitter
