"""`monitor run`: the long-running service. APScheduler 3.x drives the jobs of `monitor.cycle`
over one runtime; the feed schedule and all work claims live in the database, so several
processes can share one PostgreSQL. What /healthz judges is recorded in a `ServiceState`."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings
from monitor.cycle import (
    add_feeds_if_empty,
    build_digests,
    dispatch_all,
    process_pending,
    prune_expired,
)
from monitor.errors import MonitorError
from monitor.health import ServiceState
from monitor.runtime import LazyEmbedder, Runtime, open_runtime
from monitor.values import CycleSummary

log = logging.getLogger(__name__)
Job = Callable[[], Awaitable[object]]
ServeAPI = Callable[[ServiceState], Coroutine[Any, Any, None]]


def record_cycle(state: ServiceState, summary: CycleSummary | None, now: datetime) -> None:
    """Note a cycle's outcome (None: it raised). A cycle fails when it raised or every due feed
    failed (the network or the database is down); a 200 or a 304 is a feed success."""
    ok = summary is not None and (
        summary.feeds_due == 0 or summary.feeds_failed < summary.feeds_due
    )
    state.last_cycle_at, state.last_cycle_ok = now, ok
    if ok:
        state.last_successful_cycle_at = now
        state.consecutive_failed_cycles = 0
    else:
        state.consecutive_failed_cycles += 1
    if summary is not None and summary.feeds_ok + summary.feeds_not_modified:
        state.last_feed_success_at = now


@dataclass
class Service:
    runtime: Runtime
    state: ServiceState = field(init=False)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    running: set[asyncio.Task[Any]] = field(default_factory=set)
    has_feeds: bool = False

    def __post_init__(self) -> None:
        self.state = ServiceState(started_at=self.runtime.clock())

    async def run(self, serve_api: ServeAPI | None = None) -> None:
        """Schedule the jobs and run until SIGTERM/SIGINT (or `request_stop`)."""
        try:
            await self.add_default_feeds()
        except MonitorError:
            raise  # a bad feed file stops the start
        except Exception:  # the database refuses: the jobs fail too, and /healthz says so
            log.exception("could not check for the default feeds; the poll job tries again")
        scheduler = self.schedule()
        self.install_signal_handlers()
        scheduler.start()
        self.state.scheduler_running = True
        api = asyncio.create_task(serve_api(self.state)) if serve_api else None
        if api is not None:
            api.add_done_callback(self.on_api_done)
        log.info("service started", extra={"owners": self.runtime.owners, "api": bool(api)})
        await self.stop.wait()
        await self.shut_down(scheduler, api)
        crashed = api.exception() if api is not None and not api.cancelled() else None
        if crashed is not None:
            raise crashed

    def schedule(self) -> AsyncIOScheduler:
        every, runtime = self.runtime.settings.service, self.runtime
        jobs: list[tuple[str, float, Job]] = [
            ("poll", every.poll_every_s, self.poll),
            ("dispatch", every.dispatch_every_s, lambda: dispatch_all(runtime.dispatcher)),
            ("digests", every.digest_every_s, lambda: build_digests(runtime)),
            ("prune", every.prune_every_s, lambda: prune_expired(runtime)),
        ]
        if runtime.processor is not None:
            jobs.append(("process", every.process_every_s, lambda: process_pending(runtime)))
        scheduler = AsyncIOScheduler(timezone="UTC")
        for name, seconds, job in jobs:
            scheduler.add_job(
                self.tracked(name, job),
                "interval",
                seconds=seconds,
                id=name,
                name=name,
                next_run_time=runtime.clock(),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(every.misfire_grace_s),
            )
        scheduler.add_listener(self.on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        return scheduler

    def tracked(self, name: str, job: Job) -> Callable[[], Awaitable[None]]:
        """The job as the scheduler runs it: skipped once stopping, awaited at shutdown, and
        counted in `failing_jobs` (a failure adds one, a success resets it)."""

        async def run_job() -> None:
            if self.stop.is_set():
                return
            task = asyncio.current_task()
            if task is not None:
                self.running.add(task)
            try:
                await job()
            except Exception:
                self.state.failing_jobs[name] = self.state.failing_jobs.get(name, 0) + 1
                raise
            else:
                self.state.failing_jobs[name] = 0
            finally:
                if task is not None:
                    self.running.discard(task)

        run_job.__name__ = f"job_{name}"
        return run_job

    async def add_default_feeds(self) -> None:
        """A fresh database gets the default feed list (once per service)."""
        if not self.has_feeds:
            await asyncio.to_thread(add_feeds_if_empty, self.runtime)
            self.has_feeds = True

    async def poll(self) -> None:
        try:
            await self.add_default_feeds()
            summary = await self.runtime.ingestor.run_cycle()
        except Exception:
            record_cycle(self.state, None, self.runtime.clock())
            raise
        record_cycle(self.state, summary, self.runtime.clock())
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

    def on_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            self.state.missed_runs += 1
            log.warning("job run missed", extra={"job": event.job_id})
        else:
            self.state.job_failures += 1
            log.error("job failed", extra={"job": event.job_id}, exc_info=event.exception)

    def on_api_done(self, api: asyncio.Task[None]) -> None:
        """An API that stops by itself (it crashed) stops the service rather than leave it
        running unseen."""
        if not api.cancelled() and api.exception() is not None:
            log.error("the API stopped", exc_info=api.exception())
            self.request_stop()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig)

    def request_stop(self, sig: signal.Signals | None = None) -> None:
        if not self.stop.is_set():
            log.info("stopping", extra={"signal": sig.name if sig else None})
            self.stop.set()

    async def shut_down(self, scheduler: AsyncIOScheduler, api: asyncio.Task[None] | None) -> None:
        """Stop claiming and let running jobs finish within the grace period; the runtime gives
        back what is still claimed when it closes."""
        scheduler.pause()
        grace = self.runtime.settings.service.shutdown_grace_s
        if self.running:
            await asyncio.wait(set(self.running), timeout=grace * 0.8)
        scheduler.shutdown(wait=False)
        self.state.scheduler_running = False
        if api is not None:
            api.cancel()
            await asyncio.gather(api, return_exceptions=True)


async def run_service(
    settings: Settings,
    sessions: sessionmaker[Session],
    process: bool = True,
    serve_api: ServeAPI | None = None,
    embedder: LazyEmbedder | None = None,
) -> None:
    """Open a runtime, run the service on it until stopped, close it (releasing every claim)."""
    async with open_runtime(settings, sessions, process, embedder=embedder) as runtime:
        await Service(runtime).run(serve_api)
    log.info("stopped")
