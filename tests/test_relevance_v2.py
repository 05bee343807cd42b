"""Relevance v2 evidence (pure, shipped gazetteer and weights): source voice, bulletins, flags,
lists, contrasts, readable reasons, and the leave-one-source-out folds of the fit."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.calibrate import group_folds, held_out_decisions, stratified_folds
from monitor.evaluation import source_group
from monitor.gazetteer import flag_of, flag_tokens, load_gazetteer
from monitor.relevance import (
    FEATURES,
    NearestSeed,
    as_written,
    assess,
    extract_features,
    gather_evidence,
    roundup_parts,
)
from monitor.relevance_files import load_relevance_model
from tests.conftest import PROJECT_ROOT

GAZETTEER = load_gazetteer(PROJECT_ROOT / "config" / "gazetteer")
MODEL = load_relevance_model(PROJECT_ROOT / "config" / "relevance.toml")


def context(title: str, summary: str = "") -> dict[str, object]:
    return dict(gather_evidence(GAZETTEER, title, summary).context)


class TestSourceVoice:
    @pytest.mark.parametrize(
        "title",
        [
            "El alcalde de Quito habló de la sequía, dijo a Sputnik",
            "Economista carioca comenta os juros em entrevista à Sputnik Brasil",
            "Chile's senator said so, he told RT",
            "Министр Перу рассказал РИА Новости о выборах",
        ],
    )
    def test_an_outlet_naming_itself_is_no_russian_actor(self, title: str) -> None:
        """ "dijo a Sputnik", "told RT": no Russian side, and the voice is flagged."""
        evidence = gather_evidence(GAZETTEER, title, "")
        assert not evidence.russia and "source_voice" in evidence.context

    def test_rt_itself_in_the_region_is_still_russian_media(self) -> None:
        """A country banning RT is about Russian state media (LABELING.md rule 14)."""
        evidence = gather_evidence(GAZETTEER, "Paraguay prohíbe RT en la televisión abierta", "")
        assert "media" in evidence.russia and "PY" in evidence.countries

    def test_agency_dateline_names_no_country(self) -> None:
        """ "CIUDAD DE MÉXICO (Sputnik) —" says where the desk is, not who acts."""
        evidence = gather_evidence(
            GAZETTEER, "Lluvias récord", "CIUDAD DE MÉXICO (Sputnik) — Llueve en la capital."
        )
        assert not evidence.countries and not evidence.russia


class TestBulletins:
    def test_heading_splits_lines_each_judged_alone(self) -> None:
        """Under a bulletin heading every line, bullets and slashes included, is a part alone."""
        parts = roundup_parts(GAZETTEER, "Noticiero RT", "Rusia lanza un cohete / Perú vota")
        assert parts == [("Noticiero RT", ""), ("Rusia lanza un cohete", ""), ("Perú vota", "")]

    def test_headline_with_ordinary_summary_stays_whole(self) -> None:
        """An article with a one-paragraph summary is one part."""
        parts = roundup_parts(GAZETTEER, "Putin meets Lula", "They discussed trade in Moscow.")
        assert parts == [("Putin meets Lula", "They discussed trade in Moscow.")]

    def test_one_side_per_line_is_not_relevant_and_a_relation_line_is(self) -> None:
        """A show whose lines each concern one side is not relevant; one relation line is."""
        apart = assess(GAZETTEER, MODEL, "Boletín", "Rusia prueba un misil\nBolivia vota hoy")
        joined = assess(GAZETTEER, MODEL, "Boletín", "Rusia prueba un misil\nLavrov visita Bolivia")
        assert not apart.relevant and joined.relevant
        assert joined.reasons["roundup_line"] == "Lavrov visita Bolivia"


class TestSocialMedia:
    def test_flag_emoji_are_country_evidence(self) -> None:
        """🇷🇺 is Russia's state and 🇳🇮 is Nicaragua, shown as the flags they are."""
        evidence = gather_evidence(GAZETTEER, "🇷🇺🇳🇮 talks on trade", "")
        assert "state" in evidence.russia and "NI" in evidence.countries
        reasons = assess(GAZETTEER, MODEL, "🇷🇺🇳🇮 talks on trade", "").reasons
        assert reasons["latam"] == {"NI": ["🇳🇮"]}

    def test_flag_helpers_round_trip(self) -> None:
        """A country code's flag becomes the token the gazetteer matches."""
        assert flag_of("ru") == "🇷🇺" and flag_tokens(flag_of("BR")).strip() == "flagbr"

    def test_a_word_cut_off_at_the_end_still_names_its_side(self) -> None:
        """ "…foreign minister of venezu" (a 120-character post cut mid-word) is Venezuela."""
        evidence = gather_evidence(GAZETTEER, "lavrov held talks with the minister of venezu", "")
        assert evidence.countries == {"VE": ["venezu"]}

    @pytest.mark.parametrize("title", ["Talks end in Cuba.", "Talks with the produ", "Ven"])
    def test_whole_short_or_unclear_last_words_add_nothing(self, title: str) -> None:
        """A whole name, a cut word that begins no name, or a too-short one add no side."""
        evidence = gather_evidence(GAZETTEER, title, "")
        assert set(evidence.countries) <= {"CU"} and not evidence.russia

    def test_hashtags_count_as_words(self) -> None:
        """#Rusia and #Cuba are the countries."""
        evidence = gather_evidence(GAZETTEER, "#Rusia y #Cuba firman un acuerdo", "")
        assert "state" in evidence.russia and "CU" in evidence.countries


