"""The columns of `lstmcli runs`: the names its --sort, --where and --group-by take.

Apart from lstmcli.runs so that the command line can offer them as choices without loading what reads the runs
(pydantic's records, whose import is a large share of `lstmcli --help`'s start-up).
"""

from __future__ import annotations

# The columns of a row, in table order.
COLUMNS = (
    "run", "cell", "units", "layers", "batch", "lr", "schedule", "seed", "parameters", "steps",
    "best_val_accuracy", "test_accuracy", "test_loss", "seconds", "status",
)  # fmt: skip
# The figures of the tasks that are not the article's (lstmcli.tasks), where a run has them.
TASK_COLUMNS = ("task", "test_mse", "test_recall_accuracy")
SORT_KEYS = (*COLUMNS, *TASK_COLUMNS)
