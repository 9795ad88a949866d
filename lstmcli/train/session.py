"""One run's TensorFlow side: the split, the compiled step, its checkpoint, the evaluations, the final save.

lstmcli.train.runner decides what happens (start, resume, lock, signals); a Session does it, so that the
objects that must agree (model, optimiser, checkpoint, data, split) are made in one place.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli import atomic
from lstmcli.datasets import arrays_sha256
from lstmcli.model.count import count
from lstmcli.model.predict import make_predictor
from lstmcli.rundir import RunFolder
from lstmcli.schemas import TaskInfo, TrainMetrics
from lstmcli.train.checkpoint import Checkpoint, RunState
from lstmcli.train.examples import validation_examples
from lstmcli.train.loop import fit
from lstmcli.train.plan import Plan
from lstmcli.train.reporter import Reporter
from lstmcli.train.split import holdout
from lstmcli.train.step import CompiledStep
from lstmcli.train.tensorboard import TensorBoardLog, log_final

# Which columns an evaluation fills, by the set it measures.
PREFIX = {"validation": "val", "test": "test"}


class Session:
    """Builds the model and step of a plan (its config on its data), and trains, evaluates and saves them in `run`."""

    def __init__(self, plan: Plan, run: Path, reporter: Reporter) -> None:
        from lstmcli import runtime

        reporter.phase("loading TensorFlow")
        runtime.tensorflow()  # the imports on their own, so that the phase below is only the build
        import keras  # noqa: F401
        reporter.phase("building the model")
        config, data = plan.config, plan.data
        self.config, self.data, self.run, self.reporter = config, data, run, reporter
        self.spec, self.timeline, self.task = plan.spec, plan.timeline, plan.task
        generate = None
        if plan.task.generated:  # its own validation stream; training batches generated chunk by chunk
            self.validation = validation_examples(plan.task)
            held_out = arrays_sha256(*self.validation, layout=True)
            training = data
            generate = partial(plan.task.examples, "train")
        else:
            split = holdout(data.y_train, plan.held_out, config.seed)
            self.validation = (data.x_train[split.validation], data.y_train[split.validation])
            training = replace(data, x_train=data.x_train[split.train], y_train=data.y_train[split.train])
            held_out = split.fingerprint()
        self.step = CompiledStep(config, self.spec, training, self.timeline.total, generate, plan.train_size)
        self.checkpoint = Checkpoint(run, self.step.model, self.step.optimizer, data, held_out, config.to_dict())
        self.predict = make_predictor(self.step.model, data.scale)

    def begin(self) -> RunState:
        state = RunState(towers=self.step.towers)
        self.checkpoint.save(state)
        return state

    def restore(self) -> RunState:
        state = self.checkpoint.load()
        if state.towers is not None and state.towers != self.step.towers:
            self.reporter.message(
                f"the run split each batch {state.towers} ways and this machine would split it {self.step.towers}; "
                f"keeping {state.towers} so that the result is exactly the uninterrupted run's"
            )
            self.step.towers = state.towers  # before the first call traces the step
        state.towers = self.step.towers
        state.history = [r for r in state.history if r["step"] <= state.step]
        RunFolder(self.run).write_history(state.history)
        self.reporter.message(f"resuming {self.run} at step {state.step} of {self.timeline.total}")
        return state

    def measure(self, which: str) -> dict[str, Any]:
        """The task's figures (lstmcli.tasks: Task.summarize) of the current weights on the validation or test set."""
        x, y = self.validation if which == "validation" else (self.data.x_test, self.data.y_test)
        return self.task.summarize(self.predict(x), y)

    def _evaluate(self, state: RunState) -> dict[str, float]:
        """The held-out columns of a history row; tracks the best validation evaluation (and its weights) by the
        task's objective, in its direction."""
        which, figure = self.config.eval_set, self.task.metric
        if which == "validation" and not len(self.validation[1]):
            return {}
        result = self.measure(which)
        prefix = PREFIX[which]
        self.reporter.evaluated(state.step, state.step / self.timeline.epoch_steps, which, result[figure],
                                result["loss"])  # fmt: skip
        value = result[self.task.objective]
        if which == "validation" and self.task.better(value, state.best_accuracy):
            state.best_accuracy, state.best_step = value, state.step
            if self.config.keep == "best":
                state.best_weights = [np.array(v) for v in self.step.model.get_weights()]
        return {f"{prefix}_loss": result["loss"], f"{prefix}_{figure}": result[figure]}

    def fit(
        self,
        state: RunState,
        stop_requested: Callable[[], bool],
        tensorboard: Path | None,
        on_evaluation: Callable[[int, float], None] | None = None,
    ) -> RunState:
        def on_saved(saved: RunState) -> None:
            RunFolder(self.run).write_history(saved.history)

        with contextlib.ExitStack() as stack:
            on_row: Callable[[dict[str, Any]], None] = lambda row: None  # noqa: E731
            if tensorboard is not None:
                on_row = stack.enter_context(TensorBoardLog(tensorboard, self.run.name, self.config).open())
            stack.callback(self.reporter.stop)
            return fit(self.step, self.checkpoint, state, self.timeline, self._evaluate, self.reporter,
                       stop_requested, on_row, on_saved, on_evaluation, self.task.metric,
                       f"val_{self.task.objective}")  # fmt: skip


