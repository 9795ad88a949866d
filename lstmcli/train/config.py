"""Training configuration: validated once (pydantic), saved as config.json, read back strictly.

A TrainConfig holds the network as a ModelSpec (whose own checks are the only size validation) and the
training settings, whose defaults are the default preset's (lstmcli.train.presets). Every source of a
config (options, a TOML file, config.json of a run) goes through the same strict validation, so a bool
is never an int, a list is never a path, and an unknown key is refused with its name.
"""

from __future__ import annotations

import math
import typing
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, field_validator, model_validator
from typing_extensions import TypedDict

from lstmcli import tasks
from lstmcli.errors import DataError, FieldError, LstmcliError, UsageError, literal
from lstmcli.model.spec import CELLS, MAX_CLASSES, MAX_SIZE, ModelSpec, check_choice, not_lstm
from lstmcli.model.spec import LATER_FIELDS as LATER_SPEC_FIELDS
from lstmcli.rundir import RunFolder
from lstmcli.tasks import Task
from lstmcli.train.options import MODEL_FIELDS
from lstmcli.train.presets import DEFAULT_PRESET, EVAL_SETS, KEEPS, ORDERS, PRESETS, SCHEDULES, TASK_DEFAULTS

# The network's fields as the ModelSpec dataclass types them, checked strictly before the spec is built.
_Network = TypedDict(  # type: ignore[misc]
    "_Network", {name: typing.get_type_hints(ModelSpec)[name] for name in MODEL_FIELDS}, total=False
)
_Network.__pydantic_config__ = ConfigDict(strict=True, extra="forbid")  # type: ignore[attr-defined]
_NETWORK = TypeAdapter(_Network)


def field_error(exc: ValidationError) -> FieldError:
    """pydantic's report as one line naming the fields: `{batch_size}: input should be ...; got 0`."""
    parts, named = [], []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"] if not isinstance(p, int)) or "config"
        field = where.split(".")[-1]
        named.append(field)
        got = error.get("input")
        shown = repr(got) if not isinstance(got, dict) else "a table"
        message = error["msg"].removeprefix("Value error, ")
        name = f"{{{field}}}" if where != "config" else where
        parts.append(f"{name}: {literal(message[0].lower() + message[1:])} (got {literal(shown)})")
    return FieldError(named[0] if named else "config", "; ".join(parts))


# The largest gradient norm to clip at: float32 ends at 3.4e38, and past it the norm is infinite and the clipped
# gradients NaN (1e39 stopped a run at its first step). Any gradient norm a run meets is far below.
MAX_CLIP_NORM = 1e38
# Fields that came with the tasks, written to config.json only where they differ from their defaults.
LATER_FIELDS = ("task", "length", "task_seed", "clip_norm")
LATER_NETWORK = tuple(name for name in LATER_SPEC_FIELDS if name in MODEL_FIELDS)
DEFAULT_NETWORK = asdict(ModelSpec())


def flat_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """config.json's settings with the network's (under `model`) at the top level, as `runs` columns and the
    refusal of an edited config name them."""
    return {**{k: v for k, v in settings.items() if k != "model"}, **settings.get("model", {})}


