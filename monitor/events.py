"""The same-event decision: is a new article the same news event as a candidate? Pure.

More than one cosine: the time gap between publications, and whether the two texts agree or
conflict on numbers and on named actors and places (capitalised words, folded to a short stem
so that "Maduro"/"Maduros" or "Венесуэла"/"Венесуэлы" meet). A logistic model over these
features gives a probability; its weights are data (`config/stories.toml`), refit by
`monitor eval fit-same-event FILE`. Articles further apart in time than the event window are
never the same event, whatever the text says.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

# Evidence is read from the title and the start of the summary (where news names its event).
EVIDENCE_CHARS = 400
STEM_CHARS = 5
NAME = re.compile(r"(?<![\w])([^\W\d_][\w'’\-]{2,})", re.UNICODE)
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
SENTENCE_START = re.compile(r"(^|[.!?:;«»\"“”()\[\]]\s*)$")

FEATURES = (
    "cosine",
    "gap_days",
    "names_jaccard",
    "names_conflict",
    "numbers_shared",
    "numbers_conflict",
)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one article says that two reports of one event would share."""

    names: frozenset[str]  # capitalised inside a sentence: surely a name
    numbers: frozenset[str]
    openers: frozenset[str] = frozenset()  # capitalised words opening a sentence: maybe names


@dataclass(frozen=True, slots=True)
class SameEventModel:
    """Logistic weights over FEATURES, the decision cut and the time gate."""

    weights: Mapping[str, float]
    bias: float
    threshold: float
    window_h: float

    def probability(self, features: Mapping[str, float]) -> float:
        z = self.bias + sum(self.weights.get(name, 0.0) * features[name] for name in FEATURES)
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def cosine_only_models(
    threshold: float, event_window_h: float, thread_window_h: float
) -> StoryModels:
    """Decisions by the cosine alone at `threshold` (inside each level's time window): for an
    encoder the weights were not fitted for."""
    steep = 200.0
    cosine = SameEventModel({"cosine": steep}, -steep * threshold, 0.5, event_window_h)
    return StoryModels(cosine, SameEventModel(cosine.weights, cosine.bias, 0.5, thread_window_h))


def fold(word: str) -> str:
    stripped = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in stripped if not unicodedata.combining(c))[:STEM_CHARS]


def gather_evidence(title: str, summary: str) -> Evidence:
    """Capitalised words (names of actors and places; those opening a sentence kept apart, as
    they may be ordinary words) and numbers."""
    text = f"{title}. {summary}"[:EVIDENCE_CHARS]
    names: set[str] = set()
    openers: set[str] = set()
    for match in NAME.finditer(text):
        word = match.group(1)
        if word[0].isupper():
            opening = SENTENCE_START.search(text[: match.start()])
            (openers if opening else names).add(fold(word))
    numbers = {n.replace(",", ".") for n in NUMBER.findall(text) if len(n) < 12}
    return Evidence(frozenset(names), frozenset(numbers), frozenset(openers - names))


