"""The Typer app: option parsing and output only; the work happens in the library modules.

Imports of NumPy, Keras and the library are inside the commands, so `lstmcli --help` and
`lstmcli params --no-verify` start in a fraction of TensorFlow's import time.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from lstmcli import __version__
from lstmcli.errors import LstmcliError

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


class Cell(str, Enum):
    lstm = "lstm"
    gru = "gru"
    rnn = "rnn"


class Format(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


class TableOrJson(str, Enum):
    table = "table"
    json = "json"


class Convention(str, Enum):
    keras = "keras"
    pytorch = "pytorch"


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
    format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    verify: Annotated[bool, typer.Option(help="Build the model in Keras and compare count_params().")] = True,
    explain: Annotated[bool, typer.Option("--explain", help="Write the arithmetic out step by step.")] = False,
    convention: Annotated[
        Convention, typer.Option(help="Count biases as Keras or PyTorch stores them.")
    ] = Convention.keras,
) -> None:
    """Closed-form parameter count of a recurrent model, gate by gate, checked against Keras."""
    from lstmcli.model import verify as params_command

    spec = params_command.make_spec(
        cell.value, units, input, timesteps, layers, bidirectional, not no_bias, reset_after, classes
    )
    outcome = params_command.run(spec, convention.value, verify)
    params_command.render(outcome, format.value, explain, stdout)
    params_command.check(outcome)


@app.command()
@reports_errors
def train(
    cell: Annotated[Cell | None, typer.Option(help="Recurrent cell \\[default: lstm].", show_default=False)] = None,
    units: Annotated[int | None, typer.Option(help="Units per layer \\[default: 75].", show_default=False)] = None,
    layers: Annotated[int | None, typer.Option(help="Stacked layers \\[default: 1].", show_default=False)] = None,
    bidirectional: Annotated[
        bool | None, typer.Option("--bidirectional/--unidirectional", help="Bidirectional layers.", show_default=False)
    ] = None,
    bias: Annotated[
        bool | None,
        typer.Option("--bias/--no-bias", help="Layers with bias vectors \\[default: bias].", show_default=False),
    ] = None,
    reset_after: Annotated[
        bool | None, typer.Option(help="GRU convention \\[default: reset-after].", show_default=False)
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size \\[default: 50].", show_default=False)] = None,
    learning_rate: Annotated[
        float | None,
        typer.Option(help="Adam peak learning rate \\[default: 2e-3; seed preset: 1e-3].", show_default=False),
    ] = None,
    schedule: Annotated[
        str | None,
        typer.Option(
            help="Learning-rate schedule: constant or cosine \\[default: cosine; seed preset: constant].",
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[
        float | None, typer.Option(help="Length in passes over the training set \\[default: 8].", show_default=False)
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Length in steps (overrides --epochs).", show_default=False)] = None,
    eval_every: Annotated[
        int | None,
        typer.Option(
            help="Test-set evaluation period in steps \\[default: one epoch; seed preset: 100].", show_default=False
        ),
    ] = None,
    checkpoint_every: Annotated[
        int | None, typer.Option(help="Checkpoint period in steps \\[default: 1000].", show_default=False)
    ] = None,
    order: Annotated[
        str | None,
        typer.Option(
            help="Batch order: shuffle or sequential \\[default: shuffle; seed preset: sequential].", show_default=False
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed \\[default: 0].", show_default=False)] = None,
    data: Annotated[
        str | None,
        typer.Option(
            envvar="LSTMCLI_DATA", help="An .npz or IDX folder \\[default: bundled MNIST].", show_default=False
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Run folder \\[default: a new one under --runs-dir].", show_default=False)
    ] = None,
    runs_dir: Annotated[Path, typer.Option(envvar="LSTMCLI_RUNS", help="Where new runs go.")] = Path("runs"),
    preset: Annotated[
        str | None,
        typer.Option(help="default, or seed for the article's full schedule \\[default: default].", show_default=False),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A TOML file of TrainConfig keys (units, batch_size, learning_rate, steps, preset, ...); "
            "options given here override it; a relative data path is relative to the file.",
            show_default=False,
        ),
    ] = None,
    tensorboard: Annotated[
        bool, typer.Option("--tensorboard", help="Write TensorBoard logs (Keras's callback) to RUN/tensorboard.")
    ] = False,
    resume: Annotated[
        Path | None, typer.Option(help="Continue the run in this folder from its last checkpoint.", show_default=False)
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the run already in --out.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print a final summary object on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Train the MNIST experiment (28 steps of 28 pixels, LSTM(75), Dense(10)) and save a run."""
    from lstmcli import rundir
    from lstmcli.cli.progress import make_reporter
    from lstmcli.cli.render import train_summary
    from lstmcli.errors import UsageError
    from lstmcli.train import config as config_module
    from lstmcli.train import config_file as config_file_module
    from lstmcli.train import run as experiment

    overrides = dict(
        cell=cell.value if cell else None, units=units, layers=layers, bidirectional=bidirectional, use_bias=bias,
        reset_after=reset_after, batch_size=batch_size, learning_rate=learning_rate, schedule=schedule,
        epochs=epochs, steps=steps, eval_every=eval_every, checkpoint_every=checkpoint_every, order=order,
        seed=seed, data=data,
    )  # fmt: skip
    config = None
    if resume is not None:
        given = {**overrides, "preset": preset, "config": config_file, "out": out}
        named = ["--" + ("bias" if k == "use_bias" else k).replace("_", "-") for k, v in given.items() if v is not None]
        if named:
            raise UsageError(
                f"--resume continues a run with the config it started with; drop {', '.join(named)} "
                "(or start a new run with them)"
            )
    else:
        settings = config_file_module.load(config_file) if config_file is not None else {}
        preset_name, merged = config_file_module.merge(settings, dict(overrides, preset=preset))
        config = config_module.from_preset(preset_name, **merged)
    console = stderr if json_out else stdout
    run, metrics = experiment.run_training(
        config, out, runs_dir, make_reporter(console, quiet), resume, force, tensorboard
    )
    if json_out:
        print(json.dumps({"run": str(run), **metrics}, indent=2))
    elif not quiet:
        stdout.print(train_summary(str(run), metrics, rundir.read_history(run / rundir.HISTORY)))
        stdout.print(f"learning curves: {run / 'curves.png'}", highlight=False)
        if tensorboard:
            stdout.print(f"TensorBoard: tensorboard --logdir {run / 'tensorboard'}", highlight=False)
        stdout.print(f"evaluate with: lstmcli eval {run}", highlight=False)


