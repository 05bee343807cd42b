"""The ingestion job: fetch cycles, each followed by processing, digests and alert dispatch."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.dispatch import Dispatcher, DispatchSummary
from monitor.alerts.outbox import build_due_digests
from monitor.alerts.senders import open_senders
from monitor.config import Settings
from monitor.fetch import open_client
from monitor.ingest import ProgressCallback, add_default_feeds_if_empty, open_ingestor, utc_now
from monitor.process import Processor
from monitor.values import CycleSummary, ProcessSummary

IDLE_SLEEP_S = 30.0
DISPATCH_ROUNDS = 20


@dataclass(frozen=True, slots=True)
class JobReport:
    cycle: CycleSummary
    processed: ProcessSummary | None
    dispatched: DispatchSummary


async def run_ingest_job(
    settings: Settings,
    sessions: sessionmaker[Session],
    processor: Processor | None,
    once: bool,
    only_url: str | None = None,
    on_progress: Callable[[], ProgressCallback | None] = lambda: None,
    on_report: Callable[[JobReport], None] = lambda _report: None,
) -> None:
    """Run cycles; a fresh database first gets the default feed list. Processing (embedding is
    CPU-bound) runs in a worker thread so the event loop stays responsive."""
    add_default_feeds_if_empty(sessions, settings, utc_now())
    async with (
        open_ingestor(settings, sessions) as ingestor,
        open_client(settings.network) as client,
    ):
        senders = open_senders(settings.alerts, settings.smtp, client, utc_now, os.environ)
        dispatcher = Dispatcher(sessions, senders, settings.alerts, utc_now)
        while True:
            cycle = await ingestor.run_cycle(only_url, on_progress())
            processed = await asyncio.to_thread(processor.process_pending) if processor else None
            await asyncio.to_thread(build_digests, sessions, settings)
            on_report(JobReport(cycle, processed, await dispatch_all(dispatcher)))
            if once or only_url:
                return
            await asyncio.sleep(IDLE_SLEEP_S)


def build_digests(sessions: sessionmaker[Session], settings: Settings) -> int:
    with sessions.begin() as session:
        return build_due_digests(session, settings.alerts, utc_now())


async def dispatch_all(dispatcher: Dispatcher) -> DispatchSummary:
    """Send what is due now (a bounded number of rounds); retries wait for later cycles."""
    total = DispatchSummary()
    for _ in range(DISPATCH_ROUNDS):
        done = await dispatcher.dispatch_due()
        if not done.claimed:
            break
        total = DispatchSummary(
            *(
                a + b
                for a, b in zip(
                    (total.claimed, total.delivered, total.retrying, total.dead, total.disabled),
                    (done.claimed, done.delivered, done.retrying, done.dead, done.disabled),
                    strict=True,
                )
            )
        )
    return total
