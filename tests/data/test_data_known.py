"""Well-known sets (CIFAR-10/100 binary, MNIST, Fashion-MNIST idx): download, resume, checksums,
local copies and the decoded-data cache, against a local HTTP server serving tiny archives built
here in the official formats (the registry's checksums and the mirror are pointed at them)."""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from net_support import free_port

from practica.config.load import load_suite, suite_from_dict
from practica.config.schema import SourceSpec
from practica.data import prepare_data
from practica.data.sources import download, known
from practica.data.sources.known import load_known
from practica.errors import DataError

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR100_NAMES = [f"fine{i:02d}" for i in range(100)]
REPO = Path(__file__).parents[2]


# ------------------------------------------------------------------------- a local server


class Server:
    """Serves ``root`` over HTTP on 127.0.0.1; logs (path, Range) of every request; can cut a
    response short once (``drop_after[path] = n``) and ignore Range (``honour_range``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[tuple[str, str | None]] = []
        self.drop_after: dict[str, int] = {}
        self.fail_first: dict[str, int] = {}  # path → an HTTP status answered once
        self.honour_range = True
        self.misplaced_range = 0  # answer that many resume requests with a range starting at 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                asked = self.headers.get("Range")
                server.requests.append((self.path, asked))
                file = server.root / self.path.lstrip("/")
                status = server.fail_first.pop(self.path, None)
                if status is not None:
                    self.send_error(status)
                    return
                if not file.is_file():
                    self.send_error(404)
                    return
                data = file.read_bytes()
                start = 0
                if asked and server.honour_range:
                    start = int(re.fullmatch(r"bytes=(\d+)-", asked).group(1))
                    if server.misplaced_range:
                        server.misplaced_range -= 1
                        start = 0
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = server.drop_after.pop(self.path, None)
                self.wfile.write(body if cut is None else body[:cut])
                self.close_connection = True

        return Handler

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path: Path):
    srv = Server(tmp_path / "www")
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(download.MIRROR_ENV, raising=False)
    monkeypatch.setattr(download, "RETRY_DELAYS_S", (0.0, 0.0))
    monkeypatch.setattr(download, "TIMEOUT_S", 5.0)


def serve(
    monkeypatch: pytest.MonkeyPatch, server: Server, source: str, files: dict[str, Path], flat: bool = False,
) -> None:
    """Put ``files`` on the mirror (``<set>/<name>``, or ``<name>`` when ``flat``) and their md5 in the
    registry."""
    folder = server.root if flat else server.root / source
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in files.items():
        (folder / name).write_bytes(path.read_bytes())
    monkeypatch.setitem(known.CHECKSUMS, source, {name: md5(path) for name, path in files.items()})
    monkeypatch.setenv(download.MIRROR_ENV, server.url)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object):
        raise AssertionError("the network was used")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


# ----------------------------------------------------------------- archives in the official formats


def cifar_archive(
    path: Path, folder: str, parts: dict[str, int], label_bytes: int, names: dict[str, list[str]], seed: int = 0
) -> dict[str, np.ndarray]:
    """A CIFAR binary .tar.gz: for each file, that many records of label bytes + 3072 pixel bytes."""
    rng = np.random.default_rng(seed)
    records = {}
    with tarfile.open(path, "w:gz") as tar:
        for name, n in parts.items():
            rec = rng.integers(0, 256, size=(n, label_bytes + 3072), dtype=np.uint8)
            rec[:, 0] = rng.integers(0, 20 if label_bytes == 2 else 10, size=n)
            rec[:, label_bytes - 1] = rng.integers(0, len(next(iter(names.values()))), size=n)
            records[name] = rec
            _add(tar, f"{folder}/{name}", rec.tobytes())
        for name, lines in names.items():
            _add(tar, f"{folder}/{name}", ("\n".join(lines) + "\n\n").encode())
    return records


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def cifar10(path: Path) -> dict[str, np.ndarray]:
    parts = {f"data_batch_{i}.bin": 4 for i in range(1, 6)} | {"test_batch.bin": 4}
    return cifar_archive(path, "cifar-10-batches-bin", parts, 1, {"batches.meta.txt": CIFAR10_NAMES})


def cifar100(path: Path) -> dict[str, np.ndarray]:
    names = {"fine_label_names.txt": CIFAR100_NAMES, "coarse_label_names.txt": [f"coarse{i}" for i in range(20)]}
    return cifar_archive(path, "cifar-100-binary", {"train.bin": 12, "test.bin": 5}, 2, names)


def pixels_of(rec: np.ndarray, label_bytes: int) -> np.ndarray:
    return rec[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def mnist_files(
    folder: Path, n_train: int = 100, n_test: int = 20, gz: bool = True, seed: int = 0,
) -> dict[str, np.ndarray]:
    """The four idx files (gzipped as published, or not); labels cycle 0..9."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            header = bytes((0, 0, 8, array.ndim)) + np.array(array.shape, dtype=">u4").tobytes()
            data = header + array.tobytes()
            name = f"{prefix}-{kind}-ubyte"
            (folder / (f"{name}.gz" if gz else name)).write_bytes(gzip.compress(data) if gz else data)
            arrays[name] = array
    return arrays


