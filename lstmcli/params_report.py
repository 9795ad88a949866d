"""Formatting a :class:`ParamCount`: Rich table, Markdown, JSON, and the blackboard explanation.

Nothing here counts; everything here only presents what `lstmcli.arithmetic` counted.
"""

from __future__ import annotations

from typing import Any

from lstmcli.arithmetic import ParamCount, biases_per_gate

CELL_NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}


def layer_label(counts: ParamCount, layer: int, direction: str) -> str:
    label = f"{CELL_NAMES[counts.spec.cell]} {layer + 1}"
    return f"{label} {direction}" if counts.spec.bidirectional else label


def to_json(counts: ParamCount, keras_total: int | None, torch_total: int | None = None) -> dict[str, Any]:
    """The `--format json` object. `keras` is the verified count, or None when not verified."""
    verified = torch_total if counts.convention == "pytorch" else keras_total
    return {
        "spec": counts.spec.to_dict(),
        "convention": counts.convention,
        "total": counts.total,
        "recurrent_total": counts.recurrent_total,
        "keras": keras_total,
        "torch": torch_total,
        "match": None if verified is None else verified == counts.total,
        "layers": [
            {
                "layer": d.layer,
                "direction": d.direction,
                "input_size": d.input_size,
                "units": d.units,
                "total": d.total,
                "macs": d.macs,
                "shapes": {name: list(shape) for name, shape in d.shapes},
                "gates": [
                    {
                        "gate": g.gate,
                        "kernel": g.kernel,
                        "recurrent_kernel": g.recurrent,
                        "bias": g.bias,
                        "total": g.total,
                    }
                    for g in d.gates
                ],
            }
            for d in counts.directions
        ],
        "head": None
        if counts.head is None
        else {
            "inputs": counts.head.inputs,
            "classes": counts.head.classes,
            "kernel": counts.head.kernel,
            "bias": counts.head.bias,
            "total": counts.head.total,
            "shapes": {"kernel": [counts.head.inputs, counts.head.classes], "bias": [counts.head.classes]},
        },
        "macs": counts.macs,
        "flops": counts.flops,
        "memory_bytes": {"float32": counts.weight_bytes("float32"), "bfloat16": counts.weight_bytes("bfloat16")},
        "formula": formula(counts),
    }


def formula(counts: ParamCount) -> str:
    """The closed form of the first layer with the user's numbers, e.g. 4 * (75 * (75 + 28) + 75) = 31200."""
    spec, first = counts.spec, counts.directions[0]
    g, n, m = len(spec.gates), spec.units, first.input_size
    nbias = biases_per_gate(spec, counts.convention)
    bias = "" if nbias == 0 else (f" + {n}" if nbias == 1 else f" + 2 * {n}")
    return f"{g} * ({n} * ({n} + {m}){bias}) = {first.total}"


def rows(counts: ParamCount) -> list[list[str]]:
    """Table rows shared by the Rich and Markdown renderings: gates, subtotals, head, total."""
    out: list[list[str]] = []
    for d in counts.directions:
        label = layer_label(counts, d.layer, d.direction)
        for g in d.gates:
            out.append([label, g.gate, f"{g.kernel:,}", f"{g.recurrent:,}", f"{g.bias:,}", f"{g.total:,}"])
        out.append([label, "subtotal", "", "", "", f"{d.total:,}"])
    if counts.head:
        h = counts.head
        out.append(["Dense head", f"{h.classes} classes", f"{h.kernel:,}", "", f"{h.bias:,}", f"{h.total:,}"])
    out.append(["total", "", "", "", "", f"{counts.total:,}"])
    return out


def shape_rows(counts: ParamCount) -> list[list[str]]:
    """The tensors exactly as the framework stores them (fused gates), one row per layer and direction."""
    out = []
    for d in counts.directions:
        out.append([layer_label(counts, d.layer, d.direction), ", ".join(f"{n} {s}" for n, s in d.shapes)])
    if counts.head:
        h = counts.head
        out.append(["Dense head", f"kernel ({h.inputs}, {h.classes}), bias ({h.classes},)"])
    return out


HEADERS = ["layer", "gate", "kernel", "recurrent kernel", "bias", "params"]


