"""One run's TensorFlow side: the compiled step, its checkpoint, the evaluations and the final save.

lstmcli.train.run decides what happens (start, resume, lock, signals); a Session does it, so that the
objects that must agree (model, optimiser, checkpoint, data) are made in one place.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lstmcli import rundir
from lstmcli.data import Dataset
from lstmcli.model.count import count
from lstmcli.train.checkpoint import Checkpoint, RunState
from lstmcli.train.config import TrainConfig
from lstmcli.train.loop import Schedule, fit
from lstmcli.train.reporter import Reporter
from lstmcli.train.step import CompiledStep


class Session:
    """Builds the model and step for `config` on `data`, and trains, evaluates and saves them in `run`."""

    def __init__(self, config: TrainConfig, data: Dataset, run: Path, reporter: Reporter) -> None:
        from lstmcli.evaluate import make_predictor

        self.config, self.data, self.run, self.reporter = config, data, run, reporter
        train_size = len(data.y_train)
        self.spec = config.model_spec(data.timesteps, data.features, data.classes)
        self.schedule = Schedule(
            total=config.total_steps(train_size),
            eval_every=config.eval_period(train_size),
            checkpoint_every=config.checkpoint_every,
            epoch_steps=train_size / config.batch_size,
        )
        self.step = CompiledStep(config, self.spec, data, self.schedule.total)
        self.checkpoint = Checkpoint(run, self.step.model, self.step.optimizer, data)
        self.predict = make_predictor(self.step.model, data.scale)

    def begin(self) -> RunState:
        state = RunState()
        self.checkpoint.save(state)
        return state

    def restore(self) -> RunState:
        state = self.checkpoint.load()
        state.history = [r for r in state.history if r["step"] <= state.step]
        rundir.write_history(self.run / rundir.HISTORY, state.history)
        self.reporter.message(f"resuming {self.run} at step {state.step} of {self.schedule.total}")
        return state

    def test_metrics(self) -> dict[str, Any]:
        from lstmcli.metrics import summarize

        return summarize(self.predict(self.data.x_test), self.data.y_test)

    def _held_out(self) -> dict[str, float]:
        result = self.test_metrics()
        return {"test_loss": result["loss"], "test_accuracy": result["accuracy"]}

    def fit(self, state: RunState, stop_requested: Callable[[], bool], tensorboard: Path | None) -> RunState:
        def on_row(row: dict[str, Any]) -> None:
            self.reporter.evaluated(int(row["step"]), row["epoch"], row["test_accuracy"], row["test_loss"])
            rundir.write_history(self.run / rundir.HISTORY, state.history)
            if log is not None:
                log(row)

        with contextlib.ExitStack() as stack:
            log = None
            if tensorboard is not None:
                from lstmcli.train.tensorboard import TensorBoardLog

                log = stack.enter_context(TensorBoardLog(self.step.model, self.step.optimizer, tensorboard).open())
            stack.callback(self.reporter.stop)
            return fit(self.step, self.checkpoint, state, self.schedule, self._held_out, self.reporter,
                       stop_requested, on_row)  # fmt: skip

    def finish(self, state: RunState) -> dict[str, Any]:
        """Save the model and the final metrics; the run is complete once metrics.json exists."""
        result = self.test_metrics()
        with rundir.atomic_path(self.run / rundir.MODEL) as tmp:
            self.step.model.save(tmp)
        history = state.history
        metrics = {
            "steps": state.step,
            "epochs": round(self.schedule.epoch(state.step), 4),
            "seconds": round(state.elapsed, 3),
            "parameters": count(self.spec).total,
            "keras_parameters": int(self.step.model.count_params()),
            "test_loss": result["loss"],
            "test_accuracy": result["accuracy"],
            "macro_f1": result["macro_f1"],
            "best_test_accuracy": max([r["test_accuracy"] for r in history] or [result["accuracy"]]),
            "first_step_at_98": next((int(r["step"]) for r in history if r["test_accuracy"] >= 0.98), None),
            "seconds_to_98": next((r["seconds"] for r in history if r["test_accuracy"] >= 0.98), None),
            "model_spec": self.spec.to_dict(),
        }
        rundir.write_json(self.run / rundir.METRICS, metrics)
        return metrics