def gap_hours(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return abs((a - b).total_seconds()) / 3600


def pair_features(cosine: float, gap_h: float | None, a: Evidence, b: Evidence) -> dict[str, float]:
    all_a, all_b = a.names | a.openers, b.names | b.openers
    shared_names = all_a & all_b
    union = (a.names | b.names | shared_names) if shared_names or a.names or b.names else set()
    return {
        "cosine": cosine,
        "gap_days": min(gap_h, 96.0) / 24 if gap_h is not None else 0.0,
        "names_jaccard": len(shared_names) / len(union) if union else 0.0,
        "names_conflict": 1.0 if a.names and b.names and not shared_names else 0.0,
        "numbers_shared": 1.0 if a.numbers & b.numbers else 0.0,
        "numbers_conflict": 1.0 if a.numbers and b.numbers and not a.numbers & b.numbers else 0.0,
    }


def is_within_window(gap_h: float | None, model: SameEventModel) -> bool:
    return gap_h is None or gap_h <= model.window_h


def same_event_probability(
    model: SameEventModel, cosine: float, gap_h: float | None, a: Evidence, b: Evidence
) -> float:
    """0 outside the event window; else the model's probability."""
    if not is_within_window(gap_h, model):
        return 0.0
    return model.probability(pair_features(cosine, gap_h, a, b))


def is_same_event(
    model: SameEventModel, cosine: float, gap_h: float | None, a: Evidence, b: Evidence
) -> bool:
    return same_event_probability(model, cosine, gap_h, a, b) >= model.threshold


def feature_rows(
    cosines: Sequence[float],
    gaps: Sequence[float | None],
    pairs: Sequence[tuple[Evidence, Evidence]],
) -> list[list[float]]:
    """FEATURES per pair, in order (for fitting)."""
    rows = []
    for cosine, gap, (a, b) in zip(cosines, gaps, pairs, strict=True):
        values = pair_features(cosine, gap, a, b)
        rows.append([values[name] for name in FEATURES])
    return rows


@dataclass(frozen=True, slots=True)
class StoryModels:
    """The two decisions of story assignment: same event, and (failing that) same thread."""

    event: SameEventModel
    thread: SameEventModel


# L2 strength of both fits and the cuts, chosen by cross-validated F1 on the dev pairs with
# precision favoured (merging two events loses an alert; a loose thread cut chains unrelated
# events on a stream). A missing time is no evidence either way: in the dev pairs it marks the
# origin (SemEval, UCI), not sameness, so it is not a feature.
FIT_L2 = 0.1
EVENT_CUT = 0.6
THREAD_CUT = 0.6
CV_FOLDS = 5
CV_REPEATS = 5


@dataclass(frozen=True, slots=True)
class LevelFit:
    """One level's fitted model and its held-out figures (repeated stratified folds)."""

    model: SameEventModel
    precision: float
    recall: float
    f1: float
    pairs: int
    by_origin: Mapping[str, tuple[float, float, float, int]]


def fit_level(
    rows: Sequence[Sequence[float]],
    gaps: Sequence[float | None],
    labels: Sequence[bool],
    origins: Sequence[str],
    window_h: float,
    cut: float,
) -> LevelFit:
    """Fit one level's logistic weights on all pairs; report them under cross-validation."""
    import numpy as np

    from monitor.calibrate import fit_logistic, score_predictions, stratified_folds

    features, actual = np.array(rows, dtype=np.float64), np.array(labels, dtype=bool)
    inside = np.array([g is None or g <= window_h for g in gaps])
    held_out = np.zeros(len(actual))
    for seed in range(CV_REPEATS):
        fold_of = stratified_folds(actual, CV_FOLDS, seed)
        for fold in range(CV_FOLDS):
            test = fold_of == fold
            w, b = fit_logistic(features[~test], actual[~test], FIT_L2)
            held_out[test] += 1 / (1 + np.exp(-(features[test] @ w + b))) / CV_REPEATS
    predicted = (held_out >= cut) & inside
    overall = score_predictions(list(predicted), list(actual))
    by_origin = {}
    for origin in sorted(set(origins)):
        mask = np.array([o == origin for o in origins])
        s = score_predictions(list(predicted[mask]), list(actual[mask]))
        by_origin[origin] = (s.precision, s.recall, s.f1, int(mask.sum()))
    weights, bias = fit_logistic(features, actual, FIT_L2)
    model = SameEventModel(
        {name: round(float(w), 4) for name, w in zip(FEATURES, weights, strict=True)},
        round(bias, 4),
        cut,
        window_h,
    )
    return LevelFit(model, overall.precision, overall.recall, overall.f1, len(actual), by_origin)


def parse_published(value: object) -> datetime | None:
    """`YYYY-MM-DDTHH:MM:SSZ`, or a bare day (read as its noon, UTC); anything else: None."""
    from datetime import UTC

    if not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 10:
            return datetime.fromisoformat(f"{value}T12:00:00+00:00")
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def side_evidence(side: Mapping[str, object]) -> Evidence:
    return gather_evidence(str(side.get("title") or ""), str(side.get("text") or ""))


def pair_gap_h(pair: Mapping[str, Mapping[str, object]]) -> float | None:
    return gap_hours(
        parse_published(pair["a"].get("published")), parse_published(pair["b"].get("published"))
    )


def fit_story_models(
    pairs: Sequence[Mapping[str, object]],
    cosines: Sequence[float],
    event_window_h: float,
    thread_window_h: float,
) -> dict[str, LevelFit]:
    """Both levels fitted on the pairs labelled at that level (`same_event`, `same_thread`)."""
    fits = {}
    for level, label, window, cut in (
        ("event", "same_event", event_window_h, EVENT_CUT),
        ("thread", "same_thread", thread_window_h, THREAD_CUT),
    ):
        chosen = [i for i, p in enumerate(pairs) if isinstance(p.get(label), bool)]
        sides = [pairs[i] for i in chosen]
        gaps = [pair_gap_h(p) for p in sides]  # type: ignore[arg-type]
        rows = feature_rows(
            [cosines[i] for i in chosen],
            gaps,
            [(side_evidence(p["a"]), side_evidence(p["b"])) for p in sides],  # type: ignore[arg-type]
        )
        labels = [bool(p[label]) for p in sides]
        origins = [str(p.get("origin", "-")) for p in sides]
        fits[level] = fit_level(rows, gaps, labels, origins, window, cut)
    return fits


@dataclass(frozen=True, slots=True)
class PairDecision:
    similarity: float
    event_probability: float
    same_event: bool
    same_thread: bool


def decide_pair(
    models: StoryModels, pair: Mapping[str, Mapping[str, object]], cosine: float
) -> PairDecision:
    """Both levels for one labelled-file pair `{a: {title, text, published?}, b: {…}}`."""
    gap = pair_gap_h(pair)
    a, b = side_evidence(pair["a"]), side_evidence(pair["b"])
    p_event = same_event_probability(models.event, cosine, gap, a, b)
    same_event = p_event >= models.event.threshold
    same_thread = same_event or is_same_event(models.thread, cosine, gap, a, b)
    return PairDecision(cosine, p_event, same_event, same_thread)
