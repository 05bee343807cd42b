"""What the service records for /healthz: cycles (a 200 or a 304 is a feed success, a cycle in
which every feed failed or that raised is a failed one), and jobs that keep failing. A service
whose every job fails, over a read-only database, is judged degraded, never ok; `monitor run`
refuses such a database at start."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings
from monitor.health import HealthStatus, HealthVerdict, ServiceState, judge_health
from monitor.runtime import open_runtime
from monitor.service import Service, record_cycle
from monitor.storage import migrate
from monitor.storage.engine import open_engine
from monitor.storage.feeds import add_feeds
from monitor.values import CycleSummary, FeedSpec
from tests.alert_support import store_alerts
from tests.conftest import PROJECT_ROOT, SettingsFactory

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
WAIT_S = 60


def cycle(due: int, ok: int = 0, not_modified: int = 0, failed: int = 0) -> CycleSummary:
    return CycleSummary(
        feeds_due=due,
        feeds_ok=ok,
        feeds_not_modified=not_modified,
        feeds_failed=failed,
        new_articles=0,
        duplicates=0,
        entries_dropped=0,
        duration_s=0.1,
        failures=(),
    )


class TestRecordCycle:
    def test_not_modified_feeds_are_a_success(self) -> None:
        """A cycle of 304s and failures records the last feed success and is not failed."""
        state = ServiceState(started_at=NOW)
        record_cycle(state, cycle(3, not_modified=1, failed=2), NOW)
        assert state.last_feed_success_at == NOW and state.last_cycle_ok
        assert state.consecutive_failed_cycles == 0

    def test_failed_cycles_count_up_until_one_succeeds(self) -> None:
        """All-failed and raised cycles count consecutively; a good cycle resets the count."""
        state = ServiceState(started_at=NOW)
        record_cycle(state, cycle(2, failed=2), NOW)
        record_cycle(state, None, NOW + timedelta(seconds=30))
        assert (state.consecutive_failed_cycles, state.last_feed_success_at) == (2, None)
        assert state.last_cycle_ok is False
        record_cycle(state, cycle(2, ok=1, failed=1), NOW + timedelta(seconds=60))
        assert state.consecutive_failed_cycles == 0
        assert state.last_feed_success_at == NOW + timedelta(seconds=60)

    def test_a_cycle_with_nothing_due_is_no_failure_and_no_success(self) -> None:
        """Nothing due: the cycle is ok, but no feed was fetched successfully."""
        state = ServiceState(started_at=NOW, consecutive_failed_cycles=2)
        record_cycle(state, cycle(0), NOW)
        assert state.consecutive_failed_cycles == 0 and state.last_feed_success_at is None


def settings_for_service(make_settings: SettingsFactory, url: str, tmp_path: Path) -> Settings:
    (tmp_path / "no-feeds.toml").write_text("feeds = []\n")
    return make_settings(
        database={"url": url},
        feeds={"file": str(tmp_path / "no-feeds.toml")},
        service={
            "poll_every_s": 0.2,
            "process_every_s": 0.2,
            "dispatch_every_s": 0.2,
            "digest_every_s": 0.2,
            "prune_every_s": 0.2,
            "shutdown_grace_s": 1,
            "degraded_after_failed_cycles": 2,
        },
    )


class TestTrackedJobs:
    def test_a_failing_job_counts_up_and_a_success_resets_it(
        self, sqlite_sessions: sessionmaker[Session], make_settings: SettingsFactory, tmp_path: Path
    ) -> None:
        """failing_jobs[name] grows by one per failed run and goes back to 0 after a success."""
        settings = settings_for_service(make_settings, "sqlite://", tmp_path)
        outcomes = [RuntimeError("down"), RuntimeError("down"), None]

        async def flaky() -> None:
            error = outcomes.pop(0)
            if error is not None:
                raise error

        async def run_three_times() -> list[int]:
            async with open_runtime(settings, sqlite_sessions, process=False) as runtime:
                service, seen = Service(runtime), []
                job = service.tracked("flaky", flaky)
                for _ in range(3):
                    with contextlib.suppress(RuntimeError):
                        await job()
                    seen.append(service.state.failing_jobs["flaky"])
                return seen

        assert asyncio.run(run_three_times()) == [1, 2, 0]


def read_only_copy(
    make_settings: SettingsFactory, tmp_path: Path
) -> tuple[str, sqlite3.Connection]:
    """A migrated SQLite file with a due feed and a due delivery, its -wal and -shm held open by
    a writer, and the URL that opens it read-only."""
    path = tmp_path / "monitor.db"
    engine = open_engine(make_settings(database={"url": f"sqlite:///{path}"}).database)
    migrate.upgrade(engine)
    sessions = sessionmaker(engine)
    with sessions.begin() as session:
        add_feeds(session, [FeedSpec("http://127.0.0.1:9/feed")], 900, NOW)
    store_alerts(sessions, 1)
    engine.dispose()
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE IF NOT EXISTS keep_wal (x)")
    assert Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()
    return f"sqlite:///file:{path}?mode=ro&uri=true", writer


class TestReadOnlyDatabase:
    def test_every_job_failing_is_degraded_not_ok(
        self, make_settings: SettingsFactory, tmp_path: Path
    ) -> None:
        """Over a read-only database the service keeps running, every job that must write (poll,
        dispatch, prune) fails, and the health verdict is degraded with the failing jobs named."""
        url, writer = read_only_copy(make_settings, tmp_path)
        settings = settings_for_service(make_settings, url, tmp_path)
        engine = open_engine(settings.database)
        sessions = sessionmaker(engine, expire_on_commit=False)
        jobs = {"poll", "dispatch", "prune"}

        async def run_until_all_failed_twice() -> tuple[ServiceState, HealthVerdict]:
            async with open_runtime(settings, sessions, process=False) as rt:
                service = Service(rt)
                runner = asyncio.create_task(service.run())
                loop = asyncio.get_running_loop()
                deadline = loop.time() + WAIT_S
                failing = service.state.failing_jobs
                while (
                    loop.time() < deadline
                    and not runner.done()
                    and not all(failing.get(job, 0) >= 2 for job in jobs)
                ):
                    await asyncio.sleep(0.05)
                assert not runner.done(), "the service should keep running"
                verdict = judge_health(service.state, settings.service, True, rt.clock())
                service.request_stop()
                await runner
                return service.state, verdict

        try:
            state, verdict = asyncio.run(run_until_all_failed_twice())
        finally:
            engine.dispose()
            writer.close()
        assert all(state.failing_jobs[job] >= 2 for job in jobs), state.failing_jobs
        assert state.consecutive_failed_cycles >= 2 and state.job_failures >= 6
        assert verdict.status is HealthStatus.DEGRADED
        assert any("job poll failed" in reason for reason in verdict.reasons)


class TestApiCrash:
    def test_an_api_that_crashes_stops_the_service_with_its_error(
        self, sqlite_sessions: sessionmaker[Session], make_settings: SettingsFactory, tmp_path: Path
    ) -> None:
        """The service does not run on unseen without its API: it stops and raises the error."""
        settings = settings_for_service(make_settings, "sqlite://", tmp_path)

        async def broken_api(_state: ServiceState) -> None:
            raise RuntimeError("the API broke")

        async def run() -> None:
            async with open_runtime(settings, sqlite_sessions, process=False) as runtime:
                await asyncio.wait_for(Service(runtime).run(broken_api), WAIT_S)

        with pytest.raises(RuntimeError, match="the API broke"):
            asyncio.run(run())


class TestRunRefusesReadOnly:
    def test_monitor_run_on_a_read_only_database_fails_at_start_in_one_line(
        self, make_settings: SettingsFactory, tmp_path: Path
    ) -> None:
        """`monitor run` over a read-only database exits at once with a one-line error."""
        url, writer = read_only_copy(make_settings, tmp_path)
        config = tmp_path / "monitor.toml"
        config.write_text(f'[database]\nurl = "{url}"\n')
        try:
            run = subprocess.run(
                [sys.executable, "-m", "monitor", "--config", str(config), "run", "--no-api"],
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                timeout=WAIT_S,
            )
        finally:
            writer.close()
        assert run.returncode != 0
        messages = [line for line in run.stderr.splitlines() if not line.startswith("{")]
        assert len(messages) == 1 and messages[0].startswith("monitor: "), run.stderr
        assert "read" in messages[0] and "Traceback" not in run.stderr
