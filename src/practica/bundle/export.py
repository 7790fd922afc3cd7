"""Write a model bundle: everything needed to predict, nothing that needs the training code's state.

    bundle/
      bundle.json          what the model is, takes and gives; metrics; why it was chosen; lineage
      model.onnx           one file, raw inputs in, probabilities (and a network's embedding) out
      weights.safetensors  the network's weights (networks only; the architecture is in bundle.json)
      tokenizer.json       a text model's tokenizer, fitted on the training split (``TextTokenizer.to_dict()``)
      reference.json       training-input and validation-output statistics, for drift monitoring
      ood.json             out-of-distribution statistics fitted on the training split (``ood.py``)
      suite.yaml           the resolved suite the model came from
      lineage.json         the input files' sha256, every sample's split, the cleaning decisions
      manifest.json        sha256 of every file above

The bundle is assembled in a temporary folder beside the target (``.bundle.xxxxxxxx``) and renamed
into place, so a failed export leaves nothing half-written; the folders a killed export left are
removed by the next export to the same target.
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import TypeAdapter

from practica.bundle.inputs import INPUT_SPEC, InputSpec
from practica.bundle.layout import (
    BUNDLE_FILE,
    BUNDLE_SCHEMA_VERSION,
    LINEAGE_FILE,
    ONNX_FILE,
    OOD_FILE,
    REFERENCE_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
)
from practica.bundle.manifest import write_manifest
from practica.bundle.onnx_export import (
    EMBEDDING_OUTPUT,
    RawInputModel,
    input_name,
    output_name,
    sklearn_to_onnx,
    torch_to_onnx,
)
from practica.bundle.ood import OodStats, fit_ood, fit_rows
from practica.bundle.reference import input_reference, output_reference, text_reference, value_reference
from practica.config.schema import ExperimentSpec, Suite
from practica.data.records import Splits
from practica.data.tokenizer import TextTokenizer
from practica.diagnosis.records import Diagnosis
from practica.errors import BundleError
from practica.evaluation.predictors import Predictor, SklearnPredictor, TorchPredictor
from practica.evaluation.records import Cost, Evaluation, RegressionMetrics
from practica.evaluation.thresholds import ThresholdChoice
from practica.io import write_json, write_text
from practica.selection.records import Decision
from practica.tasks import get_task

# ONNX Runtime and PyTorch must agree this closely on every test probability; on a regressor's value,
# this closely relative to the value (float32 carries 7 digits: 4,000 g agree to about 4e-4 g).
PARITY_TOLERANCE = 1e-4
# The embedding's values are not bounded like probabilities: each agrees within this, relative to max(1, |value|).
EMBEDDING_TOLERANCE = 1e-3
PARITY_CHUNK = 1024  # inputs per ONNX Runtime call while checking and fitting


@dataclass(frozen=True)
class BundleSource:
    """A trained experiment and the records of the run that made it."""

    suite: Suite
    experiment: ExperimentSpec
    splits: Splits
    predictor: Predictor
    evaluation: Evaluation
    diagnosis: Diagnosis | None
    decision: Decision
    run_id: str
    code_version: str
    lineage: dict | None = None  # the run's data/lineage.json; made from the splits when absent
    threshold: ThresholdChoice | None = None  # the decision threshold chosen for this experiment, if any


@dataclass(frozen=True)
class TextModel:
    """A text predictor taken apart for export: the tokenizer in front, and behind it either a network over
    token ids (``network``) or a scikit-learn pipeline over token counts (``estimator``, the steps after
    ``TokenCounts``)."""

    tokenizer: TextTokenizer
    network: Any = None
    estimator: Any = None

    @property
    def text_input(self) -> Literal["ids", "counts"]:
        return "ids" if self.network is not None else "counts"

    def encode(self, texts: np.ndarray) -> np.ndarray:
        """Texts as the ONNX model takes them."""
        strings = [str(t) for t in texts]
        return self.tokenizer.encode(strings) if self.network is not None else self.tokenizer.counts(strings)


def text_model(predictor: Predictor) -> TextModel:
    """The tokenizer and the model of a text predictor (the pipeline's): a network's predictor holds
    ``tokenizer`` and its network as ``model`` (or a ``TorchPredictor`` as ``predictor``); a baseline's
    estimator is a pipeline whose first step holds ``tokenizer`` (``TokenCounts``)."""
    from sklearn.pipeline import Pipeline
    from torch import nn

    estimator = getattr(predictor, "estimator", None)
    if isinstance(estimator, Pipeline) and isinstance(getattr(estimator.steps[0][1], "tokenizer", None),
                                                      TextTokenizer):
        rest = estimator.steps[1:]
        if not rest:
            raise BundleError("the text baseline's pipeline has no step after its token counts; nothing to export")
        return TextModel(estimator.steps[0][1].tokenizer,
                         estimator=rest[0][1] if len(rest) == 1 else Pipeline(rest))
    tokenizer = getattr(predictor, "tokenizer", None)
    inner = getattr(predictor, "predictor", None)
    for network in (getattr(predictor, "model", None), getattr(inner, "model", None)):
        if isinstance(tokenizer, TextTokenizer) and isinstance(network, nn.Module):
            return TextModel(tokenizer, network=network.to("cpu").eval())
    raise BundleError(f"cannot export a {type(predictor).__name__} of a text data set: it holds no tokenizer "
                      "and network, nor a pipeline starting with its token counts")


def input_spec(splits: Splits, text: TextModel | None = None) -> InputSpec:
    x = splits.train.x
    if splits.train.kind == "text":
        if text is None:
            raise BundleError("a text data set's input needs the model's tokenizer (text_model(predictor))")
        tok = text.tokenizer
        return InputSpec("text", (tok.max_length,), text_input=text.text_input, vocab_size=tok.vocab_size,
                         tokenizer=tok.describe())
    if x.ndim == 4:
        return InputSpec("image", tuple(x.shape[1:]))
    return InputSpec("features", (x.shape[1],), tuple(splits.train.feature_names), splits.train.table)


def remove_staging(out: Path) -> list[Path]:
    """Remove the folders in which an export to ``out`` was assembled and never renamed into place (it
    was killed); returns them. Only our own names match: tempfile.mkdtemp(prefix=".NAME.") adds 8
    characters of [a-z0-9_]."""
    out = Path(out)
    own = re.compile(rf"\.{re.escape(out.name)}\.[a-z0-9_]{{8}}")
    if not out.parent.is_dir():
        return []
    stale = sorted(p for p in out.parent.iterdir() if p.is_dir() and own.fullmatch(p.name))
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def write_bundle(src: BundleSource, out: Path, *, overwrite: bool = False) -> Path:
    out = Path(out)
    if out.exists() and not overwrite:
        raise BundleError(f"{out} already exists; choose another --out, or pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_staging(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _assemble(src, tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _assemble(src: BundleSource, root: Path) -> None:
    import onnxruntime as ort
    import yaml

    classes = tuple(src.splits.classes)
    predictor = src.predictor
    text = text_model(predictor) if src.splits.train.kind == "text" else None
    spec = input_spec(src.splits, text)
    if text is not None:
        _export_text(text, spec, len(classes), root)
        kind = "network" if text.network is not None else "sklearn"
        model = text.network
    elif isinstance(predictor, TorchPredictor):
        from practica.training.checkpoint import save_tensors

        model = predictor.model.to("cpu").eval()
        torch_to_onnx(model, spec, root / ONNX_FILE)
        save_tensors(root / WEIGHTS_FILE, model.state_dict(), {"format": "practica-weights", "version": 1})
        kind = "network"
    elif isinstance(predictor, SklearnPredictor):
        if "features" in dict(getattr(predictor.estimator, "steps", [])):
            raise BundleError(f"experiment '{src.experiment.name}' is a baseline on a network's features, which "
                              "has no ONNX form yet; export a network experiment instead (practica export RUN_DIR "
                              "--experiment NAME)")
        sklearn_to_onnx(predictor.estimator, spec, len(classes), root / ONNX_FILE)
        kind = "sklearn"  # the fitted estimator lives in the ONNX graph; practica never pickles
    else:
        raise BundleError(f"cannot export a {type(predictor).__name__}")

    session = ort.InferenceSession(str(root / ONNX_FILE), providers=["CPUExecutionProvider"])
    # What the ONNX model takes: the data stage's arrays as they are, or texts through the tokenizer in front
    # (the parity check below then covers the tokenizer the server and predict apply, as the run applied it).
    model_input = (lambda x: x) if text is None else text.encode
    test_x = model_input(src.splits.test.x)
    regression = not get_task(src.splits.train.task).has_classes
    output = output_name(regression)
    embedded = kind == "network"
    names = [output, EMBEDDING_OUTPUT] if embedded else [output]
    expected = predictor.outputs(src.splits.test.x)  # probabilities, or a regressor's (N, 1) values
    got = _run(session, spec, test_x, names)[0] if len(test_x) else expected
    diff = float(np.abs(got - expected).max()) if len(test_x) else 0.0
    scale = np.maximum(1.0, np.abs(expected)) if regression else 1.0
    if len(test_x) and float((np.abs(got - expected) / scale).max()) > PARITY_TOLERANCE:
        raise BundleError(
            f"the ONNX model disagrees with the trained model by up to {diff:.2e} on the test split "
            f"(tolerance {PARITY_TOLERANCE:g}{', relative to each value' if regression else ''}); the export is "
            "refused. This is a bug: please report it."
        )
    parity = {"max_abs_diff": diff}
    if embedded and len(test_x):
        parity["embedding_max_rel_diff"] = _embedding_parity(model, spec, session, test_x)
    train, val = src.splits.train, src.splits.val
    if text is not None:  # a text baseline's counts are vocab_size wide: tokenise no more texts than are fitted on
        rows = fit_rows(int(np.prod(spec.model_shape)))
        train, val = _sample(train, rows), _sample(val, rows)
    ood = fit_ood(train_x=model_input(train.x), train_y=None if regression else train.y,
                  val_x=model_input(val.x), spec=spec,
                  embed=(lambda x: _run(session, spec, x, [EMBEDDING_OUTPUT])[0]) if embedded else None)
    write_json(root / OOD_FILE, ood.model_dump(mode="json"))
    val_out = predictor.outputs(src.splits.val.x)
    write_json(root / REFERENCE_FILE, {
        "inputs": input_reference(src.splits.train.x) if text is None
        else text_reference(list(src.splits.train.x), list(src.splits.val.x), text.tokenizer),
        "outputs": value_reference(val_out[:, 0]) if regression else output_reference(val_out, classes),
        # what the monitor's OOD checks compare the live flag rate and mean score with
        "ood": {"flag_rate": ood.val_flag_rate, "score_mean": ood.val_score_mean},
    })
    write_text(root / "suite.yaml", yaml.safe_dump(src.suite.model_dump(mode="json"), sort_keys=False))
    write_json(root / LINEAGE_FILE, _lineage(src))  # before the manifest, which covers it
    write_json(root / BUNDLE_FILE, _card(src, spec, classes, kind, parity, len(test_x), ood))
    write_manifest(root)


def _export_text(text: TextModel, spec: InputSpec, num_classes: int, root: Path) -> None:
    """A text model's ONNX graph (after its tokenizer), its weights (a network's) and ``tokenizer.json``."""
    if text.network is not None:
        from practica.training.checkpoint import save_tensors

        torch_to_onnx(text.network, spec, root / ONNX_FILE)
        save_tensors(root / WEIGHTS_FILE, text.network.state_dict(), {"format": "practica-weights", "version": 1})
    else:
        sklearn_to_onnx(text.estimator, spec, num_classes, root / ONNX_FILE)
    write_json(root / TOKENIZER_FILE, text.tokenizer.to_dict())


def _sample(data, rows: int):
    """At most ``rows`` samples of ``data`` (a seeded choice, in their order)."""
    if len(data) <= rows:
        return data
    pick = np.sort(np.random.default_rng(0).choice(len(data), rows, replace=False))
    return data.subset(pick, data.name)


def _run(session, spec: InputSpec, x: np.ndarray, names: list[str]) -> list[np.ndarray]:
    """The named outputs of the ONNX model for every input, a chunk at a time."""
    parts = [session.run(names, {input_name(spec): x[i : i + PARITY_CHUNK]}) for i in range(0, len(x), PARITY_CHUNK)]
    return [np.concatenate([p[k] for p in parts]) for k in range(len(names))]


def _embedding_parity(model, spec: InputSpec, session, test_x: np.ndarray) -> float:
    """The ONNX embedding against PyTorch's on the test split; the largest difference relative to max(1, |value|)."""
    import torch

    raw = RawInputModel(model, spec.kind, embedding=True).eval()
    try:
        with torch.inference_mode():
            expected = np.concatenate([raw(torch.from_numpy(np.ascontiguousarray(test_x[i : i + PARITY_CHUNK])))[1]
                                       .numpy() for i in range(0, len(test_x), PARITY_CHUNK)])
    finally:
        raw.close()
    got = _run(session, spec, test_x, [EMBEDDING_OUTPUT])[0]
    rel = float((np.abs(got - expected) / np.maximum(1.0, np.abs(expected))).max())
    if got.shape != expected.shape or rel > EMBEDDING_TOLERANCE:
        raise BundleError(f"the ONNX model's embedding disagrees with the trained network's by up to {rel:.2e} "
                          f"(relative; tolerance {EMBEDDING_TOLERANCE:g}) on the test split; the export is refused. "
                          "This is a bug: please report it.")
    return rel


