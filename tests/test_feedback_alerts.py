"""What judgements and saved views do to alerts: a story judged not relevant raises no more,
a rule naming a view applies its filter, and a low-scored match can be sent by hand."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.outbox import build_due_digests, send_alert_for_match
from monitor.feedback_values import FeedbackKind
from monitor.storage.alerts import list_alerts, list_deliveries
from monitor.storage.feedback import record_feedback
from monitor.storage.views import save_view
from monitor.tagging import Tagger
from monitor.values import AlertStatus, AlertType
from tests.feedback_support import (
    HEADLINES,
    NOW,
    alert_settings,
    match_by_title,
    process_headlines,
)

LATER = NOW + timedelta(hours=1)
# Two more outlets reporting the Caracas agreement: enough for a story.updated.
FOLLOW_UPS = [
    "Russia and Venezuela sign a military cooperation agreement in Caracas, officials say",
    "Russia and Venezuela sign military cooperation agreement in Caracas on Tuesday",
]


def alerts_of(sessions: sessionmaker[Session]) -> list[tuple[str, AlertType, int | None]]:
    with sessions() as session:
        return sorted((a.rule, a.type, a.story_id) for a in list_alerts(session))


def judge(sessions: sessionmaker[Session], title: str, value: bool) -> None:
    article_id = int(match_by_title(sessions, title)["article_id"])  # type: ignore[call-overload]
    with sessions.begin() as session:
        record_feedback(session, FeedbackKind.RELEVANT, article_id, value, "ana", NOW)


class TestSuppression:
    @pytest.mark.parametrize("judged", [False, True])
    def test_story_judged_not_relevant_raises_no_update(
        self, sessions: sessionmaker[Session], tagger: Tagger, judged: bool
    ) -> None:
        """After a member is judged not relevant, new members of its story raise nothing;
        without that judgement the same batch raises a story.updated."""
        settings = alert_settings({"name": "all", "min_score": 0.5}, story_update_outlets=1)
        process_headlines(sessions, tagger, HEADLINES[:1], settings)
        story_id = match_by_title(sessions, HEADLINES[0])["story_id"]
        assert alerts_of(sessions) == [("all", AlertType.MATCH_CREATED, story_id)]
        if judged:
            judge(sessions, HEADLINES[0], False)
        process_headlines(sessions, tagger, FOLLOW_UPS, settings, LATER, outlet="later")
        assert match_by_title(sessions, FOLLOW_UPS[0])["story_id"] == story_id
        updates = [a for a in alerts_of(sessions) if a[1] is AlertType.STORY_UPDATED]
        assert updates == ([] if judged else [("all", AlertType.STORY_UPDATED, story_id)])

    def test_held_story_judged_not_relevant_leaves_the_digest(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """A digest leaves out a held story judged not relevant since; alone, it builds none."""
        settings = alert_settings({"name": "daily", "mode": "digest", "digest_every": "1h"})
        process_headlines(sessions, tagger, [HEADLINES[0]], settings)
        judge(sessions, HEADLINES[0], False)
        with sessions.begin() as session:
            assert build_due_digests(session, settings, NOW + timedelta(hours=2)) == 0
            assert [a.status for a in list_alerts(session)] == [AlertStatus.HELD]


class TestViewRules:
    def test_rule_naming_a_view_applies_its_filter(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """A rule with `view` alerts only the stories the saved view's filter admits."""
        with sessions.begin() as session:
            save_view(session, "cuba", {"country": "CU"}, NOW)
        settings = alert_settings({"name": "cuba-desk", "min_score": 0.0, "view": "cuba"})
        process_headlines(sessions, tagger, HEADLINES, settings)
        cuba_story = match_by_title(sessions, HEADLINES[2])["story_id"]
        assert alerts_of(sessions) == [("cuba-desk", AlertType.MATCH_CREATED, cuba_story)]

    def test_view_honours_judgements(self, sessions: sessionmaker[Session], tagger: Tagger) -> None:
        """A view's relevant-only default uses the effective relevance, like the inbox."""
        with sessions.begin() as session:
            save_view(session, "all-relevant", {}, NOW)
        settings = alert_settings({"name": "r", "min_score": 0.0, "view": "all-relevant"})
        process_headlines(sessions, tagger, [HEADLINES[3]], settings)
        assert alerts_of(sessions) == []  # the tagger calls the Ontario snow not relevant

    def test_unknown_view_raises_nothing_and_is_logged(
        self, sessions: sessionmaker[Session], tagger: Tagger, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A rule naming a view nobody saved raises nothing and says so in the log; the other
        rules still alert."""
        settings = alert_settings(
            {"name": "ghost", "min_score": 0.0, "view": "nowhere"},
            {"name": "all", "min_score": 0.5},
        )
        with caplog.at_level(logging.WARNING, logger="monitor.alerts.outbox"):
            process_headlines(sessions, tagger, [HEADLINES[2]], settings)
        assert [rule for rule, _, _ in alerts_of(sessions)] == ["all"]
        assert "ghost names no saved view 'nowhere'" in caplog.text


class TestSendByHand:
    def test_low_scored_match_is_sent_once_per_rule(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """Sending a match the rules' score floor kept back queues a match.created for every
        rule whose other filters admit it; sending again repeats nothing."""
        settings = alert_settings(
            {"name": "high", "min_score": 0.99},
            {"name": "cuba", "min_score": 0.99, "countries": ["CU"]},
        )
        process_headlines(sessions, tagger, [HEADLINES[3]], settings)
        assert alerts_of(sessions) == []
        match = match_by_title(sessions, HEADLINES[3])
        with sessions.begin() as session:
            sent = send_alert_for_match(session, int(match["id"]), settings, LATER)  # type: ignore[call-overload]
        assert sent is not None and sent.raised == ("high",) and sent.already_alerted == ()
        assert alerts_of(sessions) == [("high", AlertType.MATCH_CREATED, match["story_id"])]
        with sessions.begin() as session:
            [delivery] = list_deliveries(session)
            assert delivery.channel == "ops" and delivery.status == "pending"
            again = send_alert_for_match(session, int(match["id"]), settings, LATER)  # type: ignore[call-overload]
            assert again is not None and again.raised == () and again.already_alerted == ("high",)
            assert send_alert_for_match(session, 10**9, settings, LATER) is None

    def test_no_rule_admits_it(self, sessions: sessionmaker[Session], tagger: Tagger) -> None:
        """A match no rule's filters admit is sent nowhere."""
        settings = alert_settings({"name": "cuba", "countries": ["CU"]})
        process_headlines(sessions, tagger, [HEADLINES[3]], settings)
        match = match_by_title(sessions, HEADLINES[3])
        with sessions.begin() as session:
            sent = send_alert_for_match(session, int(match["id"]), settings, LATER)  # type: ignore[call-overload]
        assert sent is not None and not sent.matched
