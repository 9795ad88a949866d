"""Classification figures from predicted probabilities: NumPy only, so they are cheap to test exactly."""

from __future__ import annotations

from typing import Any

import numpy as np

# Keras clips probabilities to [eps, 1 - eps] in categorical cross-entropy; do the same so the loss
# reported here equals Keras's evaluate() on the same predictions.
EPSILON = 1e-7


def cross_entropy(probs: np.ndarray, labels: np.ndarray) -> float:
    p = probs / probs.sum(axis=1, keepdims=True)
    p = np.clip(p[np.arange(len(labels)), labels], EPSILON, 1 - EPSILON)
    return float(-np.log(p).mean())


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    return np.bincount(labels * classes + predicted, minlength=classes * classes).reshape(classes, classes)


def summarize(probs: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Loss, accuracy, per-class precision/recall/F1 and the confusion matrix, as plain JSON-able data."""
    classes = probs.shape[1]
    predicted = probs.argmax(axis=1)
    matrix = confusion_matrix(labels, predicted, classes)
    true_pos = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted_count = matrix.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted_count > 0, true_pos / predicted_count, 0.0)
        recall = np.where(support > 0, true_pos / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    per_class = [
        {
            "class": c,
            "precision": float(precision[c]),
            "recall": float(recall[c]),
            "f1": float(f1[c]),
            "support": int(support[c]),
        }
        for c in range(classes)
    ]
    return {
        "samples": len(labels),
        "loss": cross_entropy(probs, labels),
        "accuracy": float((predicted == labels).mean()),
        "macro_f1": float(f1.mean()),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }


def mean_squared_error(predicted: np.ndarray, targets: np.ndarray) -> float:
    """The MSE over every target, computed in float64 (Keras's MeanSquaredError on the same arrays)."""
    p, t = np.asarray(predicted, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"predictions of shape {p.shape} do not match targets of shape {t.shape}")
    return float(np.mean((p - t) ** 2))


def regression_summary(predicted: np.ndarray, targets: np.ndarray, baseline: float) -> dict[str, Any]:
    """MSE and its fraction of the memoryless baseline's: the adding problem is read against that fraction."""
    mse = mean_squared_error(predicted, targets)
    return {"samples": len(targets), "loss": mse, "mse": mse, "baseline_mse": baseline,
            "fraction_of_baseline": mse / baseline}  # fmt: skip


def sequence_cross_entropy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Cross-entropy averaged over every step of every sequence: (N, T, C) probabilities, (N, T) labels."""
    return cross_entropy(probs.reshape(-1, probs.shape[-1]), labels.reshape(-1))


def recall_accuracy(probs: np.ndarray, labels: np.ndarray, recalled: int) -> float:
    """The share of the last `recalled` steps predicted right: the copy task's symbols, blanks left out."""
    return float((probs[:, -recalled:].argmax(axis=-1) == labels[:, -recalled:]).mean())


def sequence_summary(probs: np.ndarray, labels: np.ndarray, baseline: float, recalled: int) -> dict[str, Any]:
    """The copy task's figures: loss against the memoryless baseline, and accuracy on the recalled symbols."""
    loss = sequence_cross_entropy(probs, labels)
    return {
        "samples": len(labels),
        "loss": loss,
        "baseline_loss": baseline,
        "fraction_of_baseline": loss / baseline,
        "recall_accuracy": recall_accuracy(probs, labels, recalled),
        "step_accuracy": float((probs.argmax(axis=-1) == labels).mean()),
    }
