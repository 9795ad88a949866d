"""The typed results of the library's operations: what each returns, what each command prints, and its schema.

Every operation behind a command (count a spec, the budget question, read a model file, train, evaluate,
compare runs, show or list sweeps) returns one of the :class:`Result` models below. The command's JSON is
that object's `model_dump(mode="json")`, its tables read the same object, and the published schema is
generated from the same class: `python -m lstmcli.schemas docs/schemas` writes one JSON Schema per command;
a test keeps the files current and validates real outputs of every command against them. Objects forbid
keys they do not declare. A field declared with :func:`omitted` is left out of the JSON while it is None
(an optional part of the output, such as a plot that was not drawn), as the commands always printed them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    RootModel,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from lstmcli.errors import DataError
from lstmcli.model.count import biases_per_gate
from lstmcli.model.memory import FLOAT_BYTES
from lstmcli.model.spec import CELL_NAMES, MAX_CLASSES, MAX_SIZE, ModelSpec

# A network as the JSON writes it: ModelSpec.to_dict, which leaves out the fields lstmcli 0.2 added while they
# hold their defaults, so that the output of every existing model stays the same bytes.
Network = Annotated[ModelSpec, PlainSerializer(lambda spec: spec.to_dict(), return_type=dict)]

if TYPE_CHECKING:
    from lstmcli.model.count import ParamCount
    from lstmcli.model.memory import Memory
    from lstmcli.model.report import FileReport
    from lstmcli.tasks import Task

# Every JSON object a command prints carries it; it changes when a field changes meaning or goes away.
SCHEMA_VERSION = 1


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Result(Strict):
    """A whole command output: its schema version first (required in the published schema: always printed)."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)

    schema_version: Literal[1] = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        """What `--format json` prints (NaN becomes null in the one JSON writer)."""
        return self.model_dump(mode="json")


def omitted() -> Any:
    """An optional field that is absent from the JSON, rather than null, while it is None."""
    return Field(default=None, exclude_if=lambda value: value is None)


class TaskBaseline(Strict):
    """What a model that remembers nothing scores on the task: its loss, its figure, and that model in words."""

    loss: float
    metric: float
    how: str


class TaskInfo(Strict):
    """The task a run trained on (lstmcli.tasks), as its figures are read: the figure, the objective, chance."""

    name: str
    kind: Literal["classify", "regress", "sequence"]
    length: int | None
    seed: int
    metric: str
    objective: str
    direction: Literal["maximize", "minimize"]
    baseline: TaskBaseline

    @classmethod
    def of(cls, task: Task) -> TaskInfo:
        b = task.baseline
        return cls(name=task.name, kind=task.kind, length=task.length, seed=task.seed, metric=task.metric,  # type: ignore[arg-type]
                   objective=task.objective, direction=task.direction,
                   baseline=TaskBaseline(loss=b.loss, metric=b.metric, how=b.how))  # fmt: skip


# What a float32 holds: the statistics are applied to float32 sequences, and a larger one would overflow there.
FLOAT32_MAX = 3.4028234663852886e38
Float32 = Annotated[float, Field(allow_inf_nan=False, ge=-FLOAT32_MAX, le=FLOAT32_MAX)]
Spread = Annotated[float, Field(allow_inf_nan=False, gt=0, le=FLOAT32_MAX)]


class SequenceData(Strict):
    """data.json of a run on the user's own sequences (lstmcli.tasks.sequences): the kind and shape of its file
    and each feature's mean and standard deviation over the examples it trains on (a regression's training
    targets' mean too), which `train --resume` and `eval` apply. Read back as strictly as every run record."""

    model_config = ConfigDict(extra="forbid", strict=True)

    kind: Literal["classify", "regress"]
    steps: Annotated[int, Field(ge=1, le=MAX_SIZE)]
    features: Annotated[int, Field(ge=1, le=MAX_SIZE)]
    classes: Annotated[int, Field(ge=1, le=MAX_CLASSES)]  # a regression's number of targets: 1
    mean: list[Float32]
    std: list[Spread]
    target_mean: Float32 | None = None

    @model_validator(mode="after")
    def _fits(self) -> SequenceData:
        if len(self.mean) != self.features or len(self.std) != self.features:
            raise ValueError(f"mean and std must hold one value per feature ({self.features})")
        if self.kind == "regress" and (self.classes != 1 or self.target_mean is None):
            raise ValueError("a regression has one target and the training targets' mean")
        if self.kind == "classify" and (self.classes < 2 or self.target_mean is not None):
            raise ValueError("a classifier has at least two classes and no target mean")
        return self


