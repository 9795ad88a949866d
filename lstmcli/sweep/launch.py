"""`lstmcli sweep run`, `show` and `list` as library calls: check, create or join, run K workers, watch, report.

Every refusal (the name, the space, the data, the storage URL, a study of that name with another space) comes
before anything is written. One worker runs in this process; `--workers K` starts K worker processes
(lstmcli.sweep.worker), each pinned to its share of this process's cores, so that lstmcli.runtime sizes
TensorFlow's thread pools to that share: on 2 cores, two one-thread workers rather than one two-thread one
(docs/performance.md has the measurement). This process then only watches the storage and forwards signals.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import optuna
from optuna.trial import TrialState

from lstmcli import plots
from lstmcli.errors import CheckFailed, FieldError, FileError, Interrupted, LstmcliError, literal
from lstmcli.schemas import SweepCounts, SweepList, SweepListProblem, SweepListRow, SweepReport, SweepTrial
from lstmcli.signals import StopSignals
from lstmcli.sweep import DEFAULT_HEARTBEAT, results, stored, studies
from lstmcli.sweep.space import Space, check, check_name, refuse_file_tasks, sweep_task
from lstmcli.sweep.worker import Worker, data_facts, every

MAX_WORKERS = 64
WATCH_PERIOD = 1.0  # seconds between looks at the storage for the progress display


class Watcher(Protocol):
    """What a sweep tells whoever watches it (lstmcli.cli.progress draws it)."""

    def update(self, counts: SweepCounts, best: SweepTrial | None, finished: list[SweepTrial]) -> None: ...
    def message(self, text: str) -> None: ...
    def stop(self) -> None: ...


@dataclass(frozen=True)
class Request:
    """A `sweep run`: the sweep's name and space, where its study and runs go, how many local workers."""

    name: str
    space: Space
    storage: str | None
    runs_dir: Path
    workers: int = 1
    heartbeat: int = DEFAULT_HEARTBEAT


class Watch:
    """Reads the study's trials every WATCH_PERIOD and reports the tally and the trials finished since."""

    def __init__(self, storage: Any, study_id: int, watcher: Watcher, space: Space) -> None:
        self.storage, self.study_id, self.watcher = storage, study_id, watcher
        self.figure, self.goal = results.objective(sweep_task(space))
        self.seen: set[int] | None = None  # trials finished before this run are not announced
        self.last: SweepCounts | None = None

    def poll(self) -> None:
        with contextlib.suppress(Exception):  # a slow or lost database must not end the sweep from here
            rows = results.trial_rows(self.storage.get_all_trials(self.study_id, deepcopy=False), self.figure)
            finished = [r for r in rows if r.state in ("COMPLETE", "PRUNED", "FAIL")]
            fresh = [] if self.seen is None else [r for r in finished if r.number not in self.seen]
            self.seen = {r.number for r in finished}
            self.last = results.tally(rows)
            self.watcher.update(self.last, results.best(rows, self.figure, self.goal), fresh)

    @contextlib.contextmanager
    def in_background(self) -> Iterator[None]:
        """Poll from a thread while this thread runs a worker (signals need the main thread)."""
        with every(WATCH_PERIOD, self.poll, "sweep-watch"):
            yield
        self.poll()


def run(request: Request, watcher: Watcher) -> SweepReport:
    """Run the sweep until no trial is left; return its report. Raises Interrupted on SIGINT/SIGTERM."""
    name, space = check_name(request.name), request.space
    if not 1 <= request.workers <= MAX_WORKERS:
        raise FieldError("workers", f"{{workers}} {request.workers}: give 1 to {MAX_WORKERS}")
    if not 1 <= request.heartbeat <= 3600:
        raise FieldError("heartbeat", f"{{heartbeat}} {request.heartbeat}: give 1 to 3600 seconds")
    where = studies.locate(request.storage, request.runs_dir, name)
    refuse_file_tasks(space)
    shape, data_sha256 = data_facts(space.fixed.get("data"))
    check(space, shape)
    folder = (request.runs_dir / name).absolute()
    if request.storage is None:  # the default storage is a file in that folder; otherwise write nothing yet
        _make(folder)
    storage = studies.open_storage(where, request.heartbeat)
    with studies.database_errors(where):
        study = studies.create_or_join(storage, where, name, space, data_sha256, watcher.message)
        requeued = studies.requeue_abandoned(study, where, name)
        if requeued:
            watcher.message(f"{requeued} trial(s) given up after {studies.MAX_RETRIES} lost workers are queued again")
        _make(folder)
        watch = Watch(storage, storage.get_study_id_from_name(name), watcher, space)
        try:
            if request.workers == 1:
                signals = StopSignals()
                with signals.installed(), watch.in_background():
                    code = Worker(study, storage, space, shape, folder, signals, where.journal).work()
            else:
                code = _processes(request, watch)
        finally:
            watcher.stop()
    if code in StopSignals.EXIT_CODES.values():
        again = f"lstmcli sweep run {name} (the same options)"
        raise Interrupted(f"sweep {name} stopped; its running trials are checkpointed and queued again; finish with: "
                          f"{again}", code)  # fmt: skip
    if code < 0:
        raise LstmcliError(f"a worker of sweep {name} was killed (signal {-code}) and trials are left; finish with: "
                           f"lstmcli sweep run {name} (the same options)")  # fmt: skip
    if code != 0:
        raise LstmcliError(f"a worker of sweep {name} stopped with an error (exit {code}; its message is above)")
    with studies.database_errors(where), stored.reading(name, where.shown):
        trials = stored.trials(name, where.shown, study.get_trials(deepcopy=False))
        return results.report(name, where.shown, space, trials)


