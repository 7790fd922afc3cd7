"""Texts → token ids, fitted on the training split, travelling with the model.

A text model never sees a string: ``TextTokenizer.fit(train_texts, spec)`` learns a vocabulary from
the training split only (validation and test words it never saw become ``[UNK]``, as they will in
production), and ``encode`` turns texts into an int64 N×``max_length`` array, cut at ``max_length``
and padded with ``PAD`` (0) at the end, so a network finds each text's length as ``(ids != 0).sum(1)``.
``counts`` gives the bag of tokens (N×``vocab_size`` float32) a scikit-learn baseline reads.

The tokenizer is Hugging Face's ``tokenizers`` (Rust, batch encoding in threads): characters and
words are its ``WordLevel`` model over a pre-tokenizer that isolates each character or splits words
and punctuation, subwords its byte-pair encoding. ``to_dict``/``from_dict`` give the JSON that the
model's meta and the bundle keep (``tokenizer.json``); the server and ``practica predict`` load it and
encode exactly as training did. No torch here: the slim serving install imports this module.

Example::

    tok = TextTokenizer.fit(train.x, TokenizerSpec(kind="word"))
    ids = tok.encode(["a fine film", "dull"])  # (2, tok.max_length) int64
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from practica.errors import DataError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from practica.config.schema import TokenizerSpec

PAD, UNK = 0, 1
SPECIAL = ("[PAD]", "[UNK]")
FORMAT = 1  # the layout of to_dict(); a bundle with another refuses to load rather than mis-tokenise
# ``auto`` sizes: every token seen at least MIN_COUNT times in training, up to the cap of its kind.
MIN_COUNT = 2
AUTO_VOCAB = {"char": 1_000, "word": 30_000, "subword": 8_000}
AUTO_LENGTH_QUANTILE = 95  # a text longer than 95% of the training texts is cut
MAX_AUTO_LENGTH = 512


@dataclass(frozen=True)
class TextTokenizer:
    """A fitted tokenizer: ``kind``, the vocabulary (in ``hf``), and the ``max_length`` texts are cut to."""

    kind: Literal["char", "word", "subword"]
    max_length: int
    lowercase: bool
    hf: Tokenizer

    @classmethod
    def fit(cls, texts: Sequence[str], spec: TokenizerSpec) -> TextTokenizer:
        """Learn the vocabulary (and ``auto`` sizes) from ``texts``, the training split only."""
        from tokenizers import trainers

        texts = [str(t) for t in texts]
        if not texts:
            raise DataError("no training texts to fit the tokenizer on; the training split is empty")
        hf = _empty(spec.kind, spec.lowercase)
        if spec.kind == "subword":
            size = AUTO_VOCAB["subword"] if spec.vocab_size == "auto" else spec.vocab_size
            trainer: Any = trainers.BpeTrainer(vocab_size=size, min_frequency=MIN_COUNT, special_tokens=list(SPECIAL),
                                               show_progress=False)
        else:
            size = _auto_vocab(hf, texts, spec.kind) if spec.vocab_size == "auto" else spec.vocab_size
            trainer = trainers.WordLevelTrainer(vocab_size=size, min_frequency=1, special_tokens=list(SPECIAL),
                                                show_progress=False)
        hf.train_from_iterator(texts, trainer)
        if spec.max_length == "auto":
            lengths = [len(e.ids) for e in hf.encode_batch(texts)]
            length = max(1, min(MAX_AUTO_LENGTH, math.ceil(np.percentile(lengths, AUTO_LENGTH_QUANTILE))))
        else:
            length = spec.max_length
        return cls(spec.kind, int(length), spec.lowercase, hf)

    @property
    def vocab_size(self) -> int:
        """Token ids run from 0 to ``vocab_size - 1``; 0 is padding, 1 an unknown token."""
        return self.hf.get_vocab_size()

    def tokens(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids, uncut and unpadded."""
        return [e.ids for e in self.hf.encode_batch([str(t) for t in texts])]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """int64 N×``max_length``: each text's ids, cut at ``max_length``, padded with ``PAD`` at the end.
        An empty text (or one of unknown tokens only) keeps one ``UNK`` so every row has a length ≥ 1."""
        out = np.zeros((len(texts), self.max_length), dtype=np.int64)
        for i, ids in enumerate(self.tokens(texts)):
            ids = ids[: self.max_length] or [UNK]
            out[i, : len(ids)] = ids
        return out

    def counts(self, texts: Sequence[str]) -> np.ndarray:
        """float32 N×``vocab_size``: how often each token occurs in each text (uncut): a baseline's input."""
        out = np.zeros((len(texts), self.vocab_size), dtype=np.float32)
        for i, ids in enumerate(self.tokens(texts)):
            np.add.at(out[i], ids, 1.0)
        out[:, PAD] = 0.0
        return out

    def unknown_rate(self, texts: Sequence[str]) -> float:
        """The share of tokens in ``texts`` outside the vocabulary: high when production text drifts."""
        seqs = self.tokens(texts)
        total = sum(len(s) for s in seqs)
        return sum(s.count(UNK) for s in seqs) / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what a model's meta and a bundle's ``tokenizer.json`` keep."""
        return {"format": FORMAT, "kind": self.kind, "max_length": self.max_length, "lowercase": self.lowercase,
                "vocab_size": self.vocab_size, "tokenizer": json.loads(self.hf.to_str())}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TextTokenizer:
        from tokenizers import Tokenizer

        if d.get("format") != FORMAT:
            raise DataError(f"the tokenizer was saved in format {d.get('format')!r}; this practica reads format "
                            f"{FORMAT}: export the bundle again with this version")
        hf = Tokenizer.from_str(json.dumps(d["tokenizer"]))
        return cls(d["kind"], int(d["max_length"]), bool(d["lowercase"]), hf)

    def describe(self) -> str:
        """``word tokens, 12,408 in the vocabulary, texts cut at 180``: the report's and the card's line."""
        return f"{self.kind} tokens, {self.vocab_size:,} in the vocabulary, texts cut at {self.max_length:,}"


def _empty(kind: str, lowercase: bool) -> Tokenizer:
    """An untrained tokenizer of ``kind``: its normaliser (NFKC, lowercase) and pre-tokenizer."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

    model: Any = models.BPE(unk_token=SPECIAL[UNK]) if kind == "subword" else models.WordLevel(unk_token=SPECIAL[UNK])
    hf = Tokenizer(model)
    steps: list[Any] = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    hf.normalizer = normalizers.Sequence(steps)
    if kind == "char":  # every character its own token, spaces and line breaks included
        hf.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    else:  # words, and each run of punctuation apart from them
        hf.pre_tokenizer = pre_tokenizers.Whitespace()
    return hf


def _auto_vocab(hf: Tokenizer, texts: Sequence[str], kind: str) -> int:
    """How many tokens ``auto`` keeps: those seen at least ``MIN_COUNT`` times, up to the kind's cap."""
    counts: Counter[str] = Counter()
    pre, norm = hf.pre_tokenizer, hf.normalizer
    assert pre is not None and norm is not None
    for text in texts:
        counts.update(piece for piece, _ in pre.pre_tokenize_str(norm.normalize_str(text)))
    frequent = sum(1 for n in counts.values() if n >= MIN_COUNT)
    return len(SPECIAL) + min(frequent, AUTO_VOCAB[kind])
