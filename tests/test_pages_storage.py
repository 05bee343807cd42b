"""The pages' queries (monitor.storage.pages) on SQLite and PostgreSQL, and the pure parts
they feed: unusual growth, series, bar geometry and highlighted terms."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitor.charts import bar_chart, hour_buckets, sparkline
from monitor.feedback_values import FeedbackKind
from monitor.filters import MatchFilter
from monitor.pages.highlight import Segment, highlight, terms_by_side
from monitor.storage.alerts import insert_alert
from monitor.storage.feedback import record_feedback
from monitor.storage.feeds import list_feeds
from monitor.storage.pages import (
    attempts_for,
    biggest_stories,
    disable_feed,
    feeds_health,
    inbox_rows,
    nearest_to_seeds,
    relevant_per_day,
    seed_duplicate_counts,
    story_timeline,
)
from monitor.storage.schema import DeliveryAttempt
from monitor.storage.states import set_read, set_starred
from monitor.tagging import Tagger
from monitor.trends import period_days, series_by, total_series, unusual_growth
from monitor.values import AlertType
from tests.feedback_support import HEADLINES, NOW, match_by_title, process_headlines


@pytest.fixture
def stored(sessions: sessionmaker[Session], tagger: Tagger) -> sessionmaker[Session]:
    process_headlines(sessions, tagger)
    return sessions


class TestInboxRows:
    def test_rows_carry_story_state_and_order(self, stored: sessionmaker[Session]) -> None:
        """Rows come relevant first, newest first within, with outlet counts and state."""
        venezuela = match_by_title(stored, HEADLINES[0])
        with stored.begin() as session:
            set_read(session, [venezuela["article_id"]], True, NOW)
            set_starred(session, venezuela["article_id"], True, NOW)
        with stored() as session:
            rows = inbox_rows(session, MatchFilter(), 10)
        assert [r["relevant"] for r in rows] == [True, True, True, True, False]
        relevant_ids = [r["id"] for r in rows[:4]]
        assert relevant_ids == sorted(relevant_ids, reverse=True)
        row = next(r for r in rows if r["id"] == venezuela["id"])
        assert row["outlets_count"] == 2 and row["read"] and row["starred"]
        assert row["seed_duplicate"] is None

    def test_judgement_moves_a_row(self, stored: sessionmaker[Session]) -> None:
        """A row judged not relevant reads as rejected and leaves the relevant-only rows."""
        cuba = match_by_title(stored, HEADLINES[2])
        with stored.begin() as session:
            record_feedback(session, FeedbackKind.RELEVANT, cuba["article_id"], False, "t", NOW)
        with stored() as session:
            rows = inbox_rows(session, MatchFilter(), 10)
            assert cuba["id"] not in [
                r["id"] for r in inbox_rows(session, MatchFilter(relevant=True), 10)
            ]
        assert [r["id"] for r in rows if not r["relevant"]].count(cuba["id"]) == 1

    def test_story_timeline(self, stored: sessionmaker[Session]) -> None:
        """A story's members come oldest first with outlet, language and countries; an
        unknown story is None."""
        venezuela = match_by_title(stored, HEADLINES[0])
        with stored() as session:
            story = story_timeline(session, venezuela["story_id"])
            assert story_timeline(session, 10**9) is None
        assert story is not None and story["outlets_count"] == 2
        assert [a["title"] for a in story["articles"]] == HEADLINES[:2]
        assert (
            story["articles"][0]["countries"] == ["VE"]
            and story["articles"][0]["feed_name"] is None
        )

    def test_offset(self, stored: sessionmaker[Session]) -> None:
        """An offset skips that many rows."""
        with stored() as session:
            everything = [r["id"] for r in inbox_rows(session, MatchFilter(), 10)]
            assert [r["id"] for r in inbox_rows(session, MatchFilter(), 2, 2)] == everything[2:4]


class TestTrendQueries:
    def test_relevant_per_day(self, stored: sessionmaker[Session]) -> None:
        """Relevant matches are counted per UTC day with their countries and topics."""
        with stored() as session:
            rows = relevant_per_day(session, NOW - timedelta(days=1))
            later = relevant_per_day(session, NOW + timedelta(days=1))
        assert later == []
        assert {day for day, *_ in rows} == {NOW.date().isoformat()}
        assert sum(n for *_, n in rows) == 4
        assert any("VE" in countries for _, countries, _, _ in rows)

    def test_judgements_correct_the_counts(self, stored: sessionmaker[Session]) -> None:
        """A relevant match judged not relevant leaves the counts; a rejected one judged
        relevant joins them."""
        cuba, ontario = (match_by_title(stored, HEADLINES[i]) for i in (2, 3))
        with stored.begin() as session:
            record_feedback(session, FeedbackKind.RELEVANT, cuba["article_id"], False, "t", NOW)
            assert sum(n for *_, n in relevant_per_day(session, NOW - timedelta(days=1))) == 3
            record_feedback(session, FeedbackKind.RELEVANT, ontario["article_id"], True, "t", NOW)
            rows = relevant_per_day(session, NOW - timedelta(days=1))
        assert sum(n for *_, n in rows) == 4
        assert not any("CU" in countries for _, countries, _, _ in rows)

    def test_biggest_stories(self, stored: sessionmaker[Session]) -> None:
        """This week's stories come most outlets first."""
        with stored() as session:
            stories = biggest_stories(session, NOW - timedelta(days=7), 3)
        assert stories[0]["outlets_count"] == 2 and len(stories) == 3


