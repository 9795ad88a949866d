"""The Typer app: each command parses its options, makes one library call and renders the result.

Imports of NumPy, Keras and the library are inside the commands, so `lstmcli --help` and
`lstmcli params --no-verify` start in a fraction of TensorFlow's import time. Choices and help defaults
are built from the tuples and presets that define them (lstmcli.model, lstmcli.train.config), so
`--help` cannot drift from what the library does.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable, Iterable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from lstmcli import __version__
from lstmcli.errors import LstmcliError, UsageError, warnings_held
from lstmcli.files import expand
from lstmcli.model.count import CONVENTIONS
from lstmcli.model.spec import CELLS, ModelSpec
from lstmcli.runs import SORT_KEYS
from lstmcli.sweep import DEFAULT_HEARTBEAT, DEFAULT_TRIALS, PRUNERS, SEARCHES
from lstmcli.train.presets import EVAL_SETS, KEEPS, ORDERS, PRESETS, SCHEDULES

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
EvalSet = choice("EvalSet", EVAL_SETS)
Keep = choice("Keep", KEEPS)
SortKey = choice("SortKey", SORT_KEYS)
ParamsFormat = choice("ParamsFormat", ("table", "json", "markdown"))
TableOrJson = choice("TableOrJson", ("table", "json"))
RunsFormat = choice("RunsFormat", ("table", "json", "csv"))
Search = choice("Search", SEARCHES)
Prune = choice("Prune", PRUNERS)


def _shown(value: Any, when_none: str) -> str:
    if value is None:
        return when_none
    if isinstance(value, bool):
        return "yes" if value else "no"
    return format(value, "g") if isinstance(value, float) else str(value)


def preset_default(field: str, when_none: str = "none") -> str:
    """`[default: X]`, or `[default: X; seed preset: Y]` where the presets differ, read off the presets."""
    network = ModelSpec()
    shown = {}
    for name, preset in PRESETS.items():
        shown[name] = _shown(preset[field] if field in preset else getattr(network, field), when_none)
    parts = [shown["default"]] + [f"{name} preset: {v}" for name, v in shown.items() if v != shown["default"]]
    return "\\[default: " + "; ".join(parts) + "]"


def value_of(option: Enum | None) -> str | None:
    return None if option is None else option.value


def error_line(message: str) -> None:
    from rich.markup import escape  # a message may hold brackets ([sweep], a path): text, not markup

    stderr.print(f"[bold red]lstmcli: error:[/] {escape(message)}", highlight=False, soft_wrap=True)


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


# Options that describe a model by hand: they do not apply to a model file, and --units not to --budget.
SPEC_OPTIONS = ("units", "input", "cell", "layers", "bidirectional", "no_bias", "reset_after", "classes",
                "convention", "proj_size", "verify", "explain")  # fmt: skip


def given(ctx: typer.Context, names: Iterable[str]) -> list[str]:
    """Which of these options the user typed (rather than left at their defaults), as --option-names."""
    sources = {n: ctx.get_parameter_source(n) for n in names}
    typed = [n for n, source in sources.items() if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")]
    return ["--" + n.replace("_", "-") for n in typed]


def trained(help_text: str, field: str, *flags: str, when_none: str = "none") -> Any:
    """A train option whose help ends with the presets' defaults for `field`; None when not given."""
    return typer.Option(*flags, help=f"{help_text} {preset_default(field, when_none)}.", show_default=False)


def plain(help_text: str, *flags: str, **kwargs: Any) -> Any:
    return typer.Option(*flags, help=help_text, show_default=False, **kwargs)


