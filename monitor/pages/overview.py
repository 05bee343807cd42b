"""Trends (relevant matches per day by country and by topic, days of unusual growth, this
week's biggest stories) and Quality (the tagger's precision according to feedback)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from monitor.charts import Sparkline, bar_chart, sparkline
from monitor.pages.context import Pages
from monitor.pages.web import Reader, render
from monitor.storage.feedback import feedback_quality
from monitor.storage.pages import biggest_stories, relevant_per_day
from monitor.trends import TREND_PERIODS_DAYS, Series, period_days, series_by, total_series

router = APIRouter(include_in_schema=False)
SERIES_SHOWN = 8  # countries and topics charted, the biggest first
BIGGEST_STORIES = 10


def chart_of(series: Series) -> Sparkline:
    labels = [d.isoformat() for d in series.days]
    return sparkline(labels, series.counts, series.unusual)


@router.get("/trends")
def trends(
    request: Request,
    pages: Pages,
    reader: Reader,
    days: int = Query(30, description="30 or 90"),
) -> Response:
    if days not in TREND_PERIODS_DAYS:
        from fastapi import HTTPException

        raise HTTPException(422, f"days must be one of {', '.join(map(str, TREND_PERIODS_DAYS))}")
    now = pages.app.clock()
    window = period_days(now.date(), days)
    since = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
    with pages.sessions() as session:
        rows = relevant_per_day(session, since)
        stories = biggest_stories(session, now - timedelta(days=7), BIGGEST_STORIES)
    total = total_series(rows, window)
    by_country = series_by(rows, window, "country")[:SERIES_SHOWN]
    by_topic = series_by(rows, window, "topic")[:SERIES_SHOWN]
    return render(
        request,
        pages,
        "trends.html",
        days=days,
        periods=TREND_PERIODS_DAYS,
        total=total,
        chart=bar_chart([d.isoformat() for d in window], total.counts, total.unusual),
        countries=[(s, chart_of(s)) for s in by_country],
        topics=[(s, chart_of(s)) for s in by_topic],
        stories=stories,
    )


@router.get("/quality")
def quality(request: Request, pages: Pages, reader: Reader) -> Response:
    with pages.sessions() as session:
        figures = feedback_quality(session)
    return render(request, pages, "quality.html", figures=figures)
