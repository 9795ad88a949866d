"""What `lstmcli train` and `lstmcli eval` do, end to end, without any terminal formatting.

Every check that can refuse the command (options, data, output folder) runs before anything on disk
changes and before TensorFlow is imported, so a refusal is quick and leaves the disk as it was.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any

from lstmcli import data as dataset
from lstmcli import plots, rundir
from lstmcli.cli.progress import Reporter
from lstmcli.errors import DataError, LstmcliError, UsageError
from lstmcli.train.config import TrainConfig

TENSORBOARD = "tensorboard"


def resolve_out(out: Path | None, runs_root: Path, resume: Path | None, force: bool) -> tuple[Path, bool]:
    """The run folder to write, and whether it is new. Refuses to mix two runs in one folder."""
    if resume is not None:
        if not (resume / rundir.CONFIG).is_file():
            raise UsageError(f"--resume {resume}: not a lstmcli run (no {rundir.CONFIG}); give a run directory")
        return resume, False
    if out is None:
        return rundir.new_run_dir(runs_root), True
    if out.is_dir() and rundir.holds_run(out) and not force:
        raise UsageError(
            f"--out {out} already holds a run; use --resume {out} to continue it, --force to replace it, "
            "or choose another folder"
        )
    return rundir.prepare_out_dir(out), True


def read_run_config(run: Path) -> TrainConfig:
    """The configuration a run was started with (config.json), refused cleanly if it was damaged."""
    path = run / rundir.CONFIG
    data = rundir.read_json(path)
    try:
        return TrainConfig.from_dict(data)
    except (LstmcliError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: not a valid lstmcli configuration ({exc}); start a new run instead") from None


def run_training(
    config: TrainConfig | None,
    out: Path | None,
    runs_root: Path,
    reporter: Reporter,
    resume: Path | None = None,
    force: bool = False,
    tensorboard: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Train a new run (config given) or resume one; return the run folder and its final metrics.

    The complete run also gets curves.png (learning curves); with `tensorboard`, TensorBoard logs in
    RUN/tensorboard."""
    if resume is not None:
        resolve_out(None, runs_root, resume, force)
        config = read_run_config(resume)
    assert config is not None
    if config.data is not None and resume is None:  # the run must find its data again on --resume from anywhere
        config = config.with_overrides(data=str(Path(config.data).expanduser().absolute()))
    data = dataset.load(config.data)
    # Everything that can refuse the run is checked before the first write: batch size against the data,
    # the network's sizes (--layers) and whether its weights fit in memory.
    config.total_steps(len(data.y_train))
    from lstmcli.model.factory import check_buildable

    check_buildable(config.model_spec(data.timesteps, data.features, data.classes), "use smaller --units or --layers")
    run, _ = resolve_out(out, runs_root, resume, force)
    with rundir.locked(run):
        if resume is not None and (run / rundir.METRICS).exists():
            reporter.message(f"{run} is already complete; nothing to resume")
            if not (run / plots.CURVES).exists():  # killed after metrics.json, before the plot
                plots.learning_curves(rundir.read_history(run / rundir.HISTORY), run / plots.CURVES, title=run.name)
            return run, rundir.read_json(run / rundir.METRICS)
        if resume is None:
            try:
                if force:  # metrics.json first: a --force killed half-way never leaves a run that looks complete
                    for name in (rundir.METRICS, *rundir.RUN_FILES, plots.CURVES, plots.CONFUSION):
                        with contextlib.suppress(FileNotFoundError):
                            (run / name).unlink()
                    shutil.rmtree(run / TENSORBOARD, ignore_errors=True)
                rundir.write_json(run / rundir.CONFIG, config.to_dict())
            except OSError as exc:
                raise UsageError(
                    f"--out {run}: cannot write there ({exc.strerror}); choose a writable folder"
                ) from None
        from lstmcli.train.loop import train

        metrics = train(config, data, run, reporter, resume is not None, run / TENSORBOARD if tensorboard else None)
        try:  # the run is complete already; a picture that cannot be written must not turn it into a failure
            plots.learning_curves(rundir.read_history(run / rundir.HISTORY), run / plots.CURVES, title=run.name)
        except (OSError, ValueError) as exc:
            reporter.message(f"could not write {run / plots.CURVES}: {exc}")
    return run, metrics


def run_eval(target: Path, data_path: str | None, unsafe: bool) -> tuple[Path, dict[str, Any]]:
    """Evaluate a run directory or .keras file on the test split; the run's own data by default."""
    from lstmcli.evaluate import check_compatible, load_model, make_predictor, resolve_model_path
    from lstmcli.metrics import summarize

    model_path = resolve_model_path(target)
    if data_path is None and target.is_dir() and (target / rundir.CONFIG).exists():
        data_path = rundir.read_json(target / rundir.CONFIG).get("data")
    data = dataset.load(data_path)
    from lstmcli import runtime

    runtime.tensorflow()
    model = load_model(model_path, unsafe=unsafe)
    check_compatible(model, data.x_test, data.classes, model_path)
    result = summarize(make_predictor(model, data.scale)(data.x_test), data.y_test)
    result["model"] = str(model_path)
    result["data"] = data.source
    return model_path, result
