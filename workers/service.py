"""`monitor run`: the long-running service. APScheduler 3.x drives the jobs; the feed schedule
and all work claims live in the database, so several processes can share one PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.dispatch import Dispatcher
from monitor.alerts.senders import open_senders
from monitor.config import Settings
from monitor.fetch import open_client
from monitor.ingest import Ingestor, add_default_feeds_if_empty, open_ingestor, utc_now
from monitor.process import Processor
from monitor.storage.maintenance import prune, release_leases
from workers.ingest import build_digests, dispatch_all

log = logging.getLogger(__name__)
Job = Callable[[], Awaitable[object]]


@dataclass
class ServiceState:
    """What /healthz and /metrics report about the running service."""

    started_at: datetime = field(default_factory=utc_now)
    last_cycle_at: datetime | None = None
    last_cycle_ok: bool | None = None
    last_successful_cycle_at: datetime | None = None
    scheduler_running: bool = False
    job_failures: int = 0
    missed_runs: int = 0


@dataclass
class Service:
    settings: Settings
    sessions: sessionmaker[Session]
    processor: Processor | None
    state: ServiceState = field(default_factory=ServiceState)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    running: set[asyncio.Task[Any]] = field(default_factory=set)

    async def run(
        self, serve_api: Callable[[ServiceState], Coroutine[Any, Any, None]] | None = None
    ) -> None:
        add_default_feeds_if_empty(self.sessions, self.settings, utc_now())
        async with AsyncExitStack() as stack:
            ingestor = await stack.enter_async_context(open_ingestor(self.settings, self.sessions))
            client = await stack.enter_async_context(open_client(self.settings.network))
            senders = open_senders(
                self.settings.alerts, self.settings.smtp, client, utc_now, os.environ
            )
            dispatcher = Dispatcher(self.sessions, senders, self.settings.alerts, utc_now)
            scheduler = self.schedule(ingestor, dispatcher)
            self.install_signal_handlers()
            scheduler.start()
            self.state.scheduler_running = True
            api = asyncio.create_task(serve_api(self.state)) if serve_api else None
            log.info("service started", extra={"owner": ingestor.owner, "api": bool(api)})
            await self.stop.wait()
            await self.shut_down(scheduler, ingestor.owner, dispatcher.owner, api=api)

    def schedule(self, ingestor: Ingestor, dispatcher: Dispatcher) -> AsyncIOScheduler:
        every = self.settings.service
        scheduler = AsyncIOScheduler(timezone="UTC")
        jobs: list[tuple[str, float, Job]] = [
            ("poll", every.poll_every_s, lambda: self.poll(ingestor)),
            ("dispatch", every.dispatch_every_s, lambda: dispatch_all(dispatcher)),
            (
                "digests",
                every.digest_every_s,
                lambda: asyncio.to_thread(build_digests, self.sessions, self.settings),
            ),
            ("prune", every.prune_every_s, lambda: asyncio.to_thread(self.prune)),
        ]
        processor = self.processor
        if processor is not None:
            jobs.append(
                (
                    "process",
                    every.process_every_s,
                    lambda: asyncio.to_thread(processor.process_pending),
                )
            )
        for name, seconds, job in jobs:
            scheduler.add_job(
                self.tracked(name, job),
                "interval",
                seconds=seconds,
                id=name,
                name=name,
                next_run_time=utc_now(),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(every.misfire_grace_s),
            )
        scheduler.add_listener(self.on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        return scheduler

    def tracked(self, name: str, job: Job) -> Callable[[], Awaitable[None]]:
        async def run_job() -> None:
            if self.stop.is_set():
                return
            task = asyncio.current_task()
            if task is not None:
                self.running.add(task)
            try:
                await job()
            finally:
                if task is not None:
                    self.running.discard(task)

        run_job.__name__ = f"job_{name}"
        return run_job

    async def poll(self, ingestor: Ingestor) -> None:
        summary = await ingestor.run_cycle()
        self.state.last_cycle_at = utc_now()
        # A cycle fails when every due feed failed (the network or the database is down).
        self.state.last_cycle_ok = (
            summary.feeds_due == 0 or summary.feeds_failed < summary.feeds_due
        )
        if self.state.last_cycle_ok:
            self.state.last_successful_cycle_at = self.state.last_cycle_at
        if summary.feeds_due:
            log.info(
                "cycle",
                extra={
                    "feeds_due": summary.feeds_due,
                    "ok": summary.feeds_ok,
                    "not_modified": summary.feeds_not_modified,
                    "failed": summary.feeds_failed,
                    "new_articles": summary.new_articles,
                    "duplicates": summary.duplicates,
                },
            )

    def prune(self) -> None:
        with self.sessions.begin() as session:
            pruned = prune(session, self.settings.retention, utc_now())
        log.info("pruned", extra=asdict(pruned))

    def on_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            self.state.missed_runs += 1
            log.warning("job run missed", extra={"job": event.job_id})
        else:
            self.state.job_failures += 1
            log.error("job failed", extra={"job": event.job_id}, exc_info=event.exception)

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig)

    def request_stop(self, sig: signal.Signals | None = None) -> None:
        if not self.stop.is_set():
            log.info("stopping", extra={"signal": sig.name if sig else None})
            self.stop.set()

    async def shut_down(
        self, scheduler: AsyncIOScheduler, *owners: str, api: asyncio.Task[None] | None = None
    ) -> None:
        """Stop claiming, let running jobs finish within the grace period, release the rest."""
        scheduler.pause()
        grace = self.settings.service.shutdown_grace_s
        if self.running:
            await asyncio.wait(set(self.running), timeout=grace * 0.8)
        scheduler.shutdown(wait=False)
        self.state.scheduler_running = False
        if api is not None:
            api.cancel()
            await asyncio.gather(api, return_exceptions=True)
        with self.sessions.begin() as session:
            for owner in owners:
                release_leases(session, owner)
        log.info("stopped")
