"""The gazetteer: term lists from data files (`config/gazetteer/*.toml`) compiled into matchers.

Patterns and texts are folded the same way (lower case, accents removed, ё → е, punctuation →
space); a pattern matches at word boundaries, and a token ending in `*` matches any ending, which
covers Russian inflections (`венесуэл*` → Венесуэла, Венесуэлы, Венесуэле, венесуэльский).
Two kinds of homonym are removed first: trap phrases (Mark Cuban, New Mexico) and names that are
ordinary words in lower case (temer, maduro, quitó), which count only when capitalised.
Flag emoji are country evidence: the text's 🇷🇺 becomes the token `flagru` before folding, and
every country (and Russia's state) matches its own flag token without listing it in the files.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.config import AlertSettings, read_toml
from monitor.errors import ConfigError
from monitor.normalize import NON_WORD, fold_text

GAZETTEER_FILES = ("russia.toml", "latam.toml", "context.toml", "topics.toml")
NOT_CONTEXT = ("traps", "names_when_capitalised", "source_voice")
LIST_JOINERS = r"(?:\s+(?:and|y|e|и|or|o|ou|или|&))?\s+"
REGIONAL_INDICATOR_A = 0x1F1E6
ALTERNATIVES = "\x00"  # stands for the alternation of terms in a matcher's template
SHARED_FROM_TERMS = 40  # fewer terms run as fast flat, and their expression compiles sooner
WORD_RUN = r"\w*"  # a `word*` token's open ending, in a term regex
TERM_END = ""  # the branch of a shared alternation (`shared_alternation`) where a term ends
SHORTEST_STEM = 3  # a shorter `word*` stem is not looked up first: its matcher always runs
CUT_WORD_MIN_CHARS = 4  # a shorter cut-off word could begin too many names
FLAG = re.compile("[\U0001f1e6-\U0001f1ff]{2}")
WORD = re.compile(r"\w+")
RULE_KEY_NOUNS = {"countries": "country", "topics": "topic"}


@dataclass(frozen=True, slots=True)
class TermMatcher:
    """One category of terms compiled into a single regular expression.

    Every term has a key word the text must show for it to match (see `term_keys`): a stem for
    a `word*` token, which a word of the text must begin with, else a whole word. A text showing
    no key cannot match, and the slow many-branched expression is not run on it at all; one
    showing a single key runs an expression of only the terms with that key, in the same order
    (the others cannot match anywhere in it, so the matches are the same), compiled once per key
    (the number of keys bounds them); one showing several runs the whole expression.
    `first_words` None: no such shortcut, the whole expression always runs.
    """

    name: str
    pattern: re.Pattern[str]
    first_words: frozenset[str] | None = None
    first_stems: frozenset[str] = frozenset()
    least_keys: int = 1  # a match holds this many terms, so as many key words in the text
    template: str = ""  # the pattern with ALTERNATIVES where the terms' alternation goes
    alternatives: tuple[tuple[str, str, bool], ...] = ()  # (regex, key, key is a stem), in order
    selected: dict[tuple[str, bool], re.Pattern[str]] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    def pattern_for(self, folded: str) -> re.Pattern[str] | None:
        """The expression to run on this text: None when it cannot match."""
        if self.first_words is None or not self.alternatives:
            return self.pattern
        words, prefixes = text_words(folded)
        found = self.first_words & words
        stems = self.first_stems & prefixes if self.first_stems else frozenset()
        if not found and not stems:
            return None
        if self.least_keys > 1 and len(found) + len(stems) < self.least_keys:
            counts = Counter(folded.split())
            occurrences = sum(counts[word] for word in found) + sum(
                count for word, count in counts.items() for stem in stems if word.startswith(stem)
            )
            if occurrences < self.least_keys:
                return None
        if len(found) + len(stems) > 1:
            return self.pattern
        key = (next(iter(found)), False) if found else (next(iter(stems)), True)
        pattern = self.selected.get(key)
        if pattern is None:
            word, stem = key
            chosen = [
                regex for regex, k, is_stem in self.alternatives if k == word and is_stem == stem
            ]
            pattern = (
                self.pattern
                if len(chosen) == len(self.alternatives)
                else re.compile(self.template.replace(ALTERNATIVES, shared_alternation(chosen)))
            )
            self.selected[key] = pattern
        return pattern

    def may_match(self, folded: str) -> bool:
        return self.pattern_for(folded) is not None

    def find(self, folded: str) -> list[str]:
        """Every distinct matched text, in order of appearance."""
        pattern = self.pattern_for(folded)
        if pattern is None:
            return []
        if not pattern.groups:  # findall gives the whole matches, without a Match object each
            return list(dict.fromkeys(pattern.findall(folded)))
        return list(dict.fromkeys([m.group(0) for m in pattern.finditer(folded)]))

    def sub(self, replacement: str, folded: str) -> str:
        pattern = self.pattern_for(folded)
        return folded if pattern is None else pattern.sub(replacement, folded)


class TermGroup(dict[str, TermMatcher]):
    """Named matchers of one kind (countries, kinds of Russian actor, contexts, topics), with an
    index from first words and stems to the matchers whose terms begin so: `find_each` runs only
    the matchers a text's words can start, instead of asking each matcher in turn."""

    def __init__(self, matchers: Mapping[str, TermMatcher]) -> None:
        super().__init__(matchers)
        self.order = {name: number for number, name in enumerate(matchers)}
        self.by_word: dict[str, set[str]] = {}
        self.by_stem: dict[str, set[str]] = {}
        self.always: set[str] = set()
        for name, matcher in matchers.items():
            if matcher.first_words is None:
                self.always.add(name)
                continue
            for word in matcher.first_words:
                self.by_word.setdefault(word, set()).add(name)
            for stem in matcher.first_stems:
                self.by_stem.setdefault(stem, set()).add(name)
        self.words = frozenset(self.by_word)
        self.stems = frozenset(self.by_stem)

    def find_each(self, folded: str) -> dict[str, list[str]]:
        """Each matcher's `find` on the text, for those that found something, in group order."""
        words, prefixes = text_words(folded)
        candidates = set(self.always)
        for word in self.words & words:
            candidates |= self.by_word[word]
        for stem in self.stems & prefixes:
            candidates |= self.by_stem[stem]
        return {
            name: found
            for name in sorted(candidates, key=self.order.__getitem__)
            if (found := self[name].find(folded))
        }


