"""lstmcli/sweep/results.py: a sweep's configurations summarised over seeds (mean, spread, 95% interval), ranked,
and the best two compared; and how `sweep show` prints them. The trials are rows as the storage reads back."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from lstmcli.cli.views import sweep as view
from lstmcli.errors import FieldError
from lstmcli.grouping import welch
from lstmcli.schemas import SweepCounts, SweepReport, SweepTrial, TaskBaseline, TaskInfo
from lstmcli.sweep.results import configurations

T_975_DF2 = 4.303  # the t table's two-sided 95% quantile for 3 seeds


def trial(number: int, units: int, seed: int, val: float | None, state: str = "COMPLETE") -> SweepTrial:
    return SweepTrial(number=number, state=state, retried=False, retry_of=None, params={"units": units},  # type: ignore[arg-type]
                      cell="lstm", seed=seed, parameters=100 * units, val_accuracy=val,
                      test_accuracy=None if val is None else val - 0.01, seconds=2.0, run=None, resumed_from=None,
                      host=None, error=None)  # fmt: skip


FIGURES = {4: [0.80, 0.82, 0.81], 8: [0.90, 0.91, 0.93], 16: [0.70]}


def rows() -> list[SweepTrial]:
    out = []
    for units, values in FIGURES.items():
        out += [trial(len(out), units, seed, value) for seed, value in enumerate(values)]
    out.append(trial(len(out), 8, 0, 0.99))  # seed 0 of units 8 again: counted once, the first
    out.append(trial(len(out), 32, 0, 0.5, state="PRUNED"))
    return out


def test_each_configuration_has_its_interval_and_the_best_two_are_compared() -> None:
    summarised, comparison = configurations(rows())
    assert [c.params["units"] for c in summarised] == [8, 4, 16, 32]  # best mean first, no complete seed last
    eight = summarised[0]
    values = FIGURES[8]
    half = T_975_DF2 * np.std(values, ddof=1) / math.sqrt(3)
    assert eight.n == 3 and eight.val_accuracy_mean == pytest.approx(np.mean(values))
    assert eight.val_accuracy_ci_low == pytest.approx(np.mean(values) - half, abs=1e-5)
    assert eight.val_accuracy_ci_high == pytest.approx(np.mean(values) + half, abs=1e-5)
    assert eight.test_accuracy_ci_low == pytest.approx(np.mean(values) - 0.01 - half, abs=1e-5)
    sixteen = summarised[2]
    assert sixteen.n == 1 and sixteen.val_accuracy_ci_low is None and sixteen.val_accuracy_ci_high is None
    assert summarised[3].n == 0 and summarised[3].val_accuracy_mean is None
    assert comparison is not None and comparison.figure == "val_accuracy"
    assert comparison.p_value == pytest.approx(welch(FIGURES[8], FIGURES[4]))
    assert comparison.p_value < 0.05 and comparison.distinguishable


def test_the_ranking_figure_and_direction_are_parameters() -> None:
    """Pointed at another figure and the other direction, the worst accuracy ranks first: nothing assumes higher."""
    summarised, comparison = configurations(rows(), figure="test_accuracy", goal="minimize")
    assert [c.params["units"] for c in summarised] == [16, 4, 8, 32]
    assert comparison is not None and (comparison.figure, comparison.goal) == ("test_accuracy", "minimize")
    assert comparison.text == "best vs second: not compared, the best has 1 seed with test_accuracy; run more seeds"
    with pytest.raises(FieldError, match="figure"):
        configurations(rows(), figure="seconds")


def test_no_complete_trial_gives_no_comparison() -> None:
    assert configurations([]) == ([], None)


def report() -> SweepReport:
    summarised, comparison = configurations(rows())
    counts = SweepCounts(total=9, complete=8, running=0, waiting=0, pruned=1, failed=0, retried=0)
    return SweepReport(study="s", storage="s.db", space={}, counts=counts, best=None, configurations=summarised,
                       comparison=comparison, trials=rows(), plot=None)  # fmt: skip


def test_the_table_shows_intervals_one_seed_and_the_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    view.show(report(), "table", Console(color_system=None))  # not a terminal: printed whole, on stdout
    out = capsys.readouterr().out
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.startswith("│")}
    summarised = report().configurations
    low, high = summarised[0].val_accuracy_ci_low, summarised[0].val_accuracy_ci_high
    assert f"[{low:.4f}, {high:.4f}]" in lines["8"]
    assert lines["16"].count("1 seed") == 2  # validation and test
    assert "best vs second: p = " in out and "distinguishable at 5%" in out


def test_csv_and_json_carry_the_intervals(capsys: pytest.CaptureFixture[str]) -> None:
    shown = report()
    view.show(shown, "csv", Console(file=io.StringIO()))
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [row["units"] for row in table] == ["8", "4", "16", "32"]
    assert float(table[0]["val_accuracy_ci_low"]) == shown.configurations[0].val_accuracy_ci_low
    assert float(table[0]["test_accuracy_ci_high"]) == shown.configurations[0].test_accuracy_ci_high
    assert table[2]["val_accuracy_ci_low"] == "" and table[2]["val_accuracy_mean"] == "0.7"
    view.show(shown, "json", Console(file=io.StringIO()))
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert data["comparison"]["distinguishable"] is True and data["comparison"]["alpha"] == 0.05
    assert data["configurations"][2]["val_accuracy_ci_low"] is None


def mse_trial(number: int, units: int, seed: int, val: float) -> SweepTrial:
    return trial(number, units, seed, None).model_copy(update={"val_mse": val, "test_mse": val * 1.5})


def test_a_loss_task_s_configurations_rank_lowest_first_with_its_own_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    mses = {4: [0.10, 0.12, 0.11], 8: [0.01, 0.02, 0.015]}
    out = []
    for units, values in mses.items():
        out += [mse_trial(len(out), units, seed, value) for seed, value in enumerate(values)]
    summarised, comparison = configurations(out, figure="val_mse", goal="minimize")
    assert [c.params["units"] for c in summarised] == [8, 4]
    best = summarised[0]
    assert best.val_mse_mean == pytest.approx(0.015) and best.val_mse_best == 0.01
    assert best.test_mse_mean == pytest.approx(0.0225) and best.val_mse_ci_low is not None
    assert best.val_accuracy_mean is None and best.val_loss_mean is None
    assert comparison is not None and (comparison.figure, comparison.goal) == ("val_mse", "minimize")
    assert comparison.difference == pytest.approx(0.015 - 0.11) and comparison.distinguishable
    task = TaskInfo(name="adding", kind="regress", length=8, seed=0, metric="mse", objective="mse",
                    direction="minimize", baseline=TaskBaseline(loss=0.2, metric=0.2, how="the mean"))  # fmt: skip
    counts = SweepCounts(total=6, complete=6, running=0, waiting=0, pruned=0, failed=0, retried=0)
    shown = SweepReport(study="a", storage="a.db", space={}, objective="val_mse", direction="minimize", task=task,
                        counts=counts, best=None, configurations=summarised, comparison=comparison, trials=out,
                        plot=None)  # fmt: skip
    view.show(shown, "table", Console(color_system=None))
    table = capsys.readouterr().out
    lines = {line.split("│")[1].strip(): line for line in table.splitlines() if line.startswith("│")}
    assert "val MSE (mean ± sd)" in table and "val acc" not in table
    assert "11.2%" in lines["8"]  # the test MSE, 0.0225, of the baseline's 0.2
    view.show(shown, "csv", Console(file=io.StringIO()))
    columns = next(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert "val_mse_ci_low" in columns and not any("accuracy" in c for c in columns)