def gz_files(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted(folder.glob("*.gz"))}


# ------------------------------------------------------------------------------------- tests


def test_cifar10_is_downloaded_parsed_and_cached(tmp_path: Path, server: Server, monkeypatch, cache_dir: Path) -> None:
    records = cifar10(tmp_path / "cifar-10-binary.tar.gz")
    serve(monkeypatch, server, "cifar10", {"cifar-10-binary.tar.gz": tmp_path / "cifar-10-binary.tar.gz"})

    train = load_known(SourceSpec(source="cifar10"))
    assert train.x.shape == (20, 32, 32, 3) and train.x.dtype == np.uint8 and train.x.flags.c_contiguous
    batches = [records[f"data_batch_{i}.bin"] for i in range(1, 6)]
    assert np.array_equal(train.x, np.concatenate([pixels_of(r, 1) for r in batches]))
    assert train.y.tolist() == np.concatenate([r[:, 0] for r in batches]).tolist()
    assert train.classes == tuple(CIFAR10_NAMES) and train.name == "cifar10"
    test = load_known(SourceSpec(source="cifar10", part="test"))
    assert np.array_equal(test.x, pixels_of(records["test_batch.bin"], 1)) and test.name == "cifar10-test"

    downloads = cache_dir / "downloads" / "cifar10"
    assert (downloads / "cifar-10-binary.tar.gz").is_file() and not list(downloads.glob("*.part"))
    assert [p for p, _ in server.requests] == ["/cifar10/cifar-10-binary.tar.gz"]  # fetched once, for both parts

    server.stop()  # a second load reads the decoded cache: no network, no archive
    (downloads / "cifar-10-binary.tar.gz").unlink()
    again = load_known(SourceSpec(source="cifar10"))
    assert np.array_equal(again.x, train.x) and again.classes == train.classes


def test_a_downloaded_file_is_not_fetched_again(tmp_path: Path, server: Server, monkeypatch, cache_dir: Path) -> None:
    mnist_files(tmp_path / "src")
    serve(monkeypatch, server, "mnist", gz_files(tmp_path / "src"))
    first = load_known(SourceSpec(source="mnist"))
    for entry in cache_dir.iterdir():  # drop the decoded cache, keep the downloads
        if entry.name != "downloads":
            import shutil

            shutil.rmtree(entry)
    server.stop()
    again = load_known(SourceSpec(source="mnist"))
    assert np.array_equal(again.x, first.x) and len(server.requests) == 2


