"""Shared alternations (monitor.gazetteer.shared_alternation): a matcher of many terms runs its
terms as a tree of common beginnings, and finds exactly what the flat alternation of the same
terms, in the same order, finds. Texts are built from the terms themselves, in four languages."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.gazetteer import (
    ALTERNATIVES,
    SHARED_FROM_TERMS,
    TermMatcher,
    compile_terms,
    load_gazetteer,
    regex_tokens,
    shared_alternation,
)
from tests.conftest import PROJECT_ROOT

GAZETTEER = load_gazetteer(PROJECT_ROOT / "config" / "gazetteer")
MATCHERS = [
    *(m for g in (GAZETTEER.russia, GAZETTEER.countries, GAZETTEER.context) for m in g.values()),
    *GAZETTEER.topics.values(),
    GAZETTEER.region,
    GAZETTEER.traps,
    GAZETTEER.source_voice,
    GAZETTEER.names_when_capitalised,
    GAZETTEER.country_list,
]
FILLERS = ["the", "y", "e", "и", "and", "de", "с", "ao", "x", "said", "встреча", "en", ","]


def flat(matcher: TermMatcher) -> re.Pattern[str]:
    """The matcher's expression with its terms as one flat alternation, in their order."""
    return re.compile(
        matcher.template.replace(ALTERNATIVES, "|".join(a for a, _, _ in matcher.alternatives))
    )


def spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group(0)) for m in pattern.finditer(text)]


def written(regex: str, ending: str) -> str:
    """A text the term regex matches: `\\w*` written as `ending`, `\\s` as a space."""
    return "".join(
        ending if t == r"\w*" else " " if t == r"\s" else t[-1] for t in regex_tokens(regex)
    )


def term_texts(matcher: TermMatcher, rng: random.Random) -> list[str]:
    """Each term written out (with no ending, and with one), alone, between fillers, run into
    a neighbouring term, and three terms in a list."""
    terms = [a for a, _, _ in matcher.alternatives]
    texts = []
    for regex in terms:
        for ending in ("", "ам", "es", "ia"):
            term = written(regex, ending)
            other = written(rng.choice(terms), rng.choice(("", "s")))
            texts += [term, f"{rng.choice(FILLERS)} {term} {rng.choice(FILLERS)}", term + other]
            texts.append(f"{term} {other}")
        listed = [written(rng.choice(terms), "") for _ in range(3)]
        texts.append(f"{listed[0]}, {listed[1]} y {listed[2]} firman")
    return texts


@pytest.mark.parametrize("matcher", MATCHERS, ids=lambda m: m.name)
def test_every_shipped_matcher_finds_what_its_flat_alternation_finds(
    matcher: TermMatcher,
) -> None:
    if not matcher.alternatives:
        pytest.skip(f"{matcher.name}: no terms")
    plain = flat(matcher)
    for text in term_texts(matcher, random.Random(matcher.name)):
        assert spans(matcher.pattern, text) == spans(plain, text), (matcher.name, text)


def test_the_big_matchers_are_shared_and_the_small_ones_flat() -> None:
    big = GAZETTEER.country_list
    assert len(big.alternatives) >= SHARED_FROM_TERMS
    assert big.pattern.pattern != flat(big).pattern  # the shared form
    small = compile_terms("t", ["Rusia", "Russia*"])
    assert small.pattern.pattern == flat(small).pattern


def test_common_beginnings_are_branched_once() -> None:
    assert shared_alternation([f"rus{n}" for n in range(SHARED_FROM_TERMS)]).startswith("rus(?:")
    regexes = ["russia\\w*", "rusia", "rus\\w*\\sx", *(f"q{n}" for n in range(SHARED_FROM_TERMS))]
    shared = re.compile(rf"(?<!\w)(?:{shared_alternation(regexes)})(?!\w)")
    assert shared.findall("russian rusia rusos x rus") == ["russian", "rusia", "rusos x"]


def test_a_regex_that_is_not_a_term_regex_is_refused() -> None:
    with pytest.raises(ValueError, match="not a term regex"):
        regex_tokens("rus(ia|sia)")


WORDS = ["rus", "russia", "russian", "rusia", "x", "de", "brasil", "brazil", "bra", "y"]
TERMS = ["rus* x", "russia", "rusia*", "bra*", "brasil", "brazil* y", "de rus*", "x"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(TERMS), min_size=1, max_size=8, unique=True),
    st.lists(st.sampled_from(WORDS), max_size=12),
)
def test_any_terms_in_any_order_find_what_the_flat_alternation_finds(
    terms: list[str], words: list[str]
) -> None:
    matcher = compile_terms("t", terms)
    regexes = [a for a, _, _ in matcher.alternatives] or ["x"]
    padding = [f"zz{n}" for n in range(SHARED_FROM_TERMS)]  # enough terms to be shared
    shared = re.compile(rf"(?<!\w)(?:{shared_alternation([*regexes, *padding])})(?!\w)")
    plain = re.compile(rf"(?<!\w)(?:{'|'.join([*regexes, *padding])})(?!\w)")
    text = " ".join(words)
    assert spans(shared, text) == spans(plain, text)


def test_the_same_files_compile_once_a_process() -> None:
    again = load_gazetteer(PROJECT_ROOT / "config" / "gazetteer")
    assert again is GAZETTEER
