"""`lstmcli sweep` on real TensorFlow, real Optuna storages (SQLite and a real PostgreSQL server) and real processes.

Tiny on purpose (the 2,000-image slice, units 4-8, 40 steps of batch 20): every test here trains, and the file
must stay within about a minute on a loaded 2-core machine. Worker processes get PYTHONPATH set to this
checkout, so they import the lstmcli under test whatever is installed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lstmcli.cli import main
from lstmcli.model.spec import ModelSpec
from lstmcli.train.checkpoint import saved_step

pytest_plugins = ["postgres_server"]

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "docs" / "schemas"
TIMEOUT = 240


def tiny(data: Path, steps: int = 40) -> list[str]:
    return ["--data", str(data), "--steps", str(steps), "--eval-every", "20", "--batch-size", "20"]


def lstmcli(*args: str) -> list[str]:
    return [sys.executable, "-m", "lstmcli", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def start(*args: str, core: int = 0) -> subprocess.Popen[str]:
    """A worker process on one core, as on a one-core machine: its TensorFlow builds one tower, not two, which
    makes a trial's graph (and this file) a third cheaper than on both cores."""
    cores = sorted(os.sched_getaffinity(0))
    pin = cores[core % len(cores)]
    return subprocess.Popen(lstmcli(*args), env=env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.sched_setaffinity(0, {pin}))  # fmt: skip


def finish(process: subprocess.Popen[str]) -> int:
    try:
        _, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode in (0, 130, 143), err[-3000:]
    return process.returncode


