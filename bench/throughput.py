"""Training throughput at several batch sizes, and how far each side is from the machine's matmul peak.

    python bench/throughput.py                 # 3 rounds x batch 50, 250, 1000 x 3 sides, all cores
    python bench/throughput.py --threads 1     # the same on one core (its own block and result file)
    python bench/throughput.py --quick         # batch 8, a fraction of a second each: shows it runs

lstmcli  lstmcli.train.step.CompiledStep on the --preset seed configuration (the training set in order,
         Adam 1e-3, constant rate): the compiled chunk `lstmcli train` calls, CHUNK steps per call
torch    nn.LSTM(28, 75, batch_first=True) + nn.Linear(75, 10) on the last output, Adam(1e-3),
         CrossEntropyLoss, zero_grad / forward / backward / step eagerly, loss.item() each step
keras    the article's loop: Sequential(Input(28, 28), LSTM(75), Dense(10, softmax)), Adam(1e-3),
         categorical cross-entropy, one train_on_batch per step

Each run is a fresh process: --warmup steps untimed (tracing, allocators), then whole calls until --seconds
have passed; images/s = steps x batch / seconds. GFLOP/s counts 3 x the forward pass's matrix-product FLOPs
per image (lstmcli.model.count), the usual forward + backward convention, against the best rate TensorFlow
reaches on large float32 products on the same cores, measured in the same TensorFlow workers.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import common

from lstmcli.model.count import count
from lstmcli.model.spec import ModelSpec
from lstmcli.train.presets import DEFAULT_PRESET
from lstmcli.train.step import CHUNK

SIDES = ("lstmcli", "torch", "keras")
LABELS = {
    "lstmcli": "lstmcli CompiledStep (--preset seed)",
    "torch": "PyTorch nn.LSTM eager loop",
    "keras": "article loop, Keras 3 train_on_batch",
}
# Issue 3's targets hold for the article's configuration, batch 50; issue 20's for the default run's batch.
TARGETS = {
    common.ARTICLE_BATCH: {"torch": 1.5, "keras": 2.0, "spread": 1.3},
    DEFAULT_PRESET["batch_size"]: {"torch": 1.5},
}
FORWARD_FLOP = count(ModelSpec()).flops  # ModelSpec's defaults are the article's LSTM(75) on 28 x 28 images
TRAIN_FLOP = 3 * FORWARD_FLOP


# -- workers (each runs in a fresh process) ------------------------------------------------------


def timed_loop(call: Callable[[int], float], per_call: int, args: argparse.Namespace) -> dict[str, Any]:
    """--warmup steps untimed, then whole calls until --seconds have passed. `call(i)` runs the i-th call of
    `per_call` steps and returns the sum of their losses; the warm-up mean loss lets lstmcli and the article's
    loop, seeded alike on the same batches, be checked to train the same model."""
    started = time.perf_counter()
    warm_calls = args.warmup // per_call
    warm_loss = sum(call(i) for i in range(warm_calls))
    t0 = time.perf_counter()
    calls = 0
    while (elapsed := time.perf_counter() - t0) < args.seconds:
        call(warm_calls + calls)
        calls += 1
    steps = calls * per_call
    return {
        "steps": steps,
        "seconds": elapsed,
        "steps_per_s": steps / elapsed,
        "images_per_s": steps * args.batch / elapsed,
        "warmup_s": t0 - started,
        "warmup_mean_loss": warm_loss / args.warmup,
    }


def tensorflow_facts(tf: Any, quick: bool) -> dict[str, Any]:
    """Thread pools as configured, and the matmul peak: one large float32 product per inter-op thread, side by
    side, so every core of the worker multiplies (one product alone would use only the intra-op threads)."""
    parallel = tf.config.threading.get_inter_op_parallelism_threads()
    size, repeats = (256, 2) if quick else (2048, 5)
    a = tf.random.normal([size, size])

    @tf.function
    def products(m: Any) -> Any:
        return [tf.matmul(m, m) for _ in range(parallel)]

    products(a)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        products(a)[0].numpy()
        best = min(best, time.perf_counter() - t0)
    return {
        "matmul_peak_gflops": parallel * 2 * size**3 / best / 1e9,
        "matmul_size": size,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": parallel,
    }


def ops_per_step(step: Any) -> int:
    """TensorFlow ops in one training step (forward, gradient, Adam), traced but not run: with the step rate it
    gives the wall time per op, which tells cores busy multiplying from cores busy dispatching small ops."""
    from lstmcli.train.step import batch_loss, split_bounds

    tf, model, batch = step.tf, step.model, step.config.batch_size
    bounds, variables = split_bounds(batch, step.towers), model.trainable_variables

    def one(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            loss, _ = batch_loss(model, x, y, step.data.classes, bounds)
        step.optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    shapes = (tf.TensorSpec([batch, step.data.timesteps, step.data.features]), tf.TensorSpec([batch], tf.int32))
    return len(tf.function(one).get_concrete_function(*shapes).graph.get_operations())


def worker_lstmcli(args: argparse.Namespace) -> dict[str, Any]:
    from lstmcli import datasets
    from lstmcli.train.config import from_preset
    from lstmcli.train.step import CompiledStep

    data = datasets.load()
    config = from_preset("seed", batch_size=args.batch, seed=0)
    spec = config.model_spec(data.timesteps, data.features, data.classes)
    step = CompiledStep(config, spec, data, config.total_steps(len(data.y_train)))
    timing = timed_loop(lambda i: step.run(i * CHUNK, CHUNK)[0], CHUNK, args)
    return {**timing, **tensorflow_facts(step.tf, args.quick), "ops_per_step": ops_per_step(step)}


def worker_keras(args: argparse.Namespace) -> dict[str, Any]:
    from lstmcli import datasets, runtime

    tf = runtime.tensorflow(seed=0)  # lstmcli's thread policy, which is also the fastest measured for this loop
    data = datasets.load()
    x, y = common.article_arrays(data, "train")
    model = common.article_model(data)

    def call(i: int) -> float:
        part = common.batch_slice(i, args.batch, len(x))
        out = model.train_on_batch(x[part], y[part])
        return float(out[0] if isinstance(out, list | tuple) else out)

    return {**timed_loop(call, 1, args), **tensorflow_facts(tf, args.quick)}


def worker_torch(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch
    from torch import nn

    from lstmcli import datasets
    from lstmcli.runtime import cores

    torch.set_num_threads(cores())
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    data = datasets.load()
    x = torch.from_numpy(data.x_train.astype(np.float32) / np.float32(data.scale))
    y = torch.from_numpy(data.y_train.astype(np.int64))
    lstm, head = nn.LSTM(data.features, common.ARTICLE_UNITS, batch_first=True), nn.Linear(common.ARTICLE_UNITS, 10)
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=common.ARTICLE_LR)
    loss_fn = nn.CrossEntropyLoss()  # softmax + categorical cross-entropy on the logits

    def call(i: int) -> float:
        part = common.batch_slice(i, args.batch, len(x))
        optimizer.zero_grad()
        out, _ = lstm(x[part])
        loss = loss_fn(head(out[:, -1]), y[part])
        loss.backward()
        optimizer.step()
        return loss.item()

    timing = timed_loop(call, 1, args)
    return {**timing, "intra_op_threads": torch.get_num_threads(), "inter_op_threads": torch.get_num_interop_threads()}


WORKERS = {"lstmcli": worker_lstmcli, "torch": worker_torch, "keras": worker_keras}


# -- the parent ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common.parser(__doc__, SIDES, rounds=3, workers=list(WORKERS))
    parser.add_argument("--batch-sizes", default="50,250,1000", help="comma-separated batch sizes (50,250,1000)")
    parser.add_argument("--warmup", type=int, default=2 * CHUNK, help=f"untimed steps, a multiple of {CHUNK} (100)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per run, at least (5)")
    quick = {"rounds": 1, "batch_sizes": "8", "warmup": CHUNK, "seconds": 0.2}
    args = common.parse(parser, argv, quick)
    try:
        args.batch_sizes = [int(b) for b in str(args.batch_sizes).split(",") if b.strip()]
    except ValueError:
        parser.error("--batch-sizes takes whole numbers, e.g. 50,250,1000")
    if not args.batch_sizes or min(args.batch_sizes) < 1:
        parser.error("--batch-sizes must be positive")
    if args.warmup < CHUNK or args.warmup % CHUNK or args.seconds <= 0:
        parser.error(f"--warmup must be a positive multiple of {CHUNK} (lstmcli's steps per call), --seconds > 0")
    return args


def side_stats(runs: list[dict[str, Any]], peak: float | None) -> dict[str, Any]:
    images, steps = (common.summary([r[key] for r in runs]) for key in ("images_per_s", "steps_per_s"))
    ops = runs[0].get("ops_per_step")
    gflops = images["median"] * TRAIN_FLOP / 1e9
    return {
        "images_per_s": images,
        "steps_per_s": steps,
        "gflops": gflops,
        "share_of_peak": common.ratio(gflops, peak),
        "warmup_s": common.summary([r["warmup_s"] for r in runs])["median"],
        "warmup_mean_loss": common.summary([r["warmup_mean_loss"] for r in runs])["median"],
        "ops_per_step": ops,
        "us_per_op": ops and 1e6 / steps["median"] / ops,
    }


def measure(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, str]:
    sides = [s for s in args.only if s != "torch" or common.package_version("torch")]
    result["notes"] = [] if sides == args.only else ["torch not installed (pip install -e '.[bench]'): PyTorch skipped"]
    for note in result["notes"]:
        common.log("note: " + note)
    plan = [{"batch": b, "side": s} for b in args.batch_sizes for s in sides]
    runs = common.alternate(args.rounds, plan, lambda p: common.run_worker(p["side"], args, batch=p["batch"]))
    peak = common.summary([r.get("matmul_peak_gflops") for r in runs])
    stats, ratios = {}, {}
    for b in args.batch_sizes:
        for s in sides:
            stats[f"{s}@{b}"] = side_stats(common.select(runs, batch=b, side=s), peak["median"])
        ours = common.select(runs, batch=b, side="lstmcli")
        for other in ("torch", "keras"):
            theirs = common.select(runs, batch=b, side=other)
            if ours and theirs:
                per_round = [a["images_per_s"] / c["images_per_s"] for a, c in zip(ours, theirs, strict=True)]
                of_medians = common.ratio(
                    stats[f"lstmcli@{b}"]["images_per_s"]["median"], stats[f"{other}@{b}"]["images_per_s"]["median"]
                )
                ratios[f"lstmcli/{other}@{b}"] = {"of_medians": of_medians, "per_round": common.summary(per_round)}
    result.update(
        sides=sides, flop_per_image={"forward": FORWARD_FLOP, "training": TRAIN_FLOP}, matmul_peak_gflops=peak
    )
    result.update(stats=stats, ratios=ratios, runs=runs)
    return {"throughput": render(result, args)}


def side_row(batch: int, side: str, st: dict[str, Any]) -> list[Any]:
    share = st["share_of_peak"]
    return [
        batch,
        LABELS[side],
        *common.spread_cells(st["images_per_s"], 0),
        common.fmt(st["steps_per_s"]["median"], 1),
        common.fmt(st["gflops"], 1),
        common.fmt(share and 100 * share, 1, "%"),
        common.fmt(st["warmup_mean_loss"], 4),
        common.fmt(st["warmup_s"], 1, " s"),
    ]


def ratio_rows(batch: int, result: dict[str, Any]) -> list[list[Any]]:
    """lstmcli against each other side at `batch`, judged where an issue set a target for that batch."""
    targets = TARGETS.get(batch, {})
    rows = []
    for other in ("torch", "keras"):
        r = result["ratios"].get(f"lstmcli/{other}@{batch}")
        if r:
            goal = targets.get(other)
            ok = common.verdict(r["of_medians"], goal, at_least=True) if goal else ""
            value = common.fmt(r["of_medians"], 2, "x")
            rows.append([batch, f"lstmcli / {LABELS[other]}", value, common.low_high(r["per_round"]),
                         f">= {goal}x" if goal else "", ok])  # fmt: skip
    if "spread" in targets and "lstmcli" in result["sides"]:
        spread = result["stats"][f"lstmcli@{batch}"]["images_per_s"]["spread"]
        ok = common.verdict(spread, targets["spread"], at_least=False)
        rows.append([batch, "lstmcli spread (max/min)", common.fmt(spread, 2, "x"), "", f"< {targets['spread']}x", ok])
    return rows


def render(result: dict[str, Any], args: argparse.Namespace) -> str:
    s, stats = result["settings"], result["stats"]
    sides = [(b, side) for b in args.batch_sizes for side in result["sides"]]
    headers = ["batch", "", "images/s (median)", "min - max", "spread", "steps/s", "GFLOP/s", "of peak"]
    table = common.markdown_table(
        [*headers, "warm-up loss", "warm-up"], [side_row(b, x, stats[f"{x}@{b}"]) for b, x in sides]
    )
    ratios = [row for b in args.batch_sizes for row in ratio_rows(b, result)]
    lines = [
        f"{s['rounds']} round(s); one fresh process per run: {s['warmup']} untimed warm-up steps, then whole calls "
        f"until {s['seconds']} s have passed; {s['threads']} core(s), and as many threads, per framework."
        + (common.QUICK_NOTE if s["quick"] else ""),
        table,
        common.markdown_table(["batch", "ratio of medians (images/s)", "value", "per round", "target", ""], ratios),
        f"GFLOP/s = images/s x {TRAIN_FLOP:,} FLOP per image: 3 x the {FORWARD_FLOP:,} FLOP of the forward pass's "
        "matrix products (lstmcli.model.count), the usual forward + backward convention. Peak: "
        f"{common.fmt(result['matmul_peak_gflops']['median'], 0)} GFLOP/s, the best rate of large float32 products "
        "in TensorFlow, one per inter-op thread side by side on the same cores (median over the TensorFlow workers).",
    ]
    per_op = [(b, stats[f"lstmcli@{b}"]) for b in args.batch_sizes if "lstmcli" in result["sides"]]
    if per_op:
        ops = ", ".join(f"{st['us_per_op']:.2f} us at batch {b}" for b, st in per_op)
        lines.append(
            f"lstmcli's training step is {per_op[0][1]['ops_per_step']:,} TensorFlow ops; wall time per op: {ops}."
        )
    return "\n\n".join([*lines, *(f"Note: {n}." for n in result["notes"]), common.machine_line(result["context"])])


def main(argv: list[str] | None = None) -> int:
    return common.main(parse_args(argv), "throughput", WORKERS, measure)


if __name__ == "__main__":
    sys.exit(main())