class TaskFigures(Strict):
    """The figures of the tasks that are not the article's, beside the classifier's: a regressor's MSE and the
    copy task's recalled-symbol accuracy, each absent where the task has none; `task` says which applies."""

    task: TaskInfo | None = omitted()
    test_mse: float | None = omitted()
    test_recall_accuracy: float | None = omitted()


class TrainMetrics(TaskFigures, Result):
    """metrics.json of a complete run: what it reached, the test set's one evaluation, what was measured on."""

    steps: int
    epochs: float
    seconds: float
    parameters: int
    keras_parameters: int
    seed: int
    validation_images: int
    eval_set: Literal["validation", "test"]
    keep: Literal["last", "best"]
    kept_step: int
    test_loss: float | None
    test_accuracy: float | None
    test_macro_f1: float | None
    val_loss: float | None
    val_accuracy: float | None
    best_val_accuracy: float | None
    best_val_step: int | None
    target_accuracy: float
    target_set: Literal["validation", "test"]
    target_step: int | None
    target_seconds: float | None
    model: Network
    val_mse: float | None = omitted()
    val_recall_accuracy: float | None = omitted()
    # The best validation evaluation's objective (the MSE, the loss) where it is not an accuracy.
    best_val: float | None = omitted()


class TrainSummary(TrainMetrics):
    """`lstmcli train --format json`: metrics.json of the run, and where the run is."""

    run: str

    @classmethod
    def of(cls, run: Path, metrics: TrainMetrics) -> TrainSummary:
        return cls(**dict(metrics), run=str(run))


class ClassScores(Strict):
    """One class of a test set: precision, recall, F1 and how many images it has."""

    model_config = ConfigDict(extra="forbid", serialize_by_alias=True, validate_by_name=True, validate_by_alias=True)

    label: int = Field(alias="class")
    precision: float
    recall: float
    f1: float
    support: int


class EvalResult(TaskFigures, Result):
    """`lstmcli eval --format json`: one model judged on a test set (per class and confusion: a classifier's)."""

    model: str
    data: str
    samples: int
    test_loss: float | None
    test_accuracy: float | None
    test_macro_f1: float | None
    per_class: list[ClassScores]
    confusion_matrix: list[list[int]]
    min_accuracy: float | None = omitted()
    passed: bool | None = omitted()
    plot: str | None = omitted()


class RunRow(Strict):
    """One run as `lstmcli runs` lists it; figures are null where the run has none (yet)."""

    run: str
    cell: str | None
    units: int | None
    layers: int | None
    batch: int | None
    lr: float | None
    schedule: str | None
    seed: int | None
    parameters: int | None
    steps: int | None
    best_val_accuracy: float | None
    test_accuracy: float | None
    test_loss: float | None
    seconds: float | None
    status: Literal["complete", "incomplete", "damaged"]
    path: str
    config: dict[str, Any] | None = omitted()  # absent where config.json could not be read
    problem: str | None = omitted()  # what is wrong with a damaged run
    # A run of another task than the article's: the task, and its figure (lstmcli.tasks).
    task: str | None = omitted()
    test_mse: float | None = omitted()
    test_recall_accuracy: float | None = omitted()


class Comparison(Strict):
    """Whether the best configuration (listed first) is distinguishable from the second best (listed second).

    Welch's t-test of their `figure`, one value per seed: `p_value` is two-sided, `distinguishable` is
    p < `alpha`; both are null where either has fewer than 2 seeds (or there is only one configuration),
    and `text` says the verdict, or why there is none, in one sentence. `difference` is best minus second.
    """

    figure: str
    goal: Literal["maximize", "minimize"]
    difference: float | None
    p_value: float | None
    alpha: float
    distinguishable: bool | None
    text: str


