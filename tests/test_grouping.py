"""lstmcli/grouping.py: the interval of a mean over seeds and the verdict on the best two, held to values computed
here without SciPy (printed t-table quantiles, and the t distribution integrated with NumPy)."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from lstmcli.grouping import ALPHA, interval, ranked, summary, verdict, welch

# Two-sided 95% quantiles t(0.975, df) as printed in any t table (to three decimals).
T_TABLE = {2: 4.303, 4: 2.776, 9: 2.262}


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with `df` degrees of freedom: 1 minus the density integrated on [0, |t|]
    (Simpson's rule on a fine grid; the density from its closed form with the gamma function)."""
    x = np.linspace(0.0, abs(t), 200_001)
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    density = np.exp(log_c - (df + 1) / 2 * np.log1p(x**2 / df))
    h = x[1] - x[0]
    inside = h / 3 * (density[0] + density[-1] + 4 * density[1:-1:2].sum() + 2 * density[2:-1:2].sum())
    return 1.0 - 2.0 * inside


def welch_by_hand(a: list[float], b: list[float]) -> float:
    """Welch's t and the Welch-Satterthwaite degrees of freedom, then the two-sided p-value."""
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    t = (np.mean(a) - np.mean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return t_two_sided_p(t, df)


@pytest.mark.parametrize(
    "values",
    [[0.9881, 0.9874, 0.9879], [0.10, 0.20, 0.30, 0.25, 0.15], [12.0, 15.0, 11.0, 14.0, 13.0, 16.0, 12.5, 14.5,
                                                                 13.5, 11.5]],
)  # fmt: skip
def test_the_interval_is_the_mean_plus_minus_t_times_the_standard_error(values: list[float]) -> None:
    n = len(values)
    half = T_TABLE[n - 1] * np.std(values, ddof=1) / math.sqrt(n)
    low, high = interval(values)
    assert low is not None and high is not None
    assert (low + high) / 2 == pytest.approx(np.mean(values), rel=1e-12)
    assert (high - low) / 2 == pytest.approx(half, rel=2e-4)  # the table's three decimals


def test_the_t_integration_reproduces_the_t_table() -> None:
    """The hand-made p-value is itself right: at the table's quantile it gives 5%."""
    for df, quantile in T_TABLE.items():
        assert t_two_sided_p(quantile, df) == pytest.approx(0.05, abs=2e-4)


def test_one_value_has_a_mean_but_no_spread_nor_interval_and_none_has_nothing() -> None:
    assert summary([0.9]) == summary([0.9]).__class__(0.9, None, None, None)
    assert summary([]).mean is None and interval([]) == (None, None)
    assert interval([0.5, 0.5, 0.5]) == (0.5, 0.5)  # no spread: the interval is the point


@pytest.mark.parametrize(
    ("best", "second"),
    [([0.91, 0.92, 0.90], [0.81, 0.83, 0.80]), ([0.98, 0.97, 0.985, 0.99], [0.96, 0.975]),
     ([0.90, 0.92, 0.91], [0.905, 0.915, 0.895]), ([1.0, 3.0, 8.0], [2.0, 2.5])],
)  # fmt: skip
def test_welch_p_value_matches_the_hand_computation(best: list[float], second: list[float]) -> None:
    assert welch(best, second) == pytest.approx(welch_by_hand(best, second), abs=1e-6)


def test_a_clear_difference_is_distinguishable() -> None:
    best, second = [0.91, 0.92, 0.90], [0.81, 0.83, 0.80]
    result = verdict([best, second, [0.1, 0.2]], "val_accuracy")
    assert result is not None
    p = welch_by_hand(best, second)
    assert p < ALPHA
    assert result.p_value == pytest.approx(p, abs=1e-6)
    assert result.distinguishable is True
    assert result.difference == pytest.approx(statistics.fmean(best) - statistics.fmean(second))
    assert (result.figure, result.goal, result.alpha) == ("val_accuracy", "maximize", 0.05)
    assert result.text == f"best vs second: p = {p:.2g}, distinguishable at 5%"


def test_an_overlap_is_not_distinguishable_and_asks_for_more_seeds() -> None:
    best, second = [0.90, 0.92, 0.91], [0.905, 0.915, 0.895]
    result = verdict([best, second], "val_accuracy")
    assert result is not None
    p = welch_by_hand(best, second)
    assert p > ALPHA
    assert result.distinguishable is False
    assert result.text == f"best vs second: not distinguishable at 5% (p = {p:.2g}); run more seeds"


@pytest.mark.parametrize(
    ("values", "says"),
    [([[0.9], [0.8, 0.85]], "the best has 1 seed with val_accuracy"),
     ([[0.9, 0.91], [0.8]], "the second has 1 seed with val_accuracy"),
     ([[0.9, 0.91], []], "the second has 0 seeds with val_accuracy")],
)  # fmt: skip
def test_fewer_than_two_seeds_on_a_side_gives_no_verdict_and_says_why(values: list[list[float]], says: str) -> None:
    result = verdict(values, "val_accuracy")
    assert result is not None
    assert (result.p_value, result.distinguishable) == (None, None)
    assert result.text == f"best vs second: not compared, {says}; run more seeds"


def test_one_configuration_or_none() -> None:
    result = verdict([[0.9, 0.91]], "val_accuracy")
    assert result is not None
    assert (result.p_value, result.distinguishable, result.difference) == (None, None, None)
    assert result.text == "one configuration: nothing to compare"
    assert verdict([], "val_accuracy") is None


def test_equal_constant_seeds_are_not_distinguishable_without_a_p_value() -> None:
    result = verdict([[0.5, 0.5, 0.5], [0.5, 0.5]], "val_accuracy")
    assert result is not None
    assert (result.p_value, result.distinguishable, result.difference) == (None, False, 0.0)
    assert "every seed of both gave 0.5" in result.text


def test_the_direction_is_a_parameter() -> None:
    """A loss is better low: the smallest mean ranks first, and the difference is best minus second."""
    rows = [("a", 0.3), ("b", None), ("c", 0.1), ("d", 0.2), ("e", 0.1)]
    assert [name for name, _ in ranked(rows, lambda r: r[1], "minimize")] == ["c", "e", "d", "a", "b"]
    assert [name for name, _ in ranked(rows, lambda r: r[1])] == ["a", "d", "c", "e", "b"]
    result = verdict([[0.10, 0.11, 0.12], [0.20, 0.22, 0.21]], "test_loss", "minimize")
    assert result is not None
    assert result.goal == "minimize" and result.difference == pytest.approx(-0.1)
    assert result.distinguishable is True
