"""A run, end to end: start a new one or resume one; lock, signals, the final model and metrics.

Every check that can refuse the command (options, data, output folder) runs before anything on disk
changes and before TensorFlow is imported, so a refusal is quick and leaves the disk as it was.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from lstmcli import data as datasets
from lstmcli import files, plots, rundir
from lstmcli.errors import Interrupted, UsageError
from lstmcli.schemas import TrainMetrics, parse
from lstmcli.train.config import TrainConfig, option_names, read_run_config
from lstmcli.train.reporter import Reporter
from lstmcli.train.split import validation_size

# Called with (step, validation accuracy) at each validation evaluation, once its checkpoint is saved.
OnEvaluation = Callable[[int, float], None]


class StopSignals:
    """Turn SIGINT/SIGTERM into a flag the loop checks between chunks, so the checkpoint is clean."""

    EXIT_CODES: ClassVar[dict[int, int]] = {signal.SIGINT: 130, signal.SIGTERM: 143}

    def __init__(self) -> None:
        self.received: int | None = None

    def _handle(self, signum: int, _frame: object) -> None:
        self.received = signum

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignals]:
        previous = {sig: signal.signal(sig, self._handle) for sig in self.EXIT_CODES}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def interrupted(run: Path, step: int, total: int, signum: int) -> Interrupted:
    """The error for a stop by SIGINT/SIGTERM once the checkpoint at `step` is saved."""
    return Interrupted(
        f"interrupted at step {step} of {total}; checkpoint saved. Resume with: "
        f"lstmcli train --resume {shlex.quote(str(run))}",
        StopSignals.EXIT_CODES[signum],
    )


def _checked(config: TrainConfig) -> tuple[TrainConfig, datasets.Dataset]:
    """Load the data and check everything that could refuse the run, before the first write."""
    if config.data is not None:  # the run must find its data again on --resume from anywhere
        config = config.with_overrides(data=str(files.user_path(config.data, "--data").absolute()))
    data = datasets.load(config.data, config.classes)
    held_out = validation_size(config.validation, len(data.y_train))
    config = config.with_overrides(validation=float(held_out))  # config.json records the count held out
    config.total_steps(len(data.y_train) - held_out)
    from lstmcli.model.factory import TRAIN_BUILD_SECONDS, check_build_time, check_buildable

    spec = config.model_spec(data.timesteps, data.features, data.classes)
    check_buildable(spec, "use smaller --units or --layers")
    check_build_time(spec, TRAIN_BUILD_SECONDS, "use smaller --units or --layers")
    return config, data


def start(
    config: TrainConfig,
    out: Path | None,
    runs_root: Path,
    reporter: Reporter,
    force: bool = False,
    tensorboard: bool = False,
    on_evaluation: OnEvaluation | None = None,
) -> tuple[Path, TrainMetrics]:
    """Train a new run in `out` (or a new folder under `runs_root`); return the folder and its metrics.

    `on_evaluation(step, validation accuracy)` is called at each validation evaluation, after its checkpoint
    is saved; whatever it raises stops the run there and leaves it resumable (a sweep prunes trials so).
    """
    config, data = _checked(config)
    with rundir.new_run(out, runs_root, force, config.to_dict()) as run:
        return run, _train_and_plot(config, data, run, reporter, False, tensorboard, on_evaluation)


def resume(
    run: Path,
    reporter: Reporter,
    tensorboard: bool = False,
    given: dict[str, Any] | None = None,
    on_evaluation: OnEvaluation | None = None,
) -> tuple[Path, TrainMetrics]:
    """Continue `run` from its last checkpoint with the configuration it started with.

    `given` holds the training options the caller was also handed: a resume would ignore them, so it
    refuses them by name rather than silently train something else.
    """
    named = option_names(k for k, v in (given or {}).items() if v is not None)
    if named:
        raise UsageError(
            f"--resume continues a run with the config it started with; drop {', '.join(named)} "
            "(or start a new run with them)"
        )
    if files.status(run / rundir.CONFIG, f"--resume {run}", UsageError, follow=False) is None:
        raise UsageError(f"--resume {run}: not a lstmcli run (no {rundir.CONFIG}); give a run directory")
    config, data = _checked(read_run_config(run))
    with rundir.locked(run):
        if (run / rundir.METRICS).exists():
            reporter.message(f"{run} is already complete; nothing to resume")
            if not (run / rundir.CURVES).exists():  # killed after metrics.json, before the plot
                _plot(run)
            return run, parse(TrainMetrics, rundir.read_json(run / rundir.METRICS), str(run / rundir.METRICS))
        return run, _train_and_plot(config, data, run, reporter, True, tensorboard, on_evaluation)


def _train_and_plot(
    config: TrainConfig,
    data: datasets.Dataset,
    run: Path,
    reporter: Reporter,
    resume: bool,
    tensorboard: bool,
    on_evaluation: OnEvaluation | None = None,
) -> TrainMetrics:
    try:
        board = run / rundir.TENSORBOARD if tensorboard else None
        metrics = _train(config, data, run, reporter, resume, board, on_evaluation)
    except OSError as exc:  # disk full, folder removed or made read-only while training
        detail = f"{exc.strerror or exc}" + (f": {Path(exc.filename).name}" if exc.filename else "")
        raise UsageError(
            f"cannot write in {run} ({detail}); the last checkpoint is kept. Make room or fix the folder, then: "
            f"lstmcli train --resume {shlex.quote(str(run))}"
        ) from None
    try:  # the run is complete already; a picture that cannot be written must not turn it into a failure
        _plot(run)
    except (OSError, ValueError) as exc:
        reporter.message(f"could not write {run / rundir.CURVES}: {exc}")
    return metrics


def _plot(run: Path) -> None:
    """Draw curves.png of a complete run; a Ctrl-C here (the last phase) says what is left to do."""
    try:
        plots.learning_curves(rundir.read_history(run / rundir.HISTORY), run / rundir.CURVES, title=run.name)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted while drawing {rundir.CURVES}; the run is complete. "
            f"Draw it with: lstmcli train --resume {shlex.quote(str(run))}",
            130,
        ) from None


def _train(
    config: TrainConfig,
    data: datasets.Dataset,
    run: Path,
    reporter: Reporter,
    resume: bool,
    tensorboard: Path | None,
    on_evaluation: OnEvaluation | None = None,
) -> TrainMetrics:
    """The signal handlers go in before TensorFlow loads: a Ctrl-C during start-up is answered with a
    checkpoint and the usual message once the model exists, not a silent exit from inside an import."""
    from lstmcli.train.session import Session, finish

    signals = StopSignals()
    with signals.installed():
        session = Session(config, data, run, reporter)
        if resume and not (run / rundir.CHECKPOINT).exists():
            # Killed after config.json was written but before the first checkpoint: nothing was trained yet.
            reporter.message(f"{run} has no checkpoint yet; starting it from step 0")
            resume = False
        state = session.restore() if resume else session.begin()
        if signals.received is None:
            state = session.fit(state, lambda: signals.received is not None, tensorboard, on_evaluation)
        if signals.received is not None and state.step < session.schedule.total:
            raise interrupted(run, state.step, session.schedule.total, signals.received)
    try:
        return finish(session, state, tensorboard)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted while saving the final model; the checkpoint at step {state.step} is kept. "
            f"Finish with: lstmcli train --resume {shlex.quote(str(run))}",
            130,
        ) from None


def configure(config_file: Path | None, preset: str | None, options: dict[str, Any]) -> TrainConfig:
    """The configuration of a new run: the preset, then the TOML file, then the options given."""
    from lstmcli.train import config_file as toml_settings
    from lstmcli.train.config import from_preset

    settings = toml_settings.load(config_file) if config_file is not None else {}
    preset_name, merged = toml_settings.merge(settings, dict(options, preset=preset))
    return from_preset(preset_name, **merged)
