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


def towers() -> int:
    """How many independent slices a batch is split into so that each core works on one.

    The LSTM's dependent steps are a chain of small ops; one chain cannot keep two cores busy, while
    two half-batch chains on two inter-op threads, one intra-op thread each, can (the measurements are
    in docs/performance.md). The gradient is still the mean over the whole batch.
    """
    return max(1, min(cores(), 2))


def tensorflow(seed: int | None = None, deterministic: bool = False) -> ModuleType:
    """Import TensorFlow configured for this machine and return it.

    Thread pools: one inter-op thread per tower, so the towers of a batch run side by side, and the
    remaining cores shared out as intra-op threads. Fixed pools also keep step rates steady from run
    to run (TensorFlow's defaults made them swing).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with native_stderr_silenced():
        import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(max(1, cores() // towers()))
        tf.config.threading.set_inter_op_parallelism_threads(towers())
    except RuntimeError:
        pass  # already initialised in this process (tests build several runs)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if seed is not None:
        import keras

        keras.utils.set_random_seed(seed)
    return tf
