"""What the prediction log keeps of an input: a few numbers, cheap to compute on the request path.

Images: mean brightness, contrast (the standard deviation of the pixels) and per-channel means,
all on a 0–1 scale, as ``bundle/reference.py`` summarises the training images. Tables: the
encoded feature values in the model's column order (null for a missing value). Texts: their
length in characters and in words (never the text itself: the log keeps no user's words).
"""

from __future__ import annotations

import numpy as np


def input_summaries(x: np.ndarray) -> list[dict]:
    """(N, H, W, C) uint8 images, (N, F) feature rows or (N,) texts → one summary per input."""
    if x.ndim == 1 and x.dtype.kind in "OUS":
        return [{"chars": len(str(t)), "words": len(str(t).split())} for t in x.tolist()]
    if x.ndim == 4:
        n, channels = len(x), x.shape[-1]
        flat = x.reshape(n, -1, channels).astype(np.float32)
        means = (flat.mean(axis=1) / 255.0).tolist()
        brightness = (flat.reshape(n, -1).mean(axis=1) / 255.0).tolist()
        contrast = (flat.reshape(n, -1).std(axis=1) / 255.0).tolist()
        return [{"brightness": b, "contrast": c, "channel_means": m}
                for b, c, m in zip(brightness, contrast, means, strict=True)]
    values = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return [{"features": [None if v != v else v for v in row]} for row in values.tolist()]  # NaN → null
