"""Coverage-guided fuzzing of lstmcli's readers with atheris (libFuzzer for Python).

    pip install atheris   # not a test dependency: this is run by hand, for minutes or hours
    nice -n 19 python fuzz/fuzz_readers.py --target npz --minutes 10
    python fuzz/fuzz_readers.py --target all --minutes 30     # the time shared out between the three

Targets (each input is one file, written to a temporary folder and read the way the CLI reads it):

- npz:  the bytes as `--data X.npz` (lstmcli.datasets.load: zip, .npy headers, layouts, labels, images);
- sequences: the bytes as `--task sequences --data X.npz` (lstmcli.datasets.load_sequences: the same zip and .npy
        checks, then (N, T, F) values, class labels or float targets, and their standardisation);
- idx:  an IDX folder whose one file (chosen, and gzipped or not, by the first byte) is the rest of the bytes;
- toml: the bytes as `--config X.toml`, then the settings through TrainConfig as `train` does;
- h5:   the bytes as a legacy Keras `.h5`: the content check, the HDF5 parse (h5py, weights read too, as for
        `eval`) and the checks of the config it holds (declared sizes, the rewrite for Keras 3);
- onnx: the bytes as an `.onnx`: the pure-Python check of its top level, the parse (onnx, protobuf) and the
        report of its LSTM/GRU/RNN nodes.

The h5 and onnx targets call, in the fuzzing process itself, the parse lstmcli runs in a child process with
resource limits (lstmcli/model/probe.py): a crash of the C library here is a libFuzzer crash, counted in
the report, which is the evidence for (or against) that isolation.

The only acceptable outcomes are a dataset (or config) that loads, or lstmcli's own DataError/UsageError
whose text is one line naming the file. Anything else is a finding: its input and traceback are saved under
fuzz/findings/ and the fuzzing goes on. The report gives the cases run, libFuzzer's edge coverage and the
line coverage of the reader modules measured by replaying the corpus (fuzz/corpus/TARGET, kept between runs).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # the lstmcli of this checkout, in the parent (replay) as in the children
TARGETS = ("npz", "sequences", "idx", "toml", "h5", "onnx")
# The modules whose lines the report counts: the readers, and the checks their results go through.
MODULES = {
    "npz": ("lstmcli/datasets.py", "lstmcli/npzfile.py", "lstmcli/files.py"),
    "sequences": ("lstmcli/datasets.py", "lstmcli/npzfile.py", "lstmcli/tasks/sequences.py"),
    "idx": ("lstmcli/datasets.py", "lstmcli/files.py"),
    "toml": ("lstmcli/train/config_file.py", "lstmcli/train/config.py", "lstmcli/files.py"),
    "h5": ("lstmcli/model/probe.py", "lstmcli/model/h5_file.py", "lstmcli/model/declared.py"),
    "onnx": ("lstmcli/model/probe.py", "lstmcli/model/onnx_file.py"),
}
IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


# The child: one target under atheris -------------------------------------------------------------------------


def seeds(target: str) -> list[bytes]:
    """Valid inputs to start from: small real files of each kind."""
    import gzip
    import struct

    import numpy as np

    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (6, 3, 4), dtype=np.uint8),
        "y_train": np.arange(6, dtype=np.uint8) % 3,
        "x_test": rng.integers(0, 256, (3, 3, 4), dtype=np.uint8),
        "y_test": np.arange(3, dtype=np.uint8),
    }
    if target == "npz":
        out = []
        for save in (np.savez, np.savez_compressed):
            buffer = io.BytesIO()
            save(buffer, **arrays)
            out.append(buffer.getvalue())
        return out
    if target == "sequences":
        out = []
        x, x_test = rng.normal(0, 1e3, (6, 3, 2)), rng.normal(0, 1e3, (3, 3, 2)).astype(np.float32)
        for y, y_test in ((arrays["y_train"].astype(np.int64), arrays["y_test"]), (rng.random(6), rng.random(3))):
            buffer = io.BytesIO()
            np.savez(buffer, x_train=x, y_train=y, x_test=x_test, y_test=y_test)
            out.append(buffer.getvalue())
        return out
    if target == "h5":
        return h5_seeds()
    if target == "onnx":
        return onnx_seeds()
    if target == "idx":
        out = []
        for index, key in enumerate(("x_train", "y_train", "x_test", "y_test")):
            array = arrays[key]
            raw = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
            out += [bytes([index]) + raw, bytes([index | 4]) + gzip.compress(raw, mtime=0)]
        return out
    return [b'units = 16\nbatch-size = 20\nlearning_rate = 1e-3\nsteps = 10\ncell = "gru"\ndata = "x.npz"\n',
            b'preset = "seed"\nepochs = 2.5\nseed = 7\nclasses = 12\n[t]\na = [1, {b = "]"}]\n']  # fmt: skip


def h5_seeds() -> list[bytes]:
    """Files laid out as Keras's legacy .h5 save lays them out (model_config, model_weights/LAYER/weights)."""
    import json

    import h5py
    import numpy as np

    lstm = {"class_name": "LSTM", "config": {"name": "lstm", "units": 3, "time_major": False, "implementation": 2}}
    dense = {"class_name": "Dense", "config": {"name": "dense", "units": 2, "activation": "softmax"}}
    config = {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 5, 4], "name": "x"}},
                lstm,
                dense,
            ],
        },
    }
    out = []
    for compression in (None, "gzip"):
        buffer = io.BytesIO()
        with h5py.File(buffer, "w") as handle:
            handle.attrs["model_config"] = json.dumps(config)
            weights = handle.create_group("model_weights")
            weights.attrs["layer_names"] = np.array([b"lstm", b"dense"])
            weights.attrs["keras_version"] = "2.21.0"
            for layer, shapes in (
                ("lstm", {"kernel:0": (4, 12), "recurrent_kernel:0": (3, 12), "bias:0": (12,)}),
                ("dense", {"kernel:0": (3, 2), "bias:0": (2,)}),
            ):
                group = weights.create_group(layer)
                group.attrs["weight_names"] = np.array([f"{layer}/{name}".encode() for name in shapes])
                for name, shape in shapes.items():
                    group.create_dataset(f"{layer}/{name}", data=np.ones(shape, np.float32), compression=compression)
        out.append(buffer.getvalue())
    return out


