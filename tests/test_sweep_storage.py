"""A sweep's storage attacked from outside (lstmcli/sweep/studies.py): files that are not what they seem, drivers
that are missing, files that cannot be written, journals cut short or damaged.

Every refusal is one line and exit 2, comes before anything is written, and leaves the file as it was.
No test here trains but the one that finishes a sweep on a journal a crash cut short.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lstmcli.cli import main

ROOT = Path(__file__).resolve().parent.parent


def tiny(data: Path) -> list[str]:
    return ["--data", str(data), "--units", "4", "--steps", "20", "--eval-every", "20", "--batch-size", "20"]


def refused(argv: list[str], capsys: pytest.CaptureFixture[str], says: str = "") -> str:
    """The command ends in one line, exit 2, within seconds (a FIFO must not block it)."""
    capsys.readouterr()
    started = time.monotonic()
    assert main(argv) == 2
    assert time.monotonic() - started < 30
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("lstmcli: error:") and "\n" not in err and "Traceback" not in err, captured.err
    assert says in err, err
    return err


def snapshot(folder: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every entry under `folder`: its mode, and the bytes of the regular files."""
    regular = {p for p in folder.rglob("*") if stat.S_ISREG(os.lstat(p).st_mode)}
    return {str(p.relative_to(folder)): (os.lstat(p).st_mode, p.read_bytes() if p in regular else None)
            for p in sorted(folder.rglob("*"))}  # fmt: skip


def made_study(storage: str | None, runs: Path, name: str, data: Path) -> None:
    """A real lstmcli study (queued, not run), as `sweep run` creates it."""
    from lstmcli.sweep import studies
    from lstmcli.sweep.space import build
    from lstmcli.sweep.worker import data_facts

    where = studies.locate(storage, runs, name)
    if where.file is not None:
        where.file.parent.mkdir(parents=True, exist_ok=True)
    space = build({"units": "4,8", "data": str(data), "steps": "20", "eval_every": "20", "batch_size": "20"})
    studies.create_or_join(studies.open_storage(where), where, name, space, data_facts(str(data))[1])


