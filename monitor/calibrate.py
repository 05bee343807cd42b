"""Calibration of the relevance weights: L2-regularised logistic regression (Newton steps),
cross-validated probabilities and the F1-best threshold, and `fit_relevance`, the whole fit from
labelled items to a model, with held-out decisions under random and leave-one-source-out folds.
Pure: values in, values out (numpy); no file, no clock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from monitor.gazetteer import Gazetteer
from monitor.relevance import (
    FEATURES,
    RelevanceModel,
    extract_features,
    gather_evidence,
    roundup_parts,
)

Matrix = npt.NDArray[np.float64]
NEWTON_STEPS = 50
# L2 strength of the relevance fit, chosen by cross-validated F1 on the dev set.
RELEVANCE_L2 = 0.33
# The relevance threshold maximises F-beta at this beta: under leave-one-source-out CV on the
# 1,706 labelled items, 0.8 rather than 1 raised precision 0.849 → 0.877 and F1 0.879 → 0.882
# (unseen outlets cost precision more than recall; an alert that is noise costs the analyst).
RELEVANCE_THRESHOLD_BETA = 0.8


@dataclass(frozen=True, slots=True)
class BinaryScores:
    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int


def score_predictions(predicted: Sequence[bool], actual: Sequence[bool]) -> BinaryScores:
    pairs = [(bool(p), bool(a)) for p, a in zip(predicted, actual, strict=True)]
    tp = sum(p and a for p, a in pairs)
    fp = sum(p and not a for p, a in pairs)
    fn = sum(a and not p for p, a in pairs)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return BinaryScores(round(precision, 4), round(recall, 4), round(f1, 4), tp, fp, fn)


def fit_logistic(
    features: Matrix, labels: npt.NDArray[np.bool_], l2: float | Matrix
) -> tuple[Matrix, float]:
    """Weights and bias minimising log-loss + l2/2·|w|² (the bias is not penalised); `l2`
    is one strength for every column or one per column."""
    rows, columns = features.shape
    design = np.hstack([features, np.ones((rows, 1))])
    target = labels.astype(np.float64)
    penalty = np.diag(np.r_[np.broadcast_to(np.asarray(l2, dtype=np.float64), (columns,)), 0.0])
    theta = np.zeros(columns + 1)
    for _ in range(NEWTON_STEPS):
        probability = 1.0 / (1.0 + np.exp(-(design @ theta)))
        gradient = design.T @ (probability - target) + penalty @ theta
        hessian = (design * (probability * (1 - probability))[:, None]).T @ design + penalty
        step = np.linalg.solve(hessian + 1e-9 * np.eye(columns + 1), gradient)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return theta[:-1], float(theta[-1])


def stratified_folds(labels: npt.NDArray[np.bool_], folds: int, seed: int) -> npt.NDArray[np.int_]:
    """Each item's fold number, with positives and negatives spread evenly over the folds."""
    order = np.random.default_rng(seed).permutation(len(labels))
    fold_of = np.empty(len(labels), dtype=int)
    for label in (False, True):
        members = order[labels[order] == label]
        fold_of[members] = np.arange(len(members)) % folds
    return fold_of


def cross_validated_probabilities(
    features: Matrix, labels: npt.NDArray[np.bool_], l2: float, folds: int = 5, seed: int = 0
) -> Matrix:
    """Each item's probability from a model that did not see it (stratified folds)."""
    fold_of = stratified_folds(labels, folds, seed)
    probabilities = np.zeros(len(labels))
    for fold in range(folds):
        held_out = fold_of == fold
        weights, bias = fit_logistic(features[~held_out], labels[~held_out], l2)
        probabilities[held_out] = 1.0 / (1.0 + np.exp(-(features[held_out] @ weights + bias)))
    return probabilities


def best_threshold(scores: Matrix, labels: npt.NDArray[np.bool_], beta: float = 1.0) -> float:
    """The cut that maximises F-beta (F1 by default; beta < 1 favours precision; ties: the one
    nearest 0.5), to three decimals.

    Cuts lie halfway between neighbouring scores rather than on a score itself, which carries
    over better to items not seen here.
    """
    values = np.unique(scores).astype(np.float64)
    midpoints = (values[1:] + values[:-1]) / 2 if len(values) > 1 else values
    candidates: Matrix = np.unique(
        np.round(np.r_[np.floor(values[:1] * 1000) / 1000, midpoints], 3)
    )
    quality = f1_at_thresholds(scores, labels, candidates, beta)
    best = np.lexsort((-np.abs(candidates - 0.5), quality))[-1]
    return float(candidates[best])


