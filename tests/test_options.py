"""The one table of training options (lstmcli.train.options) against everything built from it or beside it.

Every field of TrainConfig (and every network field of its ModelSpec) must be a row of the table, typed as
TrainConfig types it; every row an option of `train` of that type, an option of `sweep run` (but the two
a sweep sets itself) and a key of the TOML file.
"""

from __future__ import annotations

import types
import typing
from enum import Enum
from typing import Any

import pytest
import typer.main

from lstmcli.cli.app import app
from lstmcli.sweep.space import KINDS
from lstmcli.train.config import MODEL_FIELDS, TrainConfig
from lstmcli.train.config_file import KEYS
from lstmcli.train.options import BY_NAME, OPTIONS, option_name
from lstmcli.train.presets import PRESETS

TRAINING_FIELDS = (*MODEL_FIELDS, *(name for name in TrainConfig.model_fields if name != "model"))
NOT_SWEPT = {"seed", "classes"}  # a sweep runs seeds 0..N-1 (--seeds); its data fixes the classes


def options_of(*path: str) -> dict[str, Any]:
    """The options of the command `lstmcli PATH...` as Typer builds them, by their first flag."""
    group: Any = typer.main.get_command(app)
    for name in path:
        group = group.commands[name]
    return {param.opts[0]: param for param in group.params if param.opts[0].startswith("--")}


def parsed_as(param: Any) -> Any:
    """The type Typer converts the option's text to (an Enum for a choice)."""
    return param.type_descriptor.annotation


def choices(param: Any) -> tuple[str, ...]:
    kind = parsed_as(param)
    assert issubclass(kind, Enum)
    return tuple(member.value for member in kind)


def declared_type(name: str) -> type:
    """The type TrainConfig (or ModelSpec, for the network) declares for a field, without its `| None`."""
    if name in MODEL_FIELDS:
        from lstmcli.model.spec import ModelSpec

        annotation = typing.get_type_hints(ModelSpec)[name]
    else:
        annotation = TrainConfig.model_fields[name].annotation
    if isinstance(annotation, types.UnionType):
        (annotation,) = (arg for arg in typing.get_args(annotation) if arg is not type(None))
    return annotation


def test_every_training_field_is_a_row_and_nothing_else() -> None:
    assert sorted(BY_NAME) == sorted(TRAINING_FIELDS)
    assert len(OPTIONS) == len(BY_NAME)


@pytest.mark.parametrize("name", TRAINING_FIELDS)
def test_the_row_is_typed_as_the_config_model(name: str) -> None:
    assert BY_NAME[name].kind is declared_type(name)


@pytest.mark.parametrize("name", TRAINING_FIELDS)
def test_every_training_field_is_an_option_of_train(name: str) -> None:
    row = BY_NAME[name]
    param = options_of("train")[option_name(name)]
    assert param.default is None  # not given: the preset (or the TOML file) decides
    if row.choices:
        assert choices(param) == row.choices
    else:
        assert parsed_as(param) is row.kind
    if row.kind is bool:
        assert param.secondary_opts  # --bias/--no-bias
    assert row.default_text() in param.help.replace("\\[", "[")


@pytest.mark.parametrize("name", TRAINING_FIELDS)
def test_every_training_field_is_an_option_of_sweep_run(name: str) -> None:
    options = options_of("sweep", "run")
    if name in NOT_SWEPT:
        assert option_name(name) not in options and name not in KINDS
        return
    param = options[option_name(name)]
    row = BY_NAME[name]
    assert row.default_text() in param.help.replace("\\[", "[")
    if name == "preset":  # the base the sweep's entries go on, a choice
        assert choices(param) == tuple(PRESETS)
        return
    assert parsed_as(param) is str  # a value, a comma list or a range, parsed by the sweep's space
    kind = KINDS[name]
    assert kind == (row.choices or ("path" if row.path else declared_type(name).__name__))


@pytest.mark.parametrize("name", TRAINING_FIELDS)
def test_every_training_field_is_a_toml_key(name: str) -> None:
    assert name in KEYS


def test_help_lists_choices_and_preset_defaults() -> None:
    train = options_of("train")
    assert choices(train["--schedule"]) == ("constant", "cosine")
    assert "default: cosine; seed preset: constant" in train["--schedule"].help
    sweep = options_of("sweep", "run")
    assert "(constant, cosine)" in sweep["--schedule"].help
    assert "default: 0.01; seed preset: 0.001" in sweep["--learning-rate"].help


def test_choice_values_reach_the_command_as_text() -> None:
    """The command receives the option's value, not Typer's Enum member."""
    from lstmcli.cli.options import CHOICES, value_of

    member = CHOICES["cell"]("gru")
    assert isinstance(member, Enum) and value_of(member) == "gru" and type(value_of(member)) is str
