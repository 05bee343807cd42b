"""One ingestion cycle: due feeds → fetch (concurrently) → parse (worker processes) → store.

The per-feed boundary covers every stage: fetch, parse, store and schedule. Whatever one feed
raises, its writes are rolled back, the error is classified once and recorded against the
feed in a fresh write, and the cycle goes on. Only a failure to record that error (the
database itself is gone) stops the cycle.

Writes go through `WriteBatcher`: the feeds whose writes queued up while the database thread
was busy are written in one transaction, and one commit serves them all (one transaction per
feed was a fifth of the database thread's time); when one of them fails, the batch is written
again with each write in a savepoint of its own, so a feed whose write fails is rolled back
alone.

Cancelling a cycle (Ctrl-C) cancels the feeds in flight and waits for them: each feed's result
is stored whole or not at all, and a feed not recorded keeps its lease (owned by
`Ingestor.owner`, released by the runtime or expiring after `lease_s`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from monitor.clock import utc_now
from monitor.collector import YOUNG_COLLECTION_OBJECTS, young_collections_every
from monitor.config import Settings
from monitor.errors import MonitorError, UnexpectedError
from monitor.fetch import HostLimiter, Validators, describe_failure, fetch_feed, open_client
from monitor.netguard import Resolver
from monitor.parsers import ParserPool, explain_parse_failure
from monitor.schedule import OUTCOME_ERROR, plan_after_failure, plan_after_success
from monitor.storage.articles import insert_articles
from monitor.storage.engine import error_detail
from monitor.storage.feeds import add_feeds, claim_due_feeds, count_feeds, record_fetch
from monitor.values import (
    CycleSummary,
    FeedCycleResult,
    FeedRecord,
    FeedStateUpdate,
    FetchedBody,
    FetchLogEntry,
    InsertResult,
    ParsedFeed,
)

if TYPE_CHECKING:  # imported by monitor.fetch, which keeps httpx's command-line client out
    import httpx

log = logging.getLogger(__name__)
T = TypeVar("T")
ProgressCallback = Callable[[FeedCycleResult, int, int], None]  # result, done, total


@dataclass
class Ingestor:
    """The long-lived parts of ingestion, opened once at start-up."""

    settings: Settings
    sessions: sessionmaker[Session]
    client: httpx.AsyncClient
    parsers: ParserPool
    clock: Callable[[], datetime] = utc_now
    rng: random.Random = field(default_factory=random.Random)
    # One writer thread: SQLite allows one writer anyway, and it keeps the loop free.
    db_thread: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "db"))
    owner: str = field(default_factory=lambda: f"ingestor-{uuid.uuid4().hex[:12]}")
    # What each feed's last stored document was, so an unchanged one (a server that sends no
    # validators) is neither parsed nor stored again. In memory: a restart parses it once more.
    last_documents: dict[int, StoredDocument] = field(default_factory=dict)
    writes: WriteBatcher = field(init=False)

    def __post_init__(self) -> None:
        self.writes = WriteBatcher(self.sessions, self.db_thread)

    async def in_db_thread(self, function: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.db_thread, function)

    async def run_cycle(
        self, only_url: str | None = None, on_progress: ProgressCallback | None = None
    ) -> CycleSummary:
        with young_collections_every(YOUNG_COLLECTION_OBJECTS):
            return await self.run_due(only_url, on_progress)

    async def run_due(
        self, only_url: str | None, on_progress: ProgressCallback | None
    ) -> CycleSummary:
        started = time.monotonic()
        due = await self.in_db_thread(lambda: self.due_feeds(only_url))
        limiter = HostLimiter(self.settings.network.per_host_concurrency)
        slots = asyncio.Semaphore(self.settings.network.max_concurrency)
        results: list[FeedCycleResult] = []
        tasks = [asyncio.create_task(self.ingest_feed(f, limiter, slots)) for f in due]
        try:
            for next_done in asyncio.as_completed(tasks):
                result = await next_done
                results.append(result)
                if on_progress:
                    on_progress(result, len(results), len(due))
        finally:
            await cancel_and_wait(tasks)
        return summarise(results, time.monotonic() - started)

    def due_feeds(self, only_url: str | None) -> list[FeedRecord]:
        with self.sessions.begin() as session:
            return claim_due_feeds(
                session, self.clock(), self.owner, self.settings.fetch.lease_s, only_url
            )

    async def ingest_feed(
        self, feed: FeedRecord, limiter: HostLimiter, slots: asyncio.Semaphore
    ) -> FeedCycleResult:
        """Fetch, parse, store and schedule one feed; any exception is recorded against it."""
        started_at, started = self.clock(), time.monotonic()
        fetched: FetchedBody | None = None
        stage = "fetch"
        try:
            async with slots, limiter.hold(feed.url):
                fetched = await fetch_feed(
                    self.client,
                    feed.url,
                    Validators(feed.etag, feed.last_modified),
                    self.settings.network,
                    self.clock,
                )
            stage = "parse"
            document = document_digest(fetched.body, feed.language)
            unchanged = self.last_documents.get(feed.id)
            if fetched.is_not_modified or (unchanged and unchanged.digest == document):
                return await self.writes.write(
                    lambda session: self.store_unchanged(
                        session, feed, fetched, unchanged, started_at
                    )
                )
            parsed = await self.parse(feed, fetched)
            stage = "store"
            body = fetched
            result = await self.writes.write(
                lambda session: self.store(session, feed, body, parsed, started_at)
            )
            self.last_documents[feed.id] = StoredDocument(
                document,
                parsed.ttl_minutes,
                describe_cut(parsed, self.settings.parse.max_entries_per_feed),
            )
            return result
        except Exception as exc:
            error = exc if isinstance(exc, MonitorError) else unexpected(exc, feed, stage)
            return await self.record_failure(feed, error, fetched, started_at, started)

    async def parse(self, feed: FeedRecord, fetched: FetchedBody) -> ParsedFeed:
        options = self.parsers.options(self.clock(), feed.language)
        try:
            return await self.parsers.parse(
                fetched.body, fetched.headers, fetched.final_url, options
            )
        except Exception as exc:
            raise explain_parse_failure(exc, self.settings.parse.time_budget_s) from None

    def store_unchanged(
        self,
        session: Session,
        feed: FeedRecord,
        fetched: FetchedBody,
        last: StoredDocument | None,
        started_at: datetime,
    ) -> FeedCycleResult:
        """A 304, or a 200 whose document is the one stored last time: only the feed's state
        and its fetch log change; the status stays the one the server sent."""
        state = plan_after_success(
            feed,
            fetched.headers,
            True,
            self.clock(),
            self.settings.fetch,
            ttl_minutes=last.ttl_minutes if last and not fetched.is_not_modified else None,
            note=last.note if last and not fetched.is_not_modified else None,
        )
        state = dataclasses.replace(state, last_http_status=fetched.status)
        record_fetch(
            session, feed.id, state, attempt_log(state, started_at, fetched, 0, NOTHING_NEW)
        )
        return FeedCycleResult(url=feed.url, outcome=state.outcome)

    def store(
        self,
        session: Session,
        feed: FeedRecord,
        fetched: FetchedBody,
        parsed: ParsedFeed | None,
        started_at: datetime,
    ) -> FeedCycleResult:
        entries = parsed.entries if parsed else ()
        inserted = insert_articles(session, feed.id, entries, self.clock())
        state = plan_after_success(
            feed,
            fetched.headers,
            fetched.is_not_modified,
            self.clock(),
            self.settings.fetch,
            len(inserted.new_article_ids),
            parsed.ttl_minutes if parsed else None,
            note=describe_cut(parsed, self.settings.parse.max_entries_per_feed),
        )
        record_fetch(
            session,
            feed.id,
            state,
            attempt_log(state, started_at, fetched, len(entries), inserted),
            title=parsed.title if parsed else None,
        )
        return FeedCycleResult(
            url=feed.url,
            outcome=state.outcome,
            new_articles=len(inserted.new_article_ids),
            duplicates=inserted.duplicates,
            dropped=len(parsed.dropped) + parsed.entries_cut if parsed else 0,
        )

    async def record_failure(
        self,
        feed: FeedRecord,
        exc: MonitorError,
        fetched: FetchedBody | None,
        started_at: datetime,
        started: float,
    ) -> FeedCycleResult:
        failure = describe_failure(exc, time.monotonic() - started)
        state = plan_after_failure(
            feed, failure, self.clock(), self.settings.fetch, self.rng.random()
        )
        entry = FetchLogEntry(
            started_at=started_at,
            outcome=OUTCOME_ERROR,
            http_status=failure.http_status or (fetched.status if fetched else None),
            bytes=fetched.wire_bytes if fetched else 0,
            duration_ms=int(failure.duration_s * 1000),
            error_class=failure.error_class.value,
            error=f"{failure.error_type}: {failure.message}",
        )

        await self.writes.write(lambda session: record_fetch(session, feed.id, state, entry))
        log.info(
            "feed failed",
            extra={
                "feed": feed.url,
                "error_class": failure.error_class.value,
                "error": failure.message,
                "disabled": not state.enabled,
            },
        )
        return FeedCycleResult(url=feed.url, outcome=OUTCOME_ERROR, error=failure.message)

    def close(self) -> None:
        self.db_thread.shutdown(wait=True)


Write = Callable[[Session], T]
WRITE_BATCH_MAX = 64  # feeds' writes in one transaction at most


class WriteBatcher:
    """Runs writes in the database thread, the ones queued meanwhile together: one
    transaction, one commit; when a write raises, the batch is rolled back and run again with
    a savepoint for each write (the one that raises is rolled back alone and gets its
    exception; a write is a function of the session only, so running it again is safe). A
    write whose caller was cancelled before its batch started is not run. When the commit
    fails, every write of the batch gets that error and nothing of the batch is stored."""

    def __init__(self, sessions: sessionmaker[Session], thread: ThreadPoolExecutor) -> None:
        self.sessions = sessions
        self.thread = thread
        self.pending: list[tuple[Write[Any], asyncio.Future[Any]]] = []
        self.draining: asyncio.Task[None] | None = None

    async def write(self, function: Write[T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.pending.append((function, future))
        if self.draining is None or self.draining.done():
            self.draining = asyncio.create_task(self.drain())
        return await future

    async def drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self.pending:
            batch = [
                (f, future) for f, future in self.pending[:WRITE_BATCH_MAX] if not future.done()
            ]
            del self.pending[:WRITE_BATCH_MAX]
            if not batch:
                continue
            try:
                outcomes = await loop.run_in_executor(
                    self.thread, self.run_batch, [f for f, _ in batch]
                )
            except asyncio.CancelledError:  # the loop is going away: so are the writers
                for _, future in [*batch, *self.pending]:
                    future.cancel()
                raise
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def run_batch(self, functions: list[Write[Any]]) -> list[tuple[bool, Any]]:
        if len(functions) == 1:  # its own transaction is boundary enough: no savepoint
            try:
                with self.sessions.begin() as session:
                    return [(True, functions[0](session))]
            except Exception as exc:
                return [(False, exc)]
        # Most batches have no failing write: all in one transaction, no savepoints (a
        # SAVEPOINT and a RELEASE for each write were a quarter of the database thread's time).
        # When a write raises, that transaction is rolled back and the batch runs again with a
        # savepoint for each write; when the commit fails, every write gets that error.
        write_failed = False
        try:
            with self.sessions.begin() as session:
                outcomes: list[tuple[bool, Any]] = []
                for function in functions:
                    try:
                        outcomes.append((True, function(session)))
                    except Exception:
                        write_failed = True
                        raise
            return outcomes
        except Exception as exc:
            if not write_failed:
                return [(False, exc)] * len(functions)
        return self.run_batch_in_savepoints(functions)

    def run_batch_in_savepoints(self, functions: list[Write[Any]]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self.sessions.begin() as session:
                for function in functions:
                    try:
                        with session.begin_nested():
                            outcomes.append((True, function(session)))
                    except Exception as exc:
                        outcomes.append((False, exc))
        except Exception as exc:
            return [(False, exc)] * len(functions)
        return outcomes


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """The digest of the document a feed's last stored parse came from, its TTL hint and the
    note its status carried."""

    digest: bytes
    ttl_minutes: int | None
    note: str | None


NOTHING_NEW = InsertResult(new_article_ids=(), duplicates=0)
DIGEST_SLICE_BYTES = 2047  # hashlib releases the GIL from 2,048 bytes on


def document_digest(body: bytes, feed_language: str | None) -> bytes:
    """Equal for the same document parsed the same way (the configured language is part of
    the parse)."""
    digest = hashlib.blake2b(digest_size=16)
    view = memoryview(body)
    # In slices under hashlib's threshold for letting go of the GIL: this runs on the event
    # loop, which would then wait for the parse or database thread to hand the GIL back.
    for start in range(0, len(view), DIGEST_SLICE_BYTES):
        digest.update(view[start : start + DIGEST_SLICE_BYTES])
    digest.update(b"\0" + (feed_language or "").encode())
    return digest.digest()


def describe_cut(parsed: ParsedFeed | None, max_entries: int) -> str | None:
    """The note a feed's status carries when the parser read only its first entries."""
    if parsed is None or not parsed.entries_cut:
        return None
    total = len(parsed.entries) + len(parsed.dropped) + parsed.entries_cut
    return (
        f"read the first {max_entries:,} of {total:,} entries "
        "(the rest are over [parse] max_entries_per_feed)"
    )


