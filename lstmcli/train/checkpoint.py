"""The checkpoint: everything a resumed run needs to compute exactly what the uninterrupted run would.

One `checkpoint.npz` per run holds the weights, Adam's state, the step, the history so far, the running
training sums and the SHA-256 of the data. It is written atomically (lstmcli.atomic), and never with
non-finite weights, so the file on disk is always the last good state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli import atomic, files, records
from lstmcli.datasets import Dataset, arrays_sha256
from lstmcli.errors import CheckFailed, DataError, brief, literal
from lstmcli.model.spec import MAX_SIZE
from lstmcli.npzfile import Npz, read_npz
from lstmcli.rundir import RunFolder
from lstmcli.train.config import flat_settings


@dataclass
class RunState:
    """What a checkpoint holds besides the weights."""

    step: int = 0
    elapsed: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    # Sums of the training loss and accuracy since the last history row, so that the row after a resume
    # averages the same steps as the uninterrupted run's row.
    loss_sum: float = 0.0
    correct: float = 0.0
    since_row: int = 0
    # The best validation evaluation so far, and (with --keep best) the weights it measured.
    best_accuracy: float | None = None
    best_step: int | None = None
    best_weights: list[np.ndarray] | None = None
    # How many slices each batch was split into (lstmcli.train.step): the exact result depends on it.
    towers: int | None = None

    def add(self, loss_sum: float, correct: float, steps: int) -> None:
        self.loss_sum += loss_sum
        self.correct += correct
        self.since_row += steps

    def train_means(self) -> tuple[float, float]:
        """Mean training loss and accuracy over the steps since the last history row."""
        return self.loss_sum / max(self.since_row, 1), self.correct / max(self.since_row, 1)

    def reset_sums(self) -> None:
        self.loss_sum = self.correct = 0.0
        self.since_row = 0


def data_fingerprint(data: Dataset) -> str:
    """SHA-256 over the four arrays (dtype, shape, bytes): a resumed run must see the data it started with."""
    return arrays_sha256(data.x_train, data.y_train, data.x_test, data.y_test, layout=True)


class Checkpoint:
    """Saves and restores one run's model and optimiser variables with its RunState."""

    def __init__(
        self, run: Path, model: Any, optimizer: Any, data: Dataset, split_sha256: str, config: dict[str, Any]
    ) -> None:
        self.path = RunFolder(run).checkpoint
        self.model, self.optimizer, self.data = model, optimizer, data
        self.data_sha256 = data_fingerprint(data)
        self.split_sha256 = split_sha256
        self.config = compared(config)

    def _groups(self) -> tuple[tuple[str, Any], ...]:
        return (("model", self.model.weights), ("optimizer", self.optimizer.variables))

    def save(self, state: RunState) -> None:
        """Write it atomically; refuse (CheckFailed) to replace a good one with non-finite weights."""
        arrays: dict[str, Any] = {
            "step": np.array(state.step),
            "elapsed": np.array(state.elapsed),
            "history": np.array(json.dumps(state.history)),
            "train_sums": np.array([state.loss_sum, state.correct, state.since_row], dtype=np.float64),
            "data_sha256": np.array(self.data_sha256),
            "split_sha256": np.array(self.split_sha256),
            "config": np.array(json.dumps(self.config, sort_keys=True)),
            "towers": np.array(state.towers or 0),
            "best": np.array([np.nan if state.best_accuracy is None else state.best_accuracy,
                              -1 if state.best_step is None else state.best_step], dtype=np.float64),
        }  # fmt: skip
        for i, weights in enumerate(state.best_weights or []):
            arrays[f"best_{i}"] = weights
        for prefix, variables in self._groups():
            arrays.update({f"{prefix}_{i}": v.numpy() for i, v in enumerate(variables)})
        if not all(np.isfinite(arrays[f"model_{i}"]).all() for i in range(len(self.model.weights))):
            raise CheckFailed(
                f"the weights became NaN or infinite by step {state.step}; stopped, and the last good checkpoint "
                f"(step {self.saved_step()}) is kept; try a lower {{learning_rate}}",
                fields=True,
            )
        atomic.write(self.path, lambda handle: np.savez(handle, **arrays))

    def load(self) -> RunState:
        """Restore the variables and return the state; a damaged or foreign checkpoint is one DataError.

        The data, the config and the split are compared before any variable is assigned: a config.json edited
        since the checkpoint is refused by the setting that changed, not by the weight shape it breaks.
        """
        if files.status(self.path, str(self.path), follow=False) is None:
            raise DataError(f"{self.path.parent}: no checkpoint to resume from; start a new run instead")
        try:  # the hardened reader: every declared size checked first, nothing unpickled, no link followed
            arrays = read_npz(self.path, str(self.path), owned=True)
            recorded = str(arrays["data_sha256"]) if "data_sha256" in arrays else self.data_sha256
            split = str(arrays["split_sha256"]) if "split_sha256" in arrays else self.split_sha256
            started = json.loads(str(arrays["config"])) if "config" in arrays else self.config
        except Exception as exc:
            raise self._unreadable(exc) from None
        if recorded != self.data_sha256:
            # The fingerprint is of the arrays as trained on: a run on the user's sequences standardises them with
            # its data.json, so an edited data.json changes it as much as an edited data file does.
            which = "data and its data.json" if RunFolder(self.path.parent).data.exists() else "data"
            raise DataError(
                f"{literal(self.data.source)}: not the data this run was trained on (its SHA-256 differs from the "
                f"checkpoint's); resume with the same {which}, or start again with {{force}}",
                fields=True,
            )
        if started != self.config:
            raise DataError(f"{literal(self.path.parent)}: {changed(started, self.config)}", fields=True)
        if split != self.split_sha256:
            raise DataError(
                f"{literal(self.path)}: the run held out a different validation split than this configuration does; "
                "resume it with the config.json it started with, or start again with {force}",
                fields=True,
            )
        try:
            return self._restore(arrays)
        except Exception as exc:
            raise self._unreadable(exc) from None

    def _unreadable(self, exc: Exception) -> DataError:
        reason = str(exc).removeprefix(f"{self.path}: ") if isinstance(exc, DataError) else None
        return DataError(
            f"{literal(self.path)}: checkpoint unreadable or not from this run's config "
            f"({literal(reason or f'{type(exc).__name__}: {brief(exc)}')}); start again with {{force}}",
            fields=True,
        )

    def _restore(self, arrays: dict[str, np.ndarray]) -> RunState:
        """Assign the saved variables (shapes checked) and rebuild the RunState; ValueError when they do not fit."""
        for prefix, variables in self._groups():
            for i, variable in enumerate(variables):
                value = arrays[f"{prefix}_{i}"]
                if tuple(value.shape) != tuple(variable.shape):
                    raise ValueError(f"{prefix} weight {i} has shape {value.shape}, expected {variable.shape}")
                if (value.dtype.kind != "f" and prefix == "model") or not np.isfinite(value).all():
                    raise ValueError(f"{prefix} weight {i} is not finite numbers")
                variable.assign(value)
        return state_from(arrays)

    def saved_step(self) -> int | str:
        """The step of the checkpoint on disk, for messages ("none yet" before the first)."""
        step = saved_step(self.path)
        return "none yet" if step is None else step


