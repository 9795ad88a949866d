"""Rows gathered into groups, each figure summarised over a group's members, and the best two compared.

`runs --group-by` (runs across seeds) and `sweep show` (a sweep's configurations) summarise the same way:
the arithmetic mean, the sample standard deviation (n - 1) and the 95% Student t interval of the mean, none
where a group has no value and no spread or interval where it has one. The groups are ranked by one figure
in one direction (parameters: validation accuracy, higher is better, unless a caller says otherwise), and
whether the best is distinguishable from the second best is Welch's t-test on their values. Both commands
call these functions, so the figures of a sweep and of its runs agree; the statistics are SciPy's.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

if TYPE_CHECKING:
    from lstmcli.schemas import Comparison

Row = TypeVar("Row")
# Which way a figure is better, spelled as Optuna spells a study's direction.
Goal = Literal["maximize", "minimize"]
MAXIMIZE: Goal = "maximize"
MINIMIZE: Goal = "minimize"
CONFIDENCE = 0.95  # of each interval of a mean
ALPHA = 0.05  # the level at which the best two are called distinguishable


@dataclass(frozen=True)
class Summary:
    """One figure over a group: mean, sample standard deviation, 95% interval of the mean; None where undefined."""

    mean: float | None
    std: float | None
    low: float | None
    high: float | None


def buckets(rows: Iterable[Row], identity: Callable[[Row], Hashable]) -> list[list[Row]]:
    """The rows with equal identity together, groups and members in the order they first appear."""
    groups: dict[Hashable, list[Row]] = {}
    for row in rows:
        groups.setdefault(identity(row), []).append(row)
    return list(groups.values())


def values_of(rows: Iterable[object], figure: str) -> list[float]:
    """The `figure` attribute of each row that has one (a run not yet evaluated has none), in order."""
    return [value for value in (getattr(row, figure) for row in rows) if value is not None]


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """The mean and sample standard deviation of `values`: (None, None) for none, (mean, None) for one."""
    return (statistics.fmean(values) if values else None, statistics.stdev(values) if len(values) > 1 else None)


@contextmanager
def _scipy_quiet() -> Iterator[None]:
    """SciPy warns of "catastrophic cancellation" when the values are (nearly) all equal; its result is then
    still right to the digits a report shows, and the undefined case (all equal) is handled by the caller."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def interval(values: Sequence[float]) -> tuple[float | None, float | None]:
    """The 95% Student t confidence interval of the mean of `values`: (None, None) for fewer than two."""
    if len(values) < 2:
        return None, None
    # SciPy is imported only here and in `welch`: `lstmcli --help` and `runs` without --group-by never need it.
    from scipy import stats

    with _scipy_quiet():
        low, high = stats.ttest_1samp(values, 0.0).confidence_interval(CONFIDENCE)
    return float(low), float(high)


def summary(values: Sequence[float]) -> Summary:
    """Mean, spread and interval of one figure over a group's members (those that have it)."""
    return Summary(*mean_std(values), *interval(values))


def welch(first: Sequence[float], second: Sequence[float]) -> float | None:
    """The two-sided p-value of Welch's t-test (unequal variances) of two samples' means; None for fewer than
    two values on a side, or where it is undefined (both samples constant, and equal)."""
    if len(first) < 2 or len(second) < 2:
        return None
    from scipy import stats  # lazily, as in `interval`

    with _scipy_quiet():
        p = float(stats.ttest_ind(first, second, equal_var=False).pvalue)
    return p if math.isfinite(p) else None


def ranked(items: Iterable[Row], mean: Callable[[Row], float | None], goal: Goal = MAXIMIZE) -> list[Row]:
    """Best mean first in the direction of `goal`, ties in the order given, items without a mean last."""
    items = list(items)
    present = [item for item in items if mean(item) is not None]
    present.sort(key=lambda item: mean(item), reverse=goal == MAXIMIZE)  # type: ignore[arg-type,return-value]
    return present + [item for item in items if mean(item) is None]


def verdict(values: Sequence[Sequence[float]], figure: str, goal: Goal = MAXIMIZE) -> Comparison | None:
    """Whether the best configuration's `figure` is distinguishable from the second best's: `values` holds each
    configuration's values (one per seed), best first. None without configurations; the sentence says why not."""
    # pydantic loads here, not at import: `lstmcli --help` imports `runs`, and through it this module.
    from lstmcli.schemas import Comparison

    if not values:
        return None
    best, second = values[0], values[1] if len(values) > 1 else None
    p = welch(best, second or [])
    level = f"{ALPHA:.0%}"
    distinguishable = None if p is None else p < ALPHA
    if second is None:
        text = "one configuration: nothing to compare"
    elif p is not None:
        text = (f"best vs second: p = {p:.2g}, distinguishable at {level}" if distinguishable
                else f"best vs second: not distinguishable at {level} (p = {p:.2g}); run more seeds")  # fmt: skip
    elif min(len(best), len(second)) < 2:
        which, count = ("best", len(best)) if len(best) < 2 else ("second", len(second))
        text = f"best vs second: not compared, the {which} has {_seeds(count)} with {figure}; run more seeds"
    else:  # both constant and equal: no test could tell them apart
        distinguishable = False
        text = f"best vs second: not distinguishable, every seed of both gave {statistics.fmean(best):g}"
    difference = statistics.fmean(best) - statistics.fmean(second) if best and second else None
    return Comparison(figure=figure, goal=goal, difference=difference, p_value=p, alpha=ALPHA,
                      distinguishable=distinguishable, text=text)  # fmt: skip


def _seeds(count: int) -> str:
    return f"{count} seed" if count == 1 else f"{count} seeds"
