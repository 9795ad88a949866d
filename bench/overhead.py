"""Start-up and evaluation: the costs around training.

    python bench/overhead.py            # 7 interleaved rounds of each
    python bench/overhead.py --quick    # 1 round: shows it runs

startup  whole processes: `lstmcli --help`, `lstmcli params --no-verify` and `python -c "import tensorflow"`
         (this interpreter), one untimed run each (page cache, .pyc files), then --rounds interleaved rounds;
         medians. Target: each lstmcli command at most 0.1x the import.
eval     in one worker process, on the model `lstmcli train` builds (untrained: a forward pass takes as long
         whatever the weights) or on --model: lstmcli's evaluation (lstmcli.model.predict.make_predictor and
         lstmcli.metrics.summarize on the raw uint8 test images, all that `lstmcli eval` does once the model is
         loaded) against Keras model.evaluate(x, y, batch_size=50) on images already scaled to float32 (that
         scaling is not timed); one untimed call each, then --rounds alternating calls; medians. Target:
         lstmcli at least 5x faster. For reference, the whole `lstmcli eval MODEL --format json` process too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common

PARTS = ("startup", "eval")
TARGET_STARTUP, TARGET_EVAL = 0.1, 5.0
IMPORT_TF = 'python -c "import tensorflow"'


def measure_startup(args: argparse.Namespace) -> dict[str, Any]:
    lstmcli = common.lstmcli_command()
    commands = {
        "lstmcli --help": [*lstmcli, "--help"],
        "lstmcli params --no-verify": [*lstmcli, "params", "--no-verify"],
        IMPORT_TF: [sys.executable, "-c", "import tensorflow"],
    }
    seconds = common.time_commands(args, commands)
    ratios = {name: common.ratio(seconds[name]["median"], seconds[IMPORT_TF]["median"]) for name in commands}
    return {"seconds": seconds, "ratio_to_tensorflow_import": ratios}


def worker_eval(args: argparse.Namespace) -> dict[str, Any]:
    from lstmcli import datasets, runtime
    from lstmcli.metrics import summarize
    from lstmcli.model.load import load_model, resolve_model_path
    from lstmcli.model.predict import make_predictor

    runtime.tensorflow(seed=0)
    data = datasets.load()
    if args.model:
        model = load_model(resolve_model_path(Path(args.model)))
    else:
        from lstmcli.model.factory import build_model
        from lstmcli.train.config import TrainConfig

        model = build_model(TrainConfig().model_spec(data.timesteps, data.features, data.classes))
        model.save(args.model_out)  # for the parent's `lstmcli eval` process
    x_float, y_onehot = common.article_arrays(data, "test")
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    predict = make_predictor(model, data.scale)
    sides = {
        "lstmcli": lambda: summarize(predict(data.x_test), data.y_test)["accuracy"],
        "keras": lambda: model.evaluate(x_float, y_onehot, batch_size=50, verbose=0)[1],
    }
    for evaluate in sides.values():  # untimed: tracing
        evaluate()
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    accuracy = {}
    for _ in range(args.rounds):
        for name, evaluate in sides.items():
            t0 = time.perf_counter()
            accuracy[name] = float(evaluate())
            seconds[name].append(time.perf_counter() - t0)
    return {"seconds": seconds, "accuracy": accuracy, "samples": len(data.y_test)}


def measure_eval(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        model = args.model or str(Path(tmp) / "model.keras")
        run = common.run_worker("eval", args, model_out=model)
        cmd = [*common.lstmcli_command(), "eval", model, "--format", "json"]
        process = [common.run_process(cmd, args.threads)["wall_s"] for _ in range(args.rounds)]
    seconds = {name: common.summary(values) for name, values in run.pop("seconds").items()}
    return {
        **run,
        "model": args.model or "the model `lstmcli train` builds, untrained",
        "seconds": seconds,
        "speedup": common.ratio(seconds["keras"]["median"], seconds["lstmcli"]["median"]),
        "lstmcli_eval_process_s": common.summary(process),
    }


def render_startup(st: dict[str, Any], args: argparse.Namespace) -> str:
    rows = []
    for name, stat in st["seconds"].items():
        r = None if name == IMPORT_TF else st["ratio_to_tensorflow_import"][name]
        judged = "" if r is None else f"<= {TARGET_STARTUP}x: {common.verdict(r, TARGET_STARTUP, at_least=False)}"
        rows.append([f"`{name}`", *common.spread_cells(stat, 3), common.fmt(r, 3, "x") if r else "(baseline)", judged])
    headers = ["command", "median wall (s)", "min - max", "spread", "vs import tensorflow", "target"]
    quick = common.QUICK_NOTE if args.quick else ""
    warm = "" if args.quick else ", after one untimed run of each (which caches the modules' bytecode, as Python does)"
    head = f"Median of {args.rounds} interleaved runs each{warm}.{quick}"
    return f"{head}\n\n{common.markdown_table(headers, rows)}"


def render_eval(ev: dict[str, Any], args: argparse.Namespace) -> str:
    def median(stat: dict[str, Any]) -> str:
        return common.fmt(stat["median"], 3, " s")

    seconds, accuracy = ev["seconds"], ev["accuracy"]
    rows = [
        ["lstmcli (make_predictor + summarize)", median(seconds["lstmcli"]), common.fmt(accuracy["lstmcli"], 4)],
        ["Keras evaluate(batch_size=50)", median(seconds["keras"]), common.fmt(accuracy["keras"], 4)],
        ["whole `lstmcli eval MODEL --format json` process", median(ev["lstmcli_eval_process_s"]), ""],
    ]
    table = common.markdown_table([f"{ev['samples']:,} test images", "median", "accuracy"], rows)
    ok = common.verdict(ev["speedup"], TARGET_EVAL, at_least=True)
    return (
        f"Model: {ev['model']}; median of {args.rounds} alternating runs after one warm-up each."
        + (common.QUICK_NOTE if args.quick else "")
        + f"\n\n{table}\n\nSpeed-up: **{common.fmt(ev['speedup'], 1, 'x')}** (target >= {TARGET_EVAL}x: {ok})."
    )


def measure(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, str]:
    machine, sections = common.machine_line(result["context"]), {}
    if "startup" in args.only:
        result["startup"] = measure_startup(args)
        sections["startup"] = render_startup(result["startup"], args) + "\n\n" + machine
    if "eval" in args.only:
        result["eval"] = measure_eval(args)
        sections["eval"] = render_eval(result["eval"], args) + "\n\n" + machine
    return sections


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common.parser(__doc__, PARTS, rounds=7, workers=["eval"])
    parser.add_argument("--model", default=None, help="run directory or .keras file to evaluate (default: see above)")
    return common.parse(parser, argv, {"rounds": 1})


def main(argv: list[str] | None = None) -> int:
    return common.main(parse_args(argv), "overhead", {"eval": worker_eval}, measure)


if __name__ == "__main__":
    sys.exit(main())
