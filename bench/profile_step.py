"""Where a training step's time goes: the profile behind the throughput notes in docs/performance.md.

    python bench/profile_step.py            # about 1 minute on 2 cores
    python bench/profile_step.py --steps 200

Prints, for the article's configuration (LSTM(75), 28 x 28, batch 50, Adam):

- the floating-point work of one step (forward + backward, matrix products only) and the rate it runs at,
  against the same machine's measured matmul peak (one large 2048 x 2048 product per core);
- the number of TensorFlow ops one training step executes (forward, gradient and Adam), and the time per
  op that the measured step rate implies;
- steps/s of the step with 1 and 2 towers and of the forward pass alone, in the same process.

This is a coarse profile by construction: it separates "the cores are busy multiplying" from "the cores
are busy dispatching small ops", which is the question that decides what could make the step faster.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import common


def matmul_peak(tf: Any, parallel: int) -> float:
    """GFLOP/s of `parallel` independent 2048^3 products run side by side (inter-op threads)."""
    a = tf.random.normal([2048, 2048])

    @tf.function
    def products(m: Any) -> Any:
        return [tf.matmul(m, m) for _ in range(parallel)]

    products(a)
    started = time.perf_counter()
    for _ in range(10):
        out = products(a)
    out[0].numpy()
    return 10 * parallel * 2 * 2048**3 / (time.perf_counter() - started) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=600, help="timed steps per variant")
    args = parser.parse_args()

    from lstmcli import data as dataset
    from lstmcli import runtime
    from lstmcli.model.count import count
    from lstmcli.model.factory import build_model
    from lstmcli.model.spec import ModelSpec
    from lstmcli.train.step import batch_loss, split_bounds

    tf = runtime.tensorflow(seed=0)
    import keras
    import numpy as np

    data = dataset.load()
    spec = ModelSpec(unroll=True)
    model = build_model(spec)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    variables = model.trainable_variables
    x_all, y_all = tf.constant(data.x_train), tf.constant(data.y_train)
    batch = 50

    def make(towers: int, train: bool) -> Any:
        bounds = split_bounds(batch, towers)

        def one(idx: Any) -> Any:
            x = tf.cast(tf.gather(x_all, idx), tf.float32) / 255.0
            y = tf.gather(y_all, idx)
            if not train:
                return tf.add_n([tf.reduce_sum(model(x[a:b], training=False)) for a, b in bounds])
            with tf.GradientTape() as tape:
                loss, _ = batch_loss(model, x, y, 10, bounds)
            optimizer.apply(tape.gradient(loss, variables), variables)
            return loss

        @tf.function
        def chunk(idx: Any) -> Any:
            total = tf.constant(0.0)
            for k in tf.range(tf.shape(idx)[0]):
                total += one(idx[k])
            return total

        step_graph = tf.function(one).get_concrete_function(tf.TensorSpec([batch], tf.int32)).graph
        return chunk, len(step_graph.get_operations())

    order = (np.arange(60_000 * 2) % 60_000).astype(np.int32)
    results: dict[str, Any] = {}
    for name, towers, train in (("step, 2 towers", 2, True), ("step, 1 tower", 1, True), ("forward only", 2, False)):
        chunk, ops = make(towers, train)
        idx = tf.constant(order[: args.steps * batch].reshape(args.steps, batch))
        float(chunk(idx))  # trace and warm up on the same shape, so the timed call only runs
        started = time.perf_counter()
        float(chunk(idx))
        rate = args.steps / (time.perf_counter() - started)
        results[name] = {"ops_per_step": ops, "steps_per_s": rate, "us_per_op": 1e6 / rate / ops}

    macs = count(spec).macs * batch
    flop_step = 2 * macs * 3  # forward, and a backward of about twice the forward's products
    peak_1, peak_2 = matmul_peak(tf, 1), matmul_peak(tf, 2)
    rate = results["step, 2 towers"]["steps_per_s"]
    summary = {
        "flop_per_step": flop_step,
        "matmul_peak_gflops_one_product": peak_1,
        "matmul_peak_gflops_two_products": peak_2,
        "step_gflops": rate * flop_step / 1e9,
        "share_of_peak": rate * flop_step / 1e9 / peak_2,
        "variants": results,
        "machine": common.machine_info(),
        "versions": common.versions(),
    }
    print(json.dumps(summary, indent=2))
    print(
        f"\none step: {flop_step / 1e9:.3f} GFLOP in {1e3 / rate:.2f} ms = {summary['step_gflops']:.0f} GFLOP/s, "
        f"{100 * summary['share_of_peak']:.0f}% of the {peak_2:.0f} GFLOP/s two large products reach; "
        f"{results['step, 2 towers']['ops_per_step']} ops per step, "
        f"{results['step, 2 towers']['us_per_op']:.2f} us per op"
    )


if __name__ == "__main__":
    main()
