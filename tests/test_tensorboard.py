"""TensorBoard logs (lstmcli.train.tensorboard): step-axis scalars per set and an HParams summary, read back
with TensorBoard's own event reader and its HParams plugin's parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstmcli.cli import main


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory, tiny_npz: Path) -> Path:
    """One short run on the 7x7 slice: the logs' tags, steps and hyperparameters do not depend on the image size."""
    run = tmp_path_factory.mktemp("tb") / "run"
    argv = ["train", "--data", str(tiny_npz), "--units", "8", "--batch-size", "20", "--steps", "10",
            "--eval-every", "5", "--tensorboard", "--quiet", "--out", str(run)]  # fmt: skip
    assert main(argv) == 0
    return run / "tensorboard"


def scalars(folder: Path) -> dict[str, list[int]]:
    """Each tag of the folder's event files with the steps it was written at."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [e.step for e in events.Tensors(tag)] for tag in events.Tags()["tensors"]}


def test_step_axis_scalars_by_set(logs: Path) -> None:
    train, validation, test = (scalars(logs / name) for name in ("train", "validation", "test"))
    assert train == {"loss": [5, 10], "accuracy": [5, 10], "learning_rate": [5, 10]}
    assert validation == {"loss": [5, 10], "accuracy": [5, 10]}
    assert test == {"loss": [10], "accuracy": [10]}  # the test set once, at the end
    assert not any(tag.startswith("epoch_") for tags in (train, validation, test) for tag in tags)


def test_hparams_summary_and_final_metrics(logs: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    events = EventAccumulator(str(logs))
    events.Reload()
    tags = set(events.Tags()["tensors"])
    assert {"_hparams_/experiment", "_hparams_/session_start_info", "final/test_accuracy"} <= tags
    content = events.SummaryMetadata("_hparams_/session_start_info").plugin_data.content
    hparams = metadata.parse_session_start_info_plugin_data(content).hparams
    assert hparams["model.units"].number_value == 8
    assert hparams["batch_size"].number_value == 20
    assert hparams["schedule"].string_value == "cosine"
    experiment_data = events.SummaryMetadata("_hparams_/experiment").plugin_data.content
    experiment = metadata.parse_experiment_plugin_data(experiment_data)
    assert "final/test_accuracy" in {m.name.tag for m in experiment.metric_infos}
    assert [e.step for e in events.Tensors("final/test_accuracy")] == [10]
