"""Russia–Latin America relevance: evidence from the gazetteer, features, a calibrated score and
the reasons. Pure: the caller supplies the gazetteer, the model weights and the seed similarity.

The definition is `LABELING.md` of the evaluation set: an item is relevant when it reports a
relation between Russia (state, officials, state companies, military, state media) and Latin
American or Caribbean countries, not when both merely appear (lists, markets, sports, history).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from monitor.gazetteer import FLAG, Gazetteer, find_each, flag_token, flag_tokens, fold, fold_word

ACTOR_KINDS = ("state", "officials", "companies", "military", "media")
STRONG_ACTOR_KINDS = ("officials", "companies", "military", "media")
FEATURES = (
    "russia_actor",
    "russia_strong_actor",
    "russia_adjective_only",
    "latam_country",
    "latam_region_only",
    "both_sides",
    "both_strong",
    "relation",
    "both_and_relation",
    "sports",
    "market",
    "history",
    "brics",
    "brics_joint_without_latam",
    "brics_commentary",
    "brics_sidelines",
    "foreign_list",
    "many_latam_countries",
    "enumeration",
    "source_voice",
    "bulletin",
    "country_list",
    "counted_countries",
    "contrast",
    "ukraine_war",
    "latam_on_ukraine",
    "latam_on_ukraine_with_russia",
    "latam_war_stance",
    "listed_without_actor",
    "comma_list",
    "snowden",
    "snowden_route",
    "mercenary",
    "incidental",
    "expert",
    "seed_similarity",
)
TOP_CONTRIBUTIONS = 4  # features shown in the reasons, by the size of their signed push
# Wire datelines ("MOSCOW, January 5. /TASS/.") say where a desk sits, not who acts.
# "MOSCÚ, 5 de enero." and "МОСКВА, 5 января." put the day first.
DATELINE = re.compile(
    r"(?:^|(?<=[|.]\s))[A-ZÁÉÍÓÚА-ЯЁ][A-ZÁÉÍÓÚА-ЯЁ .'-]{2,40},\s+"
    r"(?:\w+\s+\d{1,2}|\d{1,2}\s+(?:de\s+)?\w+|[A-ZА-ЯЁ]{3,})\s*[./]\s*"
    r"(?:/?\s*\w+\s*/\.?)?"
    r"|/\s*(?:TASS|ТАСС|RIA|РИА|EFE|AFP|AP|Reuters|Sputnik)\s*/\.?"
    # "CIUDAD DE MÉXICO (Sputnik) —", "RÍO DE JANEIRO, BRASIL (EFE) -"
    r"|(?:^|(?<=[|.]\s))[A-ZÁÉÍÓÚÑА-ЯЁ][\wÁÉÍÓÚÑáéíóúñ ,.'-]{2,40}\s*"
    r"\((?:Sputnik|RT|TASS|ТАСС|RIA|РИА|EFE|AFP|AP|Reuters|ANSA|Xinhua|Prensa Latina|PL)\)\s*[—–-]+"
    # a summary opening on its place: "Caracas. El presidente…", "San Petersburgo. 19 de…"
    r"|(?<=\|\s)[A-ZÁÉÍÓÚÑА-ЯЁ][\wáéíóúñ]+(?:\s(?:de\s)?[A-ZÁÉÍÓÚÑА-ЯЁ][\wáéíóúñ]+){0,2}"
    r"(?:,\s[A-ZÁÉÍÓÚÑ][\wáéíóúñ]+)?\.\s(?=[A-ZÁÉÍÓÚÑА-ЯЁ0-9])"
)
# Prepositions between a negation and the side it excludes: "não da Rússia", "а не из России".
CONTRAST_LINKS = r"(?:from|of|in|de|del|da|do|das|dos|desde|en|em|na|из|с|в|от)"
# "75 countries including…", "40 países", "в 20 странах": a list of many countries.
COUNTED_COUNTRIES = re.compile(
    r"(?<!\w)\d+\s+(?:countries|nations|paises|naciones|nacoes|стран\w*|государств\w*)(?!\w)"
)
# Three or more flag emoji in a row (🇷🇺 🇧🇷 🇮🇳 🇨🇳 🇿🇦): a list of members, not a relation.
FLAG_RUN = re.compile(rf"(?:{FLAG.pattern}\s*){{3,}}")
# The stories a press review's title runs together: "Press review: X while Y as Z; W".
TITLE_CLAUSES = re.compile(r"\s*(?:;|\s(?:while|as|whereas|mientras|enquanto|пока|тогда как)\s)\s*")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÁÉÍÓÚÑА-ЯЁ])")
# Separators that run several headlines together in one line of a bulletin.
LINE_SEPARATORS = re.compile(r"\s*(?:\n|🔹|🔸|•|▪|►|\s/\s|\s\|\s|\s//\s)\s*")
# A show's credit line ("Con @presentadora", "with @host"): the lines above it are the show's
# headlines, each its own story, not a summary of the title.
PRESENTER_LINE = re.compile(r"^\s*(?:con|with|com|с|со)\s+@\w+\s*$", re.IGNORECASE)
ROUNDUP_MIN_LINES = 3
ROUNDUP_MAX_LINE = 200  # characters: longer lines are paragraphs of one story, not headlines
# "#EvoMorales", "#brics2024": a hashtag's words, to match the names it runs together.
HASHTAG = re.compile(r"#\w+")
HASHTAG_BREAK = re.compile(r"(?<=[a-záéíóúñçãõâêôа-яё])(?=[A-ZÁÉÍÓÚÑÇА-ЯЁ])|(?<=[^\W\d])(?=\d)")
COMMA_WORD = "zzcomma"  # a comma kept as a word, to tell "Brazil, Russia" from "Brazil and Russia"
LIST_WORDS = frozenset({"and", "y", "e", "и", "or", "o", "ou", "или", "to", "a"})
ROUTINE_CONTEXT = ("relation", "foreign", "route")  # context not shown among the reasons


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the gazetteer found in one text."""

    russia: Mapping[str, Sequence[str]]
    countries: Mapping[str, Sequence[str]]
    region: Sequence[str]
    context: Mapping[str, Sequence[str]]
    topics: Sequence[str]
    text: str = ""  # the text as written, to show matched terms in it


