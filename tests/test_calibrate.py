"""Calibration helpers: F1 counts, AUC, the threshold calibration used by `eval same-story`, and
the relevance fit behind `eval fit-relevance`."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.calibrate import (
    RELEVANCE_L2,
    best_threshold,
    calibrate_threshold,
    cross_validated_probabilities,
    fit_logistic,
    fit_relevance,
    relevance_features,
    roc_auc,
    score_predictions,
)
from monitor.gazetteer import load_gazetteer
from monitor.relevance import FEATURES, NearestSeed, assess
from tests.conftest import PROJECT_ROOT

GAZETTEER = load_gazetteer(PROJECT_ROOT / "config" / "gazetteer")


class TestScorePredictions:
    def test_counts_are_plain_ints_with_numpy_input(self) -> None:
        """numpy booleans give Python ints and floats (the JSON report must serialise them)."""
        scores = score_predictions(list(np.array([True, True, False])), [True, False, True])
        assert (scores.true_positives, scores.false_positives, scores.false_negatives) == (1, 1, 1)
        assert type(scores.true_positives) is int and scores.f1 == 0.5


class TestRocAuc:
    def test_perfect_reversed_and_tied(self) -> None:
        """1 when every positive outranks every negative, 0 when reversed, ties count half."""
        labels = np.array([False, False, True, True])
        assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
        assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), labels) == 0.0
        assert roc_auc(np.full(4, 0.5), labels) == 0.5

    def test_counts_pairs_in_order(self) -> None:
        """Three of the four positive–negative pairs are in order: 0.75."""
        labels = np.array([False, False, True, True])
        assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), labels) == pytest.approx(0.75)

    def test_one_class_has_no_auc(self) -> None:
        """Without a negative (or a positive) the AUC is undefined: None (valid JSON), no crash."""
        assert roc_auc(np.array([0.3, 0.6]), np.array([True, True])) is None
        assert calibrate_threshold(np.array([0.3, 0.6]), np.array([False, False])).auc is None


class TestCalibrateThreshold:
    def test_separable_scores(self) -> None:
        """Separable scores: the cut falls between the classes and every fold gets F1 1."""
        scores = np.r_[np.linspace(0.1, 0.4, 20), np.linspace(0.6, 0.9, 20)]
        labels = np.r_[np.zeros(20, bool), np.ones(20, bool)]
        calibration = calibrate_threshold(scores, labels)
        assert 0.4 < calibration.best_threshold <= 0.6
        assert calibration.f1_at_best == calibration.cross_validated_f1 == 1.0
        assert calibration.auc == 1.0

    def test_cross_validation_is_not_optimistic(self) -> None:
        """On noisy scores the cross-validated F1 does not beat the F1 at the in-sample best cut."""
        rng = np.random.default_rng(7)
        labels = rng.random(300) < 0.5
        scores = labels * 0.25 + rng.random(300)
        calibration = calibrate_threshold(scores, labels)
        assert calibration.cross_validated_f1 <= calibration.f1_at_best
        assert 0.5 < calibration.auc < 1.0


COUNTRIES = ["Venezuela", "Cuba", "Nicaragua", "Brazil", "Mexico", "Peru", "Chile", "Bolivia"]


class TestFitRelevance:
    def items(self) -> tuple[list[tuple[str, str]], list[float], list[bool]]:
        relevant = [(f"Lavrov and the foreign minister of {c} sign a deal", "") for c in COUNTRIES]
        other = [(f"{c} beats Uruguay at football in a friendly", "") for c in COUNTRIES]
        return relevant + other, [0.6] * 8 + [0.2] * 8, [True] * 8 + [False] * 8

    def test_fit_from_labelled_items(self) -> None:
        """Labelled items become a model over every feature whose cross-validated decisions
        separate them, and the F1 reported is the F1 of those decisions."""
        items, similarities, labels = self.items()
        fit = fit_relevance(GAZETTEER, items, similarities, labels)
        assert set(fit.model.weights) == set(FEATURES) and 0 < fit.model.threshold < 1
        assert fit.cross_validated_predictions == tuple(labels)
        assert (
            fit.cross_validated_f1 == score_predictions(fit.cross_validated_predictions, labels).f1
        )
        assert fit.l2 == RELEVANCE_L2
        decided = [
            assess(GAZETTEER, fit.model, title, summary, NearestSeed("s", similarity)).relevant
            for (title, summary), similarity in zip(items, similarities, strict=True)
        ]
        assert decided == labels

    def test_fit_is_the_documented_pipeline(self) -> None:
        """fit_relevance is features → logistic fit → out-of-fold threshold, step by step."""
        items, similarities, labels = self.items()
        matrix = relevance_features(GAZETTEER, items, similarities)
        actual = np.array(labels)
        threshold = best_threshold(
            cross_validated_probabilities(matrix, actual, RELEVANCE_L2), actual
        )
        weights, bias = fit_logistic(matrix, actual, RELEVANCE_L2)
        model = fit_relevance(GAZETTEER, items, similarities, labels).model
        assert (model.threshold, model.bias) == (threshold, bias)
        assert [model.weights[f] for f in FEATURES] == list(weights)


class TestPrecisionWeightedThreshold:
    def test_beta_below_one_cuts_higher_for_precision(self) -> None:
        """F-beta with beta < 1 prefers the cut that keeps only the sure positives; plain F1
        takes the doubtful band of three positives and two negatives too."""
        scores = np.array([0.9, 0.9, 0.9, 0.6, 0.6, 0.6, 0.6, 0.6, 0.1, 0.1])
        labels = np.array([True, True, True, True, True, True, False, False, False, False])
        f1_cut = best_threshold(scores, labels)
        precise_cut = best_threshold(scores, labels, beta=0.5)
        assert f1_cut < 0.6 < precise_cut
