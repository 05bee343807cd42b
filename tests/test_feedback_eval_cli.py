"""`monitor eval relevance --feedback` and `monitor eval same-story --feedback [--apply]` with the
packaged encoder, on judgements stored in SQLite and PostgreSQL; and the round trip
judgements → `GET /feedback/relevance.jsonl` → `monitor eval relevance FILE`."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from monitor.api.app import create_app
from monitor.config import Settings
from monitor.feedback_values import FeedbackKind
from monitor.storage.feedback import record_feedback
from monitor.tagging import Tagger
from tests.conftest import PROJECT_ROOT
from tests.feedback_support import HEADLINES, NOW, match_by_title, process_headlines

TOKEN = "t"
SNOW = [
    "Heavy snow closes schools across Ontario",
    "Heavy snow closes schools across Ontario again",
]
CONFIG = """# my settings
[database]
url = "{url}"

[stories]
# how alike two articles must be to be one story
same_story_threshold = 0.54  # calibrated by hand
"""


def monitor(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=300,
    )


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(CONFIG.format(url=database_url))
    return path


def judge(
    sessions: sessionmaker[Session],
    title: str,
    value: bool,
    kind: FeedbackKind = FeedbackKind.RELEVANT,
) -> None:
    match: dict[str, Any] = match_by_title(sessions, title)
    with sessions.begin() as session:
        story = match["story_id"] if kind is FeedbackKind.SAME_STORY else None
        assert record_feedback(session, kind, match["article_id"], value, "ana", NOW, story)


class TestEvalRelevanceFeedback:
    def test_scores_the_tagger_on_stored_judgements(
        self, sessions: sessionmaker[Session], tagger: Tagger, config: Path
    ) -> None:
        """The report counts the latest judgement of each article and names the misses."""
        process_headlines(sessions, tagger)
        judge(sessions, HEADLINES[0], True)
        judge(sessions, HEADLINES[2], True)
        judge(sessions, HEADLINES[3], False)
        judge(sessions, HEADLINES[3], True)  # supersedes: the tagger missed it
        run = monitor(config, "eval", "relevance", "--feedback", "--format", "json")
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout)
        assert report["n"] == 3 and report["by_kind"]["feedback"]["n"] == 3
        assert report["precision"] == 1.0 and report["recall"] == pytest.approx(2 / 3, abs=1e-3)
        assert [e["text"] for e in report["errors"]] == [HEADLINES[3]]

    def test_no_judgements_is_a_usage_error(
        self, sessions: sessionmaker[Session], config: Path
    ) -> None:
        """With nothing judged yet, --feedback says how to judge, in one line (exit 2)."""
        run = monitor(config, "eval", "relevance", "--feedback")
        assert run.returncode == 2 and "no relevance judgements stored yet" in run.stderr
        assert "Traceback" not in run.stderr

    def test_neither_file_nor_feedback(self, config: Path) -> None:
        """Without FILE or --feedback the command says what it needs."""
        run = monitor(config, "eval", "relevance")
        assert run.returncode == 2 and "--feedback" in run.stderr


class TestRoundTrip:
    def test_api_judgements_exported_and_evaluated(
        self, sessions: sessionmaker[Session], tagger: Tagger, config: Path, tmp_path: Path
    ) -> None:
        """Judgements posted to the API, exported as JSONL and read by `monitor eval relevance
        FILE`, give the same report as `--feedback`."""
        process_headlines(sessions, tagger)
        settings = Settings(api={"page_size": 100})
        with TestClient(create_app(settings, sessions, TOKEN)) as api:
            items = api.get("/matches", params={"all": True}).json()["items"]
            for match in items:
                verdict = {"relevant": match["title"] != HEADLINES[4]}
                posted = api.post(
                    f"/matches/{match['id']}/feedback",
                    json=verdict,
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                assert posted.status_code == 201
            export = api.get("/feedback/relevance.jsonl").text
        file = tmp_path / "judged.jsonl"
        file.write_text(export)
        from_file = monitor(config, "eval", "relevance", str(file), "--format", "json")
        from_db = monitor(config, "eval", "relevance", "--feedback", "--format", "json")
        assert from_file.returncode == 0 and from_db.returncode == 0, from_file.stderr
        file_report, db_report = json.loads(from_file.stdout), json.loads(from_db.stdout)
        assert file_report["n"] == db_report["n"] == len(HEADLINES)
        assert file_report["overall"] == db_report["overall"]
        assert file_report["errors"] == db_report["errors"]


class TestEvalSameStoryFeedback:
    def test_apply_writes_the_calibrated_threshold(
        self, sessions: sessionmaker[Session], tagger: Tagger, config: Path
    ) -> None:
        """--apply writes [stories] same_story_threshold into the file in use, keeps its
        comments, and leaves the old file beside it as a backup."""
        process_headlines(sessions, tagger, [*HEADLINES[:2], *SNOW])
        assert (
            match_by_title(sessions, SNOW[0])["story_id"]
            == match_by_title(sessions, SNOW[1])["story_id"]
        )
        judge(sessions, HEADLINES[1], True, FeedbackKind.SAME_STORY)
        judge(sessions, SNOW[1], False, FeedbackKind.SAME_STORY)
        judge(sessions, SNOW[0], False, FeedbackKind.SAME_STORY)
        original = config.read_text()
        run = monitor(config, "eval", "same-story", "--feedback", "--apply", "--format", "json")
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout)
        assert report["n"] == 3 and report["by_origin"]["feedback"]["n"] == 3
        best = report["calibration"]["best_threshold"]
        written = config.read_text()
        assert tomllib.loads(written)["stories"]["same_story_threshold"] == best
        assert "# calibrated by hand" in written and "# my settings" in written
        [backup] = config.parent.glob("monitor.toml.*.bak")
        assert backup.read_text() == original
        assert str(backup) in report["applied"]

    def test_one_class_is_not_applied(
        self, sessions: sessionmaker[Session], tagger: Tagger, config: Path
    ) -> None:
        """Judgements of one kind only calibrate nothing: the file stays as it was."""
        process_headlines(sessions, tagger, HEADLINES[:2])
        judge(sessions, HEADLINES[1], True, FeedbackKind.SAME_STORY)
        judge(sessions, HEADLINES[0], True, FeedbackKind.SAME_STORY)
        original = config.read_text()
        run = monitor(config, "eval", "same-story", "--feedback", "--apply")
        assert run.returncode == 1 and "one class only" in run.stderr
        assert config.read_text() == original
        assert not list(config.parent.glob("*.bak"))

    def test_too_few_pairs_report_without_calibration(
        self, sessions: sessionmaker[Session], tagger: Tagger, config: Path
    ) -> None:
        """A single judged pair is scored, says it is too few to calibrate, and applies nothing."""
        process_headlines(sessions, tagger, HEADLINES[:2])
        judge(sessions, HEADLINES[1], True, FeedbackKind.SAME_STORY)
        run = monitor(config, "eval", "same-story", "--feedback", "--format", "json")
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["calibration"] is None
        text = monitor(config, "eval", "same-story", "--feedback", "--apply")
        assert text.returncode == 1 and "too few pairs" in text.stderr
        assert "Traceback" not in text.stderr