class RunGroup(Strict):
    """Runs that differ only in seed (or share the --group-by keys): n, and each figure's mean, spread and
    95% Student t interval of the mean (`_ci_low`, `_ci_high`: null for fewer than 2 values).

    The settings that tell the group apart (the --group-by keys, or for `config` the settings on which the
    groups differ) are the object's other keys, printed first; `settings` returns them.
    """

    model_config = ConfigDict(extra="allow")

    n: int
    runs: list[str]
    seeds: list[int]
    best_val_accuracy_mean: float | None
    best_val_accuracy_std: float | None
    best_val_accuracy_ci_low: float | None
    best_val_accuracy_ci_high: float | None
    test_accuracy_mean: float | None
    test_accuracy_std: float | None
    test_accuracy_ci_low: float | None
    test_accuracy_ci_high: float | None
    test_loss_mean: float | None
    test_loss_std: float | None
    test_loss_ci_low: float | None
    test_loss_ci_high: float | None
    seconds_mean: float | None
    seconds_std: float | None
    seconds_ci_low: float | None
    seconds_ci_high: float | None

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def figure(self, metric: str) -> tuple[float | None, float | None]:
        """The mean and standard deviation of `metric` (best_val_accuracy, test_accuracy, ...) over the runs."""
        return getattr(self, f"{metric}_mean"), getattr(self, f"{metric}_std")

    def interval(self, metric: str) -> tuple[float | None, float | None]:
        """The 95% confidence interval of the mean of `metric` over the runs."""
        return getattr(self, f"{metric}_ci_low"), getattr(self, f"{metric}_ci_high")

    @model_serializer(mode="wrap")
    def _settings_first(self, handler: SerializerFunctionWrapHandler):  # no return type: the schema stays the fields'
        figures = handler(self)
        return {**{k: figures.pop(k) for k in self.settings}, **figures}


class RunsReport(Result):
    """`lstmcli runs --format json`: the runs under a folder, and with --group-by their groups."""

    folder: str
    runs: list[RunRow]
    group_by: list[str] | None = omitted()
    groups: list[RunGroup] | None = omitted()
    comparison: Comparison | None = omitted()  # with the groups: the best group against the second


class GateCount(Strict):
    gate: str
    kernel: int
    recurrent_kernel: int
    bias: int
    total: int


class LayerCount(Strict):
    """One direction of one recurrent layer: its gate blocks, its stored tensors and its mult-adds."""

    layer: int
    direction: str
    input_size: int
    units: int
    total: int
    macs: int
    shapes: dict[str, list[int]]
    gates: list[GateCount]

    @property
    def projection(self) -> int:
        """PyTorch's weight_hr: the part of the total outside the gate blocks."""
        return self.total - sum(g.total for g in self.gates)

    @classmethod
    def all_of(cls, counts: ParamCount) -> list[LayerCount]:
        return [
            cls(layer=d.layer, direction=d.direction, input_size=d.input_size, units=d.units, total=d.total,
                macs=d.macs, shapes={name: list(shape) for name, shape in d.shapes},
                gates=[GateCount(gate=g.gate, kernel=g.kernel, recurrent_kernel=g.recurrent, bias=g.bias,
                                 total=g.total) for g in d.gates])
            for d in counts.directions
        ]  # fmt: skip


class HeadCount(Strict):
    """The Dense head: a classifier (or a regressor) on the last step, or the same weights at every step."""

    inputs: int
    classes: int
    kernel: int
    bias: int
    total: int
    macs: int
    shapes: dict[str, list[int]]
    # Left out of the JSON at the values every model had before the tasks: those outputs stay the same bytes.
    kind: Literal["classify", "regress", "sequence"] = Field(default="classify", exclude_if=lambda v: v == "classify")
    steps: int = Field(default=1, exclude_if=lambda v: v == 1)


class LayerMemory(Strict):
    """One layer's output and costs for the whole batch (bytes are float32)."""

    name: str
    kind: str
    output_shape: list[int | None] | None
    step_shape: list[int | None] | None
    activation_bytes: int
    kept_bytes: int
    macs: int | None
    torchinfo_macs: int | None


