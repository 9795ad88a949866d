"""lstmcli.locking: one writer per run folder; a contender is refused with the holder's pid."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lstmcli import locking
from lstmcli.errors import UsageError


def lock_of(tmp_path: Path) -> locking.RunLock:
    return locking.RunLock(tmp_path, tmp_path / ".lock")


def test_the_holder_writes_its_pid_and_a_second_holder_is_refused_with_it(tmp_path: Path) -> None:
    with lock_of(tmp_path).held():
        assert (tmp_path / ".lock").read_text() == str(os.getpid())
        assert locking.is_locked(tmp_path / ".lock")
        with (
            pytest.raises(UsageError, match=rf"being written by another lstmcli train \(pid {os.getpid()}\)"),
            lock_of(tmp_path).held(),
        ):
            pass
        assert (tmp_path / ".lock").read_text() == str(os.getpid())  # the refused one wiped nothing
    assert not locking.is_locked(tmp_path / ".lock")


def test_another_process_sees_the_lock_and_it_is_released_when_the_holder_dies(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from lstmcli import locking\n"
         f"with locking.RunLock(Path({str(tmp_path)!r}), Path({str(tmp_path / '.lock')!r})).held():\n"
         "    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert locking.is_locked(tmp_path / ".lock")
        with pytest.raises(UsageError, match=rf"\(pid {holder.pid}\)"), lock_of(tmp_path).held():
            pass
    finally:
        holder.kill()
        holder.wait()
    assert not locking.is_locked(tmp_path / ".lock")  # SIGKILL leaves no stale lock
    with lock_of(tmp_path).held():
        pass


@pytest.mark.parametrize(("keep", "left"), [(False, []), (True, [".lock"])])
def test_a_lock_file_made_by_a_failed_block_goes_unless_kept(tmp_path: Path, keep: bool, left: list[str]) -> None:
    with pytest.raises(RuntimeError), lock_of(tmp_path).held(keep=lambda: keep):
        raise RuntimeError
    assert sorted(p.name for p in tmp_path.iterdir()) == left


def test_a_lock_file_that_was_there_stays_when_the_block_fails(tmp_path: Path) -> None:
    (tmp_path / ".lock").write_text("")
    with pytest.raises(RuntimeError), lock_of(tmp_path).held():
        raise RuntimeError
    assert (tmp_path / ".lock").is_file()


def test_a_link_or_a_fifo_as_the_lock_is_refused_and_left_alone(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("the user's")
    (tmp_path / ".lock").symlink_to(victim)
    with (
        pytest.raises(UsageError, match="is a symbolic link; lstmcli never writes through links"),
        lock_of(tmp_path).held(),
    ):
        pass
    assert victim.read_text() == "the user's" and (tmp_path / ".lock").is_symlink()
    (tmp_path / ".lock").unlink()
    os.mkfifo(tmp_path / ".lock")
    with (
        pytest.raises(UsageError, match=r"is a named pipe \(FIFO\), not a regular file; remove it"),
        lock_of(tmp_path).held(),
    ):
        pass


def test_no_lock_file_is_not_locked(tmp_path: Path) -> None:
    assert not locking.is_locked(tmp_path / ".lock")
    assert not (tmp_path / ".lock").exists()
