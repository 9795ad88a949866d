"""PyTorch's own count of the same network, for `params --convention pytorch` (torch is optional)."""

from __future__ import annotations

from lstmcli.spec import ModelSpec


def count(spec: ModelSpec) -> int | None:
    """Parameters of torch.nn.LSTM/GRU/RNN (+ Linear head) for `spec`, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    modules = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}
    rnn = modules[spec.cell](
        input_size=spec.input_size,
        hidden_size=spec.units,
        num_layers=spec.layers,
        bias=spec.use_bias,
        batch_first=True,
        bidirectional=spec.bidirectional,
    )
    total = sum(p.numel() for p in rnn.parameters())
    if spec.classes:
        total += sum(p.numel() for p in torch.nn.Linear(spec.output_size, spec.classes).parameters())
    return int(total)
