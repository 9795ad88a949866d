"""The Typer app: each command parses its options, makes one library call and renders the result.

Imports of NumPy, Keras and the library are inside the commands, so `lstmcli --help` and
`lstmcli params --no-verify` start in a fraction of TensorFlow's import time. Choices and help defaults
are built from the tuples and presets that define them (lstmcli.model, lstmcli.train.config), so
`--help` cannot drift from what the library does.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from lstmcli import __version__
from lstmcli.errors import LstmcliError
from lstmcli.files import expand
from lstmcli.model.count import CONVENTIONS
from lstmcli.model.spec import CELLS
from lstmcli.runs import SORT_KEYS
from lstmcli.train.config import ORDERS, PRESETS, SCHEDULES, from_preset

app = typer.Typer(
    help="Understand and run LSTM experiments: parameter arithmetic, MNIST training, evaluation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

stdout = Console()
stderr = Console(stderr=True)
STATE = {"debug": False}

F = TypeVar("F", bound=Callable[..., Any])


def choice(name: str, values: Iterable[str]) -> Any:
    """A str Enum whose members are `values`, so Typer lists them in --help and refuses others."""
    return Enum(name, {value: value for value in values}, type=str)


Cell = choice("Cell", CELLS)
Convention = choice("Convention", CONVENTIONS)
Schedule = choice("Schedule", SCHEDULES)
Order = choice("Order", ORDERS)
Preset = choice("Preset", PRESETS)
SortKey = choice("SortKey", SORT_KEYS)
ParamsFormat = choice("ParamsFormat", ("table", "json", "markdown"))
TableOrJson = choice("TableOrJson", ("table", "json"))


def _shown(value: Any, when_none: str) -> str:
    if value is None:
        return when_none
    if isinstance(value, bool):
        return "yes" if value else "no"
    return format(value, "g") if isinstance(value, float) else str(value)


def preset_default(field: str, when_none: str = "none") -> str:
    """`[default: X]`, or `[default: X; seed preset: Y]` where the presets differ, read off the presets."""
    shown = {}
    for name in PRESETS:
        config = from_preset(name)
        value = getattr(config.model, field) if hasattr(config.model, field) else getattr(config, field)
        shown[name] = _shown(value, when_none)
    parts = [shown["default"]] + [f"{name} preset: {v}" for name, v in shown.items() if v != shown["default"]]
    return "\\[default: " + "; ".join(parts) + "]"


def value_of(option: Enum | None) -> str | None:
    return None if option is None else option.value


def error_line(message: str) -> None:
    stderr.print(f"[bold red]lstmcli: error:[/] {message}", highlight=False, soft_wrap=True)


def reports_errors(command: F) -> F:
    """Turn library errors into one line on stderr and the documented exit code (tracebacks with --debug)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except LstmcliError as exc:
            if STATE["debug"]:
                raise
            error_line(str(exc))
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def show_version(value: bool) -> None:
    if value:
        print(f"lstmcli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show a traceback on errors.")] = False,
) -> None:
    """Understand and run LSTM experiments: parameter arithmetic, MNIST training, evaluation.

    Exit codes: 0 success; 1 a check failed (count mismatch, accuracy gate, NaN loss);
    2 bad usage or bad input; 130/143 interrupted (checkpoint saved).
    """
    STATE["debug"] = debug


@app.command()
@reports_errors
def params(
    units: Annotated[int, typer.Option(help="Units n: the size of h_t.")] = 75,
    input: Annotated[int, typer.Option("--input", help="Input features m per timestep.")] = 28,
    cell: Annotated[Cell, typer.Option(help="Recurrent cell.")] = Cell.lstm,
    layers: Annotated[int, typer.Option(help="Stacked recurrent layers.")] = 1,
    bidirectional: Annotated[bool, typer.Option("--bidirectional", help="Wrap each layer in Bidirectional.")] = False,
    no_bias: Annotated[bool, typer.Option("--no-bias", help="Layers without bias vectors.")] = False,
    reset_after: Annotated[bool, typer.Option(help="GRU convention (Keras default: reset after).")] = True,
    classes: Annotated[int, typer.Option(help="Classes of the Dense softmax head; 0 for no head.")] = 10,
    timesteps: Annotated[int, typer.Option(help="Sequence length (for the model input and mult-adds).")] = 28,
    format: Annotated[ParamsFormat, typer.Option("--format", help="Output format.")] = ParamsFormat.table,
    verify: Annotated[bool, typer.Option(help="Build the model in Keras and compare count_params().")] = True,
    explain: Annotated[bool, typer.Option("--explain", help="Write the arithmetic out step by step.")] = False,
    convention: Annotated[
        Convention, typer.Option(help="Count biases as Keras or PyTorch stores them.")
    ] = Convention.keras,
) -> None:
    """Closed-form parameter count of a recurrent model, gate by gate, checked against Keras."""
    from lstmcli.cli.render import params_view
    from lstmcli.model import verify as verification
    from lstmcli.model.spec import ModelSpec

    spec = ModelSpec(cell.value, units, input, timesteps, layers, bidirectional, not no_bias, reset_after, classes)
    outcome = verification.run(spec, convention.value, verify)
    params_view(outcome, format.value, explain, stdout)
    verification.check(outcome)


