"""text_transformer: evaluation runs the same function however it is called (no inference fast path)."""

import torch
from test_text_nets import random_ids

from practica.config.schema import ModelSpec
from practica.models.registry import build_network


def test_inference_mode_gives_what_training_mode_code_gives():
    """``nn.TransformerEncoder`` takes a fused fast path under ``no_grad``/``inference_mode`` for post-norm layers;
    this encoder is pre-norm, so served (inference mode), evaluated (no_grad) and exported outputs are one function."""
    torch.manual_seed(0)
    params = {"dim": 32, "heads": 4, "layers": 2, "ff": 64}
    net = build_network(ModelSpec(arch="text_transformer", params=params), (48,), 3, vocab_size=60).eval()
    ids = random_ids(32, 48, seed=5, vocab=60)
    with_grad = net(ids).detach()
    with torch.no_grad():
        torch.testing.assert_close(net(ids), with_grad, atol=1e-6, rtol=1e-6)
    with torch.inference_mode():
        torch.testing.assert_close(net(ids), with_grad, atol=1e-6, rtol=1e-6)


def test_positions_go_up_to_the_tokenizers_max_length():
    net = build_network(ModelSpec(arch="text_transformer", params={"dim": 8, "heads": 2}), (20,), 2, vocab_size=30)
    assert net.position.num_embeddings == 20
    assert net(random_ids(4, 20, vocab=30)).shape == (4, 2)
