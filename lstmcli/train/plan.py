"""What a run's configuration comes to on its data, worked out once before anything is written.

lstmcli.train.runner makes the Plan (and refuses what cannot run) before the run folder exists; the Session
builds from it, so the split's size, the steps and the evaluation period are derived in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from lstmcli.datasets import Dataset
from lstmcli.model.spec import ModelSpec
from lstmcli.schemas import SequenceData
from lstmcli.tasks import Task
from lstmcli.train.config import TrainConfig
from lstmcli.train.loop import Timeline


@dataclass(frozen=True)
class Plan:
    """A validated config with its derived values: `config.validation` is the count of examples held out (a
    generated task's validation stream)."""

    config: TrainConfig
    data: Dataset
    spec: ModelSpec
    held_out: int
    timeline: Timeline
    task: Task
    train_size: int  # examples trained on: the images not held out, or a generated task's training stream
    record: SequenceData | None = None  # the user's sequences: their kind, shape and statistics (data.json)