def f1_at_thresholds(
    scores: Matrix, labels: npt.NDArray[np.bool_], thresholds: Matrix, beta: float = 1.0
) -> Matrix:
    """F-beta (F1 by default) of deciding `score >= threshold`, for each threshold at once."""
    positives, negatives = np.sort(scores[labels]), np.sort(scores[~labels])
    tp = len(positives) - np.searchsorted(positives, thresholds, side="left")
    fp = len(negatives) - np.searchsorted(negatives, thresholds, side="left")
    fn = len(positives) - tp
    weight = beta * beta
    denominator = (1 + weight) * tp + weight * fn + fp
    return np.where(denominator > 0, (1 + weight) * tp / np.maximum(denominator, 1), 0.0)


@dataclass(frozen=True, slots=True)
class ThresholdCalibration:
    """How well one score separates the labels, and where to cut it."""

    best_threshold: float
    f1_at_best: float
    cross_validated_f1: float
    auc: float | None  # None: the labels hold one class only


def calibrate_threshold(
    scores: Matrix, labels: npt.NDArray[np.bool_], folds: int = 5, seed: int = 0
) -> ThresholdCalibration:
    """The F1-best cut on these labels, and the F1 to expect from a cut chosen this way.

    The cross-validated F1 decides each fold at the threshold that was best on the other folds,
    so it estimates the F1 of a recalibrated threshold on pairs it was not chosen on.
    """
    threshold = best_threshold(scores, labels)
    auc = roc_auc(scores, labels)
    fold_of = stratified_folds(labels, folds, seed)
    predicted = np.zeros(len(labels), dtype=bool)
    for fold in range(folds):
        held_out = fold_of == fold
        predicted[held_out] = scores[held_out] >= best_threshold(
            scores[~held_out], labels[~held_out]
        )
    return ThresholdCalibration(
        best_threshold=round(threshold, 3),
        f1_at_best=score_predictions(list(scores >= threshold), list(labels)).f1,
        cross_validated_f1=score_predictions(list(predicted), list(labels)).f1,
        auc=None if auc is None else round(auc, 4),
    )


