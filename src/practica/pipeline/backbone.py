"""Pretrained weights, read from wherever a suite's ``pretrained.from`` (or ``features.from``) points.

Four sources, one record: a practica run's experiment (``RUN_DIR#EXPERIMENT``, its weights checked
against their sha256), a bundle folder (its manifest verified), a ``.safetensors`` file, or a PyTorch
state dict (``.pt``/``.pth``, unpickled with ``weights_only=True``: tensors and plain containers only, never
code). A run and a bundle also tell the architecture, the images the backbone learned on and their
normalisation; a bare weights file tells only its tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from practica.errors import ConfigError, PracticaError

if TYPE_CHECKING:
    from torch import nn

    from practica.config.schema import ModelSpec
    from practica.pipeline.rundir import RunDir
    from practica.training.transfer import TransferPlan

STATE_FILES = (".safetensors", ".pt", ".pth")


@dataclass(frozen=True)
class Backbone:
    """``tensors``: the network's state dict (a whole practica network's, or a body's); ``input_shape`` (C, H, W),
    ``model`` (the ModelSpec it was built from, as JSON) and ``mean``/``std`` when the source tells them."""

    origin: str  # how errors name it: 'runs/…#resnet20', 'bundle …', 'file …'
    tensors: dict[str, torch.Tensor]
    input_shape: tuple[int, ...] | None = None
    model: dict[str, Any] | None = None
    classes: tuple[str, ...] = ()

    @property
    def mean(self) -> torch.Tensor | None:
        return self.tensors.get("mean")

    @property
    def std(self) -> torch.Tensor | None:
        return self.tensors.get("std")


def read_backbone(source: str) -> Backbone:
    """The weights ``source`` names (a path made absolute by the suite loader). Raises ``ConfigError`` saying
    what was found there and what is accepted."""
    path_text, _, experiment = source.partition("#")
    path = Path(path_text)
    if not path.exists():
        raise ConfigError(f"pretrained weights not found: {path} does not exist. Give a run's experiment "
                          "(runs/SUITE/RUN_ID#EXPERIMENT), a bundle folder, or a .safetensors / .pt file")
    if path.is_dir() and not experiment and (path / "bundle.json").is_file():  # a bundle holds a suite.yaml too
        return _from_bundle(path)
    if experiment or (path / "suite.yaml").is_file() or _newest_finished(path) is not None:
        return _from_run(path, experiment, source)
    if path.is_dir():
        return _from_bundle(path)
    if path.suffix.lower() == ".safetensors":
        return _from_safetensors(path)
    if path.suffix.lower() in (".pt", ".pth"):
        return _from_state_dict(path)
    raise ConfigError(f"pretrained weights {path}: a {path.suffix or 'suffix-less'} file is not a form practica "
                      f"reads; give a .safetensors file, a PyTorch state dict (.pt, .pth), a bundle folder or "
                      "RUN_DIR#EXPERIMENT")


def _from_run(path: Path, experiment: str, source: str) -> Backbone:
    from practica.pipeline.rundir import RunDir

    run = RunDir(path)
    if not run.suite_file.is_file() and (newest := _newest_finished(path)) is not None:
        run = newest  # a suite's folder of runs: its newest finished run
    if not run.suite_file.is_file():
        raise ConfigError(f"pretrained.from '{source}': {path} is not a practica run (no suite.yaml); give the "
                          "folder practica run printed, e.g. runs/cifar10/20260101-120000#resnet20")
    names = _experiments(run.path)
    if not experiment:
        raise ConfigError(f"pretrained.from '{source}' names a run but not which experiment's weights; add "
                          f"#NAME, one of: {', '.join(names) or 'none finished'}")
    exp_dir = run.experiment(experiment)
    if not exp_dir.spec.is_file():
        raise ConfigError(f"pretrained.from '{source}': the run {run.id} has no experiment '{experiment}'; its "
                          f"experiments: {', '.join(names) or 'none'}")
    if not exp_dir.model.is_file():
        raise ConfigError(f"pretrained.from '{source}': the experiment '{experiment}' has no trained weights in "
                          f"run {run.id}: it failed, did not finish, or is a scikit-learn baseline; give a network's "
                          "experiment")
    try:
        tensors, meta = exp_dir.read_model(experiment)
    except PracticaError as err:
        raise ConfigError(f"pretrained.from '{source}': {err}") from None
    return Backbone(source, tensors, tuple(meta["input_shape"]), meta["model"], tuple(meta.get("classes", ())))


def _newest_finished(folder: Path) -> RunDir | None:
    from practica.pipeline.rundir import RunDir

    runs = sorted(p for p in folder.iterdir() if RunDir(p).decision_file.is_file()) if folder.is_dir() else []
    return RunDir(runs[-1]) if runs else None


def _experiments(run: Path) -> list[str]:
    folder = run / "experiments"
    return sorted(p.name for p in folder.iterdir() if (p / "spec.json").is_file()) if folder.is_dir() else []


def _from_bundle(path: Path) -> Backbone:
    from practica.bundle.layout import BUNDLE_FILE, WEIGHTS_FILE
    from practica.bundle.load import load_bundle
    from practica.training.checkpoint import load_tensors

    if not (path / BUNDLE_FILE).is_file():
        raise ConfigError(f"pretrained weights {path}: a folder that is neither a bundle (no {BUNDLE_FILE}) nor a "
                          "run (no suite.yaml); give a bundle folder, RUN_DIR#EXPERIMENT or a weights file")
    try:
        bundle = load_bundle(path)  # verifies every file against the manifest
    except PracticaError as err:
        raise ConfigError(f"pretrained weights {path}: {err}") from None
    if bundle.kind != "network":
        raise ConfigError(f"pretrained weights {path}: the bundle holds a scikit-learn baseline, not a network; "
                          "give a network's bundle")
    tensors, _ = load_tensors(path / WEIGHTS_FILE)
    h, w, c = bundle.input.shape if bundle.input.kind == "image" else (0, 0, 0)
    shape = (c, h, w) if bundle.input.kind == "image" else tuple(bundle.input.shape)
    return Backbone(f"bundle {path}", tensors, shape, bundle.meta.model.spec, bundle.classes)


def _from_safetensors(path: Path) -> Backbone:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise ConfigError(f"pretrained weights {path} cannot be read as safetensors ({err}); give the file "
                          "safetensors.torch.save_file wrote") from None
    return Backbone(f"file {path}", tensors)


def _from_state_dict(path: Path) -> Backbone:
    import pickle

    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"pretrained weights {path} are not a PyTorch state dict readable with weights_only=True "
                          f"({first[:200]}); save one with torch.save(model.state_dict(), PATH)") from None
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]  # a training checkpoint that holds the state dict beside other things
    if not isinstance(loaded, dict) or not loaded or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()):
        got = type(loaded).__name__ if not isinstance(loaded, dict) else "a dict that is not name → tensor"
        raise ConfigError(f"pretrained weights {path} hold {got}, not a state dict; save one with "
                          "torch.save(model.state_dict(), PATH)")
    return Backbone(f"file {path}", dict(loaded))


def check_input(backbone: Backbone, declared: tuple[int, ...] | None, data_shape: tuple[int, ...]) -> None:
    """The data's input shape against the backbone's (as its source tells it, or as declared)."""
    from practica.models.transfer import check_input_shape

    if declared is not None and backbone.input_shape is not None and tuple(declared) != backbone.input_shape:
        raise ConfigError(f"pretrained.input_shape {list(declared)} differs from the images the backbone "
                          f"{backbone.origin} learned on, {list(backbone.input_shape)}; remove input_shape (a run "
                          "or a bundle tells it)")
    shape = backbone.input_shape or declared
    if shape is not None:
        check_input_shape(data_shape, shape, backbone.origin)


def check_architecture(backbone: Backbone, model: ModelSpec) -> None:
    """A run's or bundle's backbone was built from a spec: the experiment's must build the same network."""
    if backbone.model is None:
        return  # a weights file: its tensors' names and shapes are the check
    from practica.config.schema import ModelSpec
    from practica.models.registry import describe

    theirs = ModelSpec.model_validate(backbone.model).standalone()
    ours = model.standalone()
    if (theirs.layers, theirs.arch, theirs.params) != (ours.layers, ours.arch, ours.params):
        raise ConfigError(f"the backbone {backbone.origin} is {describe(theirs)}, and this experiment's model is "
                          f"{describe(ours)}; give the model the backbone's architecture and params")