@app.command()
@reports_errors
def params(
    ctx: typer.Context,
    model: Annotated[
        Path | None,
        typer.Argument(
            help="A saved model to read instead: a .keras file or run folder, or a PyTorch state dict "
            "(.safetensors, .pt, .pth).",
            metavar="MODEL",
            show_default=False,
        ),
    ] = None,
    units: Annotated[int, typer.Option(help="Units n: the size of h_t.")] = 75,
    input: Annotated[int, typer.Option("--input", help="Input features m per timestep.")] = 28,
    cell: Annotated[Cell, typer.Option(help="Recurrent cell.")] = Cell.lstm,
    layers: Annotated[int, typer.Option(help="Stacked recurrent layers.")] = 1,
    bidirectional: Annotated[bool, typer.Option("--bidirectional", help="Wrap each layer in Bidirectional.")] = False,
    no_bias: Annotated[bool, typer.Option("--no-bias", help="Layers without bias vectors.")] = False,
    reset_after: Annotated[bool, typer.Option(help="GRU convention (Keras default: reset after).")] = True,
    classes: Annotated[int, typer.Option(help="Classes of the Dense softmax head; 0 for no head.")] = 10,
    timesteps: Annotated[
        int | None,
        plain("Sequence length, for the input, mult-adds and memory \\[default: 28; for a model file, its own]."),
    ] = None,
    format: Annotated[ParamsFormat, typer.Option("--format", help="Output format.")] = ParamsFormat.table,
    verify: Annotated[bool, typer.Option(help="Build the model in Keras and compare count_params().")] = True,
    explain: Annotated[bool, typer.Option("--explain", help="Write the arithmetic out step by step.")] = False,
    convention: Annotated[
        Convention, typer.Option(help="Count biases as Keras or PyTorch stores them.")
    ] = Convention.keras,
    proj_size: Annotated[
        int, typer.Option(help="PyTorch LSTM projection size p (needs --convention pytorch); 0 for none.")
    ] = 0,
    budget: Annotated[int | None, plain("Find the units whose model has the parameter count closest to this.")] = None,
    batch_size: Annotated[
        int | None,
        plain(
            "Show shapes, memory and mult-adds for a batch this size \\[default: 1 for a model file; none otherwise]."
        ),
    ] = None,
    unsafe: Annotated[
        bool, typer.Option("--unsafe", help="Allow a .keras model that carries code (only for files you trust).")
    ] = False,
) -> None:
    """Closed-form parameter count of a recurrent model, gate by gate, checked against Keras; or of a saved model."""
    from lstmcli.cli import render
    from lstmcli.model.spec import ModelSpec

    if model is not None:
        from lstmcli.model import files

        if given(ctx, (*SPEC_OPTIONS, "budget")):
            wrong = ", ".join(given(ctx, (*SPEC_OPTIONS, "budget")))
            raise UsageError(f"{wrong}: describe a model by hand, so they do not apply to the model file {model}")
        report = files.read(model, unsafe, timesteps, batch_size or 1)
        render.file_view(report, format.value, stdout)
        files.check(report)
        return
    if unsafe:
        raise UsageError("--unsafe applies to reading a model file (lstmcli params MODEL.keras --unsafe)")
    steps = 28 if timesteps is None else timesteps
    spec = ModelSpec(cell.value, units, input, steps, layers, bidirectional, not no_bias, reset_after, classes,
                     proj_size=proj_size)  # fmt: skip
    if budget is not None:
        from lstmcli.model.budget import answer

        if given(ctx, ("units", "explain", "batch_size")):
            wrong = ", ".join(given(ctx, ("units", "explain", "batch_size")))
            raise UsageError(f"{wrong}: not with --budget, which finds the units")
        render.budget_view(answer(spec, budget, convention.value), format.value, stdout)
        return
    from lstmcli.model import verify as verification

    outcome = verification.run(spec, convention.value, verify, batch_size)
    render.params_view(outcome, format.value, explain, stdout)
    verification.check(outcome)


