"""``load_idx``: every element type, gzip detected by content, and every kind of damaged file."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from le4nn.datasets import DatasetError, load_idx, save_idx
from le4nn.datasets.idx import encode_idx, gzip_bytes


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("gz", [False, True])
def test_round_trip_every_element_type(tmp_path, dtype, gz):
    array = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    if dtype == "u1":
        array = np.arange(30, dtype=np.uint8).reshape(2, 3, 5)
    path = save_idx(tmp_path / ("a.idx.gz" if gz else "a.idx"), array)
    loaded = load_idx(path)
    assert loaded.dtype == array.dtype and loaded.dtype.isnative
    assert np.array_equal(loaded, array)
    assert loaded.flags.writeable


def test_the_header_is_big_endian_as_the_format_says(tmp_path):
    data = bytes([0, 0, 0x0B, 2]) + struct.pack(">II", 1, 2) + struct.pack(">hh", -2, 300)
    (tmp_path / "x").write_bytes(data)
    assert load_idx(tmp_path / "x").tolist() == [[-2, 300]]


def test_gzip_is_detected_by_content_not_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    (tmp_path / "gzipped-without-suffix").write_bytes(gzip.compress(encode_idx(array)))
    (tmp_path / "plain.gz").write_bytes(encode_idx(array))
    assert np.array_equal(load_idx(tmp_path / "gzipped-without-suffix"), array)
    assert np.array_equal(load_idx(tmp_path / "plain.gz"), array)


def test_gzip_output_is_deterministic():
    data = encode_idx(np.arange(100, dtype=np.uint8))
    assert gzip_bytes(data) == gzip_bytes(data)
    assert gzip_bytes(data)[4:8] == b"\x00\x00\x00\x00"  # mtime 0


def _labels(n=10) -> bytes:
    return encode_idx(np.arange(n, dtype=np.uint8))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x00\x00", "only 2 bytes"),
        (b"\x12\x34\x56\x78" + bytes(20), "not an idx file"),
        (b"<!DOCTYPE html><html>404 not found</html>", "HTML page"),
        (bytes([0, 0, 0x07, 1]) + struct.pack(">I", 1) + b"\x00", "type code 0x07"),
        (bytes([0, 0, 0x08, 0]), "0 dimensions"),
        (bytes([0, 0, 0x08, 3]) + struct.pack(">I", 60000), "truncated idx header"),
        (_labels()[:-3], "truncated"),
        (_labels() + b"\x00\x01", "unexpected bytes after the 10 bytes"),
        (bytes([0, 0, 0x08, 3]) + struct.pack(">III", 60000, 28, 28) + bytes(100), "47040000 bytes"),
        (bytes([0, 0, 0x08, 4]) + struct.pack(">IIII", *[0xFFFFFFFF] * 4), "exceeds the limit"),
        (bytes([0, 0, 0x08, 65]) + bytes(4 * 65), "65 dimensions"),
        (bytes([0, 0, 0x0E, 2]) + struct.pack(">II", 1 << 31, 1 << 31), "declares 2147483648×2147483648 float64"),
    ],
    ids=["empty", "short", "bad-magic", "html", "dtype-code", "no-dims", "short-header", "short-payload",
         "extra-bytes", "declared-size", "absurd-size", "65-dims", "overflowing-product"],
)
@pytest.mark.parametrize("gz", [False, True])
def test_bad_files_raise_dataset_error_naming_the_file(tmp_path, content, message, gz):
    path = tmp_path / "bad-file"
    path.write_bytes(gzip.compress(content) if gz and content else content)
    with pytest.raises(DatasetError, match=message) as info:
        load_idx(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_gzip_crc_mismatch(tmp_path):
    data = bytearray(gzip.compress(_labels(1000)))
    data[-8] ^= 0xFF  # the CRC-32 of the trailer
    (tmp_path / "crc.gz").write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=r"crc\.gz: corrupted gzip file.*CRC"):
        load_idx(tmp_path / "crc.gz")


def test_truncated_gzip(tmp_path):
    data = gzip.compress(encode_idx(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)))
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"cut\.gz: truncated gzip"):
        load_idx(tmp_path / "cut.gz")


def test_corrupted_deflate_stream(tmp_path):
    data = bytearray(gzip.compress(encode_idx(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8))))
    for i in range(20, 60):
        data[i] ^= 0x5A
    (tmp_path / "garbled.gz").write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=r"garbled\.gz: (corrupted|truncated)"):
        load_idx(tmp_path / "garbled.gz")


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="nothing-here.*cannot read"):
        load_idx(tmp_path / "nothing-here")


def test_save_idx_refuses_unsupported_dtypes(tmp_path):
    with pytest.raises(ValueError, match="cannot store"):
        save_idx(tmp_path / "x", np.zeros(3, np.int64))
