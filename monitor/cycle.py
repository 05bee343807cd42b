"""The jobs a runtime runs: a fetch cycle, processing, digests, dispatch rounds and pruning;
and `run_cycles`, which chains them the way `monitor fetch` does. CPU-bound and database-bound
work runs in a worker thread so the event loop stays responsive."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta

from monitor.alerts.dispatch import Dispatcher, DispatchSummary
from monitor.alerts.outbox import build_due_digests
from monitor.ingest import ProgressCallback, add_default_feeds_if_empty
from monitor.runtime import Runtime
from monitor.storage.maintenance import PruneSummary, prune
from monitor.values import CycleSummary, ProcessSummary

log = logging.getLogger(__name__)
IDLE_SLEEP_S = 30.0  # between `monitor fetch` cycles without --once
DISPATCH_ROUNDS = 20  # per dispatch job; what is left waits for the next one


@dataclass(frozen=True, slots=True)
class JobReport:
    cycle: CycleSummary
    processed: ProcessSummary | None
    dispatched: DispatchSummary


async def run_cycles(
    runtime: Runtime,
    once: bool,
    only_url: str | None = None,
    on_progress: Callable[[], ProgressCallback | None] = lambda: None,
    on_report: Callable[[JobReport], None] = lambda _report: None,
) -> None:
    """Fetch, process, build digests and dispatch, cycle after cycle (one with `once` or
    `only_url`); a fresh database first gets the default feed list."""
    await asyncio.to_thread(add_feeds_if_empty, runtime)
    while True:
        cycle = await runtime.ingestor.run_cycle(only_url, on_progress())
        processed = await process_pending(runtime)
        await build_digests(runtime)
        on_report(JobReport(cycle, processed, await dispatch_all(runtime.dispatcher)))
        if once or only_url:
            return
        await asyncio.sleep(IDLE_SLEEP_S)


def add_feeds_if_empty(runtime: Runtime) -> int:
    return add_default_feeds_if_empty(runtime.sessions, runtime.settings, runtime.clock())


async def process_pending(runtime: Runtime) -> ProcessSummary | None:
    """Process what is pending; None when this runtime does not process."""
    processor = await runtime.processor_ready()
    return await asyncio.to_thread(processor.process_pending) if processor else None


async def build_digests(runtime: Runtime) -> int:
    def build() -> int:
        with runtime.sessions.begin() as session:
            return build_due_digests(session, runtime.settings.alerts, runtime.clock())

    return await asyncio.to_thread(build)


async def dispatch_all(dispatcher: Dispatcher) -> DispatchSummary:
    """Send what is due now (a bounded number of rounds); retries wait for later cycles."""
    total = DispatchSummary()
    for _ in range(DISPATCH_ROUNDS):
        done = await dispatcher.dispatch_due()
        if not done.claimed:
            break
        total = DispatchSummary(
            *(a + b for a, b in zip(asdict(total).values(), asdict(done).values(), strict=True))
        )
    return total


async def prune_expired(runtime: Runtime) -> PruneSummary:
    """Delete what is past its retention limit."""

    def delete() -> PruneSummary:
        from monitor.search import forget_pruned  # numpy and the index: not for ingestion alone

        now, retention = runtime.clock(), runtime.settings.retention
        with runtime.sessions.begin() as session:
            summary = prune(session, retention, now)
        # This process's search index drops what no longer has a stored vector.
        forget_pruned(runtime.sessions, now - timedelta(days=retention.vectors_days))
        return summary

    pruned = await asyncio.to_thread(delete)
    log.info("pruned", extra=asdict(pruned))
    return pruned
