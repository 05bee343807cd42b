"""Golden cases, written for these tests, for the LABELING.md categories relevance v2 reads: Latin
American stances on the war (rule 5), Russian officials by role and state companies, lists with
commas and flag runs, press reviews run together, sports homonyms, analogies to the Cuban crisis,
wire datelines, scholarships. Four languages each; the shipped gazetteer and weights."""

from __future__ import annotations

import pytest

from monitor.gazetteer import load_gazetteer
from monitor.relevance import assess, extract_features, gather_evidence, roundup_parts
from monitor.relevance_files import load_relevance_model
from tests.conftest import PROJECT_ROOT

GAZETTEER = load_gazetteer(PROJECT_ROOT / "config" / "gazetteer")
MODEL = load_relevance_model(PROJECT_ROOT / "config" / "relevance.toml")


def features(title: str, summary: str = "") -> dict[str, float]:
    return extract_features(gather_evidence(GAZETTEER, title, summary), 0.3)


def relevant(title: str, summary: str = "", similarity: float = 0.3) -> bool:
    from monitor.relevance import NearestSeed

    return assess(GAZETTEER, MODEL, title, summary, NearestSeed("s", similarity, "t")).relevant


class TestStanceOnTheWar:
    @pytest.mark.parametrize(
        "title",
        [
            "Uruguay's president says his country will not sell shells for the Ukraine war",
            "El gobierno de Honduras defiende una postura neutral sobre la guerra de Ucrania",
            "Chanceler do Chile apoia negociações de paz sobre a Ucrânia",
            "Правительство Перу выступило против поставок оружия Украине и призвало к переговорам",
        ],
    )
    def test_a_latin_american_stance_on_the_war_is_relevant(self, title: str) -> None:
        """Rule 5: a government's position on the war is a position on Russia."""
        assert features(title)["latam_war_stance"] == 1.0
        assert relevant(title)

    @pytest.mark.parametrize(
        "title",
        [
            "Colombian mercenaries fighting for Ukraine condemned by their families",
            "Mercenarios colombianos combaten por Ucrania, condena su familia",
            "Mercenários brasileiros lutam pela Ucrânia e rejeitam voltar",
            "Колумбийские наемники воюют за Украину и отказались вернуться",
        ],
    )
    def test_mercenaries_are_no_stance(self, title: str) -> None:
        """Rule 5: Latin American fighters for Ukraine are 0 (ambiguous), not a stance."""
        assert features(title)["latam_war_stance"] == 0.0


class TestOfficialsByRole:
    @pytest.mark.parametrize(
        "title",
        [
            "Russia's ambassador met Peru's trade minister in Lima",
            "El canciller de Rusia recibió a su par de Paraguay",
            "O embaixador da Rússia visitou o governador da Bahia",
            "Постпред России встретился с министром Эквадора",
        ],
    )
    def test_an_official_by_title_is_an_official(self, title: str) -> None:
        assert "officials" in gather_evidence(GAZETTEER, title, "").russia

    @pytest.mark.parametrize(
        "title",
        [
            "Paraguayan regulator clears the Sputnik Light shot for adults",
            "Guatemala recibe un lote de la vacuna Sputnik Light",
            "Bolívia começa a aplicar a vacina Sputnik Light em idosos",
            "Гондурас получил партию вакцины «Спутник Лайт»",
        ],
    )
    def test_the_vaccine_is_a_state_product_in_the_region(self, title: str) -> None:
        """Rule 3: Sputnik V/Light approvals in the region are relevant."""
        assert "companies" in gather_evidence(GAZETTEER, title, "").russia
        assert relevant(title)

    @pytest.mark.parametrize(
        "title",
        [
            "A Russian Orthodox cathedral is consecrated in Caracas",
            "La iglesia ortodoxa rusa celebra su aniversario en Caracas",
            "Fiéis visitam a catedral ortodoxa russa de Caracas",
            "В Каракасе освятили русский православный храм",
        ],
    )
    def test_the_russian_church_in_the_region_is_russia(self, title: str) -> None:
        """Rule 10: the Russian Orthodox church in the region is 1 (ambiguous)."""
        evidence = gather_evidence(GAZETTEER, title, "")
        assert evidence.russia and "VE" in evidence.countries