class MemoryReport(Strict):
    """Shapes, memory and mult-adds of a forward and a training pass for a batch: bytes (float32) and
    mult-adds for the whole batch, per-layer figures likewise."""

    batch: int
    timesteps: int
    input_bytes: int
    activation_bytes: int
    kept_bytes: int
    weights_bytes: int
    gradients_bytes: int
    adam_bytes: int
    training_bytes: int
    macs: int
    torchinfo_macs: int
    not_estimated: list[str]
    layers: list[LayerMemory]

    @classmethod
    def of(cls, memory: Memory) -> MemoryReport:
        b, word = memory.batch, FLOAT_BYTES
        layers = [
            LayerMemory(name=c.name, kind=c.kind, output_shape=None if c.output is None else [b, *c.output],
                        step_shape=None if c.per_step is None else [b, *c.per_step],
                        activation_bytes=b * c.output_elements * word,
                        kept_bytes=b * (c.output_elements + c.kept) * word,
                        macs=None if c.macs is None else b * c.macs,
                        torchinfo_macs=None if c.torchinfo_macs is None else b * c.torchinfo_macs)
            for c in memory.layers
        ]  # fmt: skip
        return cls(batch=b, timesteps=memory.timesteps, input_bytes=b * memory.input_elements * word,
                   activation_bytes=memory.activation_bytes, kept_bytes=memory.kept_bytes,
                   weights_bytes=memory.weights_bytes, gradients_bytes=memory.weights_bytes,
                   adam_bytes=2 * memory.weights_bytes, training_bytes=memory.training_bytes, macs=memory.macs,
                   torchinfo_macs=memory.torchinfo_macs, not_estimated=list(memory.unestimated),
                   layers=layers)  # fmt: skip


class ParamsReport(Result):
    """`lstmcli params --format json` for a model described by options.

    `keras` (or `torch`) is the framework's own count where it was verified, else null.
    """

    spec: Network
    convention: Literal["keras", "pytorch"]
    total: int
    recurrent_total: int
    keras: int | None
    torch: int | None
    match: bool | None
    layers: list[LayerCount]
    head: HeadCount | None
    macs: int
    flops: int
    memory_bytes: dict[str, int]
    formula: str
    explanation: str | None = omitted()  # with --explain
    note: str | None = omitted()  # why the count was not verified
    memory: MemoryReport | None = omitted()  # with a batch size

    @property
    def verified(self) -> int | None:
        return self.torch if self.convention == "pytorch" else self.keras

    @property
    def framework(self) -> str:
        return "PyTorch" if self.convention == "pytorch" else "Keras"

    @classmethod
    def of(cls, counts: ParamCount, keras: int | None = None, torch: int | None = None, note: str | None = None,
           memory: Memory | None = None) -> ParamsReport:  # fmt: skip
        verified = torch if counts.convention == "pytorch" else keras
        h = counts.head
        head = None
        if h is not None:
            shapes = {"kernel": [h.inputs, h.classes], "bias": [h.classes]}
            head = HeadCount(inputs=h.inputs, classes=h.classes, kernel=h.kernel, bias=h.bias, total=h.total,
                             macs=h.macs, shapes=shapes, kind=h.kind, steps=h.steps)  # fmt: skip
        return cls(
            spec=counts.spec, convention=counts.convention, total=counts.total, recurrent_total=counts.recurrent_total,
            keras=keras, torch=torch, match=None if verified is None else verified == counts.total,
            layers=LayerCount.all_of(counts), head=head, macs=counts.macs, flops=counts.flops,
            memory_bytes={dtype: counts.weight_bytes(dtype) for dtype in ("float32", "bfloat16")},
            formula=formula(counts), note=note, memory=None if memory is None else MemoryReport.of(memory),
        )  # fmt: skip


def formula(counts: ParamCount) -> str:
    """The closed form of the first layer with the user's numbers, e.g. 4 * (75 * (75 + 28) + 75) = 31200."""
    spec, first = counts.spec, counts.directions[0]
    g, n, m = len(spec.gates), spec.units, first.input_size
    nbias = biases_per_gate(spec, counts.convention)
    bias = "" if nbias == 0 else (f" + {n}" if nbias == 1 else f" + 2 * {n}")
    if spec.proj_size:
        p = spec.proj_size
        return f"{g} * ({n} * ({p} + {m}){bias}) + {p} * {n} = {first.total}"
    return f"{g} * ({n} * ({n} + {m}){bias}) = {first.total}"