def onnx_seeds() -> list[bytes]:
    """An LSTM (bidirectional) and a GRU graph as onnx.helper writes them, with W, R, B initializers."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    out = []
    cases = (("LSTM", 4, 2, {"direction": "bidirectional"}), ("GRU", 3, 1, {"linear_before_reset": 1}))
    for op, gates, dirs, extra in cases:
        n, m = 2, 3
        shapes = (
            ("W", (dirs, gates * n, m)),
            ("R", (dirs, gates * n, n)),
            ("B", (dirs, 2 * gates * n)),
            ("head", (4, 2)),
        )
        inits = [numpy_helper.from_array(np.ones(shape, np.float32), name) for name, shape in shapes]
        node = helper.make_node(op, ["X", "W", "R", "B"], ["Y"], hidden_size=n, name=op.lower(), **extra)
        graph = helper.make_graph(
            [node],
            "g",
            [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 1, m])],
            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
            inits,
        )
        out.append(helper.make_model(graph).SerializeToString())
    return out


class Child:
    """The function libFuzzer calls for every input, and what it records."""

    def __init__(self, target: str, findings: Path) -> None:
        self.target, self.findings = target, findings
        self.folder = Path(tempfile.mkdtemp(prefix=f"lstmcli-fuzz-{target}-"))
        self.valid_idx: dict[str, bytes] = {}
        if target == "idx":
            for seed in seeds("idx"):
                if seed[0] < 4:
                    self.valid_idx[IDX_STEMS[seed[0]]] = seed[1:]

    def run(self, data: bytes) -> None:
        from lstmcli.errors import LstmcliError

        try:
            path = getattr(self, f"_{self.target}")(data)
        except LstmcliError as error:
            text = str(error)
            if "\n" in text or str(self.folder) not in text:
                self._finding(data, f"LstmcliError not one line naming the file: {text!r}")
            return
        except Exception:  # a finding: record it and go on
            self._finding(data, traceback.format_exc())
            return
        del path

    def _npz(self, data: bytes) -> Path:
        from lstmcli import datasets

        path = self.folder / "data.npz"
        path.write_bytes(data)
        check_dataset(datasets.load(path))
        return path

    def _sequences(self, data: bytes) -> Path:
        import numpy as np

        from lstmcli import datasets
        from lstmcli.tasks.sequences import Statistics

        path = self.folder / "sequences.npz"
        path.write_bytes(data)
        got = datasets.load_sequences(path)
        standardised = Statistics.of(got.x_train).apply(got.x_test, str(path))
        assert all(x.dtype == np.float32 and np.isfinite(x).all() for x in (got.x_train, got.x_test, standardised))
        return path

    def _idx(self, data: bytes) -> Path:
        from lstmcli import datasets

        choice, content = (data[0], data[1:]) if data else (0, b"")
        stem = IDX_STEMS[choice % 4]
        for name in os.listdir(self.folder):
            os.unlink(self.folder / name)
        for other, valid in self.valid_idx.items():
            if other != stem:
                (self.folder / other).write_bytes(valid)
        (self.folder / (stem + (".gz" if choice & 4 else ""))).write_bytes(content)
        check_dataset(datasets.load(self.folder))
        return self.folder

    def _toml(self, data: bytes) -> Path:
        from lstmcli.train import config_file
        from lstmcli.train.config import from_preset

        path = self.folder / "experiment.toml"
        path.write_bytes(data)
        preset, settings = config_file.merge(config_file.load(path), {})
        from_preset(preset, **settings)
        return path

    def _h5(self, data: bytes) -> Path:
        import json

        from lstmcli.model import declared, h5_file, probe

        path = self.folder / "model.h5"
        path.write_bytes(data)
        h5_file.check_file(path)
        try:
            found, _ = probe.probe_h5(str(path), weights=True)
        except probe.Refused:
            return path
        if found.model_config_json is not None:
            try:
                config = json.loads(found.model_config_json)
            except (ValueError, RecursionError):
                return path
            declared.check(config, path, found.stored_bytes, initialisers=False)
            h5_file.sanitize(config, path, unsafe=False)
        return path

    def _onnx(self, data: bytes) -> Path:
        from lstmcli.model import onnx_file, probe

        path = self.folder / "model.onnx"
        path.write_bytes(data)
        onnx_file.check_file(path)
        try:
            found = probe.probe_onnx(str(path))
        except probe.Refused:
            return path
        report = onnx_file.report(path, found, None, 1)
        assert report.total == sum(layer.params for layer in report.layers)
        return path

    def _finding(self, data: bytes, text: str) -> None:
        last = [line for line in text.strip().splitlines() if line.strip()][-1]
        key = hashlib.sha256(last.encode()).hexdigest()[:12]
        self.findings.mkdir(parents=True, exist_ok=True)
        if not (self.findings / f"{self.target}-{key}.txt").exists():
            (self.findings / f"{self.target}-{key}.bin").write_bytes(data)
            (self.findings / f"{self.target}-{key}.txt").write_text(text)
            print(f"FINDING {self.target}-{key}: {last}", file=sys.stderr, flush=True)


def check_dataset(data: object) -> None:
    """What loading promises about anything it accepts (the invariants of tests/test_fuzz.py)."""
    import numpy as np

    x_train, y_train, x_test, y_test = (getattr(data, k) for k in ("x_train", "y_train", "x_test", "y_test"))
    classes = data.classes  # type: ignore[attr-defined]
    assert x_train.ndim == x_test.ndim == 3 and x_train.shape[1:] == x_test.shape[1:]
    assert len(x_train) == len(y_train) > 0 and len(x_test) == len(y_test) > 0
    assert x_train.dtype == x_test.dtype and x_train.dtype in (np.uint8, np.float32)
    assert y_train.dtype == y_test.dtype == np.int32 and 2 <= classes <= 10_000
    assert set(np.unique(y_train)) == set(range(classes)) and set(np.unique(y_test)) <= set(range(classes))
    if x_train.dtype == np.float32:
        assert all(np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1 for x in (x_train, x_test))


def child(target: str, corpus: Path, findings: Path, seconds: int) -> None:
    import atheris

    with atheris.instrument_imports(include=["lstmcli", "zipfile", "gzip", "tomllib", "numpy.lib.format"]):
        import lstmcli.datasets
        import lstmcli.model.h5_file
        import lstmcli.model.onnx_file
        import lstmcli.model.probe
        import lstmcli.train.config
        import lstmcli.train.config_file  # noqa: F401
    runner = Child(target, findings)
    corpus.mkdir(parents=True, exist_ok=True)
    for seed in seeds(target):
        (corpus / f"seed-{hashlib.sha256(seed).hexdigest()[:12]}").write_bytes(seed)
    options = [f"-max_total_time={seconds}", "-max_len=16384", "-timeout=20", "-rss_limit_mb=6144",
               f"-artifact_prefix={findings}/{target}-", "-print_final_stats=1", str(corpus)]  # fmt: skip
    findings.mkdir(parents=True, exist_ok=True)
    atheris.Setup([sys.argv[0], *options], runner.run)
    atheris.Fuzz()


# The parent: runs the children, replays the corpus for line coverage, reports ---------------------------------


def line_coverage(target: str, corpus: Path) -> dict[str, tuple[int, int]]:
    """Executed and executable lines of the target's modules, replaying every corpus input once."""
    import trace

    files = [str(ROOT / name) for name in MODULES[target]]
    tracer = trace.Trace(count=1, trace=0)
    runner = Child(target, Path(tempfile.mkdtemp(prefix="lstmcli-replay-")))
    for item in sorted(corpus.iterdir()):
        tracer.runfunc(runner.run, item.read_bytes())
    executed: dict[str, set[int]] = {name: set() for name in files}
    for (filename, line), _count in tracer.results().counts.items():
        if filename in executed:
            executed[filename].add(line)
    result = {}
    for name in files:
        lines = set(trace._find_executable_linenos(name))  # type: ignore[attr-defined]
        result[os.path.relpath(name, ROOT)] = (len(executed[name] & lines), len(lines))
    return result


