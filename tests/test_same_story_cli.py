"""`monitor same-story` and `monitor eval same-story` with the packaged multilingual encoder, on
pairs written for the tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

OIL_EN = "Russia and Venezuela sign an oil agreement in Caracas"
PAIRS = [
    {
        "id": "translation",
        "a": {"title": OIL_EN, "text": "Rosneft will invest in the Orinoco belt.", "lang": "en"},
        "b": {
            "title": "Rusia y Venezuela firman un acuerdo petrolero en Caracas",
            "text": "Rosneft invertirá en la faja del Orinoco.",
            "lang": "es",
        },
        "same_story": True,
    },
    {
        "id": "paraphrase",
        "a": {"title": "Putin meets Lula in Moscow to discuss trade", "text": ""},
        "b": {"title": "Lula and Putin hold trade talks in the Kremlin", "text": ""},
        "same_story": True,
    },
    {
        "id": "unrelated",
        "a": {"title": OIL_EN, "text": ""},
        "b": {"title": "Heavy rain floods the streets of Lisbon", "text": ""},
        "same_story": False,
    },
    {
        "id": "other-topic",
        "a": {"title": "Cuba beats Japan at the baseball classic", "text": ""},
        "b": {"title": "Russian central bank raises its key interest rate", "text": ""},
        "same_story": False,
    },
    {
        "id": "unlabelled",
        "a": {"title": OIL_EN, "text": ""},
        "b": {"title": "Venezuela's oil output falls again", "text": ""},
        "same_story": None,
    },
]


def monitor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
    )


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pairs") / "pairs.jsonl"
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in PAIRS))
    return path


class TestSameStoryCommand:
    def test_decides_each_pair(self, pairs_file: Path, tmp_path: Path) -> None:
        """A translation and a paraphrase are the same story; unrelated headlines are not."""
        out = tmp_path / "out.jsonl"
        run = monitor("same-story", "--input", str(pairs_file), "--output", str(out))
        assert run.returncode == 0, run.stderr
        records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
        assert set(records["translation"]) == {
            "id",
            "same_event",
            "same_thread",
            "same_story",
            "similarity",
        }
        assert all(r["same_story"] == r["same_event"] for r in records.values())
        assert records["translation"]["same_story"] is True
        assert records["paraphrase"]["same_story"] is True
        assert records["unrelated"]["same_story"] is False
        assert records["other-topic"]["same_story"] is False
        assert records["translation"]["similarity"] > records["unrelated"]["similarity"]


class TestEvalSameStory:
    def test_json_report_with_calibration(self, pairs_file: Path) -> None:
        """Labelled pairs only; scores, per-origin groups and the threshold calibration in JSON."""
        run = monitor("eval", "same-story", "--format", "json", str(pairs_file))
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout)
        assert report["n"] == 4 and report["overall"]["f1"] == 1.0
        assert report["errors"] == []
        assert report["threshold"] == 0.54
        calibration = report["calibration"]
        assert calibration["auc"] == 1.0 and calibration["f1_at_best"] == 1.0
        assert set(calibration) == {"best_threshold", "f1_at_best", "cross_validated_f1", "auc"}

    def test_text_report_names_the_calibration(self, pairs_file: Path) -> None:
        """The text report ends with the configured and the F1-best threshold."""
        run = monitor("eval", "same-story", str(pairs_file))
        assert run.returncode == 0, run.stderr
        assert "F1 1.000" in run.stdout
        assert run.stdout.strip().splitlines()[-1].startswith("threshold 0.54 ")

    def test_one_class_file_still_reports(self, tmp_path: Path) -> None:
        """Only same-story pairs: the JSON stays valid, with no AUC, and the text says so."""
        path = tmp_path / "positives.jsonl"
        path.write_text("".join(json.dumps(p) + "\n" for p in PAIRS[:2]))
        run = monitor("eval", "same-story", "--format", "json", str(path))
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["calibration"]["auc"] is None
        text = monitor("eval", "same-story", str(path))
        assert "AUC n/a (one class only)" in text.stdout

    def test_file_without_labels_is_a_clear_error(self, tmp_path: Path) -> None:
        """No true/false label at all: one line naming the file, exit 2, no traceback."""
        path = tmp_path / "unlabelled.jsonl"
        path.write_text(json.dumps(PAIRS[-1]) + "\n")
        run = monitor("eval", "same-story", str(path))
        assert run.returncode == 2
        assert "no pair with a true/false `same_story` label" in run.stderr
        assert "Traceback" not in run.stderr
