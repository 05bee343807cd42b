"""Relevance v2.3 categories (pure, shipped gazetteer and weights), in four languages: activists as
private persons, military drills and talks as relations, "amistoso" and "mundial" as sport only in
a match or the Cup, other continents as a list of the world's regions, the Eurasian Economic Union
as Russia's side, and hashtags that run names together. Cases written for the tests."""

from __future__ import annotations

import pytest

from monitor.gazetteer import load_gazetteer
from monitor.relevance import NearestSeed, assess, extract_features, gather_evidence
from monitor.relevance_files import load_relevance_model
from tests.conftest import PROJECT_ROOT

GAZETTEER = load_gazetteer(PROJECT_ROOT / "config" / "gazetteer")
MODEL = load_relevance_model(PROJECT_ROOT / "config" / "relevance.toml")
SEED = NearestSeed("seed", 0.3, "A seed")


def features(title: str, summary: str = "") -> dict[str, float]:
    return extract_features(gather_evidence(GAZETTEER, title, summary), 0.3)


def relevant(title: str, summary: str = "") -> bool:
    return assess(GAZETTEER, MODEL, title, summary, SEED).relevant


def score(title: str) -> float:
    return assess(GAZETTEER, MODEL, title, "", SEED).score


class TestActivistsArePrivatePersons:
    @pytest.mark.parametrize(
        "title",
        [
            "Chilean activists hold a vigil for a jailed Russian blogger",
            "Activistas uruguayos protestan frente a un concierto de una banda rusa",
            "Ativistas do Greenpeace brasileiros voltam de barco da costa russa",
            "Перуанские активисты устроили акцию у российского театра",
        ],
    )
    def test_activists_are_incidental(self, title: str) -> None:
        """Rule 10: private persons, not the state, on either side are no relation."""
        assert features(title)["incidental"] == 1.0
        assert not relevant(title)


class TestDrillsAndTalksAreRelations:
    @pytest.mark.parametrize(
        "title",
        [
            "Russia and Nicaragua to hold joint naval drills",
            "Rusia y Venezuela realizarán ejercicios militares conjuntos",
            "Rússia e Venezuela fazem exercícios militares no Caribe",
            "Россия и Куба проведут совместные учения",
        ],
    )
    def test_joint_drills_are_a_relation(self, title: str) -> None:
        assert features(title)["relation"] == 1.0
        assert relevant(title)

    @pytest.mark.parametrize(
        "title",
        [
            "Lavrov and the Bolivian foreign minister discuss energy",
            "Lavrov y el canciller boliviano discuten la cooperación energética",
            "Lavrov e o chanceler boliviano discutem energia",
            "Лавров и глава МИД Боливии обсудили энергетику",
        ],
    )
    def test_talks_are_a_relation(self, title: str) -> None:
        assert features(title)["relation"] == 1.0
        assert relevant(title)


class TestFriendlyAndWorldwide:
    @pytest.mark.parametrize(
        "title",
        [
            "Rusia y Nicaragua destacan el carácter amistoso de sus relaciones",
            "Rússia e Nicarágua destacam o caráter amistoso de suas relações",
            "Rusia y Brasil debaten la seguridad alimentaria mundial",
            "Rússia e Brasil debatem a segurança alimentar mundial",
        ],
    )
    def test_friendly_relations_and_the_world_are_not_sport(self, title: str) -> None:
        """ "Amistoso" is also "friendly" (ties) and "mundial" "worldwide": not sport alone."""
        assert features(title)["sports"] == 0.0
        assert relevant(title)

    @pytest.mark.parametrize(
        "title",
        [
            "Perú y Rusia jugarán un amistoso en marzo",
            "Brasil vence a Rússia em jogo amistoso",
            "Peru and Russia play a friendly match in March",
            "Россия и Перу сыграют товарищеский матч",
            "Argentina llega al Mundial de Rusia como favorita",
            "A seleção do Peru chega ao Mundial da Rússia",
        ],
    )
    def test_a_friendly_match_and_the_cup_are_sport(self, title: str) -> None:
        """Rule 7: matches and World Cup teams are 0."""
        assert features(title)["sports"] == 1.0
        assert not relevant(title)


class TestContinentsAreAList:
    @pytest.mark.parametrize(
        ("listed", "alone"),
        [
            (
                "Russian grain exports grow to Asia, Africa and Latin America",
                "Russian grain exports grow to Latin America",
            ),
            (
                "Las exportaciones rusas crecen en Asia, África y América Latina",
                "Las exportaciones rusas crecen en América Latina",
            ),
            (
                "Exportações russas crescem na Ásia, África e América Latina",
                "Exportações russas crescem na América Latina",
            ),
            (
                "Российский экспорт растёт в Азии, Африке и Латинской Америке",
                "Российский экспорт растёт в Латинской Америке",
            ),
        ],
    )
    def test_the_world_s_regions_are_a_list(self, listed: str, alone: str) -> None:
        """Latin America named as one of the world's regions is a list: it weighs less than
        Latin America named alone."""
        found = features(listed)
        assert found["foreign_list"] == 1.0
        assert found["country_list"] == 1.0
        assert features(alone)["foreign_list"] == 0.0
        assert score(listed) < score(alone)

    def test_one_continent_is_no_list(self) -> None:
        assert features("Russia's navy sails from Europe to Cuba")["foreign_list"] == 0.0


