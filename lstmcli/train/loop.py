"""The loop: compiled chunks of steps between the points where Python has something to do.

The loop only fits. It returns to Python at each chunk's end, at every evaluation, every checkpoint
and on a signal; what a run does around it (start, resume, lock, final save) is lstmcli.train.run.
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
class Schedule:
    """When the loop stops for an evaluation or a checkpoint, in steps."""

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
    schedule: Schedule,
    evaluate: Callable[[], dict[str, float]],
    reporter: Reporter,
    stop_requested: Callable[[], bool],
    on_row: Callable[[dict[str, Any]], None],
) -> RunState:
    """Train from state.step to schedule.total; return early (checkpoint saved) when a stop is requested.

    `evaluate` gives the held-out columns of a history row; `on_row` receives each row once it is whole.
    """
    reporter.start(schedule.total, state.step)
    started, start_step, base_elapsed = time.monotonic(), state.step, state.elapsed
    while state.step < schedule.total:
        end = next_boundary(state.step, schedule.total, schedule.eval_every, schedule.checkpoint_every)
        chunk_loss, chunk_correct = step.run(state.step, end - state.step)
        if not math.isfinite(chunk_loss) or not step.weights_finite():
            what = f"the loss became {chunk_loss}" if not math.isfinite(chunk_loss) else "the weights became NaN"
            raise CheckFailed(
                f"{what} between steps {state.step} and {end}; stopped, and the last good checkpoint "
                f"(step {checkpoint.saved_step()}) is kept; try a lower --learning-rate"
            )
        state.add(chunk_loss, chunk_correct, end - state.step)
        state.step = end
        state.elapsed = base_elapsed + time.monotonic() - started
        rate = (state.step - start_step) / max(time.monotonic() - started, 1e-9)
        reporter.advance(state.step, schedule.epoch(state.step), *state.train_means(), rate)
        if state.step % schedule.eval_every == 0 or state.step == schedule.total:
            held_out = evaluate()
            state.elapsed = base_elapsed + time.monotonic() - started
            train_loss, train_accuracy = state.train_means()
            row = {
                "step": state.step,
                "epoch": round(schedule.epoch(state.step), 4),
                "seconds": round(state.elapsed, 3),
                "train_loss": train_loss,
                "train_accuracy": train_accuracy,
                **held_out,
            }
            state.history.append(row)
            state.reset_sums()
            checkpoint.save(state)  # first: history.csv never shows a row the checkpoint does not hold
            on_row(row)
        elif state.step % schedule.checkpoint_every == 0 or stop_requested():
            checkpoint.save(state)
        if stop_requested() and state.step < schedule.total:
            break
    return state
