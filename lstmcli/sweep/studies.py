"""Optuna's side of a sweep: the storage a URL names, the study of a name, its sampler, pruner and queue.

The storage is the only coordination between workers, on this machine or others. The first `sweep run` of
a name creates the study, records its search space and the SHA-256 of its data in the study's user
attributes, and enqueues every trial as WAITING (for a grid, every configuration x seed; for random and
TPE search, one slot per configuration, whose seeds are enqueued once it has drawn its parameters). Any
later `sweep run` of the name, anywhere, must give the same space and data, and then pops waiting trials:
Optuna moves a trial from WAITING to RUNNING in one transaction, so each is run exactly once.

Optuna, SQLAlchemy and the database driver are imported here only, by the commands that need a storage.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import random
import shutil
import socket
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.exceptions import ExperimentalWarning

from lstmcli.errors import DataError, FieldError, Interrupted, LstmcliError, UsageError, brief, literal
from lstmcli.files import status
from lstmcli.signals import StopSignals
from lstmcli.sweep import DEFAULT_HEARTBEAT, stored
from lstmcli.sweep.space import Space, sweep_task

if TYPE_CHECKING:
    from lstmcli.tasks import Task

try:  # Optuna >= 4.9 renamed the callback and its keyword; the older names are deprecated
    from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry

    RETRY_KEYWORD = "heartbeat_stale_trial_callback"
except ImportError:  # pragma: no cover - Optuna < 4.9
    from optuna.storages import RetryFailedTrialCallback as Retry

    RETRY_KEYWORD = "failed_trial_callback"

optuna.logging.set_verbosity(optuna.logging.WARNING)

STUDY_FILE = "study.db"
SPACE_ATTR, DATA_ATTR, READY_ATTR = "lstmcli_space", "lstmcli_data_sha256", "lstmcli_ready"
CREATOR_ATTR = "lstmcli_creator"  # host and pid of the `sweep run` that created the study and queues its trials
GRACE_FACTOR = 3  # a trial whose heartbeat is older than this many intervals is taken for dead and re-queued
MAX_RETRIES = 3  # re-queues of a trial whose worker died, before it is left failed
CONNECT_TIMEOUT = 10  # seconds to reach a database server before giving up
SETUP_ATTEMPTS = 5  # tries at creating Optuna's tables when workers start together on an empty database
JOIN_WAIT = 120  # seconds a joining worker waits for a creator whose queue of trials stopped growing
Say = Callable[[str], None]
# SQLite's result codes for a write the disk refused: "database or disk is full" (SQLITE_FULL) and, for a write
# the system failed (a file-size limit, a disk that filled between SQLite's checks), SQLITE_IOERR_WRITE.
SQLITE_WRITE_REFUSED = (13, 778)
FORMS = "sqlite:///FILE.db, postgresql://USER@HOST/DB, mysql://USER@HOST/DB or a journal file FILE.log"


@dataclass(frozen=True)
class Location:
    """Where a study lives: the URL Optuna opens, how messages show it (no password), and its file if any."""

    url: str
    shown: str
    file: Path | None = None
    journal: bool = False


def locate(storage: str | None, runs_dir: Path, name: str) -> Location:
    """The storage `--storage` names (checked, not opened), or the default DIR/NAME/study.db."""
    if storage is None:
        path = (runs_dir / name / STUDY_FILE).absolute()
        return Location(f"sqlite:///{path}", str(path), path)
    if "://" not in storage and storage.endswith(".log"):
        path = Path(storage).expanduser().absolute()
        return Location(str(path), str(path), path, journal=True)
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(storage)
        url.get_dialect()
    except ArgumentError:
        raise FieldError("storage", f"{{storage}} {literal(repr(storage))}: not a storage URL; give {FORMS}") from None
    except NoSuchModuleError:
        scheme = storage.partition(":")[0]
        hint = " (SQLAlchemy spells it postgresql://)" if scheme == "postgres" else ""
        why = f"{{storage}}: unknown scheme {literal(repr(scheme))}{hint}; give {FORMS}"
        raise FieldError("storage", why) from None
    if url.drivername == "postgresql" and not _importable("psycopg2") and _importable("psycopg"):
        url = url.set(drivername="postgresql+psycopg")  # the driver `lstmcli[postgres]` installs
        storage = url.render_as_string(hide_password=False)
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise FieldError(
                "storage", f"{{storage}} {literal(shown)}: give a database file (sqlite:///FILE.db) that workers share"
            )
        return Location(storage, shown, Path(url.database).expanduser().absolute())
    return Location(storage, shown)


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _engine_kwargs(url: str) -> dict[str, Any]:
    """Time limits, so that an unreachable database is an answer within seconds, not a hang."""
    from sqlalchemy.engine import make_url

    backend = make_url(url).get_backend_name()
    if backend == "sqlite":  # several processes write one file: wait for its lock rather than fail
        return {"connect_args": {"timeout": 60}}
    if backend in ("postgresql", "mysql", "mariadb"):
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}, "pool_pre_ping": True}
    return {"pool_pre_ping": True}


def open_storage(where: Location, heartbeat: int | None = DEFAULT_HEARTBEAT, create: bool = True) -> Any:
    """Open the storage; `create` False refuses a file that does not exist yet rather than make one.

    A storage opened with `create` or a `heartbeat` is a writer's (`sweep run`, its workers); without both a
    reader's (`show`, `list`), which writes nothing. Heartbeats (RDB storages) let a trial whose worker died
    be taken for dead after GRACE_FACTOR intervals and re-queued, up to MAX_RETRIES times, with what it
    reported so far.
    """
    write = create or heartbeat is not None
    if where.file is not None and not create and status(where.file, where.shown) is None:
        raise UsageError(f"{where.shown}: no such study storage; `lstmcli sweep list` shows the sweeps there")
    if where.file is not None and not where.file.parent.is_dir():
        raise FieldError("storage", f"{{storage}} {literal(where.shown)}: its folder does not exist")
    holds = where.file is not None and stored.check_file(where.file, where.shown, where.journal, write)
    if where.journal:
        return _journal(where)
    import sqlalchemy.exc

    options: dict[str, Any] = {"engine_kwargs": _engine_kwargs(where.url),
                               "skip_table_creation": not create or holds}  # fmt: skip
    try:
        with quiet_experimental():
            if heartbeat is not None:
                callback = Retry(max_retry=MAX_RETRIES, inherit_intermediate_values=True)
                options.update(heartbeat_interval=heartbeat, grace_period=GRACE_FACTOR * heartbeat,
                               **{RETRY_KEYWORD: callback})  # fmt: skip
            storage = _rdb(where.url, options)
            if write:
                serialise_writes(storage.engine)
            # Wrapped as Optuna wraps it for a study; every call of a worker must go through that one object.
            return optuna.storages.get_storage(storage)
    except ImportError as exc:  # Optuna re-raises the driver's ModuleNotFoundError as a plain ImportError
        driver = exc.name or getattr(exc.__cause__, "name", None) or brief(exc, 80)
        raise UsageError(
            f"{where.shown}: its database driver {driver!r} is not installed (pip install 'lstmcli[postgres]' "
            "for PostgreSQL)"
        ) from None
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError, RuntimeError, ValueError) as exc:
        raise UsageError(f"{where.shown}: cannot open it ({first_line(exc)})") from None


def _rdb(url: str, options: dict[str, Any]) -> Any:
    import sqlalchemy.exc

    for attempt in range(SETUP_ATTEMPTS):
        try:
            return optuna.storages.RDBStorage(url, **options)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError,
                sqlalchemy.exc.OperationalError) as exc:  # fmt: skip
            # Workers started together on an empty database race to create Optuna's tables; the
            # losers' CREATE fails, and their next attempt finds the tables made.
            lost_race = not isinstance(exc, sqlalchemy.exc.OperationalError) or "already exists" in str(exc)
            if not lost_race or attempt == SETUP_ATTEMPTS - 1:
                raise
            time.sleep(0.5 + random.random())
    raise AssertionError("unreachable")


def _journal(where: Location) -> Any:
    """A journal file Optuna replays; an entry it cannot replay (a study edited by hand) is one line."""
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    try:
        return JournalStorage(JournalFileBackend(str(where.file)))
    except OSError as exc:
        raise UsageError(f"{where.shown}: cannot open it ({exc.strerror or exc})") from None
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise DataError(f"{where.shown}: an Optuna journal that cannot be replayed ({brief(exc)})") from None


def serialise_writes(engine: Any) -> None:
    """Make every SQLite transaction of a writer BEGIN IMMEDIATE, so that Optuna's hand-out of a trial holds.

    Optuna takes a waiting trial by reading it `FOR UPDATE` and then writing it RUNNING. SQLite has no row
    locks, and Python's sqlite3 begins a transaction only at the first write, so two workers could both read
    the trial as waiting and both take it. BEGIN IMMEDIATE takes the database's write lock when the
    transaction starts: the second worker's read waits for the first one's commit and sees the trial taken.
    The recipe is SQLAlchemy's (pysqlite's own transaction handling switched off, then our own BEGIN).
    """
    if engine.dialect.name != "sqlite":
        return
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def no_implicit_begin(connection: Any, record: Any) -> None:
        connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened before the listeners would keep pysqlite's behaviour


def first_line(exc: BaseException) -> str:
    """A database error's first line only (SQLAlchemy appends the SQL and a help link below it)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return brief(text.splitlines()[0], 300) if text else type(exc).__name__