def test_cifar100_uses_the_fine_labels_and_a_flat_mirror(tmp_path: Path, server: Server, monkeypatch) -> None:
    records = cifar100(tmp_path / "cifar-100-binary.tar.gz")
    serve(monkeypatch, server, "cifar100", {"cifar-100-binary.tar.gz": tmp_path / "cifar-100-binary.tar.gz"}, flat=True)
    train = load_known(SourceSpec(source="cifar100"))
    assert train.x.shape == (12, 32, 32, 3)
    assert train.y.tolist() == records["train.bin"][:, 1].tolist()  # fine, not coarse (byte 0)
    assert np.array_equal(train.x, pixels_of(records["train.bin"], 2))
    assert train.classes == tuple(CIFAR100_NAMES)
    assert len(load_known(SourceSpec(source="cifar100", part="test"))) == 5
    # <mirror>/cifar100/<name> is tried first, then <mirror>/<name>
    assert [p for p, _ in server.requests] == ["/cifar100/cifar-100-binary.tar.gz", "/cifar-100-binary.tar.gz"]


def test_fashion_mnist_classes_and_parts(tmp_path: Path, server: Server, monkeypatch) -> None:
    arrays = mnist_files(tmp_path / "src")
    serve(monkeypatch, server, "fashion_mnist", gz_files(tmp_path / "src"))
    test = load_known(SourceSpec(source="fashion_mnist", part="test"))
    assert test.x.shape == (20, 28, 28, 1) and np.array_equal(test.x[..., 0], arrays["t10k-images-idx3-ubyte"])
    assert test.classes[0] == "T-shirt/top" and test.classes[-1] == "Ankle boot" and len(test.classes) == 10
    assert {p for p, _ in server.requests} == {
        "/fashion_mnist/t10k-images-idx3-ubyte.gz", "/fashion_mnist/t10k-labels-idx1-ubyte.gz",
    }


def test_a_dropped_connection_resumes_with_a_range_request(
    tmp_path: Path, server: Server, monkeypatch, cache_dir,
) -> None:
    arrays = mnist_files(tmp_path / "src")
    files = gz_files(tmp_path / "src")
    size = files["train-images-idx3-ubyte.gz"].stat().st_size
    serve(monkeypatch, server, "mnist", files)
    server.drop_after["/mnist/train-images-idx3-ubyte.gz"] = 20_000
    assert size > 40_000

    train = load_known(SourceSpec(source="mnist"))
    asked = [r for p, r in server.requests if p == "/mnist/train-images-idx3-ubyte.gz"]
    assert asked == [None, "bytes=20000-"]
    assert np.array_equal(train.x[..., 0], arrays["train-images-idx3-ubyte"])
    assert train.y.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert not list((cache_dir / "downloads" / "mnist").glob("*.part"))


def test_a_part_left_by_a_killed_process_continues_or_starts_over(
    tmp_path: Path, server: Server, monkeypatch, cache_dir,
) -> None:
    mnist_files(tmp_path / "src")
    files = gz_files(tmp_path / "src")
    serve(monkeypatch, server, "mnist", files)
    whole = files["train-images-idx3-ubyte.gz"].read_bytes()
    remote = known.SETS["mnist"].remote("train-images-idx3-ubyte.gz")
    part = cache_dir / "downloads" / "mnist" / "train-images-idx3-ubyte.gz.part"
    part.parent.mkdir(parents=True)

    part.write_bytes(whole[:1000])
    assert download.fetch(remote).read_bytes() == whole
    assert server.requests == [("/mnist/train-images-idx3-ubyte.gz", "bytes=1000-")]

    (cache_dir / "downloads" / "mnist" / "train-images-idx3-ubyte.gz").unlink()
    part.write_bytes(b"garbage-that-must-not-stay" * 10)
    server.misplaced_range = 1  # a 206 from the wrong offset: dropped, then the whole file
    assert download.fetch(remote).read_bytes() == whole
    assert server.requests[-2:] == [
        ("/mnist/train-images-idx3-ubyte.gz", "bytes=260-"), ("/mnist/train-images-idx3-ubyte.gz", None),
    ]

    (cache_dir / "downloads" / "mnist" / "train-images-idx3-ubyte.gz").unlink()
    part.write_bytes(b"garbage-that-must-not-stay" * 10)
    server.honour_range = False  # the whole file comes back with 200: the .part starts over
    assert download.fetch(remote).read_bytes() == whole
    assert server.requests[-1] == ("/mnist/train-images-idx3-ubyte.gz", "bytes=260-")