def find_each(group: Mapping[str, TermMatcher], folded: str) -> dict[str, list[str]]:
    """Each matcher's matches in the text, for those that matched, in the group's order."""
    if isinstance(group, TermGroup):
        return group.find_each(folded)
    return {name: found for name, matcher in group.items() if (found := matcher.find(folded))}


@functools.lru_cache(maxsize=64)
def text_words(folded: str) -> tuple[frozenset[str], frozenset[str]]:
    """The words of a folded text, and every beginning of them of at least SHORTEST_STEM
    characters ("rus", "russ", "russia"): what `TermMatcher.may_match` looks its key words and
    stems up in. Cached: one text meets every matcher of the gazetteer in turn."""
    words = frozenset(folded.split())
    return words, frozenset().union(*map(word_beginnings, words))


@functools.lru_cache(maxsize=1 << 14)
def word_beginnings(word: str) -> frozenset[str]:
    """A word's beginnings of at least SHORTEST_STEM characters, itself included."""
    return frozenset(word[:end] for end in range(SHORTEST_STEM, len(word) + 1))


@functools.lru_cache(maxsize=1 << 14)
def names_whole_word(names: re.Pattern[str], word: str) -> bool:
    """Whether the folded word is one of the terms `names` matches. Cached: words recur."""
    return names.fullmatch(fold_word(word)) is not None


@functools.lru_cache(maxsize=1 << 14)
def fold_word(word: str) -> str:
    """`fold_text` of one word, cached: words recur from text to text."""
    return fold_text(word)


def fold(text: str) -> str:
    """`fold_text`, sooner for plain ASCII (no accents to decompose and strip: lower case and
    punctuation only)."""
    if text.isascii():
        return NON_WORD.sub(" ", text.lower()).strip()
    return fold_text(text)