def run_target(target: str, seconds: int, corpus_root: Path, findings: Path) -> dict[str, object]:
    corpus = corpus_root / target
    started, runs, edges, features = time.monotonic(), 0, 0, 0
    log = ""
    while (left := seconds - int(time.monotonic() - started)) > 5:  # a crash ends libFuzzer: start it again
        done = subprocess.run(
            [sys.executable, __file__, "--child", target, "--seconds", str(left), "--corpus", str(corpus_root),
             "--findings", str(findings)],
            capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        log += done.stderr
        counts = re.findall(r"executed_units: (\d+)", done.stderr) or re.findall(r"^#(\d+)", done.stderr, re.M)
        runs += max(map(int, counts), default=0)
        for cov, ft in re.findall(r"cov: (\d+) ft: (\d+)", done.stderr):
            edges, features = max(edges, int(cov)), max(features, int(ft))
        if done.returncode == 0:
            break
    found = sorted({line for line in log.splitlines() if line.startswith("FINDING")})
    crashes = re.findall(r"ERROR: libFuzzer: ([a-z -]+)", log)  # deadly signal, timeout, out-of-memory
    return {"target": target, "minutes": round((time.monotonic() - started) / 60, 1), "runs": runs,
            "edges": edges, "features": features, "corpus": len(list(corpus.iterdir())), "findings": found,
            "crashes": crashes, "lines": line_coverage(target, corpus)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=(*TARGETS, "all"), default="all")
    parser.add_argument("--minutes", type=float, default=10.0, help="fuzzing time, shared out for --target all")
    parser.add_argument("--corpus", type=Path, default=HERE / "corpus")
    parser.add_argument("--findings", type=Path, default=HERE / "findings")
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=int, default=0, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.child:
        child(args.child, args.corpus / args.child, args.findings, args.seconds)
        return 0
    targets = TARGETS if args.target == "all" else (args.target,)
    seconds = int(args.minutes * 60 / len(targets))
    for target in targets:
        report = run_target(target, seconds, args.corpus, args.findings)
        print(f"{target}: {report['minutes']} min, {report['runs']:,} cases, libFuzzer coverage {report['edges']} "
              f"edges / {report['features']} features, corpus {report['corpus']} inputs, "
              f"{len(report['findings'])} findings, crashes: {report['crashes'] or 'none'}")  # type: ignore[arg-type]  # fmt: skip
        for name, (hit, total) in report["lines"].items():  # type: ignore[union-attr]
            print(f"  line coverage {name}: {hit}/{total} ({100 * hit / max(total, 1):.0f}%)")
        for line in report["findings"]:  # type: ignore[union-attr]
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
