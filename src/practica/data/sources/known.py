"""The well-known sets, read from their publishers' own files, with no pickle anywhere:

============== ========================================= ==========================================
source         files                                     parts
============== ========================================= ==========================================
cifar10        cifar-10-binary.tar.gz (binary version)   50,000 train / 10,000 test, 32×32 RGB
cifar100       cifar-100-binary.tar.gz (binary version)  50,000 / 10,000, 32×32 RGB, 100 fine labels
mnist          4 idx files (.gz)                         60,000 / 10,000, 28×28 grayscale
fashion_mnist  4 idx files (.gz)                         60,000 / 10,000, 28×28 grayscale
============== ========================================= ==========================================

``load_known(spec)`` downloads the files once (``download.py``: cached, resumable, md5-checked),
or reads ``spec.path``, a local copy (the archive, or the folder it was extracted to; for the idx
sets the folder holding the files); no network is used then. Decoded arrays go through the
decoded-data cache, so a second load reads two ``.npy`` files.

``CHECKSUMS`` holds the publishers' md5 of every file (CIFAR's page, torchvision's and the
Fashion-MNIST README's lists); tests point it, and the mirror, at files of their own.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import posixpath
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from practica.config.schema import SourceSpec
from practica.data.records import Dataset
from practica.data.sources.download import Remote, fetch, file_md5
from practica.data.storage import cache
from practica.errors import DataError

_PARSER_VERSION = 1  # bump when decoding changes, so cached entries are rebuilt

CHECKSUMS: dict[str, dict[str, str]] = {
    "cifar10": {"cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530"},
    "cifar100": {"cifar-100-binary.tar.gz": "03b5dce01913d631647c71ecec9e9cb8"},
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

# Files people mistake for the ones above: named, so the message can say what was given instead.
_OTHER_VERSIONS = {
    "c58f30108f718f92721af3b95e74349a": "CIFAR-10's Python version (cifar-10-python.tar.gz, pickled batches)",
    "70270af85842c9e89bb428ec9976c926": "CIFAR-10's Matlab version (cifar-10-matlab.tar.gz)",
    "eb9058c3a382ffc7106e4002c42a8d85": "CIFAR-100's Python version (cifar-100-python.tar.gz, pickled batches)",
    "6a4bfa1dcd5c9453dda6bb54194911f4": "CIFAR-100's Matlab version (cifar-100-matlab.tar.gz)",
}

_TITLES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


def load_known(spec: SourceSpec) -> Dataset:
    """The ``spec.part`` part of the set ``spec.source``, from the cache, ``spec.path`` or a download."""
    known = SETS[spec.source]
    if spec.path is None:
        names = known.download_names(spec.part)
        identity: object = ["download", {n: CHECKSUMS[known.source][n] for n in names}]
        build: Callable[[], Dataset] = functools.partial(_from_downloads, known, names, spec.part)
    else:
        local = known.locate(Path(spec.path), spec.part)
        identity = ["path", [_stat(p) for p in local.paths]]
        build = local.read
    content = [cache.FORMAT_VERSION, "known", _PARSER_VERSION, spec.source, spec.part, identity]
    key = hashlib.sha256(json.dumps(content).encode()).hexdigest()
    return cache.cached(key, build)


def _from_downloads(known: CifarSet | IdxSet, names: tuple[str, ...], part: str) -> Dataset:
    return known.read_downloads({n: fetch(known.remote(n)) for n in names}, part)


@dataclass(frozen=True)
class Local:
    """A local copy found under ``dataset.path``: the files it reads, and how."""

    paths: tuple[Path, ...]
    read: Callable[[], Dataset]


# ----------------------------------------------------------------------------------- CIFAR


@dataclass(frozen=True)
class CifarSet:
    """A CIFAR binary archive: records of ``label_bytes`` label bytes then 3072 pixel bytes
    (1024 red, 1024 green, 1024 blue, each 32×32 row-major)."""

    source: str
    archive: str
    url: str
    folder: str  # the archive's top folder
    parts: dict[str, tuple[str, ...]]
    label_bytes: int
    label_at: int  # which label byte is the class (CIFAR-100: 1, the fine label)
    names_file: str
    num_classes: int

    @property
    def title(self) -> str:
        return _TITLES[self.source]

    @property
    def local_hint(self) -> str:
        return f"/local/copy/{self.archive} (the archive, or the folder it was extracted to)"

    def remote(self, name: str) -> Remote:
        return Remote(self.source, name, (self.url,), CHECKSUMS[self.source][name], self.title, self.local_hint)

    def download_names(self, part: str) -> tuple[str, ...]:
        return (self.archive,)

    def read_downloads(self, paths: dict[str, Path], part: str) -> Dataset:
        return self._decode(_read_tar(paths[self.archive], self._members(part), self), part, str(paths[self.archive]))

    def locate(self, path: Path, part: str) -> Local:
        if path.is_dir() and (path / self.archive).is_file():
            path = path / self.archive
        if path.is_file():
            return Local((path,), functools.partial(self._read_local_archive, path, part))
        if path.is_dir():
            for folder in (path, path / self.folder):
                files = [folder / n for n in self._members(part)]
                if all(f.is_file() for f in files):
                    return Local(tuple(files), functools.partial(self._read_folder, folder, part))
            raise DataError(
                f"dataset.path {path} holds neither {self.archive} nor the files extracted from it "
                f"({self.folder}/{', '.join(self._members(part))}). Give the archive, or the folder it was "
                f"extracted to; {self.title} is published at {self.url} (the binary version)."
            )
        raise DataError(
            f"dataset.path {path} does not exist. For source {self.source} give a local copy of {self.archive} "
            f"(from {self.url}) or the folder it was extracted to; or remove dataset.path to download it."
        )

    def _members(self, part: str) -> tuple[str, ...]:
        return (*self.parts[part], self.names_file)

    def _read_local_archive(self, archive: Path, part: str) -> Dataset:
        _check_local_md5(archive, self.archive, CHECKSUMS[self.source][self.archive], self.title, self.url)
        return self._decode(_read_tar(archive, self._members(part), self), part, str(archive))

    def _read_folder(self, folder: Path, part: str) -> Dataset:
        blobs = {}
        for name in self._members(part):
            try:
                blobs[name] = (folder / name).read_bytes()
            except OSError as err:
                raise DataError(f"cannot read {folder / name} ({err.strerror}).") from None
        return self._decode(blobs, part, str(folder))

    def _decode(self, blobs: dict[str, bytes], part: str, where: str) -> Dataset:
        classes = _class_names(blobs[self.names_file], self.num_classes, f"{where}: {self.names_file}")
        xs, ys = [], []
        record = self.label_bytes + 32 * 32 * 3
        for name in self.parts[part]:
            blob = blobs[name]
            if not blob or len(blob) % record:
                raise DataError(
                    f"{where}: {name} has {len(blob)} bytes, not a whole number of {self.title} records "
                    f"({record} bytes each); the file is damaged or not from the binary version. Download "
                    f"{self.url} again."
                )
            rows = np.frombuffer(blob, dtype=np.uint8).reshape(-1, record)
            y = rows[:, self.label_at].astype(np.int64)
            if int(y.max()) >= self.num_classes:
                raise DataError(
                    f"{where}: {name} has label {int(y.max())}; {self.title} has {self.num_classes} classes."
                )
            xs.append(rows[:, self.label_bytes :].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            ys.append(y)
        x = np.ascontiguousarray(np.concatenate(xs))
        return _dataset(self.source, part, x, np.concatenate(ys), classes)


def _read_tar(archive: Path, names: tuple[str, ...], known: CifarSet) -> dict[str, bytes]:
    """The named members' bytes (by base name), reading the archive once, extracting nothing."""
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                base = posixpath.basename(member.name)
                if member.isfile() and base in names and base not in found:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        found[base] = handle.read()
                if len(found) == len(names):
                    break
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise DataError(
            f"{archive} cannot be read as a .tar.gz archive ({err}); it is damaged or not {known.archive}. "
            f"Download it again from {known.url}."
        ) from None
    missing = [n for n in names if n not in found]
    if missing:
        raise DataError(
            f"{archive} lacks {', '.join(missing)}; it is not {known.title}'s binary archive {known.archive} "
            f"(published at {known.url})."
        )
    return found


