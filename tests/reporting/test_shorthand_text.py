"""How the report writes a layer or augmentation: as in the suite file, with its non-default settings."""

from __future__ import annotations

import pytest

from practica.config.layers import Conv, Crop, Dropout, HFlip
from practica.reporting.context import _shorthand


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (HFlip(), "hflip"),
        (HFlip(alternate=True), "hflip (alternate)"),
        (Crop(), "crop"),
        (Crop(padding=2, fill="reflect"), "crop 2 (fill reflect)"),
        (Conv(filters=32), "conv32"),
        (Conv(filters=32, kernel=5), "conv32 (kernel 5)"),
        (Dropout(rate=0.2), "dropout 0.2"),
    ],
)
def test_settings_that_differ_from_the_default_are_shown(spec, text):
    assert _shorthand(spec) == text
