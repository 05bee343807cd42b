"""The ingestion job: fetch cycles, each followed by the processing stage, until stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings
from monitor.ingest import ProgressCallback, add_default_feeds_if_empty, open_ingestor, utc_now
from monitor.process import Processor
from monitor.values import CycleSummary, ProcessSummary

IDLE_SLEEP_S = 30.0


async def run_ingest_job(
    settings: Settings,
    sessions: sessionmaker[Session],
    processor: Processor | None,
    once: bool,
    only_url: str | None = None,
    on_progress: Callable[[], ProgressCallback | None] = lambda: None,
    on_cycle: Callable[[CycleSummary, ProcessSummary | None], None] = lambda _c, _p: None,
) -> None:
    """Run cycles; a fresh database first gets the default feed list. Processing (embedding is
    CPU-bound) runs in a worker thread so the event loop stays responsive."""
    add_default_feeds_if_empty(sessions, settings, utc_now())
    async with open_ingestor(settings, sessions) as ingestor:
        while True:
            cycle = await ingestor.run_cycle(only_url, on_progress())
            processed = await asyncio.to_thread(processor.process_pending) if processor else None
            on_cycle(cycle, processed)
            if once or only_url:
                return
            await asyncio.sleep(IDLE_SLEEP_S)