def saved_step(path: Path) -> int | None:
    """The step a checkpoint file holds, None where there is none (or it cannot be read): a cheap look."""
    try:
        with Npz(path, str(path), owned=True) as npz:
            return int(npz.read("step"))
    except (DataError, KeyError, ValueError, TypeError):
        return None


def compared(config: dict[str, Any]) -> dict[str, Any]:
    """The settings a resume must find unchanged: config.json's but the data's path (a moved data file is
    found again by editing it; the data's own SHA-256 is checked apart)."""
    return {k: v for k, v in config.items() if k != "data"}


def changed(started: Any, now: dict[str, Any]) -> str:
    """The refusal of a config.json edited since the checkpoint: its first changed setting, by name."""
    if not isinstance(started, dict) or not isinstance(started.get("model", {}), dict):
        return "its checkpoint records no readable config; start again with {force}"
    then, here = flat_settings(started), flat_settings(now)
    for key in sorted(set(then) | set(here), key=str):
        if then.get(key) != here.get(key):
            # cut short: a forged checkpoint's value (or key) may be megabytes long, and the refusal is one line
            was, is_now = literal(brief(repr(then.get(key)), 80)), literal(brief(repr(here.get(key)), 80))
            name = literal(brief(str(key), 80))
            return (f"{name} in config.json is {is_now}, but the run started with {was}; put it back, "
                    "or start again with {force}")  # fmt: skip
    return "config.json differs from the config the run started with; start again with {force}"


def state_from(arrays: dict[str, np.ndarray]) -> RunState:
    """The RunState a checkpoint's arrays describe; ValueError when its history is not a list of rows."""
    history = json.loads(str(arrays["history"]))
    if not isinstance(history, list):
        raise ValueError("history is not a list of rows")
    history = records.history(history, strict=True)
    step, elapsed = arrays["step"], arrays["elapsed"]
    if step.shape != () or step.dtype.kind not in "iu" or not 0 <= int(step) <= MAX_SIZE:
        raise ValueError(f"step is {step!r}, not a whole number of steps")
    if elapsed.shape != () or elapsed.dtype.kind != "f" or not 0 <= float(elapsed) < 1e9:
        raise ValueError(f"elapsed is {elapsed!r}, not a number of seconds")
    state = RunState(int(step), float(elapsed), history)
    if "train_sums" in arrays:
        state.loss_sum, state.correct, since = (float(v) for v in arrays["train_sums"])
        state.since_row = int(since)
    if "best" in arrays:
        best_accuracy, best_step = (float(v) for v in arrays["best"])
        if best_step >= 0:
            state.best_accuracy, state.best_step = best_accuracy, int(best_step)
    if "towers" in arrays and int(arrays["towers"]) > 0:
        state.towers = int(arrays["towers"])
    best = sorted((k for k in arrays if k.startswith("best_")), key=lambda k: int(k[5:]))
    state.best_weights = [arrays[k] for k in best] or None
    return state
