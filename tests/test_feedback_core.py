"""The pure parts of feedback and saved views: effective relevance, superseding, the export
lines, view filters and the TOML edit `eval same-story --apply` makes."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta

import pytest

from monitor.config_edit import set_toml_value
from monitor.feedback import (
    effective_relevance,
    export_lines,
    judgement_item,
    latest_judgements,
    override_of,
)
from monitor.feedback_values import FeedbackKind, FeedbackRecord, JudgedText
from monitor.filters import FilterError, FilterRequest
from monitor.gazetteer import load_gazetteer
from monitor.views import (
    canonical_view_filter,
    is_view_name,
    view_match_filter,
    view_query,
    view_request,
)
from tests.conftest import PROJECT_ROOT

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
GAZETTEER = load_gazetteer(PROJECT_ROOT / "config" / "gazetteer")


def record(
    id_: int,
    value: bool,
    article_id: int | None = 1,
    kind: FeedbackKind = FeedbackKind.RELEVANT,
    story_id: int | None = 7,
) -> FeedbackRecord:
    other = JudgedText(2, "Other side", "text", "es") if kind is FeedbackKind.SAME_STORY else None
    return FeedbackRecord(
        id=id_,
        kind=kind,
        value=value,
        article_id=article_id,
        story_id=story_id,
        created_at=NOW + timedelta(minutes=id_),
        author="ana",
        scorer_version="v1",
        predicted=True,
        score=0.8,
        feed_url="https://feed.example/rss",
        judged=JudgedText(article_id, f"Title {id_}", "Summary", "en"),
        other=other,
    )


class TestDecisions:
    @pytest.mark.parametrize(
        ("tagger", "judged", "effective", "override"),
        [
            (True, None, True, None),
            (False, None, False, None),
            (True, False, False, "feedback"),
            (False, True, True, "feedback"),
            (True, True, True, None),
        ],
    )
    def test_judgement_wins_and_is_marked(
        self, tagger: bool, judged: bool | None, effective: bool, override: str | None
    ) -> None:
        """The latest judgement decides; an override is marked only when it disagrees."""
        assert effective_relevance(tagger, judged) is effective
        assert override_of(tagger, judged) == override

    def test_later_judgement_supersedes_per_item(self) -> None:
        """Per article (and story for pairs) the newest judgement stays; pruned ones stand alone."""
        records = [
            record(1, True),
            record(2, False),
            record(3, True, article_id=None),
            record(4, False, article_id=None),
            record(5, True, kind=FeedbackKind.SAME_STORY),
            record(6, False, kind=FeedbackKind.SAME_STORY, story_id=8),
        ]
        assert [r.id for r in latest_judgements(reversed(records))] == [2, 3, 4, 5, 6]

    def test_relevance_story_change_still_supersedes(self) -> None:
        """A relevance judgement supersedes an earlier one even after the article moved story."""
        assert [
            r.id for r in latest_judgements([record(1, True), record(2, False, story_id=9)])
        ] == [2]


class TestExports:
    def test_relevance_line_format(self) -> None:
        """A relevance line carries what `monitor eval relevance` reads: title, summary, lang, label."""
        [line] = export_lines([record(1, True), record(2, False)], FeedbackKind.RELEVANT)
        assert line["label"] == 0 and line["id"] == "article-1" and line["lang"] == "en"
        assert (line["title"], line["summary"], line["kind"]) == ("Title 2", "Summary", "feedback")

    def test_same_story_line_format(self) -> None:
        """A pair line has `a` (the article) and `b` (its story's side) and a boolean label."""
        [line] = export_lines(
            [record(1, False, kind=FeedbackKind.SAME_STORY)], FeedbackKind.SAME_STORY
        )
        assert line["same_story"] is False and line["id"] == "article-1-story-7"
        assert line["a"] == {"title": "Title 1", "text": "Summary", "lang": "en"}
        assert line["b"] == {"title": "Other side", "text": "text", "lang": "es"}

    def test_judgement_item_names_its_kind(self) -> None:
        """A listed judgement has its verdict under `relevant` or `same_story`, never both."""
        relevant = judgement_item(record(1, True))
        pair = judgement_item(record(2, False, kind=FeedbackKind.SAME_STORY))
        assert relevant["relevant"] is True and "same_story" not in relevant
        assert pair["same_story"] is False and "relevant" not in pair
        assert relevant["created_at"] == (NOW + timedelta(minutes=1)).isoformat()


class TestViewFilters:
    def test_canonical_form_resolves_names(self) -> None:
        """Country and topic names are stored as codes; durations stay as typed; defaults go."""
        request = FilterRequest(country="Venezuela", topic="petróleo", language="ES", since="7d")
        stored = canonical_view_filter(request, GAZETTEER, NOW)
        assert stored == {"country": "VE", "topic": "energy", "language": "es", "since": "7d"}

    def test_unusable_filter_is_refused(self) -> None:
        """A filter the inbox would refuse cannot be saved either."""
        with pytest.raises(FilterError, match="country"):
            canonical_view_filter(FilterRequest(country="Atlantis"), GAZETTEER, NOW)

    def test_stored_view_runs_relative_to_now(self) -> None:
        """A stored `since` is taken back from the time the view is used."""
        f = view_match_filter({"since": "24h", "country": "CU", "min_score": 0.5}, NOW)
        assert f.since == NOW - timedelta(hours=24) and f.country == "CU"
        assert f.relevant is True and f.min_score == 0.5
        assert view_match_filter({"include_all": True}, NOW).relevant is None

    @pytest.mark.parametrize("data", [{"colour": "red"}, {"min_score": "high"}, {"story": "x"}])
    def test_bad_stored_json_is_a_filter_error(self, data: dict[str, object]) -> None:
        """Unknown keys or wrong types in stored JSON are named, not crashed on."""
        with pytest.raises(FilterError):
            view_request(data)

    def test_query_form(self) -> None:
        """A view reads back as GET /matches's parameters."""
        assert view_query({"language": "es", "text": "oil", "include_all": True}) == {
            "lang": "es",
            "q": "oil",
            "all": "true",
        }

    @pytest.mark.parametrize(
        ("name", "usable"),
        [
            ("venezuela-energy", True),
            ("a.b_c", True),
            ("", False),
            ("-x", False),
            ("bad name", False),
            ("x.atom", False),
            ("x" * 129, False),
        ],
    )
    def test_view_names(self, name: str, usable: bool) -> None:
        """A view name is URL- and config-safe, at most 128 characters."""
        assert is_view_name(name) is usable


class TestTomlEdit:
    def test_replaces_the_value_keeping_comments(self) -> None:
        """The key's value changes; its comment and every other line stay."""
        text = "# top\n[stories]\n# why\nsame_story_threshold = 0.54  # note\nwindow_days = 7\n"
        edited = set_toml_value(text, "stories", "same_story_threshold", "0.61")
        assert edited == text.replace("0.54", "0.61")
        assert tomllib.loads(edited)["stories"]["same_story_threshold"] == 0.61

    def test_adds_the_key_to_its_table(self) -> None:
        """A table without the key gets it; a value of the same name elsewhere is untouched."""
        text = "[api]\nsame_story_threshold = 1\n[stories]\nwindow_days = 7\n[logging]\nlevel = 'INFO'\n"
        data = tomllib.loads(set_toml_value(text, "stories", "same_story_threshold", "0.6"))
        assert data["stories"] == {"window_days": 7, "same_story_threshold": 0.6}
        assert data["api"]["same_story_threshold"] == 1

    def test_appends_the_table(self) -> None:
        """A file without the table gets it at the end."""
        data = tomllib.loads(
            set_toml_value("[api]\nport = 1", "stories", "same_story_threshold", "0.6")
        )
        assert data == {"api": {"port": 1}, "stories": {"same_story_threshold": 0.6}}
