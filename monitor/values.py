"""Frozen values passed between the stages; ORM rows never leave `monitor.storage`."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.errors import ErrorClass


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed as a user or the default list names it, before it is stored."""

    url: str
    name: str | None = None
    language: str | None = None
    poll_interval_s: int | None = None


@dataclass(frozen=True, slots=True)
class FeedRecord:
    """A stored feed with its fetch state and health."""

    id: int
    url: str
    name: str | None
    language: str | None
    enabled: bool
    poll_interval_s: int
    etag: str | None
    last_modified: str | None
    next_poll_at: datetime | None
    consecutive_failures: int
    permanent_failures: int
    last_status: str | None
    last_http_status: int | None
    last_error: str | None
    last_error_class: str | None
    disabled_reason: str | None
    last_fetched_at: datetime | None
    current_interval_s: int | None = None


@dataclass(frozen=True, slots=True)
class FetchedBody:
    """A successful (2xx) or not-modified (304) answer, body already decompressed."""

    final_url: str
    status: int
    headers: dict[str, str]
    body: bytes
    wire_bytes: int
    duration_s: float

    @property
    def is_not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True, slots=True)
class FetchFailure:
    """A fetch attempt that failed, classified once."""

    error_class: ErrorClass
    error_type: str
    message: str
    http_status: int | None
    retry_after_s: float | None
    duration_s: float


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    """One normalised feed entry."""

    guid: str
    url: str | None
    title: str
    summary: str
    language: str | None
    published_at: datetime
    authors: tuple[str, ...]
    content_hash: str | None


@dataclass(frozen=True, slots=True)
class DroppedEntry:
    """An entry the parser refused, with the reason a user can act on."""

    index: int
    reason: str
    hint: str


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed document: its metadata, kept entries and dropped ones."""

    title: str | None
    language: str | None
    version: str | None
    ttl_minutes: int | None
    entries: tuple[ParsedEntry, ...]
    dropped: tuple[DroppedEntry, ...]
    warning: str | None = None
    # Entries after the first `max_entries_per_feed`, not read at all (the document was cut):
    # the feed had len(entries) + len(dropped) + entries_cut entries.
    entries_cut: int = 0


@dataclass(frozen=True, slots=True)
class FeedStateUpdate:
    """What one attempt changes on a feed: the pure scheduler's decision."""

    outcome: str
    next_poll_at: datetime
    consecutive_failures: int
    permanent_failures: int
    etag: str | None
    last_modified: str | None
    enabled: bool
    disabled_reason: str | None
    last_http_status: int | None
    last_error: str | None
    last_error_class: str | None
    current_interval_s: int | None = None


@dataclass(frozen=True, slots=True)
class FetchLogEntry:
    """One row of the fetch log: one attempt on one feed."""

    started_at: datetime
    outcome: str
    http_status: int | None
    bytes: int
    duration_ms: int
    error_class: str | None
    error: str | None
    entries_seen: int = 0
    new_articles: int = 0


@dataclass(frozen=True, slots=True)
class InsertResult:
    """Which entries became new articles and how many were already stored."""

    new_article_ids: tuple[int, ...]
    duplicates: int


