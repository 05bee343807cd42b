"""How far similarity can take same-story decisions on the labelled dedup pairs.

Prints, for the labelled pairs of FILE (default: ../shared/eval/dedup/pairs_dev.jsonl):

1. each encoder's cosine and the mean of both: F1 at the F1-best threshold, the cross-validated
   F1 of choosing a threshold that way, and the AUC;
2. the cosine adjusted for local density (cos − mean of each side's q-quantile similarity to a
   reference pool: CSLS-style hubness correction), with the pool taken from FILE's own texts and
   from an outside pool of news headlines (../shared/eval/dedup/clusters_uci.jsonl), and the F1
   of the threshold calibrated on the first pool when applied with the second;
3. a logistic combination of cosines (full text and title only) and word overlaps,
   cross-validated;
4. a ceiling for any rule that adapts the threshold to the kind of source: the mean cosine cut
   at each origin's own F1-best threshold, chosen in-sample (optimistic by construction).

Run: .venv/bin/python bench/same_story_study.py [FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from pathlib import Path

import numpy as np

from monitor.calibrate import (
    best_threshold,
    calibrate_threshold,
    cross_validated_probabilities,
    score_predictions,
)
from monitor.embed import MINILM, USE_MULTILINGUAL, Vectors, open_embedder
from monitor.tagging import embedding_text

SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dedup"
QUANTILE = 0.95
WORD = re.compile(r"[^\W\d_]{3,}")


def read_pairs(path: Path) -> list[dict]:
    records = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    return [r for r in records if isinstance(r.get("same_story"), bool)]


def side_texts(pairs: list[dict], side: str, title_only: bool = False) -> list[str]:
    return [
        p[side]["title"] if title_only else embedding_text(p[side]["title"], p[side]["text"])
        for p in pairs
    ]


def density(vectors: Vectors, pool: Vectors) -> np.ndarray:
    """Each vector's q-quantile similarity to the pool (itself and exact copies left out)."""
    similarities = vectors @ pool.T
    return np.array([np.quantile(row[row < 0.999], QUANTILE) for row in similarities])


def f1_at(scores: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    return score_predictions(list(scores >= threshold), list(labels)).f1


def stems(text: str) -> set[str]:
    folded = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return {word[:6] for word in WORD.findall(plain)}


def overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(1, min(len(a), len(b)))


def word_overlaps(pairs: list[dict]) -> np.ndarray:
    rows = []
    for pair in pairs:
        a, b = pair["a"], pair["b"]
        rows.append(
            [
                overlap(stems(a["title"]), stems(b["title"])),
                overlap(stems(a["title"] + " " + a["text"]), stems(b["title"] + " " + b["text"])),
                float(a.get("lang") == b.get("lang")),
            ]
        )
    return np.array(rows)


def report(name: str, scores: np.ndarray, labels: np.ndarray) -> float:
    calibration = calibrate_threshold(scores.astype(np.float64), labels)
    print(
        f"  {name:44} best F1 {calibration.f1_at_best:.3f} @ {calibration.best_threshold:.3f}  "
        f"cross-validated F1 {calibration.cross_validated_f1:.3f}  AUC {calibration.auc:.3f}"
    )
    return calibration.best_threshold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=SHARED / "pairs_dev.jsonl")
    parser.add_argument("--outside-pool", type=Path, default=SHARED / "clusters_uci.jsonl")
    args = parser.parse_args()
    if not args.file.exists():
        sys.exit(f"{args.file} not found: this study needs the labelled pairs in ../shared")
    pairs = read_pairs(args.file)
    labels = np.array([p["same_story"] for p in pairs], dtype=bool)
    outside = [json.loads(line)["title"] for line in args.outside_pool.open(encoding="utf-8")]
    print(f"{args.file.name}: {len(pairs)} labelled pairs ({labels.sum()} same story)")

    cosines: dict[str, np.ndarray] = {}
    adjusted: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for model in (USE_MULTILINGUAL, MINILM):
        embedder = open_embedder(model)
        a, b = embedder.embed(side_texts(pairs, "a")), embedder.embed(side_texts(pairs, "b"))
        cosines[model] = (a * b).sum(axis=1)
        a_title = embedder.embed(side_texts(pairs, "a", title_only=True))
        b_title = embedder.embed(side_texts(pairs, "b", title_only=True))
        cosines[f"{model}, title only"] = (a_title * b_title).sum(axis=1)
        own_pool = np.unique(np.vstack([a, b]), axis=0)
        outside_pool = embedder.embed(outside)
        adjusted[model] = tuple(  # type: ignore[assignment]
            cosines[model] - (density(a, pool) + density(b, pool)) / 2
            for pool in (own_pool, outside_pool)
        )

    print("1. cosine")
    for name, scores in cosines.items():
        report(name, scores, labels)
    mean = (cosines[USE_MULTILINGUAL] + cosines[MINILM]) / 2
    report("mean of both encoders", mean, labels)

    print(f"2. cosine adjusted for local density (q = {QUANTILE})")
    own = (adjusted[USE_MULTILINGUAL][0] + adjusted[MINILM][0]) / 2
    away = (adjusted[USE_MULTILINGUAL][1] + adjusted[MINILM][1]) / 2
    threshold = report(f"pool = {args.file.name} texts", own, labels)
    report(f"pool = {args.outside_pool.name} headlines", away, labels)
    print(
        f"  threshold from the own pool applied with the outside pool: "
        f"F1 {f1_at(away, labels, threshold):.3f}"
    )

    print("3. logistic combination of cosines and word overlaps (5-fold)")
    features = np.column_stack([*cosines.values(), word_overlaps(pairs)])
    probabilities = cross_validated_probabilities(features, labels, l2=1.0)
    report("cosines + overlaps", probabilities, labels)

    print("4. mean cosine, each origin cut at its own in-sample best threshold")
    origins = np.array([p.get("origin", "-") for p in pairs])
    predicted = np.zeros(len(pairs), dtype=bool)
    for origin in sorted(set(origins)):
        members = origins == origin
        cut = best_threshold(mean[members], labels[members])
        predicted[members] = mean[members] >= cut
        print(f"  {origin:10} cut {cut:.3f}  F1 {f1_at(mean[members], labels[members], cut):.3f}")
    overall = score_predictions(list(predicted), list(labels)).f1
    print(f"  overall F1 {overall:.3f}")


if __name__ == "__main__":
    main()
