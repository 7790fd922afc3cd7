"""A CSV table's preprocessing, fitted on the training split, travelling with the model.

The data stage hands a table on raw (``data/sources/tabular.py``: numbers with NaN for missing,
categories as vocabulary codes). ``TablePreprocessing.fit(train_x, schema)`` learns, from the
training rows only:

- numeric columns: the median (imputed for a missing or infinite value), then the mean and
  standard deviation it is standardised with; a missing-indicator column when the training rows
  had missing values in it;
- categorical columns: one one-hot slot per category seen in training, and a ``(missing)`` slot
  when training rows had it missing. A category not seen in training (nor in the vocabulary:
  ``UNKNOWN_CODE``) sets no slot: all zeros.

The same transform exists three times, computing bit-identical float32 values: ``transform``
(numpy, for the scikit-learn baselines: ``TableTransformer`` in front of the estimator),
``TablePreprocess`` (a torch module in front of a network, replacing its mean/std normalisation,
exported by torch's ONNX exporter) and ``onnx_nodes`` (prepended to a baseline's skl2onnx graph).
Example::

    fitted = TablePreprocessing.fit(train.x, train.table)
    inputs = fitted.transform(test.x)  # (N, fitted.width) float32, no NaN
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import SerializerFunctionWrapHandler, TypeAdapter, WrapSerializer
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from torch import nn

from practica.data.sources.tabular import TableSchema

MISSING_SLOT = "(missing)"
MISSING_CODE = -2.0  # a categorical NaN, as the one-hot comparison sees it (codes are >= 0, unknown -1)


@dataclass(frozen=True)
class NumericStep:
    column: int  # index into the raw row
    name: str
    median: float
    mean: float
    std: float
    indicator: bool  # a 0/1 "was missing" input follows


@dataclass(frozen=True)
class CategoricalStep:
    column: int
    name: str
    codes: tuple[float, ...]  # vocabulary codes with a slot (MISSING_CODE for the missing slot)
    labels: tuple[str, ...]  # each slot's category


@dataclass(frozen=True)
class TablePreprocessing:
    """The fitted transform: raw N×F rows → N×``width`` model inputs (standardised, indicators, one-hot)."""

    numeric: tuple[NumericStep, ...]
    categorical: tuple[CategoricalStep, ...]
    n_inputs: int

    @classmethod
    def fit(cls, x: np.ndarray, schema: TableSchema) -> TablePreprocessing:
        """Learn the transform from ``x``, the training rows only."""
        x = np.asarray(x, dtype=np.float32)
        numeric, categorical = [], []
        for j, col in enumerate(schema.columns):
            v = x[:, j]
            if col.kind == "numeric":
                finite = np.isfinite(v)
                median = np.float32(np.median(v[finite])) if finite.any() else np.float32(0.0)
                filled = np.where(finite, v, median).astype(np.float64)
                mean = float(filled.mean()) if len(filled) else 0.0
                std = float(filled.std()) if len(filled) else 1.0
                numeric.append(NumericStep(j, col.name, float(median), mean, std if std > 1e-6 else 1.0,
                                           bool((~finite).any())))
            else:
                missing = np.isnan(v)
                seen = np.unique(v[~missing]).astype(int).tolist()
                codes = [float(c) for c in seen] + ([MISSING_CODE] if missing.any() else [])
                labels = [col.categories[c] for c in seen] + ([MISSING_SLOT] if missing.any() else [])
                categorical.append(CategoricalStep(j, col.name, tuple(codes), tuple(labels)))
        return cls(tuple(numeric), tuple(categorical), len(schema.columns))

    @property
    def width(self) -> int:
        return len(self.numeric) + sum(s.indicator for s in self.numeric) + sum(len(s.codes) for s in self.categorical)

    @property
    def output_names(self) -> tuple[str, ...]:
        """What each model input is: ``bill_length_mm``, ``bill_length_mm (missing)``, ``island=Biscoe``."""
        return (tuple(s.name for s in self.numeric) + tuple(f"{s.name} (missing)" for s in self.numeric if s.indicator)
                + tuple(f"{s.name}={label}" for s in self.categorical for label in s.labels))

    def _arrays(self) -> dict[str, np.ndarray]:
        f32, i64 = np.float32, np.int64
        return {
            "num_cols": np.array([s.column for s in self.numeric], dtype=i64),
            "median": np.array([s.median for s in self.numeric], dtype=f32),
            "mean": np.array([s.mean for s in self.numeric], dtype=f32),
            "std": np.array([s.std for s in self.numeric], dtype=f32),
            "ind_pos": np.array([k for k, s in enumerate(self.numeric) if s.indicator], dtype=i64),
            "slot_cols": np.array([s.column for s in self.categorical for _ in s.codes], dtype=i64),
            "slot_codes": np.array([c for s in self.categorical for c in s.codes], dtype=f32),
        }

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Raw rows (N×F float32) → model inputs (N×width float32)."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ValueError(f"the preprocessing takes rows of {self.n_inputs} columns, got shape {x.shape}")
        a = self._arrays()
        num = x[:, a["num_cols"]]
        finite = np.isfinite(num)
        z = (np.where(finite, num, a["median"]) - a["mean"]) / a["std"]
        ind = (~finite[:, a["ind_pos"]]).astype(np.float32)
        cat = x[:, a["slot_cols"]]
        onehot = (np.where(np.isnan(cat), np.float32(MISSING_CODE), cat) == a["slot_codes"]).astype(np.float32)
        return np.concatenate([z.astype(np.float32), ind, onehot], axis=1)

    def module(self) -> TablePreprocess:
        return TablePreprocess(self)

    def onnx_nodes(self, input_name: str, output_name: str) -> tuple[list, list]:
        """ONNX nodes and initialisers computing ``transform`` from ``input_name`` into ``output_name``."""
        from onnx import TensorProto, helper, numpy_helper

        a = self._arrays()
        init = [numpy_helper.from_array(v, f"tp_{k}") for k, v in a.items()]
        init.append(numpy_helper.from_array(np.array(MISSING_CODE, dtype=np.float32), "tp_missing_code"))
        node = helper.make_node
        nodes = [
            node("Gather", [input_name, "tp_num_cols"], ["tp_num"], axis=1),
            node("IsNaN", ["tp_num"], ["tp_num_nan"]),
            node("IsInf", ["tp_num"], ["tp_num_inf"]),
            node("Or", ["tp_num_nan", "tp_num_inf"], ["tp_num_bad"]),
            node("Where", ["tp_num_bad", "tp_median", "tp_num"], ["tp_filled"]),
            node("Sub", ["tp_filled", "tp_mean"], ["tp_centred"]),
            node("Div", ["tp_centred", "tp_std"], ["tp_z"]),
            node("Gather", ["tp_num_bad", "tp_ind_pos"], ["tp_ind_bool"], axis=1),
            node("Cast", ["tp_ind_bool"], ["tp_ind"], to=TensorProto.FLOAT),
            node("Gather", [input_name, "tp_slot_cols"], ["tp_cat"], axis=1),
            node("IsNaN", ["tp_cat"], ["tp_cat_nan"]),
            node("Where", ["tp_cat_nan", "tp_missing_code", "tp_cat"], ["tp_cat_coded"]),
            node("Equal", ["tp_cat_coded", "tp_slot_codes"], ["tp_hot_bool"]),
            node("Cast", ["tp_hot_bool"], ["tp_hot"], to=TensorProto.FLOAT),
            node("Concat", ["tp_z", "tp_ind", "tp_hot"], [output_name], axis=1),
        ]
        return nodes, init



def _with_outputs(fitted: TablePreprocessing, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
    return {**handler(fitted), "outputs": list(fitted.output_names)}


PREPROCESSING = TypeAdapter(Annotated[TablePreprocessing, WrapSerializer(_with_outputs)])
"""A fitted ``TablePreprocessing`` as the run's meta and the bundle card hold it (``dump_python(fitted, mode="json")``:
its steps, ``n_inputs`` and the model inputs' names as ``outputs``) and back (``validate_python``)."""


