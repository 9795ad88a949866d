"""`lstmcli runs [DIR]`: the runs under a folder, their config and final metrics, side by side, grouped.

Reads only the JSON and CSV files of each run (config.json, metrics.json, history.csv), so listing a
folder of runs is instant and never imports TensorFlow. A complete run has metrics.json; an
incomplete one (stopped, or still training) shows the figures of its last evaluation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstmcli import rundir
from lstmcli.columns import COLUMNS, SORT_KEYS
from lstmcli.errors import DataError, FieldError, LstmcliError, UsageError, literal
from lstmcli.grouping import MAXIMIZE, MINIMIZE, Goal, buckets, ranked, summary, values_of, verdict
from lstmcli.rundir import RunFolder

if TYPE_CHECKING:
    from lstmcli.schemas import Comparison, RunGroup, RunRow, RunsReport

DESCENDING = {"best_val_accuracy", "test_accuracy"}  # best first
# How deep below DIR `runs` looks for runs (sweeps nest two levels; deeper trees are not searched).
MAX_DEPTH = 16
# What --group-by summarises, over the runs of a group; the groups are ranked, and the best two compared, by
# RANKED_BY (higher is better unless a caller says otherwise).
SUMMARISED = ("best_val_accuracy", "test_accuracy", "test_loss", "seconds")
RANKED_BY = "best_val_accuracy"
# With the task's name, what makes two runs the same task: another length or task seed is another task, and so
# is another data file (the user's sequences: two files are two problems, a classifier's and a regressor's maybe).
TASK_DEFINITION = ("length", "task_seed", "data")


def find_runs(root: Path) -> list[Path]:
    """Every folder at or under `root` that holds a config.json, in path order (hidden folders skipped)."""
    if not root.exists():
        raise DataError(f"{root}: no such folder (set LSTMCLI_RUNS or give the folder that holds your runs)")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; give the folder that holds your runs")
    found = []
    base = len(root.parts)
    for folder, subfolders, files in os.walk(root, onerror=_raise):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        if len(Path(folder).parts) - base >= MAX_DEPTH:  # os.walk recurses: a deep tree must not exhaust the stack
            subfolders.clear()
        if rundir.CONFIG in files:
            found.append(Path(folder))
            subfolders.clear()  # a run's own folders (tensorboard/) hold no runs
    return found


def _raise(exc: OSError) -> None:
    raise DataError(f"{exc.filename}: cannot read it ({exc.strerror})")


def describe(run: Path, root: Path) -> RunRow:
    """One row: where the run is, its config, and its final (or latest) figures; damaged runs say so."""
    # pydantic loads here, not at import: `lstmcli --help` imports this module for its sort keys.
    from lstmcli.schemas import RunRow

    return RunRow(**_described(run, root))


def _described(run: Path, root: Path) -> dict[str, Any]:
    from lstmcli.train.config import read_run_config

    name = str(run.relative_to(root)) if run != root else run.name
    row: dict[str, Any] = dict.fromkeys(COLUMNS) | {"run": name, "path": str(run)}
    try:
        config = read_run_config(run)
    except LstmcliError as exc:
        return {**row, "status": "damaged", "problem": str(exc)}
    model = config.model
    row.update(
        cell=f"bi-{model.cell}" if model.bidirectional else model.cell, units=model.units, layers=model.layers,
        batch=config.batch_size, lr=config.learning_rate, schedule=config.schedule, seed=config.seed,
        config=config.to_dict(), task=None if config.task == "rows" else config.task,
    )  # fmt: skip
    from lstmcli.tasks import FILE_TASKS  # NumPy: not at import, `lstmcli --help` reads this module's sort keys

    folder = RunFolder(run)
    if config.task in FILE_TASKS and (problem := _sequences_problem(folder)) is not None:
        return {**row, "status": "damaged", "problem": problem}
    if folder.metrics.exists():
        return row | _final(folder)
    try:
        history = folder.read_history()
    except LstmcliError as exc:  # rows validated field by field (lstmcli.records): a damaged one says why
        return {**row, "status": "damaged", "problem": str(exc)}
    held_out = [r["val_accuracy"] for r in history if "val_accuracy" in r]
    return row | {
        "status": "incomplete",
        "steps": int(history[-1]["step"]) if history else 0,
        "best_val_accuracy": max(held_out, default=None),
        "seconds": history[-1].get("seconds") if history else None,
    }


def _sequences_problem(folder: RunFolder) -> str | None:
    """What is wrong with the statistics of a run on the user's sequences (data.json), which `eval` and
    `--resume` apply; None when they read back as lstmcli wrote them (or the run has not written them yet)."""
    from lstmcli.schemas import SequenceData, parse

    if not folder.data.exists() and not folder.checkpoint.exists():  # stopped before data.json: resume writes it
        return None
    try:
        parse(SequenceData, folder.read_data(), str(folder.data))
    except LstmcliError as exc:
        return str(exc)
    return None


def _final(folder: RunFolder) -> dict[str, Any]:
    """The figures of metrics.json, each checked for its type: a damaged file marks the run damaged."""
    try:
        metrics = folder.read_metrics()
    except LstmcliError as exc:
        return {"status": "damaged", "problem": str(exc)}
    out: dict[str, Any] = {"status": "complete"}
    if metrics.get("task") is not None and not isinstance(metrics["task"], dict):  # --resume refuses it, too
        problem = f"{folder.metrics}: task is not a table; restore the file or delete the run"
        return {"status": "damaged", "problem": problem}
    for column, kind in (("parameters", int), ("steps", int), ("best_val_accuracy", float),
                         ("test_accuracy", float), ("test_loss", float), ("seconds", float),
                         ("test_mse", float), ("test_recall_accuracy", float)):  # fmt: skip
        value = metrics.get(column)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return {"status": "damaged", "problem": f"{folder.metrics}: {column} is not a number"}
        out[column] = None if value is None else kind(value)
    return out


def _matches(row: RunRow, condition: str) -> bool:
    key, _, wanted = condition.partition("=")
    value = getattr(row, key)
    if value is None:
        return wanted in ("", "none", "null")
    try:
        return float(value) == float(wanted)
    except (TypeError, ValueError):
        return str(value) == wanted


def _sort(rows: list[RunRow], key: str, reverse: bool) -> list[RunRow]:
    """By `key` (best first for accuracies; --reverse flips it), ties by run name in order; no value last."""
    by_name = sorted(rows, key=lambda r: r.run)
    present = [r for r in by_name if getattr(r, key) is not None]
    present.sort(key=lambda r: getattr(r, key), reverse=(key in DESCENDING) != reverse)  # stable: ties keep order
    return present + [r for r in by_name if getattr(r, key) is None]


def _varying(configs: list[dict[str, Any]]) -> list[str]:
    """The settings (but the seed) on which the groups differ: what tells one group from another."""
    from lstmcli.train.config import flat_settings

    flat = [flat_settings(c) for c in configs]
    names = [k for k in flat[0] if k != "seed"] if flat else []
    differ = [k for k in names if len({repr(f.get(k)) for f in flat}) > 1]
    return differ or names[:1]


def _setting(row: RunRow, key: str) -> Any:
    """A row's column, or (for a task's definition, which is no column) its config's value."""
    from lstmcli.train.presets import DEFAULT_PRESET

    return getattr(row, key) if key in SORT_KEYS else (row.config or {}).get(key, DEFAULT_PRESET.get(key))


