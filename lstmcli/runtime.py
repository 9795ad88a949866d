"""TensorFlow start-up, in one place: quiet logs, thread pools sized to the machine, determinism.

Imported only by the commands that train or evaluate, so `--help` and `params --no-verify` stay fast.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Hide the C++ start-up chatter TensorFlow writes to fd 2 before its log level applies.

    TF 2.21 prints absl/oneDNN/CUDA notices on import whatever TF_CPP_MIN_LOG_LEVEL says; they
    bury the one line of output a CI log needs. Python-level errors are raised, not lost.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def tensorflow(seed: int | None = None, deterministic: bool = False) -> ModuleType:
    """Import TensorFlow configured for this machine and return it.

    Thread pools: TensorFlow's default inter-op pool lets independent ops of the small LSTM graph
    compete for the same two cores, which made step rates swing between runs; one inter-op thread
    and an intra-op pool of one thread per core keeps them steady (docs/performance.md).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with native_stderr_silenced():
        import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(cores())
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already initialised in this process (tests build several runs)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if seed is not None:
        import keras

        keras.utils.set_random_seed(seed)
    return tf
