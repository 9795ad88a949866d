"""The MNIST tasks' sequences: the image row by row (the article's), pixel by pixel, or pixel by permuted pixel.

The images keep their dtype (uint8 stays uint8, scaled where the model reads them, as for `rows`); only the
order in which a model meets the pixels changes.
"""

from __future__ import annotations

import numpy as np

from lstmcli.errors import DataError, UsageError

SIDE = 28
PIXELS = SIDE * SIDE
# The permutation's own stream of the task seed (generated examples use the streams 0, 1, 2 of theirs).
PERMUTATION_STREAM = 1_000


def permutation(seed: int, size: int = PIXELS) -> np.ndarray:
    """The fixed permutation of `size` pixels drawn from `seed`; never the identity (redrawn if it were)."""
    if size < 2:
        raise UsageError(f"a permutation that is not the identity needs at least 2 positions, got {size}")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(PERMUTATION_STREAM,)))
    order = rng.permutation(size)
    while np.array_equal(order, np.arange(size)):
        order = rng.permutation(size)
    return order


def shape(name: str, height: int, width: int) -> tuple[int, int]:
    """The (steps, features) of the sequences `sequences` makes of (N, height, width) images for task `name`:
    what a model of the task reads, known from the images' header before any is read."""
    return (height, width) if name == "rows" else (height * width, 1)


def sequences(name: str, images: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, H, W) images as the task `name` reads them: rows as they are, or (N, H * W, 1) pixel sequences."""
    if images.ndim != 3:
        raise DataError(f"task {name} reads images (N, height, width); got an array of shape {images.shape}")
    if name == "rows":
        return images
    if images.shape[1:] != (SIDE, SIDE):
        raise DataError(
            f"task {name} reads {SIDE} x {SIDE} images pixel by pixel; got {images.shape[1]} x {images.shape[2]}"
        )
    flat = images.reshape(len(images), PIXELS)
    if name == "permuted":
        flat = flat[:, permutation(seed)]
    elif name != "pixels":
        raise UsageError(f"task {name} does not read MNIST")
    return flat.reshape(len(images), PIXELS, 1)
