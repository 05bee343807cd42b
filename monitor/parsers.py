"""Worker processes that run `parse_document` within a time budget each.

A pathological document must not block the event loop or other feeds: a parse that runs past
the budget has its worker killed (pebble replaces it) and the feed gets a ParseError. A worker
loads the language model only when a document needs detection (no language declared or
configured), once; a worker that never detects never holds the model (160 MB, 0.6 CPU-s).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
from collections.abc import Mapping
from datetime import datetime

import pebble

from monitor.config import ParseSettings
from monitor.errors import ParseError
from monitor.langid import Py3LangidDetector
from monitor.parse import ParseOptions, parse_document
from monitor.values import ParsedFeed

# Imported once in the fork server, so that starting a worker does not import them again.
# Not py3langid: it imports numpy, which only a worker that detects needs.
PRELOADED_MODULES = ["monitor.parsers"]


class ParserPool:
    """`settings.workers` processes parsing documents, each within `settings.time_budget_s`."""

    def __init__(self, settings: ParseSettings) -> None:
        self.settings = settings
        self.detector = Py3LangidDetector(tuple(settings.detect_languages))
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOADED_MODULES)
        self.pool = pebble.ProcessPool(max_workers=settings.workers, context=context)

    def options(self, now: datetime, feed_language: str | None) -> ParseOptions:
        return ParseOptions(
            now=now,
            max_entries=self.settings.max_entries_per_feed,
            future_tolerance_s=self.settings.future_tolerance_s,
            feed_language=feed_language,
        )

    def submit(
        self, body: bytes, headers: Mapping[str, str], base_url: str | None, options: ParseOptions
    ) -> concurrent.futures.Future[ParsedFeed]:
        future: concurrent.futures.Future[ParsedFeed] = self.pool.schedule(
            parse_document,
            args=(body, dict(headers), base_url, options, self.detector),
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
