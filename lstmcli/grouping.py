"""Rows gathered into groups, and the mean and spread of a figure over each group's members.

`runs --group-by` (runs across seeds) and `sweep show` (a sweep's configurations) summarise the same way:
the arithmetic mean and the sample standard deviation (n - 1), none where a group has no value and no
spread where it has one. Both call these two functions, so the figures of a sweep and of its runs agree.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TypeVar

Row = TypeVar("Row")


def buckets(rows: Iterable[Row], identity: Callable[[Row], Hashable]) -> list[list[Row]]:
    """The rows with equal identity together, groups and members in the order they first appear."""
    groups: dict[Hashable, list[Row]] = {}
    for row in rows:
        groups.setdefault(identity(row), []).append(row)
    return list(groups.values())


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """The mean and sample standard deviation of `values`: (None, None) for none, (mean, None) for one."""
    return (statistics.fmean(values) if values else None, statistics.stdev(values) if len(values) > 1 else None)
