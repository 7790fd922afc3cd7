"""Hygiene checks for texts (``Dataset.kind == "text"``), beside the duplicate and balance checks of
``checks.py``, which apply to texts as they are (duplicates through ``text_hashes``).

- **Length**: characters and words (runs of letters and digits) per text, min / median / 95th
  percentile / max per part, the longest and shortest texts named, and each class's median length.
  Informative (``ok``), except where the median lengths of two classes differ threefold or more:
  a model may then learn the length rather than the content, and the test score would say so only
  if the test set is biased alike.
- **Characters**: texts holding control characters (other than tab and line breaks), U+FFFD (the
  replacement character a decoder leaves for bytes it could not read), mojibake (UTF-8 read as
  Latin-1 or cp1252: ``Ã©`` for é, ``â€™`` for ’), or mostly non-letters (under half the visible
  characters letters, in a text of 10 or more: markup, numbers, a table pasted as text); and texts
  whose main script (Latin, Cyrillic, CJK…, by their first 200 letters) is not the set's: another
  language, perhaps. A warning where any text is flagged; the texts are named, with an excerpt.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import Any

import numpy as np

from practica.data.records import Dataset, sample_name
from practica.text import plural

MOSTLY_OTHER = 0.5  # a text with fewer letters than this share of its visible characters is flagged
MIN_VISIBLE = 10  # ... when it has at least this many visible characters
LENGTH_RATIO = 3.0  # class median lengths this many times apart: the length alone tells the classes
SCRIPT_LETTERS = 200  # letters per text read to tell its main script
_SHOWN = 20  # flagged texts listed per kind of oddity
_EXCERPT = 60
_WORD = re.compile(r"\w+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_MOJIBAKE = re.compile(r"Ã[\u0080-\u00bf]|â€|Â[\u00a0-\u00bf]")
ODDITIES = {
    "control": "control characters",
    "replacement": "U+FFFD replacement characters (bytes that could not be decoded)",
    "mojibake": "mojibake (UTF-8 read as Latin-1 or cp1252, e.g. 'Ã©' for 'é')",
    "non_letters": f"mostly non-letters (under {MOSTLY_OTHER:.0%} letters)",
    "script": "another script than most texts (another language?)",
}


def text_checks(parts: dict[str, Dataset], first: str) -> list:
    """The text checks over ``parts`` (``first`` is the part the model learns from)."""
    from practica.data.duplicates.checks import Check

    texts = {n: d for n, d in parts.items() if d.kind == "text"}
    if not texts:
        return []
    return [_lengths(texts, first, Check), _characters(texts, first, Check)]


def lengths(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Characters and words of each text (int64 N each)."""
    chars = np.fromiter((len(t) for t in x), dtype=np.int64, count=len(x))
    words = np.fromiter((len(_WORD.findall(t)) for t in x), dtype=np.int64, count=len(x))
    return chars, words


def _stats(v: np.ndarray) -> dict[str, int]:
    if not len(v):
        return {}
    q = np.percentile(v, [50, 95])
    return {"min": int(v.min()), "median": int(round(q[0])), "p95": int(round(q[1])), "max": int(v.max())}


def _span(s: dict[str, int], unit: str) -> str:
    return f"{s['min']:,}–{s['max']:,} {unit} (median {s['median']:,}, 95th percentile {s['p95']:,})"


