"""lstmcli.api: docs/api.md's examples run as a doctest, and the API is the command line's library call."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lstmcli import api
from lstmcli.cli import main

DOCS = Path(__file__).parent.parent / "docs" / "api.md"


def test_the_examples_of_docs_api_md_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    failed, tried = doctest.testfile(
        str(DOCS), module_relative=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert tried > 10 and failed == 0, f"{failed} of {tried} examples in docs/api.md failed (output above)"


def test_every_public_name_is_documented() -> None:
    text = DOCS.read_text()
    for name in api.__all__:
        assert name in text, name


def test_importing_the_api_loads_no_framework() -> None:
    code = "import sys, lstmcli.api; print(sorted(m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_the_json_of_params_is_the_dump_of_api_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "--units", "9", "--input", "5", "--no-verify", "--format", "json"]) == 0
    printed = capsys.readouterr().out
    import json

    assert json.loads(printed) == api.count(api.ModelSpec(units=9, input_size=5), verify=False).to_json()


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: api.count("x"), "spec"),
        (lambda: api.count(None), "spec"),
        (lambda: api.budget(7, 100), "spec"),
        (lambda: api.read_model(123), "path"),
        (lambda: api.count(api.ModelSpec(), convention="bad", verify=False), "convention"),
        (lambda: api.read_model(Path("m.keras"), batch=0), "batch_size"),
        # found by the properties below: a truthy string switched verification (or unsafe loading) on
        (lambda: api.count(api.ModelSpec(), verify="no"), "verify"),
        (lambda: api.read_model("m.keras", unsafe="no"), "unsafe"),
        (lambda: api.read_model(None), "path"),
        (lambda: api.config(toml=False), "toml"),
        # found by the red-team pass over the tasks: a dict or a task name where a TrainConfig goes raised
        # AttributeError, a run or a target that is not a path TypeError
        (lambda: api.train({"task": "adding"}), "settings"),
        (lambda: api.train("adding"), "settings"),
        (lambda: api.resume(5), "run"),
        (lambda: api.resume(None), "run"),
        (lambda: api.evaluate(5), "target"),
        # and a `model` table was silently replaced by the network's own options
        (lambda: api.config(task="adding", model={"cell": "gru"}), "model"),
        (lambda: api.config(model=api.ModelSpec(cell="gru")), "model"),
    ],
)
def test_a_wrong_argument_is_an_error_about_its_field(call: object, field: str) -> None:
    """Found by a red-team pass: notebook calls with a wrong type raised AttributeError or TypeError."""
    with pytest.raises(api.FieldError) as raised:
        call()  # type: ignore[operator]
    assert raised.value.field == field and "\n" not in str(raised.value)


@pytest.mark.parametrize("call", [lambda: api.read_model("m\x00.onnx"), lambda: api.read_model("run\x00"),
                                  lambda: api.config(toml="c\x00.toml")])  # fmt: skip
def test_a_path_with_a_nul_byte_is_an_error_about_the_file(call: Any) -> None:
    """A command line cannot hold a NUL byte; a notebook's string can, and os.stat raised ValueError on it."""
    with pytest.raises(api.FileError, match="NUL byte"):
        call()


def test_params_of_a_model_file_refuses_batch_size_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`--batch-size 0` with a model file was taken as the default, 1."""
    (tmp_path / "m.keras").write_bytes(b"PK\x03\x04")
    assert main(["params", str(tmp_path / "m.keras"), "--batch-size", "0"]) == 2
    assert capsys.readouterr().err.strip() == "lstmcli: error: --batch-size must be at least 1, got 0"


# --- properties: hostile arguments give a typed result or an LstmcliError, never another exception -----------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

QUICK = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
HOSTILE = st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.integers(min_value=2**63),
                    st.floats(allow_nan=True), st.text(max_size=6), st.binary(max_size=4),
                    st.lists(st.integers(0, 3), max_size=2),
                    st.dictionaries(st.text(max_size=2), st.none(), max_size=1))  # fmt: skip
SPEC_FIELDS = ("cell", "units", "input_size", "timesteps", "layers", "bidirectional", "use_bias", "reset_after",
               "classes", "proj_size", "head", "forget_bias")  # fmt: skip
SMALL = {"cell": st.sampled_from(["lstm", "gru", "rnn"]), "units": st.integers(1, 40), "input_size": st.integers(1, 9),
         "timesteps": st.integers(1, 30), "layers": st.integers(1, 3), "bidirectional": st.booleans()}  # fmt: skip


def typed_or_refused(call: Any, result_type: type) -> Any:
    """The one rule of the API: its typed result, or one of lstmcli's errors on one line (no other exception)."""
    try:
        result = call()
    except api.LstmcliError as error:
        assert "\n" not in str(error) and error.exit_code == 2, str(error)
        return None
    assert isinstance(result, result_type), type(result)
    return result


