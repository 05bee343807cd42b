from __future__ import annotations

from pathlib import Path

import pytest

from monitor.gazetteer import compile_terms, load_gazetteer
from monitor.normalize import fold_text
from monitor.relevance import gather_evidence
from tests.conftest import PROJECT_ROOT

GAZETTEER = load_gazetteer(PROJECT_ROOT / "config" / "gazetteer")


def countries(title: str) -> set[str]:
    return set(gather_evidence(GAZETTEER, title, "").countries)


def russia_kinds(title: str) -> set[str]:
    return set(gather_evidence(GAZETTEER, title, "").russia)


class TestMatching:
    @pytest.mark.parametrize(
        "word", ["Венесуэла", "Венесуэлы", "Венесуэле", "Венесуэлу", "венесуэльский"]
    )
    def test_russian_inflections(self, word: str) -> None:
        """A stem with * matches every case ending."""
        assert countries(f"Новости: {word}") == {"VE"}

    def test_accent_and_case_insensitive(self) -> None:
        """Accents and case do not matter: Bogotá, BOGOTA, Perú, México."""
        assert countries("Llegó a BOGOTÁ; luego Perú y México") == {"CO", "PE", "MX"}

    def test_word_boundaries(self) -> None:
        """ "получили" contains "чили" but is not Chile; "Chilean" is."""
        assert countries("Они получили письмо") == set()
        assert countries("Chilean exports") == {"CL"}

    def test_star_only_extends_words(self) -> None:
        """A prefix pattern never matches inside another word."""
        matcher = compile_terms("t", ["куба", "кубинск*"])
        assert matcher.find(fold_text("кубок кубометр Кубань")) == []
        assert matcher.find(fold_text("кубинский сахар")) == ["кубинскии"]


class TestHomonymTraps:
    @pytest.mark.parametrize(
        "title",
        [
            "Соединенные Штаты провели первый запуск после гибели шаттла «Колумбия»",
            "Mark Cuban buys a stake in a new basketball team",
            "New Mexico governor signs water bill",
            "Oil spill in the Gulf of Mexico grows",
            "Show em homenagem a Renato Russo lota estádio",
            "В Мексиканском заливе произошла утечка из газопровода",
        ],
    )
    def test_traps_match_no_country(self, title: str) -> None:
        """Shuttle Columbia, Mark Cuban, New Mexico, Gulf of Mexico, Renato Russo are no sides."""
        evidence = gather_evidence(GAZETTEER, title, "")
        assert not evidence.countries
        assert "adjective" not in evidence.russia

    def test_dateline_is_not_a_russian_actor(self) -> None:
        """A TASS dateline "MOSCOW, January 5. /TASS/." is where the desk sits."""
        assert (
            russia_kinds("US strikes on Venezuela | MOSCOW, January 5. /TASS/. The US military")
            == set()
        )

    def test_gazetteer_files_are_data(self, tmp_path: Path) -> None:
        """Users extend the gazetteer by editing TOML; a broken file is a clear error."""
        (tmp_path / "russia.toml").write_text("[state]\nterms = []\n")
        with pytest.raises(Exception, match="cannot read"):
            load_gazetteer(tmp_path)
