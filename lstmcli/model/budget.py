"""The inverse question: how many units buy a model of about P parameters?

Pure Python on the closed form (no TensorFlow), so `params --budget` answers at once and `sweep --budget`
can call the same function. The count of a recurrent classifier grows strictly with its units (every layer
has g * n * (n + m) weights or more), so a binary search over n finds the two neighbours of any budget
exactly, with `count` itself as the oracle: there is no second formula to drift from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lstmcli.errors import FieldError, literal
from lstmcli.model.count import count
from lstmcli.model.spec import MAX_SIZE, ModelSpec


@dataclass(frozen=True)
class Fit:
    """One candidate: the units and the whole model's parameter count with them."""

    units: int
    total: int


def total_with(spec: ModelSpec, units: int, convention: str = "keras") -> int:
    """The parameter count of `spec` with `units` units (its own units are ignored)."""
    return count(replace(spec, units=units), convention).total


def closest_units(spec: ModelSpec, budget: int, convention: str = "keras") -> tuple[Fit | None, Fit | None]:
    """The largest model with at most `budget` parameters and the smallest with at least `budget`.

    `below` is None when even one unit costs more than the budget; both are the same Fit when some n hits
    the budget exactly. `spec.units` is ignored; every other field (cell, layers, input, head...) is kept.
    """
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise FieldError(
            "budget", f"{{budget}} must be a whole number of parameters, at least 1, got {literal(repr(budget))}"
        )
    if spec.proj_size:
        raise FieldError("budget", "{budget} searches the units of a model without a projection; drop {proj_size}")
    low, high = 1, MAX_SIZE
    if total_with(spec, high, convention) < budget:
        raise FieldError("budget", f"{{budget}} {budget:,} needs more than {MAX_SIZE:,} units; give a smaller budget")
    if total_with(spec, low, convention) > budget:
        return None, Fit(low, total_with(spec, low, convention))
    # Invariant: total(low) <= budget < total(high), or total(high) == budget.
    while high - low > 1:
        middle = (low + high) // 2
        if total_with(spec, middle, convention) <= budget:
            low = middle
        else:
            high = middle
    below = Fit(low, total_with(spec, low, convention))
    if below.total == budget:
        return below, below
    return below, Fit(high, total_with(spec, high, convention))


def closest(below: Fit | None, above: Fit | None, budget: int) -> Fit:
    """The nearer of the two neighbours (the smaller model on a tie: it is the one that fits the budget)."""
    if below is None:
        assert above is not None
        return above
    if above is None or budget - below.total <= above.total - budget:
        return below
    return above
