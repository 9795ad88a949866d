"""A .keras archive's names and declared model, checked before Keras opens it (model/keras_archive.py,
model/declared.py): members that climb out of the archive, and configs that declare a huge model."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import refused

from lstmcli.errors import DataError
from lstmcli.model import declared, keras_archive


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The members of a real .keras file (LSTM(4) on 28 x 28, Dense(10)), written by Keras."""
    from lstmcli import runtime
    from lstmcli.model.factory import build_model
    from lstmcli.model.spec import ModelSpec

    runtime.tensorflow()
    path = tmp_path_factory.mktemp("keras") / "good.keras"
    build_model(ModelSpec(units=4)).save(path)
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write(path: Path, members: dict[str, bytes], **changes: bytes) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile's own note on odd names while we forge them
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in {**members, **changes}.items():
                archive.writestr(name, content)
    return path


def edited(members: dict[str, bytes], change: Any) -> bytes:
    config = json.loads(members["config.json"])
    change(config)
    return json.dumps(config).encode()


@pytest.mark.parametrize("name", ["../../evil.txt", "/tmp/abs.txt", "a/../../b", "..\\..\\evil.txt", "C:\\evil"])
@pytest.mark.parametrize("command", ["params", "eval"])
def test_member_outside_the_archive_is_refused_by_name(
    members: dict[str, bytes], scratch: Path, capsys: pytest.CaptureFixture[str], name: str, command: str
) -> None:
    path = write(scratch / "climb.keras", members, **{name: b"x"})
    err = refused([command, str(path)], capsys)
    assert "outside the archive" in err and "Warning" not in err, err


def test_escapes_is_exact_on_ordinary_names() -> None:
    for name in ("config.json", "model.weights.h5", "assets/a..b.txt", "dir/file", "..hidden"):
        assert not keras_archive.escapes(name), name


def test_huge_declared_lstm_is_refused_fast(members: dict[str, bytes], scratch: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """A small .keras whose config declares LSTM(5000): Keras would build and initialise 100 M weights."""

    def huge(config: dict[str, Any]) -> None:
        config["config"]["layers"][1]["config"]["units"] = 5000

    path = write(scratch / "lstm5000.keras", members, **{"config.json": edited(members, huge)})
    assert path.stat().st_size < 20_000
    for command in ("params", "eval"):
        err = refused([command, str(path)], capsys)
        assert f"declares at least {4 * 5000 * (5000 + 28) + 5000 * 10:,} parameters" in err, err  # LSTM, Dense
        assert "stores only" in err, err


def test_three_thousand_layers_are_refused(members: dict[str, bytes], scratch: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    def many(config: dict[str, Any]) -> None:
        layers = config["config"]["layers"]
        dropout = {"module": "keras.layers", "class_name": "Dropout", "config": {"rate": 0.1}, "registered_name": None}
        config["config"]["layers"] = (
            [layers[0]] + [{**dropout, "config": {"rate": 0.1, "name": f"d{i}"}} for i in range(3000)] + layers[1:]
        )

    path = write(scratch / "deep.keras", members, **{"config.json": edited(members, many)})
    for command in ("params", "eval"):
        err = refused([command, str(path)], capsys)
        assert "3,00" in err and "would take about" in err, err


def test_absurd_units_are_refused(tmp_path: Path) -> None:
    config = {"class_name": "Sequential", "config": {"layers": [{"class_name": "LSTM", "config": {"units": 10**12}}]}}
    with pytest.raises(DataError, match="which is absurd"):
        declared.check(config, tmp_path / "m.keras", 10**9, initialisers=True)


def test_declared_lower_bound_follows_widths() -> None:
    """Input width 28 -> LSTM(75) -> Dense(10): the lower bound is the weight matrices, biases left out."""
    config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 28, 28]}},
        {"class_name": "LSTM", "config": {"units": 75, "name": "l"}},
        {"class_name": "Dropout", "config": {"name": "d"}},
        {"class_name": "Dense", "config": {"units": 10, "name": "h"}},
    ]}}  # fmt: skip
    assert declared.declared_params(config) == 4 * 75 * (75 + 28) + 75 * 10
    functional = {"class_name": "Functional", "config": {"layers": [
        {"class_name": "InputLayer", "name": "x", "config": {"batch_input_shape": [None, 5, 3], "name": "x"},
         "inbound_nodes": []},
        {"class_name": "GRU", "name": "g", "config": {"units": 4, "name": "g"}, "inbound_nodes": [[["x", 0, 0, {}]]]},
    ]}}  # fmt: skip
    assert declared.declared_params(functional) == 3 * 4 * (4 + 3)


def test_real_models_pass(members: dict[str, bytes]) -> None:
    config = json.loads(members["config.json"])
    stored = len(members["model.weights.h5"])
    declared.check(config, Path("good.keras"), stored, initialisers=True)
    assert declared.declared_params(config) * 4 <= stored


def test_config_not_json_is_one_line(members: dict[str, bytes], tmp_path: Path) -> None:
    path = write(tmp_path / "bad.keras", members, **{"config.json": b"[" * 100_000})
    with pytest.raises(DataError, match=r"not valid JSON|malformed"):
        keras_archive.check(path)
