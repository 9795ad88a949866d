"""The one harness behind every script in bench/: options, whole processes, rounds, results, docs.

Each script says only what it measures. How a run is isolated (a fresh process, the same cores and thread
budget for every framework), how rounds alternate, what a result file records and how docs/performance.md
is updated are decided here once, so the scripts cannot drift apart.

The scripts run as plain files (`python bench/throughput.py`), so this module is imported as `common`. It
imports neither TensorFlow nor PyTorch: the parent of every benchmark stays light and each framework loads
in a process of its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from lstmcli.model.factory import physical_memory
from lstmcli.runtime import cores

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
PERFORMANCE_DOC = ROOT / "docs" / "performance.md"
QUICK_NOTE = " **Quick mode: shows the script runs; not a measurement.**"

# -- where and on what a result was measured -----------------------------------------------------


def lscpu() -> dict[str, str]:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    fields = (line.partition(":") for line in text.splitlines())
    return {key.strip(): value.strip() for key, sep, value in fields if sep}


def load_average() -> list[float] | None:
    """Recorded before and after every run: a busy shared machine shows here, not in the code."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def package_version(*names: str) -> str | None:
    """Installed version of the first distribution found, read from metadata so nothing heavy is imported."""
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def git_commit() -> str | None:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10).stdout

    try:
        commit = git("rev-parse", "--short", "HEAD").strip()
        dirty = git("status", "--porcelain", "--untracked-files=no", "lstmcli").strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + "+uncommitted lstmcli changes" if dirty else commit) or None


def context() -> dict[str, Any]:
    cpu = lscpu()
    flags = set(cpu.get("Flags", "").split())
    return {
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "commit": git_commit(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": {
            "cpu_model": cpu.get("Model name", platform.processor() or "unknown"),
            "cpus": os.cpu_count(),
            "cores_available": cores(),
            "avx2": "avx2" in flags,
            "avx512f": "avx512f" in flags,
            "hypervisor": cpu.get("Hypervisor vendor"),
            "memory_gib": round(physical_memory() / 2**30, 1),
            "os": platform.platform(),
            "load_average_1_5_15": load_average(),
        },
        "versions": {
            "python": platform.python_version(),
            "lstmcli": package_version("lstmcli"),
            "tensorflow": package_version("tensorflow", "tensorflow-cpu", "tensorflow-intel"),
            "keras": package_version("keras"),
            "torch": package_version("torch"),
            "numpy": package_version("numpy"),
        },
    }


def machine_line(ctx: dict[str, Any]) -> str:
    m, v = ctx["machine"], ctx["versions"]
    load = m.get("load_average_1_5_15")
    extensions = (", AVX2" if m["avx2"] else "") + (", AVX-512" if m["avx512f"] else "")
    parts = [
        f"{m['cpu_model']}, {m['cores_available']} cores available ({m['cpus']} CPUs{extensions})",
        f"load average at start {load[0]:.2f}" if load else None,
        f"Python {v['python']}, TensorFlow {v['tensorflow']}, Keras {v['keras']}, "
        f"PyTorch {v['torch'] or 'not installed'}, NumPy {v['numpy']}, lstmcli {v['lstmcli']}",
        f"commit {ctx['commit']}, {ctx['date_utc']} UTC",
    ]
    return "Machine: " + "; ".join(p for p in parts if p) + "."


# -- options -------------------------------------------------------------------------------------


def parser(doc: str, choices: Sequence[str], rounds: int, workers: Sequence[str]) -> argparse.ArgumentParser:
    """The options every script shares; `choices` are what --only may pick (sides or parts)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=",".join(choices), help=f"comma-separated subset of {','.join(choices)}")
    p.add_argument("--rounds", type=int, default=rounds, help=f"rounds, each side once per round ({rounds})")
    p.add_argument(
        "--threads", type=int, default=cores(), help="run every measured process on this many cores (all of them)"
    )
    p.add_argument("--quick", action="store_true", help="tiny settings that show the script runs; no docs update")
    p.add_argument(
        "--results-dir", "--out", type=Path, default=RESULTS_DIR, help="where NAME-latest.json goes (bench/results)"
    )
    p.add_argument("--no-publish", action="store_true", help="leave docs/performance.md as it is")
    p.add_argument("--worker", choices=workers, help=argparse.SUPPRESS)
    p.add_argument("--worker-settings", help=argparse.SUPPRESS)
    p.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    return p


def parse(p: argparse.ArgumentParser, argv: Sequence[str] | None, quick: Mapping[str, Any]) -> argparse.Namespace:
    """Parse, apply the --quick settings over the options, and refuse what cannot be measured."""
    args = p.parse_args(argv)
    if args.quick:
        for name, value in quick.items():
            setattr(args, name, value)
    choices = p.get_default("only").split(",")
    args.only = [c.strip() for c in args.only.split(",") if c.strip()]
    if not args.only or set(args.only) - set(choices):
        p.error(f"--only takes a comma-separated subset of {','.join(choices)}")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if not 1 <= args.threads <= cores():
        p.error(f"--threads must be between 1 and the {cores()} cores available")
    return args


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The options as resolved (after --quick): recorded in the result and handed to every worker."""
    hidden = {"worker", "worker_settings", "result_file", "results_dir"}
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in hidden}


