"""evaluation.slices, human_level and selection.slice_floors in the suite file: each mistake one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests_support import with_change

from practica.config import load_suite, suite_from_dict
from practica.errors import ConfigError


@pytest.mark.parametrize("path, value, expected", [
    ("evaluation.slices", [{"pattern": "(night"}], ["evaluation.slices[0]", "not a valid regular expression",
                                                      "(night", "Escape"]),
    ("evaluation.slices", [{"pattern": "x", "folder_level": 1}], ["exactly one of", "got folder_level, pattern"]),
    ("evaluation.slices", [{"name": "empty"}], ["exactly one of", "got none"]),
    ("evaluation.slices", [{"folder_level": 0}], ["folder_level", "greater than 0"]),
    ("evaluation.slices", [{"colum": "sex"}], ["colum", "column"]),
    ("evaluation.human_level", "high", ["human_level"]),
    ("evaluation.min_slice_samples", 0, ["min_slice_samples", "greater than 0"]),
    ("selection.slice_floors", {"class: cat": "high"}, ["slice_floors", "high"]),
    ("selection.slice_floors", [0.5], ["slice_floors"]),
])
def test_a_bad_slice_setting_is_named(path, value, expected):
    with pytest.raises(ConfigError) as err:
        suite_from_dict(with_change(path, value))
    for text in expected:
        assert text in str(err.value), (text, str(err.value))


def test_good_slice_settings_load_and_a_tags_file_is_relative_to_the_suite(tmp_path: Path):
    raw = with_change("evaluation", {"slices": [{"folder_level": 2, "name": "site"}, {"tags": "meta/tags.csv"}],
                                     "human_level": {"class: 3": 0.99, "*": 0.97}, "min_slice_samples": 30})
    raw["selection"] = {"slice_floors": {"*": 0.8}}
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(raw))
    suite = load_suite(tmp_path / "suite.yaml")
    assert suite.evaluation.slices[0].kind == "folder_level"
    assert suite.evaluation.slices[1].tags == str((tmp_path / "meta" / "tags.csv").resolve())
    assert suite.evaluation.human_level == {"class: 3": 0.99, "*": 0.97}
    assert suite.selection.slice_floors == {"*": 0.8}