class Fit(Strict):
    """One candidate of the budget question: the units and the whole model's parameter count with them."""

    units: int
    total: int


class BudgetReport(Result):
    """`lstmcli params --budget P --format json`: the units closest to P parameters, and both neighbours.

    `units` and `total` are the closest model's (whose units `spec` holds); `below`/`above` the neighbours,
    null where there is none.
    """

    budget: int
    convention: Literal["keras", "pytorch"]
    spec: Network
    units: int
    total: int
    below: Fit | None
    above: Fit | None

    @property
    def best(self) -> Fit:
        return Fit(units=self.units, total=self.total)


class RecurrentLayer(Strict):
    """A recurrent layer of a model file that the closed form covers: as code, its spec, its directions."""

    module: str
    cell: str
    units: int
    input_size: int
    timesteps: int
    layers: int
    bidirectional: bool
    use_bias: bool
    reset_after: bool
    proj_size: int
    directions: list[LayerCount]


class FileLayer(Strict):
    """One layer of a Keras model, one recurrent group or one other tensor of a state dict, in file order."""

    name: str
    type: str
    output_shape: list[int | None] | None
    params: int  # what the file holds: Keras's count_params() of the layer, or the stored tensors' sizes
    counted_by: str
    closed_form: int | None
    match: bool | None
    tensors: dict[str, list[int]]
    recurrent: RecurrentLayer | None


class ModelFileReport(Result):
    """`lstmcli params FILE --format json`: a saved Keras model or a PyTorch state dict, layer by layer.

    `total` is the whole model's count (Keras's count_params(), or every stored tensor).
    """

    file: str
    framework: str
    convention: Literal["keras", "pytorch"]
    total: int
    closed_form_total: int
    match: bool | None
    layers: list[FileLayer]
    memory: MemoryReport | None
    notes: list[str]

    @classmethod
    def of(cls, report: FileReport) -> ModelFileReport:
        layers = []
        for layer in report.layers:
            recurrent = None
            if layer.counts is not None:
                spec = layer.counts.spec
                recurrent = RecurrentLayer(
                    module=module_line(layer.counts, layer.kind), directions=LayerCount.all_of(layer.counts),
                    **{k: v for k, v in spec.to_dict().items() if k not in ("classes", "unroll")},
                )  # fmt: skip
            layers.append(FileLayer(
                name=layer.name, type=layer.kind, output_shape=None if layer.output is None else list(layer.output),
                params=layer.params, counted_by="closed form" if layer.counts is not None else report.framework,
                closed_form=layer.closed_form, match=layer.match,
                tensors={name: list(shape) for name, shape in layer.tensors}, recurrent=recurrent,
            ))  # fmt: skip
        covered = report.covered
        return cls(file=report.path, framework=report.framework, convention=report.convention, total=report.total,
                   closed_form_total=sum(layer.params for layer in covered),
                   match=None if not covered else not report.mismatches, layers=layers,
                   memory=MemoryReport.of(report.memory), notes=list(report.notes))  # fmt: skip

    @property
    def covered(self) -> list[FileLayer]:
        return [layer for layer in self.layers if layer.recurrent is not None]

    @property
    def mismatches(self) -> list[FileLayer]:
        return [layer for layer in self.covered if not layer.match]


def module_line(counts: ParamCount, kind: str) -> str:
    """A recurrent layer as the code that makes it: torch.nn.LSTM(...) or keras.layers.LSTM(...)."""
    spec = counts.spec
    if counts.convention == "pytorch":
        args = f"input_size={spec.input_size}, hidden_size={spec.units}, num_layers={spec.layers}"
        args += ", bidirectional=True" if spec.bidirectional else ""
        args += f", proj_size={spec.proj_size}" if spec.proj_size else ""
        args += "" if spec.use_bias else ", bias=False"
        return f"torch.nn.{kind}({args})"
    args = f"{spec.units}" + ("" if spec.use_bias else ", use_bias=False")
    args += ", reset_after=False" if spec.cell == "gru" and not spec.reset_after else ""
    inner = f"{CELL_NAMES[spec.cell]}({args})"
    return f"Bidirectional({inner})" if spec.bidirectional else inner


