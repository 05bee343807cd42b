"""Calibration helpers: F1 counts, AUC, and the threshold calibration used by `eval same-story`."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.calibrate import calibrate_threshold, roc_auc, score_predictions


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