def show(name: str, storage: str | None, runs_dir: Path, plot: Path | None = None) -> SweepReport:
    """`sweep show`: the report of sweep `name` from its storage alone; its plot (PNG: the task's figure against
    the parameter count) only at `plot`.

    A command that shows writes nothing it was not asked for: the plot is drawn only where it is named.
    """
    if plot is not None:
        plots.picture_format(plot)
    where = studies.locate(storage, runs_dir, check_name(name))
    opened = studies.open_storage(where, None, create=False)
    with studies.database_errors(where), stored.reading(name, where.shown):
        study, space, _ = studies.attach(opened, where, name, write=False)
        trials = stored.trials(name, where.shown, study.get_trials(deepcopy=False))
        report = results.report(name, where.shown, space, trials)
    if plot is not None and any(c.n for c in report.configurations):
        try:
            plots.sweep_figures([c.model_dump() for c in report.configurations], plot,
                                results.FIGURES[report.objective], report.baseline, title=f"sweep {name}")  # fmt: skip
        except OSError as exc:
            why = f"{{plot}} {literal(plot)}: cannot write it ({literal(exc.strerror)}); choose another path"
            raise FileError(plot, why) from None
        report.plot = str(plot)
    return report


def listing(storage: str | None, runs_dir: Path) -> SweepList:
    """`sweep list`: the studies in a storage, or in every DIR/*/study.db under the runs folder."""
    if storage is not None:
        places = [studies.locate(storage, runs_dir, "list")]
    elif not runs_dir.is_dir():
        raise FileError(runs_dir, f"{{runs_dir}} {literal(runs_dir)}: no such folder")
    else:
        files = sorted(p for p in runs_dir.glob(f"*/{studies.STUDY_FILE}") if not p.parent.name.startswith("."))
        places = [studies.Location(f"sqlite:///{p.absolute()}", str(p), p.absolute()) for p in files]
    rows: list[SweepListRow | SweepListProblem] = []
    for where in places:
        try:
            rows += _studies_in(where)
        except LstmcliError as exc:
            if storage is not None:
                raise
            rows.append(SweepListProblem(storage=where.shown, problem=str(exc)))
    return SweepList(where=places[0].shown if storage is not None else str(runs_dir), sweeps=rows)


def _studies_in(where: Any) -> list[SweepListRow | SweepListProblem]:
    """One row per study in the storage; a study that cannot be read is one row with its problem."""
    opened = studies.open_storage(where, None, create=False)
    with studies.database_errors(where), stored.reading("list", where.shown):
        names = [s.study_name for s in opened.get_all_studies()]
    rows: list[SweepListRow | SweepListProblem] = []
    for name in names:
        try:
            with studies.database_errors(where), stored.reading(name, where.shown):
                rows.append(_study_row(opened, where.shown, name))
        except LstmcliError as exc:
            rows.append(SweepListProblem(name=name, storage=where.shown, problem=str(exc)))
    return rows


