"""Text networks: one battery over every registered architecture (padding ignored, trains, a head that the
embedding hook finds), and each refusal of a bad option at suite load with a clear message."""

import pytest
import torch

from practica.bundle.onnx_export import RawInputModel
from practica.config.schema import ModelSpec
from practica.errors import ModelError
from practica.models.registry import build_network
from practica.models.text_nets import TEXT_ARCHITECTURES
from practica.models.transfer import head_name

# Small but complete: every option that changes the structure (two layers, both directions) is exercised.
SMALL = {
    "text_bag": {"dim": 8, "hidden": 16},
    "text_cnn": {"dim": 8, "widths": [2, 3, 5], "filters": 6},
    "text_rnn": {"dim": 8, "hidden": 6, "layers": 2},
    "text_rnn-packed": {"dim": 8, "hidden": 6, "layers": 2, "pack": "always"},
    "text_rnn-gru": {"cell": "gru", "dim": 8, "hidden": 6, "layers": 2},
    "text_rnn-rnn": {"cell": "rnn", "dim": 8, "hidden": 6, "bidirectional": False},
    "text_transformer": {"dim": 16, "heads": 2, "layers": 2, "ff": 32},
}
VOCAB = 40


def _net(case: str, length: int, classes: int = 3) -> torch.nn.Module:
    return build_network(ModelSpec(arch=case.split("-")[0], params=SMALL[case]), (length,), classes, vocab_size=VOCAB)


def random_ids(count: int, length: int, *, seed: int = 0, vocab: int = VOCAB) -> torch.Tensor:
    """``count`` texts of random lengths 1..length, padded with 0 at the end."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (count, length), generator=g)
    n = torch.randint(1, length + 1, (count,), generator=g)
    return ids.masked_fill(torch.arange(length) >= n.unsqueeze(1), 0)


def test_every_text_architecture_is_in_the_battery():
    assert {case.split("-")[0] for case in SMALL} == set(TEXT_ARCHITECTURES)


@pytest.mark.parametrize("case", SMALL)
def test_padding_is_ignored(case):
    torch.manual_seed(0)
    net = _net(case, 24).eval()
    ids = random_ids(16, 12)
    longer = torch.cat([ids, torch.zeros(16, 12, dtype=torch.long)], 1)
    with torch.no_grad():
        torch.testing.assert_close(net(ids), net(longer), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case", SMALL)
def test_a_row_of_padding_alone_gives_probabilities_not_nan(case):
    net = _net(case, 8).eval()
    with torch.no_grad():
        assert torch.isfinite(net(torch.zeros((2, 8), dtype=torch.long))).all()


@pytest.mark.parametrize("case", SMALL)
def test_trains_on_a_separable_toy_problem(case):
    torch.manual_seed(0)
    ids = random_ids(64, 16, seed=1, vocab=20)
    y = torch.arange(64) % 2
    ids = torch.where((ids != 0) & (y.unsqueeze(1) == 1), ids + 19, ids)  # class 1 uses tokens 20..38
    net = _net(case, 16, classes=2).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = torch.nn.functional.cross_entropy(net(ids), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses


@pytest.mark.parametrize("case", SMALL)
def test_the_head_is_last_and_the_embedding_hook_finds_it(case):
    net = _net(case, 10).eval()
    assert head_name(net) == "head" and isinstance(net.head, torch.nn.Linear)
    model = RawInputModel(net, "text", embedding=True)
    probabilities, embedding = model(random_ids(5, 10))
    model.close()
    assert probabilities.shape == (5, 3) and embedding.shape == (5, net.head.in_features)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(5))


@pytest.mark.parametrize(("arch", "params", "message"), [
    ("text_rnn", {"cell": "lstmm"}, "cell must be one of lstm, gru, rnn; got 'lstmm'. Did you mean 'lstm'"),
    ("text_rnn", {"pack": "yes"}, "pack must be one of auto, always, never; got 'yes'"),
    ("text_rnn", {"hidden": 0}, "hidden must be at least 1"),
    ("text_rnn", {"layers": 0}, "layers must be at least 1"),
    ("text_rnn", {"bidirectional": "yes"}, "bidirectional of arch 'text_rnn' must be of type"),
    ("text_rnn", {"dropout": -0.1}, r"dropout must be in \[0, 1\)"),
    ("text_cnn", {"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ("text_cnn", {"widths": []}, "widths must be a list of window widths"),
    ("text_cnn", {"widths": [3, 0]}, "widths must be a list of window widths"),
    ("text_cnn", {"filters": 0}, "filters must be at least 1"),
    ("text_transformer", {"dim": 30, "heads": 4}, "heads must divide dim .* got dim 30 and heads 4"),
    ("text_transformer", {"heads": 0}, "heads must be at least 1"),
    ("text_transformer", {"ff": 0}, "ff must be at least 1"),
    ("text_transformer", {"dim": 10_000_000}, "too large"),
    ("text_rnn", {"hidden": 8192, "layers": 8}, "has at least .* parameters .* over the limit"),
    ("text_transformer", {"max_length": 64}, "max_length is not an option"),
    ("text_bag", {"hidden": -1}, "hidden must be 0"),
])
def test_bad_options_are_refused_when_the_suite_is_loaded(arch, params, message):
    with pytest.raises(ValueError, match=message):
        ModelSpec(arch=arch, params=params)


def test_vocab_size_is_the_tokenizers_not_the_suites():
    with pytest.raises(ValueError, match="model.tokenizer.vocab_size"):
        ModelSpec(arch="text_bag", params={"vocab_size": 10})
    with pytest.raises(ValueError, match="dim"):
        ModelSpec(arch="text_bag", params={"dim": "wide"})


@pytest.mark.parametrize("arch", TEXT_ARCHITECTURES)
def test_a_text_network_on_images_or_without_a_tokenizer_is_refused(arch):
    with pytest.raises(ModelError, match="reads text"):
        build_network(ModelSpec(arch=arch), (3, 32, 32), 10, vocab_size=50)
    with pytest.raises(ModelError, match="source: text"):
        build_network(ModelSpec(arch=arch), (16,), 10)
