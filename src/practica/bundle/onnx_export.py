"""Models → one self-contained ONNX file taking raw inputs and giving class probabilities.

The graph's input is what the data stage stores: ``images`` uint8 N×H×W×C, or ``features``
float32 N×F. Scaling, layout and normalisation are inside the graph, so a client (the server,
or any ONNX runtime) needs no preprocessing code of ours beyond decoding and resizing.

A text model's graph starts after its tokenizer (which travels beside it as ``tokenizer.json``):
a network takes ``ids`` int64 N×max_length, a baseline ``counts`` float32 N×vocab_size (its
pipeline from the step after ``TokenCounts``: tf-idf, then the estimator).

A network's graph has a second output, ``embedding``: its penultimate features (what its head
takes), from which the bundle's out-of-distribution statistics are fitted and scored (``ood.py``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from practica.bundle.inputs import InputSpec
from practica.errors import BundleError

OUTPUT = "probabilities"
VALUE_OUTPUT = "value"  # a regressor's output: (N, 1) predicted values in the target's units
EMBEDDING_OUTPUT = "embedding"  # a network's (N, D) penultimate features
OPSET = 18


def output_name(regression: bool) -> str:
    return VALUE_OUTPUT if regression else OUTPUT


def input_name(spec: InputSpec) -> str:
    if spec.kind == "text":
        return spec.text_input or "ids"
    return "images" if spec.kind == "image" else "features"


class RawInputModel(nn.Module):
    """Classifier with the data stage's raw layout in and softmax probabilities out; a ``Regressor``'s
    (N, 1) values out as they are. With ``embedding``, also the (N, D) penultimate features: the head's
    input, averaged over the views of a network that predicts from several (``fastnet``'s test-time
    augmentation runs its head once on all of them)."""

    def __init__(self, classifier: nn.Module, kind: str, *, embedding: bool = False) -> None:
        super().__init__()
        self.classifier = classifier
        self.kind = kind
        self.embedding = embedding
        self._captured: list[torch.Tensor] = []
        self._hook = None
        if embedding:
            from practica.models.transfer import head_name

            body = getattr(classifier, "body", classifier)
            # Registered once, here: the exporter traces the hook as part of the graph. It keeps the last
            # head input only, so a network used after it (the parity check) holds no more than a batch.
            self._hook = body.get_submodule(head_name(body)).register_forward_hook(
                lambda _module, inputs, _output: self._captured.__setitem__(slice(None), [inputs[0]]))

    def close(self) -> None:
        """Take the embedding's hook off the network (``embedding`` models only work until then)."""
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        self._captured.clear()

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if self.kind == "image":
            x = x.permute(0, 3, 1, 2).float() / 255.0
        from practica.models.classifier import Regressor

        self._captured.clear()
        out = self.classifier(x)
        out = out if isinstance(self.classifier, Regressor) else torch.softmax(out, dim=1)
        if not self.embedding:
            return out
        features = self._captured[-1].flatten(1)  # (views · N, D)
        return out, features.reshape(-1, x.shape[0], features.shape[1]).mean(0)


@contextlib.contextmanager
def _quiet_exporter():
    """The dynamo exporter logs warnings (missing torchvision ops, ...) that mean nothing here."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def torch_to_onnx(classifier: nn.Module, spec: InputSpec, path: Path) -> None:
    """The network as ``model.onnx``: raw inputs in; probabilities (or values) and the embedding out."""
    from practica.models.classifier import Regressor

    model = RawInputModel(classifier, spec.kind, embedding=True).eval()
    output = output_name(isinstance(classifier, Regressor))
    dtype = {"image": torch.uint8, "text": torch.int64}.get(spec.kind, torch.float32)
    example = torch.zeros((2, *spec.model_shape), dtype=dtype)
    if spec.kind == "text":
        example[:, 0] = 1  # every text has a token (UNK at least): padding alone is no input the model meets
    batch = torch.export.Dim("batch", min=1, max=65536)
    try:
        with _quiet_exporter():
            torch.onnx.export(
                model, (example,), str(path), dynamo=True, opset_version=OPSET,
                input_names=[input_name(spec)], output_names=[output, _PENULTIMATE],
                dynamic_shapes={"x": {0: batch}}, external_data=False, optimize=True,
            )
    except Exception as err:  # the exporter raises many types; all mean "this model does not export"
        raise BundleError(f"ONNX export of the network failed: {type(err).__name__}: {str(err)[:500]}") from None
    finally:
        model.close()
    # The exporter names values after their ops: a text network's token lookup is "embedding" too.
    _rename_values(path, {EMBEDDING_OUTPUT: "token_embedding", _PENULTIMATE: EMBEDDING_OUTPUT})


_PENULTIMATE = "penultimate_features"  # the embedding output's name while exporting (see _rename_values)


def _rename_values(path: Path, names: dict[str, str]) -> None:
    """Rename values of the ONNX graph at ``path`` (each name once: the mapping is not applied twice)."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    for values in (graph.input, graph.output, graph.value_info):
        for v in values:
            v.name = names.get(v.name, v.name)
    for init in graph.initializer:
        init.name = names.get(init.name, init.name)
    onnx.save(model, str(path))