def _study_row(opened: Any, shown: str, name: str) -> SweepListRow:
    study = optuna.load_study(study_name=name, storage=opened)
    attrs = study.user_attrs
    sweep = studies.SPACE_ATTR in attrs
    space = studies.Space.from_dict(attrs[studies.SPACE_ATTR]) if sweep else None
    figure, goal = results.RANKED_BY, results.MAXIMIZE
    if space is not None:
        where = studies.Location("", shown)
        task = studies.space_task(space, where, name)
        stored.check_direction(name, shown, [d.name.lower() for d in study.directions], task.name, task.objective,
                               task.direction)  # fmt: skip
        figure, goal = results.objective(task)
    trials = stored.trials(name, shown, study.get_trials(deepcopy=False))
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    start = min((t.datetime_start for t in trials if t.datetime_start is not None), default=None)
    top = (max if goal == results.MAXIMIZE else min)((t.value for t in complete), default=None)
    accuracy = figure == results.RANKED_BY
    return SweepListRow(
        name=name, storage=shown, sweep=sweep, search=None if space is None else space.search, trials=len(trials),
        complete=len(complete), best_val_accuracy=top if accuracy else None,
        started=None if start is None else start.isoformat(" ", "seconds"),
        objective=None if accuracy else figure, best_value=None if accuracy else top,
    )


def _make(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = f"{{runs_dir}}: cannot create {literal(folder)} ({literal(exc.strerror)}); choose a writable folder"
        raise FileError(folder, why) from None


def judge(report: SweepReport) -> None:
    """Exit 1 when trials failed for good (a NaN loss, a run that cannot be written), as a failed check."""
    counts = report.counts
    if counts.failed:
        raise CheckFailed(
            f"{counts.failed} of {counts.total - counts.retried} trials of sweep {report.study} failed; "
            f"their errors: lstmcli sweep show {report.study} --format json"
        )


def core_shares(workers: int) -> list[list[int]]:
    """This process's cores divided between the workers (several per core when there are more workers)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    n = len(cores)
    if workers <= n:
        return [cores[i * n // workers : (i + 1) * n // workers] for i in range(workers)]
    return [[cores[i % n]] for i in range(workers)]


def _pinned(share: list[int]) -> Callable[[], None]:
    """Run in each worker before it starts: its cores, and SIGTERM (a clean stop) should this process die."""

    def setup() -> None:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, share)
        if sys.platform.startswith("linux"):
            with contextlib.suppress(Exception):
                import ctypes

                ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return setup


class _Forwarded(StopSignals):
    """Records SIGINT/SIGTERM like StopSignals and passes them on to the worker processes."""

    def __init__(self, processes: list[subprocess.Popen[str]]) -> None:
        super().__init__()
        self.processes = processes

    def _handle(self, signum: int, frame: object) -> None:
        super()._handle(signum, frame)
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)


def _processes(request: Request, watch: Watch) -> int:
    """Start the K worker processes, relay their messages, poll the study until they exit; their exit code."""
    data = request.space.fixed.get("data")
    settings = {"storage": request.storage, "name": request.name, "runs_dir": str(request.runs_dir.absolute()),
                "data": None if data is None else str(Path(data).expanduser().absolute()),
                "heartbeat_s": request.heartbeat}  # fmt: skip
    # The worker process's entry is the command line's (its errors are said as `lstmcli` says them).
    command = [sys.executable, "-m", "lstmcli.cli.worker", json.dumps(settings)]
    processes: list[subprocess.Popen[str]] = []
    forwarded = _Forwarded(processes)
    with forwarded.installed():
        for share in core_shares(request.workers):
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True, preexec_fn=_pinned(share))  # fmt: skip
            processes.append(process)
        readers = [threading.Thread(target=_relay, args=(i + 1, p, watch.watcher), daemon=True)
                   for i, p in enumerate(processes)]  # fmt: skip
        for reader in readers:
            reader.start()
        while any(p.poll() is None for p in processes):
            watch.poll()
            time.sleep(WATCH_PERIOD)
        for reader in readers:
            reader.join(timeout=5)
        watch.poll()
    codes = [p.returncode for p in processes]
    if forwarded.received is not None:
        return StopSignals.EXIT_CODES[forwarded.received]
    stopped = [c for c in codes if c in StopSignals.EXIT_CODES.values()]
    if stopped:
        return stopped[0]
    for index, code in enumerate(codes, 1):
        if code:
            watch.watcher.message(f"worker {index} exited with {code}")
    # A worker killed by a signal (the kernel's out-of-memory killer, say) had its trial taken over by the
    # others: the sweep is still complete unless trials are left. A worker that ended in an error did not.
    failed = next((c for c in codes if c > 0), None)
    if failed is not None:
        return failed
    left = watch.last is None or watch.last.running + watch.last.waiting > 0
    return next((c for c in codes if c != 0), 0) if left else 0


def _relay(index: int, process: subprocess.Popen[str], watcher: Watcher) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        if line.strip():
            watcher.message(f"worker {index}: {line.rstrip()}")
