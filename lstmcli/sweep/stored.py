"""What a sweep's storage holds, checked before it is trusted: its file, and the records lstmcli reads back.

A storage path is opened only when it is a regular file of the right kind: an SQLite database that holds
Optuna's tables and nothing else (or is empty, for a new study), or a journal whose every line is one of
Optuna's operations. A path that fails is refused without being opened for writing, so it is never changed.
The one repair made is to a journal whose last entry a crash cut short: Optuna never reads that entry, and
the next append would turn it into a damaged line in the middle of the file, unreadable for good; the writer
drops it, holding Optuna's own journal lock.

Standard library here; Optuna only where its journal lock is taken.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from lstmcli.errors import DataError, UsageError, brief
from lstmcli.files import kind, open_regular, status

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

SQLITE_HEADER = b"SQLite format 3\x00"
# Optuna's tables (schema of Optuna 3 to 5) and the columns lstmcli's reads rely on; alembic_version is
# Optuna's migration marker. A file that holds any other table belongs to another application.
OPTUNA_TABLES = {
    "studies": {"study_id", "study_name"},
    "trials": {"trial_id", "number", "study_id", "state"},
    "version_info": {"schema_version", "library_version"},
    "alembic_version": set(),
    "study_directions": set(),
    "study_user_attributes": set(),
    "study_system_attributes": set(),
    "trial_user_attributes": set(),
    "trial_system_attributes": set(),
    "trial_params": set(),
    "trial_values": set(),
    "trial_intermediate_values": set(),
    "trial_heartbeats": set(),
}
SETUP_WAIT = 10  # seconds to wait for another `sweep run` that is creating Optuna's tables in the same file
JOURNAL_OPS = range(11)  # Optuna's JournalOperation codes, create_study (0) to discard_trials (10)


def check_file(path: Path, shown: str, journal: bool, write: bool) -> bool:
    """Refuse a storage path that is not a study file lstmcli may use; True when it holds a study already.

    `write` is for `sweep run` and its workers: the file (or, when it does not exist yet, its folder) must be
    writable, since SQLite writes its rollback journal and Optuna its journal lock beside it.
    """
    found = status(path, shown)
    if found is not None and not stat.S_ISREG(found.st_mode):
        raise DataError(f"{shown}: is {kind(found.st_mode)}, not a regular file; give a study file")
    if found is None and not path.parent.is_dir():
        raise UsageError(f"{shown}: its folder does not exist")
    if write and not (os.access(path.parent, os.W_OK) and (found is None or os.access(path, os.W_OK))):
        raise UsageError(f"{shown}: cannot write it (it or its folder is read-only); sweep run records every trial "
                         "there")  # fmt: skip
    if found is None or found.st_size == 0:
        return False
    if journal:
        check_journal(path, shown, repair=write)
    else:
        check_sqlite(path, shown)
    return True


def check_sqlite(path: Path, shown: str) -> None:
    """An Optuna database: SQLite's header, only Optuna's tables, and its version recorded (a read-only look).

    A file whose tables are some of Optuna's with no version yet is being created by another worker started
    at the same moment: it is given SETUP_WAIT seconds to finish.
    """
    deadline = time.monotonic() + SETUP_WAIT
    while True:
        with open_regular(path, shown) as handle:
            header = handle.read(len(SQLITE_HEADER))
        if header != SQLITE_HEADER:
            raise DataError(f"{shown}: not an SQLite database (no SQLite header); give a study file or another path")
        try:
            tables = _tables(path)
        except sqlite3.Error as exc:
            raise DataError(f"{shown}: not a readable SQLite database ({brief(exc)})") from None
        foreign = sorted(set(tables) - set(OPTUNA_TABLES))
        wrong = sorted(t for t, columns in tables.items() if not OPTUNA_TABLES.get(t, set()) <= columns)
        if foreign or wrong:
            what = f"it holds table {foreign[0]!r}" if foreign else f"its table {wrong[0]!r} is not Optuna's"
            raise DataError(f"{shown}: not an Optuna study database ({what}); give another path")
        if set(tables) == set(OPTUNA_TABLES) and _versioned(path):
            return
        if time.monotonic() > deadline:
            raise DataError(f"{shown}: an Optuna database whose setup never finished; delete it or give another path")
        time.sleep(0.5)


def _tables(path: Path) -> dict[str, set[str]]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as connection:
        names = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {name: {row[1] for row in connection.execute("SELECT * FROM pragma_table_info(?)", (name,))}
                for name in names if not name.startswith("sqlite_")}  # fmt: skip


def _versioned(path: Path) -> bool:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as connection:
        versions = connection.execute("SELECT schema_version FROM version_info").fetchall()
        migrated = connection.execute("SELECT * FROM alembic_version").fetchall()
    return bool(versions) and bool(migrated)


def check_journal(path: Path, shown: str, repair: bool) -> None:
    """Every line one of Optuna's operations; a last line a crash cut short is dropped when `repair`."""
    with open_regular(path, shown) as handle:
        for number, line in enumerate(handle, 1):
            if not line.endswith(b"\n"):
                break  # the last entry, unfinished: Optuna skips it
            problem = _not_an_operation(line)
            if problem:
                raise DataError(f"{shown}: not an Optuna journal (line {number}: {problem}); give a journal file "
                                "or another path")  # fmt: skip
        else:
            return
    if repair:
        _drop_unfinished_entry(path)


def _not_an_operation(line: bytes) -> str | None:
    try:
        entry = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "not JSON"
    if not isinstance(entry, dict):
        return f"a JSON {type(entry).__name__}, not an object"
    op = entry.get("op_code")
    if isinstance(op, bool) or not isinstance(op, int) or op not in JOURNAL_OPS:
        return f"op_code {brief(repr(op), 40)} is not one of Optuna's operations"
    if not isinstance(entry.get("worker_id"), str):
        return "no worker_id"
    return None


