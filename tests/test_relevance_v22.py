"""Relevance v2.2 categories (pure, shipped gazetteer and weights), in four languages: a meeting on
the sidelines of a BRICS gathering with no Latin American side, doping as sport, and a counted
list of countries ("40 countries including…"). Cases written for the tests."""

from __future__ import annotations

import pytest

from monitor.gazetteer import load_gazetteer
from monitor.relevance import NearestSeed, assess, extract_features, gather_evidence, roundup_parts
from monitor.relevance_files import load_relevance_model
from tests.conftest import PROJECT_ROOT

GAZETTEER = load_gazetteer(PROJECT_ROOT / "config" / "gazetteer")
MODEL = load_relevance_model(PROJECT_ROOT / "config" / "relevance.toml")
SEED = NearestSeed("seed", 0.3, "A seed")


def features(title: str) -> dict[str, float]:
    return extract_features(gather_evidence(GAZETTEER, title, ""), 0.3)


def score(title: str) -> float:
    return assess(GAZETTEER, MODEL, title, "", SEED).score


class TestBricsSidelines:
    @pytest.mark.parametrize(
        "title",
        [
            "Lavrov meets the Indonesian foreign minister on the sidelines of the BRICS ministerial",
            "Putin conversa com o premiê etíope à margem da cúpula do BRICS",
            "Lavrov se reunió con su par egipcio al margen de la cumbre de los BRICS",
            "Лавров провёл встречу с главой МИД Эфиопии на полях министерской встречи БРИКС",
        ],
    )
    def test_a_sideline_meeting_without_latin_america_is_not_the_group(self, title: str) -> None:
        """Rule 1: a sideline bilateral with a non-LatAm member is 0."""
        assert features(title)["brics_sidelines"] == 1.0
        assert not assess(GAZETTEER, MODEL, title, "", SEED).relevant

    def test_the_sidelines_lower_the_score_of_the_same_meeting(self) -> None:
        held = "Lavrov meets the Egyptian foreign minister at the BRICS ministerial"
        beside = (
            "Lavrov meets the Egyptian foreign minister on the sidelines of the BRICS ministerial"
        )
        assert score(beside) < score(held)

    @pytest.mark.parametrize(
        "title",
        [
            "Lavrov meets Brazil's foreign minister on the sidelines of the BRICS summit",
            "Lavrov se reúne con el canciller brasileño al margen de la cumbre BRICS",
        ],
    )
    def test_a_sideline_meeting_with_a_latin_american_side_stays_relevant(self, title: str) -> None:
        assert features(title)["brics_sidelines"] == 0.0
        assert assess(GAZETTEER, MODEL, title, "", SEED).relevant


class TestDopingIsSport:
    @pytest.mark.parametrize(
        "title",
        [
            "Doping inquiry looks at Russian and Chilean swimmers",
            "Investigación de dopaje alcanza a atletas de Rusia y Perú",
            "Caso de doping envolve ciclistas da Rússia e da Colômbia",
            "Допинговый скандал: проверяют спортсменов России и Эквадора",
        ],
    )
    def test_doping_counts_as_sport(self, title: str) -> None:
        assert features(title)["sports"] == 1.0
        assert not assess(GAZETTEER, MODEL, title, "", SEED).relevant


class TestCountedCountries:
    @pytest.mark.parametrize(
        "title",
        [
            "New tariffs hit 40 countries including Peru and Russia",
            "Nuevas tarifas afectan a 40 países, entre ellos Perú y Rusia",
            "Novas tarifas atingem 40 países, entre eles Peru e Rússia",
            "Новые пошлины затронули 40 стран, включая Перу и Россию",
        ],
    )
    def test_a_counted_list_is_a_list(self, title: str) -> None:
        assert features(title)["counted_countries"] == 1.0
        assert not assess(GAZETTEER, MODEL, title, "", SEED).relevant

    def test_a_relation_outweighs_the_count(self) -> None:
        """A count with a relation term is no list feature ("talks with 40 countries")."""
        title = "Russia and Peru sign a deal, one of 40 countries to do so this year"
        assert features(title)["counted_countries"] == 0.0


class TestShowCredits:
    SHOW = (
        (
            "Moscú y Washington cierran su ronda de consultas",
            "Huelga de transportistas en Quito\nChile estrena un tren eléctrico\nCon @presentadora",
        ),
        (
            "Moscow and Washington wrap up a round of talks",
            "Truckers strike in Quito\nChile opens an electric rail line\nwith @newsanchor",
        ),
        (
            "Moscou e Washington encerram rodada de consultas",
            "Greve de caminhoneiros em Quito\nChile inaugura trem elétrico\nCom @apresentadora",
        ),
        (
            "Москва и Вашингтон завершили раунд консультаций",
            "Забастовка водителей в Кито\nЧили открыла электричку\nс @ведущая",
        ),
    )

    @pytest.mark.parametrize(("title", "summary"), SHOW)
    def test_a_credited_show_is_judged_line_by_line(self, title: str, summary: str) -> None:
        """A presenter's credit line makes the lines a show's headlines, each judged alone: a
        Russian headline and a Latin American one are no relation."""
        parts = roundup_parts(GAZETTEER, title, summary)
        assert parts[0] == (title, "") and all(not s for _, s in parts)
        assert not assess(GAZETTEER, MODEL, title, summary, SEED).relevant

    def test_without_a_credit_the_lines_are_read_with_the_title(self) -> None:
        title, summary = self.SHOW[0]
        summary = summary.rsplit("\n", 1)[0] + "\nSe esperan lluvias en la sierra"
        assert roundup_parts(GAZETTEER, title, summary)[0] == (
            title,
            "Huelga de transportistas en Quito",
        )