def show(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["sweep", "show", *args, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    schema = json.loads((SCHEMAS / "sweep-show.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(report)
    return report


# --- the search space, parameter budgets --------------------------------------------------------------------


@pytest.mark.parametrize("budget", [1_000, 5_000, 32_000])
def test_budget_gives_the_closest_count_keras_agrees(budget: int) -> None:
    from lstmcli.model.budget import closest, closest_units
    from lstmcli.model.count import count
    from lstmcli.model.factory import build_model

    for cell in ("lstm", "gru", "rnn"):
        spec = ModelSpec(cell=cell)
        below, above = closest_units(spec, budget)
        assert below is not None and above is not None and below.total <= budget <= above.total
        assert above.units - below.units in (0, 1)
        fit = closest(below, above, budget)
        chosen = ModelSpec(cell=cell, units=fit.units)
        assert build_model(chosen).count_params() == count(chosen).total == fit.total
        assert all(abs(count(ModelSpec(cell=cell, units=n)).total - budget) >= abs(fit.total - budget)
                   for n in (fit.units - 1, fit.units + 1))  # fmt: skip


def test_space_from_options_and_a_toml_sweep_table(tmp_path: Path) -> None:
    from lstmcli.sweep.space import DataShape, Range, build, folder_name, train_config

    config = tmp_path / "sweep.toml"
    config.write_text('steps = 30\nbatch_size = 20\n[sweep]\ncell = ["lstm", "gru"]\nunits = [4, 8]\nseeds = 3\n'
                      'learning-rate = "1e-4:1e-2:log"\nsearch = "tpe"\n', encoding="utf-8")  # fmt: skip
    space = build({"units": "4:16", "cell": None}, None, {"trials": 5}, config)
    assert space.axes == {"cell": ("lstm", "gru")} and space.fixed == {"steps": 30, "batch_size": 20}
    assert space.ranges == {"units": Range(4, 16), "learning_rate": Range(1e-4, 1e-2, True)}
    assert (space.seeds, space.search, space.trials, space.size()) == (3, "tpe", 5, 15)

    grid = build({"cell": "lstm,gru,rnn", "steps": "20"}, None, {"budget": 32_000})
    shape = DataShape(28, 28, 10, 2_000)
    units = {p["cell"]: train_config(grid, p, 0, shape)[1] for p in grid.grid()}
    assert units == {"lstm": 75, "gru": 88, "rnn": 160}
    assert folder_name({"units": 8, "cell": "gru", "learning_rate": 1e-05, "bidirectional": True}) == (
        "cell-gru_units-8_bidirectional-true_learning-rate-1e-05"
    )


# --- bad input: one line, exit 2, nothing written ------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--units", "4,,8"],
        ["--units", "8:4", "--search", "random"],
        ["--learning-rate", "0:1:log", "--search", "tpe"],
        ["--cell", "lstm:gru"],
        ["--units", "four"],
        ["--units", "4,4"],
        ["--units", "4:8"],
        ["--trials", "3"],
        ["--budget", "10"],
        ["--budget", "5000", "--units", "8"],
        ["--validation", "0"],
        ["--seeds", "0"],
        ["--workers", "0"],
        ["--storage", "foo://somewhere/db"],
        ["--storage", "postgres://user@localhost/db"],
        ["--storage", "not-a-url"],
        ["--storage", "postgresql+psycopg://postgres@127.0.0.1:9/none"],
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    args: list[str], small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    started = time.monotonic()
    assert main(["sweep", "run", "bad", *tiny(small_npz), "--runs-dir", str(runs), *args]) == 2
    assert time.monotonic() - started < 12  # an unreachable database is an answer, not a hang
    err = capsys.readouterr().err.strip()
    assert err.startswith("lstmcli: error:") and "\n" not in err, err
    assert not runs.exists()


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("units = [[8], 4]", "[sweep] units"),
        ('units = "4:x"', "[sweep] units"),
        ("cell = [\"lstm\", \"tree\"]", "[sweep] cell"),
        ("bogus = [1, 2]", "[sweep] bogus"),
        ('seeds = "3"', "[sweep] seeds"),
        ('learning-rate = "0:1:log"\nsearch = "tpe"', "[sweep] learning_rate"),
    ],
)
def test_a_bad_sweep_table_is_refused_naming_the_file_and_key(
    table: str, key: str, small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "sweep.toml"
    config.write_text(f"[sweep]\n{table}\n", encoding="utf-8")
    runs = tmp_path / "runs"
    assert main(["sweep", "run", "bad", *tiny(small_npz), "--config", str(config), "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"lstmcli: error: --config {config}: {key}") and "\n" not in err, err
    flag = "--" + key.split()[-1].replace("_", "-")
    assert flag not in err, err  # the file's key, not a flag the user did not type
    assert not runs.exists()


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "x" * 101, ""])
def test_a_name_that_is_not_a_plain_folder_name_is_refused(
    name: str, small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", "run", name, *tiny(small_npz), "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "sweep name" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_study_with_another_space_is_refused_and_left_alone(
    small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lstmcli.sweep import studies
    from lstmcli.sweep.space import build
    from lstmcli.sweep.worker import data_facts

    runs = tmp_path / "runs"
    (runs / "taken").mkdir(parents=True)
    where = studies.locate(None, runs, "taken")
    space = build({"units": "4,8", "data": str(small_npz)})
    studies.create_or_join(studies.open_storage(where), where, "taken", space, data_facts(str(small_npz))[1])
    before = where.file.read_bytes()  # type: ignore[union-attr]
    assert main(["sweep", "run", "taken", *tiny(small_npz), "--units", "4,16", "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert "exists with a different search space" in err and "\n" not in err.strip()
    assert where.file.read_bytes() == before  # type: ignore[union-attr]
    assert sorted(p.name for p in (runs / "taken").iterdir()) == ["study.db"]
    assert main(["sweep", "show", "nothing", "--runs-dir", str(runs)]) == 2


def test_a_storage_that_is_not_a_sweep_is_refused_not_changed(
    small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    import optuna

    from lstmcli.sweep import studies

    runs = tmp_path / "runs"
    for name in ("text", "other", "foreign", "tampered"):
        (runs / name).mkdir(parents=True)
    (runs / "text" / "study.db").write_text("not a database\n")
    with sqlite3.connect(runs / "other" / "study.db") as db:
        db.execute("CREATE TABLE notes (body TEXT)")
    foreign = optuna.create_study(study_name="foreign", storage=f"sqlite:///{runs / 'foreign' / 'study.db'}")
    foreign.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
    tampered = optuna.create_study(study_name="tampered", storage=f"sqlite:///{runs / 'tampered' / 'study.db'}")
    tampered.set_user_attr(studies.SPACE_ATTR, {"axes": "rm -rf /"})
    tampered.set_user_attr(studies.READY_ATTR, True)
    files = {p: p.read_bytes() for p in runs.glob("*/study.db")}
    refusals = {"text": "not an SQLite database", "other": "not an Optuna study database",
                "foreign": "was not made by lstmcli sweep", "tampered": "search space is damaged"}  # fmt: skip
    for name, says in refusals.items():
        for command in (["run", name, *tiny(small_npz)], ["show", name]):
            assert main(["sweep", *command, "--runs-dir", str(runs)]) == 2
            err = capsys.readouterr().err.strip()
            assert says in err and "\n" not in err, err
    assert {p: p.read_bytes() for p in runs.glob("*/study.db")} == files
    assert sorted(p.name for p in runs.glob("*/*")) == ["study.db"] * 4
    assert main(["sweep", "list", "--runs-dir", str(runs), "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)["sweeps"]
    assert sum(bool(row.get("problem")) for row in listed) == 3 and len(listed) == 4  # the tampered one too


# --- one study, several workers; faults; pruning --------------------------------------------------------------


def test_two_workers_with_their_own_runs_folders_share_one_postgres_study(
    postgres_url: str, small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = ["sweep", "run", "grid", "--storage", postgres_url, "--units", "4,8", "--cell", "lstm,gru", "--seeds", "2"]
    machines = [tmp_path / "machine-a", tmp_path / "machine-b"]
    workers = [start(*grid, *tiny(small_npz), "--runs-dir", str(m), "--quiet", core=i) for i, m in enumerate(machines)]
    assert [finish(w) for w in workers] == [0, 0]

    report = show(capsys, "grid", "--storage", postgres_url, "--no-plot")  # the storage alone, no run folder
    trials = report["trials"]
    assert len(trials) == 8 and all(t["state"] == "COMPLETE" for t in trials)
    runs = Counter((json.dumps(t["params"], sort_keys=True), t["seed"]) for t in trials)
    assert len(runs) == 8 and set(runs.values()) == {1}  # each configuration x seed exactly once
    folders = [Path(t["run"]) for t in trials]
    assert {f.parent.parent for f in folders} == set(machines)  # both workers ran trials, each in its own folder
    assert all((f / "metrics.json").is_file() and (f / "model.keras").is_file() for f in folders)
    assert [c["n"] for c in report["configurations"]] == [2, 2, 2, 2]
    means = [c["val_accuracy_mean"] for c in report["configurations"]]
    assert means == sorted(means, reverse=True)
    assert all(c["val_accuracy_std"] is not None for c in report["configurations"])
    assert report["counts"] == {"total": 8, "complete": 8, "running": 0, "waiting": 0, "pruned": 0, "failed": 0,
                                "retried": 0}  # fmt: skip


def checkpoint_step(path: Path) -> int:
    return saved_step(path) or 0


def signal_after_checkpoint(process: subprocess.Popen[str], checkpoint: Path, signum: int) -> None:
    """Send `signum` once the trial has saved a checkpoint after its first evaluation: mid-trial, for sure."""
    deadline = time.monotonic() + TIMEOUT
    while checkpoint_step(checkpoint) < 50 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signum)


def test_a_killed_worker_s_trial_is_resumed_from_its_checkpoint(
    small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    args = ["sweep", "run", "killed", "--units", "8", *tiny(small_npz, steps=600), "--checkpoint-every", "50",
            "--heartbeat", "1", "--runs-dir", str(runs), "--quiet"]  # fmt: skip
    first = start(*args)
    checkpoint = runs / "killed" / "base-seed0" / "checkpoint.npz"
    signal_after_checkpoint(first, checkpoint, signal.SIGKILL)  # a lost machine: a RUNNING trial left behind
    first.communicate(timeout=30)
    killed_at = checkpoint_step(checkpoint)
    assert 50 <= killed_at < 600

    assert main(args) == 0  # in this process: waits out the heartbeat's grace, takes the re-queued trial, resumes it
    report = show(capsys, "killed", "--runs-dir", str(runs), "--no-plot")
    lost, resumed = report["trials"]
    assert (lost["state"], lost["retried"], resumed["state"], resumed["retry_of"]) == ("FAIL", True, "COMPLETE", 0)
    assert resumed["resumed_from"] >= killed_at and resumed["run"] == str(checkpoint.parent)
    assert report["counts"]["complete"] == 1 and report["counts"]["failed"] == 0
    metrics = json.loads((checkpoint.parent / "metrics.json").read_text())
    assert metrics["steps"] == 600


def test_sigterm_stops_a_worker_cleanly_and_the_next_run_finishes_the_sweep(
    small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    args = ["sweep", "run", "stopped", "--units", "8", *tiny(small_npz, steps=400), "--checkpoint-every", "50",
            "--runs-dir", str(runs), "--quiet"]  # fmt: skip
    worker = start(*args)
    checkpoint = runs / "stopped" / "base-seed0" / "checkpoint.npz"
    signal_after_checkpoint(worker, checkpoint, signal.SIGTERM)
    assert finish(worker) == 143
    assert 50 <= checkpoint_step(checkpoint) < 400
    queued = show(capsys, "stopped", "--runs-dir", str(runs), "--no-plot")
    assert [(t["state"], t["retried"]) for t in queued["trials"]] == [("FAIL", True), ("WAITING", False)]

    assert main(args) == 0  # in this process: finishes the re-queued trial from its checkpoint
    done = show(capsys, "stopped", "--runs-dir", str(runs), "--plot", str(tmp_path / "stopped.png"))
    assert done["trials"][1]["state"] == "COMPLETE" and done["trials"][1]["resumed_from"] >= 50
    assert Path(done["plot"]).is_file()


def test_median_pruning_stops_a_poor_trial(small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    assert main(["sweep", "run", "pruned", "--learning-rate", "0.02,0.0000001", "--schedule", "constant",
                 "--units", "8", *tiny(small_npz), "--prune", "median", "--prune-after", "1",
                 "--runs-dir", str(runs)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "pruned (val" in out and "1/2 done" in out
    report = show(capsys, "pruned", "--runs-dir", str(runs), "--no-plot")
    assert [(t["params"]["learning_rate"], t["state"]) for t in report["trials"]] == [
        (0.02, "COMPLETE"),
        (1e-07, "PRUNED"),
    ]
    pruned = Path(report["trials"][1]["run"])
    assert (pruned / "checkpoint.npz").is_file() and not (pruned / "metrics.json").exists()  # resumable
    assert report["configurations"][1]["pruned"] == 1
    capsys.readouterr()
    assert main(["sweep", "list", "--runs-dir", str(runs), "--format", "json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [(s["name"], s["trials"], s["complete"]) for s in listing["sweeps"]] == [("pruned", 2, 1)]


@pytest.mark.parametrize("argv", [["sweep", "list", "--runs-dir", ""], ["sweep", "show", "x", "--runs-dir", ""],
                                  ["sweep", "list", "--runs-dir", "~lstmcli-no-such-user/r"]])  # fmt: skip
def test_sweep_paths_go_through_the_path_parser(argv: list[str], tmp_path: Path, monkeypatch, capsys) -> None:
    """An empty or unexpandable path is one line and exit 2, as for train (it listed the current folder)."""
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("empty path" in err or "no such user" in err)
    assert list(tmp_path.iterdir()) == []


# --- the hand-out of trials: each exactly once, whatever the storage and the number of workers ---------------

CLAIMER = """
import json, sys
from pathlib import Path
from lstmcli.sweep import studies
from lstmcli.sweep.worker import pop
storage, runs = json.loads(sys.argv[1]), Path(sys.argv[2])
opened = studies.open_storage(studies.locate(storage, runs, "race"), create=False)
study_id = opened.get_study_id_from_name("race")
print("ready", flush=True)
sys.stdin.readline()
claimed = []
while (trial_id := pop(opened, study_id)) is not None:
    claimed.append(trial_id)
print(json.dumps(claimed))
"""


def claim_race(storage: str | None, runs: Path, trials: int, processes: int) -> list[int]:
    """`processes` real processes pop waiting trials as fast as they can, released together: every id claimed."""
    import optuna

    from lstmcli.sweep import studies

    where = studies.locate(storage, runs, "race")
    if where.file is not None:
        where.file.parent.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(study_name="race", storage=studies.open_storage(where))
    for seed in range(trials):
        study.enqueue_trial({}, user_attrs={"seed": seed})
    command = [sys.executable, "-c", CLAIMER, json.dumps(storage), str(runs)]
    racers = [subprocess.Popen(command, env=env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
              for _ in range(processes)]  # fmt: skip
    for racer in racers:
        assert racer.stdout is not None and racer.stdout.readline() == "ready\n"
    for racer in racers:
        assert racer.stdin is not None
        racer.stdin.write("go\n")
        racer.stdin.flush()
    claimed = []
    for racer in racers:
        out, _ = racer.communicate(timeout=TIMEOUT)
        assert racer.returncode == 0
        claimed += json.loads(out.splitlines()[-1])
    return claimed


@pytest.mark.parametrize("attempt", range(2))
def test_racing_workers_take_each_waiting_trial_once_on_the_default_sqlite(attempt: int, tmp_path: Path) -> None:
    """SQLite has no row lock: before BEGIN IMMEDIATE, every attempt had trials taken twice."""
    claimed = claim_race(None, tmp_path / "runs", 40, 4)
    assert len(claimed) == 40 and len(set(claimed)) == 40, Counter(claimed).most_common(3)


def test_racing_workers_take_each_waiting_trial_once_on_a_journal(tmp_path: Path) -> None:
    claimed = claim_race(str(tmp_path / "race.log"), tmp_path / "runs", 40, 4)
    assert len(claimed) == 40 and len(set(claimed)) == 40, Counter(claimed).most_common(3)


# --- tasks judged by a loss: the study minimises it -----------------------------------------------------------

# The adding problem at T = 8, 20 steps a trial: seconds each, and far enough for the figures to differ.
ADDING = ["--task", "adding", "--length", "8", "--steps", "20", "--eval-every", "10", "--batch-size", "20"]


def test_an_adding_sweep_minimises_the_val_mse_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import optuna

    runs = tmp_path / "runs"
    assert main(["sweep", "run", "adding", *ADDING, "--cell", "lstm,rnn", "--units", "4", "--seeds", "2",
                 "--runs-dir", str(runs)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "val MSE (mean ± sd)" in out and "of baseline" in out and "val acc" not in out
    study = optuna.load_study(study_name="adding", storage=f"sqlite:///{runs / 'adding' / 'study.db'}")
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    plot = tmp_path / "adding.png"
    report = show(capsys, "adding", "--runs-dir", str(runs), "--plot", str(plot))
    assert (report["objective"], report["direction"]) == ("val_mse", "minimize")
    assert report["task"]["name"] == "adding" and report["task"]["baseline"]["loss"] == pytest.approx(1 / 6)
    trials = report["trials"]
    for trial in trials:  # each trial's figures are its run's own
        metrics = json.loads((Path(trial["run"]) / "metrics.json").read_text(encoding="utf-8"))
        assert (trial["val_mse"], trial["test_mse"]) == (metrics["val_mse"], metrics["test_mse"])
        assert trial["val_accuracy"] is None and "val_loss" not in trial
    assert report["best"]["number"] == min(trials, key=lambda t: t["val_mse"])["number"]
    means = [c["val_mse_mean"] for c in report["configurations"]]
    assert means == sorted(means) and all(c["n"] == 2 and c["val_mse_ci_low"] is not None
                                          for c in report["configurations"])  # fmt: skip
    for c in report["configurations"]:
        assert c["val_mse_best"] == min(t["val_mse"] for t in trials if t["number"] in c["trials"])
        assert c["val_accuracy_mean"] is None
    lstm = next(c for c in report["configurations"] if c["cell"] == "lstm")
    assert lstm["parameters"] == 4 * 4 * (2 + 4 + 1) + 4 + 1  # two input features, one output: the task's shape
    assert report["comparison"]["goal"] == "minimize" and report["comparison"]["figure"] == "val_mse"
    assert plot.stat().st_size > 0
    capsys.readouterr()
    assert main(["sweep", "list", "--runs-dir", str(runs), "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)["sweeps"][0]
    assert (listed["objective"], listed["best_value"]) == ("val_mse", report["best"]["val_mse"])
    assert listed["best_val_accuracy"] is None


def test_median_pruning_stops_the_trial_whose_mse_is_higher(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """In a study that maximised, the untrained trial's higher MSE would look better and never be pruned."""
    runs = tmp_path / "runs"
    assert main(["sweep", "run", "pruned", *ADDING, "--steps", "40", "--eval-every", "20", "--learning-rate",
                 "0.02,0.0000001", "--schedule", "constant", "--units", "8", "--prune", "median", "--prune-after", "1",
                 "--runs-dir", str(runs)]) == 0  # fmt: skip
    assert "pruned (val MSE" in capsys.readouterr().out
    report = show(capsys, "pruned", "--runs-dir", str(runs), "--no-plot")
    trained, untrained = report["trials"]
    assert (trained["state"], untrained["state"]) == ("COMPLETE", "PRUNED")
    assert untrained["val_mse"] > trained["val_mse"]
    assert report["configurations"][0]["params"] == {"learning_rate": 0.02}


def test_a_copy_sweep_ranks_by_the_val_loss_and_shows_the_recall(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    assert main(["sweep", "run", "copy", "--task", "copy", "--length", "4", "--steps", "20", "--eval-every", "10",
                 "--batch-size", "20", "--units", "4,8", "--runs-dir", str(runs)]) == 0  # fmt: skip
    assert "val loss (mean ± sd)" in capsys.readouterr().out
    report = show(capsys, "copy", "--runs-dir", str(runs), "--no-plot")
    assert (report["objective"], report["direction"], report["task"]["name"]) == ("val_loss", "minimize", "copy")
    losses = [c["val_loss_mean"] for c in report["configurations"]]
    assert losses == sorted(losses)
    for c in report["configurations"]:
        assert 0 <= c["test_recall_accuracy_mean"] <= 1
    for trial in report["trials"]:
        metrics = json.loads((Path(trial["run"]) / "metrics.json").read_text(encoding="utf-8"))
        assert (trial["val_loss"], trial["test_recall_accuracy"]) == (metrics["val_loss"],
                                                                       metrics["test_recall_accuracy"])  # fmt: skip


@pytest.mark.parametrize(("tasks", "judged"), [("rows,adding", "accuracy and adding by its mse"),
                                               ("adding,copy", "mse and copy by its loss")])  # fmt: skip
def test_tasks_judged_by_different_figures_are_not_one_sweep(
    tasks: str, judged: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    assert main(["sweep", "run", "mixed", "--task", tasks, "--steps", "20", "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lstmcli: error:") and "\n" not in err and judged in err, err
    assert not runs.exists()