def test_a_server_error_is_retried_and_a_missing_file_is_not(tmp_path: Path, server: Server, monkeypatch) -> None:
    mnist_files(tmp_path / "src")
    serve(monkeypatch, server, "mnist", gz_files(tmp_path / "src"))
    server.fail_first["/mnist/t10k-images-idx3-ubyte.gz"] = 503
    assert len(load_known(SourceSpec(source="mnist", part="test"))) == 20
    assert [p for p, _ in server.requests].count("/mnist/t10k-images-idx3-ubyte.gz") == 2

    (server.root / "mnist" / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"mnist/train-images-idx3-ubyte.gz: HTTP 404 Not Found; .* Two ways out"):
        load_known(SourceSpec(source="mnist"))
    assert [p for p, _ in server.requests].count("/mnist/train-images-idx3-ubyte.gz") == 1


def test_a_checksum_mismatch_is_an_error_and_leaves_no_file(
    tmp_path: Path, server: Server, monkeypatch, cache_dir,
) -> None:
    cifar10(tmp_path / "cifar-10-binary.tar.gz")
    serve(monkeypatch, server, "cifar10", {"cifar-10-binary.tar.gz": tmp_path / "cifar-10-binary.tar.gz"})
    got = md5(tmp_path / "cifar-10-binary.tar.gz")
    monkeypatch.setitem(known.CHECKSUMS, "cifar10", {"cifar-10-binary.tar.gz": "0" * 32})
    with pytest.raises(DataError) as err:
        load_known(SourceSpec(source="cifar10"))
    message = str(err.value)
    assert f"its md5 is {got}, expected {'0' * 32}" in message
    assert "dataset.path: /local/copy/cifar-10-binary.tar.gz" in message
    assert not [p for p in (cache_dir / "downloads").rglob("*") if p.is_file() and not p.name.startswith(".")]


def test_no_network_names_the_url_and_both_ways_out(monkeypatch) -> None:
    port = free_port()  # nothing listens on it
    monkeypatch.setenv(download.MIRROR_ENV, f"http://127.0.0.1:{port}/data")
    with pytest.raises(DataError) as err:
        load_known(SourceSpec(source="cifar10"))
    message = str(err.value)
    assert f"http://127.0.0.1:{port}/data/cifar10/cifar-10-binary.tar.gz: the connection was refused" in message
    assert ("dataset.path: /local/copy/cifar-10-binary.tar.gz (the archive, or the folder it was extracted to)"
            in message)
    assert "PRACTICA_DATA_MIRROR=http://host/path/" in message


def test_the_publishers_addresses_without_a_mirror() -> None:
    assert known.SETS["mnist"].remote("train-images-idx3-ubyte.gz").sources() == (
        "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
        "http://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz",
    )
    assert known.SETS["cifar10"].remote("cifar-10-binary.tar.gz").sources() == (
        "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    )
    assert known.SETS["fashion_mnist"].remote("t10k-labels-idx1-ubyte.gz").md5 == "bb300cfdad3c16e7a12a480ee83cd310"


def test_a_local_archive_or_extracted_folder_needs_no_network(tmp_path: Path, monkeypatch) -> None:
    archive = tmp_path / "copy" / "cifar-10-binary.tar.gz"
    archive.parent.mkdir()
    records = cifar10(archive)
    monkeypatch.setitem(known.CHECKSUMS, "cifar10", {"cifar-10-binary.tar.gz": md5(archive)})
    no_network(monkeypatch)
    expected = pixels_of(records["test_batch.bin"], 1)

    assert np.array_equal(load_known(SourceSpec(source="cifar10", path=archive, part="test")).x, expected)
    assert len(load_known(SourceSpec(source="cifar10", path=archive.parent))) == 20  # the folder holding it
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "extracted", filter="data")
    for folder in (tmp_path / "extracted", tmp_path / "extracted" / "cifar-10-batches-bin"):
        data = load_known(SourceSpec(source="cifar10", path=folder, part="test"))
        assert np.array_equal(data.x, expected) and data.classes == tuple(CIFAR10_NAMES)


