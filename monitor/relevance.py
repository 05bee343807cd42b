"""Russia–Latin America relevance: evidence from the gazetteer, features, a calibrated score and
the reasons. Pure: the caller supplies the gazetteer, the model weights and the seed similarity.

The definition is `LABELING.md` of the evaluation set: an item is relevant when it reports a
relation between Russia (state, officials, state companies, military, state media) and Latin
American or Caribbean countries, not when both merely appear (lists, markets, sports, history).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from monitor.gazetteer import Gazetteer
from monitor.normalize import fold_text

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
    "foreign_list",
    "many_latam_countries",
    "enumeration",
    "seed_similarity",
)
# Wire datelines ("MOSCOW, January 5. /TASS/.") say where a desk sits, not who acts.
# "MOSCÚ, 5 de enero." and "МОСКВА, 5 января." put the day first.
DATELINE = re.compile(
    r"(?:^|(?<=[|.]\s))[A-ZÁÉÍÓÚА-ЯЁ][A-ZÁÉÍÓÚА-ЯЁ .'-]{2,40},\s+"
    r"(?:\w+\s+\d{1,2}|\d{1,2}\s+(?:de\s+)?\w+)\s*[./]\s*"
    r"(?:/?\s*\w+\s*/\.?)?"
    r"|/\s*(?:TASS|ТАСС|RIA|РИА|EFE|AFP|AP|Reuters|Sputnik)\s*/\.?"
)
ROUNDUP_MIN_LINES = 3
ROUNDUP_MAX_LINE = 200  # characters: longer lines are paragraphs of one story, not headlines
LIST_WORDS = frozenset({"and", "y", "e", "и", "or", "o", "ou", "или", "to", "a"})


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the gazetteer found in one text."""

    russia: Mapping[str, Sequence[str]]
    countries: Mapping[str, Sequence[str]]
    region: Sequence[str]
    context: Mapping[str, Sequence[str]]
    topics: Sequence[str]


@dataclass(frozen=True, slots=True)
class NearestSeed:
    name: str
    similarity: float


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
    text = DATELINE.sub(" ", f"{title} | {summary}")
    folded = gazetteer.remove_traps(fold_text(gazetteer.remove_lower_case_names(text)))
    russia = {kind: found for kind, m in gazetteer.russia.items() if (found := m.find(folded))}
    countries = {
        code: found for code, m in gazetteer.countries.items() if (found := m.find(folded))
    }
    context = {name: found for name, m in gazetteer.context.items() if (found := m.find(folded))}
    topics = [name for name, m in gazetteer.topics.items() if m.find(folded)]
    if is_enumeration(
        folded,
        [t for ts in russia.values() for t in ts],
        [t for ts in countries.values() for t in ts],
    ):
        context["enumeration"] = ["listed together"]
    return Evidence(russia, countries, gazetteer.region.find(folded), context, topics)


def is_enumeration(folded: str, russia_terms: Sequence[str], latam_terms: Sequence[str]) -> bool:
    """A Russian and a Latin American term side by side with only list words between them
    ("brazil russia india", "russia and mexico"): a list, unless a relation says otherwise."""
    for first, second in ((russia_terms, latam_terms), (latam_terms, russia_terms)):
        for a in first:
            for b in second:
                between = re.search(
                    rf"(?<!\w){re.escape(a)}((?:\s+\w+)?)\s+{re.escape(b)}(?!\w)", folded
                )
                if between and set(between.group(1).split()) <= LIST_WORDS:
                    return True
    return False


def extract_features(evidence: Evidence, seed_similarity: float) -> dict[str, float]:
    actor = any(kind in evidence.russia for kind in ACTOR_KINDS)
    strong = any(kind in evidence.russia for kind in STRONG_ACTOR_KINDS)
    russia_any = actor or "adjective" in evidence.russia
    latam_any = bool(evidence.countries or evidence.region)
    both = russia_any and latam_any
    has = evidence.context.__contains__
    brics = has("brics")
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
        "foreign_list": len(evidence.context.get("foreign", ())) >= 2,
        "many_latam_countries": len(evidence.countries) >= 3,
        "enumeration": has("enumeration"),
    }
    features = {name: float(value) for name, value in values.items()}
    features["seed_similarity"] = seed_similarity
    return features


def score_features(model: RelevanceModel, features: Mapping[str, float]) -> float:
    logit = model.bias + sum(
        model.weights.get(name, 0.0) * value for name, value in features.items()
    )
    return 1.0 / (1.0 + math.exp(-logit))


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

    A roundup is judged line by line (each with the title) and takes its best line: a Russian
    item and a Latin American item listed in one newscast are not a relation.
    """
    similarity = nearest_seed.similarity if nearest_seed else 0.0
    parts = roundup_lines(summary) or [summary]
    found = [gather_evidence(gazetteer, title, part) for part in parts]
    scores = [score_features(model, extract_features(e, similarity)) for e in found]
    best = max(range(len(parts)), key=scores.__getitem__)
    evidence, score = found[best], scores[best]
    relevant = score >= model.threshold
    reasons = explain(evidence, nearest_seed)
    if len(parts) > 1:
        reasons["roundup_line"] = parts[best]
    return Relevance(
        relevant=relevant,
        score=round(score, 4),
        countries=tuple(sorted(evidence.countries)),
        topics=tuple(evidence.topics) if relevant else (),
        reasons=reasons,
    )


def explain(evidence: Evidence, nearest_seed: NearestSeed | None) -> dict[str, object]:
    reasons: dict[str, object] = {
        "russia": {kind: list(terms) for kind, terms in evidence.russia.items()},
        "latam": {code: list(terms) for code, terms in evidence.countries.items()},
    }
    if evidence.region:
        reasons["region"] = list(evidence.region)
    context = {k: list(v) for k, v in evidence.context.items() if k not in ("relation", "foreign")}
    if context:
        reasons["context"] = context
    if "relation" in evidence.context:
        reasons["relation"] = list(evidence.context["relation"])
    if nearest_seed:
        reasons["nearest_seed"] = {
            "name": nearest_seed.name,
            "similarity": round(nearest_seed.similarity, 3),
        }
    return reasons