def group(
    rows: list[RunRow], keys: list[str], figure: str = RANKED_BY, goal: Goal = MAXIMIZE
) -> tuple[list[RunGroup], Comparison | None]:
    """Runs with equal `keys` (or, for ["config"], equal configs but for the seed): mean, std, interval and n;
    best `figure` first, and whether the best group is distinguishable from the second."""
    from lstmcli.schemas import RunGroup
    from lstmcli.train.config import flat_settings

    if figure not in SUMMARISED:
        raise FieldError("figure", f"{{figure}} {literal(repr(figure))}: choose one of {', '.join(SUMMARISED)}")

    if "task" in keys:  # runs of the adding problem at two lengths are two tasks, not one group
        keys = keys + [k for k in TASK_DEFINITION if len({repr(_setting(r, k)) for r in rows}) > 1]

    def identity(row: RunRow) -> str:
        assert row.config is not None
        if keys == ["config"]:
            return repr(sorted((k, v) for k, v in row.config.items() if k != "seed"))
        return repr(sorted((k, _setting(row, k)) for k in keys))

    groups = buckets((row for row in rows if row.config is not None), identity)
    varying = _varying([members[0].config for members in groups]) if keys == ["config"] else []  # type: ignore[misc]
    out = []
    for members in groups:
        first = members[0]
        if keys == ["config"]:
            settings = {k: flat_settings(first.config or {}).get(k) for k in varying}
        else:
            settings = {k: _setting(first, k) for k in keys}
        figures: dict[str, Any] = {}
        for metric in SUMMARISED:
            got = summary(values_of(members, metric))
            figures.update({f"{metric}_mean": got.mean, f"{metric}_std": got.std,
                            f"{metric}_ci_low": got.low, f"{metric}_ci_high": got.high})  # fmt: skip
        seeds = sorted(r.seed for r in members if r.seed is not None)
        out.append((RunGroup(**settings, n=len(members), runs=sorted(r.run for r in members), seeds=seeds,
                             **figures), members))  # fmt: skip
    out = ranked(sorted(out, key=lambda pair: pair[0].runs[0]), lambda pair: pair[0].figure(figure)[0], goal)
    return [g for g, _ in out], verdict([values_of(members, figure) for _, members in out[:2]], figure, goal)


