"""Feedback, inbox state, saved views and story splits in storage, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.feedback_values import FeedbackFilter, FeedbackKind
from monitor.filters import MatchFilter
from monitor.storage.events import threads_of
from monitor.storage.feedback import (
    feedback_quality,
    list_feedback,
    record_feedback,
    relevance_feedback_items,
    relevance_overrides,
    same_story_feedback_items,
    stories_judged_not_relevant,
)
from monitor.storage.queries import get_story, list_matches_page
from monitor.storage.schema import Article, Thread
from monitor.storage.splits import split_article
from monitor.storage.states import set_read, set_starred, states_for
from monitor.storage.views import delete_view, get_view, list_views, save_view
from monitor.tagging import Tagger
from tests.feedback_support import EVERY, HEADLINES, NOW, match_by_title, process_headlines

RELEVANT_ONLY = MatchFilter(relevant=True)


@pytest.fixture
def stored(sessions: sessionmaker[Session], tagger: Tagger) -> sessionmaker[Session]:
    process_headlines(sessions, tagger)
    return sessions


def judge(
    sessions: sessionmaker[Session],
    article_id: int,
    value: bool,
    kind: FeedbackKind = FeedbackKind.RELEVANT,
    story_id: int | None = None,
    minutes: int = 0,
) -> None:
    with sessions.begin() as session:
        assert record_feedback(
            session, kind, article_id, value, "ana", NOW + timedelta(minutes=minutes), story_id
        )


def relevant_titles(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return [m["title"] for m in list_matches_page(session, RELEVANT_ONLY, 100)]


class TestFeedback:
    def test_judgement_keeps_a_copy_of_the_text(self, stored: sessionmaker[Session]) -> None:
        """A stored judgement carries the title, language, feed and scorer, and survives the
        article's deletion with its text."""
        match = match_by_title(stored, HEADLINES[2])
        judge(stored, int(match["article_id"]), False)  # type: ignore[call-overload]
        with stored.begin() as session:
            session.execute(delete(Article).where(Article.id == match["article_id"]))
        with stored() as session:
            [record] = list_feedback(session, FeedbackFilter(), 10)
        assert record.article_id is None and record.value is False
        assert record.judged.title == HEADLINES[2] and record.judged.language == "en"
        assert record.author == "ana" and record.scorer_version == match["scorer_version"]
        assert record.predicted is True and record.feed_url

    def test_unknown_article_or_wrong_story_is_refused(self, stored: sessionmaker[Session]) -> None:
        """No judgement is stored for an unknown article, or a pair naming another story."""
        match = match_by_title(stored, HEADLINES[0])
        with stored.begin() as session:
            assert record_feedback(session, FeedbackKind.RELEVANT, 10**9, True, "a", NOW) is None
            assert (
                record_feedback(
                    session,
                    FeedbackKind.SAME_STORY,
                    int(match["article_id"]),  # type: ignore[call-overload]
                    False,
                    "a",
                    NOW,
                    int(match["story_id"]) + 1000,  # type: ignore[call-overload]
                )
                is None
            )
            assert list_feedback(session, FeedbackFilter(), 10) == []

    def test_list_is_newest_first_with_filters_and_cursor(
        self, stored: sessionmaker[Session]
    ) -> None:
        """Judgements list newest first, narrow by kind and value, and page by cursor."""
        ids = [int(match_by_title(stored, t)["article_id"]) for t in HEADLINES[:3]]  # type: ignore[call-overload]
        for minute, article_id in enumerate(ids):
            judge(stored, article_id, minute != 1, minutes=minute)
        with stored() as session:
            everything = list_feedback(session, FeedbackFilter(), 10)
            assert [r.article_id for r in everything] == ids[::-1]
            page = list_feedback(session, FeedbackFilter(), 2)
            rest = list_feedback(session, FeedbackFilter(), 2, cursor=page[-1].id)
            assert [r.id for r in page + rest] == [r.id for r in everything]
            rejected = list_feedback(session, FeedbackFilter(value=False), 10)
            assert [r.article_id for r in rejected] == [ids[1]]
            assert list_feedback(session, FeedbackFilter(kind=FeedbackKind.SAME_STORY), 10) == []

    def test_later_judgement_supersedes(self, stored: sessionmaker[Session]) -> None:
        """The override and the export hold the latest judgement of an article."""
        article_id = int(match_by_title(stored, HEADLINES[2])["article_id"])  # type: ignore[call-overload]
        judge(stored, article_id, False)
        judge(stored, article_id, True, minutes=1)
        with stored() as session:
            assert relevance_overrides(session, [article_id]) == {article_id: True}
            [line] = relevance_feedback_items(session)
        assert line["label"] == 1 and line["title"] == HEADLINES[2] and line["lang"] == "en"


