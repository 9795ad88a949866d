"""The examples a run reads, as its task reads them: MNIST images in the task's order, or generated sequences.

Every task comes as one :class:`~lstmcli.datasets.Dataset`, so that training, `eval` and `gates` read a test set
the same way whatever the task. An MNIST task's arrays are the images (rows as they are, or pixel sequences);
a generated task's training arrays are empty (its training examples are generated batch by batch from the
task's stream, lstmcli.train.step) and its test arrays are the task's test stream, a pure function of the task.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from lstmcli import datasets
from lstmcli.tasks import Task, mnist


def generated_dataset(task: Task) -> datasets.Dataset:
    """A generated task's test stream, with empty training arrays of the right shape and dtype."""
    assert task.streams is not None  # a generated task always has its streams
    x_test, y_test = task.examples("test", range(task.streams.test))
    return datasets.Dataset(
        x_train=np.zeros((0, *x_test.shape[1:]), dtype=x_test.dtype),
        y_train=np.zeros((0, *y_test.shape[1:]), dtype=y_test.dtype),
        x_test=x_test,
        y_test=y_test,
        classes=task.outputs,
        source=f"generated {task.name} task (T={task.length}, seed {task.seed})",
    )


def task_data(task: Task, path: str | None, classes: int | None) -> datasets.Dataset:
    """The data of `task`: generated, or MNIST (`path`, else the bundled copy) read in the task's order."""
    if task.generated:
        return generated_dataset(task)
    data = datasets.load(path, classes)
    if task.name == "rows":
        return data
    return replace(
        data,
        x_train=mnist.sequences(task.name, data.x_train, task.seed),
        x_test=mnist.sequences(task.name, data.x_test, task.seed),
    )


def validation_examples(task: Task) -> tuple[np.ndarray, np.ndarray]:
    """A generated task's validation stream, whole (it is small: the periodic evaluation reads all of it)."""
    assert task.streams is not None
    return task.examples("validation", range(task.streams.validation))
