"""Local parallelism of `lstmcli sweep run`: K one-share worker processes against one worker on every core.

    python bench/sweep.py           # 3 rounds of each, alternating; medians
    python bench/sweep.py --quick   # 4 tiny trials each: shows it runs

workers-1  `lstmcli sweep run` of 8 short trials (cells lstm,gru x units 32,64 x seeds 0,1; --steps each) with
           --workers 1: one process that trains every trial on all the cores (TensorFlow splits each batch into
           one tower per core).
workers-2  the same sweep with --workers 2: two worker processes, each pinned to half the cores, so each trains
           one trial at a time on its own share (one tower each on 2 cores).
Both are whole processes (`lstmcli sweep run` from start to exit, including the study's creation and every
worker's start-up), each in a fresh temporary runs folder with its own SQLite study. Ratio = median seconds of
workers-2 / median seconds of workers-1 (target at most 0.7x).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from typing import Any

import common

SIDES = ("workers-1", "workers-2")
TARGET_RATIO = 0.7


def sweep_command(args: argparse.Namespace, workers: int, runs: str) -> list[str]:
    return [
        *common.lstmcli_command(), "sweep", "run", "bench", "--cell", args.cells, "--units", args.units,
        "--seeds", str(args.seeds), "--steps", str(args.steps), "--eval-every", str(args.steps),
        "--batch-size", str(args.batch_size), "--runs-dir", runs, "--workers", str(workers), "--quiet",
    ]  # fmt: skip


def measure(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, str]:
    def one(params: dict[str, Any]) -> dict[str, Any]:
        workers = int(params["side"].split("-")[1])
        with tempfile.TemporaryDirectory(prefix="bench-sweep-") as runs:
            return common.run_process(sweep_command(args, workers, runs), args.threads)

    runs = common.alternate(args.rounds, [{"side": s} for s in args.only], one)
    seconds = {s: common.summary([r["wall_s"] for r in common.select(runs, side=s)]) for s in SIDES}
    trials = len(args.cells.split(",")) * len(args.units.split(",")) * args.seeds
    result.update(runs=runs, seconds=seconds, trials=trials)
    result["ratio"] = common.ratio(seconds["workers-2"]["median"], seconds["workers-1"]["median"])
    return {"sweep": render(result, args)}


def render(result: dict[str, Any], args: argparse.Namespace) -> str:
    labels = {"workers-1": "`--workers 1` (one process, all cores)", "workers-2": "`--workers 2` (two, one share each)"}
    rows = [[labels[s], *common.spread_cells(result["seconds"][s], 1)] for s in SIDES if result["seconds"][s]["n"]]
    table = common.markdown_table(["`lstmcli sweep run`", "median wall (s)", "min - max", "spread"], rows)
    ratio = result["ratio"]
    head = (
        f"{result['trials']} trials (cells {args.cells} x units {args.units} x {args.seeds} seeds, {args.steps} steps "
        f"of batch {args.batch_size} each, bundled MNIST), whole processes, {args.rounds} round(s) alternating, "
        f"{args.threads} cores." + (common.QUICK_NOTE if args.quick else "")
    )
    judged = (
        f"Ratio `--workers 2` / `--workers 1`: **{common.fmt(ratio, 2, 'x')}** "
        f"(target <= {TARGET_RATIO}x: {common.verdict(ratio, TARGET_RATIO, at_least=False)})."
    )
    return "\n\n".join([head, table, judged, common.machine_line(result["context"])])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common.parser(__doc__, SIDES, rounds=3, workers=[])
    parser.add_argument("--cells", default="lstm,gru", help="the --cell list of the sweep (lstm,gru)")
    parser.add_argument("--units", default="32,64", help="the --units list of the sweep (32,64)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per configuration (2)")
    parser.add_argument("--steps", type=int, default=400, help="steps per trial (400)")
    parser.add_argument("--batch-size", type=int, default=50, help="batch size (50)")
    quick = {"rounds": 1, "units": "4", "steps": 20, "batch_size": 20}
    args = common.parse(parser, argv, quick)
    if args.seeds < 1 or args.steps < 1 or args.batch_size < 1:
        parser.error("need positive --seeds, --steps and --batch-size")
    return args


def main(argv: list[str] | None = None) -> int:
    return common.main(parse_args(argv), "sweep", {}, measure)


if __name__ == "__main__":
    sys.exit(main())
