"""A sweep worker: pop a waiting trial, run it as an ordinary run folder, tell Optuna; until none is left.

Why its own loop rather than `study.optimize`: optimize creates a new trial whenever the queue is empty,
and with several workers racing for the last waiting trial that would add trials the sweep never asked
for. Here a worker only ever runs trials the study holds, popped WAITING -> RUNNING in one transaction
(Optuna's own exactly-once mechanism), and it stays until no trial is waiting or running anywhere, so that a
trial whose worker died (re-queued after its heartbeat stopped) is still picked up.

Each trial trains through lstmcli.train.runner, in DIR/NAME/<configuration>-seed<k>/: `eval`, `runs` and
`train --resume` work on it. A trial re-queued after its worker died resumes that folder where it can be
reached, and starts again where it cannot. SIGINT/SIGTERM stop the trial at a checkpoint, mark it failed and
re-queue it, and end the worker with 130/143.

`python -m lstmcli.cli.worker SETTINGS_JSON` runs `serve` in a worker process (what `sweep run --workers K`
starts); the command line's edge there says its errors as `lstmcli` does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from lstmcli import datasets
from lstmcli.errors import DataError, FieldError, FileError, Interrupted, LstmcliError, literal
from lstmcli.model.count import count
from lstmcli.rundir import RunFolder
from lstmcli.schemas import TrainMetrics
from lstmcli.signals import StopSignals
from lstmcli.sweep import studies
from lstmcli.sweep.space import DataShape, Space, folder_name, model_spec, train_config
from lstmcli.train import runner
from lstmcli.train.checkpoint import data_fingerprint, saved_step
from lstmcli.train.config import TrainConfig, read_run_config
from lstmcli.train.reporter import Quiet
from lstmcli.train.runner import OnEvaluation
from lstmcli.train.split import validation_size

POLL = 1.0  # seconds between looks at the queue while other workers' trials are still running


def data_facts(path: str | None) -> tuple[DataShape, str]:
    """The sizes a sweep checks its configurations against, and the SHA-256 every worker must share."""
    data = datasets.load(path)
    return DataShape(data.timesteps, data.features, data.classes, len(data.y_train)), data_fingerprint(data)


def pop(storage: Any, study_id: int) -> int | None:
    """Move the first waiting trial to RUNNING; None when none is left. A trial another worker took is skipped."""
    for trial in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            if storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                if heartbeat_interval(storage):  # at once: a trial that never beat is never taken for dead
                    storage.record_heartbeat(trial_id)
                return trial_id
    return None


def heartbeat_interval(storage: Any) -> int | None:
    return storage.get_heartbeat_interval() if hasattr(storage, "record_heartbeat") else None


@contextlib.contextmanager
def every(period: float, action: Callable[[], None], name: str) -> Iterator[None]:
    """Call `action` now and every `period` seconds from a thread, until the block ends."""
    done = threading.Event()

    def loop() -> None:
        while True:
            action()
            if done.wait(period):
                return

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@contextlib.contextmanager
def heartbeat(storage: Any, trial_id: int) -> Iterator[None]:
    """Record the trial's heartbeat every interval while it runs; a worker that dies stops beating."""
    interval = heartbeat_interval(storage)
    if not interval:
        yield
        return

    def beat() -> None:
        with contextlib.suppress(Exception):  # a database blip must not end the trial; staleness would
            storage.record_heartbeat(trial_id)

    with every(interval, beat, f"heartbeat-{trial_id}"):
        yield


def requeue(study: optuna.Study, storage: Any, trial_id: int) -> None:
    """A copy of a stopped trial, WAITING, that keeps its parameters, attributes and reported values."""
    with studies.quiet_experimental():
        studies.Retry(max_retry=None, inherit_intermediate_values=True)(study, storage.get_trial(trial_id))


def suggest(trial: optuna.Trial, space: Space) -> dict[str, Any]:
    """The trial's value of every searched option: fixed by the queue (grid, seeds, retries) or drawn."""
    params = {}
    for name in space.searched:
        if name in space.axes:
            params[name] = trial.suggest_categorical(name, list(space.axes[name]))
        else:
            r = space.ranges[name]
            draw = trial.suggest_int if isinstance(r.low, int) else trial.suggest_float
            params[name] = draw(name, r.low, r.high, log=r.log)  # type: ignore[operator]
    return params


# What a worker records on a trial from its run's metrics.json, for reports that read the storage alone: every
# task's validation and test figures (null where the task has none), and the run's time and steps.
RECORDED = ("val_accuracy", "best_val_accuracy", "test_accuracy", "val_mse", "test_mse", "val_loss", "test_loss",
            "val_recall_accuracy", "test_recall_accuracy", "best_val", "seconds", "steps")  # fmt: skip


