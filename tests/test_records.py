"""lstmcli.records: a run's history rows, read back from checkpoint.npz and history.csv, checked field by field."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import refused

from lstmcli import cli, records, rundir
from lstmcli.rundir import RunFolder

ROW = {"step": 100, "epoch": 1.0, "seconds": 2.5, "learning_rate": 1e-3, "train_loss": 0.5, "train_accuracy": 0.8}


def test_a_row_of_every_version_reads_back_as_written() -> None:
    evaluated = {**ROW, "val_loss": 0.4, "val_accuracy": 0.9}
    old = {k: v for k, v in ROW.items() if k != "learning_rate"} | {"test_loss": 0.3, "test_accuracy": 0.9}  # 0.1
    assert records.history([ROW, evaluated, old], strict=True) == [ROW, evaluated, old]
    diverged = {**ROW, "train_loss": math.inf}
    assert records.history([diverged], strict=True)[0]["train_loss"] == math.inf  # what it measured, kept


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"train_loss": None}, "train_loss"),  # a field missing (removed below)
        ({"val_acc": 0.5}, "val_acc"),  # a field no version wrote
        ({"step": math.nan}, "step"),
        ({"step": 1.5}, "step"),
        ({"step": True}, "step"),
        ({"step": -1}, "step"),
        ({"epoch": math.nan}, "epoch"),
        ({"train_accuracy": 1.5}, "train_accuracy"),
        ({"seconds": "fast"}, "seconds"),
    ],
)
def test_a_row_edited_by_hand_is_refused_naming_its_field(change: dict[str, Any], named: str) -> None:
    row = {k: v for k, v in {**ROW, **change}.items() if v is not None}
    with pytest.raises(ValueError, match=f"history row 2: {named}"):
        records.history([ROW, row], strict=True)


@pytest.mark.parametrize("text", ["nan", "100.5", "", "1e400"])
def test_a_step_read_from_csv_text_must_be_whole(text: str) -> None:
    row = {k: str(v) for k, v in ROW.items()} | {"step": text}
    with pytest.raises(ValueError, match="step"):
        records.history([row], strict=False)
    assert records.history([{k: str(v) for k, v in ROW.items()}], strict=False) == [ROW]


def incomplete_copy(trained_run: Path, where: Path) -> Path:
    """The trained run without its final files: `--resume` reads its checkpoint, `runs` its history.csv."""
    run = where / "run"
    shutil.copytree(trained_run, run)
    for name in (rundir.METRICS, rundir.MODEL, rundir.CURVES):
        (run / name).unlink(missing_ok=True)
    return run


def rewrite_checkpoint_history(run: Path, edit: Any) -> None:
    path = RunFolder(run).checkpoint
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    history = json.loads(str(arrays["history"]))
    edit(history[-1])
    arrays["history"] = np.array(json.dumps(history))
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda row: row.pop("train_loss"), "train_loss"),
        (lambda row: row.update(surprise=1.0), "surprise"),
        (lambda row: row.update(step=math.nan), "step"),
    ],
)
def test_resume_refuses_a_checkpoint_whose_history_was_edited(
    trained_run: Path, tmp_path: Path, scratch: Path, capsys: pytest.CaptureFixture[str], edit: Any, named: str
) -> None:
    run = incomplete_copy(trained_run, tmp_path)
    rewrite_checkpoint_history(run, edit)
    err = refused(["train", "--resume", str(run)], capsys, run)
    assert "checkpoint" in err and named in err, err


def test_runs_shows_a_run_whose_history_csv_was_edited_as_damaged_with_its_reason(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = incomplete_copy(trained_run, tmp_path)
    path = RunFolder(run).history
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[-1].split(",")
    cells[header.index("step")] = "nan"
    path.write_text("\n".join([*lines[:-1], ",".join(cells)]) + "\n")
    assert cli.main(["runs", str(tmp_path), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["runs"]
    assert row["status"] == "damaged" and "history.csv" in row["problem"] and "step" in row["problem"], row