class Params(RootModel[ParamsReport | BudgetReport | ModelFileReport]):
    """`lstmcli params --format json`: options, a budget, or a model file."""


class SweepTrial(Strict):
    """One trial of a sweep, as its storage records it (figures null where it has none)."""

    number: int
    state: Literal["COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"]
    retried: bool
    retry_of: int | None
    params: dict[str, Any]
    cell: Literal["lstm", "gru", "rnn"] | None
    seed: int | None
    parameters: int | None
    val_accuracy: float | None
    test_accuracy: float | None
    seconds: float | None
    run: str | None
    resumed_from: int | None
    host: str | None
    error: str | None
    # A trial of a task judged by its loss (lstmcli.tasks): the adding problem's MSE, the copy task's loss and
    # recalled-symbol accuracy; absent where the task has none (a classifier's) or the trial has none yet.
    val_mse: float | None = omitted()
    test_mse: float | None = omitted()
    val_loss: float | None = omitted()
    test_loss: float | None = omitted()
    val_recall_accuracy: float | None = omitted()
    test_recall_accuracy: float | None = omitted()

    @property
    def figure(self) -> str:
        """The validation figure this trial was judged by (its sweep's objective), from the figures it holds."""
        return next((f for f in ("val_mse", "val_loss") if getattr(self, f) is not None), "val_accuracy")


class SweepConfiguration(Strict):
    """One configuration of a sweep: its complete seeds summarised (each seed counted once).

    `_ci_low` and `_ci_high` bound the 95% Student t interval of the mean over the seeds (null for fewer than 2).
    """

    params: dict[str, Any]
    cell: Literal["lstm", "gru", "rnn"] | None
    parameters: int | None
    n: int
    seeds: list[int]
    pruned: int
    val_accuracy_mean: float | None
    val_accuracy_std: float | None
    val_accuracy_ci_low: float | None
    val_accuracy_ci_high: float | None
    val_accuracy_best: float | None
    test_accuracy_mean: float | None
    test_accuracy_std: float | None
    test_accuracy_ci_low: float | None
    test_accuracy_ci_high: float | None
    seconds_mean: float | None
    trials: list[int]
    # A sweep of a task judged by its loss: the figures of that task, summarised the same way (`_best` is the
    # best seed's validation figure, the lowest); absent for a classifier, or where no seed has them.
    val_mse_mean: float | None = omitted()
    val_mse_std: float | None = omitted()
    val_mse_ci_low: float | None = omitted()
    val_mse_ci_high: float | None = omitted()
    val_mse_best: float | None = omitted()
    test_mse_mean: float | None = omitted()
    test_mse_std: float | None = omitted()
    test_mse_ci_low: float | None = omitted()
    test_mse_ci_high: float | None = omitted()
    val_loss_mean: float | None = omitted()
    val_loss_std: float | None = omitted()
    val_loss_ci_low: float | None = omitted()
    val_loss_ci_high: float | None = omitted()
    val_loss_best: float | None = omitted()
    test_loss_mean: float | None = omitted()
    test_loss_std: float | None = omitted()
    test_loss_ci_low: float | None = omitted()
    test_loss_ci_high: float | None = omitted()
    test_recall_accuracy_mean: float | None = omitted()
    test_recall_accuracy_std: float | None = omitted()
    test_recall_accuracy_ci_low: float | None = omitted()
    test_recall_accuracy_ci_high: float | None = omitted()


class SweepCounts(Strict):
    """Trials by state; a failed trial that was queued again counts as retried, not failed."""

    total: int
    complete: int
    running: int
    waiting: int
    pruned: int
    failed: int
    retried: int