def sampler(space: Space) -> optuna.samplers.BaseSampler:
    """Grid trials carry their parameters from the queue; random and TPE slots draw theirs here.

    Unseeded on purpose: workers seeded alike would draw the same parameters.
    """
    if space.search == "tpe":
        return optuna.samplers.TPESampler()
    return optuna.samplers.RandomSampler()


def pruner(space: Space) -> optuna.pruners.BasePruner:
    if space.prune == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=space.prune_after, n_warmup_steps=0)
    if space.prune == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


def create_or_join(
    storage: Any, where: Location, name: str, space: Space, data_sha256: str, say: Say | None = None
) -> optuna.Study:
    """The study `name`: created and filled with its trials, or joined when it exists with the same space."""
    try:  # the study ranks by the task's objective, in its direction (accuracy up, a loss down)
        study = optuna.create_study(study_name=name, storage=storage, direction=sweep_task(space).direction,
                                    sampler=sampler(space), pruner=pruner(space))  # fmt: skip
    except optuna.exceptions.DuplicatedStudyError:
        study, stored_space, stored_sha = attach(storage, where, name, say)
        if stored_space.identity() != space.identity():
            raise UsageError(
                f"sweep {name} in {where.shown} exists with a different search space "
                f"({difference(stored_space, space)}); give the options it was started with, or another name"
            ) from None
        if stored_sha != data_sha256:
            raise FieldError(
                "data",
                f"{{data}}: not the data sweep {literal(name)} was started with (its SHA-256 differs); "
                "every worker must train on the same data",
            ) from None
        return study
    signals = StopSignals()
    # The handler turns Ctrl-C into a flag checked between trials: a KeyboardInterrupt raised inside
    # SQLAlchemy or SQLite can leave a connection or lock held, and the count below then waits forever.
    with signals.installed() if threading.current_thread() is threading.main_thread() else contextlib.nullcontext():
        study.set_user_attr(CREATOR_ATTR, {"host": socket.gethostname(), "pid": os.getpid()})
        study.set_user_attr(SPACE_ATTR, space.to_dict())
        study.set_user_attr(DATA_ATTR, data_sha256)
        queued = enqueue(study, space, planned(space), signals)
        if signals.received is None:
            study.set_user_attr(READY_ATTR, True)
    if signals.received is not None:
        raise Interrupted(f"interrupted while queueing the trials of sweep {name} ({queued} of {space.size()} "
                          f"queued); `lstmcli sweep run {name}` with the same options finishes queueing them",
                          StopSignals.EXIT_CODES[signals.received])  # fmt: skip
    return study


