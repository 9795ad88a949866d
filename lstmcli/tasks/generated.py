"""The generated tasks: the adding problem and the copy-memory task, as Arjovsky, Shah and Bengio (2016) define them.

Each function takes (seed, stream, indices, length) and returns (inputs, targets) for exactly those examples:
example i draws only from its own generator (example_rng), and everything that is not a draw is done for
the whole batch at once, so a batch of a few hundred long sequences costs a few small NumPy calls per example.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def example_rng(seed: int, stream: int, index: int) -> np.random.Generator:
    """Example `index` of `stream`'s own generator: independent of every other (seed, stream, index)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, index)))


# Copy task alphabet, as in the paper's layout: 0 is the blank, 1..8 the symbols, 9 the delimiter; the input is
# one-hot over these 10 categories, the output a class among the first 9 (blank or a symbol).
BLANK = 0
SYMBOLS = 8
DELIMITER = SYMBOLS + 1
COPY_INPUTS = SYMBOLS + 2
COPY_OUTPUTS = SYMBOLS + 1
RECALLED = 10  # symbols to remember, and the blanks after the delimiter


def adding(seed: int, stream: int, indices: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, T, 2) pairs (value in [0, 1), marker) and (N, 1) targets, the sum of the two marked values.

    The marker is 1 at exactly two steps: one drawn uniformly from the first half (steps 0..T//2 - 1) and one
    from the second (T//2..T-1); feature 0 is the value and feature 1 the marker.
    """
    n = len(indices)
    x = np.zeros((n, length, 2), dtype=np.float32)
    marks = np.empty((n, 2), dtype=np.int64)
    half = length // 2
    for row, index in enumerate(indices):
        rng = example_rng(seed, stream, int(index))
        x[row, :, 0] = rng.random(length, dtype=np.float32)
        marks[row] = rng.integers(0, half), rng.integers(half, length)
    rows = np.arange(n)[:, None]
    x[rows, marks, 1] = 1.0
    target = x[rows, marks, 0].sum(axis=1, dtype=np.float32)
    return x, target[:, None]


def copy_layout(symbols: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """The copy task's categories for given symbols (N, 10): inputs and targets, (N, T + 20) each.

    Input: the 10 symbols, T - 1 blanks, the delimiter, 10 blanks. Target: T + 10 blanks, then the 10 symbols.
    """
    n, steps = len(symbols), length + 2 * RECALLED
    inputs = np.full((n, steps), BLANK, dtype=np.int64)
    inputs[:, :RECALLED] = symbols
    inputs[:, RECALLED + length - 1] = DELIMITER
    targets = np.full((n, steps), BLANK, dtype=np.int64)
    targets[:, -RECALLED:] = symbols
    return inputs, targets


def copy(seed: int, stream: int, indices: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, T + 20, 10) one-hot inputs and (N, T + 20) integer targets (0 blank, 1..8 the symbols)."""
    symbols = np.empty((len(indices), RECALLED), dtype=np.int64)
    for row, index in enumerate(indices):
        symbols[row] = example_rng(seed, stream, int(index)).integers(1, SYMBOLS + 1, size=RECALLED)
    categories, targets = copy_layout(symbols, length)
    return np.eye(COPY_INPUTS, dtype=np.float32)[categories], targets


GENERATORS: dict[str, Callable[[int, int, np.ndarray, int], tuple[np.ndarray, np.ndarray]]] = {
    "adding": adding,
    "copy": copy,
}
