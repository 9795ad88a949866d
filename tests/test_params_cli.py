"""`lstmcli params` as a user runs it: Typer's CliRunner in-process, and the installed entry point in subprocesses.

Verification builds the real Keras model (and real torch modules where torch is installed); nothing is mocked.
Subprocesses are kept few: each one that verifies imports TensorFlow (~3 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lstmcli import inspection
from lstmcli.cli import app, main
from lstmcli.errors import CheckFailed
from lstmcli.model.count import count
from lstmcli.model.spec import ModelSpec
from lstmcli.schemas import ParamsReport

runner = CliRunner()
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "200"}
# Never loaded by --help or params --no-verify (SciPy only where runs or sweeps are compared).
HEAVY = ("tensorflow", "keras", "torch", "scipy")


def invoke(*args: str):
    return runner.invoke(app, ["params", *args], catch_exceptions=False)


def run_json(*args: str) -> dict:
    result = invoke(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- in-process, through Typer's CliRunner ----------------------------------------------------------------


def test_json_verified_against_keras() -> None:
    data = run_json("--units", "75", "--input", "28")
    assert data["total"] == 31_960  # the article's model.count_params()
    assert data["keras"] == 31_960
    assert data["match"] is True
    assert data["torch"] is None
    assert data["recurrent_total"] == 31_200
    assert data["layers"][0]["shapes"] == {"kernel": [28, 300], "recurrent_kernel": [75, 300], "bias": [300]}
    assert data["head"]["total"] == 760
    assert data["macs"] == sum(layer["macs"] for layer in data["layers"]) + data["head"]["macs"]
    assert data["memory_bytes"] == {"float32": 4 * 31_960, "bfloat16": 2 * 31_960}


def test_json_verified_for_a_bidirectional_stacked_gru() -> None:
    """The Keras number comes from building the model; the closed form must agree with it."""
    from lstmcli.model.factory import build_model

    args = ["--cell", "gru", "--bidirectional", "--no-reset-after", "--layers", "2", "--units", "9", "--input", "4"]
    data = run_json(*args)
    spec = ModelSpec(cell="gru", units=9, input_size=4, layers=2, bidirectional=True, reset_after=False)
    assert data["keras"] == build_model(spec).count_params()
    assert data["total"] == data["keras"]
    assert data["match"] is True
    assert [(layer["layer"], layer["direction"]) for layer in data["layers"]] == [
        (0, "forward"),
        (0, "backward"),
        (1, "forward"),
        (1, "backward"),
    ]
    assert data["layers"][2]["input_size"] == 18


def test_no_verify_reports_null_verification() -> None:
    data = run_json("--units", "75", "--input", "28", "--no-verify")
    assert data["total"] == 31_960
    assert data["keras"] is None
    assert data["torch"] is None
    assert data["match"] is None


def test_table_shows_gates_total_and_verdict() -> None:
    result = invoke("--units", "75", "--input", "28")
    assert result.exit_code == 0
    out = result.stdout
    for text in ("forget", "candidate", "31,200", "31,960", "kernel (28, 300)", "count_params() 31,960: match"):
        assert text in out, text
    assert "mult-adds" in out


def test_markdown_format() -> None:
    result = invoke("--units", "75", "--input", "28", "--format", "markdown")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "| layer | gate | kernel | recurrent kernel | bias | params |"
    assert lines[1] == "|---|---|---|---|---|---|"
    assert "| LSTM 1 | forget | 2,100 | 5,625 | 75 | 7,800 |" in lines
    assert "| total |  |  |  |  | 31,960 |" in lines
    assert "| LSTM 1 | kernel (28, 300), recurrent_kernel (75, 300), bias (300,) | 865,200 |" in lines
    assert any(line.startswith("closed form 31,960") and line.endswith("match") for line in lines)
    # Every table row has as many cells as its header.
    for line in lines:
        if line.startswith("| layer | weights"):
            assert line.count("|") == 4


def test_explain_substitutes_the_users_numbers() -> None:
    result = invoke("--units", "75", "--input", "28", "--explain", "--no-verify")
    assert result.exit_code == 0
    out = result.stdout
    assert "An LSTM layer has 4 gate blocks (input, forget, candidate, output)." in out
    assert "kernel m x n = 28 x 75 = 2,100" in out
    assert "recurrent n x n = 75 x 75 = 5,625" in out
    assert "4 * (75 * 103 + 75) = 31,200" in out
    assert "Dense head: 75 x 10 weights + 10 biases = 760" in out
    assert "Total: 31,200 + 760 = 31,960 parameters" in out
    assert "4 * 75 * (28 + 75) = 30,900 per step x 28 steps = 865,200" in out
    assert "bias_ih_l0" in out and "bias_hh_l0" in out
    assert "Keras 31,960, PyTorch 32,260" in out
    # The blackboard is not folded at the console width: each formula stays on one line.
    assert any(
        line.startswith("  4 blocks: 4 x 7,800 = 31,200   i.e.") and line.endswith("= 31,200")
        for line in out.splitlines()
    )


def test_explain_with_other_numbers_and_cells() -> None:
    out = invoke("--units", "13", "--input", "5", "--explain", "--no-verify", "--classes", "0").stdout
    assert "4 * (13 * 18 + 13) = 988" in out
    assert "Dense head" not in out
    gru = invoke("--cell", "gru", "--units", "6", "--input", "2", "--explain", "--no-verify").stdout
    assert "3 * (6 * 8 + 12) = 180" in gru
    assert "reset_after=True" in gru and "(2, 18)" in gru
    assert "counts agree" in gru
    bi = invoke("--bidirectional", "--layers", "2", "--units", "4", "--input", "3", "--explain", "--no-verify").stdout
    assert "LSTM 2 forward: input m = 8 (the previous layer's output, both directions concatenated)" in bi
    assert "Bidirectional:" in bi and "2n = 8" in bi
    assert "x 4 (layers x directions)" in bi


def test_explain_in_json() -> None:
    data = run_json("--explain", "--no-verify", "--units", "3", "--input", "2")
    assert "4 * (3 * 5 + 3) = 72" in data["explanation"]


def test_pytorch_convention_verified_against_torch() -> None:
    pytest.importorskip("torch")
    data = run_json("--units", "75", "--input", "28", "--convention", "pytorch")
    assert data["convention"] == "pytorch"
    assert data["total"] == count(ModelSpec(units=75, input_size=28), "pytorch").total
    assert data["torch"] == data["total"]
    assert data["keras"] is None
    assert data["match"] is True
    assert data["layers"][0]["shapes"]["bias_hh_l0"] == [300]


def test_pytorch_convention_without_torch_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """A None entry in sys.modules makes `import torch` raise ImportError, as on a machine without torch."""
    monkeypatch.setitem(sys.modules, "torch", None)
    data = run_json("--convention", "pytorch")
    assert data["torch"] is None
    assert data["match"] is None
    assert "not installed" in data["note"]
    table = invoke("--convention", "pytorch")
    assert table.exit_code == 0
    assert "PyTorch is not installed (pip install 'lstmcli[torch]')" in table.stdout  # the extra is not read as markup
    assert "not verified" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--units", "0"], "--units must be at least 1, got 0"),
        (["--units", "-3"], "--units must be at least 1, got -3"),
        (["--units", "abc"], "'--units'"),
        (["--input", "0", "--no-verify"], "--input must be at least 1"),
        (["--layers", "0"], "--layers must be at least 1"),
        (["--classes", "-1"], "--classes must be at least 0"),
        (["--units", str(10**8)], "for its weights alone"),
        (["--units", str(10**10), "--no-verify"], "absurd"),
    ],
)
def test_bad_values_exit_2_with_one_line(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    """Through main(), the console-script entry: one line on stderr, nothing on stdout, no traceback."""
    code = main(["params", *args])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("lstmcli: error:")
    assert message in lines[0]
    assert "Traceback" not in captured.err


def test_huge_sizes_still_count_without_verify() -> None:
    data = run_json("--units", str(10**8), "--no-verify")
    n, m = 10**8, 28
    assert data["recurrent_total"] == 4 * (n * (n + m) + n)
    assert data["match"] is None


def fabricated(delta: int) -> ParamsReport:
    counts = count(ModelSpec(units=5, input_size=3))
    return ParamsReport.of(counts, keras=counts.total + delta)


def test_check_passes_on_match_and_unverified() -> None:
    inspection.judge(fabricated(0))
    counts = count(ModelSpec(units=5, input_size=3))
    inspection.judge(ParamsReport.of(counts))


def test_check_fails_on_mismatch() -> None:
    with pytest.raises(CheckFailed) as info:
        inspection.judge(fabricated(1))
    assert info.value.exit_code == 1
    assert "Keras counts" in str(info.value)


def test_mismatch_exits_1_through_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's own wiring: a mismatching outcome is printed, then the exit code is 1 with one error line."""
    monkeypatch.setattr(inspection, "examine", lambda spec, convention, check, batch=None: fabricated(7))
    result = invoke("--units", "5", "--input", "3", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["match"] is False
    assert data["keras"] == data["total"] + 7
    assert result.stderr.strip().count("\n") == 0
    assert "lstmcli: error: closed form" in result.stderr


# --- the installed entry point, in subprocesses -----------------------------------------------------------


def entry_point() -> str:
    script = Path(sys.executable).with_name("lstmcli")
    if not script.exists():
        pytest.skip("the lstmcli console script is not installed next to this Python")
    return str(script)


def test_entry_point_verifies_against_keras() -> None:
    done = subprocess.run(
        [entry_point(), "params", "--units", "75", "--input", "28", "--format", "json"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["total"], data["keras"], data["match"]) == (31_960, 31_960, True)


@pytest.mark.parametrize(
    ("argv", "own_module", "kept_out"),
    [
        (["params", "--no-verify", "--format", "json"], "lstmcli.model.count", HEAVY),
        # --help names the runs' columns, but loads none of the typed records that read them (pydantic).
        (["--help"], "lstmcli.cli", (*HEAVY, "pydantic")),
    ],
)
def test_no_verify_and_help_do_not_import_tensorflow(argv: list[str], own_module: str, kept_out: tuple[str, ...]
                                                      ) -> None:  # fmt: skip
    """`python -X importtime` lists every module the process imported, on stderr."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lstmcli", *argv],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    if argv[0] == "params":
        assert json.loads(done.stdout)["keras"] is None
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert own_module in imported  # the listing is real
    heavy = sorted(m for m in imported if m.split(".")[0] in kept_out)
    assert heavy == []


def test_entry_point_bad_value_is_one_line() -> None:
    done = subprocess.run(
        [entry_point(), "params", "--units", "abc"], capture_output=True, text=True, env=ENV, timeout=120
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("lstmcli: error:")
    assert "Traceback" not in done.stderr


# --- sizes that pass the memory check but would take minutes to build ---------------------------------------


@pytest.mark.parametrize(
    ("args", "total", "why"),
    [
        (["--units", "10000"], 4 * (10_000 * (10_000 + 28) + 10_000) + 10_000 * 10 + 10, "allocate 1.5 GiB"),
        (["--units", "8000"], 4 * (8_000 * (8_000 + 28) + 8_000) + 8_000 * 10 + 10, "allocate 980 MiB"),
        (["--layers", "1000", "--units", "1"], 4 * (1 * 29 + 1) + 999 * 4 * (1 * 2 + 1) + 20, "take about"),
    ],
)
def test_expensive_verification_is_refused_with_the_closed_form(args: list[str], total: int, why: str) -> None:
    """In a subprocess with a generous timeout as a hang guard; how fast it is belongs to bench, not here."""
    done = subprocess.run(
        [sys.executable, "-m", "lstmcli", "params", *args, "--format", "json"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(done.stdout)
    assert data["total"] == total
    assert data["keras"] is None and data["match"] is None
    assert data["note"].startswith("not verified against Keras:") and why in data["note"]


def test_cheap_build_has_the_same_count_and_only_zeros() -> None:
    """Verification's zero-initialised build is the factory's model with the same weights' shapes."""
    import numpy as np

    from lstmcli.model.factory import build_model

    spec = ModelSpec(cell="gru", units=6, input_size=3, layers=2, bidirectional=True)
    real, cheap = build_model(spec), build_model(spec, cheap=True)
    assert [(w.path, w.shape) for w in cheap.weights] == [(w.path, w.shape) for w in real.weights]
    assert cheap.count_params() == real.count_params() == count(spec).total
    assert all(not np.any(w.numpy()) for w in cheap.weights)
    assert any(np.any(w.numpy()) for w in real.weights)


@pytest.mark.parametrize(("args", "message"), [(["--layers", "1000", "--units", "1"], "190 s"),
                                               (["--units", "10000"], "400 s")])  # fmt: skip
def test_train_refuses_what_it_cannot_build_in_reasonable_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = main(["train", *args, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "before the first step" in err and message in err, err
    assert not (tmp_path / "run").exists()


def test_projection_in_the_pytorch_convention() -> None:
    data = run_json("--units", "9", "--input", "5", "--proj-size", "4", "--convention", "pytorch", "--no-verify")
    n, m, p = 9, 5, 4
    assert data["recurrent_total"] == 4 * (n * (p + m) + 2 * n) + p * n
    assert data["layers"][0]["shapes"]["weight_hr_l0"] == [4, 9]
    assert data["head"]["inputs"] == p
    bad = main(["params", "--proj-size", "4"])
    assert bad == 2  # Keras's LSTM has no projection


@pytest.mark.filterwarnings("ignore:TF32 acceleration:UserWarning")
def test_projection_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    from lstmcli.model import torch_reference

    spec = ModelSpec(units=12, input_size=5, timesteps=6, layers=2, bidirectional=True, classes=3, proj_size=7)
    rnn, head = torch_reference.build(torch, spec)
    counts = count(spec, "pytorch")
    assert [(n, s) for d in counts.directions for n, s in d.shapes] == [(n, tuple(p.shape)) for n, p in
                                                                           rnn.named_parameters()]  # fmt: skip
    assert counts.total == sum(p.numel() for p in rnn.parameters()) + sum(p.numel() for p in head.parameters())
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, spec.timesteps, spec.input_size)
    with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as counter:
        out, _ = rnn(x)
        head(out[:, -1])
    assert counter.get_total_flops() == counts.flops


def test_batch_size_adds_shapes_and_memory() -> None:
    data = run_json("--units", "75", "--input", "28", "--batch-size", "50", "--no-verify")
    memory = data["memory"]
    assert data["schema_version"] == 1
    assert memory["macs"] == 50 * data["macs"]
    assert memory["torchinfo_macs"] == 50 * (28 * 31_500 + 760)
    assert memory["layers"][0]["output_shape"] == [50, 75]
    # Kept for backpropagation through time: the input, the outputs, and per step 4n gates + h + C.
    assert memory["kept_bytes"] == 50 * 4 * (28 * 28 + 75 + 28 * (4 * 75 + 2 * 75) + 10)
    table = invoke("--batch-size", "50", "--no-verify").stdout
    assert "shapes and memory: batch 50, 28 steps" in table and "torchinfo counts 44.14 M" in table


# --- --task: the model each task needs ---------------------------------------------------------------------


def test_task_decides_input_length_and_head() -> None:
    data = run_json("--task", "copy", "--length", "1000", "--no-verify")
    spec = data["spec"]
    assert (spec["input_size"], spec["timesteps"], spec["classes"], spec["head"]) == (10, 1020, 9, "sequence")
    assert data["head"]["macs"] == 1020 * 75 * 9  # the per-step head meets every step
    assert data["total"] == 4 * 75 * (75 + 10 + 1) + 75 * 9 + 9
    pixels = run_json("--task", "pixels", "--no-verify")["spec"]
    assert (pixels["input_size"], pixels["timesteps"], pixels["classes"]) == (1, 784, 10) and "head" not in pixels
    from lstmcli.train.presets import TASK_DEFAULTS

    assert run_json("--task", "adding", "--no-verify")["spec"]["timesteps"] == TASK_DEFAULTS["adding"]["length"]


@pytest.mark.parametrize("task", ["rows", "adding", "copy"])
def test_every_task_head_verified_against_keras(task: str) -> None:
    extra = ["--length", "6"] if task != "rows" else []
    data = run_json("--task", task, "--units", "5", "--layers", "2", "--bidirectional", *extra)
    assert data["match"] is True and data["keras"] == data["total"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--length", "5"], "with --task adding"),
        (["--task", "rows", "--length", "5"], "generated tasks"),
        (["--task", "adding", "--input", "3"], "--input"),
        (["--task", "copy", "--timesteps", "30"], "--timesteps"),
        (["--task", "copy", "--length", "0"], "at least 1"),
        (["--task", "sorting"], "sorting"),
    ],
)
def test_task_refusals_are_one_line(args: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", *args, "--no-verify"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
