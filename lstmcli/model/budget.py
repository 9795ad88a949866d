"""Units for a parameter budget: the model sizes on either side of a count, found from the closed form.

A comparison of cells is fair at equal size, not equal units (an LSTM has 4 gate blocks where a SimpleRNN
has 1). The count grows strictly with the units, so a binary search over `units` with
lstmcli.model.count as the oracle finds, exactly and without building a model, the largest model at or
below the budget and the smallest above it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lstmcli.model.count import count
from lstmcli.model.spec import MAX_SIZE, ModelSpec


@dataclass(frozen=True)
class Fit:
    """A number of units and the parameter count of the model it gives."""

    units: int
    total: int


def _fit(spec: ModelSpec, units: int) -> Fit:
    return Fit(units, count(replace(spec, units=units)).total)


def closest_units(spec: ModelSpec, budget: int) -> tuple[Fit | None, Fit | None]:
    """The largest units whose model has at most `budget` parameters, and the smallest with at least that many.

    Both are the same Fit when some units hit the budget exactly. Either side is None where no such model
    exists (below: the budget is smaller than the 1-unit model; above: it exceeds the largest model lstmcli
    builds). `spec.units` is ignored.
    """
    smallest = _fit(spec, 1)
    if smallest.total > budget:
        return None, smallest
    largest = _fit(spec, MAX_SIZE)
    if largest.total <= budget:
        return largest, None
    low, high = smallest, largest  # invariant: low.total <= budget < high.total
    while high.units - low.units > 1:
        middle = _fit(spec, (low.units + high.units) // 2)
        if middle.total <= budget:
            low = middle
        else:
            high = middle
    return (low, low) if low.total == budget else (low, high)


def closest(below: Fit | None, above: Fit | None, budget: int) -> Fit:
    """Whichever of the two is nearer the budget; on a tie the smaller model, which stays within it."""
    if below is None and above is None:
        raise ValueError("no model on either side of the budget")
    if below is None:
        return above  # type: ignore[return-value]
    if above is None:
        return below
    return below if budget - below.total <= above.total - budget else above
