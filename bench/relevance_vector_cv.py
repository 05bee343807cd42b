"""Is the sentence vector worth adding to the relevance model? Held-out figures of the evidence
model alone and with the article's multilingual sentence vector, under leave-one-source-out and
random stratified 5-fold CV.

For the labelled relevance files (default: dev.jsonl, dev2.jsonl, dev_es.jsonl of the shared eval
folder) it encodes every item once with the default encoder (USE multilingual, the text
`monitor.tagging.embedding_text` gives, as the product embeds it; cached under CACHE, keyed by the
texts) and prints F1 / precision / recall, clear items and per language for:

- evidence: the shipped features alone (`monitor.calibrate.held_out_decisions`);
- vector only: a ridge logistic over the 512-d vector;
- evidence + 512-d: one logistic over both, the vector's columns under their own (strong) L2;
- evidence + PCA k: the top k principal directions of the training fold's vectors (standardised);
- stacked: a vector-only logistic's log-odds as one more evidence feature, the training items'
  log-odds held out by inner source-grouped folds (so the evidence model learns how far the
  vector carries to unseen outlets), the test items' from the whole training fold;
- stacked on both sides: the same with the vector model fitted only on items that name both sides
  and its log-odds counted only there (it has to tell relations from co-occurrence, not sides).

Each held-out item is decided by models fitted without it, cut at a threshold chosen by inner
folds without it, as `monitor eval fit-relevance` reports it. The vector's L2 is a grid printed
line by line: choosing it on these lines is optimistic for the vector.

Run: .venv/bin/python bench/relevance_vector_cv.py [--files F...] [--cache DIR] [--only NAME...]
Measured 2026-12-02 (1,706 items, 23 sources, LOSO): evidence F1 0.907 P 0.896 es 0.872; vector
only 0.68-0.71; evidence + 512-d 0.895-0.906 (P 0.877-0.887); PCA 8/32 0.883-0.897; stacked
0.895-0.901; stacked on both sides 0.905-0.910 (P 0.882-0.895, es 0.861-0.868). Random folds
rise where LOSO falls (topic memorisation), so the vector is not shipped. Against the v2.2
features (LOSO 0.912 P 0.904): stacked on both sides 0.912-0.913 (P 0.901), evidence + 512-d
0.910 (P 0.890) while its random-fold F1 rises 0.912 -> 0.920.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import monitor.calibrate as calibrate
from monitor.calibrate import best_threshold, group_folds, stratified_folds
from monitor.embed import USE_MULTILINGUAL, open_embedder
from monitor.evaluation import read_jsonl, source_group
from monitor.gazetteer import load_gazetteer
from monitor.relevance import FEATURES
from monitor.relevance_files import load_seed_index
from monitor.tagging import embedding_text

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "eval" / "relevance"
GAZETTEER = ROOT / "config" / "gazetteer"
SEEDS = ROOT / "config" / "seeds" / "russia-latam"
L2 = calibrate.RELEVANCE_L2
BOTH = FEATURES.index("both_sides")
Array = np.ndarray


def encoded(records: Sequence[dict[str, Any]], cache: Path) -> tuple[Array, Array]:
    """Each item's sentence vector and nearest-seed similarity (cached by the texts)."""
    texts = [
        embedding_text(str(r.get("title") or ""), str(r.get("summary") or "")) for r in records
    ]
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = cache / f"vectors-{key}.npz"
    if not path.exists():
        embedder = open_embedder(USE_MULTILINGUAL)
        vectors = embedder.embed(texts)
        nearest = load_seed_index(SEEDS, embedder, cache).nearest(vectors)
        cache.mkdir(parents=True, exist_ok=True)
        sims = np.array([n.similarity if n else 0.0 for n in nearest])
        np.savez(path, vectors=vectors, similarities=sims)
    data = np.load(path)
    return data["vectors"].astype(np.float64), data["similarities"]


def fit(features: Array, labels: Array, penalty: Array) -> tuple[Array, float]:
    """`calibrate.fit_logistic` with one L2 strength per column."""
    return calibrate.fit_logistic(features, labels, penalty)