def finish(session: Session, state: RunState, tensorboard: Path | None) -> TrainMetrics:
    """Save the kept model and the final metrics (the test set's only use); complete once metrics.json exists."""
    session.reporter.phase("measuring the test set, saving the model")
    kept_step = state.step
    if session.config.keep == "best" and state.best_weights is not None:
        session.step.model.set_weights(state.best_weights)
        kept_step = state.best_step or state.step
    test = session.measure("test")
    with atomic.atomic_path(RunFolder(session.run).model) as tmp:
        session.step.model.save(tmp)
    metrics = final_metrics(session, state, test, kept_step)
    if state.history and kept_step == state.step:
        figure = session.task.metric
        state.history[-1].update({"test_loss": test["loss"], f"test_{figure}": test[figure]})
        RunFolder(session.run).write_history(state.history)
    if tensorboard is not None:
        log_final(tensorboard, metrics.model_dump())
    RunFolder(session.run).write_metrics(metrics.model_dump())
    return metrics


def final_metrics(session: Session, state: RunState, test: dict[str, Any], kept_step: int) -> TrainMetrics:
    """metrics.json: what the run reached, the test set's one evaluation, and what it was measured on.

    A classifier's figures are the accuracies (and the target's first step); another task's are its own
    (the MSE, the recalled symbols' accuracy) beside its baseline, in `task`. The article's task writes no
    `task`, so its metrics.json stays what it was.
    """
    history, target, task = state.history, session.config.target_accuracy, session.task
    classify = task.kind == "classify"
    column = f"{PREFIX[session.config.eval_set]}_accuracy"
    reached = next((r for r in history if r.get(column, -1.0) >= target), None) if classify else None
    last_val = next((r for r in reversed(history) if "val_loss" in r), {})
    return TrainMetrics(
        steps=state.step,
        epochs=round(session.timeline.epoch(state.step), 4),
        seconds=round(state.elapsed, 3),
        parameters=count(session.spec).total,
        keras_parameters=int(session.step.model.count_params()),
        seed=session.config.seed,
        validation_images=len(session.validation[1]),
        eval_set=session.config.eval_set,
        keep=session.config.keep,
        kept_step=kept_step,
        test_loss=test["loss"],
        test_accuracy=test.get("accuracy"),
        test_macro_f1=test.get("macro_f1"),
        val_loss=last_val.get("val_loss"),
        val_accuracy=last_val.get("val_accuracy"),
        best_val_accuracy=state.best_accuracy if classify else None,
        best_val_step=state.best_step,
        target_accuracy=target,
        target_set=session.config.eval_set,
        target_step=None if reached is None else int(reached["step"]),
        target_seconds=None if reached is None else reached["seconds"],
        model=session.spec,
        task=None if task.name == "rows" else TaskInfo.of(task),
        test_mse=test.get("mse"),
        val_mse=last_val.get("val_mse"),
        test_recall_accuracy=test.get("recall_accuracy"),
        val_recall_accuracy=last_val.get("val_recall_accuracy"),
        best_val=None if classify else state.best_accuracy,
    )
