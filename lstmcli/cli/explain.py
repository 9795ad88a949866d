"""`lstmcli params --explain`: the arithmetic of a :class:`ParamsReport` written out as on a blackboard.

Nothing here counts; it only presents what `lstmcli.model.count` counted. Plain text (no Rich): the
params view prints it, and the JSON carries it as `explanation`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lstmcli.formatting import human_bytes
from lstmcli.model.count import biases_per_gate, count
from lstmcli.model.spec import CELL_NAMES, ModelSpec

if TYPE_CHECKING:
    from lstmcli.schemas import ParamsReport

EQUATIONS: dict[str, tuple[str, ...]] = {
    "lstm": (
        "i_t  = sigmoid(W_i x_t + U_i h_(t-1) + b_i)      input gate",
        "f_t  = sigmoid(W_f x_t + U_f h_(t-1) + b_f)      forget gate",
        "C'_t = tanh(W_c x_t + U_c h_(t-1) + b_c)         candidate",
        "o_t  = sigmoid(W_o x_t + U_o h_(t-1) + b_o)      output gate",
        "C_t  = f_t * C_(t-1) + i_t * C'_t;   h_t = o_t * tanh(C_t)",
    ),
    "gru_after": (
        "z_t  = sigmoid(W_z x_t + b_z + U_z h_(t-1) + b'_z)            update gate",
        "r_t  = sigmoid(W_r x_t + b_r + U_r h_(t-1) + b'_r)            reset gate",
        "h'_t = tanh(W_h x_t + b_h + r_t * (U_h h_(t-1) + b'_h))       candidate",
        "h_t  = z_t * h_(t-1) + (1 - z_t) * h'_t",
    ),
    "gru_before": (
        "z_t  = sigmoid(W_z x_t + U_z h_(t-1) + b_z)                   update gate",
        "r_t  = sigmoid(W_r x_t + U_r h_(t-1) + b_r)                   reset gate",
        "h'_t = tanh(W_h x_t + U_h (r_t * h_(t-1)) + b_h)              candidate",
        "h_t  = z_t * h_(t-1) + (1 - z_t) * h'_t",
    ),
    "rnn": ("h_t = tanh(W x_t + U h_(t-1) + b)",),
}


def layer_label(spec: ModelSpec, layer: int, direction: str) -> str:
    """LSTM 1, or LSTM 1 forward / backward in a bidirectional model: how tables and the blackboard name a layer."""
    label = f"{CELL_NAMES[spec.cell]} {layer + 1}"
    return f"{label} {direction}" if spec.bidirectional else label


def equations(counts: ParamsReport) -> tuple[str, ...]:
    spec = counts.spec
    if spec.cell == "gru":
        # PyTorch's GRU is always the reset-after form; Keras follows --reset-after.
        after = spec.reset_after or counts.convention == "pytorch"
        return EQUATIONS["gru_after" if after else "gru_before"]
    return EQUATIONS[spec.cell]


def _plural(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


def explain(counts: ParamsReport) -> str:
    """The arithmetic written out as a teacher would on a board, with the user's numbers."""
    spec = counts.spec
    nbias = biases_per_gate(spec, counts.convention)
    g = len(spec.gates)
    name = CELL_NAMES[spec.cell]
    article = "An" if name[0] in "AEFHILMNORSX" else "A"
    bias_kind = {0: "no bias", 1: "a bias", 2: "two biases"}[nbias]
    lines = [
        f"{article} {name} layer has {_plural(g, 'gate block')} ({', '.join(spec.gates)}).",
        f"Each block looks at [h_(t-1), x_t] and owns a kernel W for x_t, a recurrent kernel U for h_(t-1) and "
        f"{bias_kind}:",
        "",
        *(f"  {line}" for line in equations(counts)),
        "",
        "W . [h_(t-1), x_t] in the article is W x_t + U h_(t-1) written as one matrix of (n + m) x n weights.",
        "",
    ]
    bias_words = {
        0: "no bias (--no-bias)",
        1: "bias n = {n}",
        2: ("two biases b_ih + b_hh = 2n = {two}" if counts.convention == "pytorch" else
            "input and recurrent bias 2n = {two}"),
    }[nbias]  # fmt: skip
    bias_term = {0: "", 1: " + n", 2: " + 2n"}[nbias]
    r, rname = spec.state_size, "p" if spec.proj_size else "n"
    for d in counts.layers:
        n, m = d.units, d.input_size
        label = layer_label(spec, d.layer, d.direction)
        per = d.gates[0]
        where = ""
        if d.layer:
            where = " (the previous layer's output" + (", both directions concatenated)" if spec.bidirectional else ")")
        bias_num = {0: "", 1: f" + {n}", 2: f" + {2 * n}"}[nbias]
        proj = f", projection p = {r}" if spec.proj_size else ""
        lines += [
            f"{label}: input m = {m}{where}, units n = {n}{proj}",
            f"  per block: kernel m x n = {m} x {n} = {per.kernel:,}; recurrent {rname} x n = {r} x {n} = "
            f"{per.recurrent_kernel:,}; " + bias_words.format(n=n, two=2 * n),
            f"  per block: {per.kernel:,} + {per.recurrent_kernel:,} + {per.bias:,} = {per.total:,}",
        ]
        if spec.proj_size:
            lines.append(
                f"  {g} blocks + projection weight_hr p x n: {g} x {per.total:,} + {r} x {n} = {d.total:,}   "
                f"i.e. {g} * (n * (p + m){bias_term}) + p * n = {g} * ({n} * {r + m}{bias_num}) + {r * n:,} "
                f"= {d.total:,}"
            )
            continue
        lines.append(
            f"  {g} blocks: {g} x {per.total:,} = {d.total:,}   i.e. {g} * (n * (n + m){bias_term}) "
            f"= {g} * ({n} * {n + m}{bias_num}) = {d.total:,}"
        )
    parts = [f"{d.total:,}" for d in counts.layers]
    if counts.head:
        h = counts.head
        lines += [f"Dense head: {h.inputs} x {h.classes} weights + {h.classes} biases = {h.total:,}"]
        parts.append(f"{h.total:,}")
    total = f"{' + '.join(parts)} = {counts.total:,}" if len(parts) > 1 else f"{counts.total:,}"
    lines += [f"Total: {total} parameters", ""]
    lines += mult_adds(counts)
    lines += [""]
    for note in notes(counts):
        lines += [note, ""]
    return "\n".join(lines).rstrip() + "\n"


