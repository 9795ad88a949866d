"""The validation split: held out of the training data, stratified by class (a regression's at random), a pure
function of the seed.

The periodic evaluation measures this split, so choosing a schedule or picking the best checkpoint never
looks at the test set; the test set is evaluated once, at the end (and by `lstmcli eval`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstmcli.datasets import arrays_sha256
from lstmcli.errors import FieldError

# Mixed into the seed so the split's permutation is not the batch order's (which uses [seed, pass]).
SPLIT_STREAM = 0x5A11D


@dataclass(frozen=True)
class Split:
    """Indices into the training arrays: those trained on, and those held out for validation."""

    train: np.ndarray
    validation: np.ndarray

    def fingerprint(self) -> str:
        """SHA-256 of the held-out indices: a resumed run must hold out exactly the same images."""
        return arrays_sha256(np.asarray(self.validation, dtype=np.int64))


def validation_size(requested: float, train_size: int) -> int:
    """Images to hold out: `requested` itself when >= 1, a fraction of the training set when below 1."""
    if requested < 1:
        size = round(requested * train_size)
    elif requested != int(requested):
        raise FieldError(
            "validation", f"{{validation}} {requested:g}: give a whole number of images or a fraction below 1"
        )
    else:
        size = int(requested)
    if size >= train_size:
        raise FieldError(
            "validation",
            f"{{validation}} {requested:g} holds out {size:,} of the {train_size:,} training images, leaving none "
            "to train on; hold out fewer"
        )
    return size


def stratified_split(labels: np.ndarray, size: int, seed: int) -> Split:
    """Hold out `size` images whose class shares match the whole training set's (largest remainders).

    Each class's images are taken in a seeded random order, so the same seed and labels give the same
    split on every machine.
    """
    if size == 0:
        return Split(np.arange(len(labels), dtype=np.int64), np.zeros(0, dtype=np.int64))
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * size / len(labels)
    quota = np.floor(exact).astype(np.int64)
    remainder_order = np.lexsort((classes, -(exact - quota)))  # largest remainder first, ties by class
    quota[remainder_order[: size - int(quota.sum())]] += 1
    rng = np.random.default_rng([seed, SPLIT_STREAM])
    held = [rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quota, strict=True)]
    validation = np.sort(np.concatenate(held))
    mask = np.ones(len(labels), dtype=bool)
    mask[validation] = False
    return Split(np.flatnonzero(mask), validation)


def holdout(labels: np.ndarray, size: int, seed: int) -> Split:
    """The run's validation split: stratified by class, or for float targets (which have no classes to keep the
    shares of) `size` examples drawn at random; either a pure function of (labels, size, seed)."""
    if labels.dtype.kind != "f":
        return stratified_split(labels, size, seed)
    rng = np.random.default_rng([seed, SPLIT_STREAM])
    validation = np.sort(rng.permutation(len(labels))[:size]).astype(np.int64)
    mask = np.ones(len(labels), dtype=bool)
    mask[validation] = False
    return Split(np.flatnonzero(mask), validation)
