"""The kill soak of a sweep (issue 21, faults that lose data): workers SIGKILLed at random moments, twenty
times, then the sweep finished by `sweep run` again: no trial lost, none counted twice, every run complete.

Four tiny trials on the 2,000-image slice; the loop stops itself after twenty kills (or when the sweep is done
before them) and within a bounded number of rounds.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from lstmcli.cli import main

ROOT = Path(__file__).resolve().parent.parent
KILLS, ROUNDS, TIMEOUT = 20, 30, 240


def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def training(study: Path) -> set[int]:
    """The processes that hold a trial now: a worker records its pid on the trial it takes, before training."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{study}?mode=ro", uri=True, timeout=1)) as db:
            rows = db.execute("SELECT a.value_json FROM trial_user_attributes a JOIN trials t USING (trial_id) "
                              "WHERE a.key = 'pid' AND t.state = 'RUNNING'").fetchall()  # fmt: skip
    except sqlite3.Error:
        return set()
    return {int(row[0]) for row in rows if row[0].isdigit()}


def round_of_kills(args: list[str], study: Path, log: Path, rng: random.Random, budget: int) -> tuple[int, int]:
    """One `sweep run --workers 2`; each worker SIGKILLed a random 0.3-4 s after it starts or, for half of
    them, after it takes a trial (mid-trial: building, training, checkpointing, telling Optuna); (kills, exit)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    with log.open("a") as err:
        parent = subprocess.Popen([sys.executable, "-m", "lstmcli", *args, "--workers", "2"], env=env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
        due: dict[int, float] = {}
        mid_trial: dict[int, bool] = {}
        kills, deadline = 0, time.monotonic() + TIMEOUT
        while parent.poll() is None and kills < budget and time.monotonic() < deadline:
            now, busy = time.monotonic(), training(study)
            for child in children(parent.pid):
                mid_trial.setdefault(child, rng.random() < 0.5)
                if child not in due and (not mid_trial[child] or child in busy):
                    due[child] = now + rng.uniform(0.3, 4.0)
                if now > due.get(child, float("inf")):
                    os.kill(child, signal.SIGKILL)
                    due[child], kills = float("inf"), kills + 1
            time.sleep(0.1)
        if parent.poll() is None:
            parent.send_signal(signal.SIGTERM)  # the twentieth kill made: stop the rest cleanly
        parent.wait(timeout=TIMEOUT)
    return kills, parent.returncode


def test_a_sweep_killed_twenty_times_then_run_again_has_every_trial_once(
    small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists():
        pytest.skip("needs Linux's /proc/PID/task/PID/children to find the worker processes")
    runs, log, rng = tmp_path / "runs", tmp_path / "workers.log", random.Random(21)
    args = ["sweep", "run", "soak", "--units", "4,6", "--seeds", "2", "--data", str(small_npz), "--steps", "60",
            "--eval-every", "20", "--checkpoint-every", "20", "--batch-size", "20", "--heartbeat", "1",
            "--runs-dir", str(runs), "--quiet"]  # fmt: skip
    kills = rounds = 0
    while kills < KILLS and rounds < ROUNDS:
        made, code = round_of_kills(args, runs / "soak" / "study.db", log, rng, KILLS - kills)
        kills, rounds = kills + made, rounds + 1
        if code == 0:
            break  # the sweep finished between kills
    assert kills >= KILLS or rounds < ROUNDS, (kills, rounds)
    time.sleep(3.5)  # three heartbeats: every trial a killed worker held is stale now

    assert main(args) == 0
    capsys.readouterr()
    assert main(["sweep", "show", "soak", "--runs-dir", str(runs), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    complete = [t for t in report["trials"] if t["state"] == "COMPLETE"]
    once = Counter((t["params"]["units"], t["seed"]) for t in complete)
    assert sorted(once) == [(u, s) for u in (4, 6) for s in range(2)] and set(once.values()) == {1}, once
    assert report["counts"]["failed"] == 0 and report["counts"]["waiting"] == report["counts"]["running"] == 0
    assert [c["n"] for c in report["configurations"]] == [2, 2]
    folders = sorted(p for p in (runs / "soak").iterdir() if p.is_dir())
    assert folders == sorted(Path(t["run"]) for t in complete)  # no other folder: none run twice elsewhere
    for folder in folders:
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["steps"] == 60 and (folder / "model.keras").is_file()
    assert "Traceback" not in log.read_text()
    print(f"soak: {kills} kills in {rounds} rounds; {len(report['trials'])} trials for 4")


def test_four_workers_on_the_default_storage_run_sixteen_trials_once_each(
    small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The red team's case: 16 tiny trials, --workers 4, SQLite: a trial ran twice in 3 of 4 attempts, and the
    loser's traceback was relayed with exit 0. (tests/test_sweep.py races the hand-out itself, repeatedly.)"""
    runs = tmp_path / "runs"
    args = ["sweep", "run", "four", "--units", "4,5,6,7", "--seeds", "4", "--data", str(small_npz), "--steps", "20",
            "--eval-every", "20", "--batch-size", "20", "--workers", "4", "--runs-dir", str(runs)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "lstmcli", *args, "--quiet"], env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert main(["sweep", "show", "four", "--runs-dir", str(runs), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["trials"]) == 16 and all(t["state"] == "COMPLETE" for t in report["trials"])
    assert len({(t["params"]["units"], t["seed"]) for t in report["trials"]}) == 16
    assert len({t["run"] for t in report["trials"]}) == 16
