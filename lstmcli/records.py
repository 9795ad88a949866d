"""The records a run writes and reads back besides config.json: the rows of its training history.

A row lives in two places, `checkpoint.npz` (JSON, which `--resume` continues from) and `history.csv` (which
`runs`, the plots and a spreadsheet read), and either may have been edited by hand or written by another
version. Both are read through `HistoryRow`, field by field, so a missing field, an unknown one or a NaN where a
step number belongs is one error naming the row and the field, never a traceback or a row taken in silence.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class HistoryRow(BaseModel):
    """One chunk of training: its means, and the evaluation measured at its last step (when there was one).

    `learning_rate` and the validation figures came in lstmcli 0.2; rows of lstmcli 0.1 runs lack them.
    Losses may be NaN or infinite (a run that diverged records what it measured); nothing else may.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: Annotated[int, Field(ge=0)]
    epoch: Count
    seconds: Count
    learning_rate: Count | None = None
    train_loss: float
    # The task's figure (lstmcli.tasks: Task.metric): accuracy for a classifier (every run before the tasks
    # came), the MSE for a regressor, the recalled symbols' accuracy for the copy task.
    train_accuracy: Fraction | None = None
    train_mse: float | None = None
    train_recall_accuracy: Fraction | None = None
    val_loss: float | None = None
    val_accuracy: Fraction | None = None
    val_mse: float | None = None
    val_recall_accuracy: Fraction | None = None
    test_loss: float | None = None
    test_accuracy: Fraction | None = None
    test_mse: float | None = None
    test_recall_accuracy: Fraction | None = None

    @field_validator("step", mode="before")
    @classmethod
    def _whole_step(cls, value: Any) -> Any:
        """history.csv writes numbers as text; a step read back as "100.0" is still step 100, "nan" is not."""
        if isinstance(value, str):
            number = float(value)
            if not math.isfinite(number) or number != int(number):
                raise ValueError("a step is a whole number")
            return int(number)
        return value


FIELDS = tuple(HistoryRow.model_fields)
# history.csv's columns for a classifier, in the order every run before the tasks wrote them.
CLASSIFIER_COLUMNS = ("step", "epoch", "seconds", "learning_rate", "train_loss", "train_accuracy", "val_loss",
                      "val_accuracy", "test_loss", "test_accuracy")  # fmt: skip
_COMMON = ("step", "epoch", "seconds", "learning_rate", "train_loss", "val_loss", "test_loss")


def columns(rows: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """history.csv's header: a classifier's columns as they always were, another task's with its own figure."""
    present = {key for row in rows for key in row}
    if present <= set(CLASSIFIER_COLUMNS):
        return CLASSIFIER_COLUMNS
    return tuple(f for f in FIELDS if f in present or f in _COMMON)


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "row"
    return f"{where}: {first['msg']}" if first["type"] != "extra_forbidden" else f"{where}: not a field of a row"


def history(rows: Iterable[Mapping[str, Any]], strict: bool) -> list[dict[str, float]]:
    """The rows as plain dicts (fields left out where absent), validated; ValueError naming the first bad one.

    `strict` for rows read from JSON (numbers must be numbers, a step an integer); text from a CSV is parsed.
    """
    checked = []
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"history row {index + 1} is not a record of fields")
        try:
            value = HistoryRow.model_validate(dict(row), strict=strict)
        except ValidationError as exc:
            raise ValueError(f"history row {index + 1}: {_problem(exc)}") from None
        checked.append(value.model_dump(exclude_none=True))
    return checked