def _class_names(blob: bytes, count: int, where: str) -> tuple[str, ...]:
    names = tuple(line.strip() for line in blob.decode("utf-8", errors="replace").splitlines() if line.strip())
    if len(names) != count or len(set(names)) != count:
        raise DataError(
            f"{where} names {len(names)} classes ({', '.join(names[:5])}, …); expected {count} distinct names."
        )
    return names


# ------------------------------------------------------------------------------ MNIST family


@dataclass(frozen=True)
class IdxSet:
    """A set published as idx files (``.gz``): images ``idx3``, labels ``idx1``."""

    source: str
    base_urls: tuple[str, ...]  # folders holding the files, tried in order
    parts: dict[str, tuple[str, str]]  # part → (images, labels), names without .gz
    classes: tuple[str, ...]
    torch_folder: str  # torchvision's folder name, so its raw/ download can be named directly

    @property
    def title(self) -> str:
        return _TITLES[self.source]

    @property
    def local_hint(self) -> str:
        return f"/local/copy/{self.source}/ (the folder holding {self.parts['train'][0]}.gz and the other three files)"

    def remote(self, name: str) -> Remote:
        urls = tuple(base + name for base in self.base_urls)
        return Remote(self.source, name, urls, CHECKSUMS[self.source][name], self.title, self.local_hint)

    def download_names(self, part: str) -> tuple[str, ...]:
        return tuple(f"{n}.gz" for n in self.parts[part])

    def read_downloads(self, paths: dict[str, Path], part: str) -> Dataset:
        images, labels = (paths[f"{n}.gz"] for n in self.parts[part])
        return self._decode(images, labels, part)

    def locate(self, path: Path, part: str) -> Local:
        if path.is_file():
            raise DataError(
                f"dataset.path {path} is a file; for source {self.source} give the folder holding the four idx "
                f"files ({', '.join(self.download_names('train') + self.download_names('test'))}, or the same "
                "without .gz)."
            )
        if not path.is_dir():
            raise DataError(
                f"dataset.path {path} does not exist. For source {self.source} give the folder holding its idx "
                f"files ({self.base_urls[0]}), or remove dataset.path to download them."
            )
        found = [self._find(path, name) for name in self.parts[part]]
        missing = [name for name, f in zip(self.parts[part], found, strict=True) if f is None]
        if missing:
            raise DataError(
                f"dataset.path {path} lacks {' and '.join(m + '.gz' for m in missing)} (nor the same without .gz, "
                f"in it, its raw/ or {self.torch_folder}/raw/). Put {self.title}'s idx files there "
                f"(published at {self.base_urls[0]})."
            )
        images, labels = found
        assert images is not None and labels is not None

        def read() -> Dataset:
            for name, f in zip(self.parts[part], (images, labels), strict=True):
                if f.suffix == ".gz":  # the published files; uncompressed ones have no published checksum
                    published = f"{name}.gz"
                    md5 = CHECKSUMS[self.source][published]
                    _check_local_md5(f, published, md5, self.title, self.base_urls[0] + published)
            return self._decode(images, labels, part)

        return Local((images, labels), read)

    def _find(self, root: Path, name: str) -> Path | None:
        dotted = name.replace("-idx", ".idx")  # a common re-publication: train-images.idx3-ubyte
        for folder in (root, root / "raw", root / self.torch_folder / "raw"):
            for candidate in (f"{name}.gz", name, f"{dotted}.gz", dotted):
                if (folder / candidate).is_file():
                    return folder / candidate
        return None

    def _decode(self, images_file: Path, labels_file: Path, part: str) -> Dataset:
        images = _idx(images_file, 3)
        labels = _idx(labels_file, 1)
        if len(images) != len(labels):
            raise DataError(
                f"{images_file} holds {len(images)} images but {labels_file} holds {len(labels)} labels; "
                "give the images and labels of the same part."
            )
        y = labels.astype(np.int64)
        if len(y) and int(y.max()) >= len(self.classes):
            raise DataError(f"{labels_file} has label {int(y.max())}; {self.title} has {len(self.classes)} classes.")
        return _dataset(self.source, part, np.ascontiguousarray(images[..., None]), y, self.classes)