def roc_auc(scores: Matrix, labels: npt.NDArray[np.bool_]) -> float | None:
    """The chance that a random positive scores above a random negative (ties count half);
    None without a positive or without a negative."""
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if not positives or not negatives:
        return None
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    tied_rank = np.cumsum(counts) - (counts - 1) / 2.0  # average 1-based rank of each value
    positive_rank_sum = float(tied_rank[inverse][labels].sum())
    return (positive_rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


MULTIPLE_PART_ROUNDS = 3  # refits that re-pick each roundup's best part under the last fit
INNER_FOLDS = 5


@dataclass(frozen=True, slots=True)
class RelevanceFit:
    """Weights fitted on every item, and what to expect of them on unseen ones: each item decided
    by a model fitted without it, at the threshold chosen (by inner folds) without it, under
    random stratified folds and leaving out one source at a time."""

    model: RelevanceModel
    random_fold_predictions: tuple[bool, ...]
    source_fold_predictions: tuple[bool, ...]
    random_fold_f1: float
    source_fold_f1: float
    l2: float

    @property
    def cross_validated_predictions(self) -> tuple[bool, ...]:
        return self.random_fold_predictions

    @property
    def cross_validated_f1(self) -> float:
        return self.random_fold_f1


Parts = Sequence[Matrix]  # per item: one row of FEATURES per part (a roundup has several)


def relevance_parts(
    gazetteer: Gazetteer, items: Sequence[tuple[str, str]], similarities: Sequence[float]
) -> list[Matrix]:
    """Per (title, summary): one row of FEATURES per part the tagger judges (see assess)."""
    return [
        np.array(
            [
                [
                    extract_features(gather_evidence(gazetteer, pt, ps), similarity)[f]
                    for f in FEATURES
                ]
                for pt, ps in roundup_parts(gazetteer, t, s)
            ]
        )
        for (t, s), similarity in zip(items, similarities, strict=True)
    ]


def relevance_features(
    gazetteer: Gazetteer, items: Sequence[tuple[str, str]], similarities: Sequence[float]
) -> Matrix:
    """One row of FEATURES per (title, summary) read whole, given its nearest-seed similarity."""
    return np.array(
        [
            [extract_features(gather_evidence(gazetteer, t, s), similarity)[f] for f in FEATURES]
            for (t, s), similarity in zip(items, similarities, strict=True)
        ]
    )


def part_probabilities(parts: Parts, weights: Matrix, bias: float) -> Matrix:
    """Each item's probability: that of its best part, as `assess` decides."""
    return np.array([float((1.0 / (1.0 + np.exp(-(p @ weights + bias)))).max()) for p in parts])


def fit_parts(parts: Parts, labels: npt.NDArray[np.bool_], l2: float) -> tuple[Matrix, float]:
    """Logistic fit where each item counts by its best part: fit on the whole-text rows first,
    then re-pick every item's best part under the fit and refit, a few rounds."""
    rows = np.array([p[0] for p in parts])
    weights, bias = fit_logistic(rows, labels, l2)
    if all(len(p) == 1 for p in parts):
        return weights, bias
    for _ in range(MULTIPLE_PART_ROUNDS):
        rows = np.array([p[int(np.argmax(p @ weights))] for p in parts])
        weights, bias = fit_logistic(rows, labels, l2)
    return weights, bias


def held_out_decisions(
    parts: Parts, labels: npt.NDArray[np.bool_], fold_of: npt.NDArray[np.int_], l2: float
) -> npt.NDArray[np.bool_]:
    """Each item decided by a model fitted on the other folds, cut at the threshold that inner
    stratified folds of those other folds chose: nothing about the item or its fold is used."""
    decided = np.zeros(len(labels), dtype=bool)
    for fold in np.unique(fold_of):
        train = np.flatnonzero(fold_of != fold)
        test = np.flatnonzero(fold_of == fold)
        train_parts = [parts[int(i)] for i in train]
        inner = stratified_folds(labels[train], INNER_FOLDS, 0)
        inner_probabilities = np.zeros(len(train))
        for k in range(INNER_FOLDS):
            fitted = [train_parts[i] for i in np.flatnonzero(inner != k)]
            weights, bias = fit_parts(fitted, labels[train][inner != k], l2)
            held = [train_parts[i] for i in np.flatnonzero(inner == k)]
            inner_probabilities[inner == k] = part_probabilities(held, weights, bias)
        threshold = best_threshold(inner_probabilities, labels[train], RELEVANCE_THRESHOLD_BETA)
        weights, bias = fit_parts(train_parts, labels[train], l2)
        decided[test] = (
            part_probabilities([parts[int(i)] for i in test], weights, bias) >= threshold
        )
    return decided


def group_folds(groups: Sequence[str]) -> npt.NDArray[np.int_]:
    """One fold per distinct group (source), numbered in sorted order."""
    return np.unique(np.array(groups, dtype=str), return_inverse=True)[1].astype(int)


def fit_relevance(
    gazetteer: Gazetteer,
    items: Sequence[tuple[str, str]],
    similarities: Sequence[float],
    labels: Sequence[bool],
    groups: Sequence[str] | None = None,
    l2: float = RELEVANCE_L2,
) -> RelevanceFit:
    """Features → logistic fit → held-out decisions under random and leave-one-source-out folds
    → the threshold (from random-fold probabilities) and the weights fitted on everything."""
    parts = relevance_parts(gazetteer, items, similarities)
    actual = np.array(labels, dtype=bool)
    random_folds = stratified_folds(actual, INNER_FOLDS, 0)
    random_probabilities = np.zeros(len(actual))
    for fold in range(INNER_FOLDS):
        held = random_folds == fold
        weights, bias = fit_parts(
            [p for p, h in zip(parts, held, strict=True) if not h], actual[~held], l2
        )
        random_probabilities[held] = part_probabilities(
            [p for p, h in zip(parts, held, strict=True) if h], weights, bias
        )
    threshold = best_threshold(random_probabilities, actual, RELEVANCE_THRESHOLD_BETA)
    random_decisions = held_out_decisions(parts, actual, random_folds, l2)
    source_decisions = (
        held_out_decisions(parts, actual, group_folds(groups), l2)
        if groups is not None and len(set(groups)) > 1
        else random_decisions
    )
    weights, bias = fit_parts(parts, actual, l2)
    return RelevanceFit(
        model=RelevanceModel(
            dict(zip(FEATURES, map(float, weights), strict=True)), bias, threshold
        ),
        random_fold_predictions=tuple(bool(d) for d in random_decisions),
        source_fold_predictions=tuple(bool(d) for d in source_decisions),
        random_fold_f1=score_predictions(list(random_decisions), list(actual)).f1,
        source_fold_f1=score_predictions(list(source_decisions), list(actual)).f1,
        l2=l2,
    )
