"""The search space of a sweep: which training options vary, over what, and the configurations they make.

Pure Python (no Optuna, no TensorFlow), so every refusal (a malformed list or range, a budget below the
smallest model, a configuration `train` would refuse) happens before a storage is opened or a folder made.

A training option given as a single value is fixed for every trial; a comma list (`32,75,128`) is an axis
of the grid (a categorical choice for random and TPE search); `LOW:HIGH` or `LOW:HIGH:log` is a range,
for random and TPE search only. The same entries come from the command line or from a `[sweep]` table of
the `--config` TOML (lists, "LOW:HIGH" strings or plain values), the command line winning.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from lstmcli.errors import DataError, FieldError, LstmcliError, UsageError
from lstmcli.sweep import DEFAULT_TRIALS, PRUNERS, SEARCHES
from lstmcli.tasks import mnist
from lstmcli.train.config import TrainConfig, from_preset
from lstmcli.train.options import SWEPT, TrainOption, option_name
from lstmcli.train.presets import PRESETS

if TYPE_CHECKING:
    from lstmcli.model.spec import ModelSpec
    from lstmcli.tasks import Task


def _kind(option: TrainOption) -> str | tuple[str, ...]:
    return option.choices or ("path" if option.path else option.kind.__name__)


# Every training option a sweep takes, in the order configuration names list them, and its kind: "int",
# "float", "bool", "path" or the tuple of its choices (from the table of training options).
KINDS: dict[str, str | tuple[str, ...]] = {option.name: _kind(option) for option in SWEPT}
# The sweep's own settings, which a [sweep] table may also hold; their defaults.
SETTINGS: dict[str, Any] = {"seeds": 1, "search": "grid", "trials": None, "budget": None, "prune": "none",
                            "prune_after": 5}  # fmt: skip
MAX_TRIALS = 10_000  # trials (configurations x seeds) one sweep may hold
MAX_SEEDS = 1_000
MAX_BUDGET = 10**12
PROBE_LIMIT = 512  # configurations checked one by one before a sweep starts; beyond, one axis at a time
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
FOLDER_LIMIT = 120  # characters of a configuration's folder name before it is shortened with a hash
TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


@dataclass(frozen=True)
class Range:
    """LOW:HIGH or LOW:HIGH:log, for random and TPE search."""

    low: int | float
    high: int | float
    log: bool = False


class DataShape(NamedTuple):
    """What a sweep needs of its data before any trial: the model's input and output sizes, the train size."""

    timesteps: int
    features: int
    classes: int
    train_size: int


@dataclass(frozen=True)
class Space:
    """Everything that defines a sweep's trials: recorded in its study, so every worker runs the same."""

    preset: str = "default"
    fixed: dict[str, Any] = field(default_factory=dict)
    axes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    ranges: dict[str, Range] = field(default_factory=dict)
    seeds: int = 1
    search: str = "grid"
    trials: int | None = None
    budget: int | None = None
    prune: str = "none"
    prune_after: int = 5

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored in the study (and compared with a later `sweep run` of the same name)."""
        return {
            "preset": self.preset,
            "fixed": dict(self.fixed),
            "axes": {name: list(values) for name, values in self.axes.items()},
            "ranges": {name: [r.low, r.high, r.log] for name, r in self.ranges.items()},
            **{name: getattr(self, name) for name in SETTINGS},
        }

    def identity(self) -> dict[str, Any]:
        """to_dict without where this machine keeps the data (each machine may keep it elsewhere)."""
        stored = self.to_dict()
        stored["fixed"] = {k: v for k, v in stored["fixed"].items() if k != "data"}
        return stored

    @classmethod
    def from_dict(cls, stored: Any) -> Space:
        """The space a study records, checked as strictly as the command line (it may have been edited)."""
        try:
            if not isinstance(stored, dict) or set(stored) != {"preset", "fixed", "axes", "ranges", *SETTINGS}:
                raise ValueError("not a sweep's search space")
            ranges = {}
            for name, bounds in _table(stored["ranges"]).items():
                if not (isinstance(bounds, list) and len(bounds) == 3 and isinstance(bounds[2], bool)):
                    raise ValueError(f"range {name} is not [low, high, log]")
                ranges[_known(name)] = _range(name, _value(name, bounds[0]), _value(name, bounds[1]), bounds[2])
            axes = {_known(k): _axis(k, v) for k, v in _table(stored["axes"]).items()}
            fixed = {_known(k): _value(k, v) for k, v in _table(stored["fixed"]).items()}
            return settled(str(stored["preset"]), {**fixed, **axes, **ranges}, stored)
        except (LstmcliError, ValueError, TypeError) as exc:
            raise DataError(f"the study's recorded search space is damaged ({exc}); start a new sweep") from None

    @property
    def searched(self) -> tuple[str, ...]:
        """The options that vary, in KINDS order (the order of configuration names and table columns)."""
        return tuple(name for name in KINDS if name in self.axes or name in self.ranges)

    def grid(self) -> list[dict[str, Any]]:
        """Every configuration of the grid, in the order the values were given."""
        names = [name for name in KINDS if name in self.axes]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(self.axes[n] for n in names))]

    def size(self) -> int:
        """Trials the sweep runs in all: configurations times seeds."""
        configurations = math.prod(len(v) for v in self.axes.values()) if self.search == "grid" else self.trials
        return (configurations or 1) * self.seeds


def check_name(name: str) -> str:
    """A sweep's name becomes a folder: letters, digits, '.', '_' and '-', starting with a letter or digit."""
    if not NAME.fullmatch(name):
        raise UsageError(
            f"sweep name {name!r}: use 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(it names a folder)"
        )
    return name


