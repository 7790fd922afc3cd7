"""The folder and digits sources, through ``load_source``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_images import folder, image_tree, pixels, write_image
from PIL import Image

from practica.config.schema import SourceSpec
from practica.data import load_source
from practica.data.sources import decode
from practica.errors import DataError


def test_grayscale_folder_keeps_pixels_labels_and_sources(tmp_path: Path) -> None:
    written = image_tree(tmp_path / "d", {"dog": 2, "cat": 3}, mode="L")
    data = load_source(folder(tmp_path / "d"))
    assert data.classes == ("cat", "dog")
    assert data.x.shape == (5, 8, 8, 1) and data.x.dtype == np.uint8
    assert data.y.tolist() == [0, 0, 0, 1, 1] and data.y.dtype == np.int64
    np.testing.assert_array_equal(data.x[3, ..., 0], written["dog"][0])
    assert data.sources[0] == str(tmp_path / "d" / "cat" / "000.png")
    assert data.name == "d" and data.skipped == ()


def test_rgb_folder_keeps_pixels(tmp_path: Path) -> None:
    written = image_tree(tmp_path, {"a": 2, "b": 2}, size=(5, 7))
    data = load_source(folder(tmp_path))
    assert data.x.shape == (4, 5, 7, 3)
    np.testing.assert_array_equal(data.x[2], written["b"][0])


def test_one_color_image_makes_the_set_rgb_and_gray_images_repeat(tmp_path: Path) -> None:
    gray = image_tree(tmp_path, {"a": 2}, mode="L")["a"]
    write_image(tmp_path / "b" / "color.png", pixels(9))
    data = load_source(folder(tmp_path))
    assert data.x.shape == (3, 8, 8, 3)
    for c in range(3):
        np.testing.assert_array_equal(data.x[0, ..., c], gray[0])


@pytest.mark.parametrize(("mode", "channels"), [("RGB", 1), ("L", 3)])
def test_declared_channels_convert(tmp_path: Path, mode: str, channels: int) -> None:
    image_tree(tmp_path, {"a": 1, "b": 1}, mode=mode)
    assert load_source(folder(tmp_path, channels=channels)).x.shape == (2, 8, 8, channels)


def test_mixed_sizes_without_image_size_name_two_files_and_the_fix(tmp_path: Path) -> None:
    image_tree(tmp_path, {"a": 2}, size=(8, 8))
    write_image(tmp_path / "b" / "wide.png", pixels(1, size=(8, 12)))
    with pytest.raises(DataError) as err:
        load_source(folder(tmp_path))
    msg = str(err.value)
    assert str(tmp_path / "a" / "000.png") in msg and "8×8" in msg
    assert str(tmp_path / "b" / "wide.png") in msg and "8×12" in msg
    assert "dataset.image_size: [H, W]" in msg


def test_mixed_sizes_with_image_size_are_resized(tmp_path: Path) -> None:
    image_tree(tmp_path, {"a": 2}, size=(8, 8))
    write_image(tmp_path / "b" / "big.png", np.full((40, 60, 3), 200, dtype=np.uint8))
    data = load_source(folder(tmp_path, image_size=(6, 10)))
    assert data.x.shape == (3, 6, 10, 3)
    assert (data.x[2] == 200).all()  # a flat image stays flat when resized


def test_every_image_suffix_in_any_case_is_read_and_hidden_or_other_files_are_not(tmp_path: Path) -> None:
    for i, name in enumerate(["a.JPG", "b.jpeg", "c.Png", "d.bmp", "e.gif", "f.webp"]):
        write_image(tmp_path / "x" / name, pixels(i, mode="L"))
    write_image(tmp_path / "x" / ".hidden.png", pixels(7))
    write_image(tmp_path / ".git" / "a.png", pixels(8))
    (tmp_path / "x" / "notes.txt").write_text("not an image")
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    data = load_source(folder(tmp_path))
    assert data.classes == ("x",)
    assert [Path(s).name for s in data.sources] == ["a.JPG", "b.jpeg", "c.Png", "d.bmp", "e.gif", "f.webp"]
    assert len(data) == 6


def _truncated_jpeg(path: Path) -> None:
    write_image(path, pixels(3, size=(64, 64)))
    path.write_bytes(path.read_bytes()[:400])


def test_undecodable_files_are_skipped_and_listed(tmp_path: Path) -> None:
    image_tree(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "a" / "empty.png").write_bytes(b"")
    (tmp_path / "a" / "text.png").write_text("I am not a PNG")
    _truncated_jpeg(tmp_path / "b" / "cut.jpg")
    data = load_source(folder(tmp_path))
    assert len(data) == 4
    skipped = {s.source: s.reason for s in data.skipped}
    assert set(skipped) == ({str(tmp_path / "a" / n) for n in ("empty.png", "text.png")}
                            | {str(tmp_path / "b" / "cut.jpg")})
    assert skipped[str(tmp_path / "a" / "empty.png")] == "empty file"
    assert "not an image" in skipped[str(tmp_path / "a" / "text.png")]
    assert "truncated" in skipped[str(tmp_path / "b" / "cut.jpg")].lower()


def test_a_class_whose_every_image_is_damaged_is_an_error(tmp_path: Path) -> None:
    image_tree(tmp_path, {"a": 2})
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "empty.png").write_bytes(b"")
    with pytest.raises(DataError, match="no image of class folder .*b could be decoded"):
        load_source(folder(tmp_path))


def _missing(root: Path) -> Path:
    return root / "nowhere"


def _a_file(root: Path) -> Path:
    write_image(root / "one.png", pixels(0))
    return root / "one.png"


def _no_class_folders(root: Path) -> Path:
    write_image(root / "flat" / "one.png", pixels(0))
    return root / "flat"


def _empty_class(root: Path) -> Path:
    image_tree(root / "d", {"a": 1})
    (root / "d" / "b" / "nested").mkdir(parents=True)
    (root / "d" / "b" / "readme.txt").write_text("no images here")
    return root / "d" / "b"


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_missing, "does not exist"),
        (_a_file, "is a file, not a folder"),
        (_no_class_folders, "has no class sub-folders (it holds 1 image files directly"),
        (_empty_class, "has no images"),
    ],
)
def test_bad_layouts_name_the_path_and_the_expected_layout(tmp_path: Path, make, says: str) -> None:
    named = make(tmp_path)
    root = named.parent if make is _empty_class else named
    with pytest.raises(DataError) as err:
        load_source(folder(root))
    msg = str(err.value)
    assert str(named) in msg and says in msg
    assert f"{root}/<class>/<image>.jpg" in msg


def test_a_process_pool_decodes_the_same_as_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image_tree(tmp_path, {"a": 5, "b": 4}, mode="L")
    (tmp_path / "a" / "empty.png").write_bytes(b"")
    serial = load_source(folder(tmp_path), channels=3)
    monkeypatch.setattr(decode, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(decode, "CHUNK_SIZE", 2)
    monkeypatch.setattr(decode, "_cpu_count", lambda: 2)
    pooled = load_source(folder(tmp_path))
    np.testing.assert_array_equal(pooled.x[..., 0], serial.x[..., 0])
    assert pooled.x.shape[3] == 1 and pooled.sources == serial.sources and pooled.skipped == serial.skipped


def test_digits_are_uint8_images_with_digit_classes() -> None:
    data = load_source(SourceSpec(source="digits"))
    assert data.x.shape == (1797, 8, 8, 1) and data.x.dtype == np.uint8
    assert data.x.max() == 255 and data.classes == tuple("0123456789")
    assert data.sources[17] == "digits[17]" and len(set(data.y.tolist())) == 10


def test_digits_take_size_and_channel_overrides() -> None:
    data = load_source(SourceSpec(source="digits"), image_size=(16, 12), channels=3)
    assert data.x.shape == (1797, 16, 12, 3)


def gray16_gradient(size: tuple[int, int] = (8, 8)) -> np.ndarray:
    """A 16-bit ramp over the whole 0–65535 range (half of it above 255 * 257)."""
    return np.linspace(0, 65535, size[0] * size[1]).round().astype(np.uint16).reshape(size)


def test_16_bit_grayscale_is_scaled_to_8_bits_not_clipped(tmp_path: Path) -> None:
    wide = gray16_gradient()
    for name in ("a", "b"):
        path = tmp_path / name / "ramp.png"
        path.parent.mkdir()
        Image.fromarray(wide).save(path)  # mode I;16: a 16-bit grayscale PNG
        assert Image.open(path).mode == "I;16"
    data = load_source(folder(tmp_path))
    expected = np.rint(wide / 257).astype(np.uint8)  # 0 → 0, 65535 → 255, linear between
    assert data.x.shape == (2, 8, 8, 1)
    np.testing.assert_array_equal(data.x[0, ..., 0], expected)
    assert (data.x == 255).mean() < 0.05  # clipped, half the ramp was 255
    rgb = load_source(folder(tmp_path, channels=3))
    np.testing.assert_array_equal(rgb.x[1, ..., 2], expected)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("orientation", [None, 1, 6, 3])
def test_exif_orientation_turns_the_image_upright_and_leaves_the_file_alone(tmp_path: Path, fmt: str,
                                                                             orientation: int | None) -> None:
    wide = np.zeros((4, 8, 3), np.uint8)  # 4 high, 8 wide: a 90° turn shows in the shape
    wide[0, 0] = 255  # one white corner: where it lands shows the direction
    path = tmp_path / f"photo.{fmt.lower()}"
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation  # the EXIF Orientation tag
    Image.fromarray(wide).save(path, format=fmt, exif=exif.tobytes(), **({"quality": 100} if fmt == "JPEG" else {}))
    with Image.open(path) as img:
        out = decode.prepare_image(img, None, 3)
        assert img.size == (8, 4)  # the caller's image is not turned
    expected = {None: wide, 1: wide, 6: np.rot90(wide, -1), 3: np.rot90(wide, 2)}[orientation]
    assert out.shape == expected.shape
    assert np.abs(out.astype(int) - expected).max() < 40  # JPEG: near, not exact
    assert tuple(np.unravel_index(out[..., 0].argmax(), out.shape[:2])) == \
        tuple(np.unravel_index(expected[..., 0].argmax(), expected.shape[:2]))
