"""The service's health: what the running service records (`ServiceState`) and the pure verdict
/healthz and /metrics report from it (`judge_health`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from monitor.clock import utc_now
from monitor.config import ServiceSettings


class HealthStatus(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"  # served with 200: the process works but its work does not succeed
    UNHEALTHY = "unhealthy"  # served with 503: the database or the scheduler is down


@dataclass
class ServiceState:
    """What the running service records as it goes; read by /healthz and /metrics."""

    started_at: datetime = field(default_factory=utc_now)
    last_cycle_at: datetime | None = None
    last_cycle_ok: bool | None = None
    last_successful_cycle_at: datetime | None = None
    # The last time any feed was fetched successfully (200 or 304).
    last_feed_success_at: datetime | None = None
    consecutive_failed_cycles: int = 0
    scheduler_running: bool = False
    job_failures: int = 0
    missed_runs: int = 0
    # Consecutive failures per job name; a job that succeeds goes back to 0.
    failing_jobs: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HealthVerdict:
    status: HealthStatus
    reasons: tuple[str, ...]

    @property
    def http_status(self) -> int:
        return 503 if self.status is HealthStatus.UNHEALTHY else 200


def judge_health(
    state: ServiceState | None, settings: ServiceSettings, database_ok: bool, now: datetime
) -> HealthVerdict:
    """OK only when work succeeds. Unhealthy when the database or the scheduler is down;
    degraded when no feed has succeeded for `degraded_after_s`, when the last
    `degraded_after_failed_cycles` cycles all failed, or when a job keeps failing."""
    if not database_ok:
        return HealthVerdict(HealthStatus.UNHEALTHY, ("database unreachable",))
    if state is None:  # an API without a service in this process
        return HealthVerdict(HealthStatus.OK, ())
    if not state.scheduler_running:
        return HealthVerdict(HealthStatus.UNHEALTHY, ("scheduler not running",))
    reasons: list[str] = []
    limit = timedelta(seconds=settings.degraded_after_s)
    since = state.last_feed_success_at or state.started_at
    if now - since > limit:
        what = "no feed fetched successfully"
        reasons.append(f"{what} for over {int(settings.degraded_after_s)} s")
    if state.consecutive_failed_cycles >= settings.degraded_after_failed_cycles:
        reasons.append(f"the last {state.consecutive_failed_cycles} cycles all failed")
    for job, failures in sorted(state.failing_jobs.items()):
        if failures >= settings.degraded_after_failed_cycles:
            reasons.append(f"job {job} failed {failures} times in a row")
    status = HealthStatus.DEGRADED if reasons else HealthStatus.OK
    return HealthVerdict(status, tuple(reasons))