def _known(name: Any) -> str:
    if name not in KINDS:
        raise UsageError(f"{name!r} is not a training option a sweep can set; known: {', '.join(KINDS)}")
    return str(name)


def _table(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("expected a table")
    return value


def _value(name: str, value: Any, where: str = "") -> Any:
    """One value of option `name`, typed as TrainConfig types it (a whole number is a float where one is due).

    A refusal names `where` the value came from (a TOML key), or else the option's flag; so below."""
    kind, flag = KINDS[name], where or option_name(name)
    if isinstance(kind, tuple):
        if value not in kind:
            raise UsageError(f"{flag} {value!r}: choose from {', '.join(kind)}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise UsageError(f"{flag} {value!r}: give true or false")
        return value
    if kind == "path":
        if not isinstance(value, str):
            raise UsageError(f"{flag} {value!r}: give a path")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{flag} {value!r}: give a number")
    if kind == "int":
        if not isinstance(value, int):
            raise UsageError(f"{flag} {value!r}: give a whole number")
        return value
    if not math.isfinite(value):
        raise UsageError(f"{flag} {value!r}: give a finite number")
    return float(value)


def _axis(name: str, values: Any, where: str = "") -> tuple[Any, ...]:
    flag = where or option_name(name)
    if not isinstance(values, (list, tuple)) or len(values) < 2:
        raise UsageError(f"{flag}: a list needs at least two values")
    if KINDS[name] == "path":
        raise UsageError(f"{flag} takes one value; a sweep does not vary the data")
    typed = tuple(_value(name, v, where) for v in values)
    if len(set(typed)) != len(typed):
        raise UsageError(f"{flag} {','.join(map(str, values))}: a value is repeated")
    return typed


def _range(name: str, low: Any, high: Any, log: bool, where: str = "") -> Range:
    flag = where or option_name(name)
    if KINDS[name] not in ("int", "float"):
        raise UsageError(f"{flag} takes a value or a comma list, not a range")
    if not low < high:
        raise UsageError(f"{flag} {low}:{high}: the low end must be below the high end")
    if log and low <= 0:
        raise UsageError(f"{flag} {low}:{high}:log: a log range must start above 0")
    return Range(low, high, log)


def _scalar(name: str, text: str, where: str = "") -> Any:
    """One value of `name` read from the command line's text (or a TOML string)."""
    kind, flag, word = KINDS[name], where or option_name(name), text.strip()
    if kind == "bool":
        if word.lower() in TRUE + FALSE:
            return word.lower() in TRUE
        raise UsageError(f"{flag} {text!r}: give true or false (or true,false for both)")
    if kind in ("int", "float"):
        try:
            number = int(word) if kind == "int" else float(word)
        except ValueError:
            what = "a whole number" if kind == "int" else "a number"
            raise UsageError(f"{flag} {text!r}: give {what}, a comma list (4,8) or a range (LOW:HIGH[:log])") from None
        return _value(name, number, where)
    return _value(name, word, where)


def parse(name: str, text: Any, where: str = "") -> Any:
    """An option as given: a value (fixed), a tuple (a grid axis) or a Range; text is parsed, TOML is typed.

    Refusals name the option's flag, or `where` (the TOML key it came from) when given."""
    _known(name)
    flag = where or option_name(name)
    if isinstance(text, list):
        return _axis(name, text, where)
    if not isinstance(text, str):
        return _value(name, text, where)
    if KINDS[name] == "path":
        return text
    if "," in text:
        items = text.split(",")
        if any(not item.strip() for item in items):
            raise UsageError(f"{flag} {text!r}: an empty item in the list")
        return _axis(name, [_scalar(name, item, where) for item in items], where)
    if ":" in text:
        parts = text.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2].strip() != "log"):
            raise UsageError(f"{flag} {text!r}: write a range as LOW:HIGH or LOW:HIGH:log")
        if KINDS[name] not in ("int", "float"):
            raise UsageError(f"{flag} takes a value or a comma list, not a range")
        low, high = _scalar(name, parts[0], where), _scalar(name, parts[1], where)
        return _range(name, low, high, len(parts) == 3, where)
    return _scalar(name, text, where)