class TestLists:
    @pytest.mark.parametrize(
        "title",
        [
            "Fund managers pile into Chile, Russia this quarter",
            "Una cadena de hoteles elige Perú, Rusia para abrir locales",
            "Fabricante de pneus mira Argentina, Rússia para crescer",
            "Производитель обуви выбрал Чили, Россию для магазинов",
        ],
    )
    def test_sides_with_only_a_comma_between_them_are_a_list(self, title: str) -> None:
        found = features(title)
        assert found["comma_list"] == 1.0
        assert not relevant(title)

    @pytest.mark.parametrize(
        "title",
        [
            "Honduras and Russia sign a grain supply agreement",
            "Honduras y Rusia firman un acuerdo de suministro de trigo",
            "Honduras e Rússia assinam um acordo de fornecimento de trigo",
            "Гондурас и Россия подписали соглашение о поставках пшеницы",
        ],
    )
    def test_a_pair_joined_by_and_is_no_comma_list(self, title: str) -> None:
        assert features(title)["comma_list"] == 0.0
        assert relevant(title)

    def test_a_run_of_flags_is_a_list_of_members(self) -> None:
        context = gather_evidence(GAZETTEER, "🇷🇺 🇧🇷 🇮🇳 🇨🇳 🇿🇦 a ministers' article", "").context
        assert context["country_list"] == ["🇷🇺 🇧🇷 🇮🇳 🇨🇳 🇿🇦"]


class TestPressReviews:
    @pytest.mark.parametrize(
        "title",
        [
            "Press review: Russia launches a satellite while Panama elects a mayor",
            "Resumen de noticias: Rusia lanza un satélite mientras Panamá elige alcalde",
            "Resumo: Rússia lança um satélite enquanto o Panamá elege um prefeito",
            "Обзор прессы: Россия запустила спутник, пока Панама выбирает мэра",
        ],
    )
    def test_stories_run_together_in_a_title_are_judged_apart(self, title: str) -> None:
        parts = roundup_parts(GAZETTEER, title, "")
        assert len(parts) == 2
        assert not relevant(title)


class TestHomonyms:
    @pytest.mark.parametrize(
        "title",
        [
            "A Russian senator says friendly nations such as Nicaragua welcome Russian ships",
            "Un partido chileno envía una carta de apoyo a Rusia",
            "Partido uruguaio manifesta solidariedade com a Rússia",
            "Партия Эквадора направила письмо в поддержку России",
        ],
    )
    def test_a_party_or_friendly_country_is_no_sport(self, title: str) -> None:
        assert "sports" not in gather_evidence(GAZETTEER, title, "").context

    @pytest.mark.parametrize(
        "title",
        [
            "Two Colombian footballers sign for a Russian club",
            "Dos futbolistas peruanos fichan por un club ruso",
            "Futebolista paraguaio assina com time russo",
            "Уругвайский футболист перешел в российский клуб",
        ],
    )
    def test_footballers_are_sport(self, title: str) -> None:
        """Rule 7: a Latin American footballer in Russia is no relation."""
        assert "sports" in gather_evidence(GAZETTEER, title, "").context
        assert not relevant(title)

    @pytest.mark.parametrize(
        "title",
        [
            "A Russian general warns of a new Cuban crisis over missiles in Europe",
            "Un diplomático ruso evoca la crisis del Caribe al hablar de Europa",
            "Diplomata russo compara a tensão atual à crise dos mísseis",
            "Российский генерал сравнил ситуацию с Карибским кризисом",
        ],
    )
    def test_an_analogy_to_the_cuban_crisis_names_no_country(self, title: str) -> None:
        """Rule 9: the 1962 crisis as an analogy is no relation with Cuba."""
        assert not gather_evidence(GAZETTEER, title, "").countries

    def test_a_factbox_dateline_names_no_side(self) -> None:
        evidence = gather_evidence(
            GAZETTEER, "FACTBOX: abductions of heads of state", "MOSCOW, FACTBOX. /TASS/. Cases."
        )
        assert not evidence.russia


class TestScholarships:
    @pytest.mark.parametrize(
        "title",
        [
            "Russia widens scholarships for students from Nicaragua",
            "Rusia abre becas para jóvenes de Bolivia",
            "Rússia concede bolsas de estudo a alunos de Angola e do Brasil",
            "Россия выделила стипендии студентам из Никарагуа",
        ],
    )
    def test_scholarships_are_a_relation(self, title: str) -> None:
        assert "relation" in gather_evidence(GAZETTEER, title, "").context