def objective_value(metrics: TrainMetrics, config: TrainConfig) -> float:
    """The task's validation figure (its objective: accuracy, MSE, loss) of the model the run kept: the last
    evaluation's, or with --keep best the best's."""
    task = config.task_spec()
    if config.keep == "best":
        value = metrics.best_val_accuracy if task.kind == "classify" else metrics.best_val
    else:
        value = getattr(metrics, f"val_{task.objective}")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise DataError(f"the run recorded no validation {task.objective}")
    return float(value)


@dataclass
class Worker:
    """One process's share of a sweep: the study, this machine's data and runs folder, its stop flag."""

    study: optuna.Study
    storage: Any
    space: Space
    shape: DataShape
    folder: Path  # DIR/NAME on this machine
    stop: StopSignals
    journal: bool = False

    def __post_init__(self) -> None:
        self.study_id = self.storage.get_study_id_from_name(self.study.study_name)

    def work(self) -> int:
        """Run trials until none is waiting or running; 0, or 130/143 when stopped by a signal."""
        # Each trial builds its own tf.functions; TensorFlow's warning about retracing them means nothing here.
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        while self.stop.received is None:
            recover(self)
            trial_id = pop(self.storage, self.study_id)
            if trial_id is None:
                if not self.storage.get_all_trials(self.study_id, deepcopy=False,
                                                   states=(TrialState.WAITING, TrialState.RUNNING)):  # fmt: skip
                    return 0
                time.sleep(POLL)
                continue
            try:
                self.run_trial(trial_id)
            except Interrupted as exc:
                return exc.exit_code
            finally:
                _release_models()
        return StopSignals.EXIT_CODES[self.stop.received]

    def run_trial(self, trial_id: int) -> None:
        """One trial, told to Optuna whatever happens; a signal re-queues it and is raised on (Interrupted)."""
        trial = optuna.trial.Trial(self.study, trial_id)
        with heartbeat(self.storage, trial_id):
            try:
                value = self.objective(trial, trial_id)
            except optuna.TrialPruned:
                self.study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
            except Interrupted as exc:
                trial.set_user_attr("error", f"interrupted: {exc}")
                self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                requeue(self.study, self.storage, trial_id)
                raise
            except Exception as exc:  # any failure of one trial is recorded on it, and the sweep goes on
                detail = str(exc) if isinstance(exc, LstmcliError) else f"{type(exc).__name__}: {exc}"
                trial.set_user_attr("error", " ".join(detail.split())[:1000])
                self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            else:
                self.study.tell(trial, value, skip_if_finished=True)

    def objective(self, trial: optuna.Trial, trial_id: int) -> float:
        """Train the trial's configuration and seed; record what `sweep show` needs on the trial itself."""
        seed = trial.user_attrs.get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < self.space.seeds:
            raise DataError(f"trial {trial.number} carries no valid seed ({seed!r})")
        params = suggest(trial, self.space)
        config, units = train_config(self.space, params, seed, self.shape)
        derived = {} if units is None else {"units": units}
        key = folder_name({**params, **derived})
        run = self.folder / f"{key}-seed{seed}"
        previous = trial.user_attrs.get("run")
        spec = model_spec(config, self.shape)
        for name, value in {"configuration": key, "derived": derived, "config": config.to_dict(), "error": None,
                            "parameters": count(spec).total, "run": str(run), "host": socket.gethostname(),
                            "pid": os.getpid()}.items():  # fmt: skip
            trial.set_user_attr(name, value)
        if self.space.search != "grid" and seed == 0:
            enqueue_seeds(self, params, key)
        folder, metrics, resumed_from = train_trial(self, config, run, previous, on_evaluation(self, trial, trial_id))
        for name in RECORDED:
            trial.set_user_attr(name, getattr(metrics, name))
        trial.set_user_attr("run", str(folder))
        trial.set_user_attr("resumed_from", resumed_from)
        return objective_value(metrics, config)


def enqueue_seeds(worker: Worker, params: dict[str, Any], key: str) -> None:
    """Seeds 1..N-1 of a configuration random or TPE search just drew, once (a retry finds them there)."""
    queued = {(t.user_attrs.get("configuration"), t.user_attrs.get("seed")) for t in
              worker.storage.get_all_trials(worker.study_id, deepcopy=False)}  # fmt: skip
    for seed in range(1, worker.space.seeds):
        if (key, seed) not in queued:
            worker.study.enqueue_trial(params, user_attrs={"seed": seed, "configuration": key})


