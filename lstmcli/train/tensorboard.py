"""TensorBoard logs of a run: step-axis scalars and an HParams summary, through TensorBoard's own APIs.

Keras's TensorBoard callback names its scalars `epoch_loss` and files validation under "validation"
whatever the set is; our loop returns to Python per chunk of steps, so it writes with `tf.summary`
directly: one writer per set (train, validation, test), plain tag names on an x-axis of steps, and the
hyperparameters and final metrics with `tensorboard.plugins.hparams`, so `tensorboard --logdir runs`
compares runs side by side in its HParams dashboard.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lstmcli import runtime
from lstmcli.train.config import TrainConfig

# Row columns -> (writer, tag): the loss and each task's figure (lstmcli.tasks: Task.metric) of each set.
SETS = {"train": "train", "val": "validation", "test": "test"}
FIGURES = ("loss", "accuracy", "mse", "recall_accuracy")
SCALARS = {
    **{f"{prefix}_{figure}": (writer, figure) for prefix, writer in SETS.items() for figure in FIGURES},
    "learning_rate": ("train", "learning_rate"),
}
# Final metrics the HParams dashboard shows per run (tags written by log_final, in the run's root folder).
FINAL_METRICS = ("test_accuracy", "test_loss", "best_val_accuracy", "test_mse", "test_recall_accuracy", "best_val",
                 "parameters", "seconds")  # fmt: skip


def hparams_of(config: TrainConfig) -> dict[str, Any]:
    """The configuration flattened to the scalar types HParams accepts."""
    flat = {**{f"model.{k}": v for k, v in config.to_dict()["model"].items()}, **config.to_dict()}
    flat.pop("model")
    return {k: v for k, v in flat.items() if isinstance(v, (bool, int, float, str))}


class TensorBoardLog:
    """Writes each history row's scalars at its step; opened for the length of a fit."""

    def __init__(self, log_dir: Path, run_name: str, config: TrainConfig) -> None:
        self.tf = runtime.tensorflow()
        self.log_dir, self.run_name, self.config = log_dir, run_name, config
        self.writers: dict[str, Any] = {}

    @contextlib.contextmanager
    def open(self) -> Iterator[TensorBoardLog]:
        from tensorboard.plugins.hparams import api as hp

        root = self.tf.summary.create_file_writer(str(self.log_dir))
        with root.as_default():
            hp.hparams_config(
                hparams=[hp.HParam(name) for name in hparams_of(self.config)],
                metrics=[hp.Metric(f"final/{name}", display_name=name) for name in FINAL_METRICS],
            )
            hp.hparams(hparams_of(self.config), trial_id=self.run_name)
        root.flush()
        try:
            yield self
        finally:
            for writer in self.writers.values():
                writer.close()
            root.close()

    def _writer(self, name: str) -> Any:
        if name not in self.writers:
            self.writers[name] = self.tf.summary.create_file_writer(str(self.log_dir / name))
        return self.writers[name]

    def __call__(self, row: dict[str, Any]) -> None:
        for column, (writer, tag) in SCALARS.items():
            if row.get(column) is not None:
                with self._writer(writer).as_default():
                    self.tf.summary.scalar(tag, row[column], step=int(row["step"]))


def log_final(log_dir: Path, metrics: dict[str, Any]) -> None:
    """The test set's one evaluation under test/, and the final metrics under the tags HParams reads."""
    tf = runtime.tensorflow()
    step = int(metrics["steps"])
    final = [(log_dir, {f"final/{name}": metrics.get(name) for name in FINAL_METRICS})]
    if metrics["eval_set"] != "test":  # otherwise the loop's rows already put the test set under test/
        tested = {figure: metrics.get(f"test_{figure}") for figure in FIGURES}
        final.append((log_dir / "test", tested))
    for folder, values in final:
        writer = tf.summary.create_file_writer(str(folder))
        with writer.as_default():
            for tag, value in values.items():
                if value is not None:
                    tf.summary.scalar(tag, float(value), step=step)
        writer.close()
