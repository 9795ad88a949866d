"""`lstmcli runs`: a folder of runs compared at a glance, from the files the runs left, without TensorFlow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lstmcli import rundir
from lstmcli.cli import main


@pytest.fixture
def runs_folder(trained_run: Path, tmp_path: Path) -> Path:
    """A complete run (the shared one's files), an incomplete one, a nested one, and clutter."""
    root = tmp_path / "runs"
    complete = root / "a-complete"
    complete.mkdir(parents=True)
    for name in (rundir.CONFIG, rundir.METRICS, rundir.HISTORY):
        shutil.copy(trained_run / name, complete / name)

    config = json.loads((trained_run / rundir.CONFIG).read_text())
    stopped = root / "b-stopped"
    stopped.mkdir()
    model = config["model"]
    stopped_model = {**model, "units": 32, "bidirectional": True}
    rundir.write_json(stopped / rundir.CONFIG, {**config, "model": stopped_model, "batch_size": 100})
    rows = [dict.fromkeys(rundir.HISTORY_FIELDS, 0.5) | {"step": 100, "test_accuracy": 0.25, "seconds": 7.0}]
    rundir.write_history(stopped / rundir.HISTORY, rows)

    fresh = root / "sweep" / "c-just-started"  # nested one level down, no evaluation yet
    fresh.mkdir(parents=True)
    rundir.write_json(fresh / rundir.CONFIG, {**config, "model": {**model, "cell": "gru"}, "learning_rate": 0.01})

    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not a run")
    return root


def run_json(capsys, *args: str) -> list[dict]:
    assert main(["runs", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_lists_config_and_final_metrics(runs_folder: Path, trained_run: Path, capsys) -> None:
    rows = run_json(capsys, str(runs_folder))
    assert [r["run"] for r in rows] == ["a-complete", "b-stopped", "sweep/c-just-started"]
    metrics = json.loads((trained_run / rundir.METRICS).read_text())
    config = json.loads((trained_run / rundir.CONFIG).read_text())
    complete, stopped, fresh = rows
    assert complete["status"] == "complete"
    assert (complete["cell"], complete["units"], complete["layers"]) == ("lstm", 75, 1)
    assert (complete["batch"], complete["lr"]) == (config["batch_size"], config["learning_rate"])
    assert complete["steps"] == 200
    assert complete["accuracy"] == metrics["test_accuracy"]
    assert complete["loss"] == metrics["test_loss"]
    assert complete["seconds"] == metrics["seconds"]
    assert (stopped["status"], stopped["cell"]) == ("incomplete", "bi-lstm")
    assert (stopped["units"], stopped["batch"]) == (32, 100)
    assert (stopped["steps"], stopped["accuracy"], stopped["seconds"]) == (100, 0.25, 7.0)
    assert (fresh["status"], fresh["cell"], fresh["lr"], fresh["steps"], fresh["accuracy"]) == (
        "incomplete", "gru", 0.01, 0, None
    )  # fmt: skip


def test_sorting(runs_folder: Path, capsys) -> None:
    by_accuracy = [r["run"] for r in run_json(capsys, str(runs_folder), "--sort", "accuracy")]
    assert by_accuracy == ["a-complete", "b-stopped", "sweep/c-just-started"]  # best first, no figure last
    reversed_ = [r["run"] for r in run_json(capsys, str(runs_folder), "--sort", "accuracy", "--reverse")]
    assert reversed_ == ["b-stopped", "a-complete", "sweep/c-just-started"]
    by_units = [r["units"] for r in run_json(capsys, str(runs_folder), "--sort", "units")]
    assert by_units == [32, 75, 75]


def test_table_and_environment_variable(runs_folder: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSTMCLI_RUNS", str(runs_folder))
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    for text in ("a-complete", "b-stopped", "c-just-started", "complete", "incomplete", "bi-lstm", "test acc"):
        assert text in out
    assert "notes" not in out


def test_unreadable_config_is_shown_not_fatal(runs_folder: Path, capsys) -> None:
    (runs_folder / "a-complete" / rundir.CONFIG).write_text("{ not json")
    rows = run_json(capsys, str(runs_folder))
    assert rows[0]["run"] == "a-complete"
    assert rows[0]["status"] == "unreadable"


@pytest.mark.parametrize("make", ["missing", "file"])
def test_bad_folder_is_one_line_and_exit_2(tmp_path: Path, capsys, make: str) -> None:
    target = tmp_path / "nothing-here"
    if make == "file":
        target.write_text("x")
    assert main(["runs", str(target)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert str(target) in captured.err


def test_empty_folder(tmp_path: Path, capsys) -> None:
    assert main(["runs", str(tmp_path)]) == 0
    assert "no runs under" in capsys.readouterr().err
    assert run_json(capsys, str(tmp_path)) == []


def test_does_not_import_tensorflow_or_matplotlib(runs_folder: Path) -> None:
    code = (
        "import sys; from lstmcli.cli import main; rc = main(['runs', sys.argv[1]]); "
        "heavy = [m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules]; "
        "assert rc == 0 and not heavy, (rc, heavy)"
    )
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-c", code, str(runs_folder)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "a-complete" in done.stdout