class TestEurasianEconomicUnion:
    @pytest.mark.parametrize(
        "title",
        [
            "Cuba becomes an observer of the Eurasian Economic Union",
            "Cuba se convierte en observador de la Unión Económica Euroasiática",
            "Cuba torna-se observadora da União Económica Eurasiática",
            "Куба стала наблюдателем в Евразийском экономическом союзе",
        ],
    )
    def test_the_union_is_russia_s_side(self, title: str) -> None:
        """The Russian-led union acting with a Latin American state is Russia's side of it."""
        assert "state" in gather_evidence(GAZETTEER, title, "").russia
        assert relevant(title)


class TestHashtagsRunTogether:
    @pytest.mark.parametrize(
        ("title", "country"),
        [
            ("#RusiaCuba: new flights announced from Moscow", "CU"),
            ("Ministers meet in Moscow #RussiaVenezuela", "VE"),
            ("Acuerdo firmado en Moscú #EvoMorales", "BO"),
            ("Встреча в Москве #КубаРоссия", "CU"),
        ],
    )
    def test_a_hashtag_s_words_are_read(self, title: str, country: str) -> None:
        """ "#RusiaCuba" names Russia and Cuba: each capitalised word of a hashtag is a word."""
        assert country in gather_evidence(GAZETTEER, title, "").countries

    @pytest.mark.parametrize(
        ("title", "kind", "found"),
        [
            ("Rusia y Cuba negocian con #BlackRock", "context", "market"),
            ("Rusia amplía su presencia en #LatinoAmérica", "region", "latinoamerica"),
            ("Lavrov: Moscow looks to #LatinAmerica for new partners", "region", "latinamerica"),
        ],
    )
    def test_a_hashtag_that_is_one_term_is_read_whole(
        self, title: str, kind: str, found: str
    ) -> None:
        """A single term written with capitals inside (#BlackRock, #LatinoAmérica) is not cut
        into words that are no longer the term."""
        evidence = gather_evidence(GAZETTEER, title, "")
        if kind == "context":
            assert found in evidence.context
        else:
            assert any(found in term.replace(" ", "") for term in evidence.region)

    def test_a_hashtag_with_a_year_is_split_from_it(self) -> None:
        evidence = gather_evidence(GAZETTEER, "#BRICS2024 summit with #Brasil", "")
        assert "brics" in evidence.context


class TestSnowdenRoute:
    @pytest.mark.parametrize(
        "title",
        [
            "Snowden boards a flight from Moscow to Havana, airline says",
            "Snowden sigue en el aeropuerto de Moscú tras pedir asilo a Venezuela",
            "Snowden embarca em voo de Moscou para Havana",
            "Сноуден вылетел рейсом из Москвы в Гавану",
        ],
    )
    def test_capitals_on_his_route_are_stops(self, title: str) -> None:
        """Rule 4: Moscow and Havana as stops on Snowden's route are no relation."""
        assert features(title)["snowden_route"] == 1.0
        assert not relevant(title)

    def test_a_russian_official_on_his_asylum_is_no_route(self) -> None:
        """Rule 4: Russia interacting with a Latin American government is still read as such."""
        title = "Russian lawmaker says Snowden accepts Venezuela's asylum offer"
        assert features(title)["snowden"] == 1.0
        assert features(title)["snowden_route"] == 0.0

    def test_travel_words_are_shown_only_for_his_route(self) -> None:
        """The reasons name the route words of a Snowden item, not the flights of any other."""
        route = assess(GAZETTEER, MODEL, "Snowden boards a flight from Moscow to Havana", "", SEED)
        other = assess(GAZETTEER, MODEL, "Aeroflot resumes flights from Moscow to Havana", "", SEED)
        assert route.reasons["context"]["route"] == ["flight"]  # type: ignore[index]
        assert "route" not in other.reasons.get("context", {})  # type: ignore[operator]


class TestBricsOutcome:
    @pytest.mark.parametrize(
        "title",
        [
            "The BRICS meeting took place by videoconference",
            "La reunión de los BRICS se celebró por videoconferencia",
            "A reunião do BRICS foi realizada por videoconferência",
            "Встреча БРИКС состоялась в режиме видеоконференции",
        ],
    )
    def test_the_group_meeting_is_joint(self, title: str) -> None:
        """Rule 1: with no Latin American country, a gathering held is the group acting."""
        assert features(title)["brics_joint_without_latam"] == 1.0
        assert relevant(title)

    @pytest.mark.parametrize(
        "title",
        [
            "BRICS launches a grain exchange",
            "Los BRICS lanzan una bolsa de granos",
            "O BRICS lança uma bolsa de grãos",
            "Страны БРИКС одобрили создание зерновой биржи",
        ],
    )
    def test_an_outcome_scores_above_a_mention(self, title: str) -> None:
        """Rule 1: what the group launches or approves is its outcome, not a mention."""
        assert features(title)["brics_joint_without_latam"] == 1.0
        assert score(title) > score("BRICS")
