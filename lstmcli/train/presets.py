"""The presets: every training default, written once, and the choices each option takes.

Pure Python without pydantic, so `lstmcli --help` can print the defaults and choices in a fraction of
TensorFlow's (and pydantic's) import time; lstmcli.train.config takes its field defaults from here.
"""

from __future__ import annotations

from typing import Any

SCHEDULES = ("constant", "cosine")
ORDERS = ("sequential", "shuffle")
# Which held-out set the periodic evaluation measures: the validation split, or (the article's way, kept
# only by the seed preset) the test set itself.
EVAL_SETS = ("validation", "test")
KEEPS = ("last", "best")

# The default run: the article's model and Adam, with batches of 250 and a cosine-decayed learning rate that
# starts at 1e-2, for 6 shuffled epochs, evaluated once per epoch on a validation split of a twelfth of the
# training images. How it was chosen, on validation accuracy, and what it reaches: docs/experiment.md.
DEFAULT_PRESET: dict[str, Any] = {
    "batch_size": 250,
    "learning_rate": 1e-2,
    "schedule": "cosine",
    "steps": None,
    "epochs": 6.0,
    "eval_every": None,
    "checkpoint_every": 1000,
    "order": "shuffle",
    "seed": 0,
    "validation": 1 / 12,  # 5,000 of MNIST's 60,000 training images
    "eval_set": "validation",
    "keep": "last",
    "target_accuracy": 0.98,
    # The task (lstmcli.tasks): the article's rows of MNIST; a generated task's length comes from TASK_DEFAULTS.
    "task": "rows",
    "length": None,
    "task_seed": 0,
    "clip_norm": None,  # no clipping: the article's recipe has none
}

# The article's schedule: 50,000 steps of batch 50 taken in order, Adam at a constant 1e-3, and the test
# set evaluated every 100 steps, as it printed it (no validation split).
SEED_PRESET: dict[str, Any] = {
    **DEFAULT_PRESET,
    "batch_size": 50,  # written out: the default's batch is not the article's
    "learning_rate": 1e-3,
    "schedule": "constant",
    "steps": 50_000,
    "epochs": None,
    "eval_every": 100,
    "order": "sequential",
    "validation": 0.0,
    "eval_set": "test",
}

PRESETS = {"default": DEFAULT_PRESET, "seed": SEED_PRESET}
TASKS = ("rows", "pixels", "permuted", "adding", "copy", "sequences")
# The tasks whose shape is their data file's (lstmcli.tasks.FILE_TASKS): `params --task` cannot count them.
FILE_TASKS = ("sequences",)

# Each task's training defaults, over the preset it starts from (rows: the default preset as it is). `length` is
# the generated tasks' sequence length T (lstmcli.tasks defines what T means for each). The pixel tasks read 784
# steps per image, so their default is a short run past chance; a full run is a --steps the user chooses. The
# generated tasks clip the gradient's global norm at 1, as the published setups do (docs/tasks.md).
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "rows": {},
    "pixels": {"learning_rate": 1e-3, "batch_size": 100, "schedule": "constant", "steps": 1000, "epochs": None,
               "eval_every": 250},
    "permuted": {"learning_rate": 1e-3, "batch_size": 100, "schedule": "constant", "steps": 1000, "epochs": None,
                 "eval_every": 250},
    "adding": {"length": 50, "learning_rate": 1e-2, "batch_size": 50, "steps": 1000, "epochs": None,
               "eval_every": 250, "clip_norm": 1.0},
    "copy": {"length": 10, "learning_rate": 1e-2, "batch_size": 50, "steps": 3000, "epochs": None,
             "eval_every": 250, "clip_norm": 1.0},
    # The user's own sequences (--data): the default preset, whose epochs and split follow the file's size.
    "sequences": {},
}  # fmt: skip