@dataclass(frozen=True, slots=True)
class Gazetteer:
    russia: Mapping[str, TermMatcher]
    countries: Mapping[str, TermMatcher]
    region: TermMatcher
    context: Mapping[str, TermMatcher]
    topics: Mapping[str, TermMatcher]
    traps: TermMatcher
    names_when_capitalised: TermMatcher
    source_voice: TermMatcher
    country_list: TermMatcher
    fingerprint: str
    # one-word stems → ("russia", kind) or ("country", code): completes a word cut off at the end
    stems: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    stem_order: tuple[str, ...] = ()  # the stems sorted, to find those a word begins quickly

    def complete_cut_word(self, word: str) -> tuple[str, str] | None:
        """The side a text's last word, cut off mid-word at a fixed length ("…president of
        venezu"), can only belong to; None when it is short, whole or could be several."""
        if len(word) < CUT_WORD_MIN_CHARS or word in self.stems:
            return None
        order = self.stem_order or tuple(sorted(self.stems))
        sides = set()
        for stem in order[bisect.bisect_left(order, word) :]:
            if not stem.startswith(word):
                break
            sides.add(self.stems[stem])
        return sides.pop() if len(sides) == 1 else None

    def names_a_term(self, folded_word: str) -> bool:
        """Whether this one folded word is by itself a term of a side, a region, a context or a
        topic ("latinoamerica", "blackrock")."""
        matchers = (
            *self.russia.values(),
            *self.countries.values(),
            self.region,
            *self.context.values(),
            *self.topics.values(),
        )
        return any(folded_word in matcher.find(folded_word) for matcher in matchers)

    def remove_traps(self, folded: str) -> str:
        return self.traps.sub(" ", folded)

    def remove_source_voice(self, folded: str) -> tuple[str, list[str]]:
        """The text without a Russian outlet naming itself ("dijo a Sputnik"), and what was cut."""
        return self.source_voice.sub(" ", folded), self.source_voice.find(folded)

    def remove_lower_case_names(self, text: str) -> str:
        """Blank the words of the raw text that are names only when capitalised, where they are
        written in lower case. A text with no capital at all is left as it is: case says nothing
        there (some sources lower-case whole headlines)."""
        if text == text.lower():
            return text
        names = self.names_when_capitalised.pattern
        common = {
            word
            for word in set(WORD.findall(text))
            if word[0].islower() and names_whole_word(names, word)
        }
        if not common:
            return text
        return WORD.sub(lambda word: " " if word.group(0) in common else word.group(0), text)


def compile_terms(name: str, terms: Iterable[str]) -> TermMatcher:
    terms = list(terms)
    alternatives = sorted(
        {term_regex(term) for term in terms if fold_text(term)}, key=len, reverse=True
    )
    if not alternatives:
        return TermMatcher(name, re.compile(r"(?!x)x"), frozenset())
    return keyed_matcher(name, rf"(?<!\w)(?:{ALTERNATIVES})(?!\w)", alternatives, terms)


def keyed_matcher(
    name: str, template: str, alternatives: list[str], terms: list[str], least_keys: int = 1
) -> TermMatcher:
    """The matcher of `template` with the alternation of `alternatives` (regexes of `terms`, in
    the order they are tried), with each term's key word (see `TermMatcher`)."""
    pattern = re.compile(template.replace(ALTERNATIVES, shared_alternation(alternatives)))
    keys = term_keys(terms)
    if keys is None:
        return TermMatcher(name, pattern)
    keyed = tuple((regex, *keys[regex]) for regex in alternatives)
    return TermMatcher(
        name,
        pattern,
        frozenset(key for _, key, stem in keyed if not stem),
        frozenset(key for _, key, stem in keyed if stem),
        least_keys,
        template,
        keyed,
    )


def shared_alternation(alternatives: Sequence[str]) -> str:
    """Term regexes (`term_regex`, in the order they are to be tried) as one alternation whose
    branches share their common beginnings: `rus(?:sia\\w*|ia)` rather than `russia\\w*|rusia`.

    Python's `re` tries every branch of a flat alternation at each word of a text, so a matcher
    of hundreds of terms ran them all at every word; the shared form picks a branch a character
    at a time (the country-list matcher 55 → 7 µs a text, bench/gazetteer_speed.py). It
    finds what the flat alternation finds: `re` takes the first branch that matches, and terms
    are only brought together past others that cannot match where they do (another character
    next), never past a `\\w*` or a term's end (`factored`). Fewer than SHARED_FROM_TERMS
    terms stay flat: as fast, and sooner compiled."""
    if len(alternatives) < SHARED_FROM_TERMS:
        return "|".join(alternatives)
    return factored([regex_tokens(regex) for regex in alternatives])


