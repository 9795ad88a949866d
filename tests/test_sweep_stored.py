"""A study edited by hand, or written by another Optuna version (lstmcli/sweep/stored.py): `sweep show` refuses
it in one line, `sweep list` shows it as one damaged row among the others; nothing is written.

The studies are real lstmcli studies, queued by `create_or_join` and with one trial told as a worker tells
it, then edited with SQL the way a hand, a script or another version would; no test here trains.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from lstmcli.cli import main

DEEP = "[" * 100_000 + "]" * 100_000
EDITS = {
    "user attribute not JSON": "UPDATE trial_user_attributes SET value_json = '{oops' WHERE key = 'seed'",
    "seed a text": "UPDATE trial_user_attributes SET value_json = '\"zero\"' WHERE key = 'seed'",
    "seed negative": "UPDATE trial_user_attributes SET value_json = '-1' WHERE key = 'seed'",
    "accuracy above 1": "UPDATE trial_user_attributes SET value_json = '7.5' WHERE key = 'test_accuracy'",
    "parameters a list": "UPDATE trial_user_attributes SET value_json = '[1]' WHERE key = 'parameters'",
    "an attribute lstmcli never writes": "INSERT INTO trial_user_attributes (trial_id, key, value_json) "
    "VALUES (1, 'surprise', '1')",
    "unknown state": "UPDATE trials SET state = 'EXPLODED' WHERE number = 0",
    "unknown direction": "UPDATE study_directions SET direction = 'SIDEWAYS'",
    "direction not the task's": "UPDATE study_directions SET direction = 'MINIMIZE'",
    "null value": "UPDATE trial_values SET value = NULL",
    "unknown value type": "UPDATE trial_values SET value_type = 'WEIRD'",
    "null parameter": "UPDATE trial_params SET param_value = NULL",
    "broken distribution": 'UPDATE trial_params SET distribution_json = \'{"name": "Nope"}\'',
    "deep distribution": f"UPDATE trial_params SET distribution_json = '{DEEP}'",
    "deep search space": f"UPDATE study_user_attributes SET value_json = '{DEEP}' WHERE key = 'lstmcli_space'",
    "search space a list": "UPDATE study_user_attributes SET value_json = '[1, 2]' WHERE key = 'lstmcli_space'",
    "ready not JSON": "UPDATE study_user_attributes SET value_json = 'yes!' WHERE key = 'lstmcli_ready'",
    "start a word": "UPDATE trials SET datetime_start = 'yesterday'",
    "intermediate value a text": "UPDATE trial_intermediate_values SET intermediate_value = 'high'",
    "retry history a text": "INSERT INTO trial_system_attributes (trial_id, key, value_json) "
    "VALUES (1, 'retry_history', '\"x\"')",
}


def told_study(runs: Path, name: str, data: Path) -> Path:
    """A queued lstmcli study whose first trial a worker completed, with every attribute a worker records."""
    import optuna
    from optuna.trial import TrialState

    from lstmcli.sweep import studies
    from lstmcli.sweep.space import build
    from lstmcli.sweep.worker import data_facts, pop

    where = studies.locate(None, runs, name)
    (runs / name).mkdir(parents=True)
    storage = studies.open_storage(where, heartbeat=None)
    space = build({"units": "4,8", "data": str(data)})
    study = studies.create_or_join(storage, where, name, space, data_facts(str(data))[1])
    trial_id = pop(storage, storage.get_study_id_from_name(name))
    assert trial_id is not None
    trial = optuna.trial.Trial(study, trial_id)
    trial.suggest_categorical("units", [4, 8])
    trial.report(0.5, 20)
    for key, value in {"configuration": "units-4", "derived": {}, "config": {"model": {"cell": "lstm"}},
                       "error": None, "parameters": 330, "run": str(runs / name / "units-4-seed0"), "host": "h",
                       "pid": 1, "val_accuracy": 0.5, "best_val_accuracy": 0.5, "test_accuracy": 0.5,
                       "seconds": 1.5, "steps": 40, "resumed_from": None}.items():  # fmt: skip
        trial.set_user_attr(key, value)
    study.tell(trial, 0.5)
    assert storage.get_trial(trial_id).state == TrialState.COMPLETE
    return where.file  # type: ignore[return-value]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, small_npz: Path) -> Path:
    return told_study(tmp_path_factory.mktemp("pristine"), "s", small_npz)


def test_the_pristine_study_shows_and_lists(pristine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = pristine.parent.parent
    capsys.readouterr()
    assert main(["sweep", "show", "s", "--runs-dir", str(runs), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["complete"] == 1 and report["trials"][0]["params"] == {"units": 4}


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_a_study_edited_by_hand_is_one_line_and_one_damaged_row(
    edit: str, pristine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    for name in ("good", "bad"):
        (runs / name).mkdir(parents=True)
        (runs / name / "study.db").write_bytes(pristine.read_bytes())
        with sqlite3.connect(runs / name / "study.db") as db:
            db.execute("UPDATE studies SET study_name = ?", (name,))
    with sqlite3.connect(runs / "bad" / "study.db") as db:
        db.execute(edit)
    before = {p: p.read_bytes() for p in runs.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(["sweep", "show", "bad", "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lstmcli: error:") and "\n" not in err and "Traceback" not in err, err
    assert "bad" in err
    assert main(["sweep", "list", "--runs-dir", str(runs), "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    rows = {row["storage"].split("/")[-2]: row for row in json.loads(captured.out)["sweeps"]}
    assert set(rows) == {"good", "bad"}
    assert rows["good"].get("problem") is None and rows["good"]["complete"] == 1
    assert rows["bad"].get("problem") and "\n" not in rows["bad"]["problem"]
    assert main(["sweep", "list", "--runs-dir", str(runs)]) == 0  # the table too
    assert {p: p.read_bytes() for p in runs.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("form", ["table", "json", "csv"])
def test_show_and_list_write_nothing_unless_asked(
    form: str, pristine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sweep show NAME --storage URL --format json` wrote NAME-accuracy.png into the current folder."""
    (tmp_path / "s").mkdir()
    study = tmp_path / "s" / "study.db"
    study.write_bytes(pristine.read_bytes())
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for storage in (["--storage", f"sqlite:///{study}"], ["--runs-dir", str(tmp_path)]):
        assert main(["sweep", "show", "s", *storage, "--format", form]) == 0
        assert main(["sweep", "list", *storage, *(["--format", "json"] if form == "json" else [])]) == 0
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["s", "study.db", "work"]
    capsys.readouterr()
    assert main(["sweep", "show", "s", "--runs-dir", str(tmp_path), "--plot", "asked.png", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["plot"] == "asked.png" and (work / "asked.png").stat().st_size > 0
    assert main(["sweep", "show", "s", "--runs-dir", str(tmp_path), "--plot", "asked.gif"]) == 2
    assert "--plot asked.gif: the suffix '.gif' names no picture format" in capsys.readouterr().err
    assert main(["sweep", "show", "s", "--runs-dir", str(tmp_path), "--plot", "asked.pdf", "--format", "json"]) == 0
    assert (work / "asked.pdf").read_bytes().startswith(b"%PDF-") and not (work / "asked.gif").exists()


def test_a_study_whose_direction_is_not_its_task_s_is_refused_saying_so(
    pristine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A classification sweep whose study minimises would rank the worst accuracy first: one line, exit 2, for
    `show` and for a worker joining it."""
    runs = tmp_path / "runs"
    (runs / "s").mkdir(parents=True)
    (runs / "s" / "study.db").write_bytes(pristine.read_bytes())
    with sqlite3.connect(runs / "s" / "study.db") as db:
        db.execute("UPDATE study_directions SET direction = 'MINIMIZE'")
    before = (runs / "s" / "study.db").read_bytes()
    capsys.readouterr()
    assert main(["sweep", "show", "s", "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "its study's direction is minimize, but task rows is judged by its accuracy" in err
    assert (runs / "s" / "study.db").read_bytes() == before
