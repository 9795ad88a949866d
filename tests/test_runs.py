"""`lstmcli runs`: a folder of runs compared at a glance, from the files the runs left, without TensorFlow."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lstmcli import rundir
from lstmcli.cli import main
from lstmcli.errors import FieldError
from lstmcli.rundir import RunFolder

T_975_DF2 = 4.303  # the t table's two-sided 95% quantile for 3 runs


@pytest.fixture
def runs_folder(trained_run: Path, tmp_path: Path) -> Path:
    """A complete run (the shared one's files), an incomplete one, a nested one, and clutter."""
    root = tmp_path / "runs"
    complete = root / "a-complete"
    complete.mkdir(parents=True)
    for name in (rundir.CONFIG, rundir.METRICS, rundir.HISTORY):
        shutil.copy(trained_run / name, complete / name)

    config = json.loads(RunFolder(trained_run).config.read_text())
    stopped = root / "b-stopped"
    stopped.mkdir()
    model = config["model"]
    stopped_model = {**model, "units": 32, "bidirectional": True}
    RunFolder(stopped).write_config({**config, "model": stopped_model, "batch_size": 100})
    rows = [dict.fromkeys(rundir.HISTORY_FIELDS, 0.5) | {"step": 100, "test_accuracy": 0.25, "seconds": 7.0}]
    RunFolder(stopped).write_history(rows)

    fresh = root / "sweep" / "c-just-started"  # nested one level down, no evaluation yet
    fresh.mkdir(parents=True)
    RunFolder(fresh).write_config({**config, "model": {**model, "cell": "gru"}, "learning_rate": 0.01})

    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not a run")
    return root


def run_json(capsys, *args: str) -> list[dict]:
    """The rows of `runs --format json` (its `runs` list; the object itself is checked below)."""
    return report_json(capsys, *args)["runs"]


def report_json(capsys, *args: str) -> dict:
    assert main(["runs", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_lists_config_and_final_metrics(runs_folder: Path, trained_run: Path, capsys) -> None:
    report = report_json(capsys, str(runs_folder))
    assert report["schema_version"] == 1
    rows = report["runs"]
    assert [r["run"] for r in rows] == ["a-complete", "b-stopped", "sweep/c-just-started"]
    metrics = json.loads(RunFolder(trained_run).metrics.read_text())
    config = json.loads(RunFolder(trained_run).config.read_text())
    complete, stopped, fresh = rows
    assert complete["status"] == "complete"
    assert (complete["cell"], complete["units"], complete["layers"]) == ("lstm", 75, 1)
    assert (complete["batch"], complete["lr"]) == (config["batch_size"], config["learning_rate"])
    assert (complete["schedule"], complete["seed"], complete["parameters"]) == ("cosine", 0, 31_960)
    assert complete["steps"] == 200
    for key in ("test_accuracy", "test_loss", "best_val_accuracy", "seconds"):
        assert complete[key] == metrics[key], key
    assert (stopped["status"], stopped["cell"]) == ("incomplete", "bi-lstm")
    assert (stopped["units"], stopped["batch"]) == (32, 100)
    assert (stopped["steps"], stopped["best_val_accuracy"], stopped["test_accuracy"]) == (100, 0.5, None)
    assert (fresh["status"], fresh["cell"], fresh["lr"], fresh["steps"], fresh["test_accuracy"]) == (
        "incomplete", "gru", 0.01, 0, None
    )  # fmt: skip


def test_sorting(runs_folder: Path, capsys) -> None:
    by_accuracy = [r["run"] for r in run_json(capsys, str(runs_folder), "--sort", "best_val_accuracy")]
    assert by_accuracy == ["a-complete", "b-stopped", "sweep/c-just-started"]  # best first, no figure last
    reversed_ = [r["run"] for r in run_json(capsys, str(runs_folder), "--sort", "best_val_accuracy", "--reverse")]
    assert reversed_ == ["b-stopped", "a-complete", "sweep/c-just-started"]
    by_units = [r["units"] for r in run_json(capsys, str(runs_folder), "--sort", "units")]
    assert by_units == [32, 75, 75]
    for order in ([], ["--reverse"]):  # ties sort by name, in order, either way
        ties = [r["run"] for r in run_json(capsys, str(runs_folder), "--sort", "layers", *order)]
        assert ties == ["a-complete", "b-stopped", "sweep/c-just-started"]


def test_where_filters(runs_folder: Path, capsys) -> None:
    assert [r["run"] for r in run_json(capsys, str(runs_folder), "--where", "cell=gru")] == ["sweep/c-just-started"]
    both = run_json(capsys, str(runs_folder), "--where", "units=75", "--where", "cell=lstm")
    assert [r["run"] for r in both] == ["a-complete"]
    assert main(["runs", str(runs_folder), "--where", "colour=red"]) == 2
    assert "unknown column 'colour'" in capsys.readouterr().err


def test_table_csv_and_environment_variable(runs_folder: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSTMCLI_RUNS", str(runs_folder))
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    for text in ("a-complete", "b-stopped", "c-just-started", "complete", "incomplete", "bi-lstm", "test acc"):
        assert text in out
    assert "notes" not in out
    assert main(["runs", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("run,cell,units,layers,batch,lr,schedule,seed,parameters,steps,best_val_accuracy")
    assert len(lines) == 4


def test_damaged_runs_are_shown_not_fatal(runs_folder: Path, capsys) -> None:
    RunFolder(runs_folder / "a-complete").config.write_text("{ not json")
    RunFolder(runs_folder / "b-stopped").metrics.write_text('{"test_accuracy": "high"}')
    rows = run_json(capsys, str(runs_folder))
    assert [(r["run"], r["status"]) for r in rows][:2] == [("a-complete", "damaged"), ("b-stopped", "damaged")]
    assert "config.json" in rows[0]["problem"] and "test_accuracy" in rows[1]["problem"]



@pytest.mark.parametrize("task", ["adding", ["adding"], 6, ""])
def test_a_metrics_task_that_is_not_a_table_marks_the_run_damaged(runs_folder: Path, capsys, task: object) -> None:
    """Found by a red-team pass: `runs` called such a run complete while --resume refused its metrics.json."""
    metrics = RunFolder(runs_folder / "a-complete").metrics
    metrics.write_text(json.dumps({**json.loads(metrics.read_text()), "task": task}))
    [row] = [r for r in run_json(capsys, str(runs_folder)) if r["run"] == "a-complete"]
    assert row["status"] == "damaged" and "task" in row["problem"] and "metrics.json" in row["problem"]
    metrics.write_text(json.dumps({**json.loads(metrics.read_text()), "task": None}))  # what TrainMetrics allows
    assert [r["status"] for r in run_json(capsys, str(runs_folder)) if r["run"] == "a-complete"] == ["complete"]

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


@pytest.fixture(scope="module")
def three_seeds(tmp_path_factory: pytest.TempPathFactory, tiny_npz: Path) -> Path:
    """Three real tiny runs that differ only in their seed, and one with other units (7x7 images: the grouping
    does not depend on the image size, and 7 timesteps compile several times faster than 28)."""
    root = tmp_path_factory.mktemp("seeds")
    for name, extra in (("s0", ["--seed", "0"]), ("s1", ["--seed", "1"]), ("s2", ["--seed", "2"]),
                        ("u16", ["--units", "16"])):  # fmt: skip
        argv = ["train", "--data", str(tiny_npz), "--units", "8", "--batch-size", "20", "--steps", "20",
                "--eval-every", "10", "--quiet", "--out", str(root / name), *extra]  # fmt: skip
        assert main(argv) == 0
    return root


def test_group_by_seed_gives_mean_std_interval_n_and_the_verdict(three_seeds: Path, capsys) -> None:
    import statistics

    capsys.readouterr()
    report = report_json(capsys, str(three_seeds), "--group-by", "config")
    groups = {g["units"]: g for g in report["groups"]}
    assert sorted(groups) == [8, 16]
    eight = groups[8]
    assert (eight["n"], eight["runs"], eight["seeds"]) == (3, ["s0", "s1", "s2"], [0, 1, 2])
    for metric in ("test_accuracy", "best_val_accuracy", "test_loss"):
        values = [json.loads(RunFolder(three_seeds / s).metrics.read_text())[metric] for s in ("s0", "s1", "s2")]
        assert eight[f"{metric}_mean"] == pytest.approx(statistics.fmean(values), abs=1e-12)
        assert eight[f"{metric}_std"] == pytest.approx(statistics.stdev(values), abs=1e-12)
        half = T_975_DF2 * statistics.stdev(values) / math.sqrt(3)  # the t table's quantile, to 3 decimals
        assert eight[f"{metric}_ci_low"] == pytest.approx(statistics.fmean(values) - half, abs=1e-4 * half + 1e-12)
        assert eight[f"{metric}_ci_high"] == pytest.approx(statistics.fmean(values) + half, abs=1e-4 * half + 1e-12)
    assert groups[16]["n"] == 1 and groups[16]["test_accuracy_std"] is None
    assert groups[16]["test_accuracy_ci_low"] is None and groups[16]["test_accuracy_ci_high"] is None
    # The best group (by mean best validation accuracy) against the second: here one of them has one seed.
    assert [g["units"] for g in report["groups"]] == sorted(groups, key=lambda u: -groups[u]["best_val_accuracy_mean"])
    comparison = report["comparison"]
    assert (comparison["figure"], comparison["goal"]) == ("best_val_accuracy", "maximize")
    assert (comparison["p_value"], comparison["distinguishable"]) == (None, None)
    assert "has 1 seed with best_val_accuracy; run more seeds" in comparison["text"]
    by_units = report_json(capsys, str(three_seeds), "--group-by", "units")["groups"]
    assert sorted((g["units"], g["n"]) for g in by_units) == [(8, 3), (16, 1)]
    assert main(["runs", str(three_seeds), "--group-by", "config"]) == 0
    out = capsys.readouterr().out
    assert "±" in out and "95% CI" in out and "1 seed" in out
    assert out.rstrip().endswith(comparison["text"])
    assert "comparison" not in report_json(capsys, str(three_seeds))  # without groups, nothing is compared


def test_the_ranking_figure_and_direction_are_parameters(three_seeds: Path) -> None:
    from lstmcli.runs import describe, find_runs, group

    rows = [describe(run, three_seeds) for run in find_runs(three_seeds)]
    groups, comparison = group(rows, ["config"], figure="test_loss", goal="minimize")
    assert [g.test_loss_mean for g in groups] == sorted(g.test_loss_mean for g in groups)
    assert comparison is not None and (comparison.figure, comparison.goal) == ("test_loss", "minimize")
    with pytest.raises(FieldError, match="figure"):
        group(rows, ["config"], figure="cell")


def test_does_not_import_tensorflow_or_matplotlib(runs_folder: Path) -> None:
    code = (
        "import sys; from lstmcli.cli import main; rc = main(['runs', sys.argv[1]]); "
        "heavy = [m for m in ('tensorflow', 'keras', 'matplotlib', 'scipy') if m in sys.modules]; "
        "assert rc == 0 and not heavy, (rc, heavy)"
    )
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-c", code, str(runs_folder)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "a-complete" in done.stdout


def test_folder_names_are_shown_as_written_not_as_markup(runs_folder: Path, capsys) -> None:
    """A run folder named like Rich markup ([baseline], [red]) is text: the table shows it literally."""
    shutil.copytree(runs_folder / "a-complete", runs_folder / "[baseline]" / "seed0")
    shutil.copytree(runs_folder / "a-complete", runs_folder / "[red]x[/]")
    assert main(["runs", str(runs_folder)]) == 0
    out = capsys.readouterr().out
    assert "[baseline]/seed0" in out and "[red]x[/]" in out


def test_csv_neutralises_a_run_folder_named_like_a_formula(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder named `=HYPERLINK(...)` would run as a formula when the CSV is opened in a spreadsheet."""
    shutil.copytree(trained_run, tmp_path / '=HYPERLINK("x","y")')
    assert main(["runs", str(tmp_path), "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[1].startswith('"\'=HYPERLINK(""x"",""y"")"'), rows