class TrainConfig(BaseModel):
    """Everything that determines a run; with the same data and seed, the same weights come out."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    model: ModelSpec = ModelSpec()
    batch_size: int = DEFAULT_PRESET["batch_size"]
    learning_rate: float = DEFAULT_PRESET["learning_rate"]
    schedule: str = DEFAULT_PRESET["schedule"]
    steps: int | None = DEFAULT_PRESET["steps"]
    epochs: float | None = DEFAULT_PRESET["epochs"]
    eval_every: int | None = DEFAULT_PRESET["eval_every"]
    checkpoint_every: int = DEFAULT_PRESET["checkpoint_every"]
    order: str = DEFAULT_PRESET["order"]
    seed: int = DEFAULT_PRESET["seed"]
    validation: float = DEFAULT_PRESET["validation"]
    eval_set: str = DEFAULT_PRESET["eval_set"]
    keep: str = DEFAULT_PRESET["keep"]
    target_accuracy: float = DEFAULT_PRESET["target_accuracy"]
    task: str = DEFAULT_PRESET["task"]
    length: int | None = DEFAULT_PRESET["length"]
    task_seed: int = DEFAULT_PRESET["task_seed"]
    clip_norm: float | None = DEFAULT_PRESET["clip_norm"]
    classes: int | None = None  # --classes K: the data's labels are 0..K-1, not all present (lstmcli.datasets)
    data: str | None = None
    preset: str = "default"

    @field_validator("model", mode="before")
    @classmethod
    def _network(cls, value: Any) -> Any:
        if isinstance(value, ModelSpec):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"must be a table of {', '.join(MODEL_FIELDS)}")
        return ModelSpec(**_NETWORK.validate_python(value))

    @field_validator("batch_size", "checkpoint_every", "steps", "eval_every", "length")
    @classmethod
    def _size(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= MAX_SIZE:
            raise ValueError(f"must be between 1 and {MAX_SIZE:,}")
        return value

    @model_validator(mode="after")
    def _ranges(self) -> TrainConfig:
        check_ranges(self)
        return self

    @classmethod
    def of(cls, settings: dict[str, Any]) -> TrainConfig:
        """Validate `settings`; any problem is one FieldError line naming the fields."""
        try:
            return cls.model_validate(settings)
        except ValidationError as exc:
            raise field_error(exc) from None

    def total_steps(self, train_size: int) -> int:
        """Steps the run takes on a training set of `train_size` images."""
        if self.batch_size > train_size:
            raise FieldError(
                "batch_size",
                f"{{batch_size}} {self.batch_size} is larger than the training set ({train_size:,} images); "
                "use a smaller batch",
            )
        if self.steps is not None:
            return self.steps
        return max(1, math.ceil((self.epochs or 1.0) * train_size / self.batch_size))

    def eval_period(self, train_size: int) -> int:
        """Steps between evaluations: --eval-every, or one epoch when it is not set."""
        return self.eval_every or max(1, math.ceil(train_size / self.batch_size))

    def task_spec(self) -> Task:
        """The task this config trains on (validated with the config: a task that cannot be is refused there)."""
        return tasks.task(self.task, self.length, self.task_seed)

    def model_spec(self, timesteps: int, features: int, classes: int, head: str | None = None) -> ModelSpec:
        """The network for data of this shape, with the head its task needs (`head`, for a task its file decides).
        Short sequences are unrolled into one graph (faster steps, docs/performance.md); long ones stay rolled to
        bound the graph's size."""
        head = head or self.task_spec().kind
        return replace(self.model, input_size=features, timesteps=timesteps, classes=classes, head=head,
                       unroll=timesteps <= 64)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """config.json's settings. The fields the tasks brought are left out at their defaults (from_dict fills
        them in), so the config of a run of the article's task stays what every earlier version wrote."""
        settings = {f: getattr(self, f) for f in type(self).model_fields}
        for name in LATER_FIELDS:
            if settings[name] == DEFAULT_PRESET[name]:
                del settings[name]
        network = {k: v for k, v in asdict(self.model).items() if k in MODEL_FIELDS}
        settings["model"] = {k: v for k, v in network.items() if not (k in LATER_NETWORK and v == DEFAULT_NETWORK[k])}
        return settings

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """From config.json; the network's fields may also stand at the top level (lstmcli 0.1's layout)."""
        settings = dict(data)
        flat = {k: settings.pop(k) for k in MODEL_FIELDS if k in settings}
        if flat:
            if "model" in settings:
                raise UsageError(f"give the network's fields in `model` only, not also {', '.join(flat)}")
            settings["model"] = flat
        return cls.of(settings)

    def resolved(self, data: str | None, held_out: int) -> TrainConfig:
        """This config with its data path made absolute and the validation split as the count it holds out.

        Not validated again: both values were checked on the way here (the path by lstmcli.files, the count
        by lstmcli.train.split against the data), and this config was validated once already.
        """
        return self.model_copy(update={"data": data, "validation": float(held_out)})

    def with_overrides(self, **overrides: Any) -> TrainConfig:
        """This config with every override that is not None; network fields go to the ModelSpec."""
        given = {k: v for k, v in overrides.items() if v is not None}
        network = {k: given.pop(k) for k in MODEL_FIELDS if k in given}
        settings = self.to_dict()
        settings["model"] = {**settings["model"], **network}
        return TrainConfig.of({**settings, **given})


