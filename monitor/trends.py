"""Trends (pure): relevant matches per day by country and by topic, days of unusual growth
and the series a chart draws. The counts come from storage; `today` is a parameter."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

GROWTH_WINDOW_DAYS = 7  # a day is compared with the days just before it
GROWTH_FACTOR = 2.0  # unusual: at least this many times the window's mean...
GROWTH_MIN_COUNT = 3  # ...and at least this many matches
TREND_PERIODS_DAYS = (30, 90)


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a trend: a count per day, oldest first, and which days grew unusually."""

    key: str
    days: tuple[date, ...]
    counts: tuple[int, ...]
    unusual: tuple[bool, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)


def period_days(today: date, days: int) -> tuple[date, ...]:
    """The `days` calendar days ending with `today`, oldest first."""
    return tuple(today - timedelta(days=n) for n in range(days - 1, -1, -1))


def unusual_growth(counts: Sequence[int]) -> tuple[bool, ...]:
    """Per day: whether its count is at least `GROWTH_MIN_COUNT`, `GROWTH_FACTOR` times the
    mean of the previous `GROWTH_WINDOW_DAYS` and above that mean by two standard deviations."""
    marks = []
    for i, count in enumerate(counts):
        window = counts[max(0, i - GROWTH_WINDOW_DAYS) : i]
        if len(window) < 2 or count < GROWTH_MIN_COUNT:
            marks.append(False)
            continue
        mean = statistics.fmean(window)
        spread = statistics.pstdev(window)
        marks.append(count >= GROWTH_FACTOR * max(mean, 1.0) and count > mean + 2 * spread)
    return tuple(marks)


def series_by(
    rows: Iterable[tuple[str, Sequence[str], Sequence[str], int]],
    days: Sequence[date],
    field: str,
) -> list[Series]:
    """Per country (`field="country"`) or topic, a dense daily series over `days`, biggest
    total first; rows are (day ISO, countries, topics, count) as storage counts them."""
    wanted = {d.isoformat(): i for i, d in enumerate(days)}
    per_key: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    for day, countries, topics, count in rows:
        if day not in wanted:
            continue
        for key in countries if field == "country" else topics:
            per_key[key][wanted[day]] += count
    return sorted(
        (Series(k, tuple(days), tuple(c), unusual_growth(c)) for k, c in per_key.items()),
        key=lambda s: (-s.total, s.key),
    )


def total_series(
    rows: Iterable[tuple[str, Sequence[str], Sequence[str], int]], days: Sequence[date]
) -> Series:
    """All relevant matches per day over `days`."""
    wanted = {d.isoformat(): i for i, d in enumerate(days)}
    counts = [0] * len(days)
    for day, _, _, count in rows:
        if day in wanted:
            counts[wanted[day]] += count
    return Series("all", tuple(days), tuple(counts), unusual_growth(counts))
