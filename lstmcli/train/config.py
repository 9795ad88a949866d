"""Training configuration: presets, validation, and the resolved form saved as config.json.

Pure Python so the CLI can validate options (and refuse bad ones with exit 2) before TensorFlow loads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from lstmcli import rundir
from lstmcli.errors import DataError, LstmcliError, UsageError
from lstmcli.model.spec import ModelSpec, check_choice, check_positive

SCHEDULES = ("constant", "cosine")
ORDERS = ("sequential", "shuffle")

# The article's schedule: 50,000 steps of batch 50 taken in order, test every 100 steps.
SEED_PRESET: dict[str, Any] = {
    "batch_size": 50,
    "learning_rate": 1e-3,
    "schedule": "constant",
    "steps": 50_000,
    "epochs": None,
    "eval_every": 100,
    "order": "sequential",
}

# The default run: the article's model, Adam and batch 50, with a cosine-decayed learning rate that
# starts at 2e-3, for 8 shuffled epochs evaluated once per epoch. How it was chosen, and what it
# reaches: docs/experiment.md.
DEFAULT_PRESET: dict[str, Any] = {
    "batch_size": 50,
    "learning_rate": 2e-3,
    "schedule": "cosine",
    "steps": None,
    "epochs": 8.0,
    "eval_every": None,
    "order": "shuffle",
}

PRESETS = {"default": DEFAULT_PRESET, "seed": SEED_PRESET}

# Most classes a data set may have (lstmcli.data.MAX_CLASSES, which imports NumPy; this module must not).
MAX_CLASSES = 10_000


# Options whose flag is not the field's name with dashes.
FLAGS = {"use_bias": "--bias"}


def option_name(field_name: str) -> str:
    """The command-line flag that sets a config field (`use_bias` is --bias)."""
    return FLAGS.get(field_name, "--" + field_name.replace("_", "-"))


def option_names(field_names: Iterable[str]) -> list[str]:
    return [option_name(name) for name in field_names]


# The fields of the network that training chooses; the data fixes the rest (input size, steps, classes).
MODEL_FIELDS = ("cell", "units", "layers", "bidirectional", "use_bias", "reset_after")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a run; with the same data and seed, the same weights come out.

    The network is a ModelSpec (validated there, once); its input size, length and classes are the
    data's and are filled in when the data is known (`model_spec`).
    """

    model: ModelSpec = field(default_factory=ModelSpec)
    batch_size: int = DEFAULT_PRESET["batch_size"]
    learning_rate: float = DEFAULT_PRESET["learning_rate"]
    schedule: str = DEFAULT_PRESET["schedule"]
    steps: int | None = DEFAULT_PRESET["steps"]
    epochs: float | None = DEFAULT_PRESET["epochs"]
    eval_every: int | None = DEFAULT_PRESET["eval_every"]
    checkpoint_every: int = 1000
    order: str = DEFAULT_PRESET["order"]
    seed: int = 0
    data: str | None = None
    preset: str = "default"
    classes: int | None = None  # --classes K: the data's labels are 0..K-1, not all present (lstmcli.data)

    def __post_init__(self) -> None:
        if not isinstance(self.model, ModelSpec):
            raise UsageError(f"model must be a network description, got {self.model!r}")
        check_positive("--batch-size", self.batch_size)
        if self.eval_every is not None:
            check_positive("--eval-every", self.eval_every)
        check_positive("--checkpoint-every", self.checkpoint_every)
        if self.steps is not None:
            check_positive("--steps", self.steps)
        if self.epochs is not None and not (math.isfinite(self.epochs) and 0 < self.epochs <= 1e6):
            raise UsageError(f"--epochs must be a positive number, got {self.epochs}")
        if not (math.isfinite(self.learning_rate) and 0 < self.learning_rate <= 10):
            raise UsageError(f"--learning-rate must be positive (and at most 10), got {self.learning_rate}")
        check_choice("--schedule", self.schedule, SCHEDULES)
        check_choice("--order", self.order, ORDERS)
        if self.classes is not None and (isinstance(self.classes, bool) or not 2 <= self.classes <= MAX_CLASSES):
            raise UsageError(f"--classes must be a whole number from 2 to {MAX_CLASSES}, got {self.classes}")
        if not 0 <= self.seed < 2**31:
            raise UsageError(f"--seed must be between 0 and {2**31 - 1}, got {self.seed}")

    def total_steps(self, train_size: int) -> int:
        """Steps the run takes on a training set of `train_size` images."""
        if self.batch_size > train_size:
            raise UsageError(
                f"--batch-size {self.batch_size} is larger than the training set ({train_size:,} images); "
                "use a smaller batch"
            )
        if self.steps is not None:
            return self.steps
        return max(1, math.ceil((self.epochs or 1.0) * train_size / self.batch_size))

    def eval_period(self, train_size: int) -> int:
        """Steps between evaluations: --eval-every, or one epoch when it is not set."""
        return self.eval_every or max(1, math.ceil(train_size / self.batch_size))

    def model_spec(self, timesteps: int, features: int, classes: int) -> ModelSpec:
        """The network for data of this shape. Short sequences are unrolled into one graph (faster steps,
        docs/performance.md); long ones stay rolled to bound the graph's size."""
        return replace(
            self.model, input_size=features, timesteps=timesteps, classes=classes, unroll=timesteps <= 64
        )

    def to_dict(self) -> dict[str, Any]:
        settings = asdict(self)
        settings["model"] = {k: settings["model"][k] for k in MODEL_FIELDS}
        return settings

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """From config.json; the network's fields may also stand at the top level (lstmcli 0.1's layout)."""
        settings = dict(data)
        model = settings.pop("model", {})
        if not isinstance(model, dict):
            raise UsageError(f"model must be a table of {', '.join(MODEL_FIELDS)}, got {model!r}")
        model = {**{k: settings.pop(k) for k in MODEL_FIELDS if k in settings}, **model}
        unknown = (set(settings) - set(cls.__dataclass_fields__)) | (set(model) - set(MODEL_FIELDS))
        if unknown:
            raise UsageError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
        return cls(model=ModelSpec(**model), **settings)

    def with_overrides(self, **overrides: Any) -> TrainConfig:
        """This config with every override that is not None; network fields go to the ModelSpec."""
        given = {k: v for k, v in overrides.items() if v is not None}
        network = {k: given.pop(k) for k in MODEL_FIELDS if k in given}
        return replace(self, model=replace(self.model, **network), **given)


def from_preset(name: str, **overrides: Any) -> TrainConfig:
    """The preset's settings, with any option the user gave on top."""
    if name not in PRESETS:
        raise UsageError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    settings = dict(PRESETS[name], preset=name)
    if overrides.get("steps") is not None:
        settings["epochs"] = None
    if overrides.get("epochs") is not None:
        settings["steps"] = None
    return TrainConfig(**settings).with_overrides(**overrides)


def read_run_config(run: Path) -> TrainConfig:
    """The configuration a run was started with (config.json), refused cleanly if it was damaged."""
    path = run / rundir.CONFIG
    try:
        return TrainConfig.from_dict(rundir.read_json(path))
    except (LstmcliError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: not a valid lstmcli configuration ({exc}); start a new run instead") from None
