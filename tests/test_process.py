from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import StorySettings
from monitor.process import Processor
from monitor.seeds import read_seed
from monitor.storage.articles import insert_articles
from monitor.storage.feeds import add_feeds, list_feeds
from monitor.storage.stories import count_pending_articles, list_matches, list_stories
from monitor.tagging import Tagger
from monitor.values import FeedSpec
from tests.conftest import PROJECT_ROOT
from tests.factories import make_entry

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SEEDS = PROJECT_ROOT / "config" / "seeds" / "russia-latam"
STORY = "Russia and Nicaragua sign military cooperation agreement in Managua"


def make_processor(sessions: sessionmaker[Session], tagger: Tagger) -> Processor:
    return Processor(
        sessions,
        tagger,
        StorySettings(same_story_threshold=0.8, seed_duplicate_threshold=0.95),
        lambda: NOW,
    )


def store(sessions: sessionmaker[Session], rows: list[tuple[int, str, str, str]]) -> None:
    """rows: (feed index, guid, title, language)."""
    with sessions.begin() as session:
        add_feeds(session, [FeedSpec(f"https://outlet{n}.example/rss") for n in range(4)], 900, NOW)
        feeds = [f.id for f in list_feeds(session)]
        for feed, guid, title, language in rows:
            entry = replace(
                make_entry(guid, f"https://o{feed}.example/{guid}", title), language=language
            )
            insert_articles(session, feeds[feed], [entry], NOW)


class TestProcessing:
    def test_copies_from_three_outlets_form_one_story(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """Near-copies join one story with its outlets and languages; other news stays apart."""
        store(
            sessions,
            [
                (0, "a", STORY, "en"),
                (1, "b", STORY + " today", "en"),
                (
                    2,
                    "c",
                    "Russia and Nicaragua sign a military cooperation agreement in Managua",
                    "es",
                ),
                (3, "d", "Heavy snow closes schools across Ontario", "en"),
            ],
        )
        summary = make_processor(sessions, tagger).process_pending()
        assert (summary.articles, summary.new_stories, summary.joined_stories) == (4, 2, 2)
        with sessions() as session:
            stories = list_stories(session)
            matches = list_matches(session)
            assert count_pending_articles(session) == 0
        big = max(stories, key=lambda s: s["article_count"])
        assert (big["article_count"], big["outlets_count"], big["languages"]) == (
            3,
            3,
            ["en", "es"],
        )
        assert len({m["story_id"] for m in matches}) == 2
        relevant = {m["article_id"]: m["relevant"] for m in matches}
        assert sum(relevant.values()) == 3
        assert all(m["scorer_version"] == tagger.version for m in matches)

    def test_nothing_left_to_process_twice(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """A second run finds no pending article and changes nothing."""
        store(sessions, [(0, "a", STORY, "en")])
        processor = make_processor(sessions, tagger)
        processor.process_pending()
        assert processor.process_pending().articles == 0

    def test_a_stopping_processor_claims_nothing(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """Once `stopping` is set, process_pending claims no batch and leaves articles pending."""
        store(sessions, [(0, "a", STORY, "en")])
        processor = make_processor(sessions, tagger)
        processor.stopping.set()
        assert processor.process_pending().articles == 0
        with sessions() as session:
            assert count_pending_articles(session) == 1

    def test_near_copy_of_a_seed_is_flagged(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """An article repeating a seed passage is a seed duplicate named after the seed."""
        seed = read_seed(sorted(SEEDS.glob("*.txt"))[2])
        store(sessions, [(0, "s", seed.passages[0], "en")])
        summary = make_processor(sessions, tagger).process_pending()
        assert summary.seed_duplicates == 1
        with sessions() as session:
            [story] = list_stories(session)
        assert story["seed"] == seed.name


class TestStoryWindow:
    @pytest.mark.parametrize(("days_later", "joins"), [(6.9, True), (7.1, False)])
    def test_only_articles_inside_window_days_are_candidates(
        self, sessions: sessionmaker[Session], tagger: Tagger, days_later: float, joins: bool
    ) -> None:
        """A copy processed `days_later` joins the first report inside the 7-day window and
        starts its own story past it (the clock is pinned, nothing sleeps)."""
        clock = [NOW]
        processor = Processor(
            sessions,
            tagger,
            StorySettings(same_story_threshold=0.8, window_days=7),
            lambda: clock[0],
        )
        store(sessions, [(0, "first", STORY, "en")])
        processor.process_pending()
        later = NOW + timedelta(days=days_later)
        with sessions.begin() as session:
            feed = list_feeds(session)[1].id
            insert_articles(
                session, feed, [make_entry("copy", "https://o1.example/c", STORY + " today")], later
            )
        clock[0] = later
        summary = processor.process_pending()
        with sessions() as session:
            stories = list_stories(session)
        assert (summary.joined_stories, summary.new_stories) == ((1, 0) if joins else (0, 1))
        assert len(stories) == (1 if joins else 2)


class TestRescore:
    def test_rescore_is_idempotent_and_follows_new_weights(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """Rescoring twice gives the same matches; a higher threshold then flips decisions."""
        store(
            sessions,
            [
                (0, "a", STORY, "en"),
                (1, "b", "Lula meets Putin in Moscow to discuss trade", "en"),
                (2, "c", "Heavy snow closes schools across Ontario", "en"),
            ],
        )
        processor = make_processor(sessions, tagger)
        processor.process_pending()
        with sessions() as session:
            processed = list_matches(session)
        assert processor.rescore(None) == 3
        with sessions() as session:
            once = list_matches(session)
        processor.rescore(None)
        with sessions() as session:
            twice = list_matches(session)
        assert processed == once == twice
        strict = replace(tagger, model=replace(tagger.model, threshold=0.9999))
        make_processor(sessions, strict).rescore(None)
        with sessions() as session:
            assert not any(m["relevant"] for m in list_matches(session))
