"""Every benchmark script runs end to end with --quick, writing only into a temporary folder.

Why: nothing in the package imports bench/, so a change to lstmcli's layout breaks the benchmarks without
any other test noticing (it happened once: bench/ kept importing a trainer that no longer existed). Quick
mode runs each side for a few steps on tiny batches; its figures mean nothing, only that every path runs.
CI installs no torch: the throughput script must then skip the PyTorch side itself and say so.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lstmcli import runtime

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
HAS_TORCH = importlib.util.find_spec("torch") is not None
SCRIPTS = ("throughput.py", "time_to_accuracy.py", "overhead.py", "sweep.py", "gates.py", "long_sequences.py",
           "tasks.py")  # fmt: skip


def published() -> str:
    """A digest of docs/performance.md and the committed results, which a quick run must leave alone."""
    digest = hashlib.sha256()
    docs = [ROOT / "docs" / "performance.md", ROOT / "docs" / "tasks.md"]
    for path in [*docs, *sorted((BENCH / "results").glob("*.json"))]:
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The scripts start at once: each spends most of its time in one busy thread (imports, tracing),
    so on 2 cores they finish together in about half the time they take one after another."""
    started = {"published": published()}
    for script in SCRIPTS:
        out = tmp_path_factory.mktemp(script.removesuffix(".py"))
        cmd = [sys.executable, str(BENCH / script), "--quick", "--no-publish", "--results-dir", str(out / "results")]
        with open(out / "stdout", "w") as stdout, open(out / "stderr", "w") as stderr:
            started[script] = (subprocess.Popen(cmd, stdout=stdout, stderr=stderr, cwd=ROOT), out)
    yield started
    for script in SCRIPTS:
        proc, _ = started[script]
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def finished(quick_runs: dict[str, Any], script: str) -> tuple[dict[str, Any], str]:
    """The script's quick result, once it has exited cleanly and left the published files as they were."""
    proc, out = quick_runs[script]
    code = proc.wait(timeout=900)  # a hang guard: the quick runs share the cores
    assert code == 0, (out / "stderr").read_text()[-4000:]
    assert published() == quick_runs["published"]
    (path,) = (out / "results").iterdir()  # one file, the latest result; no timestamped copies
    assert path.name.endswith("-quick-latest.json")
    return json.loads(path.read_text(encoding="utf-8")), (out / "stdout").read_text()


def test_throughput_quick(quick_runs: dict[str, Any]) -> None:
    result, out = finished(quick_runs, "throughput.py")
    assert result["sides"] == (["lstmcli", "torch", "keras"] if HAS_TORCH else ["lstmcli", "keras"])
    if not HAS_TORCH:
        assert "PyTorch skipped" in out
    for stat in result["stats"].values():
        assert stat["images_per_s"]["median"] > 0 and stat["gflops"] > 0 and stat["share_of_peak"] > 0
    assert result["matmul_peak_gflops"]["median"] > 0 and result["stats"]["lstmcli@8"]["ops_per_step"] > 100
    # Seeded alike on the same batches, lstmcli's step and the article's loop train the same model.
    losses = [result["stats"][f"{side}@8"]["warmup_mean_loss"] for side in ("lstmcli", "keras")]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
    assert "GFLOP/s" in out and "forward + backward" in out


