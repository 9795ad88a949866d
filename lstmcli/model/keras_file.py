"""A saved Keras model (.keras or a run folder): every layer as Keras's summary() lists it, and the closed form
of each recurrent layer checked against that layer's own count_params().

Covered by the closed form: LSTM, GRU (either reset_after), SimpleRNN, keras.layers.RNN around their cells,
and Bidirectional around any of them (with the same cell both ways). Every other layer is counted by Keras
and shown as such, so the total is always the model's count_params(). Loading goes through
lstmcli.model.load.load_keras: safe mode unless --unsafe, one line for every kind of damaged file.
"""

from __future__ import annotations

from pathlib import Path

from lstmcli import runtime
from lstmcli.model.keras_model import describe_model
from lstmcli.model.load import load_keras, resolve_model_path
from lstmcli.model.report import FileReport


def read(target: Path, unsafe: bool, timesteps: int | None, batch: int) -> FileReport:
    """Load the model (safe mode unless `unsafe`) and describe every layer, with memory for `batch` sequences."""
    path = resolve_model_path(target)
    runtime.tensorflow()
    return describe_model(load_keras(path, unsafe), path, timesteps, batch)
