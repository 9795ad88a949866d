"""A run, end to end: start a new one or resume one; lock, signals, the final model and metrics.

Every check that can refuse the command (options, data, output folder) runs before anything on disk
changes and before TensorFlow is imported, so a refusal is quick and leaves the disk as it was.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from lstmcli import atomic, files, plots, rundir
from lstmcli.errors import DataError, FieldError, FileError, Interrupted, UsageError, literal
from lstmcli.model.factory import TRAIN_BUILD_SECONDS, check_build_time, check_buildable, check_training_memory
from lstmcli.model.spec import ModelSpec
from lstmcli.schemas import SequenceData, TrainMetrics, parse
from lstmcli.signals import StopSignals
from lstmcli.tasks import FILE_TASKS
from lstmcli.train import config_file
from lstmcli.train.config import TrainConfig, from_preset, read_run_config
from lstmcli.train.examples import own_sequences, stored_record, task_data
from lstmcli.train.loop import Timeline
from lstmcli.train.plan import Plan
from lstmcli.train.reporter import Reporter
from lstmcli.train.session import Session, finish
from lstmcli.train.split import validation_size

# Called with (step, validation accuracy) at each validation evaluation, once its checkpoint is saved.
OnEvaluation = Callable[[int, float], None]


def interrupted(run: Path, step: int, total: int, signum: int) -> Interrupted:
    """The error for a stop by SIGINT/SIGTERM once the checkpoint at `step` is saved."""
    return Interrupted(
        f"interrupted at step {step} of {total}; checkpoint saved. Resume with: "
        f"lstmcli train --resume {shlex.quote(str(run))}",
        StopSignals.EXIT_CODES[signum],
    )


def prepare(config: TrainConfig, stored: SequenceData | None = None) -> Plan:
    """Load the data as the task reads it, resolve the validation split to a count and the sizes it gives, and
    check everything that could refuse the run, before the first write. A resumed run on the user's sequences
    passes the statistics it `stored` (data.json), which its data is standardised with."""
    data_path = config.data
    if data_path is not None:  # the run must find its data again on --resume from anywhere
        data_path = str(files.user_path(data_path, field="data").absolute())
    spec, record = None, None
    if config.task in FILE_TASKS:  # the file decides the task: its shape, and classes or targets
        assert data_path is not None  # TrainConfig requires the file of this task
        data, task, record, held_out = own_sequences(data_path, config.classes, config.validation, config.seed,
                                                     stored)  # fmt: skip
        train_size = len(data.y_train) - held_out
    else:
        task = config.task_spec()
        if task.streams is not None:  # a generated task fixes its shape: refuse what cannot fit before generating it
            spec = config.model_spec(task.steps, task.features, task.outputs)
            held = (task.streams.validation + task.streams.test) * task.steps * task.features
            check_model(spec, config.batch_size, held)
        data = task_data(task, data_path, config.classes)
        if task.streams is not None:  # its own streams of training and validation examples
            held_out, train_size = task.streams.validation, task.streams.train
        else:
            held_out = validation_size(config.validation, len(data.y_train))
            train_size = len(data.y_train) - held_out
    config = config.resolved(data_path, held_out)  # config.json records the count held out
    timeline = Timeline(
        total=config.total_steps(train_size),
        eval_every=config.eval_period(train_size),
        checkpoint_every=config.checkpoint_every,
        epoch_steps=train_size / config.batch_size,
    )
    if spec is None:  # the images (or the user's sequences) fix the shape
        spec = config.model_spec(data.timesteps, data.features, data.classes, task.kind)
        check_model(spec, config.batch_size, shorter=f"these are {data.timesteps:,} steps")
    return Plan(config, data, spec, held_out, timeline, task, train_size, record)


def check_model(spec: ModelSpec, batch: int, held_floats: int = 0, shorter: str = "{length}") -> None:
    """Refuse a model that cannot be built, or whose training (and `held_floats` of held-out examples) would
    not fit in memory; `shorter` says how the sequences are made shorter (a generated task's length)."""
    check_buildable(spec, "use smaller {units} or {layers}")
    check_build_time(spec, TRAIN_BUILD_SECONDS, "use smaller {units} or {layers}")
    check_training_memory(spec, batch, f"use a smaller {{batch_size}} or {{units}}, or shorter sequences ({shorter})",
                          held_floats)  # fmt: skip


class Trained(NamedTuple):
    """A complete run: its folder, metrics.json's contents and the history (history.csv's rows)."""

    run: Path
    metrics: TrainMetrics
    history: list[dict[str, Any]]


def start(
    config: TrainConfig,
    out: Path | None,
    runs_root: Path,
    reporter: Reporter,
    force: bool = False,
    tensorboard: bool = False,
    on_evaluation: OnEvaluation | None = None,
) -> Trained:
    """Train a new run in `out` (or a new folder under `runs_root`); return the folder, its metrics and history.

    `on_evaluation(step, value)` is called at each validation evaluation with the task's objective (accuracy,
    MSE, loss), after its checkpoint is saved; whatever it raises stops the run there and leaves it resumable (a
    sweep prunes trials so).
    """
    try:
        reporter.phase("loading the data")
        plan = prepare(config)
        with rundir.RunFolder.new(out, runs_root, force, plan.config.to_dict()) as folder:
            run = folder.path
            if plan.record is not None:
                folder.write_data(plan.record.model_dump())
            return Trained(run, *_train_and_plot(plan, run, reporter, False, tensorboard, on_evaluation))
    finally:
        reporter.stop()


def resume(
    run: Path,
    reporter: Reporter,
    tensorboard: bool = False,
    given: dict[str, Any] | None = None,
    on_evaluation: OnEvaluation | None = None,
) -> Trained:
    """Continue `run` from its last checkpoint with the configuration it started with.

    `given` holds the training options the caller was also handed: a resume would ignore them, so it
    refuses them by name rather than silently train something else.
    """
    named = [k for k, v in (given or {}).items() if v is not None]
    if named:
        raise FieldError(
            named[0],
            f"{{resume}} continues a run with the config it started with; drop {', '.join(f'{{{k}}}' for k in named)} "
            "(or start a new run with them)",
        )
    folder = rundir.RunFolder(run)
    if files.status(folder.config, str(run), follow=False, field="resume") is None:
        raise FileError(run, f"{{resume}} {literal(run)}: not a lstmcli run (no {rundir.CONFIG}); give a run directory")
    try:
        reporter.phase("loading the data")
        config = read_run_config(run)
        plan = prepare(config, stored_record(folder) if config.task in FILE_TASKS else None)
        with folder.locked():
            if plan.record is not None and not folder.data.exists():  # killed between config.json and data.json
                folder.write_data(plan.record.model_dump())
            if folder.metrics.exists():
                reporter.message(f"{run} is already complete; nothing to resume")
                history = folder.read_history()
                if not folder.curves.exists():  # killed after metrics.json, before the plot
                    _plot(run, history)
                metrics = parse(TrainMetrics, folder.read_metrics(), str(folder.metrics))
                return Trained(run, metrics, history)
            return Trained(run, *_train_and_plot(plan, run, reporter, True, tensorboard, on_evaluation))
    finally:
        reporter.stop()  # whatever ended the run, the terminal gets its cursor back


def _train_and_plot(
    plan: Plan,
    run: Path,
    reporter: Reporter,
    resume: bool,
    tensorboard: bool,
    on_evaluation: OnEvaluation | None = None,
) -> tuple[TrainMetrics, list[dict[str, Any]]]:
    """Train, then draw curves.png from the history in memory; the metrics and the history."""
    try:
        board = rundir.RunFolder(run).tensorboard if tensorboard else None
        metrics, history = _train(plan, run, reporter, resume, board, on_evaluation)
    except OSError as exc:  # disk full, folder removed or made read-only while training
        if isinstance(exc, atomic.WriteFailed):
            detail = exc.describe()
        else:
            detail = f"{exc.strerror or exc}" + (f": {Path(exc.filename).name}" if exc.filename else "")
        raise UsageError(
            f"cannot write in {run} ({detail}); the last checkpoint is kept. Make room or fix the folder, then: "
            f"lstmcli train --resume {shlex.quote(str(run))}"
        ) from None
    try:  # the run is complete already; a picture that cannot be written must not turn it into a failure
        reporter.phase(f"drawing {rundir.CURVES}")
        _plot(run, history)
    except (OSError, ValueError, DataError) as exc:  # ValueError: what matplotlib raises on odd figures
        reporter.message(f"could not write {rundir.RunFolder(run).curves}: {exc}")
    return metrics, history


def _plot(run: Path, history: list[dict[str, Any]]) -> None:
    """Draw curves.png of a complete run; a Ctrl-C here (the last phase) says what is left to do."""
    try:
        plots.learning_curves(history, rundir.RunFolder(run).curves, title=run.name)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted while drawing {rundir.CURVES}; the run is complete. "
            f"Draw it with: lstmcli train --resume {shlex.quote(str(run))}",
            130,
        ) from None