def factored(sequences: Sequence[Sequence[str]]) -> str:
    """The alternation of token sequences, in order, with common first tokens branched once.

    A sequence joins the latest group of its first token unless a group after that one could
    match where it does (a `\\w*` or a term's end is on either side): then it starts its own
    group, so no branch is ever tried before one that came first and could match too."""
    groups: list[tuple[str, list[Sequence[str]]]] = []
    for tokens in sequences:
        first, rest = (tokens[0], tokens[1:]) if tokens else (TERM_END, ())
        for token, rests in reversed(groups):
            if token == first:
                rests.append(rest)
                break
            if {token, first} & {WORD_RUN, TERM_END}:
                groups.append((first, [rest]))
                break
        else:
            groups.append((first, [rest]))
    parts = [token + factored(rests) if token else "" for token, rests in groups]
    if len(parts) == 1:
        return parts[0]
    if parts[-1] == TERM_END:  # the term may end here, once every longer branch has failed
        return f"(?:{'|'.join(parts[:-1])})?"
    return f"(?:{'|'.join(parts)})"


def regex_tokens(regex: str) -> list[str]:
    """A term regex's pieces: `\\w*`, `\\s`, an escaped character or a plain one."""
    tokens = []
    at = 0
    while at < len(regex):
        size = 3 if regex.startswith(WORD_RUN, at) else 2 if regex[at] == "\\" else 1
        if size == 1 and regex[at] in ".^$*+?{}[]|()":
            raise ValueError(f"not a term regex: {regex!r}")
        tokens.append(regex[at : at + size])
        at += size
    return tokens


def term_keys(terms: Iterable[str]) -> dict[str, tuple[str, bool]] | None:
    """Each term's regex → a word a text must have for the term to match, and whether it is a
    stem a word of the text begins with (the end of a `word*` token) rather than a whole word.
    The longest of the term's folded words (long words are rarer in text than short ones), of
    equally long ones the one fewest other terms share ("ambassador" of "Russian ambassador").
    None when a term has no word to look up, or only stems shorter than SHORTEST_STEM."""
    words_of = {}
    for term in terms:
        if not fold_text(term):
            continue
        keys = [
            (part, star and i == len(parts) - 1)
            for token in term.split()
            for star, parts in [(token.endswith("*"), fold_text(token.rstrip("*")).split())]
            for i, part in enumerate(parts)
            if not (star and i == len(parts) - 1 and len(part) < SHORTEST_STEM)
        ]
        if not keys:
            return None
        words_of[term_regex(term)] = keys
    shared = Counter(key for keys in words_of.values() for key in set(keys))
    return {
        regex: min(keys, key=lambda k: (-len(k[0]), shared[k])) for regex, keys in words_of.items()
    }


def term_regex(term: str) -> str:
    parts = []
    for token in term.split():
        stem = fold_text(token.rstrip("*"))
        if not stem:
            continue
        parts.append(
            r"\s".join(re.escape(p) for p in stem.split()) + (r"\w*" if token.endswith("*") else "")
        )
    return r"\s".join(parts)


def flag_tokens(text: str) -> str:
    """Flag emoji written as words the matchers can see: 🇷🇺 → ` flagru `."""
    return FLAG.sub(lambda m: f" {flag_token(m.group(0))} ", text)


def flag_token(flag: str) -> str:
    return "flag" + "".join(chr(ord(ch) - REGIONAL_INDICATOR_A + ord("a")) for ch in flag)


def flag_of(code: str) -> str:
    """The flag emoji of a two-letter country code (RU → 🇷🇺)."""
    return "".join(chr(REGIONAL_INDICATOR_A + ord(ch) - ord("A")) for ch in code.upper())


def compile_country_list(terms: Iterable[str]) -> TermMatcher:
    """Three or more country names in a row, joined only by commas or list words: a list
    ("Brazil, Russia, India and China"), not a relation."""
    terms = list(terms)
    alternatives = sorted({term_regex(t) for t in terms if fold_text(t)}, key=len)[::-1]
    one = f"(?:{ALTERNATIVES})"
    template = rf"(?<!\w){one}(?:{LIST_JOINERS}{one}){{2,}}(?!\w)"
    return keyed_matcher("country_list", template, alternatives, terms, least_keys=3)


