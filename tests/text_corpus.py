"""A small generated text corpus for the text pipeline's tests: three classes that differ by their words."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from practica.data.records import Dataset, Splits

CLASSES = ("food", "sport", "tech")
TOPIC_WORDS = {
    "food": ("bread", "soup", "cheese", "apple", "pasta", "salad", "spicy", "bake", "oven", "recipe", "sweet",
             "flavour"),
    "sport": ("match", "goal", "team", "score", "league", "coach", "runner", "race", "tennis", "keeper", "sprint",
              "medal"),
    "tech": ("laptop", "code", "server", "network", "chip", "battery", "screen", "update", "cloud", "app", "robot",
             "data"),
}
COMMON_WORDS = ("the", "a", "today", "really", "very", "this", "that", "we", "my", "our", "new", "old", "good",
                "great", "some")


def corpus(n: int = 300, seed: int = 0, *, noise: float = 0.3) -> tuple[list[str], np.ndarray]:
    """``n`` short texts (5 to 11 words), a third per class: each word is a topic word of the text's class, a
    common word, or (with probability ``noise`` among topic words) another class's topic word."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % len(CLASSES)
        words = []
        for _ in range(int(rng.integers(5, 12))):
            if rng.random() < 0.45:
                words.append(str(rng.choice(COMMON_WORDS)))
            else:
                topic = CLASSES[label] if rng.random() >= noise else CLASSES[int(rng.integers(len(CLASSES)))]
                words.append(str(rng.choice(TOPIC_WORDS[topic])))
        texts.append(" ".join(words).capitalize() + ".")
        labels.append(label)
    return texts, np.asarray(labels, dtype=np.int64)


def text_dataset(n: int = 300, seed: int = 0, name: str = "texts") -> Dataset:
    texts, y = corpus(n, seed)
    return Dataset(name, np.array(texts, dtype=object), y, CLASSES)


def text_splits(n: int = 300, seed: int = 0) -> Splits:
    """Train 60%, val 20%, test 20% of the corpus, in its (class-interleaved) order."""
    data = text_dataset(n, seed)
    cut = [int(0.6 * n), int(0.8 * n)]
    idx = np.split(np.arange(n), cut)
    parts = {name: data.subset(i, name) for name, i in zip(("train", "val", "test"), idx, strict=True)}
    return Splits(train=parts["train"], val=parts["val"], test=parts["test"], seed=seed, test_is_fixed=False,
                  fingerprint="text-corpus", indices=dict(zip(("train", "val", "test"), idx, strict=True)))


def write_csv(path: Path, n: int = 300, seed: int = 0) -> Path:
    """The corpus as a CSV file with ``text`` and ``label`` columns."""
    texts, y = corpus(n, seed)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["text", "label"])
        out.writerows([t, CLASSES[int(label)]] for t, label in zip(texts, y, strict=True))
    return path
