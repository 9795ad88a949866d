"""The loop: compiled chunks of steps between the points where Python has something to do.

The loop only fits. It returns to Python at each chunk's end, at every evaluation, every checkpoint
and on a signal; what a run does around it (start, resume, lock, final save) is lstmcli.train.runner.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lstmcli.errors import CheckFailed
from lstmcli.train.checkpoint import Checkpoint, RunState
from lstmcli.train.reporter import Reporter
from lstmcli.train.step import CHUNK, CompiledStep


def next_boundary(step: int, total: int, eval_every: int, checkpoint_every: int) -> int:
    """The next step at which the loop returns to Python: chunk end, evaluation, checkpoint or end."""
    candidates = [total]
    for period in (CHUNK, eval_every, checkpoint_every):
        candidates.append((step // period + 1) * period)
    return min(candidates)


@dataclass
class Timeline:
    """When the loop stops for an evaluation or a checkpoint, in steps (the learning-rate schedule is train.step's)."""

    total: int
    eval_every: int
    checkpoint_every: int
    epoch_steps: float  # steps per pass over the training set, for the epoch column

    def epoch(self, step: int) -> float:
        return step / self.epoch_steps


def fit(
    step: CompiledStep,
    checkpoint: Checkpoint,
    state: RunState,
    timeline: Timeline,
    evaluate: Callable[[RunState], dict[str, float]],
    reporter: Reporter,
    stop_requested: Callable[[], bool],
    on_row: Callable[[dict[str, Any]], None],
    on_saved: Callable[[RunState], None],
    on_evaluation: Callable[[int, float], None] | None = None,
    figure: str = "accuracy",
    objective: str = "val_accuracy",
) -> RunState:
    """Train from state.step to timeline.total; return early (checkpoint saved) when a stop is requested.

    Each return to Python appends one history row: the training loss and the task's `figure` (accuracy, mse,
    recall_accuracy) averaged over the chunk just run and the learning rate at its last step; at an evaluation,
    `evaluate(state)` adds the held-out columns. `on_row` receives every row; `on_saved` the state each time its
    checkpoint is on disk; `on_evaluation(step, value)` the `objective` column of each validation evaluation
    once its checkpoint is on disk, so that a caller may stop the run there (a sweep prunes it by raising) and
    leave it resumable.
    """
    reporter.start(timeline.total, state.step, figure)
    started, start_step, base_elapsed = time.monotonic(), state.step, state.elapsed
    while state.step < timeline.total:
        end = next_boundary(state.step, timeline.total, timeline.eval_every, timeline.checkpoint_every)
        chunk_loss, chunk_correct = step.run(state.step, end - state.step)
        evaluated = end % timeline.eval_every == 0 or end == timeline.total
        saving = evaluated or end % timeline.checkpoint_every == 0 or stop_requested()
        # A chunk that ends in a save has its weights checked by Checkpoint.save (once, not twice).
        if not math.isfinite(chunk_loss) or (not saving and not step.weights_finite()):
            what = f"the loss became {chunk_loss}" if not math.isfinite(chunk_loss) else "the weights became NaN"
            raise CheckFailed(
                f"{what} between steps {state.step} and {end}; stopped, and the last good checkpoint "
                f"(step {checkpoint.saved_step()}) is kept; try a lower {{learning_rate}}",
                fields=True,
            )
        state.add(chunk_loss, chunk_correct, end - state.step)
        train_loss, train_accuracy = state.train_means()
        state.step = end
        state.elapsed = base_elapsed + time.monotonic() - started
        rate = (state.step - start_step) / max(time.monotonic() - started, 1e-9)
        reporter.advance(state.step, timeline.epoch(state.step), train_loss, train_accuracy, rate)
        row: dict[str, Any] = {
            "step": state.step,
            "epoch": round(timeline.epoch(state.step), 4),
            "seconds": round(state.elapsed, 3),
            "learning_rate": step.current_learning_rate(state.step - 1),
            "train_loss": train_loss,
            f"train_{figure}": train_accuracy,
        }
        if evaluated:
            row.update(evaluate(state))
            state.elapsed = base_elapsed + time.monotonic() - started
            row["seconds"] = round(state.elapsed, 3)
        state.history.append(row)
        state.reset_sums()
        on_row(row)
        if saving or stop_requested():
            checkpoint.save(state)
            on_saved(state)
        if evaluated and on_evaluation is not None and objective in row:
            on_evaluation(state.step, row[objective])
        if stop_requested() and state.step < timeline.total:
            break
    return state