# -- processes -----------------------------------------------------------------------------------


def lstmcli_command() -> list[str]:
    """The console script beside this Python, as a user starts lstmcli; `python -m lstmcli` where there is none."""
    script = Path(sys.executable).with_name("lstmcli")
    return [str(script)] if script.exists() else [sys.executable, "-m", "lstmcli"]


def worker_env(threads: int, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The same thread budget for every framework; lstmcli.runtime and the torch worker read the cores from the
    process's affinity, and OpenMP/MKL read these variables."""
    env = dict(os.environ)
    # Python's default, as on a user's machine: modules' bytecode cached after their first import. An environment
    # that sets PYTHONDONTWRITEBYTECODE makes every start of an editable install compile lstmcli from source.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow", PYTHONUNBUFFERED="1")
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), **(extra or {}))
    return env


def run_process(
    cmd: Sequence[str], threads: int, extra_env: Mapping[str, str] | None = None, show: bool = False
) -> dict[str, Any]:
    """Run one whole process on `threads` cores; its wall time from start to exit and its peak RSS.

    os.wait4 gives the resource use of that one child, so no other process's memory is counted. With
    `show` its output goes to our stderr (progress); otherwise it is kept only to explain a failure.
    """
    allowed = sorted(os.sched_getaffinity(0))[:threads] if hasattr(os, "sched_setaffinity") else None
    with tempfile.TemporaryFile() as output:
        sink = sys.stderr if show else output
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd),
            env=worker_env(threads, extra_env),
            stdout=sink,
            stderr=sink,
            cwd=str(ROOT),
            preexec_fn=(lambda: os.sched_setaffinity(0, allowed)) if allowed else None,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            output.seek(0)
            tail = output.read()[-3000:].decode(errors="replace") or "(its output is above)"
            raise RuntimeError(f"{' '.join(cmd)} exited {code}:\n{tail}")
    return {"wall_s": wall, "peak_rss_bytes": usage.ru_maxrss * 1024}  # Linux reports kilobytes


def run_worker(name: str, args: argparse.Namespace, **params: Any) -> dict[str, Any]:
    """Run this script's worker `name` in a fresh process with the resolved options plus `params`."""
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp:
        result_file = Path(tmp) / "result.json"
        script = Path(sys.modules["__main__"].__file__ or sys.argv[0]).resolve()
        spec = json.dumps({**settings(args), **params})
        cmd = [sys.executable, str(script), "--worker", name, "--worker-settings", spec]
        cmd += ["--result-file", str(result_file)]
        proc = run_process(cmd, args.threads, show=True)
        result = json.loads(result_file.read_text(encoding="utf-8"))
    return {**result, "process_wall_s": proc["wall_s"], "process_peak_rss_bytes": proc["peak_rss_bytes"]}


