"""Every text network exports to ONNX (int64 ``ids`` in, dynamic batch, probabilities and the embedding out)
and the graph agrees with eager PyTorch on random texts of random lengths: for ``text_rnn`` the eager side
is the packed path and the graph the unpacked one; for ``text_transformer`` eager evaluation is what a
served model would run.

The bundle's own export (``bundle/onnx_export.torch_to_onnx``) wraps the classifier the same way; this
test calls the exporter directly so that it checks the networks alone.
"""

import contextlib
import io
import logging
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch
from test_text_nets import random_ids

from practica.bundle.onnx_export import RawInputModel
from practica.config.schema import ModelSpec
from practica.models.registry import build_network

CASES = {
    "text_bag": {"dim": 16, "hidden": 16},
    "text_cnn": {"dim": 16, "widths": [2, 3, 5], "filters": 8},
    "text_rnn-lstm": {"cell": "lstm", "dim": 16, "hidden": 12, "layers": 2},
    "text_rnn-gru": {"cell": "gru", "dim": 16, "hidden": 12, "layers": 2},
    "text_rnn-rnn": {"cell": "rnn", "dim": 16, "hidden": 12, "layers": 2, "bidirectional": False},
    "text_transformer": {"dim": 32, "heads": 4, "layers": 2, "ff": 64},
}
VOCAB = 200


def _export(model: torch.nn.Module, length: int, path) -> ort.InferenceSession:
    """Exported as the bundle does, but the outputs are named after export: the exporter names the value of
    ``aten.embedding`` "embedding" and renames an output to a name already taken without a check, which gives an
    invalid graph (torch 2.13; see ``test_the_exporter_renames_an_output_onto_an_inner_value``)."""
    batch = torch.export.Dim("batch", min=1, max=65536)
    example = torch.ones((2, length), dtype=torch.int64)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        program = torch.onnx.export(model, (example,), dynamo=True, opset_version=18, input_names=["ids"],
                                    dynamic_shapes={"x": {0: batch}}, optimize=True)
    _name_outputs(program.model, ["probabilities", "embedding"])
    program.save(str(path), external_data=False)
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _name_outputs(model, names: list[str]) -> None:
    """Outputs renamed, inner values that already had those names renamed first."""
    outputs = set(map(id, model.graph.outputs))
    for node in model.graph:
        for value in node.outputs:
            if value.name in names and id(value) not in outputs:
                value.name = f"{value.name}_inner"
    for value, name in zip(model.graph.outputs, names, strict=True):
        value.name = name


# A text_rnn export takes 10-95 s on two busy cores (longer at a larger max_length): slow tests.
SLOW = pytest.mark.slow


@pytest.mark.parametrize("length", [32, pytest.param(128, marks=SLOW)])
@pytest.mark.parametrize("case", [pytest.param(c, marks=SLOW) if c.startswith("text_rnn") else c for c in CASES])
def test_the_exported_graph_agrees_with_eager(case, length, tmp_path):
    torch.manual_seed(0)
    net = build_network(ModelSpec(arch=case.split("-")[0], params=CASES[case]), (length,), 5, vocab_size=VOCAB)
    model = RawInputModel(net.eval(), "text", embedding=True).eval()
    session = _export(model, length, tmp_path / "model.onnx")
    ids = random_ids(64, length, seed=length, vocab=VOCAB)
    ids[0, 1:] = 0  # a single token
    ids[1] = torch.randint(1, VOCAB, (length,))  # no padding at all
    with torch.no_grad():
        probabilities, embedding = model(ids)
    for batch in (ids, ids[:1]):  # the batch size is free
        onnx_probabilities, onnx_embedding = session.run(None, {"ids": batch.numpy()})
        np.testing.assert_allclose(onnx_probabilities, probabilities[: len(batch)].numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(onnx_embedding, embedding[: len(batch)].numpy(), atol=1e-4, rtol=1e-4)
    model.close()


def test_the_exporter_renames_an_output_onto_an_inner_value(tmp_path):
    """Why ``_export`` names the outputs itself: ``output_names=[..., "embedding"]`` on a network with an
    ``nn.Embedding`` gives a graph that ONNX Runtime refuses. When this fails, the exporter has been fixed and
    ``bundle/onnx_export.torch_to_onnx`` can name its outputs directly again."""
    net = build_network(ModelSpec(arch="text_bag", params={"dim": 4}), (8,), 2, vocab_size=VOCAB).eval()
    model = RawInputModel(net, "text", embedding=True).eval()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.ones((2, 8), dtype=torch.int64),), str(tmp_path / "m.onnx"), dynamo=True,
                          opset_version=18, input_names=["ids"], output_names=["probabilities", "embedding"],
                          external_data=False, optimize=True)
    model.close()
    with pytest.raises(Exception, match="Duplicate definition of name \\(embedding\\)"):
        ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
