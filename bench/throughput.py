"""Training throughput on the article's configuration: lstmcli vs the article's Keras loop vs PyTorch.

    python bench/throughput.py                # full: 3 rounds x 1,200 measured steps (one epoch) each
    python bench/throughput.py --quick        # validation: 1 round x 100 steps, no docs update

All three train LSTM(75) over 28 steps of 28 pixels -> Dense(10), Adam 1e-3, batch 50, the bundled
MNIST training set in order (the article's `--preset seed` order), same data and shapes:

  lstmcli   lstmcli.train.loop.Trainer.fit on `--preset seed`, evaluation and checkpoints pushed past the end,
            timed by a reporter that stamps the clock at every chunk boundary (every 50 steps)
  keras     the article's loop in Keras 3: keras.Sequential(Input(28, 28), LSTM(75), Dense(10, softmax)),
            compile(Adam(1e-3), categorical_crossentropy), one model.train_on_batch per batch
  torch     nn.LSTM(28, 75, batch_first=True) + nn.Linear(75, 10), Adam(1e-3), CrossEntropyLoss, eager loop

Each runs `--warmup` steps first (graph tracing, allocator and cache warm-up), then
`--steps` more under the clock; steps/s = measured steps / their wall seconds. Each competitor runs in
its own subprocess per round, in the order A B C A B C ...; the table gives the median and the spread
(max/min) over rounds, and the ratios of medians. See bench/README.md for the thread policy.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common

from lstmcli.train.step import CHUNK  # steps per compiled call: measured steps must be a multiple of it

COMPETITORS = ("lstmcli", "keras", "torch")
LABELS = {
    "lstmcli": "lstmcli train (Trainer, --preset seed)",
    "keras": "article loop, Keras 3 train_on_batch",
    "torch": "PyTorch nn.LSTM eager loop",
}
TARGETS = {"lstmcli/torch": 1.5, "lstmcli/keras": 2.0, "spread": 1.3}
BATCH, UNITS, LR = common.ARTICLE_BATCH, common.ARTICLE_UNITS, common.ARTICLE_LR


# -- workers (each runs in its own process) ------------------------------------------------------


def load_mnist() -> Any:
    from lstmcli import data as dataset

    return dataset.load()


def use_threads(threads: int) -> None:
    """Make lstmcli.runtime.tensorflow() size TensorFlow's intra-op pool to `threads` instead of the core count."""
    from lstmcli import runtime

    runtime.cores = lambda: threads  # read by runtime.tensorflow() when it configures the pools