def markdown(counts: ParamCount, verified: int | None, framework: str) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(counts)]
    lines += ["", "| layer | stored as |", "|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in shape_rows(counts)]
    lines.append("")
    lines.append(summary_line(counts, verified, framework))
    return "\n".join(lines) + "\n"


def summary_line(counts: ParamCount, verified: int | None, framework: str) -> str:
    text = f"closed form {counts.total:,} ({counts.convention} convention)"
    if verified is None:
        return text + "; not verified"
    verdict = "match" if verified == counts.total else "MISMATCH"
    return text + f"; {framework} count_params {verified:,}: {verdict}"


def human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def explain(counts: ParamCount) -> str:
    """The arithmetic written out as a teacher would on a board, with the user's numbers."""
    spec = counts.spec
    nbias = biases_per_gate(spec, counts.convention)
    gates = ", ".join(spec.gates)
    g = len(spec.gates)
    lines = [
        f"A {CELL_NAMES[spec.cell]} layer has {g} gate block{'s' if g > 1 else ''} ({gates}).",
        "Each block looks at [h_(t-1), x_t] and owns a kernel for x_t, a recurrent kernel for h_(t-1) and a bias.",
        "",
    ]
    for d in counts.directions:
        n, m = d.units, d.input_size
        label = layer_label(counts, d.layer, d.direction)
        per = d.gates[0]
        bias_text = {0: "no bias", 1: f"bias n = {n}", 2: f"two biases 2n = {2 * n}"}[nbias]
        lines += [
            f"{label}: input m = {m}" + (" (the previous layer's output)" if d.layer else "") + f", units n = {n}",
            f"  per block: kernel m x n = {m} x {n} = {per.kernel:,}; recurrent n x n = {n} x {n} = {per.recurrent:,}; "
            f"{bias_text}",
            f"  per block: {per.kernel:,} + {per.recurrent:,} + {per.bias:,} = {per.total:,}",
            f"  {g} blocks: {g} x {per.total:,} = {d.total:,}   i.e. {g} * (n * (n + m) + {nbias}n) "
            f"= {g} * ({n} * {n + m} + {nbias * n}) = {d.total:,}",
        ]
    if counts.head:
        h = counts.head
        lines += [f"Dense head: {h.inputs} x {h.classes} weights + {h.classes} biases = {h.total:,}"]
    lines += [f"Total: {counts.total:,} parameters", ""]
    lines += notes(counts)
    return "\n".join(lines).rstrip() + "\n"


def notes(counts: ParamCount) -> list[str]:
    """Short explanations of what users ask about most: GRU's reset_after, Bidirectional, PyTorch biases."""
    spec, out = counts.spec, []
    if spec.cell == "gru" and counts.convention == "keras":
        if spec.reset_after:
            out.append(
                "GRU reset_after=True (Keras's default, and cuDNN's): the reset gate is applied after the "
                "recurrent product, r * (U h + b_rec), so each block keeps an input bias and a recurrent bias; "
                "Keras stores them as bias of shape (2, 3n)."
            )
        else:
            out.append(
                "GRU reset_after=False (the original paper): the reset gate is applied before the product, "
                "U (r * h), so a single bias per block suffices: bias of shape (3n,)."
            )
    if spec.bidirectional:
        out.append(
            "Bidirectional: a second, independent copy of each layer reads the sequence backwards, so the "
            f"parameters double, and the outputs are concatenated: the next layer (or head) sees 2n = {2 * spec.units} "
            "features."
        )
    if counts.convention == "pytorch" and spec.use_bias:
        out.append(
            "PyTorch convention: torch.nn.LSTM/GRU/RNN keep two bias vectors per block, b_ih and b_hh, where Keras "
            "keeps one (except GRU with reset_after). Their sum acts as one bias, so the model is the same; "
            f"the count differs by {g_n(counts)} per direction."
        )
    return out


def g_n(counts: ParamCount) -> str:
    g, n = len(counts.spec.gates), counts.spec.units
    return f"g x n = {g} x {n} = {g * n:,}"


def cost_line(counts: ParamCount) -> str:
    """Compute and memory, as torchinfo reports them: mult-adds of one forward pass, weight bytes."""
    return (
        f"one forward pass over {counts.spec.timesteps} steps: {counts.macs:,} mult-adds ({counts.flops:,} FLOPs); "
        f"weights {human_bytes(counts.weight_bytes('float32'))} float32, "
        f"{human_bytes(counts.weight_bytes('bfloat16'))} bfloat16"
    )