def specs() -> st.SearchStrategy[Any]:
    """Valid small specs, specs built from hostile fields (which may be refused), and things that are no spec."""
    valid = st.fixed_dictionaries({}, optional=SMALL).map(lambda kw: api.ModelSpec(**kw))
    hostile = st.dictionaries(st.sampled_from(SPEC_FIELDS), HOSTILE, max_size=3)
    return st.one_of(valid, hostile, HOSTILE)


def spec_of(drawn: Any) -> Any:
    return api.ModelSpec(**drawn) if isinstance(drawn, dict) and set(drawn) <= set(SPEC_FIELDS) else drawn


@QUICK
@given(spec=specs(), convention=st.one_of(st.sampled_from(["keras", "pytorch"]), HOSTILE),
       verify=st.one_of(st.just(False), HOSTILE.filter(lambda v: v is not True)),
       batch=st.one_of(st.none(), HOSTILE))  # fmt: skip
def test_count_with_any_arguments(spec: Any, convention: Any, verify: Any, batch: Any) -> None:
    report = typed_or_refused(lambda: api.count(spec_of(spec), convention, verify, batch), api.ParamsReport)
    if report is not None:
        assert verify is False and report.total > 0 and report.verified is None


@QUICK
@given(spec=specs(), parameters=st.one_of(st.integers(-5, 10**7), HOSTILE),
       convention=st.one_of(st.sampled_from(["keras", "pytorch"]), HOSTILE))  # fmt: skip
def test_budget_with_any_arguments(spec: Any, parameters: Any, convention: Any) -> None:
    report = typed_or_refused(lambda: api.budget(spec_of(spec), parameters, convention), api.BudgetReport)
    if report is not None:
        assert report.units >= 1 and report.total > 0


@pytest.fixture(scope="module")
def state_dict(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PyTorch LSTM(3, 4)'s state dict, written with safetensors' NumPy API: read without torch or Keras."""
    import numpy as np
    from safetensors.numpy import save_file

    path = tmp_path_factory.mktemp("api") / "lstm.safetensors"
    shapes = {"weight_ih_l0": (16, 3), "weight_hh_l0": (16, 4), "bias_ih_l0": (16,), "bias_hh_l0": (16,)}
    save_file({name: np.zeros(shape, np.float32) for name, shape in shapes.items()}, str(path))
    return path


@QUICK
@given(path=st.one_of(st.sampled_from(["real", "missing.safetensors", "nul\x00.onnx", "", "dir"]), HOSTILE),
       unsafe=st.one_of(st.just(False), HOSTILE.filter(lambda v: v is not True)),
       timesteps=st.one_of(st.none(), st.integers(-2, 50), HOSTILE),
       batch=st.one_of(st.integers(-2, 64), HOSTILE))  # fmt: skip
def test_read_model_with_any_arguments(state_dict: Path, path: Any, unsafe: Any, timesteps: Any, batch: Any) -> None:
    where = {"real": state_dict, "dir": state_dict.parent}.get(path, path) if isinstance(path, str) else path
    report = typed_or_refused(lambda: api.read_model(where, unsafe, timesteps, batch), api.ModelFileReport)
    if report is not None:
        assert where == state_dict and report.total == 16 * (3 + 4 + 2)


@QUICK
@given(preset=st.one_of(st.sampled_from(["default", "seed"]), HOSTILE),
       toml=st.one_of(st.none(), st.sampled_from(["missing.toml", "nul\x00.toml", ""]), HOSTILE),
       options=st.dictionaries(st.sampled_from(["units", "cell", "steps", "learning_rate", "batch_size", "seed",
                                                "data", "layers", "task", "length", "eval_every", "nonsense"]),
                               HOSTILE, max_size=3))  # fmt: skip
def test_config_with_any_arguments(preset: Any, toml: Any, options: dict[str, Any]) -> None:
    typed_or_refused(lambda: api.config(preset, toml, **options), api.TrainConfig)