def difference(stored: Space, given: Space) -> str:
    """The first setting in which two spaces differ, for the refusal's one line."""
    old, new = stored.identity(), given.identity()
    for key in old:
        if old[key] != new[key]:
            return f"{key}: {old[key]!r} there, {new[key]!r} here"
    return "same settings"


def planned(space: Space) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every trial the study starts with, in queue order: (parameters, user attributes)."""
    if space.search == "grid":
        return [(params, {"seed": seed}) for seed in range(space.seeds) for params in space.grid()]
    return [({}, {"seed": 0, "slot": slot}) for slot in range(space.trials or 0)]


def enqueue(study: optuna.Study, space: Space, trials: list[tuple[dict[str, Any], dict[str, Any]]],
            signals: StopSignals | None = None) -> int:  # fmt: skip
    """`trials` WAITING: grid configurations seed by seed (seed 0 of each first), or the search's slots.

    Returns how many were queued: all of them, or those queued before `signals` received a stop.
    """
    for queued, (params, attrs) in enumerate(trials):
        if signals is not None and signals.received is not None:
            return queued
        study.enqueue_trial(params, user_attrs=attrs)
    return len(trials)


@contextlib.contextmanager
def machine_lock(where: Location, name: str) -> Iterator[None]:
    """One `sweep run` of this study at a time on this machine, for the steps that must not run twice."""
    key = hashlib.sha256(f"{where.url} {name}".encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"lstmcli-sweep-{key}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def requeue_abandoned(study: optuna.Study, where: Location, name: str) -> int:
    """Queue again the trials given up after MAX_RETRIES lost workers; the number queued.

    The limit keeps workers from retrying for ever a trial that kills its worker every time (out of memory,
    say); a new `sweep run`, started by hand, is the decision to try again. A trial that failed with an
    error (a NaN loss) records it and is not queued again.
    """
    from optuna.trial import TrialState

    with machine_lock(where, name):
        with quiet_experimental():
            # A trial whose worker was killed is RUNNING until someone notices its silent heartbeat: notice now
            # (its retry, if any is left, is queued by the storage's callback), so that one on its last retry
            # is given up here and queued again, not failed for good by the first worker after this.
            optuna.storages.fail_stale_trials(study)
        trials = study.get_trials(deepcopy=False)
        retried = {n for t in trials for n in t.system_attrs.get("retry_history", []) if isinstance(n, int)}
        abandoned = [t for t in trials if t.state == TrialState.FAIL and t.number not in retried
                     and t.user_attrs.get("error") is None]  # fmt: skip
        with quiet_experimental():
            for trial in abandoned:
                Retry(max_retry=None, inherit_intermediate_values=True)(study, trial)
    return len(abandoned)


def finish_setup(study: optuna.Study, where: Location, name: str, space: Space) -> None:
    """Queue what an interrupted creation left out, once: the trials queued must be the plan's first ones.

    Only a creator that ran on this machine and is gone is taken over; the lock (in the system's temporary
    folder, so on this machine) keeps two `sweep run` started together from both doing it.
    """
    with machine_lock(where, name):
        if study.user_attrs.get(READY_ATTR):
            return
        plan = planned(space)
        queued = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
        done = [(t.system_attrs.get("fixed_params", {}), dict(t.user_attrs)) for t in queued[: len(plan)]]
        if len(queued) > len(plan) or any(got != want for got, want in zip(done, plan, strict=False)):
            raise UsageError(f"sweep {name} in {where.shown} was never completely set up and holds trials of "
                             "another plan; delete it or choose another name")  # fmt: skip
        enqueue(study, space, plan[len(queued) :])
        study.set_user_attr(READY_ATTR, True)


def attach(storage: Any, where: Location, name: str, say: Say | None = None,
           write: bool = True) -> tuple[optuna.Study, Space, str]:  # fmt: skip
    """The existing study `name`, its space and its data's SHA-256, once its creator has enqueued every trial.

    While a creator is still queueing, a writer waits (saying so through `say`) as long as the queue grows;
    a creation interrupted on this machine (its process is gone) is finished here by a writer, and refused
    by a reader with what to do.
    """
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise UsageError(f"no sweep {name} in {where.shown}; `lstmcli sweep list` shows the sweeps there") from None
    started = changed = time.monotonic()
    attrs, queued, said = study.user_attrs, -1, False
    while not attrs.get(READY_ATTR):  # its creator may be recording its space or enqueueing it at this moment
        now, count = time.monotonic(), len(study.get_trials(deepcopy=False))
        creator = attrs.get(CREATOR_ATTR)
        if SPACE_ATTR not in attrs:
            if now - started > 2 or count:
                break
        elif _gone(creator):
            if not write:
                raise UsageError(f"sweep {name} in {where.shown}: its creation was interrupted ({count} trials "
                                 f"queued); `lstmcli sweep run {name}` with the same options finishes it")  # fmt: skip
            finish_setup(study, where, name, _space(attrs, where, name))
        else:
            if count != queued:
                queued, changed = count, now
            if not write or now - changed > JOIN_WAIT:
                break
            if say is not None and not said:
                say(f"waiting for the creator of sweep {name} ({_who(creator)}) to queue its trials ({count} queued)")
                said = True
        time.sleep(0.5)
        attrs = optuna.load_study(study_name=name, storage=storage).user_attrs
    if SPACE_ATTR not in attrs:
        raise UsageError(f"study {name} in {where.shown} was not made by lstmcli sweep; choose another name")
    if not attrs.get(READY_ATTR):
        if CREATOR_ATTR in attrs:
            raise UsageError(f"sweep {name} in {where.shown} is not completely set up: its creator "
                             f"({_who(attrs[CREATOR_ATTR])}) is still queueing trials, or stopped on another "
                             f"machine; run `lstmcli sweep run {name}` there to finish it, or delete it")  # fmt: skip
        raise UsageError(f"sweep {name} in {where.shown} was never completely set up; delete it or choose another name")
    space = _space(attrs, where, name)
    task = space_task(space, where, name)
    directions = [d.name.lower() for d in study.directions]
    stored.check_direction(name, where.shown, directions, task.name, task.objective, task.direction)
    study.sampler, study.pruner = sampler(space), pruner(space)
    return study, space, attrs.get(DATA_ATTR, "")


def _space(attrs: dict[str, Any], where: Location, name: str) -> Space:
    try:
        space = Space.from_dict(attrs[SPACE_ATTR])
        stored.study_attrs(attrs, (SPACE_ATTR, DATA_ATTR, READY_ATTR))
    except DataError as exc:
        raise DataError(f"sweep {name} in {where.shown}: {exc}") from None
    return space


def space_task(space: Space, where: Location, name: str) -> Task:
    """The task of a recorded space (it may have been edited: a task it cannot make is damage, one line)."""
    try:
        return sweep_task(space)
    except LstmcliError as exc:
        raise DataError(f"sweep {name} in {where.shown}: the task of its recorded search space cannot be made "
                        f"({exc}); start a new sweep") from None  # fmt: skip


def _who(creator: Any) -> str:
    if isinstance(creator, dict):
        return f"process {creator.get('pid')} on {creator.get('host')}"
    return "another sweep run"


def _gone(creator: Any) -> bool:
    """A creator that ran on this machine and whose process is no more."""
    if not isinstance(creator, dict) or creator.get("host") != socket.gethostname():
        return False
    pid = creator.get("pid")
    return isinstance(pid, int) and not isinstance(pid, bool) and not alive(pid)


def alive(pid: int) -> bool:
    """Whether a process of this machine still runs (one of another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    return True


@contextlib.contextmanager
def database_errors(where: Location) -> Iterator[None]:
    """A database that fails mid-command (gone, not an Optuna schema, no rights, a full disk) as one line, exit 2.

    Optuna re-raises a failed commit as StorageInternalError, whose own text guesses at "invalid data": the line
    says the driver's error under it instead.
    """
    import sqlalchemy.exc

    try:
        yield
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
        raise storage_failure(where, exc) from None


def _driver_error(exc: BaseException) -> BaseException:
    """The database driver's own error under Optuna's and SQLAlchemy's wrappers."""
    for _ in range(8):
        inner = getattr(exc, "orig", None) or exc.__cause__
        if not isinstance(inner, BaseException):
            break
        exc = inner
    return exc


def storage_failure(where: Location, exc: BaseException) -> FieldError:
    """The one line for a storage that failed; for a full disk under an SQLite study, the room it had and needed.

    SQLite rolls a failed write back, so the study is as it was before it: making room and running the same
    command again goes on from there.
    """
    cause = _driver_error(exc)
    text = f"{{storage}} {literal(where.shown)}: {literal(first_line(cause))}"
    if getattr(cause, "sqlite_errorcode", None) not in SQLITE_WRITE_REFUSED or where.file is None:
        return FieldError("storage", text)
    try:
        with where.file.open("rb") as handle:  # the page size is bytes 16-17 of the header (1 means 65,536)
            page = int.from_bytes(handle.read(100)[16:18], "big") or 4096
        free = f"{shutil.disk_usage(where.file.parent).free:,} bytes free"
    except OSError:
        page, free = 4096, "its free space unknown"
    page = 65536 if page == 1 else page
    return FieldError(
        "storage",
        f"{text}: a write was refused ({free}; one needs at least {2 * page:,}: a page of the study and its "
        "journal); the study is as it was before the write: make room, then run the same command again",
    )


@contextlib.contextmanager
def quiet_experimental() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        yield