def _split_tfidf(estimator):
    """(the pipeline's leading ``TfidfTransformer`` or None, what follows it)."""
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, TfidfTransformer):
        raise BundleError("the text baseline ends in its tf-idf weighting; it has no classifier to export")
    if isinstance(estimator, Pipeline) and isinstance(estimator.steps[0][1], TfidfTransformer):
        rest = estimator.steps[1:]
        return estimator.steps[0][1], (rest[0][1] if len(rest) == 1 else Pipeline(rest))
    return None, estimator


def tfidf_nodes(tfidf, name: str, out: str) -> tuple[list, list]:
    """ONNX nodes computing a fitted ``TfidfTransformer`` on token counts, as scikit-learn does on its sparse
    counts: a sublinear tf is 1 + log(count) for a count above 0, and 0 for none (skl2onnx's own converter
    takes log(1 + count), which is not it), then times the idf, then each row over its l2 (or l1) norm."""
    from onnx import TensorProto, helper, numpy_helper

    def const(value, label):
        return numpy_helper.from_array(np.asarray(value, dtype=np.float32), label)

    nodes, inits = [], [const(0.0, "tf_zero"), const(1.0, "tf_one"), const(1e-30, "tf_tiny")]
    tf = name
    if tfidf.sublinear_tf:
        nodes += [helper.make_node("Max", [name, "tf_one"], ["tf_atleast1"]),
                  helper.make_node("Log", ["tf_atleast1"], ["tf_log"]),
                  helper.make_node("Add", ["tf_log", "tf_one"], ["tf_log1"]),
                  helper.make_node("Greater", [name, "tf_zero"], ["tf_present"]),
                  helper.make_node("Cast", ["tf_present"], ["tf_mask"], to=TensorProto.FLOAT),
                  helper.make_node("Mul", ["tf_log1", "tf_mask"], ["tf_sub"])]
        tf = "tf_sub"
    if tfidf.use_idf:
        inits.append(const(tfidf.idf_, "tf_idf"))
        nodes.append(helper.make_node("Mul", [tf, "tf_idf"], ["tf_weighted"]))
        tf = "tf_weighted"
    if tfidf.norm in ("l1", "l2"):
        reduce = "ReduceL2" if tfidf.norm == "l2" else "ReduceL1"
        inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "tf_axes"))
        nodes += [helper.make_node(reduce, [tf, "tf_axes"], ["tf_norm"], keepdims=1),
                  helper.make_node("Max", ["tf_norm", "tf_tiny"], ["tf_norm_safe"]),  # an empty row stays 0
                  helper.make_node("Div", [tf, "tf_norm_safe"], [out])]
    else:
        nodes.append(helper.make_node("Identity", [tf], [out]))
    return nodes, inits


