"""The training loop: many steps per compiled call, checkpoints that survive kills, exact resume.

Why not `model.fit` or `train_on_batch`? Measured on the 2-core machine (docs/performance.md): a
Python call per step costs about as much as the step itself for this small LSTM, and one chain of
28 dependent small steps cannot keep two cores busy. Here one `tf.function` runs up to CHUNK steps
in a `tf.while_loop`, gathering each batch from the training set already in memory, so Python is
visited once per chunk; and each batch is split into one slice per core ("towers") whose chains
TensorFlow runs side by side. The model is the factory's standard `keras.layers.LSTM` (unrolled over
its 28 steps), the optimiser Keras's Adam and the loss Keras's categorical cross-entropy averaged over
the whole batch: only the loop around them is ours.

The batch order and the learning rate are pure functions of (seed, step), so a run resumed from a
checkpoint at step s computes exactly what the uninterrupted run computed after step s.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import shlex
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from lstmcli import rundir
from lstmcli.cli.progress import Reporter
from lstmcli.data import Dataset
from lstmcli.errors import CheckFailed, DataError, Interrupted, UsageError
from lstmcli.model.count import count
from lstmcli.model.spec import ModelSpec
from lstmcli.train.config import TrainConfig

# Steps per compiled call: long enough that Python overhead vanishes, short enough that the progress
# bar moves and a signal is answered within a fraction of a second.
CHUNK = 50


def batch_indices(config: TrainConfig, train_size: int, start: int, steps: int) -> np.ndarray:
    """Indices of the images in steps start..start+steps-1, shape (steps, batch).

    "sequential" walks the training set in order and wraps around, as the article did; "shuffle" uses
    a fresh permutation per pass, seeded by (seed, pass), so any step's batch can be recomputed.
    """
    positions = start * config.batch_size + np.arange(steps * config.batch_size, dtype=np.int64)
    within = positions % train_size
    if config.order == "sequential":
        return within.reshape(steps, config.batch_size).astype(np.int32)
    passes = positions // train_size
    out = np.empty_like(within)
    for p in np.unique(passes):
        perm = np.random.default_rng([config.seed, int(p)]).permutation(train_size)
        mask = passes == p
        out[mask] = perm[within[mask]]
    return out.reshape(steps, config.batch_size).astype(np.int32)


def split_bounds(size: int, parts: int) -> list[tuple[int, int]]:
    """Split 0..size into at most `parts` contiguous, non-empty, near-equal slices."""
    parts = max(1, min(parts, size))
    edges = [round(i * size / parts) for i in range(parts + 1)]
    return list(itertools.pairwise(edges))


def batch_loss(model: Any, x: Any, y: Any, classes: int, bounds: list[tuple[int, int]]) -> tuple[Any, Any]:
    """Mean categorical cross-entropy and accuracy of one batch, computed tower by tower.

    Each slice of the batch goes through the same model on its own, so TensorFlow can run the slices'
    forward and backward chains on different cores; summing the per-image losses and dividing by the
    batch size gives the same loss, and so the same gradient, as one pass over the whole batch (a test
    checks this against keras.layers.LSTM within 1e-5).
    """
    import keras
    import tensorflow as tf

    losses, hits = [], []
    for start, stop in bounds:
        probs = model(x[start:stop], training=True)
        target = y[start:stop]
        losses.append(tf.reduce_sum(keras.losses.categorical_crossentropy(tf.one_hot(target, classes), probs)))
        right = tf.equal(tf.argmax(probs, axis=1, output_type=tf.int32), target)
        hits.append(tf.reduce_sum(tf.cast(right, tf.float32)))
    size = tf.cast(tf.shape(x)[0], tf.float32)
    return tf.add_n(losses) / size, tf.add_n(hits) / size


def next_boundary(step: int, total: int, eval_every: int, checkpoint_every: int) -> int:
    """The next step at which the loop returns to Python: chunk end, evaluation, checkpoint or end."""
    candidates = [total]
    for period in (CHUNK, eval_every, checkpoint_every):
        candidates.append((step // period + 1) * period)
    return min(candidates)


@dataclass
class RunState:
    """What a checkpoint holds besides the weights."""

    step: int = 0
    elapsed: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    # Sums of the training loss and accuracy since the last evaluation, so that the history row after a
    # resume averages the same steps as the uninterrupted run's row.
    loss_sum: float = 0.0
    correct: float = 0.0
    since_eval: int = 0


def data_fingerprint(data: Dataset) -> str:
    """SHA-256 over the four arrays (dtype, shape, bytes): a resumed run must see the data it started with."""
    digest = hashlib.sha256()
    for array in (data.x_train, data.y_train, data.x_test, data.y_test):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


class StopSignals:
    """Turn SIGINT/SIGTERM into a flag the loop checks between chunks, so the checkpoint is clean."""

    EXIT_CODES: ClassVar[dict[int, int]] = {signal.SIGINT: 130, signal.SIGTERM: 143}

    def __init__(self) -> None:
        self.received: int | None = None

    def _handle(self, signum: int, _frame: object) -> None:
        self.received = signum

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignals]:
        previous = {sig: signal.signal(sig, self._handle) for sig in self.EXIT_CODES}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class Trainer:
    """Owns the model, optimiser and compiled step for one run directory."""

    def __init__(self, config: TrainConfig, data: Dataset, run: Path, reporter: Reporter) -> None:
        from lstmcli import runtime
        from lstmcli.evaluate import make_predictor
        from lstmcli.model.factory import build_model

        self.config, self.data, self.run, self.reporter = config, data, run, reporter
        self.total = config.total_steps(len(data.y_train))
        self.eval_every = config.eval_period(len(data.y_train))
        self.spec: ModelSpec = config.model_spec(data.timesteps, data.features, data.classes)
        self.tf = runtime.tensorflow(seed=config.seed, deterministic=True)
        self.towers = runtime.towers()
        import keras

        self.keras = keras
        self.model = build_model(self.spec)
        self.optimizer = keras.optimizers.Adam(learning_rate=self._learning_rate())
        self.optimizer.build(self.model.trainable_variables)
        self.predict = make_predictor(self.model, data.scale)
        self.data_sha256 = data_fingerprint(data)
        self._x = self.tf.constant(data.x_train)
        self._y = self.tf.constant(data.y_train)
        self._chunk = self._compile_chunk()

    def _learning_rate(self) -> Any:
        if self.config.schedule == "cosine":
            return self.keras.optimizers.schedules.CosineDecay(
                self.config.learning_rate, decay_steps=self.total, alpha=0.02
            )
        return self.config.learning_rate

    def _compile_chunk(self) -> Any:
        tf = self.tf
        model, optimizer, classes, scale = self.model, self.optimizer, self.data.classes, self.data.scale
        variables = model.trainable_variables
        bounds = split_bounds(self.config.batch_size, self.towers)

        # Graph mode, not XLA: measured on 2 cores, XLA's compiled loop ran 470-500 steps/s after a
        # 6 s compile, TensorFlow's executor with two towers on two inter-op threads 620-665 after 1 s.
        @tf.function(jit_compile=False)
        def chunk(x_all: tf.Tensor, y_all: tf.Tensor, idx: tf.Tensor, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            loss_sum = tf.constant(0.0)
            correct = tf.constant(0.0)
            for k in tf.range(n):
                x = tf.cast(tf.gather(x_all, idx[k]), tf.float32) / scale
                y = tf.gather(y_all, idx[k])
                with tf.GradientTape() as tape:
                    loss, hits = batch_loss(model, x, y, classes, bounds)
                optimizer.apply(tape.gradient(loss, variables), variables)
                loss_sum += loss
                correct += hits
            return loss_sum, correct

        return chunk

    # -- checkpoints -----------------------------------------------------------------------------

    def save_checkpoint(self, state: RunState) -> None:
        """Write checkpoint.npz atomically; refuse (CheckFailed) to replace a good one with non-finite weights."""
        arrays: dict[str, Any] = {
            "step": np.array(state.step),
            "elapsed": np.array(state.elapsed),
            "history": np.array(json.dumps(state.history)),
            "train_sums": np.array([state.loss_sum, state.correct, state.since_eval], dtype=np.float64),
            "data_sha256": np.array(self.data_sha256),
        }
        arrays.update({f"model_{i}": v.numpy() for i, v in enumerate(self.model.weights)})
        arrays.update({f"optimizer_{i}": v.numpy() for i, v in enumerate(self.optimizer.variables)})
        if not self._weights_finite():
            raise CheckFailed(
                f"the weights became NaN or infinite by step {state.step}; stopped, and the last good checkpoint "
                f"(step {self._checkpoint_step()}) is kept; try a lower --learning-rate"
            )
        rundir.atomic_write(self.run / rundir.CHECKPOINT, lambda handle: np.savez(handle, **arrays))

    def load_checkpoint(self) -> RunState:
        path = self.run / rundir.CHECKPOINT
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            recorded = str(arrays["data_sha256"]) if "data_sha256" in arrays else self.data_sha256
            groups = (("model", self.model.weights), ("optimizer", self.optimizer.variables))
            for prefix, variables in groups:
                for i, variable in enumerate(variables):
                    value = arrays[f"{prefix}_{i}"]
                    if tuple(value.shape) != tuple(variable.shape):
                        raise ValueError(f"{prefix} weight {i} has shape {value.shape}, expected {variable.shape}")
                    variable.assign(value)
            history = json.loads(str(arrays["history"]))
            if not isinstance(history, list) or not all(isinstance(r, dict) and "step" in r for r in history):
                raise ValueError("history is not a list of rows")
            state = RunState(int(arrays["step"]), float(arrays["elapsed"]), history)
            if "train_sums" in arrays:
                state.loss_sum, state.correct, since = (float(v) for v in arrays["train_sums"])
                state.since_eval = int(since)
        except FileNotFoundError:
            raise DataError(f"{self.run}: no checkpoint to resume from; start a new run instead") from None
        except Exception as exc:
            detail = " ".join(str(exc).split())[:200]
            raise DataError(
                f"{path}: checkpoint unreadable or not from this run's config ({type(exc).__name__}: {detail}); "
                "start again with --force"
            ) from None
        if recorded != self.data_sha256:
            raise DataError(
                f"{self.data.source}: not the data this run was trained on (its SHA-256 differs from the "
                "checkpoint's); resume with the same data, or start again with --force"
            )
        return state

    # -- the loop --------------------------------------------------------------------------------

    def evaluate(self) -> dict[str, Any]:
        from lstmcli.metrics import summarize

        return summarize(self.predict(self.data.x_test), self.data.y_test)

    def epoch(self, step: int) -> float:
        return step * self.config.batch_size / len(self.data.y_train)

    def fit(
        self, state: RunState, signals: StopSignals, on_eval: Callable[[dict[str, Any]], None] | None = None
    ) -> RunState:
        tf, config = self.tf, self.config
        idx_buffer = np.zeros((CHUNK, config.batch_size), dtype=np.int32)
        loss_sum, correct, since_eval = state.loss_sum, state.correct, state.since_eval
        self.reporter.start(self.total, state.step)
        started, start_step = time.monotonic(), state.step
        base_elapsed = state.elapsed
        while state.step < self.total:
            end = next_boundary(state.step, self.total, self.eval_every, config.checkpoint_every)
            n = end - state.step
            idx_buffer[:n] = batch_indices(config, len(self.data.y_train), state.step, n)
            chunk_loss, chunk_correct = self._chunk(self._x, self._y, tf.constant(idx_buffer), tf.constant(n))
            chunk_loss, chunk_correct = float(chunk_loss), float(chunk_correct)
            if not math.isfinite(chunk_loss) or not self._weights_finite():
                what = f"the loss became {chunk_loss}" if not math.isfinite(chunk_loss) else "the weights became NaN"
                raise CheckFailed(
                    f"{what} between steps {state.step} and {end}; stopped, and the last good checkpoint "
                    f"(step {self._checkpoint_step()}) is kept; try a lower --learning-rate"
                )
            state.step = end
            loss_sum, correct, since_eval = loss_sum + chunk_loss, correct + chunk_correct, since_eval + n
            state.loss_sum, state.correct, state.since_eval = loss_sum, correct, since_eval
            state.elapsed = base_elapsed + time.monotonic() - started
            rate = (state.step - start_step) / max(time.monotonic() - started, 1e-9)
            self.reporter.advance(state.step, self.epoch(state.step), loss_sum / since_eval, correct / since_eval, rate)
            if state.step % self.eval_every == 0 or state.step == self.total:
                result = self.evaluate()
                state.elapsed = base_elapsed + time.monotonic() - started
                row = {
                    "step": state.step,
                    "epoch": round(self.epoch(state.step), 4),
                    "seconds": round(state.elapsed, 3),
                    "train_loss": loss_sum / since_eval,
                    "train_accuracy": correct / since_eval,
                    "test_loss": result["loss"],
                    "test_accuracy": result["accuracy"],
                }
                state.history.append(row)
                if on_eval is not None:
                    on_eval(row)
                self.reporter.evaluated(state.step, row["epoch"], result["accuracy"], result["loss"])
                loss_sum = correct = 0.0
                since_eval = 0
                state.loss_sum, state.correct, state.since_eval = loss_sum, correct, since_eval
                self.save_checkpoint(state)
                rundir.write_history(self.run / rundir.HISTORY, state.history)
            elif state.step % config.checkpoint_every == 0 or signals.received is not None:
                self.save_checkpoint(state)
            if signals.received is not None and state.step < self.total:
                raise interrupted(self.run, state.step, self.total, signals.received)
        return state

    def _weights_finite(self) -> bool:
        return all(bool(np.isfinite(v.numpy()).all()) for v in self.model.weights)

    def _checkpoint_step(self) -> int | str:
        try:
            with np.load(self.run / rundir.CHECKPOINT, allow_pickle=False) as npz:
                return int(npz["step"])
        except (OSError, KeyError, ValueError):
            return "none yet"

    def finish(self, state: RunState) -> dict[str, Any]:
        """Save the model and the final metrics; the run is complete once metrics.json exists."""
        result = self.evaluate()
        tmp = self.run / f".model.{id(self)}.keras"
        self.model.save(tmp)
        with open(tmp, "rb") as handle:
            import os

            os.fsync(handle.fileno())
        tmp.replace(self.run / rundir.MODEL)
        metrics = {
            "steps": state.step,
            "epochs": round(self.epoch(state.step), 4),
            "seconds": round(state.elapsed, 3),
            "parameters": count(self.spec).total,
            "keras_parameters": int(self.model.count_params()),
            "test_loss": result["loss"],
            "test_accuracy": result["accuracy"],
            "macro_f1": result["macro_f1"],
            "best_test_accuracy": max([r["test_accuracy"] for r in state.history] or [result["accuracy"]]),
            "first_step_at_98": next((int(r["step"]) for r in state.history if r["test_accuracy"] >= 0.98), None),
            "seconds_to_98": next((r["seconds"] for r in state.history if r["test_accuracy"] >= 0.98), None),
            "model_spec": self.spec.to_dict(),
        }
        rundir.write_json(self.run / rundir.METRICS, metrics)
        return metrics


class TensorBoardLog:
    """Keras's own TensorBoard callback, driven from this loop: one point per evaluation, at its step.

    The callback expects a compiled model: it reads the learning rate from `model.optimizer`. The
    optimiser is attached only while the log is open, so model.keras stays the same without --tensorboard.
    """

    def __init__(self, trainer: Trainer, log_dir: Path) -> None:
        self.model, self.optimizer = trainer.model, trainer.optimizer
        self.callback = trainer.keras.callbacks.TensorBoard(log_dir=str(log_dir))

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


def train(
    config: TrainConfig,
    data: Dataset,
    run: Path,
    reporter: Reporter,
    resume: bool = False,
    tensorboard: Path | None = None,
) -> dict[str, Any]:
    """Train (or resume) the run in `run`; return its final metrics. The caller holds the lock.

    With `tensorboard`, Keras's TensorBoard callback logs every evaluation there.

    The signal handlers are installed before TensorFlow loads: a Ctrl-C during the seconds of start-up
    is answered with a checkpoint and the usual message once the model exists, instead of Typer's
    silent exit 130 from a KeyboardInterrupt in the middle of an import."""
    try:
        return _train(config, data, run, reporter, resume, tensorboard)
    except OSError as exc:  # disk full, folder removed or made read-only while training
        detail = f"{exc.strerror or exc}" + (f": {Path(exc.filename).name}" if exc.filename else "")
        raise UsageError(
            f"cannot write in {run} ({detail}); the last checkpoint is kept. Make room or fix the folder, then: "
            f"lstmcli train --resume {shlex.quote(str(run))}"
        ) from None


def _train(
    config: TrainConfig, data: Dataset, run: Path, reporter: Reporter, resume: bool, tensorboard: Path | None
) -> dict[str, Any]:
    signals = StopSignals()
    with signals.installed():
        trainer = Trainer(config, data, run, reporter)
        if resume and not (run / rundir.CHECKPOINT).exists():
            # Killed after config.json was written but before the first checkpoint: nothing was trained yet.
            reporter.message(f"{run} has no checkpoint yet; starting it from step 0")
            resume = False
        state = trainer.load_checkpoint() if resume else RunState()
        if resume:
            state.history = [r for r in state.history if r["step"] <= state.step]
            rundir.write_history(run / rundir.HISTORY, state.history)
            reporter.message(f"resuming {run} at step {state.step} of {trainer.total}")
        else:
            trainer.save_checkpoint(state)
        if signals.received is not None and state.step < trainer.total:
            raise interrupted(run, state.step, trainer.total, signals.received)
        try:
            with contextlib.ExitStack() as stack:
                on_eval = stack.enter_context(TensorBoardLog(trainer, tensorboard).open()) if tensorboard else None
                state = trainer.fit(state, signals, on_eval)
        finally:
            reporter.stop()
    try:
        return trainer.finish(state)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted while saving the final model; the checkpoint at step {state.step} is kept. "
            f"Finish with: lstmcli train --resume {shlex.quote(str(run))}",
            130,
        ) from None


def interrupted(run: Path, step: int, total: int, signum: int) -> Interrupted:
    """The error for a stop by SIGINT/SIGTERM once the checkpoint at `step` is saved."""
    return Interrupted(
        f"interrupted at step {step} of {total}; checkpoint saved. Resume with: "
        f"lstmcli train --resume {shlex.quote(str(run))}",
        StopSignals.EXIT_CODES[signum],
    )
