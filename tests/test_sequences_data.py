"""The user's own sequences (task sequences): a file read, standardised, trained on, judged again, refused.

Real Keras on tiny runs (200 sequences of 12 steps of 3 features, LSTM(8), 30 steps): each trains in seconds.
What they check does not depend on the size: the statistics are the training split's and are applied again by
`eval` (checked against NumPy), the figures a run records are what `eval` computes from the saved model, a run is
judged on another file of its kind and shape only, and every bad file or option is one line, exit 2, nothing
written.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import mnist_slice, refused

from lstmcli import cli
from lstmcli.cli.progress import Quiet
from lstmcli.evaluate import evaluate
from lstmcli.rundir import RunFolder
from lstmcli.schemas import SequenceData
from lstmcli.tasks import generated
from lstmcli.train.config import from_preset
from lstmcli.train.examples import judged_sequences
from lstmcli.train.runner import resume, start
from lstmcli.train.split import holdout

TINY = {"units": 8, "batch_size": 20, "steps": 30, "eval_every": 10, "checkpoint_every": 10, "validation": 40.0}
SCALES = np.array([1.0, 100.0, 0.01])  # features of very different ranges: what standardising is for


def sequences(seed: int, n: int, steps: int = 12, features: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Sequences whose first feature's sum decides the label (or is the target), features at their own scales."""
    rng = np.random.default_rng(seed)
    x = rng.normal(2.0, 1.0, size=(n, steps, features)) * SCALES[:features]
    return x, x[:, :, 0].sum(axis=1)


def save(path: Path, kind: str, seed: int, train: int = 200, test: int = 60, **shape: int) -> Path:
    x, s = sequences(seed, train, **shape)
    xt, st = sequences(seed + 1, test, **shape)
    if kind == "classify":
        y, yt = (s > 24).astype(np.int64), (st > 24).astype(np.int64)
    else:  # about zero-centred targets of spread 1, in the user's own units
        y, yt = (s - 24) / 3.5, (st - 24) / 3.5
    np.savez(path, x_train=x, y_train=y, x_test=xt, y_test=yt)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sequences")
    return {
        "classify": save(folder / "classify.npz", "classify", 0),
        "regress": save(folder / "regress.npz", "regress", 10),
        "classify_other": save(folder / "classify-other.npz", "classify", 20),
        "regress_other": save(folder / "regress-other.npz", "regress", 30),
        "longer": save(folder / "longer.npz", "classify", 40, steps=13),
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, files: dict[str, Path]) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sequence-runs")
    return {
        kind: start(from_preset("default", task="sequences", data=str(files[kind]), **TINY), root / kind, root,
                    Quiet()).run
        for kind in ("classify", "regress")
    }  # fmt: skip


def metrics_of(run: Path) -> dict[str, Any]:
    return json.loads(RunFolder(run).metrics.read_text())


def record_of(run: Path) -> SequenceData:
    return SequenceData.model_validate(json.loads(RunFolder(run).data.read_text()))


def test_a_classifier_of_sequences_trains_and_eval_reproduces_its_figures(runs: dict[str, Path]) -> None:
    metrics = metrics_of(runs["classify"])
    assert metrics["task"]["name"] == "sequences" and metrics["task"]["kind"] == "classify"
    assert (metrics["model"]["timesteps"], metrics["model"]["input_size"], metrics["model"]["classes"]) == (12, 3, 2)
    assert metrics["task"]["baseline"]["loss"] == pytest.approx(math.log(2))
    judged = evaluate(runs["classify"], draw=False)
    assert math.isclose(judged.test_accuracy, metrics["test_accuracy"], rel_tol=1e-6)
    assert math.isclose(judged.test_loss, metrics["test_loss"], rel_tol=1e-6)
    assert metrics["test_accuracy"] > 0.6  # the label is learnable from the standardised first feature


