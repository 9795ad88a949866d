"""Helpers shared by the benchmark scripts: machine and version facts, subprocess workers, results, docs.

The scripts in bench/ run as plain files (`python bench/throughput.py`), so this module is imported as
`common` from the script's own folder. It imports neither TensorFlow nor PyTorch: the parent process of
every benchmark stays light, and each framework runs in a worker subprocess of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
PERFORMANCE_DOC = ROOT / "docs" / "performance.md"

# Prefix of the one line a worker prints on stdout with its result; everything else it prints is ignored.
RESULT_PREFIX = "BENCH-RESULT "


# -- machine and versions ------------------------------------------------------------------------


def cores() -> int:
    """CPUs this process may run on (respects taskset/cgroup affinity), as lstmcli.runtime counts them."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def lscpu() -> dict[str, str]:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_info() -> dict[str, Any]:
    """CPU model, core counts, vector extensions, memory and the load average (a busy machine shows here)."""
    cpu = lscpu()
    flags = set(cpu.get("Flags", "").split())
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = None
    return {
        "cpu_model": cpu.get("Model name", platform.processor() or "unknown"),
        "cpus": int(cpu.get("CPU(s)", os.cpu_count() or 0)),
        "cores_per_socket": _int_or_none(cpu.get("Core(s) per socket")),
        "sockets": _int_or_none(cpu.get("Socket(s)")),
        "threads_per_core": _int_or_none(cpu.get("Thread(s) per core")),
        "cores_available": cores(),
        "avx2": "avx2" in flags,
        "avx512f": "avx512f" in flags,
        "hypervisor": cpu.get("Hypervisor vendor"),
        "memory_gib": round(memory / 2**30, 1) if memory else None,
        "os": platform.platform(),
        "load_average_1_5_15": load_average(),
    }


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def package_version(*names: str) -> str | None:
    """Installed version of the first distribution found among `names`, without importing it."""
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def versions() -> dict[str, str | None]:
    return {
        "python": platform.python_version(),
        "lstmcli": package_version("lstmcli"),
        "tensorflow": package_version("tensorflow", "tensorflow-cpu", "tensorflow-intel"),
        "keras": package_version("keras"),
        "torch": package_version("torch"),
        "numpy": package_version("numpy"),
    }


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip() or None
    if commit:
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "lstmcli"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if dirty.stdout.strip():
            commit += "+uncommitted lstmcli changes"
    return commit


