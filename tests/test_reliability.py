"""Training that survives being killed: signals, SIGKILL, exact resume, NaN, the lock, refusal to overwrite.

One run is interrupted four times in real subprocesses, each a different way, and then finished in
process; it must end bit-for-bit where the same run left alone ends:

1. SIGKILL right after config.json appears, before any checkpoint exists;
   resumed, then SIGTERM while TensorFlow is still loading -> checkpoint at step 0, exit 143;
2. resumed, then SIGTERM at step 50 (not a checkpoint step: the signal itself must save one) -> exit 143;
3. resumed, then SIGKILL at step 150, 30 steps after the last checkpoint (step 120) -> that work is lost;
   while this process is paused, a second writer is refused by the lock;
4. resumed, then SIGINT at step 250 -> exit 130;
5. resumed in this process to the end (step 400).

To stop a process at a known step, the subprocesses run the real CLI (`lstmcli.cli.main`) with a
reporter that, at the first chunk boundary past a given step, tells the test and waits for its signal.
Everything else (TensorFlow, Keras, the checkpoint files) is the real thing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lstmcli import atomic, cli, rundir
from lstmcli.cli.progress import Quiet
from lstmcli.errors import CheckFailed, DataError, UsageError
from lstmcli.rundir import RunFolder
from lstmcli.train import runner
from lstmcli.train.config import from_preset

# A small real LSTM on 7x7 images (MNIST subsampled; 7 timesteps compile faster than 28): a few seconds per
# process, mostly compilation.
TRAIN_OPTIONS = {
    "units": 16,
    "batch_size": 20,
    "steps": 400,
    "eval_every": 100,
    "checkpoint_every": 40,
    "seed": 11,
    "learning_rate": 3e-3,
    "schedule": "cosine",
    "order": "shuffle",
}
HISTORY_STEPS = [100, 200, 300, 400]

DRIVER = r"""
import os, signal, sys, time
from pathlib import Path
from lstmcli import cli
from lstmcli.cli import progress

pause_at = int(os.environ["LSTMCLI_TEST_PAUSE_AT"])
marker = Path(os.environ["LSTMCLI_TEST_MARKER"])


class PauseAt(progress.Quiet):
    def advance(self, step, epoch, loss, accuracy, rate):
        if step < pause_at or marker.exists():
            return
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(str(step))
        tmp.replace(marker)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # SIGKILL ends us here; SIGINT/SIGTERM set the trainer's flag
            handler = signal.getsignal(signal.SIGTERM)
            if getattr(getattr(handler, "__self__", None), "received", None) is not None:
                return
            time.sleep(0.01)
        raise SystemExit("test driver: no signal came")


progress.make_reporter = lambda console, quiet: PauseAt()
sys.exit(cli.main(sys.argv[1:]))
"""


def cli_args(options: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"process ended (rc {process.returncode}) before {path.name} appeared:\n{out}\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{path.name} did not appear within {timeout} s")
        time.sleep(0.01)


def paused_process(args: list[str], pause_at: int, marker: Path) -> subprocess.Popen[str]:
    """Start the CLI in a subprocess and return once it is paused at the first boundary >= pause_at."""
    env = {**subprocess_env(), "LSTMCLI_TEST_PAUSE_AT": str(pause_at), "LSTMCLI_TEST_MARKER": str(marker)}
    process = subprocess.Popen(
        [sys.executable, "-c", DRIVER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    wait_for(marker, process)
    return process


def catches(pid: int, signum: int) -> bool:
    """Whether the process has a handler installed for `signum` (Linux: SigCgt in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def stop(process: subprocess.Popen[str], signum: int) -> tuple[int, str, str]:
    process.send_signal(signum)
    out, err = process.communicate(timeout=240)  # a hang guard, not a timing: a loaded machine loads TensorFlow slowly
    return process.returncode, out, err


def checkpoint_step(run: Path) -> int:
    with np.load(RunFolder(run).checkpoint, allow_pickle=False) as npz:
        return int(npz["step"])


def checkpoint_arrays(run: Path) -> dict[str, np.ndarray]:
    with np.load(RunFolder(run).checkpoint, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files if k.startswith(("model_", "optimizer_"))}


def evaluated_steps(rows: list[dict[str, float]]) -> list[int]:
    """The steps of the rows that hold an evaluation (the others hold only the chunk's training means)."""
    return [int(r["step"]) for r in rows if "val_accuracy" in r or "test_accuracy" in r]


def history_steps(run: Path) -> list[int]:
    return evaluated_steps(RunFolder(run).read_history())


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with the SHA-256 of its bytes: equal snapshots mean nothing changed.

    The lock file is left out: it holds the pid of the last process that took the lock, not run data."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != rundir.LOCK
    }