class TablePreprocess(nn.Module):
    """``TablePreprocessing.transform`` as a torch module (buffers), in front of a network."""

    # buffers registered in __init__ from ``TablePreprocessing._arrays``
    num_cols: torch.Tensor
    median: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    ind_pos: torch.Tensor
    slot_cols: torch.Tensor
    slot_codes: torch.Tensor

    def __init__(self, fitted: TablePreprocessing) -> None:
        super().__init__()
        self.fitted = fitted
        for k, v in fitted._arrays().items():
            self.register_buffer(k, torch.from_numpy(v))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, F) raw rows; returns (B, width) model inputs."""
        num = x.index_select(1, self.num_cols)
        finite = torch.isfinite(num)
        z = (torch.where(finite, num, self.median) - self.mean) / self.std
        ind = (~finite).index_select(1, self.ind_pos).float()
        cat = x.index_select(1, self.slot_cols)
        coded = torch.where(torch.isnan(cat), torch.full_like(cat, MISSING_CODE), cat)
        onehot = (coded == self.slot_codes).float()
        return torch.cat([z, ind, onehot], dim=1)


class TableTransformer(TransformerMixin, BaseEstimator):
    """The preprocessing as a scikit-learn step: ``fit`` learns it from the rows it is given (the
    training split), ``transform`` applies it."""

    def __init__(self, schema: TableSchema | None = None) -> None:
        self.schema = schema

    def fit(self, x: np.ndarray, y: Any = None) -> TableTransformer:
        if self.schema is None:  # the default exists only for scikit-learn's clone/get_params
            raise ValueError("TableTransformer needs the table's schema to fit")
        self.preprocessing_ = TablePreprocessing.fit(x, self.schema)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return self.preprocessing_.transform(x)


def with_table(estimator: BaseEstimator, schema: TableSchema) -> Pipeline:
    """``estimator`` (or pipeline) with the table's preprocessing as its first step."""
    steps = list(estimator.steps) if isinstance(estimator, Pipeline) else [("model", estimator)]
    return Pipeline([("table", TableTransformer(schema)), *steps])


def table_step(estimator: BaseEstimator) -> tuple[TablePreprocessing, BaseEstimator] | None:
    """A fitted ``with_table`` pipeline's preprocessing and the estimator after it; None for any other."""
    if isinstance(estimator, Pipeline) and isinstance(estimator.steps[0][1], TableTransformer):
        rest = estimator.steps[1:]
        return estimator.steps[0][1].preprocessing_, (rest[0][1] if len(rest) == 1 else Pipeline(rest))
    return None


def fitted_preprocessing(model: Any) -> TablePreprocessing | None:
    """The fitted table preprocessing inside a network (``Classifier``) or baseline, if it has one."""
    found = table_step(model) if isinstance(model, BaseEstimator) else None
    if found is not None:
        return found[0]
    pre = getattr(model, "preprocess", None)
    return getattr(pre, "fitted", None)
