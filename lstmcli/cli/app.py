"""The Typer app: each command parses its options, makes one library call and renders the result.

Imports of NumPy, Keras and the library are inside the commands, so `lstmcli --help` and
`lstmcli params --no-verify` start in a fraction of TensorFlow's import time. Choices and help defaults
are built from the tuples, presets and option table that define them (lstmcli.model, lstmcli.train), so
`--help` cannot drift from what the library does.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from lstmcli import __version__, plots
from lstmcli.cli import errors
from lstmcli.cli.options import TrainingOptions, choice, sweep_options, train_options, value_of
from lstmcli.columns import SORT_KEYS
from lstmcli.errors import LstmcliError, UsageError, one_line, warnings_held
from lstmcli.files import expand
from lstmcli.model.count import CONVENTIONS
from lstmcli.model.spec import CELLS, DEFAULT_TIMESTEPS
from lstmcli.sweep import DEFAULT_HEARTBEAT, DEFAULT_TRIALS, PRUNERS, SEARCHES
from lstmcli.train.presets import FILE_TASKS, TASK_DEFAULTS

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


Cell = choice("Cell", CELLS)
Convention = choice("Convention", CONVENTIONS)
SortKey = choice("SortKey", SORT_KEYS)
ParamsFormat = choice("ParamsFormat", ("table", "json", "markdown"))
TableOrJson = choice("TableOrJson", ("table", "json"))
RunsFormat = choice("RunsFormat", ("table", "json", "csv"))
Search = choice("Search", SEARCHES)
Prune = choice("Prune", PRUNERS)
# The task names, read off the presets (pure Python) so that --help does not import the NumPy task package.
# `params --task` counts the tasks whose shape is known without their data.
TaskName = choice("TaskName", tuple(name for name in TASK_DEFAULTS if name not in FILE_TASKS))


def error_line(message: str) -> None:
    """Every error line the command line prints: one line, its names shown as `printable` shows them (a Typer
    message quotes an argument as given, a library message is already one line)."""
    from rich.markup import escape  # a message may hold brackets ([sweep], a path): text, not markup

    stderr.print(f"[bold red]lstmcli: error:[/] {escape(one_line(message))}", highlight=False, soft_wrap=True)


def reports_errors(command: F) -> F:
    """Turn library errors into one line on stderr and the documented exit code (tracebacks with --debug)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except LstmcliError as exc:
            if STATE["debug"]:
                raise
            error_line(errors.message(exc))
            raise typer.Exit(errors.exit_code(exc)) from None

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
                "convention", "proj_size", "verify", "explain", "task", "length")  # fmt: skip
# What --task decides about the model, so that it is not given by hand as well.
TASK_DECIDES = ("input", "timesteps", "classes")


