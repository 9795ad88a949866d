"""PyTorch's own count of the same network, for `params --convention pytorch` (torch is optional)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from lstmcli.model.spec import TORCH_NAMES, ModelSpec


def build(torch: ModuleType, spec: ModelSpec) -> tuple[Any, Any]:
    """torch.nn.LSTM/GRU/RNN for `spec`, and the Linear head (None when classes is 0)."""
    extra = {"proj_size": spec.proj_size} if spec.proj_size else {}
    rnn = getattr(torch.nn, TORCH_NAMES[spec.cell])(
        **extra,
        input_size=spec.input_size,
        hidden_size=spec.units,
        num_layers=spec.layers,
        bias=spec.use_bias,
        batch_first=True,
        bidirectional=spec.bidirectional,
    )
    head = torch.nn.Linear(spec.output_size, spec.classes) if spec.classes else None
    return rnn, head


def count(spec: ModelSpec) -> int | None:
    """Parameters of the PyTorch network for `spec`, or None without torch."""
    try:
        import torch  # optional, and seconds to import: only when the PyTorch count is asked for
    except ImportError:
        return None
    rnn, head = build(torch, spec)
    modules = [rnn] if head is None else [rnn, head]
    return int(sum(p.numel() for m in modules for p in m.parameters()))