def mult_adds(counts: ParamsReport) -> list[str]:
    """The compute side of the blackboard: matrix products per step, steps, head, and weight memory."""
    spec = counts.spec
    g, t = len(spec.gates), spec.timesteps
    lines = [
        f"Mult-adds for one sample: at every step x_t meets the kernel (m x {g}n) and h_(t-1) the recurrent "
        f"kernel (n x {g}n), {g} * n * (m + n) multiply-adds; the {t} steps repeat them."
        + (f" With a projection h_(t-1) has p numbers (recurrent kernel p x {g}n), and W_hr adds p * n per step." if
           spec.proj_size else "")
    ]  # fmt: skip
    r, p = spec.state_size, spec.proj_size
    for d in counts.layers:
        n, m = d.units, d.input_size
        if d.direction == "backward":
            lines.append(f"  {layer_label(spec, d.layer, d.direction)}: the same, {d.macs:,}")
            continue
        per_step = g * n * (m + r) + p * n
        projection = f" + {p} * {n}" if p else ""
        lines.append(
            f"  {layer_label(spec, d.layer, d.direction)}: {g} * {n} * ({m} + {r}){projection} = {per_step:,} "
            f"per step x {t} steps = {d.macs:,}"
        )
    if counts.head:
        h = counts.head
        if h.steps > 1:
            per_step = f"{h.inputs} x {h.classes} x {h.steps}"
            lines.append(f"  Dense head, the same weights at each of the {h.steps} steps: {per_step} = {h.macs:,}")
        else:
            lines.append(f"  Dense head, once on the last h_t: {h.inputs} x {h.classes} = {h.macs:,}")
    lines += [
        f"  total {counts.macs:,} mult-adds = {counts.flops:,} FLOPs (bias additions, activations and the "
        "elementwise gate products are not counted)",
        f"Weights in memory: {counts.total:,} x 4 bytes = {human_bytes(counts.memory_bytes['float32'])} float32; "
        f"x 2 bytes = {human_bytes(counts.memory_bytes['bfloat16'])} bfloat16.",
    ]
    return lines