@app.command("eval")
@reports_errors
def eval_command(
    target: Annotated[Path, typer.Argument(help="A run directory or a .keras file.", show_default=False)],
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
        ),
    ] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Write no PNG.")] = False,
) -> None:
    """Evaluate a trained run on the test set: loss, accuracy, per-class figures, confusion matrix."""
    from lstmcli import plots
    from lstmcli.cli.render import eval_tables
    from lstmcli.errors import CheckFailed, UsageError
    from lstmcli.train import run as experiment

    if min_accuracy is not None and not 0 <= min_accuracy <= 1:
        raise UsageError(f"--min-accuracy must be between 0 and 1, got {min_accuracy}")
    if plot is not None and not no_plot and not plot.parent.is_dir():
        raise UsageError(f"--plot {plot}: no folder {plot.parent} to write it in")
    _, result = experiment.run_eval(target, data, unsafe)
    if min_accuracy is not None:
        result["min_accuracy"] = min_accuracy
        result["passed"] = result["accuracy"] >= min_accuracy
    if plot is None and not no_plot and target.is_dir():
        plot = target / plots.CONFUSION
    if plot is not None and not no_plot:
        try:
            plots.confusion_heatmap(result["confusion_matrix"], plot)
        except OSError as exc:
            raise UsageError(
                f"--plot {plot}: cannot write it ({exc.strerror}); choose another path or --no-plot"
            ) from None
        result["plot"] = str(plot)
    if format is TableOrJson.json:
        print(json.dumps(result, indent=2))
    else:
        for table in eval_tables(result):
            stdout.print(table)
        if "plot" in result:
            stdout.print(f"confusion matrix plot: {plot}", highlight=False)
    if min_accuracy is not None and not result["passed"]:
        raise CheckFailed(f"accuracy {result['accuracy']:.4f} is below --min-accuracy {min_accuracy}")


class SortKey(str, Enum):
    run = "run"
    cell = "cell"
    units = "units"
    layers = "layers"
    batch = "batch"
    lr = "lr"
    steps = "steps"
    accuracy = "accuracy"
    loss = "loss"
    seconds = "seconds"
    status = "status"


@app.command()
@reports_errors
def runs(
    folder: Annotated[
        Path,
        typer.Argument(
            envvar="LSTMCLI_RUNS", metavar="DIR", help="The folder that holds the runs (searched recursively)."
        ),
    ] = Path("runs"),
    sort: Annotated[
        SortKey, typer.Option(help="Order rows by this column (accuracy best first, others ascending).")
    ] = SortKey.run,
    reverse: Annotated[bool, typer.Option("--reverse", help="Reverse the order.")] = False,
    format: Annotated[TableOrJson, typer.Option("--format", help="Output format.")] = TableOrJson.table,
) -> None:
    """Compare the runs under a folder: config (cell, units, layers, batch, lr) and final metrics."""
    from rich.measure import Measurement

    from lstmcli import runs as runs_table

    rows = runs_table.collect(folder, sort.value, reverse)
    if format is TableOrJson.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        stderr.print(f"no runs under {folder}", highlight=False)
    else:
        table = runs_table.table(rows, folder)
        console = stdout
        if not stdout.is_terminal:  # in a pipe or a log, print the table whole rather than fit it to 80 columns
            console = Console(
                width=max(stdout.width, Measurement.get(stdout, stdout.options.update_width(10_000), table).maximum)
            )
        console.print(table)


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