class TestFeedAndAlertQueries:
    def test_feeds_health_and_disable(self, stored: sessionmaker[Session]) -> None:
        """Each feed has its articles of the last 7 days; a disabled feed keeps its reason."""
        with stored.begin() as session:
            rows = feeds_health(session, NOW)
            assert [r["recent_articles"] for r in rows] == [1] * len(HEADLINES)
            assert feeds_health(session, NOW + timedelta(days=8))[0]["recent_articles"] == 0
            feed = list_feeds(session)[0]
            assert disable_feed(session, feed.id, "by hand") and not disable_feed(
                session, 10**9, "x"
            )
        with stored() as session:
            again = next(f for f in list_feeds(session) if f.id == feed.id)
        assert not again.enabled and again.disabled_reason == "by hand"

    def test_attempts_for(self, stored: sessionmaker[Session]) -> None:
        """Every delivery's attempts, oldest first; a delivery without any has none."""
        with stored.begin() as session:
            insert_alert(
                session,
                "u1",
                "r",
                AlertType.MATCH_CREATED,
                None,
                None,
                0.9,
                1,
                False,
                "{}",
                ["a", "b"],
                NOW,
            )
            session.flush()
            for code in (500, 200):
                session.add(
                    DeliveryAttempt(
                        delivery_id=1,
                        attempted_at=NOW,
                        status_code=code,
                        latency_ms=5,
                        error=None,
                        response="ok",
                    )
                )
        with stored() as session:
            found = attempts_for(session, [1, 2])
        assert [a.status_code for a in found[1]] == [500, 200] and found[2] == []

    def test_seed_queries(self, stored: sessionmaker[Session]) -> None:
        """Each seed named as an article's nearest has its most similar articles, best first."""
        with stored() as session:
            nearest = nearest_to_seeds(session, 2)
            copies = seed_duplicate_counts(session)
        assert nearest, "the tagger names a nearest seed"
        for records in nearest.values():
            similarities = [r["similarity"] for r in records]
            assert similarities == sorted(similarities, reverse=True) and len(records) <= 2
        assert copies == {}


class TestTrends:
    def test_unusual_growth(self) -> None:
        """A jump well above the days before is marked; a steady series and small counts are not."""
        assert unusual_growth([1, 1, 2, 1, 1, 1, 1, 9]) == (False,) * 7 + (True,)
        assert not any(unusual_growth([5] * 10))
        assert not any(unusual_growth([0, 0, 0, 2]))

    def test_series(self) -> None:
        """Rows become dense daily series per country and a total, biggest first."""
        days = period_days(date(2026, 12, 3), 3)
        rows = [
            ("2026-12-01", ["VE"], ["energy"], 2),
            ("2026-12-03", ["VE", "CU"], [], 1),
            ("2025-01-01", ["BR"], [], 9),
        ]
        countries = series_by(rows, days, "country")
        assert [(s.key, s.counts) for s in countries] == [("VE", (2, 0, 1)), ("CU", (0, 0, 1))]
        assert series_by(rows, days, "topic")[0].counts == (2, 0, 0)
        assert total_series(rows, days).counts == (2, 0, 1)


class TestCharts:
    def test_bars_scale_to_the_peak(self) -> None:
        """The tallest bar fills the plot; a zero draws nothing; marks carry over."""
        chart = bar_chart(["a", "b", "c"], [0, 2, 4], [False, False, True], width=300, height=118)
        assert [b.height for b in chart.bars] == [0, 50, 100]
        assert chart.bars[2].marked and chart.bars[2].label == "c: 4" and chart.peak == 4

    def test_sparkline(self) -> None:
        """A sparkline runs from the bottom (zero) to the top (the peak) with dots on marks."""
        line = sparkline(["a", "b", "c"], [0, 5, 10], [False, False, True], width=202, height=102)
        assert line.points == "1.0,101.0 101.0,51.0 201.0,1.0"
        assert line.marks == ((201.0, 1.0, "c: 10"),) and line.peak == 10

    def test_hour_buckets(self) -> None:
        """Times are counted per hour, or per day past three days."""
        labels, counts = hour_buckets([NOW, NOW + timedelta(minutes=30), NOW + timedelta(hours=2)])
        assert counts == [2, 0, 1] and len(labels) == 3
        assert len(hour_buckets([NOW, NOW + timedelta(days=5)])[1]) == 6


class TestHighlight:
    def test_terms_are_segments(self) -> None:
        """Matched terms become marked segments, whole words only, the rest plain text."""
        sides = terms_by_side({"russia": {"state": ["russia"]}, "latam": {"VE": ["venezuela"]}})
        assert highlight("Russia and Venezuela; Russians", sides) == [
            Segment("Russia", "russia"),
            Segment(" and ", None),
            Segment("Venezuela", "latam"),
            Segment("; Russians", None),
        ]

    def test_markup_stays_text(self) -> None:
        """Markup in the text stays in plain segments (the template escapes them)."""
        segments = highlight("<script>russia</script>", {"russia": ["russia"]})
        assert segments[0] == Segment("<script>", None) and segments[1].side == "russia"
