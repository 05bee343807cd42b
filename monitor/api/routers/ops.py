"""Operations: health for probes and Prometheus metrics. Open without a token."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response

from monitor.api.context import ApiContext, Context
from monitor.api.metrics import render_metrics
from monitor.health import ServiceState, judge_health
from monitor.storage.health import is_database_reachable, last_feed_success_at
from monitor.storage.queries import read_figures

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    summary="Health",
    responses={503: {"description": "the database or the scheduler is down"}},
)
def healthz(context: Context, response: Response) -> dict[str, Any]:
    """`ok` only while work succeeds; `degraded` (still 200, with the reasons) when no feed
    has been fetched successfully for `[service] degraded_after_s` or the last
    `degraded_after_failed_cycles` cycles failed; `unhealthy` (503) when the database or the
    scheduler is down."""
    state, database_ok = observed_state(context)
    verdict = judge_health(state, context.settings.service, database_ok, context.clock())
    response.status_code = verdict.http_status
    return {
        "status": verdict.status.value,
        "reasons": list(verdict.reasons),
        "database": database_ok,
        **describe_state(state),
    }


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}},
        503: {"description": "the database is unreachable"},
    },
)
def metrics(context: Context) -> Response:
    """Feeds, fetches, articles, stories, matches, deliveries and the service's health in the
    Prometheus text format, read at scrape time."""
    now = context.clock()
    state, database_ok = observed_state(context)
    if not database_ok:  # a failed scrape is the signal Prometheus alerts on
        return Response("database unreachable\n", 503, media_type="text/plain")
    with context.sessions() as session:
        figures = read_figures(session, now)
    verdict = judge_health(state, context.settings.service, database_ok, now)
    return Response(render_metrics(figures, verdict, state), media_type="text/plain; version=0.0.4")


def observed_state(context: ApiContext) -> tuple[ServiceState | None, bool]:
    """The service's state with the latest successful fetch any worker recorded, and whether
    the database answers."""
    with context.sessions() as session:
        if not is_database_reachable(session):
            return context.state, False
        stored = last_feed_success_at(session)
    state = context.state
    if state is not None and stored is not None:
        latest = max(filter(None, [state.last_feed_success_at, stored]))
        state = replace(state, last_feed_success_at=latest)
    return state, True


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def describe_state(state: ServiceState | None) -> dict[str, Any]:
    if state is None:
        return {"service": False}
    return {
        "service": True,
        "scheduler_running": state.scheduler_running,
        "started_at": iso(state.started_at),
        "last_cycle_at": iso(state.last_cycle_at),
        "last_cycle_ok": state.last_cycle_ok,
        "last_successful_cycle_at": iso(state.last_successful_cycle_at),
        "last_feed_success_at": iso(state.last_feed_success_at),
        "consecutive_failed_cycles": state.consecutive_failed_cycles,
        "job_failures": state.job_failures,
        "missed_runs": state.missed_runs,
        "failing_jobs": dict(state.failing_jobs),
    }