def test_a_local_archive_that_is_not_the_published_one_is_named(tmp_path: Path, monkeypatch) -> None:
    archive = tmp_path / "cifar-10-binary.tar.gz"
    cifar10(archive)
    no_network(monkeypatch)
    with pytest.raises(DataError, match=r"is not CIFAR-10's published cifar-10-binary.tar.gz: "
                                        r"its md5 is [0-9a-f]{32}, expected c32a1d4ab5d03f1284b67883e8d87530"):
        load_known(SourceSpec(source="cifar10", path=archive))
    monkeypatch.setitem(known._OTHER_VERSIONS, md5(archive),
                        "CIFAR-10's Python version (cifar-10-python.tar.gz, pickled batches)")
    with pytest.raises(DataError, match="It is CIFAR-10's Python version .* never loads a pickle"):
        load_known(SourceSpec(source="cifar10", path=archive))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds neither cifar-10-binary.tar.gz nor the files extracted from it"):
        load_known(SourceSpec(source="cifar10", path=tmp_path / "empty"))


def test_a_local_mnist_folder_gzipped_or_not(tmp_path: Path, monkeypatch) -> None:
    arrays = mnist_files(tmp_path / "gz" / "MNIST" / "raw")  # torchvision's layout
    monkeypatch.setitem(known.CHECKSUMS, "mnist",
                        {n: md5(p) for n, p in gz_files(tmp_path / "gz" / "MNIST" / "raw").items()})
    no_network(monkeypatch)
    data = load_known(SourceSpec(source="mnist", path=tmp_path / "gz"))
    assert np.array_equal(data.x[..., 0], arrays["train-images-idx3-ubyte"])
    raw = mnist_files(tmp_path / "raw", gz=False, seed=1)
    data = load_known(SourceSpec(source="mnist", path=tmp_path / "raw", part="test"))
    assert np.array_equal(data.x[..., 0], raw["t10k-images-idx3-ubyte"])

    damaged = tmp_path / "raw" / "t10k-images-idx3-ubyte"
    damaged.write_bytes(damaged.read_bytes()[:-5])
    with pytest.raises(DataError, match="declares 20×28×28 values but holds 15675; the file is truncated"):
        load_known(SourceSpec(source="mnist", path=tmp_path / "raw", part="test"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="lacks train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz"):
        load_known(SourceSpec(source="mnist", path=tmp_path / "empty"))


def test_a_mnist_suite_gets_the_official_test_part_as_its_fixed_test_set(
    tmp_path: Path, server: Server, monkeypatch,
) -> None:
    mnist_files(tmp_path / "src")
    serve(monkeypatch, server, "mnist", gz_files(tmp_path / "src"))
    suite = suite_from_dict({
        "name": "mnist-tiny",
        "dataset": {"source": "mnist", "split": {"val": 0.2, "seed": 0}},
        "experiments": [{"name": "nb", "model": {"sklearn": "naive_bayes"}}],
    })
    splits = prepare_data(suite.dataset)
    assert splits.test_is_fixed and len(splits.test) == 20 and len(splits.train) + len(splits.val) == 100
    assert splits.classes == tuple(str(d) for d in range(10)) and splits.train.input_shape == (1, 28, 28)


@pytest.mark.parametrize("name", ["mnist.yaml", "fashion_mnist.yaml", "cifar100.yaml"])
def test_the_example_suites_are_valid(name: str) -> None:
    suite = load_suite(REPO / "examples" / name)  # the link in examples/ to the packaged file
    assert suite.dataset.source == name.removesuffix(".yaml") and suite.dataset.path is None
    assert (REPO / "src" / "practica" / "examples" / name).is_file()
