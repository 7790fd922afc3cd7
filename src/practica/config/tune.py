"""An experiment's ``tune:`` block: a search space over its own fields, a budget, an objective, the search.

A space maps dotted paths of the experiment (``train.optimizer.lr``, ``model.params.widths``,
``model.layers.2.units``, ``augment.crop.padding``) to a distribution::

    tune:
      space:
        train.optimizer.lr: {float: [1e-4, 1e-1], log: true}
        train.epochs: {int: [3, 12]}
        model.params.widths: {choice: [[32, 64], [64, 128]]}
      budget: {trials: 20, minutes: 30}
      objective: val_accuracy            # or [val_accuracy, latency] for accuracy against latency
      pruner: median

Every path is checked against the experiment when the suite loads (``check_space``): an unknown one is an
error naming the nearest valid ones, and the experiment with each end of each range must still validate,
so that a bad space stops before any training. ``resolve`` gives a trial's experiment.
"""

from __future__ import annotations

import copy
import difflib
import types
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from practica.config.base import Strict

if TYPE_CHECKING:
    from practica.config.schema import ExperimentSpec

MAX_SEED = 2**32 - 1
MAX_SPACE = 32  # dimensions of one space: past this a search of a few dozen trials learns nothing
MAX_CHOICES = 64
# The second objective of a multi-objective study: what it is measured as, by name and alias.
COST_OBJECTIVES = {"latency": "latency_p50_ms", "latency_p50_ms": "latency_p50_ms", "size": "size_mb",
                   "size_mb": "size_mb"}


class Distribution(Strict):
    """One dimension: exactly one of ``{float: [lo, hi]}``, ``{int: [lo, hi]}`` (both with ``log: true`` for a
    log scale) or ``{choice: [a, b, ...]}``."""

    float_range: tuple[float, float] | None = Field(None, alias="float", description="[low, high], inclusive")
    int_range: tuple[int, int] | None = Field(None, alias="int", description="[low, high], inclusive")
    choice: list[Any] | None = Field(None, min_length=1, max_length=MAX_CHOICES,
                                     description="the values to choose from: numbers, strings, lists, mappings")
    log: bool = Field(False, description="sample on a log scale (float and int ranges above 0)")

    @model_validator(mode="after")
    def _one_kind(self) -> Distribution:
        given = [k for k, f in (("float", self.float_range), ("int", self.int_range), ("choice", self.choice))
                 if f is not None]
        if len(given) != 1:
            got = ", ".join(given) if given else "none"
            raise ValueError(f"a dimension takes exactly one of float, int and choice (got {got}); e.g. "
                             "{float: [0.0001, 0.1], log: true}, {int: [2, 8]} or {choice: [sgd, adam]}")
        bounds = self.float_range or self.int_range
        if bounds is not None:
            lo, hi = bounds
            if lo >= hi:
                raise ValueError(f"the range [{lo}, {hi}] is empty or a single value; give low < high "
                                 "(a fixed value belongs in the experiment, not its space)")
            if self.log and lo <= 0:
                raise ValueError(f"log: true needs a range above 0, got [{lo}, {hi}]; raise low or drop log")
        elif self.log:
            raise ValueError("log: true applies to float and int ranges, not choice; remove it")
        if self.choice is not None and len(self.choice) < 2:
            raise ValueError(f"choice lists one value ({self.choice[0]!r}); give two or more, or fix the value "
                             "in the experiment instead")
        return self

    @property
    def kind(self) -> Literal["float", "int", "choice"]:
        return "float" if self.float_range is not None else "int" if self.int_range is not None else "choice"

    def extremes(self) -> list[Any]:
        """The values that bound the dimension: both ends of a range, every choice."""
        bounds = self.float_range or self.int_range
        return list(bounds) if bounds is not None else list(self.choice or [])

    def contains(self, value: Any) -> bool:
        bounds = self.float_range or self.int_range
        if bounds is not None:
            number = isinstance(value, int | float) and not isinstance(value, bool)
            whole = self.kind == "float" or isinstance(value, int)
            return number and whole and bounds[0] <= value <= bounds[1]
        return value in (self.choice or [])

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out = handler(self)
        value = next(out[k] for k in (self.kind, f"{self.kind}_range", "choice") if out.get(k) is not None)
        return {self.kind: value, "log": True} if self.log else {self.kind: value}


