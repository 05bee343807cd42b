"""`monitor eval fit-relevance`: several labelled files and the analysts' feedback, figures under
random and leave-one-source-out folds, weights written only when asked (real encoder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session, sessionmaker

from monitor.cli import cli
from monitor.feedback_values import FeedbackKind
from monitor.relevance_files import load_relevance_model
from monitor.storage.feedback import record_feedback
from monitor.tagging import Tagger
from tests.conftest import PROJECT_ROOT
from tests.feedback_support import HEADLINES, NOW, match_by_title, process_headlines

# Written for this test: two outlets, each with relations and one-side items.
LINES = {
    "wire-a": [
        ("Russia and Cuba sign an agreement on oil deliveries", 1),
        ("Lavrov meets the foreign minister of Nicaragua in Moscow", 1),
        ("Heavy rain floods the streets of Lima", 0),
        ("Moscow metro opens three new stations", 0),
    ],
    "wire-b": [
        ("Putin receives the president of Bolivia at the Kremlin", 1),
        ("Russian warships arrive in Havana for a friendly visit", 1),
        ("Chile's central bank holds its interest rate", 0),
        ("Russian wheat harvest hits a record", 0),
    ],
}


def write_labelled(path: Path, outlet: str) -> Path:
    records = [
        {
            "id": f"{outlet}-{n}",
            "lang": "en",
            "title": title,
            "summary": "",
            "label": label,
            "source": f"example/{outlet}@0",
            "ambiguous": n == 0,
        }
        for n, (title, label) in enumerate(LINES[outlet])
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path, sqlite_sessions: sessionmaker[Session], tagger: Tagger) -> Path:
    """A database holding processed headlines and a few relevance judgements, and a config whose
    model file is a copy of the shipped weights."""
    process_headlines(sqlite_sessions, tagger)
    judged = [(HEADLINES[0], True), (HEADLINES[2], True), (HEADLINES[3], False)]
    ids = [int(match_by_title(sqlite_sessions, t)["article_id"]) for t, _ in judged]  # type: ignore[call-overload]
    with sqlite_sessions.begin() as session:
        for article_id, (_, value) in zip(ids, judged, strict=True):
            assert record_feedback(session, FeedbackKind.RELEVANT, article_id, value, "ana", NOW)
    model = tmp_path / "relevance.toml"
    model.write_text((PROJECT_ROOT / "config" / "relevance.toml").read_text(), encoding="utf-8")
    url = sqlite_sessions.kw["bind"].url.render_as_string(hide_password=False)
    path = tmp_path / "monitor.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n[embedding]\ncache_dir = "{tmp_path / "cache"}"\n'
        f'[relevance]\ngazetteer_dir = "{PROJECT_ROOT / "config" / "gazetteer"}"\n'
        f'model_file = "{model}"\n'
        f'seeds_dir = "{PROJECT_ROOT / "config" / "seeds" / "russia-latam"}"\n',
        encoding="utf-8",
    )
    return path


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["eval", "fit-relevance", "--config", str(config), *args])


class TestFitRelevance:
    def test_reports_both_kinds_of_folds_and_writes_nothing_unasked(
        self, config: Path, tmp_path: Path
    ) -> None:
        """Two files: current, random-fold and leave-one-source-out figures (clear/ambiguous, per
        language, precision and recall) are printed, and the model file is left as it was."""
        model = tmp_path / "relevance.toml"
        before = model.read_text()
        files = [write_labelled(tmp_path / f"{o}.jsonl", o) for o in LINES]
        result = run(config, *map(str, files))
        assert result.exit_code == 0, result.output
        for heading in ("current weights", "random 5-fold CV", "leave-one-source-out CV"):
            assert heading in result.output
        assert "ambiguous" in result.output and "clear" in result.output
        assert "precision" in result.output and "recall" in result.output
        assert " en " in result.output
        assert model.read_text() == before and "wrote" not in result.output

    def test_feedback_with_a_file_applies_and_keeps_a_backup(
        self, config: Path, tmp_path: Path
    ) -> None:
        """--feedback --with FILE --apply refits on both, replaces the model file, keeps the old
        one as .bak and says to rescore."""
        model = tmp_path / "relevance.toml"
        before = model.read_text()
        extra = write_labelled(tmp_path / "wire-a.jsonl", "wire-a")
        result = run(config, "--feedback", "--with", str(extra), "--apply")
        assert result.exit_code == 0, result.output
        assert (tmp_path / "relevance.toml.bak").read_text() == before
        assert model.read_text() != before and "on 7 labelled items" in model.read_text()
        assert load_relevance_model(model).threshold > 0
        assert "monitor rescore" in result.output

    def test_output_writes_there_only(self, config: Path, tmp_path: Path) -> None:
        """--output writes the weights to that file and not to the configured one."""
        files = [write_labelled(tmp_path / f"{o}.jsonl", o) for o in LINES]
        target = tmp_path / "new.toml"
        before = (tmp_path / "relevance.toml").read_text()
        result = run(config, *map(str, files), "--output", str(target))
        assert result.exit_code == 0, result.output
        assert "fit-relevance wire-a.jsonl wire-b.jsonl" in target.read_text()
        assert (tmp_path / "relevance.toml").read_text() == before

    def test_one_class_only_is_a_usage_error(self, config: Path, tmp_path: Path) -> None:
        """Items of one label only cannot be fitted: a one-line usage error, no trace."""
        path = tmp_path / "neg.jsonl"
        path.write_text(json.dumps({"id": "x-1", "title": "Rain", "label": 0}) + "\n")
        result = run(config, str(path))
        assert result.exit_code == 2 and "both kinds" in result.output
