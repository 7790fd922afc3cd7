"""The csv source: tables of numeric and categorical columns with a target, missing values, bad rows;
its hygiene checks and cleaning policy."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from practica.config.schema import CleanSpec, SourceSpec
from practica.data import load_source
from practica.data.duplicates.checks import check_data
from practica.data.duplicates.clean import clean
from practica.data.sources.infer import infer_source
from practica.data.sources.tabular import (
    TABLE_SCHEMA,
    UNKNOWN_CODE,
    Column,
    TableSchema,
    looks_like_pixels,
    parse_table_csv,
)
from practica.errors import DataError, InputError

TABLE = """\
species,island,bill,mass,sex
Adelie,Torgersen,39.1,3750,male
Adelie,Biscoe,NA,3800,female
Gentoo,Biscoe,47.5,,?
Gentoo,Dream,49.0,5200,null
Chinstrap,Dream,46.5,3500,N/A
"""


def _write(tmp_path: Path, text: str, name: str = "table.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _load(tmp_path: Path, text: str, **options):
    return load_source(SourceSpec(source="csv", path=_write(tmp_path, text), **options))


def test_kinds_are_inferred_and_categories_encoded_with_missing_markers(tmp_path: Path) -> None:
    data = _load(tmp_path, TABLE)
    schema = data.table
    assert [(c.name, c.kind) for c in schema.columns] == [
        ("island", "categorical"), ("bill", "numeric"), ("mass", "numeric"), ("sex", "categorical")]
    assert schema.target == "species" and data.feature_names == ("island", "bill", "mass", "sex")
    assert schema.columns[0].categories == ("Biscoe", "Dream", "Torgersen")
    assert schema.columns[3].categories == ("female", "male")  # ?, null and N/A are missing, not categories
    assert data.x.dtype == np.float32 and data.x.shape == (5, 4)
    np.testing.assert_array_equal(data.x[0], np.array([2, 39.1, 3750, 1], dtype=np.float32))
    assert math.isnan(data.x[1, 1]) and math.isnan(data.x[2, 2]) and np.isnan(data.x[2:, 3]).all()
    assert data.classes == ("Adelie", "Chinstrap", "Gentoo") and data.y.tolist() == [0, 0, 2, 2, 1]
    assert data.task == "classification" and data.sources[0] == "table.csv:row 2"


def test_declared_kinds_and_ignored_columns(tmp_path: Path) -> None:
    text = "id,zone,size,y\n1,10,2.5,a\n2,20,3.5,b\n3,10,1.0,a\n"
    data = _load(tmp_path, text, columns={"id": "ignore", "zone": "categorical"})
    assert data.feature_names == ("zone", "size") and data.table.ignored == ("id",)
    assert data.table.columns[0].categories == ("10", "20")


def test_unparseable_rows_are_skipped_with_their_row_numbers(tmp_path: Path) -> None:
    rows = "\n".join(f"{i % 3},{i * 1.5},c{i % 2}" for i in range(20))
    text = f"target,size,colour\n{rows}\n1,2.0\n2,abc,c1\n"
    data = _load(tmp_path, text)
    assert len(data) == 20
    assert tuple(map(str, data.skipped)) == ("table.csv:row 22: 2 values, but the header has 3 columns",
                            "table.csv:row 23: column 'size' is 'abc', not a number")


def test_rows_without_a_target_are_dropped_and_recorded(tmp_path: Path) -> None:
    data = _load(tmp_path, "y,a\n1,2\nNA,3\n,4\n0,5\n")
    assert data.y.tolist() == [1, 0] and data.sources == ("table.csv:row 2", "table.csv:row 5")
    assert tuple(map(str, data.skipped)) == ("table.csv:row 3: no target (column 'y' is missing)",
                            "table.csv:row 4: no target (column 'y' is missing)")


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        ("", {}, "is empty"),
        ("a,b,label\n", {}, "no usable row (it has a header but no rows)"),
        ("a,b,c\n1,2,3\n", {},
         "no target column: none is named target, label, class, y, species. Its columns are a, b, c"),
        ("a,b,c\n1,2,3\n", {"target": "d"}, "no column 'd' (dataset.target); its columns are a, b, c"),
        ("a,b,c\n1,2,3\n", {"target": "c", "columns": {"e": "numeric"}}, "no column 'e' (dataset.columns)"),
        ("y\n1\n", {}, "no input column"),
        ("a,a,y\n1,2,3\n", {}, "two columns named 'a'"),
    ],
)
def test_unusable_files_are_clear_errors(tmp_path: Path, text: str, options: dict, message: str) -> None:
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _load(tmp_path, text, **options)


def test_a_column_that_is_all_missing_loads_as_numeric_nan(tmp_path: Path) -> None:
    data = _load(tmp_path, "y,a,b\n0,1,NA\n1,2,\n0,3,?\n")
    assert data.table.columns[1].kind == "numeric" and np.isnan(data.x[:, 1]).all()


@pytest.mark.parametrize(
    ("values", "task", "expected"),
    [(["1", "0", "1"], "auto", "classification"), (["1.5", "2.25", "3"], "auto", "regression"),
     ([str(v) for v in range(40)], "auto", "regression"), (["a", "b"], "auto", "classification"),
     (["1", "2"], "regression", "regression"), (["1.5", "2.5"], "classification", "classification")],
)
def test_the_task_follows_the_target(tmp_path: Path, values: list[str], task: str, expected: str) -> None:
    text = "target,x\n" + "\n".join(f"{v},{i}" for i, v in enumerate(values)) + "\n"
    data = parse_table_csv(_write(tmp_path, text), task=task)
    assert data.task == expected
    if expected == "regression":
        assert data.classes == () and data.y.dtype == np.float32
        np.testing.assert_allclose(data.y, [float(v) for v in values])


def test_a_text_target_cannot_be_regression(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="regression needs a numeric target"):
        parse_table_csv(_write(tmp_path, "target,x\na,1\nb,2\n"), task="regression")


def test_the_table_goes_through_the_cache_whole(tmp_path: Path) -> None:
    spec = SourceSpec(source="csv", path=_write(tmp_path, TABLE))
    first, second = load_source(spec), load_source(spec)
    assert second.table == first.table and second.feature_names == first.feature_names
    np.testing.assert_array_equal(second.x, first.x)  # NaN where NaN


def test_schema_encodes_named_and_positional_rows(tmp_path: Path) -> None:
    schema = _load(tmp_path, TABLE).table
    row = schema.encode({"island": "Dream", "bill": 40.5, "sex": None})
    assert row[0] == 1 and row[1] == np.float32(40.5) and np.isnan(row[2:]).all()
    assert schema.encode(["Mars", "41", "NA", "male"])[0] == UNKNOWN_CODE
    with pytest.raises(InputError, match="unknown column 'wings'"):
        schema.encode({"wings": 2})
    with pytest.raises(InputError, match="column 'bill' is 'long'; it takes a number"):
        schema.encode({"bill": "long"})
    with pytest.raises(InputError, match="column 'island' is 3.5; it takes a category as a string"):
        schema.encode({"island": 3.5})
    stored = TABLE_SCHEMA.dump_python(schema, mode="json")
    assert TABLE_SCHEMA.validate_python(stored) == schema
    # the shape meta.json and bundle cards have always held: categories only for a categorical column
    assert stored["target"] == schema.target and stored["ignored"] == list(schema.ignored)
    assert [list(c) for c in stored["columns"]] == [
        ["name", "kind", "categories"] if c.kind == "categorical" else ["name", "kind"] for c in schema.columns]
    assert TABLE_SCHEMA.validate_python({"columns": [{"name": "a", "kind": "numeric"}], "target": "y"}) == \
        TableSchema((Column("a", "numeric"),), "y")


def test_a_bare_csv_path_is_a_table_or_pixels_by_its_values(tmp_path: Path) -> None:
    table = _write(tmp_path, TABLE)
    assert infer_source(table).source == "csv" and not looks_like_pixels(table)
    pixels = np.random.default_rng(0).integers(0, 256, (5, 64))
    text = "label," + ",".join(f"p{i}" for i in range(64)) + "\n"
    text += "".join(f"{i % 2}," + ",".join(map(str, row)) + "\n" for i, row in enumerate(pixels))
    assert infer_source(_write(tmp_path, text, "pixels.csv")).source == "pixel_csv"


def test_hygiene_names_columns_and_finds_outliers_ids_and_conflicting_duplicates(tmp_path: Path) -> None:
    rows = [f"{'a' if i % 2 else 'b'},{10 + i % 5},name{i},{i % 3}" for i in range(30)]
    rows += ["a,900,name_x,0", "b,10,name0,0", "a,10,name0,0", "a,inf,name_y,1"]
    data = _load(tmp_path, "y,size,who,group\n" + "\n".join(rows) + "\n", columns={"group": "categorical"})
    report = check_data({"data": data})
    outliers = report.check("outliers")
    assert outliers.status == "warning" and [(f.name, f.count) for f in outliers.findings] == [("size", 1)]
    assert "900" in outliers.findings[0].detail
    assert report.check("id_like").status == "ok"  # name0 repeats
    assert report.check("non_finite").findings[0].name == "size"
    # row 32 repeats row 2 (b,10,name0,0); row 33 is the same sample with another target
    assert report.check("exact_within").count >= 1
    assert report.check("label_conflicts").status == "warning"


def test_an_identifier_column_is_flagged(tmp_path: Path) -> None:
    rows = "\n".join(f"{i % 2},user{i},{i},{i % 7}" for i in range(25))
    data = _load(tmp_path, f"y,user,rowid,size\n{rows}\n")
    check = check_data({"data": data}).check("id_like")
    assert check.status == "warning" and [f.name for f in check.findings] == ["user", "rowid"]
    assert "ignore in dataset.columns" in check.summary


@pytest.mark.parametrize(("policy", "kept"), [("impute", 5), ("drop_rows", 1)])
def test_the_missing_policy_records_every_row(tmp_path: Path, policy: str, kept: int) -> None:
    data = _load(tmp_path, TABLE)
    result = clean(data, CleanSpec(missing=policy, max_drop=1.0))  # 4 of 5 rows: beyond the 2% guard
    assert len(result.keep) == kept
    missing = [d for d in result.decisions if d.rule == "missing_values"]
    assert len(missing) == 4 and {d.action for d in missing} == {"keep" if policy == "impute" else "drop"}
    assert missing[0].samples == ("table.csv:row 3",) and "bill" in missing[0].reason
    assert any("missing" in line for line in result.notes + result.drops)  # kept: a note; dropped: a drop line


def test_the_shipped_penguins_table_as_classes_and_as_a_quantity() -> None:
    from importlib import resources

    path = Path(str(resources.files("practica") / "examples" / "penguins.csv"))
    species = parse_table_csv(path)  # species is a default target name
    assert len(species) == 344 and species.classes == ("Adelie", "Chinstrap", "Gentoo") and not species.skipped
    mass = parse_table_csv(path, target="body_mass_g", task="regression")
    assert mass.task == "regression" and len(mass) == 342 and mass.y.dtype == np.float32
    assert [s.reason for s in mass.skipped] == ["no target (column 'body_mass_g' is missing)"] * 2
    assert "species" in mass.feature_names and mass.table.columns[0].categories == ("Adelie", "Chinstrap", "Gentoo")


def test_wide_numeric_columns_read_alike_whether_clean_or_not(tmp_path: Path):
    """Whole numeric columns are parsed at once; a column with a missing marker, a bad value or a
    "nan" goes value by value. Both give the same table, and the row with the bad value is skipped."""
    rng = np.random.default_rng(0)
    values = rng.integers(0, 256, size=(40, 30))
    lines = ["label," + ",".join(f"p{j}" for j in range(30))]
    for i, row in enumerate(values):
        fields = [str(v) for v in row]
        if i == 3:
            fields[5] = "NA"  # missing: kept for imputation
        if i == 7:
            fields[9] = "nan"  # a missing marker too
        if i == 11:
            fields[2] = "twelve"  # not a number: the row is skipped
        if i == 13:
            fields[4] = f" {fields[4]} "  # spaces around a number are fine
        lines.append(f"{i % 3}," + ",".join(fields))
    data = parse_table_csv(_write(tmp_path, "\n".join(lines) + "\n"), target="label")
    assert len(data) == 39
    assert any("row 13" in str(s) and "'p2'" in str(s) and "twelve" in str(s) for s in data.skipped)
    expected = np.delete(values, 11, axis=0).astype(np.float32)
    expected[3, 5] = np.nan
    expected[7, 9] = np.nan
    np.testing.assert_array_equal(data.x, expected)
    assert [c.kind for c in data.table.columns] == ["numeric"] * 30
    assert data.y.tolist() == [i % 3 for i in range(40) if i != 11]