def compare(
    root: Path, sort: str = "run", reverse: bool = False, where: list[str] | None = None, group_by: str | None = None
) -> RunsReport:
    """`lstmcli runs`: every run under `root`, filtered, sorted and (with `group_by`) grouped across seeds."""
    from lstmcli.schemas import RunsReport

    if sort not in SORT_KEYS:
        raise UsageError(f"unknown sort key {sort!r}; choose one of {', '.join(SORT_KEYS)}")
    keys = [k.strip() for k in group_by.split(",")] if group_by else []
    for key in [c.partition("=")[0] for c in where or []] + [k for k in keys if k != "config"]:
        if key not in SORT_KEYS:
            raise UsageError(f"unknown column {key!r}; choose from {', '.join(SORT_KEYS)}")
    for condition in where or []:
        if "=" not in condition:
            raise FieldError("where", f"{{where}} {literal(repr(condition))}: write KEY=VALUE, e.g. {{where}} cell=gru")
    rows = [describe(run, root) for run in find_runs(root)]
    rows = [r for r in rows if all(_matches(r, c) for c in where or [])]
    report = RunsReport(folder=str(root), runs=_sort(rows, sort, reverse))
    if keys:
        report.group_by = keys
        report.groups, report.comparison = group(rows, keys, *ranking(rows))
    return report


def ranking(rows: list[RunRow]) -> tuple[str, Goal]:
    """What groups are ranked by: the best validation accuracy, or for runs of a task judged by its MSE or loss
    (the adding and copy tasks: they record no accuracy) the test loss, lower being better."""
    if rows and all(_minimizes(r) for r in rows):
        return "test_loss", MINIMIZE
    return RANKED_BY, MAXIMIZE


def _minimizes(row: RunRow) -> bool:
    """Whether the row's task is judged by a figure lower is better (its Task's direction)."""
    from lstmcli import tasks

    if row.task is None or row.config is None:
        return False
    if row.task in tasks.FILE_TASKS:  # the file decided: a regression is judged by its MSE
        try:
            return RunFolder(Path(row.path)).read_data().get("kind") == "regress"
        except LstmcliError:
            return False
    try:
        return tasks.task(row.task, row.config.get("length"), row.config.get("task_seed", 0)).direction == "minimize"
    except LstmcliError:  # config.json validated already; a task it names is one lstmcli knows
        return False
