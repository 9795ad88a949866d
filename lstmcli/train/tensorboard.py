"""TensorBoard logs of a run, written by Keras's own TensorBoard callback driven from our loop."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class TensorBoardLog:
    """One point per evaluation, at its step.

    The callback expects a compiled model: it reads the learning rate from `model.optimizer`. The
    optimiser is attached only while the log is open, so model.keras stays the same without --tensorboard.
    """

    def __init__(self, model: Any, optimizer: Any, log_dir: Path) -> None:
        import keras

        self.model, self.optimizer = model, optimizer
        self.callback = keras.callbacks.TensorBoard(log_dir=str(log_dir))

    @contextlib.contextmanager
    def open(self) -> Iterator[TensorBoardLog]:
        self.model.optimizer = self.optimizer
        try:
            self.callback.set_model(self.model)
            self.callback.on_train_begin()
            yield self
        finally:
            self.callback.on_train_end()
            del self.model.optimizer

    def __call__(self, row: dict[str, Any]) -> None:
        logs = {"loss": row["train_loss"], "accuracy": row["train_accuracy"]}
        logs.update(val_loss=row["test_loss"], val_accuracy=row["test_accuracy"])
        self.callback.on_epoch_end(int(row["step"]), logs)