def keras_weights(path: Path) -> list[np.ndarray]:
    import keras

    return [np.asarray(w) for w in keras.saving.load_model(path, compile=False, safe_mode=True).get_weights()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, tiny_npz: Path) -> Path:
    """The run left alone, trained in this process."""
    out = tmp_path_factory.mktemp("reference") / "run"
    runner.start(from_preset("default", data=str(tiny_npz), **TRAIN_OPTIONS), out, out.parent, Quiet())
    return out


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory, tiny_npz: Path) -> dict[str, Any]:
    """The same run, interrupted four ways (see the module docstring), with what each stage left."""
    base = tmp_path_factory.mktemp("interrupted")
    run = base / "run"
    seen: dict[str, Any] = {"run": run}
    # --data relative to the data's folder; every resume below runs elsewhere and must still find it.
    args = ["train", "--data", tiny_npz.name, *cli_args(TRAIN_OPTIONS), "--out", str(run)]
    resume = ["train", "--resume", str(run)]

    # 1. SIGKILL as soon as the run's config.json exists: TensorFlow is still loading, nothing trained yet.
    process = subprocess.Popen(
        [sys.executable, "-m", "lstmcli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=subprocess_env(), cwd=tiny_npz.parent,
    )  # fmt: skip
    wait_for(RunFolder(run).config, process)  # type: ignore[arg-type]
    process.kill()
    process.communicate()
    seen["sigkill_early"] = {"rc": process.returncode, "files": sorted(p.name for p in run.iterdir())}
    seen["config_data"] = RunFolder(run).read_config_json()["data"]

    # 1b. Resume (no checkpoint: starts at 0) and SIGTERM as soon as lstmcli handles it, while TensorFlow loads.
    process = subprocess.Popen(
        [sys.executable, "-m", "lstmcli", *resume], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=subprocess_env(),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not catches(process.pid, signal.SIGTERM) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    rc, out, err = stop(process, signal.SIGTERM)
    seen["sigterm_early"] = {"rc": rc, "err": err, "checkpoint": checkpoint_step(run)}

    # 2. Resume from step 0, SIGTERM at step 50.
    process = paused_process(resume, 50, base / "term.marker")
    seen["sigterm"] = {"paused_at": int((base / "term.marker").read_text())}
    rc, out, err = stop(process, signal.SIGTERM)
    seen["sigterm"].update(rc=rc, out=out, err=err, checkpoint=checkpoint_step(run), history=history_steps(run))

    # 3. Resume, SIGKILL at step 150. While it is paused, it holds the lock: a second writer is refused.
    process = paused_process(resume, 130, base / "kill.marker")
    before = snapshot(run)
    refusals = {}
    for name, call in {
        "resume": lambda: runner.resume(run, Quiet()),
        "force": lambda: runner.start(
            from_preset("default", data=str(tiny_npz), **TRAIN_OPTIONS), run, base, Quiet(), force=True
        ),
    }.items():
        with pytest.raises(UsageError) as refused:
            call()
        refusals[name] = str(refused.value)
    seen["lock"] = {
        "refusals": refusals,
        "pid": process.pid,
        "lock_file": RunFolder(run).lock.read_text(),
        "unchanged": snapshot(run) == before,
    }
    seen["sigkill"] = {"paused_at": int((base / "kill.marker").read_text())}
    rc, out, err = stop(process, signal.SIGKILL)
    seen["sigkill"].update(rc=rc, err=err, checkpoint=checkpoint_step(run), history=history_steps(run))
    shutil.copytree(run, base / "after_sigkill")  # kept for the NaN test: an unfinished run at step 120

    # 4. Resume, SIGINT at step 250.
    process = paused_process(resume, 250, base / "int.marker")
    seen["sigint"] = {"paused_at": int((base / "int.marker").read_text())}
    rc, out, err = stop(process, signal.SIGINT)
    seen["sigint"].update(rc=rc, out=out, err=err, checkpoint=checkpoint_step(run), history=history_steps(run))

    # 5. Resume in this process to the end.
    seen["metrics"] = runner.resume(run, Quiet()).metrics
    return seen


def test_sigkill_before_the_first_checkpoint_leaves_a_resumable_run(interrupted: dict[str, Any]) -> None:
    early = interrupted["sigkill_early"]
    assert early["rc"] == -signal.SIGKILL
    assert rundir.CONFIG in early["files"]
    assert rundir.CHECKPOINT not in early["files"]  # really killed before any training
    assert Path(interrupted["config_data"]).is_absolute()  # given relative, saved so that resume finds it


def test_signal_during_start_up_is_answered_with_a_checkpoint_and_the_message(interrupted: dict[str, Any]) -> None:
    """Before the fix, Typer turned the KeyboardInterrupt raised inside TensorFlow's import into a silent
    exit 130, and SIGTERM killed the process with no word."""
    early, run = interrupted["sigterm_early"], interrupted["run"]
    assert early["rc"] == 143, early["err"]
    expected = f"interrupted at step 0 of 400; checkpoint saved. Resume with: lstmcli train --resume {run}"
    assert early["err"].strip().splitlines() == [f"lstmcli: error: {expected}"]
    assert early["checkpoint"] == 0


@pytest.mark.parametrize(
    ("stage", "signum", "code", "step"), [("sigterm", "SIGTERM", 143, 50), ("sigint", "SIGINT", 130, 250)]
)
def test_signal_saves_a_checkpoint_says_how_to_resume_and_exits_128_plus_signal(
    interrupted: dict[str, Any], stage: str, signum: str, code: int, step: int
) -> None:
    seen, run = interrupted[stage], interrupted["run"]
    assert seen["paused_at"] == step
    assert seen["rc"] == code, seen["err"]
    assert seen["checkpoint"] == step  # the signal's own checkpoint, not the last periodic one
    expected = f"interrupted at step {step} of 400; checkpoint saved. Resume with: lstmcli train --resume {run}"
    assert seen["err"].strip().splitlines() == [f"lstmcli: error: {expected}"], seen["err"]
    assert seen["out"] == ""


def test_sigkill_loses_only_the_steps_since_the_last_checkpoint(interrupted: dict[str, Any]) -> None:
    seen = interrupted["sigkill"]
    assert seen["rc"] == -signal.SIGKILL
    assert seen["paused_at"] == 150
    assert seen["checkpoint"] == 120  # --checkpoint-every 40: 30 steps of work lost, no more
    assert seen["history"] == [100]


def test_second_writer_is_refused_by_the_lock_and_changes_nothing(interrupted: dict[str, Any]) -> None:
    lock = interrupted["lock"]
    assert lock["lock_file"] == str(lock["pid"])
    for how, message in lock["refusals"].items():
        assert "is being written by another lstmcli train" in message, how
        assert f"(pid {lock['pid']})" in message, how
    assert lock["unchanged"]  # --force did not delete a running run's files


def test_interrupted_and_resumed_run_is_bit_for_bit_the_run_left_alone(
    interrupted: dict[str, Any], reference: Path
) -> None:
    run = interrupted["run"]
    got, want = checkpoint_arrays(run), checkpoint_arrays(reference)
    assert sorted(got) == sorted(want)
    for key in want:
        assert np.array_equal(got[key], want[key]), key
    for a, b in zip(keras_weights(RunFolder(run).model), keras_weights(RunFolder(reference).model), strict=True):
        assert np.array_equal(a, b)


def test_history_has_every_evaluation_once_with_the_same_figures(interrupted: dict[str, Any], reference: Path) -> None:
    got = RunFolder(interrupted["run"]).read_history()
    want = RunFolder(reference).read_history()
    assert evaluated_steps(got) == HISTORY_STEPS
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for a, b in zip(got, want, strict=True):
        a.pop("seconds"), b.pop("seconds")
        assert a == b  # train loss/accuracy average exactly the same steps across the interruptions
    assert interrupted["metrics"].test_accuracy == RunFolder(reference).read_metrics()["test_accuracy"]


def test_finished_run_dir_is_complete_and_clean(interrupted: dict[str, Any]) -> None:
    run = interrupted["run"]
    for name in rundir.RUN_FILES:
        assert (run / name).is_file(), name
    leftovers = [p.name for p in run.iterdir() if ".tmp" in p.name]
    assert leftovers == []


def test_nan_loss_stops_with_exit_1_and_keeps_the_last_good_checkpoint(
    interrupted: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Within the accepted options (learning rate at most 10, pixels scaled to 0..1) this model does not
    diverge, so the test makes it: the unfinished run (checkpoint at step 120) gets classifier weights of
    +-3e38, finite and valid, whose logits overflow to inf and make the loss NaN in the next chunk."""
    run = tmp_path / "run"
    shutil.copytree(interrupted["run"].parent / "after_sigkill", run)
    path = RunFolder(run).checkpoint
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    kernel = next(k for k, v in arrays.items() if k.startswith("model_") and v.shape == (16, 10))
    arrays[kernel] = np.where(np.arange(10) % 2 == 0, 3e38, -3e38).astype(np.float32) * np.ones((16, 1), np.float32)
    np.savez(path, **arrays)
    before = snapshot(run)

    code = cli.main(["train", "--resume", str(run)])

    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "the loss became nan between steps 120 and 150" in err
    assert "the last good checkpoint (step 120) is kept" in err
    assert snapshot(run) == before  # checkpoint, history and config untouched; no model, no metrics
    assert not RunFolder(run).model.exists() and not RunFolder(run).metrics.exists()


def test_out_holding_another_run_is_refused_and_unchanged(reference: Path, tiny_npz: Path, tmp_path: Path) -> None:
    before = snapshot(reference)
    config = from_preset("default", data=str(tiny_npz), **{**TRAIN_OPTIONS, "steps": 100})
    with pytest.raises(UsageError) as refused:
        runner.start(config, reference, tmp_path, Quiet())
    from lstmcli.cli.errors import message as said

    message = said(refused.value)  # as the command line prints it: the fields said as flags
    assert "already holds a run" in message
    assert f"--resume {reference}" in message and "--force" in message
    assert snapshot(reference) == before


def test_resume_of_a_complete_run_changes_nothing(reference: Path, tmp_path: Path) -> None:
    before = snapshot(reference)
    run, metrics, history = runner.resume(reference, Quiet())
    assert run == reference
    assert metrics.model_dump() == RunFolder(reference).read_metrics()
    assert history == RunFolder(reference).read_history()
    assert snapshot(reference) == before


def test_force_replaces_the_run(reference: Path, tiny_npz: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    config = from_preset("default", data=str(tiny_npz), **{**TRAIN_OPTIONS, "steps": 50, "eval_every": 50})
    _, metrics, history = runner.start(config, run, tmp_path, Quiet(), force=True)
    assert metrics.steps == 50
    assert history == RunFolder(run).read_history()  # the rows in memory are the file's
    assert RunFolder(run).read_config_json()["steps"] == 50
    assert history_steps(run) == [50]  # nothing left of the replaced run's history


def test_nan_weights_are_never_checkpointed(reference: Path, tiny_npz: Path, tmp_path: Path) -> None:
    """The last line of defence: save_checkpoint refuses non-finite weights, whatever produced them."""
    from lstmcli.train.checkpoint import RunState
    from lstmcli.train.session import Session

    run = tmp_path / "run"
    shutil.copytree(reference, run)
    before = snapshot(run)
    config = from_preset("default", data=str(tiny_npz), **TRAIN_OPTIONS)
    session = Session(runner.prepare(config), run, Quiet())  # builds; compiles only when first called
    weight = session.step.model.weights[0]
    weight.assign(np.full(weight.shape, np.nan, np.float32))
    with pytest.raises(CheckFailed, match=r"weights became NaN or infinite by step 7; .*\(step 400\) is kept"):
        session.checkpoint.save(RunState(step=7))
    assert snapshot(run) == before


class BlocksCheckpointWrites(Quiet):
    """At the first boundary at or past `step`, puts a folder where the next checkpoint's temporary file
    goes: the write then fails with a real OSError (EISDIR), as a full or read-only disk would make it."""

    def __init__(self, run: Path, step: int) -> None:
        self.blocker = atomic.temporary_name(RunFolder(run).checkpoint)
        self.step = step

    def advance(self, step: int, epoch: float, loss: float, accuracy: float, rate: float) -> None:
        if step >= self.step:
            self.blocker.mkdir(exist_ok=True)


def test_failed_checkpoint_write_keeps_the_last_one_and_resumes_exactly(
    reference: Path, tiny_npz: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    reporter = BlocksCheckpointWrites(run, 100)
    with pytest.raises(UsageError) as refused:
        runner.start(from_preset("default", data=str(tiny_npz), **TRAIN_OPTIONS), run, tmp_path, reporter)
    message = str(refused.value)
    assert message.startswith(f"cannot write in {run} (Is a directory: {reporter.blocker.name})")
    assert message.endswith(
        f"the last checkpoint is kept. Make room or fix the folder, then: lstmcli train --resume {run}"
    )
    assert checkpoint_step(run) == 80  # the one before the failed write at step 100, intact
    assert history_steps(run) == []
    reporter.blocker.rmdir()

    runner.resume(run, Quiet())
    got, want = checkpoint_arrays(run), checkpoint_arrays(reference)
    assert all(np.array_equal(got[k], want[k]) for k in want)
    assert history_steps(run) == HISTORY_STEPS


def test_resume_with_other_data_is_refused(interrupted: dict[str, Any], tiny_npz: Path, tmp_path: Path) -> None:
    """The data file changed since the run started (same shapes, one label): resuming would silently train
    a different run, so it is refused, and nothing in the run changes."""
    run = tmp_path / "run"
    shutil.copytree(interrupted["run"].parent / "after_sigkill", run)
    with np.load(tiny_npz, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["y_train"] = arrays["y_train"].copy()
    arrays["y_train"][0] = (arrays["y_train"][0] + 1) % 10
    changed = tmp_path / "changed.npz"
    np.savez(changed, **arrays)
    config = RunFolder(run).read_config_json()
    RunFolder(run).write_config({**config, "data": str(changed)})
    before = snapshot(run)
    with pytest.raises(DataError, match=r"not the data this run was trained on .* resume with the same data"):
        runner.resume(run, Quiet())
    assert snapshot(run) == before
