"""The Python API: what each command does, as one call that returns the command's typed result.

Every function here is the library call its command makes (lstmcli.cli parses the options, calls it and
renders what it returns), with the same refusals and files, and none of the flags: arguments are the
fields of the results and configs, and an error names the field or file it is about (`FieldError.field`,
`FileError.path`; `str(error)` says it in the library's words). The results are the pydantic models that
docs/schemas publishes: `.to_json()` is the command's `--format json`, and their attributes are typed.

These names are public and stable (docs/api.md); everything else in the package may move between versions.
Importing this module loads neither TensorFlow nor Keras: the calls that need them load them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lstmcli import evaluate as evaluation
from lstmcli import inspection, runs
from lstmcli.errors import CheckFailed, DataError, FieldError, FileError, LstmcliError, UsageError
from lstmcli.model.spec import ModelSpec
from lstmcli.schemas import (
    BudgetReport,
    EvalResult,
    ModelFileReport,
    ParamsReport,
    RunsReport,
    SweepCounts,
    SweepList,
    SweepReport,
    SweepTrial,
    TrainSummary,
)
from lstmcli.train.config import TrainConfig, from_preset
from lstmcli.train.reporter import Quiet, Reporter

__all__ = [
    "BudgetReport", "CheckFailed", "DataError", "EvalResult", "FieldError", "FileError", "LstmcliError",
    "ModelFileReport", "ModelSpec", "ParamsReport", "RunsReport", "SweepList", "SweepReport", "TrainConfig",
    "TrainSummary", "UsageError", "budget", "bundled_mnist", "compare", "config", "count", "evaluate", "list_sweeps",
    "read_model", "resume", "show_sweep", "sweep", "train",
]  # fmt: skip


def count(spec: ModelSpec, convention: str = "keras", verify: bool = True, batch: int | None = None) -> ParamsReport:
    """`lstmcli params`: the closed-form count of `spec`, gate by gate, checked against Keras (or PyTorch)
    where `verify`; with `batch`, shapes, memory and mult-adds too. `.match` is False on a mismatch."""
    return inspection.examine(_spec(spec), convention, _flag(verify, "verify"), batch)


def budget(spec: ModelSpec, parameters: int, convention: str = "keras") -> BudgetReport:
    """`lstmcli params --budget`: the units whose model (`spec` otherwise) is closest to `parameters`."""
    return inspection.budget(_spec(spec), parameters, convention)


def read_model(path: str | Path, unsafe: bool = False, timesteps: int | None = None, batch: int = 1) -> ModelFileReport:
    """`lstmcli params MODEL`: a .keras/.h5 model, a run folder, an ONNX graph or a PyTorch state dict, layer
    by layer beside the closed form. Nothing in the file is executed unless `unsafe`."""
    chosen = _path(path, "path")
    if chosen is None:
        raise FieldError("path", "{path} is required: the model file or run folder to read")
    return inspection.describe(chosen, _flag(unsafe, "unsafe"), timesteps, batch)


def config(preset: str = "default", toml: str | Path | None = None, **options: Any) -> TrainConfig:
    """A training configuration: the preset, then a TOML file, then `options` (TrainConfig's fields, the
    network's among them: `config(units=32, cell="gru", steps=200)`), validated once."""
    from lstmcli.train import runner

    chosen = _path(toml, "toml")
    if chosen is None:
        return from_preset(preset, **options)
    return runner.configure(chosen, preset, options)


def train(
    settings: TrainConfig | None = None,
    out: str | Path | None = None,
    runs_dir: str | Path = "runs",
    force: bool = False,
    tensorboard: bool = False,
    reporter: Reporter | None = None,
) -> TrainSummary:
    """`lstmcli train`: a new run (in `out`, or a dated folder under `runs_dir`) of `settings` (the default
    preset when None); the summary of the finished run. Ctrl-C leaves a run that `resume` continues."""
    from lstmcli.train import runner

    if settings is not None and not isinstance(settings, TrainConfig):  # a dict or a task name reached .data
        raise FieldError("settings", f"{{settings}} must be a TrainConfig (api.config(task=..., ...)), "
                                     f"got {type(settings).__name__}")  # fmt: skip
    trained = runner.start(settings or from_preset("default"), _path(out, "out"), Path(runs_dir), reporter or Quiet(),
                           force, tensorboard)  # fmt: skip
    return TrainSummary.of(trained.run, trained.metrics)


def resume(run: str | Path, tensorboard: bool = False, reporter: Reporter | None = None) -> TrainSummary:
    """`lstmcli train --resume RUN`: the run continued from its last checkpoint, bit for bit as if never stopped."""
    from lstmcli.train import runner

    trained = runner.resume(_required(run, "run"), reporter or Quiet(), tensorboard)
    return TrainSummary.of(trained.run, trained.metrics)


def evaluate(
    target: str | Path,
    data: str | None = None,
    unsafe: bool = False,
    min_accuracy: float | None = None,
    plot: str | Path | None = None,
    draw: bool = False,
) -> EvalResult:
    """`lstmcli eval`: a run or a model file on its test set. `.passed` says whether `min_accuracy` was met
    (the command exits 1 where it was not). A confusion-matrix PNG only with `draw` (at `plot`, or in the run)."""
    chosen = _path(plot, "plot")
    return evaluation.evaluate(_required(target, "target"), data, _flag(unsafe, "unsafe"), min_accuracy, chosen,
                               draw=draw or chosen is not None)


def compare(
    folder: str | Path = "runs",
    sort: str = "run",
    reverse: bool = False,
    where: Sequence[str] = (),
    group_by: str | None = None,
) -> RunsReport:
    """`lstmcli runs`: every run under `folder` (`where` conditions KEY=VALUE), and with `group_by` the
    configurations across seeds, mean and standard deviation."""
    return runs.compare(Path(folder), sort, reverse, list(where), group_by)


class _Silent:
    """A sweep watcher that shows nothing (the command line draws its own)."""

    def update(self, counts: SweepCounts, best: SweepTrial | None, finished: list[SweepTrial]) -> None: ...
    def message(self, text: str) -> None: ...
    def stop(self) -> None: ...


def sweep(
    name: str,
    options: Mapping[str, str],
    preset: str | None = None,
    settings: Mapping[str, Any] | None = None,
    toml: str | Path | None = None,
    storage: str | None = None,
    runs_dir: str | Path = "runs",
    workers: int = 1,
) -> SweepReport:
    """`lstmcli sweep run`: `options` as the command line spells them (`{"cell": "lstm,gru", "units": "8"}`:
    a value, a comma list for a grid axis, LOW:HIGH[:log] for a range), `settings` the seeds, search, trials,
    budget and pruning; run until no trial is left, and the sweep's report."""
    from lstmcli.sweep import launch
    from lstmcli.sweep.space import build

    space = build(dict(options), preset, dict(settings or {}), _path(toml, "toml"))
    return launch.run(launch.Request(name, space, storage, Path(runs_dir), workers), _Silent())


def show_sweep(name: str, storage: str | None = None, runs_dir: str | Path = "runs") -> SweepReport:
    """`lstmcli sweep show`: one row per configuration, mean and spread over seeds, from the storage alone."""
    from lstmcli.sweep import launch

    return launch.show(name, storage, Path(runs_dir))


def list_sweeps(storage: str | None = None, runs_dir: str | Path = "runs") -> SweepList:
    """`lstmcli sweep list`: the sweeps in a storage, or under a runs folder."""
    from lstmcli.sweep import launch

    return launch.listing(storage, Path(runs_dir))


def bundled_mnist() -> Path:
    """The MNIST that ships with lstmcli (verified against its published hashes when a run loads it)."""
    from lstmcli import datasets

    return datasets.bundled_path()


def _spec(spec: Any) -> ModelSpec:
    """The API is called from notebooks: a wrong type is an error about the argument, like any bad value."""
    if not isinstance(spec, ModelSpec):
        raise FieldError("spec", f"{{spec}} must be a ModelSpec (api.ModelSpec(units=..., input_size=...)), "
                                 f"got {type(spec).__name__}")  # fmt: skip
    return spec


def _flag(value: Any, field: str) -> bool:
    """A yes/no argument is True or False: a truthy string ("no") must not switch on what it names (`unsafe`)."""
    if not isinstance(value, bool):
        raise FieldError(field, f"{{{field}}} must be True or False, got {type(value).__name__}")
    return value


def _required(value: Any, field: str) -> Path:
    """A path the call cannot do without: None is as wrong as a number."""
    if value is None:
        raise FieldError(field, f"{{{field}}} must be a path (str or pathlib.Path), got None")
    path = _path(value, field)
    assert path is not None
    return path


def _path(value: Any, field: str = "path") -> Path | None:
    if value is None:
        return None
    if not isinstance(value, (str, Path)):
        raise FieldError(field, f"{{{field}}} must be a path (str or pathlib.Path), got {type(value).__name__}")
    return Path(value)
