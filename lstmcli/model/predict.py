"""The forward pass of a classifier over many images, in large batches split across the cores.

`train` (at every evaluation) and `eval` both predict through `make_predictor`, so the accuracy a run
records is computed exactly as `lstmcli eval` computes it later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from lstmcli.runtime import towers

if TYPE_CHECKING:
    import keras

# Images per forward pass. Keras evaluate(batch_size=50) pays Python and dispatch overhead 200 times
# for the test set; large batches in one graph pay it a handful of times.
PREDICT_BATCH = 2500


def make_predictor(model: keras.Model, scale: float) -> Callable[[np.ndarray], np.ndarray]:
    """A function mapping raw images (uint8 or float) to class probabilities, traced once.

    Each batch is split into one slice per tower (lstmcli.runtime.towers), run side by side on the
    inter-op threads; docs/performance.md compares it with Keras's evaluate().
    """
    import tensorflow as tf  # here, not at the top: importing this module must not load TensorFlow

    @tf.function(reduce_retracing=True)
    def forward(slices: list[tf.Tensor]) -> tf.Tensor:
        return tf.concat([model(tf.cast(part, tf.float32) / scale, training=False) for part in slices], axis=0)

    def predict(x: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(x), PREDICT_BATCH):
            batch = x[i : i + PREDICT_BATCH]
            slices = [tf.constant(part) for part in np.array_split(batch, min(towers(), len(batch)))]
            out.append(forward(slices).numpy())
        return np.concatenate(out)

    return predict