def _preprocessing(predictor: Predictor) -> dict:
    """A table's preprocessing fitted on the training split (also inside model.onnx), for the card."""
    from practica.models.preprocess import PREPROCESSING, fitted_preprocessing

    model = predictor.model if isinstance(predictor, TorchPredictor) else getattr(predictor, "estimator", None)
    fitted = fitted_preprocessing(model)
    return {} if fitted is None else {"preprocessing": PREPROCESSING.dump_python(fitted, mode="json")}


def _lineage(src: BundleSource) -> dict:
    from practica.data.splits.lineage import build_lineage

    lineage = src.lineage
    if lineage is None or lineage.get("fingerprint") != src.splits.fingerprint:
        lineage = build_lineage(src.suite.dataset, src.splits, src.code_version, src.run_id)
    return lineage


def _threshold(choice: ThresholdChoice) -> dict:
    """The card's decision rule (``card.CardThreshold``), with the target and what it does on each split."""
    def figures(p):
        return {"precision": p.precision, "recall": p.recall, "f1": p.f1}

    return {
        "positive": choice.positive,
        "value": choice.threshold,  # null: the target was out of reach; the most probable class decides
        "target": {"metric": choice.metric, "at_least": choice.at_least},
        "chosen_on": "val",
        "val": figures(choice.val), "test": figures(choice.test),
        "argmax_val": figures(choice.argmax_val), "argmax_test": figures(choice.argmax_test),
        "note": choice.note,
    }


