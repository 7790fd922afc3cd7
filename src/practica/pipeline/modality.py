"""Whether an experiment's model suits the data's kind (images, feature vectors, texts), checked before training.

A text data set takes a text architecture (``models/text_nets.py``) or a scikit-learn baseline over token
counts, and no image augmentation; ``model.tokenizer`` belongs to text data only. Each mismatch is a
``ConfigError`` naming the experiment's field and the fix, raised at the run's start (``preflight``) and
again when an experiment trains on its own (a tuning trial).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from practica.config.layers import Shorthand
from practica.config.schema import ExperimentSpec
from practica.errors import ConfigError
from practica.models.registry import is_text_arch

Kind = Literal["image", "features", "text"]
# (length, vocabulary) a text network is built with at the run's start, before a tokenizer is fitted.
TEXT_PROBE = (16, 100)


def _text_archs() -> str:
    from practica.models.text_nets import TEXT_ARCHITECTURES

    return ", ".join(sorted(TEXT_ARCHITECTURES))


def check_model_fits_data(exp: ExperimentSpec, augment: Sequence[Shorthand], kind: Kind, where: str,
                          task: str = "classification") -> None:
    """Raise ``ConfigError`` when experiment ``exp`` (at ``where``, e.g. ``experiments[2] (lstm)``) cannot run on
    data of ``kind``."""
    model = exp.model
    if kind != "text":
        if model.tokenizer is not None:
            raise ConfigError(f"{where}.model.tokenizer applies to text data; this data set has "
                              f"{'images' if kind == 'image' else 'feature vectors'}. Remove 'tokenizer'.")
        return
    if augment:
        raise ConfigError(f"{where}: augmentation ({', '.join(a.type for a in augment)}) transforms images, but "
                          "this data set is text; remove 'augment' (the suite's or the experiment's), or give the "
                          "experiment augment: [].")
    if task != "classification":
        raise ConfigError(f"{where}: text data supports classification only (the task is {task}); give the texts "
                          "class labels, or dataset.task: classification.")
    if model.layers is not None:
        raise ConfigError(f"{where}.model: a layer list reads images or feature vectors; this data set is text. Use "
                          f"a text architecture (arch: one of {_text_archs()}) or a scikit-learn baseline.")
    if model.arch is not None and not is_text_arch(model.arch):
        raise ConfigError(f"{where}.model: arch '{model.arch}' reads images or feature vectors; this data set is "
                          f"text. Use a text architecture ({_text_archs()}) or a scikit-learn baseline.")
    if model.pretrained is not None:
        raise ConfigError(f"{where}.model.pretrained: starting a text network from other weights is not available "
                          "(its vocabulary would have to be the same); remove 'pretrained'.")
    if model.features is not None:
        raise ConfigError(f"{where}.model.features: a baseline on a network's features reads images; on text, a "
                          "baseline reads token counts itself. Remove 'features'.")
