"""What a task is: the data a model reads, the head it needs, the figure it is judged by and what chance scores.

Plain data and NumPy only (no TensorFlow): `params --task` and the run's records read a task without building
anything. A generated example is a pure function of (the task's seed, its stream, its index): the randomness of
example i comes from its own NumPy Generator, seeded through SeedSequence's spawn key (stream, i), so an example
is the same whichever batch asks for it, in whichever order, after any resume, and the training, validation and
test streams are independent by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lstmcli.errors import FieldError, UsageError
from lstmcli.model.spec import HEADS

Source = Literal["mnist", "generated"]
Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")

# Longest generated sequence accepted at all: a hundred times the longest published setting (T = 1000 for the
# copy task). Whether a model of a given size trains at a length is the memory check's question, not this one.
MAX_LENGTH = 100_000


@dataclass(frozen=True)
class Baseline:
    """What a predictor that remembers nothing scores: the loss, and the task's own metric."""

    loss: float
    metric: float
    how: str  # the predictor, in words, for the reports that set a figure beside it


@dataclass(frozen=True)
class Streams:
    """Sizes of a generated task's three disjoint streams of examples (indices 0..size-1 of each)."""

    train: int
    validation: int
    test: int

    def size(self, split: Split) -> int:
        return {"train": self.train, "validation": self.validation, "test": self.test}[split]


@dataclass(frozen=True)
class Task:
    """One task at one length and seed, as a run records it and the model factory reads it.

    kind is the head the model needs (ModelSpec.head): "classify" (a class from the last step), "regress" (a
    number from the last step) or "sequence" (a class at every step). loss and metric name the figures: the loss
    is what training minimises; `objective` is what a comparison or a sweep ranks by, in `direction`.
    """

    name: str
    kind: str
    source: Source
    features: int
    steps: int
    outputs: int
    loss: str
    metric: str
    objective: str
    direction: Literal["maximize", "minimize"]
    baseline: Baseline
    length: int | None = None  # the --length T of a generated task; None for the MNIST tasks
    seed: int = 0  # the generated examples', or the permutation's, seed
    streams: Streams | None = None  # generated tasks only

    def __post_init__(self) -> None:
        if self.kind not in HEADS:
            raise ValueError(f"task kind {self.kind!r} is not one of the model's heads {HEADS}")

    @property
    def generated(self) -> bool:
        return self.source == "generated"

    def model_fields(self) -> dict[str, int | str]:
        """The ModelSpec fields this task decides: ModelSpec(**task.model_fields(), units=..., cell=...)."""
        return {"input_size": self.features, "timesteps": self.steps, "classes": self.outputs, "head": self.kind}

    def summarize(self, outputs: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
        """The task's figures of a model's outputs: `loss`, the task's `metric` (accuracy, mse, recall_accuracy)
        and what goes with it (per-class scores for a classifier, the fraction of the baseline for the others)."""
        from lstmcli import metrics
        from lstmcli.tasks.generated import RECALLED

        if self.kind == "classify":
            return metrics.summarize(outputs, targets)
        if self.kind == "regress":
            return metrics.regression_summary(outputs, targets, self.baseline.loss)
        return metrics.sequence_summary(outputs, targets, self.baseline.loss, RECALLED)

    def better(self, value: float, than: float | None) -> bool:
        """Whether `value` of the objective beats `than` (None: nothing to beat), in the task's direction."""
        return than is None or (value > than if self.direction == "maximize" else value < than)

    def examples(self, split: Split, indices: np.ndarray | range | list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Inputs (len, steps, features) float32 and targets of the examples `indices` of `split`."""
        from lstmcli.tasks import generated

        if not self.generated or self.streams is None or self.length is None:
            raise UsageError(f"task {self.name} reads MNIST; it has no generated examples")
        index = checked_indices(indices, self.streams.size(split), split)
        return generated.GENERATORS[self.name](self.seed, SPLITS.index(split), index, self.length)


def checked_indices(indices: np.ndarray | range | list[int], size: int, split: str) -> np.ndarray:
    """`indices` as int64, refused where any falls outside the stream (a stream never wraps silently)."""
    index = np.asarray(indices, dtype=np.int64).reshape(-1)
    if index.size and (index.min() < 0 or index.max() >= size):
        raise UsageError(f"the {split} stream holds examples 0..{size - 1}; asked for {index.min()}..{index.max()}")
    return index


def check_length(name: str, length: int | None, low: int) -> int:
    """A generated task's length: a whole number from `low` (its definition's least) to MAX_LENGTH."""
    if length is None:
        raise FieldError("length", f"task {name} needs a {{length}} (its sequences' length T)")
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)):
        raise FieldError("length", f"{{length}} must be a whole number, got {length!r}")
    if length < low:
        raise FieldError("length", f"{{length}} must be at least {low} for task {name}, got {length}")
    if length > MAX_LENGTH:
        raise FieldError("length", f"{{length}} is {length:,}; task {name} takes at most {MAX_LENGTH:,} steps")
    return int(length)


def check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise FieldError("task_seed", f"{{task_seed}} must be a whole number, at least 0, got {seed!r}")
    return int(seed)
