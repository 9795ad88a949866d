"""Training throughput on long sequences: the same 784 pixels per image read as 28 x 28, 196 x 4 and 784 x 1.

    python bench/long_sequences.py            # scaling table + kernel candidates + profile, all cores
    python bench/long_sequences.py --quick    # tiny settings: shows every side runs (the test suite)

Scaling table (every --cells x --lengths, at --batch): lstmcli's compiled step (`CompiledStep`, as `lstmcli
train` runs it: towers, graph mode, unrolled up to 64 steps) against PyTorch's eager nn.LSTM / GRU / RNN loop.
Kernel candidates for the LSTM at --kernel-lengths, each in lstmcli's loop (the same batches, towers, loss and
Adam, from lstmcli.train.step): TensorFlow's fused whole-sequence op (BlockLSTMV2 and BlockLSTMGradV2,
bench/kernels.py), XLA (jit_compile=True), the other choice of unrolling (lstmcli unrolls up to 64 steps:
rolled there, unrolled beyond, up to --unroll-max steps), one tower on all cores,
and lstmcli's step at --big-batch. GRU and SimpleRNN have no fused whole-sequence op in TensorFlow
(GRUBlockCell is one step, and computes Keras's reset_after=False GRU, not the default).

Each run is a fresh process: one untimed call (tracing), then whole calls until --seconds have passed (at
least --min-calls). Recorded: images/s of wall time, and images per CPU-second of the process (on a shared
machine the wall clock counts the neighbours, CPU time mostly does not), GFLOP/s (3 x the forward pass's
matrix-product FLOPs, lstmcli.model.count), the process's peak RSS, and in every TensorFlow worker the
matmul peak (large products) and the rate of the step's own recurrent product (batch/towers x units times
units x gates*units), which bounds a loop that multiplies step by step. The profile: one step of lstmcli's
step and of the fused op at the longest length, TensorFlow's host trace summed by op type.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import common
import throughput

from lstmcli.model.count import count
from lstmcli.model.spec import CELL_NAMES, ModelSpec
from lstmcli.train.presets import TASK_DEFAULTS
from lstmcli.train.step import CHUNK

PIXELS = 784
# The run `lstmcli train --task pixels` makes with no other option: the target is judged at its batch.
PIXELS_UNITS, PIXELS_BATCH = ModelSpec().units, TASK_DEFAULTS["pixels"]["batch_size"]
SIDES = ("graph", "torch", "fused", "xla", "unroll", "towers1", "big")
LABELS = {
    "graph": "lstmcli CompiledStep (graph mode)",
    "torch": "PyTorch eager loop",
    "fused": "fused BlockLSTMV2 + BlockLSTMGradV2",
    "xla": "XLA (jit_compile=True)",
    "unroll": "unrolling flipped (rolled up to 64 steps, unrolled beyond)",
    "towers1": "one tower, intra-op threads = cores",
    "big": "lstmcli CompiledStep at --big-batch",
}
SCALING = ("graph", "torch")  # measured for every cell and length; the others for the LSTM at --kernel-lengths
NOT_OPS = ("Process", "Run")  # the executor's own trace events, around the ops
TARGET_SHARE = 0.40  # issue 20: 784 steps at >= 40% of the matmul peak


def spec_of(cell: str, steps: int, units: int) -> ModelSpec:
    return ModelSpec(cell=cell, units=units, input_size=PIXELS // steps, timesteps=steps)


def train_flop(cell: str, steps: int, units: int) -> int:
    return 3 * count(spec_of(cell, steps, units)).flops


def per_call(steps: int) -> int:
    """Training steps per compiled call: CHUNK at 28 steps, fewer for longer sequences (about as much work)."""
    return max(1, min(CHUNK, CHUNK * 28 // steps))


# -- workers (each runs in a fresh process) ------------------------------------------------------


def pixels_data(steps: int) -> Any:
    """The bundled MNIST with each image read as `steps` steps of 784/steps pixels (28 x 28 is the article's)."""
    from dataclasses import replace

    from lstmcli import datasets

    d = datasets.load()
    shape = (steps, PIXELS // steps)
    return replace(d, x_train=d.x_train.reshape(-1, *shape), x_test=d.x_test.reshape(-1, *shape))


def timed_calls(call: Callable[[int], float], steps: int, args: argparse.Namespace) -> dict[str, Any]:
    """One untimed call (tracing), then whole calls until --seconds have passed and at least --min-calls ran."""
    started = time.perf_counter()
    warm_loss = call(0) / steps
    t0, c0 = time.perf_counter(), time.process_time()
    calls = 0
    while calls < args.min_calls or time.perf_counter() - t0 < args.seconds:
        call(calls + 1)
        calls += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    images = calls * steps * args.batch
    return {
        "measured_steps": calls * steps,
        "seconds": wall,
        "cpu_seconds": cpu,
        "images_per_s": images / wall,
        "images_per_cpu_s": images / cpu,
        "warmup_s": t0 - started,
        "warmup_mean_loss": warm_loss,
    }


def step_product_rate(tf: Any, rows: int, units: int, gates: int, quick: bool) -> float:
    """GFLOP/s of the step's recurrent product (rows x units times units x gates*units), one chain per inter-op
    thread side by side, many in a row: the rate a loop that multiplies step by step can reach at best."""
    parallel = tf.config.threading.get_inter_op_parallelism_threads()
    h, u = tf.random.normal([rows, units]), tf.random.normal([units, gates * units]) * 0.01
    repeats = 20 if quick else 400

    @tf.function
    def chains(h: Any, u: Any) -> Any:
        outs = []
        for _ in range(parallel):
            acc = tf.zeros([rows, gates * units])
            for _ in tf.range(repeats):
                acc += tf.matmul(h, u)
            outs.append(acc)
        return outs

    chains(h, u)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        chains(h, u)[0].numpy()
        best = min(best, time.perf_counter() - t0)
    return parallel * repeats * 2 * rows * units * gates * units / best / 1e9


def tf_facts(tf: Any, args: argparse.Namespace, towers: int) -> dict[str, Any]:
    gates = len(spec_of(args.cell, args.steps, args.units).gates)
    rows = -(-args.batch // towers)
    rate = step_product_rate(tf, rows, args.units, gates, args.quick)
    return {**throughput.tensorflow_facts(tf, args.quick), "step_product_gflops": rate, "towers": towers}


Built = tuple[Callable[[int], float], Any, int, bool]  # call(i) -> loss sum, tf, towers, unrolled


def build_graph(args: argparse.Namespace) -> Built:
    """lstmcli's own compiled step, untouched: the default preset's step at this batch, cell and length."""
    from lstmcli.train.config import from_preset
    from lstmcli.train.step import CompiledStep

    data = pixels_data(args.steps)
    config = from_preset("default", batch_size=args.batch, cell=args.cell, units=args.units, seed=0)
    spec = config.model_spec(data.timesteps, data.features, data.classes)
    step = CompiledStep(config, spec, data, config.total_steps(len(data.y_train)))
    n = per_call(args.steps)
    return (lambda i: step.run(i * n, n)[0]), step.tf, step.towers, spec.unroll


def build_variant(args: argparse.Namespace, variant: str) -> Built:
    """lstmcli's step with one thing changed (the kernel, XLA, unrolling or the towers): the same batches
    (batch_indices), model and initial weights (the factory, seeded alike), loss and towers (batch_loss)
    and Adam with the default preset's schedule, so its warm-up loss matches the graph side's."""
    from dataclasses import replace

    from lstmcli import runtime
    from lstmcli.train.config import from_preset
    from lstmcli.train.step import batch_indices, batch_loss, learning_rate, split_bounds

    tf = runtime.tensorflow(seed=0, deterministic=variant != "xla")
    towers = 1 if variant == "towers1" else runtime.towers()
    if variant == "towers1":  # one chain on every core: its products get all the intra-op threads
        tf.config.threading.set_intra_op_parallelism_threads(runtime.cores())
        tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    import kernels

    from lstmcli.model.factory import build_model

    data = pixels_data(args.steps)
    config = from_preset("default", batch_size=args.batch, cell=args.cell, units=args.units, seed=0)
    spec = config.model_spec(data.timesteps, data.features, data.classes)
    model = build_model(replace(spec, unroll=not spec.unroll) if variant == "unroll" else spec)
    forward = kernels.FusedModel(model) if variant == "fused" else model
    total, size = config.total_steps(len(data.y_train)), len(data.y_train)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate(config, total))
    optimizer.build(model.trainable_variables)
    x_all, y_all, variables = tf.constant(data.x_train), tf.constant(data.y_train), model.trainable_variables
    bounds, scale = split_bounds(args.batch, towers), data.scale

    @tf.function(jit_compile=variant == "xla")
    def chunk(idx: Any) -> Any:
        loss_sum = tf.constant(0.0)
        for k in tf.range(tf.shape(idx)[0]):  # a tf.while_loop, as in lstmcli's step
            x = tf.cast(tf.gather(x_all, idx[k]), tf.float32) / scale
            with tf.GradientTape() as tape:
                loss, _ = batch_loss(forward, x, tf.gather(y_all, idx[k]), data.classes, bounds)
            optimizer.apply(tape.gradient(loss, variables), variables)
            loss_sum += loss
        return loss_sum

    n = per_call(args.steps)

    def call(i: int) -> float:
        return float(chunk(tf.constant(batch_indices(config, size, i * n, n))))

    return call, tf, towers, spec.unroll != (variant == "unroll")


def build(args: argparse.Namespace, side: str) -> Built:
    return build_graph(args) if side in ("graph", "big") else build_variant(args, side)


def worker_tf(args: argparse.Namespace) -> dict[str, Any]:
    call, tf, towers, unrolled = build(args, args.side)
    timing = timed_calls(call, per_call(args.steps), args)
    return {**timing, **tf_facts(tf, args, towers), "unroll": unrolled}


def worker_torch(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch
    from torch import nn

    from lstmcli.runtime import cores

    torch.set_num_threads(cores())
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    data = pixels_data(args.steps)
    x = torch.from_numpy(data.x_train.astype(np.float32) / np.float32(data.scale))
    y = torch.from_numpy(data.y_train.astype(np.int64))
    layer = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[args.cell](data.features, args.units, batch_first=True)
    head = nn.Linear(args.units, data.classes)
    optimizer = torch.optim.Adam([*layer.parameters(), *head.parameters()], lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def call(i: int) -> float:
        part = common.batch_slice(i, args.batch, len(x))
        optimizer.zero_grad()
        out, _ = layer(x[part])
        loss = loss_fn(head(out[:, -1]), y[part])
        loss.backward()
        optimizer.step()
        return loss.item()

    timing = timed_calls(call, 1, args)
    return {**timing, "intra_op_threads": torch.get_num_threads(), "inter_op_threads": torch.get_num_interop_threads()}


def worker_profile(args: argparse.Namespace) -> dict[str, Any]:
    """One training step of `args.side` under TensorFlow's profiler, after the call that traced it; the host
    trace's op events (inside the while loops too) summed by op type."""
    import collections
    import glob
    import tempfile

    call, tf, _, _ = build(args, args.side)
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    call(0)
    logdir = tempfile.mkdtemp(prefix="bench-profile-")
    tf.profiler.experimental.start(logdir)
    t0, c0 = time.perf_counter(), time.process_time()
    call(1)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    (path,) = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    ops: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
    for plane in (p for p in space.planes if p.name == "/host:CPU"):
        names = {k: m.name for k, m in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name, _, kind = names.get(event.metadata_id, "").rpartition(":")
                if name and kind and kind not in NOT_OPS and not kind.lstrip().startswith("__"):
                    ops[kind][0] += 1
                    ops[kind][1] += event.duration_ps / 1e12
    steps = per_call(args.steps)
    return {
        "wall_s": wall / steps,
        "cpu_s": cpu / steps,
        "ops": {k: {"count": c / steps, "seconds": t / steps} for k, (c, t) in ops.items()},
    }


WORKERS = {"tf": worker_tf, "torch": worker_torch, "profile": worker_profile}


# -- the parent ----------------------------------------------------------------------------------


def numbers(parser: argparse.ArgumentParser, text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 or PIXELS % v for v in values):
        parser.error(f"{option} takes divisors of {PIXELS}, comma-separated, e.g. 28,196,784")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common.parser(__doc__, SIDES, rounds=2, workers=list(WORKERS))
    parser.add_argument("--cells", default="lstm,gru,rnn", help="cells of the scaling table (lstm,gru,rnn)")
    parser.add_argument("--lengths", default="28,196,784", help="steps per image of the scaling table (28,196,784)")
    parser.add_argument("--kernel-lengths", default="28,784", help="steps at which the LSTM's kernels are compared")
    parser.add_argument("--units", type=int, default=PIXELS_UNITS, help=f"recurrent units ({PIXELS_UNITS})")
    parser.add_argument(
        "--batch", type=int, default=PIXELS_BATCH, help=f"images per step ({PIXELS_BATCH}: --task pixels' default)"
    )
    parser.add_argument("--big-batch", type=int, default=1000, help="the larger batch tried for lstmcli's step")
    parser.add_argument("--unroll-max", type=int, default=196, help="longest sequence unrolling is tried at (196)")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per run, at least (8)")
    parser.add_argument("--min-calls", type=int, default=2, help="measured calls per run, at least (2)")
    parser.add_argument("--no-profile", action="store_true", help="skip the profile of one 784-step step")
    quick = {"rounds": 1, "cells": "lstm,gru,rnn", "lengths": "16", "kernel_lengths": "16", "units": 16}
    quick.update(batch=8, big_batch=16, seconds=0.0, min_calls=1)
    args = common.parse(parser, argv, quick)
    args.cells = [c.strip() for c in str(args.cells).split(",") if c.strip()]
    if not args.cells or set(args.cells) - set(CELL_NAMES):
        parser.error(f"--cells takes a comma-separated subset of {','.join(CELL_NAMES)}")
    args.lengths = numbers(parser, args.lengths, "--lengths")
    args.kernel_lengths = numbers(parser, args.kernel_lengths, "--kernel-lengths")
    if min(args.units, args.batch, args.big_batch, args.unroll_max) < 1 or args.seconds < 0 or args.min_calls < 0:
        parser.error("--units, --batch, --big-batch, --unroll-max must be positive; --seconds, --min-calls >= 0")
    return args


def plan_of(args: argparse.Namespace, sides: list[str]) -> list[dict[str, Any]]:
    """Every run of one round: the scaling table, then the LSTM's kernels (the flipped unrolling only up to
    --unroll-max steps: tracing an unrolled loop of hundreds of steps and its gradient takes minutes)."""
    plan = [
        {"side": side, "cell": cell, "steps": steps, "batch": args.batch}
        for cell in args.cells
        for steps in args.lengths
        for side in SCALING
        if side in sides
    ]
    for steps in args.kernel_lengths:
        base = {"side": "graph", "cell": "lstm", "steps": steps, "batch": args.batch}
        if "graph" in sides and base not in plan:
            plan.append(base)
        for side in ("fused", "xla", "unroll", "towers1", "big"):
            if side not in sides or (side == "unroll" and steps > args.unroll_max):
                continue
            batch = args.big_batch if side == "big" else args.batch
            plan.append({"side": side, "cell": "lstm", "steps": steps, "batch": batch})
    return plan


def run(args: argparse.Namespace, params: dict[str, Any]) -> dict[str, Any]:
    worker = "torch" if params["side"] == "torch" else "tf"
    return common.run_worker(worker, args, **params)


def measure(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, str]:
    sides = [s for s in args.only if s != "torch" or common.package_version("torch")]
    result["notes"] = [] if sides == args.only else ["torch not installed (pip install -e '.[bench]'): PyTorch skipped"]
    runs = common.alternate(args.rounds, plan_of(args, sides), lambda p: run(args, p))
    peak = common.summary([r.get("matmul_peak_gflops") for r in runs])["median"]
    stats: dict[str, Any] = {}
    for r in runs:
        key = f"{r['side']}:{r['cell']}@{r['steps']}x{r['batch']}"
        stats.setdefault(key, []).append(r)
    for key, rs in stats.items():
        flop = train_flop(rs[0]["cell"], rs[0]["steps"], args.units)
        images = common.summary([r["images_per_s"] for r in rs])
        stats[key] = {
            "side": rs[0]["side"],
            "cell": rs[0]["cell"],
            "steps": rs[0]["steps"],
            "batch": rs[0]["batch"],
            "images_per_s": images,
            "images_per_cpu_s": common.summary([r["images_per_cpu_s"] for r in rs]),
            "gflops": images["median"] * flop / 1e9,
            "share_of_peak": common.ratio(images["median"] * flop / 1e9, peak),
            "step_product_gflops": common.summary([r.get("step_product_gflops") for r in rs])["median"],
            "peak_rss_bytes": max(r["process_peak_rss_bytes"] for r in rs),
            "warmup_s": common.summary([r["warmup_s"] for r in rs])["median"],
            "warmup_mean_loss": common.summary([r["warmup_mean_loss"] for r in rs])["median"],
            "per_round": {r["round"]: r["images_per_s"] for r in rs},
        }
    result.update(sides=sides, units=args.units, matmul_peak_gflops=peak, stats=stats, runs=runs)
    result["flop_per_image"] = {f"{c}@{t}": train_flop(c, t, args.units) for c in CELL_NAMES for t in args.lengths}
    if not args.no_profile and set(sides) >= {"graph", "fused"}:
        steps = max(args.kernel_lengths)
        common.log(f"profile: one {steps}-step training step of each of graph, fused")
        result["profile"] = {
            side: common.run_worker("profile", args, side=side, cell="lstm", steps=steps, batch=args.batch)
            for side in ("graph", "fused")
        }
    return {"long-sequences": render(result, args)}


def key_of(side: str, cell: str, steps: int, batch: int) -> str:
    return f"{side}:{cell}@{steps}x{batch}"


def against(stats: dict[str, Any], st: dict[str, Any], other: dict[str, Any] | None) -> list[str]:
    """`st` over `other`: the ratio of the median images/s, its per-round range, and the CPU-time ratio."""
    if other is None:
        return ["", "", ""]
    per_round = [v / other["per_round"][r] for r, v in st["per_round"].items() if r in other["per_round"]]
    rounds = common.summary(per_round)
    cpu = common.ratio(st["images_per_cpu_s"]["median"], other["images_per_cpu_s"]["median"])
    wall = common.ratio(st["images_per_s"]["median"], other["images_per_s"]["median"])
    return [common.fmt(wall, 2, "x"), common.low_high(rounds) if rounds["n"] > 1 else "", common.fmt(cpu, 2, "x")]


def cells(st: dict[str, Any]) -> list[str]:
    share = st["share_of_peak"]
    return [
        common.fmt(st["images_per_s"]["median"], 0),
        common.low_high(st["images_per_s"], 0),
        common.fmt(st["images_per_cpu_s"]["median"], 0),
        common.fmt(st["gflops"], 1),
        common.fmt(share and 100 * share, 1, "%"),
    ]


def scaling_table(result: dict[str, Any], args: argparse.Namespace) -> str:
    stats, rows = result["stats"], []
    for cell in args.cells:
        for steps in args.lengths:
            for side in SCALING:
                st = stats.get(key_of(side, cell, steps, args.batch))
                if st is None:
                    continue
                torch = stats.get(key_of("torch", cell, steps, args.batch)) if side == "graph" else None
                shape = f"{steps} x {PIXELS // steps}"
                rss = common.fmt(st["peak_rss_bytes"] / 2**30, 2, " GiB")
                rows.append([CELL_NAMES[cell], shape, LABELS[side], *cells(st), *against(stats, st, torch), rss])
    headers = ["cell", "steps x pixels", "", "images/s", "min - max", "images per CPU-s", "GFLOP/s", "of peak"]
    headers += ["lstmcli / PyTorch", "per round", "per CPU-s", "peak RSS"]
    return common.markdown_table(headers, rows)


def kernel_table(result: dict[str, Any], args: argparse.Namespace) -> str:
    stats, rows = result["stats"], []
    for steps in args.kernel_lengths:
        base = stats.get(key_of("graph", "lstm", steps, args.batch))
        for side in ("graph", "fused", "xla", "unroll", "towers1", "big"):
            batch = args.big_batch if side == "big" else args.batch
            st = stats.get(key_of(side, "lstm", steps, batch))
            if st is None:
                continue
            vs = against(stats, st, base) if side != "graph" else ["1.00x", "", "1.00x"]
            rows.append(
                [
                    f"{steps} x {PIXELS // steps}",
                    LABELS[side],
                    batch,
                    *cells(st),
                    *vs,
                    common.fmt(st["warmup_mean_loss"], 4),
                    common.fmt(st["warmup_s"], 1, " s"),
                    common.fmt(st["peak_rss_bytes"] / 2**30, 2, " GiB"),
                ]
            )
    headers = ["steps x pixels", "LSTM kernel", "batch", "images/s", "min - max", "images per CPU-s", "GFLOP/s"]
    headers += ["of peak", "vs lstmcli's step", "per round", "per CPU-s", "first-call loss", "first call", "peak RSS"]
    return common.markdown_table(headers, rows)


def profile_table(profile: dict[str, Any], top: int = 10) -> str:
    """The op types that took the most of each profiled step's summed op time, with their count per step."""
    lines = []
    for side, prof in profile.items():
        ops = prof["ops"]
        total = sum(o["seconds"] for o in ops.values()) or 1.0
        count = sum(o["count"] for o in ops.values())
        ranked = sorted(ops.items(), key=lambda kv: -kv[1]["seconds"])[:top]
        summary = ", ".join(f"{k} {100 * o['seconds'] / total:.0f}% ({o['count']:,.0f})" for k, o in ranked)
        lines.append(
            f"- {LABELS[side]}: {count:,.0f} op executions per step, {prof['wall_s']:.2f} s wall and "
            f"{prof['cpu_s']:.2f} CPU-s per step under the profiler; share of the summed op time (executions): "
            + summary
        )
    return "\n".join(lines)


def render(result: dict[str, Any], args: argparse.Namespace) -> str:
    s, stats, peak = result["settings"], result["stats"], result["matmul_peak_gflops"]
    longest = max(args.lengths)
    ours = stats.get(key_of("graph", "lstm", longest, args.batch))
    candidates = [st for st in stats.values() if (st["cell"], st["steps"]) == ("lstm", longest)]
    tensorflow = [st for st in candidates if st["side"] != "torch"]
    best = max(tensorflow, key=lambda st: st["images_per_s"]["median"], default=None)
    lines = [
        f"{s['rounds']} round(s), alternating; one fresh process per run: one untimed call (tracing), then whole "
        f"calls until {s['seconds']} s have passed (at least {s['min_calls']}); {s['threads']} core(s) per framework;"
        f" recurrent layer of {args.units} units, then Dense(10); batch {args.batch}; the same 784 pixels per image "
        "in every row." + (common.QUICK_NOTE if s["quick"] else ""),
        scaling_table(result, args),
        kernel_table(result, args),
        f"GFLOP/s = images/s x 3 x the forward pass's matrix-product FLOPs per image (lstmcli.model.count; e.g. "
        f"{train_flop('lstm', longest, args.units) / 1e6:,.1f} MFLOP per image for the LSTM at {longest} steps). "
        f"Peak: {common.fmt(peak, 0)} GFLOP/s, large float32 products in TensorFlow on the same cores (median over "
        "the TensorFlow workers). Images per CPU-s: images over the CPU time of the whole process (all threads), "
        "the figure a shared machine distorts least.",
    ]
    if ours:
        rate = ours["step_product_gflops"]
        lines.append(
            f"Target (LSTM, {longest} steps, batch {args.batch}): lstmcli's step at "
            f"**{common.fmt(ours['share_of_peak'] and 100 * ours['share_of_peak'], 1, '%')}** of the peak "
            f"(target >= {100 * TARGET_SHARE:.0f}%: {common.verdict(ours['share_of_peak'], TARGET_SHARE, True)}); "
            f"fastest kernel measured: {LABELS[best['side']] if best else 'n/a'} "
            f"({common.fmt(best and best['share_of_peak'] and 100 * best['share_of_peak'], 1, '%')}). The step's own "
            f"recurrent product ({-(-args.batch // 2)} x {args.units} times {args.units} x {4 * args.units}, one chain "
            f"per tower, side by side) runs at {common.fmt(rate, 0)} GFLOP/s, "
            f"{common.fmt(common.ratio(rate, peak) and 100 * common.ratio(rate, peak), 0, '%')} of the peak: "
            "the ceiling of any loop that multiplies step by step at this batch."
        )
    if result.get("profile"):
        lines.append(
            f"Profile of one {max(args.kernel_lengths)}-step training step (TensorFlow's profiler, host "
            "trace, op events summed by type):\n\n" + profile_table(result["profile"])
        )
    return "\n\n".join([*lines, *(f"Note: {n}." for n in result["notes"]), common.machine_line(result["context"])])


def main(argv: list[str] | None = None) -> int:
    return common.main(parse_args(argv), "long_sequences", WORKERS, measure)


if __name__ == "__main__":
    sys.exit(main())