def fit_parts(parts: Sequence[Array], labels: Array, penalty: Array) -> tuple[Array, float]:
    """`calibrate.fit_parts` with one L2 strength per column."""
    rows = np.array([p[0] for p in parts])
    weights, bias = fit(rows, labels, penalty)
    if all(len(p) == 1 for p in parts):
        return weights, bias
    for _ in range(calibrate.MULTIPLE_PART_ROUNDS):
        rows = np.array([p[int(np.argmax(p @ weights))] for p in parts])
        weights, bias = fit(rows, labels, penalty)
    return weights, bias


def decide(
    parts: Sequence[Array], labels: Array, train: Array, test: Array, penalty: Array
) -> Array:
    """The test items decided by a fit on the training items, at the threshold inner stratified
    folds of the training items chose (as `calibrate.held_out_decisions` does per fold)."""
    train_parts = [parts[int(i)] for i in train]
    inner = stratified_folds(labels[train], calibrate.INNER_FOLDS, 0)
    inner_probabilities = np.zeros(len(train))
    for k in range(calibrate.INNER_FOLDS):
        weights, bias = fit_parts(
            [train_parts[i] for i in np.flatnonzero(inner != k)], labels[train][inner != k], penalty
        )
        held = [train_parts[i] for i in np.flatnonzero(inner == k)]
        inner_probabilities[inner == k] = calibrate.part_probabilities(held, weights, bias)
    threshold = best_threshold(
        inner_probabilities, labels[train], calibrate.RELEVANCE_THRESHOLD_BETA
    )
    weights, bias = fit_parts(train_parts, labels[train], penalty)
    test_parts = [parts[int(i)] for i in test]
    return calibrate.part_probabilities(test_parts, weights, bias) >= threshold


def group_kfold(groups: Sequence[str], folds: int = 5) -> Array:
    names = sorted(set(groups))
    order = np.random.default_rng(0).permutation(len(names))
    fold_of = {names[j]: k % folds for k, j in enumerate(order)}
    return np.array([fold_of[g] for g in groups])


