"""Parsing within a time budget: plain feeds in a thread, the rest in worker processes.

A plain, well-formed RSS 2.0 or Atom 1.0 document is read in this process, in a thread of its
own, by `parse_document_fast` (lxml, no entity expansion, no DTD, no network): a budget check
called every few hundred elements and between entries stops a parse that runs past the budget
(TimeoutError, then a ParseError for the feed), and so does one that is over the budget when it
ends (the charset repair before the first check, the language detection after the last). Any
other document goes to a worker process running feedparser (`parse_document`) with what is left
of the same budget (the time the fast reader spent before handing it over is charged): a parse
that runs past it has its worker killed (pebble replaces it) and the feed gets a ParseError. The
processes (and pebble) start the first time a document needs one, so a cycle of plain feeds
starts none (each holds about 40 MB).

A worker, or this process, loads the language model only when a document needs detection (no
language declared or configured), once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import multiprocessing
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.config import ParseSettings
from monitor.errors import ParseError
from monitor.fastparse import UnusualDocumentError
from monitor.langid import Py3LangidDetector
from monitor.parse import ParseOptions, parse_document, parse_document_fast
from monitor.values import ParsedFeed

if TYPE_CHECKING:  # pebble loads with the first worker: a cycle of plain feeds starts none
    import pebble

# Imported once in the fork server, so that starting a worker does not import them again.
# Not py3langid: it imports numpy, which only a worker that detects needs.
PRELOADED_MODULES = ["monitor.parsers"]


class ParserPool:
    """`settings.workers` processes parsing documents, each within `settings.time_budget_s`."""

    def __init__(
        self, settings: ParseSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.detector = Py3LangidDetector(tuple(settings.detect_languages))
        self.thread = concurrent.futures.ThreadPoolExecutor(1, "parse")
        self.process_pool: pebble.ProcessPool | None = None

    @property
    def pool(self) -> pebble.ProcessPool:
        """The worker processes, started on first use."""
        if self.process_pool is None:
            import pebble

            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOADED_MODULES)
            self.process_pool = pebble.ProcessPool(
                max_workers=self.settings.workers, context=context
            )
        return self.process_pool

    def options(self, now: datetime, feed_language: str | None) -> ParseOptions:
        return ParseOptions(
            now=now,
            max_entries=self.settings.max_entries_per_feed,
            future_tolerance_s=self.settings.future_tolerance_s,
            feed_language=feed_language,
        )

    def submit(
        self,
        body: bytes,
        headers: Mapping[str, str],
        base_url: str | None,
        options: ParseOptions,
        timeout_s: float | None = None,
    ) -> concurrent.futures.Future[ParsedFeed]:
        """feedparser in a worker, stopped after `timeout_s` (default: the whole budget)."""
        future: concurrent.futures.Future[ParsedFeed] = self.pool.schedule(
            parse_document,
            args=(body, dict(headers), base_url, options, self.detector),
            timeout=self.settings.time_budget_s if timeout_s is None else timeout_s,
        )
        return future

    async def parse(
        self, body: bytes, headers: Mapping[str, str], base_url: str | None, options: ParseOptions
    ) -> ParsedFeed:
        """The fast reader in the parse thread when it reads the document, else feedparser in a
        worker process; both within one budget."""
        fast = functools.partial(self.parse_fast, body, dict(headers), base_url, options)
        try:
            return await asyncio.get_running_loop().run_in_executor(self.thread, fast)
        except HandOverError as handover:
            left_s = handover.deadline - self.clock()
        if left_s <= 0:
            raise TimeoutError("parsing took longer than the budget")
        return await asyncio.wrap_future(self.submit(body, headers, base_url, options, left_s))

    def parse_fast(
        self, body: bytes, headers: Mapping[str, str], base_url: str | None, options: ParseOptions
    ) -> ParsedFeed:
        """`parse_document_fast` within the budget, counted from now (not from the queue);
        HandOverError (with the deadline) for a document the fast reader does not read."""
        deadline = self.clock() + self.settings.time_budget_s
        check = budget_check(deadline, self.clock)
        try:
            parsed = parse_document_fast(body, headers, base_url, options, self.detector, check)
        except UnusualDocumentError:
            raise HandOverError(deadline) from None
        check()  # what ran after the last check (language detection) counts as well
        return parsed

    def close(self) -> None:
        self.thread.shutdown(wait=True)
        if self.process_pool is not None:
            self.process_pool.close()  # type: ignore[no-untyped-call]
            self.process_pool.join()

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class HandOverError(Exception):
    """The fast reader gave the document up; feedparser gets what is left until `deadline`."""

    def __init__(self, deadline: float) -> None:
        super().__init__(deadline)
        self.deadline = deadline


def budget_check(
    deadline: float, clock: Callable[[], float] = time.monotonic
) -> Callable[[], None]:
    """A check that raises TimeoutError once `deadline` (on `clock`) has passed."""

    def check() -> None:
        if clock() > deadline:
            raise TimeoutError("parsing took longer than the budget")

    return check


def explain_parse_failure(exc: BaseException, budget_s: float) -> ParseError:
    """Turn what a worker raised into the ParseError recorded against the feed."""
    if isinstance(exc, ParseError):
        return exc
    if isinstance(exc, concurrent.futures.TimeoutError | TimeoutError):
        return ParseError(f"parsing took longer than the budget of {budget_s:g} s")
    import pebble

    if isinstance(exc, pebble.ProcessExpired):
        return ParseError(f"the parser process died (exit code {exc.exitcode})")
    return ParseError(f"parser failed: {type(exc).__name__}: {exc}")