def test_a_regressor_reports_its_mse_beside_the_training_targets_mean(runs: dict[str, Path],
                                                                       files: dict[str, Path]) -> None:  # fmt: skip
    metrics = metrics_of(runs["regress"])
    assert metrics["task"]["kind"] == "regress" and metrics["test_accuracy"] is None
    assert metrics["test_mse"] == metrics["test_loss"] and metrics["val_mse"] is not None
    with np.load(files["regress"]) as npz:
        y, y_test = npz["y_train"], npz["y_test"]
    trained = holdout(y.astype(np.float32), 40, 0).train
    mean = float(y.astype(np.float32)[trained].mean(dtype=np.float64))
    assert record_of(runs["regress"]).target_mean == pytest.approx(mean)
    baseline = float(np.mean((y_test.astype(np.float32).astype(np.float64) - mean) ** 2))
    assert metrics["task"]["baseline"]["loss"] == pytest.approx(baseline)
    judged = evaluate(runs["regress"], draw=False)
    assert math.isclose(judged.test_mse, metrics["test_mse"], rel_tol=1e-6)
    assert judged.task is not None and judged.task.baseline.loss == pytest.approx(baseline)


def test_the_statistics_are_the_training_splits_and_eval_applies_them(runs: dict[str, Path],
                                                                      files: dict[str, Path]) -> None:  # fmt: skip
    with np.load(files["classify"]) as npz:
        x, y = npz["x_train"], npz["y_train"]
    split = holdout(y.astype(np.int32), 40, 0)
    assert len(split.validation) == 40
    record = record_of(runs["classify"])
    trained = x[split.train].reshape(-1, 3)
    assert np.allclose(record.mean, trained.mean(axis=0), rtol=1e-6)
    assert np.allclose(record.std, trained.std(axis=0), rtol=1e-6)
    assert not np.allclose(record.mean, x.reshape(-1, 3).mean(axis=0), rtol=1e-6)  # validation left out
    _, judged = judged_sequences(str(files["classify_other"]), record)
    with np.load(files["classify_other"]) as npz:
        other = npz["x_test"]
    want = (other.astype(np.float32) - np.float32(record.mean)) / np.float32(record.std)
    assert np.array_equal(judged.x_test, want)


def test_eval_judges_a_run_on_another_file_of_its_kind(runs: dict[str, Path], files: dict[str, Path],
                                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    for kind in ("classify", "regress"):
        code = cli.main(["eval", str(runs[kind]), "--data", str(files[f"{kind}_other"]), "--format", "json",
                         "--no-plot"])  # fmt: skip
        out, err = capsys.readouterr()
        assert code == 0, err
        result = json.loads(out)
        assert result["data"] == str(files[f"{kind}_other"]) and result["samples"] == 60
        assert result["task"]["kind"] == kind


@pytest.mark.parametrize(
    ("run", "data", "said"),
    [
        ("classify", "regress", "holds float targets (a regression), but the model classifies"),
        ("regress", "classify", "holds integer class labels, but the model regresses"),
        ("classify", "longer", "13 steps of 3 features, but the run reads 12 steps of 3"),
    ],
)
def test_eval_refuses_a_file_of_another_kind_or_shape(runs: dict[str, Path], files: dict[str, Path], run: str,
                                                      data: str, said: str, capsys: pytest.CaptureFixture[str]
                                                      ) -> None:  # fmt: skip
    err = refused(["eval", str(runs[run]), "--data", str(files[data]), "--no-plot"], capsys, runs[run])
    assert said in err


def test_an_adding_run_is_judged_on_a_users_adding_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file laid out as the adding problem defines it (value, marker; the marked sum) fits an adding run: on a
    file of the run's own test stream, eval computes exactly what it computes on the generated stream."""
    config = from_preset("default", task="adding", length=8, units=6, batch_size=10, steps=20, eval_every=10)
    run = start(config, tmp_path / "adding", tmp_path, Quiet()).run
    x, y = generated.adding(0, 2, np.arange(2000), 8)  # the test stream: stream 2 of seed 0
    mine = tmp_path / "my-adding.npz"
    np.savez(mine, x_train=x[:10].astype(np.float64), y_train=y[:10, 0].astype(np.float64),
             x_test=x.astype(np.float64), y_test=y[:, 0].astype(np.float64))  # fmt: skip
    own, generated_stream = evaluate(run, data_path=str(mine), draw=False), evaluate(run, draw=False)
    assert own.data == str(mine) and own.samples == 2000
    assert own.test_mse == pytest.approx(generated_stream.test_mse, rel=1e-6)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, x_train=x[:10, :, :1], y_train=y[:10, 0], x_test=x[:, :, :1], y_test=y[:, 0])
    assert "task adding at T = 8 is 8 steps of 2" in refused(["eval", str(run), "--data", str(wrong)], capsys, run)
    folder = refused(["eval", str(run), "--data", str(tmp_path)], capsys, run)  # a red-team pass: it said "task
    assert "is a folder" in folder and "task sequences" not in folder, folder  # sequences" of an adding run


