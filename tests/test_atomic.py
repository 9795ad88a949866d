"""lstmcli.atomic: a file is replaced whole or not at all, never through a link, and a failed write says why."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest

from lstmcli import atomic


def test_write_json_replaces_the_file_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text("old")
    atomic.write_json(path, {"b": 1, "a": [1, 2]})
    assert path.read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'  # sorted, indented, one newline
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_a_writer_that_fails_half_way_leaves_the_old_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(b"the good checkpoint")

    def fill(handle: object) -> None:
        handle.write(b"half of a new")  # type: ignore[attr-defined]
        raise KeyboardInterrupt  # as a Ctrl-C in mid-write

    with pytest.raises(KeyboardInterrupt):
        atomic.write(path, fill)
    assert path.read_bytes() == b"the good checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]


def test_a_link_at_the_temporary_name_is_removed_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("the user's")
    path = tmp_path / "history.csv"
    atomic.temporary_name(path).symlink_to(victim)
    atomic.write_text(path, "step\n")
    assert path.read_text() == "step\n" and victim.read_text() == "the user's"
    assert not os.path.lexists(atomic.temporary_name(path))


@pytest.mark.parametrize("kind", ["link", "fifo", "folder"])
def test_only_a_regular_file_is_replaced(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "config.json"
    victim = tmp_path / "victim"
    victim.write_text("the user's")
    {"link": lambda: path.symlink_to(victim), "fifo": lambda: os.mkfifo(path), "folder": path.mkdir}[kind]()
    with pytest.raises(OSError, match="lstmcli replaces only regular files"):
        atomic.write_json(path, {})
    assert victim.read_text() == "the user's"
    assert path.is_symlink() or not path.is_file()  # still what the user made
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "victim"]


def test_a_write_into_a_removed_folder_is_a_write_failed_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gone" / "checkpoint.npz"
    with pytest.raises(atomic.WriteFailed) as failed:
        atomic.write_text(path, "x")
    assert failed.value.errno == errno.ENOENT and failed.value.path == path
    assert failed.value.describe() == f"checkpoint.npz: {os.strerror(errno.ENOENT)}"
    assert not (tmp_path / "gone").exists()  # never recreated


def test_a_full_disk_says_how_much_was_needed_and_free(tmp_path: Path) -> None:
    cause = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    failed = atomic.WriteFailed(tmp_path / "checkpoint.npz", cause, needed=123456, free=789)
    no_room = os.strerror(errno.ENOSPC)
    assert failed.describe() == f"checkpoint.npz: {no_room}, about 123,456 bytes needed, 789 bytes free"
    assert isinstance(failed, OSError) and failed.filename == str(tmp_path / "checkpoint.npz")


def test_the_temporary_pattern_matches_the_temporary_names_and_nothing_of_the_users(tmp_path: Path) -> None:
    pattern = re.compile(atomic.temporary_pattern(["config.json", "model.keras"]))
    for name in ("config.json", "model.keras"):
        assert pattern.fullmatch(atomic.temporary_name(tmp_path / name).name)
    assert pattern.fullmatch(".config.4242.tmp.json")  # another process's
    for name in (".notes.tmp", ".config.tmp.json", "config.json", ".history.12.tmp.csv", ".config.x.tmp.json"):
        assert not pattern.fullmatch(name), name
