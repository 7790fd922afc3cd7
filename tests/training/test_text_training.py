"""Training on texts: token ids in (int64, never normalised or augmented), a TextClassifier out, under bf16
autocast too, and a killed run resumed to the same result."""

from __future__ import annotations

import pytest
import torch
from killed_training import Kill, KillAt, without_seconds
from text_corpus import text_splits

from practica.config.layers import HFlip
from practica.config.schema import ModelSpec, TokenizerSpec, TrainSpec
from practica.data.tokenizer import TextTokenizer
from practica.errors import ConfigError, RunError
from practica.models.classifier import TextClassifier
from practica.models.registry import build_network
from practica.training.device import Device
from practica.training.trainer import fit

BAG = ModelSpec(arch="text_bag", params={"dim": 16})


@pytest.fixture(scope="module")
def texts():
    splits = text_splits(150)
    return splits.train, splits.val, TextTokenizer.fit(splits.train.x.tolist(), TokenizerSpec())


def body(tok: TextTokenizer):
    return lambda: build_network(BAG, (tok.max_length,), 3, vocab_size=tok.vocab_size)


def spec(**kw) -> TrainSpec:
    return TrainSpec.model_validate({"epochs": 4, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.02}, **kw})


def test_texts_train_as_int64_ids_into_a_text_classifier(texts) -> None:
    train, val, tok = texts
    resident = Device("cpu").split(train, tok)
    assert resident.x.dtype == torch.int64 and tuple(resident.x.shape) == (len(train), tok.max_length)
    result = fit(body(tok), train, val, spec(epochs=8), tokenizer=tok)
    assert isinstance(result.model, TextClassifier)
    assert not list(result.model.buffers())  # no normalisation statistics
    assert result.history.epochs[-1].metrics["val_accuracy"] > 0.6


def test_bf16_autocast_leaves_the_ids_to_the_embedding(texts) -> None:
    train, val, tok = texts
    result = fit(body(tok), train, val, spec(epochs=2, precision="bf16"), tokenizer=tok)
    assert all(torch.isfinite(torch.tensor(r.train_loss)) for r in result.history.epochs)
    assert result.model.body.embed.weight.dtype == torch.float32


def test_image_augmentation_on_text_is_refused(texts) -> None:
    train, val, tok = texts
    with pytest.raises(ConfigError, match=r"augmentation \(hflip\) transforms images, but this data set is text"):
        fit(body(tok), train, val, spec(), [HFlip()], tokenizer=tok)


def test_a_text_split_needs_its_tokenizer(texts) -> None:
    train, val, tok = texts
    with pytest.raises(ValueError, match="a text split trains with the tokenizer fitted on it"):
        fit(body(tok), train, val, spec())


def test_a_killed_text_run_resumes_to_the_same_result(texts, tmp_path) -> None:
    train, val, tok = texts
    train_spec = spec(epochs=4, schedule={"name": "onecycle", "max_lr": 0.02})
    straight = fit(body(tok), train, val, train_spec, checkpoint=tmp_path / "a.safetensors", tokenizer=tok)
    ckpt = tmp_path / "b.safetensors"
    with pytest.raises(Kill):
        fit(body(tok), train, val, train_spec, checkpoint=ckpt, events=KillAt(epoch=3, step=2), tokenizer=tok)
    torch.manual_seed(999)
    resumed = fit(body(tok), train, val, train_spec, checkpoint=ckpt, resume=True, tokenizer=tok)
    assert without_seconds(resumed.history) == without_seconds(straight.history)
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_a_checkpoint_under_another_vocabulary_is_not_resumed(texts, tmp_path) -> None:
    train, val, tok = texts
    ckpt = tmp_path / "c.safetensors"
    fit(body(tok), train, val, spec(epochs=1), checkpoint=ckpt, tokenizer=tok)
    other = TextTokenizer.fit(train.x.tolist(), TokenizerSpec(kind="char"))
    with pytest.raises(RunError, match="another training config"):
        fit(body(other), train, val, spec(epochs=1), checkpoint=ckpt, resume=True, tokenizer=other)
