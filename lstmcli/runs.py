"""`lstmcli runs [DIR]`: the runs under a folder, their config and final metrics, side by side.

Reads only the JSON and CSV files of each run (config.json, metrics.json, history.csv), so listing a
folder of runs is instant and never imports TensorFlow. A complete run has metrics.json; an
incomplete one (stopped, or still training) shows the figures of its last evaluation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lstmcli import rundir
from lstmcli.errors import DataError, LstmcliError
from lstmcli.train.config import read_run_config

# Sort keys and the column each sorts by; accuracy sorts best first, the other metrics lowest first.
SORT_KEYS = ("run", "cell", "units", "layers", "batch", "lr", "steps", "accuracy", "loss", "seconds", "status")
DESCENDING = {"accuracy"}


def find_runs(root: Path) -> list[Path]:
    """Every folder at or under `root` that holds a config.json, in path order (hidden folders skipped)."""
    if not root.exists():
        raise DataError(f"{root}: no such folder (set LSTMCLI_RUNS or give the folder that holds your runs)")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; give the folder that holds your runs")
    found = []
    for folder, subfolders, files in os.walk(root, onerror=_raise):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        if rundir.CONFIG in files:
            found.append(Path(folder))
            subfolders.clear()  # a run's own folders (tensorboard/) hold no runs
    return found


def _raise(exc: OSError) -> None:
    raise DataError(f"{exc.filename}: cannot read it ({exc.strerror})")


def describe(run: Path, root: Path) -> dict[str, Any]:
    """One row: where the run is, its config, and its final (or latest) figures."""
    name = str(run.relative_to(root)) if run != root else run.name
    row: dict[str, Any] = {"run": name, "path": str(run)}
    try:
        settings = read_run_config(run)
    except LstmcliError:
        return {**row, "status": "unreadable", "config": None, "metrics": None}
    model = settings.model
    row.update(
        cell=f"bi-{model.cell}" if model.bidirectional else model.cell,
        units=model.units,
        layers=model.layers,
        batch=settings.batch_size,
        lr=settings.learning_rate,
    )
    config = settings.to_dict()
    metrics: dict[str, Any] | None = None
    if (run / rundir.METRICS).exists():
        try:
            metrics = rundir.read_json(run / rundir.METRICS)
        except LstmcliError:
            metrics = None
    if metrics is not None:
        row.update(
            status="complete",
            steps=metrics.get("steps"),
            accuracy=metrics.get("test_accuracy"),
            loss=metrics.get("test_loss"),
            seconds=metrics.get("seconds"),
        )
    else:
        try:
            history = rundir.read_history(run / rundir.HISTORY)
        except (OSError, ValueError):
            history = []
        last = history[-1] if history else {}
        row.update(
            status="incomplete",
            steps=int(last["step"]) if "step" in last else 0,
            accuracy=last.get("test_accuracy"),
            loss=last.get("test_loss"),
            seconds=last.get("seconds"),
        )
    row.update(config=config, metrics=metrics)
    return row


def collect(root: Path, sort: str = "run", reverse: bool = False) -> list[dict[str, Any]]:
    """The rows for every run under `root`, sorted by `sort` (missing values last)."""
    if sort not in SORT_KEYS:
        raise DataError(f"unknown sort key {sort!r}; choose one of {', '.join(SORT_KEYS)}")
    rows = [describe(run, root) for run in find_runs(root)]
    present = [r for r in rows if r.get(sort) is not None]
    missing = [r for r in rows if r.get(sort) is None]
    present.sort(key=lambda r: (r[sort], r["run"]))
    if (sort in DESCENDING) != reverse:
        present.reverse()
    return present + missing
