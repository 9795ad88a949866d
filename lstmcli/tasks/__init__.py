"""The task suite: the article's row-by-row MNIST, and the classic tasks that tell recurrent cells apart.

* rows: each MNIST image read row by row, 28 steps of 28 pixels (the article's task);
* pixels: sequential MNIST, pixel by pixel, 784 steps of 1;
* permuted: the same under one fixed permutation of the 784 pixels drawn from the task's seed;
* adding: the adding problem (Hochreiter and Schmidhuber, 1997, as Arjovsky, Shah and Bengio define it, 2016);
* copy: the copy-memory task (Arjovsky, Shah and Bengio, 2016);
* sequences: the user's own (N, T, F) sequences from a file (lstmcli.tasks.sequences), classified or regressed.

`task(name, length=..., seed=...)` gives one :class:`Task`; its training defaults (learning rate, batch, length,
steps) live with the presets (lstmcli.train.presets.TASK_DEFAULTS), not here. The sequences task takes its shape
and head from its file: `sequences.classify` or `sequences.regress` makes it once the file is read.
"""

from __future__ import annotations

import math
from dataclasses import replace

from lstmcli.errors import FieldError
from lstmcli.tasks import generated, mnist, sequences
from lstmcli.tasks.base import MAX_LENGTH, SEED_LIMIT, SPLITS, Baseline, Split, Streams, Task, check_length, check_seed

NAMES = ("rows", "pixels", "permuted", "adding", "copy", sequences.NAME)
# The tasks that draw something from their seed: a permutation, or every example.
SEEDED_TASKS = ("permuted", "adding", "copy")
# The tasks read from a file of the user's: their shape is the file's, known once it is read.
FILE_TASKS = (sequences.NAME,)
MNIST_CLASSES = 10

# The generated tasks' streams: training examples enough that a default run sees each a few times at most,
# a validation stream for the periodic evaluation and a test stream measured once at the end.
GENERATED_STREAMS = Streams(train=100_000, validation=1_000, test=2_000)
# The least length each generated task's definition allows: the adding problem needs a step in each half; the
# copy task's T - 1 blanks may be none.
MIN_LENGTH = {"adding": 2, "copy": 1}

__all__ = [
    "FILE_TASKS", "MAX_LENGTH", "MIN_LENGTH", "NAMES", "SEED_LIMIT", "SPLITS", "Baseline", "Split", "Streams", "Task",
    "generated", "mnist", "sequences", "task",
]  # fmt: skip


def _classifier(name: str, steps: int, features: int) -> Task:
    chance = Baseline(math.log(MNIST_CLASSES), 1 / MNIST_CLASSES, "a uniform guess among the 10 digits")
    return Task(name, "classify", "mnist", features, steps, MNIST_CLASSES, "cross_entropy", "accuracy",
                "accuracy", "maximize", chance)  # fmt: skip


def _adding(length: int, seed: int) -> Task:
    # Always predicting 1, the mean of the target: its MSE is the target's variance, 2 x 1/12 (two uniforms).
    baseline = Baseline(1 / 6, 1 / 6, "always predicting 1, the mean of the sum")
    return Task("adding", "regress", "generated", 2, length, 1, "mse", "mse", "mse", "minimize", baseline,
                length, seed, GENERATED_STREAMS)  # fmt: skip


def _copy(length: int, seed: int) -> Task:
    steps = length + 2 * generated.RECALLED
    # Blanks until the delimiter has passed, then a uniform guess among the 8 symbols at each recalled step.
    loss = generated.RECALLED * math.log(generated.SYMBOLS) / steps
    baseline = Baseline(loss, 1 / generated.SYMBOLS, "blanks, then a uniform guess among the 8 symbols")
    return Task("copy", "sequence", "generated", generated.COPY_INPUTS, steps, generated.COPY_OUTPUTS,
                "cross_entropy", "recall_accuracy", "loss", "minimize", baseline, length, seed,
                GENERATED_STREAMS)  # fmt: skip


def task(name: str, length: int | None = None, seed: int = 0) -> Task:
    """The task `name`; a generated one at `length` (required), `seed` its examples' (or the permutation's) seed.

    A length with an MNIST task is refused: those tasks have the length of their images.
    """
    if name not in NAMES:
        raise FieldError("task", f"unknown {{task}} {name!r}; choose one of {', '.join(NAMES)}")
    seed = check_seed(seed)
    if name in FILE_TASKS:
        raise FieldError(
            "task", f"task {name} takes its shape (T steps of F features) and its head from its {{data}} file; read "
            "the file to make it (lstmcli.tasks.sequences)"
        )
    if name in MIN_LENGTH:
        length = check_length(name, length, MIN_LENGTH[name])
        return _adding(length, seed) if name == "adding" else _copy(length, seed)
    if length is not None:
        raise FieldError(
            "length", f"{{length}} applies to the generated tasks (adding, copy); task {name} reads MNIST images"
        )
    if name == "rows":
        return _classifier(name, mnist.SIDE, mnist.SIDE)
    chosen = _classifier(name, mnist.PIXELS, 1)
    return chosen if name == "pixels" else replace(chosen, seed=seed)