@dataclass(frozen=True, slots=True)
class NearestSeed:
    name: str
    similarity: float
    title: str = ""


@dataclass(frozen=True, slots=True)
class RelevanceModel:
    """Logistic weights over FEATURES and the decision threshold (config/relevance.toml)."""

    weights: Mapping[str, float]
    bias: float
    threshold: float


@dataclass(frozen=True, slots=True)
class Relevance:
    relevant: bool
    score: float
    countries: tuple[str, ...]
    topics: tuple[str, ...]
    reasons: Mapping[str, object] = field(default_factory=dict)


def gather_evidence(gazetteer: Gazetteer, title: str, summary: str) -> Evidence:
    """The sides, context and topics one text shows. A side named only to be excluded ("from
    Venezuela, not Russia") is a contrast, not evidence of that side."""
    written = DATELINE.sub(" ", f"{title} | {summary}" if summary else title)
    if "#" in written:
        written = HASHTAG.sub(lambda tag: split_hashtag(gazetteer, tag.group(0)), written)
    folded = gazetteer.remove_traps(fold(gazetteer.remove_lower_case_names(flag_tokens(written))))
    folded, voice = gazetteer.remove_source_voice(folded)
    context = find_each(gazetteer.context, folded)
    russia, countries = find_sides(gazetteer, folded)
    side_terms = [t for ts in (*russia.values(), *countries.values()) for t in ts]
    if contrasts := find_contrasts(folded, context.pop("negation", ()), side_terms):
        context["contrast"] = contrasts
        for contrast in contrasts:
            folded = whole_phrase(contrast).sub(" ", folded)
        russia, countries = find_sides(gazetteer, folded)
    add_cut_word(gazetteer, written, folded, russia, countries)
    topics = list(find_each(gazetteer.topics, folded))
    if voice:
        context["source_voice"] = voice
    russia_terms = [t for ts in russia.values() for t in ts]
    latam_terms = [t for ts in countries.values() for t in ts]
    if is_enumeration(folded, russia_terms, latam_terms):
        context["enumeration"] = ["listed together"]
        # "Brazil, Russia": only a comma between the sides is a list, "Cuba y Rusia" may be a pair
        if "," in written and is_comma_pair(
            fold(written.replace(",", f" {COMMA_WORD} ")), russia_terms, latam_terms
        ):
            context["comma_list"] = ["listed with commas"]
    flags = [" ".join(run.group(0).split()) for run in FLAG_RUN.finditer(written)]
    listed = [*gazetteer.country_list.find(folded), *COUNTED_COUNTRIES.findall(folded), *flags]
    if listed:
        context["country_list"] = listed
    if counted := COUNTED_COUNTRIES.findall(folded):
        context["counted_countries"] = counted
    return Evidence(russia, countries, gazetteer.region.find(folded), context, topics, written)


