"""Text networks: built from the tokenizer's vocabulary, padding ignored, checked at suite load."""

import pytest
import torch

from practica.config.schema import ModelSpec
from practica.errors import ModelError
from practica.models.registry import build_network


def test_text_bag_ignores_padding():
    torch.manual_seed(0)
    net = build_network(ModelSpec(arch="text_bag", params={"dim": 8, "hidden": 16}), (6,), 3, vocab_size=50).eval()
    short = torch.tensor([[5, 7, 0, 0, 0, 0]])
    assert net(short).shape == (1, 3)
    torch.testing.assert_close(net(short), net(torch.tensor([[5, 7, 0, 0, 0, 0]])))
    assert net.get_submodule("head").out_features == 3


def test_vocab_size_is_the_tokenizers_not_the_suites():
    with pytest.raises(ValueError, match="model.tokenizer.vocab_size"):
        ModelSpec(arch="text_bag", params={"vocab_size": 10})
    with pytest.raises(ValueError, match="dim"):
        ModelSpec(arch="text_bag", params={"dim": "wide"})


def test_a_text_network_on_images_or_without_a_tokenizer_is_refused():
    with pytest.raises(ModelError, match="reads text"):
        build_network(ModelSpec(arch="text_bag"), (3, 32, 32), 10, vocab_size=50)
    with pytest.raises(ModelError, match="source: text"):
        build_network(ModelSpec(arch="text_bag"), (16,), 10)
