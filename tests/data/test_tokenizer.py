"""The text tokenizer: fitted on training texts only, the same ids after a round trip through JSON."""

import json

import numpy as np
import pytest

from practica.config.schema import TokenizerSpec
from practica.data.tokenizer import PAD, UNK, TextTokenizer
from practica.errors import DataError

TRAIN = ["A fine film, a fine cast.", "A dull film.", "Fine acting; dull plot.", "the plot is fine"] * 3


@pytest.mark.parametrize("kind", ["char", "word", "subword"])
def test_encode_cuts_pads_and_round_trips(kind):
    tok = TextTokenizer.fit(TRAIN, TokenizerSpec(kind=kind, max_length=6))
    ids = tok.encode(["a fine film", "", "zzzz qqqq " * 20])
    assert ids.shape == (3, 6) and ids.dtype == np.int64
    assert (ids[:, 0] != PAD).all()  # every text keeps at least one token
    assert ids[1, 0] == UNK and (ids[1, 1:] == PAD).all()
    again = TextTokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    np.testing.assert_array_equal(again.encode(TRAIN), tok.encode(TRAIN))
    assert again.vocab_size == tok.vocab_size


def test_words_outside_training_are_unknown_and_counts_add_up():
    tok = TextTokenizer.fit(TRAIN, TokenizerSpec(kind="word"))
    ids = tok.tokens(["fine xylophone"])[0]
    assert ids[1] == UNK and ids[0] != UNK
    counts = tok.counts(["fine fine film"])
    assert counts.shape == (1, tok.vocab_size) and counts.sum() == 3 and counts.max() == 2
    assert tok.unknown_rate(["fine xylophone"]) == 0.5


def test_auto_sizes_come_from_the_training_texts():
    tok = TextTokenizer.fit(TRAIN, TokenizerSpec(kind="word"))
    # Tokens seen at least twice (all of TRAIN's, repeated 3 times), plus [PAD] and [UNK].
    assert tok.vocab_size == 2 + len({w for t in TRAIN for w in t.lower().replace(",", " , ").replace(".", " . ")
                                      .replace(";", " ; ").split()})
    assert tok.max_length == 8  # "A fine film, a fine cast." is 8 tokens (with "," and "."), the longest


def test_case_is_kept_when_asked():
    tok = TextTokenizer.fit(["Fine fine"] * 2, TokenizerSpec(lowercase=False))
    assert tok.tokens(["Fine"])[0] != tok.tokens(["fine"])[0]


def test_empty_training_split_and_an_unknown_format_are_refused():
    with pytest.raises(DataError, match="training split is empty"):
        TextTokenizer.fit([], TokenizerSpec())
    d = TextTokenizer.fit(TRAIN, TokenizerSpec()).to_dict()
    with pytest.raises(DataError, match="format"):
        TextTokenizer.from_dict({**d, "format": 99})


def test_bad_sizes_are_refused_by_the_config():
    with pytest.raises(ValueError):
        TokenizerSpec(max_length=0)
    with pytest.raises(ValueError):
        TokenizerSpec(kind="sentencepiece")
