"""The training options: one table, from which `train`, `sweep run`, the TOML reader and the sweep's space come.

Each row is a field of TrainConfig (or of its ModelSpec): its type, what it means, the values it takes.
Its default is not here: it is the presets' (lstmcli.train.presets) or, for the network, ModelSpec's, and
`default_text` reads it off them. Pure Python without pydantic, so `lstmcli --help` builds every option
from this table in a fraction of TensorFlow's (and pydantic's) import time; TrainConfig, which declares
the same fields for validation, is checked against it by tests/test_options.py.

Adding a training option: a row here, its field in TrainConfig, and its default in the presets.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from dataclasses import dataclass

from lstmcli.model.spec import CELLS, ModelSpec
from lstmcli.train.presets import EVAL_SETS, KEEPS, ORDERS, PRESETS, SCHEDULES, TASKS

# Options whose flag is not the field's name with dashes.
FLAGS = {"use_bias": "--bias"}


def option_name(field_name: str) -> str:
    """The command-line flag that sets a config field (`use_bias` is --bias)."""
    return FLAGS.get(field_name, "--" + field_name.replace("_", "-"))


def option_names(field_names: Iterable[str]) -> list[str]:
    return [option_name(name) for name in field_names]


@dataclass(frozen=True)
class TrainOption:
    """One training option. `kind` is int, float, bool or str; a str with `choices` takes only those."""

    name: str
    kind: type
    help: str
    choices: tuple[str, ...] = ()
    when_none: str = "none"  # what a default of None means, in --help
    path: bool = False  # a path on this machine (the data): one value, never an axis of a sweep
    # Whether `sweep run` takes it: a sweep runs seeds 0..N-1 of every configuration (--seeds), and reads
    # its data's classes from the data.
    sweep: bool = True

    @property
    def network(self) -> bool:
        """A field of the ModelSpec (cell, units, ...) rather than of the training."""
        return self.name in MODEL_FIELDS

    @property
    def numeric(self) -> bool:
        return self.kind in (int, float) and not self.path

    def defaults(self) -> dict[str, object]:
        """The default under each preset: the preset's value, the network's default, or None."""
        network = ModelSpec()
        return {
            preset: values[self.name] if self.name in values else getattr(network, self.name) if self.network else None
            for preset, values in PRESETS.items()
        }

    def default_text(self) -> str:
        """`default: X`, or `default: X; seed preset: Y` where the presets differ."""
        shown = {preset: _shown(value, self.when_none) for preset, value in self.defaults().items()}
        first = shown["default"]
        return "; ".join(["default: " + first, *(f"{name} preset: {v}" for name, v in shown.items() if v != first)])


def _shown(value: object, when_none: str) -> str:
    if value is None:
        return when_none
    if isinstance(value, bool):
        return "yes" if value else "no"
    return format(value, "g") if isinstance(value, float) else str(value)


# The fields of the network that training chooses; the data fixes the rest (input size, steps, classes).
MODEL_FIELDS = ("cell", "units", "layers", "bidirectional", "use_bias", "reset_after", "forget_bias")
_NETWORK_TYPES = typing.get_type_hints(ModelSpec)


def _network(name: str, help_text: str, choices: tuple[str, ...] = ()) -> TrainOption:
    """A network option, typed as ModelSpec types its field."""
    return TrainOption(name, _NETWORK_TYPES[name], help_text, choices)


# In the order sweep configurations are named (cell-gru_units-32) and listed: keep it, or the folder names of
# existing sweeps change.
OPTIONS: tuple[TrainOption, ...] = (
    _network("cell", "Recurrent cell", CELLS),
    _network("units", "Units per layer"),
    _network("layers", "Stacked layers"),
    _network("bidirectional", "Bidirectional layers"),
    _network("use_bias", "Layers with bias vectors"),
    _network("reset_after", "GRU convention: reset after"),
    _network("forget_bias", "Initial forget-gate bias of an LSTM (Keras's default 1)"),
    TrainOption("learning_rate", float, "Adam peak learning rate"),
    TrainOption("batch_size", int, "Batch size"),
    TrainOption("schedule", str, "Learning-rate schedule", SCHEDULES),
    TrainOption("epochs", float, "Length in passes over the training set", when_none="from --steps"),
    TrainOption("steps", int, "Length in steps (overrides --epochs)", when_none="from --epochs"),
    TrainOption("eval_every", int, "Evaluation period in steps", when_none="one epoch"),
    TrainOption("checkpoint_every", int, "Checkpoint period in steps"),
    TrainOption("order", str, "Batch order", ORDERS),
    TrainOption("seed", int, "Random seed", sweep=False),
    TrainOption(
        "validation",
        float,
        "Training images held out for validation: a count, or a fraction below 1 (1/12 is 5,000 of MNIST's 60,000); "
        "0 for none",
    ),
    TrainOption("eval_set", str, "Set the periodic evaluation measures", EVAL_SETS),
    TrainOption("keep", str, "model.keras holds the last weights or the best validation evaluation's", KEEPS),
    TrainOption("target_accuracy", float, "Report the first step whose held-out accuracy reaches this"),
    TrainOption(
        "task", str, "Task: rows (the article's), pixels, permuted, adding, copy, or sequences (your own --data file; "
        "docs/tasks.md)", TASKS,
    ),
    TrainOption("length", int, "Sequence length T of a generated task (adding, copy)", when_none="the task's"),
    TrainOption("task_seed", int, "Seed of a generated task's examples, or of the permuted task's permutation"),
    TrainOption("clip_norm", float, "Clip the gradient's global norm at this value", when_none="no clipping"),
    TrainOption(
        "data", str, "An .npz or IDX folder (task sequences: an .npz of (N, T, F) arrays)", when_none="bundled MNIST",
        path=True,
    ),
    TrainOption(
        "classes",
        int,
        "Classes the labels 0..K-1 stand for, when the training labels do not show it (some never occur)",
        when_none="largest training label + 1, every class present",
        sweep=False,
    ),
    TrainOption("preset", str, "default, or seed for the article's full schedule", tuple(PRESETS), when_none="default"),
)

BY_NAME = {option.name: option for option in OPTIONS}
# A sweep's entries: what it may fix or vary (its preset is the base they go on, not an entry).
SWEPT = tuple(option for option in OPTIONS if option.sweep and option.name != "preset")
