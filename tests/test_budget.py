"""`params --budget`: the units whose model has the parameter count closest to a budget, checked by brute force.

The search (lstmcli.model.budget) bisects on the closed form; here every candidate n from 1 upwards is counted
with `count` itself and the neighbours of each budget are read off that list, so a bisection that stopped one
step early or late, or a non-monotone count, would show.
"""

from __future__ import annotations

import itertools
import json

import pytest
from typer.testing import CliRunner

from lstmcli import inspection
from lstmcli.cli import app, errors, main
from lstmcli.errors import FieldError, UsageError
from lstmcli.model.budget import Fit, closest, closest_units
from lstmcli.model.count import count
from lstmcli.model.spec import ModelSpec

SPECS = [
    ModelSpec(),
    ModelSpec(cell="gru", layers=2, input_size=5, classes=0),
    ModelSpec(cell="gru", reset_after=False, bidirectional=True, input_size=3, classes=4),
    ModelSpec(cell="rnn", layers=3, use_bias=False, input_size=1, classes=2),
    ModelSpec(cell="lstm", layers=2, bidirectional=True, input_size=7, classes=10),
]
UNITS = 120  # brute force over n = 1..120 per spec


def brute_force(spec: ModelSpec, convention: str) -> list[int]:
    """totals[n - 1] is the count with n units, each from `count` directly."""
    return [count(ModelSpec(**{**spec.to_dict(), "units": n}), convention).total for n in range(1, UNITS + 1)]


def neighbours(totals: list[int], budget: int) -> tuple[Fit | None, Fit | None]:
    below = [Fit(n, t) for n, t in enumerate(totals, start=1) if t <= budget]
    above = [Fit(n, t) for n, t in enumerate(totals, start=1) if t >= budget]
    return (below[-1] if below else None), (above[0] if above else None)


@pytest.mark.parametrize(("spec", "convention"), list(itertools.product(SPECS, ("keras", "pytorch"))))
def test_neighbours_equal_brute_force(spec: ModelSpec, convention: str) -> None:
    totals = brute_force(spec, convention)
    assert totals == sorted(set(totals)), "the count must grow strictly with the units"
    # Every exact count, each value just beside one, and values between counts, up to the 119-unit model.
    budgets = {1, totals[0] - 1, totals[0]}
    for t, nxt in itertools.pairwise(totals[:-1]):
        budgets |= {t - 1, t, t + 1, (t + nxt) // 2}
    for budget in sorted(b for b in budgets if b >= 1):
        expected = neighbours(totals, budget)
        assert closest_units(spec, budget, convention) == expected, budget
        below, above = expected
        best = closest(below, above, budget)
        distances = [abs(t - budget) for t in totals]
        assert abs(best.total - budget) == min(distances), budget


def test_exact_hit_gives_the_same_model_twice() -> None:
    spec = ModelSpec(units=1)  # units are ignored by the search
    assert closest_units(spec, 31_960) == (Fit(75, 31_960), Fit(75, 31_960))  # the article's model


def test_budget_below_the_smallest_model() -> None:
    one_unit = count(ModelSpec(units=1)).total
    assert closest_units(ModelSpec(), one_unit - 1) == (None, Fit(1, one_unit))
    assert closest(None, Fit(1, one_unit), one_unit - 1) == Fit(1, one_unit)


def test_tie_prefers_the_model_within_budget() -> None:
    assert closest(Fit(3, 90), Fit(4, 110), 100) == Fit(3, 90)
    assert closest(Fit(3, 90), Fit(4, 109), 100) == Fit(4, 109)


@pytest.mark.parametrize("budget", [0, -5, True, 2.5])
def test_bad_budgets_are_refused(budget: object) -> None:
    with pytest.raises(FieldError, match=r"^budget must be a whole number") as info:
        closest_units(ModelSpec(), budget)  # type: ignore[arg-type]
    assert info.value.field == "budget"
    assert errors.message(info.value).startswith("--budget must be a whole number")


def test_huge_budget_says_so() -> None:
    with pytest.raises(UsageError, match="more than 1,000,000,000 units"):
        closest_units(ModelSpec(), 10**40)
    # Large but reachable: still exact, still instant.
    below, above = closest_units(ModelSpec(layers=3, bidirectional=True), 10**15)
    assert below.total <= 10**15 <= above.total and above.units == below.units + 1


def test_answer_sets_the_units_of_the_closest_model() -> None:
    result = inspection.budget(ModelSpec(cell="gru", input_size=5), 10_000)
    assert result.spec.units == result.best.units
    assert count(result.spec).total == result.best.total


runner = CliRunner()


def test_cli_json_gives_units_and_total_of_the_closest_model() -> None:
    done = runner.invoke(app, ["params", "--budget", "100000", "--cell", "gru", "--layers", "2", "--format", "json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    spec = ModelSpec(cell="gru", layers=2)
    expected = closest(*neighbours(brute_force(spec, "keras"), 100_000), 100_000)
    assert data["schema_version"] == 1
    assert (data["units"], data["total"]) == (expected.units, expected.total) == (100, 100_610)
    assert data["below"] == {"units": 99, "total": 98_713}
    assert data["above"] == {"units": 100, "total": 100_610}


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_cli_table_and_markdown_name_both_neighbours(fmt: str) -> None:
    done = runner.invoke(app, ["params", "--budget", "100000", "--format", fmt])
    assert done.exit_code == 0, done.output
    assert "143" in done.stdout and "99,824" in done.stdout and "144" in done.stdout and "101,098" in done.stdout
    assert "closest: 143 units, 99,824 parameters" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget", "0"], "--budget must be"),
        (["--budget", "1000", "--units", "5"], "--units: not with --budget"),
        (["--budget", "abc"], "'--budget'"),
    ],
)
def test_cli_bad_budget_is_one_line(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert main(["params", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lstmcli: error:") and message in err, err

