"""Relevance tagging with the real parts: shipped gazetteer, calibrated weights, seed corpus and
the packaged multilingual encoder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from monitor.config import Settings
from monitor.embed import MINILM, ConfigError, open_embedder, require_digest
from monitor.runtime import open_embedder_for, open_tagger_for
from monitor.tagging import Tagger
from tests.conftest import PROJECT_RELEVANCE, PROJECT_ROOT

GOLDEN = [
    json.loads(line) for line in (Path(__file__).parent / "data" / "relevance_golden.jsonl").open()
]


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    settings = Settings(
        relevance=PROJECT_RELEVANCE, embedding={"cache_dir": PROJECT_ROOT / "var" / "cache"}
    )
    return open_tagger_for(settings, open_embedder_for(settings))


ISSUE_CATEGORIES = (
    "source voice",
    "bulletin",
    "Ukraine war and sanctions",
    "officials by role",
    "social media",
    "country list",
    "contrast",
    "private persons",
    "culture and sport",
    "time zone",
    "homonym",
    "Snowden",
)


class TestGoldenCases:
    def test_every_category_has_cases_in_four_languages(self) -> None:
        """Each category of relevance v2 has written-for-the-tests cases in en, es, pt and ru."""
        languages: dict[str, set[str]] = {c: set() for c in ISSUE_CATEGORIES}
        for case in GOLDEN:
            if case.get("category") in languages:
                languages[str(case["category"])].add(str(case["id"]).split("-")[1])
        assert all(found == {"en", "es", "pt", "ru"} for found in languages.values()), languages

    @pytest.mark.parametrize("case", GOLDEN, ids=[c["id"] for c in GOLDEN])
    def test_case(self, tagger: Tagger, case: dict[str, object]) -> None:
        """Written-for-the-tests items in en/es/pt/ru, homonym traps included, tag as labelled."""
        [result] = tagger.tag([(str(case["title"]), str(case["summary"]))])
        assert result.relevant is case["relevant"]
        assert list(result.countries) == case["countries"]
        for topic in case.get("topics", []):  # type: ignore[attr-defined]
            assert topic in result.topics

    def test_reasons_explain_the_decision(self, tagger: Tagger) -> None:
        """Reasons carry the matched terms of both sides as written, the nearest seed by its
        headline, and the features that moved the score most."""
        [result] = tagger.tag([("Путин принял в Кремле президента Кубы", "")])
        assert result.reasons["russia"] == {"state": ["Кремле"], "officials": ["Путин"]}
        assert result.reasons["latam"] == {"CU": ["Кубы"]}
        nearest = result.reasons["nearest_seed"]
        assert isinstance(nearest, dict) and nearest["name"] and 0 < nearest["similarity"] <= 1
        assert nearest["title"] and nearest["title"] != nearest["name"]
        assert "both_sides" in result.reasons["contributions"]  # type: ignore[operator]

    def test_scorer_version_names_model_seeds_and_settings(self, tagger: Tagger) -> None:
        """The version changes with the model, the seed set or the settings."""
        model, seeds, settings = tagger.version.split("|")
        assert (
            model == "use-multilingual-v3"
            and seeds.startswith("seeds:")
            and settings.startswith("settings:")
        )


class TestEncoders:
    def test_multilingual_encoder_matches_translations(self, tagger: Tagger) -> None:
        """USE puts a sentence and its translations close together, unrelated text far."""
        vectors = tagger.embedder.embed(
            [
                "Russia and Venezuela signed a military cooperation agreement",
                "Rusia y Venezuela firmaron un acuerdo de cooperación militar",
                "Россия и Венесуэла подписали соглашение о военном сотрудничестве",
                "Heavy rain floods the streets of Lisbon",
            ]
        )
        similarity = vectors @ vectors.T
        assert similarity[0, 1] > 0.7 and similarity[0, 2] > 0.7 and similarity[0, 3] < 0.4
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    @pytest.mark.slow
    def test_packaged_minilm_loads_offline_and_embeds(self) -> None:
        """The pinned MiniLM loads from its package with no hub and ranks a paraphrase first."""
        embedder = open_embedder(MINILM)
        vectors = embedder.embed(
            [
                "Putin meets Lula in Moscow",
                "Lula visits Putin in the Kremlin",
                "Stock markets fall in Tokyo",
            ]
        )
        assert vectors.shape == (3, 384)
        assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2

    def test_weights_with_another_digest_are_refused(self, tmp_path: Path) -> None:
        """A weight file whose SHA-256 differs from the pin is not loaded."""
        weights = tmp_path / "model.safetensors"
        weights.write_bytes(b"not the model")
        with pytest.raises(ConfigError, match="refusing to load a different model"):
            require_digest(weights, "0" * 64, MINILM)


class TestTagCommand:
    def test_tag_jsonl_in_and_out(self, tmp_path: Path) -> None:
        """`monitor tag` writes {id, relevant, score, countries, topics, reasons} per line."""
        items = tmp_path / "items.jsonl"
        items.write_text(
            json.dumps(
                {
                    "id": 7,
                    "title": "Putin y Díaz-Canel firman acuerdos en La Habana",
                    "summary": "",
                    "lang": "es",
                }
            )
            + "\n"
        )
        out = tmp_path / "out.jsonl"
        run = subprocess.run(
            [sys.executable, "-m", "monitor", "tag", "--input", str(items), "--output", str(out)],
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
        )
        assert run.returncode == 0, run.stderr
        [record] = [json.loads(line) for line in out.read_text().splitlines()]
        assert set(record) == {"id", "relevant", "score", "countries", "topics", "reasons"}
        assert record["id"] == 7 and record["relevant"] is True and record["countries"] == ["CU"]
