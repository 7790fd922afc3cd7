"""text_rnn: the unpacked path (what export runs) computes the packed path's function."""

import pytest
import torch
from test_text_nets import random_ids

from practica.config.schema import ModelSpec
from practica.models.registry import build_network


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_the_unpacked_path_equals_the_packed_one(cell, bidirectional):
    torch.manual_seed(0)
    params = {"cell": cell, "bidirectional": bidirectional, "layers": 2, "dim": 16, "hidden": 12, "dropout": 0.3}
    net = build_network(ModelSpec(arch="text_rnn", params=params), (40,), 4, vocab_size=100).eval()
    ids = random_ids(64, 40, seed=3, vocab=100)
    with torch.no_grad():
        packed = net.packed_features(net.embed(ids), (ids != 0).sum(1))
        unpacked = net.unpacked_features(net.embed(ids), (ids != 0).sum(1))
        assert (packed - unpacked).abs().max() <= 1e-5
        for pack in ("always", "never"):
            net.pack = pack
            torch.testing.assert_close(net(ids), net.head(packed), atol=1e-5, rtol=0)


def test_gradients_agree_too():
    """The unpacked path is also a training path (on CPU, and with pack: never): same loss, same gradients."""
    torch.manual_seed(0)
    net = build_network(ModelSpec(arch="text_rnn", params={"layers": 2, "dim": 8, "hidden": 6, "dropout": 0.0}),
                        (20,), 3, vocab_size=50).train()
    ids, y = random_ids(16, 20, seed=4, vocab=50), torch.arange(16) % 3
    grads = []
    for pack in ("always", "never"):
        net.pack = pack
        net.zero_grad()
        torch.nn.functional.cross_entropy(net(ids), y).backward()
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-4)