def timed_loop(step: Any, warmup: int, steps: int) -> dict[str, Any]:
    """Run `warmup` untimed steps, then `steps` under the clock (the Keras and PyTorch loops share this)."""
    started = time.perf_counter()
    for i in range(warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        step(i)
    seconds = time.perf_counter() - t0
    return {
        "steps": steps,
        "seconds": seconds,
        "steps_per_s": steps / seconds,
        "warmup_steps": warmup,
        "warmup_s": t0 - started,
    }


def worker_lstmcli(warmup: int, steps: int, threads: int) -> dict[str, Any]:
    use_threads(threads)
    from lstmcli.cli.progress import Quiet
    from lstmcli.train import config as config_module
    from lstmcli.train.loop import RunState, StopSignals, Trainer

    class Stamps(Quiet):
        """A reporter that records (step, time) at each return of the compiled chunk to Python."""

        def __init__(self) -> None:
            self.marks: list[tuple[int, float, float]] = []

        def advance(self, step: int, epoch: float, loss: float, accuracy: float, rate: float) -> None:
            self.marks.append((step, time.perf_counter(), loss))

    data = load_mnist()
    # Evaluation and checkpoints pushed past the end: the loop returns to Python only every CHUNK steps
    # (the final evaluation and checkpoint happen after the last stamp, outside the clock).
    config = config_module.from_preset("seed", steps=warmup + steps, eval_every=10**9, checkpoint_every=10**9, seed=0)
    reporter = Stamps()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        trainer = Trainer(config, data, Path(tmp), reporter)
        built = time.perf_counter()
        trainer.fit(RunState(), StopSignals())
    marks = reporter.marks
    first = next(m for m in marks if m[0] >= warmup)
    last = marks[-1]
    measured = last[0] - first[0]
    seconds = last[1] - first[1]
    import tensorflow as tf

    return {
        "steps": measured,
        "seconds": seconds,
        "steps_per_s": measured / seconds,
        "warmup_steps": first[0],
        "warmup_s": first[1] - built,
        "setup_s": built - started,
        "mean_train_loss": last[2],
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def worker_keras(warmup: int, steps: int, threads: int) -> dict[str, Any]:
    use_threads(threads)
    from lstmcli import runtime

    tf = runtime.tensorflow(seed=0)  # the same thread policy as lstmcli (bench/README.md)
    import numpy as np

    data = load_mnist()
    x, y = common.article_arrays(data, "train")
    model = common.article_model(data)
    n = len(x)
    losses = []

    def step(i: int) -> None:
        lo = (i * BATCH) % n
        out = model.train_on_batch(x[lo : lo + BATCH], y[lo : lo + BATCH])
        losses.append(float(out[0] if isinstance(out, list | tuple) else out))

    return {
        **timed_loop(step, warmup, steps),
        "mean_train_loss": float(np.mean(losses)),
        "jit_compile": bool(getattr(model, "jit_compile", False)),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def worker_torch(warmup: int, steps: int, threads: int) -> dict[str, Any]:
    import numpy as np
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    data = load_mnist()
    x = torch.from_numpy(data.x_train.astype(np.float32) / np.float32(data.scale))
    y = torch.from_numpy(data.y_train.astype(np.int64))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(data.features, UNITS, batch_first=True)
            self.head = nn.Linear(UNITS, data.classes)

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            out, _ = self.lstm(images)
            return self.head(out[:, -1])

    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()  # softmax + categorical cross-entropy on the logits
    n = len(x)
    losses = []

    def step(i: int) -> None:
        lo = (i * BATCH) % n
        optimizer.zero_grad()
        loss = loss_fn(model(x[lo : lo + BATCH]), y[lo : lo + BATCH])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    return {
        **timed_loop(step, warmup, steps),
        "mean_train_loss": float(np.mean(losses)),
        "intra_op_threads": torch.get_num_threads(),
        "inter_op_threads": torch.get_num_interop_threads(),
    }


WORKERS = {"lstmcli": worker_lstmcli, "keras": worker_keras, "torch": worker_torch}


# -- the driver ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of A B C (default 3)")
    parser.add_argument("--steps", type=int, default=1200, help="measured steps per run, multiple of 50 (1200)")
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured steps first, multiple of 50 (100)")
    parser.add_argument(
        "--only", default=",".join(COMPETITORS), help="comma-separated subset of lstmcli,keras,torch (default all)"
    )
    parser.add_argument(
        "--threads", type=int, default=common.cores(), help="intra-op threads for every side (default: the cores)"
    )
    parser.add_argument("--quick", action="store_true", help="validation: 1 round, 100 steps, 50 warm-up, no docs")
    common.add_output_options(parser)
    parser.add_argument("--worker", choices=COMPETITORS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.steps, args.warmup = 1, 100, 50
    for name in ("steps", "warmup"):
        value = getattr(args, name)
        if value < CHUNK or value % CHUNK:
            parser.error(f"--{name} must be a positive multiple of {CHUNK} (lstmcli returns to Python every {CHUNK})")
    if args.rounds < 1 or args.threads < 1:
        parser.error("--rounds and --threads must be at least 1")
    args.competitors = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = set(args.competitors) - set(COMPETITORS)
    if unknown:
        parser.error(f"unknown competitor(s): {', '.join(sorted(unknown))}")
    return args


def render(result: dict[str, Any]) -> str:
    ctx, stats, ratios = result["context"], result["competitors"], result["ratios"]
    s = result["settings"]
    rows = []
    for name in result["order"]:
        st = stats[name]["steps_per_s"]
        rows.append(
            [
                LABELS[name],
                common.fmt(st["median"], 1),
                f"{common.fmt(st['min'], 1)} - {common.fmt(st['max'], 1)}",
                common.fmt(st["spread"], 2, "x"),
                " / ".join(common.fmt(v, 1) for v in st["values"]),
                common.fmt(stats[name]["mean_train_loss"], 3),
                common.fmt(stats[name]["warmup_s"], 1, " s"),
            ]
        )
    table = common.markdown_table(
        ["", "steps/s (median)", "min - max", "spread (max/min)", "per round", "mean train loss", "warm-up (median)"],
        rows,
    )
    ratio_rows = []
    for key, target in (("lstmcli/torch", 1.5), ("lstmcli/keras", 2.0)):
        if key in ratios:
            r = ratios[key]
            ratio_rows.append(
                [
                    key.replace("keras", "article loop"),
                    common.fmt(r["of_medians"], 2, "x"),
                    common.fmt(r["per_round"]["min"], 2) + " - " + common.fmt(r["per_round"]["max"], 2),
                    f">= {target}x",
                    common.verdict(r["of_medians"], target, at_least=True),
                ]
            )
    if "lstmcli" in stats:
        spread = stats["lstmcli"]["steps_per_s"]["spread"]
        ratio_rows.append(["lstmcli spread (max/min)", common.fmt(spread, 2, "x"), "", "< 1.3x", _spread(spread)])
    ratios_table = common.markdown_table(["ratio", "value", "per-round range", "target", ""], ratio_rows)
    head = (
        f"{s['rounds']} round(s) of {' '.join(result['order'])}, each {s['steps']} measured steps after "
        f"{s['warmup']} warm-up steps, one subprocess per run, {s['threads']} threads per framework."
        + (" **Quick mode: validation only, not a measurement.**" if s["quick"] else "")
    )
    return f"{head}\n\n{table}\n\n{ratios_table}\n\nMachine: {common.machine_line(ctx)}."


def _spread(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "met" if value < TARGETS["spread"] else "missed"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        common.emit(WORKERS[args.worker](args.warmup, args.steps, args.threads))
        return 0
    competitors = list(args.competitors)
    notes = []
    if "torch" in competitors and common.package_version("torch") is None:
        competitors.remove("torch")
        notes.append("torch not installed (pip install -e '.[bench]'); PyTorch skipped")
        common.log("note: " + notes[-1])
    threads = args.threads
    ctx = common.context()
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in competitors}
    script = Path(__file__).resolve()
    for rnd in range(1, args.rounds + 1):
        for name in competitors:
            worker_args = ["--worker", name, "--steps", str(args.steps), "--warmup", str(args.warmup)]
            worker_args += ["--threads", str(threads)]
            run = common.run_worker(script, worker_args, threads)
            run["round"] = rnd
            runs[name].append(run)
            common.log(
                f"round {rnd}/{args.rounds} {name:8s} {run['steps_per_s']:8.1f} steps/s "
                f"({run['steps']} steps in {run['seconds']:.2f} s; warm-up {run['warmup_s']:.1f} s, "
                f"process {run['process_wall_s']:.1f} s)"
            )
    stats = {
        name: {
            "steps_per_s": common.summary([r["steps_per_s"] for r in runs[name]]),
            "mean_train_loss": common.summary([r["mean_train_loss"] for r in runs[name]])["median"],
            "warmup_s": common.summary([r["warmup_s"] for r in runs[name]])["median"],
            "runs": runs[name],
        }
        for name in competitors
    }
    ratios = {}
    for other in ("torch", "keras"):
        if "lstmcli" in stats and other in stats:
            per_round = [a["steps_per_s"] / b["steps_per_s"] for a, b in zip(runs["lstmcli"], runs[other], strict=True)]
            ratios[f"lstmcli/{other}"] = {
                "of_medians": common.ratio(
                    stats["lstmcli"]["steps_per_s"]["median"], stats[other]["steps_per_s"]["median"]
                ),
                "per_round": common.summary(per_round),
                "target": TARGETS[f"lstmcli/{other}"],
            }
    ctx["machine"]["load_average_end"] = common.load_average()
    result = {
        "benchmark": "throughput",
        "context": ctx,
        "settings": {
            "rounds": args.rounds,
            "steps": args.steps,
            "warmup": args.warmup,
            "batch_size": BATCH,
            "units": UNITS,
            "learning_rate": LR,
            "order": "sequential (the article's, lstmcli --preset seed)",
            "threads": threads,
            "quick": args.quick,
        },
        "order": competitors,
        "competitors": stats,
        "ratios": ratios,
        "notes": notes,
    }
    # The default policy (threads = cores) has its own block; another --threads gets a block of its own.
    name = "throughput" if threads == common.cores() else f"throughput-threads-{threads}"
    common.publish(name, result, {name: render(result)}, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