def split_hashtag(gazetteer: Gazetteer, tag: str) -> str:
    """A hashtag's words ("#RusiaCuba" → "#Rusia Cuba"), unless the hashtag is one term
    written with capitals inside (#BlackRock, #LatinoAmérica): that one is read whole."""
    split = HASHTAG_BREAK.sub(" ", tag)
    if split == tag or gazetteer.names_a_term(fold(tag)):
        return tag
    return split


def add_cut_word(
    gazetteer: Gazetteer,
    written: str,
    folded: str,
    russia: dict[str, list[str]],
    countries: dict[str, list[str]],
) -> None:
    """A text cut off mid-word at a fixed length (snippets, 120-character posts) still names
    the side its last word begins: "…the president of venezu" is Venezuela."""
    words = folded.split()
    if not words or not written.rstrip()[-1:].isalpha():
        return
    side = gazetteer.complete_cut_word(words[-1])
    if side is not None:
        kind, key = side
        (russia if kind == "russia" else countries).setdefault(key, []).append(words[-1])


def find_sides(
    gazetteer: Gazetteer, folded: str
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Russia's terms by kind of actor, and each Latin American country's terms."""
    return find_each(gazetteer.russia, folded), find_each(gazetteer.countries, folded)


def find_contrasts(folded: str, negations: Sequence[str], side_terms: Sequence[str]) -> list[str]:
    """A side named only to be excluded: "from Venezuela, not Russia", "а не Россия"."""
    found = []
    for negation in negations:
        for term in side_terms:
            if contrast := contrast_pattern(negation, term).search(folded):
                found.append(contrast.group(0))
    return found


# Compiled once per phrase or pair of terms (the same few terms recur from text to text).
@functools.lru_cache(maxsize=4096)
def whole_phrase(phrase: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(phrase)}(?!\w)")


@functools.lru_cache(maxsize=4096)
def contrast_pattern(negation: str, term: str) -> re.Pattern[str]:
    return re.compile(
        rf"(?<!\w){re.escape(negation)}\s+(?:{CONTRAST_LINKS}\s+)?{re.escape(term)}(?!\w)"
    )


@functools.lru_cache(maxsize=4096)
def neighbours_pattern(first: str, second: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(first)}((?:\s+\w+)?)\s+{re.escape(second)}(?!\w)")


def is_enumeration(folded: str, russia_terms: Sequence[str], latam_terms: Sequence[str]) -> bool:
    """A Russian and a Latin American term side by side with only list words between them
    ("brazil russia india", "russia and mexico"): a list, unless a relation says otherwise."""
    for first, second in ((russia_terms, latam_terms), (latam_terms, russia_terms)):
        for a in first:
            for b in second:
                between = words_between(folded, a, b)
                if between is not None and set(between) <= LIST_WORDS:
                    return True
    return False


def is_comma_pair(
    with_commas: str, russia_terms: Sequence[str], latam_terms: Sequence[str]
) -> bool:
    """A Russian and a Latin American term with only a comma between them (COMMA_WORD stands
    for each comma of the folded text)."""
    for first, second in ((russia_terms, latam_terms), (latam_terms, russia_terms)):
        for a in first:
            for b in second:
                if words_between(with_commas, a, b) == [COMMA_WORD]:
                    return True
    return False


def words_between(folded: str, first: str, second: str) -> list[str] | None:
    """At the first place where `second` follows `first` with at most one word between them,
    that word (or none), as `neighbours_pattern` finds it; None where it never does. Read on the
    words of the text rather than by an expression compiled per pair of terms."""
    if "  " in folded:  # doubled spaces: the expression itself (it wants single ones in terms)
        found = neighbours_pattern(first, second).search(folded)
        return found.group(1).split() if found else None
    words, head, tail = folded.split(), first.split(), second.split()
    size, rest = len(head), len(tail)
    for start in starts_of(words, head):
        after = start + size
        if after < len(words) and words[after + 1 : after + 1 + rest] == tail:
            return [words[after]]
        if words[after : after + rest] == tail:
            return []
    return None


def starts_of(words: list[str], phrase: list[str]) -> list[int]:
    """Where `phrase` (a list of words) begins in `words`, in order."""
    if not phrase:
        return list(range(len(words) + 1))
    size = len(phrase)
    return [
        i for i, word in enumerate(words) if word == phrase[0] and words[i : i + size] == phrase
    ]


def extract_features(evidence: Evidence, seed_similarity: float) -> dict[str, float]:
    actor = any(kind in evidence.russia for kind in ACTOR_KINDS)
    strong = any(kind in evidence.russia for kind in STRONG_ACTOR_KINDS)
    russia_any = actor or "adjective" in evidence.russia
    latam_any = bool(evidence.countries or evidence.region)
    both = russia_any and latam_any
    has = evidence.context.__contains__
    brics = has("brics")
    latam_on_ukraine = has("ukraine_war") and bool(evidence.countries)
    values = {
        "russia_actor": actor,
        "russia_strong_actor": strong,
        "russia_adjective_only": russia_any and not actor,
        "latam_country": bool(evidence.countries),
        "latam_region_only": bool(evidence.region) and not evidence.countries,
        "both_sides": both,
        "both_strong": actor and bool(evidence.countries),
        "relation": has("relation"),
        "both_and_relation": both and has("relation"),
        "sports": has("sports"),
        "market": has("market"),
        "history": has("history"),
        "brics": brics,
        "brics_joint_without_latam": brics and has("brics_joint") and not latam_any,
        "brics_commentary": brics and has("brics_commentary"),
        "brics_sidelines": brics and has("sidelines") and not latam_any,
        "foreign_list": len(evidence.context.get("foreign", ())) >= 2,
        "many_latam_countries": len(evidence.countries) >= 3,
        "enumeration": has("enumeration"),
        "source_voice": has("source_voice"),
        "bulletin": has("bulletin"),
        "country_list": has("country_list"),
        "counted_countries": has("counted_countries") and not has("relation"),
        "contrast": has("contrast"),
        "ukraine_war": has("ukraine_war"),
        "latam_on_ukraine": latam_on_ukraine and not russia_any,
        "latam_on_ukraine_with_russia": latam_on_ukraine and russia_any,
        "latam_war_stance": latam_on_ukraine and has("stance") and not has("mercenary"),
        "comma_list": has("comma_list") and not strong,
        "listed_without_actor": (has("enumeration") or has("country_list"))
        and not strong
        and not has("relation"),
        "snowden": has("snowden"),
        "snowden_route": has("snowden") and has("route"),
        "mercenary": has("mercenary") and latam_any,
        "incidental": has("incidental") and both,
        "expert": has("expert") and both,
    }
    features = {name: float(value) for name, value in values.items()}
    features["seed_similarity"] = seed_similarity
    return features


def contributions(model: RelevanceModel, features: Mapping[str, float]) -> dict[str, float]:
    """Each feature's signed push on the logit (weight × value), for those that push at all."""
    weights = model.weights
    return {
        name: push
        for name, value in features.items()
        if value and (push := weights.get(name, 0.0) * value)
    }


def score_features(model: RelevanceModel, features: Mapping[str, float]) -> float:
    return score_pushes(model, contributions(model, features))


def score_pushes(model: RelevanceModel, pushes: Mapping[str, float]) -> float:
    logit = model.bias + sum(pushes.values())
    return 1.0 / (1.0 + math.exp(-logit))


def is_bulletin_heading(gazetteer: Gazetteer, text: str) -> bool:
    return bool(gazetteer.context["bulletin"].find(fold(text))) if text else False


def roundup_parts(gazetteer: Gazetteer, title: str, summary: str) -> list[tuple[str, str]]:
    """The (title, line) parts to judge one by one, best part taken.

    A newscast or digest (a bulletin heading, or lines run together by bullets and slashes) is
    judged line by line, each line alone: a Russian line and a Latin American line of one show
    are not a relation. Three or more short lines without a heading are read with the title,
    unless a presenter's credit line ("Con @…") shows them to be a show's headlines.
    """
    lines = [line for line in LINE_SEPARATORS.split(summary) if line.strip()]
    title_lines = [line for line in LINE_SEPARATORS.split(title) if line.strip()]
    short = all(len(line) <= ROUNDUP_MAX_LINE for line in lines)
    heading = (
        "bulletin" in gazetteer.context
        and (":" in title or (short and bool(lines)))
        and is_bulletin_heading(gazetteer, title)
    )
    if heading and ":" in title:
        # a press review runs its stories together in the title and in one paragraph
        named, stories = title.split(":", 1)
        clauses = [clause for clause in TITLE_CLAUSES.split(stories) if clause.strip()]
        if len(clauses) > 1:
            title_lines = [f"{named}: {clause}" for clause in clauses]
            if len(lines) == 1:
                lines = [s for s in SENTENCE_END.split(lines[0]) if s.strip()]
    if "bulletin" in gazetteer.context and short and ((lines and heading) or len(title_lines) > 1):
        return [(line, "") for line in [*title_lines, *lines]]
    if len(lines) >= ROUNDUP_MIN_LINES and short and "\n" in summary:
        if any(PRESENTER_LINE.match(line) for line in lines):
            return [(title, ""), *((line, "") for line in lines)]
        return [(title, line) for line in lines]
    return [(title, summary)]


def roundup_lines(summary: str) -> list[str]:
    """The headlines of a newscast-style roundup (three or more short lines), else none."""
    lines = [line.strip() for line in summary.splitlines() if line.strip()]
    if len(lines) >= ROUNDUP_MIN_LINES and all(len(line) <= ROUNDUP_MAX_LINE for line in lines):
        return lines
    return []


def assess(
    gazetteer: Gazetteer,
    model: RelevanceModel,
    title: str,
    summary: str,
    nearest_seed: NearestSeed | None = None,
) -> Relevance:
    """Tag one item: relevant at the model's threshold, score, countries, topics and reasons.

    A roundup is judged part by part (see `roundup_parts`) and takes its best part.
    """
    similarity = nearest_seed.similarity if nearest_seed else 0.0
    parts = roundup_parts(gazetteer, title, summary)
    found = [gather_evidence(gazetteer, t, s) for t, s in parts]
    pushes = [contributions(model, extract_features(e, similarity)) for e in found]
    scores = [score_pushes(model, p) for p in pushes]
    best = max(range(len(parts)), key=scores.__getitem__)
    evidence, score = found[best], scores[best]
    relevant = score >= model.threshold
    reasons = explain(evidence, nearest_seed)
    reasons["contributions"] = top_pushes(pushes[best])
    if len(parts) > 1:
        reasons["roundup_line"] = " | ".join(p for p in parts[best] if p)
    return Relevance(
        relevant=relevant,
        score=round(score, 4),
        countries=tuple(sorted(evidence.countries)),
        topics=tuple(evidence.topics) if relevant else (),
        reasons=reasons,
    )


def top_contributions(model: RelevanceModel, features: Mapping[str, float]) -> dict[str, float]:
    """The few features that moved the score most, with their signed push on the logit."""
    return top_pushes(contributions(model, features))


def top_pushes(pushes: Mapping[str, float]) -> dict[str, float]:
    ranked = sorted(pushes.items(), key=lambda kv: -abs(kv[1]))
    return {name: round(push, 2) for name, push in ranked[:TOP_CONTRIBUTIONS]}


def as_written(text: str, folded_terms: Sequence[str]) -> list[str]:
    """Matched terms as the text writes them (accents, case, flag emoji), not folded."""
    matches, folded = written_words(text)
    shown = []
    for term in folded_terms:
        tokens = term.split()
        size = len(tokens)
        start = 0
        while True:
            try:
                i = folded.index(tokens[0], start) if tokens else start
            except ValueError:
                shown.append(term)
                break
            if i + size > len(folded):
                shown.append(term)
                break
            if folded[i : i + size] == tokens:
                shown.append(text[matches[i].start() : matches[i + size - 1].end()])
                break
            start = i + 1
    return list(dict.fromkeys(shown))


@functools.lru_cache(maxsize=16)
def written_words(text: str) -> tuple[list[re.Match[str]], list[str]]:
    """The words of a written text and their folded forms. Cached: the reasons of one item look
    up every group of terms in the same text."""
    matches = list(WRITTEN_WORD.finditer(text))
    return matches, list(map(written_fold, [m.group(0) for m in matches]))


def explain(evidence: Evidence, nearest_seed: NearestSeed | None) -> dict[str, object]:
    def written(terms: Sequence[str]) -> list[str]:
        return as_written(evidence.text, terms) if evidence.text else list(terms)

    reasons: dict[str, object] = {
        "russia": {kind: written(terms) for kind, terms in evidence.russia.items()},
        "latam": {code: written(terms) for code, terms in evidence.countries.items()},
    }
    if evidence.region:
        reasons["region"] = written(evidence.region)
    # travel words say something only of Snowden's route (rule 4)
    hidden = ("relation", "foreign") if "snowden" in evidence.context else ROUTINE_CONTEXT
    context = {k: written(v) for k, v in evidence.context.items() if k not in hidden}
    if context:
        reasons["context"] = context
    if "relation" in evidence.context:
        reasons["relation"] = written(evidence.context["relation"])
    if nearest_seed:
        reasons["nearest_seed"] = {
            "name": nearest_seed.name,
            "title": nearest_seed.title or nearest_seed.name,
            "similarity": round(nearest_seed.similarity, 3),
        }
    return reasons


@functools.lru_cache(maxsize=1 << 14)
def written_fold(word: str) -> str:
    return flag_token(word) if FLAG.fullmatch(word) else fold_word(word)


# A word of the written text, or a flag emoji (shown as the flag it is).
WRITTEN_WORD = re.compile(rf"{FLAG.pattern}|\w+")
