"""/healthz tells the truth (ok only while work succeeds) and /metrics types its figures."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from monitor.api.app import create_app
from monitor.config import Settings
from monitor.health import ServiceState
from monitor.schedule import plan_after_success
from monitor.storage.feeds import add_feeds, get_feed, record_fetch
from monitor.values import FeedSpec, FetchLogEntry

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SERVICE = {"degraded_after_s": 3600, "degraded_after_failed_cycles": 3}


def client_for(sessions: sessionmaker[Session], state: ServiceState | None) -> TestClient:
    settings = Settings(service=SERVICE)
    return TestClient(create_app(settings, sessions, "t", state, None, lambda: NOW))


def running(**fields: Any) -> ServiceState:
    """A service started two hours before NOW, its scheduler running."""
    return replace(
        ServiceState(started_at=NOW - timedelta(hours=2), scheduler_running=True), **fields
    )


def store_success(sessions: sessionmaker[Session], at: datetime) -> None:
    """One feed whose last fetch, at `at`, succeeded."""
    with sessions.begin() as session:
        add_feeds(session, [FeedSpec("https://ok.example/rss")], 900, at)
        feed = get_feed(session, "https://ok.example/rss")
        assert feed is not None
        state = plan_after_success(feed, {}, False, at, Settings().fetch)
        record_fetch(
            session, feed.id, state, FetchLogEntry(at, state.outcome, 200, 10, 5, None, None)
        )


class TestHealth:
    def test_ok_while_feeds_succeed(self, sessions: sessionmaker[Session]) -> None:
        """A recent successful fetch and passing cycles are "ok" with no reasons."""
        state = running(last_feed_success_at=NOW - timedelta(minutes=5), last_cycle_ok=True)
        response = client_for(sessions, state).get("/healthz")
        assert response.status_code == 200
        assert response.json()["status"] == "ok" and response.json()["reasons"] == []

    def test_degraded_when_no_feed_succeeded_for_too_long(
        self, sessions: sessionmaker[Session]
    ) -> None:
        """No successful fetch for over `degraded_after_s` is "degraded", 200, with the reason."""
        response = client_for(sessions, running()).get("/healthz")
        body = response.json()
        assert response.status_code == 200 and body["status"] == "degraded"
        assert body["reasons"] == ["no feed fetched successfully for over 3600 s"]

    def test_degraded_when_the_last_cycles_all_failed(
        self, sessions: sessionmaker[Session]
    ) -> None:
        """`degraded_after_failed_cycles` failed cycles in a row are "degraded"."""
        state = running(last_feed_success_at=NOW, consecutive_failed_cycles=3)
        body = client_for(sessions, state).get("/healthz").json()
        assert body["status"] == "degraded"
        assert body["reasons"] == ["the last 3 cycles all failed"]

    def test_a_success_another_worker_stored_counts(self, sessions: sessionmaker[Session]) -> None:
        """A successful fetch recorded in the database (by any worker) keeps health "ok"."""
        store_success(sessions, NOW - timedelta(minutes=10))
        body = client_for(sessions, running()).get("/healthz").json()
        assert body["status"] == "ok"
        assert body["last_feed_success_at"] == (NOW - timedelta(minutes=10)).isoformat()

    def test_unhealthy_when_the_scheduler_stopped(self, sessions: sessionmaker[Session]) -> None:
        """A stopped scheduler is "unhealthy" with 503."""
        response = client_for(sessions, running(scheduler_running=False)).get("/healthz")
        assert response.status_code == 503 and response.json()["status"] == "unhealthy"

    def test_unhealthy_when_the_database_is_unreachable(self, tmp_path: Path) -> None:
        """A database that does not answer is "unhealthy" with 503, not a 500."""
        engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'no.db'}")
        response = client_for(sessionmaker(engine), running()).get("/healthz")
        assert response.status_code == 503
        assert response.json()["reasons"] == ["database unreachable"]

    def test_api_without_a_service_is_ok(self, sessions: sessionmaker[Session]) -> None:
        """An API process with no service in it reports the database only."""
        body = client_for(sessions, None).get("/healthz").json()
        assert body["status"] == "ok" and body["database"] is True and body["service"] is False


class TestMetrics:
    def metric_types(self, text: str) -> dict[str, str]:
        return {
            line.split()[2]: line.split()[3]
            for line in text.splitlines()
            if line.startswith("# TYPE")
        }

    def test_totals_pruning_can_lower_are_gauges(self, sessions: sessionmaker[Session]) -> None:
        """Stored totals (articles, duplicates, stories…) are gauges: pruning lowers them."""
        types = self.metric_types(client_for(sessions, running()).get("/metrics").text)
        for name in ("monitor_articles", "monitor_duplicates", "monitor_stories", "monitor_feeds"):
            assert types[name] == "gauge", name

    def test_process_counts_are_counters(self, sessions: sessionmaker[Session]) -> None:
        """Job failures and missed runs only grow while the process runs: counters."""
        text = client_for(sessions, running(job_failures=2)).get("/metrics").text
        assert self.metric_types(text)["monitor_job_failures_total"] == "counter"
        assert "monitor_job_failures_total 2.0" in text

    def test_metrics_without_the_database_is_503(self, tmp_path: Path) -> None:
        """A scrape while the database does not answer fails with 503, not a 500."""
        engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'no.db'}")
        response = client_for(sessionmaker(engine), running()).get("/metrics")
        assert response.status_code == 503 and response.text == "database unreachable\n"

    @pytest.mark.parametrize(
        ("state", "status"),
        [(running(last_feed_success_at=NOW), "ok"), (running(), "degraded")],
    )
    def test_health_status_is_exported(
        self, sessions: sessionmaker[Session], state: ServiceState, status: str
    ) -> None:
        """monitor_health is 1 for the status /healthz reports and 0 for the others."""
        text = client_for(sessions, state).get("/metrics").text
        assert f'monitor_health{{status="{status}"}} 1.0' in text
        others = {"ok", "degraded", "unhealthy"} - {status}
        assert all(f'monitor_health{{status="{other}"}} 0.0' in text for other in others)