def sklearn_to_onnx(estimator, spec: InputSpec, num_classes: int, path: Path) -> None:
    """A fitted scikit-learn classifier, with image flattening/scaling before it and its
    probabilities widened to every class of the data set after it (a subsample may lack some).
    ``num_classes`` 0: a regressor, its (N, 1) values out as ``value``."""
    regression = num_classes == 0
    OUTPUT = output_name(regression)  # the module's name, or a regressor's
    import onnx
    from onnx import TensorProto, compose, helper, numpy_helper
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    from practica.models.preprocess import table_step

    table = table_step(estimator)  # a CSV table's preprocessing: ONNX nodes in front, the rest to skl2onnx
    if table is not None:
        fitted, estimator = table
    tfidf = None
    if spec.kind == "text":  # a text baseline's tf-idf: ONNX nodes of our own in front (see tfidf_nodes)
        tfidf, estimator = _split_tfidf(estimator)
    n_features = fitted.width if table is not None else int(np.prod(spec.model_shape))
    try:
        with _quiet_exporter():
            core = to_onnx(estimator, initial_types=[("flat", FloatTensorType([None, n_features]))],
                           options={} if regression else {id(estimator): {"zipmap": False}},
                           target_opset={"": OPSET, "ai.onnx.ml": 3})
    except Exception as err:
        raise BundleError(f"ONNX export of the scikit-learn model failed: {type(err).__name__}: {err}") from None
    proba_name = next(o.name for o in core.graph.output if o.name != "label")

    name = input_name(spec)
    onnx_in = TensorProto.UINT8 if spec.kind == "image" else TensorProto.FLOAT
    pre_nodes = [helper.make_node("Reshape", [name, "flat_shape"], ["flat_raw"])]
    pre_init = [numpy_helper.from_array(np.array([-1, n_features], dtype=np.int64), "flat_shape")]
    if table is not None:
        pre_nodes, pre_init = fitted.onnx_nodes(name, "flat_out")
    elif spec.kind == "image":
        # Div, not Mul by 1/255: bit-identical to the training features, so tree thresholds agree.
        pre_nodes += [helper.make_node("Cast", ["flat_raw"], ["flat_f"], to=TensorProto.FLOAT),
                      helper.make_node("Div", ["flat_f", "c255"], ["flat_out"])]
        pre_init.append(numpy_helper.from_array(np.array(255.0, dtype=np.float32), "c255"))
    elif tfidf is not None:
        nodes, inits = tfidf_nodes(tfidf, "flat_raw", "flat_out")
        pre_nodes += nodes
        pre_init += inits
    else:
        pre_nodes.append(helper.make_node("Identity", ["flat_raw"], ["flat_out"]))
    pre = helper.make_graph(
        pre_nodes, "preprocess",
        [helper.make_tensor_value_info(name, onnx_in, [None, *spec.model_shape])],
        [helper.make_tensor_value_info("flat_out", TensorProto.FLOAT, [None, n_features])], pre_init,
    )
    if regression:  # one value: the "widening" is the identity
        widen = np.ones((1, 1), dtype=np.float32)
    else:
        widen = np.zeros((len(estimator.classes_), num_classes), dtype=np.float32)
        widen[np.arange(len(estimator.classes_)), np.asarray(estimator.classes_, dtype=int)] = 1.0
    n_in, n_out = widen.shape
    post = helper.make_graph(
        [helper.make_node("Cast", ["proba_in"], ["proba_f"], to=TensorProto.FLOAT),
         helper.make_node("MatMul", ["proba_f", "widen"], [OUTPUT])], "widen",
        [helper.make_tensor_value_info("proba_in", TensorProto.FLOAT, [None, n_in])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [None, n_out])],
        [numpy_helper.from_array(widen, "widen")],
    )
    opsets = {op.domain: op.version for op in core.opset_import}
    opset_list = [helper.make_opsetid(d, v) for d, v in opsets.items()]
    pre_model = helper.make_model(pre, opset_imports=opset_list, ir_version=core.ir_version)
    post_model = helper.make_model(post, opset_imports=opset_list, ir_version=core.ir_version)
    core.graph.ClearField("output")
    core.graph.output.extend([helper.make_tensor_value_info(proba_name, TensorProto.FLOAT, [None, n_in])])
    merged = compose.merge_models(pre_model, core, io_map=[("flat_out", "flat")], prefix2="m_")
    merged = compose.merge_models(merged, post_model, io_map=[("m_" + proba_name, "proba_in")], prefix2="w_")
    # merge_models prefixes the second graph's names; the output keeps a plain, documented name.
    for node in merged.graph.node:
        node.output[:] = [OUTPUT if o == "w_" + OUTPUT else o for o in node.output]
    for out in merged.graph.output:
        if out.name == "w_" + OUTPUT:
            out.name = OUTPUT
    onnx.checker.check_model(merged)
    onnx.save(merged, str(path))