def _idx(path: Path, ndim: int) -> np.ndarray:
    """An idx file of unsigned bytes (gzipped or not): magic 0 0 8 ndim, ndim big-endian sizes, data."""
    try:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataError(f"{path} cannot be read ({err}); the file is damaged. Download it again.") from None
    kind = "images (idx3)" if ndim == 3 else "labels (idx1)"
    header = 4 + 4 * ndim
    if len(data) < header or data[:4] != bytes((0, 0, 8, ndim)):
        raise DataError(f"{path} is not an idx file of {kind}: it starts with {data[:4].hex()}, not 00000{8}0{ndim}.")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    if len(data) - header != int(np.prod(dims)):
        raise DataError(
            f"{path} declares {'×'.join(map(str, dims))} values but holds {len(data) - header}; the file is "
            "truncated or damaged. Download it again."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


# ------------------------------------------------------------------------------------ shared


def _dataset(source: str, part: str, x: np.ndarray, y: np.ndarray, classes: tuple[str, ...]) -> Dataset:
    name = source if part == "train" else f"{source}-{part}"
    return Dataset(name=name, x=x, y=y, classes=classes, sources=tuple(f"{source}/{part}[{i}]" for i in range(len(y))))


def _check_local_md5(path: Path, expected_name: str, expected_md5: str, title: str, url: str) -> None:
    """A local copy named in the suite must be the published file; say what it is otherwise."""
    try:
        got = file_md5(path)
    except OSError as err:
        raise DataError(f"cannot read {path} ({err.strerror}).") from None
    if got == expected_md5:
        return
    what = ""
    if got in _OTHER_VERSIONS:
        what = f" It is {_OTHER_VERSIONS[got]}; practica reads the binary version only (it never loads a pickle)."
    else:
        other = [f"{_TITLES[s]}'s {n}" for s, files in CHECKSUMS.items() for n, m in files.items() if m == got]
        what = f" It is {other[0]}." if other else ""
    raise DataError(
        f"{path} (dataset.path) is not {title}'s published {expected_name}: its md5 is {got}, expected "
        f"{expected_md5}.{what} Download {url}, or give the folder it was extracted to, or remove dataset.path "
        "to let practica download it."
    )


def _stat(path: Path) -> list[object]:
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


_CIFAR_BASE = "https://www.cs.toronto.edu/~kriz/"

SETS: dict[str, CifarSet | IdxSet] = {
    "cifar10": CifarSet(
        source="cifar10",
        archive="cifar-10-binary.tar.gz",
        url=_CIFAR_BASE + "cifar-10-binary.tar.gz",
        folder="cifar-10-batches-bin",
        parts={"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)},
        label_bytes=1,
        label_at=0,
        names_file="batches.meta.txt",
        num_classes=10,
    ),
    "cifar100": CifarSet(
        source="cifar100",
        archive="cifar-100-binary.tar.gz",
        url=_CIFAR_BASE + "cifar-100-binary.tar.gz",
        folder="cifar-100-binary",
        parts={"train": ("train.bin",), "test": ("test.bin",)},
        label_bytes=2,  # coarse (20 superclasses), then fine (100 classes)
        label_at=1,
        names_file="fine_label_names.txt",
        num_classes=100,
    ),
    "mnist": IdxSet(
        source="mnist",
        # yann.lecun.com is often down; torchvision lists the same files on S3 first.
        base_urls=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        parts={
            "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
            "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        },
        classes=tuple(str(d) for d in range(10)),
        torch_folder="MNIST",
    ),
    "fashion_mnist": IdxSet(
        source="fashion_mnist",
        base_urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        parts={
            "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
            "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        },
        classes=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"
        ),
        torch_folder="FashionMNIST",
    ),
}
