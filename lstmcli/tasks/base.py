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

Source = Literal["mnist", "generated", "file"]
Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")

# Longest generated sequence accepted at all: a hundred times the longest published setting (T = 1000 for the
# copy task). Whether a model of a given size trains at a length is the memory check's question, not this one.
MAX_LENGTH = 100_000
# Every seed, a run's and a task's, is below this: TensorFlow takes its op seeds as 32-bit signed integers.
SEED_LIMIT = 2**31


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
    length: int | None = None  # the --length T of a generated task; None for the MNIST tasks and a file's
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
        if not isinstance(split, str) or split not in SPLITS:
            raise UsageError(f"a task's split is one of {', '.join(SPLITS)}, got {split!r}")
        index = checked_indices(indices, self.streams.size(split), split)
        return generated.GENERATORS[self.name](self.seed, SPLITS.index(split), index, self.length)


def checked_indices(indices: np.ndarray | range | list[int], size: int, split: str) -> np.ndarray:
    """`indices` as int64, refused unless every one is a whole number inside the stream: a stream never wraps,
    and a float or a bool is never rounded into an index."""
    where = f"the {split} stream holds examples 0..{size - 1}"
    if isinstance(indices, np.ndarray):
        if indices.ndim != 1 or (indices.size and indices.dtype.kind not in "iu"):
            raise UsageError(f"{where}; the indices must be a flat array of whole numbers, got {indices.dtype}")
        low, high = (int(indices.min()), int(indices.max())) if indices.size else (0, 0)
    elif isinstance(indices, (range, list, tuple)):
        if not all(isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)) for i in indices):
            raise UsageError(f"{where}; the indices must be whole numbers")
        low, high = (int(min(indices)), int(max(indices))) if len(indices) else (0, 0)
    else:
        raise UsageError(f"{where}; give their indices as a list, range or array, got {type(indices).__name__}")
    if len(indices) and (low < 0 or high >= size):
        raise UsageError(f"{where}; asked for {low}..{high}")
    return np.asarray(indices, dtype=np.int64)


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
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < SEED_LIMIT:
        raise FieldError("task_seed", f"{{task_seed}} must be a whole number from 0 to {SEED_LIMIT - 1}, got {seed!r}")
    return int(seed)
