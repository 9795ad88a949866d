"""The training options of `train` and `sweep run`, made from the one table (lstmcli.train.options).

A command declares `options: TrainingOptions` where the training options go in its --help; the
decorator puts one Typer option per row of the table there (so `--help` lists each option's choices and
its presets' defaults) and hands the command their values as one dict keyed by field, None where not given.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Annotated, Any, TypeVar

import typer

from lstmcli.train.options import OPTIONS, SWEPT, TrainOption, option_name

F = TypeVar("F", bound=Callable[..., Any])

# The dict of training options a decorated command receives (field -> value or None).
TrainingOptions = dict[str, Any]

# The off flag of a yes/no option, where it is not --no-NAME.
OFF_FLAGS = {"bidirectional": "--unidirectional"}
ENVVARS = {"data": "LSTMCLI_DATA"}


def choice(name: str, values: Iterable[str]) -> Any:
    """A str Enum whose members are `values`, so Typer lists them in --help and refuses others."""
    return Enum(name, {value: value for value in values}, type=str)


def value_of(option: Any) -> Any:
    return option.value if isinstance(option, Enum) else option


def _enum_name(field: str) -> str:
    return "".join(part.capitalize() for part in field.split("_"))


CHOICES = {option.name: choice(_enum_name(option.name), option.choices) for option in OPTIONS if option.choices}


def _typed(option: TrainOption) -> Any:
    """The option as `train` takes it: a number, a choice or a yes/no flag pair; None when not given."""
    flags = [option_name(option.name)]
    if option.kind is bool:
        flags = [f"{flags[0]}/{OFF_FLAGS.get(option.name, '--no-' + flags[0][2:])}"]
    kind = CHOICES.get(option.name, option.kind)
    info = typer.Option(
        *flags,
        help=f"{option.help} \\[{option.default_text()}].",
        show_default=False,
        envvar=ENVVARS.get(option.name),
    )
    return Annotated[kind | None, info]


def _text(option: TrainOption) -> Any:
    """The option as `sweep run` takes it: text for a value, a comma list (a grid axis) or a range."""
    if option.path:
        return _typed(option)
    values = option.choices or (("true", "false") if option.kind is bool else ())
    among = f" ({', '.join(values)})" if values else ""
    text = f"{option.help}{among} \\[{option.default_text()}]; a comma list is a grid axis"
    text += ", LOW:HIGH[:log] a range (random, tpe)." if option.numeric else "."
    return Annotated[str | None, typer.Option(option_name(option.name), help=text, show_default=False)]


TRAIN = {option.name: _typed(option) for option in OPTIONS}
SWEEP = {**{option.name: _text(option) for option in SWEPT}, "preset": TRAIN["preset"]}


def _with(annotations: dict[str, Any]) -> Callable[[F], F]:
    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        parameters = []
        for parameter in signature.parameters.values():
            if parameter.name == "options":
                parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=kind)
                               for name, kind in annotations.items()]  # fmt: skip
            else:
                parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            options = {name: value_of(kwargs.pop(name)) for name in annotations}
            return command(**kwargs, options=options)

        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


train_options = _with(TRAIN)
"""Give a command every training option, typed (`train`)."""

sweep_options = _with(SWEEP)
"""Give a command the options a sweep fixes or varies, as text (`sweep run`)."""
