"""The ingestion job: cycles over due feeds until told to stop (or once)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings
from monitor.ingest import ProgressCallback, add_default_feeds_if_empty, open_ingestor, utc_now
from monitor.values import CycleSummary

IDLE_SLEEP_S = 30.0


async def run_ingest_job(
    settings: Settings,
    sessions: sessionmaker[Session],
    once: bool,
    only_url: str | None = None,
    on_progress: Callable[[], ProgressCallback | None] = lambda: None,
    on_cycle: Callable[[CycleSummary], None] = lambda _summary: None,
) -> None:
    """Run ingestion cycles; a fresh database first gets the default feed list."""
    add_default_feeds_if_empty(sessions, settings, utc_now())
    async with open_ingestor(settings, sessions) as ingestor:
        while True:
            on_cycle(await ingestor.run_cycle(only_url, on_progress()))
            if once or only_url:
                return
            await asyncio.sleep(IDLE_SLEEP_S)
