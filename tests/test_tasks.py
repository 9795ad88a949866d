"""The task suite against its definitions: the markers and the target of the adding problem, the copy layout,
the baselines measured on a large sample, the permutation fixed by its seed, and examples as pure functions of
(seed, stream, index). NumPy only."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from lstmcli import tasks
from lstmcli.errors import DataError, FieldError, UsageError
from lstmcli.model.spec import HEADS, ModelSpec
from lstmcli.tasks import generated, mnist
from lstmcli.train.presets import DEFAULT_PRESET, FILE_TASKS, TASK_DEFAULTS, TASKS


def adding(length: int = 40, seed: int = 0) -> tasks.Task:
    return tasks.task("adding", length=length, seed=seed)


def copy(length: int = 15, seed: int = 0) -> tasks.Task:
    return tasks.task("copy", length=length, seed=seed)


# --- the declarations ---------------------------------------------------------------------------------------


def test_every_task_declares_its_shape_head_and_figures() -> None:
    declared = {
        "rows": ("classify", 28, 28, 10, "accuracy"),
        "pixels": ("classify", 784, 1, 10, "accuracy"),
        "permuted": ("classify", 784, 1, 10, "accuracy"),
        "adding": ("regress", 40, 2, 1, "mse"),
        "copy": ("sequence", 60, 10, 9, "recall_accuracy"),
    }
    for name, (kind, steps, features, outputs, metric) in declared.items():
        length = {"adding": 40, "copy": 40}.get(name)
        t = tasks.task(name, length=length)
        assert (t.kind, t.steps, t.features, t.outputs, t.metric) == (kind, steps, features, outputs, metric), name
        assert t.kind in HEADS
        spec = ModelSpec(units=3, **t.model_fields())  # every task's fields make a valid model
        assert (spec.timesteps, spec.input_size, spec.classes, spec.head) == (steps, features, outputs, kind)
        assert t.generated == (name in ("adding", "copy"))
    assert (*declared, *tasks.FILE_TASKS) == tasks.NAMES == TASKS
    assert tasks.FILE_TASKS == FILE_TASKS


# --- the user's own sequences ---------------------------------------------------------------------------------


def test_the_sequences_task_is_made_from_its_file_not_by_name() -> None:
    with pytest.raises(FieldError, match="takes its shape") as caught:
        tasks.task("sequences")
    assert caught.value.field == "task"
    classify = tasks.sequences.classify(12, 3, 4)
    assert (classify.kind, classify.steps, classify.features, classify.outputs) == ("classify", 12, 3, 4)
    assert classify.baseline.loss == pytest.approx(math.log(4)) and classify.baseline.metric == 0.25
    assert not classify.generated and classify.source == "file"


def test_a_regression_baseline_is_predicting_the_training_mean_on_the_test_targets() -> None:
    y_test = np.array([[1.0], [2.0], [4.0]], dtype=np.float32)
    task = tasks.sequences.regress(5, 2, 2.0, y_test, "f.npz")
    assert task.baseline.loss == pytest.approx((1 + 0 + 4) / 3) and task.direction == "minimize"
    with pytest.raises(DataError, match="targets that vary"):
        tasks.sequences.regress(5, 2, 2.0, np.full((3, 1), 2.0), "f.npz")


def test_standardising_uses_float64_statistics_and_a_constant_feature_keeps_its_scale() -> None:
    rng = np.random.default_rng(0)
    x = np.stack([rng.normal(1e4, 50.0, (30, 7)), np.full((30, 7), 3.0)], axis=-1)
    stats = tasks.sequences.Statistics.of(x)
    assert stats.mean == pytest.approx((x[..., 0].mean(), 3.0)) and stats.std == pytest.approx((x[..., 0].std(), 1.0))
    out = stats.apply(x, "x")
    assert out.dtype == np.float32 and abs(out[..., 0].mean()) < 1e-3 and np.all(out[..., 1] == 0)
    with pytest.raises(DataError, match="cannot be standardised in float32"):
        tasks.sequences.Statistics((0.0, 0.0), (1e-30, 1.0)).apply(np.full((1, 1, 2), 1e10), "x")
    with pytest.raises(DataError, match="features"):
        stats.apply(np.zeros((1, 1, 3)), "x")


def test_baselines_are_the_papers() -> None:
    assert adding().baseline.loss == pytest.approx(0.167, abs=5e-4)
    assert copy(1000).baseline.loss == pytest.approx(10 * math.log(8) / 1020)
    assert copy(1000).baseline.metric == 1 / 8
    assert tasks.task("rows").baseline.metric == 0.1
    assert tasks.task("rows").direction == "maximize" and adding().direction == copy().direction == "minimize"


def test_defaults_live_with_the_presets() -> None:
    assert set(TASK_DEFAULTS) == set(tasks.NAMES)
    assert TASK_DEFAULTS["rows"] == {}  # the article's task keeps the default preset as it is
    for name, defaults in TASK_DEFAULTS.items():
        assert set(defaults) - {"length"} <= set(DEFAULT_PRESET), name  # only options that exist
        if name in tasks.MIN_LENGTH:
            assert tasks.task(name, length=defaults["length"]).length == defaults["length"]
        else:
            assert "length" not in defaults


@pytest.mark.parametrize(
    ("name", "length", "field", "words"),
    [
        ("rows", 10, "length", "length applies to the generated tasks"),
        ("permuted", 10, "length", "length applies"),
        ("adding", None, "length", "needs a length"),
        ("adding", 1, "length", "at least 2"),
        ("copy", 0, "length", "at least 1"),
        ("copy", tasks.MAX_LENGTH + 1, "length", "at most"),
        ("copy", 2.5, "length", "whole number"),
        ("copy", True, "length", "whole number"),
        ("sorting", None, "task", "unknown task"),
    ],
)
def test_refusals(name: str, length, field: str, words: str) -> None:
    """Each refusal is an error about the field that must change (the CLI names its flag, the API its argument)."""
    with pytest.raises(FieldError, match=words) as caught:
        tasks.task(name, length=length)
    assert caught.value.field == field


def test_seed_and_stream_bounds_are_checked() -> None:
    with pytest.raises(UsageError, match="seed"):
        tasks.task("adding", length=5, seed=-1)
    with pytest.raises(UsageError, match=r"0\.\.999"):
        adding().examples("validation", [1_000])
    with pytest.raises(UsageError, match="no generated examples"):
        tasks.task("rows").examples("train", [0])


# --- the adding problem -------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [2, 3, 7, 40, 1000])
def test_adding_markers_and_target(length: int) -> None:
    x, y = adding(length).examples("train", range(300))
    assert x.shape == (300, length, 2) and y.shape == (300, 1) and x.dtype == y.dtype == np.float32
    values, marker = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert set(np.unique(marker)) <= {0.0, 1.0}
    assert (marker.sum(axis=1) == 2).all()  # exactly two marked steps
    half = length // 2
    assert (marker[:, :half].sum(axis=1) == 1).all() and (marker[:, half:].sum(axis=1) == 1).all()
    np.testing.assert_allclose(y[:, 0], (values * marker).sum(axis=1), rtol=1e-6)


def test_adding_markers_cover_each_half() -> None:
    """Every step of each half is a possible marker: uniform within the half, not a fixed position."""
    x, _ = adding(10).examples("train", range(2_000))
    hits = x[..., 1].sum(axis=0)
    assert (hits > 0).all()
    assert hits[:5].sum() == hits[5:].sum() == 2_000


def test_adding_baseline_from_a_large_sample() -> None:
    _, y = adding(20).examples("train", range(60_000))
    measured = float(np.mean((y - 1.0) ** 2))
    # The sample's MSE against 1 has a standard error of about 0.001 at this size.
    assert measured == pytest.approx(adding().baseline.loss, abs=0.005)
    assert float(y.mean()) == pytest.approx(1.0, abs=0.01)  # why 1 is the best constant


# --- the copy task ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 2, 15, 1000])
def test_copy_layout(length: int) -> None:
    x, y = copy(length).examples("test", range(50))
    steps = length + 20
    assert x.shape == (50, steps, 10) and y.shape == (50, steps)
    assert (x.sum(axis=-1) == 1).all()  # one-hot at every step
    category = x.argmax(axis=-1)
    symbols = category[:, :10]
    assert ((symbols >= 1) & (symbols <= 8)).all()
    assert (category[:, 10 : 10 + length - 1] == generated.BLANK).all()  # T - 1 blanks
    assert (category[:, 9 + length] == generated.DELIMITER).all()  # then the delimiter
    assert (category[:, 10 + length :] == generated.BLANK).all()  # and 10 blanks
    assert (y[:, : length + 10] == generated.BLANK).all()  # blanks until the delimiter has passed
    np.testing.assert_array_equal(y[:, -10:], symbols)  # then the 10 symbols in order
    assert y.max() < copy().outputs


def test_copy_symbols_are_uniform_over_eight() -> None:
    _, y = copy(1).examples("train", range(8_000))
    counts = np.bincount(y[:, -10:].ravel(), minlength=9)
    assert counts[0] == 0
    np.testing.assert_allclose(counts[1:] / counts.sum(), 1 / 8, atol=0.005)


def test_copy_baseline_is_the_memoryless_loss() -> None:
    """The memoryless predictor (blank for sure, then 1/8 each symbol) scores 10 ln 8 / (T + 20) on real data."""
    t = copy(30)
    _, y = t.examples("train", range(500))
    probs = np.zeros((*y.shape, t.outputs))
    probs[:, :-10, generated.BLANK] = 1.0
    probs[:, -10:, 1:] = 1 / 8
    picked = np.take_along_axis(probs, y[..., None], axis=-1)[..., 0]
    assert float(-np.log(picked).mean()) == pytest.approx(t.baseline.loss)


# --- pure functions of (seed, stream, index) ----------------------------------------------------------------


@pytest.mark.parametrize("make", [adding, copy])
def test_examples_are_pure_functions_of_seed_and_index(make) -> None:
    t = make()
    x, y = t.examples("train", range(100))
    # Any subset, in any order, alone or in another batch, gives the same examples.
    order = np.array([57, 3, 99, 3, 0])
    xs, ys = t.examples("train", order)
    np.testing.assert_array_equal(xs, x[order])
    np.testing.assert_array_equal(ys, y[order])
    again = make().examples("train", range(100))
    np.testing.assert_array_equal(again[0], x)
    # Another seed is another set of examples.
    other = make(seed=1).examples("train", range(100))
    assert not np.array_equal(other[1], y)


@pytest.mark.parametrize("make", [adding, copy])
def test_streams_are_disjoint(make) -> None:
    t = make()
    seen = {}
    for split in tasks.SPLITS:
        x, _ = t.examples(split, range(500))
        seen[split] = {row.tobytes() for row in x}
        assert len(seen[split]) == 500  # no example repeats inside a stream
    assert not seen["train"] & seen["validation"]
    assert not seen["train"] & seen["test"]
    assert not seen["validation"] & seen["test"]
    sizes = t.streams
    assert (sizes.train, sizes.validation, sizes.test) == (100_000, 1_000, 2_000)


def test_examples_do_not_depend_on_numpy_global_state() -> None:
    np.random.seed(1)
    first = adding().examples("train", [5])
    np.random.seed(2)
    np.testing.assert_array_equal(adding().examples("train", [5])[0], first[0])


# --- the MNIST tasks ----------------------------------------------------------------------------------------


def test_permutation_is_fixed_by_its_seed_and_never_the_identity() -> None:
    p = mnist.permutation(0)
    assert sorted(p) == list(range(784))
    np.testing.assert_array_equal(p, mnist.permutation(0))
    assert not np.array_equal(p, mnist.permutation(1))
    assert not np.array_equal(p, np.arange(784))
    # Two positions: half of all draws would be the identity, and none is ever returned.
    for seed in range(200):
        assert mnist.permutation(seed, size=2).tolist() == [1, 0]
    with pytest.raises(UsageError):
        mnist.permutation(0, size=1)


def test_mnist_sequences() -> None:
    images = np.arange(3 * 784, dtype=np.int64).reshape(3, 28, 28).astype(np.uint8)
    np.testing.assert_array_equal(mnist.sequences("rows", images), images)
    pixels = mnist.sequences("pixels", images)
    assert pixels.shape == (3, 784, 1) and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels[:, :, 0], images.reshape(3, 784))  # row-major: row 0 first
    permuted = mnist.sequences("permuted", images, seed=4)
    np.testing.assert_array_equal(permuted[:, :, 0], images.reshape(3, 784)[:, mnist.permutation(4)])
    assert tasks.task("permuted", seed=4).seed == 4
    with pytest.raises(DataError, match="28 x 28"):
        mnist.sequences("pixels", np.zeros((2, 10, 10), dtype=np.uint8))
    with pytest.raises(DataError, match="images"):
        mnist.sequences("rows", np.zeros((2, 10), dtype=np.uint8))


def test_tasks_import_no_tensorflow() -> None:
    code = (
        "import json, sys\n"
        "import lstmcli.tasks\n"
        "lstmcli.tasks.task('copy', length=5).examples('train', range(3))\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'torch'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


# --- properties: any seed, length and indices within bounds give the layout; anything else is a UsageError ------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

QUICK = settings(max_examples=60, deadline=None)
HOSTILE = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.integers(min_value=2**62), st.floats(),
                    st.text(max_size=4), st.binary(max_size=4), st.lists(st.integers(), max_size=2))  # fmt: skip


def check_layout(task: tasks.Task, x: np.ndarray, y: np.ndarray, count: int) -> None:
    """The definition of each generated task, for any length (the parametrized tests above check it at a few)."""
    length = task.length
    assert x.dtype == np.float32 and x.shape == (count, task.steps, task.features)
    if task.name == "adding":
        assert y.shape == (count, 1)
        values, marker = x[..., 0], x[..., 1]
        assert ((values >= 0) & (values < 1)).all() and set(np.unique(marker)) <= {0.0, 1.0}
        half = length // 2
        assert (marker[:, :half].sum(axis=1) == 1).all() and (marker[:, half:].sum(axis=1) == 1).all()
        np.testing.assert_allclose(y[:, 0], (values * marker).sum(axis=1), rtol=1e-6)
    else:
        category = x.argmax(axis=-1)
        assert (x.sum(axis=-1) == 1).all() and y.shape == (count, task.steps)
        assert ((category[:, :10] >= 1) & (category[:, :10] <= 8)).all()
        assert (category[:, 9 + length] == generated.DELIMITER).all()
        np.testing.assert_array_equal(y[:, -10:], category[:, :10])


@QUICK
@given(name=st.sampled_from(sorted(tasks.MIN_LENGTH)), length=st.integers(1, 300),
       seed=st.integers(0, tasks.SEED_LIMIT - 1), split=st.sampled_from(tasks.SPLITS), data=st.data())  # fmt: skip
def test_any_length_seed_and_indices_within_bounds_give_the_defined_layout(
    name: str, length: int, seed: int, split: tasks.Split, data: st.DataObject
) -> None:
    length = max(length, tasks.MIN_LENGTH[name])
    task = tasks.task(name, length=length, seed=seed)
    size = task.streams.size(split)
    indices = data.draw(st.lists(st.integers(0, size - 1), max_size=6) | st.just(range(size - 3, size)))
    x, y = task.examples(split, indices)
    check_layout(task, x, y, len(indices))
    if len(indices):  # an example is the same alone as in any batch
        one_x, one_y = task.examples(split, [indices[-1]])
        np.testing.assert_array_equal(one_x[0], x[-1])
        np.testing.assert_array_equal(one_y[0], y[-1])


@QUICK
@given(name=st.one_of(st.sampled_from(tasks.NAMES), st.text(max_size=8), HOSTILE), length=HOSTILE, seed=HOSTILE)
def test_any_task_arguments_give_a_task_or_a_usage_error(name: object, length: object, seed: object) -> None:
    try:
        task = tasks.task(name, length=length, seed=seed)  # type: ignore[arg-type]
    except UsageError as error:
        assert "\n" not in str(error)
        return
    assert task.name == name and task.seed >= 0
    assert (task.length is None) == (name not in tasks.MIN_LENGTH)


@QUICK
@given(name=st.sampled_from(sorted(tasks.MIN_LENGTH)), split=st.one_of(st.sampled_from(tasks.SPLITS), HOSTILE),
       indices=st.one_of(HOSTILE, st.lists(st.one_of(st.integers(-2**70, 2**70), st.floats(), st.text(max_size=2),
                                                      st.booleans()), min_size=1, max_size=4)))  # fmt: skip
def test_indices_or_a_split_out_of_bounds_are_a_usage_error(name: str, split: object, indices: object) -> None:
    """Never a stream that wraps, a float index rounded, or an OverflowError, KeyError or TypeError from NumPy."""
    task = tasks.task(name, length=5)
    try:
        x, _ = task.examples(split, indices)  # type: ignore[arg-type]
    except UsageError as error:
        assert "\n" not in str(error)
        return
    index = list(indices) if isinstance(indices, list) else [indices]
    assert split in tasks.SPLITS and len(x) == len(index)
    assert all(type(i) is int and 0 <= i < task.streams.size(split) for i in index), index  # type: ignore[arg-type]
