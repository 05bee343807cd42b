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

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.config import AlertSettings, read_toml
from monitor.errors import ConfigError
from monitor.normalize import fold_text

GAZETTEER_FILES = ("russia.toml", "latam.toml", "context.toml", "topics.toml")
NOT_CONTEXT = ("traps", "names_when_capitalised", "source_voice")
LIST_JOINERS = r"(?:\s+(?:and|y|e|и|or|o|ou|или|&))?\s+"
REGIONAL_INDICATOR_A = 0x1F1E6
CUT_WORD_MIN_CHARS = 4  # a shorter cut-off word could begin too many names
FLAG = re.compile("[\U0001f1e6-\U0001f1ff]{2}")
WORD = re.compile(r"\w+")
RULE_KEY_NOUNS = {"countries": "country", "topics": "topic"}


@dataclass(frozen=True, slots=True)
class TermMatcher:
    """One category of terms compiled into a single regular expression."""

    name: str
    pattern: re.Pattern[str]

    def find(self, folded: str) -> list[str]:
        """Every distinct matched text, in order of appearance."""
        return list(dict.fromkeys(m.group(0) for m in self.pattern.finditer(folded)))


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

    def complete_cut_word(self, word: str) -> tuple[str, str] | None:
        """The side a text's last word, cut off mid-word at a fixed length ("…president of
        venezu"), can only belong to; None when it is short, whole or could be several."""
        if len(word) < CUT_WORD_MIN_CHARS or word in self.stems:
            return None
        sides = {side for stem, side in self.stems.items() if stem.startswith(word)}
        return sides.pop() if len(sides) == 1 else None

    def remove_traps(self, folded: str) -> str:
        return self.traps.pattern.sub(" ", folded)

    def remove_source_voice(self, folded: str) -> tuple[str, list[str]]:
        """The text without a Russian outlet naming itself ("dijo a Sputnik"), and what was cut."""
        return self.source_voice.pattern.sub(" ", folded), self.source_voice.find(folded)

    def remove_lower_case_names(self, text: str) -> str:
        """Blank the words of the raw text that are names only when capitalised, where they are
        written in lower case. A text with no capital at all is left as it is: case says nothing
        there (some sources lower-case whole headlines)."""
        if text == text.lower():
            return text

        def keep_or_blank(word: re.Match[str]) -> str:
            found = word.group(0)
            is_common_word = found[0].islower() and self.names_when_capitalised.pattern.fullmatch(
                fold_text(found)
            )
            return " " if is_common_word else found

        return WORD.sub(keep_or_blank, text)


def compile_terms(name: str, terms: Iterable[str]) -> TermMatcher:
    alternatives = sorted(
        {term_regex(term) for term in terms if fold_text(term)}, key=len, reverse=True
    )
    if not alternatives:
        return TermMatcher(name, re.compile(r"(?!x)x"))
    return TermMatcher(name, re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)"))


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
    one = (
        "(?:"
        + "|".join(sorted({term_regex(t) for t in terms if fold_text(t)}, key=len)[::-1])
        + ")"
    )
    return TermMatcher(
        "country_list", re.compile(rf"(?<!\w){one}(?:{LIST_JOINERS}{one}){{2,}}(?!\w)")
    )


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
    """Read every gazetteer file of `directory`; a malformed one raises ConfigError."""
    data = {name: read_toml(directory / name) for name in GAZETTEER_FILES}
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
        ]
        return Gazetteer(
            russia={k: compile_terms(k, v) for k, v in russia.items()},
            countries={code: compile_terms(code, v) for code, v in countries.items()},
            region=compile_terms("region", data["latam.toml"]["region"]["terms"]),
            context={
                k: compile_terms(k, v["terms"]) for k, v in context.items() if k not in NOT_CONTEXT
            },
            topics={
                k: compile_terms(k, v["terms"]) for k, v in data["topics.toml"]["topics"].items()
            },
            traps=compile_terms("traps", context["traps"]["terms"]),
            names_when_capitalised=compile_terms(  # optional: older files lack it
                "names_when_capitalised",
                context.get("names_when_capitalised", {}).get("terms", []),
            ),
            source_voice=compile_terms(  # optional too
                "source_voice", context.get("source_voice", {}).get("terms", [])
            ),
            country_list=compile_country_list(names),
            fingerprint=digest(data),
            stems=word_stems(russia, countries),
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
