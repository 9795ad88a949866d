"""Every command's JSON output validates against its published schema (docs/schemas), which is current."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from lstmcli import schemas
from lstmcli.cli import main
from lstmcli.rundir import RunFolder

DOCS = Path(__file__).resolve().parent.parent / "docs" / "schemas"


@pytest.mark.parametrize("command", list(schemas.SCHEMAS))
def test_published_schemas_are_current(command: str) -> None:
    published = json.loads((DOCS / f"{command}.schema.json").read_text(encoding="utf-8"))
    assert published == schemas.schema(command), "regenerate with: python -m lstmcli.schemas docs/schemas"


def output(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def valid(command: str, document: object) -> None:
    """Validate against the published file (not the model), as a consumer of the schema would."""
    published = json.loads((DOCS / f"{command}.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(published).validate(document)


@pytest.mark.parametrize(
    "options",
    [
        ["--no-verify"],
        ["--no-verify", "--explain", "--cell", "gru", "--bidirectional", "--layers", "2"],
        ["--no-verify", "--convention", "pytorch", "--classes", "0"],
        ["--units", "8", "--input", "4"],
        ["--budget", "32000", "--cell", "gru"],
    ],
)
def test_params_json(options: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    valid("params", output(capsys, "params", "--format", "json", *options))


def test_train_eval_and_runs_json(trained_run: Path, tiny_npz: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "runs" / "tiny"
    summary = output(capsys, "train", "--data", str(tiny_npz), "--units", "8", "--steps", "10", "--eval-every",
                     "5", "--batch-size", "20", "--out", str(run), "--format", "json")  # fmt: skip
    valid("train", summary)
    assert summary == {**json.loads(RunFolder(run).metrics.read_text()), "run": str(run)}
    valid("eval", output(capsys, "eval", str(trained_run), "--format", "json", "--no-plot", "--min-accuracy", "0.1"))
    shutil.copytree(trained_run, tmp_path / "runs" / "copy")
    (tmp_path / "runs" / "damaged").mkdir()
    RunFolder(tmp_path / "runs" / "damaged").config.write_text("[]")
    valid("runs", output(capsys, "runs", str(tmp_path / "runs"), "--format", "json"))
    valid("runs", output(capsys, "runs", str(tmp_path / "runs"), "--format", "json", "--group-by", "config"))


def test_params_of_model_files_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import keras
    import numpy as np
    from safetensors.numpy import save_file

    layers = [keras.Input((28, 28)), keras.layers.LSTM(8), keras.layers.Dense(10, activation="softmax")]
    model = keras.Sequential(layers)
    model.save(tmp_path / "m.keras")
    valid("params", output(capsys, "params", str(tmp_path / "m.keras"), "--format", "json"))
    tensors = {"rnn.weight_ih_l0": np.zeros((32, 4), np.float32), "rnn.weight_hh_l0": np.zeros((32, 8), np.float32),
               "rnn.bias_ih_l0": np.zeros(32, np.float32), "rnn.bias_hh_l0": np.zeros(32, np.float32)}  # fmt: skip
    save_file(tensors, str(tmp_path / "w.safetensors"))
    valid("params", output(capsys, "params", str(tmp_path / "w.safetensors"), "--format", "json"))


def test_a_key_the_schema_does_not_declare_fails_validation(capsys: pytest.CaptureFixture[str]) -> None:
    document = output(capsys, "params", "--format", "json", "--no-verify")
    document["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError):
        valid("params", document)


def test_the_json_printed_is_the_dump_of_the_result_the_library_returns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One definition: the command prints the model its library call returns, nothing added or reshaped."""
    from lstmcli import inspection, runs
    from lstmcli.model.spec import ModelSpec

    spec = ModelSpec(units=8, input_size=4)
    printed = output(capsys, "params", "--units", "8", "--input", "4", "--no-verify", "--format", "json")
    assert printed == inspection.examine(spec, "keras", False).to_json()
    printed = output(capsys, "params", "--budget", "5000", "--input", "4", "--format", "json")
    assert printed == inspection.budget(spec, 5000).to_json()
    (tmp_path / "damaged").mkdir()
    RunFolder(tmp_path / "damaged").config.write_text("[]")
    assert output(capsys, "runs", str(tmp_path), "--format", "json") == runs.compare(tmp_path).to_json()