class TestEffects:
    def test_not_relevant_leaves_the_default_list(self, stored: sessionmaker[Session]) -> None:
        """An article judged not relevant leaves the relevant-only list and is marked."""
        match = match_by_title(stored, HEADLINES[2])
        assert HEADLINES[2] in relevant_titles(stored)
        judge(stored, int(match["article_id"]), False)  # type: ignore[call-overload]
        assert HEADLINES[2] not in relevant_titles(stored)
        marked = match_by_title(stored, HEADLINES[2])
        assert marked["relevant"] is False and marked["tagger_relevant"] is True
        assert marked["override"] == "feedback"

    def test_missed_item_judged_relevant_is_shown(self, stored: sessionmaker[Session]) -> None:
        """An article the tagger rejected, judged relevant, joins the relevant-only list."""
        match = match_by_title(stored, HEADLINES[3])
        assert match["relevant"] is False and HEADLINES[3] not in relevant_titles(stored)
        judge(stored, int(match["article_id"]), True)  # type: ignore[call-overload]
        assert HEADLINES[3] in relevant_titles(stored)
        with stored() as session:
            rejected = list_matches_page(session, MatchFilter(relevant=False), 100)
        assert HEADLINES[3] not in [m["title"] for m in rejected]
        assert match_by_title(stored, HEADLINES[3])["override"] == "feedback"

    def test_agreeing_judgement_is_no_override(self, stored: sessionmaker[Session]) -> None:
        """A judgement that agrees with the tagger changes nothing and marks no override."""
        match = match_by_title(stored, HEADLINES[0])
        judge(stored, int(match["article_id"]), True)  # type: ignore[call-overload]
        again = match_by_title(stored, HEADLINES[0])
        assert again["override"] is None and again["feedback"] is True

    def test_story_judged_not_relevant(self, stored: sessionmaker[Session]) -> None:
        """A story with a member judged not relevant is found; the others are not."""
        first, cuba = match_by_title(stored, HEADLINES[0]), match_by_title(stored, HEADLINES[2])
        judge(stored, int(cuba["article_id"]), False)  # type: ignore[call-overload]
        story_ids = [int(first["story_id"]), int(cuba["story_id"])]  # type: ignore[call-overload]
        with stored() as session:
            assert stories_judged_not_relevant(session, story_ids) == {cuba["story_id"]}

    def test_split_moves_the_member_to_a_story_of_its_own(
        self, stored: sessionmaker[Session]
    ) -> None:
        """A member split off leaves its story, starts its own, and both are recounted."""
        first, second = match_by_title(stored, HEADLINES[0]), match_by_title(stored, HEADLINES[1])
        story_id = int(first["story_id"])  # type: ignore[call-overload]
        assert second["story_id"] == story_id
        with stored() as session:
            before = get_story(session, story_id)
        assert before is not None and before["article_count"] == 2
        with stored.begin() as session:
            result = split_article(session, int(first["article_id"]), story_id)  # type: ignore[call-overload]
        assert result is not None and result.new_story_id != story_id
        with stored() as session:
            old, new = get_story(session, story_id), get_story(session, result.new_story_id)
        assert old is not None and new is not None
        assert [a["title"] for a in old["articles"]] == [HEADLINES[1]]
        assert [a["title"] for a in new["articles"]] == [HEADLINES[0]]
        assert old["article_count"] == 1 and old["outlets_count"] == 1
        assert new["article_count"] == 1 and new["languages"] == ["en"]
        assert old["title"] == HEADLINES[1] and new["title"] == HEADLINES[0]
        assert match_by_title(stored, HEADLINES[0])["story_id"] == result.new_story_id
        with stored() as session:
            threads = threads_of(session, [story_id, result.new_story_id])
            counts = dict(session.execute(select(Thread.id, Thread.article_count)).all())
        assert threads[result.new_story_id] != threads[story_id]
        assert counts[threads[story_id]] == 1 and counts[threads[result.new_story_id]] == 1

    def test_split_refuses_an_article_of_another_story(self, stored: sessionmaker[Session]) -> None:
        """Splitting names the story: an article outside it is not moved."""
        first, cuba = match_by_title(stored, HEADLINES[0]), match_by_title(stored, HEADLINES[2])
        with stored.begin() as session:
            assert split_article(session, int(cuba["article_id"]), int(first["story_id"])) is None  # type: ignore[call-overload]


