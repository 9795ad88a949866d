"""The regression and per-step figures of lstmcli.metrics, on hand-made cases and against Keras's own losses.

(The classification figures are tested with `eval` in test_eval.py.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lstmcli import metrics
from lstmcli.tasks import generated, task


def test_mse_and_fraction_of_baseline() -> None:
    targets = np.array([[1.0], [0.5], [2.0]], dtype=np.float32)
    predicted = np.array([[1.0], [1.5], [1.0]], dtype=np.float32)
    summary = metrics.regression_summary(predicted, targets, baseline=1 / 6)
    assert summary["mse"] == summary["loss"] == pytest.approx(2 / 3)
    assert summary["fraction_of_baseline"] == pytest.approx(4.0)
    assert summary["samples"] == 3 and summary["baseline_mse"] == 1 / 6
    with pytest.raises(ValueError, match="do not match"):
        metrics.mean_squared_error(predicted[:, 0], targets)


def test_the_adding_baseline_predictor_scores_a_fraction_of_about_one() -> None:
    t = task("adding", length=10)
    _, y = t.examples("test", range(2_000))
    summary = metrics.regression_summary(np.ones_like(y), y, t.baseline.metric)
    assert summary["fraction_of_baseline"] == pytest.approx(1.0, abs=0.1)


def copy_probs(y: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Probabilities that put 0.9 on the target where `right` and on a wrong class elsewhere."""
    classes = generated.COPY_OUTPUTS
    chosen = np.where(right, y, (y + 1) % classes)
    probs = np.full((*y.shape, classes), 0.1 / (classes - 1))
    np.put_along_axis(probs, chosen[..., None], 0.9, axis=-1)
    return probs


def test_recall_accuracy_counts_only_the_recalled_symbols() -> None:
    t = task("copy", length=5)
    _, y = t.examples("test", range(40))
    right = np.ones(y.shape, dtype=bool)
    right[:, -10:-5] = False  # half the recalled symbols wrong; every blank right
    summary = metrics.sequence_summary(copy_probs(y, right), y, t.baseline.loss, generated.RECALLED)
    assert summary["recall_accuracy"] == 0.5
    assert summary["step_accuracy"] == pytest.approx(1 - 5 / t.steps)
    expected = -(right * math.log(0.9) + ~right * math.log(0.1 / 8)).mean()
    assert summary["loss"] == pytest.approx(expected)
    assert summary["fraction_of_baseline"] == pytest.approx(expected / t.baseline.loss)


def test_losses_equal_keras() -> None:
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    t = task("copy", length=3)
    _, y = t.examples("train", range(16))
    logits = rng.normal(size=(*y.shape, t.outputs))
    probs = (np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)).astype(np.float32)
    probs[0, 0] = [1.0] + [0.0] * 8  # a certain prediction: both clip it the same way
    keras_ce = float(keras.losses.SparseCategoricalCrossentropy()(y, probs))
    assert metrics.sequence_cross_entropy(probs, y) == pytest.approx(keras_ce, rel=1e-5)
    predicted, targets = rng.normal(size=(50, 1)), rng.normal(size=(50, 1))
    keras_mse = float(keras.losses.MeanSquaredError()(targets, predicted))
    assert metrics.mean_squared_error(predicted, targets) == pytest.approx(keras_mse, rel=1e-5)