def test_a_sequences_run_resumes_bit_for_bit(tmp_path: Path, files: dict[str, Path]) -> None:
    """Stopped at its first evaluation and resumed: the stored statistics standardise the file again exactly."""
    from test_task_training import alone_and_resumed

    config = from_preset("default", task="sequences", data=str(files["regress"]), **TINY)
    alone, resumed = alone_and_resumed(config, tmp_path, 10)
    assert RunFolder(alone).data.read_bytes() == RunFolder(resumed).data.read_bytes()


def test_a_run_killed_before_its_statistics_were_written_computes_them_again(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    """config.json is written first: a run killed before data.json has trained nothing, and --resume computes the
    statistics as the start would have, then trains what the run left alone trains."""
    config = from_preset("default", task="sequences", data=str(files["classify"]), **TINY)
    alone = start(config, tmp_path / "alone", tmp_path, Quiet()).run
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "config.json").write_bytes(RunFolder(alone).config.read_bytes())
    resume(killed, Quiet())
    assert RunFolder(killed).data.read_bytes() == RunFolder(alone).data.read_bytes()
    assert metrics_of(killed)["test_loss"] == metrics_of(alone)["test_loss"]


@pytest.mark.parametrize(
    ("record", "said"),
    [
        ("{", "not JSON"),
        ('{"kind": "classify"}', "field required"),
        (None, "std"),  # a standard deviation of 0 would divide by zero
        ("NaN", "expected a JSON object"),
    ],
)
def test_a_damaged_statistics_file_marks_the_run_damaged_and_eval_and_resume_refuse(
    tmp_path: Path, runs: dict[str, Path], record: str | None, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs["classify"], run)
    if record is None:
        stored = json.loads(RunFolder(run).data.read_text())
        record = json.dumps({**stored, "std": [0.0, 1.0, 1.0]})
    RunFolder(run).data.write_text(record)
    assert cli.main(["runs", str(tmp_path), "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)["runs"][0]
    assert row["status"] == "damaged" and "data.json" in row["problem"]
    assert said in refused(["eval", str(run), "--no-plot"], capsys, run)
    assert said in refused(["train", "--resume", str(run)], capsys, run)


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        ({"mean": [5.0, 5.0, 5.0]}, "resume with the same data and its data.json"),
        ({"features": 2, "mean": [0.0, 0.0], "std": [1.0, 1.0]}, "the run reads 12 steps of 2; resume with the data"),
        ({"kind": "regress", "classes": 1, "target_mean": 0.5}, "data.json records a regress run; resume with"),
        ({"classes": 5}, "holds 2 classes, but the run's data.json records 5; resume with the data file"),
    ],
    ids=["statistics", "features", "kind", "classes"],
)
def test_a_statistics_file_edited_before_a_resume_is_named_not_the_data_file(
    tmp_path: Path, runs: dict[str, Path], edit: dict[str, Any], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A red-team pass: a data.json edited in a stopped run was refused as data "not the data this run was trained
    on", or told to "judge it on data of the shape it was trained on", or (the classes) as a damaged checkpoint."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs["classify"], run)
    RunFolder(run).metrics.unlink()
    RunFolder(run).write_data({**json.loads(RunFolder(run).data.read_text()), **edit})
    assert said in refused(["train", "--resume", str(run)], capsys, run)


def test_group_by_task_keeps_runs_on_two_files_apart(runs: dict[str, Path], tmp_path: Path) -> None:
    """A red-team pass: `runs --group-by task` put a classifier of one file and a regressor of another in one
    "sequences" group, and averaged the one's cross-entropy with the other's MSE as its test loss."""
    import shutil

    from lstmcli.runs import compare

    for kind in ("classify", "regress"):
        shutil.copytree(runs[kind], tmp_path / kind)
    groups = compare(tmp_path, group_by="task").groups
    assert sorted(g.runs for g in groups) == [["classify"], ["regress"]]
    assert {g.settings["task"] for g in groups} == {"sequences"}


@pytest.fixture
def bad(tmp_path: Path) -> Any:
    def make(name: str, kind: str = "classify", **arrays: np.ndarray) -> str:
        path = save(tmp_path / f"{name}.npz", kind, 50)
        with np.load(path) as npz:
            np.savez(path, **{**{k: npz[k] for k in npz.files}, **arrays})
        return str(path)

    return make