class TestExportsAndQuality:
    def test_same_story_export_has_both_sides(self, stored: sessionmaker[Session]) -> None:
        """A pair judgement exports the article and its story's other member."""
        first = match_by_title(stored, HEADLINES[0])
        judge(
            stored,
            int(first["article_id"]),  # type: ignore[call-overload]
            False,
            FeedbackKind.SAME_STORY,
            int(first["story_id"]),  # type: ignore[call-overload]
        )
        with stored() as session:
            [pair] = same_story_feedback_items(session)
        assert pair["same_story"] is False
        assert pair["a"]["title"] == HEADLINES[0] and pair["b"]["title"] == HEADLINES[1]
        assert pair["a"]["lang"] == "en" and "text" in pair["b"]

    def test_quality_counts_precision_per_language_and_feed(
        self, stored: sessionmaker[Session]
    ) -> None:
        """Precision is confirmed / flagged over the latest judgements, per language and feed."""
        ids = {t: int(match_by_title(stored, t)["article_id"]) for t in HEADLINES}  # type: ignore[call-overload]
        judge(stored, ids[HEADLINES[0]], True)
        judge(stored, ids[HEADLINES[2]], True)
        judge(stored, ids[HEADLINES[2]], False, minutes=1)
        judge(stored, ids[HEADLINES[3]], True)
        with stored() as session:
            quality = feedback_quality(session)
        assert quality.judgements == 4 and quality.relevance_judgements == 4
        assert quality.overall.judged == 3 and quality.overall.flagged == 2
        assert quality.overall.confirmed == 1 and quality.overall.missed == 1
        assert quality.overall.precision == 0.5
        assert quality.by_language["en"].precision == 0.5
        assert len(quality.by_feed) == 3
        assert sorted(p.precision for p in quality.by_feed.values() if p.precision is not None) == [
            0.0,
            1.0,
        ]


class TestStates:
    def test_read_and_starred(self, stored: sessionmaker[Session]) -> None:
        """Read and starred states are stored per article; untouched ones are unread."""
        with stored() as session:
            ids = [int(m["article_id"]) for m in list_matches_page(session, EVERY, 10)]
        with stored.begin() as session:
            assert set_read(session, [*ids[:2], 10**9], True, NOW) == 2
            assert set_starred(session, ids[0], True, NOW)
            assert not set_starred(session, 10**9, True, NOW)
        with stored.begin() as session:
            set_read(session, [ids[1]], False, NOW)
        with stored() as session:
            states = states_for(session, ids)
        assert states[ids[0]].read and states[ids[0]].starred
        assert not states[ids[1]].read and not states[ids[1]].starred
        assert states[ids[2]].updated_at is None and not states[ids[2]].read


class TestViews:
    def test_save_replace_list_delete(self, sessions: sessionmaker[Session]) -> None:
        """A view is saved by name, replaced by a second save, listed and deleted."""
        later = NOW + timedelta(hours=1)
        with sessions.begin() as session:
            save_view(session, "venezuela-energy", {"country": "VE", "topic": "energy"}, NOW)
            save_view(session, "cuba", {"country": "CU"}, NOW)
            replaced = save_view(session, "cuba", {"country": "CU", "since": "7d"}, later)
        assert replaced.created_at == NOW and replaced.updated_at == later
        with sessions.begin() as session:
            assert [v.name for v in list_views(session)] == ["cuba", "venezuela-energy"]
            view = get_view(session, "cuba")
            assert view is not None and view.filter == {"country": "CU", "since": "7d"}
            assert delete_view(session, "cuba") and not delete_view(session, "cuba")
            assert get_view(session, "cuba") is None
