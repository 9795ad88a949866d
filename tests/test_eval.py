"""`lstmcli eval` on a real run: figures consistent with the run, the CI gate, both entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from lstmcli.cli import app
from lstmcli.metrics import confusion_matrix, cross_entropy, summarize
from lstmcli.rundir import RunFolder

runner = CliRunner()


def test_eval_json_matches_the_run(trained_run: Path) -> None:
    result = runner.invoke(app, ["eval", str(trained_run), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    metrics = json.loads(RunFolder(trained_run).metrics.read_text())
    assert report["samples"] == 500  # the run's own data slice, read from its config
    assert abs(report["test_accuracy"] - metrics["test_accuracy"]) < 1e-6
    matrix = np.array(report["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 500
    assert abs(np.trace(matrix) / 500 - report["test_accuracy"]) < 1e-9
    assert [row["support"] for row in report["per_class"]] == matrix.sum(axis=1).tolist()


def test_min_accuracy_gate(trained_run: Path) -> None:
    passed = runner.invoke(app, ["eval", str(trained_run), "--format", "json", "--min-accuracy", "0.2"])
    assert passed.exit_code == 0
    failed = runner.invoke(app, ["eval", str(trained_run), "--min-accuracy", "0.999"])
    assert failed.exit_code == 1
    assert "below --min-accuracy" in failed.output


def test_eval_table_output(trained_run: Path) -> None:
    result = runner.invoke(app, ["eval", str(RunFolder(trained_run).model), "--data", str(_config_data(trained_run))])
    assert result.exit_code == 0, result.output
    for heading in ("accuracy", "per class", "confusion matrix"):
        assert heading in result.output


def _config_data(run: Path) -> str:
    return json.loads(RunFolder(run).config.read_text())["data"]


def test_metrics_against_hand_computed_values() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]])
    labels = np.array([0, 1, 1, 2])
    summary = summarize(probs, labels)
    assert summary["accuracy"] == 0.5
    assert confusion_matrix(labels, probs.argmax(1), 3).tolist() == [[1, 0, 0], [0, 1, 1], [1, 0, 0]]
    expected_loss = -np.mean(np.log([0.7, 0.8, 0.3, 0.1]))
    assert abs(cross_entropy(probs, labels) - expected_loss) < 1e-9
    assert summary["per_class"][0]["precision"] == 0.5  # class 0 predicted twice, right once
    assert summary["per_class"][1]["recall"] == 0.5


def test_train_then_eval_through_the_installed_entry_point(tmp_path: Path, tiny_npz: Path) -> None:
    """The issue's scenario: `lstmcli train --steps N --out R --json`, then `lstmcli eval R --format json`
    (on the 7x7 slice: what is checked is the entry point and the agreement of the two figures, not the size)."""
    exe = Path(sys.executable).with_name("lstmcli")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "lstmcli"]
    env = {**os.environ, "LSTMCLI_DATA": str(tiny_npz)}
    out = tmp_path / "R"
    trained = subprocess.run(
        [*command, "train", "--steps", "100", "--out", str(out), "--json"], capture_output=True, text=True, env=env
    )
    assert trained.returncode == 0, trained.stderr
    summary = json.loads(trained.stdout)
    assert summary["steps"] == 100 and Path(summary["run"]) == out
    evaluated = subprocess.run(
        [*command, "eval", str(out), "--format", "json"], capture_output=True, text=True, env=env
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert abs(json.loads(evaluated.stdout)["test_accuracy"] - summary["test_accuracy"]) < 1e-6
