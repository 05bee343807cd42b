"""Evidence for the same-event decision: names across scripts and headline styles, content
words, the language guess, and the grouped folds its weights are reported under."""

from __future__ import annotations

import pytest

from monitor.events import grouped_folds, pair_features, pair_groups
from monitor.story_evidence import (
    Evidence,
    gather_evidence,
    guess_language,
    is_title_case,
    name_key,
)

pytestmark = pytest.mark.unit


class TestNameKeys:
    @pytest.mark.parametrize(
        ("russian", "latin"),
        [
            ("Путин", "Putin"),
            ("Путина", "Putin"),
            ("Мадуро", "Maduro"),
            ("Лавров", "Lavrov"),
            ("Венесуэлы", "Venezuela's"),
            ("Гавана", "Havana"),
            ("Куба", "Cuba"),
            ("Бразилия", "Brasil"),
            ("Колумбия", "Colombia"),
            ("Никарагуа", "Nicaragua"),
            ("Каракас", "Caracas"),
            ("Захарова", "Zakharova"),
            ("Кремль", "Kremlin"),
            ("Мексика", "México"),
        ],
    )
    def test_a_russian_name_meets_its_latin_spelling(self, russian: str, latin: str) -> None:
        """A name written in Cyrillic and its Latin transliteration share one key."""
        assert name_key(russian) == name_key(latin)

    def test_different_names_keep_different_keys(self) -> None:
        """The skeleton does not merge unrelated names."""
        keys = {name_key(n) for n in ("Maduro", "Madrid", "Lula", "Lavrov", "Petro", "Putin")}
        assert len(keys) == 6


class TestGatherEvidence:
    def test_title_case_headline_words_are_only_maybe_names(self) -> None:
        """In a headline in title case every word is capitalised, so none is surely a name;
        the summary's mid-sentence capitals are."""
        evidence = gather_evidence(
            "Putin Hosts Venezuela's Maduro In The Kremlin",
            "Russian President Vladimir Putin received Nicolás Maduro on Tuesday.",
        )
        assert name_key("Hosts") in evidence.openers and name_key("Hosts") not in evidence.names
        assert {name_key("Putin"), name_key("Maduro")} <= evidence.names

    def test_known_names_are_sure_and_maybe_names_together(self) -> None:
        """`known_names` (kept for the per-candidate lookup) is names and openers, also for
        evidence built by hand."""
        evidence = gather_evidence("Lula Meets Putin In Brasília", "Lula greeted Putin.")
        assert evidence.known_names == evidence.names | evidence.openers
        assert name_key("Lula") in evidence.known_names
        assert Evidence(frozenset({"ptn"}), frozenset(), frozenset({"lul"})).known_names == {
            "ptn",
            "lul",
        }

    def test_sentence_case_headline_names_are_names(self) -> None:
        """A Russian headline in sentence case names its actors mid-sentence."""
        evidence = gather_evidence("Путин принял Мадуро в Кремле", "")
        assert not is_title_case("Путин принял Мадуро в Кремле")
        assert {name_key("Maduro"), name_key("Kremlin")} <= evidence.names

    def test_function_words_are_no_content(self) -> None:
        """Articles and prepositions are left out of the content words in every language."""
        evidence = gather_evidence("El presidente de Rusia y los ministros de Cuba", "")
        assert evidence.title_words == {"presi", "rusia", "minis", "kuva"}

    @pytest.mark.parametrize(
        ("text", "language"),
        [
            ("The president said that the talks with Russia were over", "en"),
            ("El presidente dijo que las conversaciones con Rusia terminaron", "es"),
            ("O presidente disse que as conversas com a Rússia não terminaram", "pt"),
            ("Президент заявил, что переговоры с Россией продолжаются", "ru"),
            ("Путин Мадуро", "ru"),
            ("Maduro", None),
        ],
    )
    def test_language_guess(self, text: str, language: str | None) -> None:
        """Function words (or, failing them, the Cyrillic script) tell the language; a lone
        name tells nothing."""
        assert gather_evidence(text, "").language == language

    def test_guess_needs_a_clear_margin(self) -> None:
        """Words shared by Spanish and Portuguese alone decide nothing."""
        assert guess_language(["que", "de"], 2, 0) is None


class TestWordFeatures:
    def test_shared_content_words_raise_both_word_features(self) -> None:
        """Two headlines with the same content words overlap fully; unrelated ones not."""
        a = gather_evidence("Shein faces EU investigation over products", "")
        b = gather_evidence("Shein under EU investigation over dolls", "")
        c = gather_evidence("Temu fined in Brazil", "")
        same = pair_features(0.5, 1.0, a, b)
        other = pair_features(0.5, 1.0, a, c)
        assert same["title_words_jaccard"] >= 1 / 3 and same["words_overlap"] >= 1 / 2
        assert other["title_words_jaccard"] == other["words_overlap"] == 0.0

    def test_words_do_not_count_across_languages_but_names_do(self) -> None:
        """A translation shares no words, which is no evidence against it; its names still
        meet, and the pair is flagged as cross-language."""
        a = gather_evidence(
            "Putin receives Maduro", "The president of Russia received Maduro in the Kremlin."
        )
        b = gather_evidence("Путин принял Мадуро", "Президент России принял Мадуро в Кремле.")
        features = pair_features(0.6, 1.0, a, b)
        assert features["cross_language"] == 1.0
        assert features["words_overlap"] == features["title_words_jaccard"] == 0.0
        assert features["names_jaccard"] > 0.5 and features["names_conflict"] == 0.0


PAIRS = (
    {"a": {"title": "A", "text": "x"}, "b": {"title": "B", "text": ""}},
    {"a": {"title": "b ", "text": ""}, "b": {"title": "C", "text": ""}},
    {"a": {"title": "D", "text": ""}, "b": {"title": "E", "text": ""}},
    {"a": {"title": "F", "text": ""}, "b": {"title": "a", "text": "X"}},
)


class TestGroupedFolds:
    def test_pairs_sharing_an_article_form_one_group(self) -> None:
        """Articles are matched by folded title and text; links chain across pairs."""
        assert pair_groups(PAIRS) == [0, 0, 1, 0]

    def test_a_group_never_spans_two_folds(self) -> None:
        """Every seed keeps each group inside one fold, and spreads the groups over folds."""
        groups = [g for g in range(20) for _ in range(g % 3 + 1)]
        for seed in range(5):
            folds = grouped_folds(groups, 5, seed)
            fold_of_group = {}
            for group, fold in zip(groups, folds, strict=True):
                assert fold_of_group.setdefault(group, fold) == fold
            assert set(folds) == set(range(5))
