"""The validation split (lstmcli.train.split): deterministic, stratified, disjoint; recorded and enforced on resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lstmcli import rundir
from lstmcli.cli import main
from lstmcli.errors import UsageError
from lstmcli.rundir import RunFolder
from lstmcli.train.split import holdout, stratified_split, validation_size


@pytest.fixture(scope="module")
def labels(mnist_arrays: dict[str, np.ndarray]) -> np.ndarray:
    return mnist_arrays["y_train"]


def test_deterministic_per_seed(labels: np.ndarray) -> None:
    a, b = stratified_split(labels, 5000, seed=0), stratified_split(labels, 5000, seed=0)
    assert np.array_equal(a.validation, b.validation) and a.fingerprint() == b.fingerprint()
    other = stratified_split(labels, 5000, seed=1)
    assert not np.array_equal(a.validation, other.validation)


def test_disjoint_and_complete(labels: np.ndarray) -> None:
    split = stratified_split(labels, 5000, seed=3)
    assert len(split.validation) == 5000 and len(split.train) == len(labels) - 5000
    assert np.intersect1d(split.train, split.validation).size == 0
    assert np.array_equal(np.sort(np.concatenate([split.train, split.validation])), np.arange(len(labels)))


@pytest.mark.parametrize("size", [5000, 10, 777])
def test_stratified_by_class(labels: np.ndarray, size: int) -> None:
    held = labels[stratified_split(labels, size, seed=0).validation]
    whole = np.bincount(labels, minlength=10) / len(labels)
    counts = np.bincount(held, minlength=10)
    assert counts.sum() == size
    assert np.all(np.abs(counts - whole * size) < 1.0)  # each class within one image of its exact share


def test_a_regressions_split_is_drawn_at_random_and_a_classifiers_stratified(labels: np.ndarray) -> None:
    """Float targets have no classes: stratifying them (each value its own class) would hold out the smallest."""
    targets = np.linspace(0.0, 1.0, 600, dtype=np.float32)
    split = holdout(targets, 60, seed=3)
    assert np.array_equal(split.validation, holdout(targets, 60, seed=3).validation) and len(split.validation) == 60
    assert np.array_equal(np.sort(np.concatenate([split.train, split.validation])), np.arange(600))
    assert targets[stratified_split(targets, 60, seed=3).validation].max() < 0.1  # the 60 smallest: biased
    assert targets[split.validation].max() > 0.5
    assert not np.array_equal(split.validation, holdout(targets, 60, seed=4).validation)
    assert np.array_equal(holdout(labels, 600, 0).validation, stratified_split(labels, 600, 0).validation)


def test_sizes() -> None:
    assert validation_size(1 / 12, 60_000) == 5000
    assert validation_size(5000, 60_000) == 5000
    assert validation_size(0, 60_000) == 0
    for bad in (60_000, 2.5):
        with pytest.raises(UsageError):
            validation_size(bad, 60_000)


def tiny(small_npz: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(small_npz), "--units", "8", "--batch-size", "20", "--eval-every", "10",
            "--quiet", "--out", str(out), *extra]  # fmt: skip


def test_resume_refuses_a_different_split(small_npz: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert main(tiny(small_npz, run, "--steps", "10", "--checkpoint-every", "10")) == 0
    RunFolder(run).metrics.unlink()  # as if stopped after its last checkpoint
    config = json.loads(RunFolder(run).config.read_text())
    assert config["validation"] == 167.0  # a twelfth of the 2,000 training images, recorded as a count
    RunFolder(run).write_config({**config, "validation": 100.0})
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.name != rundir.LOCK}
    capsys.readouterr()
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "validation in config.json is 100.0, but the run started with 167.0" in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.name != rundir.LOCK} == before
    with np.load(RunFolder(run).checkpoint, allow_pickle=False) as npz:  # a checkpoint that records no config
        np.savez(RunFolder(run).checkpoint, **{k: npz[k] for k in npz.files if k != "config"})
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "different validation split" in err and err.count("\n") == 1


def test_keep_best_saves_the_best_validation_weights(small_npz: Path, tmp_path: Path) -> None:
    import keras

    run = tmp_path / "best"
    assert main(tiny(small_npz, run, "--steps", "40", "--keep", "best", "--learning-rate", "0.02")) == 0
    metrics = json.loads(RunFolder(run).metrics.read_text())
    assert metrics["kept_step"] == metrics["best_val_step"]
    history = RunFolder(run).read_history()
    best = max((r for r in history if "val_accuracy" in r), key=lambda r: r["val_accuracy"])
    assert metrics["best_val_accuracy"] == best["val_accuracy"] and metrics["best_val_step"] == best["step"]
    saved = keras.saving.load_model(RunFolder(run).model, compile=False).get_weights()
    with np.load(RunFolder(run).checkpoint, allow_pickle=False) as checkpoint:
        kept = [checkpoint[f"best_{i}"] for i in range(len(saved))]
    assert all(np.array_equal(a, b) for a, b in zip(saved, kept, strict=True))


def test_seed_preset_evaluates_the_test_set_and_says_so(small_npz: Path, tmp_path: Path) -> None:
    run = tmp_path / "seed"
    assert main(tiny(small_npz, run, "--preset", "seed", "--steps", "20")) == 0
    history = RunFolder(run).read_history()
    assert [int(r["step"]) for r in history if "test_accuracy" in r] == [10, 20]
    assert not any("val_accuracy" in r for r in history)
    metrics = json.loads(RunFolder(run).metrics.read_text())
    assert (metrics["eval_set"], metrics["validation_images"], metrics["best_val_accuracy"]) == ("test", 0, None)
