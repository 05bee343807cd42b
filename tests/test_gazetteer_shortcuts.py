"""The gazetteer's shortcuts (key words before expressions, expressions of only the terms a text's
keys select, the ASCII fold, the sorted stems) give exactly what the plain expressions give."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.gazetteer import (
    TermGroup,
    compile_country_list,
    compile_terms,
    find_each,
    fold,
    load_gazetteer,
)
from monitor.normalize import fold_text
from tests.conftest import PROJECT_ROOT

GAZETTEER = load_gazetteer(PROJECT_ROOT / "config" / "gazetteer")
TERMS = ["Russia", "Russian embassy", "росси*", "u.s*", "venezuel*", "New Mexico", "de"]
WORDS = [
    "russia",
    "russian",
    "embassy",
    "россии",
    "u",
    "s",
    "usa",
    "venezuela",
    "venez",
    "new",
    "mexico",
    "de",
    "desde",
    "brazil",
    "and",
    "x",
]


def plain_find(pattern: re.Pattern[str], folded: str) -> list[str]:
    return list(dict.fromkeys(m.group(0) for m in pattern.finditer(folded)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=12))
def test_shortcut_finds_what_the_whole_expression_finds(words: list[str]) -> None:
    matcher = compile_terms("t", TERMS)
    folded = " ".join(words)
    assert matcher.find(folded) == plain_find(matcher.pattern, folded)
    assert matcher.sub(" ", folded) == matcher.pattern.sub(" ", folded)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["brazil", "russia", "india", "and", "china", "x"]), max_size=9))
def test_country_list_shortcut_counts_repeated_names(words: list[str]) -> None:
    matcher = compile_country_list(["Brazil", "Russia", "India", "China"])
    folded = " ".join(words)
    assert matcher.find(folded) == plain_find(matcher.pattern, folded)


def test_a_text_without_any_key_word_is_not_searched() -> None:
    matcher = compile_terms("t", ["Russian ambassador"])
    assert not matcher.may_match("russian foreign ministry")  # "ambassador" is the key
    assert matcher.may_match("the russian ambassador said")
    assert matcher.find("the russian ambassador said") == ["russian ambassador"]


def test_group_finds_each_matcher_in_group_order() -> None:
    group = TermGroup(
        {"b": compile_terms("b", ["brazil*"]), "a": compile_terms("a", ["argentin*"])}
    )
    assert list(find_each(group, "argentina and brazilian")) == ["b", "a"]
    assert find_each(group, "chile") == {}


def test_every_shipped_matcher_agrees_with_its_whole_expression() -> None:
    texts = [
        "lavrov llega a caracas y se reune con el canciller de venezuela",
        "путин провел переговоры с президентом бразилии лулой",
        "brazil russia india china and south africa sign a declaration",
        "o embaixador da russia no brasil visitou brasilia",
    ]
    groups = [GAZETTEER.russia, GAZETTEER.countries, GAZETTEER.context, GAZETTEER.topics]
    matchers = [m for g in groups for m in g.values()]
    matchers += [GAZETTEER.traps, GAZETTEER.source_voice, GAZETTEER.country_list]
    for text in texts:
        for matcher in matchers:
            assert matcher.find(text) == plain_find(matcher.pattern, text), matcher.name


@given(st.text(max_size=40))
def test_fold_is_fold_text(text: str) -> None:
    assert fold(text) == fold_text(text)


def test_a_cut_word_is_completed_from_the_sorted_stems() -> None:
    assert GAZETTEER.complete_cut_word("venezu") == ("country", "VE")
    assert GAZETTEER.complete_cut_word("ve") is None  # too short


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(["russia", "and", "brazil", "x", "south", "africa", "y"]), max_size=10
    ),
    st.sampled_from(["russia", "south africa", "brazil"]),
    st.sampled_from(["brazil", "russia", "south africa"]),
    st.booleans(),
)
def test_words_between_is_what_the_neighbours_expression_finds(
    words: list[str], first: str, second: str, doubled: bool
) -> None:
    from monitor.relevance import neighbours_pattern, words_between

    folded = ("  " if doubled else " ").join(words)
    found = neighbours_pattern(first, second).search(folded)
    assert words_between(folded, first, second) == (found.group(1).split() if found else None)
