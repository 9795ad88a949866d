"""Run folders are hostile input too (issue classes 8 and 9): edited config.json and checkpoints, deep trees,
models that are not classifiers, resuming on a machine with another number of cores."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstmcli import rundir
from lstmcli.cli import main
from lstmcli.rundir import RunFolder


def one_line_refusal(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def stopped(trained_run: Path, tmp_path: Path) -> Path:
    """A copy of the shared run, as if stopped after its last checkpoint (no metrics.json, no model)."""
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    RunFolder(run).metrics.unlink()
    RunFolder(run).model.unlink()
    return run


CONFIG_EDITS = {
    "bool for an int": {"batch_size": True},
    "float seed": {"seed": 1.5},
    "list as data": {"data": ["a.npz"]},
    "number as data": {"data": 7},
    "huge steps": {"steps": 10**30},
    "negative steps": {"steps": -5},
    "extra key": {"colour": "red"},
    "string learning rate": {"learning_rate": "fast"},
    "model not a table": {"model": 75},
    "model extra key": {"model": {"units": 8, "gates": 3}},
}


@pytest.mark.parametrize("edit", list(CONFIG_EDITS))
def test_edited_config_is_refused_before_anything_is_written(stopped: Path, edit: str, capsys) -> None:
    config = json.loads(RunFolder(stopped).config.read_text())
    RunFolder(stopped).write_config({**config, **CONFIG_EDITS[edit]})
    before = {p.name: p.read_bytes() for p in stopped.iterdir() if p.name != rundir.LOCK}
    err = one_line_refusal(capsys, ["train", "--resume", str(stopped)])
    assert "config.json" in err
    assert {p.name: p.read_bytes() for p in stopped.iterdir() if p.name != rundir.LOCK} == before


def rewrite_checkpoint(run: Path, **changes: object) -> None:
    with np.load(RunFolder(run).checkpoint, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays.update({k: np.asarray(v) for k, v in changes.items()})
    np.savez(RunFolder(run).checkpoint, **arrays)


@pytest.mark.parametrize(
    "changes",
    [
        {"step": -3},
        {"step": 2.5},
        {"elapsed": "long"},
        {"history": json.dumps([{"step": "ten"}])},
        {"history": json.dumps({"step": 1})},
        {"model_0": np.full((28, 32), np.nan, np.float32)},
    ],
    ids=["negative step", "fractional step", "text elapsed", "text in history", "history not a list", "NaN weights"],
)
def test_edited_checkpoint_is_one_line(stopped: Path, changes: dict, capsys) -> None:
    with np.load(RunFolder(stopped).checkpoint, allow_pickle=False) as npz:
        if "model_0" in changes:
            changes = {"model_0": np.full(npz["model_0"].shape, np.nan, np.float32)}
    rewrite_checkpoint(stopped, **changes)
    err = one_line_refusal(capsys, ["train", "--resume", str(stopped)])
    assert "checkpoint" in err
    assert not RunFolder(stopped).metrics.exists() and not RunFolder(stopped).model.exists()


@pytest.mark.parametrize(
    ("edit", "named"),
    [({"learning_rate": 0.5}, "learning_rate"), ({"clip_norm": 1.0}, "clip_norm"), ({"units": 9}, "units")],
)
def test_a_setting_edited_since_the_checkpoint_is_refused_by_name(
    stopped: Path, edit: dict, named: str, capsys
) -> None:
    """A red-team pass: an optimiser setting edited into a stopped run's config.json was taken on resume, and the
    run went on as another experiment under the first one's name (true of every setting)."""
    config = json.loads(RunFolder(stopped).config.read_text())
    model = {**config["model"], **{k: v for k, v in edit.items() if k in config["model"]}}
    RunFolder(stopped).write_config({**config, **{k: v for k, v in edit.items() if k not in model}, "model": model})
    before = RunFolder(stopped).checkpoint.read_bytes()
    err = one_line_refusal(capsys, ["train", "--resume", str(stopped)])
    assert f"{named} in config.json" in err and "started with" in err, err
    assert RunFolder(stopped).checkpoint.read_bytes() == before


