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
from typing import Any

import numpy as np

from lstmcli import runtime
from lstmcli.datasets import Dataset
from lstmcli.model.factory import build_model
from lstmcli.model.spec import ModelSpec
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


def learning_rate(config: TrainConfig, total: int) -> Any:
    """The optimiser's learning rate: a float, or Keras's CosineDecay over the whole run."""
    import keras

    if config.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=total, alpha=COSINE_ALPHA)
    return config.learning_rate


class CompiledStep:
    """The model, its optimiser and the compiled chunk of steps for one run: what a step computes."""

    def __init__(self, config: TrainConfig, spec: ModelSpec, data: Dataset, total: int) -> None:
        self.tf = runtime.tensorflow(seed=config.seed, deterministic=True)  # first: it silences TF's start-up
        import keras

        self.config, self.data, self.total = config, data, total
        self.towers = runtime.towers()
        self.model = build_model(spec)
        self.schedule = learning_rate(config, total)
        self.optimizer = keras.optimizers.Adam(learning_rate=self.schedule)
        self.optimizer.build(self.model.trainable_variables)
        self._x = self.tf.constant(data.x_train)
        self._y = self.tf.constant(data.y_train)
        self._idx = np.zeros((CHUNK, config.batch_size), dtype=np.int32)
        self._chunk = self._compile()

    def _compile(self) -> Any:
        tf = self.tf
        model, optimizer, classes, scale = self.model, self.optimizer, self.data.classes, self.data.scale
        variables = model.trainable_variables
        batch_size = self.config.batch_size

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
                x = tf.cast(tf.gather(x_all, idx[k]), tf.float32) / scale
                y = tf.gather(y_all, idx[k])
                with tf.GradientTape() as tape:
                    loss, hits = batch_loss(model, x, y, classes, bounds)
                optimizer.apply(tape.gradient(loss, variables), variables)
                loss_sum += loss
                correct += hits
            return loss_sum, correct

        return chunk

    def run(self, start: int, n: int) -> tuple[float, float]:
        """Train steps start..start+n-1 (n <= CHUNK); the sums of their batch losses and accuracies."""
        self._idx[:n] = batch_indices(self.config, len(self.data.y_train), start, n)
        loss_sum, correct = self._chunk(self._x, self._y, self.tf.constant(self._idx), self.tf.constant(n))
        return float(loss_sum), float(correct)

    def current_learning_rate(self, step: int) -> float:
        """The rate Adam applies at `step` (what the logs plot beside the loss)."""
        return float(self.schedule(step)) if callable(self.schedule) else float(self.schedule)

    def weights_finite(self) -> bool:
        return all(bool(np.isfinite(v.numpy()).all()) for v in self.model.weights)
