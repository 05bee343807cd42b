"""Prometheus text exposition of the figures read at scrape time. Totals read from the
database are gauges, because pruning lowers them; only what this process counts since it
started (job failures, missed runs) is a counter."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitor.health import HealthStatus, HealthVerdict, ServiceState
from monitor.storage.queries import Figures


def labelled(name: str, documentation: str, label: str, counts: dict[str, int]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, count in sorted(counts.items()):
        family.add_metric([key], count)
    return family


class FiguresCollector:
    def __init__(
        self, figures: Figures, verdict: HealthVerdict, state: ServiceState | None
    ) -> None:
        self.figures, self.verdict, self.state = figures, verdict, state

    def collect(self) -> Iterator[Metric]:
        yield from self.stored()
        yield from self.service()

    def stored(self) -> Iterator[Metric]:
        f = self.figures
        yield labelled("monitor_feeds", "Feeds by last status", "status", f.feeds_by_status)
        yield GaugeMetricFamily(
            "monitor_fetches_last_hour", "Fetch attempts in the last hour", f.fetches_last_hour
        )
        yield GaugeMetricFamily(
            "monitor_fetch_seconds_last_hour",
            "Total fetch time in the last hour",
            f.fetch_seconds_last_hour,
        )
        average = f.fetch_seconds_last_hour / f.fetches_last_hour if f.fetches_last_hour else 0.0
        yield GaugeMetricFamily(
            "monitor_fetch_latency_seconds_avg", "Mean fetch latency, last hour", average
        )
        yield GaugeMetricFamily(
            "monitor_articles", "Articles stored (pruning lowers it)", f.articles
        )
        yield GaugeMetricFamily(
            "monitor_duplicates",
            "Entries already stored when seen again, over the fetch log kept",
            f.duplicates,
        )
        yield GaugeMetricFamily("monitor_stories", "Stories", f.stories)
        yield labelled(
            "monitor_matches", "Matches by relevance", "relevance", f.matches_by_relevance
        )
        yield labelled(
            "monitor_deliveries", "Alert deliveries by status", "status", f.deliveries_by_status
        )
        yield GaugeMetricFamily(
            "monitor_outbox_backlog", "Deliveries due and not yet sent", f.outbox_backlog
        )

    def service(self) -> Iterator[Metric]:
        health = GaugeMetricFamily(
            "monitor_health", "1 for the health status /healthz reports", labels=["status"]
        )
        for status in HealthStatus:
            health.add_metric([status.value], 1.0 if self.verdict.status is status else 0.0)
        yield health
        state = self.state
        yield GaugeMetricFamily(
            "monitor_scheduler_running",
            "1 while the scheduler runs",
            1.0 if state and state.scheduler_running else 0.0,
        )
        if state is None:
            return
        yield CounterMetricFamily(
            "monitor_job_failures", "Scheduled jobs that failed since start", state.job_failures
        )
        yield CounterMetricFamily(
            "monitor_missed_runs", "Scheduled runs missed since start", state.missed_runs
        )


def render_metrics(figures: Figures, verdict: HealthVerdict, state: ServiceState | None) -> bytes:
    registry = CollectorRegistry()
    registry.register(FiguresCollector(figures, verdict, state))
    return generate_latest(registry)