def _train(
    plan: Plan,
    run: Path,
    reporter: Reporter,
    resume: bool,
    tensorboard: Path | None,
    on_evaluation: OnEvaluation | None = None,
) -> tuple[TrainMetrics, list[dict[str, Any]]]:
    """The signal handlers go in before TensorFlow loads: a Ctrl-C during start-up is answered with a
    checkpoint and the usual message once the model exists, not a silent exit from inside an import."""
    signals = StopSignals()
    total = plan.timeline.total
    with signals.installed():
        session = Session(plan, run, reporter)
        if resume and not rundir.RunFolder(run).checkpoint.exists():
            # Killed after config.json was written but before the first checkpoint: nothing was trained yet.
            reporter.message(f"{run} has no checkpoint yet; starting it from step 0")
            resume = False
        state = session.restore() if resume else session.begin()
        if signals.received is None:
            state = session.fit(state, lambda: signals.received is not None, tensorboard, on_evaluation)
        if signals.received is not None and state.step < total:
            raise interrupted(run, state.step, total, signals.received)
    try:
        return finish(session, state, tensorboard), state.history
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted while saving the final model; the checkpoint at step {state.step} is kept. "
            f"Finish with: lstmcli train --resume {shlex.quote(str(run))}",
            130,
        ) from None


def configure(toml: Path | None, preset: str | None, options: dict[str, Any]) -> TrainConfig:
    """The configuration of a new run: the preset, then the TOML file, then the options given.

    Validated once; with a file, the file's settings are validated on their own first, so that a refusal
    names the file, and that configuration is the run's when no option is given on top of it.
    """
    settings: dict[str, Any] = {}
    if toml is not None:
        settings, file_config = config_file.read(toml)
        if preset is None and all(value is None for value in options.values()):
            return file_config
    preset_name, merged = config_file.merge(settings, dict(options, preset=preset))
    return from_preset(preset_name, **merged)