def _lengths(texts: dict[str, Dataset], first: str, check: Any):
    counts: dict[str, Any] = {}
    for name, d in texts.items():
        chars, words = lengths(d.x)
        entry: dict[str, Any] = {"characters": _stats(chars), "words": _stats(words)}
        if len(d):
            entry["longest"] = sample_name(d, int(np.argmax(chars)), name)
            entry["shortest"] = sample_name(d, int(np.argmin(chars)), name)
            entry["class_median_words"] = {c: int(np.median(words[d.y == k])) for k, c in enumerate(d.classes)
                                           if (d.y == k).any()}
        counts[name] = entry
    base = counts.get(first) or next(iter(counts.values()))
    name = first if first in counts else next(iter(counts))
    if not base["characters"]:
        return check("text_length", "Text length", "ok", f"no texts in {name}", 0, counts)
    line = (f"{name}: {_span(base['characters'], 'characters')}; {_span(base['words'], 'words')}; longest "
            f"{base['longest']}, shortest {base['shortest']}")
    medians = {c: m for c, m in base["class_median_words"].items()}
    status = "ok"
    if len(medians) > 1:
        hi, lo = max(medians, key=medians.__getitem__), min(medians, key=medians.__getitem__)
        if medians[hi] >= LENGTH_RATIO * max(1, medians[lo]):
            status = "warning"
            line += (f"; class '{hi}' has a median of {medians[hi]:,} words, '{lo}' {medians[lo]:,}: a model may "
                     "learn the length rather than the content")
    return check("text_length", "Text length", status, line, int(status == "warning"), counts)


def oddities(text: str) -> list[str]:
    """The kinds of oddity (keys of ``ODDITIES``, but ``script``) in ``text``."""
    found = []
    if _CONTROL.search(text):
        found.append("control")
    if "\ufffd" in text:
        found.append("replacement")
    if _MOJIBAKE.search(text):
        found.append("mojibake")
    visible = [c for c in text if not c.isspace()]
    if len(visible) >= MIN_VISIBLE and sum(c.isalpha() for c in visible) < MOSTLY_OTHER * len(visible):
        found.append("non_letters")
    return found


def main_script(text: str) -> str:
    """The script most of the text's first ``SCRIPT_LETTERS`` letters are written in ("LATIN", "CYRILLIC",
    "CJK", …, the first word of their Unicode names), or "" for a text without letters."""
    letters: Counter[str] = Counter()
    seen = 0
    for c in text:
        if c.isalpha():
            letters[unicodedata.name(c, "UNKNOWN").split(" ")[0]] += 1
            seen += 1
            if seen >= SCRIPT_LETTERS:
                break
    return letters.most_common(1)[0][0] if letters else ""


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat[:_EXCERPT] + ("…" if len(flat) > _EXCERPT else ""))


def _characters(texts: dict[str, Dataset], first: str, check: Any):
    flagged: dict[str, list[str]] = {k: [] for k in ODDITIES}
    counts: dict[str, Any] = {}
    scripts = {name: [main_script(t) for t in d.x] for name, d in texts.items()}
    everyone = Counter(s for ss in scripts.values() for s in ss if s)
    main = everyone.most_common(1)[0][0] if everyone else ""
    for name, d in texts.items():
        found: Counter[str] = Counter()
        for i, t in enumerate(d.x):
            kinds = oddities(t)
            if main and scripts[name][i] and scripts[name][i] != main:
                kinds.append("script")
            for k in kinds:
                found[k] += 1
                if len(flagged[k]) < _SHOWN:
                    extra = f" {scripts[name][i].lower()}" if k == "script" else ""
                    flagged[k].append(f"{sample_name(d, i, name)}: {ODDITIES[k].split(' (')[0]}{extra}: {_excerpt(t)}")
        counts[name] = {k: found[k] for k in ODDITIES} | {"scripts": dict(Counter(scripts[name]).most_common(5))}
    totals = {k: sum(c[k] for c in counts.values()) for k in ODDITIES}
    if not any(totals.values()):
        return check("text_characters", "Text characters", "ok",
                     "no control characters, replacement characters or mojibake; every text mostly letters"
                     + (f", in {main.lower()} script" if main else ""), 0, counts)
    line = "; ".join(f"{plural(n, 'text')} with {ODDITIES[k]}" for k, n in totals.items() if n)
    findings = tuple(f for k in ODDITIES for f in flagged[k])
    return check("text_characters", "Text characters", "warning", line, sum(totals.values()), counts, findings)
