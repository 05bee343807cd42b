from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import AlertSettings
from monitor.errors import ConfigError
from monitor.gazetteer import check_alert_rules, compile_terms, load_gazetteer
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

    @pytest.mark.parametrize(
        ("title", "code"),
        [
            ("Путин поздравил Лулу с победой", "BR"),
            ("Лавров встретился с Лулой", "BR"),
            ("Посол России вручил верительные грамоты Милею", "AR"),
            ("Россия направила гуманитарную помощь Доминике", "DM"),
            ("Делегация прибыла в Лиму", "PE"),
        ],
    )
    def test_russian_declension_of_names(self, title: str, code: str) -> None:
        """Names decline in Russian: Лулу, Лулой, Милею, Доминике, Лиму."""
        assert countries(title) == {code}

    def test_russian_officials_decline_too(self) -> None:
        """Захаровой and Небензи are Zakharova and Nebenzia."""
        assert russia_kinds("Заявление Захаровой и Небензи") == {"officials"}

    def test_dry_is_not_sukhoi(self) -> None:
        """«Сухой» the aircraft maker counts; "сухой закон" (prohibition) does not."""
        assert "companies" in russia_kinds("Венесуэла купит самолеты «Сухой»")
        assert "companies" not in russia_kinds("В городе ввели сухой закон")

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

    @pytest.mark.parametrize(
        "dateline",
        [
            "MOSCÚ, 5 de enero. /TASS/.",
            "MOSCOU, 5 de janeiro. /TASS/.",
            "МОСКВА, 5 января. /ТАСС/.",
        ],
    )
    def test_day_first_datelines_are_not_actors(self, dateline: str) -> None:
        """Spanish, Portuguese and Russian datelines put the day first; they are no actor either."""
        assert russia_kinds(f"{dateline} Trump habla de Venezuela") == set()

    @pytest.mark.parametrize(
        ("title", "word"),
        [
            ("Rusia no tiene nada que temer de las sanciones", "temer"),
            ("Rússia não tem nada a temer, diz o Kremlin", "temer"),
            ("El Kremlin cree que el diálogo aún no está maduro", "maduro"),
            ("Putin quitó importancia a las sanciones", "quitó"),
            ("Putin celebra su asunción a un nuevo mandato", "asunción"),
            ("Rússia exporta lulas congeladas", "lulas"),
            ("Chefs rusos cocinan con chile y tequila", "chile"),
        ],
    )
    def test_lower_case_common_words_are_no_names(self, title: str, word: str) -> None:
        """temer (to fear), maduro (ripe), quitó, asunción, lulas (squid), chile (chili)."""
        assert countries(title) == set(), word

    def test_capitalised_names_still_count(self) -> None:
        """Written as names they are names: Temer, Maduro, Quito, Asunción, Lula, Chile."""
        found = countries("Temer y Maduro; Quito, Asunción; Lula visita Chile")
        assert found == {"BR", "VE", "EC", "PY", "CL"}

    def test_all_lower_case_text_keeps_its_names(self) -> None:
        """A source that lower-cases whole headlines says nothing by case: maduro is Maduro."""
        assert countries("lavrov meets maduro in caracas") == {"VE"}

    def test_a_flag_is_not_an_actor(self) -> None:
        """A Russia-flagged tanker is a flag, not the Russian state (rule 10)."""
        assert russia_kinds("EEUU incauta un petrolero con bandera rusa") == set()

    def test_older_context_file_without_capitalised_names_loads(self, tmp_path: Path) -> None:
        """A user's context.toml from before `[names_when_capitalised]` still loads; it then
        matches lower-case names as before."""
        shipped = PROJECT_ROOT / "config" / "gazetteer"
        for path in shipped.glob("*.toml"):
            text = path.read_text(encoding="utf-8")
            if path.name == "context.toml":
                start = text.index("[names_when_capitalised]")
                text = text[:start] + text[text.index("[relation]") :]
            (tmp_path / path.name).write_text(text, encoding="utf-8")
        older = load_gazetteer(tmp_path)
        assert set(gather_evidence(older, "Nada que temer, dice Moscú", "").countries) == {"BR"}

    def test_gazetteer_files_are_data(self, tmp_path: Path) -> None:
        """Users extend the gazetteer by editing TOML; a broken file is a clear error."""
        (tmp_path / "russia.toml").write_text("[state]\nterms = []\n")
        with pytest.raises(Exception, match="cannot read"):
            load_gazetteer(tmp_path)


def alert_settings(**rule: object) -> AlertSettings:
    return AlertSettings(
        webhooks=[{"name": "hook", "url": "https://hooks.example/x", "secret_env": "S"}],
        rules=[
            {"name": "any", "channels": ["hook"]},
            {"name": "caribbean", "channels": ["hook"], **rule},
        ],
    )


class TestCheckAlertRules:
    def test_known_countries_and_topics_pass(self) -> None:
        """Rules naming country codes and topics the gazetteer tags are accepted."""
        check_alert_rules(alert_settings(countries=["CU", "VE"], topics=["defense"]), GAZETTEER)

    @pytest.mark.parametrize(
        ("rule", "expected"),
        [
            (
                {"countries": ["CU", "XX"]},
                "monitor.toml: alerts.rules.1.countries: rule 'caribbean' names unknown "
                "country 'XX' (the gazetteer knows AG, AR,",
            ),
            (
                {"countries": ["ve"]},
                "rule 'caribbean' names unknown country 've'",
            ),
            (
                {"topics": ["defence"]},
                "monitor.toml: alerts.rules.1.topics: rule 'caribbean' names unknown topic "
                "'defence' (the gazetteer knows brics-multipolar, defense,",
            ),
        ],
    )
    def test_unknown_value_is_a_config_error(self, rule: dict[str, object], expected: str) -> None:
        """An unknown country or topic raises ConfigError: one line naming the file, the rule,
        the key and the value."""
        with pytest.raises(ConfigError) as raised:
            check_alert_rules(alert_settings(**rule), GAZETTEER, "monitor.toml")
        assert expected in str(raised.value) and "\n" not in str(raised.value)