def given(ctx: typer.Context, names: Iterable[str]) -> list[str]:
    """Which of these options the user typed (rather than left at their defaults), as --option-names."""
    sources = {n: ctx.get_parameter_source(n) for n in names}
    typed = [n for n, source in sources.items() if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")]
    return ["--" + n.replace("_", "-") for n in typed]


def plain(help_text: str, *flags: str, **kwargs: Any) -> Any:
    return typer.Option(*flags, help=help_text, show_default=False, **kwargs)


@app.command()
@reports_errors
def params(
    ctx: typer.Context,
    model: Annotated[
        Path | None,
        typer.Argument(
            help="A saved model to read instead: a .keras file or run folder, a legacy Keras .h5, an ONNX file, "
            "or a PyTorch state dict (.safetensors, .pt, .pth).",
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
        bool, typer.Option("--unsafe", help="Allow a .keras or .h5 model that carries code (only for files you trust).")
    ] = False,
    task: Annotated[TaskName | None, plain("Count the model a task needs: its input, its length and its head.")] = None,
    length: Annotated[
        int | None,
        plain("Sequence length T of a generated task (adding, copy) \\[default: the length in the task presets]."),
    ] = None,
) -> None:
    """Closed-form parameter count of a recurrent model, gate by gate, checked against Keras; or of a saved model."""
    from lstmcli import inspection
    from lstmcli.cli.views import params as view
    from lstmcli.model.spec import ModelSpec

    if model is not None:
        if given(ctx, (*SPEC_OPTIONS, "budget")):
            wrong = ", ".join(given(ctx, (*SPEC_OPTIONS, "budget")))
            raise UsageError(f"{wrong}: describe a model by hand, so they do not apply to the model file {model}")
        report = inspection.describe(model, unsafe, timesteps, 1 if batch_size is None else batch_size)
        view.show_file(report, format.value, stdout)
        inspection.judge(report)
        return
    if unsafe:
        raise UsageError("--unsafe applies to reading a model file (lstmcli params MODEL.keras --unsafe)")
    steps = DEFAULT_TIMESTEPS if timesteps is None else timesteps
    shape = {"input_size": input, "timesteps": steps, "classes": classes}
    if task is not None or length is not None:
        shape = task_shape(ctx, value_of(task), length)
    spec = ModelSpec(cell.value, units, layers=layers, bidirectional=bidirectional, use_bias=not no_bias,
                     reset_after=reset_after, proj_size=proj_size, **shape)  # fmt: skip
    if budget is not None:
        if given(ctx, ("units", "explain", "batch_size")):
            wrong = ", ".join(given(ctx, ("units", "explain", "batch_size")))
            raise UsageError(f"{wrong}: not with --budget, which finds the units")
        view.show_budget(inspection.budget(spec, budget, convention.value), format.value, stdout)
        return
    counted = inspection.examine(spec, convention.value, verify, batch_size)
    if explain:
        from lstmcli.cli.explain import explain as explanation

        counted.explanation = explanation(counted)
    view.show(counted, format.value, stdout)
    inspection.judge(counted)


def task_shape(ctx: typer.Context, name: str | None, length: int | None) -> dict[str, Any]:
    """The ModelSpec fields --task decides (input, length, head), at --length or the task's preset length."""
    if name is None:
        raise UsageError("--length is the length of a generated task; give it with --task adding or --task copy")
    if given(ctx, TASK_DECIDES):
        raise UsageError(f"{', '.join(given(ctx, TASK_DECIDES))}: --task {name} decides the model's input and length")
    from lstmcli.tasks import task as make_task  # NumPy: only when a task is asked for

    return make_task(name, length=TASK_DEFAULTS[name].get("length") if length is None else length).model_fields()


@app.command()
@reports_errors
@train_options
def train(
    options: TrainingOptions,
    out: Annotated[Path | None, plain("Run folder \\[default: a new one under --runs-dir].", parser=expand)] = None,
    runs_dir: Annotated[Path, typer.Option(envvar="LSTMCLI_RUNS", help="Where new runs go.", parser=expand)] = Path(
        "runs"
    ),
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
    from lstmcli.cli.progress import make_reporter
    from lstmcli.cli.views import train as view
    from lstmcli.schemas import TrainSummary

    as_json = json_out or format.value == "json"
    reporter = make_reporter(stderr if as_json else stdout, quiet)
    reporter.phase("starting")  # from the first moment: importing the library (NumPy, pydantic) takes a while
    try:
        from lstmcli.train import runner

        if resume is not None:
            given = {**options, "config": config_file, "out": out, "force": force or None}
            run, metrics, history = runner.resume(resume, reporter, tensorboard, given)
        else:
            config = runner.configure(config_file, options.pop("preset"), options)
            run, metrics, history = runner.start(config, out, runs_dir, reporter, force, tensorboard)
    finally:
        reporter.stop()
    view.show(TrainSummary.of(run, metrics), history, "json" if as_json else "table", quiet, tensorboard, stdout)


# What --plot writes: the format its suffix names (lstmcli.plots.FORMATS); any other suffix is refused before any work.
PICTURE = f"in the format its suffix names ({', '.join(plots.FORMATS)})"

# The data a trained model is judged on (`eval`, `gates`): lstmcli.evaluate.judged_data picks the run's own by default.
RunData = Annotated[
    str | None,
    typer.Option(envvar="LSTMCLI_DATA", help="An .npz or IDX folder \\[default: the run's data].", show_default=False),
]


@app.command("eval")
@reports_errors
def eval_command(
    target: Annotated[
        Path,
        typer.Argument(help="A run directory, a .keras file or a legacy Keras .h5.", show_default=False, parser=expand),
    ],
    data: RunData = None,
    format: Annotated[TableOrJson, typer.Option("--format", help="Output format.")] = TableOrJson.table,
    min_accuracy: Annotated[float | None, plain("Exit 1 when accuracy is below this (0..1).")] = None,
    unsafe: Annotated[
        bool, typer.Option("--unsafe", help="Allow models that carry code (only for files you trust).")
    ] = False,
    plot: Annotated[
        Path | None,
        plain(
            f"Write the confusion-matrix heat map here, {PICTURE} \\[default: RUN/confusion.png for a run directory].",
            parser=expand,
        ),
    ] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Write no picture.")] = False,
) -> None:
    """Evaluate a trained run on the test set: loss, accuracy, per-class figures, confusion matrix."""
    from lstmcli import evaluate
    from lstmcli.cli.views import eval as view

    result = evaluate.evaluate(target, data, unsafe, min_accuracy, plot, draw=not no_plot)
    view.show(result, format.value, stdout)
    evaluate.judge(result)


@app.command()
@reports_errors
def gates(
    target: Annotated[
        Path,
        typer.Argument(help="A run directory, a .keras file or a legacy Keras .h5.", show_default=False, parser=expand),
    ],
    sample: Annotated[int, typer.Option(help="The test sequence to show (0 is the first).")] = 0,
    samples: Annotated[
        int | None, plain("Also gather statistics over the first K test sequences (saturation, accuracy by step).")
    ] = None,
    data: RunData = None,
    format: Annotated[TableOrJson, typer.Option("--format", help="Output format.")] = TableOrJson.table,
    save: Annotated[Path | None, plain("Write every tensor to this .npz file.", parser=expand)] = None,
    plot: Annotated[
        Path | None,
        plain(f"Write the gates picture here, {PICTURE} \\[default: RUN/gates-N.png for a run directory].",
              parser=expand),
    ] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Write no picture.")] = False,
    unsafe: Annotated[
        bool, typer.Option("--unsafe", help="Allow models that carry code (only for files you trust).")
    ] = False,
) -> None:
    """Watch every gate of a trained model at work on one test sequence, recomputed in NumPy and checked."""
    from lstmcli.cli.views.gates import gates_view
    from lstmcli.cli.views.output import print_json
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
            "Group runs that differ only in seed (keys: 'config' or a comma list such as cell,units) and show n, "
            "mean, standard deviation and 95% interval, and whether the best group is distinguishable from the second."
        ),
    ] = None,
    format: Annotated[RunsFormat, typer.Option("--format", help="Output format.")] = RunsFormat.table,
) -> None:
    """Compare the runs under a folder: config, seed, parameters, validation and test accuracy."""
    from lstmcli.cli.views import runs as view
    from lstmcli.runs import compare

    report = compare(folder, sort.value, reverse, where or [], group_by)
    view.show(report, format.value, folder, stdout, stderr)