def check_task(config: TrainConfig) -> None:
    """The task exists at its length; a generated task makes its own data, so --data and --classes do not apply;
    the user's own sequences need their file, whose shape is the task's (no length); a task seed is the seed of
    what a task draws, and a task that draws nothing is refused one (another seed would pass for another task)."""
    if config.task not in tasks.SEEDED_TASKS and config.task_seed != DEFAULT_PRESET["task_seed"]:
        raise FieldError(
            "task_seed", f"{{task_seed}} applies to the tasks it draws ({', '.join(tasks.SEEDED_TASKS)}); task "
            f"{config.task} draws nothing; drop it"
        )  # fmt: skip
    if config.task in tasks.FILE_TASKS:
        check_file_task(config)
    elif (task := config.task_spec()).generated:
        for name in ("data", "classes"):
            if getattr(config, name) is not None:
                raise FieldError(
                    name, f"{{{name}}} does not apply to task {task.name}: it generates its own examples; drop it"
                )
    if config.clip_norm is not None and not (math.isfinite(config.clip_norm) and 0 < config.clip_norm <= MAX_CLIP_NORM):
        raise FieldError(
            "clip_norm", f"{{clip_norm}} must be a positive number, at most {MAX_CLIP_NORM:g}, got {config.clip_norm}"
        )


def check_file_task(config: TrainConfig) -> None:
    if config.length is not None:
        raise FieldError(
            "length", f"{{length}} applies to the generated tasks (adding, copy); task {config.task} takes its "
            "length from its {data} file; drop it"
        )
    if config.data is None:
        raise FieldError(
            "data", f"task {config.task} trains on your own sequences: give {{data}} FILE.npz (x_train, y_train, "
            "x_test, y_test; docs/tasks.md)"
        )


def check_ranges(config: TrainConfig) -> None:
    """The limits pydantic's types do not say, each refused as an error about its field."""
    if config.epochs is not None and not (math.isfinite(config.epochs) and 0 < config.epochs <= 1e6):
        raise FieldError("epochs", f"{{epochs}} must be a positive number, got {config.epochs}")
    if not (math.isfinite(config.learning_rate) and 0 < config.learning_rate <= 10):
        raise FieldError(
            "learning_rate", f"{{learning_rate}} must be positive (and at most 10), got {config.learning_rate}"
        )
    if not (math.isfinite(config.validation) and 0 <= config.validation <= MAX_SIZE):
        raise FieldError(
            "validation", f"{{validation}} must be a number of images or a fraction below 1, got {config.validation}"
        )
    if not 0 < config.target_accuracy <= 1:
        raise FieldError("target_accuracy", f"{{target_accuracy}} must be in (0, 1], got {config.target_accuracy}")
    if config.classes is not None and not 2 <= config.classes <= MAX_CLASSES:
        raise FieldError("classes", f"{{classes}} must be a whole number from 2 to {MAX_CLASSES}, got {config.classes}")
    if not 0 <= config.seed < tasks.SEED_LIMIT:
        raise FieldError("seed", f"{{seed}} must be between 0 and {tasks.SEED_LIMIT - 1}, got {config.seed}")
    for name, choices in (("schedule", SCHEDULES), ("order", ORDERS), ("eval_set", EVAL_SETS), ("keep", KEEPS)):
        check_choice(name, getattr(config, name), choices)
    check_choice("preset", config.preset, tuple(PRESETS))
    check_task(config)


def from_preset(name: str, **overrides: Any) -> TrainConfig:
    """The preset's settings, with any option the user gave on top."""
    if not isinstance(name, str) or name not in PRESETS:  # a TOML file may say `preset = []`
        raise FieldError("preset", f"unknown preset {literal(repr(name))}; choose one of {', '.join(PRESETS)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    if "model" in given:  # the network's own fields would replace the table whole, silently
        raise FieldError("model", "model: give the network's fields one by one (cell=..., units=...), not a table")
    settings: dict[str, Any] = dict(PRESETS[name], preset=name)
    task = given.get("task", settings["task"])
    if isinstance(task, str) and task in TASK_DEFAULTS:  # an unknown task is refused by the config's own check
        settings.update(TASK_DEFAULTS[task])
    if "steps" in given:
        settings["epochs"] = None
    if "epochs" in given:
        settings["steps"] = None
    network = {k: given.pop(k) for k in MODEL_FIELDS if k in given}
    cell = network.get("cell", ModelSpec.cell)
    if "forget_bias" in network and cell in CELLS and cell != "lstm":  # at Keras's own 1 the spec cannot tell
        raise not_lstm(cell)
    return TrainConfig.of({**settings, **given, "model": network})  # the network's other fields: ModelSpec's


def read_run_config(run: Path) -> TrainConfig:
    """The configuration a run was started with (config.json), refused cleanly if it was damaged."""
    folder = RunFolder(run)
    path = folder.config
    data = folder.read_config_json()
    try:
        return TrainConfig.from_dict(data)
    except (LstmcliError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: not a valid lstmcli configuration ({exc}); start a new run instead") from None