def _setting(name: str, value: Any, where: str = "") -> Any:
    """A sweep setting (seeds, search, trials, budget, prune, prune_after), checked."""
    flag = where or option_name(name)
    if name in ("search", "prune"):
        choices = SEARCHES if name == "search" else PRUNERS
        if value not in choices:
            raise UsageError(f"{flag} {value!r}: choose from {', '.join(choices)}")
        return value
    if value is None and name in ("trials", "budget"):
        return None
    limits = {"seeds": MAX_SEEDS, "trials": MAX_TRIALS, "budget": MAX_BUDGET, "prune_after": MAX_TRIALS}
    low = 0 if name == "prune_after" else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= limits[name]:
        raise UsageError(f"{flag} {value!r}: give a whole number from {low} to {limits[name]:,}")
    return value


def settled(preset: str, entries: Mapping[str, Any], settings: Mapping[str, Any]) -> Space:
    """The Space of merged entries (values, tuples, Ranges) and settings, with the checks that span them."""
    if preset not in PRESETS:
        raise FieldError("preset", f"unknown {{preset}} {preset!r}; choose one of {', '.join(PRESETS)}")
    if "steps" in entries and "epochs" in entries:
        raise FieldError("steps", "give {steps} or {epochs}, not both")
    chosen = {name: _setting(name, settings.get(name, default)) for name, default in SETTINGS.items()}
    space = Space(
        preset=preset,
        fixed={k: v for k, v in entries.items() if not isinstance(v, (tuple, Range))},
        axes={k: v for k, v in entries.items() if isinstance(v, tuple)},
        ranges={k: v for k, v in entries.items() if isinstance(v, Range)},
        **chosen,
    )
    if space.search == "grid":
        if space.ranges:
            raise FieldError(
                next(iter(space.ranges)),
                f"{', '.join(f'{{{n}}}' for n in space.ranges)}: a range needs {{search}} random or tpe; "
                "a grid takes comma lists",
            )
        if space.trials is not None:
            raise FieldError("trials", "{trials} is for random and TPE search; a grid runs each of its configurations")
    elif space.trials is None:
        space = Space(**{**space.__dict__, "trials": DEFAULT_TRIALS})
    if space.budget is not None and ("units" in space.fixed or "units" in space.axes or "units" in space.ranges):
        raise FieldError("budget", "{budget} chooses the units of each configuration; drop {units}")
    if space.size() > MAX_TRIALS:
        raise UsageError(f"the sweep would hold {space.size():,} trials; at most {MAX_TRIALS:,}")
    return space


def build(
    options: Mapping[str, str | None],
    preset: str | None = None,
    settings: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
) -> Space:
    """The space from the preset, then the TOML file (its options, then its [sweep] table), then the options given.

    `options` are the command line's texts (None where not given), `settings` its seeds, search, trials, budget,
    prune and prune_after (None where not given).
    """
    from lstmcli.train.config_file import load_with_sweep, merge

    file_settings, file_sweep = load_with_sweep(config_file) if config_file is not None else ({}, {})
    if "seed" in options or "seed" in file_settings or "seed" in file_sweep:
        raise FieldError("seed", "a sweep runs seeds 0 to N-1 of every configuration; use {seeds} N instead of a seed")
    file_entries = {name: _from_file(config_file, name, value, "")
                    for name, value in file_settings.items() if name != "preset"}  # fmt: skip
    for name, value in file_sweep.items():
        if name not in SETTINGS:
            file_entries[name] = _from_file(config_file, name, value, "[sweep] ")
    given = {name: None if text is None else parse(name, text) for name, text in options.items()}
    chosen, entries = merge({**file_entries, "preset": file_settings.get("preset", "default")},
                            {**given, "preset": preset})  # fmt: skip
    merged = {k: _setting(k, v, f"--config {config_file}: [sweep] {k}") for k, v in file_sweep.items() if k in SETTINGS}
    merged.update({k: v for k, v in (settings or {}).items() if v is not None})
    return settled(chosen, entries, merged)


def _from_file(path: Path | None, name: str, value: Any, table: str) -> Any:
    """An entry of the TOML file (`table` is "[sweep] " for its sweep table), refused naming the file and key."""
    where = f"--config {path}: {table}{name}"
    if name not in KINDS:
        raise UsageError(f"{where} is not a training option a sweep can set; known: {', '.join(KINDS)}")
    return parse(name, value, where)


