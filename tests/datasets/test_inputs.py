"""Input files of ``le4nn-predict`` (``le4nn.datasets.inputs``): bombs, hostile ``.npy`` files, PNG headers,
labels files, and the one pixel rule (:mod:`le4nn.datasets.pixels`)."""

from __future__ import annotations

import gzip
import pickle
import struct
import tracemalloc
import zlib

import numpy as np
import pytest

from le4nn.datasets import DatasetError, load_contest, load_idx
from le4nn.datasets.idx import encode_idx
from le4nn.datasets.inputs import read_images, read_labels
from le4nn.datasets.pixels import to_uint8_pixels, to_unit_pixels

IMAGES = np.random.default_rng(8).integers(0, 256, (4, 28, 28), dtype=np.uint8)


def _gzip_bomb(header: bytes, zeros: int) -> bytes:
    """``header`` followed by ``zeros`` zero bytes, gzipped in a stream (never held in memory)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(header)]
    block = bytes(1 << 20)
    for _ in range(zeros >> 20):
        parts.append(compressor.compress(block))
    return b"".join(parts) + compressor.flush()


def _peak_bytes(function, *args) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError) as info:
            function(*args)
        return tracemalloc.get_traced_memory()[1], info.value
    finally:
        tracemalloc.stop()


def test_a_gzip_bomb_given_as_idx_is_refused_after_the_declared_size(tmp_path):
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">III", 10, 28, 28)
    path = tmp_path / "bomb-idx3-ubyte.gz"
    path.write_bytes(_gzip_bomb(header, 256 << 20))  # 256 MiB of zeros after 7840 declared bytes
    assert path.stat().st_size < 400_000
    peak, error = _peak_bytes(load_idx, path)
    assert "unexpected bytes after the 7840 bytes" in str(error) and str(path) in str(error)
    assert peak < 8 << 20


def test_an_idx_declaring_more_than_the_limit_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "big-idx3-ubyte.gz"
    path.write_bytes(_gzip_bomb(bytes([0, 0, 0x08, 3]) + struct.pack(">III", 60000, 28, 28), 1 << 20))
    monkeypatch.setenv("LE4NN_MAX_INPUT_BYTES", "1000000")
    with pytest.raises(DatasetError, match=r"big-idx3-ubyte\.gz: .*47040000 bytes exceeds the limit of 1000000"):
        load_idx(path)
    monkeypatch.setenv("LE4NN_MAX_INPUT_BYTES", "lots")
    with pytest.raises(DatasetError, match="LE4NN_MAX_INPUT_BYTES must be a positive"):
        load_idx(path)


def test_a_gzip_bomb_given_as_a_contest_dump_is_refused_at_the_limit(tmp_path, monkeypatch):
    path = tmp_path / "bomb.dump"
    path.write_bytes(_gzip_bomb(b"\x80\x02", 128 << 20))
    monkeypatch.setenv("LE4NN_MAX_INPUT_BYTES", str(4 << 20))
    peak, error = _peak_bytes(load_contest, path)
    assert "decompresses to more than the limit of 4194304 bytes" in str(error) and str(path) in str(error)
    assert peak < 16 << 20


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


def _png(width: int, height: int, rows: bytes) -> bytes:
    data = zlib.compress(rows, 9)
    idat = struct.pack(">I", len(data)) + b"IDAT" + data + struct.pack(">I", zlib.crc32(b"IDAT" + data))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return _png_header(width, height) + idat + end


def test_a_png_bomb_is_refused_from_its_header(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png(20000, 20000, bytes(20001 * 64)))  # the header declares 400 million pixels
    for shape in ((28, 28), None):  # refused before decoding, whatever the model
        with pytest.raises(DatasetError, match=r"bomb\.png: .*20000×20000 pixels, more than the limit"):
            read_images(path, shape)


def test_png_images_are_read_by_the_pixel_rule(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "digit.png"
    path.write_bytes(_png(28, 28, b"".join(b"\x00" + row.tobytes() for row in IMAGES[0])))
    assert np.allclose(read_images(path, (28, 28))[0], IMAGES[0] / 255, atol=1e-6)
    (tmp_path / "broken.png").write_bytes(_png_header(28, 28) + b"garbage")
    with pytest.raises(DatasetError, match=r"broken\.png: not a readable PNG"):
        read_images(tmp_path / "broken.png", (28, 28))
    (tmp_path / "short.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(DatasetError, match=r"short\.png: not a readable PNG image \(no IHDR"):
        read_images(tmp_path / "short.png")


def _npy_with_header(header: dict, body: bytes = b"") -> bytes:
    text = repr(header).encode("latin-1")
    text += b" " * (63 - (len(text) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + body


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: np.save(p, np.array(["a", "b"])), "dtype <U1; only plain numbers"),
        (lambda p: np.save(p, np.array([{"x": 1}], dtype=object), allow_pickle=True), "Python objects"),
        (lambda p: np.save(p, np.zeros((2, 28, 28), np.complex64)), "complex64"),
        (lambda p: np.save(p, np.zeros(2, [("a", "u1"), ("b", "f4")])), "only plain numbers"),
        (lambda p: np.save(p, np.uint8(7)), "a single value"),
        (lambda p: np.save(p, np.zeros((0, 28, 28), np.uint8)), "no images"),
        (lambda p: np.save(p, np.zeros((3, 5), np.uint8)), "N×784 or N×28×28, found 3×5"),
        (lambda p: np.save(p, np.full((1, 28, 28), np.nan)), "NaN or infinite"),
        (lambda p: np.save(p, np.full((1, 28, 28), np.inf, np.float32)), "NaN or infinite"),
        (lambda p: np.save(p, np.full((1, 28, 28), 300)), "0–255"),
        (lambda p: np.save(p, np.full((1, 28, 28), 12.5)), "fractional"),
        (lambda p: np.save(p, np.ones((1, 28, 28), bool)), "dtype bool"),
        (lambda p: p.write_bytes(_npy_with_header({"descr": "|u1", "fortran_order": False,
                                                   "shape": (10**9, 10**9)})), "exceeds the limit"),
        (lambda p: p.write_bytes(_npy_with_header({"descr": "|u1", "fortran_order": False, "shape": (2, 784)},
                                                  bytes(100))), "truncated"),
        (lambda p: p.write_bytes(_npy_with_header({"descr": "|u1", "fortran_order": False, "shape": (-1, 784)})),
         "shape"),
        (lambda p: p.write_bytes(b"\x93NUMPY\x01\x00\xff"), "npy"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(b"\x93NUMPY\x01\x00\x20\x00{'descr': 'zz', 'shape': (99,), }   \n"),
         "unreadable .npy header"),
    ],
    ids=["strings", "object", "complex", "structured", "0-d", "empty-array", "wrong-shape", "nan", "inf",
         "int-over-255", "fractional", "bool", "huge-declared", "short-body", "negative-shape", "bad-header",
         "empty-file", "unclosed-header"],
)
def test_hostile_npy_inputs_are_refused_naming_the_file(tmp_path, make, message):
    path = tmp_path / "input.npy"
    make(path)
    with pytest.raises(DatasetError, match=message) as info:
        read_images(path, (28, 28))
    assert str(path) in str(info.value)


@pytest.mark.parametrize("writer", ["npy", "dump", "idx"])
def test_every_integer_and_float_form_of_the_same_pixels_gives_the_same_input(tmp_path, writer):
    forms = {"uint8": IMAGES, "int64": IMAGES.astype(np.int64), "float64": IMAGES.astype(np.float64),
             "float32": IMAGES.astype(np.float32), "scaled": IMAGES.astype(np.float32) / np.float32(255)}
    if writer == "idx":
        forms = {k: v for k, v in forms.items() if k in ("uint8", "float32", "scaled")}  # idx has no int64
    expected = IMAGES.astype(np.float32) / np.float32(255)
    for name, array in forms.items():
        path = tmp_path / f"{name}.{writer}"
        if writer == "npy":
            np.save(path, array)
        elif writer == "dump":
            path.write_bytes(pickle.dumps(array.reshape(4, 784), protocol=2))
        else:
            path.write_bytes(encode_idx(array))
        assert np.array_equal(read_images(path, (28, 28)), expected), name
        assert np.array_equal(to_unit_pixels(array, name), expected), name
        assert np.array_equal(to_uint8_pixels(array, name), IMAGES), name


def test_float_pixels_in_0_1_that_are_not_8_bit_steps_stay_exact_for_the_model_only(tmp_path):
    scaled = np.full((1, 28, 28), 0.3, np.float32)
    np.save(tmp_path / "x.npy", scaled)
    assert np.array_equal(read_images(tmp_path / "x.npy"), scaled)
    with pytest.raises(DatasetError, match=r"x\.npy: .*not multiples of 1/255"):
        load_contest(tmp_path / "x.npy")


def _labels_file(tmp_path, content) -> str:
    path = tmp_path / "labels.txt"
    if isinstance(content, np.ndarray):
        path = tmp_path / "labels.npy"
        np.save(path, content)
    else:
        path.write_text(content)
    return path


@pytest.mark.parametrize(
    ("content", "count", "message"),
    [
        ("100000\n", 1, r"label 100000 \(number 1\) is out of range: the model has 10 classes"),
        ("3\n-1\n", 2, "label -1"),
        ("3\nseven\n", 2, "line 2: 'seven' is not an integer"),
        ("3\n2.5\n", 2, "line 2: '2.5' is not an integer"),
        ("1\n2\n", 3, "has 2 labels for 3 images"),
        ("9" * 30 + "\n", 1, "line 1: label 9+ is out of range"),
        ("1\n" * 50_000, 2, "too long for 2 labels"),
        (np.array([1.5, 2.0]), 2, "non-integer"),
        (np.array([10, 2]), 2, "label 10"),
        (np.array(["1", "2"]), 2, "only plain numbers"),
        (np.zeros((2, 2), np.int64), 2, "one label per image"),
    ],
    ids=["huge-label", "int64-overflow", "negative", "word", "fraction", "count", "too-long", "float-npy",
         "npy-out-of-range", "string-npy", "matrix"],
)
def test_bad_labels_files_are_refused_naming_the_file(tmp_path, content, count, message):
    path = _labels_file(tmp_path, content)
    with pytest.raises(DatasetError, match=message) as info:
        read_labels(path, count, 10)
    assert str(path) in str(info.value)


def test_labels_in_every_format(tmp_path):
    labels = np.array([3, 0, 9, 1])
    (tmp_path / "l.txt").write_text("3\n0\n\n9\n1\n")
    np.save(tmp_path / "l.npy", labels.astype(np.uint8))
    (tmp_path / "l-idx1-ubyte.gz").write_bytes(gzip.compress(encode_idx(labels.astype(np.uint8))))
    for name in ("l.txt", "l.npy", "l-idx1-ubyte.gz"):
        assert np.array_equal(read_labels(tmp_path / name, 4, 10), labels), name