class TestIncidental:
    @pytest.mark.parametrize(
        "title",
        [
            "Prices compared in Brazil, Russia, India and South Africa",
            "Ранжирование: Россия, Мексика, Индия и Турция",
            "Nuevas visas para 75 países, incluidos Brasil y Rusia",
        ],
    )
    def test_lists_of_countries_are_flagged(self, title: str) -> None:
        """Three or more countries in a row, or "N countries", is a list."""
        assert "country_list" in context(title)

    def test_a_contrasted_side_is_no_evidence(self) -> None:
        """ "from Colombia, not Russia": Russia is excluded, so it is no side."""
        evidence = gather_evidence(GAZETTEER, "Coal now comes from Colombia, not Russia", "")
        assert not evidence.russia and evidence.context["contrast"] == ["not russia"]

    @pytest.mark.parametrize(
        "title",
        ["Putin habla a las 10h, horário de Brasília", "Panama Papers name a Russian cellist"],
    )
    def test_time_zones_and_homonyms_name_no_country(self, title: str) -> None:
        """ "horário de Brasília" and the Panama Papers are no Latin American side."""
        assert not gather_evidence(GAZETTEER, title, "").countries

    def test_new_features_are_in_the_model(self) -> None:
        """Every feature the evidence yields has a fitted weight in config/relevance.toml."""
        features = extract_features(gather_evidence(GAZETTEER, "Snowden en Moscú", ""), 0.2)
        assert set(features) == set(FEATURES) and features["snowden"] == 1.0
        assert set(MODEL.weights) == set(FEATURES)


class TestReasons:
    def test_terms_are_shown_as_written(self) -> None:
        """Matched terms keep the text's accents and case, not the folded form."""
        assert as_written("Lavrov llegó a Moscú y a Perú", ["moscu", "peru"]) == ["Moscú", "Perú"]

    def test_reasons_name_the_seed_by_title_and_the_strongest_features(self) -> None:
        """The nearest seed carries its headline; the top signed contributions are listed."""
        seed = NearestSeed("000_abc", 0.6, "Russia and Cuba: an old friendship")
        result = assess(GAZETTEER, MODEL, "Lavrov se reúne con el canciller de Cuba", "", seed)
        assert result.reasons["nearest_seed"] == {
            "name": "000_abc",
            "title": "Russia and Cuba: an old friendship",
            "similarity": 0.6,
        }
        pushes = result.reasons["contributions"]
        assert isinstance(pushes, dict) and 0 < len(pushes) <= 4
        magnitudes = [abs(v) for v in pushes.values()]
        assert magnitudes == sorted(magnitudes, reverse=True)
        assert pushes["seed_similarity"] == round(MODEL.weights["seed_similarity"] * 0.6, 2)


class TestSourceFolds:
    @pytest.mark.parametrize(
        ("record", "group"),
        [
            ({"id": "rt-42", "source": "owner/repo@abc"}, "owner/repo:rt"),
            ({"id": "es-dwaste-sm12", "source": "d/t@1"}, "d/t:es-dwaste-sm"),
            ({"id": "es-dwaste-tg-EmbX-3", "source": "d/t@1"}, "d/t:es-dwaste-tg-EmbX"),
            ({"id": "es-leo-99", "source": "l/n@2"}, "l/n:es-leo"),
            ({"id": "fb-7", "source": "https://news.example/rss"}, "news.example:fb"),
        ],
    )
    def test_source_group_by_source_and_outlet(self, record: dict[str, str], group: str) -> None:
        """The source field without its commit, or a feed's host, with the outlet the id shows."""
        assert source_group(record) == group

    def test_a_held_out_source_is_decided_without_its_items(self) -> None:
        """A feature seen only in the held-out source gets no weight in its fold: leaving the
        source out cannot recall what only that source teaches, unlike random folds."""
        positive_of = {"a": np.array([[0.0, 1.0]]), "b": np.array([[1.0, 0.0]])}
        groups = [g for g in "ab" for _ in range(40)]
        labels = np.array([i % 40 < 20 for i in range(80)])
        parts = [
            positive_of[g] if label else np.array([[0.0, 0.0]])
            for g, label in zip(groups, labels, strict=True)
        ]
        by_source = held_out_decisions(parts, labels, group_folds(groups), 0.1)
        by_random = held_out_decisions(parts, labels, stratified_folds(labels, 5, 0), 0.1)
        assert not by_source[labels].any() and by_random[labels].all()
