"""Every bad input of issue 4: exit code 2, one line that names the problem, no traceback, disk unchanged.

Each case runs the console-script entry point (`lstmcli.cli.main`, what `lstmcli` calls) in this
process, from a scratch working directory whose every file and folder is compared before and after.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import mnist_slice, refused

from lstmcli import cli, rundir
from lstmcli.rundir import RunFolder

# The problems, each with the text its message must contain (the option or file it names).
SIZE_OPTIONS = ("--units", "--input", "--layers", "--timesteps", "--classes")


def size_cases() -> list[tuple[list[str], str]]:
    cases = []
    for option in SIZE_OPTIONS:
        low = "-1" if option == "--classes" else "0"  # --classes 0 is valid: no head
        cases += [
            (["params", option, low], option),
            (["params", option, "-5"], option),
            (["params", option, "abc"], option),
            (["params", option, "2.5"], option),
            (["params", option, str(10**12)], option),  # absurd: past any sensible size
        ]
    for option in ("--units", "--layers", "--batch-size", "--steps", "--eval-every", "--checkpoint-every"):
        cases += [
            (["train", option, "0"], option),
            (["train", option, "-3"], option),
            (["train", option, "many"], option),
            (["train", option, str(10**12)], option),
        ]
    return cases


OPTION_CASES: list[tuple[list[str], str]] = [
    *size_cases(),
    # absurd parameter counts: verification refuses with the reason (the closed form still answers, below)
    (["params", "--units", "100000000"], "GiB"),
    (["params", "--units", "5000", "--layers", "900", "--bidirectional"], "GiB"),
    (["train", "--units", "1000000"], "GiB"),
    (["train", "--layers", "5000"], "--layers"),
    (["params", "--cell", "transformer"], "--cell"),
    (["train", "--cell", "lstm2"], "--cell"),
    (["train", "--learning-rate", "0"], "--learning-rate"),
    (["train", "--learning-rate", "-0.001"], "--learning-rate"),
    (["train", "--learning-rate", "nan"], "--learning-rate"),
    (["train", "--learning-rate", "inf"], "--learning-rate"),
    (["train", "--learning-rate", "fast"], "--learning-rate"),
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--epochs", "-1"], "--epochs"),
    (["train", "--schedule", "sometimes"], "schedule"),
    (["train", "--order", "random"], "order"),
    (["train", "--preset", "huge"], "preset"),
    (["train", "--seed", "-1"], "--seed"),
    (["params", "--format", "yaml"], "--format"),
    (["params", "--bogus"], "--bogus"),
    (["eval"], "target"),
]


@pytest.fixture(scope="module")
def arrays(mnist_arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A small valid dataset (60 train, 20 test 28x28 images) that each bad file changes in one way."""
    return mnist_slice(mnist_arrays, 60, 20)


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    return bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx_folder(folder: Path, arrays: dict[str, np.ndarray], gz: bool = False) -> Path:
    from lstmcli.datasets import IDX_FILES

    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in IDX_FILES.items():
        data = idx_bytes(arrays[key])
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / stem).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def bad_data(tmp_path_factory: pytest.TempPathFactory, arrays: dict[str, np.ndarray]) -> dict[str, tuple[Path, str]]:
    """name -> (path given to --data, text the message must contain)."""
    root = tmp_path_factory.mktemp("bad_data")
    cases: dict[str, tuple[Path, str]] = {}

    def npz(name: str, expect: str, drop: tuple[str, ...] = (), **changes: np.ndarray) -> None:
        content = {k: v for k, v in {**arrays, **changes}.items() if k not in drop}
        np.savez(root / f"{name}.npz", **content)
        cases[name] = (root / f"{name}.npz", expect)

    valid = root / "valid.npz"
    np.savez(valid, **arrays)
    raw = valid.read_bytes()

    cases["missing"] = (root / "nothing-here.npz", "no such file")
    cases["unreadable"] = (Path("/proc/self/mem"), "/proc/self/mem")  # exists, every read fails (EIO), even as root
    (root / "empty-folder").mkdir()
    cases["folder without IDX files"] = (root / "empty-folder", "train-images-idx3-ubyte")
    (root / "notes.txt").write_text("x_train,y_train\n1,2\n")
    cases["text file"] = (root / "notes.txt", "not an .npz")
    np.save(root / "single.npy", arrays["x_train"])
    cases["single .npy"] = (root / "single.npy", "single .npy array")
    (root / "empty.npz").write_bytes(b"")
    cases["empty file"] = (root / "empty.npz", "not an .npz")
    for fraction in (0.1, 0.5, 0.99):
        name = f"truncated to {fraction:.0%}"
        (root / f"{name}.npz").write_bytes(raw[: int(len(raw) * fraction)])
        cases[name] = (root / f"{name}.npz", "not a readable .npz")
    npz("wrong keys", "missing x_train", drop=("x_train",))
    np.savez(root / "keras-names.npz", images=arrays["x_train"], labels=arrays["y_train"])
    cases["no expected key"] = (root / "keras-names.npz", "found images, labels")
    npz("object array", "pickles", y_train=np.array([1, "two", None] * 20, dtype=object))
    npz("string images", "dtype", x_train=arrays["x_train"].astype("U3"))
    npz("complex images", "dtype", x_train=arrays["x_train"].astype(np.complex64))
    npz("bool labels", "dtype", y_train=arrays["y_train"].astype(bool))
    npz("fractional labels", "fractional", y_train=arrays["y_train"] + 0.5)
    npz("images 2-D", "x_train has shape", x_train=arrays["x_train"].reshape(60, -1))
    npz("images 5-D", "x_test has shape", x_test=arrays["x_test"][:, None, None])
    npz("labels 2-D", "y_test has shape", y_test=np.eye(10)[arrays["y_test"]])
    npz("empty split", "empty", x_test=arrays["x_test"][:0], y_test=arrays["y_test"][:0])
    npz("mismatched counts", "60 images but y_train has 59", y_train=arrays["y_train"][:59])
    npz("sizes differ", "both splits need the same image size", x_test=arrays["x_test"][:, :20, :20])
    npz(
        "negative label", "negative label", y_train=np.where(np.arange(60) == 3, -1, arrays["y_train"].astype(np.int16))
    )
    npz("test label out of range", "labels out of range", y_test=np.full(20, 10))
    npz("label far out of range", "labels out of range", y_train=np.full(60, 10**6))
    npz("one class", "single class", y_train=np.zeros(60, dtype=np.uint8))
    nan = arrays["x_train"].astype(np.float32)
    nan[0, 0, 0] = np.nan
    npz("NaN pixels", "NaN or infinite", x_train=nan)
    npz("inf pixels", "NaN or infinite", x_test=np.full((20, 28, 28), np.inf, np.float32))
    npz("NaN labels", "NaN or infinite labels", y_test=np.full(20, np.nan))
    npz("negative pixels", "outside 0..255", x_train=arrays["x_train"].astype(np.int16) - 1)
    npz("pixels past 255", "outside 0..255", x_test=arrays["x_test"].astype(np.float64) * 300)

    idx = write_idx_folder(root / "idx-bad-magic", arrays)
    data = bytearray((idx / "train-images-idx3-ubyte").read_bytes())
    data[0:4] = b"\x12\x34\x08\x03"
    (idx / "train-images-idx3-ubyte").write_bytes(bytes(data))
    cases["IDX bad magic"] = (idx, "bad IDX magic number")
    idx = write_idx_folder(root / "idx-unknown-type", arrays)
    data = bytearray((idx / "t10k-labels-idx1-ubyte").read_bytes())
    data[2] = 0x07
    (idx / "t10k-labels-idx1-ubyte").write_bytes(bytes(data))
    cases["IDX unknown type code"] = (idx, "bad IDX magic number")
    idx = write_idx_folder(root / "idx-truncated", arrays)
    (idx / "t10k-images-idx3-ubyte").write_bytes((idx / "t10k-images-idx3-ubyte").read_bytes()[:-100])
    cases["IDX shorter than its header says"] = (idx, "the header says 20 x 28 x 28 values")
    idx = write_idx_folder(root / "idx-too-long", arrays)
    (idx / "train-labels-idx1-ubyte").write_bytes((idx / "train-labels-idx1-ubyte").read_bytes() + b"\0\0")
    cases["IDX longer than its header says"] = (idx, "the header says 60 values")
    idx = write_idx_folder(root / "idx-huge-header", arrays)
    data = bytearray((idx / "train-images-idx3-ubyte").read_bytes())
    data[4:8] = struct.pack(">I", 2**32 - 1)
    (idx / "train-images-idx3-ubyte").write_bytes(bytes(data))
    cases["IDX header claiming 4 billion images"] = (idx, "4294967295 x 28 x 28")
    idx = write_idx_folder(root / "idx-short", arrays)
    (idx / "train-labels-idx1-ubyte").write_bytes(b"\0\0")
    cases["IDX file of 2 bytes"] = (idx, "too short")
    idx = write_idx_folder(root / "idx-gz-corrupt", arrays, gz=True)
    data = (idx / "t10k-images-idx3-ubyte.gz").read_bytes()
    (idx / "t10k-images-idx3-ubyte.gz").write_bytes(data[:40] + b"\xff" * 8 + data[48:])
    cases["IDX .gz corrupt"] = (idx, "cannot be read or unzipped")
    idx = write_idx_folder(root / "idx-gz-truncated", arrays, gz=True)
    (idx / "train-images-idx3-ubyte.gz").write_bytes((idx / "train-images-idx3-ubyte.gz").read_bytes()[:100])
    cases["IDX .gz truncated"] = (idx, "cannot be read or unzipped")
    idx = write_idx_folder(root / "idx-missing-file", arrays)
    (idx / "t10k-labels-idx1-ubyte").unlink()
    cases["IDX folder missing a file"] = (idx, "no t10k-labels-idx1-ubyte")
    idx = write_idx_folder(root / "idx-labels-as-images", arrays)
    (idx / "train-labels-idx1-ubyte").write_bytes(idx_bytes(arrays["x_train"]))
    cases["IDX labels file holding images"] = (idx, "y_train has shape")
    return cases


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """Eval targets that are not a usable model: name -> (path, text the message must contain)."""
    from lstmcli import runtime
    from lstmcli.model.factory import build_model
    from lstmcli.model.spec import ModelSpec

    root = tmp_path_factory.mktemp("models")
    runtime.tensorflow()
    good = root / "good.keras"
    build_model(ModelSpec(cell="rnn", units=4, input_size=28, timesteps=28)).save(good)
    raw = good.read_bytes()
    cases: dict[str, tuple[Path, str]] = {}
    every = "give a run directory or a model file (.keras, .h5, .hdf5)"  # eval and gates load .h5 too
    cases["missing"] = (root / "gone.keras", f"no such file or folder; {every}")
    (root / "empty-dir").mkdir()
    cases["folder that is not a run"] = (root / "empty-dir", "not a lstmcli run")
    unfinished = root / "unfinished-run"
    unfinished.mkdir()
    RunFolder(unfinished).config.write_text("{}")
    RunFolder(unfinished).checkpoint.write_bytes(b"")
    cases["unfinished run"] = (unfinished, "lstmcli train --resume")
    (root / "weights.bin").write_bytes(b"\x89HDF\r\n\x1a\n")
    cases["not a .keras name"] = (root / "weights.bin", f"not a model file by its name; {every}")
    for fraction in (0.05, 0.5, 0.95):
        name = f"truncated-{int(fraction * 100)}.keras"
        (root / name).write_bytes(raw[: int(len(raw) * fraction)])
        cases[f"truncated to {fraction:.0%}"] = (root / name, name)
    (root / "text.keras").write_text("this is not a model")
    cases["text named .keras"] = (root / "text.keras", "not a .keras model")
    (root / "empty.keras").write_bytes(b"")
    cases["empty .keras"] = (root / "empty.keras", "not a .keras model")
    with zipfile.ZipFile(good) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}

    def rezip(name: str, expect: str, **changes: bytes | None) -> None:
        with zipfile.ZipFile(root / name, "w") as archive:
            for member, content in {**members, **changes}.items():
                if content is not None:
                    archive.writestr(member, content)
        cases[name] = (root / name, expect)

    rezip("no-config.keras", "no-config.keras", **{"config.json": None})
    rezip("no-weights.keras", "no-weights.keras", **{"model.weights.h5": None})
    rezip("config-not-json.keras", "config-not-json.keras", **{"config.json": b"{not json"})
    rezip("config-empty-object.keras", "config-empty-object.keras", **{"config.json": b"{}"})
    rezip("weights-garbage.keras", "weights-garbage.keras", **{"model.weights.h5": b"\0" * 1000})
    half = members["model.weights.h5"][: len(members["model.weights.h5"]) // 2]
    rezip("weights-truncated.keras", "weights-truncated.keras", **{"model.weights.h5": half})
    config = json.loads(members["config.json"])
    config["config"]["layers"][-1]["config"]["units"] = 7  # the weights file holds a 10-class head
    rezip("shapes-disagree.keras", "shapes-disagree.keras", **{"config.json": json.dumps(config).encode()})
    dense = build_model(ModelSpec(cell="rnn", units=4, input_size=28, timesteps=28, classes=0))
    dense.save(root / "no-head.keras")
    return cases


@pytest.mark.parametrize(("argv", "names"), OPTION_CASES, ids=[" ".join(a) for a, _ in OPTION_CASES])
def test_bad_option(argv: list[str], names: str, scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if argv[0] == "train":
        argv = [*argv, "--out", str(scratch / "run")]
    err = refused(argv, capsys)
    assert names in err
    assert not (scratch / "run").exists()


def test_absurd_size_still_gets_the_closed_form(capsys: pytest.CaptureFixture[str]) -> None:
    """Past what memory can hold, the closed form still answers; only verification refuses (above)."""
    assert cli.main(["params", "--units", "100000000", "--no-verify", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 4 * (100_000_000 * (28 + 100_000_000) + 100_000_000) + (
        100_000_000 * 10 + 10
    )


@pytest.mark.parametrize(
    "name",
    [
        "missing", "unreadable", "folder without IDX files", "text file", "single .npy", "empty file",
        "truncated to 10%", "truncated to 50%", "truncated to 99%", "wrong keys", "no expected key",
        "object array", "string images", "complex images", "bool labels", "fractional labels", "images 2-D",
        "images 5-D", "labels 2-D", "empty split", "mismatched counts", "sizes differ", "negative label",
        "test label out of range", "label far out of range", "one class", "NaN pixels", "inf pixels",
        "NaN labels", "negative pixels", "pixels past 255", "IDX bad magic", "IDX unknown type code",
        "IDX shorter than its header says", "IDX longer than its header says",
        "IDX header claiming 4 billion images", "IDX file of 2 bytes", "IDX .gz corrupt", "IDX .gz truncated",
        "IDX folder missing a file", "IDX labels file holding images",
    ],
)  # fmt: skip
def test_bad_data_for_train(
    name: str, bad_data: dict[str, tuple[Path, str]], scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, names = bad_data[name]
    watched = [path.parent] if path.parent != Path("/proc/self") else []
    err = refused(
        ["train", "--data", str(path), "--steps", "5", "--batch-size", "20", "--out", str(scratch / "run")],
        capsys,
        *watched,
    )
    assert names in err, err
    assert "--data" in err or str(path) in err
    assert not (scratch / "run").exists()


def test_bad_data_for_eval(
    bad_data: dict[str, tuple[Path, str]], trained_run: Path, scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("truncated to 50%", "object array", "IDX bad magic"):
        path, names = bad_data[name]
        assert names in refused(["eval", str(trained_run), "--data", str(path)], capsys, trained_run)


def test_batch_larger_than_the_training_set(
    bad_data: dict[str, tuple[Path, str]], scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    valid = bad_data["missing"][0].parent / "valid.npz"
    out = str(scratch / "run")
    err = refused(["train", "--data", str(valid), "--batch-size", "61", "--validation", "0", "--out", out], capsys)
    assert "--batch-size 61 is larger than the training set (60 images)" in err
    err = refused(["train", "--data", str(valid), "--batch-size", "56", "--out", out], capsys)
    assert "--batch-size 56 is larger than the training set (55 images)" in err  # 5 of 60 held out for validation


@pytest.mark.parametrize(
    "name",
    [
        "missing", "folder that is not a run", "unfinished run", "not a .keras name", "truncated to 5%",
        "truncated to 50%", "truncated to 95%", "text named .keras", "empty .keras", "no-config.keras",
        "no-weights.keras", "config-not-json.keras", "config-empty-object.keras", "weights-garbage.keras",
        "weights-truncated.keras", "shapes-disagree.keras",
    ],
)  # fmt: skip
def test_bad_eval_target(
    name: str,
    models: dict[str, tuple[Path, str]],
    bad_data: dict[str, tuple[Path, str]],
    scratch: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, names = models[name]
    valid = bad_data["missing"][0].parent / "valid.npz"
    err = refused(["eval", str(path), "--data", str(valid)], capsys, path.parent)
    assert names in err, err


def test_eval_model_that_does_not_fit_the_data(
    models: dict[str, tuple[Path, str]],
    bad_data: dict[str, tuple[Path, str]],
    trained_run: Path,
    scratch: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = models["missing"][0].parent
    small_images = root / "7x7.npz"
    rng = np.random.default_rng(0)
    np.savez(
        small_images,
        x_train=rng.integers(0, 255, (20, 7, 7), dtype=np.uint8),
        y_train=np.arange(20) % 10,
        x_test=rng.integers(0, 255, (10, 7, 7), dtype=np.uint8),
        y_test=np.arange(10),
    )
    err = refused(["eval", str(trained_run), "--data", str(small_images)], capsys, trained_run)
    assert "the model reads 28 steps of 28 features but the test images are 7x7" in err
    valid = bad_data["missing"][0].parent / "valid.npz"
    err = refused(["eval", str(root / "no-head.keras"), "--data", str(valid)], capsys, root)
    assert "predicts 4 classes" in err


@pytest.mark.parametrize(
    "where",
    ["under a regular file", "a regular file", "in /proc", "in /sys", "runs dir under a regular file"],
)
def test_output_folder_that_cannot_be_written(
    where: str, bad_data: dict[str, tuple[Path, str]], scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tests run as root, so permissions cannot stop a write: these places refuse even root."""
    valid = bad_data["missing"][0].parent / "valid.npz"
    (scratch / "file").write_text("a regular file")
    out = {
        "under a regular file": ["--out", str(scratch / "file" / "run")],
        "a regular file": ["--out", str(scratch / "file")],
        "in /proc": ["--out", "/proc/lstmcli-test-run"],
        "in /sys": ["--out", "/sys/lstmcli-test-run"],
        "runs dir under a regular file": ["--runs-dir", str(scratch / "file" / "runs")],
    }[where]
    err = refused(["train", "--data", str(valid), "--steps", "5", "--batch-size", "20", *out], capsys)
    assert "choose" in err  # says what to do


def test_resume_refuses_options_it_would_ignore(scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(["train", "--resume", str(scratch), "--units", "8", "--no-bias", "--out", str(scratch)], capsys)
    assert "drop --units, --bias, --out" in err


def test_resume_refuses_force(trained_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--force replaces a run; a resume continues one, so it would silently ignore it."""
    err = refused(["train", "--resume", str(trained_run), "--force"], capsys, trained_run)
    assert "drop --force" in err


def test_resume_of_something_that_is_not_a_run(scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "not a lstmcli run" in refused(["train", "--resume", str(scratch / "nothing")], capsys)
    (scratch / "not-a-run").mkdir()
    assert "not a lstmcli run" in refused(["train", "--resume", str(scratch / "not-a-run")], capsys)
    for name, content in {
        "config not JSON": "{oops",
        "config a list": "[1, 2]",
        "config unknown key": json.dumps({"units": 8, "colour": "red"}),
        "config wrong type": json.dumps({"learning_rate": "fast"}),
        "config bad value": json.dumps({"units": 0}),
    }.items():
        run = scratch / name.replace(" ", "-")
        run.mkdir()
        RunFolder(run).config.write_text(content)
        err = refused(["train", "--resume", str(run)], capsys)
        assert rundir.CONFIG in err, (name, err)


def test_out_holding_another_run(trained_run: Path, scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(["train", "--steps", "5", "--out", str(trained_run)], capsys, trained_run)
    assert "already holds a run" in err and "--resume" in err and "--force" in err


def test_min_accuracy_out_of_range(trained_run: Path, scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "--min-accuracy" in refused(["eval", str(trained_run), "--min-accuracy", "1.5"], capsys, trained_run)


def test_unreadable_file_really_is_unreadable() -> None:
    """The 'unreadable' case above relies on /proc/self/mem failing on read at offset 0, even for root."""
    with pytest.raises(OSError), open("/proc/self/mem", "rb") as handle:
        handle.read(6)
    assert os.path.exists("/proc/self/mem")


def test_damaged_run_folder(
    trained_run: Path, tmp_path: Path, scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run whose files were damaged after it was written (not by lstmcli: its writes are atomic)."""
    import shutil

    unfinished = tmp_path / "unfinished"
    shutil.copytree(trained_run, unfinished)
    RunFolder(unfinished).metrics.unlink()
    RunFolder(unfinished).model.unlink()
    checkpoint = RunFolder(unfinished).checkpoint
    checkpoint.write_bytes(checkpoint.read_bytes()[:5000])
    err = refused(["train", "--resume", str(unfinished)], capsys, unfinished)
    assert "checkpoint unreadable" in err and "--force" in err
    checkpoint.write_bytes(b"")
    assert "checkpoint unreadable" in refused(["train", "--resume", str(unfinished)], capsys, unfinished)

    bad_config = tmp_path / "bad-config"
    shutil.copytree(trained_run, bad_config)
    RunFolder(bad_config).config.write_text('{"data": ')
    assert "config.json: unreadable or not JSON" in refused(["eval", str(bad_config)], capsys, bad_config)