def alternate(
    rounds: int, runs: Sequence[dict[str, Any]], measure: Callable[[dict[str, Any]], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every run once per round, in the same order (A B C A B C ...), so that a slow spell on a shared machine
    hits every side rather than one; each result carries its parameters and round."""
    results = []
    for rnd in range(1, rounds + 1):
        for params in runs:
            log(f"round {rnd}/{rounds}: {' '.join(f'{k}={v}' for k, v in params.items())}")
            results.append({**params, "round": rnd, **measure(params)})
    return results


def time_commands(args: argparse.Namespace, commands: Mapping[str, Sequence[str]]) -> dict[str, dict[str, Any]]:
    """The median wall time (and spread) of each whole-process command over --rounds alternating rounds, after one
    untimed run each (a cold disk cache would otherwise count against the first); by the commands' names."""
    if not args.quick:
        for cmd in commands.values():
            run_process(cmd, args.threads)
    plan = [{"command": name} for name in commands]
    runs = alternate(args.rounds, plan, lambda p: run_process(commands[p["command"]], args.threads))
    return {name: summary([r["wall_s"] for r in select(runs, command=name)]) for name in commands}


def select(runs: Sequence[dict[str, Any]], **params: Any) -> list[dict[str, Any]]:
    return [r for r in runs if all(r.get(k) == v for k, v in params.items())]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- statistics and tables -----------------------------------------------------------------------


def summary(values: Sequence[float | None]) -> dict[str, Any]:
    """Median, min, max and spread (max/min) of the rounds that produced a value."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"n": 0, "median": None, "min": None, "max": None, "spread": None, "values": []}
    lo, hi = min(vals), max(vals)
    spread = hi / lo if lo > 0 else None
    return {"n": len(vals), "median": statistics.median(vals), "min": lo, "max": hi, "spread": spread, "values": vals}


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}{suffix}"


def verdict(value: float | None, target: float, at_least: bool) -> str:
    if value is None:
        return "n/a"
    return "met" if (value >= target if at_least else value <= target) else "missed"


def low_high(stat: dict[str, Any], digits: int = 2) -> str:
    return f"{fmt(stat['min'], digits)} - {fmt(stat['max'], digits)}"


def spread_cells(stat: dict[str, Any], digits: int) -> list[str]:
    """median | min - max | spread (max/min): how every table shows a series of rounds."""
    return [fmt(stat["median"], digits), low_high(stat, digits), fmt(stat["spread"], 2, "x")]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


# -- results and docs ----------------------------------------------------------------------------


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def update_doc(section: str, body: str, doc: Path = PERFORMANCE_DOC) -> None:
    """Replace the text between `<!-- bench:SECTION:begin -->` and `<!-- bench:SECTION:end -->`.

    The prose outside the markers is the authors'; a section without markers yet is appended.
    """
    begin, end = f"<!-- bench:{section}:begin -->", f"<!-- bench:{section}:end -->"
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Performance\n"
    block = f"{begin}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text, count=1)
    else:
        text = text.rstrip("\n") + f"\n\n## {section}\n\n{block}\n"
    atomic_write(doc, text)


def main(
    args: argparse.Namespace,
    benchmark: str,
    workers: Mapping[str, Callable[[argparse.Namespace], dict[str, Any]]],
    measure: Callable[[argparse.Namespace, dict[str, Any]], dict[str, str]],
    doc: Path = PERFORMANCE_DOC,
) -> int:
    """Run as a worker, or measure, then save NAME-latest.json, print the tables and update the docs.

    `measure` fills the result and returns its markdown sections. A run with fewer --threads than cores
    gets its own file and blocks (NAME-threads-N), so it never replaces the all-cores figures.
    """
    if args.worker:
        result = workers[args.worker](argparse.Namespace(**json.loads(args.worker_settings)))
        atomic_write(args.result_file, json.dumps(result))
        return 0
    result: dict[str, Any] = {"benchmark": benchmark, "context": context(), "settings": settings(args)}
    sections = measure(args, result)
    result["context"]["machine"]["load_average_end"] = load_average()
    suffix = "" if args.threads == cores() else f"-threads-{args.threads}"
    path = args.results_dir / f"{benchmark}{suffix}{'-quick' if args.quick else ''}-latest.json"
    atomic_write(path, json.dumps(result, indent=2) + "\n")
    for section, text in sections.items():
        print(f"<!-- {section}{suffix} -->\n{text}\n")
    print(f"saved {path}")
    if not (args.quick or args.no_publish):
        for section, text in sections.items():
            update_doc(section + suffix, text, doc)
        print(f"updated {doc}")
    return 0


# -- the article's model, as the article built it ------------------------------------------------

ARTICLE_BATCH, ARTICLE_UNITS, ARTICLE_LR = 50, 75, 1e-3


def article_model(data: Any) -> Any:
    """The article's Keras model, built directly (not through lstmcli's factory) and compiled as it did:
    Input(28, 28) -> LSTM(75) -> Dense(10, softmax), Adam 1e-3, categorical cross-entropy, accuracy."""
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(data.timesteps, data.features)),
            keras.layers.LSTM(ARTICLE_UNITS),
            keras.layers.Dense(data.classes, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(ARTICLE_LR), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def article_arrays(data: Any, split: str) -> tuple[Any, Any]:
    """Images scaled to 0..1 as float32 and one-hot labels, as the article fed them to Keras."""
    import numpy as np

    x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
    return x.astype(np.float32) / np.float32(data.scale), np.eye(data.classes, dtype=np.float32)[y]


def batch_slice(step: int, batch: int, size: int) -> slice:
    """Step `step`'s batch when the training set is walked in order, as the article did; a last partial
    batch is skipped so that every step sees `batch` images (a view, not a copy)."""
    start = (step * batch) % (size - size % batch)
    return slice(start, start + batch)