def test_a_forged_checkpoint_config_is_refused_in_one_short_line(stopped: Path, capsys) -> None:
    """A red-team pass: a checkpoint whose recorded config holds a megabyte-long value was refused with that
    whole value quoted, one line of a megabyte."""
    config = {k: v for k, v in json.loads(RunFolder(stopped).config.read_text()).items() if k != "data"}
    rewrite_checkpoint(stopped, config=json.dumps({**config, "learning_rate": "x" * 1_000_000}))
    err = one_line_refusal(capsys, ["train", "--resume", str(stopped)])
    assert "learning_rate in config.json" in err and len(err) < 400, err[:400]


def test_a_moved_data_file_is_found_again_by_editing_its_path(stopped: Path, tmp_path: Path, capsys) -> None:
    """The data's path is the one setting a resume lets change: the data's SHA-256 is what is checked."""
    config = json.loads(RunFolder(stopped).config.read_text())
    moved = tmp_path / "moved.npz"
    shutil.copy(config["data"], moved)
    RunFolder(stopped).write_config({**config, "data": str(moved)})
    assert main(["train", "--resume", str(stopped), "--quiet"]) == 0
    assert RunFolder(stopped).metrics.exists()


def test_resume_keeps_the_batch_split_the_run_started_with(stopped: Path, capsys) -> None:
    """The checkpoint records how many ways each batch was split; resuming on another core count keeps it."""
    with np.load(RunFolder(stopped).checkpoint, allow_pickle=False) as npz:
        started_with = int(npz["towers"])
    rewrite_checkpoint(stopped, towers=started_with + 1)
    capsys.readouterr()
    assert main(["train", "--resume", str(stopped)]) == 0
    assert f"keeping {started_with + 1}" in capsys.readouterr().out
    with np.load(RunFolder(stopped).checkpoint, allow_pickle=False) as npz:
        assert int(npz["towers"]) == started_with + 1


def deep_tree(root: Path, depth: int) -> None:
    """Nest `depth` folders with relative steps (os.makedirs and shutil.rmtree recurse, and would fail)."""
    fd = os.open(root, os.O_RDONLY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        fd, old = os.open("d", os.O_RDONLY, dir_fd=fd), fd
        os.close(old)
    os.close(fd)


def remove_deep_tree(root: Path, depth: int) -> None:
    fds = [os.open(root, os.O_RDONLY)]
    for _ in range(depth - 1):
        fds.append(os.open("d", os.O_RDONLY, dir_fd=fds[-1]))
    for fd in reversed(fds):
        os.rmdir("d", dir_fd=fd)
        os.close(fd)


def test_runs_survives_a_very_deep_tree(tmp_path: Path) -> None:
    deep_tree(tmp_path, 1100)
    try:
        command = [sys.executable, "-m", "lstmcli", "runs", str(tmp_path)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        remove_deep_tree(tmp_path, 1100)
    assert done.returncode == 0, done.stderr[-500:]
    assert "no runs under" in done.stderr


def test_eval_refuses_a_model_that_is_not_a_classifier(small_npz: Path, tmp_path: Path, capsys) -> None:
    import keras

    for name, head in (("sequences", None), ("linear", keras.layers.Dense(10))):
        layers = [keras.Input((28, 28)), keras.layers.LSTM(4, return_sequences=head is None)]
        model = keras.Sequential(layers + ([head] if head is not None else []))
        path = tmp_path / f"{name}.keras"
        model.save(path)
        err = one_line_refusal(capsys, ["eval", str(path), "--data", str(small_npz), "--no-plot"])
        assert ("not (batch, classes)" in err) if head is None else ("not class probabilities" in err)
