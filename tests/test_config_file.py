"""`train --config FILE.toml`: a whole experiment in a file, command-line options on top; and `--tensorboard`."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from lstmcli.cli import errors, main
from lstmcli.errors import UsageError
from lstmcli.rundir import RunFolder
from lstmcli.train import config_file


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiment.toml"
    path.write_text(text)
    return path


def test_load_types_and_spellings(tmp_path: Path) -> None:
    path = write(
        tmp_path, 'units = 16\nbatch-size = 20\nlearning_rate = 1\nepochs = 2\ncell = "gru"\npreset = "seed"\n'
    )
    settings = config_file.load(path)
    assert settings == {
        "units": 16, "batch_size": 20, "learning_rate": 1.0, "epochs": 2.0, "cell": "gru", "preset": "seed"
    }  # fmt: skip
    assert isinstance(settings["learning_rate"], float)


def test_data_path_is_relative_to_the_file(tmp_path: Path) -> None:
    assert config_file.load(write(tmp_path, 'data = "small.npz"\n'))["data"] == str(tmp_path / "small.npz")
    assert config_file.load(write(tmp_path, 'data = "/abs/x.npz"\n'))["data"] == "/abs/x.npz"


def test_command_line_overrides_the_file() -> None:
    file_settings = {"units": 16, "epochs": 3.0, "preset": "seed", "learning_rate": 0.5}
    options = {"units": 32, "steps": 100, "epochs": None, "learning_rate": None, "preset": None}
    preset, overrides = config_file.merge(file_settings, options)
    assert preset == "seed"
    assert overrides == {"units": 32, "steps": 100, "learning_rate": 0.5}  # --steps replaces the file's epochs
    assert config_file.merge({"steps": 5}, {"epochs": 1.0})[1] == {"epochs": 1.0}
    assert config_file.merge({}, {"preset": None})[0] == "default"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("units = 16\nbogus = 1\nhidden = 3\n", "unknown keys bogus, hidden; known keys: cell, units"),
        ('units = "many"\n', "--units: input should be a valid integer (got 'many')"),
        ("units = 1.5\n", "--units: input should be a valid integer (got 1.5)"),
        ("bidirectional = 1\n", "--bidirectional: input should be a valid boolean (got 1)"),
        ("learning_rate = true\n", "--learning-rate: input should be a valid number (got True)"),
        ("[model]\nunits = 3\n", "unknown key model"),
        ("units = \n", "not valid TOML"),
        ("steps = 10\nepochs = 1\n", "give steps or epochs, not both"),
    ],
)
def test_bad_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    """The library names fields; the command line's rendering of the same error names their flags."""
    with pytest.raises(UsageError) as info:
        config_file.load(write(tmp_path, text))
    assert message in errors.message(info.value)


def one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    return captured.err


def test_cli_refuses_before_training(tmp_path: Path, capsys) -> None:
    assert "no such file" in one_line_error(capsys, ["train", "--config", str(tmp_path / "missing.toml")])
    bad = write(tmp_path, "unit = 16\n")
    assert "unknown key unit" in one_line_error(capsys, ["train", "--config", str(bad)])
    good = write(tmp_path, "units = 16\nbatch_size = 20\n")
    # the file's units are fine; the command line's win, and are checked like any option
    assert "--units" in one_line_error(capsys, ["train", "--config", str(good), "--units", "0"])
    assert "--resume continues a run with the config it started with; drop --config" in one_line_error(
        capsys, ["train", "--config", str(good), "--resume", str(tmp_path)]
    )  # fmt: skip
    out_of_range = write(tmp_path, "learning_rate = -1.0\n")
    assert "--learning-rate" in one_line_error(capsys, ["train", "--config", str(out_of_range)])
    assert list(tmp_path.iterdir()) == [tmp_path / "experiment.toml"]  # nothing written, no run folder


def test_train_from_a_file(tmp_path: Path, tiny_npz: Path, capsys) -> None:
    """One short real run: the file's settings, the command line's --steps on top; --quiet prints the folder."""
    shutil.copy(tiny_npz, tmp_path / "tiny.npz")
    path = write(tmp_path, 'units = 8\nbatch-size = 20\nsteps = 300\neval_every = 5\ndata = "tiny.npz"\n')
    run = tmp_path / "run"
    assert main(["train", "--config", str(path), "--steps", "10", "--quiet", "--out", str(run)]) == 0
    config = json.loads(RunFolder(run).config.read_text())
    assert (config["model"]["units"], config["batch_size"], config["eval_every"]) == (8, 20, 5)
    assert (config["steps"], config["epochs"]) == (10, None)
    assert config["data"] == str(tmp_path / "tiny.npz")
    history = RunFolder(run).read_history()
    assert [int(r["step"]) for r in history] == [5, 10]
    assert (run / "curves.png").is_file()
    with zipfile.ZipFile(RunFolder(run).model) as keras_file:  # no optimiser state in the saved model
        assert b"optimizer" not in keras_file.read("model.weights.h5")
    assert capsys.readouterr().out == f"{run}\n"
