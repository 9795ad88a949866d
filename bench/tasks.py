"""Why an LSTM: the adding problem, LSTM against GRU and SimpleRNN at the same parameter budget, over seeds.

    python bench/tasks.py                  # T = 100, 3 seeds per cell, the cells at LSTM(32)'s budget
    python bench/tasks.py --quick          # T = 6, 20 steps, 1 seed: shows it runs

Each run is a whole `lstmcli train --task adding` process, as a user starts it (its wall time and peak memory
measured from outside); its figure is metrics.json's test MSE over the task's baseline (always predicting 1,
MSE 1/6). Target: every LSTM seed below 10% of the baseline, and SimpleRNN at the same budget not (every
seed at or above it). The GRU is measured beside them, with no target.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import common

from lstmcli.model.budget import closest, closest_units
from lstmcli.model.spec import ModelSpec

PARTS = ("adding",)
TARGET_FRACTION = 0.10
TASKS_DOC = common.ROOT / "docs" / "tasks.md"


def units_at_budget(cell: str, lstm_units: int) -> tuple[int, int]:
    """The units of `cell` whose adding-problem model is closest to LSTM(lstm_units)'s parameter count."""
    from lstmcli.model.count import count

    shape = {"input_size": 2, "classes": 1, "head": "regress"}
    budget = count(ModelSpec(cell="lstm", units=lstm_units, **shape)).total
    if cell == "lstm":
        return lstm_units, budget
    fit = closest(*closest_units(ModelSpec(cell=cell, **shape), budget), budget)
    return fit.units, fit.total


def one_run(args: argparse.Namespace, cell: str, units: int, seed: int, folder: Path) -> dict[str, Any]:
    out = folder / f"{cell}-{seed}"
    cmd = [*common.lstmcli_command(), "train", "--task", "adding", "--length", str(args.length), "--cell", cell,
           "--units", str(units), "--seed", str(seed), "--steps", str(args.steps), "--eval-every",
           str(max(1, args.steps // 4)), "--out", str(out), "--quiet"]  # fmt: skip
    common.log(f"adding T={args.length}: {cell}({units}) seed {seed}, {args.steps} steps")
    measured = common.run_process(cmd, args.threads)
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    baseline = metrics["task"]["baseline"]["loss"]
    return {"cell": cell, "units": units, "seed": seed, "parameters": metrics["parameters"],
            "test_mse": metrics["test_mse"], "fraction": metrics["test_mse"] / baseline,
            "train_seconds": metrics["seconds"], **measured}  # fmt: skip


def measure_adding(args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-tasks-") as tmp:
        for cell in args.cells:
            units, _ = units_at_budget(cell, args.units)
            runs.extend(one_run(args, cell, units, seed, Path(tmp)) for seed in range(args.seeds))
    by_cell = {c: [r for r in runs if r["cell"] == c] for c in args.cells}
    lstm_ok = all(r["fraction"] < TARGET_FRACTION for r in by_cell.get("lstm", []))
    rnn_ok = all(r["fraction"] >= TARGET_FRACTION for r in by_cell.get("rnn", []))
    return {"length": args.length, "steps": args.steps, "runs": runs, "lstm_below": lstm_ok, "rnn_not_below": rnn_ok}


def render_adding(result: dict[str, Any], args: argparse.Namespace) -> str:
    rows = []
    for cell in args.cells:
        done = [r for r in result["runs"] if r["cell"] == cell]
        fractions = ", ".join(f"{r['fraction']:.1%}" for r in done)
        wall = common.summary([r["wall_s"] for r in done])
        rows.append([cell, done[0]["units"], f"{done[0]['parameters']:,}", fractions,
                     f"{sum(r['fraction'] for r in done) / len(done):.1%}", common.fmt(wall["median"], 1),
                     f"{max(r['peak_rss_bytes'] for r in done) / 1e6:,.0f}"])  # fmt: skip
    table = common.markdown_table(
        ["cell", "units", "parameters", "test MSE / baseline, per seed", "mean", "median wall (s)", "peak RSS (MB)"],
        rows,
    )
    verdict = "met" if result["lstm_below"] and result["rnn_not_below"] else "**missed**"
    quick = common.QUICK_NOTE if args.quick else ""
    return (
        f"`lstmcli train --task adding --length {result['length']} --steps {result['steps']} --cell CELL --units U "
        f"--seed S`, seeds 0-{args.seeds - 1}, each a whole process; the cells at LSTM({args.units})'s parameter "
        f"budget.{quick}\n\n{table}\n\nTarget (every LSTM seed below {TARGET_FRACTION:.0%} of the baseline, every "
        f"SimpleRNN seed not): {verdict}."
    )


def measure(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, str]:
    machine = common.machine_line(result["context"])
    result["adding"] = measure_adding(args)
    return {"tasks-adding": render_adding(result["adding"], args) + "\n\n" + machine}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common.parser(__doc__, PARTS, rounds=1, workers=[])
    parser.add_argument("--length", type=int, default=100, help="the adding problem's T (100)")
    parser.add_argument("--steps", type=int, default=1500, help="training steps of each run (1500)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell (3)")
    parser.add_argument("--units", type=int, default=32, help="the LSTM's units; the others match its budget (32)")
    parser.add_argument("--cells", type=lambda s: s.split(","), default=["lstm", "gru", "rnn"], help="lstm,gru,rnn")
    return common.parse(parser, argv, {"length": 6, "steps": 20, "seeds": 1, "units": 4, "cells": ["lstm", "rnn"]})


def main(argv: list[str] | None = None) -> int:
    return common.main(parse_args(argv), "tasks", {}, measure, TASKS_DOC)


if __name__ == "__main__":
    sys.exit(main())
