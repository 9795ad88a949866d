"""What a sweep found, read from its storage alone: one row per trial, one per configuration, a tally.

Workers record on each trial (Optuna user attributes) everything a report needs: seed, configuration,
parameter count, validation and test accuracy, wall time, run folder and host. So `sweep show` reports every
trial of a sweep spread over several machines without reaching any of their run folders. Whatever the
storage holds is read as untrusted: a value of the wrong type is shown as missing, never trusted.
"""

from __future__ import annotations

import json
import math
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from lstmcli.errors import FieldError, literal
from lstmcli.grouping import MAXIMIZE, Goal, buckets, mean_std, ranked, summary, values_of, verdict
from lstmcli.model.spec import CELLS
from lstmcli.schemas import Comparison, SweepConfiguration, SweepCounts, SweepReport, SweepTrial

# The figures summarised over a configuration's seeds (with an interval), which it can be ranked by; RANKED_BY
# ranks the configurations and compares the best two (higher is better unless a caller says otherwise).
SUMMARISED = ("val_accuracy", "test_accuracy")
RANKED_BY = "val_accuracy"


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


def trial_row(trial: FrozenTrial, retried: set[int]) -> SweepTrial:
    """One trial as reports show it; `retried` holds the numbers of failed trials that were queued again."""
    attrs = trial.user_attrs
    derived = attrs.get("derived") if isinstance(attrs.get("derived"), dict) else {}
    params = {**trial.params, **{k: v for k, v in derived.items() if k == "units" and _whole(v)}}
    scored = trial.state in (TrialState.COMPLETE, TrialState.PRUNED)
    return SweepTrial(
        number=trial.number,
        state=trial.state.name,
        retried=trial.number in retried,
        retry_of=_whole(trial.system_attrs.get("failed_trial")),
        params=params,
        cell=_cell(trial),
        seed=_whole(attrs.get("seed")),
        parameters=_whole(attrs.get("parameters")),
        val_accuracy=_number(trial.value) if scored and trial.values else None,
        test_accuracy=_number(attrs.get("test_accuracy")) if trial.state == TrialState.COMPLETE else None,
        seconds=_number(attrs.get("seconds")),
        run=_text(attrs.get("run")),
        resumed_from=_whole(attrs.get("resumed_from")),
        host=_text(attrs.get("host")),
        error=_text(attrs.get("error")) if trial.state == TrialState.FAIL else None,  # a retry inherits it
    )


def trial_rows(trials: list[FrozenTrial]) -> list[SweepTrial]:
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", []) if isinstance(n, int)}
    return [trial_row(t, retried) for t in sorted(trials, key=lambda t: t.number)]


def configurations(
    rows: list[SweepTrial], figure: str = RANKED_BY, goal: Goal = MAXIMIZE
) -> tuple[list[SweepConfiguration], Comparison | None]:
    """One row per configuration tried: n complete seeds (each seed counted once), mean, spread and interval,
    best `figure` first; and whether the best configuration is distinguishable from the second."""
    if figure not in SUMMARISED:
        raise FieldError("figure", f"{{figure}} {literal(repr(figure))}: choose one of {', '.join(SUMMARISED)}")
    scored = (row for row in rows if row.state in ("COMPLETE", "PRUNED"))
    out = []
    for members in buckets(scored, lambda row: json.dumps(row.params, sort_keys=True, default=str)):
        complete: dict[Any, SweepTrial] = {}
        for row in members:
            if row.state == "COMPLETE" and row.val_accuracy is not None:
                complete.setdefault(row.seed, row)  # a seed run twice (a duplicate draw) counts once
        done = list(complete.values())
        val, test = summary(values_of(done, "val_accuracy")), summary(values_of(done, "test_accuracy"))
        first = members[0]
        configuration = SweepConfiguration(
            params=first.params, cell=first.cell, parameters=first.parameters,
            n=len(done), seeds=sorted(s for s in complete if s is not None),
            pruned=sum(r.state == "PRUNED" for r in members),
            val_accuracy_mean=val.mean, val_accuracy_std=val.std, val_accuracy_ci_low=val.low,
            val_accuracy_ci_high=val.high, val_accuracy_best=max(values_of(done, "val_accuracy"), default=None),
            test_accuracy_mean=test.mean, test_accuracy_std=test.std, test_accuracy_ci_low=test.low,
            test_accuracy_ci_high=test.high, seconds_mean=mean_std(values_of(done, "seconds"))[0],
            trials=[r.number for r in members],
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


def best(rows: list[SweepTrial]) -> SweepTrial | None:
    """The complete trial with the highest validation accuracy (the earliest of equals)."""
    scored = [r for r in rows if r.state == "COMPLETE" and r.val_accuracy is not None]
    return max(scored, key=lambda r: (r.val_accuracy, -r.number), default=None)


def report(name: str, shown: str, space: dict[str, Any], trials: list[FrozenTrial]) -> SweepReport:
    """The whole `sweep show` result."""
    rows = trial_rows(trials)
    summarised, comparison = configurations(rows)
    return SweepReport(study=name, storage=shown, space=space, counts=tally(rows), best=best(rows),
                       configurations=summarised, comparison=comparison, trials=rows, plot=None)  # fmt: skip