sweep_app = typer.Typer(
    help="Many runs of the experiment on Optuna (a grid or a search over training options), from one machine to many.",
    no_args_is_help=True,
)
app.add_typer(sweep_app, name="sweep")


STORAGE_HELP = (
    "Optuna storage URL shared by every worker: sqlite:///FILE.db, postgresql://USER@HOST/DB, mysql://..., "
    "or a journal file FILE.log \\[default: sqlite:///DIR/NAME/study.db]."
)
NAME_HELP = "The sweep's name: its Optuna study, and the folder DIR/NAME of its runs."


@sweep_app.command("run")
@reports_errors
@sweep_options
def sweep_run(
    name: Annotated[str, typer.Argument(help=NAME_HELP, show_default=False)],
    options: TrainingOptions,
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
    from lstmcli.cli.views import sweep as view
    from lstmcli.sweep import launch
    from lstmcli.sweep.space import build

    settings = dict(seeds=seeds, search=value_of(search), trials=trials, budget=budget, prune=value_of(prune),
                    prune_after=prune_after)  # fmt: skip
    space = build(options, options.pop("preset"), settings, config_file)
    request = launch.Request(name, space, storage, runs_dir, workers, heartbeat)
    report = launch.run(request, make_sweep_watcher(stdout, quiet))
    view.show(report, "table", stdout)
    where = "" if storage is None else f" --storage {storage}"
    stdout.print(f"details: lstmcli sweep show {name}{where} (--plot FILE.png draws it)", highlight=False,
                 soft_wrap=True)  # fmt: skip
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
        plain(f"Also write the plot of the task's figure here, {PICTURE}; without it, show writes nothing.",
              parser=expand),
    ] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", hidden=True, help="Write no picture (the default).")] = False,
) -> None:
    """One row per configuration: mean, spread and 95% interval over seeds, best first, and whether the best is
    distinguishable from the second; every trial, from the storage alone."""
    from lstmcli.cli.views import sweep as view
    from lstmcli.sweep import launch

    report = launch.show(name, storage, runs_dir, None if no_plot else plot)
    view.show(report, format.value, stdout)


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
    from lstmcli.cli.views import sweep as view
    from lstmcli.sweep import launch

    listing = launch.listing(storage, runs_dir)
    view.show_list(listing, format.value, stdout, stderr)


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
                    sys.stderr.write(text)  # as Python prints it: a console would wrap the source path


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