# --- drivers and URLs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["mysql://user@127.0.0.1:9/db", "postgresql+pg8000://user@127.0.0.1:9/db"])
@pytest.mark.parametrize("command", ["run", "show", "list"])
def test_a_url_whose_driver_is_not_installed(
    url: str, command: str, small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Optuna re-raises the driver's ModuleNotFoundError as a plain ImportError: it was a traceback."""
    argv = {"run": ["sweep", "run", "x", *tiny(small_npz)], "show": ["sweep", "show", "x"], "list": ["sweep", "list"]}
    err = refused([*argv[command], "--storage", url, "--runs-dir", str(tmp_path / "runs")], capsys, "driver")
    assert "not installed" in err
    assert not any(tmp_path.iterdir())


# --- SQLite files that are not Optuna's ----------------------------------------------------------------------


def test_another_applications_sqlite_file_whose_table_names_match_is_not_changed(
    small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tables named `studies` and `trials` passed the check, and Optuna added its other tables before refusing."""
    import sqlite3

    runs = tmp_path / "runs"
    (runs / "app").mkdir(parents=True)
    with sqlite3.connect(runs / "app" / "study.db") as db:
        db.execute("CREATE TABLE studies (title TEXT, year INTEGER)")
        db.execute("CREATE TABLE trials (court TEXT)")
        db.execute("INSERT INTO studies VALUES ('mine', 1999)")
    before = snapshot(tmp_path)
    url = f"sqlite:///{runs / 'app' / 'study.db'}"
    for argv in (["run", "app", *tiny(small_npz)], ["show", "app"], ["run", "app", *tiny(small_npz), "--storage", url],
                 ["show", "app", "--storage", url], ["list", "--storage", url]):  # fmt: skip
        refused(["sweep", *argv, "--runs-dir", str(runs)], capsys, "not an Optuna study database")
    assert snapshot(tmp_path) == before


def nodes(folder: Path, kind: str, name: str) -> Path:
    path = folder / name
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a second /dev/null
    return path


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
@pytest.mark.parametrize("form", ["sqlite", "journal", "default"])
def test_a_storage_path_that_is_not_a_regular_file(
    kind: str, form: str, small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FIFO journal blocked forever, a device was an fsync traceback and got a `-journal` file beside it."""
    runs = tmp_path / "runs"
    (runs / "x").mkdir(parents=True)
    if form == "default":
        storage: list[str] = []
        path = nodes(runs / "x", kind, "study.db")
    else:
        path = nodes(tmp_path, kind, "study.db" if form == "sqlite" else "study.log")
        storage = ["--storage", f"sqlite:///{path}" if form == "sqlite" else str(path)]
    before = snapshot(tmp_path)
    for argv in (["run", "x", *tiny(small_npz)], ["show", "x"], ["list"]):
        if argv == ["list"] and not storage:
            continue  # listing a runs folder shows the damaged one as a row (test_sweep_stored.py)
        refused(["sweep", *argv, *storage, "--runs-dir", str(runs)], capsys, "not a regular file")
    assert snapshot(tmp_path) == before


# --- journals ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"my notes about the experiment\n",
        b"[1, 2, 3]\n",
        b'{"op_code": 0, "worker_id": "w"}\n{"user": "not an operation"}\n',
        b'{"op_code": "create", "worker_id": "w"}\n',
        b"\xff\xfe binary\n",
    ],
    ids=["text", "json-list", "object-not-an-op", "op-code-text", "not-utf8"],
)
def test_a_file_that_is_not_an_optuna_journal_is_refused_and_not_appended_to(
    content: bytes, small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "notes.log"
    journal.write_bytes(content)
    before = snapshot(tmp_path)
    runs = ["--runs-dir", str(tmp_path / "runs")]
    for argv in (["run", "x", *tiny(small_npz)], ["show", "x"], ["list"]):
        refused(["sweep", *argv, "--storage", str(journal), *runs], capsys, "not an Optuna journal")
    assert snapshot(tmp_path) == before


def test_a_journal_with_one_damaged_line_is_refused_by_line(
    small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "sweep.log"
    made_study(str(journal), tmp_path / "runs", "damaged", small_npz)
    lines = journal.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2][: len(lines[2]) // 2] + b"\n"
    journal.write_bytes(b"".join(lines))
    before = snapshot(tmp_path)
    for argv in (["run", "damaged", *tiny(small_npz)], ["show", "damaged"], ["list"]):
        err = refused(["sweep", *argv, "--storage", str(journal), "--runs-dir", str(tmp_path / "runs")], capsys)
        assert "line 3" in err and str(journal) in err
    assert snapshot(tmp_path) == before


def test_a_journal_cut_short_by_a_crash_is_finished_by_the_next_run(
    small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Optuna skips a last line without its newline; the next append made it a damaged line for good."""
    journal, runs = tmp_path / "sweep.log", tmp_path / "runs"
    storage = ["--storage", str(journal), "--runs-dir", str(runs)]
    first = [sys.executable, "-m", "lstmcli", "sweep", "run", "cut", *tiny(small_npz), "--seeds", "2", *storage]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    assert subprocess.run([*first, "--quiet"], env=env, capture_output=True, timeout=300).returncode == 0
    journal.write_bytes(journal.read_bytes()[:-40])  # the last entry, half written when the machine went down
    capsys.readouterr()
    assert main(["sweep", "show", "cut", *storage, "--format", "json"]) == 0
    assert main(["sweep", "run", "cut", *tiny(small_npz), "--seeds", "2", *storage, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["sweep", "show", "cut", *storage, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["complete"] == 2 and report["counts"]["waiting"] == 0
    assert journal.read_bytes().endswith(b"\n")


# --- a study file that cannot be written ---------------------------------------------------------------------


@pytest.fixture
def world(small_npz: Path) -> Iterator[Path]:
    """A folder another user can reach (pytest's own is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="lstmcli-sweep-world-", dir="/tmp"))
    folder.chmod(0o755)
    shutil.copy(small_npz, folder / "small.npz")
    (folder / "small.npz").chmod(0o644)
    yield folder
    shutil.rmtree(folder)


def as_other_user(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI as an unprivileged user (root writes read-only files), or as ourselves when we are not root."""
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    code = "import sys; from lstmcli.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(cwd), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [*prefix, sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


@pytest.mark.parametrize("form", ["default", "journal"])
def test_a_study_that_cannot_be_written(form: str, world: Path) -> None:
    """A read-only study file was Optuna's StorageInternalError, a traceback; show and list still read it."""
    if os.geteuid() == 0 and (shutil.which("setpriv") is None or as_other_user(["--version"], world).returncode):
        pytest.skip("needs setpriv, and a Python and checkout that an unprivileged user can read")
    runs = world / "runs"
    storage = [] if form == "default" else ["--storage", str(world / "sweep.log")]
    made_study(storage[1] if storage else None, runs, "frozen", world / "small.npz")
    for path in [*world.rglob("*"), world]:
        path.chmod(path.stat().st_mode & ~0o222)
    before = snapshot(world)
    try:
        data = world / "small.npz"
        done = as_other_user(["sweep", "run", "frozen", *tiny(data), *storage, "--runs-dir", str(runs)], world)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("lstmcli: error:") and "cannot write" in done.stderr, done.stderr
        for argv in (["show", "frozen", "--format", "json"], ["list", "--format", "json"]):
            done = as_other_user(["sweep", *argv, *storage, "--runs-dir", str(runs)], world)
            assert done.returncode == 0 and done.stderr == "", done.stderr
        assert snapshot(world) == before
    finally:
        for path in [world, *world.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)


# --- an interrupted creation -----------------------------------------------------------------------------------


def queued_trials(study: Path) -> int:
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{study}?mode=ro", uri=True, timeout=1)) as db:
            return db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_an_interrupted_creation_is_finished_by_the_next_run(
    signum: int, small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C while a large grid was queued exited 130 without a word and left a study `sweep run` could never
    finish; the next `sweep show` or `sweep run` waited 121 s in silence, then said to delete it."""
    from lstmcli.sweep import studies
    from lstmcli.sweep.space import build
    from lstmcli.sweep.worker import data_facts

    runs, units = tmp_path / "runs", ",".join(str(u) for u in range(4, 84))
    fixed = {"steps": "20", "eval_every": "20", "batch_size": "20", "data": str(small_npz)}
    argv = ["sweep", "run", "big", "--units", units, "--seeds", "5", "--runs-dir", str(runs), "--quiet",
            *(arg for key, value in fixed.items() for arg in (f"--{key.replace('_', '-')}", value))]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    creator = subprocess.Popen([sys.executable, "-m", "lstmcli", *argv], env=env, stderr=subprocess.PIPE, text=True)
    study = runs / "big" / "study.db"
    deadline = time.monotonic() + 120
    while queued_trials(study) < 20 and creator.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    creator.send_signal(signum)
    _, err = creator.communicate(timeout=180)  # a hang guard: a loaded machine stops slowly
    assert 20 <= queued_trials(study) < 400, "the creator was not stopped while queueing"
    if signum == signal.SIGINT:
        assert creator.returncode == 130 and err.count("\n") == 1, err
        assert "interrupted while queueing the trials of sweep big" in err and "finishes queueing" in err, err

    started = time.monotonic()
    refused(["sweep", "show", "big", "--runs-dir", str(runs)], capsys, "creation was interrupted")
    assert time.monotonic() - started < 10  # at once, not after a silent wait

    space = build(dict(fixed, units=units), None, {"seeds": 5})
    where = studies.locate(None, runs, "big")
    studies.create_or_join(studies.open_storage(where), where, "big", space, data_facts(str(small_npz))[1])
    assert queued_trials(study) == 400
    capsys.readouterr()
    assert main(["sweep", "show", "big", "--runs-dir", str(runs), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["waiting"] == 400
