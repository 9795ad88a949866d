"""The closed form against the frameworks themselves: Keras's count_params() and weight shapes, PyTorch's modules.

Every model here is built by `lstmcli.model.factory.build_model`, the factory `train` uses, and never trained:
building a few hundred small models is cheap. The PyTorch tests skip where torch is not installed (CI).
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys

import pytest

from lstmcli.model import count as arithmetic
from lstmcli.model import torch_reference
from lstmcli.model.count import count
from lstmcli.model.spec import CELLS, HEADS, ModelSpec

# Every structural combination (cell, layers, direction, bias, GRU convention, head), each built at a few
# (units, input) sizes that cycle through the list below so the grid also varies the widths.
SIZES = [(1, 1), (7, 3), (32, 28), (5, 64), (75, 28), (16, 1), (3, 9)]
SIZES_PER_COMBO = 3


def structural_grid() -> list[tuple[str, int, bool, bool, bool, int]]:
    grid = []
    for cell, layers, bidirectional, use_bias, classes in itertools.product(
        ("lstm", "gru", "rnn"), (1, 2, 3), (False, True), (True, False), (0, 10)
    ):
        for reset_after in (True, False) if cell == "gru" else (True,):
            grid.append((cell, layers, bidirectional, use_bias, reset_after, classes))
    return grid


GRID = structural_grid()


def combo_id(value: object) -> str:
    if isinstance(value, tuple):
        cell, layers, bidirectional, use_bias, reset_after, classes = value
        flags = ["bi" if bidirectional else "uni", "bias" if use_bias else "nobias", f"head{classes}"]
        if cell == "gru":
            flags.append("after" if reset_after else "before")
        return "-".join([cell, f"L{layers}", *flags])
    return str(value)


def specs_for(index: int, combo: tuple[str, int, bool, bool, bool, int]) -> list[ModelSpec]:
    cell, layers, bidirectional, use_bias, reset_after, classes = combo
    out = []
    for k in range(SIZES_PER_COMBO):
        units, input_size = SIZES[(index * SIZES_PER_COMBO + k) % len(SIZES)]
        out.append(
            ModelSpec(
                cell=cell,
                units=units,
                input_size=input_size,
                timesteps=4,
                layers=layers,
                bidirectional=bidirectional,
                use_bias=use_bias,
                reset_after=reset_after,
                classes=classes,
            )
        )
    return out


@pytest.fixture(scope="module")
def keras_module():
    keras = pytest.importorskip("keras")
    yield keras
    keras.backend.clear_session()


_BUILT = {"n": 0}


def build(keras_module, spec: ModelSpec):
    """The factory's model, clearing Keras's global state every few dozen builds to keep memory flat."""
    from lstmcli.model.factory import build_model

    _BUILT["n"] += 1
    if _BUILT["n"] % 40 == 0:
        keras_module.backend.clear_session()
    return build_model(spec)


def test_grid_is_generous() -> None:
    assert len(GRID) == 96
    assert len(GRID) * SIZES_PER_COMBO >= 250


@pytest.mark.parametrize(("index", "combo"), list(enumerate(GRID)), ids=combo_id)
def test_closed_form_equals_keras_count_params(keras_module, index: int, combo) -> None:
    for spec in specs_for(index, combo):
        model = build(keras_module, spec)
        counts = count(spec)
        assert counts.total == model.count_params(), spec
        # Per recurrent layer as well, not only in sum: a wrong layer could hide behind a wrong head.
        recurrent = [layer for layer in model.layers if layer.name != "classifier"]
        assert len(recurrent) == spec.layers
        for layer_index, layer in enumerate(recurrent):
            assert counts.layer_total(layer_index) == layer.count_params(), (spec, layer.name)
        if spec.classes:
            assert counts.head.total == model.get_layer("classifier").count_params()


# Every head a task needs (last-step classifier, last-step regressor, classifier at every step), on every
# cell, one and two layers, one and two directions, with and without a head of its own width.
HEAD_GRID = list(itertools.product(HEADS, CELLS, ((1, False), (1, True), (2, True)), (0, 4)))


def head_id(value: object) -> str:
    if isinstance(value, tuple):
        layers, bidirectional = value
        return f"L{layers}-{'bi' if bidirectional else 'uni'}"
    return str(value)


@pytest.mark.parametrize(("head", "cell", "stack", "classes"), HEAD_GRID, ids=head_id)
def test_every_head_counted_as_keras(keras_module, head: str, cell: str, stack, classes: int) -> None:
    from lstmcli.model.factory import HEAD_NAMES

    layers, bidirectional = stack
    spec = ModelSpec(cell=cell, units=5, input_size=3, timesteps=6, layers=layers, bidirectional=bidirectional,
                     classes=classes, head=head)  # fmt: skip
    model = build(keras_module, spec)
    counts = count(spec)
    assert counts.total == model.count_params(), spec
    assert predicted_shapes(counts) == keras_shapes(model)
    # What the model emits: every step for the per-step head, the last step otherwise.
    width = classes or spec.output_size
    assert model.output_shape == ((None, 6, width) if head == "sequence" else (None, width))
    if classes:
        dense = model.get_layer(HEAD_NAMES[head])
        assert counts.head.total == dense.count_params()
        assert counts.head.kind == head
        # Its products: the kernel once per position of Keras's own output (6 steps, or the last one).
        assert counts.head.macs == math.prod(model.output_shape[1:-1]) * counts.head.kernel
        assert dense.get_config()["activation"] == ("linear" if head == "regress" else "softmax")


def test_head_does_not_change_the_recurrent_count() -> None:
    for cell, head in itertools.product(CELLS, HEADS):
        spec = ModelSpec(cell=cell, units=7, input_size=2, timesteps=9, classes=3, head=head)
        plain = ModelSpec(cell=cell, units=7, input_size=2, timesteps=9)
        assert count(spec).recurrent_total == count(plain).recurrent_total
        assert count(spec).head.total == 7 * 3 + 3
        assert count(spec, "pytorch").head == count(spec).head  # a Linear holds what a Dense holds


def keras_shapes(model) -> list[tuple[str, tuple[int, ...]]]:
    return [(w.path.rsplit("/", 1)[-1], tuple(w.shape)) for w in model.weights]


def predicted_shapes(counts: arithmetic.ParamCount) -> list[tuple[str, tuple[int, ...]]]:
    out = [(name, shape) for d in counts.directions for name, shape in d.shapes]
    if counts.head:
        out += [("kernel", (counts.head.inputs, counts.head.classes)), ("bias", (counts.head.classes,))]
    return out


@pytest.mark.parametrize("index", range(0, len(GRID), 5))
def test_reported_shapes_equal_keras_weights(keras_module, index: int) -> None:
    spec = specs_for(index, GRID[index])[1]
    model = build(keras_module, spec)
    counts = count(spec)
    assert predicted_shapes(counts) == keras_shapes(model)
    # And the rows of each direction are really those weights: forward before backward, layer by layer.
    recurrent_paths = [w.path for w in model.weights if "classifier" not in w.path]
    per_direction = len(counts.directions[0].shapes)
    for i, d in enumerate(counts.directions):
        for path in recurrent_paths[i * per_direction : (i + 1) * per_direction]:
            assert f"_{d.layer}/" in path
            if spec.bidirectional:
                assert f"/{d.direction}_" in path


def test_article_example_75_units_28_inputs() -> None:
    counts = count(ModelSpec(units=75, input_size=28, classes=10))
    assert counts.recurrent_total == 31_200
    assert counts.head.total == 760
    assert counts.total == 31_960
    assert [g.total for g in counts.directions[0].gates] == [7_800] * 4


def test_article_example_matches_keras(keras_module) -> None:
    spec = ModelSpec(units=75, input_size=28, classes=10)
    assert count(spec).total == build(keras_module, spec).count_params()


def test_gates_follow_keras_order_and_slices() -> None:
    """Each gate row is one n-column slice of the fused kernel: kernel + recurrent + bias add up per gate."""
    spec = ModelSpec(cell="gru", units=6, input_size=4, reset_after=True)
    d = count(spec).directions[0]
    assert [g.gate for g in d.gates] == ["update", "reset", "candidate"]
    shapes = dict(d.shapes)
    assert shapes["kernel"] == (4, 18)
    assert shapes["bias"] == (2, 18)
    assert all(g.kernel == 4 * 6 and g.recurrent == 6 * 6 and g.bias == 2 * 6 for g in d.gates)


def test_conventions_differ_only_by_the_second_bias() -> None:
    for cell, reset_after, layers, bidirectional in itertools.product(
        ("lstm", "gru", "rnn"), (True, False), (1, 3), (False, True)
    ):
        spec = ModelSpec(cell=cell, units=9, input_size=5, layers=layers, bidirectional=bidirectional,
                         reset_after=reset_after)  # fmt: skip
        keras_c, torch_c = count(spec, "keras"), count(spec, "pytorch")
        g = len(spec.gates)
        keras_biases = 2 if cell == "gru" and reset_after else 1
        extra = (2 - keras_biases) * g * spec.units * spec.layers * spec.directions
        assert torch_c.total - keras_c.total == extra
        assert torch_c.macs == keras_c.macs
        no_bias = ModelSpec(cell=cell, units=9, input_size=5, use_bias=False, reset_after=reset_after)
        assert count(no_bias, "keras").total == count(no_bias, "pytorch").total


def test_macs_are_the_matrix_products_per_step() -> None:
    """Independent of the formula in arithmetic.py: sum the (rows x cols) of every fused matrix, times steps."""
    spec = ModelSpec(cell="lstm", units=10, input_size=3, timesteps=7, layers=2, bidirectional=True, classes=4)
    counts = count(spec)
    for d in counts.directions:
        shapes = dict(d.shapes)
        per_step = (
            shapes["kernel"][0] * shapes["kernel"][1] + shapes["recurrent_kernel"][0] * shapes["recurrent_kernel"][1]
        )
        assert d.macs == spec.timesteps * per_step
    assert counts.head.macs == counts.head.kernel
    assert counts.macs == sum(d.macs for d in counts.directions) + counts.head.macs
    assert counts.flops == 2 * counts.macs
    assert counts.weight_bytes("float32") == 4 * counts.total
    assert counts.weight_bytes("bfloat16") == 2 * counts.total


def test_pure_modules_do_not_import_tensorflow() -> None:
    code = (
        "import json, sys\n"
        "import lstmcli.model.count, lstmcli.model.spec, lstmcli.cli.explain, lstmcli.cli.views.params\n"
        "import lstmcli.model.budget, lstmcli.model.memory, lstmcli.model.reader, lstmcli.model.torch_file\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'torch'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == []


# --- PyTorch convention: against torch.nn itself (skipped without torch) ---------------------------------

TORCH_GRID = [
    combo
    for combo in GRID
    if combo[4]  # PyTorch's GRU has only the reset-after form
]


@pytest.mark.parametrize(("index", "combo"), list(enumerate(TORCH_GRID)), ids=combo_id)
def test_pytorch_convention_equals_torch_modules(index: int, combo) -> None:
    torch = pytest.importorskip("torch")

    for spec in specs_for(index, combo):
        rnn, head = torch_reference.build(torch, spec)
        counts = count(spec, "pytorch")
        predicted = [(name, shape) for d in counts.directions for name, shape in d.shapes]
        assert predicted == [(name, tuple(p.shape)) for name, p in rnn.named_parameters()], spec
        assert counts.recurrent_total == sum(p.numel() for p in rnn.parameters())
        head_total = sum(p.numel() for p in head.parameters()) if head else 0
        assert counts.total == counts.recurrent_total + head_total
        assert torch_reference.count(spec) == counts.total


@pytest.mark.filterwarnings("ignore:TF32 acceleration:UserWarning")
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_macs_equal_torch_flop_counter(cell: str) -> None:
    """PyTorch's FlopCounterMode counts the matmuls it really runs: 2 FLOPs per mult-add, biases not counted."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    spec = ModelSpec(cell=cell, units=12, input_size=5, timesteps=6, layers=2, bidirectional=True, classes=3)
    rnn, head = torch_reference.build(torch, spec)
    x = torch.zeros(1, spec.timesteps, spec.input_size)
    # oneDNN's fused LSTM kernel is opaque to the counter; the reference kernel runs the same products.
    with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as counter:
        out, _ = rnn(x)
        head(out[:, -1])
    assert counter.get_total_flops() == count(spec, "pytorch").flops