def on_evaluation(worker: Worker, trial: optuna.Trial, trial_id: int) -> OnEvaluation:
    """Report each validation evaluation (the task's objective: accuracy, MSE, loss) to Optuna and prune there
    when its pruner says so."""
    reported = set(worker.storage.get_trial(trial_id).intermediate_values)

    def evaluated(step: int, value: float) -> None:
        if worker.stop.received is not None:  # a signal that came before training installed its own handler
            raise Interrupted(f"stopped at step {step}", StopSignals.EXIT_CODES[worker.stop.received])
        if step not in reported:
            trial.report(value, step)
            reported.add(step)
        if trial.should_prune():  # the pruner compares in the study's direction, the task's
            raise optuna.TrialPruned(f"validation figure {value:.4g} at step {step}")

    return evaluated


def recover(worker: Worker) -> None:
    """Re-queue trials whose worker died: by heartbeat (RDB), or on this host by a dead pid (journal)."""
    if heartbeat_interval(worker.storage):
        with studies.quiet_experimental():
            optuna.storages.fail_stale_trials(worker.study)
        return
    if not worker.journal:
        return
    for trial in worker.storage.get_all_trials(worker.study_id, deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if trial.user_attrs.get("host") != socket.gethostname() or not isinstance(pid, int) or studies.alive(pid):
            continue
        trial_id = worker.storage.get_trial_id_from_study_id_trial_number(worker.study_id, trial.number)
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            if worker.storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                requeue(worker.study, worker.storage, trial_id)


def train_trial(
    worker: Worker, config: TrainConfig, run: Path, previous: Any, on_evaluation: OnEvaluation
) -> tuple[Path, TrainMetrics, int | None]:
    """Resume the trial's run where one is reachable (its last folder, or ours), else start it in ours."""
    candidates = [run]
    if isinstance(previous, str) and Path(previous).is_absolute() and Path(previous).name == run.name:
        candidates.insert(0, Path(previous))
    for folder in candidates:
        if RunFolder(folder).config.is_file():
            check_same(folder, config, worker.shape)
            wait_unlocked(folder, worker.stop)
            step = saved_step(RunFolder(folder).checkpoint)
            resumed = runner.resume(folder, Quiet(), on_evaluation=on_evaluation)
            return resumed.run, resumed.metrics, step
    if run.is_dir():
        wait_unlocked(run, worker.stop)
    started = runner.start(config, run, run.parent, Quiet(), on_evaluation=on_evaluation)
    return started.run, started.metrics, None


def check_same(folder: Path, config: TrainConfig, shape: DataShape) -> None:
    """A folder of this name must hold this trial's run (the data may sit elsewhere on another machine)."""
    def comparable(c: TrainConfig) -> dict[str, Any]:
        return {**c.to_dict(), "data": None, "validation": validation_size(c.validation, shape.train_size)}

    if comparable(read_run_config(folder)) != comparable(config):
        raise FileError(
            folder, f"{literal(folder)} holds a run of another configuration; move it away or use another {{runs_dir}}"
        )


def wait_unlocked(folder: Path, stop: StopSignals) -> None:
    """A trial taken for dead may still be finishing its run: wait for it rather than fail this one."""
    while RunFolder(folder).is_locked():
        if stop.received is not None:
            raise Interrupted("stopped while waiting for a run", StopSignals.EXIT_CODES[stop.received])
        time.sleep(POLL)


def _release_models() -> None:
    """Free the finished trial's graphs before the next one (Keras keeps them in a global session)."""
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.backend.clear_session()


def serve(storage: str | None, name: str, runs_dir: Path, data: str | None, heartbeat_s: int | None) -> int:
    """Join the study `name` and work on it: what each process of `sweep run --workers K` does."""
    where = studies.locate(storage, runs_dir, name)
    opened = studies.open_storage(where, heartbeat_s, create=False)
    study, stored, data_sha256 = studies.attach(opened, where, name, lambda text: print(text, file=sys.stderr))
    shape, sha = data_facts(data)
    if sha != data_sha256:
        raise FieldError("data", f"{{data}}: not the data sweep {literal(name)} was started with (its SHA-256 differs)")
    fixed = {k: v for k, v in stored.fixed.items() if k != "data"} | ({"data": data} if data else {})
    signals = StopSignals()
    with signals.installed(), studies.database_errors(where):
        folder = (runs_dir / name).absolute()
        worker = Worker(study, opened, replace(stored, fixed=fixed), shape, folder, signals, where.journal)
        return worker.work()