def _card(src: BundleSource, spec: InputSpec, classes: tuple[str, ...], kind: str, parity: dict, n_test: int,
          ood: OodStats) -> dict:
    exp, ev, splits = src.experiment, src.evaluation, src.splits
    regression = not get_task(splits.train.task).has_classes
    ranked = next((r for r in src.decision.ranking if r.experiment == exp.name), None)

    def split(m):
        if m is not None and isinstance(r := m.figures, RegressionMetrics):
            return {"r2": r.r2, "rmse": r.rmse, "mae": r.mae, "mse": r.mse, "residual_mean": r.residual_mean,
                    "residual_std": r.residual_std, "max_abs_error": r.max_abs_error, "n": m.n}
        if m is None:
            return None
        c = m.classification
        return {"accuracy": c.accuracy, "macro_f1": c.macro_f1, "loss": m.loss, "ece": c.ece, "n": m.n}

    return {
        "format": "practica-bundle",
        "schema_version": BUNDLE_SCHEMA_VERSION,
        "name": f"{src.suite.name}/{exp.name}",
        "version": f"{src.suite.name}/{exp.name}@{src.run_id}",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "practica_version": src.code_version,
        "input": {**INPUT_SPEC.dump_python(spec, mode="json"), "onnx_name": input_name(spec),
                  "onnx_dtype": np.dtype(spec.onnx_dtype).name,
                  **({"resize": "bilinear"} if spec.kind != "text" else {
                      "tokenizer_file": TOKENIZER_FILE, "onnx_shape": ["batch", *spec.model_shape],
                      "form": ("token ids (int64 batch×max_length, padding 0 at the end)" if spec.text_input == "ids"
                               else "token counts (float32 batch×vocab_size), the tokenizer's bag of tokens")})},
        "task": splits.train.task,
        "output": {"onnx_name": output_name(regression), "classes": list(classes),
                   **({"embedding": EMBEDDING_OUTPUT} if kind == "network" else {}),
                   **({"shape": ["batch", 1], "meaning": "predicted value, in the target's units"}
                      if regression else {})},
        "model": {
            "kind": kind,
            "experiment": exp.name,
            "description": exp.description,
            "spec": exp.model.standalone().model_dump(mode="json"),  # no backbone file named: the weights hold it
            "params": src.predictor.params,
            "size_bytes": src.predictor.size_bytes,
            **_preprocessing(src.predictor),
        },
        "metrics": {
            # The card's schema keeps both names: a regression's train_accuracy is NaN, its train_r2 the figure.
            "train_accuracy": math.nan if regression else ev.train, "val": split(ev.val), "test": split(ev.test),
            **({"train_r2": ev.train} if regression else {}),
            "per_class_test": [] if regression else [asdict(c) for c in ev.test.classification.per_class],
            "cost": TypeAdapter(Cost).dump_python(ev.cost),  # with its intervals, as dicts
        },
        **({"threshold": _threshold(src.threshold)} if src.threshold is not None else {}),
        "diagnosis": None if src.diagnosis is None else {"verdict": src.diagnosis.verdict,
                                                         "summary": src.diagnosis.summary},
        "selection": {
            "chosen": src.decision.chosen == exp.name,
            "chosen_experiment": src.decision.chosen,
            "metric": src.decision.metric,
            "reason": ranked.reason if ranked else "",
            "summary": src.decision.summary,
        },
        "lineage": {
            "suite": src.suite.name,
            "run_id": src.run_id,
            "code_version": src.code_version,
            "data_fingerprint": splits.fingerprint,
            "split_seed": splits.seed,
            "test_is_fixed": splits.test_is_fixed,
            "dataset": src.suite.dataset.model_dump(mode="json"),
            "counts": {s: len(getattr(splits, s)) for s in ("train", "val", "test")},
            "file": LINEAGE_FILE,  # input files' sha256, every sample's split, the cleaning decisions
        },
        "ood": ood.card(),
        "onnx_parity": {"samples": n_test, **parity, "tolerance": PARITY_TOLERANCE,
                        **({"embedding_tolerance": EMBEDDING_TOLERANCE} if "embedding_max_rel_diff" in parity else {}),
                        **({"tolerance_is": "relative to each value"} if regression else {})},
    }
