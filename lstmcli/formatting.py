"""Numbers, byte counts and shapes as text: the one place their spelling is decided.

The library's messages (a file too large, a model too big to build) and the command views (tables,
Markdown, the blackboard text) format bytes and figures with these functions, so "1.5 GiB" is written
the same way everywhere. Pure Python: no Rich, no NumPy, no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
SPARK = "▁▂▃▄▅▆▇█"


def human_bytes(n: int, smallest: str = "B", largest: str = "TiB", byte_word: str = "B") -> str:
    """A byte count in the largest binary unit (from `smallest` up to `largest`) that keeps it at least 1.

    The smallest unit is written without decimals (`byte_word` spells the bytes themselves: "B" in tables,
    "bytes" in messages), every larger one with one decimal.
    """
    units = BINARY_UNITS[BINARY_UNITS.index(smallest) : BINARY_UNITS.index(largest) + 1]
    value = n / 1024 ** BINARY_UNITS.index(smallest)
    for unit in units:
        if value < 1024 or unit == units[-1]:
            word = byte_word if unit == "B" else unit
            return f"{value:,.0f} {word}" if unit == units[0] else f"{value:,.1f} {word}"
        value /= 1024
    raise AssertionError("unreachable")


def megabytes(n: int) -> str:
    """Bytes in torchinfo's unit: MB of 10^6 bytes, two decimals."""
    return f"{n / 1e6:,.2f}"


def mult_adds_unit(n: int) -> tuple[str, float]:
    """torchinfo's unit for a mult-add count: millions, or billions/trillions when larger."""
    for unit, scale in (("T", 1e12), ("G", 1e9)):
        if n >= scale:
            return unit, scale
    return "M", 1e6


def number(value: Any, spec: str = "") -> str:
    """A figure in a table cell: `-` where there is none."""
    return "-" if value is None else format(value, spec) if spec else str(value)


def spread(mean: float | None, std: float | None, spec: str) -> str:
    """mean ± standard deviation, or the mean alone where one value gives no spread."""
    return number(mean, spec) + ("" if std is None else f" ± {format(std, spec)}")


def confidence(mean: float | None, low: float | None, high: float | None, spec: str) -> str:
    """A 95% interval of a mean as [low, high]; where there is a mean but no interval, the one seed it came from."""
    if low is None or high is None:
        return "-" if mean is None else "1 seed"
    return f"[{format(low, spec)}, {format(high, spec)}]"


def setting(value: Any) -> str:
    """A training option's value as the command line spells it (true/false, 0.002)."""
    if isinstance(value, bool):
        return str(value).lower()
    return number(value, "g" if isinstance(value, float) else "")


def shape(dims: Sequence[int | None] | None) -> str:
    """A tensor shape as Python writes a tuple: (28, 300), (300,), with None for an open axis; ? if unknown."""
    if dims is None:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def sparkline(values: Sequence[float]) -> str:
    """A one-line picture of a series, scaled between its own minimum and maximum."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((v - low) / span * (len(SPARK) - 1) + 0.5))] for v in values)