class SweepReport(Result):
    """`lstmcli sweep show --format json`: a sweep read from its storage alone.

    `objective` is the validation figure the study ranks by (val_accuracy, or a loss task's val_mse or
    val_loss), in `direction`; `task` is the task of its runs and its baseline (absent for the article's).
    """

    study: str
    storage: str
    space: dict[str, Any]
    objective: str = "val_accuracy"
    direction: Literal["maximize", "minimize"] = "maximize"
    task: TaskInfo | None = omitted()
    counts: SweepCounts
    best: SweepTrial | None
    configurations: list[SweepConfiguration]
    comparison: Comparison | None  # the first configuration against the second; null with none
    trials: list[SweepTrial]
    plot: str | None

    @property
    def baseline(self) -> float | None:
        """What a memoryless model scores on a task judged by its loss (its MSE, its loss); None for a classifier."""
        return None if self.task is None or self.direction == "maximize" else self.task.baseline.loss


class SweepListRow(Strict):
    """One study of a storage: whether lstmcli made it, its search, its trials and the best so far."""

    name: str
    storage: str
    sweep: bool
    search: str | None
    trials: int
    complete: int
    best_val_accuracy: float | None
    started: str | None
    # A sweep of a task judged by its loss: its objective (val_mse, val_loss) and the best (lowest) value of it.
    objective: str | None = omitted()
    best_value: float | None = omitted()


class SweepListProblem(Strict):
    """A study (or a study file under the runs folder) that could not be read, and why; `name` is null where
    the file itself could not be read."""

    name: str | None = None
    storage: str
    problem: str


class SweepList(Result):
    """`lstmcli sweep list --format json`: the studies in a storage or under a runs folder."""

    where: str
    sweeps: list[SweepListRow | SweepListProblem]


# --- lstmcli gates (docs/lstm.md "Watching the gates") ------------------------------------------------

GateName = Literal["input", "forget", "candidate", "output", "cell", "hidden", "update", "reset"]
Matrix = list[list[float]]


class GateLayer(Strict):
    """One direction of one recurrent layer, every tensor at every step."""

    layer: str
    index: int
    direction: Literal["forward", "backward"]
    cell: Literal["lstm", "gru", "rnn"]
    units: int
    reset_after: bool | None
    max_difference: float
    gates: dict[GateName, Matrix]


class Saturation(Strict):
    """Per unit, the fraction of steps (over every sample) a gate spends below 0.1 and above 0.9."""

    below: list[float]
    above: list[float]


class LayerStatistics(Strict):
    layer: str
    index: int
    direction: Literal["forward", "backward"]
    cell: Literal["lstm", "gru", "rnn"]
    saturation: dict[GateName, Saturation]
    mean_by_step: dict[GateName, list[float]]


class GateStatistics(Strict):
    """Over the first `samples` test sequences: saturation, mean gates over time, accuracy if reading stopped."""

    samples: int
    low: float
    high: float
    accuracy_by_step: list[float]
    max_difference: float
    layers: list[LayerStatistics]


class GatesResult(Strict):
    """`lstmcli gates --format json`: one test sequence through every gate, and the prediction as it is read."""

    schema_version: Literal[1]
    model: str
    data: str
    sample: int
    label: int
    predicted: int
    confidence: float
    decided_step: int | None
    steps: int
    features: int
    classes: int
    input: Matrix
    layers: list[GateLayer]
    prediction: Matrix
    max_difference: float
    tolerance: float
    statistics: GateStatistics | None = None
    plot: str | None = None
    saved: str | None = None


SCHEMAS: dict[str, type[BaseModel]] = {
    "params": Params,
    "train": TrainSummary,
    "eval": EvalResult,
    "runs": RunsReport,
    "sweep-show": SweepReport,
    "sweep-list": SweepList,
    "gates": GatesResult,
}


R = TypeVar("R", bound=BaseModel)


def parse(model: type[R], data: Any, where: str) -> R:
    """A result read back from a file (metrics.json), checked field by field: a damaged file is one DataError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "the object"
        raise DataError(f"{where}: {field}: {first['msg'].lower()}; not what lstmcli writes") from None


def schema(command: str) -> dict[str, Any]:
    """The JSON Schema of `command`'s JSON output."""
    document = SCHEMAS[command].model_json_schema(mode="serialization")  # the schema of what is printed
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"lstmcli/{command}.json", **document}


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for command in SCHEMAS:
        path = folder / f"{command}.schema.json"
        path.write_text(json.dumps(schema(command), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # python -m lstmcli.schemas docs/schemas
    for written in write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")):
        print(written)
