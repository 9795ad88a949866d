"""What a sweep found, read from its storage alone: one row per trial, one per configuration, a tally.

Workers record on each trial (Optuna user attributes) everything a report needs: seed, configuration,
parameter count, the task's validation and test figures, wall time, run folder and host. So `sweep show` reports every
trial of a sweep spread over several machines without reaching any of their run folders. Whatever the
storage holds is read as untrusted: a value of the wrong type is shown as missing, never trusted.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from optuna.trial import FrozenTrial, TrialState

from lstmcli.errors import FieldError, literal
from lstmcli.grouping import MAXIMIZE, Goal, buckets, mean_std, ranked, summary, values_of, verdict
from lstmcli.model.spec import CELLS
from lstmcli.schemas import Comparison, SweepConfiguration, SweepCounts, SweepReport, SweepTrial, TaskInfo
from lstmcli.sweep.space import Space, sweep_task

if TYPE_CHECKING:
    from lstmcli.tasks import Task

# The figures summarised over a configuration's seeds (with an interval), by the task's objective: the
# validation figure the study ranks by first, then the test set's. RANKED_BY ranks a classification sweep.
FIGURES = {
    "val_accuracy": ("val_accuracy", "test_accuracy"),
    "val_mse": ("val_mse", "test_mse"),
    "val_loss": ("val_loss", "test_loss", "test_recall_accuracy"),
}
SUMMARISED = tuple(figure for figures in FIGURES.values() for figure in figures)
RANKED_BY = "val_accuracy"
# The classifier's summaries, which every configuration carries (null for a task judged by its loss).
ACCURACY_FIELDS = (*(f"{name}_{part}" for name in FIGURES[RANKED_BY] for part in ("mean", "std", "ci_low", "ci_high")),
                   "val_accuracy_best")  # fmt: skip
# The figures each trial shows, by its sweep's objective (the first is the trial's value, the others what its
# worker recorded); a classification trial's are the two fields every report has always had.
SHOWN = {**FIGURES, "val_loss": ("val_loss", "test_loss", "val_recall_accuracy", "test_recall_accuracy")}


def objective(task: Task) -> tuple[str, Goal]:
    """The figure a sweep of `task` ranks by, and which way is better: val_accuracy up, val_mse or val_loss down."""
    return f"val_{task.objective}", task.direction


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any, limit: int = 1000) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def _cell(trial: FrozenTrial) -> str | None:
    cell = trial.params.get("cell")
    if cell is None:
        config = trial.user_attrs.get("config")
        model = config.get("model") if isinstance(config, dict) else None
        cell = model.get("cell") if isinstance(model, dict) else None
    return cell if cell in CELLS else None


def trial_row(trial: FrozenTrial, retried: set[int], figure: str = RANKED_BY) -> SweepTrial:
    """One trial as reports show it; `retried` holds the numbers of failed trials that were queued again, and
    `figure` names the trial's value (its sweep's objective)."""
    attrs = trial.user_attrs
    derived = attrs.get("derived") if isinstance(attrs.get("derived"), dict) else {}
    params = {**trial.params, **{k: v for k, v in derived.items() if k == "units" and _whole(v)}}
    scored = trial.state in (TrialState.COMPLETE, TrialState.PRUNED)
    complete = trial.state == TrialState.COMPLETE
    figures = {name: _number(attrs.get(name)) if complete else None for name in SHOWN[figure][1:]}
    figures[figure] = _number(trial.value) if scored and trial.values else None
    accuracy = {"val_accuracy": figures.pop("val_accuracy", None), "test_accuracy": figures.pop("test_accuracy", None)}
    return SweepTrial(
        number=trial.number,
        state=trial.state.name,
        retried=trial.number in retried,
        retry_of=_whole(trial.system_attrs.get("failed_trial")),
        params=params,
        cell=_cell(trial),
        seed=_whole(attrs.get("seed")),
        parameters=_whole(attrs.get("parameters")),
        **accuracy,
        seconds=_number(attrs.get("seconds")),
        run=_text(attrs.get("run")),
        resumed_from=_whole(attrs.get("resumed_from")),
        host=_text(attrs.get("host")),
        error=_text(attrs.get("error")) if trial.state == TrialState.FAIL else None,  # a retry inherits it
        **figures,
    )


def trial_rows(trials: list[FrozenTrial], figure: str = RANKED_BY) -> list[SweepTrial]:
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", []) if isinstance(n, int)}
    return [trial_row(t, retried, figure) for t in sorted(trials, key=lambda t: t.number)]


def configurations(
    rows: list[SweepTrial], figure: str = RANKED_BY, goal: Goal = MAXIMIZE
) -> tuple[list[SweepConfiguration], Comparison | None]:
    """One row per configuration tried: n complete seeds (each seed counted once), mean, spread and interval of
    each figure of its task, best `figure` first in the direction of `goal`; and whether the best configuration
    is distinguishable from the second."""
    if figure not in SUMMARISED:
        raise FieldError("figure", f"{{figure}} {literal(repr(figure))}: choose one of {', '.join(SUMMARISED)}")
    figures = next(group for group in FIGURES.values() if figure in group)
    judged, best_of = figures[0], max if goal == MAXIMIZE else min
    scored = (row for row in rows if row.state in ("COMPLETE", "PRUNED"))
    out = []
    for members in buckets(scored, lambda row: json.dumps(row.params, sort_keys=True, default=str)):
        complete: dict[Any, SweepTrial] = {}
        for row in members:
            if row.state == "COMPLETE" and getattr(row, judged) is not None:
                complete.setdefault(row.seed, row)  # a seed run twice (a duplicate draw) counts once
        done = list(complete.values())
        summarised: dict[str, float | None] = dict.fromkeys(ACCURACY_FIELDS)
        for name in figures:
            s = summary(values_of(done, name))
            summarised.update({f"{name}_mean": s.mean, f"{name}_std": s.std, f"{name}_ci_low": s.low,
                               f"{name}_ci_high": s.high})  # fmt: skip
        summarised[f"{judged}_best"] = best_of(values_of(done, judged), default=None)
        first = members[0]
        configuration = SweepConfiguration(
            params=first.params, cell=first.cell, parameters=first.parameters,
            n=len(done), seeds=sorted(s for s in complete if s is not None),
            pruned=sum(r.state == "PRUNED" for r in members), **summarised,
            seconds_mean=mean_std(values_of(done, "seconds"))[0], trials=[r.number for r in members],
        )  # fmt: skip
        out.append((configuration, done))
    out = ranked(out, lambda pair: getattr(pair[0], f"{figure}_mean"), goal)
    return [c for c, _ in out], verdict([values_of(done, figure) for _, done in out[:2]], figure, goal)


def tally(rows: list[SweepTrial]) -> SweepCounts:
    """Trials by state; a failed trial that was queued again counts as retried, not failed."""

    def count(state: str) -> int:
        return sum(r.state == state for r in rows)

    retried = sum(r.retried for r in rows)
    return SweepCounts(total=len(rows), complete=count("COMPLETE"), running=count("RUNNING"),
                       waiting=count("WAITING"), pruned=count("PRUNED"), failed=count("FAIL") - retried,
                       retried=retried)  # fmt: skip


def best(rows: list[SweepTrial], figure: str = RANKED_BY, goal: Goal = MAXIMIZE) -> SweepTrial | None:
    """The complete trial with the best `figure` in the direction of `goal` (the earliest of equals)."""
    scored = [r for r in rows if r.state == "COMPLETE" and getattr(r, figure) is not None]
    sign = 1 if goal == MAXIMIZE else -1
    return max(scored, key=lambda r: (sign * getattr(r, figure), -r.number), default=None)


def report(name: str, shown: str, space: Space, trials: list[FrozenTrial]) -> SweepReport:
    """The whole `sweep show` result, ranked by the objective of the space's task."""
    task = sweep_task(space)
    figure, goal = objective(task)
    rows = trial_rows(trials, figure)
    summarised, comparison = configurations(rows, figure, goal)
    return SweepReport(study=name, storage=shown, space=space.to_dict(), objective=figure, direction=goal,
                       task=None if task.name == "rows" else TaskInfo.of(task), counts=tally(rows),
                       best=best(rows, figure, goal), configurations=summarised, comparison=comparison, trials=rows,
                       plot=None)  # fmt: skip
