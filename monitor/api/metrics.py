"""Prometheus text exposition of the figures read at scrape time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from monitor.storage.queries import Figures


class FiguresCollector:
    def __init__(self, figures: Figures, health: Mapping[str, Any]) -> None:
        self.figures, self.health = figures, health

    def collect(self) -> Any:
        f = self.figures
        feeds = GaugeMetricFamily("monitor_feeds", "Feeds by last status", labels=["status"])
        for status, count in sorted(f.feeds_by_status.items()):
            feeds.add_metric([status], count)
        yield feeds
        yield GaugeMetricFamily(
            "monitor_fetches_last_hour",
            "Fetch attempts in the last hour",
            value=f.fetches_last_hour,
        )
        yield GaugeMetricFamily(
            "monitor_fetch_seconds_last_hour",
            "Total fetch time in the last hour",
            value=f.fetch_seconds_last_hour,
        )
        average = f.fetch_seconds_last_hour / f.fetches_last_hour if f.fetches_last_hour else 0.0
        yield GaugeMetricFamily(
            "monitor_fetch_latency_seconds_avg", "Mean fetch latency, last hour", value=average
        )
        yield CounterMetricFamily("monitor_articles", "Articles stored", value=f.articles)
        yield CounterMetricFamily(
            "monitor_duplicates", "Entries already stored when seen again", value=f.duplicates
        )
        yield GaugeMetricFamily("monitor_stories", "Stories", value=f.stories)
        matches = GaugeMetricFamily("monitor_matches", "Matches by relevance", labels=["relevance"])
        for relevance, count in sorted(f.matches_by_relevance.items()):
            matches.add_metric([relevance], count)
        yield matches
        deliveries = GaugeMetricFamily(
            "monitor_deliveries", "Alert deliveries by status", labels=["status"]
        )
        for status, count in sorted(f.deliveries_by_status.items()):
            deliveries.add_metric([status], count)
        yield deliveries
        yield GaugeMetricFamily(
            "monitor_outbox_backlog", "Deliveries due and not yet sent", value=f.outbox_backlog
        )
        yield GaugeMetricFamily(
            "monitor_scheduler_running",
            "1 while the scheduler runs",
            value=1.0 if self.health.get("scheduler_running") else 0.0,
        )


def render_metrics(figures: Figures, health: Mapping[str, Any]) -> bytes:
    registry = CollectorRegistry()
    registry.register(FiguresCollector(figures, health))
    return generate_latest(registry)
