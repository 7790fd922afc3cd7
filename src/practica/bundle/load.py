"""Open a bundle: verify its manifest first, then read its card and start ONNX Runtime on it."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from pydantic import ValidationError

from practica.bundle.card import BundleCard, CardThreshold
from practica.bundle.inputs import INPUT_SPEC, InputSpec
from practica.bundle.layout import (
    BUNDLE_FILE,
    BUNDLE_SCHEMA_VERSION,
    ONNX_FILE,
    REFERENCE_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
)
from practica.bundle.manifest import verify_manifest
from practica.errors import BundleError
from practica.io import read_json
from practica.tasks import get_task
from practica.tasks.classification import labels_at_threshold

if TYPE_CHECKING:
    from practica.data.tokenizer import TextTokenizer


class Inference(NamedTuple):
    """What one ONNX call gives: ``outputs`` (as ``predict_proba``) and a network's ``embedding`` (N×D float32;
    None for a scikit-learn model or a bundle exported before embeddings)."""

    outputs: np.ndarray
    embedding: np.ndarray | None


class Bundle:
    """A verified bundle. ``predict_proba`` and ``infer`` run the ONNX model; ``torch_model`` rebuilds the network."""

    def __init__(self, root: Path, card: dict[str, Any], sha256: dict[str, str], threads: int | None = None) -> None:
        self.root = root
        self.card = card  # as written: what /v1/model serves
        self.meta = validate_card(card, root / BUNDLE_FILE)
        self.sha256 = sha256
        self.input = _input_spec(self.meta, root / BUNDLE_FILE)
        self.classes: tuple[str, ...] = self.meta.output.classes
        self.threads = threads
        if self.input.kind == "text" and TOKENIZER_FILE not in sha256:
            raise BundleError(f"{root} holds a text model but no {TOKENIZER_FILE}, without which no text can be "
                              "tokenised as in training. Export the bundle again from its run "
                              "(practica export RUN_DIR)")

    @property
    def version(self) -> str:
        return self.meta.version

    @property
    def kind(self) -> str:
        return self.meta.model.kind

    @property
    def task(self) -> str:
        """"classification" (probabilities out) or "regression" ((N, 1) values out)."""
        return self.meta.task

    @property
    def threshold(self) -> CardThreshold | None:
        """The decision threshold on the positive class's probability, when the model has one in force."""
        rule = self.meta.threshold
        return rule if rule is not None and rule.value is not None else None

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """(N, classes) probabilities → (N,) predicted class indices: the positive class where its probability
        reaches the card's threshold, the most probable class when the card has none. What ``practica predict``
        and ``practica serve`` answer."""
        rule = self.threshold
        if rule is None or rule.value is None:
            return probs.argmax(1)
        return labels_at_threshold(probs, self.classes.index(rule.positive), rule.value)

    def predict_values(self, x: np.ndarray) -> np.ndarray:
        """A regressor's (N,) predicted values for (N, *input shape) raw inputs."""
        return self.predict_proba(x).reshape(-1)

    @cached_property
    def session(self):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads or min(4, os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        # Spinning idle threads burn a core between calls (measured: batch-1 calls 3 ms apart cost
        # 3.0 ms of CPU each with it, 0.6 ms without), CPU the HTTP server needs for its requests.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(str(self.root / ONNX_FILE), opts, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own untyped errors
            raise BundleError(f"ONNX Runtime cannot load {self.root / ONNX_FILE}: {err}") from None
        _check_signature(self.meta, session, self.root)
        return session

    def release_session(self) -> None:
        """Drop the ONNX Runtime session (``session`` starts a new one when next used)."""
        self.__dict__.pop("session", None)

    @cached_property
    def tokenizer(self) -> TextTokenizer | None:
        """A text model's tokenizer (``tokenizer.json``, verified by the manifest); None for other models."""
        if self.input.kind != "text":
            return None
        from practica.data.tokenizer import TextTokenizer
        from practica.errors import DataError

        path = self.root / TOKENIZER_FILE
        try:
            tokenizer = TextTokenizer.from_dict(read_json(path))
        except DataError as err:
            raise BundleError(f"{path}: {err}") from None
        except Exception as err:  # noqa: BLE001 — bad JSON, a missing key, or one the tokenizers library refuses
            raise BundleError(f"{path} is not a valid tokenizer ({type(err).__name__}: {str(err)[:300]}). Export "
                              "the bundle again from its run (practica export RUN_DIR)") from None
        if tokenizer.max_length != self.input.shape[0] or tokenizer.vocab_size != self.input.vocab_size:
            raise BundleError(f"{path} cuts texts at {tokenizer.max_length} tokens of a vocabulary of "
                              f"{tokenizer.vocab_size}, but the card says {self.input.shape[0]} and "
                              f"{self.input.vocab_size}. Export the bundle again from its run "
                              "(practica export RUN_DIR)")
        return tokenizer

    def encode(self, x: np.ndarray | list[str]) -> np.ndarray:
        """What the ONNX model takes, from inputs as the data stage stores them: a text model's texts (a list,
        or a 1-D array of str) tokenised as in training (ids, or a baseline's token counts); an array already
        in the model's form, and any other model's inputs, as they are."""
        tokenizer = self.tokenizer
        if tokenizer is None:
            return x if isinstance(x, np.ndarray) else np.asarray(x)
        if isinstance(x, np.ndarray) and x.dtype.kind not in "OUS":
            return x  # already tokenised (``_checked`` checks its shape)
        texts = [str(t) for t in x]
        return tokenizer.encode(texts) if self.input.text_input == "ids" else tokenizer.counts(texts)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(N, *input shape) raw inputs (uint8 images, float32 features, or N texts) → (N, classes) probabilities;
        for a regressor, the model's (N, 1) values (see ``predict_values``)."""
        return self.session.run([self.meta.output.onnx_name], {self.meta.input.onnx_name: self._checked(x)})[0]

    def infer(self, x: np.ndarray) -> Inference:
        """``predict_proba``'s outputs and the embedding, from one ONNX call (what the out-of-distribution
        score takes: ``bundle.ood.OodScorer``)."""
        embedding = self.meta.output.embedding
        names = [self.meta.output.onnx_name] + ([embedding] if embedding else [])
        result = self.session.run(names, {self.meta.input.onnx_name: self._checked(x)})
        return Inference(result[0], result[1] if embedding else None)

    def _checked(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(self.encode(x), dtype=self.input.onnx_dtype)
        if x.shape[1:] != self.input.model_shape:
            raise BundleError(f"inputs of shape {x.shape[1:]} given to a model that takes {self.input.model_shape}")
        return x

    def reference(self) -> dict:
        return read_json(self.root / REFERENCE_FILE)

    def torch_model(self, *, embedding: bool = False):
        """The network as a PyTorch module (raw inputs in, probabilities out; a text network's: token ids, from
        ``encode``), from the weights file; with ``embedding``, (probabilities, embedding) out, as ``infer``
        gives them."""
        if self.kind != "network":
            raise BundleError(f"{self.root} holds a scikit-learn model, which exists only as ONNX in a bundle")
        from practica.bundle.onnx_export import RawInputModel
        from practica.config.schema import ModelSpec
        from practica.models.classifier import build_classifier
        from practica.training.checkpoint import load_tensors

        h_w_c = self.input.shape
        shape = (h_w_c[2], h_w_c[0], h_w_c[1]) if self.input.kind == "image" else h_w_c
        tokenizer = self.tokenizer  # a text network: token ids in (``encode`` makes them), its vocabulary
        model = build_classifier(ModelSpec.model_validate(self.meta.model.spec), shape, len(self.classes),
                                 self.meta.model.preprocessing, task=self.task,
                                 tokenizer=None if tokenizer is None else tokenizer.to_dict())
        tensors, _ = load_tensors(self.root / WEIGHTS_FILE)
        model.load_state_dict(tensors)
        return RawInputModel(model, self.input.kind, embedding=embedding).eval()


def load_bundle(path: str | Path, *, threads: int | None = None) -> Bundle:
    root = Path(path)
    if not root.exists():
        raise BundleError(f"no bundle at {root}; make one with: practica export RUN_DIR "
                          "(a run of practica run writes one to RUN_DIR/bundle)")
    if root.is_file():
        raise BundleError(f"{root} is a file; a bundle is a folder (the one practica export wrote)")
    sums = verify_manifest(root)
    try:
        card = read_json(root / BUNDLE_FILE)
    except (OSError, ValueError) as err:
        raise BundleError(f"{root / BUNDLE_FILE} cannot be read: {err}") from None
    if not isinstance(card, dict) or card.get("format") != "practica-bundle":
        raise BundleError(f"{root / BUNDLE_FILE} is not a practica bundle card")
    if card.get("schema_version") != BUNDLE_SCHEMA_VERSION:
        raise BundleError(
            f"{root} is a bundle of schema version {card.get('schema_version')}; this practica reads version "
            f"{BUNDLE_SCHEMA_VERSION}. Export it again with this version."
        )
    return Bundle(root, card, sums, threads)


def validate_card(card: Any, path: Path) -> BundleCard:
    """The card checked against its schema (``card.BundleCard``); a BundleError names the first wrong field."""
    try:
        return BundleCard.model_validate(card)
    except ValidationError as err:
        problem = err.errors()[0]
        field = ".".join(str(part) for part in problem["loc"]) or "the card"
        got = "" if problem["type"] in ("missing", "value_error") else f" (got {_short(problem.get('input'))})"
        more = f"; and {err.error_count() - 1} more problem(s)" if err.error_count() > 1 else ""
        raise BundleError(f"{path} is not a valid bundle card: {field}: {problem['msg'].removeprefix('Value error, ')}"
                          f"{got}{more}. Export the bundle again from its run (practica export RUN_DIR) "
                          "rather than editing bundle.json") from None


def _input_spec(meta: BundleCard, path: Path) -> InputSpec:
    """The model's input; what the card's schema leaves unchecked, a table's columns, is checked here."""
    fix = "Export the bundle again from its run (practica export RUN_DIR)"
    try:
        spec = INPUT_SPEC.validate_python(meta.input.model_dump())
    except (KeyError, TypeError, ValueError) as err:
        raise BundleError(f"{path} is not a valid bundle card: input.table: {type(err).__name__}: {err}. "
                          f"{fix}") from None
    if spec.table is not None and len(spec.table.columns) != spec.shape[0]:
        raise BundleError(f"{path} is not a valid bundle card: input.table has {len(spec.table.columns)} columns "
                          f"for an input shape of {list(spec.shape)}. {fix}")
    return spec


def _check_signature(meta: BundleCard, session: Any, root: Path) -> None:
    """The card's input name and shape and its number of outputs are the ONNX model's own."""
    inputs = {i.name: i.shape for i in session.get_inputs()}
    outputs = {o.name: o.shape for o in session.get_outputs()}
    card, model = root / BUNDLE_FILE, root / ONNX_FILE
    fix = "The card does not belong to this model: export the bundle again (practica export RUN_DIR)."
    if meta.input.onnx_name not in inputs:
        raise BundleError(f"{card}: input.onnx_name {meta.input.onnx_name!r} is not an input of {model} "
                          f"(it has {sorted(inputs)}). {fix}")
    for field, name in (("onnx_name", meta.output.onnx_name), ("embedding", meta.output.embedding)):
        if name is not None and name not in outputs:
            raise BundleError(f"{card}: output.{field} {name!r} is not an output of {model} "
                              f"(it has {sorted(outputs)}). {fix}")
    dims = inputs[meta.input.onnx_name][1:]  # after the batch dimension; a named dimension matches anything
    shape = meta.input.model_shape
    # the length check comes first, so zip sees two sequences of the same length
    if len(dims) != len(shape) or any(isinstance(d, int) and d != s for d, s in zip(dims, shape, strict=True)):
        what = "input.vocab_size" if meta.input.text_input == "counts" else "input.shape"
        raise BundleError(f"{card}: {what} is {list(shape)} but {model} takes inputs of shape "
                          f"{list(dims)}. {fix}")
    out_dims = outputs[meta.output.onnx_name]
    per_input = out_dims[-1] if len(out_dims) == 2 else None
    if isinstance(per_input, int) and per_input != meta.outputs_per_input:
        what = (f"output.classes lists {len(meta.output.classes)} classes" if get_task(meta.task).has_classes
                else f"task is {meta.task} (one value per input)")
        raise BundleError(f"{card}: {what} but {model} gives {per_input} outputs per input. {fix}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
