"""The closed form verified: `count_params()` of the factory's Keras model (PyTorch's is torch_reference)."""

from __future__ import annotations

from lstmcli import runtime
from lstmcli.model.factory import build_model
from lstmcli.model.spec import ModelSpec


def keras_count(spec: ModelSpec) -> int:
    """count_params() of the factory's model: the number the closed form must equal."""
    runtime.tensorflow()
    return int(build_model(spec, cheap=True).count_params())
