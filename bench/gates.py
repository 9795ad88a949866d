"""`lstmcli gates` against `lstmcli eval` on the same trained run, and the memory of --samples 1000.

    python bench/gates.py                      # trains a default run first (or --run RUN), 5 interleaved rounds
    python bench/gates.py --quick              # a 20-step run, 1 round, --samples 50: shows it runs

time    whole processes on a copy of the run: `lstmcli eval RUN` (the 10,000 test images, its confusion PNG) and
        `lstmcli gates RUN` (one test sequence recomputed in NumPy and checked against Keras, its PNG), one
        untimed run each, then --rounds alternating runs; medians. Target: gates at most 2x eval.
memory  the peak resident memory of one whole `lstmcli gates RUN --samples 1000 --format json` process (its
        wall time too). Target: under 1 GB (10^9 bytes).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import common

PARTS = ("time", "memory")
TARGET_RATIO, TARGET_BYTES = 2.0, 10**9
RUN_FILES = ("config.json", "metrics.json", "history.csv", "model.keras")


def trained_run(args: argparse.Namespace, folder: Path) -> Path:
    """A copy of --run (so the plots land in the copy), or a run trained now with the default preset."""
    run = folder / "run"
    if args.run:
        run.mkdir()
        for name in RUN_FILES:
            if (Path(args.run) / name).exists():
                shutil.copy2(Path(args.run) / name, run / name)
        return run
    steps = ["--steps", "20", "--eval-every", "10"] if args.quick else []
    common.log("training a default run for the benchmark")
    common.run_process([*common.lstmcli_command(), "train", "--out", str(run), "--quiet", *steps], args.threads)
    return run


def measure_time(args: argparse.Namespace, run: Path) -> dict[str, Any]:
    lstmcli = common.lstmcli_command()
    commands = {"eval": [*lstmcli, "eval", str(run)], "gates": [*lstmcli, "gates", str(run)]}
    seconds = common.time_commands(args, commands)
    return {"seconds": seconds, "ratio": common.ratio(seconds["gates"]["median"], seconds["eval"]["median"])}


def measure_memory(args: argparse.Namespace, run: Path) -> dict[str, Any]:
    cmd = [*common.lstmcli_command(), "gates", str(run), "--samples", str(args.samples), "--format", "json"]
    return {"samples": args.samples, **common.run_process(cmd, args.threads)}


def render_time(result: dict[str, Any], args: argparse.Namespace) -> str:
    rows = [[f"`lstmcli {name} RUN`", *common.spread_cells(stat, 2)] for name, stat in result["seconds"].items()]
    table = common.markdown_table(["whole process", "median wall (s)", "min - max", "spread"], rows)
    ok = common.verdict(result["ratio"], TARGET_RATIO, at_least=False)
    quick = common.QUICK_NOTE if args.quick else ""
    return (f"Median of {args.rounds} interleaved runs each, on a trained default run.{quick}\n\n{table}\n\n"
            f"gates / eval: **{common.fmt(result['ratio'], 2, 'x')}** (target <= {TARGET_RATIO}x: {ok}).")  # fmt: skip


def render_memory(result: dict[str, Any], args: argparse.Namespace) -> str:
    ok = common.verdict(result["peak_rss_bytes"], TARGET_BYTES, at_least=False)
    quick = common.QUICK_NOTE if args.quick else ""
    return (f"`lstmcli gates RUN --samples {result['samples']} --format json`: peak resident memory "
            f"**{result['peak_rss_bytes'] / 1e6:,.0f} MB** (target < {TARGET_BYTES / 1e9:g} GB: {ok}), "
            f"{result['wall_s']:.1f} s.{quick}")  # fmt: skip


def measure(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, str]:
    machine, sections = common.machine_line(result["context"]), {}
    with tempfile.TemporaryDirectory(prefix="bench-gates-") as tmp:
        run = trained_run(args, Path(tmp))
        if "time" in args.only:
            result["time"] = measure_time(args, run)
            sections["gates-time"] = render_time(result["time"], args) + "\n\n" + machine
        if "memory" in args.only:
            result["memory"] = measure_memory(args, run)
            sections["gates-memory"] = render_memory(result["memory"], args) + "\n\n" + machine
    return sections


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common.parser(__doc__, PARTS, rounds=5, workers=[])
    parser.add_argument("--run", default=None, help="a trained run folder to measure (default: train one)")
    parser.add_argument("--samples", type=int, default=1000, help="--samples of the memory part (1000)")
    return common.parse(parser, argv, {"rounds": 1, "samples": 50})


def main(argv: list[str] | None = None) -> int:
    return common.main(parse_args(argv), "gates", {}, measure)


if __name__ == "__main__":
    sys.exit(main())
