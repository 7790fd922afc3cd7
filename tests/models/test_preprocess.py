"""A table's preprocessing: fitted on the rows it is given only, and the same in numpy, torch and ONNX."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import torch
from onnx import TensorProto, helper

from practica.data.sources.tabular import UNKNOWN_CODE, Column, TableSchema
from practica.models.preprocess import (
    MISSING_SLOT,
    PREPROCESSING,
    TablePreprocessing,
    TableTransformer,
)

NAN = np.nan
SCHEMA = TableSchema((Column("size", "numeric"), Column("colour", "categorical", ("blue", "green", "red")),
                      Column("age", "numeric")), "y")
# Training rows: 'red' (code 2) never appears; colour is missing once, age twice (once infinite).
TRAIN = np.array([[1.0, 0, 10], [2.0, 1, NAN], [3.0, NAN, 30], [6.0, 0, np.inf]], dtype=np.float32)
# Rows met later: a missing size, a category unseen in training (red), one unknown to the vocabulary.
LATER = np.array([[NAN, 2, 20], [4.0, UNKNOWN_CODE, 0], [2.0, NAN, NAN], [1.0, 1, 10]], dtype=np.float32)


def test_statistics_and_slots_come_from_the_rows_given() -> None:
    fitted = TablePreprocessing.fit(TRAIN, SCHEMA)
    size, age = fitted.numeric
    assert size.median == 2.5 and size.mean == 3.0 and not size.indicator
    assert age.median == 20.0 and age.indicator  # the median of the finite values 10, 30
    (colour,) = fitted.categorical
    assert colour.labels == ("blue", "green", MISSING_SLOT)  # red was never seen in training
    assert fitted.output_names == (
        "size", "age", "age (missing)", "colour=blue", "colour=green", f"colour={MISSING_SLOT}"
    )
    out = fitted.transform(LATER)
    assert out.shape == (4, fitted.width) and np.isfinite(out).all()
    np.testing.assert_allclose(out[0, 0], (2.5 - 3.0) / size.std, rtol=1e-6)  # missing size → the median
    np.testing.assert_array_equal(out[:, 3:], [[0, 0, 0], [0, 0, 0], [0, 0, 1], [0, 1, 0]])  # unseen, unknown: zeros
    np.testing.assert_array_equal(out[:, 2], [0, 0, 1, 0])  # age missing in the third row


def test_fitting_on_training_rows_only_differs_from_fitting_on_everything() -> None:
    """A transformer fitted on all the data would standardise with the later rows' statistics and give
    red a slot; fitted on training rows it must not."""
    on_train = TableTransformer(SCHEMA).fit(TRAIN).preprocessing_
    on_all = TableTransformer(SCHEMA).fit(np.concatenate([TRAIN, LATER])).preprocessing_
    assert "colour=red" in on_all.output_names and "colour=red" not in on_train.output_names
    assert on_train.numeric[0].mean == float(np.mean([1, 2, 3, 6]))
    assert on_train != on_all


def test_numpy_torch_and_onnx_agree_exactly() -> None:
    fitted = TablePreprocessing.fit(TRAIN, SCHEMA)
    rows = np.concatenate([TRAIN, LATER])
    expected = fitted.transform(rows)
    with torch.no_grad():
        got_torch = fitted.module()(torch.from_numpy(rows)).numpy()
    np.testing.assert_array_equal(got_torch, expected)
    nodes, init = fitted.onnx_nodes("features", "out")
    graph = helper.make_graph(nodes, "pre", [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 3])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, fitted.width])], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(session.run(None, {"features": rows})[0], expected)


def test_the_record_round_trips() -> None:
    fitted = TablePreprocessing.fit(TRAIN, SCHEMA)
    assert PREPROCESSING.validate_python(PREPROCESSING.dump_python(fitted, mode="json")) == fitted