class Study:
    def __init__(self, records: Sequence[dict[str, Any]], vectors: Array, sims: Array) -> None:
        items = [(str(r.get("title") or ""), str(r.get("summary") or "")) for r in records]
        self.records = records
        self.vectors = vectors
        self.labels = np.array([r["label"] == 1 for r in records])
        self.groups = [source_group(r) for r in records]
        self.parts = calibrate.relevance_parts(load_gazetteer(GAZETTEER), items, list(sims))
        self.both = np.array([p[:, BOTH].max() > 0 for p in self.parts])
        self.evidence_penalty = np.full(len(FEATURES), L2)

    def per_fold(self, fold_of: Array, decide_fold: Callable[[Array, Array], Array]) -> Array:
        decided = np.zeros(len(self.labels), dtype=bool)
        for fold in np.unique(fold_of):
            train, test = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
            decided[test] = decide_fold(train, test)
        return decided

    def evidence(self, fold_of: Array) -> Array:
        return calibrate.held_out_decisions(self.parts, self.labels, fold_of, L2)

    def vector_only(self, fold_of: Array, l2: float) -> Array:
        parts = [v[None, :] for v in self.vectors]
        penalty = np.full(self.vectors.shape[1], l2)
        return self.per_fold(fold_of, lambda tr, te: decide(parts, self.labels, tr, te, penalty))

    def with_columns(self, columns: Array) -> list[Array]:
        return [
            np.hstack([p, np.repeat(columns[i][None, :], len(p), 0)])
            for i, p in enumerate(self.parts)
        ]

    def concatenated(self, fold_of: Array, l2: float) -> Array:
        parts = self.with_columns(self.vectors)
        penalty = np.r_[self.evidence_penalty, np.full(self.vectors.shape[1], l2)]
        return self.per_fold(fold_of, lambda tr, te: decide(parts, self.labels, tr, te, penalty))

    def projected(self, fold_of: Array, rank: int, l2: float) -> Array:
        def decide_fold(train: Array, test: Array) -> Array:
            mean = self.vectors[train].mean(0)
            directions = np.linalg.svd(self.vectors[train] - mean, full_matrices=False)[2][:rank]
            projection = (self.vectors - mean) @ directions.T
            parts = self.with_columns(projection / projection[train].std(0))
            penalty = np.r_[self.evidence_penalty, np.full(rank, l2)]
            return decide(parts, self.labels, train, test, penalty)

        return self.per_fold(fold_of, decide_fold)

    def stacked(self, fold_of: Array, l2: float, both_only: bool) -> Array:
        def decide_fold(train: Array, test: Array) -> Array:
            log_odds = np.zeros(len(self.labels))
            inner = group_kfold([self.groups[int(i)] for i in train])
            penalty = np.full(self.vectors.shape[1], l2)
            for k in np.unique(inner):
                fitted = train[(inner != k) & (self.both[train] | (not both_only))]
                weights, bias = fit(self.vectors[fitted], self.labels[fitted], penalty)
                held = train[inner == k]
                log_odds[held] = self.vectors[held] @ weights + bias
            fitted = train[self.both[train] | (not both_only)]
            weights, bias = fit(self.vectors[fitted], self.labels[fitted], penalty)
            log_odds[test] = self.vectors[test] @ weights + bias
            parts = [
                np.hstack([p, (log_odds[i] * (p[:, BOTH] if both_only else 1.0)).reshape(-1, 1)])
                for i, p in enumerate(self.parts)
            ]
            return decide(parts, self.labels, train, test, np.r_[self.evidence_penalty, L2])

        return self.per_fold(fold_of, decide_fold)

    def figures(self, predicted: Array) -> str:
        labels = self.labels
        clear = np.array([not r.get("ambiguous") for r in self.records])
        languages = np.array([str(r.get("lang")) for r in self.records])
        overall = calibrate.score_predictions(list(predicted), list(labels))
        line = f"F1 {overall.f1:.3f} P {overall.precision:.3f} R {overall.recall:.3f}"
        clear_f1 = calibrate.score_predictions(list(predicted[clear]), list(labels[clear])).f1
        line += f" clear {clear_f1:.3f}"
        for language in ("en", "es", "pt", "ru"):
            chosen = languages == language
            f1 = calibrate.score_predictions(list(predicted[chosen]), list(labels[chosen])).f1
            line += f" {language} {f1:.3f}"
        return line


def variants(study: Study) -> dict[str, Callable[[Array], Array]]:
    found: dict[str, Callable[[Array], Array]] = {"evidence": study.evidence}
    for l2 in (0.1, 0.3):
        found[f"vector only L2 {l2}"] = lambda f, l2=l2: study.vector_only(f, l2)
    for l2 in (1.0, 3.0):
        found[f"evidence + 512-d L2v {l2}"] = lambda f, l2=l2: study.concatenated(f, l2)
    for rank in (8, 32):
        found[f"evidence + PCA {rank} L2v 30"] = lambda f, r=rank: study.projected(f, r, 30.0)
    for l2 in (0.3, 1.0):
        found[f"stacked L2v {l2}"] = lambda f, l2=l2: study.stacked(f, l2, both_only=False)
        found[f"stacked on both sides L2v {l2}"] = lambda f, l2=l2: study.stacked(f, l2, True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = [SHARED / n for n in ("dev.jsonl", "dev2.jsonl", "dev_es.jsonl")]
    parser.add_argument("--files", nargs="+", type=Path, default=default)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/monitor-relevance-cv"))
    parser.add_argument("--only", nargs="+")
    args = parser.parse_args()
    records = [r for f in args.files for r in read_jsonl(f) if r.get("label") in (0, 1)]
    study = Study(records, *encoded(records, args.cache))
    print(f"{len(records)} labelled items, {len(set(study.groups))} sources")
    folds = {
        "LOSO": group_folds(study.groups),
        "random": stratified_folds(study.labels, 5, 0),
    }
    for name, run in variants(study).items():
        if args.only and name not in args.only:
            continue
        for fold_name, fold_of in folds.items():
            print(f"{name:34} {fold_name:6} {study.figures(run(fold_of))}", flush=True)


if __name__ == "__main__":
    main()