class Budget(Strict):
    """How long a study searches: ``trials`` in all (a resumed study counts the trials it already has) and
    ``minutes`` of wall time per invocation; the first reached ends it."""

    trials: PositiveInt | None = Field(20, le=10_000, description="trials in the study, in all")
    minutes: PositiveFloat | None = Field(None, description="wall time of one `practica tune`, at most")

    @model_validator(mode="after")
    def _bounded(self) -> Budget:
        if self.trials is None and self.minutes is None:
            raise ValueError("budget needs trials or minutes (or both), e.g. {trials: 20, minutes: 30}; "
                             "a study without either would never end")
        return self


PrunerName = Literal["median", "halving", "hyperband", "none"]


class PrunerSpec(Strict):
    """Stop unpromising trials from their per-epoch validation metric. ``median``: a trial whose best value so
    far is worse than the median of complete trials' at the same point of their schedules (epoch / planned
    epochs, so trials of different lengths compare fairly); ``halving`` (successive halving) and
    ``hyperband``: trials compete in rungs of growing epoch counts. ``startup_trials`` complete first
    (median), and no trial stops in its first ``warmup_epochs`` epochs."""

    name: PrunerName = "median"
    startup_trials: NonNegativeInt = Field(2, description="median: trials that complete before any is pruned")
    warmup_epochs: NonNegativeInt = Field(1, description="median: epochs every trial trains before it may stop")

    @model_validator(mode="before")
    @classmethod
    def _name_alone(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data


class TuneSpec(Strict):
    space: dict[str, Distribution] = Field(min_length=1, max_length=MAX_SPACE,
                                           description="dotted path of an experiment field → distribution")
    budget: Budget = Budget()
    objective: tuple[str, ...] | None = Field(
        None, description="a validation metric (default: the selection metric), or [metric, latency | size] "
        "to search the front of quality against batch-1 latency p50 (or size)"
    )
    sampler: Literal["tpe", "nsga2", "random"] | None = Field(
        None, description="default: tpe for one objective, nsga2 (NSGA-II, evolutionary) for two"
    )
    pruner: PrunerSpec | None = Field(None, description="default: median for one objective; none for two "
                                                        "(Optuna prunes single-objective studies only)")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="the sampler's seed")

    @field_validator("objective", mode="before")
    @classmethod
    def _one_or_two(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [v]
        if isinstance(v, list) and v:
            if len(v) > 2:
                raise ValueError(f"objective lists {len(v)} figures; give one metric, or a metric and latency "
                                 "or size, e.g. [val_accuracy, latency]")
            if v[0] in COST_OBJECTIVES:
                raise ValueError(f"the first objective is a validation metric, not '{v[0]}'; e.g. "
                                 f"objective: [val_accuracy, {v[0]}]")
            if len(v) == 2:
                if v[1] not in COST_OBJECTIVES:
                    raise ValueError(f"the second objective '{v[1]}' is not a cost; use latency (batch-1 p50, "
                                     "ms) or size (MB), e.g. objective: [val_accuracy, latency]")
                v = [v[0], COST_OBJECTIVES[v[1]]]
        return v

    @model_validator(mode="after")
    def _pruning_single_objective(self) -> TuneSpec:
        if self.multi_objective and self.pruner is not None and self.pruner.name != "none":
            raise ValueError(f"pruner '{self.pruner.name}' with two objectives: Optuna prunes single-objective "
                             "studies only; remove pruner (or pruner: none), or keep one objective")
        return self

    @property
    def multi_objective(self) -> bool:
        return self.objective is not None and len(self.objective) == 2

    @property
    def sampler_name(self) -> Literal["tpe", "nsga2", "random"]:
        return self.sampler or ("nsga2" if self.multi_objective else "tpe")

    @property
    def pruner_spec(self) -> PrunerSpec:
        return self.pruner or PrunerSpec(name="none" if self.multi_objective else "median")

    def objectives(self, default_metric: str) -> tuple[str, ...]:
        """The study's objectives, the metric resolved: ``("val_accuracy",)``, or two such as
        ``("val_accuracy", "latency_p50_ms")``."""
        return self.objective or (default_metric,)


# --------------------------------------------------------------------- paths


def check_space(exp: ExperimentSpec, suite_augment: list[Any]) -> None:
    """Raise ValueError unless every path of ``exp.tune.space`` names a field of ``exp`` and ``exp`` still
    validates with each end of each range (each choice), one dimension at a time."""
    assert exp.tune is not None  # called for tuned experiments only
    data = _experiment_data(exp, suite_augment)
    for path, dist in exp.tune.space.items():
        _walk(data, path)
        for value in dist.extremes():
            try:
                resolve(exp, suite_augment, {path: value})
            except ValueError as err:
                what = "one of its choices" if dist.kind == "choice" else "an end of its range"
                raise ValueError(f"{path} = {value!r} ({what}) makes the experiment invalid: "
                                 f"{_first_problem(err)}; change the space") from None


def resolve(exp: ExperimentSpec, suite_augment: list[Any], values: dict[str, Any],
            name: str | None = None) -> ExperimentSpec:
    """``exp`` with ``values`` set at their paths, renamed ``name``, without its tune block: validated again
    (a ValueError names the problem). Paths under ``augment`` start from the suite's list when the
    experiment has none of its own."""
    from practica.config.schema import ExperimentSpec  # schema imports this module for TuneSpec

    data = _experiment_data(exp, suite_augment if any(p.split(".")[0] == "augment" for p in values) else None)
    for path, value in values.items():
        parent, key = _walk(data, path, create=True)
        parent[key] = copy.deepcopy(value)
    data.pop("tune", None)
    if name is not None:
        data["name"] = name
    return ExperimentSpec.model_validate(data)


def declared_value(exp: ExperimentSpec, suite_augment: list[Any], path: str) -> tuple[bool, Any]:
    """(True, the value the experiment declares at ``path``), or (False, None) when it sets none there."""
    data = _experiment_data(exp, suite_augment)
    try:
        parent, key = _walk(data, path)
    except ValueError:
        return False, None
    if isinstance(parent, dict) and key in parent:
        return True, copy.deepcopy(parent[key])
    if isinstance(parent, list) and isinstance(key, int):
        return True, copy.deepcopy(parent[key])
    return False, None


def _experiment_data(exp: ExperimentSpec, suite_augment: list[Any] | None) -> dict[str, Any]:
    data = exp.model_dump(mode="json", by_alias=True)
    if data.get("augment") is None and suite_augment is not None:
        data["augment"] = [a if isinstance(a, dict) else a.model_dump(mode="json") for a in suite_augment]
    return data


def _first_problem(err: ValueError) -> str:
    if isinstance(err, ValidationError):
        e = err.errors()[0]
        where = ".".join(str(part) for part in e["loc"])
        message = e["msg"].removeprefix("Value error, ")
        return f"{where}: {message}" if where else message
    return str(err)


def _walk(data: dict[str, Any], path: str, create: bool = False) -> tuple[Any, Any]:
    """The container holding ``path``'s value in ``data`` (the experiment as a mapping) and its key or index,
    following the schema so that a field left unset still counts; a ValueError names a wrong path and the
    nearest valid ones. ``create``: make the sections on the way that the experiment leaves unset."""
    from practica.config.schema import ExperimentSpec

    parts = path.split(".")
    annotation: Any = ExperimentSpec
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        model = _model_class(annotation, node)
        if model is not None:
            field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
            if field is None or part == "tune":
                raise _unknown(path, data, f"'{part}' is not a field of {'.'.join(parts[:i]) or 'an experiment'}")
            key = field.alias or part
            if node is None and create:
                raise ValueError(f"{path}: {'.'.join(parts[:i])} is not set in the experiment; set it there "
                                 "first (e.g. early_stopping: {patience: 5}) to tune its fields")
            if last:
                return node, key
            annotation = field.annotation
            child = node.get(key) if isinstance(node, dict) else None
            if child is None and create and _model_class(annotation, {}) is not None:
                child = node[key] = {}
            node = child
        elif isinstance(node, list):
            index = _list_index(node, part)
            if index is None:
                names = [e.get("type") for e in node if isinstance(e, dict)]
                raise _unknown(path, data, f"'{part}' picks no entry of {'.'.join(parts[:i])} (its entries: "
                                           f"{', '.join(map(str, names)) or 'none'}; give an index or a name "
                                           "that appears once)")
            if last:
                return node, index
            annotation, node = _element(annotation), node[index]
        elif isinstance(node, dict) or (node is None and _is_mapping(annotation)):
            if node is None:
                if not create:
                    return {}, part
                raise ValueError(f"{path}: {'.'.join(parts[:i])} is not set in the experiment; set it first")
            if last:
                return node, part
            annotation, node = Any, node.get(part)
            if node is None and create:
                node = {}
        else:
            raise _unknown(path, data, f"{'.'.join(parts[:i])} is a value, not a section with fields")
    raise ValueError(f"'{path}' is an empty path; give a field such as train.optimizer.lr")


def _list_index(node: list[Any], part: str) -> int | None:
    if part.isdigit():
        return int(part) if int(part) < len(node) else None
    matches = [i for i, e in enumerate(node) if isinstance(e, dict) and e.get("type") == part]
    return matches[0] if len(matches) == 1 else None


def _unknown(path: str, data: dict[str, Any], why: str) -> ValueError:
    nearest = difflib.get_close_matches(path, valid_paths(data), n=4, cutoff=0.5)
    hint = f" Nearest valid paths: {', '.join(nearest)}." if nearest else ""
    return ValueError(f"unknown path '{path}': {why}.{hint}")


def valid_paths(data: dict[str, Any]) -> list[str]:
    """Every path a space may name in this experiment (``data``: the experiment as a mapping): the schema's
    fields, the keys of its free mappings (``model.params``) and its list entries by index and by name."""
    from practica.config.schema import ExperimentSpec

    out: list[str] = []

    def visit(annotation: Any, node: Any, prefix: str, depth: int) -> None:
        if depth > 6:
            return
        model = _model_class(annotation, node)
        if model is not None:
            for name, field in model.model_fields.items():
                if name in ("tune", "name", "description") and model is ExperimentSpec:
                    continue
                key = field.alias or name
                out.append(prefix + key)
                child = node.get(key) if isinstance(node, dict) else None
                visit(field.annotation, child, f"{prefix}{key}.", depth + 1)
        elif isinstance(node, list):
            for i, entry in enumerate(node):
                names = [str(i)] + ([entry["type"]] if isinstance(entry, dict) and "type" in entry else [])
                for label in names:
                    out.append(prefix + label)
                    visit(_element(annotation), entry, f"{prefix}{label}.", depth + 1)
        elif isinstance(node, dict):
            for key, value in node.items():
                out.append(prefix + str(key))
                visit(Any, value, f"{prefix}{key}.", depth + 1)

    visit(ExperimentSpec, data, "", 0)
    return out


def _members(annotation: Any) -> list[Any]:
    """``annotation`` without Annotated and Optional wrappers, its union's members flattened."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [m for a in get_args(annotation) if a is not type(None) for m in _members(a)]
    return [annotation]


def _model_class(annotation: Any, node: Any) -> type[BaseModel] | None:
    """The pydantic model ``annotation`` stands for at ``node`` (a union of tagged specs: the one whose tag
    ``node`` carries); None for a list, a mapping or a value."""
    models = [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
    if len(models) > 1 and isinstance(node, dict):
        tagged = [m for m in models if "type" in m.model_fields
                  and node.get("type") in get_args(m.model_fields["type"].annotation)]
        models = tagged or models
    return models[0] if models and not isinstance(node, list) else None


def _element(annotation: Any) -> Any:
    for member in _members(annotation):
        if get_origin(member) is list and get_args(member):
            return get_args(member)[0]
    return Any


def _is_mapping(annotation: Any) -> bool:
    return any(get_origin(m) is dict for m in _members(annotation))