def unexpected(exc: Exception, feed: FeedRecord, stage: str) -> UnexpectedError:
    """Log a bug once, with its traceback and the feed, and turn it into the error recorded
    against the feed. A database error is named by the driver's own one-line message (the
    statement and its parameters, which may hold megabytes of feed text, are left out)."""
    log.error(
        "unexpected error while ingesting a feed",
        exc_info=exc,
        extra={"feed": feed.url, "stage": stage},
    )
    return UnexpectedError(f"internal error in {stage}: {type(exc).__name__}: {error_detail(exc)}")


async def cancel_and_wait(tasks: list[asyncio.Task[FeedCycleResult]]) -> None:
    """Cancel what is still running and wait for it, so no feed is left half-done behind the
    cycle; an error already raised by one of them is not raised twice."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def attempt_log(
    state: FeedStateUpdate,
    started_at: datetime,
    fetched: FetchedBody,
    entries_seen: int,
    inserted: InsertResult,
) -> FetchLogEntry:
    return FetchLogEntry(
        started_at=started_at,
        outcome=state.outcome,
        http_status=fetched.status,
        bytes=fetched.wire_bytes,
        duration_ms=int(fetched.duration_s * 1000),
        error_class=None,
        error=state.last_error,
        entries_seen=entries_seen,
        new_articles=len(inserted.new_article_ids),
    )


def summarise(results: list[FeedCycleResult], duration_s: float) -> CycleSummary:
    return CycleSummary(
        feeds_due=len(results),
        feeds_ok=sum(r.outcome == "ok" for r in results),
        feeds_not_modified=sum(r.outcome == "not_modified" for r in results),
        feeds_failed=sum(r.outcome == OUTCOME_ERROR for r in results),
        new_articles=sum(r.new_articles for r in results),
        duplicates=sum(r.duplicates for r in results),
        entries_dropped=sum(r.dropped for r in results),
        duration_s=duration_s,
        failures=tuple(sorted((r for r in results if r.error), key=lambda r: r.url)),
    )


@asynccontextmanager
async def open_ingestor(
    settings: Settings, sessions: sessionmaker[Session], resolver: Resolver | None = None
) -> AsyncIterator[Ingestor]:
    """Open the HTTP client and the parser processes for as long as the caller needs them."""
    with ParserPool(settings.parse) as parsers:
        async with open_client(settings.network, resolver) as client:
            ingestor = Ingestor(settings, sessions, client, parsers)
            try:
                yield ingestor
            finally:
                ingestor.close()


def add_default_feeds_if_empty(
    sessions: sessionmaker[Session], settings: Settings, now: datetime
) -> int:
    """A fresh database gets the feeds of `[feeds] file`; later edits go through `monitor feeds`."""
    from monitor.feedlist import load_feed_file  # only for a fresh database (and its XML)

    with sessions.begin() as session:
        if count_feeds(session):
            return 0
        specs = load_feed_file(settings.feeds.file)
        return len(add_feeds(session, specs, settings.fetch.default_poll_interval_s, now))
