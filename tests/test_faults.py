"""Faults that lose data, caused for real: a full disk (under a run and under a sweep's SQLite study), a folder
made read-only or removed while a run writes to it, and two `train --out SAME` started together.

Each fault hits a real `lstmcli train` subprocess paused at a known step (after a checkpoint): the test fills
a small tmpfs made for it (a real ENOSPC), puts a read-only bind mount over the run folder (a real EROFS) or
removes the folder, and lets the run go on. Where this process may not mount (not root), the full disk is an
RLIMIT_FSIZE set on the paused process (EFBIG) and the read-only folder a chmod, which fail the same writes.
The promise checked every time: one line, a documented exit code, every earlier file of the run intact, and
`--resume` finishing the run, bit for bit the run left alone, once the fault is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lstmcli import rundir
from lstmcli.cli.progress import Quiet
from lstmcli.rundir import RunFolder
from lstmcli.train import runner
from lstmcli.train.config import from_preset

OPTIONS = {
    "units": 16,
    "batch_size": 20,
    "steps": 160,
    "eval_every": 40,
    "checkpoint_every": 40,
    "seed": 5,
    "learning_rate": 3e-3,
}
PAUSE_AT = 80  # past the checkpoint at step 40: the run has a checkpoint and a history when the fault comes

# The real CLI in a subprocess, with a reporter that, at the first chunk boundary at or past PAUSE_AT, says so
# (the marker file) and waits until the test has caused its fault (the go file).
DRIVER = r"""
import os, sys, time
from pathlib import Path
from lstmcli import cli
from lstmcli.cli import progress

pause_at = int(os.environ["LSTMCLI_TEST_PAUSE_AT"])
marker, go = Path(os.environ["LSTMCLI_TEST_MARKER"]), Path(os.environ["LSTMCLI_TEST_GO"])


class PauseAt(progress.Quiet):
    def advance(self, *args, **kwargs):
        step = args[0] if args else kwargs["step"]
        if step < pause_at or marker.exists():
            return
        marker.write_text(str(step))
        deadline = time.monotonic() + 120
        while not go.exists():
            if time.monotonic() > deadline:
                raise SystemExit("test driver: the test never said go")
            time.sleep(0.01)


progress.make_reporter = lambda *args, **kwargs: PauseAt()
sys.exit(cli.main(sys.argv[1:]))
"""


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def mount(*args: str) -> bool:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    return done.returncode == 0


def umount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)


def cli_args(options: dict[str, Any]) -> list[str]:
    return [arg for key, value in options.items() for arg in (f"--{key.replace('_', '-')}", str(value))]


def files_of(run: Path) -> dict[str, str]:
    """Every file of the run with the SHA-256 of its bytes (the lock holds only a pid)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run.iterdir())
        if p.is_file() and p.name != rundir.LOCK
    }


def checkpoint_arrays(run: Path) -> dict[str, np.ndarray]:
    with np.load(RunFolder(run).checkpoint, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


class Paused:
    """A `lstmcli train` subprocess paused at PAUSE_AT, with the files its run had then."""

    def __init__(self, args: list[str], run: Path, control: Path) -> None:
        self.run, self.go = run, control / "go"
        marker = control / "paused"
        env = {
            **os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1", "LSTMCLI_TEST_PAUSE_AT": str(PAUSE_AT),
            "LSTMCLI_TEST_MARKER": str(marker), "LSTMCLI_TEST_GO": str(self.go),
        }  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "-c", DRIVER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        deadline = time.monotonic() + 180
        while not marker.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                out, err = self.process.communicate()
                pytest.fail(f"the run did not reach step {PAUSE_AT} (rc {self.process.returncode}):\n{out}\n{err}")
            time.sleep(0.02)
        self.before = files_of(run)
        self.checkpoint = int(checkpoint_arrays(run)["step"])

    def resume(self) -> tuple[int, str, str]:
        self.go.write_text("go")
        out, err = self.process.communicate(timeout=180)
        return self.process.returncode, out, err


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, tiny_npz: Path) -> Path:
    """The same run left alone."""
    out = tmp_path_factory.mktemp("reference") / "run"
    runner.start(from_preset("default", data=str(tiny_npz), **OPTIONS), out, out.parent, Quiet())
    return out


