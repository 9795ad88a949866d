"""lstmcli.rundir.RunFolder: a run's files by name, their readers and writers, its lock and its creation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lstmcli import rundir
from lstmcli.errors import FileError, UsageError
from lstmcli.rundir import RunFolder

ROW = dict.fromkeys(rundir.HISTORY_FIELDS, 0.5) | {"step": 100, "seconds": 7.0}


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_each_file_of_a_run_is_where_the_reference_says(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    files = (folder.config, folder.checkpoint, folder.history, folder.metrics, folder.model, folder.curves,
             folder.confusion, folder.tensorboard, folder.lock, folder.gates_plot(3))  # fmt: skip
    assert [p.relative_to(tmp_path).as_posix() for p in files] == [
        "config.json", "checkpoint.npz", "history.csv", "metrics.json", "model.keras", "curves.png",
        "confusion.png", "tensorboard", ".lock", "gates-3.png",
    ]  # fmt: skip
    assert not folder.holds_run() and names(tmp_path) == []  # a RunFolder is only a path


def test_the_history_reads_back_as_written_and_is_empty_before_the_first_row(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    assert folder.read_history() == []
    folder.write_history([ROW])
    assert folder.history.read_text().splitlines()[0] == ",".join(rundir.HISTORY_FIELDS)
    assert folder.read_history() == [ROW]
    folder.history.write_bytes(b"\xff\xfe")
    with pytest.raises(FileError, match=r"history\.csv: not a history written by lstmcli"):
        folder.read_history()


def test_the_json_files_read_back_and_anything_else_is_one_clear_error(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    folder.write_config({"steps": 5})
    folder.write_metrics({"test_accuracy": 0.5})
    assert folder.read_config_json() == {"steps": 5} and folder.read_metrics() == {"test_accuracy": 0.5}
    folder.metrics.write_text("[1]")
    with pytest.raises(FileError, match=r"metrics.json: expected a JSON object"):
        folder.read_metrics()
    folder.config.write_text("{ not json")
    with pytest.raises(FileError, match=r"config.json: unreadable or not JSON"):
        folder.read_config_json()


def test_a_new_run_without_out_goes_into_a_new_dated_folder_locked_with_its_config(tmp_path: Path) -> None:
    with RunFolder.new(None, tmp_path / "runs", False, {"steps": 5}) as folder:
        assert folder.path.parent == tmp_path / "runs"
        assert folder.read_config_json() == {"steps": 5} and folder.is_locked()
        assert folder.lock.read_text() == str(os.getpid())
    assert not folder.is_locked() and names(folder.path) == [".lock", "config.json"]


def test_a_folder_holding_a_run_is_replaced_only_with_force(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    folder.write_config({"steps": 5})
    folder.write_metrics({"test_accuracy": 0.5})
    (folder.tensorboard / "train").mkdir(parents=True)
    with pytest.raises(UsageError, match="already holds a run"), RunFolder.new(folder.path, tmp_path, False, {}):
        pass
    assert folder.read_metrics() == {"test_accuracy": 0.5}
    with RunFolder.new(folder.path, tmp_path, True, {"steps": 7}) as replaced:
        assert replaced == folder
    assert names(folder.path) == [".lock", "config.json"] and folder.read_config_json() == {"steps": 7}


def test_a_folder_of_the_users_is_refused_untouched(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with (
        pytest.raises(FileError, match=r"not a lstmcli run, and not empty \(notes.txt\)"),
        RunFolder.new(tmp_path, tmp_path, False, {}),
    ):
        pass
    assert names(tmp_path) == ["notes.txt"]


def test_a_start_that_fails_before_its_config_removes_the_folders_and_lock_it_made(tmp_path: Path) -> None:
    with pytest.raises(TypeError), RunFolder.new(tmp_path / "a" / "b", tmp_path, False, {"x": object()}):
        pass
    assert names(tmp_path) == []


def test_a_start_that_fails_after_its_config_leaves_a_resumable_run(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), RunFolder.new(tmp_path / "run", tmp_path, False, {"steps": 5}):
        raise RuntimeError
    assert names(tmp_path / "run") == [".lock", "config.json"]


def test_the_lock_holder_removes_what_a_killed_writer_left_and_nothing_of_the_users(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    left = [".checkpoint.4242.tmp.npz", ".history.17.tmp.csv", ".write-test-99"]
    mine = [".notes.tmp", ".config.tmp.json", "notes.txt"]
    for name in left + mine:
        (tmp_path / name).write_text("")
    with folder.locked():
        pass
    assert names(tmp_path) == sorted([*mine, ".lock"])


@pytest.mark.parametrize("name", [rundir.CHECKPOINT, rundir.HISTORY, rundir.LOCK])
def test_the_lock_holder_refuses_a_run_file_that_is_a_link(tmp_path: Path, name: str) -> None:
    victim = tmp_path / "victim"
    victim.write_text("the user's")
    run = tmp_path / "run"
    run.mkdir()
    (run / name).symlink_to(victim)
    with pytest.raises(UsageError, match="symbolic link"), RunFolder(run).locked():
        pass
    assert victim.read_text() == "the user's" and names(run) == [name]


def test_the_lock_holder_refuses_foreign_files_among_the_tensorboard_logs(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    folder.tensorboard.mkdir()
    (folder.tensorboard / "events.out.tfevents.1.host").write_bytes(b"")
    with folder.locked():
        pass
    (folder.tensorboard / "my-notes.txt").write_text("mine")
    with (
        pytest.raises(UsageError, match=r"holds my-notes\.txt, which is not a TensorBoard event file"),
        folder.locked(),
    ):
        pass
