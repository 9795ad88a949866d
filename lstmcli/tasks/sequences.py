"""The user's own sequences: the task a file's shape and labels make, and the standardisation of its features.

A file of (N, T, F) sequences is a task only once it is read: its T and F are the model's input, integer labels
make a last-step classifier (as many classes as the labels imply) and float targets a last-step regressor. The
features are standardised, each with the mean and standard deviation of the examples the run trains on (never the
validation or test examples), so a feature in the thousands and one in thousandths start on equal terms; the run
stores these statistics (data.json) and `train --resume` and `eval` apply the stored ones.

Regression targets are not standardised: the MSE a run reports, and the baseline beside it (always predicting
the training targets' mean), stay in the user's own units, as the adding problem's do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lstmcli.errors import DataError
from lstmcli.tasks.base import Baseline, Task

NAME = "sequences"
KINDS = ("classify", "regress")


def kind_of(labels: np.ndarray) -> str:
    """Integer labels are classes; float ones are targets (the dtype says which, whatever the values)."""
    return "regress" if labels.dtype.kind == "f" else "classify"


@dataclass(frozen=True)
class Statistics:
    """Each feature's mean and standard deviation over the training examples (a constant feature's std is 1)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def of(cls, x: np.ndarray) -> Statistics:
        """Over every step of every example of `x` (N, T, F), in float64: float32 sums drift over many values."""
        flat = np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1])
        mean, std = flat.mean(axis=0), flat.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        return cls(tuple(float(v) for v in mean), tuple(float(v) for v in std))

    def apply(self, x: np.ndarray, what: str) -> np.ndarray:
        """(x - mean) / std in float32; values that would overflow float32 on the way are refused in one line
        (NumPy would only warn and go on with infinities)."""
        if x.shape[-1] != len(self.mean):
            raise DataError(f"{what} has {x.shape[-1]} features but the run's statistics are of {len(self.mean)}")
        try:
            with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
                mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
                return (x.astype(np.float32) - mean) / std
        except FloatingPointError:
            raise DataError(
                f"{what}: its values cannot be standardised in float32 (they overflow it); rescale them first"
            ) from None


def classify(steps: int, features: int, classes: int) -> Task:
    """A last-step classifier; chance is a uniform guess among the classes, as for MNIST."""
    chance = Baseline(math.log(classes), 1 / classes, f"a uniform guess among the {classes} classes")
    return Task(NAME, "classify", "file", features, steps, classes, "cross_entropy", "accuracy", "accuracy",
                "maximize", chance)  # fmt: skip


def regress(steps: int, features: int, target_mean: float, y_test: np.ndarray, what: str) -> Task:
    """A last-step regressor of one target, judged by its MSE beside always predicting the training mean."""
    baseline_mse = float(np.mean((np.asarray(y_test, dtype=np.float64) - target_mean) ** 2))
    if not baseline_mse > 0:  # nothing to learn, and no baseline to set a figure against
        raise DataError(
            f"{what}: every test target equals the training targets' mean; a regression needs targets that vary"
        )
    how = f"always predicting {target_mean:.6g}, the training targets' mean"
    return Task(NAME, "regress", "file", features, steps, 1, "mse", "mse", "mse", "minimize",
                Baseline(baseline_mse, baseline_mse, how))  # fmt: skip
