"""Time to 98.0% test accuracy: the default `lstmcli train` against the article's recipe.

    python bench/time_to_accuracy.py                   # full: target 0.98, article capped at 30,000 steps
    python bench/time_to_accuracy.py --quick           # validation: target 0.5, 300 steps, no docs update

(a) lstmcli: `lstmcli train --quiet --out TMP` exactly as a user runs it (default preset, its own
    evaluation schedule). The clock is the run's own `seconds` column of history.csv: wall seconds from
    the start of Trainer.fit (so graph tracing, every evaluation and checkpoint count; process start,
    TensorFlow import and data loading do not). The script watches history.csv and stops the run
    (SIGTERM, which checkpoints and exits) once a row reaches the target, or when it passes --max-steps.
(b) the article's recipe, in Keras 3: keras.Sequential(Input(28, 28), LSTM(75), Dense(10, softmax)),
    Adam 1e-3, categorical cross-entropy, batch 50 taken in order, one train_on_batch per step, and
    model.evaluate(x_test, y_test, batch_size=50) on the 10,000 test images every 100 steps; stop at the
    first evaluation >= the target, or at --max-steps. The clock starts just before the first
    train_on_batch (so its graph tracing counts, as it does for lstmcli) and includes the
    evaluations, which the recipe itself does.

Each side runs in its own subprocess with the same thread policy (bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common

TARGET, TARGET_RATIO = 0.98, 0.2
BATCH = common.ARTICLE_BATCH
CONFIG_KEYS = ("preset", "batch_size", "learning_rate", "schedule", "epochs", "steps", "eval_every", "order")


# -- (b) the article's recipe, in a worker process -----------------------------------------------


def worker_article(target: float, max_steps: int, eval_every: int) -> dict[str, Any]:
    from lstmcli import data as dataset
    from lstmcli import runtime

    runtime.tensorflow(seed=0)  # the same thread policy as lstmcli (bench/README.md)

    data = dataset.load()
    x, y = common.article_arrays(data, "train")
    x_test, y_test = common.article_arrays(data, "test")
    model = common.article_model(data)
    history: list[dict[str, float]] = []
    n = len(x)
    eval_seconds = 0.0
    started = time.perf_counter()
    step = 0
    reached = None
    while step < max_steps:
        lo = (step * BATCH) % n
        model.train_on_batch(x[lo : lo + BATCH], y[lo : lo + BATCH])
        step += 1
        if step % eval_every == 0 or step == max_steps:
            t_eval = time.perf_counter()
            _, accuracy = model.evaluate(x_test, y_test, batch_size=BATCH, verbose=0)
            now = time.perf_counter()
            eval_seconds += now - t_eval
            history.append({"step": step, "seconds": now - started, "test_accuracy": float(accuracy)})
            common.log(f"article step {step} {now - started:7.1f} s test accuracy {accuracy:.4f}")
            if accuracy >= target:
                reached = history[-1]
                break
    return {
        "reached": reached is not None,
        "step": reached["step"] if reached else None,
        "seconds": reached["seconds"] if reached else None,
        "steps_run": step,
        "seconds_run": time.perf_counter() - started,
        "eval_seconds": eval_seconds,
        "best_accuracy": max((h["test_accuracy"] for h in history), default=None),
        "history": history,
    }


# -- (a) lstmcli train as a user runs it ---------------------------------------------------------


def lstmcli_executable() -> str:
    beside = Path(sys.executable).parent / "lstmcli"
    return str(beside) if beside.exists() else "lstmcli"


def read_history(path: Path) -> list[dict[str, float]]:
    from lstmcli import rundir  # NumPy-free, TensorFlow-free

    try:
        return rundir.read_history(path)
    except (OSError, ValueError):
        return []  # not written yet


def run_lstmcli(target: float, max_steps: int, extra: list[str], let_finish: bool, threads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-tta-") as tmp:
        run = Path(tmp) / "run"
        cmd = [lstmcli_executable(), "train", "--quiet", "--out", str(run), *extra]
        common.log("running: " + " ".join(shlex.quote(c) for c in cmd))
        started = time.perf_counter()
        errors = open(Path(tmp) / "stderr.txt", "w+")  # noqa: SIM115 - closed below
        env = common.worker_env(threads)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=errors, cwd=str(common.ROOT))
        hit, stopped_by_us, history, detected = None, False, [], None
        seen = 0
        try:
            while proc.poll() is None:
                time.sleep(0.25)
                history = read_history(run / "history.csv")
                for row in history[seen:]:
                    step, seconds, accuracy = int(row["step"]), row["seconds"], row["test_accuracy"]
                    common.log(f"lstmcli step {step} {seconds:7.1f} s test accuracy {accuracy:.4f}")
                seen = len(history)
                if hit is None:
                    hit = next((r for r in history if r["test_accuracy"] >= target), None)
                    if hit is not None:
                        detected = time.perf_counter() - started
                over_cap = bool(history) and history[-1]["step"] >= max_steps
                if (hit is not None and not let_finish) or (over_cap and hit is None):
                    stopped_by_us = True
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=120)
                    break
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        history = read_history(run / "history.csv")
        if hit is None:
            hit = next((r for r in history if r["test_accuracy"] >= target), None)
            if hit is not None and detected is None:
                detected = time.perf_counter() - started
        ok_codes = {0, 143, -signal.SIGTERM} if stopped_by_us else {0}
        errors.seek(0)
        stderr_tail = errors.read()[-2000:]
        errors.close()
        if proc.returncode not in ok_codes:
            raise RuntimeError(f"lstmcli train exited {proc.returncode}:\n{stderr_tail}")
        config = json.loads((run / "config.json").read_text()) if (run / "config.json").exists() else {}
    return {
        "command": " ".join(cmd[1:]).replace(str(run), "TMP"),
        "reached": hit is not None,
        "step": int(hit["step"]) if hit else None,
        "seconds": hit["seconds"] if hit else None,
        "process_wall_at_detection_s": detected,
        "steps_run": int(history[-1]["step"]) if history else 0,
        "seconds_run": history[-1]["seconds"] if history else None,
        "best_accuracy": max((r["test_accuracy"] for r in history), default=None),
        "stopped_early": stopped_by_us,
        "exit_code": proc.returncode,
        "config": {k: config.get(k) for k in CONFIG_KEYS},
        "history": history,
    }


# -- the driver ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", type=float, default=TARGET, help="test accuracy to reach (0.98)")
    parser.add_argument("--max-steps", type=int, default=30_000, help="step cap for both sides (30000)")
    parser.add_argument("--article-eval-every", type=int, default=100, help="the recipe's test period (100)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of a b (default 1)")
    parser.add_argument(
        "--lstmcli-args", default="", help="extra arguments for lstmcli train (default none: the default run)"
    )
    parser.add_argument("--let-finish", action="store_true", help="let lstmcli train run to its end after the hit")
    parser.add_argument("--only", default="lstmcli,article", help="comma-separated subset of lstmcli,article")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="validation: target 0.5, cap 300 steps, lstmcli --eval-every 100, no docs update",
    )
    common.add_output_options(parser)
    parser.add_argument("--worker", choices=["article"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.target, args.max_steps = 0.5, 300
        args.lstmcli_args = args.lstmcli_args or "--eval-every 100"
    if not 0 < args.target <= 1 or args.max_steps < 1 or args.article_eval_every < 1 or args.rounds < 1:
        parser.error("need 0 < --target <= 1, and positive --max-steps, --article-eval-every, --rounds")
    args.sides = [s.strip() for s in args.only.split(",") if s.strip()]
    if set(args.sides) - {"lstmcli", "article"}:
        parser.error("--only takes lstmcli and/or article")
    return args


def render(result: dict[str, Any]) -> str:
    s, ctx = result["settings"], result["context"]
    rows = []
    for name, label in (("lstmcli", "default `lstmcli train`"), ("article", "article's recipe (Keras 3)")):
        for run in result["runs"].get(name, []):
            rows.append(
                [
                    label,
                    run["round"],
                    common.fmt(run["seconds"], 1, " s")
                    if run["reached"]
                    else f"not reached by step {run['steps_run']}",
                    run["step"] if run["reached"] else "-",
                    common.fmt(run["best_accuracy"], 4),
                    run.get("schedule", ""),
                ]
            )
    table = common.markdown_table(
        ["", "round", f"seconds to {s['target']:.3f}", "at step", "best test accuracy seen", "evaluation"], rows
    )
    r = result["ratio"]
    line = (
        f"Ratio lstmcli/article (medians): **{common.fmt(r['value'], 3, 'x')}** (target <= {TARGET_RATIO}x: "
        f"{common.verdict(r['value'], TARGET_RATIO, at_least=False)})."
    )
    head = (
        f"Target test accuracy {s['target']}, step cap {s['max_steps']}, {s['rounds']} round(s), "
        f"{s['threads']} threads per framework."
        + (" **Quick mode: validation only, not a measurement.**" if s["quick"] else "")
    )
    return f"{head}\n\n{table}\n\n{line}\n\nMachine: {common.machine_line(ctx)}."


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = common.cores()
    if args.worker:
        common.emit(worker_article(args.target, args.max_steps, args.article_eval_every))
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    ctx = common.context()
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in args.sides}
    extra = shlex.split(args.lstmcli_args)
    script = Path(__file__).resolve()
    for rnd in range(1, args.rounds + 1):
        for side in args.sides:
            if side == "lstmcli":
                run = run_lstmcli(args.target, args.max_steps, extra, args.let_finish, threads)
                cfg = run["config"]
                period = f"every {cfg['eval_every']} steps" if cfg.get("eval_every") else "once per epoch"
                run["schedule"] = f"{period} ({cfg.get('preset')} preset, batch {cfg.get('batch_size')})"
            else:
                worker_args = ["--worker", "article", "--target", str(args.target), "--max-steps", str(args.max_steps)]
                worker_args += ["--article-eval-every", str(args.article_eval_every)]
                run = common.run_worker(script, worker_args, threads)
                run["schedule"] = f"every {args.article_eval_every} steps, evaluate(batch_size={BATCH})"
            run["round"] = rnd
            runs[side].append(run)
            common.log(
                f"round {rnd} {side}: "
                + (
                    f"{run['seconds']:.1f} s to {args.target} at step {run['step']}"
                    if run["reached"]
                    else "not reached"
                )
            )
    medians = {
        side: common.summary([r["seconds"] for r in runs[side] if r["reached"]])["median"] for side in args.sides
    }
    value = common.ratio(medians.get("lstmcli"), medians.get("article"))
    ctx["machine"]["load_average_end"] = common.load_average()
    result = {
        "benchmark": "time_to_accuracy",
        "context": ctx,
        "settings": {
            "target": args.target,
            "max_steps": args.max_steps,
            "article_eval_every": args.article_eval_every,
            "lstmcli_args": args.lstmcli_args,
            "rounds": args.rounds,
            "threads": threads,
            "quick": args.quick,
        },
        "runs": runs,
        "median_seconds": medians,
        "ratio": {"value": value, "target": TARGET_RATIO, "meaning": "lstmcli seconds / article seconds"},
    }
    common.publish("time_to_accuracy", result, {"time-to-accuracy": render(result)}, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