@contextlib.contextmanager
def small_disk(size: str) -> Iterator[Path | None]:
    """A tmpfs of `size` (a real ENOSPC when full), or None where this process may not mount one."""
    where = Path(tempfile.mkdtemp(prefix="lstmcli-disk-"))
    mounted = is_root() and mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where))
    try:
        yield where if mounted else None
    finally:
        if mounted:
            umount(where)
        shutil.rmtree(where, ignore_errors=True)


def fill(folder: Path) -> Path:
    """Write a file into `folder` until its filesystem is full; the file, to delete to make room again."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for block in (64 << 10, 512, 1):  # then the last bytes that fit
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * block)
    finally:
        os.close(fd)
    return filler


def assert_one_line(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmcli: error: "), err
    assert "Traceback" not in err and "Warning" not in err, err
    for word in words:
        assert word in lines[0], (word, lines[0])


def assert_resumes_to_reference(run: Path, reference: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lstmcli", "train", "--resume", str(run), "--quiet"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got, want = checkpoint_arrays(run), checkpoint_arrays(reference)
    for key in want:
        if key.startswith(("model_", "optimizer_")):
            assert np.array_equal(got[key], want[key]), key


@pytest.mark.parametrize("fault", ["full tmpfs", "file-size limit"])
def test_a_full_disk_keeps_the_last_checkpoint_says_what_it_needed_and_resume_continues(
    fault: str, tmp_path: Path, tiny_npz: Path, reference: Path
) -> None:
    with small_disk("16m") if fault == "full tmpfs" else contextlib.nullcontext() as disk:
        base = disk if disk is not None else tmp_path
        run = base / "run"
        paused = Paused(["train", "--data", str(tiny_npz), *cli_args(OPTIONS), "--out", str(run)], run, tmp_path)
        if disk is not None:
            filler = fill(disk)
        else:  # the same failed writes, through the file-size limit of the paused process
            resource.prlimit(paused.process.pid, resource.RLIMIT_FSIZE, (1024, resource.RLIM_INFINITY))
        code, _out, err = paused.resume()
        assert code == 2, err
        reason = "No space left on device" if disk else "File too large"
        assert_one_line(err, str(run), "lstmcli train --resume", reason, "bytes needed")
        assert files_of(run) == paused.before  # the checkpoint at step 80, history and config as they were
        assert int(checkpoint_arrays(run)["step"]) == paused.checkpoint > 0
        assert not [p.name for p in run.iterdir() if ".tmp" in p.name]  # no half-written temporary left behind
        if disk is not None:
            filler.unlink()
        assert_resumes_to_reference(run, reference)


def test_a_folder_made_read_only_while_training_loses_nothing_and_resumes(
    tmp_path: Path, tiny_npz: Path, reference: Path
) -> None:
    run = tmp_path / "run"
    paused = Paused(["train", "--data", str(tiny_npz), *cli_args(OPTIONS), "--out", str(run)], run, tmp_path)
    bound = is_root() and mount("--bind", str(run), str(run)) and mount("-o", "remount,bind,ro", str(run))
    if not bound:
        run.chmod(0o555)
    try:
        code, _out, err = paused.resume()
        assert code == 2, err
        assert_one_line(err, str(run), "lstmcli train --resume")
        assert files_of(run) == paused.before
    finally:
        if bound:
            umount(run)
        else:
            run.chmod(0o755)
    assert_resumes_to_reference(run, reference)


def test_a_folder_removed_while_training_ends_in_one_line_and_is_not_recreated(tmp_path: Path, tiny_npz: Path) -> None:
    run = tmp_path / "run"
    paused = Paused(["train", "--data", str(tiny_npz), *cli_args(OPTIONS), "--out", str(run)], run, tmp_path)
    shutil.rmtree(run)
    code, _out, err = paused.resume()
    assert code == 2, err
    assert_one_line(err, str(run))
    assert not run.exists()


def test_two_trains_on_the_same_out_started_together_exactly_one_runs(tmp_path: Path, tiny_npz: Path) -> None:
    options = {**OPTIONS, "steps": 20, "eval_every": 20, "checkpoint_every": 20}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for attempt in range(3):
        run = tmp_path / f"run{attempt}"
        args = [sys.executable, "-m", "lstmcli", "train", "--data", str(tiny_npz), *cli_args(options)]
        args += ["--out", str(run)]
        both = [
            subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in "ab"
        ]
        results = [(p.wait(timeout=300), *p.communicate()) for p in both]
        codes = sorted(code for code, _, _ in results)
        assert codes == [0, 2], results
        loser = next(err for code, _, err in results if code == 2)
        assert_one_line(loser, str(run))
        assert RunFolder(run).metrics.exists()


SWEEP = ["--units", "4", "--steps", "120", "--eval-every", "40", "--checkpoint-every", "40", "--batch-size", "20",
         "--seeds", "5", "--heartbeat", "1", "--quiet"]  # fmt: skip


def completed(study: Path) -> int:
    """Trials COMPLETE in a study, read with SQLite alone (read-only: the sweep is writing it)."""
    if not study.exists():
        return 0
    db = contextlib.closing(sqlite3.connect(f"file:{study}?mode=ro", uri=True, timeout=10))
    with db as connection, contextlib.suppress(sqlite3.OperationalError):  # the tables are not made yet
        return connection.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    return 0


@pytest.mark.parametrize("fault", ["full tmpfs", "file-size limit"])
def test_a_full_disk_under_a_sweeps_sqlite_study_is_one_line_and_the_next_run_finishes_it(
    fault: str, tmp_path: Path, tiny_npz: Path
) -> None:
    """The study's own write failing with ENOSPC (EFBIG under the file-size limit) once a trial is done: one line,
    exit 2, the study intact (SQLite rolls the write back), and `sweep run` again, once there is room, runs every
    trial, none twice and none lost (the trial the stopped worker held is queued again when its heartbeat, every
    second here, is stale)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with small_disk("16m") if fault == "full tmpfs" else contextlib.nullcontext() as disk:
        runs = (disk if disk is not None else tmp_path) / "runs"
        argv = [sys.executable, "-m", "lstmcli", "sweep", "run", "full", "--data", str(tiny_npz), *SWEEP,
                "--runs-dir", str(runs)]  # fmt: skip
        study = runs / "full" / "study.db"
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 240
        while completed(study) < 1:
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.05)
        if disk is not None:
            filler = fill(disk)
        else:
            resource.prlimit(process.pid, resource.RLIMIT_FSIZE, (1024, resource.RLIM_INFINITY))
        _out, err = process.communicate(timeout=300)
        assert process.returncode == 2, err
        reason = "database or disk is full" if disk else "disk I/O error"  # SQLite's words for ENOSPC and EFBIG
        assert_one_line(err, str(study), reason, "a write was refused", "bytes free", "make room")
        with contextlib.closing(sqlite3.connect(f"file:{study}?mode=ro", uri=True)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert 1 <= completed(study) < 5
        if disk is not None:
            filler.unlink()
        again = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env, check=False)
        assert again.returncode == 0, again.stderr
        show = subprocess.run([sys.executable, "-m", "lstmcli", "sweep", "show", "full", "--runs-dir", str(runs),
                               "--format", "json"], capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
        assert show.returncode == 0, show.stderr
        report = json.loads(show.stdout)
        assert report["counts"]["complete"] == 5 and report["counts"]["waiting"] == report["counts"]["running"] == 0
        [configuration] = report["configurations"]
        assert configuration["n"] == 5
        seeds = sorted(t["seed"] for t in report["trials"] if t["state"] == "COMPLETE")
        assert seeds == [0, 1, 2, 3, 4]