def word_stems(
    russia: Mapping[str, list[str]], countries: Mapping[str, list[str]]
) -> dict[str, tuple[str, str]]:
    """Every one-word term's folded stem with its side (state before adjective)."""
    stems: dict[str, tuple[str, str]] = {}
    for side, groups in (("country", countries), ("russia", russia)):
        for key, terms in groups.items():
            for term in terms:
                stem = fold_text(term.rstrip("*"))
                if stem and " " not in stem and not stem.startswith("flag"):
                    stems.setdefault(stem, (side, key))
    return stems


def load_gazetteer(directory: Path) -> Gazetteer:
    """Read every gazetteer file of `directory`; a malformed one raises ConfigError. Files
    read before in this process, with the same content, give the gazetteer compiled then."""
    data = {name: read_toml(directory / name) for name in GAZETTEER_FILES}
    fingerprint = digest(data)
    if (known := COMPILED.get(fingerprint)) is not None:
        return known
    gazetteer = compile_gazetteer(directory, data, fingerprint)
    while len(COMPILED) >= COMPILED_KEPT:
        del COMPILED[next(iter(COMPILED))]
    COMPILED[fingerprint] = gazetteer
    return gazetteer


COMPILED: dict[str, Gazetteer] = {}  # by the files' fingerprint, oldest first
COMPILED_KEPT = 8


def compile_gazetteer(directory: Path, data: Mapping[str, Any], fingerprint: str) -> Gazetteer:
    try:
        context = data["context.toml"]
        russia = {k: list(v["terms"]) for k, v in data["russia.toml"].items()}
        russia["state"] = [*russia.get("state", []), "flagru"]
        countries = {
            code: [*v["terms"], flag_token(flag_of(code))]
            for code, v in data["latam.toml"]["countries"].items()
        }
        names = [
            *russia["state"],
            *(t for ts in countries.values() for t in ts),
            *context.get("foreign", {}).get("terms", []),
            *data["latam.toml"]["region"]["terms"],  # "Asia, Africa and Latin America"
        ]
        return Gazetteer(
            russia=TermGroup({k: compile_terms(k, v) for k, v in russia.items()}),
            countries=TermGroup({code: compile_terms(code, v) for code, v in countries.items()}),
            region=compile_terms("region", data["latam.toml"]["region"]["terms"]),
            context=TermGroup(
                {
                    k: compile_terms(k, v["terms"])
                    for k, v in context.items()
                    if k not in NOT_CONTEXT
                }
            ),
            topics=TermGroup(
                {k: compile_terms(k, v["terms"]) for k, v in data["topics.toml"]["topics"].items()}
            ),
            traps=compile_terms("traps", context["traps"]["terms"]),
            names_when_capitalised=compile_terms(  # optional: older files lack it
                "names_when_capitalised",
                context.get("names_when_capitalised", {}).get("terms", []),
            ),
            source_voice=compile_terms(  # optional too
                "source_voice", context.get("source_voice", {}).get("terms", [])
            ),
            country_list=compile_country_list(names),
            fingerprint=fingerprint,
            stems=(stems := word_stems(russia, countries)),
            stem_order=tuple(sorted(stems)),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{directory}: malformed gazetteer: missing or wrong {exc}") from None


def digest(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(repr(sorted(data.items())).encode()).hexdigest()[:16]


def check_alert_rules(
    alerts: AlertSettings, gazetteer: Gazetteer, source: Path | str = "settings"
) -> None:
    """Every country and topic an alert rule filters on must be one the gazetteer can tag, or a
    rule would silently never fire: the first unknown one raises ConfigError naming the rule."""
    known = {"countries": gazetteer.countries, "topics": gazetteer.topics}
    for index, rule in enumerate(alerts.rules):
        for key, values in (("countries", rule.countries), ("topics", rule.topics)):
            unknown = [value for value in values if value not in known[key]]
            if unknown:
                raise ConfigError(
                    f"{source}: alerts.rules.{index}.{key}: rule {rule.name!r} names unknown "
                    f"{RULE_KEY_NOUNS[key]} {unknown[0]!r} "
                    f"(the gazetteer knows {', '.join(sorted(known[key]))})"
                )
