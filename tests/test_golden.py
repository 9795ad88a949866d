"""Golden outputs of the views (lstmcli/cli/views/) and explain, compared exactly with tests/golden/.

The other CLI tests look for substrings, so a changed border, column, padding or wording passes them unseen.
Here the whole stdout of a command is compared character for character with a file that was reviewed once;
an intended change is made visible by regenerating the files and reading the diff:

    python -m pytest tests/test_golden.py --update-golden

Determinism: every command runs in a fixed terminal (120 columns, not a TTY, no colour; `fixed_terminal`),
whatever terminal or CI runner pytest itself runs in. `params` runs the real command, Keras verification
included, because its counts are exact integers. The metrics of a trained run are floats that may differ in
the last digits from one CPU to another, so the `eval` and `runs` goldens render fixed inputs instead (a fixed
evaluation result, a fixed folder of runs), and one end-to-end test checks that a real evaluation still has
the golden's structure. Temporary paths never reach a golden file; `normalise` replaces any that would.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import GOLDEN, Golden
from rich.console import Console

from lstmcli import evaluate
from lstmcli.cli import main
from lstmcli.rundir import RunFolder
from lstmcli.schemas import EvalResult

WIDTH = 120
TMP = "<tmp>"
# The module, not the Typer app that `lstmcli.cli.app` names as an attribute of the package.
CLI_APP = importlib.import_module("lstmcli.cli.app")


@pytest.fixture
def fixed_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 120-column, non-TTY, colourless terminal, whatever runs pytest.

    Rich reads COLUMNS and the colour settings when a Console is made, and the CLI made its consoles at
    import time (in whatever terminal that was), so they are remade here under the fixed environment, as a
    fresh `COLUMNS=120 TERM=dumb NO_COLOR=1 lstmcli ... | cat` would make them. TTY_COMPATIBLE=0 wins over
    FORCE_COLOR and a real TTY alike; `runs` makes its own wide console and reads the same variables.
    """
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    monkeypatch.setenv("LINES", "25")
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setattr(CLI_APP, "stdout", Console())
    monkeypatch.setattr(CLI_APP, "stderr", Console(stderr=True))


def normalise(text: str, *tmp_dirs: Path) -> str:
    """Temporary folders as one placeholder: their names differ on every run and machine."""
    for tmp in tmp_dirs:
        text = text.replace(str(tmp), TMP)
    return text


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> str:
    """stdout of `lstmcli ARGV` through the console-script entry, checking the exit code and a quiet stderr."""
    assert main(list(argv)) == code
    captured = capsys.readouterr()
    assert captured.err == "", captured.err
    return captured.out


# --- lstmcli params -----------------------------------------------------------------------------------------

VERIFIED = ("--units", "75", "--input", "28")  # the article's model, stated rather than left to the defaults
GRU = ("--cell", "gru", "--no-reset-after")
BIDIRECTIONAL = ("--bidirectional", "--layers", "2")
PYTORCH = ("--convention", "pytorch")

# golden file -> arguments of `lstmcli params`. Keras verification builds a model, so only the first four
# cases verify; the rest render the same closed-form counts with --no-verify ("not verified").
PARAMS_CASES: dict[str, tuple[str, ...]] = {
    "params/lstm-75-28.txt": VERIFIED,
    "params/lstm-75-28.md": (*VERIFIED, "--format", "markdown"),
    "params/lstm-75-28.json": (*VERIFIED, "--format", "json"),
    "params/gru-no-reset-after.txt": GRU,
    "params/lstm-75-28-no-verify.txt": (*VERIFIED, "--no-verify"),
    "params/lstm-75-28-explain.txt": (*VERIFIED, "--explain", "--no-verify"),
    "params/lstm-75-28-explain.json": (*VERIFIED, "--explain", "--no-verify", "--format", "json"),
    "params/gru-no-reset-after.md": (*GRU, "--no-verify", "--format", "markdown"),
    "params/gru-no-reset-after-explain.txt": (*GRU, "--explain", "--no-verify"),
    "params/gru-no-reset-after.json": (*GRU, "--no-verify", "--format", "json"),
    "params/bilstm-2-layers.txt": (*BIDIRECTIONAL, "--no-verify"),
    "params/bilstm-2-layers.md": (*BIDIRECTIONAL, "--no-verify", "--format", "markdown"),
    "params/bilstm-2-layers-explain.txt": (*BIDIRECTIONAL, "--explain", "--no-verify"),
    "params/bilstm-2-layers.json": (*BIDIRECTIONAL, "--no-verify", "--format", "json"),
    "params/pytorch.txt": (*PYTORCH, "--no-verify"),
    "params/pytorch-explain.txt": (*PYTORCH, "--explain", "--no-verify"),
    "params/pytorch.json": (*PYTORCH, "--no-verify", "--format", "json"),
    "params/gru-no-reset-after-pytorch-explain.txt": (*GRU, *PYTORCH, "--explain", "--no-verify"),
}