def context() -> dict[str, Any]:
    """What every result file records about where and on what it was measured."""
    return {
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "commit": git_commit(),
        "machine": machine_info(),
        "versions": versions(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }


# -- thread policy and workers -------------------------------------------------------------------


def worker_env(threads: int) -> dict[str, str]:
    """Environment of every worker subprocess: the same thread budget for every framework.

    TensorFlow workers go through lstmcli.runtime.tensorflow() (one inter-op thread per tower, the rest of the
    cores as intra-op threads: on 2 cores, inter-op 2 and intra-op 1, also the fastest setting measured for the
    article's train_on_batch loop);
    PyTorch workers call torch.set_num_threads(cores) and set_num_interop_threads(1). The OpenMP/MKL
    variables make any library that reads them agree.
    """
    env = dict(os.environ)
    env.update(
        {
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "KERAS_BACKEND": "tensorflow",
            "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def run_worker(script: Path, args: Sequence[str], threads: int, timeout: float | None = None) -> dict[str, Any]:
    """Run `python script --worker ...` in a fresh process and return the JSON it reports.

    The worker's stderr passes through (progress lines); its stdout is searched for the result line.
    """
    cmd = [sys.executable, str(script), *args]
    started = time.perf_counter()
    proc = subprocess.run(
        cmd, stdout=subprocess.PIPE, text=True, env=worker_env(threads), timeout=timeout, cwd=str(ROOT)
    )
    wall = time.perf_counter() - started
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-2000:]}")
    result = json.loads(lines[-1][len(RESULT_PREFIX) :])
    result["process_wall_s"] = round(wall, 3)
    return result


def emit(result: dict[str, Any]) -> None:
    """Called by a worker: print its result where run_worker looks for it."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- statistics ----------------------------------------------------------------------------------


def summary(values: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and spread (max/min) of a series of measurements."""
    vals = [float(v) for v in values]
    if not vals:
        return {"n": 0, "median": None, "min": None, "max": None, "spread": None, "values": []}
    lo, hi = min(vals), max(vals)
    return {
        "n": len(vals),
        "median": statistics.median(vals),
        "min": lo,
        "max": hi,
        "spread": hi / lo if lo > 0 else None,
        "values": vals,
    }


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{suffix}"


def verdict(value: float | None, target: float, at_least: bool) -> str:
    if value is None:
        return "n/a"
    ok = value >= target if at_least else value <= target
    return "met" if ok else "missed"


# -- results and docs ----------------------------------------------------------------------------


def write_result(name: str, data: dict[str, Any], results_dir: Path | None = None, quick: bool = False) -> Path:
    """Save `data` as bench/results/NAME[-quick]-YYYYmmdd-HHMMSS.json and NAME[-quick]-latest.json."""
    folder = results_dir or RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-quick" if quick else name
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    path = folder / f"{stem}-{stamp}.json"
    for target in (path, folder / f"{stem}-latest.json"):
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    return path


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_line(ctx: dict[str, Any]) -> str:
    m, v = ctx["machine"], ctx["versions"]
    load = m.get("load_average_1_5_15")
    parts = [
        f"{m['cpu_model']}, {m['cores_available']} cores available ({m['cpus']} CPUs"
        + (", AVX2" if m.get("avx2") else "")
        + (", AVX-512" if m.get("avx512f") else "")
        + ")",
        f"load average at start {load[0]:.2f}" if load else None,
        f"Python {v['python']}, TensorFlow {v['tensorflow']}, Keras {v['keras']}, "
        f"PyTorch {v['torch'] or 'not installed'}, NumPy {v['numpy']}, lstmcli {v['lstmcli']}",
        f"commit {ctx['commit']}, {ctx['date_utc']} UTC",
    ]
    return "; ".join(p for p in parts if p)


def update_doc(section: str, body: str, doc: Path | None = None) -> Path:
    """Replace the text between `<!-- bench:SECTION:begin -->` and `<!-- bench:SECTION:end -->` in the doc.

    Everything outside the markers (the prose the lead writes) is kept; a missing section is appended.
    """
    path = doc or PERFORMANCE_DOC
    begin, end = f"<!-- bench:{section}:begin -->", f"<!-- bench:{section}:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    block = f"{begin}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text, count=1)
    else:
        text = text.rstrip("\n") + f"\n\n## {section}\n\n{block}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def doc_target(doc: str | None, quick: bool) -> Path | None:
    """Where a script writes its table: docs/performance.md for a full run, nowhere for --quick unless
    --doc names a file; --doc none never writes."""
    if doc is not None:
        return None if doc.lower() == "none" else Path(doc)
    return None if quick else PERFORMANCE_DOC


def add_output_options(parser: Any) -> None:
    """--doc and --results-dir, the same for every benchmark script."""
    parser.add_argument("--doc", default=None, help="markdown file to update (default docs/performance.md; 'none')")
    parser.add_argument("--results-dir", type=Path, default=None, help="where the JSON goes (bench/results)")


def publish(name: str, result: dict[str, Any], sections: dict[str, str], args: Any) -> None:
    """Save the result as JSON, print each section, and rewrite its block of docs/performance.md."""
    path = write_result(name, result, args.results_dir, args.quick)
    for section, text in sections.items():
        print(f"## {section}\n\n{text}\n" if len(sections) > 1 else text)
    print(f"\nsaved {path}")
    doc = doc_target(args.doc, args.quick)
    if doc is not None:
        for section, text in sections.items():
            update_doc(section, text, doc)
        print(f"updated {doc}")


# -- the article's model, as the article built it ------------------------------------------------

ARTICLE_BATCH, ARTICLE_UNITS, ARTICLE_LR = 50, 75, 1e-3


def article_model(data: Any) -> Any:
    """The article's Keras model, built directly (not through lstmcli's factory), compiled as it did:
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
