"""A short real training run: the loss falls, the run directory is complete, the model is standard."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lstmcli import rundir
from lstmcli.rundir import RunFolder
from lstmcli.train.config import from_preset
from lstmcli.train.step import batch_indices


def test_run_directory_is_complete(trained_run: Path) -> None:
    for name in rundir.RUN_FILES:
        assert (trained_run / name).is_file(), name
    config = json.loads(RunFolder(trained_run).config.read_text())
    assert config["steps"] == 200
    history = RunFolder(trained_run).read_history()
    assert [int(r["step"]) for r in history] == [50, 100, 150, 200]


def test_loss_falls_and_accuracy_beats_chance(trained_run: Path) -> None:
    history = RunFolder(trained_run).read_history()
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]
    evaluated = [row for row in history if "val_loss" in row]
    assert len(evaluated) >= 2 and evaluated[-1]["val_loss"] < evaluated[0]["val_loss"]
    assert [row for row in history if "test_loss" in row] == [history[-1]]  # the test set once, at the end
    metrics = json.loads(RunFolder(trained_run).metrics.read_text())
    assert metrics["test_accuracy"] > 0.5  # chance is 0.1
    assert metrics["parameters"] == metrics["keras_parameters"] == 31_960


def test_saved_model_is_a_standard_keras_lstm(trained_run: Path) -> None:
    import keras

    model = keras.saving.load_model(RunFolder(trained_run).model, compile=False, safe_mode=True)
    lstm = model.layers[0]
    assert type(lstm) is keras.layers.LSTM
    assert lstm.units == 75
    assert model.count_params() == 31_960


def test_a_run_is_planned_once_before_anything_is_written(small_npz: Path, tmp_path: Path) -> None:
    """The split's size, the steps and the evaluation period are worked out once, from the validated config;
    config.json records the split as the count it holds out, which plans to the same run again (--resume)."""
    import math

    from lstmcli.train.runner import prepare

    config = from_preset("default", data=str(small_npz), batch_size=20)  # holds out a twelfth of 2,000
    plan = prepare(config)
    assert plan.held_out == 167 and plan.train_size == 2_000 - 167
    assert (plan.config.validation, plan.config.data) == (167.0, str(small_npz.absolute()))
    assert plan.timeline.total == math.ceil(6 * plan.train_size / 20)
    assert plan.timeline.eval_every == math.ceil(plan.train_size / 20)
    assert plan.spec == config.model_spec(28, 28, 10)
    again = prepare(plan.config)
    assert (again.config, again.held_out, again.timeline) == (plan.config, plan.held_out, plan.timeline)


def test_shuffled_order_is_a_permutation_per_pass() -> None:
    config = from_preset("default", batch_size=10, seed=3)
    idx = batch_indices(config, 100, 0, 10)  # exactly one pass
    assert sorted(idx.ravel().tolist()) == list(range(100))
    again = batch_indices(config, 100, 4, 3)  # any step can be recomputed on its own
    assert np.array_equal(again, idx[4:7])


def test_sequential_order_wraps_like_the_article() -> None:
    config = from_preset("seed", batch_size=40)
    idx = batch_indices(config, 100, 2, 1)
    assert idx.ravel().tolist() == list(range(80, 100)) + list(range(0, 20))


def test_tower_split_loss_and_gradients_match_plain_keras(mnist_arrays: dict[str, np.ndarray]) -> None:
    """The training step splits each batch across cores; the loss and gradients must be the article's."""
    import keras
    import tensorflow as tf

    from lstmcli.model.factory import build_model
    from lstmcli.model.spec import ModelSpec
    from lstmcli.train.step import batch_loss, split_bounds

    keras.utils.set_random_seed(7)
    model = build_model(ModelSpec(unroll=True))
    x = tf.constant(mnist_arrays["x_train"][:50].astype(np.float32) / 255.0)
    y = tf.constant(mnist_arrays["y_train"][:50].astype(np.int32))
    variables = model.trainable_variables

    with tf.GradientTape() as tape:
        plain = keras.losses.CategoricalCrossentropy()(tf.one_hot(y, 10), model(x, training=True))
    expected = tape.gradient(plain, variables)
    for towers in (1, 2, 3):
        with tf.GradientTape() as tape:
            loss, accuracy = batch_loss(model, x, y, 10, split_bounds(50, towers))
        grads = tape.gradient(loss, variables)
        assert abs(float(loss) - float(plain)) < 1e-5
        for got, want in zip(grads, expected, strict=True):
            np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5, rtol=0)
        predicted = np.argmax(model(x).numpy(), axis=1)
        assert abs(float(accuracy) - float(np.mean(predicted == y.numpy()))) < 1e-6


def test_split_bounds_cover_the_batch_without_empty_slices() -> None:
    from lstmcli.train.step import split_bounds

    assert split_bounds(50, 2) == [(0, 25), (25, 50)]
    assert split_bounds(1, 2) == [(0, 1)]
    assert split_bounds(7, 3) == [(0, 2), (2, 5), (5, 7)]