def notes(counts: ParamsReport) -> list[str]:
    """What users ask about most: GRU's reset_after, Bidirectional and stacking, Keras vs PyTorch biases."""
    spec, out = counts.spec, []
    n, g = spec.units, len(spec.gates)
    if spec.cell == "gru":
        if counts.convention == "pytorch":
            out.append(
                "GRU in PyTorch: torch.nn.GRU always applies the reset gate after the recurrent product, "
                "r * (W_hn h + b_hn), which is Keras's reset_after=True; --no-reset-after has no PyTorch "
                "counterpart and does not change this count."
            )
        elif spec.reset_after:
            out.append(
                "GRU reset_after=True (Keras's default, and cuDNN's): the reset gate multiplies the recurrent "
                "product after it is taken, r * (U h + b'), so the recurrent bias b' cannot be merged into the input "
                f"bias: each block keeps two, stored as bias of shape (2, 3n) = (2, {3 * n}): row 0 for x_t, "
                "row 1 for h_(t-1)."
                if spec.use_bias
                else "GRU reset_after=True: with --no-bias there are no biases, so both GRU forms count the same."
            )
        else:
            out.append(
                "GRU reset_after=False (the original paper's form): the reset gate is applied before the product, "
                f"U (r * h), so one bias per block suffices: bias of shape (3n,) = ({3 * n},)."
            )
    if spec.bidirectional:
        out.append(
            "Bidirectional: a second, independent copy of each layer (own W, U, b) reads the sequence backwards, "
            f"so each layer's parameters double, and the two outputs are concatenated: the next layer (or the head) "
            f"sees 2n = {2 * n} features, not n."
        )
    if spec.layers > 1:
        out.append(
            f"Stacked layers: layer 1 reads the m = {spec.input_size} input features; every later layer reads the "
            f"previous layer's h_t at each step, so its m is {spec.output_size}, and its kernel is "
            f"{spec.output_size} x {g}n."
        )
    out.append(convention_note(counts))
    return out


def convention_note(counts: ParamsReport) -> str:
    """Where and why Keras and PyTorch count differently: PyTorch's second bias b_hh."""
    spec = counts.spec
    g, n = len(spec.gates), spec.units
    other = "pytorch" if counts.convention == "keras" else "keras"
    totals = {counts.convention: counts.total, other: count(spec, other).total}
    copies = spec.layers * spec.directions
    both = f"Keras {totals['keras']:,}, PyTorch {totals['pytorch']:,}"
    torch_name = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[spec.cell]
    if not spec.use_bias:
        return f"Keras vs PyTorch: with --no-bias neither keeps recurrent biases, so they agree: {both}" + (
            " (the Dense/Linear head keeps its bias in both)." if spec.classes else "."
        )
    if spec.cell == "gru" and spec.reset_after:
        return (
            "Keras vs PyTorch: Keras's reset-after GRU already keeps two biases per block, exactly torch.nn.GRU's "
            f"bias_ih_l0 and bias_hh_l0 (3n = {3 * n} each), so the counts agree: {both}."
        )
    diff = totals["pytorch"] - totals["keras"]
    per = f"{g}n = {g} x {n} = {g * n:,}"
    times = f" x {copies} (layers x directions) = {diff:,}" if copies > 1 else ""
    if spec.cell == "gru":
        return (
            "Keras vs PyTorch: Keras's reset-before GRU (--no-reset-after) keeps one bias per block, bias (3n,); "
            "torch.nn.GRU exists only in the reset-after form, with bias_ih_l0 and bias_hh_l0 (3n each), where "
            "b_hn sits inside r * (W_hn h + b_hn) and cannot be folded into b_in. So PyTorch counts "
            f"{per} more parameters per layer and direction{times}, and here the models really differ: {both}."
        )
    return (
        f"Keras vs PyTorch: Keras keeps one bias per block, bias ({g}n,); torch.nn.{torch_name} keeps two, "
        f"bias_ih_l0 (added to W x_t) and bias_hh_l0 (added to U h_(t-1)), {g}n each. Only their sum b_ih + b_hh "
        f"ever reaches the gates, so it acts as Keras's single b and the two models compute the same functions, "
        f"but PyTorch counts {per} more parameters per layer and direction{times}: {both}."
    )