@app.command()
@reports_errors
def train(
    cell: Annotated[Cell | None, trained("Recurrent cell", "cell")] = None,
    units: Annotated[int | None, trained("Units per layer", "units")] = None,
    layers: Annotated[int | None, trained("Stacked layers", "layers")] = None,
    bidirectional: Annotated[
        bool | None, trained("Bidirectional layers", "bidirectional", "--bidirectional/--unidirectional")
    ] = None,
    bias: Annotated[bool | None, trained("Layers with bias vectors", "use_bias", "--bias/--no-bias")] = None,
    reset_after: Annotated[bool | None, trained("GRU convention: reset after", "reset_after")] = None,
    batch_size: Annotated[int | None, trained("Batch size", "batch_size")] = None,
    learning_rate: Annotated[float | None, trained("Adam peak learning rate", "learning_rate")] = None,
    schedule: Annotated[Schedule | None, trained("Learning-rate schedule", "schedule")] = None,
    epochs: Annotated[
        float | None, trained("Length in passes over the training set", "epochs", when_none="from --steps")
    ] = None,
    steps: Annotated[
        int | None, trained("Length in steps (overrides --epochs)", "steps", when_none="from --epochs")
    ] = None,
    eval_every: Annotated[
        int | None, trained("Evaluation period in steps", "eval_every", when_none="one epoch")
    ] = None,
    checkpoint_every: Annotated[int | None, trained("Checkpoint period in steps", "checkpoint_every")] = None,
    order: Annotated[Order | None, trained("Batch order", "order")] = None,
    seed: Annotated[int | None, trained("Random seed", "seed")] = None,
    validation: Annotated[
        float | None,
        trained(
            "Training images held out for validation: a count, or a fraction below 1 (1/12 is 5,000 of "
            "MNIST's 60,000); 0 for none",
            "validation",
        ),
    ] = None,
    eval_set: Annotated[EvalSet | None, trained("Set the periodic evaluation measures", "eval_set")] = None,
    keep: Annotated[
        Keep | None, trained("model.keras holds the last weights or the best validation evaluation's", "keep")
    ] = None,
    target_accuracy: Annotated[
        float | None, trained("Report the first step whose held-out accuracy reaches this", "target_accuracy")
    ] = None,
    data: Annotated[
        str | None, plain("An .npz or IDX folder \\[default: bundled MNIST].", envvar="LSTMCLI_DATA")
    ] = None,
    out: Annotated[Path | None, plain("Run folder \\[default: a new one under --runs-dir].", parser=expand)] = None,
    runs_dir: Annotated[Path, typer.Option(envvar="LSTMCLI_RUNS", help="Where new runs go.", parser=expand)] = Path(
        "runs"
    ),
    classes: Annotated[
        int | None,
        plain(
            "Classes the labels 0..K-1 stand for, when the training labels do not show it (some never occur) "
            "\\[default: largest training label + 1, every class present]."
        ),
    ] = None,
    preset: Annotated[
        Preset | None, plain("default, or seed for the article's full schedule \\[default: default].")
    ] = None,
    config_file: Annotated[
        Path | None,
        plain(
            "A TOML file of training options (units, batch_size, learning_rate, steps, preset, ...); options "
            "given here override it; a relative data path is relative to the file.",
            "--config",
            parser=expand,
        ),
    ] = None,
    tensorboard: Annotated[
        bool,
        typer.Option("--tensorboard", help="Write TensorBoard logs (step-axis scalars, HParams) to RUN/tensorboard."),
    ] = False,
    resume: Annotated[
        Path | None, plain("Continue the run in this folder from its last checkpoint.", parser=expand)
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the run already in --out.")] = False,
    format: Annotated[TableOrJson, typer.Option("--format", help="Output format of the summary.")] = TableOrJson.table,
    json_out: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress; print only the run folder (or the JSON).")
    ] = False,
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
        seed=seed, data=data, validation=validation, eval_set=value_of(eval_set), keep=value_of(keep),
        target_accuracy=target_accuracy, classes=classes,
    )  # fmt: skip
    as_json = json_out or format.value == "json"
    reporter = make_reporter(stderr if as_json else stdout, quiet)
    if resume is not None:
        given = {**options, "preset": preset, "config": config_file, "out": out}
        run, metrics = runs.resume(resume, reporter, tensorboard, given)
    else:
        config = runs.configure(config_file, value_of(preset), options)
        run, metrics = runs.start(config, out, runs_dir, reporter, force, tensorboard)
    if as_json:
        print_json({**metrics, "run": str(run)})
    elif quiet:
        print(run)
    else:
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
    min_accuracy: Annotated[float | None, plain("Exit 1 when accuracy is below this (0..1).")] = None,
    unsafe: Annotated[
        bool, typer.Option("--unsafe", help="Allow models that carry code (only for files you trust).")
    ] = False,
    plot: Annotated[
        Path | None,
        plain(
            "Write the confusion-matrix heat map (PNG) here \\[default: RUN/confusion.png for a run directory].",
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
def gates(
    target: Annotated[
        Path, typer.Argument(help="A run directory or a .keras file.", show_default=False, parser=expand)
    ],
    sample: Annotated[int, typer.Option(help="The test sequence to show (0 is the first).")] = 0,
    samples: Annotated[
        int | None, plain("Also gather statistics over the first K test sequences (saturation, accuracy by step).")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            envvar="LSTMCLI_DATA", help="An .npz or IDX folder \\[default: the run's data].", show_default=False
        ),
    ] = None,
    format: Annotated[TableOrJson, typer.Option("--format", help="Output format.")] = TableOrJson.table,
    save: Annotated[Path | None, plain("Write every tensor to this .npz file.", parser=expand)] = None,
    plot: Annotated[
        Path | None,
        plain("Write the gates picture (PNG) here \\[default: RUN/gates-N.png for a run directory].", parser=expand),
    ] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Write no PNG.")] = False,
    unsafe: Annotated[
        bool, typer.Option("--unsafe", help="Allow models that carry code (only for files you trust).")
    ] = False,
) -> None:
    """Watch every gate of a trained model at work on one test sequence, recomputed in NumPy and checked."""
    from lstmcli.cli.gates_view import gates_view
    from lstmcli.cli.render import print_json
    from lstmcli.gates.watch import watch

    result = watch(target, sample, samples, data, unsafe, plot, draw=not no_plot, save=save)
    if format.value == "json":
        print_json(result.model_dump())
    else:
        gates_view(result, stdout)


@app.command()
@reports_errors
def runs(
    folder: Annotated[
        Path,
        typer.Argument(
            envvar="LSTMCLI_RUNS",
            metavar="DIR",
            help="The folder that holds the runs (searched recursively).",
            parser=expand,
        ),
    ] = Path("runs"),
    sort: Annotated[
        SortKey, typer.Option(help="Order rows by this column (accuracies best first, others ascending).")
    ] = SortKey.run,
    reverse: Annotated[bool, typer.Option("--reverse", help="Reverse the order.")] = False,
    where: Annotated[
        list[str] | None, plain("Keep runs whose KEY equals VALUE (KEY=VALUE; repeat to combine).")
    ] = None,
    group_by: Annotated[
        str | None,
        plain(
            "Group runs that differ only in seed (keys: 'config' or a comma list such as cell,units) and show mean, "
            "standard deviation and n."
        ),
    ] = None,
    format: Annotated[RunsFormat, typer.Option("--format", help="Output format.")] = RunsFormat.table,
) -> None:
    """Compare the runs under a folder: config, seed, parameters, validation and test accuracy."""
    from lstmcli import runs as run_list
    from lstmcli.cli.render import print_csv, print_json, print_wide, runs_table

    report = run_list.compare(folder, sort.value, reverse, where or [], group_by)
    if format.value == "json":
        print_json(report)
    elif format.value == "csv":
        print_csv(report["groups"] if group_by else report["runs"])
    elif not report["runs"]:
        stderr.print(f"no runs under {folder}", highlight=False)
    else:
        print_wide(stdout, runs_table(report, folder))


sweep_app = typer.Typer(
    help="Many runs of the experiment on Optuna (a grid or a search over training options), from one machine to many.",
    no_args_is_help=True,
)
app.add_typer(sweep_app, name="sweep")


def swept(what: str, field: str, when_none: str = "none", ranges: bool = True) -> Any:
    """A training option a sweep may vary, as text (a value, a list or a range): its help says its default."""
    text = f"{what} {preset_default(field, when_none)}; a comma list is a grid axis"
    text += ", LOW:HIGH[:log] a range (random, tpe)." if ranges else "."
    return Annotated[str | None, typer.Option(help=text, show_default=False)]


SweptCell = swept("Recurrent cell", "cell", ranges=False)
SweptUnits = swept("Units per layer", "units")
SweptLayers = swept("Stacked layers", "layers")
SweptBidirectional = swept("Bidirectional layers (true, false)", "bidirectional", ranges=False)
SweptBias = swept("Layers with bias vectors", "use_bias", ranges=False)
SweptResetAfter = swept("GRU convention: reset after", "reset_after", ranges=False)
SweptBatchSize = swept("Batch size", "batch_size")
SweptLearningRate = swept("Adam peak learning rate", "learning_rate")
SweptSchedule = swept("Learning-rate schedule", "schedule", ranges=False)
SweptEpochs = swept("Length in epochs", "epochs", "from --steps")
SweptSteps = swept("Length in steps", "steps", "from --epochs")
SweptEvalEvery = swept("Evaluation period in steps", "eval_every", "one epoch")
SweptCheckpointEvery = swept("Checkpoint period in steps", "checkpoint_every")
SweptOrder = swept("Batch order", "order", ranges=False)
SweptValidation = swept("Training images held out for validation", "validation")
SweptKeep = swept("Weights model.keras holds", "keep", ranges=False)
SweptTarget = swept("Accuracy whose first step each run reports", "target_accuracy")

STORAGE_HELP = (
    "Optuna storage URL shared by every worker: sqlite:///FILE.db, postgresql://USER@HOST/DB, mysql://..., "
    "or a journal file FILE.log \\[default: sqlite:///DIR/NAME/study.db]."
)
NAME_HELP = "The sweep's name: its Optuna study, and the folder DIR/NAME of its runs."


@sweep_app.command("run")
@reports_errors
def sweep_run(
    name: Annotated[str, typer.Argument(help=NAME_HELP, show_default=False)],
    cell: SweptCell = None,
    units: SweptUnits = None,
    layers: SweptLayers = None,
    bidirectional: SweptBidirectional = None,
    bias: SweptBias = None,
    reset_after: SweptResetAfter = None,
    batch_size: SweptBatchSize = None,
    learning_rate: SweptLearningRate = None,
    schedule: SweptSchedule = None,
    epochs: SweptEpochs = None,
    steps: SweptSteps = None,
    eval_every: SweptEvalEvery = None,
    checkpoint_every: SweptCheckpointEvery = None,
    order: SweptOrder = None,
    validation: SweptValidation = None,
    keep: SweptKeep = None,
    target_accuracy: SweptTarget = None,
    data: Annotated[
        str | None,
        typer.Option(
            envvar="LSTMCLI_DATA", help="An .npz or IDX folder \\[default: bundled MNIST].", show_default=False
        ),
    ] = None,
    preset: Annotated[Preset | None, plain("The preset under the options \\[default: default].")] = None,
    config_file: Annotated[
        Path | None,
        plain("A TOML file of training options and a [sweep] table of what varies.", "--config", parser=expand),
    ] = None,
    seeds: Annotated[int | None, plain("Run every configuration with seeds 0..N-1 \\[default: 1].")] = None,
    search: Annotated[
        Search | None,
        plain("Every configuration of the grid, or a random or TPE search \\[default: grid]."),
    ] = None,
    trials: Annotated[
        int | None,
        plain(f"Configurations a random or TPE search tries \\[default: {DEFAULT_TRIALS}]."),
    ] = None,
    budget: Annotated[
        int | None,
        plain("Give each configuration the units whose parameter count is closest to this."),
    ] = None,
    prune: Annotated[Prune | None, plain("Stop poor trials at an evaluation \\[default: none].")] = None,
    prune_after: Annotated[
        int | None,
        plain("median: complete trials before any is pruned \\[default: 5]."),
    ] = None,
    storage: Annotated[
        str | None, typer.Option(envvar="LSTMCLI_STORAGE", help=STORAGE_HELP, show_default=False)
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes on this machine, sharing its cores.")] = 1,
    heartbeat: Annotated[
        int, typer.Option(help="Seconds between heartbeats; a trial silent for 3 is re-queued (RDB storages).")
    ] = DEFAULT_HEARTBEAT,
    runs_dir: Annotated[Path, typer.Option(envvar="LSTMCLI_RUNS", help="Runs go to DIR/NAME/.", parser=expand)] = Path(
        "runs"
    ),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress; only the summary.")] = False,
) -> None:
    """Run a sweep: every trial an ordinary run folder; several machines join with the same --storage."""
    from lstmcli.cli.progress import make_sweep_watcher
    from lstmcli.cli.render import print_wide, sweep_table
    from lstmcli.sweep import launch
    from lstmcli.sweep.space import build

    options = dict(
        cell=cell, units=units, layers=layers, bidirectional=bidirectional, use_bias=bias, reset_after=reset_after,
        batch_size=batch_size, learning_rate=learning_rate, schedule=schedule, epochs=epochs, steps=steps,
        eval_every=eval_every, checkpoint_every=checkpoint_every, order=order, validation=validation, keep=keep,
        target_accuracy=target_accuracy, data=data,
    )  # fmt: skip
    settings = dict(seeds=seeds, search=value_of(search), trials=trials, budget=budget, prune=value_of(prune),
                    prune_after=prune_after)  # fmt: skip
    space = build(options, value_of(preset), settings, config_file)
    request = launch.Request(name, space, storage, runs_dir, workers, heartbeat)
    report = launch.run(request, make_sweep_watcher(stdout, quiet))
    print_wide(stdout, sweep_table(report))
    where = "" if storage is None else f" --storage {storage}"
    stdout.print(f"details and plot: lstmcli sweep show {name}{where}", highlight=False, soft_wrap=True)
    launch.judge(report)


@sweep_app.command("show")
@reports_errors
def sweep_show(
    name: Annotated[str, typer.Argument(help=NAME_HELP, show_default=False)],
    storage: Annotated[
        str | None, typer.Option(envvar="LSTMCLI_STORAGE", help=STORAGE_HELP, show_default=False)
    ] = None,
    runs_dir: Annotated[
        Path, typer.Option(envvar="LSTMCLI_RUNS", help="Where DIR/NAME/study.db is.", parser=expand)
    ] = Path("runs"),
    format: Annotated[RunsFormat, typer.Option("--format", help="Output format.")] = RunsFormat.table,
    plot: Annotated[
        Path | None,
        plain(
            "Write the accuracy plot (PNG) here \\[default: NAME-accuracy.png beside the study file, or here].",
            parser=expand,
        ),
    ] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Write no PNG.")] = False,
) -> None:
    """One row per configuration: mean and spread over seeds, best first; every trial, from the storage alone."""
    from lstmcli.cli.render import print_csv, print_json, print_wide, sweep_csv_rows, sweep_table
    from lstmcli.sweep import launch

    report = launch.show(name, storage, runs_dir, plot, draw=not no_plot)
    if format.value == "json":
        print_json(report)
    elif format.value == "csv":
        print_csv(sweep_csv_rows(report))
    else:
        print_wide(stdout, sweep_table(report))
        if report["plot"]:
            stdout.print(f"accuracy against parameters: {report['plot']}", highlight=False, soft_wrap=True)


@sweep_app.command("list")
@reports_errors
def sweep_list(
    storage: Annotated[
        str | None, typer.Option(envvar="LSTMCLI_STORAGE", help="An Optuna storage URL to list.", show_default=False)
    ] = None,
    runs_dir: Annotated[Path, typer.Option(envvar="LSTMCLI_RUNS", help="List DIR/*/study.db.", parser=expand)] = Path(
        "runs"
    ),
    format: Annotated[TableOrJson, typer.Option("--format", help="Output format.")] = TableOrJson.table,
) -> None:
    """The sweeps in a storage, or under a runs folder."""
    from lstmcli.cli.render import print_json, print_wide, sweeps_table
    from lstmcli.sweep import launch

    listing = launch.listing(storage, runs_dir)
    if format.value == "json":
        print_json(listing)
    elif not listing["sweeps"]:
        stderr.print(f"no sweeps in {listing['where']}", highlight=False)
    else:
        print_wide(stdout, sweeps_table(listing))


def main(argv: list[str] | None = None) -> int:
    """Console-script entry: usage errors become one line and exit 2, like every other bad input.

    Typer's own handler draws a multi-line panel; scripts and CI logs read one line more easily. A name that
    Linux allows but that is not UTF-8 is printed escaped rather than ending in an encoding error.
    """
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="lstmcli-names")
    with warnings_held() as held:
        try:
            return _run(argv)
        finally:
            if STATE["debug"]:
                for w in held:
                    text = warnings.formatwarning(w.message, w.category, w.filename, w.lineno)
                    stderr.print(text, end="", markup=False, highlight=False)


def _run(argv: list[str] | None) -> int:
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