@pytest.mark.parametrize("name", PARAMS_CASES)
def test_params(name: str, golden: Golden, fixed_terminal: None, capsys: pytest.CaptureFixture[str]) -> None:
    golden.check(name, run_cli(capsys, "params", *PARAMS_CASES[name]))


def test_params_pytorch_without_torch(
    golden: Golden, fixed_terminal: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The note printed when --convention pytorch cannot verify: the same on machines with and without torch.

    A None entry in sys.modules makes `import torch` raise ImportError, as where torch is not installed.
    """
    monkeypatch.setitem(sys.modules, "torch", None)
    golden.check("params/pytorch-without-torch.txt", run_cli(capsys, "params", *PYTORCH))


def test_params_pytorch_verified(golden: Golden, fixed_terminal: None, capsys: pytest.CaptureFixture[str]) -> None:
    """Verified against torch.nn.LSTM where torch is installed (the `torch` extra); its count is an exact integer."""
    pytest.importorskip("torch")
    golden.check("params/pytorch-verified.txt", run_cli(capsys, "params", *PYTORCH))


# --- lstmcli eval -------------------------------------------------------------------------------------------

# A fixed confusion matrix of 1,000 test images (rows: true class). Every figure below follows from it by
# IEEE division, which is exact-rounded on every platform, so the rendered digits never vary.
CONFUSION = [
    [97, 0, 0, 0, 0, 1, 1, 1, 0, 0],
    [0, 112, 1, 0, 0, 0, 0, 0, 1, 0],
    [1, 0, 98, 2, 0, 0, 0, 2, 0, 0],
    [0, 0, 1, 93, 0, 2, 0, 1, 1, 1],
    [0, 0, 0, 0, 95, 0, 1, 0, 0, 3],
    [1, 0, 0, 3, 0, 82, 1, 0, 1, 0],
    [2, 0, 0, 0, 1, 1, 93, 0, 0, 0],
    [0, 2, 2, 0, 0, 0, 0, 96, 0, 2],
    [1, 0, 1, 2, 1, 1, 0, 1, 88, 2],
    [0, 0, 0, 1, 3, 0, 0, 2, 1, 94],
]


def fixed_eval_result() -> dict[str, Any]:
    """What lstmcli.evaluate.evaluate returns, with the keys in its order, for the fixed matrix above."""
    classes = len(CONFUSION)
    support = [sum(row) for row in CONFUSION]
    predicted = [sum(row[c] for row in CONFUSION) for c in range(classes)]
    per_class = []
    for c in range(classes):
        hit = CONFUSION[c][c]
        precision = hit / predicted[c] if predicted[c] else 0.0
        recall = hit / support[c] if support[c] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append({"class": c, "precision": precision, "recall": recall, "f1": f1, "support": support[c]})
    samples = sum(support)
    return {
        "schema_version": 1,
        "model": "runs/mnist/model.keras",
        "data": "mnist.npz",
        "samples": samples,
        "test_loss": 0.1875,
        "test_accuracy": sum(CONFUSION[c][c] for c in range(classes)) / samples,
        "test_macro_f1": sum(row["f1"] for row in per_class) / classes,
        "per_class": per_class,
        "confusion_matrix": CONFUSION,
        "plot": "runs/mnist/confusion.png",
    }


@pytest.fixture
def fixed_evaluation(monkeypatch: pytest.MonkeyPatch) -> None:
    """`lstmcli eval` with the library's evaluation replaced by the fixed result; parsing and rendering are real."""
    result = EvalResult.model_validate(fixed_eval_result())
    monkeypatch.setattr(evaluate, "evaluate", lambda *args, **kwargs: result)


@pytest.mark.parametrize(("name", "fmt"), [("eval/table.txt", "table"), ("eval/result.json", "json")])
def test_eval(
    name: str, fmt: str, golden: Golden, fixed_terminal: None, fixed_evaluation: None,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    golden.check(name, run_cli(capsys, "eval", "runs/mnist", "--format", fmt))


def structure(value: Any) -> Any:
    """The shape of a JSON value: keys in order, list lengths and scalar types, without the figures."""
    if isinstance(value, dict):
        return [(key, structure(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [structure(item) for item in value]
    return type(value).__name__


def test_real_eval_json_has_the_golden_structure(
    trained_run: Path, tmp_path: Path, fixed_terminal: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fixed result stands for a real one: a real evaluation has the same keys, order, lengths and types."""
    plot = tmp_path / "confusion.png"
    real = json.loads(run_cli(capsys, "eval", str(trained_run), "--format", "json", "--plot", str(plot)))
    expected = json.loads((GOLDEN / "eval" / "result.json").read_text(encoding="utf-8"))
    assert structure(real) == structure(expected)


# --- lstmcli runs -------------------------------------------------------------------------------------------


def config(**changes: Any) -> dict[str, Any]:
    """A complete config.json as `lstmcli train` writes it (every field spelled out, none left to defaults)."""
    model = {"cell": "lstm", "units": 75, "layers": 1, "bidirectional": False, "use_bias": True, "reset_after": True}
    settings: dict[str, Any] = {
        "model": model, "batch_size": 50, "learning_rate": 0.002, "schedule": "cosine", "steps": None,
        "epochs": 8.0, "eval_every": None, "checkpoint_every": 1000, "order": "shuffle", "seed": 0,
        "validation": 5000.0, "eval_set": "validation", "keep": "last", "target_accuracy": 0.98, "classes": None,
        "data": "mnist.npz", "preset": "default",
    }  # fmt: skip
    settings["model"] = {**model, **changes.pop("model", {})}
    return {**settings, **changes}


HISTORY = (
    "step,epoch,seconds,learning_rate,train_loss,train_accuracy,val_loss,val_accuracy,test_loss,test_accuracy\n"
    "1100,1.0,41.5,0.0019,0.4212,0.8695,0.2106,0.9381,,\n"
    "2200,2.0,83.25,0.0017,0.1534,0.9541,0.1277,0.9602,,\n"
)

METRICS = {
    "schema_version": 1, "steps": 8800, "epochs": 8.0, "seconds": 331.125, "parameters": 31960,
    "keras_parameters": 31960, "seed": 0, "validation_images": 5000, "eval_set": "validation", "keep": "last",
    "kept_step": 8800, "test_loss": 0.0625, "test_accuracy": 0.9875, "test_macro_f1": 0.98745,
    "val_loss": 0.05, "val_accuracy": 0.9878, "best_val_accuracy": 0.9881, "best_val_step": 7700,
    "target_accuracy": 0.98, "target_set": "validation", "target_step": 4400, "target_seconds": 166.0, "model": None,
}  # fmt: skip


@pytest.fixture
def runs_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fixed folder of runs: complete, stopped, nested and just started, damaged, and clutter.

    The working directory is its parent and the folder is named relatively, so no temporary path reaches
    the output (the table title would otherwise wrap a long path differently on every machine).
    """
    monkeypatch.chdir(tmp_path)
    root = Path("runs")
    complete = root / "a-complete"
    complete.mkdir(parents=True)
    RunFolder(complete).write_config(config())
    RunFolder(complete).write_metrics(METRICS)
    RunFolder(complete).history.write_text(HISTORY, encoding="utf-8")

    stopped = root / "b-stopped"
    stopped.mkdir()
    RunFolder(stopped).write_config(config(model={"cell": "gru", "units": 128, "bidirectional": True}))
    RunFolder(stopped).history.write_text(HISTORY, encoding="utf-8")

    fresh = root / "sweep" / "c-just-started"
    fresh.mkdir(parents=True)
    RunFolder(fresh).write_config(config(model={"layers": 2}, batch_size=100, learning_rate=0.0005))

    damaged = root / "d-damaged"
    damaged.mkdir()
    RunFolder(damaged).config.write_text("{ not json", encoding="utf-8")

    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not a run", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("name", "fmt"), [("runs/table.txt", "table"), ("runs/rows.json", "json")])
def test_runs(
    name: str, fmt: str, golden: Golden, fixed_terminal: None, runs_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    golden.check(name, normalise(run_cli(capsys, "runs", "runs", "--format", fmt), runs_folder))


# Best validation accuracy of each seed: LSTM and GRU with three seeds each (LSTM the better, told apart at 5%),
# a SimpleRNN with one (no interval). Fixed figures, so the intervals and the p-value are the same on every CPU.
SEEDS = {"lstm": (0.9881, 0.9874, 0.9879), "gru": (0.9850, 0.9862, 0.9841), "rnn": (0.9602,)}


@pytest.fixture
def seeds_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Complete runs of three cells that differ otherwise only in their seed, for `runs --group-by config`."""
    monkeypatch.chdir(tmp_path)
    for cell, figures in SEEDS.items():
        for seed, best in enumerate(figures):
            run = Path("runs") / f"{cell}-seed{seed}"
            run.mkdir(parents=True)
            RunFolder(run).write_config(config(model={"cell": cell}, seed=seed))
            figures = {"seed": seed, "best_val_accuracy": best, "test_accuracy": best - 0.0005 * (seed + 1),
                       "test_loss": 0.05 + 0.002 * seed, "seconds": 300.0 + 8 * seed}  # fmt: skip
            RunFolder(run).write_metrics({**METRICS, **figures})
    return tmp_path


def test_runs_grouped(
    golden: Golden, fixed_terminal: None, seeds_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table only: its figures are rounded, while the JSON's intervals and p-value carry SciPy's last digits."""
    out = run_cli(capsys, "runs", "runs", "--group-by", "config")
    golden.check("runs/grouped.txt", normalise(out, seeds_folder))


# --- lstmcli gates ------------------------------------------------------------------------------------------

# The largest difference from Keras is float32 rounding: its last digits are the CPU's, not the renderer's.
DIFFERENCE = re.compile(r'(largest difference |"max_difference": )[0-9.e+-]+')


@pytest.fixture
def gates_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mnist_arrays: dict[str, np.ndarray]) -> Path:
    """A small deterministic model (LSTM(3), weights drawn from a fixed seed) and 14 x 14 MNIST, named relatively."""
    from conftest import mnist_slice

    from lstmcli.model.factory import build_model
    from lstmcli.model.spec import ModelSpec

    monkeypatch.chdir(tmp_path)
    np.savez(tmp_path / "mnist14.npz", **mnist_slice(mnist_arrays, 200, 20, stride=2))
    model = build_model(ModelSpec("lstm", 3, 14, 14, classes=10))
    rng = np.random.default_rng(18)
    model.set_weights([rng.normal(0.0, 0.8, w.shape).astype(np.float32) for w in model.get_weights()])
    model.save(tmp_path / "lstm3.keras")
    return tmp_path


@pytest.mark.parametrize(("name", "fmt"), [("gates/lstm3.txt", "table"), ("gates/lstm3.json", "json")])
def test_gates(
    name: str, fmt: str, golden: Golden, fixed_terminal: None, gates_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # fmt: skip
    out = run_cli(capsys, "gates", "lstm3.keras", "--data", "mnist14.npz", "--sample", "3", "--samples", "20",
                  "--no-plot", "--format", fmt)  # fmt: skip
    golden.check(name, DIFFERENCE.sub(r"\1<difference>", normalise(out, gates_folder)))


# --- lstmcli sweep show -------------------------------------------------------------------------------------

# A fixed classification sweep: LSTM and GRU at two sizes, three seeds each, and one pruned trial. Its figures
# are given, not computed (SciPy's last digits would otherwise reach the CSV and JSON), so every CPU prints the same.
SWEEP_CONFIGURATIONS = [
    {"params": {"cell": "lstm", "units": 32}, "cell": "lstm", "parameters": 8074, "n": 3, "seeds": [0, 1, 2],
     "pruned": 0, "val_accuracy_mean": 0.975, "val_accuracy_std": 0.0025, "val_accuracy_ci_low": 0.96875,
     "val_accuracy_ci_high": 0.98125, "val_accuracy_best": 0.9775, "test_accuracy_mean": 0.97,
     "test_accuracy_std": 0.005, "test_accuracy_ci_low": 0.9575, "test_accuracy_ci_high": 0.9825,
     "seconds_mean": 61.5, "trials": [0, 2, 4]},
    {"params": {"cell": "gru", "units": 32}, "cell": "gru", "parameters": 6218, "n": 3, "seeds": [0, 1, 2],
     "pruned": 1, "val_accuracy_mean": 0.9625, "val_accuracy_std": 0.005, "val_accuracy_ci_low": 0.95,
     "val_accuracy_ci_high": 0.975, "val_accuracy_best": 0.9675, "test_accuracy_mean": 0.96,
     "test_accuracy_std": 0.0075, "test_accuracy_ci_low": 0.94125, "test_accuracy_ci_high": 0.97875,
     "seconds_mean": 55.25, "trials": [1, 3, 5, 6]},
]  # fmt: skip


def sweep_trial(number: int, cell: str, seed: int, val: float, state: str = "COMPLETE") -> dict[str, Any]:
    return {"number": number, "state": state, "retried": False, "retry_of": None,
            "params": {"cell": cell, "units": 32}, "cell": cell, "seed": seed, "parameters": 8074,
            "val_accuracy": val, "test_accuracy": None if state != "COMPLETE" else val - 0.0025, "seconds": 60.0,
            "run": f"runs/cells/cell-{cell}_units-32-seed{seed}", "resumed_from": None, "host": "box",
            "error": None}  # fmt: skip


@pytest.fixture
def fixed_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    """`lstmcli sweep show` with the library's report replaced by a fixed one; parsing and rendering are real."""
    from lstmcli.schemas import SweepReport
    from lstmcli.sweep import launch

    trials = [sweep_trial(0, "lstm", 0, 0.9775), sweep_trial(1, "gru", 0, 0.9675), sweep_trial(2, "lstm", 1, 0.975),
              sweep_trial(3, "gru", 1, 0.96), sweep_trial(4, "lstm", 2, 0.9725), sweep_trial(5, "gru", 2, 0.96),
              sweep_trial(6, "gru", 3, 0.5, "PRUNED")]  # fmt: skip
    report = SweepReport.model_validate({
        "schema_version": 1, "study": "cells", "storage": "runs/cells/study.db",
        "space": {"preset": "default", "fixed": {}, "axes": {"cell": ["lstm", "gru"]}, "ranges": {}},
        "counts": {"total": 7, "complete": 6, "running": 0, "waiting": 0, "pruned": 1, "failed": 0, "retried": 0},
        "best": trials[0], "configurations": SWEEP_CONFIGURATIONS,
        "comparison": {"figure": "val_accuracy", "goal": "maximize", "difference": 0.0125, "p_value": 0.03125,
                       "alpha": 0.05, "distinguishable": True,
                       "text": "best vs second: p = 0.031, distinguishable at 5%"},
        "trials": trials, "plot": "runs/cells/cells.png",
    })  # fmt: skip
    monkeypatch.setattr(launch, "show", lambda *args, **kwargs: report)


@pytest.mark.parametrize(
    ("name", "fmt"), [("sweep/table.txt", "table"), ("sweep/configurations.csv", "csv"), ("sweep/report.json", "json")]
)
def test_sweep_show(
    name: str, fmt: str, golden: Golden, fixed_terminal: None, fixed_sweep: None, capsys: pytest.CaptureFixture[str]
) -> None:  # fmt: skip
    golden.check(name, run_cli(capsys, "sweep", "show", "cells", "--format", fmt))