@app.command()
@reports_errors
def train(
    cell: Annotated[
        Cell | None, typer.Option(help=f"Recurrent cell {preset_default('cell')}.", show_default=False)
    ] = None,
    units: Annotated[
        int | None, typer.Option(help=f"Units per layer {preset_default('units')}.", show_default=False)
    ] = None,
    layers: Annotated[
        int | None, typer.Option(help=f"Stacked layers {preset_default('layers')}.", show_default=False)
    ] = None,
    bidirectional: Annotated[
        bool | None,
        typer.Option(
            "--bidirectional/--unidirectional",
            help=f"Bidirectional layers {preset_default('bidirectional')}.",
            show_default=False,
        ),
    ] = None,
    bias: Annotated[
        bool | None,
        typer.Option(
            "--bias/--no-bias", help=f"Layers with bias vectors {preset_default('use_bias')}.", show_default=False
        ),
    ] = None,
    reset_after: Annotated[
        bool | None,
        typer.Option(help=f"GRU convention: reset after {preset_default('reset_after')}.", show_default=False),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help=f"Batch size {preset_default('batch_size')}.", show_default=False)
    ] = None,
    learning_rate: Annotated[
        float | None,
        typer.Option(help=f"Adam peak learning rate {preset_default('learning_rate')}.", show_default=False),
    ] = None,
    schedule: Annotated[
        Schedule | None, typer.Option(help=f"Learning-rate schedule {preset_default('schedule')}.", show_default=False)
    ] = None,
    epochs: Annotated[
        float | None,
        typer.Option(
            help=f"Length in passes over the training set {preset_default('epochs', 'from --steps')}.",
            show_default=False,
        ),
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(
            help=f"Length in steps (overrides --epochs) {preset_default('steps', 'from --epochs')}.", show_default=False
        ),
    ] = None,
    eval_every: Annotated[
        int | None,
        typer.Option(
            help=f"Evaluation period in steps {preset_default('eval_every', 'one epoch')}.", show_default=False
        ),
    ] = None,
    checkpoint_every: Annotated[
        int | None,
        typer.Option(help=f"Checkpoint period in steps {preset_default('checkpoint_every')}.", show_default=False),
    ] = None,
    order: Annotated[
        Order | None, typer.Option(help=f"Batch order {preset_default('order')}.", show_default=False)
    ] = None,
    seed: Annotated[int | None, typer.Option(help=f"Random seed {preset_default('seed')}.", show_default=False)] = None,
    data: Annotated[
        str | None,
        typer.Option(
            envvar="LSTMCLI_DATA", help="An .npz or IDX folder \\[default: bundled MNIST].", show_default=False
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Run folder \\[default: a new one under --runs-dir].", show_default=False, parser=expand),
    ] = None,
    runs_dir: Annotated[
        Path, typer.Option(envvar="LSTMCLI_RUNS", help="Where new runs go.", parser=expand)
    ] = Path("runs"),
    classes: Annotated[
        int | None,
        typer.Option(
            help="Classes the labels 0..K-1 stand for, when the training labels do not show it (some never occur) "
            "\\[default: largest training label + 1, every class present].",
            show_default=False,
        ),
    ] = None,
    preset: Annotated[
        Preset | None,
        typer.Option(help="default, or seed for the article's full schedule \\[default: default].", show_default=False),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A TOML file of training options (units, batch_size, learning_rate, steps, preset, ...); "
            "options given here override it; a relative data path is relative to the file.",
            show_default=False,
            parser=expand,
        ),
    ] = None,
    tensorboard: Annotated[
        bool, typer.Option("--tensorboard", help="Write TensorBoard logs (Keras's callback) to RUN/tensorboard.")
    ] = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Continue the run in this folder from its last checkpoint.", show_default=False, parser=expand
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the run already in --out.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print a final summary object on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Train the MNIST experiment (28 steps of 28 pixels, LSTM(75), Dense(10)) and save a run."""
    from lstmcli import rundir
    from lstmcli.cli.progress import make_reporter
    from lstmcli.cli.render import print_json, train_summary
    from lstmcli.train import run as runs

    options = dict(
        cell=value_of(cell), units=units, layers=layers, bidirectional=bidirectional, use_bias=bias,
        reset_after=reset_after, batch_size=batch_size, learning_rate=learning_rate, schedule=value_of(schedule),
        epochs=epochs, steps=steps, eval_every=eval_every, checkpoint_every=checkpoint_every, order=value_of(order),
        seed=seed, data=data, classes=classes,
    )  # fmt: skip
    reporter = make_reporter(stderr if json_out else stdout, quiet)
    if resume is not None:
        given = {**options, "preset": preset, "config": config_file, "out": out}
        run, metrics = runs.resume(resume, reporter, tensorboard, given)
    else:
        config = runs.configure(config_file, value_of(preset), options)
        run, metrics = runs.start(config, out, runs_dir, reporter, force, tensorboard)
    if json_out:
        print_json({"run": str(run), **metrics})
    elif not quiet:
        stdout.print(train_summary(str(run), metrics, rundir.read_history(run / rundir.HISTORY)))
        stdout.print(f"learning curves: {run / rundir.CURVES}", highlight=False)
        if tensorboard:
            stdout.print(f"TensorBoard: tensorboard --logdir {run / rundir.TENSORBOARD}", highlight=False)
        stdout.print(f"evaluate with: lstmcli eval {run}", highlight=False)


@app.command("eval")
@reports_errors
def eval_command(
    target: Annotated[
        Path, typer.Argument(help="A run directory or a .keras file.", show_default=False, parser=expand)
    ],
    data: Annotated[
        str | None,
        typer.Option(
            envvar="LSTMCLI_DATA", help="An .npz or IDX folder \\[default: the run's data].", show_default=False
        ),
    ] = None,
    format: Annotated[TableOrJson, typer.Option("--format", help="Output format.")] = TableOrJson.table,
    min_accuracy: Annotated[
        float | None, typer.Option(help="Exit 1 when accuracy is below this (0..1).", show_default=False)
    ] = None,
    unsafe: Annotated[
        bool, typer.Option("--unsafe", help="Allow models that carry code (only for files you trust).")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Write the confusion-matrix heat map (PNG) here \\[default: RUN/confusion.png for a run directory].",
            show_default=False,
            parser=expand,
        ),
    ] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Write no PNG.")] = False,
) -> None:
    """Evaluate a trained run on the test set: loss, accuracy, per-class figures, confusion matrix."""
    from lstmcli import evaluate
    from lstmcli.cli.render import eval_tables, print_json

    result = evaluate.evaluate(target, data, unsafe, min_accuracy, plot, draw=not no_plot)
    if format.value == "json":
        print_json(result)
    else:
        for table in eval_tables(result):
            stdout.print(table)
        if "plot" in result:
            stdout.print(f"confusion matrix plot: {result['plot']}", highlight=False)
    evaluate.judge(result)


@app.command()
@reports_errors
def runs(
    folder: Annotated[
        Path,
        typer.Argument(
            envvar="LSTMCLI_RUNS", metavar="DIR", help="The folder that holds the runs (searched recursively).",
            parser=expand,
        ),
    ] = Path("runs"),
    sort: Annotated[
        SortKey, typer.Option(help="Order rows by this column (accuracy best first, others ascending).")
    ] = SortKey.run,
    reverse: Annotated[bool, typer.Option("--reverse", help="Reverse the order.")] = False,
    format: Annotated[TableOrJson, typer.Option("--format", help="Output format.")] = TableOrJson.table,
) -> None:
    """Compare the runs under a folder: config (cell, units, layers, batch, lr) and final metrics."""
    from lstmcli import runs as run_list
    from lstmcli.cli.render import print_json, print_wide, runs_table

    rows = run_list.collect(folder, sort.value, reverse)
    if format.value == "json":
        print_json(rows)
    elif not rows:
        stderr.print(f"no runs under {folder}", highlight=False)
    else:
        print_wide(stdout, runs_table(rows, folder))


def main(argv: list[str] | None = None) -> int:
    """Console-script entry: usage errors become one line and exit 2, like every other bad input.

    Typer's own handler draws a multi-line panel; scripts and CI logs read one line more easily.
    """
    try:
        result = app(args=argv, prog_name="lstmcli", standalone_mode=False)
    except typer.Abort:
        error_line("aborted")
        return 130
    except typer.TyperException as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":
            print(exc.format_message())
            return exc.exit_code
        where = ctx.command_path if ctx is not None else "lstmcli"
        error_line(f"{exc.format_message()} (see: {where} --help)")
        return exc.exit_code
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
