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

from lstmcli.grouping import buckets, mean_std
from lstmcli.model.spec import CELLS
from lstmcli.schemas import SweepConfiguration, SweepCounts, SweepReport, SweepTrial


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


def configurations(rows: list[SweepTrial]) -> list[SweepConfiguration]:
    """One row per configuration tried: n complete seeds (each seed counted once), mean and spread, best first."""
    scored = (row for row in rows if row.state in ("COMPLETE", "PRUNED"))
    out = []
    for members in buckets(scored, lambda row: json.dumps(row.params, sort_keys=True, default=str)):
        complete: dict[Any, SweepTrial] = {}
        for row in members:
            if row.state == "COMPLETE" and row.val_accuracy is not None:
                complete.setdefault(row.seed, row)  # a seed run twice (a duplicate draw) counts once
        done = list(complete.values())
        val_mean, val_std = mean_std([r.val_accuracy for r in done if r.val_accuracy is not None])
        test_mean, test_std = mean_std([r.test_accuracy for r in done if r.test_accuracy is not None])
        seconds_mean, _ = mean_std([r.seconds for r in done if r.seconds is not None])
        first = members[0]
        out.append(SweepConfiguration(
            params=first.params, cell=first.cell, parameters=first.parameters,
            n=len(done), seeds=sorted(s for s in complete if s is not None),
            pruned=sum(r.state == "PRUNED" for r in members),
            val_accuracy_mean=val_mean, val_accuracy_std=val_std,
            val_accuracy_best=max((r.val_accuracy for r in done if r.val_accuracy is not None), default=None),
            test_accuracy_mean=test_mean, test_accuracy_std=test_std, seconds_mean=seconds_mean,
            trials=[r.number for r in members],
        ))  # fmt: skip
    return sorted(out, key=lambda c: (c.val_accuracy_mean is None, -(c.val_accuracy_mean or 0.0)))


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
    return SweepReport(study=name, storage=shown, space=space, counts=tally(rows), best=best(rows),
                       configurations=configurations(rows), trials=rows, plot=None)  # fmt: skip