def train_argv(data: str, *extra: str) -> list[str]:
    return ["train", "--task", "sequences", "--data", data, "--units", "4", "--steps", "2", *extra]


def test_sequences_and_images_are_each_refused_by_the_other_task(
    scratch: Path, bad: Any, mnist_arrays: dict[str, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    images = scratch / "images.npz"
    np.savez(images, **mnist_slice(mnist_arrays, 60, 20))
    assert "train images with --task rows" in refused(train_argv(str(images)), capsys)
    floats = bad("floats")
    for task in ("rows", "pixels", "permuted"):
        err = refused(["train", "--task", task, "--data", floats, "--units", "4", "--steps", "2"], capsys)
        assert "float sequences (N, T, F)" in err and "--task sequences" in err
    regression = bad("targets", "regress", x_train=np.random.default_rng(0).random((200, 12, 3)),
                     x_test=np.random.default_rng(1).random((60, 12, 3)))  # fmt: skip
    assert "regression targets" in refused(["train", "--data", regression, "--units", "4"], capsys)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["train", "--task", "sequences", "--units", "4"], "give --data FILE.npz"),
        (train_argv("FILE", "--length", "12"), "--length applies to the generated tasks"),
        (train_argv("FILE", "--validation", "200"), "leaving none to train on"),
        (train_argv("FILE", "--batch-size", "500"), "larger than the training set"),
        (train_argv("FILE", "--units", "100000", "--batch-size", "150"), "more than this machine"),
    ],
)
def test_options_that_do_not_fit_a_sequences_file_are_one_line(scratch: Path, bad: Any, argv: list[str], said: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    data = bad("good")
    assert said in refused([data if a == "FILE" else a for a in argv], capsys)


@pytest.mark.parametrize(
    ("arrays", "said"),
    [
        ({"x_test": np.zeros((60, 11, 3))}, "both splits need the same shape"),
        ({"x_train": np.zeros((200, 12))}, "must be (count, steps T, features F)"),
        ({"x_train": np.full((200, 12, 3), np.nan)}, "x_train contains NaN or infinite values"),
        ({"x_test": np.full((60, 12, 3), 1e300)}, "past float32's range"),
        ({"x_test": np.full((60, 12, 3), 3e38)}, "cannot be standardised in float32"),
        ({"y_test": np.zeros(60)}, "y_train holds integer classes but y_test float targets"),
        ({"y_test": np.full(60, 7)}, "labels out of range"),
        ({"y_train": np.zeros(199, np.int64)}, "x_train has 200 sequences but y_train has 199 labels"),
    ],
)
def test_a_bad_sequences_file_is_one_line(scratch: Path, bad: Any, arrays: dict[str, np.ndarray], said: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert said in refused(train_argv(bad("file", **arrays)), capsys)


def test_float_targets_past_float32_or_not_finite_are_refused(scratch: Path, bad: Any,
                                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert "NaN or infinite targets" in refused(train_argv(bad("nan", "regress", y_train=np.full(200, np.inf))),
                                                capsys)  # fmt: skip
    assert "targets up to 1e+300" in refused(train_argv(bad("big", "regress", y_test=np.full(60, 1e300))), capsys)
    assert "--classes does not apply" in refused(train_argv(bad("k", "regress"), "--classes", "3"), capsys)


@pytest.mark.parametrize("task", ["sequences", "rows,sequences"])
def test_a_sweep_of_the_users_sequences_is_refused_before_the_file_is_read(
    scratch: Path, bad: Any, task: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sweep", "run", "mine", "--task", task, "--data", bad("file"), "--units", "4,8", "--runs-dir", "runs"]
    assert "a sweep trains the built-in tasks" in refused(argv, capsys)


def test_sequences_too_long_for_memory_are_refused_before_anything_is_written(
    scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    x, x_test = rng.random((160, 20_000, 1), dtype=np.float32), rng.random((10, 20_000, 1), dtype=np.float32)
    np.savez(scratch / "long.npz", x_train=x, y_train=np.arange(160) % 2, x_test=x_test, y_test=np.arange(10) % 2)
    err = refused(train_argv(str(scratch / "long.npz"), "--units", "512", "--batch-size", "140"), capsys)
    assert "more than this machine allows" in err and "(these are 20,000 steps)" in err
