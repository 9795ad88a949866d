"""Start-up, evaluation and memory: the costs around training.

    python bench/overhead.py                  # full: all three parts
    python bench/overhead.py --quick          # validation: 2 repeats, a 50-step model, 0.02-epoch train

startup  wall time of `lstmcli --help` and `lstmcli params --no-verify` against
         `python -c "import tensorflow"` (the same interpreter), runs interleaved, median of --repeats;
         target: each at most 0.1x the import.
eval     on one loaded model and the 10,000 test images, in one worker process: lstmcli's evaluation
         (lstmcli.evaluate.make_predictor + lstmcli.metrics.summarize on the raw uint8 images, i.e.
         everything `lstmcli eval` does after loading: scaling, forward pass, loss, accuracy, per-class
         figures, confusion matrix) against Keras `model.evaluate(x, y, batch_size=50)` on images already
         scaled to float32 with one-hot labels (its preparation is not timed). The model is compiled
         for evaluate() first; each side runs once untimed (tracing), then they alternate --repeats
         times; medians. Target: lstmcli at least 5x faster. Also the wall time of the whole
         `lstmcli eval RUN --format json` process, for reference.
         The model: --model RUN_OR_FILE, else a run trained here for --eval-train-steps steps (evaluation
         speed does not depend on the weights).
memory   peak resident memory (ru_maxrss from wait4 on that one child) of `lstmcli train` with the default
         settings (10 epochs), or --memory-epochs E for a shorter check; target under 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common

PARTS = ("startup", "eval", "memory")
TARGETS = {"startup": 0.1, "eval": 5.0, "memory_gb": 2.0}  # GB = 10^9 bytes


def lstmcli_executable() -> str:
    beside = Path(sys.executable).parent / "lstmcli"
    return str(beside) if beside.exists() else "lstmcli"


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    return time.perf_counter() - started


# -- startup -------------------------------------------------------------------------------------


def measure_startup(repeats: int, threads: int) -> dict[str, Any]:
    exe = lstmcli_executable()
    commands = {
        "lstmcli --help": [exe, "--help"],
        "lstmcli params --no-verify": [exe, "params", "--no-verify"],
        'python -c "import tensorflow"': [sys.executable, "-c", "import tensorflow"],
    }
    env = common.worker_env(threads)
    for cmd in commands.values():  # one untimed run each: page cache, .pyc files
        timed(cmd, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, cmd in commands.items():
            times[name].append(timed(cmd, env))
    stats = {name: common.summary(values) for name, values in times.items()}
    base = stats['python -c "import tensorflow"']["median"]
    ratios = {name: common.ratio(stats[name]["median"], base) for name in list(commands)[:2]}
    return {"seconds": stats, "ratio_to_tensorflow_import": ratios, "target": TARGETS["startup"]}


# -- eval ----------------------------------------------------------------------------------------


def worker_eval(model_path: str, repeats: int) -> dict[str, Any]:
    from lstmcli import data as dataset
    from lstmcli import runtime
    from lstmcli.evaluate import load_model, make_predictor
    from lstmcli.metrics import summarize

    runtime.tensorflow()
    import numpy as np

    data = dataset.load()
    model = load_model(Path(model_path))
    x_raw, y = data.x_test, data.y_test
    x_float = x_raw.astype(np.float32) / np.float32(data.scale)
    y_onehot = np.eye(data.classes, dtype=np.float32)[y]
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])

    predict = make_predictor(model, data.scale)

    def ours() -> dict[str, Any]:
        return summarize(predict(x_raw), y)

    def theirs() -> list[float]:
        return model.evaluate(x_float, y_onehot, batch_size=50, verbose=0)

    warm = {}
    for name, fn in (("lstmcli", ours), ("keras", theirs)):
        t = time.perf_counter()
        fn()
        warm[name] = time.perf_counter() - t
    times: dict[str, list[float]] = {"lstmcli": [], "keras": []}
    for _ in range(repeats):
        t = time.perf_counter()
        mine = ours()
        times["lstmcli"].append(time.perf_counter() - t)
        t = time.perf_counter()
        loss, accuracy = theirs()
        times["keras"].append(time.perf_counter() - t)
    # Where lstmcli's time goes: the compiled forward pass vs the NumPy figures (JSON only).
    split: dict[str, list[float]] = {"predict": [], "summarize": []}
    for _ in range(repeats):
        t = time.perf_counter()
        probs = predict(x_raw)
        split["predict"].append(time.perf_counter() - t)
        t = time.perf_counter()
        summarize(probs, y)
        split["summarize"].append(time.perf_counter() - t)
    return {
        "lstmcli_predict_median_s": statistics.median(split["predict"]),
        "lstmcli_summarize_median_s": statistics.median(split["summarize"]),
        "lstmcli_s": times["lstmcli"],
        "keras_s": times["keras"],
        "first_call_s": warm,
        "lstmcli_accuracy": mine["accuracy"],
        "keras_accuracy": float(accuracy),
        "lstmcli_loss": mine["loss"],
        "keras_loss": float(loss),
        "samples": len(y),
    }


def train_small_model(folder: Path, steps: int, threads: int) -> Path:
    run = folder / "eval-model"
    cmd = [lstmcli_executable(), "train", "--steps", str(steps), "--eval-every", str(steps), "--quiet"]
    subprocess.run([*cmd, "--out", str(run)], env=common.worker_env(threads), check=True, stdout=subprocess.DEVNULL)
    return run


def measure_eval(model: Path | None, train_steps: int, repeats: int, threads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        if model is None:
            common.log(f"eval: training a {train_steps}-step model to evaluate")
            model = train_small_model(Path(tmp), train_steps, threads)
            source = f"a {train_steps}-step lstmcli run trained by the benchmark"
        else:
            source = str(model)
        from_file = model / "model.keras" if model.is_dir() else model
        run = common.run_worker(
            Path(__file__).resolve(),
            ["--worker", "eval", "--model", str(from_file), "--repeats", str(repeats)],
            threads,
        )
        env = common.worker_env(threads)
        process = [timed([lstmcli_executable(), "eval", str(model), "--format", "json"], env) for _ in range(repeats)]
    ours, theirs = common.summary(run.pop("lstmcli_s")), common.summary(run.pop("keras_s"))
    return {
        "model": source,
        "lstmcli_s": ours,
        "keras_evaluate_s": theirs,
        "speedup": common.ratio(theirs["median"], ours["median"]),
        "lstmcli_eval_process_s": common.summary(process),
        "target": TARGETS["eval"],
        **run,
    }


# -- memory --------------------------------------------------------------------------------------


def measure_memory(epochs: float | None, threads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        cmd = [lstmcli_executable(), "train", "--quiet", "--out", str(Path(tmp) / "run")]
        if epochs is not None:
            cmd += ["--epochs", str(epochs)]
        common.log("memory: " + " ".join(cmd))
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=common.worker_env(threads), stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"lstmcli train exited {proc.returncode}")
        metrics = json.loads((Path(tmp) / "run" / "metrics.json").read_text())
    peak = usage.ru_maxrss * 1024  # kilobytes on Linux
    return {
        "command": "lstmcli train" + (f" --epochs {epochs}" if epochs is not None else " (defaults)"),
        "peak_rss_bytes": peak,
        "peak_rss_gib": peak / 2**30,
        "wall_s": wall,
        "steps": metrics.get("steps"),
        "test_accuracy": metrics.get("test_accuracy"),
        "target_bytes": int(TARGETS["memory_gb"] * 1e9),
    }


# -- the driver ----------------------------------------------------------------------------------


def render(result: dict[str, Any]) -> dict[str, str]:
    s, ctx = result["settings"], result["context"]
    quick = " **Quick mode: validation only, not a measurement.**" if s["quick"] else ""
    machine = f"Machine: {common.machine_line(ctx)}."
    out = {}
    if "startup" in result:
        st = result["startup"]
        rows = []
        for name, stat in st["seconds"].items():
            r = st["ratio_to_tensorflow_import"].get(name)
            rows.append(
                [
                    f"`{name}`",
                    common.fmt(stat["median"], 3, " s"),
                    f"{common.fmt(stat['min'], 3)} - {common.fmt(stat['max'], 3)}",
                    common.fmt(r, 3, "x") if r is not None else "(baseline)",
                    f"<= {TARGETS['startup']}x: {common.verdict(r, TARGETS['startup'], at_least=False)}"
                    if r is not None
                    else "",
                ]
            )
        table = common.markdown_table(["command", "median wall", "min - max", "vs import tensorflow", "target"], rows)
        out["startup"] = f"Median of {s['repeats']} interleaved runs each.{quick}\n\n{table}\n\n{machine}"
    if "eval" in result:
        ev = result["eval"]
        rows = [
            [
                "lstmcli (make_predictor + summarize)",
                common.fmt(ev["lstmcli_s"]["median"], 3, " s"),
                common.fmt(ev["lstmcli_accuracy"], 4),
            ],
            [
                "Keras evaluate(batch_size=50)",
                common.fmt(ev["keras_evaluate_s"]["median"], 3, " s"),
                common.fmt(ev["keras_accuracy"], 4),
            ],
            [
                "whole `lstmcli eval RUN --format json` process",
                common.fmt(ev["lstmcli_eval_process_s"]["median"], 3, " s"),
                "",
            ],
        ]
        table = common.markdown_table(["10,000 test images", "median", "accuracy"], rows)
        sp = ev["speedup"]
        out["eval"] = (
            f"Model: {ev['model']}; median of {s['repeats']} alternating runs after one warm-up each.{quick}\n\n"
            f"{table}\n\nSpeed-up: **{common.fmt(sp, 1, 'x')}** "
            f"(target >= {TARGETS['eval']}x: {common.verdict(sp, TARGETS['eval'], at_least=True)}).\n\n{machine}"
        )
    if "memory" in result:
        mem = result["memory"]
        gib = mem["peak_rss_gib"]
        out["memory"] = (
            f"`{mem['command']}`: peak RSS **{gib:.2f} GiB** ({mem['steps']} steps, {mem['wall_s']:.0f} s wall; "
            f"{mem['peak_rss_bytes'] / 1e9:.2f} GB; target < 2 GB: "
            f"{common.verdict(mem['peak_rss_bytes'] / 1e9, TARGETS['memory_gb'], at_least=False)})."
            f"{quick}"
            f"\n\n{machine}"
        )
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated subset of startup,eval,memory")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per command / evaluation (7)")
    parser.add_argument("--model", type=Path, default=None, help="run directory or .keras file for the eval part")
    parser.add_argument("--eval-train-steps", type=int, default=200, help="steps of the model trained for eval (200)")
    parser.add_argument(
        "--memory-epochs", type=float, default=None, help="epochs for the memory run (default: the default run's)"
    )
    parser.add_argument("--quick", action="store_true", help="validation: 2 repeats, 50-step model, 0.02 epochs")
    common.add_output_options(parser)
    parser.add_argument("--worker", choices=["eval"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.eval_train_steps = 2, 50
        args.memory_epochs = args.memory_epochs if args.memory_epochs is not None else 0.02
    args.parts = [p.strip() for p in args.only.split(",") if p.strip()]
    if set(args.parts) - set(PARTS):
        parser.error("--only takes startup, eval and/or memory")
    if args.repeats < 1 or args.eval_train_steps < 1:
        parser.error("--repeats and --eval-train-steps must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = common.cores()
    if args.worker:
        common.emit(worker_eval(str(args.model), args.repeats))
        return 0
    ctx = common.context()
    result: dict[str, Any] = {"benchmark": "overhead", "context": ctx}
    result["settings"] = {"repeats": args.repeats, "threads": threads, "quick": args.quick, "parts": args.parts}
    if "memory" in args.parts:  # first, while the machine is otherwise as quiet as this benchmark gets
        result["memory"] = measure_memory(args.memory_epochs, threads)
        common.log(f"memory: peak RSS {result['memory']['peak_rss_gib']:.2f} GiB")
    if "startup" in args.parts:
        result["startup"] = measure_startup(args.repeats, threads)
        common.log("startup: " + ", ".join(f"{k} {v['median']:.3f} s" for k, v in result["startup"]["seconds"].items()))
    if "eval" in args.parts:
        result["eval"] = measure_eval(args.model, args.eval_train_steps, args.repeats, threads)
        common.log(f"eval: speed-up {common.fmt(result['eval']['speedup'], 1, 'x')}")
    ctx["machine"]["load_average_end"] = common.load_average()
    common.publish("overhead", result, render(result), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