def test_time_to_accuracy_quick(quick_runs: dict[str, Any]) -> None:
    result, out = finished(quick_runs, "time_to_accuracy.py")
    ours, article = (next(r for r in result["runs"] if r["side"] == side) for side in ("lstmcli", "article"))
    assert ours["process_wall_s"] > 0 and 0 <= ours["final_accuracy"] <= 1 and ours["metrics"]["steps"] == 50
    assert ours["process_peak_rss_bytes"] > 10**8
    assert article["process_wall_s"] > article["loop_seconds"] > 0 and article["history"][-1]["step"] == 50
    # Both sides of a round are seeded alike, and the recipe's thread pools are published with its time.
    policy = {"inter_op": runtime.towers(), "intra_op": max(1, runtime.cores() // runtime.towers())}
    assert ours["seed"] == article["seed"] == 0 and article["threads"] == policy
    assert "seeds 0, 1, 2 (round r: the r-th" in out and f"inter-op {policy['inter_op']}, intra-op" in out
    assert "<!-- time-to-accuracy -->" in out and "<!-- memory -->" in out


def test_overhead_quick(quick_runs: dict[str, Any]) -> None:
    result, _ = finished(quick_runs, "overhead.py")
    assert set(result["startup"]["seconds"]) == {
        "lstmcli --help",
        "lstmcli params --no-verify",
        'python -c "import tensorflow"',
    }
    ev = result["eval"]
    assert ev["accuracy"]["lstmcli"] == pytest.approx(ev["accuracy"]["keras"], abs=1e-3)
    assert ev["speedup"] > 0 and ev["lstmcli_eval_process_s"]["median"] > 0


def test_sweep_quick(quick_runs: dict[str, Any]) -> None:
    result, out = finished(quick_runs, "sweep.py")
    assert result["trials"] == 4 and [r["side"] for r in result["runs"]] == ["workers-1", "workers-2"]
    assert all(r["wall_s"] > 0 for r in result["runs"]) and result["ratio"] > 0
    assert "<!-- sweep -->" in out and "--workers 2" in out


def test_gates_quick(quick_runs: dict[str, Any]) -> None:
    result, out = finished(quick_runs, "gates.py")
    seconds = result["time"]["seconds"]
    assert seconds["eval"]["median"] > 0 and seconds["gates"]["median"] > 0 and result["time"]["ratio"] > 0
    assert result["memory"]["samples"] == 50 and result["memory"]["peak_rss_bytes"] > 10**8
    assert "<!-- gates-time -->" in out and "<!-- gates-memory -->" in out


def test_long_sequences_quick(quick_runs: dict[str, Any]) -> None:
    result, out = finished(quick_runs, "long_sequences.py")
    kernels = ["fused", "xla", "unroll", "towers1", "big"]
    assert result["sides"] == (["graph", "torch", *kernels] if HAS_TORCH else ["graph", *kernels])
    stats = result["stats"]
    assert {st["cell"] for st in stats.values()} == {"lstm", "gru", "rnn"}
    for st in stats.values():
        assert st["images_per_s"]["median"] > 0 and st["images_per_cpu_s"]["median"] > 0 and st["gflops"] > 0
    # Each candidate is lstmcli's step with one thing changed: the same weights and batches, the same losses.
    graph = stats["graph:lstm@16x8"]["warmup_mean_loss"]
    for side in ("fused", "xla", "unroll", "towers1"):
        assert stats[f"{side}:lstm@16x8"]["warmup_mean_loss"] == pytest.approx(graph, rel=1e-3)
    assert stats["graph:lstm@16x8"]["step_product_gflops"] > 0 and result["matmul_peak_gflops"] > 0
    # The loop over time is dozens of ops per time step in lstmcli's step, none in the fused op.
    ops = {side: sum(o["count"] for o in p["ops"].values()) for side, p in result["profile"].items()}
    assert ops["graph"] > 5 * ops["fused"] > 0 and result["profile"]["fused"]["ops"]["BlockLSTMGradV2"]["count"] == 2
    assert "<!-- long-sequences -->" in out and "BlockLSTMV2" in out


def test_publish_rewrites_only_its_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    import common

    doc = tmp_path / "performance.md"
    doc.write_text("prose\n<!-- bench:a:begin -->\nold\n<!-- bench:a:end -->\nmore prose\n", encoding="utf-8")
    common.update_doc("a", "new", doc)
    common.update_doc("b", "added", doc)
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("prose\n<!-- bench:a:begin -->\nnew\n<!-- bench:a:end -->\nmore prose\n")
    assert text.endswith("<!-- bench:b:begin -->\nadded\n<!-- bench:b:end -->\n")


@pytest.mark.parametrize("shape", [(28, 28), (196, 4)])
def test_fused_kernel_matches_keras_lstm(
    shape: tuple[int, int], mnist_arrays: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fused BlockLSTMV2 candidate that long_sequences.py measures computes keras.layers.LSTM's loss and
    gradients on the same weights (and TensorFlow's own registered gradient of that op would not)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from lstmcli.model.factory import build_model
    from lstmcli.model.spec import ModelSpec
    from lstmcli.train.step import batch_loss, split_bounds

    monkeypatch.syspath_prepend(str(BENCH))
    import kernels

    steps, pixels = shape
    keras.utils.set_random_seed(3)
    model = build_model(ModelSpec(units=12, input_size=pixels, timesteps=steps))
    for v in model.trainable_variables:  # a bias away from zero and forget gates of 1 exercise every gate
        v.assign(v + tf.random.normal(v.shape, stddev=0.2))
    assert kernels.fusable(model)
    x = tf.constant(mnist_arrays["x_train"][:20].reshape(20, steps, pixels).astype(np.float32) / 255.0)
    y = tf.constant(mnist_arrays["y_train"][:20].astype(np.int32))
    variables = model.trainable_variables
    results = []
    for forward in (model, kernels.FusedModel(model)):
        with tf.GradientTape() as tape:
            loss, _ = batch_loss(forward, x, y, 10, split_bounds(20, 2))
        results.append((float(loss), tape.gradient(loss, variables)))
    (want, expected), (got, grads) = results
    assert abs(got - want) < 1e-5
    for g, e in zip(grads, expected, strict=True):
        np.testing.assert_allclose(g.numpy(), e.numpy(), atol=1e-5, rtol=0)


def test_fused_kernel_leaves_what_it_cannot_compute_to_keras(monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    monkeypatch.syspath_prepend(str(BENCH))
    import kernels

    assert kernels.unsupported(keras.layers.LSTM(4)) is None
    assert "activation" in kernels.unsupported(keras.layers.LSTM(4, activation="relu"))
    assert "dropout" in kernels.unsupported(keras.layers.LSTM(4, dropout=0.5))
    assert "not an LSTM" in kernels.unsupported(keras.layers.GRU(4))
    model = keras.Sequential([keras.Input((5, 2)), keras.layers.Bidirectional(keras.layers.LSTM(3))])
    assert not kernels.fusable(model)


def test_tasks_quick(quick_runs: dict[str, Any]) -> None:
    result, out = finished(quick_runs, "tasks.py")
    runs = result["adding"]["runs"]
    assert [r["cell"] for r in runs] == ["lstm", "rnn"]
    # The cells at one budget: SimpleRNN's units are those whose model is closest to the LSTM's count.
    assert abs(runs[0]["parameters"] - runs[1]["parameters"]) < 0.1 * runs[0]["parameters"]
    assert all(r["fraction"] > 0 and r["wall_s"] > 0 and r["peak_rss_bytes"] > 10**8 for r in runs)
    assert "<!-- tasks-adding -->" in out and "test MSE / baseline" in out