def pretrained_network(model: ModelSpec, input_shape: tuple[int, ...], units: int,
                       ) -> tuple[Callable[[], nn.Module], TransferPlan, str]:
    """For a network with ``pretrained`` weights: the body builder (the architecture, then the backbone's
    weights, the head new or kept), the training's ``TransferPlan``, and a note for the model summary."""
    from practica.models.registry import build_network
    from practica.models.transfer import body_state, load_backbone
    from practica.training.transfer import TransferPlan

    spec = model.pretrained
    if spec is None:
        raise ValueError("pretrained_network takes a model with pretrained weights")
    backbone = read_backbone(spec.source)
    check_architecture(backbone, model)
    check_input(backbone, spec.input_shape, input_shape)
    tensors = body_state(backbone.tensors)
    copied: list[str] = []

    def make_body() -> nn.Module:
        body = build_network(model, input_shape, units)
        copied[:] = load_backbone(body, tensors, head=spec.head, origin=backbone.origin)
        return body

    make_body()  # a mismatch is reported now, before any data is moved
    # The backbone's own input normalisation, when its source keeps one that fits the data's channels.
    mean, std = backbone.mean, backbone.std
    fits = mean is not None and std is not None and mean.shape[1:2] == (input_shape[0],)
    plan = TransferPlan(freeze=spec.freeze, unfreeze=spec.unfreeze,
                        mean=mean if fits else None, std=std if fits else None)
    note = f"from {backbone.origin} ({len(copied)} tensors{', new head' if spec.head == 'new' else ''}"
    if spec.frozen:
        note += f", frozen: {spec.freeze}"
        if spec.unfreeze is not None:
            note += (f" for {spec.unfreeze.after_epochs} epoch{'s' if spec.unfreeze.after_epochs > 1 else ''}, "
                     f"then at {spec.unfreeze.lr_factor:g}× the learning rate")
    return make_body, plan, note + ")"


def features_network(source: str, input_shape: tuple[int, ...]) -> tuple[nn.Module, str]:
    """The network whose penultimate features a baseline is fitted on (``features.from``), its weights loaded
    exactly, and how the summary names it."""
    from practica.config.schema import ModelSpec
    from practica.models.classifier import build_classifier

    backbone = read_backbone(source)
    if backbone.model is None or backbone.input_shape is None:
        raise ConfigError(f"features.from '{source}' is a weights file, which does not say its architecture; give "
                          "a run's experiment (RUN_DIR#EXPERIMENT) or a bundle folder")
    check_input(backbone, None, input_shape)
    spec = ModelSpec.model_validate(backbone.model).standalone()
    network = build_classifier(spec, backbone.input_shape, len(backbone.classes))
    network.load_state_dict(backbone.tensors)
    return network.eval(), backbone.origin
