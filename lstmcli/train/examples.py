"""The examples a run reads, as its task reads them: MNIST images in the task's order, generated sequences, or
the user's own sequences standardised with the statistics of the examples the run trains on.

Every task comes as one :class:`~lstmcli.datasets.Dataset`, so that training, `eval` and `gates` read a test set
the same way whatever the task. An MNIST task's arrays are the images (rows as they are, or pixel sequences);
a generated task's training arrays are empty (its training examples are generated batch by batch from the
task's stream, lstmcli.train.step) and its test arrays are the task's test stream, a pure function of the task.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from lstmcli import datasets, files
from lstmcli.errors import DataError, literal
from lstmcli.rundir import RunFolder
from lstmcli.schemas import SequenceData, parse
from lstmcli.tasks import Task, mnist, sequences
from lstmcli.train.split import holdout, validation_size


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


def own_sequences(
    path: str, classes: int | None, validation: float, seed: int, stored: SequenceData | None = None
) -> tuple[datasets.Dataset, Task, SequenceData, int]:
    """The user's sequences for a run: standardised, their task, the record data.json keeps, the count held out.

    A new run computes the statistics on the training examples it trains on (the validation split, drawn as the
    Session draws it, and the test split left out); a resumed one applies the `stored` statistics.
    """
    data = datasets.load_sequences(path, classes)
    held_out = validation_size(validation, len(data.y_train))
    if stored is None:
        trained = holdout(data.y_train, held_out, seed).train
        stats, kind = sequences.Statistics.of(data.x_train[trained]), sequences.kind_of(data.y_train)
        stored = SequenceData(
            kind=kind, steps=data.timesteps, features=data.features, classes=data.classes,
            mean=list(stats.mean), std=list(stats.std),
            target_mean=float(data.y_train[trained].mean(dtype=np.float64)) if kind == "regress" else None,
        )  # fmt: skip
    else:  # what the run stored no longer fits its file: data.json was edited, or the file changed
        check_fits(stored, data, data.source, RESUMED)
    return standardised(data, stored), sequence_task(stored, data), stored, held_out


def stored_record(folder: RunFolder) -> SequenceData | None:
    """The statistics a run on the user's sequences stored (data.json), checked field by field; None where the
    run was stopped before it wrote them (`--resume` computes them again, as the run first computed them)."""
    if files.status(folder.data, str(folder.data), follow=False) is None:
        return None
    return parse(SequenceData, folder.read_data(), str(folder.data))


def judged_sequences(path: str, record: SequenceData) -> tuple[Task, datasets.Dataset]:
    """A file a run on the user's sequences is judged on (`eval --data`), with the run's own statistics: of the
    run's kind and shape, its labels among the run's classes."""
    data = datasets.load_sequences(path, record.classes if record.kind == "classify" else None, record.kind)
    check_fits(record, data, data.source)
    return sequence_task(record, data), standardised(data, record)


JUDGED = "judge it on data of the kind and shape it was trained on"
RESUMED = (
    "resume with the data file and the data.json the run started with (one of them changed), or start again with "
    "{force}"
)


def check_fits(record: SequenceData, data: datasets.Dataset, source: str, then: str = JUDGED) -> None:
    """The file holds sequences of the run's kind (classes or targets) and shape (T steps of F features); `then`
    says what to do when it does not (a template: judge another file, or resume with the run's own)."""
    if sequences.kind_of(data.y_train) != record.kind:
        holds = "float targets" if sequences.kind_of(data.y_train) == "regress" else "integer class labels"
        raise DataError(
            f"{literal(source)}: holds {holds}, but the run's data.json records a {record.kind} run; {then}",
            fields=True,
        )
    if (data.timesteps, data.features) != (record.steps, record.features):
        raise DataError(
            f"{literal(source)}: holds sequences of {data.timesteps} steps of {data.features} features, but the run "
            f"reads {record.steps} steps of {record.features}; {then}",
            fields=True,
        )
    if record.kind == "classify" and data.classes != record.classes:
        raise DataError(f"{literal(source)}: holds {data.classes} classes, but the run's data.json records "
                        f"{record.classes}; {then}", fields=True)  # fmt: skip


def standardised(data: datasets.Dataset, record: SequenceData) -> datasets.Dataset:
    stats = sequences.Statistics(tuple(record.mean), tuple(record.std))
    return replace(data, x_train=stats.apply(data.x_train, f"{data.source}: x_train"),
                   x_test=stats.apply(data.x_test, f"{data.source}: x_test"))  # fmt: skip


def sequence_task(record: SequenceData, data: datasets.Dataset) -> Task:
    """The task of the run's record; a regression's baseline is always predicting the training targets' mean,
    measured on the test targets judged."""
    if record.kind == "classify":
        return sequences.classify(record.steps, record.features, record.classes)
    assert record.target_mean is not None  # SequenceData requires it of a regression
    return sequences.regress(record.steps, record.features, record.target_mean, data.y_test, data.source)