@dataclass(frozen=True, slots=True)
class FeedCycleResult:
    """The outcome of one feed within a cycle."""

    url: str
    outcome: str
    new_articles: int = 0
    duplicates: int = 0
    dropped: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CycleSummary:
    """What one ingestion cycle did, for the user and for scripts."""

    feeds_due: int
    feeds_ok: int
    feeds_not_modified: int
    feeds_failed: int
    new_articles: int
    duplicates: int
    entries_dropped: int
    duration_s: float
    failures: tuple[FeedCycleResult, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class PendingArticle:
    """A stored article that still needs embedding, a story and a relevance match."""

    id: int
    feed_id: int
    title: str
    summary: str
    language: str | None
    first_seen_at: datetime
    published_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredVector:
    """An article's stored embedding with what rescoring needs."""

    article_id: int
    story_id: int | None
    title: str
    summary: str
    vector: bytes


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """What the processing stage stores about one article's relevance."""

    article_id: int
    relevant: bool
    score: float
    countries: tuple[str, ...]
    topics: tuple[str, ...]
    reasons: str
    scorer_version: str


@dataclass(frozen=True, slots=True)
class ProcessedArticle:
    """One article's processing outcome, ready to store."""

    article: PendingArticle
    vector: bytes
    model_id: str
    story_id: int
    seed_duplicate: str | None
    match: MatchRecord
    thread_id: int = 0  # the event's thread; negative: started in this batch (provisional)


@dataclass(frozen=True, slots=True)
class ProcessSummary:
    articles: int = 0
    new_stories: int = 0
    joined_stories: int = 0
    seed_duplicates: int = 0
    relevant: int = 0
    alerts: int = 0


# Alerts: what the outbox stores and the dispatcher moves. Storage returns these; alerts/ builds
# and reads them.


class AlertType(enum.StrEnum):
    """What an alert announces."""

    MATCH_CREATED = "match.created"  # a story first matched a rule
    STORY_UPDATED = "story.updated"  # the story has since reached more outlets
    STORY_DEVELOPING = "story.developing"  # a new event in a thread already alerted
    DIGEST = "digest"  # one message carrying a rule's held stories
    TEST = "test"  # `monitor alerts test CHANNEL`; never stored


class AlertStatus(enum.StrEnum):
    """Where a stored alert stands."""

    QUEUED = "queued"  # its deliveries were created with it
    HELD = "held"  # waiting for its rule's next digest
    DIGESTED = "digested"  # carried by a digest


class DeliveryStatus(enum.StrEnum):
    """Where one (alert, channel) delivery stands in the outbox."""

    PENDING = "pending"  # due at next_attempt_at (a retry, or never tried)
    DELIVERED = "delivered"
    DEAD = "dead"  # out of attempts
    DISABLED = "disabled"  # its channel is switched off (410 Gone)


class AttemptResult(enum.StrEnum):
    """What one send attempt came to."""

    OK = "ok"
    FAILED = "failed"  # retried on the schedule until the attempts run out
    GONE = "gone"  # the endpoint is gone or the channel disabled: not retried


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What one send attempt returned."""

    result: AttemptResult
    status_code: int | None = None
    retry_after_s: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.result is AttemptResult.OK

    @property
    def gone(self) -> bool:
        return self.result is AttemptResult.GONE


@dataclass(frozen=True, slots=True)
class NextStep:
    """What happens to a delivery after an attempt."""

    status: DeliveryStatus
    next_attempt_at: datetime | None
    disable_channel: bool = False


@dataclass(frozen=True, slots=True)
class PriorAlerts:
    """What earlier batches already alerted, and each story's outlets before this batch."""

    created_outlets: Mapping[tuple[str, int], int] = field(default_factory=dict)
    updated: frozenset[tuple[str, int]] = frozenset()
    instant_last_hour: Mapping[str, int] = field(default_factory=dict)
    story_feeds: Mapping[int, frozenset[int]] = field(default_factory=dict)
    # (rule, thread) pairs whose thread already raised a match.created or story.developing.
    alerted_threads: frozenset[tuple[str, int]] = frozenset()


@dataclass(frozen=True, slots=True)
class ArticleInfo:
    """One article of a story as an alert shows it; `feed` is the feed's URL."""

    id: int
    title: str
    url: str | None
    feed: str
    language: str | None
    published_at: str
    score: float
    countries: tuple[str, ...]
    topics: tuple[str, ...]
    feed_name: str | None = None


@dataclass(frozen=True, slots=True)
class StoryInfo:
    id: int
    title: str
    outlets_count: int
    languages: tuple[str, ...]
    first_seen_at: str
    last_seen_at: str


@dataclass(frozen=True, slots=True)
class StoryAlertView:
    """One story as an alert shows it, with the triggering article's relevance."""

    story: StoryInfo
    score: float
    countries: tuple[str, ...]
    topics: tuple[str, ...]
    reasons: Mapping[str, Any]
    articles: tuple[ArticleInfo, ...]
    # The event's thread: {"id", "title", "events": [earlier events {id, title, ...}]}.
    thread: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """A stored alert without its payload."""

    id: int
    uid: str
    rule: str
    type: AlertType
    story_id: int | None
    article_id: int | None
    score: float
    outlets_count: int
    status: AlertStatus
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery leased to one dispatcher, with what its sender needs."""

    id: int
    channel: str
    webhook_id: str
    attempts: int
    alert_uid: str
    alert_type: AlertType
    payload: str


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """A delivery as `monitor alerts list` shows it."""

    id: int
    alert_id: int
    alert_type: AlertType
    rule: str
    channel: str
    webhook_id: str  # the receiver's idempotency key: the same on every attempt
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None
    message: str
    lease_owner: str | None  # the dispatcher holding it now, if any


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One logged send attempt of a delivery."""

    id: int
    delivery_id: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    response: str | None