def _drop_unfinished_entry(path: Path) -> None:
    """Cut the journal after its last complete line, under Optuna's lock (a writer may be appending now)."""
    from optuna.storages.journal import JournalFileSymlinkLock

    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        with open(path, "r+b") as handle:
            end = handle.seek(0, os.SEEK_END)
            cut = end
            while cut > 0:  # back from the end, a block at a time, to the last newline
                start = max(0, cut - 65536)
                handle.seek(start)
                block = handle.read(cut - start)
                if b"\n" in block:
                    cut = start + block.rfind(b"\n") + 1
                    break
                cut = start
            if cut != end:
                handle.truncate(cut)
                handle.flush()
                os.fsync(handle.fileno())
    finally:
        lock.release()


# --- the records: what lstmcli reads back from a study ---------------------------------------------------------

RETRY_KEYS = ("failed_trial", "retry_history")  # the system attributes of Optuna's retry that reports read
READ_ERRORS = (ValueError, LookupError, TypeError, AttributeError, AssertionError, RuntimeError, ArithmeticError)


@contextlib.contextmanager
def reading(name: str, shown: str) -> Iterator[None]:
    """A study that Optuna cannot load (edited by hand, written by another version) as one line, exit 2.

    Optuna turns what it reads into its own objects as it reads: a user attribute that is not JSON, an
    unknown state or direction, a null value or a broken distribution end in whatever Python error the
    conversion met (JSONDecodeError, LookupError, AssertionError, RecursionError, ...).
    """
    import optuna

    try:
        yield
    except (*READ_ERRORS, optuna.exceptions.StorageInternalError) as exc:
        raise DataError(f"sweep {name} in {shown} cannot be read ({damage(exc)}); it was edited by hand or by "
                        "another Optuna version") from None  # fmt: skip


def damage(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {brief(exc, 160)}" if str(exc) else type(exc).__name__


Count = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Loss = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class TrialAttrs(_Strict):
    """The user attributes a worker records on a trial (lstmcli/sweep/worker.py); any may be missing yet."""

    seed: Count | None = None
    slot: Count | None = None
    configuration: str | None = None
    derived: dict[str, Count] | None = None
    config: dict[str, Any] | None = None
    parameters: Count | None = None
    run: str | None = None
    host: str | None = None
    pid: int | None = None
    error: str | None = None
    val_accuracy: Fraction | None = None
    best_val_accuracy: Fraction | None = None
    test_accuracy: Fraction | None = None
    val_mse: Loss | None = None
    test_mse: Loss | None = None
    val_loss: Loss | None = None
    test_loss: Loss | None = None
    val_recall_accuracy: Fraction | None = None
    test_recall_accuracy: Fraction | None = None
    best_val: Loss | None = None
    seconds: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    steps: Count | None = None
    resumed_from: Count | None = None


class TrialRecord(_Strict):
    """What Optuna holds of a trial that reports read: parameters are plain values, figures numbers."""

    state: str
    values: list[float] | None = None  # Optuna stores infinities; a NaN fails the trial
    params: dict[str, bool | int | Finite | str]
    intermediate_values: dict[int, float]


class StudyAttrs(_Strict):
    """The user attributes `sweep run` records on its study (lstmcli/sweep/studies.py), the space apart."""

    space: dict[str, Any]
    data_sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$")] = ""
    ready: bool = False


def study_attrs(attrs: dict[str, Any], keys: tuple[str, str, str]) -> dict[str, Any]:
    """The study's lstmcli attributes, checked; `keys` are their names in the storage (space, data, ready)."""
    from pydantic import ValidationError

    try:
        fields = zip(("space", "data_sha256", "ready"), keys, strict=True)
        StudyAttrs.model_validate({field: attrs[key] for field, key in fields if key in attrs})
    except ValidationError as exc:
        raise DataError(f"its study attribute {_first(exc)}; it was edited by hand or by another program") from None
    return attrs


def check_direction(name: str, shown: str, directions: list[str], task: str, objective: str, expected: str) -> None:
    """The study's direction (Optuna's) must be the one its task is judged in: a study that ranked the adding
    problem's MSE upwards would call the worst configuration the best."""
    if directions != [expected]:
        held = " and ".join(directions) or "no direction"
        raise DataError(f"sweep {name} in {shown}: its study's direction is {held}, but task {task} is judged by "
                        f"its {objective} ({expected}); it was edited by hand or by another program")  # fmt: skip


class RetryAttrs(_Strict):
    failed_trial: Count | None = None
    retry_history: list[Count] | None = None


def trials(name: str, shown: str, found: list[FrozenTrial]) -> list[FrozenTrial]:
    """The trials of sweep `name`, each of whose records lstmcli reads checked field by field (pydantic)."""
    from pydantic import ValidationError

    for trial in found:
        try:
            TrialRecord.model_validate({"state": trial.state.name, "values": trial.values, "params": trial.params,
                                        "intermediate_values": trial.intermediate_values})  # fmt: skip
            TrialAttrs.model_validate(trial.user_attrs)
            RetryAttrs.model_validate({k: trial.system_attrs[k] for k in RETRY_KEYS if k in trial.system_attrs})
        except ValidationError as exc:
            raise DataError(f"sweep {name} in {shown}: trial {trial.number}: {_first(exc)}; it was edited by hand "
                            "or by another program") from None  # fmt: skip
    return found


def _first(exc: Any) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "record"
    return f"{where}: {brief(error['msg'], 120)}"