def folder_name(params: Mapping[str, Any]) -> str:
    """A configuration's folder name: its varying options and values, e.g. cell-gru_units-32 (or `base`)."""
    parts, order = [], list(KINDS)
    for name, value in sorted(params.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)):
        shown = str(value).lower() if isinstance(value, bool) else repr(value) if isinstance(value, float) else value
        parts.append(f"{name.replace('_', '-')}-{shown}")
    text = re.sub(r"[^A-Za-z0-9.+_-]", "-", "_".join(parts)) or "base"
    if len(text) > FOLDER_LIMIT:
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
        text = f"{text[:FOLDER_LIMIT]}-{digest}"
    return text


def train_config(
    space: Space, params: Mapping[str, Any], seed: int, shape: DataShape
) -> tuple[TrainConfig, int | None]:
    """The TrainConfig of one trial, and the units --budget chose for it (None without a budget)."""
    settings = {**space.fixed, **params}
    units = None
    if space.budget is not None:
        units = budget_units(from_preset(space.preset, **settings), space.budget, shape)
        settings["units"] = units
    return from_preset(space.preset, **settings, seed=seed), units


def model_spec(config: TrainConfig, shape: DataShape) -> ModelSpec:
    """A trial's network: a generated task fixes its own sizes; an MNIST task reads the data's images, row by
    row (`rows`) or pixel by pixel (`pixels`, `permuted`)."""
    task = config.task_spec()
    if task.generated:
        return config.model_spec(task.steps, task.features, task.outputs)
    return config.model_spec(*mnist.shape(task.name, shape.timesteps, shape.features), shape.classes)


def sweep_task(space: Space) -> Task:
    """The task of the space's first configuration: what its study ranks by, in which direction, against which
    baseline (`check` has made sure that every configuration is ranked by the same figure)."""
    params = space.grid()[0] if space.search == "grid" and space.axes else next(probes(space))
    return from_preset(space.preset, **{**space.fixed, **params}).task_spec()


def budget_units(config: TrainConfig, budget: int, shape: DataShape) -> int:
    """The units whose model (this config's cell, layers, ... on this data) has the count closest to `budget`.

    The adapter to lstmcli.model.budget: below the smallest model is a refusal, not a 1-unit model.
    """
    from lstmcli.model.budget import closest, closest_units

    spec = model_spec(config, shape)
    below, above = closest_units(spec, budget)
    if below is None:
        assert above is not None
        raise FieldError(
            "budget",
            f"{{budget}} {budget:,} is below the smallest {spec.cell} model here (1 unit: {above.total:,} "
            f"parameters); give at least {above.total:,}",
        )
    return closest(below, above, budget).units


def probes(space: Space) -> Iterator[dict[str, Any]]:
    """Configurations that between them try every value of every axis and both ends of every range."""
    choices = {**space.axes, **{name: (r.low, r.high) for name, r in space.ranges.items()}}
    names = [name for name in KINDS if name in choices]
    if math.prod(len(choices[n]) for n in names) <= PROBE_LIMIT:
        for combo in itertools.product(*(choices[n] for n in names)):
            yield dict(zip(names, combo, strict=True))
        return
    base = {name: choices[name][0] for name in names}
    yield base
    for name in names:
        for value in choices[name][1:]:
            yield {**base, name: value}


def refuse_file_tasks(space: Space) -> None:
    """A sweep checks every trial against one shape of data read as images; the user's own sequences are a
    shape and a kind only their file says: refused before the file is read (as images, it would be refused)."""
    from lstmcli.tasks import FILE_TASKS

    named = [space.fixed.get("task"), *space.axes.get("task", ())]
    for task in (t for t in named if t in FILE_TASKS):
        raise FieldError(
            "task",
            f"a sweep trains the built-in tasks; train runs of {{task}} {task} one by one and compare them with "
            "`lstmcli runs --group-by` (docs/tasks.md)",
        )


def check(space: Space, shape: DataShape) -> None:
    """Refuse now what a trial would refuse later: invalid options, a model too big or below the budget."""
    from lstmcli.model.factory import check_buildable
    from lstmcli.train.split import validation_size

    first = None
    for params in probes(space):
        config, _ = train_config(space, params, 0, shape)
        task = config.task_spec()
        first = first or task
        if (task.objective, task.direction) != (first.objective, first.direction):
            raise FieldError(
                "task",
                f"a sweep ranks every trial by one figure; {{task}} {first.name} is judged by its {first.objective} "
                f"and {task.name} by its {task.objective}: sweep them separately",
            )
        if config.eval_set != "validation" or (not task.generated and config.validation == 0):
            raise FieldError(
                "validation",
                f"a sweep ranks trials by their validation {task.objective}: hold out images ({{validation}}) and "
                "keep {eval_set} validation",
            )
        if task.streams is not None:  # a generated task has its own streams of training and validation examples
            config.total_steps(task.streams.train)
        else:
            config.total_steps(shape.train_size - validation_size(config.validation, shape.train_size))
        check_buildable(model_spec(config, shape), "use smaller {units}")
