"""The compiled training step: which images each step sees, and many steps per `tf.function` call.

Why not `model.fit` or `train_on_batch`? A Python call per step costs about as much as the step itself
for this small LSTM, and one chain of dependent small steps cannot keep two cores busy (measured in
docs/performance.md). Here one `tf.function` runs up to CHUNK steps in a `tf.while_loop`, gathering each
batch from the training set already in memory, so Python is visited once per chunk; and each batch is
split into one slice per core ("towers") whose chains TensorFlow runs side by side. The model is the
factory's, the optimiser Keras's Adam and the loss Keras's categorical cross-entropy averaged over the
whole batch: only the loop around them is ours.

The batch order and the learning rate are pure functions of (seed, step), so a run resumed from a
checkpoint at step s computes exactly what the uninterrupted run computed after step s.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from lstmcli import runtime
from lstmcli.datasets import Dataset
from lstmcli.model.factory import build_model
from lstmcli.model.spec import ModelSpec
from lstmcli.tasks.generated import RECALLED
from lstmcli.train.config import TrainConfig

# Steps per compiled call: long enough that Python overhead vanishes, short enough that the progress
# bar moves and a signal is answered within a fraction of a second.
CHUNK = 50

# Floor of the cosine decay, as a fraction of the peak learning rate.
COSINE_ALPHA = 0.02


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


def batch_loss(model: Any, x: Any, y: Any, classes: int, bounds: list[tuple[int, int]], head: str = "classify"
               ) -> tuple[Any, Any]:  # fmt: skip
    """The mean loss of one batch and its figure (accuracy; the MSE; the recalled symbols' accuracy), tower by tower.

    Each slice of the batch goes through the same model on its own, so TensorFlow can run the slices'
    forward and backward chains on different cores; summing the per-example losses and dividing by the
    batch size gives the same loss, and so the same gradient, as one pass over the whole batch (a test
    checks this against keras.layers.LSTM within 1e-5). The losses are Keras's: categorical cross-entropy for
    the classifiers (at the last step, or averaged over every step), mean squared error for the regressor.
    """
    import keras
    import tensorflow as tf

    losses, figures = [], []
    for start, stop in bounds:
        out = model(x[start:stop], training=True)
        target = y[start:stop]
        if head == "regress":
            squared = tf.reduce_sum(keras.losses.mean_squared_error(target, out))
            losses.append(squared)
            figures.append(squared)
        elif head == "sequence":
            steps = tf.cast(tf.shape(target)[1], tf.float32)
            losses.append(tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(target, out)) / steps)
            recalled = tf.equal(tf.argmax(out[:, -RECALLED:], axis=-1, output_type=tf.int32), target[:, -RECALLED:])
            figures.append(tf.reduce_sum(tf.cast(recalled, tf.float32)) / RECALLED)
        else:
            losses.append(tf.reduce_sum(keras.losses.categorical_crossentropy(tf.one_hot(target, classes), out)))
            right = tf.equal(tf.argmax(out, axis=1, output_type=tf.int32), target)
            figures.append(tf.reduce_sum(tf.cast(right, tf.float32)))
    size = tf.cast(tf.shape(x)[0], tf.float32)
    return tf.add_n(losses) / size, tf.add_n(figures) / size


def learning_rate(config: TrainConfig, total: int) -> Any:
    """The optimiser's learning rate: a float, or Keras's CosineDecay over the whole run."""
    import keras

    if config.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=total, alpha=COSINE_ALPHA)
    return config.learning_rate


# A generated task's batches for the given (steps, batch) indices of its training stream: inputs, targets.
Generate = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


class CompiledStep:
    """The model, its optimiser and the compiled chunk of steps for one run: what a step computes.

    The training examples are either in memory (`data`'s training arrays, gathered inside the graph) or, for a
    generated task, made by `generate` in NumPy for each chunk and fed to the graph with it: a stream of a
    hundred thousand long sequences need never be held whole.
    """

    def __init__(self, config: TrainConfig, spec: ModelSpec, data: Dataset, total: int,
                 generate: Generate | None = None, train_size: int | None = None) -> None:  # fmt: skip
        self.tf = runtime.tensorflow(seed=config.seed, deterministic=True)  # first: it silences TF's start-up
        import keras

        self.config, self.data, self.total, self.spec = config, data, total, spec
        self.generate = generate
        self.train_size = len(data.y_train) if train_size is None else train_size
        self.towers = runtime.towers()
        self.model = build_model(spec)
        self.schedule = learning_rate(config, total)
        # Keras's own clipping by the global norm of all gradients together (what the published setups use).
        self.optimizer = keras.optimizers.Adam(learning_rate=self.schedule, global_clipnorm=config.clip_norm)
        self.optimizer.build(self.model.trainable_variables)
        if generate is None:
            self._x = self.tf.constant(data.x_train)
            self._y = self.tf.constant(data.y_train)
        self._idx = np.zeros((CHUNK, config.batch_size), dtype=np.int32)
        self._chunk = self._compile()

    def _compile(self) -> Any:
        tf = self.tf
        model, optimizer, classes, scale = self.model, self.optimizer, self.data.classes, self.data.scale
        variables = model.trainable_variables
        batch_size, head = self.config.batch_size, self.spec.head
        fed = self.generate is not None

        # Graph mode, not XLA: XLA's compiled loop measured slower after a long compile, and TensorFlow's
        # executor runs the towers on its inter-op threads (docs/performance.md).
        @tf.function(jit_compile=False)
        def chunk(x_all: tf.Tensor, y_all: tf.Tensor, idx: tf.Tensor, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            # Read when the graph is traced (the first call), so a resumed run can first take the split its
            # checkpoint recorded: the summation order, and so the exact result, depend on it.
            bounds = split_bounds(batch_size, self.towers)
            loss_sum = tf.constant(0.0)
            correct = tf.constant(0.0)
            for k in tf.range(n):
                # Fed: the chunk's own batches, in order; in memory: gathered from the whole training set.
                x = tf.cast(x_all[k] if fed else tf.gather(x_all, idx[k]), tf.float32) / scale
                y = y_all[k] if fed else tf.gather(y_all, idx[k])
                with tf.GradientTape() as tape:
                    loss, hits = batch_loss(model, x, y, classes, bounds, head)
                optimizer.apply(tape.gradient(loss, variables), variables)
                loss_sum += loss
                correct += hits
            return loss_sum, correct

        return chunk

    def run(self, start: int, n: int) -> tuple[float, float]:
        """Train steps start..start+n-1 (n <= CHUNK); the sums of their batch losses and figures."""
        self._idx[:n] = batch_indices(self.config, self.train_size, start, n)
        if self.generate is not None:
            x, y = self._fed(n)
            loss_sum, correct = self._chunk(x, y, self.tf.constant(self._idx), self.tf.constant(n))
        else:
            loss_sum, correct = self._chunk(self._x, self._y, self.tf.constant(self._idx), self.tf.constant(n))
        return float(loss_sum), float(correct)

    def _fed(self, n: int) -> tuple[Any, Any]:
        """The generated batches of the chunk's n steps, padded to a whole chunk so the graph is traced once."""
        assert self.generate is not None
        x, y = self.generate(self._idx[:n].reshape(-1))
        batch = self.config.batch_size
        xs = np.zeros((CHUNK, batch, *x.shape[1:]), dtype=x.dtype)
        ys = np.zeros((CHUNK, batch, *y.shape[1:]), dtype=np.int32 if y.dtype.kind in "iu" else y.dtype)
        xs[:n] = x.reshape(n, batch, *x.shape[1:])
        ys[:n] = y.reshape(n, batch, *y.shape[1:])
        return self.tf.constant(xs), self.tf.constant(ys)

    def current_learning_rate(self, step: int) -> float:
        """The rate Adam applies at `step` (what the logs plot beside the loss)."""
        return float(self.schedule(step)) if callable(self.schedule) else float(self.schedule)

    def weights_finite(self) -> bool:
        return all(bool(np.isfinite(v.numpy()).all()) for v in self.model.weights)
